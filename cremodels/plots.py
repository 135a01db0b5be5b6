"""Figures of one dataset's runs (matplotlib; every figure saved as PNG and PDF).

* `metric_vs_lam`: a metric against lam, one line per latent size, mean and 95 %
  interval over seeds, one panel per (arch, complexity);
* `tradeoff`: test accuracy against test MSE, one curve per (arch, latent size),
  points ordered by lam;
* `geometry_vs_lam`: every geometry metric against lam;
* `reconstructions`: test images and their reconstructions across lam;
* `latents_3d`: test latents of 3-D runs at the smallest, middle and largest lam;
* `latents_pca`: 2-D and 3-D PCA views of the test latents of runs with
  latent_dim > 3 (full-SVD PCA, deterministic);
* `probes_vs_lam`: the heads' scores next to the probes' (linear and MLP
  classifiers, fresh decoder) against lam;
* `index_vs_latent`, `index_vs_complexity`: the trade-off index
  (`cremodels.analysis`) against latent size and against complexity.
"""

from __future__ import annotations

import logging

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from cremodels.aggregate import seed_statistics  # noqa: E402
from cremodels.analysis import seed_indices  # noqa: E402
from cremodels.io import atomic_path, read_npz  # noqa: E402

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
    "silhouette_cosine": "silhouette, cosine",
    "davies_bouldin_cosine": "Davies-Bouldin, cosine",
    "calinski_harabasz_cosine": "Calinski-Harabasz, cosine",
    "radial_variance_index": "radial variance (1: star, 0: cloud)",
    "mlp_probe_accuracy": "MLP-probe accuracy",
    "decoder_probe_mse": "decoder-probe test MSE",
    "mean_image_mse": "mean-image MSE",
    "tradeoff_index": "trade-off index (0: none, 1: total)",
}
GEOMETRY_METRICS = [
    "silhouette",
    "silhouette_cosine",
    "davies_bouldin",
    "davies_bouldin_cosine",
    "calinski_harabasz",
    "angle_mean",
    "angle_min",
    "angular_spread",
    "radial_alignment",
    "radial_variance_index",
    "linear_probe_accuracy",
]
# Probe figure rows: (axis label, [(column, line label, line style)], reference).
PROBE_ROWS = [
    (
        "test accuracy",
        [
            ("test_accuracy", "classifier head", "-"),
            ("linear_probe_accuracy", "linear probe", "--"),
            ("mlp_probe_accuracy", "MLP probe", ":"),
        ],
    ),
    (
        "test MSE per pixel",
        [
            ("test_mse", "decoder head", "-"),
            ("decoder_probe_mse", "decoder probe", "--"),
            ("mean_image_mse", "mean image", ":"),
        ],
    ),
]


def save_figure(fig, paths, dpi: int = 150) -> None:
    """Write the figure to every path (format from the suffix), atomically."""
    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(
                tmp, dpi=dpi, bbox_inches="tight", format=str(path).rsplit(".", 1)[-1]
            )
    plt.close(fig)


def _bounds(metric: str):
    """The range a metric can take, where it has one (for drawing its band)."""
    return (0.0, 1.0) if "accuracy" in metric else None


