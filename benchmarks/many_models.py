"""Benchmark 2: K runs that differ only in lam and seed, one after another against
all together as one stacked (vectorised) model.

FC-CRE (latent 10; complexity 1 unless --complexity) on FashionMNIST, K = 11 lam
x 1 seed and 11 x 5.
Prints the throughput of both (training samples per second, summed over the K
models) and the ratio.

    python benchmarks/many_models.py [--steps 100] [--seeds 1 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    fashion_mnist,
    fc_flops_per_sample,
    profile_table,
    subset,
    timed,
    write_rows,
)
from cremodels.train import Member, TrainSettings, init_model, train_bundle  # noqa: E402

BATCH, LR = 128, 1e-3
LAMS = [i / 10 for i in range(11)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--arch", default="fc")
    parser.add_argument("--complexity", type=int, default=1, choices=[1, 2, 3])
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print where the stacked training of K = 11 spends time",
    )
    args = parser.parse_args(argv)
    _, data = fashion_mnist()
    small = subset(data, args.steps * BATCH, n_val=BATCH)
    settings = dict(
        arch=args.arch,
        input_shape=[1, 28, 28],
        num_classes=10,
        latent_dim=10,
        complexity=args.complexity,
    )
    train = TrainSettings(epochs=1, batch_size=BATCH, lr=LR)
    flops = fc_flops_per_sample(init_model(settings, 0)) if args.arch == "fc" else None
    train_bundle(
        [Member("warm", 0.5, 0)] * 2, subset(data, 4 * BATCH), settings, train
    )  # warm-up
    if args.profile:
        members = [Member(f"lam{lam:g}", lam, 0) for lam in LAMS]
        print(profile_table(train_bundle, members, small, settings, train))
        return
    rows = []
    for n_seeds in args.seeds:
        members = [
            Member(f"lam{lam:g}_s{seed}", lam, seed)
            for seed in range(n_seeds)
            for lam in LAMS
        ]
        sequential = sum(
            timed(train_bundle, [m], small, settings, train, vectorize=False)[0]
            for m in members
        )
        stacked = timed(train_bundle, members, small, settings, train, vectorize=True)[
            0
        ]
        # throughput: training samples processed per second, summed over the models
        model_samples = args.steps * BATCH * len(members)
        row = {
            "arch": args.arch,
            "complexity": args.complexity,
            "models": len(members),
            "seeds": n_seeds,
            "steps": args.steps,
            "sequential_samples_per_s": model_samples / sequential,
            "stacked_samples_per_s": model_samples / stacked,
            "ratio": sequential / stacked,
        }
        if flops:
            row["sequential_gflops"] = flops * model_samples / sequential / 1e9
            row["stacked_gflops"] = flops * model_samples / stacked / 1e9
        rows.append(row)
        print(
            f"many models, {args.arch} complexity {args.complexity}, "
            f"K = {len(members)}: one after another "
            f"{row['sequential_samples_per_s']:.0f} samples/s (all models), stacked "
            f"{row['stacked_samples_per_s']:.0f}, ratio {row['ratio']:.2f}"
        )
    write_rows("many_models", rows)


if __name__ == "__main__":
    main()
