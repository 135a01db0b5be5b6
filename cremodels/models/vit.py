"""Vision-Transformer CRE with MAE-style random masking.

Reimplemented from the description of masked autoencoders (He et al., 2021,
"Masked Autoencoders Are Scalable Vision Learners"); no code is taken from the
reference implementation.

Data flow (shapes for a batch of B images cut into L patches of P pixels):

* patchify: (B, C, H, W) -> (B, L, P) with P = patch_size^2 * C;
* encoder: linear patch embedding (layer-normed: the embedding of a few pixels
  is otherwise much weaker than the position code, and the class token starts
  out nearly blind to the image) + fixed 2-D sin-cos positions -> (training with
  masking only) keep the lowest-noise patches -> prepend a class token ->
  transformer blocks -> layer norm -> the class token's output, projected to
  z (B, latent_dim);
* classifier: a linear read-out of z;
* decoder (lighter): every patch position starts from z (projected to the
  decoder width) plus a learned mask token plus its fixed position embedding;
  transformer blocks let the positions exchange information; a linear layer
  predicts each patch's pixels, a sigmoid keeps them in [0, 1] -> unpatchify.

The decoder sees nothing but z, so z stays the model's only bottleneck, exactly as
for the FC and CNN CREs; masking changes only what the encoder sees.

Masking (training only: `forward(x, noise)` with noise (B, L) and mask_ratio > 0):
per image, the patches are sorted by their noise value and the
``n_keep = int(L * (1 - mask_ratio))`` lowest-noise ones are kept. `int()`
truncates, so the kept share is at most 1 - mask_ratio and the hidden share at
least mask_ratio: 28x28 images with 4x4 patches (L = 49) keep 24 patches at 0.5
and 12 at 0.75 (49 * 0.25 = 12.25). The noise comes from the trainer (one
generator per run), so the model holds no random state of its own.

Choices (config `model.vit`):

* ``recon_loss_on="hidden"`` (MAE's choice): the reconstruction loss covers the
  pixels of hidden patches only (`recon_weight` is 1 there, 0 elsewhere);
  ``"all"`` takes it on every pixel (`recon_weight` None).
* ``classify_from="unmasked"`` (default): during masked training the classifier
  reads z of a second, unmasked encoder pass, the same z it reads at test time;
  the reconstruction uses the masked pass. Cost: one more encoder pass per step
  (the full sequence, so 2x to 5x the masked pass at ratios 0.5 to 0.75).
  ``"masked"``: the classifier reads the masked pass's z (one pass; the
  classifier then trains on latents of partial images but is tested on whole
  ones). The returned z is always the one the classifier read.

Evaluation (no noise) never masks: the whole image goes through the encoder, and
the reconstruction of every patch is returned, so test MSE is on whole images in
pixel space, comparable with the FC and CNN CREs.

Everything in the forward pass is tensor arithmetic with shapes known in advance
(argsort and gather for the masking, no branching on tensor values), so the
trainer can run K models stacked under `torch.func.vmap`. Transformer blocks are
`nn.TransformerEncoderLayer` (pre-norm, GELU, no dropout); the model is trained in
`train()` mode, where torch never takes the layer's fused inference path.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cremodels.models.base import CRE, CREOutput

# ---------------------------------------------------------------- helpers


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, L, patch_size^2 * C), patches in row-major order."""
    batch, channels, height, width = images.shape
    rows, cols = height // patch_size, width // patch_size
    grid = images.reshape(batch, channels, rows, patch_size, cols, patch_size)
    grid = grid.permute(0, 2, 4, 3, 5, 1)  # (B, rows, cols, p, p, C)
    return grid.reshape(batch, rows * cols, patch_size * patch_size * channels)


def unpatchify(patches: torch.Tensor, patch_size: int, shape) -> torch.Tensor:
    """(B, L, patch_size^2 * C) -> (B, C, H, W); the inverse of `patchify`."""
    channels, height, width = shape
    rows, cols = height // patch_size, width // patch_size
    grid = patches.reshape(-1, rows, cols, patch_size, patch_size, channels)
    grid = grid.permute(0, 5, 1, 3, 2, 4)  # (B, C, rows, p, cols, p)
    return grid.reshape(-1, channels, height, width)


