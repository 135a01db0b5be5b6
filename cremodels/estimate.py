"""Size and cost of a study before running it: runs, bundles, jobs, device-hours.

    python -m cremodels.estimate --configfile configs/paper.yaml [--measure]

Config files are merged over the workflow's config.yaml exactly as
`snakemake --configfile ...` merges them (later files win, key by key). Nothing is
written: bundles are assigned in a temporary copy of the bundle registry, so the
counts are those the next `snakemake` invocation would plan.

With `--measure`, a short timing on the device at hand (CUDA when visible, else
the CPU) gives the training time of every run: for each distinct model and batch
setting (the largest latent size of the group; latent size hardly changes the
cost) `train_bundle` runs two epochs of `--steps` steps each on random data of
the right shape, with a validation split of the config's relative size, and the
second epoch is timed. Scaled to the real training split and summed over runs and
epochs, that is the training time; evaluation, geometry and probes come on top
(they are forward passes and small fits, typically a few per cent of it). With
`--stack K` the timing trains K models stacked as a bundle does (vmap), which is
what a GPU should be timed with; the default times one model at a time, an upper
bound for stacked bundles.
"""

from __future__ import annotations

import argparse
import collections
import copy
import logging
import math
import platform
import shutil
import sys
import tempfile
from pathlib import Path

import torch
import yaml

from cremodels.cli import report_to
from cremodels.config import (
    Run,
    expand_runs,
    model_settings,
    train_settings,
    validate_config,
)
from cremodels.plan import RUN_FILES, assign_bundles

log = logging.getLogger("cremodels.estimate")

PROJECT_CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"

# Training-split sizes before the validation hold-out (digits: 80 % of 1797).
TRAIN_SPLIT = {"digits": 1437, "mnist": 60000, "fashion_mnist": 60000, "cifar10": 50000}


# ---------------------------------------------------------------- config and plan


def merge_configs(paths, base: Path | None = PROJECT_CONFIG) -> dict:
    """The workflow's config.yaml, then each file over it, as Snakemake merges."""
    merged: dict = {}
    for path in ([base] if base else []) + [Path(p) for p in paths]:
        with open(path) as f:
            _merge(merged, yaml.safe_load(f) or {})
    return merged


def _merge(config: dict, update: dict) -> None:
    for key, value in update.items():
        if isinstance(value, collections.abc.Mapping) and isinstance(
            config.get(key), dict
        ):
            _merge(config[key], value)
        else:
            config[key] = copy.deepcopy(value)


def plan_counts(config: dict) -> dict:
    """Runs, bundles and per-stage job counts of a validated config."""
    runs = expand_runs(config)
    registry = Path(config["results_dir"]) / "bundles"
    with tempfile.TemporaryDirectory() as scratch:
        copy_of_registry = Path(scratch) / "bundles"
        if registry.is_dir():
            shutil.copytree(registry, copy_of_registry)
        bundles = assign_bundles(runs, copy_of_registry, config["train"]["pack_size"])
    grid = config["grid"]
    grid_runs = math.prod(
        len(grid[key])
        for key in ("datasets", "archs", "lams", "latent_dims", "complexities", "seeds")
    )
    return {
        "runs": runs,
        "grid_runs": grid_runs,
        "bundles": bundles,
        "datasets": sorted({r.dataset for r in runs}),
        "jobs": {stage: len(bundles) for stage in RUN_FILES},
    }


# ---------------------------------------------------------------- timing


def _timing_key(config: dict, run: Run) -> tuple:
    """What a training step's cost depends on: the model and the batch size."""
    settings = model_settings(config, run)
    settings.pop("latent_dim")
    return (
        tuple(sorted((k, str(v)) for k, v in settings.items())),
        train_settings(config, run)["batch_size"],
    )


def _random_data(shape, n_train: int, n_val: int, device):
    """A PreparedData of uniform random images and labels."""
    from cremodels.data import PreparedData, Split

    generator = torch.Generator().manual_seed(0)

    def split(n):
        x = torch.rand(n, *shape, generator=generator).to(device)
        return Split(x=x, y=torch.randint(0, 10, (n,), generator=generator).to(device))

    return PreparedData(
        name="random",
        train=split(n_train),
        val=split(n_val),
        test=split(1),
        classes=[str(i) for i in range(10)],
    )


def seconds_per_epoch(
    config: dict, run: Run, latent_dim: int, *, steps: int, stack: int, device
) -> float:
    """Measured seconds of one training epoch (validation included) of one run."""
    from cremodels.train import Member, TrainSettings, train_bundle

    settings = {**model_settings(config, run), "latent_dim": latent_dim}
    train = train_settings(config, run)
    batch = train["batch_size"]
    val_fraction = config["data"]["val_fraction"]
    n_train = steps * batch
    n_val = max(1, round(n_train * val_fraction / (1 - val_fraction)))
    data = _random_data(settings["input_shape"], n_train, n_val, device)
    members = [Member(f"m{k}", k / max(stack - 1, 1), 0) for k in range(stack)]
    history = train_bundle(
        members,
        data,
        settings,
        TrainSettings(epochs=2, batch_size=batch, lr=train["lr"]),
        vectorize=stack > 1,
        device=device,
        eval_batch_size=config["evaluate"]["batch_size"],
    )[0].history
    measured = history[1]["seconds"] - history[0]["seconds"]  # the second epoch

    # Scale to the real training split and to one run of the stack.
    total = TRAIN_SPLIT[run.dataset]
    real_train = total - round(val_fraction * total)
    return measured * (math.ceil(real_train / batch) / steps) / stack


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"GPU {torch.cuda.get_device_name(device)}"
    processor = platform.processor() or platform.machine()
    return f"CPU ({processor}, {torch.get_num_threads()} torch threads)"


