"""Convolutional CRE: two stride-2 stages down to z, transposed convolutions back up.

Both stages halve the image side (8 -> 4 -> 2, 28 -> 14 -> 7, 32 -> 16 -> 8), so
the decoder's two stride-2 transposed convolutions restore the input size exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cremodels.models.base import CRE


@dataclass(frozen=True)
class CNNConfig:
    channels: tuple[int, int]  # channels after the first and the second stage
    convs_per_stage: int  # 3x3 convolutions per stage (the first one strides)


CNN_LEVELS = {
    1: CNNConfig(channels=(16, 32), convs_per_stage=1),
    2: CNNConfig(channels=(32, 64), convs_per_stage=2),
    3: CNNConfig(channels=(64, 128), convs_per_stage=3),
}


def _stage(channels_in: int, channels_out: int, convs: int) -> list[nn.Module]:
    """A stride-2 3x3 convolution, then `convs - 1` same-size ones, ReLU after each."""
    layers = [nn.Conv2d(channels_in, channels_out, 3, stride=2, padding=1), nn.ReLU()]
    for _ in range(convs - 1):
        layers += [nn.Conv2d(channels_out, channels_out, 3, padding=1), nn.ReLU()]
    return layers


class CNNCRE(CRE):
    def __init__(
        self, *, input_shape, num_classes: int, latent_dim: int, complexity: int
    ):
        super().__init__()
        channels, height, width = input_shape
        if height % 4 or width % 4:
            raise ValueError(
                f"CNN-CRE needs image sides divisible by 4, got {height}x{width}"
            )
        config = CNN_LEVELS[complexity]
        c1, c2 = config.channels
        self.feature_shape = (c2, height // 4, width // 4)
        features = c2 * (height // 4) * (width // 4)

        # encoder: two stride-2 stages -> flatten -> z
        self.encoder = nn.Sequential(
            *_stage(channels, c1, config.convs_per_stage),
            *_stage(c1, c2, config.convs_per_stage),
            nn.Flatten(),
            nn.Linear(features, latent_dim),
        )

        # decoder: z -> feature map -> two stride-2 transposed convs -> [0, 1]
        self.decoder_in = nn.Sequential(nn.Linear(latent_dim, features), nn.ReLU())
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(c1, channels, 4, stride=2, padding=1),
            nn.Sigmoid(),
        )

        # classifier: a linear read-out of z
        self.classifier = nn.Linear(latent_dim, num_classes)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)  # (B, latent_dim)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        features = self.decoder_in(z).view(-1, *self.feature_shape)  # (B, c2, H/4, W/4)
        return self.decoder(features)  # (B, C, H, W)
