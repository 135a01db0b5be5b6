"""Interrupted training resumes from its checkpoint and ends bit-for-bit where an
uninterrupted run ends; checkpoints of other configs or code are set aside.

Training runs in a real subprocess that receives real signals.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cremodels.data import prepare_dataset
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

SCRIPT = """
import json, logging, sys
from cremodels.train import train_job
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
train_job(**json.load(open(sys.argv[1])))
"""
MODEL = dict(
    arch="cnn", input_shape=[1, 8, 8], num_classes=10, latent_dim=3, complexity=2
)
RUNS = [{"name": "a", "lam": 0.25, "seed": 0}, {"name": "b", "lam": 1.0, "seed": 1}]
EPOCHS = 5


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("digits")
    prepare_dataset("digits", root=root, out_path=root / "digits.pt")
    return root / "digits.pt"


def payload(prepared, out: Path, fingerprint="fp-1") -> Path:
    job = {
        "prepared": str(prepared),
        "runs": RUNS,
        "outputs": {
            r["name"]: {
                "model": str(out / r["name"] / "model.pt"),
                "history": str(out / r["name"] / "history.csv"),
                "info": str(out / r["name"] / "run.json"),
            }
            for r in RUNS
        },
        "model_settings": MODEL,
        "train_settings": {
            "epochs": EPOCHS,
            "batch_size": 16,
            "lr": 0.003,
            "weight_decay": 0.0,
        },
        "vectorize": True,
        "device": "cpu",
        "checkpoint": str(out / "checkpoint.pt"),
        "fingerprint": fingerprint,
        "threads": 1,
    }
    path = out / "job.json"
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(job))
    return path


def start(job: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(job)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )


def checkpoint_position(path: Path):
    """(epoch, step) of a checkpoint, or None while there is none."""
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    return state["epoch"], state["step"]


def interrupt(job: Path, sig: int, after_epoch: int) -> tuple[int, str]:
    """Start training, send `sig` once `after_epoch` epochs are checkpointed and a
    few more steps ran; return the exit code and stderr."""
    process = start(job)
    checkpoint = Path(json.loads(job.read_text())["checkpoint"])
    deadline = time.time() + 240
    while (checkpoint_position(checkpoint) or (0, 0))[0] < after_epoch:
        assert process.poll() is None, "training finished before it was interrupted"
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    time.sleep(0.3)  # into the next epoch
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr


def results(out: Path) -> dict:
    """Weights and histories (without wall-clock seconds) of both runs."""
    found = {}
    for run in RUNS:
        model = torch.load(out / run["name"] / "model.pt", weights_only=False)
        history = (out / run["name"] / "history.csv").read_text().splitlines()
        header = history[0].split(",")
        keep = [i for i, col in enumerate(header) if col != "seconds"]
        found[run["name"]] = (
            model["state_dict"],
            [[row.split(",")[i] for i in keep] for row in history],
        )
    return found


def assert_identical(a: dict, b: dict) -> None:
    for name in a:
        state_a, history_a = a[name]
        state_b, history_b = b[name]
        assert history_a == history_b, name
        for key in state_a:
            assert torch.equal(state_a[key], state_b[key]), (name, key)


@pytest.fixture(scope="module")
def reference(prepared, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    process = start(payload(prepared, out))
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    assert not (out / "checkpoint.pt").exists()  # removed once outputs are written
    return results(out)


def test_sigterm_writes_a_checkpoint_and_resume_is_bit_exact(
    prepared, reference, tmp_path
):
    job = payload(prepared, tmp_path)
    code, stderr = interrupt(job, signal.SIGTERM, after_epoch=2)
    assert code != 0
    assert "TrainingInterrupted: SIGTERM in epoch 3" in stderr
    epoch, step = checkpoint_position(tmp_path / "checkpoint.pt")
    assert (epoch, step > 0) == (2, True)  # mid-epoch: nothing after the signal lost
    assert not (tmp_path / "a" / "model.pt").exists()

    process = start(job)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    assert (
        f"resumed from {tmp_path / 'checkpoint.pt'} at epoch 3, step {step}" in stderr
    )
    assert_identical(results(tmp_path), reference)


def test_sigkill_loses_at_most_the_current_epoch(prepared, reference, tmp_path):
    job = payload(prepared, tmp_path)
    code, _ = interrupt(job, signal.SIGKILL, after_epoch=1)
    assert code == -signal.SIGKILL
    epoch, step = checkpoint_position(tmp_path / "checkpoint.pt")
    assert epoch >= 1 and step == 0  # the last finished epoch

    process = start(job)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    assert f"resumed from {tmp_path / 'checkpoint.pt'} at epoch {epoch + 1}" in stderr
    assert_identical(results(tmp_path), reference)


def test_checkpoint_of_another_fingerprint_is_set_aside(prepared, reference, tmp_path):
    code, _ = interrupt(
        payload(prepared, tmp_path, fingerprint="other-code"),
        signal.SIGTERM,
        after_epoch=1,
    )
    assert code != 0
    process = start(payload(prepared, tmp_path))
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    assert (
        "belongs to another config, code version or bundle layout; moved aside"
        in stderr
    )
    assert list(tmp_path.glob("checkpoint.pt.stale-*"))
    assert_identical(results(tmp_path), reference)
