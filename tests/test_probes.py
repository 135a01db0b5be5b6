"""Information probes on built latents whose content is known by construction."""

import json

import numpy as np
import pytest
import torch

from cremodels import probes
from cremodels.data import PreparedData, Split
from cremodels.evaluate import train_subset
from cremodels.models import build_model

LATENT_DIM = 4
FC_SETTINGS = {
    "arch": "fc",
    "input_shape": [1, 8, 8],
    "num_classes": 3,
    "latent_dim": LATENT_DIM,
    "complexity": 1,
}


def built_data(n_train=600, n_test=300, seed=0):
    """8x8 images drawn from a 4-D latent through a fixed random map, and labels
    that a linear read-out of the latent separates with a margin."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(LATENT_DIM, 64))
    directions = np.array([[3.0, 0, 0, 0], [0, 3.0, 0, 0], [-3.0, -3.0, 0, 0]])

    def split(n):
        y = rng.integers(0, 3, n)
        z = directions[y] + 0.5 * rng.normal(size=(n, LATENT_DIM))
        x = 1 / (1 + np.exp(-(z @ mixing) / 2))  # pixels in (0, 1)
        images = torch.tensor(x.reshape(n, 1, 8, 8), dtype=torch.float32)
        return z.astype(np.float32), Split(x=images, y=torch.tensor(y))

    z_train_all, train = split(n_train)
    z_test, test = split(n_test)
    _, val = split(10)
    data = PreparedData(
        name="built", train=train, val=val, test=test, classes=["a", "b", "c"]
    )
    return data, z_train_all, z_test


def saved_latents(data, z_train_all, z_test, size=400):
    """What evaluate saves: latents of the seeded training subset and the test set."""
    idx = train_subset(len(data.train), size)
    return {
        "z_train": z_train_all[idx],
        "y_train": data.train.y[idx].numpy(),
        "z_test": z_test,
        "y_test": data.test.y.numpy(),
    }


@pytest.fixture(scope="module")
def built():
    return built_data()


def test_probes_recover_what_a_built_latent_holds(built):
    data, z_train_all, z_test = built
    latents = saved_latents(data, z_train_all, z_test)
    scores = probes.probe_run(latents, FC_SETTINGS, data, decoder_epochs=40)
    assert scores["mlp_probe_accuracy"] > 0.97
    # the images are a function of z: the fresh decoder beats the mean image
    assert scores["decoder_probe_mse"] < 0.5 * scores["mean_image_mse"]
    mean_image = data.train.x[train_subset(len(data.train), 400)].mean(0)
    expected = (data.test.x - mean_image).pow(2).mean().item()
    assert scores["mean_image_mse"] == pytest.approx(expected)


def test_probes_find_nothing_in_a_latent_of_noise(built):
    data, z_train_all, z_test = built
    rng = np.random.default_rng(1)
    latents = saved_latents(
        data,
        rng.normal(size=z_train_all.shape).astype(np.float32),
        rng.normal(size=z_test.shape).astype(np.float32),
    )
    scores = probes.probe_run(latents, FC_SETTINGS, data, decoder_epochs=40)
    assert scores["mlp_probe_accuracy"] < 0.5  # 3 classes: chance is 1/3
    assert scores["decoder_probe_mse"] > 0.9 * scores["mean_image_mse"]


def test_probes_are_seeded(built):
    data, z_train_all, z_test = built
    latents = saved_latents(data, z_train_all, z_test)
    first = probes.probe_run(latents, FC_SETTINGS, data, decoder_epochs=3, seed=5)
    again = probes.probe_run(latents, FC_SETTINGS, data, decoder_epochs=3, seed=5)
    assert first == again


@pytest.mark.parametrize("arch", ["fc", "cnn"])
def test_decoder_parameters_are_the_decoder_path_only(arch):
    model = build_model(**{**FC_SETTINGS, "arch": arch})
    found = {id(p) for p in probes.decoder_parameters(model, LATENT_DIM)}
    names = {name for name, p in model.named_parameters() if id(p) in found}
    assert names and all(name.startswith("decoder") for name in names)
    expected = {n for n, _ in model.named_parameters() if n.startswith("decoder")}
    assert names == expected
    assert all(p.grad is None for p in model.parameters())


def test_decoder_parameters_of_the_vit_leave_encoder_and_classifier_out():
    from cremodels.models import ARCHS

    if "vit" not in ARCHS:
        pytest.skip("cremodels.models.vit is not there")
    settings = {**FC_SETTINGS, "arch": "vit", "patch_size": 2, "mask_ratio": 0.5}
    model = build_model(**settings)
    found = {id(p) for p in probes.decoder_parameters(model, LATENT_DIM)}
    names = {name for name, p in model.named_parameters() if id(p) in found}
    encoder_side = ("patch", "cls_token", "encoder", "to_latent", "classifier")
    assert "to_pixels.weight" in names and "latent_to_decoder.weight" in names
    assert not any(name.startswith(encoder_side) for name in names)


def test_latents_of_other_data_are_refused(built):
    data, z_train_all, z_test = built
    latents = saved_latents(data, z_train_all, z_test)
    latents["y_train"] = np.roll(latents["y_train"], 1)
    with pytest.raises(probes.ProbeError, match="rerun the evaluate stage"):
        probes.probe_run(latents, FC_SETTINGS, data, decoder_epochs=1)


def test_probes_job_writes_one_record_per_run(built, tmp_path):
    data, z_train_all, z_test = built
    prepared = tmp_path / "built.pt"
    images = torch.cat([data.train.x, data.val.x, data.test.x])
    torch.save(
        {
            "name": "built",
            "images": (images * 255).round().to(torch.uint8),
            "labels": torch.cat([data.train.y, data.val.y, data.test.y]),
            "split": torch.cat(
                [
                    torch.zeros(len(data.train), dtype=torch.uint8),
                    torch.ones(len(data.val), dtype=torch.uint8),
                    torch.full((len(data.test),), 2, dtype=torch.uint8),
                ]
            ),
            "classes": data.classes,
        },
        prepared,
    )
    model_path = tmp_path / "model.pt"
    torch.save(
        {
            "model_settings": FC_SETTINGS,
            "state_dict": build_model(**FC_SETTINGS).state_dict(),
        },
        model_path,
    )
    latents_path = tmp_path / "latents.npz"
    np.savez(latents_path, **saved_latents(data, z_train_all, z_test))
    out = tmp_path / "probes.json"
    probes.probes_job(
        prepared=prepared,
        models={"run": model_path},
        latents={"run": latents_path},
        outputs={"run": out},
        settings={"decoder_epochs": 10, "mlp_max_iter": 100},
        device="cpu",
        fingerprint_parts={"stage": "probes"},
    )
    record = json.loads(out.read_text())
    assert record["mlp_probe_accuracy"] > 0.9
    assert record["decoder_probe_mse"] < record["mean_image_mse"]
    assert record["device"] == "cpu"
    assert record["fingerprint_parts"] == {"stage": "probes"}
