"""Evaluation of trained runs on the test split, never masked.

For each run: test accuracy of the classifier head, reconstruction MSE per pixel
on the [0, 1] scale over whole images, PSNR = 10 log10(1 / MSE) of that mean MSE,
the test latents (all) and a fixed subset of training latents (for probes), and a
few test images with their reconstructions (for the plots).
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch

from cremodels.data import PreparedData, load_prepared
from cremodels.device import select_device
from cremodels.io import load_torch, save_npz, write_json
from cremodels.models import build_model

log = logging.getLogger(__name__)


def load_model(path, device="cpu") -> tuple[torch.nn.Module, dict]:
    """The trained model saved by a training job, and everything saved with it."""
    blob = load_torch(path, map_location=device, weights_only=False)
    model = build_model(**blob["model_settings"])
    model.load_state_dict(blob["state_dict"])
    return model.to(device).eval(), blob


@torch.no_grad()
def forward_all(model, x, batch_size: int):
    """z, x_hat and logits of the whole tensor x, in large no-grad batches."""
    outs = [model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    return tuple(torch.cat([o[j] for o in outs]) for j in range(3))


def train_subset(n_train: int, size: int, seed: int = 0) -> np.ndarray:
    """A fixed (seeded) subset of training indices, the same for every run."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.permutation(n_train)[: min(size, n_train)])


def evaluate_model(
    model,
    data: PreparedData,
    *,
    batch_size: int = 2048,
    train_latents: int = 10000,
    examples: int = 8,
):
    """Metrics, latents and reconstruction examples of one trained model."""
    test = data.test
    z, x_hat, logits = forward_all(model, test.x, batch_size)
    mse = (x_hat - test.x).pow(2).mean().item()
    metrics = {
        "test_accuracy": (logits.argmax(1) == test.y).float().mean().item(),
        "test_mse": mse,
        "test_psnr": 10 * math.log10(1.0 / mse) if mse > 0 else math.inf,
    }

    # Latents of a fixed training subset, the same samples for every run.
    idx = torch.as_tensor(
        train_subset(len(data.train), train_latents), device=data.train.x.device
    )
    z_train = forward_all(model, data.train.x[idx], batch_size)[0]
    latents = {
        "z_test": z.cpu().numpy(),
        "y_test": test.y.cpu().numpy(),
        "z_train": z_train.cpu().numpy(),
        "y_train": data.train.y[idx].cpu().numpy(),
    }
    recon = {
        "x": test.x[:examples].cpu().numpy(),
        "x_hat": x_hat[:examples].cpu().numpy(),
        "y": test.y[:examples].cpu().numpy(),
    }
    return metrics, latents, recon


def evaluate_job(
    *,
    prepared,
    models: dict,
    outputs: dict,
    batch_size: int = 2048,
    train_latents: int = 10000,
    examples: int = 8,
    device: str = "auto",
    threads: int = 1,
    fingerprint_parts: dict | None = None,
) -> None:
    """Evaluate every run of a bundle; `models[name]` is the run's model file and
    `outputs[name]` maps "metrics", "latents" and "examples" to output paths."""
    torch.set_num_threads(threads)
    torch_device = select_device(device)
    data = load_prepared(prepared, torch_device)
    for name, model_path in models.items():
        model, _ = load_model(model_path, torch_device)
        metrics, latents, recon = evaluate_model(
            model,
            data,
            batch_size=batch_size,
            train_latents=train_latents,
            examples=examples,
        )
        log.info(
            "%s: accuracy %.4f, mse %.5f, psnr %.2f dB",
            name,
            metrics["test_accuracy"],
            metrics["test_mse"],
            metrics["test_psnr"],
        )
        paths = outputs[name]
        save_npz(paths["latents"], **latents)
        save_npz(paths["examples"], **recon)
        write_json(
            paths["metrics"],
            {
                **metrics,
                "device": torch_device.type,
                "fingerprint_parts": fingerprint_parts,
            },
        )
