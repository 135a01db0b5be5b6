"""Figures of one dataset's runs (matplotlib; every figure saved as PNG and PDF).

* `metric_vs_lam`: a metric against lam, one line per latent size, mean and 95 %
  interval over seeds, one panel per (arch, complexity);
* `tradeoff`: test accuracy against test MSE, one curve per (arch, latent size),
  points ordered by lam;
* `geometry_vs_lam`: every geometry metric against lam;
* `reconstructions`: test images and their reconstructions across lam;
* `latents_3d`: test latents of 3-D runs at the smallest, middle and largest lam.
"""

from __future__ import annotations

import logging

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from cremodels.aggregate import seed_statistics  # noqa: E402
from cremodels.io import atomic_path  # noqa: E402

log = logging.getLogger(__name__)

LABELS = {
    "test_accuracy": "test accuracy (classifier head)",
    "test_mse": "test MSE per pixel",
    "test_psnr": "test PSNR (dB)",
    "silhouette": "silhouette (higher: separated)",
    "davies_bouldin": "Davies-Bouldin (lower: separated)",
    "calinski_harabasz": "Calinski-Harabasz",
    "angle_mean": "mean angle between class means (deg)",
    "angle_min": "min angle between class means (deg)",
    "angular_spread": "within-class angular spread (deg)",
    "radial_alignment": "radial alignment (1: star, 0: cloud)",
    "linear_probe_accuracy": "linear-probe accuracy",
}
GEOMETRY_METRICS = [
    "silhouette",
    "davies_bouldin",
    "calinski_harabasz",
    "angle_mean",
    "angular_spread",
    "radial_alignment",
    "linear_probe_accuracy",
]


def save_figure(fig, paths, dpi: int = 150) -> None:
    """Write the figure to every path (format from the suffix), atomically."""
    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(
                tmp, dpi=dpi, bbox_inches="tight", format=str(path).rsplit(".", 1)[-1]
            )
    plt.close(fig)


def _panels(frame: pd.DataFrame):
    """(arch, complexity) pairs present, in a stable order."""
    return sorted(frame.groupby(["arch", "complexity"]).groups)


def _title(dataset: str, arch: str, complexity: int) -> str:
    return f"{dataset} · {arch} · complexity {complexity}"


