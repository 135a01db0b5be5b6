"""The CRE objective: L = lam * MSE(x_hat, x) + (1 - lam) * CE(logits, y)."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F


class LossParts(NamedTuple):
    total: torch.Tensor
    mse: torch.Tensor  # mean squared error per pixel, [0, 1] pixel scale
    ce: torch.Tensor  # mean cross-entropy per sample, in nats


def reconstruction_mse(x_hat, x, weight=None) -> torch.Tensor:
    """Mean squared error per pixel; with `weight` (B, 1, H, W) only where it is 1."""
    squared = (x_hat - x).pow(2)
    if weight is None:
        return squared.mean()
    weight = weight.expand_as(squared)
    return (squared * weight).sum() / weight.sum().clamp_min(1.0)


def cre_loss(lam, x_hat, x, logits, y, recon_weight=None) -> LossParts:
    """The lam-weighted loss and both of its parts.

    lam = 0 gives pure classification (total == ce), lam = 1 pure reconstruction
    (total == mse). `lam` may be a float or a 0-d tensor.
    """
    mse = reconstruction_mse(x_hat, x, recon_weight)
    ce = F.cross_entropy(logits, y)
    return LossParts(total=lam * mse + (1 - lam) * ce, mse=mse, ce=ce)
