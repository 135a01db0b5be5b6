"""Config validation: bad configs are refused with the key path and what is allowed."""

import copy

import pytest

from cremodels.config import (
    ConfigError,
    Run,
    expand_runs,
    format_lam,
    train_settings,
    validate_config,
)
from tests.conftest import TINY_CONFIG


def _with(path: str, value):
    """The tiny config with one key (dotted path, [i] for list items) replaced."""
    config = copy.deepcopy(TINY_CONFIG)
    *parents, last = path.split(".")
    node = config
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return config


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            "grid.datasets",
            ["imagenet"],
            r"grid.datasets\[0\]: 'imagenet' is not one of",
        ),
        (
            "grid.archs",
            ["mlp"],
            r"grid.archs\[0\]: 'mlp' is not one of \['fc', 'cnn', 'vit'\]",
        ),
        (
            "grid.lams",
            [0.0, 1.5],
            r"grid.lams\[1\]: 1.5 is greater than the maximum of 1",
        ),
        ("grid.lams", [-0.1], r"grid.lams\[0\]: -0.1 is less than the minimum of 0"),
        (
            "grid.latent_dims",
            [0],
            r"grid.latent_dims\[0\]: 0 is less than the minimum of 1",
        ),
        ("grid.seeds", [], r"grid.seeds: \[\] should be non-empty"),
        ("grid.seeds", "0", r"grid.seeds: '0' is not of type 'array'"),
        ("train.epochs", "ten", r"train.epochs: 'ten' is not of type 'integer'"),
        ("train.lr", 0, r"train.lr: 0 is less than or equal to the minimum of 0"),
        (
            "train.optimiser",
            "sgd",
            r"train: Additional properties are not allowed "
            r"\('optimiser' was unexpected\); allowed keys: .*lr",
        ),
        (
            "data.sources",
            {"digits": {"raw_dirr": "/x"}},
            r"data.sources.digits: Additional properties .*'raw_dirr'",
        ),
        (
            "model.vit",
            {"recon_loss_on": "some"},
            r"model.vit.recon_loss_on: 'some' is not one of \['hidden', 'all'\]",
        ),
    ],
)
def test_bad_values_name_the_key_and_the_allowed_values(path, value, expected):
    with pytest.raises(ConfigError, match=expected):
        validate_config(_with(path, value))


def test_every_problem_is_reported_at_once():
    config = _with("grid.archs", ["mlp"])
    config["grid"]["lams"] = [2.0]
    with pytest.raises(ConfigError, match=r"2 problem\(s\)"):
        validate_config(config)


def test_missing_grid_key():
    config = copy.deepcopy(TINY_CONFIG)
    del config["grid"]["seeds"]
    with pytest.raises(ConfigError, match="grid: 'seeds' is a required property"):
        validate_config(config)


def test_semantic_checks():
    with pytest.raises(
        ConfigError,
        match=r"grid.latent_dims: 100 exceeds the input "
        r"dimension 64 of digits",
    ):
        validate_config(_with("grid.latent_dims", [3, 100]))


def test_defaults_are_filled_and_input_untouched():
    original = copy.deepcopy(TINY_CONFIG)
    config = validate_config(TINY_CONFIG)
    assert TINY_CONFIG == original
    assert config["results_dir"] == "results"
    assert config["data"]["val_fraction"] == 0.1
    assert config["train"]["pack_size"] == 16
    assert config["resources"]["train"]["gpu"] == 0
    assert config["model"]["vit"]["patch_size"]["mnist"] == 4


def test_grid_expansion_and_overrides():
    config = _with(
        "train.overrides",
        [
            {"when": {"arch": "cnn"}, "set": {"lr": 0.02}},
            {"when": {"arch": "cnn", "dataset": "digits"}, "set": {"epochs": 3}},
        ],
    )
    config = validate_config(config)
    runs = expand_runs(config)
    assert len(runs) == 2 * 2 * 1 * 1 * 1  # archs x lams x latent x complexity x seeds
    cnn = next(r for r in runs if r.arch == "cnn")
    fc = next(r for r in runs if r.arch == "fc")
    assert train_settings(config, cnn) == {
        "epochs": 3,
        "batch_size": 32,
        "lr": 0.02,
        "weight_decay": 0.0,
    }
    assert train_settings(config, fc)["lr"] == 0.01


