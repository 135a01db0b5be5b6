"""Benchmark 1: the project's training loop against the usual PyTorch recipe.

Same model (FC-CRE or CNN-CRE on FashionMNIST, latent 10, complexity 1 unless
--complexity), batch size, optimiser and number of steps: (a) a torchvision
dataset with `ToTensor` and a `DataLoader`, (b) the project's `train_bundle`
(whole split on the device, batches by slicing a permutation, fused Adam, plus
its validation pass and bookkeeping). Prints samples/s of each and the ratio
(b)/(a); a bare in-memory loop is timed too, as a reference.

    python benchmarks/loop_vs_dataloader.py [--steps 200] [--arch fc cnn]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    fashion_mnist,
    fc_flops_per_sample,
    profile_table,
    subset,
    timed,
    write_rows,
)
from cremodels.loss import cre_loss  # noqa: E402
from cremodels.train import Member, TrainSettings, init_model, train_bundle  # noqa: E402

BATCH, LR, LAM = 128, 1e-3, 0.5


def usual_recipe(root: Path, model_settings: dict, steps: int) -> float:
    """Seconds for `steps` steps of the DataLoader + ToTensor recipe."""
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    dataset = datasets.FashionMNIST(
        str(root), train=True, download=False, transform=transforms.ToTensor()
    )
    loader = DataLoader(
        Subset(dataset, range(steps * BATCH)), batch_size=BATCH, shuffle=True
    )
    model = init_model(model_settings, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)

    def loop():
        for x, y in loader:
            z, x_hat, logits, _ = model(x)
            loss = cre_loss(LAM, x_hat, x, logits, y).total
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    return timed(loop)[0]


def plain_loop(data, model_settings: dict, steps: int) -> float:
    """Seconds for `steps` steps of a bare in-memory loop (reference, not a
    contender): tensors already on the device, slices of a permutation, default
    Adam, no validation, history or checkpoints."""
    x_all, y_all = data.train.x[: steps * BATCH], data.train.y[: steps * BATCH]
    model = init_model(model_settings, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)

    def loop():
        order = torch.randperm(len(x_all))
        for start in range(0, len(x_all), BATCH):
            idx = order[start : start + BATCH]
            x, y = x_all[idx], y_all[idx]
            z, x_hat, logits, _ = model(x)
            loss = cre_loss(LAM, x_hat, x, logits, y).total
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    return timed(loop)[0]


def project_loop(data, model_settings: dict, steps: int) -> float:
    """Seconds for the project's training of one epoch of `steps` steps."""
    small = subset(data, steps * BATCH, n_val=BATCH)
    settings = TrainSettings(epochs=1, batch_size=BATCH, lr=LR)
    return timed(
        train_bundle, [Member("bench", LAM, 0)], small, model_settings, settings
    )[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--arch", nargs="+", default=["fc", "cnn"])
    parser.add_argument("--complexity", type=int, default=1, choices=[1, 2, 3])
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print where the project's loop spends time",
    )
    args = parser.parse_args(argv)
    root, data = fashion_mnist()
    rows = []
    for arch in args.arch:
        settings = dict(
            arch=arch,
            input_shape=[1, 28, 28],
            num_classes=10,
            latent_dim=10,
            complexity=args.complexity,
        )
        project_loop(data, settings, 5)  # warm-up
        if args.profile:
            print(profile_table(project_loop, data, settings, args.steps))
            continue
        usual = usual_recipe(root, settings, args.steps)
        plain = plain_loop(data, settings, args.steps)
        ours = project_loop(data, settings, args.steps)
        samples = args.steps * BATCH
        row = {
            "arch": arch,
            "complexity": args.complexity,
            "steps": args.steps,
            "batch_size": BATCH,
            "usual_samples_per_s": samples / usual,
            "plain_in_memory_samples_per_s": samples / plain,
            "project_samples_per_s": samples / ours,
            "ratio": usual / ours,
        }
        if arch == "fc":
            flops = fc_flops_per_sample(init_model(settings, 0))
            row["project_gflops"] = flops * samples / ours / 1e9
            row["usual_gflops"] = flops * samples / usual / 1e9
        rows.append(row)
        print(
            f"loop vs DataLoader, {arch} complexity {args.complexity}: usual "
            f"{row['usual_samples_per_s']:.0f} samples/s, project "
            f"{row['project_samples_per_s']:.0f} samples/s (bare in-memory loop "
            f"{row['plain_in_memory_samples_per_s']:.0f}), "
            f"ratio {row['ratio']:.2f}"
        )
    if rows:
        write_rows("loop_vs_dataloader", rows)


if __name__ == "__main__":
    main()
