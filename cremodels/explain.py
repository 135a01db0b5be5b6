"""Why would a run rerun? Compare each stage's recorded fingerprint with the plan's.

    python -m cremodels.explain [--configfile FILE ...] [--stage STAGE] [PATTERN]

Every stage of a run writes the parts of its fingerprint (the settings it read and
a digest of each code file it ran) into its record (`run.json`, `metrics.json`,
`geometry.json`, `probes.json`). This command rebuilds the plan from the config
exactly as the workflow does and prints, per run and stage, which setting changed
(old -> new) or which file's code changed: the detail behind Snakemake's "params
have changed", and for training a moved or missing prepared data file.
A stage also reruns when an upstream stage does; `snakemake -n` shows those reasons.
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
from pathlib import Path

import yaml

from cremodels.config import ConfigError, validate_config
from cremodels.io import read_json
from cremodels.plan import Plan, PlanError

RECORDS = {
    "train": ("train", "info"),
    "evaluate": ("evaluate", "metrics"),
    "geometry": ("geometry", "geometry"),
    "probes": ("probes", "probes"),
}


def load_config(configfiles: list[str], base: str = "config.yaml") -> dict:
    """The config as Snakemake builds it: config.yaml, then each --configfile
    merged over it (nested mappings merged key by key)."""
    from snakemake.utils import update_config

    config: dict = {}
    for path in [base, *configfiles]:
        with open(path) as f:
            update_config(config, yaml.safe_load(f) or {})
    return config


def _flatten(value, prefix=""):
    if isinstance(value, dict):
        items = {}
        for key, sub in value.items():
            items.update(_flatten(sub, f"{prefix}.{key}" if prefix else str(key)))
        return items
    return {prefix: value}


def differences(recorded: dict, current: dict) -> list[str]:
    """Readable differences between two fingerprint-parts records."""
    lines = []
    old, new = _flatten(recorded.get("settings")), _flatten(current["settings"])
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            lines.append(f"setting {key}: {old.get(key)!r} -> {new.get(key)!r}")
    old_code, new_code = recorded.get("code", {}), current["code"]
    for path in sorted(set(old_code) | set(new_code)):
        if path not in old_code:
            lines.append(f"code: {path} is now used")
        elif path not in new_code:
            lines.append(f"code: {path} is no longer used")
        elif old_code[path] != new_code[path]:
            lines.append(f"code changed: {path}")
    return lines


def explain(plan: Plan, stages=tuple(RECORDS), pattern: str = "*") -> list[str]:
    """One line per run and stage that would rerun by fingerprint, with why."""
    current = {stage: getattr(plan, f"{stage}_fingerprint_parts") for stage in RECORDS}
    wanted = {run.name for run in plan.runs}
    lines = []
    for bundle in plan.bundles:
        for run in bundle.runs:
            if run.name not in wanted or not fnmatch.fnmatch(run.name, pattern):
                continue
            for stage in stages:
                file_stage, key = RECORDS[stage]
                record = Path(plan.run_files(run, file_stage)[key])
                if not record.is_file():
                    lines.append(f"{run.name} {stage}: not run yet")
                    continue
                saved = read_json(record)
                recorded = saved.get("fingerprint_parts")
                if not recorded:
                    lines.append(f"{run.name} {stage}: no fingerprint recorded")
                    continue
                whys = differences(recorded, current[stage](bundle))
                if stage == "train":
                    whys += _prepared_changes(saved, plan.prepared(run.dataset))
                lines.extend(f"{run.name} {stage}: {why}" for why in whys)
    return lines


def _prepared_changes(record: dict, planned: str) -> list[str]:
    """Snakemake also retrains when the prepared file's path changes (data.root,
    split or preparation code) or the file must be made again."""
    if record.get("prepared") not in (None, planned):
        return [f"prepared data: {record['prepared']} -> {planned}"]
    if not Path(planned).is_file():
        return [
            f"prepared data {planned} is missing: once a job needs it, it is "
            "made again and every run on it retrains"
        ]
    return []


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cremodels.explain", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "pattern",
        nargs="?",
        default="*",
        help="glob over run names, e.g. 'digits/fc/*'",
    )
    parser.add_argument(
        "--configfile",
        action="append",
        default=[],
        help="config file merged over config.yaml (repeatable)",
    )
    parser.add_argument(
        "--stage",
        action="append",
        choices=sorted(RECORDS),
        help="stages to explain (default: all)",
    )
    args = parser.parse_args(argv)
    try:
        config = validate_config(load_config(args.configfile))
        plan = Plan(config, Path.cwd(), record=False)  # explaining writes nothing
    except (OSError, yaml.YAMLError, ConfigError, PlanError) as err:
        parser.exit(2, f"cannot read the study: {err}\n")
    lines = explain(plan, args.stage or tuple(RECORDS), args.pattern)
    sys.stdout.write(
        ("\n".join(lines) if lines else "every run is up to date by fingerprint") + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
