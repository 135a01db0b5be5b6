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


# ------------------------------------------------------- K models at once
#
# `cremodels.train.ModelStack` trains a bundle of K FC-CREs as one: their
# parameters are stacked along a leading axis, in the layout below, and
# `FCCRE.stacked_forward` runs all K on batched matrix products. The models come
# in G groups of K/G consecutive models that read the same input batch (runs of
# one seed). Layout, chosen so that no product or gradient needs a transposed
# copy (`FCCRE.stack_parameters`):
#   first linear layer: weight (G, in, K/G * out), the group's models side by
#       side, so each group's first layer is one wide product on its shared input;
#   every other linear layer: weight (K, in, out); biases (K, out).


def _linear_names(model: nn.Module) -> list[str]:
    return [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]


def _stacked_linear(h, weight, bias):
    """K linear layers: h (K, B, in), weight (K, in, out), bias (K, out)."""
    return torch.baddbmm(bias.unsqueeze(1), h, weight)


def _stacked_first_linear(h, weight, bias):
    """The first layer, one wide product per group: h (G, B, in), weight (G, in,
    K/G * out), bias (K, out) -> (K, B, out)."""
    k, out = bias.shape
    groups, batch = h.shape[:2]
    y = torch.bmm(h, weight)  # (G, B, K/G * out)
    y = y.view(groups, batch, k // groups, out).transpose(1, 2).reshape(k, batch, out)
    return y + bias.unsqueeze(1)


def _stacked_sequential(
    layers: nn.Sequential, prefix: str, params: dict, h, first: bool = False
):
    """Run a Sequential of Linear/ReLU/Sigmoid layers for K stacked models."""
    for i, layer in enumerate(layers):
        if isinstance(layer, nn.Linear):
            linear = _stacked_first_linear if first else _stacked_linear
            h = linear(h, params[f"{prefix}.{i}.weight"], params[f"{prefix}.{i}.bias"])
            first = False
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

    # K models at once: the parameter layout is described above `_linear_names`.

    def stack_parameters(self, params: dict, groups: int) -> dict:
        """Stacked parameters from the (K, ...) stack of the K models' own tensors."""
        first = _linear_names(self)[0]
        stacked = {}
        for name, tensor in params.items():
            tensor = tensor.detach()
            if name == f"{first}.weight":  # (K, out, in) -> (G, in, K/G * out)
                k, out, width_in = tensor.shape
                side_by_side = tensor.view(groups, k // groups * out, width_in)
                tensor = side_by_side.transpose(1, 2)
            elif name.endswith(".weight"):  # (K, out, in) -> (K, in, out)
                tensor = tensor.transpose(1, 2)
            stacked[name] = tensor.contiguous().requires_grad_(True)
        return stacked

    def unstack_parameters(self, stacked: dict) -> dict:
        """The (K, ...) stack of each model's own tensors (inverse of the above)."""
        first = _linear_names(self)[0]
        out_first = self.get_submodule(first).out_features
        params = {}
        for name, tensor in stacked.items():
            tensor = tensor.detach()
            if name == f"{first}.weight":  # (G, in, K/G * out) -> (K, out, in)
                width_in = tensor.shape[1]
                tensor = tensor.transpose(1, 2).reshape(-1, out_first, width_in)
            elif name.endswith(".weight"):  # (K, in, out) -> (K, out, in)
                tensor = tensor.transpose(1, 2)
            params[name] = tensor
        return params

    def stacked_forward(self, params: dict, x: torch.Tensor) -> CREOutput:
        """K models at once (see cremodels.train.ModelStack).

        params: stacked by `stack_parameters` with G groups; x: (G, B, C, H, W),
        one batch per group of K/G consecutive models. Outputs are (K, B, ...).
        """
        h = x.flatten(2)  # (G, B, C*H*W)
        z = _stacked_sequential(self.encoder, "encoder", params, h, first=True)
        pixels = _stacked_sequential(self.decoder, "decoder", params, z)
        logits = _stacked_linear(
            z, params["classifier.weight"], params["classifier.bias"]
        )
        x_hat = pixels.view(*pixels.shape[:2], *self.input_shape)  # (K, B, C, H, W)
        return CREOutput(z=z, x_hat=x_hat, logits=logits)