def measure(config: dict, runs: list[Run], *, steps: int, stack: int, device):
    """Seconds per epoch of every run, from one timing per distinct setting."""
    largest: dict[tuple, tuple[Run, int]] = {}
    for run in runs:
        key = _timing_key(config, run)
        if key not in largest or run.latent_dim > largest[key][1]:
            largest[key] = (run, run.latent_dim)
    timed = {}
    for i, (key, (run, latent_dim)) in enumerate(sorted(largest.items()), 1):
        timed[key] = seconds_per_epoch(
            config, run, latent_dim, steps=steps, stack=stack, device=device
        )
        log.info(
            "  timed %2d/%d: %s %s complexity %d mask %g: %.2f s per epoch",
            i,
            len(largest),
            run.dataset,
            run.arch,
            run.complexity,
            run.mask_ratio,
            timed[key],
        )
    return {run: timed[_timing_key(config, run)] for run in runs}


# ---------------------------------------------------------------- report


def report(config: dict, counts: dict, per_epoch: dict | None, device_text: str):
    """Log the counts and, with timings, the training time per group of runs."""
    runs = counts["runs"]
    extra = len(runs) - counts["grid_runs"]
    log.info(
        "runs: %d (grid %d + masking section %d not already in the grid)",
        len(runs),
        counts["grid_runs"],
        extra,
    )
    log.info(
        "bundles: %d (train.pack_size %d; one job per bundle and stage)",
        len(counts["bundles"]),
        config["train"]["pack_size"],
    )
    jobs = {"prepare_data": len(counts["datasets"]), **counts["jobs"]}
    log.info(
        "jobs: %s = %d, plus the local aggregation, analysis and plot jobs "
        "(`snakemake -n` lists them all)",
        ", ".join(f"{stage} {n}" for stage, n in jobs.items()),
        sum(jobs.values()),
    )
    if per_epoch is None:
        log.info("training time: add --measure to time it on this machine")
        return

    groups: dict[tuple, list[Run]] = collections.defaultdict(list)
    for run in runs:
        groups[(run.dataset, run.arch, run.complexity, run.mask_ratio)].append(run)
    unit = "GPU" if device_text.startswith("GPU") else "CPU"
    log.info("training time measured on %s:", device_text)
    log.info(
        "%-14s %-4s %5s %5s %6s %7s %12s %10s",
        "dataset",
        "arch",
        "level",
        "mask",
        "runs",
        "epochs",
        "s/epoch/run",
        f"{unit}-hours",
    )
    total = 0.0
    for (dataset, arch, complexity, mask), members in sorted(groups.items()):
        seconds = sum(
            train_settings(config, r)["epochs"] * per_epoch[r] for r in members
        )
        total += seconds
        epochs = sorted({train_settings(config, r)["epochs"] for r in members})
        log.info(
            "%-14s %-4s %5d %5g %6d %7s %12.3f %10.2f",
            dataset,
            arch,
            complexity,
            mask,
            len(members),
            "/".join(map(str, epochs)),
            sum(per_epoch[r] for r in members) / len(members),
            seconds / 3600,
        )
    log.info(
        "total: %.1f %s-hours of training on %s (evaluation, geometry and probes "
        "not included)",
        total / 3600,
        unit,
        device_text,
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m cremodels.estimate",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--configfile",
        action="append",
        required=True,
        help="config file(s) merged over config.yaml, as snakemake --configfile",
    )
    parser.add_argument(
        "--measure", action="store_true", help="time training steps on this device"
    )
    parser.add_argument(
        "--steps", type=int, default=4, help="timed steps per setting (default 4)"
    )
    parser.add_argument(
        "--stack", type=int, default=1, help="models trained stacked while timing"
    )
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    args = parser.parse_args(argv)
    report_to(log, sys.stdout)

    from cremodels.device import select_device

    config = validate_config(merge_configs(args.configfile))
    counts = plan_counts(config)
    device = select_device(args.device)
    per_epoch = None
    if args.measure:
        log.info(
            "timing %d step(s) per setting, %d model(s) stacked, on %s ...",
            args.steps,
            args.stack,
            device_description(device),
        )
        per_epoch = measure(
            config, counts["runs"], steps=args.steps, stack=args.stack, device=device
        )
    report(config, counts, per_epoch, device_description(device))


if __name__ == "__main__":
    main()
