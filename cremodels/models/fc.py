"""Fully connected CRE: MLP encoder, mirrored MLP decoder, linear classifier on z."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from cremodels.models.base import CRE


@dataclass(frozen=True)
class FCConfig:
    hidden: tuple[int, ...]  # encoder widths, input side first; decoder mirrors them


# complexity level -> widths (parameter counts per dataset: README, `python -m
# cremodels.models`)
FC_LEVELS = {
    1: FCConfig(hidden=(256,)),
    2: FCConfig(hidden=(512, 256)),
    3: FCConfig(hidden=(1024, 512, 256)),
}


def _mlp(widths: list[int]) -> list[nn.Module]:
    """Linear layers between consecutive widths, ReLU between them (not after)."""
    layers = []
    for i, (width_in, width_out) in enumerate(zip(widths, widths[1:], strict=False)):
        layers.append(nn.Linear(width_in, width_out))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return layers


class FCCRE(CRE):
    def __init__(
        self, *, input_shape, num_classes: int, latent_dim: int, complexity: int
    ):
        super().__init__()
        self.input_shape = tuple(input_shape)
        widths = [math.prod(self.input_shape), *FC_LEVELS[complexity].hidden]

        # encoder: flatten -> hidden widths -> z
        self.encoder = nn.Sequential(nn.Flatten(), *_mlp(widths + [latent_dim]))

        # decoder: z -> mirrored widths -> pixels in [0, 1]
        self.decoder = nn.Sequential(*_mlp([latent_dim] + widths[::-1]), nn.Sigmoid())

        # classifier: a linear read-out of z
        self.classifier = nn.Linear(latent_dim, num_classes)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)  # (B, latent_dim)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, *self.input_shape)  # (B, C, H, W)
