"""CRE architectures and the one factory that builds any of them.

`build_model(arch=..., input_shape=..., num_classes=..., latent_dim=...,
complexity=..., **options)` is how every other part of the project gets a model;
`python -m cremodels.models` prints the parameter count of every
(arch, complexity) pair for each dataset.
"""

from __future__ import annotations

from cremodels.models.base import CRE, CREOutput, count_parameters
from cremodels.models.cnn import CNN_LEVELS, CNNCRE
from cremodels.models.fc import FC_LEVELS, FCCRE
from cremodels.models.vit import VIT_LEVELS, ViTCRE

ARCHS = {"fc": FCCRE, "cnn": CNNCRE, "vit": ViTCRE}
LEVELS = {"fc": FC_LEVELS, "cnn": CNN_LEVELS, "vit": VIT_LEVELS}

__all__ = ["CRE", "CREOutput", "build_model", "count_parameters", "ARCHS", "LEVELS"]


def build_model(
    *,
    arch: str,
    input_shape,
    num_classes: int,
    latent_dim: int,
    complexity: int,
    **options,
) -> CRE:
    """A freshly initialised CRE; `options` are architecture-specific (ViT only)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r} (allowed: {', '.join(ARCHS)})")
    if complexity not in LEVELS[arch]:
        raise ValueError(
            f"unknown complexity {complexity!r} for {arch} "
            f"(allowed: {', '.join(map(str, LEVELS[arch]))})"
        )
    if latent_dim < 1:
        raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
    return ARCHS[arch](
        input_shape=tuple(input_shape),
        num_classes=num_classes,
        latent_dim=latent_dim,
        complexity=complexity,
        **options,
    )
