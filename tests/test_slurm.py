"""The workflow through the project's SLURM profile (`snakemake --profile slurm`).

Dry runs check what the profile asks for without a cluster. The rest runs the
workflow on a real single-node SLURM cluster started on this machine
(tests/slurm_cluster.py; skipped with the reason where that is impossible), with
only the options a cluster without accounting database needs added on the command
line. One training job is cancelled with `scancel` while it runs: the workflow
must retry it, resume it from its checkpoint, and finish with every result whole.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from tests.conftest import ROOT, TINY_CONFIG, Project, copy_project
from tests.slurm_cluster import ClusterUnavailable, SlurmCluster

pytestmark = pytest.mark.slurm

# Per-bundle stages: the only rules that become SLURM jobs (the rest are local).
STAGES = sorted(
    yaml.safe_load((ROOT / "schemas" / "config.schema.yaml").read_text())["properties"][
        "resources"
    ]["properties"]
)
GPU_STAGES = {"train", "evaluate", "probes"}

# What a cluster without an accounting database needs, plus short waits.
TEST_OPTIONS = [
    "--slurm-status-command",
    "squeue",
    "--slurm-no-account",
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--latency-wait",
    "5",
]
CNN_EPOCHS = 40  # long enough for the cnn bundle to be caught running
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+)")


def snakemake(project: Project, *args: str, timeout: int = 600):
    """`snakemake ARGS` in the project copy, exactly as a user types it."""
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=project.path,
        env={**os.environ, "PYTHONPATH": str(project.path)},
        text=True,
        capture_output=True,
        timeout=timeout,
    )


def dry_run_resources(project: Project, *args: str) -> dict[str, dict[str, str]]:
    """Rule name -> resources of its (first) job in a dry run."""
    result = snakemake(project, "-n", *args)
    assert result.returncode == 0, result.stderr[-4000:]
    resources, rule = {}, None
    for line in result.stdout.splitlines():
        header = re.match(r"(?:local)?rule (\w+):", line)
        if header:
            rule = header.group(1)
        elif line.strip().startswith("resources:") and rule:
            pairs = line.split(":", 1)[1].split(", ")
            resources.setdefault(rule, dict(p.strip().split("=", 1) for p in pairs))
    return resources


def stage_of(rule: str) -> str | None:
    return next((s for s in STAGES if rule.startswith(f"{s}_")), None)


# ---------------------------------------------------------------- the profile


def test_profile_keys_are_disjoint_from_the_workflow_profile():
    slurm = yaml.safe_load((ROOT / "slurm" / "config.yaml").read_text())
    default = yaml.safe_load(
        (ROOT / "profiles" / "default" / "config.yaml").read_text()
    )
    assert slurm["executor"] == "slurm"
    assert set(slurm) & set(default) == set()


@pytest.mark.slow
def test_profile_asks_gpus_for_cluster_runs_only(project):
    # the profile is found by name from the project root
    cluster = dry_run_resources(project, "--profile", "slurm")
    local = dry_run_resources(project, "--cores", "2")
    bundle_rules = [rule for rule in cluster if stage_of(rule)]
    assert {stage_of(rule) for rule in bundle_rules} == set(STAGES)
    for rule in bundle_rules:
        wanted = "1" if stage_of(rule) in GPU_STAGES else None
        assert cluster[rule].get("gpu") == wanted, rule
        assert "gpu" not in local[rule], rule
        assert cluster[rule]["mem_mb"] == local[rule]["mem_mb"]

    # merged into another config file too, keeping that file's other resources
    config = {**TINY_CONFIG, "resources": {"train": {"threads": 1, "mem_mb": 1234}}}
    project.write_config(config, "other.yaml")
    other = dry_run_resources(
        project, "--profile", "slurm", "--configfile", "other.yaml"
    )
    train = next(r for rule, r in other.items() if stage_of(rule) == "train")
    assert (train["gpu"], train["mem_mb"]) == ("1", "1234")


@pytest.mark.slow
def test_default_config_submits_one_job_per_bundle_and_stage(tmp_path):
    copy = copy_project(tmp_path / "project")  # with the default config.yaml
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    grid, pack = config["grid"], config["train"]["pack_size"]
    groups = math.prod(
        len(grid[key]) for key in ("datasets", "archs", "latent_dims", "complexities")
    )
    bundles = groups * math.ceil(len(grid["lams"]) * len(grid["seeds"]) / pack)

    jobs = copy.planned_jobs("--profile", "slurm")
    per_stage = {
        stage: sum(n for rule, n in jobs.items() if stage_of(rule) == stage)
        for stage in STAGES
    }
    assert per_stage == {stage: bundles for stage in STAGES}
    runs = math.prod(len(v) for v in grid.values())
    print(f"default config: {runs} runs, {bundles * len(STAGES)} SLURM jobs")


# ---------------------------------------------------------------- a real cluster


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A running single-node cluster; its daemons stop even when tests fail."""
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
    except ClusterUnavailable as reason:
        pytest.skip(f"no SLURM test cluster on this machine: {reason}")
    try:
        yield cluster
    finally:
        cluster.stop()


