"""Peak memory of one training job: a bundle of runs trained together.

For each case, a subprocess builds a dataset of the real split sizes (random
pixels: memory depends on shapes, not content), trains a bundle of `pack_size`
runs for a few steps and one validation pass, and reports its peak resident
memory (CPU) or peak allocated GPU memory (CUDA). Cases: the default config's
largest bundle, and the largest models of configs/paper.yaml (CIFAR-10, latent
128, complexity 3, 11 runs per bundle).

    python benchmarks/memory.py [--steps 5]

Every run of the workflow also records its job's peak memory in run.json and
summary.csv (`peak_rss_mb`, `peak_gpu_mb`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import write_rows  # noqa: E402

CASES = [
    # name, dataset shape, (train, val) sizes, arch, latent, complexity, runs, batch
    ("default: digits cnn z10 c1", (1, 8, 8), (1293, 144), "cnn", 10, 1, 10, 32),
    ("paper: cifar10 fc z128 c3", (3, 32, 32), (45000, 5000), "fc", 128, 3, 11, 128),
    ("paper: cifar10 cnn z128 c3", (3, 32, 32), (45000, 5000), "cnn", 128, 3, 11, 128),
    ("paper: cifar10 vit z128 c3", (3, 32, 32), (45000, 5000), "vit", 128, 3, 11, 128),
]

CHILD = """
import json, sys, torch
from cremodels.data import PreparedData, Split
from cremodels.device import select_device
from cremodels.runinfo import peak_memory_mb
from cremodels.train import Member, TrainSettings, train_bundle
shape, (n_train, n_val), arch, latent, complexity, runs, batch, steps = json.loads(
    sys.argv[1])
device = select_device("auto")
def split(n):
    x = torch.randint(0, 256, (n, *shape), dtype=torch.uint8, device=device)
    return Split(x.float().div_(255), torch.randint(0, 10, (n,), device=device))
train, val = split(n_train), split(n_val)
data = PreparedData("bench", Split(train.x[: steps * batch], train.y[: steps * batch]),
                    val, val, [str(i) for i in range(10)])
model = dict(arch=arch, input_shape=list(shape), num_classes=10, latent_dim=latent,
             complexity=complexity)
if arch == "vit":
    model["patch_size"] = 4
members = [Member(f"r{k}", k / max(runs - 1, 1), 0) for k in range(runs)]
train_bundle(members, data, model, TrainSettings(1, batch, 1e-3))
print(json.dumps(peak_memory_mb(device)))
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args(argv)
    rows = []
    for name, shape, sizes, arch, latent, complexity, runs, batch in CASES:
        spec = json.dumps(
            [shape, sizes, arch, latent, complexity, runs, batch, args.steps]
        )
        out = subprocess.run(
            [sys.executable, "-c", CHILD, spec],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        peak = json.loads(out.strip().splitlines()[-1])
        rows.append({"case": name, "runs": runs, "batch_size": batch, **peak})
        gpu = f", GPU {peak['peak_gpu_mb']:.0f} MB" if "peak_gpu_mb" in peak else ""
        print(
            f"memory, {name} ({runs} runs per job): peak RSS "
            f"{peak['peak_rss_mb']:.0f} MB{gpu}"
        )
    write_rows("memory", rows)


if __name__ == "__main__":
    main()