def metric_vs_lam(frame: pd.DataFrame, metric: str, dataset: str):
    """One panel per (arch, complexity): metric vs lam, a line per latent size."""
    panels = _panels(frame)
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False, sharey=True
    )
    for ax, (arch, complexity) in zip(axes[0], panels, strict=True):
        part = frame[(frame.arch == arch) & (frame.complexity == complexity)]
        summary = seed_statistics(part, metric, ["latent_dim", "lam"])
        for latent_dim, curve in summary.groupby("latent_dim"):
            (line,) = ax.plot(
                curve.lam, curve["mean"], marker="o", ms=3, label=f"z = {latent_dim}"
            )
            ax.fill_between(
                curve.lam,
                curve.low,
                curve.high,
                alpha=0.2,
                color=line.get_color(),
                lw=0,
            )
        ax.set_title(_title(dataset, arch, complexity), fontsize=9)
        ax.set_xlabel("λ (0: classification only, 1: reconstruction only)")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel(LABELS.get(metric, metric))
    axes[0, -1].legend(fontsize=8, title="latent size", title_fontsize=8)
    n_seeds = frame.seed.nunique()
    fig.suptitle(
        f"{LABELS.get(metric, metric)}: mean and 95 % interval over {n_seeds} seed(s)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def tradeoff(frame: pd.DataFrame, dataset: str):
    """Accuracy against MSE (seed means), one curve per (arch, latent size)."""
    panels = _panels(frame)
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False
    )
    for ax, (arch, complexity) in zip(axes[0], panels, strict=True):
        part = frame[(frame.arch == arch) & (frame.complexity == complexity)]
        means = part.groupby(["latent_dim", "lam"])[
            ["test_accuracy", "test_mse"]
        ].mean()
        for latent_dim, curve in means.groupby(level="latent_dim"):
            curve = curve.droplevel("latent_dim").sort_index()
            ax.plot(
                curve.test_mse,
                curve.test_accuracy,
                marker="o",
                ms=3,
                label=f"z = {latent_dim}",
            )
            for lam, point in curve.iloc[[0, -1]].iterrows():
                ax.annotate(
                    f"λ={lam:g}",
                    (point.test_mse, point.test_accuracy),
                    fontsize=7,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
        ax.set_xscale("log")
        ax.set_xlabel("test MSE per pixel (log; lower is better)")
        ax.set_title(_title(dataset, arch, complexity), fontsize=9)
        ax.grid(alpha=0.3, which="both")
    axes[0, 0].set_ylabel("test accuracy (higher is better)")
    axes[0, -1].legend(fontsize=8)
    fig.suptitle("trade-off: the ideal corner is top left", fontsize=10)
    fig.tight_layout()
    return fig


def geometry_vs_lam(frame: pd.DataFrame, dataset: str):
    """Every geometry metric against lam; rows: metrics, columns: (arch, complexity)."""
    panels = _panels(frame)
    metrics = [m for m in GEOMETRY_METRICS if m in frame]
    fig, axes = plt.subplots(
        len(metrics),
        len(panels),
        squeeze=False,
        figsize=(4.0 * len(panels), 2.3 * len(metrics)),
        sharex=True,
    )
    for col, (arch, complexity) in enumerate(panels):
        part = frame[(frame.arch == arch) & (frame.complexity == complexity)]
        for row, metric in enumerate(metrics):
            ax = axes[row, col]
            summary = seed_statistics(part, metric, ["latent_dim", "lam"])
            for latent_dim, curve in summary.groupby("latent_dim"):
                (line,) = ax.plot(
                    curve.lam,
                    curve["mean"],
                    marker="o",
                    ms=2,
                    label=f"z = {latent_dim}",
                )
                ax.fill_between(
                    curve.lam,
                    curve.low,
                    curve.high,
                    alpha=0.2,
                    color=line.get_color(),
                    lw=0,
                )
            ax.grid(alpha=0.3)
            if col == 0:
                ax.set_ylabel(LABELS.get(metric, metric), fontsize=7)
            if row == 0:
                ax.set_title(_title(dataset, arch, complexity), fontsize=9)
        axes[-1, col].set_xlabel("λ")
    axes[0, -1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def reconstructions(examples: dict, dataset: str):
    """Rows: the test images, then their reconstructions at each lam.

    `examples` maps a row label (e.g. "fc · λ=0.5") to a saved examples dict
    with "x" and "x_hat" arrays (n, C, H, W); the first row shows "x".
    """
    labels = list(examples)
    first = examples[labels[0]]
    n = len(first["x"])
    rows = [("test images", first["x"])] + [
        (label, examples[label]["x_hat"]) for label in labels
    ]
    fig, axes = plt.subplots(
        len(rows), n, figsize=(0.9 * n + 1.2, 0.95 * len(rows)), squeeze=False
    )
    for r, (label, images) in enumerate(rows):
        for c in range(n):
            image = np.clip(images[c].transpose(1, 2, 0), 0, 1)
            ax = axes[r, c]
            ax.imshow(
                image.squeeze(-1) if image.shape[-1] == 1 else image,
                cmap="gray",
                vmin=0,
                vmax=1,
            )
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=7)
    fig.suptitle(f"{dataset}: test images and reconstructions", fontsize=10)
    return fig


def latents_3d(latents: dict, dataset: str, classes=None):
    """3-D scatter of test latents, one panel per key of `latents` (label -> dict
    with "z_test" (N, 3) and "y_test"), three panels per row."""
    labels = list(latents)
    ncols = min(3, len(labels))
    nrows = -(-len(labels) // ncols)
    fig = plt.figure(figsize=(3.6 * ncols + 1, 3.6 * nrows))
    cmap = plt.get_cmap("tab10")
    for i, label in enumerate(labels):
        ax = fig.add_subplot(nrows, ncols, i + 1, projection="3d")
        z, y = latents[label]["z_test"], latents[label]["y_test"]
        ax.scatter(
            z[:, 0], z[:, 1], z[:, 2], c=cmap(y % 10), s=2, alpha=0.6, depthshade=False
        )
        ax.scatter([0], [0], [0], c="black", marker="+", s=60)  # the origin
        ax.set_title(label, fontsize=8)
        ax.tick_params(labelsize=6)
    if classes is not None:
        handles = [
            plt.Line2D([], [], ls="", marker="o", color=cmap(k), label=name)
            for k, name in enumerate(classes)
        ]
        fig.legend(handles=handles, fontsize=7, loc="center right")
    fig.suptitle(
        f"{dataset}: test latents coloured by class (+ marks the origin)", fontsize=10
    )
    return fig


# ---------------------------------------------------------------- workflow entry points


def summary_figure(summary_path, *, figure: str, dataset: str, outputs, dpi=150):
    """Draw one of the summary figures of `dataset` from summary.csv."""
    frame = pd.read_csv(summary_path)
    frame = frame[frame.dataset == dataset]
    if figure == "accuracy_vs_lam":
        fig = metric_vs_lam(frame, "test_accuracy", dataset)
    elif figure == "mse_vs_lam":
        fig = metric_vs_lam(frame, "test_mse", dataset)
    elif figure == "tradeoff":
        fig = tradeoff(frame, dataset)
    elif figure == "geometry_vs_lam":
        fig = geometry_vs_lam(frame, dataset)
    else:
        raise ValueError(f"unknown summary figure {figure!r}")
    save_figure(fig, outputs, dpi)


def run_figure(kind: str, *, files, labels, dataset: str, outputs, dpi=150):
    """Reconstruction grid or 3-D latents from per-run .npz files."""
    loaded = {}
    for label, path in zip(labels, files, strict=True):
        with np.load(path) as saved:
            loaded[label] = dict(saved)
    if kind == "plot_reconstructions":
        fig = reconstructions(loaded, dataset)
    elif kind == "plot_latents_3d":
        fig = latents_3d(loaded, dataset)
    else:
        raise ValueError(f"unknown run figure {kind!r}")
    save_figure(fig, outputs, dpi)
