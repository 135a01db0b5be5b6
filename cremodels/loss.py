"""The CRE objective: L = lam * MSE(x_hat, x) + (1 - lam) * CE(logits, y).

Every function also takes a stack of K models' outputs at once: tensors with a
leading model axis, (K, B, C, H, W) and (K, B, classes), give per-model results
(K,). The targets may be shared by all models ((B, ...) broadcasts).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F


class LossParts(NamedTuple):
    total: torch.Tensor
    mse: torch.Tensor  # mean squared error per pixel, [0, 1] pixel scale
    ce: torch.Tensor  # mean cross-entropy per sample, in nats


def reconstruction_mse(x_hat, x, weight=None) -> torch.Tensor:
    """Mean squared error per pixel over the last four axes (B, C, H, W); with
    `weight` (B, 1, H, W) only where it is 1."""
    squared = (x_hat - x).pow(2)
    if weight is None:
        return squared.flatten(-4).mean(-1)
    weight = weight.expand_as(squared)
    total = (squared * weight).flatten(-4).sum(-1)
    return total / weight.flatten(-4).sum(-1).clamp_min(1.0)


def cross_entropy(logits, y) -> torch.Tensor:
    """Mean cross-entropy over the batch axis: logits (..., B, classes), y (..., B)."""
    if logits.dim() == 2:
        return F.cross_entropy(logits, y)
    lead = logits.shape[:-2]
    per_sample = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),
        y.expand(*lead, y.shape[-1]).reshape(-1),
        reduction="none",
    )
    return per_sample.view(*lead, -1).mean(-1)


def cre_loss(lam, x_hat, x, logits, y, recon_weight=None) -> LossParts:
    """The lam-weighted loss and both of its parts.

    lam = 0 gives pure classification (total == ce), lam = 1 pure reconstruction
    (total == mse). `lam` may be a float, a 0-d tensor, or (K,) for K models.
    """
    mse = reconstruction_mse(x_hat, x, recon_weight)
    ce = cross_entropy(logits, y)
    return LossParts(total=lam * mse + (1 - lam) * ce, mse=mse, ce=ce)
