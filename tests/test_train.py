"""Training: seeds reproduce, stacked training equals separate training."""

import pytest
import torch

from cremodels.data import load_prepared, prepare_dataset
from cremodels.train import Member, NonFiniteLossError, TrainSettings, train_bundle

FC = dict(arch="fc", input_shape=[1, 8, 8], num_classes=10, latent_dim=3, complexity=1)
CNN = dict(FC, arch="cnn")
SHORT = TrainSettings(epochs=2, batch_size=64, lr=0.003)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    prepare_dataset("digits", root=root, out_path=root / "digits.pt")
    return load_prepared(root / "digits.pt")


def _states_equal(a, b):
    return all(torch.equal(a[name], b[name]) for name in a)


def test_same_seed_gives_identical_weights_and_history(digits):
    members = [Member("a", 0.5, 3)]
    first = train_bundle(members, digits, FC, SHORT)[0]
    second = train_bundle(members, digits, FC, SHORT)[0]
    assert _states_equal(first.state_dict, second.state_dict)
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in first.history]
    assert strip == [
        {k: v for k, v in row.items() if k != "seconds"} for row in second.history
    ]
    other_seed = train_bundle([Member("b", 0.5, 4)], digits, FC, SHORT)[0]
    assert not _states_equal(first.state_dict, other_seed.state_dict)


@pytest.mark.parametrize("model", [FC, CNN], ids=["fc", "cnn"])
def test_stacked_training_equals_separate_runs(digits, model):
    members = [
        Member(f"lam{lam}_s{seed}", lam, seed)
        for seed in (0, 1)
        for lam in (0.0, 0.5, 1.0)
    ]
    stacked = train_bundle(members, digits, model, SHORT, vectorize=True)
    for member, result in zip(members, stacked, strict=True):
        alone = train_bundle([member], digits, model, SHORT, vectorize=False)[0]
        for name, tensor in alone.state_dict.items():
            torch.testing.assert_close(
                result.state_dict[name], tensor, rtol=1e-3, atol=1e-4, msg=name
            )
        for mine, theirs in zip(result.history, alone.history, strict=True):
            assert mine["loss"] == pytest.approx(theirs["loss"], rel=1e-4)
            assert mine["val_accuracy"] == pytest.approx(
                theirs["val_accuracy"], abs=1 / 100
            )


def test_lam_extremes_train_the_right_head(digits):
    settings = TrainSettings(epochs=8, batch_size=32, lr=0.01)
    classify, reconstruct = train_bundle(
        [Member("c", 0.0, 0), Member("r", 1.0, 0)], digits, FC, settings
    )
    assert classify.history[-1]["val_accuracy"] > 0.85
    assert reconstruct.history[-1]["val_accuracy"] < 0.3
    assert reconstruct.history[-1]["val_mse"] < classify.history[-1]["val_mse"] / 2


def test_non_finite_loss_names_run_and_epoch(digits):
    with pytest.raises(
        NonFiniteLossError, match=r"run boom: loss is not finite in epoch 1 \(loss nan"
    ):
        train_bundle(
            [Member("boom", 0.5, 0)],
            digits,
            FC,
            TrainSettings(epochs=1, batch_size=64, lr=1e30),
        )