def wait_for_running_cnn_training(cluster: SlurmCluster, project: Project, process):
    """Id of the cnn training job once it runs and has written a checkpoint."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        running = [
            job_id
            for job_id, job in cluster.jobs().items()
            if job["comment"].startswith("rule_train_digits_cnn")
            and job["state"] == "RUNNING"
        ]
        checkpoints = list(
            (project.path / "results" / "checkpoints").glob("digits-cnn-*.pt")
        )
        if running and checkpoints:
            return running[0]
        time.sleep(0.5)
    raise AssertionError("the cnn training job was never seen running")


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster, tmp_path_factory):
    """The tiny study through the SLURM profile, one training cancelled mid-run,
    then a second invocation. Returns what the tests inspect."""
    project = copy_project(tmp_path_factory.mktemp("slurm-run") / "project")
    config = {
        **TINY_CONFIG,
        "train": {
            **TINY_CONFIG["train"],
            "overrides": [{"when": {"arch": "cnn"}, "set": {"epochs": CNN_EPOCHS}}],
        },
        "resources": {
            "train": {"threads": 1, "mem_mb": 1000, "runtime_base": 10},
            "evaluate": {"threads": 1, "mem_mb": 1000},
            "geometry": {"threads": 1, "mem_mb": 1000},
            "probes": {"threads": 1, "mem_mb": 1000},
        },
    }
    project.write_config(config)
    jobs_before = set(slurm_cluster.jobs())
    started = time.monotonic()

    # First invocation, in the background: cancel the cnn training while it runs.
    log_path = project.path / "first_invocation.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "snakemake", "--profile", "slurm", *TEST_OPTIONS],
            cwd=project.path,
            env={**os.environ, "PYTHONPATH": str(project.path)},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            cancelled = wait_for_running_cnn_training(slurm_cluster, project, process)
            slurm_cluster.cancel(cancelled)
            returncode = process.wait(timeout=420)
        finally:
            if process.poll() is None:  # Snakemake cancels its jobs on SIGTERM
                process.terminate()
                process.wait(timeout=60)
    first = log_path.read_text()
    assert returncode == 0, first[-6000:]
    first_seconds = time.monotonic() - started
    jobs_after_first = set(slurm_cluster.jobs())

    second = snakemake(project, "--profile", "slurm", *TEST_OPTIONS)
    assert second.returncode == 0, second.stderr[-4000:]
    print(f"first invocation with one cancelled job: {first_seconds:.0f} s")
    return {
        "project": project,
        "first": first,
        "second": second.stdout + second.stderr,
        "cancelled": cancelled,
        "first_jobs": jobs_after_first - jobs_before,
        "second_jobs": set(slurm_cluster.jobs()) - jobs_after_first,
    }


def run_dirs(project: Project) -> list[Path]:
    return sorted((project.path / "results" / "runs").glob("digits/*/*/*"))


def test_trainings_ran_as_slurm_jobs_that_asked_for_a_gpu(slurm_cluster, slurm_run):
    project = slurm_run["project"]
    dirs = run_dirs(project)
    assert len(dirs) == 4
    for run in dirs:
        environment = json.loads((run / "run.json").read_text())["environment"]
        job_id = environment["slurm_job_id"]
        assert job_id in slurm_run["first_jobs"], run
        job = slurm_cluster.show_job(job_id)
        assert job["Comment"].startswith("rule_train_digits_")
        assert job["JobState"] == "COMPLETED"
        assert job["TresPerJob"] == "gres:gpu:1"  # --gpus=1
        assert job["NumCPUs"] == "1"  # threads -> --cpus-per-task
        assert job["MinMemoryNode"] == "1000M"  # mem_mb -> --mem
        assert job["Requeue"] == "1"  # slurm-requeue -> --requeue
        # the job step saw the GPU SLURM granted it
        assert environment["cuda_visible_devices"] == "0"
        assert environment["slurm_gpus_on_node"] == "1"
        assert environment["slurm_job_partition"] == slurm_cluster.partition
        assert environment["host"] == slurm_cluster.host


def test_each_bundle_stage_is_one_submission_and_cheap_rules_stay_local(
    slurm_cluster, slurm_run
):
    submitted = SUBMITTED.findall(slurm_run["first"])
    assert set(submitted) == slurm_run["first_jobs"]
    comments = [slurm_cluster.show_job(i)["Comment"] for i in submitted]
    rules = [c.removeprefix("rule_") for c in comments]
    assert all(stage_of(rule) for rule in rules), rules  # no local rule submitted
    # 2 bundles (fc, cnn) x 4 stages, plus the cancelled training once more
    assert len(submitted) == 2 * len(STAGES) + 1
    assert len(set(rules)) == 2 * len(STAGES)
    for job_id in submitted:
        job = slurm_cluster.show_job(job_id)
        wants_gpu = stage_of(job["Comment"].removeprefix("rule_")) in GPU_STAGES
        assert (job.get("TresPerJob") == "gres:gpu:1") == wants_gpu, job


def test_cancelled_training_was_retried_and_resumed_from_its_checkpoint(
    slurm_cluster, slurm_run
):
    project, cancelled = slurm_run["project"], slurm_run["cancelled"]
    job = slurm_cluster.show_job(cancelled)
    assert job["JobState"] == "CANCELLED"
    assert job["TimeLimit"] == "00:20:00"  # 10 + 5 per run, first attempt
    retry = [
        i
        for i in slurm_run["first_jobs"]
        if i != cancelled and slurm_cluster.show_job(i)["Comment"] == job["Comment"]
    ]
    assert len(retry) == 1
    retried = slurm_cluster.show_job(retry[0])
    assert retried["JobState"] == "COMPLETED"
    assert retried["TimeLimit"] == "00:40:00"  # runtime grows with the attempt

    # SIGTERM reached the training process: it wrote a checkpoint in mid-epoch
    # (step > 0; end-of-epoch checkpoints have step 0) and exited by itself
    # (status 1, not killed), as the kept SLURM log of the cancelled job shows.
    # Snakemake empties the rule log before a retry, which logs the resume.
    assert f"JOB {cancelled} ON {slurm_cluster.host} CANCELLED" in slurm_run["first"]
    slurm_log = next(
        (project.path / ".snakemake" / "slurm_logs").glob(
            f"rule_train_*/{cancelled}.log"
        )
    )
    assert "returned non-zero exit status 1" in slurm_log.read_text()
    log = next((project.path / "results" / "logs" / "train").glob("digits-cnn-*.log"))
    text = log.read_text()
    resumed = re.search(r"resumed from \S+ at epoch (\d+), step (\d+)", text)
    assert resumed, text[-3000:]
    assert int(resumed.group(2)) > 0, resumed.group(0)
    assert not list((project.path / "results" / "checkpoints").glob("*.pt"))

    # the cancelled bundle's runs are whole: every epoch once, final model saved
    for run in run_dirs(project):
        if "/cnn/" in run.as_posix():
            history = pd.read_csv(run / "history.csv")
            assert list(history.epoch) == list(range(1, CNN_EPOCHS + 1))
            info = json.loads((run / "run.json").read_text())
            assert info["environment"]["slurm_job_id"] == retry[0]


def test_every_result_is_complete(slurm_cluster, slurm_run):
    project = slurm_run["project"]
    summary = pd.read_csv(project.path / "results" / "summary.csv")
    assert len(summary) == 4
    assert summary[["test_accuracy", "test_mse", "slurm_job_id"]].notna().all().all()
    assert set(summary.host) == {slurm_cluster.host}
    # /dev/null stands in for the GPU here: torch finds no CUDA device and uses the CPU
    assert set(summary.device) == {"cuda" if torch.cuda.is_available() else "cpu"}
    best = summary[summary.lam == 0].test_accuracy
    assert (best > 0.8).all()
    for run in run_dirs(project):
        names = {p.name for p in run.iterdir()}
        assert {"model.pt", "history.csv", "run.json", "metrics.json"} <= names
        assert not [n for n in names if n.endswith(".tmp")]
    incomplete = project.path / ".snakemake" / "incomplete"
    assert not incomplete.exists() or not any(incomplete.iterdir())


def test_second_invocation_submits_nothing(slurm_run):
    assert not SUBMITTED.search(slurm_run["second"])
    assert "Nothing to be done" in slurm_run["second"]
    assert slurm_run["second_jobs"] == set()


def test_half_done_jobs_of_a_killed_snakemake_are_redone_locally_and_on_slurm():
    # a bundle writes its runs' files one after another: a Snakemake killed in
    # between leaves complete-looking files that only rerun-incomplete redoes
    default = yaml.safe_load(
        (ROOT / "profiles" / "default" / "config.yaml").read_text()
    )
    assert default["rerun-incomplete"] is True
