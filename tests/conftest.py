"""Fixtures: a throw-away copy of the project, and Snakemake runs inside it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILES = [
    "Snakefile",
    "config.yaml",
    "rules",
    "workflow_scripts",
    "schemas",
    "cremodels",
    "profiles",
    "report",
    "configs",
    "slurm",
]

# Small enough for seconds per run on a laptop CPU, large enough that lam = 0
# classifies digits well and lam = 1 reconstructs them well.
TINY_CONFIG = {
    "grid": {
        "datasets": ["digits"],
        "archs": ["fc", "cnn"],
        "lams": [0.0, 1.0],
        "latent_dims": [3],
        "complexities": [1],
        "seeds": [0],
    },
    "train": {"epochs": 8, "batch_size": 32, "lr": 0.01},
    "evaluate": {"train_latents": 500},
    "geometry": {"silhouette_samples": 300, "probe_max_iter": 200},
    "plots": {"formats": ["png"], "dpi": 60},
    "resources": {"train": {"threads": 1}, "evaluate": {"threads": 1}},
}


class Project:
    """A copy of the project in a temporary directory, with its own results."""

    def __init__(self, path: Path):
        self.path = path

    def write_config(self, config: dict, name: str = "config.yaml") -> Path:
        target = self.path / name
        target.write_text(yaml.safe_dump(config, sort_keys=False))
        return target

    def snakemake(
        self,
        *args: str,
        check: bool = True,
        timeout: int = 900,
        env: dict | None = None,
    ) -> subprocess.CompletedProcess:
        """Run Snakemake in the copy; its Python processes import the copy's package."""
        environment = {**os.environ, "PYTHONPATH": str(self.path), **(env or {})}
        result = subprocess.run(
            [sys.executable, "-m", "snakemake", "--cores", "2", *args],
            cwd=self.path,
            env=environment,
            text=True,
            capture_output=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"snakemake {' '.join(args)} failed:\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
            )
        return result

    def planned_jobs(self, *args: str) -> dict[str, int]:
        """Rule name -> job count of a dry run (empty when nothing would run)."""
        out = self.snakemake("-n", "--quiet", "rules", *args).stdout
        jobs = {}
        for line in out.splitlines():
            parts = line.split()
            if (
                len(parts) == 2
                and parts[1].isdigit()
                and parts[0] not in ("total", "job")
            ):
                jobs[parts[0]] = int(parts[1])
        return jobs


def copy_project(target: Path) -> Project:
    target.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source,
                target / name,
                ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
            )
        elif source.exists():
            shutil.copy2(source, target / name)
    return Project(target)


@pytest.fixture
def project(tmp_path) -> Project:
    """A fresh copy of the project with the tiny config as its config.yaml."""
    copy = copy_project(tmp_path / "project")
    copy.write_config(TINY_CONFIG)
    return copy


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Project:
    """The tiny config run once end to end; tests read its results, never modify."""
    copy = copy_project(tmp_path_factory.mktemp("tiny") / "project")
    copy.write_config(TINY_CONFIG)
    copy.snakemake()
    return copy
