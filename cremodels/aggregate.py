"""Aggregation: one tidy row per run, and seed statistics for the plots."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats

from cremodels.io import read_json, save_csv

log = logging.getLogger(__name__)

FACTORS = ["dataset", "arch", "latent_dim", "complexity", "mask_ratio", "lam", "seed"]


def run_row(
    info: dict, metrics: dict, geometry: dict, probes: dict | None = None
) -> dict:
    """The summary row of one run from its record files (probes: optional)."""
    run, environment = info["run"], info["environment"]
    row = {key: run[key] for key in FACTORS}
    row.update(
        run=run["name"],
        parameters=info["parameters"],
        epochs=info["train"]["epochs"],
        batch_size=info["train"]["batch_size"],
        lr=info["train"]["lr"],
        train_seconds=info["train_seconds"],
        bundle_size=info["bundle_size"],
        host=environment["host"],
        device=environment["device"],
        device_name=environment["device_name"],
        slurm_job_id=environment.get("slurm_job_id"),
        peak_rss_mb=environment.get("peak_rss_mb"),
        peak_gpu_mb=environment.get("peak_gpu_mb"),
    )
    # records carry their fingerprint parts (for `cremodels.explain`), not metrics
    row.update(
        {
            k: v
            for k, v in metrics.items()
            if k != "device" and not k.startswith("fingerprint")
        }
    )
    row.update({k: v for k, v in geometry.items() if not k.startswith("fingerprint")})
    row.update(
        {
            k: v
            for k, v in (probes or {}).items()
            if k != "device" and not k.startswith("fingerprint")
        }
    )
    return row


def summarize(records: list[dict], out_path) -> pd.DataFrame:
    """Write `summary.csv`: `records` are dicts of "info", "metrics",
    "geometry" and (optionally) "probes" file paths, one per run."""
    rows = [
        run_row(
            read_json(r["info"]),
            read_json(r["metrics"]),
            read_json(r["geometry"]),
            read_json(r["probes"]) if r.get("probes") else None,
        )
        for r in records
    ]
    frame = pd.DataFrame(rows).sort_values(FACTORS).reset_index(drop=True)
    save_csv(out_path, frame)
    log.info("summary of %d runs written to %s", len(frame), out_path)
    return frame


def seed_statistics(
    frame: pd.DataFrame, metric: str, by: list[str], confidence: float = 0.95
) -> pd.DataFrame:
    """Mean and t-interval of `metric` over seeds for every group of `by`.

    With one seed the interval collapses to the mean (nothing to estimate).
    """

    def interval(values: pd.Series) -> pd.Series:
        values = values.dropna().to_numpy(dtype=float)
        n, mean = len(values), float(np.mean(values)) if len(values) else np.nan
        half = 0.0
        if n > 1:
            half = (
                stats.t.ppf((1 + confidence) / 2, n - 1)
                * values.std(ddof=1)
                / np.sqrt(n)
            )
        return pd.Series(
            {"mean": mean, "low": mean - half, "high": mean + half, "n": n}
        )

    return frame.groupby(by)[metric].apply(interval).unstack().reset_index()
