"""Information probes: what a run's frozen latent holds, apart from its own heads.

At λ = 1 the classifier head gets no gradient and at λ = 0 the decoder gets none,
so the heads' test scores understate what z holds. Probes are trained afresh on the
frozen latents a run's evaluation saved (`latents.npz`: z_train/y_train for the
fixed, seeded training subset of `cremodels.evaluate.train_subset`, and
z_test/y_test for the whole test split):

* `mlp_probe_accuracy`: a small multilayer perceptron (scikit-learn, standardised
  inputs, seeded) fitted on the training latents, accuracy on the test latents.
  Its linear counterpart, `linear_probe_accuracy` (a logistic regression), is
  computed with the other latent measures in `cremodels.geometry`.
* `decoder_probe_mse`: a freshly initialised model of the run's own architecture
  and size (`build_model` with the model settings saved in its model.pt), of which
  only the decoder path z -> x_hat is trained, on the frozen training latents
  against the matching training images; MSE per pixel on the [0, 1] scale over
  the whole test images, the same measure as the head's `test_mse`.
* `mean_image_mse`: the same MSE for a "decoder" that ignores z and outputs the
  mean training image: the reference the decoder probe must beat (also the
  normaliser of MSE in the trade-off index, `cremodels.analysis`).

Every probe is seeded with the same probe seed for every run, so probe scores
differ between runs only through their latents.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from cremodels.data import PreparedData, load_prepared
from cremodels.device import select_device, set_determinism
from cremodels.evaluate import train_subset
from cremodels.io import load_torch, read_npz, write_json
from cremodels.models import build_model

log = logging.getLogger(__name__)


class ProbeError(RuntimeError):
    """Saved latents that do not fit the data or model they are probed against."""


# ---------------------------------------------------------------- classification


def mlp_probe_accuracy(
    z_train,
    y_train,
    z_test,
    y_test,
    *,
    hidden: tuple[int, ...] = (64,),
    max_iter: int = 200,
    seed: int = 0,
) -> float:
    """Test accuracy of a small MLP (ReLU, Adam) fitted on frozen training latents;
    it stops early when 10 % of the training latents, held out, stop improving."""
    probe = make_pipeline(
        StandardScaler(),
        MLPClassifier(
            hidden_layer_sizes=tuple(hidden),
            max_iter=max_iter,
            early_stopping=True,
            random_state=seed,
        ),
    )
    probe.fit(z_train, y_train)
    return float(probe.score(z_test, y_test))


# ---------------------------------------------------------------- reconstruction


def decoder_parameters(model: torch.nn.Module, latent_dim: int) -> list:
    """The parameters on the model's decoder path z -> x_hat: those that get a
    gradient from `model.decode` (whatever the architecture names them)."""
    device = next(model.parameters()).device
    model.zero_grad(set_to_none=True)
    model.decode(torch.zeros(2, latent_dim, device=device)).sum().backward()
    found = [p for p in model.parameters() if p.grad is not None]
    model.zero_grad(set_to_none=True)
    if not found:
        raise ProbeError(f"{type(model).__name__}.decode uses no trainable parameter")
    return found


@torch.no_grad()
def _decoded_mse(model, z: torch.Tensor, x: torch.Tensor, batch_size: int) -> float:
    """MSE per pixel between decode(z) and x over all samples and pixels."""
    total = 0.0
    for start in range(0, len(z), batch_size):
        x_hat = model.decode(z[start : start + batch_size])
        total += (x_hat - x[start : start + batch_size]).pow(2).sum().item()
    return total / x.numel()


def decoder_probe_mse(
    model_settings: dict,
    z_train: torch.Tensor,
    x_train: torch.Tensor,
    z_test: torch.Tensor,
    x_test: torch.Tensor,
    *,
    epochs: int = 20,
    batch_size: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
) -> float:
    """Test MSE per pixel of a fresh decoder trained on frozen latents.

    The decoder is that of `build_model(**model_settings)`, initialised from
    `seed`; Adam on its decoder parameters only, plain MSE over every pixel, batch
    order from a generator seeded with `seed`. Tensors are on the training device.
    """
    torch.manual_seed(seed)
    model = build_model(**model_settings).to(z_train.device)
    parameters = decoder_parameters(model, z_train.shape[1])
    optimizer = torch.optim.Adam(parameters, lr=lr, fused=True)
    order = torch.Generator().manual_seed(seed)

    # training: only decode() runs, so only the decoder path moves
    model.train()
    for _ in range(epochs):
        permutation = torch.randperm(len(z_train), generator=order).to(z_train.device)
        for start in range(0, len(z_train), batch_size):
            batch = permutation[start : start + batch_size]
            loss = (model.decode(z_train[batch]) - x_train[batch]).pow(2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    # evaluation: whole test images, as the head's test_mse
    model.eval()
    return _decoded_mse(model, z_test, x_test, max(batch_size, 1024))


def mean_image_mse(x_train: torch.Tensor, x_test: torch.Tensor) -> float:
    """MSE per pixel of predicting the mean training image for every test image."""
    mean_image = x_train.mean(dim=0, keepdim=True)
    return (x_test - mean_image).pow(2).mean().item()


# ---------------------------------------------------------------- one run, one job


def training_images(data: PreparedData, y_train: np.ndarray) -> torch.Tensor:
    """The training images whose latents are z_train: the same seeded subset
    `cremodels.evaluate` took (its size is the number of saved latents)."""
    idx = torch.as_tensor(
        train_subset(len(data.train), len(y_train)), device=data.train.x.device
    )
    labels = data.train.y[idx].cpu().numpy()
    if not np.array_equal(labels, y_train):
        raise ProbeError(
            f"the saved training latents ({len(y_train)}) do not match the training "
            f"subset of the prepared {data.name} data (labels differ); the latents "
            "come from another preparation of the data: rerun the evaluate stage"
        )
    return data.train.x[idx]


def probe_run(
    latents: dict,
    model_settings: dict,
    data: PreparedData,
    *,
    mlp_hidden=(64,),
    mlp_max_iter: int = 200,
    decoder_epochs: int = 20,
    decoder_batch_size: int = 128,
    decoder_lr: float = 2e-3,
    seed: int = 0,
) -> dict:
    """Every probe score of one run from its saved latents."""
    z_train, y_train = latents["z_train"], latents["y_train"]
    z_test, y_test = latents["z_test"], latents["y_test"]
    if len(z_test) != len(data.test) or not np.array_equal(
        y_test, data.test.y.cpu().numpy()
    ):
        raise ProbeError(
            f"the saved test latents ({len(z_test)}) do not match the test split of "
            f"the prepared {data.name} data ({len(data.test)}): rerun evaluate"
        )
    x_train = training_images(data, y_train)
    device = data.train.x.device
    return {
        "mlp_probe_accuracy": mlp_probe_accuracy(
            z_train,
            y_train,
            z_test,
            y_test,
            hidden=tuple(mlp_hidden),
            max_iter=mlp_max_iter,
            seed=seed,
        ),
        "decoder_probe_mse": decoder_probe_mse(
            model_settings,
            torch.as_tensor(z_train, dtype=torch.float32, device=device),
            x_train,
            torch.as_tensor(z_test, dtype=torch.float32, device=device),
            data.test.x,
            epochs=decoder_epochs,
            batch_size=decoder_batch_size,
            lr=decoder_lr,
            seed=seed,
        ),
        "mean_image_mse": mean_image_mse(x_train, data.test.x),
    }


def probes_job(
    *,
    prepared,
    models: dict,
    latents: dict,
    outputs: dict,
    settings: dict,
    device: str = "auto",
    deterministic: bool = False,
    threads: int = 1,
    fingerprint_parts: dict | None = None,
) -> None:
    """Probe every run of a bundle: `models[name]` and `latents[name]` are the
    run's model.pt and latents.npz, `outputs[name]` its probes.json; `settings`
    are the config's `probes` section."""
    torch.set_num_threads(threads)
    set_determinism(deterministic)
    torch_device = select_device(device)
    data = load_prepared(prepared, torch_device)
    for name, model_path in models.items():
        saved = load_torch(model_path, map_location="cpu", weights_only=False)
        run_latents = read_npz(latents[name])
        scores = probe_run(run_latents, saved["model_settings"], data, **settings)
        log.info(
            "%s: MLP probe accuracy %.4f, decoder probe mse %.5f (mean image %.5f)",
            name,
            scores["mlp_probe_accuracy"],
            scores["decoder_probe_mse"],
            scores["mean_image_mse"],
        )
        write_json(
            outputs[name],
            {
                **scores,
                "device": torch_device.type,
                "fingerprint_parts": fingerprint_parts,
            },
        )
