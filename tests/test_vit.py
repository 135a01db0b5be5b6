"""ViT-CRE: shapes, masking, the masked reconstruction loss, stacked training, and
the masking experiment through the workflow."""

import pandas as pd
import pytest
import torch

from cremodels.config import ConfigError, expand_runs, model_settings, validate_config
from cremodels.data import load_prepared, prepare_dataset
from cremodels.loss import cre_loss
from cremodels.models import build_model
from cremodels.models.vit import (
    keep_lowest_noise,
    patchify,
    sincos_position_embedding,
    unpatchify,
)
from cremodels.train import Member, TrainSettings, train_bundle
from tests.conftest import TINY_CONFIG

DIGITS_VIT = dict(
    arch="vit",
    input_shape=[1, 8, 8],
    num_classes=10,
    latent_dim=3,
    complexity=1,
    patch_size=2,
)


def _vit(**options):
    torch.manual_seed(0)
    return build_model(**{**DIGITS_VIT, **options})


# ---------------------------------------------------------------- helpers


def test_patchify_round_trip_and_patch_order():
    x = torch.rand(3, 3, 32, 32)
    patches = patchify(x, 4)
    assert patches.shape == (3, 64, 4 * 4 * 3)
    assert torch.equal(unpatchify(patches, 4, (3, 32, 32)), x)
    # patch 9 is row 1, column 1 of the 8x8 grid: pixels [4:8, 4:8]
    expected = x[0, :, 4:8, 4:8].permute(1, 2, 0).reshape(-1)
    assert torch.equal(patches[0, 9], expected)


def test_position_embedding_is_fixed_and_distinguishes_positions():
    embedding = sincos_position_embedding(32, 7, 7)
    assert embedding.shape == (49, 32)
    assert torch.equal(embedding, sincos_position_embedding(32, 7, 7))
    distances = torch.cdist(embedding, embedding)
    assert distances[~torch.eye(49, dtype=torch.bool)].min() > 0.1
    # row code in the first half: patches of one row share it
    assert torch.equal(embedding[0, :16], embedding[6, :16])
    assert not torch.equal(embedding[0, 16:], embedding[6, 16:])


# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    ("shape", "patch"), [((1, 8, 8), 2), ((1, 28, 28), 4), ((3, 32, 32), 4)]
)
@pytest.mark.parametrize("mask_ratio", [0.0, 0.75])
def test_shapes_with_and_without_masking(shape, patch, mask_ratio):
    model = _vit(input_shape=shape, patch_size=patch, mask_ratio=mask_ratio)
    x = torch.rand(5, *shape)
    patches = (shape[1] // patch) * (shape[2] // patch)

    unmasked = model(x)
    assert unmasked.z.shape == (5, 3)
    assert unmasked.x_hat.shape == (5, *shape)
    assert unmasked.logits.shape == (5, 10)
    assert unmasked.recon_weight is None

    masked = model(x, torch.rand(5, patches))
    assert masked.x_hat.shape == (5, *shape)
    assert 0.0 <= masked.x_hat.min() and masked.x_hat.max() <= 1.0
    if mask_ratio > 0:
        assert masked.recon_weight.shape == (5, 1, *shape[1:])
    else:
        assert masked.recon_weight is None


def test_patch_size_must_divide_the_image():
    with pytest.raises(ValueError, match="patch_size 3 must divide the image size 8x8"):
        _vit(patch_size=3)


def test_mask_ratio_that_keeps_no_patch_is_rejected():
    with pytest.raises(ValueError, match="keeps no patch of 16"):
        _vit(mask_ratio=0.99)


# ---------------------------------------------------------------- masking


@pytest.mark.parametrize(
    ("patches", "ratio", "kept"),
    [(16, 0.5, 8), (16, 0.75, 4), (49, 0.5, 24), (49, 0.75, 12), (64, 0.75, 16)],
)
def test_masking_keeps_the_configured_share_of_lowest_noise_patches(
    patches, ratio, kept
):
    noise = torch.rand(6, patches, generator=torch.Generator().manual_seed(1))
    keep_ids, hidden = keep_lowest_noise(noise, int(patches * (1 - ratio)))
    assert keep_ids.shape == (6, kept)
    assert hidden.sum(dim=1).tolist() == [patches - kept] * 6
    for row in range(6):
        lowest = set(noise[row].argsort()[:kept].tolist())
        assert set(keep_ids[row].tolist()) == lowest
        assert hidden[row, keep_ids[row]].sum() == 0


def test_encoder_sees_only_the_kept_patches():
    model = _vit(mask_ratio=0.75)
    seen = []
    model.encoder_blocks[0].register_forward_hook(
        lambda module, args, output: seen.append(args[0].shape[1])
    )
    model(torch.rand(2, 1, 8, 8), torch.rand(2, 16))
    # masked pass: class token + 4 of 16 patches; then the unmasked pass for
    # the classifier (classify_from="unmasked"): class token + 16
    assert seen == [1 + 4, 1 + 16]

    seen.clear()
    one_pass = _vit(mask_ratio=0.75, classify_from="masked")
    one_pass.encoder_blocks[0].register_forward_hook(
        lambda module, args, output: seen.append(args[0].shape[1])
    )
    one_pass(torch.rand(2, 1, 8, 8), torch.rand(2, 16))
    assert seen == [1 + 4]


def test_classifier_reads_the_unmasked_or_the_masked_pass():
    x, noise = torch.rand(4, 1, 8, 8), torch.rand(4, 16)
    unmasked = _vit(mask_ratio=0.75, classify_from="unmasked")
    out = unmasked(x, noise)
    torch.testing.assert_close(out.z, unmasked(x).z)  # z of the whole image
    masked = _vit(mask_ratio=0.75, classify_from="masked")
    out = masked(x, noise)
    keep_ids, _ = keep_lowest_noise(noise, 4)
    torch.testing.assert_close(out.z, masked.encode(x, keep_ids))
    assert not torch.allclose(out.z, masked(x).z)


def test_evaluation_never_masks():
    model = _vit(mask_ratio=0.75)
    x = torch.rand(4, 1, 8, 8)
    out = model(x)  # no noise: the evaluation call
    torch.testing.assert_close(out.x_hat, model.decode(model.encode(x)))
    assert out.recon_weight is None


def test_inference_mode_computes_what_training_mode_computes():
    """Evaluation runs eval() under no_grad, where torch may take the fused
    transformer-layer path; it must give the same outputs."""
    model = _vit(input_shape=(1, 28, 28), patch_size=4, complexity=2)
    x = torch.rand(6, 1, 28, 28)
    training = model(x)
    model.eval()
    with torch.no_grad():
        inference = model(x)
    for mine, theirs in zip(inference[:3], training[:3], strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- the loss


def _visible_pixels_scrambled(x, weight):
    """x with every visible (weight 0) pixel replaced by its inverse."""
    return torch.where(weight.bool().expand_as(x), x, 1.0 - x)


def test_reconstruction_loss_on_hidden_patches_only():
    model = _vit(mask_ratio=0.5, recon_loss_on="hidden")
    x, y = torch.rand(4, 1, 8, 8), torch.randint(0, 10, (4,))
    out = model(x, torch.rand(4, 16))

    # the weight marks exactly the pixels of the 8 hidden 2x2 patches per image
    weight = out.recon_weight
    assert weight.sum(dim=(1, 2, 3)).tolist() == [8 * 4] * 4
    loss = cre_loss(1.0, out.x_hat, x, out.logits, y, weight)
    manual = (out.x_hat - x).pow(2)[weight.bool()].mean()
    torch.testing.assert_close(loss.mse, manual)

    # changing visible pixels of the target leaves the loss unchanged
    scrambled = _visible_pixels_scrambled(x, weight)
    assert not torch.equal(scrambled, x)
    again = cre_loss(1.0, out.x_hat, scrambled, out.logits, y, weight)
    torch.testing.assert_close(again.mse, loss.mse)


def test_reconstruction_loss_on_all_patches_when_configured():
    hidden_model = _vit(mask_ratio=0.5, recon_loss_on="hidden")
    model = _vit(mask_ratio=0.5, recon_loss_on="all")
    x, y = torch.rand(4, 1, 8, 8), torch.randint(0, 10, (4,))
    noise = torch.rand(4, 16)
    out = model(x, noise)
    assert out.recon_weight is None
    loss = cre_loss(1.0, out.x_hat, x, out.logits, y, out.recon_weight)
    torch.testing.assert_close(loss.mse, (out.x_hat - x).pow(2).mean())

    # now the visible pixels count: scrambling them changes the loss
    weight = hidden_model(x, noise).recon_weight
    scrambled = _visible_pixels_scrambled(x, weight)
    again = cre_loss(1.0, out.x_hat, scrambled, out.logits, y, out.recon_weight)
    assert abs(again.mse.item() - loss.mse.item()) > 1e-3


# ---------------------------------------------------------------- training


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    prepare_dataset("digits", root=root, out_path=root / "digits.pt")
    return load_prepared(root / "digits.pt")


@pytest.mark.parametrize(
    "options",
    [
        {"mask_ratio": 0.0},
        {"mask_ratio": 0.5, "recon_loss_on": "hidden", "classify_from": "unmasked"},
        {"mask_ratio": 0.75, "recon_loss_on": "all", "classify_from": "masked"},
    ],
    ids=["unmasked", "hidden-unmasked", "all-masked"],
)
def test_stacked_training_equals_separate_runs(digits, options):
    model = {**DIGITS_VIT, **options}
    settings = TrainSettings(epochs=2, batch_size=256, lr=0.002)
    members = [Member("lam0_s0", 0.0, 0), Member("lam1_s0", 1.0, 0)]
    members.append(Member("lam0.5_s1", 0.5, 1))
    stacked = train_bundle(members, digits, model, settings, vectorize=True)
    for member, result in zip(members, stacked, strict=True):
        alone = train_bundle([member], digits, model, settings, vectorize=False)[0]

        # the trained models compute the same function
        outputs = []
        for state in (result.state_dict, alone.state_dict):
            trained = build_model(**model)
            trained.load_state_dict(state)
            with torch.no_grad():
                outputs.append(trained(digits.val.x)[:3])
        for mine, theirs in zip(*outputs, strict=True):
            torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-5)

        # and have the same weights, but for the attention key biases: softmax
        # ignores them, so their gradient is float round-off, which Adam scales
        # up to steps of size lr; they differ without changing anything
        for name, tensor in alone.state_dict.items():
            mine = result.state_dict[name]
            if name.endswith("in_proj_bias"):
                width = len(tensor) // 3
                keep = torch.ones(len(tensor), dtype=torch.bool)
                keep[width : 2 * width] = False
                mine, tensor = mine[keep], tensor[keep]
            torch.testing.assert_close(mine, tensor, rtol=1e-3, atol=1e-4, msg=name)
        for mine, theirs in zip(result.history, alone.history, strict=True):
            assert mine["loss"] == pytest.approx(theirs["loss"], rel=1e-4)
            assert mine["val_mse"] == pytest.approx(theirs["val_mse"], rel=1e-4)


def test_masked_training_is_reproducible_and_noise_matters(digits):
    settings = TrainSettings(epochs=1, batch_size=128, lr=0.002)
    masked = {**DIGITS_VIT, "mask_ratio": 0.5}
    first = train_bundle([Member("a", 1.0, 0)], digits, masked, settings)[0]
    second = train_bundle([Member("a", 1.0, 0)], digits, masked, settings)[0]
    unmasked = train_bundle([Member("a", 1.0, 0)], digits, DIGITS_VIT, settings)[0]
    for name, tensor in first.state_dict.items():
        assert torch.equal(tensor, second.state_dict[name]), name
    assert first.history[-1]["loss"] != unmasked.history[-1]["loss"]


# ---------------------------------------------------------------- the workflow


TINY_VIT_CONFIG = {
    **TINY_CONFIG,
    "grid": {**TINY_CONFIG["grid"], "archs": ["vit"]},
    "model": {"vit": {"patch_size": {"digits": 2}}},
    "masking": {
        "enabled": True,
        "datasets": ["digits"],
        "lams": [1.0],
        "mask_ratios": [0.0, 0.5, 0.75],
        "latent_dims": [3],
        "complexities": [1],
        "seeds": [0, 1],
    },
    "train": {"epochs": 3, "batch_size": 64, "lr": 0.002},
}


@pytest.mark.slow
def test_tiny_vit_study_with_masking_end_to_end(project):
    project.write_config(TINY_VIT_CONFIG)
    project.snakemake()
    results = project.path / "results"
    summary = pd.read_csv(results / "summary.csv")

    # grid: lam 0 and 1 at mask 0 (seed 0); masking: 3 ratios x 2 seeds at lam 1,
    # of which (mask 0, lam 1, seed 0) is already a grid run
    runs = set(zip(summary.mask_ratio, summary.lam, summary.seed, strict=True))
    assert len(summary) == 7
    assert runs == {(0.0, 0.0, 0)} | {
        (m, 1.0, s) for m in (0.0, 0.5, 0.75) for s in (0, 1)
    }
    assert set(summary.arch) == {"vit"}
    assert summary.parameters.nunique() == 1  # masking does not change the model
    columns = ["test_accuracy", "test_mse", "linear_probe_accuracy", "train_seconds"]
    assert summary[columns].notna().all().all()
    # even 3 epochs move the trained head: lam 1 reconstructs better than lam 0,
    # whose classifier is above chance (0.1)
    classify = summary[summary.lam == 0.0].iloc[0]
    reconstruct = summary[summary.lam == 1.0]
    assert (reconstruct.test_mse < 0.9 * classify.test_mse).all()
    assert classify.test_accuracy > 0.15
    assert (results / "runs/digits/vit/z3_c1_m0.75/lam1_s1/model.pt").is_file()

    plots = results / "plots" / "digits"
    assert (plots / "masking.png").stat().st_size > 5000
    assert (plots / "accuracy_vs_lam.png").is_file()
    assert project.planned_jobs() == {}


# ---------------------------------------------------------------- config checks


def _vit_config(**changes):
    config = {
        "grid": {**TINY_CONFIG["grid"], "archs": ["vit"]},
        "masking": {
            "enabled": True,
            "datasets": ["digits"],
            "mask_ratios": [0.0, 0.75],
            "latent_dims": [3],
            "complexities": [1],
            "seeds": [0],
        },
    }
    for section, values in changes.items():
        config[section] = {**config.get(section, {}), **values}
    return config


def test_config_accepts_the_masking_section_and_fills_vit_defaults():
    config = validate_config(_vit_config())
    assert config["model"]["vit"] == {
        "patch_size": {"digits": 2, "mnist": 4, "fashion_mnist": 4, "cifar10": 4},
        "mask_ratio": 0.0,
        "recon_loss_on": "hidden",
        "classify_from": "unmasked",
    }
    run = next(r for r in expand_runs(config) if r.mask_ratio == 0.75)
    assert model_settings(config, run) == {
        **DIGITS_VIT,
        "mask_ratio": 0.75,
        "recon_loss_on": "hidden",
        "classify_from": "unmasked",
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"model": {"vit": {"patch_size": {"digits": 3}}}},
            "model.vit.patch_size.digits: 3 does not divide the image side 8",
        ),
        (
            {"model": {"vit": {"patch_size": {"digits": 8}}}},
            "model.vit.patch_size.digits: 8 does not divide the image side 8",
        ),
        (
            {
                "model": {"vit": {"patch_size": {"digits": 4}}},
                "masking": {"mask_ratios": [0.5, 0.8]},
            },
            "masking.mask_ratios: 0.8 keeps none of the 4 patches of digits "
            "(patch size 4); allowed: at most 0.75",
        ),
        (
            {"model": {"vit": {"recon_loss_on": "visible"}}},
            "model.vit.recon_loss_on: 'visible' is not one of ['hidden', 'all']",
        ),
    ],
)
def test_config_rejects_vit_settings_that_cannot_work(changes, message):
    with pytest.raises(ConfigError) as info:
        validate_config(_vit_config(**changes))
    assert message in str(info.value)
