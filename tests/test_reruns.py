"""Reruns follow what actually changed: dry runs after real edits to a finished copy.

One copy of the project runs the tiny config once; every test edits a file of that
copy, asks Snakemake what it would run, and puts the file back.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from collections import Counter

import pytest
import yaml

from tests.conftest import TINY_CONFIG, copy_project

pytestmark = pytest.mark.slow

STAGES = ("train", "evaluate", "geometry")


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    project = copy_project(tmp_path_factory.mktemp("reruns") / "project")
    project.write_config(TINY_CONFIG)
    project.snakemake()
    assert project.planned_jobs() == {}
    return project


@contextlib.contextmanager
def edited(project, relative: str, change):
    """Apply `change(text) -> text` to a file of the copy; restore it afterwards."""
    path = project.path / relative
    original = path.read_text()
    path.write_text(change(original))
    try:
        yield
    finally:
        path.write_text(original)


def stages(jobs: dict[str, int]) -> dict[str, Counter]:
    """Planned jobs by stage; bundle rules are counted per architecture."""
    by_stage: dict[str, Counter] = {}
    for rule, count in jobs.items():
        stage = rule.split("_")[0]
        if stage in STAGES:
            arch = rule.split("_")[2]  # <stage>_<dataset>_<arch>_...
            by_stage.setdefault(stage, Counter())[arch] += count
        elif rule != "all":
            by_stage.setdefault(rule, Counter())["all"] += count
    return by_stage


def append_function(text: str) -> str:
    return text + "\n\ndef _added_by_test():\n    return 1\n"


def test_comment_docstring_and_formatting_edits_rerun_nothing(done):
    def cosmetic(text: str) -> str:
        text = text.replace('"""', '"""Edited docstring. ', 1)  # module docstring
        return "# a comment added by a test\n" + text.replace("\n\n\n", "\n\n\n\n")

    for module in (
        "cremodels/train.py",
        "cremodels/models/fc.py",
        "cremodels/geometry.py",
        "cremodels/plots.py",
        "workflow_scripts/train.py",
    ):
        with edited(done, module, cosmetic):
            assert done.planned_jobs() == {}, module


def test_model_code_edit_retrains_that_architecture_and_downstream(done):
    with edited(done, "cremodels/models/fc.py", append_function):
        planned = stages(done.planned_jobs())
    assert planned["train"] == Counter(fc=1)
    assert planned["evaluate"] == Counter(fc=1)
    assert planned["geometry"] == Counter(fc=1)
    assert {"aggregate", "plot_summary"} <= set(planned)


def test_training_code_edit_retrains_everything(done):
    with edited(done, "cremodels/train.py", append_function):
        planned = stages(done.planned_jobs())
    assert planned["train"] == Counter(fc=1, cnn=1)


def test_geometry_edit_reruns_geometry_aggregation_and_plots_only(done):
    with edited(done, "cremodels/geometry.py", append_function):
        planned = stages(done.planned_jobs())
    assert "train" not in planned and "evaluate" not in planned
    assert planned["geometry"] == Counter(fc=1, cnn=1)
    assert {"aggregate", "plot_summary"} <= set(planned)


def test_plot_code_or_option_reruns_only_plots(done):
    with edited(done, "cremodels/plots.py", append_function):
        planned = stages(done.planned_jobs())
    assert set(planned) == {"plot_summary", "plot_reconstructions", "plot_latents_3d"}

    config = {**TINY_CONFIG, "plots": {**TINY_CONFIG["plots"], "dpi": 61}}
    with edited(done, "config.yaml", lambda _: yaml.safe_dump(config)):
        planned = stages(done.planned_jobs())
    assert set(planned) <= {"plot_summary", "plot_reconstructions", "plot_latents_3d"}
    assert planned


def test_hyper_parameter_change_retrains_exactly_the_runs_it_applies_to(done):
    override = [{"when": {"arch": "cnn"}, "set": {"lr": 0.02}}]
    config = {**TINY_CONFIG, "train": {**TINY_CONFIG["train"], "overrides": override}}
    with edited(done, "config.yaml", lambda _: yaml.safe_dump(config)):
        planned = stages(done.planned_jobs())
    assert planned["train"] == Counter(cnn=1)
    assert planned["evaluate"] == Counter(cnn=1)


@pytest.mark.parametrize(("axis", "value"), [("lams", 0.5), ("seeds", 1)])
def test_adding_a_lam_or_seed_runs_only_the_new_runs(done, axis, value):
    grid = {**TINY_CONFIG["grid"], axis: TINY_CONFIG["grid"][axis] + [value]}
    config = {**TINY_CONFIG, "grid": grid}
    with edited(done, "config.yaml", lambda _: yaml.safe_dump(config)):
        jobs = done.planned_jobs()
        listing = done.snakemake("-n").stdout
    planned = stages(jobs)
    # one new bundle per architecture, holding only the new run
    assert planned["train"] == Counter(fc=1, cnn=1)
    models = [
        path
        for line in listing.splitlines()
        if line.strip().startswith("output:")
        for path in line.split(":", 1)[1].split(",")
        if "model.pt" in path
    ]
    new = f"lam{value:g}_s0" if axis == "lams" else f"_s{value}/"
    new_runs = 2 * (1 if axis == "lams" else len(TINY_CONFIG["grid"]["lams"]))
    assert len(models) == new_runs and all(new in p for p in models), models


def test_explain_names_the_changed_setting_and_file(done):
    override = [{"when": {"arch": "cnn"}, "set": {"lr": 0.02}}]
    config = {**TINY_CONFIG, "train": {**TINY_CONFIG["train"], "overrides": override}}
    with (
        edited(done, "config.yaml", lambda _: yaml.safe_dump(config)),
        edited(done, "cremodels/geometry.py", append_function),
    ):
        lines = explain(done)
    assert "digits/cnn/z3_c1/lam0_s0 train: setting train.lr: 0.01 -> 0.02" in lines
    assert (
        "digits/fc/z3_c1/lam1_s0 geometry: code changed: cremodels/geometry.py" in lines
    )
    assert not any(line.startswith("digits/fc") and " train:" in line for line in lines)


def explain(project) -> list[str]:
    """The lines of `python -m cremodels.explain` in the copy."""
    result = subprocess.run(
        [sys.executable, "-m", "cremodels.explain"],
        cwd=project.path,
        env={"PYTHONPATH": str(project.path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.splitlines()


@contextlib.contextmanager
def set_aside(project, relative: str):
    """Move a file or directory of the copy away; put it back (same mtime) after."""
    path = project.path / relative
    aside = path.with_name(path.name + ".aside")
    path.rename(aside)
    try:
        yield
    finally:
        shutil.rmtree(path, ignore_errors=True)
        path.unlink(missing_ok=True)
        aside.rename(path)


def test_a_deleted_run_file_is_rebuilt(done):
    # nothing downstream needs model.pt once latents exist; it is a target anyway
    with set_aside(done, "results/runs/digits/fc/z3_c1/lam1_s0/model.pt"):
        planned = stages(done.planned_jobs())
    assert planned["train"] == Counter(fc=1)


def test_deleting_the_bundle_registry_retrains_nothing(done):
    with set_aside(done, "results/bundles"):
        assert done.planned_jobs() == {}
        # the regrouped bundles of finished runs are recorded, and still nothing runs
        assert list((done.path / "results" / "bundles").glob("*.json"))
        assert done.planned_jobs() == {}


def test_a_new_data_split_prepares_the_data_again_and_retrains(done):
    config = {**TINY_CONFIG, "data": {"val_fraction": 0.2}}
    with edited(done, "config.yaml", lambda _: yaml.safe_dump(config)):
        planned = stages(done.planned_jobs())
    assert planned["prepare_data"] == Counter(all=1)
    assert planned["train"] == Counter(fc=1, cnn=1)


def prepared_file(project):
    (prepared,) = (project.path / "data" / "prepared").glob("digits-*.pt")
    return prepared


def test_a_damaged_or_re_made_prepared_file_retrains_nothing(done):
    # training reads the prepared file as `ancient`: damaging it in place or
    # making it again (as the damaged-file error advises) retrains no finished run
    prepared = prepared_file(done)
    with set_aside(done, f"data/prepared/{prepared.name}"):
        prepared.write_bytes(b"not a tensor file")
        assert done.planned_jobs() == {}
    done.snakemake("--force", str(prepared.relative_to(done.path)))
    assert done.planned_jobs() == {}


@pytest.mark.parametrize("module", ["cremodels/data.py", "cremodels/io.py"])
def test_data_code_edit_prepares_again_and_retrains_in_one_invocation(done, module):
    # the prepared file's name carries the preparation code's digest, so the
    # edit makes a new file; training must rerun in the same invocation, not in
    # the next one (Snakemake skips the params check of a job whose ancient
    # input is re-made under the same name)
    with edited(done, module, append_function):
        planned = stages(done.planned_jobs())
        lines = explain(done)
    assert planned["prepare_data"] == Counter(all=1)
    old = f"data/prepared/{prepared_file(done).name}"
    moved = f"digits/fc/z3_c1/lam0_s0 train: prepared data: {old} -> data/prepared/"
    assert any(line.startswith(moved) for line in lines), lines
    assert planned["train"] == Counter(fc=1, cnn=1)


def test_a_deleted_prepared_file_retrains_every_run_once_a_job_needs_it(done):
    # documented: nothing needs a deleted prepared file while every run is
    # finished; once a new run does, Snakemake reruns whatever reads the new file
    prepared = prepared_file(done)
    grid = {**TINY_CONFIG["grid"], "lams": TINY_CONFIG["grid"]["lams"] + [0.5]}
    more = {**TINY_CONFIG, "grid": grid}
    with set_aside(done, f"data/prepared/{prepared.name}"):
        assert done.planned_jobs() == {}
        missing = f"train: prepared data data/prepared/{prepared.name} is missing"
        train_lines = [line for line in explain(done) if " train:" in line]
        assert len(train_lines) == 4 and all(missing in x for x in train_lines)
        with edited(done, "config.yaml", lambda _: yaml.safe_dump(more)):
            planned = stages(done.planned_jobs())
    assert planned["prepare_data"] == Counter(all=1)
    assert planned["train"] == Counter(fc=2, cnn=2)  # the new bundles and the old


def test_data_root_spelled_absolute_reruns_nothing(done):
    config = {**TINY_CONFIG, "data": {"root": str(done.path / "data") + "/"}}
    with edited(done, "config.yaml", lambda _: yaml.safe_dump(config)):
        assert done.planned_jobs() == {}
