"""Device choice and determinism switches shared by training and evaluation."""

from __future__ import annotations

import os

import torch


def select_device(preference: str = "auto") -> torch.device:
    """CUDA when asked for or (``auto``) when visible; CPU otherwise."""
    if preference == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but no CUDA device is visible")
    if preference == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


def set_determinism(deterministic: bool) -> None:
    """Deterministic CUDA kernels on request; the CPU kernels used are deterministic
    for a fixed thread count either way."""
    torch.backends.cudnn.benchmark = False
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
