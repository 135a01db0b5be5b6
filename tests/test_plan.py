"""The plan: prepared-data names, fingerprints and bundles of finished runs."""

from __future__ import annotations

import copy
import json
import logging
import os
import stat

from cremodels.config import validate_config
from cremodels.io import write_json
from cremodels.plan import RUN_FILES, Plan
from tests.conftest import ROOT, TINY_CONFIG


def make_plan(tmp_path, record=True, **data) -> Plan:
    config = copy.deepcopy(TINY_CONFIG)
    config["results_dir"] = str(tmp_path / "results")
    config["data"] = {"root": str(tmp_path / "data"), **data}
    return Plan(validate_config(config), ROOT, record=record)


def test_prepared_file_is_named_by_what_decides_its_content(tmp_path):
    base = make_plan(tmp_path)
    moved = make_plan(tmp_path, sources={"digits": {"raw_dir": "/elsewhere"}})
    other_split = make_plan(tmp_path, val_fraction=0.2)
    other_seed = make_plan(tmp_path, split_seed=1)
    assert base.prepared("digits") == moved.prepared("digits")
    names = {p.prepared("digits") for p in (base, other_split, other_seed)}
    assert len(names) == 3
    assert all(
        name.startswith(str(tmp_path / "data" / "prepared" / "digits-"))
        for name in names
    )


def test_a_new_data_split_retrains_but_a_moved_raw_dir_does_not(tmp_path):
    base = make_plan(tmp_path)
    bundle = base.bundles[0]
    moved = make_plan(tmp_path, sources={"digits": {"raw_dir": "/elsewhere"}})
    resplit = make_plan(tmp_path, val_fraction=0.2)
    assert moved.train_fingerprint(bundle) == base.train_fingerprint(bundle)
    assert resplit.train_fingerprint(bundle) != base.train_fingerprint(bundle)


def test_every_file_of_every_run_is_a_target(tmp_path):
    plan = make_plan(tmp_path)
    files = plan.every_run_file()
    per_run = sum(len(names) for names in RUN_FILES.values())
    assert len(files) == len(set(files)) == len(plan.runs) * per_run
    assert str(plan.run_dir(plan.runs[0]) / "model.pt") in files


def _finish(plan, run):
    """Pretend a run's training finished: its run.json exists."""
    write_json(plan.run_files(run, "train")["info"], {"name": run.name})


def test_finished_runs_are_never_bundled_with_runs_still_to_train(tmp_path):
    plan = make_plan(tmp_path, record=False)
    finished = next(run for run in plan.runs if run.arch == "fc")
    _finish(plan, finished)
    assert not (tmp_path / "results" / "bundles").exists()  # nothing recorded

    regrouped = make_plan(tmp_path)
    fc = [b for b in regrouped.bundles if b.group.arch == "fc"]
    assert sorted(len(b.runs) for b in fc) == [1, 1]
    assert any(b.runs == (finished,) for b in fc)
    registry = sorted((tmp_path / "results" / "bundles").glob("*.json"))
    assert len(registry) == len(regrouped.bundles)
    # recorded bundles are kept as they are by later plans
    again = make_plan(tmp_path)
    assert [b.id for b in again.bundles] == [b.id for b in regrouped.bundles]
    assert json.loads(registry[0].read_text())["runs"]


def test_unwritable_registry_plans_in_memory_with_a_warning(tmp_path, caplog):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "bundles").write_text("not a directory")
    with caplog.at_level(logging.WARNING, logger="cremodels.plan"):
        plan = make_plan(tmp_path)
    assert len(plan.bundles) == 2
    assert "is not writable" in caplog.text


def test_outputs_get_the_usual_file_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    target = tmp_path / "summary.json"
    write_json(target, {"a": 1})
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
