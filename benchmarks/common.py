"""Shared pieces of the benchmarks: data, timing, CSV output, one-line summaries."""

from __future__ import annotations

import csv
import logging
import os
import platform
import time
from pathlib import Path

import torch

from cremodels.data import load_prepared, prepare_dataset

RESULTS = Path(os.environ.get("CRE_BENCHMARK_DIR", "results/benchmarks"))
FASHION_RAW = Path("/usr/share/datasets/fashion-mnist")

log = logging.getLogger("benchmarks")


def fashion_mnist(root: Path = Path("data")):
    """FashionMNIST prepared from the raw files (Debian's package or data.root)."""
    out = root / "prepared" / "fashion_mnist.pt"
    if not out.exists():
        raw_dir = FASHION_RAW if FASHION_RAW.is_dir() else None
        prepare_dataset("fashion_mnist", root=root, out_path=out, raw_dir=raw_dir)
    return root, load_prepared(out)


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    """Wall seconds and result of fn(*args, **kwargs)."""
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


def write_rows(name: str, rows: list[dict]) -> Path:
    """Append rows (with machine facts) to results/benchmarks/<name>.csv."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.csv"
    facts = {
        "host": platform.node(),
        "threads": torch.get_num_threads(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    rows = [{**facts, **row} for row in rows]
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        if new:
            writer.writeheader()
        writer.writerows(rows)
    return path


def subset(data, n_train: int, n_val: int = 256):
    """The first n_train training and n_val validation samples of prepared data."""
    from cremodels.data import PreparedData, Split

    return PreparedData(
        name=data.name,
        train=Split(data.train.x[:n_train], data.train.y[:n_train]),
        val=Split(data.val.x[:n_val], data.val.y[:n_val]),
        test=data.test,
        classes=data.classes,
    )


def fc_flops_per_sample(model) -> float:
    """Floating-point operations of one training sample through an FC-CRE:
    2 per multiply-add forward, 2 for the weight gradient, 2 for the input
    gradient (none for the first layer, whose input needs no gradient)."""
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    macs = sum(m.in_features * m.out_features for m in linears)
    first = linears[0].in_features * linears[0].out_features
    return 6 * macs - 2 * first


def matmul_rate(size: int = 2048, repeats: int = 10) -> float:
    """The CPU's (or GPU's) measured float32 matrix-multiply rate, FLOP/s."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    torch.mm(a, b)  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    if device == "cuda":
        torch.cuda.synchronize()
    return 2 * size**3 * repeats / (time.perf_counter() - started)


def profile_table(fn, *args, rows: int = 12, **kwargs) -> str:
    """The `torch.profiler` table (CPU ops by own time) of fn(*args, **kwargs)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn(*args, **kwargs)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)
