"""The workflow end to end on the tiny config, and its refusal of bad configs."""

import pandas as pd
import pytest

from tests.conftest import TINY_CONFIG

pytestmark = pytest.mark.slow


def test_summary_has_every_run_and_the_expected_trade_off(tiny_run):
    summary = pd.read_csv(tiny_run.path / "results" / "summary.csv")
    assert len(summary) == 4  # 2 archs x 2 lams
    assert set(summary.arch) == {"fc", "cnn"}
    assert (
        summary[
            [
                "test_accuracy",
                "test_mse",
                "radial_alignment",
                "linear_probe_accuracy",
                "parameters",
                "train_seconds",
            ]
        ]
        .notna()
        .all()
        .all()
    )
    for arch, runs in summary.groupby("arch"):
        at = runs.set_index("lam")
        assert at.loc[0.0, "test_accuracy"] > 0.8, arch
        assert at.loc[0.0, "test_accuracy"] > at.loc[1.0, "test_accuracy"] + 0.5, arch
        assert at.loc[1.0, "test_mse"] < at.loc[0.0, "test_mse"] / 2, arch


def test_every_run_has_its_own_directory_and_figures_exist(tiny_run):
    runs = sorted((tiny_run.path / "results" / "runs").glob("digits/*/*/*"))
    assert [
        r.relative_to(tiny_run.path / "results" / "runs").as_posix() for r in runs
    ] == [
        "digits/cnn/z3_c1/lam0_s0",
        "digits/cnn/z3_c1/lam1_s0",
        "digits/fc/z3_c1/lam0_s0",
        "digits/fc/z3_c1/lam1_s0",
    ]
    for run in runs:
        assert {p.name for p in run.iterdir()} >= {
            "model.pt",
            "history.csv",
            "run.json",
            "metrics.json",
            "latents.npz",
            "examples.npz",
            "geometry.json",
        }
        history = pd.read_csv(run / "history.csv")
        assert list(history.epoch) == list(range(1, TINY_CONFIG["train"]["epochs"] + 1))
    plots = tiny_run.path / "results" / "plots" / "digits"
    for figure in (
        "accuracy_vs_lam",
        "mse_vs_lam",
        "tradeoff",
        "geometry_vs_lam",
        "reconstructions",
        "latents_3d",
    ):
        assert (plots / f"{figure}.png").stat().st_size > 1000


def test_second_invocation_has_nothing_to_do(tiny_run):
    assert tiny_run.planned_jobs() == {}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("archs", ["transformer"], "grid.archs[0]: 'transformer' is not one of"),
        ("lams", [0.5, 2], "grid.lams[1]: 2 is greater than the maximum of 1"),
    ],
)
def test_bad_config_fails_before_any_job_with_the_key_named(
    project, key, value, message
):
    config = {**TINY_CONFIG, "grid": {**TINY_CONFIG["grid"], key: value}}
    project.write_config(config)
    result = project.snakemake("-n", check=False)
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
    assert not (project.path / "results" / "bundles").exists()
