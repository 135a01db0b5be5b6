"""Fully connected CRE: MLP encoder, mirrored MLP decoder, linear classifier on z."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from cremodels.models.base import CRE, CREOutput


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


def stacked_linear(h, weight, bias):
    """K linear layers at once: weight (K, out, in), bias (K, out).

    h is (G, B, in) with G dividing K: the K/G consecutive models of a group all
    read the group's input, so their layers become one wide matrix product.
    Returns (K, B, out).
    """
    k, out, width_in = weight.shape
    groups = h.shape[0]
    if groups == k:
        return torch.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2))
    per_group = k // groups
    wide = weight.view(groups, per_group * out, width_in).transpose(1, 2)
    y = torch.bmm(h, wide)  # (G, B, per_group * out)
    y = y.view(groups, -1, per_group, out).transpose(1, 2).reshape(k, -1, out)
    return y + bias.unsqueeze(1)


def _stacked_sequential(layers: nn.Sequential, prefix: str, params: dict, h):
    """Run a Sequential of Linear/ReLU/Sigmoid layers for K stacked models."""
    for i, layer in enumerate(layers):
        if isinstance(layer, nn.Linear):
            h = stacked_linear(
                h, params[f"{prefix}.{i}.weight"], params[f"{prefix}.{i}.bias"]
            )
        elif isinstance(layer, nn.ReLU):
            h = torch.relu(h)
        elif isinstance(layer, nn.Sigmoid):
            h = torch.sigmoid(h)
        elif not isinstance(layer, nn.Flatten):  # inputs arrive flattened
            raise TypeError(f"no stacked version of {type(layer).__name__}")
    return h


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

    def stacked_forward(self, params: dict, x: torch.Tensor) -> CREOutput:
        """K models at once (see cremodels.train.ModelStack).

        params: this model's parameters, each with a leading K axis; x: (G, B, C,
        H, W), one batch per group of K/G consecutive models. Returns outputs of
        shape (K, B, ...).
        """
        h = x.flatten(2)  # (G, B, C*H*W)
        z = _stacked_sequential(self.encoder, "encoder", params, h)  # (K, B, latent)
        pixels = _stacked_sequential(self.decoder, "decoder", params, z)
        logits = stacked_linear(
            z, params["classifier.weight"], params["classifier.bias"]
        )
        x_hat = pixels.view(*pixels.shape[:2], *self.input_shape)  # (K, B, C, H, W)
        return CREOutput(z=z, x_hat=x_hat, logits=logits)
