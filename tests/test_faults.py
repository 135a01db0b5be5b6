"""Faults injected for real: diverging training, damaged raw data, killed writers,
an interrupted workflow, and two workflows on one results directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from cremodels.evaluate import load_model
from cremodels.geometry import geometry_job
from cremodels.io import (
    DamagedFileError,
    read_json,
    read_npz,
    save_npz,
    save_torch,
    write_json,
)
from tests.conftest import TINY_CONFIG
from tests.fakedata import MNIST_NAMES, make_mnist_raw

pytestmark = pytest.mark.slow

SLOW_CONFIG = {
    **TINY_CONFIG,
    "grid": {**TINY_CONFIG["grid"], "archs": ["cnn"]},
    "model": {},
    "train": {"epochs": 40, "batch_size": 16, "lr": 0.003},
}


def test_non_finite_loss_fails_the_job_and_leaves_no_complete_output(project):
    project.write_config({**TINY_CONFIG, "train": {"epochs": 2, "lr": 1.0e30}})
    result = project.snakemake(check=False)
    assert result.returncode != 0
    logs = "".join(
        p.read_text()
        for p in (project.path / "results" / "logs" / "train").glob("*.log")
    )
    assert "NonFiniteLossError: run digits/" in logs
    assert "loss is not finite in epoch 1 (loss nan" in logs
    assert "last finite epoch: none (first epoch)" in logs
    assert not list((project.path / "results").glob("runs/**/model.pt"))
    assert not list((project.path / "results").glob("runs/**/run.json"))
    assert not (project.path / "results" / "summary.csv").exists()


@pytest.mark.parametrize("damage", ["truncate", "flip", "replace"])
def test_damaged_raw_data_stops_before_training(project, tmp_path, damage):
    raw = tmp_path / "raw"
    digests = make_mnist_raw(raw)
    images = raw / MNIST_NAMES[("train", "images")]
    data = bytearray(images.read_bytes())
    if damage == "truncate":
        images.write_bytes(bytes(data[: len(data) // 3]))
    elif damage == "flip":
        data[len(data) // 2] ^= 0xFF
        images.write_bytes(bytes(data))
    else:  # a valid file, but not the one whose digest the config lists
        make_mnist_raw(raw, seed=1)
    config = {
        **TINY_CONFIG,
        "grid": {**TINY_CONFIG["grid"], "datasets": ["mnist"]},
        "data": {"sources": {"mnist": {"raw_dir": str(raw), "checksums": digests}}},
    }
    project.write_config(config)
    result = project.snakemake(check=False)
    assert result.returncode != 0
    (log_file,) = (project.path / "results" / "logs" / "prepare_data").glob("mnist-*")
    log = log_file.read_text()
    expected = (
        "checksum mismatch" if damage == "replace" else "corrupt or truncated gzip"
    )
    assert f"DataError: {images}: {expected}" in log
    assert not list((project.path / "data").glob("prepared/mnist*"))
    assert not (project.path / "results" / "runs").exists()
    assert not list((project.path / "results" / "logs").glob("train/*"))


WRITER = """
import sys, numpy as np
from cremodels.io import save_npz
print("ready", flush=True)
while True:
    save_npz(sys.argv[1], big=np.random.default_rng(0).random((4000, 4000)))
"""


def test_killed_writer_leaves_the_previous_file_intact(tmp_path):
    target = tmp_path / "latents.npz"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True
    )
    writer.stdout.readline()
    while not target.exists():  # the first complete write
        time.sleep(0.05)
    while not list(tmp_path.glob(".latents.npz.*.tmp")):  # inside a later one
        time.sleep(0.01)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    with np.load(target) as saved:  # the previous file: whole and readable
        assert saved["big"].shape == (4000, 4000)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_damaged_run_file_is_named_with_the_fix(tmp_path, damage):
    # a file damaged after it was written (full disk, cut-short copy, hand edit)
    latents = tmp_path / "latents.npz"
    save_npz(latents, z_test=np.eye(3), y_test=np.arange(3))
    record = tmp_path / "metrics.json"
    write_json(record, {"test_accuracy": 0.9})
    model = tmp_path / "model.pt"
    save_torch(model, {"state_dict": {"w": torch.ones(200, 200)}})
    for path in (latents, record, model):
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x00{")
    fix = "damaged or unreadable .*delete it and rerun the workflow"
    with pytest.raises(DamagedFileError, match=f"{latents}: {fix}"):
        geometry_job(latents={"run": latents}, outputs={"run": {}})
    with pytest.raises(DamagedFileError, match=f"{record}: {fix}"):
        read_json(record)
    with pytest.raises(DamagedFileError, match=f"{model}: {fix}"):
        load_model(model)
    with pytest.raises(FileNotFoundError):  # missing is not damaged
        read_npz(tmp_path / "absent.npz")


def _start_workflow(project):
    env = {**os.environ, "PYTHONPATH": str(project.path)}
    return subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--cores", "2"],
        cwd=project.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _wait_for_checkpoint(project, process, timeout=300):
    checkpoints = project.path / "results" / "checkpoints"
    deadline = time.time() + timeout
    while not list(checkpoints.glob("*.pt")):
        assert process.poll() is None, process.stdout.read()
        assert time.time() < deadline, "training never checkpointed"
        time.sleep(0.2)


# SIGINT: Ctrl-C in the terminal (Snakemake cleans up); SIGKILL: the whole
# process group dies at once (a closed session, a rebooted login node), leaving
# its lock behind.
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["int", "kill"])
def test_interrupted_workflow_resumes_from_checkpoint(project, sig):
    project.write_config(SLOW_CONFIG)
    workflow = _start_workflow(project)
    _wait_for_checkpoint(project, workflow)
    time.sleep(1.0)
    os.killpg(workflow.pid, sig)
    workflow.communicate(timeout=120)
    assert workflow.returncode != 0
    assert list((project.path / "results" / "checkpoints").glob("*.pt"))
    assert not list((project.path / "results").glob("runs/**/model.pt"))

    if sig == signal.SIGKILL:  # the dead Snakemake's lock stays until released
        project.snakemake("--unlock")
    project.snakemake()
    log = next((project.path / "results" / "logs" / "train").glob("*.log")).read_text()
    assert "resumed from results/checkpoints/" in log
    assert (project.path / "results" / "summary.csv").exists()
    assert not list((project.path / "results" / "checkpoints").glob("*.pt"))


def test_second_workflow_on_the_same_results_is_refused(project):
    project.write_config(SLOW_CONFIG)
    first = _start_workflow(project)
    try:
        _wait_for_checkpoint(project, first)
        second = project.snakemake(check=False)
        assert second.returncode != 0
        assert "cannot be locked" in second.stdout + second.stderr
    finally:
        os.killpg(first.pid, signal.SIGTERM)
        first.communicate(timeout=120)
