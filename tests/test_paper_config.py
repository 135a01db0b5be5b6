"""The paper-scale configuration plans cleanly, fast, with the jobs it implies; the
estimate command counts the same and times training steps."""

import itertools
import math

import pytest
import yaml

from cremodels.config import validate_config
from cremodels.estimate import main as estimate_main
from cremodels.estimate import merge_configs, plan_counts
from tests.conftest import ROOT
from tests.fakedata import make_cifar_raw, make_mnist_raw

PAPER = ROOT / "configs" / "paper.yaml"
BUNDLE_STAGES = ("train", "evaluate", "geometry", "probes")


def _implied_counts(paper: dict) -> dict:
    """Runs and bundles the config implies, counted here from its lists alone."""
    grid, masking = paper["grid"], paper["masking"]
    keys = ("datasets", "archs", "latent_dims", "complexities", "lams", "seeds")
    runs = {
        (d, a, z, c, 0.0, lam, s)
        for d, a, z, c, lam, s in itertools.product(*(grid[k] for k in keys))
    }
    keys = ("datasets", "latent_dims", "complexities", "mask_ratios", "lams", "seeds")
    runs |= {
        (d, "vit", z, c, float(m), lam, s)
        for d, z, c, m, lam, s in itertools.product(*(masking[k] for k in keys))
    }
    groups = {}
    for run in runs:
        groups.setdefault(run[:5], []).append(run)
    pack = paper["train"]["pack_size"]
    bundles = sum(math.ceil(len(members) / pack) for members in groups.values())
    return {"runs": len(runs), "bundles": bundles}


@pytest.fixture
def paper_project(project, tmp_path):
    """The project copy, with fake raw files of the three datasets and a small
    config file that points the paper config's sources at them."""
    raw = tmp_path / "raw"
    sources = {
        "mnist": {"raw_dir": str(raw / "mnist"), "checksums": {}},
        "fashion_mnist": {"raw_dir": str(raw / "fashion"), "checksums": {}},
        "cifar10": {"raw_dir": str(raw / "cifar10"), "checksums": {}},
    }
    sources["mnist"]["checksums"] = make_mnist_raw(raw / "mnist", 100, 50)
    sources["fashion_mnist"]["checksums"] = make_mnist_raw(raw / "fashion", 100, 50)
    sources["cifar10"]["checksums"] = make_cifar_raw(raw / "cifar10", 20)
    project.write_config({"data": {"sources": sources}}, name="fake_sources.yaml")
    return project


def test_paper_config_implies_the_study_the_issue_asks_for():
    paper = yaml.safe_load(PAPER.read_text())
    grid = paper["grid"]
    assert set(grid["datasets"]) == {"mnist", "fashion_mnist", "cifar10"}
    assert set(grid["archs"]) == {"fc", "cnn", "vit"}
    assert grid["lams"] == [round(0.1 * i, 1) for i in range(11)]
    assert min(grid["latent_dims"]) == 3 and max(grid["latent_dims"]) >= 128
    assert grid["complexities"] == [1, 2, 3] and len(grid["seeds"]) == 5
    assert paper["masking"]["enabled"]
    config = validate_config(merge_configs([PAPER]))
    for stage in ("train", "evaluate"):
        assert config["resources"][stage]["gpu"] == 1
    # every (dataset, arch) has its own epochs and learning rate
    matched = {
        (o["when"]["dataset"], o["when"]["arch"]) for o in config["train"]["overrides"]
    }
    assert matched == set(itertools.product(grid["datasets"], grid["archs"]))


@pytest.mark.slow
def test_paper_dry_run_plans_every_job(paper_project, monkeypatch):
    # how long planning takes is benchmarks/planning.py's to report, not a test's
    paper = yaml.safe_load(PAPER.read_text())
    implied = _implied_counts(paper)
    assert implied == {"runs": 9000, "bundles": 822}

    jobs = paper_project.planned_jobs(
        "--configfile", "configs/paper.yaml", "fake_sources.yaml"
    )

    # one job per bundle and per-bundle stage; one rule per bundle
    for stage in BUNDLE_STAGES:
        per_bundle = {r: n for r, n in jobs.items() if r.startswith(f"{stage}_")}
        assert len(per_bundle) == implied["bundles"], stage
        assert set(per_bundle.values()) == {1}, stage
    assert jobs["prepare_data"] == 3
    assert jobs["plot_masking"] == 3
    assert jobs["aggregate"] == 1
    assert sum(jobs.values()) >= 4 * implied["bundles"] + 3 + 3 + 1

    # the estimate command counts what the dry run planned
    monkeypatch.chdir(paper_project.path)
    config = validate_config(
        merge_configs(
            [paper_project.path / "configs" / "paper.yaml"],
            base=paper_project.path / "config.yaml",
        )
    )
    counts = plan_counts(config)
    assert len(counts["runs"]) == implied["runs"]
    assert counts["jobs"] == {stage: implied["bundles"] for stage in BUNDLE_STAGES}


def test_estimate_measures_training_time_on_this_device(tmp_path, capsys):
    tiny = {
        "results_dir": str(tmp_path / "results"),
        "grid": {
            "datasets": ["digits"],
            "archs": ["fc", "vit"],
            "lams": [0.0, 1.0],
            "latent_dims": [3],
            "complexities": [1],
            "seeds": [0],
        },
        "train": {"epochs": 4, "batch_size": 64},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny))
    estimate_main(["--configfile", str(path), "--measure", "--device", "cpu"])
    out = capsys.readouterr().out
    assert "runs: 4 (grid 4 + masking section 0" in out
    assert "training time measured on CPU" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("digits")]
    assert [row[:2] for row in rows] == [["digits", "fc"], ["digits", "vit"]]
    seconds_per_epoch = {row[1]: float(row[6]) for row in rows}
    assert all(s > 0 for s in seconds_per_epoch.values())
    # the ViT costs more per epoch than the FC model on the same data
    assert seconds_per_epoch["vit"] > seconds_per_epoch["fc"]
    assert "CPU-hours of training" in out
    assert not (tmp_path / "results").exists()  # nothing written