def test_run_names_are_stable():
    run = Run("digits", "fc", 3, 1, 0.0, 0.25, 2)
    assert run.name == "digits/fc/z3_c1/lam0.25_s2"
    assert (
        Run("mnist", "vit", 8, 2, 0.75, 1.0, 0).name == "mnist/vit/z8_c2_m0.75/lam1_s0"
    )
    assert [format_lam(v) for v in (0, 0.1, 0.10, 1.0, 0.125, 1e-9)] == [
        "0",
        "0.1",
        "0.1",
        "1",
        "0.125",
        "1e-09",
    ]
    # values that differ only past the sixth digit still get their own runs
    config = _with("grid.lams", [0.5, 0.5000001])
    config["grid"]["archs"] = ["vit"]
    config["masking"] = {
        "enabled": True,
        "datasets": ["digits"],
        "mask_ratios": [0.5, 0.5000001],
        "latent_dims": [3],
        "complexities": [1],
        "seeds": [0],
    }
    names = [run.name for run in expand_runs(validate_config(config))]
    assert len(names) == len(set(names)) == 2 + 2  # grid lams + masking ratios
    assert "digits/vit/z3_c1_m0/lam0.5000001_s0" in names
    assert "digits/vit/z3_c1_m0.5000001/lam1_s0" in names


def test_whole_numbers_only_where_integers_are_asked_for():
    with pytest.raises(
        ConfigError, match=r"train.epochs: 3.0 is not of type 'integer'"
    ):
        validate_config(_with("train.epochs", 3.0))
    with pytest.raises(ConfigError, match=r"grid.seeds\[0\]: True is not of type"):
        validate_config(_with("grid.seeds", [True]))
    with pytest.raises(ConfigError, match=r"train.lr: nan is not of type 'number'"):
        validate_config(_with("train.lr", float("nan")))


def test_numbers_given_as_text_on_the_command_line_are_read():
    # `snakemake --config train="{epochs: 2}"` and a profile's `config:` entry
    # hand nested values to the workflow as text
    config = _with("train", {"epochs": "2", "lr": "5e-3", "batch_size": "16"})
    config["resources"] = {"train": {"gpu": "1", "threads": "1"}}
    config["data"] = {"download": "true"}
    config["grid"]["lams"] = ["0", "1.0"]
    checked = validate_config(config)
    assert checked["train"]["epochs"] == 2 and checked["train"]["lr"] == 0.005
    assert checked["resources"]["train"]["gpu"] == 1
    assert checked["data"]["download"] is True
    assert checked["grid"]["lams"] == [0, 1.0]
    # text that is not a number is still refused, by its key
    with pytest.raises(ConfigError, match=r"train.epochs: '2.5' is not of type"):
        validate_config(_with("train.epochs", "2.5"))
    # where a string is wanted it stays a string
    assert validate_config(_with("results_dir", "2024"))["results_dir"] == "2024"
    # and a top-level `--config results_dir=2024`, which Snakemake reads as a number
    assert validate_config(_with("results_dir", 2024))["results_dir"] == "2024"
    with pytest.raises(ConfigError, match=r"results_dir: True is not of type"):
        validate_config(_with("results_dir", True))


@pytest.mark.parametrize("value", ["", "results/{arch}"])
def test_paths_must_be_usable_in_rules(value):
    with pytest.raises(ConfigError, match="results_dir: "):
        validate_config(_with("results_dir", value))


def test_output_directories_get_one_spelling_and_must_not_be_files(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    config = _with("results_dir", "./results/")
    config["data"] = {"root": str(tmp_path / "data") + "//"}  # absolute, in the cwd
    checked = validate_config(config)
    assert (checked["results_dir"], checked["data"]["root"]) == ("results", "data")
    elsewhere = str(tmp_path.parent / "shared-data")
    config["data"] = {"root": elsewhere}
    assert validate_config(config)["data"]["root"] == elsewhere

    (tmp_path / "a_file").write_text("not a directory")
    for value in ("a_file", "a_file/results", str(tmp_path / "a_file" / "x" / "y")):
        with pytest.raises(ConfigError, match=r"results_dir: .* through 'a_file', wh"):
            validate_config(_with("results_dir", value))
    config["data"] = {"root": "a_file/data"}
    with pytest.raises(ConfigError, match=r"data.root: 'a_file/data' runs through"):
        validate_config(config)


def test_seeds_must_fit_32_bit_generators():
    assert validate_config(_with("grid.seeds", [2**31 - 1]))["grid"]["seeds"]
    with pytest.raises(
        ConfigError, match=r"grid.seeds\[0\]: 2147483648 is greater than the maximum"
    ):
        validate_config(_with("grid.seeds", [2**31]))


def test_one_patch_size_given_keeps_the_other_datasets_defaults():
    checked = validate_config(_with("model.vit", {"patch_size": {"digits": 4}}))
    assert checked["model"]["vit"]["patch_size"] == {
        "digits": 4,
        "mnist": 4,
        "fashion_mnist": 4,
        "cifar10": 4,
    }
    vit_config = _with("model.vit", {"patch_size": {"digits": 3}})
    vit_config["grid"]["archs"] = ["vit"]
    with pytest.raises(ConfigError, match=r"model.vit.patch_size.digits: 3 does not"):
        validate_config(vit_config)
