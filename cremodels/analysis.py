"""The study's claims, checked on a summary table: trade-off index and claims table.

Trade-off index
---------------
For one group of runs (dataset, arch, latent_dim, complexity, mask_ratio) and one
seed, the λ-curve gives each λ a test accuracy a(λ) of the classifier head and a
test MSE m(λ) of the decoder. Both become losses in [0, 1], 0 = the best the
curve reaches:

    u(λ) = (a* - a(λ)) / (a* - 1/C)        a* = max over λ of a, C = classes
    v(λ) = (m(λ) - m*) / (m_ref - m*)      m* = min over λ of m,
                                            m_ref = MSE of the mean training image

clipped to [0, 1] (chance accuracy, or an MSE no better than ignoring z, count as
everything lost). The ideal corner (u, v) = (0, 0) has both best at once. The
index is the area between the observed front and that corner:

    T = integral over s in [0, 1] of  min({1} and {v(λ) : u(λ) <= s}) ds

i.e. the area of the unit square that no observed λ dominates (1 minus the
hypervolume of the points with reference (1, 1)). T = 0 when one λ is best at
both (no trade-off); T = 1 when every λ gives up one of the two completely; NaN
for a single λ. A group's index is the mean over seeds of the per-seed indices.

Claims
------
Each claim is checked per (dataset, arch) with a statistic computed per seed
(each seed's own runs), averaged over the groups it covers; the table gives the
mean over seeds and a percentile bootstrap 95 % interval over seeds (seeds drawn
with replacement, `bootstrap` times, seeded). Verdicts:

* "holds": the whole interval lies on the claimed side of 0;
* "does not hold": it does not (it touches, crosses or lies beyond 0);
* "inconclusive": fewer than 2 seeds (one seed gives no interval). With 2 or 3
  seeds the percentile interval is the range of the seeds' values, so "holds"
  then means every seed shows the effect;
* "not applicable": the results lack what the claim compares (e.g. one latent
  size, no λ = 0, no masking runs); the note says what.

`python -m cremodels.analysis results/summary.csv` prints both tables.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from cremodels.catalog import DATASETS
from cremodels.io import save_csv, write_text

log = logging.getLogger(__name__)

GROUP = ["dataset", "arch", "latent_dim", "complexity", "mask_ratio"]
SCOPE = ["dataset", "arch"]
MIN_SEEDS = 2
VERDICTS = ("holds", "does not hold", "inconclusive", "not applicable")


class AnalysisError(ValueError):
    """A summary table the analysis cannot read; the message names what is wrong."""


def _require(frame: pd.DataFrame, columns) -> None:
    missing = [c for c in columns if c not in frame]
    if missing:
        raise AnalysisError(
            f"summary table lacks column(s) {', '.join(missing)} "
            f"(has: {', '.join(map(str, frame.columns))})"
        )


# ---------------------------------------------------------------- trade-off index


def normalised_losses(accuracy, mse, *, chance: float, reference_mse: float):
    """u (accuracy lost) and v (MSE excess), each in [0, 1], 0 = the curve's best.

    NaN arrays when the curve never beats chance or the reference MSE.
    """
    accuracy = np.asarray(accuracy, dtype=float)
    mse = np.asarray(mse, dtype=float)
    best_accuracy, best_mse = accuracy.max(), mse.min()
    accuracy_range = best_accuracy - chance
    mse_range = reference_mse - best_mse
    if accuracy_range <= 0 or mse_range <= 0:
        nan = np.full(len(accuracy), np.nan)
        return nan, nan
    u = np.clip((best_accuracy - accuracy) / accuracy_range, 0.0, 1.0)
    v = np.clip((mse - best_mse) / mse_range, 0.0, 1.0)
    return u, v


def tradeoff_index(accuracy, mse, *, chance: float, reference_mse: float) -> float:
    """Area between a λ-curve's front and the ideal corner (see the module doc).

    `accuracy` and `mse` are per-λ values of one curve (any order); NaN for
    fewer than two points (no curve) or a curve that never beats chance or the
    reference MSE.
    """
    u, v = normalised_losses(accuracy, mse, chance=chance, reference_mse=reference_mse)
    if len(u) < 2 or np.isnan(u).any():
        return float("nan")
    order = np.argsort(u, kind="stable")
    u, v = u[order], np.minimum.accumulate(v[order])
    # g(s) = 1 before the first point, then the best v reached so far
    widths = np.diff(np.append(u, 1.0))
    return float(u[0] + (widths * v).sum())


def _chance(dataset: str) -> float:
    if dataset not in DATASETS:
        raise AnalysisError(f"unknown dataset {dataset!r} in the summary table")
    return 1.0 / DATASETS[dataset]["classes"]


def seed_indices(
    frame: pd.DataFrame, accuracy: str = "test_accuracy", mse: str = "test_mse"
) -> pd.DataFrame:
    """The trade-off index of every (group, seed): GROUP columns, seed, index, lams."""
    _require(frame, GROUP + ["lam", "seed", accuracy, mse, "mean_image_mse"])
    rows = []
    for key, curve in frame.groupby(GROUP + ["seed"], sort=True):
        row = dict(zip(GROUP + ["seed"], key, strict=True))
        row["tradeoff_index"] = tradeoff_index(
            curve[accuracy],
            curve[mse],
            chance=_chance(row["dataset"]),
            reference_mse=float(curve["mean_image_mse"].mean()),
        )
        row["lams"] = curve["lam"].nunique()
        rows.append(row)
    return pd.DataFrame(rows, columns=GROUP + ["seed", "tradeoff_index", "lams"])


def bootstrap_interval(
    values, *, resamples: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (NaN for < 2 values)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (resamples, len(values)))].mean(1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def tradeoff_table(
    frame: pd.DataFrame, *, resamples: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Per group: the trade-off index (mean over seeds), its bootstrap 95 %
    interval over seeds, and the number of seeds and λ values."""
    per_seed = seed_indices(frame)
    rows = []
    for key, part in per_seed.groupby(GROUP, sort=True):
        values = part["tradeoff_index"]
        low, high = bootstrap_interval(values, resamples=resamples, seed=seed)
        rows.append(
            {
                **dict(zip(GROUP, key, strict=True)),
                "tradeoff_index": float(values.mean()),
                "ci_low": low,
                "ci_high": high,
                "seeds": int(values.notna().sum()),
                "lams": int(part["lams"].max()),
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- claims


def rank_correlation(x, y) -> float:
    """Spearman's rho; 0 when either side has no spread; NaN below 2 points."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 2:
        return float("nan")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(stats.spearmanr(x, y).statistic)


@dataclass(frozen=True)
class Check:
    """What a claim's statistic found in one scope: one value per seed (the
    mean over the groups it covers), or the reason it does not apply."""

    per_seed: pd.Series
    groups: int = 0
    note: str = ""


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str
    statistic: str
    side: str  # "< 0", "> 0" or ">= 0": where the interval must lie
    check: Callable[[pd.DataFrame, pd.DataFrame], Check]
    masking: bool = False  # checked on ViT runs with several mask ratios only


def _per_seed(values: pd.DataFrame) -> Check:
    """Mean over groups per seed, from rows (seed, value); NaN values dropped."""
    values = values.dropna(subset=["value"])
    if values.empty:
        return Check(pd.Series(dtype=float), 0)
    groups = values.drop(columns=["seed", "value"]).drop_duplicates()
    return Check(values.groupby("seed")["value"].mean(), len(groups))


def _not_applicable(note: str) -> Check:
    return Check(pd.Series(dtype=float), 0, note)


def _trend_over_lam(metric: str):
    """Rank correlation of `metric` with λ, per group and seed."""

    def check(runs: pd.DataFrame, indices: pd.DataFrame) -> Check:
        if runs["lam"].nunique() < 2:
            return _not_applicable("fewer than 2 λ values")
        rows = [
            {
                **dict(zip(GROUP, key[:-1], strict=True)),
                "seed": key[-1],
                "value": rank_correlation(curve["lam"], curve[metric]),
            }
            for key, curve in runs.groupby(GROUP + ["seed"], sort=True)
        ]
        return _per_seed(pd.DataFrame(rows))

    return check


def _best_at(metric: str, lam: float, higher_is_better: bool):
    """Margin by which `metric` at λ = `lam` beats every other λ (>= 0: best)."""

    def check(runs: pd.DataFrame, indices: pd.DataFrame) -> Check:
        if not np.isclose(runs["lam"], lam).any() or runs["lam"].nunique() < 2:
            return _not_applicable(f"needs λ = {lam:g} and another λ")
        rows = []
        for key, curve in runs.groupby(GROUP + ["seed"], sort=True):
            at = np.isclose(curve["lam"], lam)
            if not at.any() or at.all():
                continue
            own, others = curve.loc[at, metric].mean(), curve.loc[~at, metric]
            margin = own - others.max() if higher_is_better else others.min() - own
            rows.append(
                {
                    **dict(zip(GROUP, key[:-1], strict=True)),
                    "seed": key[-1],
                    "value": margin,
                }
            )
        return _per_seed(pd.DataFrame(rows, columns=GROUP + ["seed", "value"]))

    return check


def _index_trend(factor: str):
    """Rank correlation of the trade-off index with `factor`, the other group
    factors held fixed, per seed."""
    held = [c for c in GROUP if c != factor]

    def check(runs: pd.DataFrame, indices: pd.DataFrame) -> Check:
        if indices[factor].nunique() < 2:
            return _not_applicable(f"one {factor} only")
        rows = []
        for key, part in indices.groupby(held + ["seed"], sort=True):
            if part[factor].nunique() < 2:
                continue
            rows.append(
                {
                    **dict(zip(held, key[:-1], strict=True)),
                    "seed": key[-1],
                    "value": rank_correlation(part[factor], part["tradeoff_index"]),
                }
            )
        return _per_seed(pd.DataFrame(rows, columns=held + ["seed", "value"]))

    return check


def _star_contrast(metric: str):
    """`metric` at the smallest λ minus at the largest λ, per group and seed."""

    def check(runs: pd.DataFrame, indices: pd.DataFrame) -> Check:
        low, high = runs["lam"].min(), runs["lam"].max()
        if low >= high:
            return _not_applicable("fewer than 2 λ values")
        rows = []
        for key, curve in runs.groupby(GROUP + ["seed"], sort=True):
            by_lam = curve.groupby("lam")[metric].mean()
            if low in by_lam and high in by_lam:
                rows.append(
                    {
                        **dict(zip(GROUP, key[:-1], strict=True)),
                        "seed": key[-1],
                        "value": by_lam[low] - by_lam[high],
                    }
                )
        found = _per_seed(pd.DataFrame(rows, columns=GROUP + ["seed", "value"]))
        return Check(found.per_seed, found.groups, f"λ = {low:g} vs λ = {high:g}")

    return check


def _masking_trend(metric: str):
    """Rank correlation of `metric` with mask_ratio, everything else held fixed."""
    held = ["dataset", "arch", "latent_dim", "complexity", "lam"]

    def check(runs: pd.DataFrame, indices: pd.DataFrame) -> Check:
        rows = []
        for key, part in runs.groupby(held + ["seed"], sort=True):
            if part["mask_ratio"].nunique() < 2:
                continue
            rows.append(
                {
                    **dict(zip(held, key[:-1], strict=True)),
                    "seed": key[-1],
                    "value": rank_correlation(part["mask_ratio"], part[metric]),
                }
            )
        if not rows:
            return _not_applicable("no runs that differ in mask_ratio only")
        return _per_seed(pd.DataFrame(rows))

    return check


CLAIMS = [
    Claim(
        "1a",
        "accuracy falls as λ rises",
        "Spearman ρ(λ, test accuracy)",
        "< 0",
        _trend_over_lam("test_accuracy"),
    ),
    Claim(
        "1b",
        "MSE falls as λ rises",
        "Spearman ρ(λ, test MSE)",
        "< 0",
        _trend_over_lam("test_mse"),
    ),
    Claim(
        "2a",
        "accuracy is best at λ = 0",
        "accuracy at λ=0 minus best other λ",
        ">= 0",
        _best_at("test_accuracy", 0.0, higher_is_better=True),
    ),
    Claim(
        "2b",
        "MSE is best at λ = 1",
        "best other λ's MSE minus MSE at λ=1",
        ">= 0",
        _best_at("test_mse", 1.0, higher_is_better=False),
    ),
    Claim(
        "3",
        "a larger latent shrinks the trade-off index",
        "Spearman ρ(latent_dim, trade-off index)",
        "< 0",
        _index_trend("latent_dim"),
    ),
    Claim(
        "4",
        "higher complexity shrinks the trade-off index",
        "Spearman ρ(complexity, trade-off index)",
        "< 0",
        _index_trend("complexity"),
    ),
    Claim(
        "5a",
        "classification-driven latents are more star-shaped (RAI)",
        "radial alignment, smallest λ minus largest λ",
        "> 0",
        _star_contrast("radial_alignment"),
    ),
    Claim(
        "5b",
        "classification-driven latents are more star-shaped (RVI)",
        "radial variance index, smallest λ minus largest λ",
        "> 0",
        _star_contrast("radial_variance_index"),
    ),
    Claim(
        "6a",
        "masking raises probe accuracy",
        "Spearman ρ(mask_ratio, linear-probe accuracy)",
        "> 0",
        _masking_trend("linear_probe_accuracy"),
        masking=True,
    ),
    Claim(
        "6b",
        "masking raises MSE",
        "Spearman ρ(mask_ratio, test MSE)",
        "> 0",
        _masking_trend("test_mse"),
        masking=True,
    ),
]


def verdict(side: str, low: float, high: float, seeds: int) -> str:
    """The verdict of one claim row from its interval (see the module doc)."""
    if seeds < MIN_SEEDS:
        return "inconclusive"
    holds = {"< 0": high < 0, "> 0": low > 0, ">= 0": low >= 0}[side]
    return "holds" if holds else "does not hold"


def _claim_row(claim: Claim, scope: dict, found: Check, resamples: int, seed: int):
    values = found.per_seed.dropna()
    seeds = len(values)
    value = float(values.mean()) if seeds else float("nan")
    low, high = bootstrap_interval(values, resamples=resamples, seed=seed)
    note = found.note
    if seeds == 0:
        result = "not applicable"
        note = note or "no runs to compare"
    else:
        result = verdict(claim.side, low, high, seeds)
        if result == "inconclusive":
            note = "; ".join(
                filter(None, [note, f"{seeds} seed, needs >= {MIN_SEEDS}"])
            )
    return {
        "claim": claim.id,
        "statement": claim.statement,
        **scope,
        "statistic": claim.statistic,
        "holds_if": f"interval {claim.side}",
        "value": value,
        "ci_low": low,
        "ci_high": high,
        "seeds": seeds,
        "groups": found.groups,
        "verdict": result,
        "note": note,
    }


def claims_table(
    frame: pd.DataFrame, *, resamples: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Every claim checked per (dataset, arch) of a summary table (one row each;
    masking claims once per dataset, on its ViT runs)."""
    _require(frame, GROUP + ["lam", "seed", "test_accuracy", "test_mse"])
    indices = seed_indices(frame)
    rows = []
    for claim in CLAIMS:
        if claim.masking:
            scopes = [
                ({"dataset": d, "arch": "vit"}, frame[(frame.dataset == d)])
                for d in sorted(frame.dataset.unique())
            ]
        else:
            scopes = [
                (dict(zip(SCOPE, key, strict=True)), part)
                for key, part in frame.groupby(SCOPE, sort=True)
            ]
        for scope, runs in scopes:
            runs = runs[runs.arch == scope["arch"]]
            if runs.empty:
                found = _not_applicable(f"no {scope['arch']} runs")
            elif claim.masking and runs["mask_ratio"].nunique() < 2:
                found = _not_applicable("no masking runs (one mask_ratio)")
            else:
                mask = (indices.dataset == scope["dataset"]) & (
                    indices.arch == scope["arch"]
                )
                found = claim.check(runs, indices[mask])
            rows.append(_claim_row(claim, scope, found, resamples, seed))
    return pd.DataFrame(rows)


def format_table(table: pd.DataFrame, columns=None) -> str:
    """A fixed-width text rendering (numbers to 3 significant digits)."""
    shown = table if columns is None else table[columns]
    return shown.to_string(
        index=False, float_format=lambda v: f"{v:.3g}", na_rep="-", max_colwidth=60
    )


CLAIM_COLUMNS = [
    "claim",
    "dataset",
    "arch",
    "statement",
    "value",
    "ci_low",
    "ci_high",
    "seeds",
    "verdict",
    "note",
]


# ---------------------------------------------------------------- workflow entry


def tables_html(claims: pd.DataFrame, tradeoff: pd.DataFrame) -> str:
    """Both tables as one small HTML page (for report.html, which shows HTML
    results inline but offers CSV files only as downloads)."""

    def table(frame: pd.DataFrame) -> str:
        return frame.to_html(
            index=False, float_format=lambda v: f"{v:.3g}", na_rep="-", border=0
        )

    return (
        "<!doctype html><html><head><meta charset='utf-8'><style>"
        "body{font-family:sans-serif;font-size:13px}"
        "table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left;"
        "border-bottom:1px solid #ddd}</style></head><body>"
        f"<h2>Claims</h2>{table(claims)}"
        f"<h2>Trade-off index per group</h2>{table(tradeoff)}</body></html>\n"
    )


def claims_job(
    summary_path,
    *,
    claims_path,
    tradeoff_path,
    html_path=None,
    resamples: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Write the claims table and the trade-off index table (CSV, and both as one
    HTML page when `html_path` is given); log both."""
    frame = pd.read_csv(summary_path)
    tradeoff = tradeoff_table(frame, resamples=resamples, seed=seed)
    claims = claims_table(frame, resamples=resamples, seed=seed)
    save_csv(tradeoff_path, tradeoff)
    save_csv(claims_path, claims)
    if html_path:
        write_text(html_path, tables_html(claims, tradeoff))
    log.info("trade-off index per group:\n%s", format_table(tradeoff))
    log.info("claims:\n%s", format_table(claims, CLAIM_COLUMNS))
    return claims


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cremodels.analysis",
        description="Print the trade-off index and claims tables of a summary.csv.",
    )
    parser.add_argument("summary", help="a summary.csv written by the workflow")
    parser.add_argument("--out", help="also write the claims table to this CSV")
    parser.add_argument("--bootstrap", type=int, default=2000, help="resamples")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    args = parser.parse_args(argv)
    try:
        frame = pd.read_csv(args.summary)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        parser.exit(2, f"cannot read {args.summary}: {err}\n")
    tradeoff = tradeoff_table(frame, resamples=args.bootstrap, seed=args.seed)
    claims = claims_table(frame, resamples=args.bootstrap, seed=args.seed)
    if args.out:
        save_csv(args.out, claims)
    sys.stdout.write(
        "Trade-off index (0: none, 1: total) per group\n"
        f"{format_table(tradeoff)}\n\nClaims\n"
        f"{format_table(claims, CLAIM_COLUMNS)}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
