"""Benchmark 3: how long Snakemake takes to plan a study, per 1,000 jobs.

    python benchmarks/planning.py [--configfile configs/paper.yaml]

Runs `snakemake -n --quiet rules` (the first plan also writes the bundle registry,
so it is run twice and both times are reported).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import write_rows  # noqa: E402


def plan(configfile: str) -> tuple[float, int]:
    started = time.perf_counter()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "--quiet",
            "rules",
            "--cores",
            "1",
            "--configfile",
            configfile,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    seconds = time.perf_counter() - started
    total = next(
        int(line.split()[1]) for line in out.splitlines() if line.startswith("total")
    )
    return seconds, total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configfile", default="configs/paper.yaml")
    args = parser.parse_args(argv)
    rows = []
    for attempt in ("first", "second"):
        seconds, jobs = plan(args.configfile)
        rows.append(
            {
                "configfile": args.configfile,
                "plan": attempt,
                "jobs": jobs,
                "seconds": seconds,
                "seconds_per_1000_jobs": seconds / jobs * 1e3,
            }
        )
        print(
            f"planning {args.configfile} ({attempt}): {jobs} jobs in {seconds:.1f} s, "
            f"{seconds / jobs * 1e3:.2f} s per 1,000 jobs"
        )
    write_rows("planning", rows)


if __name__ == "__main__":
    main()