def _sincos_1d(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """(N,) positions -> (N, dim): sines then cosines of geometric frequencies."""
    frequencies = 1.0 / 10000 ** (
        torch.arange(dim // 2, dtype=torch.float64) / (dim / 2)
    )
    angles = positions.double()[:, None] * frequencies[None, :]  # (N, dim / 2)
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def sincos_position_embedding(dim: int, rows: int, cols: int) -> torch.Tensor:
    """Fixed 2-D position embedding (rows * cols, dim), row-major like `patchify`.

    The first half of the channels encodes the row, the second half the column,
    each with the 1-D sine-cosine code of the original transformer.
    """
    if dim % 4:
        raise ValueError(
            f"sin-cos position embedding needs a width divisible by 4, got {dim}"
        )
    row, col = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    embedding = torch.cat(
        [_sincos_1d(dim // 2, row.flatten()), _sincos_1d(dim // 2, col.flatten())],
        dim=1,
    )
    return embedding.float()


def keep_lowest_noise(noise: torch.Tensor, n_keep: int):
    """Which patches an image keeps: the `n_keep` with the lowest noise.

    noise (B, L) -> keep_ids (B, n_keep), the kept patches' indices in order of
    increasing noise, and hidden (B, L), 1.0 where a patch is hidden.
    """
    order = torch.argsort(noise, dim=1)  # (B, L) patch ids, lowest noise first
    rank = torch.argsort(order, dim=1)  # (B, L) each patch's place in that order
    return order[:, :n_keep], (rank >= n_keep).float()


def _blocks(width: int, heads: int, depth: int) -> nn.ModuleList:
    """Pre-norm transformer blocks (torch's own), GELU MLP of 4x width, no dropout."""
    return nn.ModuleList(
        nn.TransformerEncoderLayer(
            d_model=width,
            nhead=heads,
            dim_feedforward=4 * width,
            dropout=0.0,
            activation="gelu",
            layer_norm_eps=1e-6,
            batch_first=True,
            norm_first=True,
        )
        for _ in range(depth)
    )


# ---------------------------------------------------------------- configuration


@dataclass(frozen=True)
class ViTConfig:
    depth: int  # encoder transformer blocks
    width: int  # encoder token width (divisible by 4 and by heads)
    heads: int  # encoder attention heads
    decoder_depth: int  # decoder transformer blocks (lighter than the encoder)
    decoder_width: int  # decoder token width
    decoder_heads: int  # decoder attention heads


# complexity level -> sizes (parameter counts per dataset: README, `python -m
# cremodels.models`)
VIT_LEVELS = {
    1: ViTConfig(
        depth=2, width=64, heads=4, decoder_depth=1, decoder_width=32, decoder_heads=2
    ),
    2: ViTConfig(
        depth=4, width=128, heads=4, decoder_depth=2, decoder_width=64, decoder_heads=4
    ),
    3: ViTConfig(
        depth=6, width=192, heads=6, decoder_depth=2, decoder_width=96, decoder_heads=4
    ),
}

RECON_LOSS_ON = ("hidden", "all")
CLASSIFY_FROM = ("unmasked", "masked")


# ---------------------------------------------------------------- the model


class ViTCRE(CRE):
    def __init__(
        self,
        *,
        input_shape,
        num_classes: int,
        latent_dim: int,
        complexity: int,
        patch_size: int,
        mask_ratio: float = 0.0,
        recon_loss_on: str = "hidden",
        classify_from: str = "unmasked",
    ):
        super().__init__()
        channels, height, width = input_shape
        if patch_size < 1 or height % patch_size or width % patch_size:
            raise ValueError(
                f"ViT-CRE: patch_size {patch_size} must divide the image size "
                f"{height}x{width} (set model.vit.patch_size to a divisor of both)"
            )
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(
                f"ViT-CRE: mask_ratio must lie in [0, 1), got {mask_ratio}"
            )
        if recon_loss_on not in RECON_LOSS_ON:
            raise ValueError(
                f"ViT-CRE: recon_loss_on {recon_loss_on!r} not in {RECON_LOSS_ON}"
            )
        if classify_from not in CLASSIFY_FROM:
            raise ValueError(
                f"ViT-CRE: classify_from {classify_from!r} not in {CLASSIFY_FROM}"
            )
        config = VIT_LEVELS[complexity]
        rows, cols = height // patch_size, width // patch_size
        self.input_shape = (channels, height, width)
        self.patch_size = patch_size
        self.num_patches = rows * cols
        self.mask_ratio = float(mask_ratio)
        self.n_keep = int(self.num_patches * (1.0 - self.mask_ratio))
        if self.n_keep < 1:
            raise ValueError(
                f"ViT-CRE: mask_ratio {mask_ratio} keeps no patch of {self.num_patches}"
            )
        self.recon_loss_on = recon_loss_on
        self.classify_from = classify_from
        patch_pixels = patch_size * patch_size * channels

        # encoder: patch embedding, fixed positions, class token, blocks, z
        self.patch_embed = nn.Linear(patch_pixels, config.width)
        self.patch_norm = nn.LayerNorm(config.width, eps=1e-6)
        self.register_buffer(
            "pos_embed", sincos_position_embedding(config.width, rows, cols)
        )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.width))
        self.encoder_blocks = _blocks(config.width, config.heads, config.depth)
        self.encoder_norm = nn.LayerNorm(config.width, eps=1e-6)
        self.to_latent = nn.Linear(config.width, latent_dim)

        # decoder: z + mask token + fixed positions -> blocks -> pixels per patch
        self.latent_to_decoder = nn.Linear(latent_dim, config.decoder_width)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, config.decoder_width))
        self.register_buffer(
            "decoder_pos_embed",
            sincos_position_embedding(config.decoder_width, rows, cols),
        )
        self.decoder_blocks = _blocks(
            config.decoder_width, config.decoder_heads, config.decoder_depth
        )
        self.decoder_norm = nn.LayerNorm(config.decoder_width, eps=1e-6)
        self.to_pixels = nn.Linear(config.decoder_width, patch_pixels)

        # classifier: a linear read-out of z
        self.classifier = nn.Linear(latent_dim, num_classes)

        self._init_weights()

    def _init_weights(self) -> None:
        # Tokens: small normal values (as for ViT); linear layers: Xavier-uniform
        # weights and zero biases, which train transformers more stably than
        # torch's default fan-in uniform.
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    # ------------------------------------------------------------ stages

    def encode(
        self, x: torch.Tensor, keep_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, C, H, W) -> z (B, latent_dim); with keep_ids (B, n) only those
        patches enter the encoder."""
        patches = patchify(x, self.patch_size)  # (B, L, P)
        tokens = self.patch_norm(self.patch_embed(patches)) + self.pos_embed
        if keep_ids is not None:
            index = keep_ids.unsqueeze(-1).expand(-1, -1, tokens.shape[-1])
            tokens = torch.gather(tokens, 1, index)  # (B, n, D)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)  # (B, 1, D)
        tokens = torch.cat([cls, tokens], dim=1)  # (B, 1 + n, D)
        for block in self.encoder_blocks:
            tokens = block(tokens)
        return self.to_latent(self.encoder_norm(tokens[:, 0]))  # (B, latent_dim)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, latent_dim) -> reconstruction (B, C, H, W), pixels in [0, 1]."""
        start = self.latent_to_decoder(z).unsqueeze(1)  # (B, 1, Dd)
        tokens = start + self.mask_token + self.decoder_pos_embed  # (B, L, Dd)
        for block in self.decoder_blocks:
            tokens = block(tokens)
        pixels = torch.sigmoid(self.to_pixels(self.decoder_norm(tokens)))  # (B, L, P)
        return unpatchify(pixels, self.patch_size, self.input_shape)

    def hidden_pixels(self, hidden: torch.Tensor) -> torch.Tensor:
        """Patch mask (B, L) -> pixel mask (B, 1, H, W), 1.0 on hidden patches."""
        per_pixel = hidden.unsqueeze(-1).expand(-1, -1, self.patch_size**2)
        return unpatchify(per_pixel, self.patch_size, (1, *self.input_shape[1:]))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> CREOutput:
        """x (B, C, H, W); noise (B, L) masks (training only, mask_ratio > 0)."""
        if noise is None or self.mask_ratio == 0.0:
            z = self.encode(x)
            return CREOutput(z=z, x_hat=self.decode(z), logits=self.classify(z))

        # masked pass: the encoder sees the kept patches, z_masked is decoded
        keep_ids, hidden = keep_lowest_noise(noise, self.n_keep)
        z_masked = self.encode(x, keep_ids)
        x_hat = self.decode(z_masked)

        # classification: from a second, unmasked pass or from the masked one
        z = self.encode(x) if self.classify_from == "unmasked" else z_masked

        # reconstruction loss: on hidden patches' pixels, or on all (None)
        weight = self.hidden_pixels(hidden) if self.recon_loss_on == "hidden" else None
        return CREOutput(z=z, x_hat=x_hat, logits=self.classify(z), recon_weight=weight)
