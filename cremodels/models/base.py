"""What every CRE architecture shares: its output and the stages of its forward pass.

A CRE maps an image batch x (B, C, H, W), pixels in [0, 1], to

* z: the shared latent (B, latent_dim),
* x_hat: the reconstruction (B, C, H, W), pixels in [0, 1], and
* logits: class scores (B, num_classes), computed from z alone.

`recon_weight` is None when the reconstruction loss covers every pixel; a masked
model (ViT with mask_ratio > 0) sets it to 1 on the pixels the loss is taken on.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class CREOutput(NamedTuple):
    z: torch.Tensor  # (B, latent_dim)
    x_hat: torch.Tensor  # (B, C, H, W)
    logits: torch.Tensor  # (B, num_classes)
    recon_weight: torch.Tensor | None = None  # (B, 1, H, W) or None


class CRE(nn.Module):
    """Encoder -> z -> (decoder, classifier). Subclasses define the three parts."""

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def classify(self, z: torch.Tensor) -> torch.Tensor:
        return self.classifier(z)

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> CREOutput:
        """`noise` drives random masking (masked models only); others ignore it."""
        z = self.encode(x)
        return CREOutput(z=z, x_hat=self.decode(z), logits=self.classify(z))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