def _mean_and_band(ax, x, summary: pd.DataFrame, bounds=None, **style):
    """A line through the seed means and a shaded band over their interval
    (`summary` from `seed_statistics`), the band cut to `bounds` if given: with
    two seeds a t-interval reaches far beyond what an accuracy can be."""
    low, high = summary.low, summary.high
    if bounds is not None:
        low, high = low.clip(*bounds), high.clip(*bounds)
    (line,) = ax.plot(x, summary["mean"], **style)
    ax.fill_between(x, low, high, alpha=0.2, color=line.get_color(), lw=0)


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
            _mean_and_band(
                ax,
                curve.lam,
                curve,
                _bounds(metric),
                marker="o",
                ms=3,
                label=f"z = {latent_dim}",
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
            (line,) = ax.plot(
                curve.test_mse,
                curve.test_accuracy,
                marker="o",
                ms=3,
                label=f"z = {latent_dim}",
            )
            # Mark the ends by shape (labels would overlap where curves meet).
            for end, shape in ((0, "s"), (-1, "^")):
                ax.plot(
                    curve.test_mse.iloc[end],
                    curve.test_accuracy.iloc[end],
                    shape,
                    ms=7,
                    mfc="none",
                    color=line.get_color(),
                )
        lams = part.lam.sort_values()
        for lam, shape in ((lams.iloc[0], "s"), (lams.iloc[-1], "^")):
            ax.plot([], [], shape, mfc="none", color="k", label=f"λ = {lam:g}")
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
                _mean_and_band(
                    ax,
                    curve.lam,
                    curve,
                    _bounds(metric),
                    marker="o",
                    ms=2,
                    label=f"z = {latent_dim}",
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


def latents_pca(latents: dict, dataset: str):
    """2-D and 3-D PCA views of test latents: per key of `latents` (label -> dict
    with "z_test" (N, d) and "y_test"), a 2-D panel then a 3-D one, three runs per
    row. PCA uses the full SVD, so the views are the same on every run."""
    from sklearn.decomposition import PCA

    labels = list(latents)
    runs_per_row = min(3, len(labels))
    nrows = -(-len(labels) // runs_per_row)
    fig = plt.figure(figsize=(6.4 * runs_per_row, 3.3 * nrows))
    cmap = plt.get_cmap("tab10")
    for i, label in enumerate(labels):
        z, y = latents[label]["z_test"], latents[label]["y_test"]
        pca = PCA(n_components=min(3, z.shape[1]), svd_solver="full")
        views = pca.fit_transform(z.astype(np.float64))
        explained = pca.explained_variance_ratio_
        colours = cmap(y % 10)
        flat = fig.add_subplot(nrows, 2 * runs_per_row, 2 * i + 1)
        flat.scatter(views[:, 0], views[:, 1], c=colours, s=2, alpha=0.6)
        flat.set_title(f"{label}: PC1-2 ({explained[:2].sum():.0%})", fontsize=8)
        flat.tick_params(labelsize=6)
        if views.shape[1] == 3:
            deep = fig.add_subplot(nrows, 2 * runs_per_row, 2 * i + 2, projection="3d")
            deep.scatter(*views.T, c=colours, s=2, alpha=0.6, depthshade=False)
            deep.set_title(f"PC1-3 ({explained.sum():.0%})", fontsize=8)
            deep.tick_params(labelsize=6)
    fig.suptitle(
        f"{dataset}: test latents projected on their principal components "
        "(share of variance shown), coloured by class",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def probes_vs_lam(frame: pd.DataFrame, dataset: str):
    """Heads against probes vs lam: rows accuracy and MSE, columns (arch,
    complexity, latent size); mean and 95 % interval over seeds."""
    panels = [
        (arch, complexity, latent_dim)
        for (arch, complexity) in _panels(frame)
        for latent_dim in sorted(
            frame[
                (frame.arch == arch) & (frame.complexity == complexity)
            ].latent_dim.unique()
        )
    ]
    fig, axes = plt.subplots(
        len(PROBE_ROWS),
        len(panels),
        squeeze=False,
        figsize=(3.4 * len(panels), 2.8 * len(PROBE_ROWS)),
        sharex=True,
    )
    for col, (arch, complexity, latent_dim) in enumerate(panels):
        part = frame[
            (frame.arch == arch)
            & (frame.complexity == complexity)
            & (frame.latent_dim == latent_dim)
        ]
        for row, (ylabel, lines) in enumerate(PROBE_ROWS):
            ax = axes[row, col]
            for metric, label, style in lines:
                if metric not in part:
                    continue
                summary = seed_statistics(part, metric, ["lam"])
                _mean_and_band(
                    ax,
                    summary.lam,
                    summary,
                    _bounds(metric),
                    ls=style,
                    marker="o",
                    ms=2,
                    label=label,
                )
            ax.grid(alpha=0.3)
            if row == 0:
                ax.set_ylim(0, 1.02)  # accuracy: intervals of few seeds go beyond
            else:
                ax.set_yscale("log")
            if col == 0:
                ax.set_ylabel(ylabel, fontsize=8)
            if row == 0:
                ax.set_title(
                    f"{_title(dataset, arch, complexity)} · z = {latent_dim}",
                    fontsize=8,
                )
            if col == len(panels) - 1:
                ax.legend(fontsize=7)
        axes[-1, col].set_xlabel("λ")
    fig.suptitle(
        "what the latent holds: the heads' scores against probes trained on frozen z",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def index_vs_factor(frame: pd.DataFrame, dataset: str, factor: str):
    """Trade-off index against `factor` (latent_dim or complexity), one panel per
    arch, one line per level of the other factor (and mask ratio, when several);
    mean and 95 % interval over seeds."""
    other = {"latent_dim": "complexity", "complexity": "latent_dim"}[factor]
    short = {"latent_dim": "z", "complexity": "complexity"}
    indices = seed_indices(frame)
    archs = sorted(indices.arch.unique())
    fig, axes = plt.subplots(
        1, len(archs), figsize=(4.2 * len(archs), 3.4), squeeze=False, sharey=True
    )
    for ax, arch in zip(axes[0], archs, strict=True):
        part = indices[indices.arch == arch]
        several_masks = part.mask_ratio.nunique() > 1
        summary = seed_statistics(part, "tradeoff_index", [other, "mask_ratio", factor])
        for (level, mask), curve in summary.groupby([other, "mask_ratio"]):
            label = f"{short[other]} = {level}" + (
                f", mask {mask:g}" if several_masks else ""
            )
            _mean_and_band(
                ax, curve[factor], curve, (0.0, 1.0), marker="o", label=label
            )
        ax.set_ylim(-0.02, 1.02)  # the index lies in [0, 1]
        ax.set_xticks(sorted(part[factor].unique()))
        ax.set_xlabel(factor.replace("_", " "))
        ax.set_title(f"{dataset} · {arch}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel(LABELS["tradeoff_index"])
    fig.suptitle(
        f"trade-off index against {factor.replace('_', ' ')}: mean and 95 % "
        f"interval over {frame.seed.nunique()} seed(s)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- workflow entry points


def summary_figure(
    summary_path, *, figure: str, dataset: str, outputs, dpi=150, vit_mask_ratio=0.0
):
    """Draw one of the summary figures of `dataset` from summary.csv.

    ViT runs enter only at the grid's mask ratio (`model.vit.mask_ratio`): runs of
    other mask ratios belong to the masking experiment and its own figure, and
    would otherwise be averaged with them like extra seeds.
    """
    frame = pd.read_csv(summary_path)
    frame = frame[frame.dataset == dataset]
    main_grid = (frame.arch != "vit") | np.isclose(frame.mask_ratio, vit_mask_ratio)
    frame = frame[main_grid]
    if figure == "accuracy_vs_lam":
        fig = metric_vs_lam(frame, "test_accuracy", dataset)
    elif figure == "mse_vs_lam":
        fig = metric_vs_lam(frame, "test_mse", dataset)
    elif figure == "tradeoff":
        fig = tradeoff(frame, dataset)
    elif figure == "geometry_vs_lam":
        fig = geometry_vs_lam(frame, dataset)
    elif figure == "probes_vs_lam":
        fig = probes_vs_lam(frame, dataset)
    elif figure == "index_vs_latent":
        fig = index_vs_factor(frame, dataset, "latent_dim")
    elif figure == "index_vs_complexity":
        fig = index_vs_factor(frame, dataset, "complexity")
    else:
        raise ValueError(f"unknown summary figure {figure!r}")
    save_figure(fig, outputs, dpi)


def run_figure(kind: str, *, files, labels, dataset: str, outputs, dpi=150):
    """Reconstruction grid or 3-D latents from per-run .npz files."""
    loaded = {}
    for label, path in zip(labels, files, strict=True):
        loaded[label] = read_npz(path)
    if kind == "plot_reconstructions":
        fig = reconstructions(loaded, dataset)
    elif kind == "plot_latents_3d":
        fig = latents_3d(loaded, dataset)
    elif kind == "plot_latents_pca":
        fig = latents_pca(loaded, dataset)
    else:
        raise ValueError(f"unknown run figure {kind!r}")
    save_figure(fig, outputs, dpi)


# ---------------------------------------------------------------- masking experiment

MASKING_METRICS = ["linear_probe_accuracy", "test_mse"]


def masking(frame: pd.DataFrame, dataset: str):
    """Linear-probe accuracy and test MSE against the ViT's mask_ratio.

    One row of panels per (latent size, complexity) in `frame`, probe accuracy
    left and test MSE right, one line per lam: mean and 95 % interval over seeds.
    """
    rows = sorted(frame.groupby(["latent_dim", "complexity"]).groups)
    fig, axes = plt.subplots(
        len(rows), len(MASKING_METRICS), figsize=(8.4, 3.2 * len(rows)), squeeze=False
    )
    for row, (latent_dim, complexity) in enumerate(rows):
        part = frame[
            (frame.latent_dim == latent_dim) & (frame.complexity == complexity)
        ]
        for col, metric in enumerate(MASKING_METRICS):
            ax = axes[row, col]
            summary = seed_statistics(part, metric, ["lam", "mask_ratio"])
            for lam, curve in summary.groupby("lam"):
                _mean_and_band(
                    ax,
                    curve.mask_ratio,
                    curve,
                    _bounds(metric),
                    marker="o",
                    ms=4,
                    label=f"λ={lam:g}",
                )
            ax.set_xticks(sorted(part.mask_ratio.unique()))
            ax.set_xlabel("mask ratio (share of patches hidden in training)")
            ax.set_ylabel(LABELS.get(metric, metric))
            ax.set_title(
                f"{dataset} · vit · z = {latent_dim} · complexity {complexity}",
                fontsize=9,
            )
            ax.grid(alpha=0.3)
    axes[0, -1].legend(fontsize=8)
    fig.suptitle(
        "masking: mean and 95 % interval over "
        f"{frame.seed.nunique()} seed(s); test MSE on whole, unmasked images",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def masking_figure(summary_path, *, dataset: str, selection: dict, outputs, dpi=150):
    """The masking figure of `dataset` from summary.csv.

    `selection` is the config's masking section: the ViT runs whose latent size,
    complexity, mask ratio, lam and seed it lists are drawn, and no others.
    """
    frame = pd.read_csv(summary_path)
    chosen = (frame.dataset == dataset) & (frame.arch == "vit")
    for key, column in (
        ("latent_dims", "latent_dim"),
        ("complexities", "complexity"),
        ("mask_ratios", "mask_ratio"),
        ("lams", "lam"),
        ("seeds", "seed"),
    ):
        chosen &= frame[column].isin(selection[key])
    if not chosen.any():
        raise ValueError(
            f"summary {summary_path} has no ViT runs of {dataset} that the masking "
            "section selects"
        )
    save_figure(masking(frame[chosen], dataset), outputs, dpi)
