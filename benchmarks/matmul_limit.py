"""Benchmark 4: the limit. The machine's measured float32 matrix-multiply rate and
the share of it that benchmarks 1 and 2 reach for the FC-CRE (their latest rows in
results/benchmarks/*.csv; run those first).

    python benchmarks/matmul_limit.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import RESULTS, matmul_rate, write_rows  # noqa: E402


def main():
    rate = matmul_rate() / 1e9
    shares = {}
    loop = RESULTS / "loop_vs_dataloader.csv"
    many = RESULTS / "many_models.csv"
    if loop.exists():
        last = pd.read_csv(loop).query("arch == 'fc'").iloc[-1]
        shares["loop_usual"] = last.usual_gflops / rate
        shares["loop_project"] = last.project_gflops / rate
    if many.exists():
        frame = pd.read_csv(many).query("arch == 'fc'")
        for models, last in (
            frame.groupby("models").tail(1).set_index("models").iterrows()
        ):
            shares[f"sequential_K{models}"] = last.sequential_gflops / rate
            shares[f"stacked_K{models}"] = last.stacked_gflops / rate
    write_rows(
        "matmul_limit",
        [{"matmul_gflops": rate, **{f"share_{k}": v for k, v in shares.items()}}],
    )
    parts = ", ".join(f"{k} {v:.0%}" for k, v in shares.items())
    stacked = [v for k, v in shares.items() if k.startswith("stacked_K11")]
    ratio = f"{stacked[0]:.2f}" if stacked else "n/a (run many_models.py first)"
    print(
        f"matmul limit: {rate:.1f} GFLOP/s; shares of it: {parts}; "
        f"stacked K=11 share (ratio) {ratio}"
    )


if __name__ == "__main__":
    main()
