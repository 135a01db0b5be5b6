"""Where and how a job ran: host, SLURM job, device, library versions, memory."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
from pathlib import Path

import torch

SLURM_VARIABLES = (
    "SLURM_JOB_ID",
    "SLURM_JOB_NAME",
    "SLURM_JOB_PARTITION",
    "SLURM_JOB_GPUS",
    "SLURM_GPUS_ON_NODE",
    "CUDA_VISIBLE_DEVICES",
)


def git_commit(path: Path | None = None) -> str | None:
    """Commit of the project checkout (with '-dirty' for local changes), if any."""
    cwd = path or Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args],
            cwd=cwd,
            text=True,
            capture_output=True,
            timeout=10,
            check=True,
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def run_environment(device: torch.device) -> dict:
    """Host, SLURM variables, device and versions of the current process."""
    info = {
        "host": platform.node(),
        "device": device.type,
        "device_name": (
            torch.cuda.get_device_name(device)
            if device.type == "cuda"
            else platform.processor() or platform.machine()
        ),
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "git_commit": git_commit(),
    }
    info.update({name.lower(): os.environ.get(name) for name in SLURM_VARIABLES})
    return info


def peak_memory_mb(device: torch.device) -> dict:
    """Peak resident memory of this process and, on CUDA, peak allocated GPU memory."""
    peak = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device.type == "cuda":
        peak["peak_gpu_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return peak
