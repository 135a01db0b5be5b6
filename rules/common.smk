# Helpers shared by the rule files (the validated config, the plan of runs and
# bundles, the target list); the rule files hold rules only.

import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

sys.path.insert(0, workflow.basedir)  # the cremodels package of this checkout

from cremodels.config import ConfigError, validate_config
from cremodels.plan import Plan, PlanError

# Validate the config before any job is planned; name every bad key.
try:
    CONFIG = validate_config(config)
    PLAN = Plan(CONFIG, Path(workflow.basedir))
except (ConfigError, PlanError) as err:
    raise WorkflowError(str(err)) from None

RESULTS = CONFIG["results_dir"]
PLOT_FORMATS = [f".{ext}" for ext in CONFIG["plots"]["formats"]]
SUMMARY_FIGURES = [
    "accuracy_vs_lam",
    "mse_vs_lam",
    "tradeoff",
    "geometry_vs_lam",
    "probes_vs_lam",
    "index_vs_latent",
    "index_vs_complexity",
]
# The question each figure answers: its category in `snakemake --report`.
FIGURE_CATEGORIES = {
    "accuracy_vs_lam": "trade-off",
    "mse_vs_lam": "trade-off",
    "tradeoff": "trade-off",
    "probes_vs_lam": "trade-off",
    "reconstructions": "trade-off",
    "index_vs_latent": "latent size",
    "index_vs_complexity": "complexity",
    "geometry_vs_lam": "geometry",
    "latents_3d": "geometry",
    "latents_pca": "geometry",
    "masking": "masking",
}


wildcard_constraints:
    dataset="|".join(PLAN.datasets),


def rule_name(stage, bundle):
    """Rule names are identifiers: train_digits_fc_z3_c1_<hash>."""
    return f"{stage}_" + "".join(c if c.isalnum() else "_" for c in bundle.id)


def job_resources(stage, bundle):
    """Cluster resources of a bundle's job, from config `resources.<stage>`.

    The SLURM plugin turns them into --mem, --time, --gpus or --gres and
    --partition (the rule's threads give --cpus-per-task). Runtime grows with the
    bundle's run count and with each attempt, so a retry after a timeout gets more.
    """
    res = CONFIG["resources"][stage]
    minutes = res["runtime_base"] + res["runtime_per_run"] * len(bundle.runs)
    resources = {
        "mem_mb": res["mem_mb"],
        "runtime": lambda wildcards, attempt, minutes=minutes: minutes * attempt,
    }
    for key, resource in (
        ("gpu", "gpu"),
        ("gres", "gres"),
        ("partition", "slurm_partition"),
    ):
        if res[key]:
            resources[resource] = res[key]
    return resources


def plot_outputs(figure):
    return multiext(f"{RESULTS}/plots/{{dataset}}/{figure}", *PLOT_FORMATS)


def report_plot_outputs(figure, caption, category=None):
    """A figure's output paths (every plot format) with one image, PNG or SVG if
    made, marked for report.html: its caption (rst under report/, relative to
    rules/), the question it answers as category, the dataset as subcategory."""
    paths = [f"{RESULTS}/plots/{{dataset}}/{figure}{ext}" for ext in PLOT_FORMATS]
    images = [i for i, ext in enumerate(PLOT_FORMATS) if ext in (".png", ".svg")]
    shown = images[0] if images else 0
    paths[shown] = report(
        paths[shown],
        caption=caption,
        category=category or FIGURE_CATEGORIES[figure],
        subcategory="{dataset}",
        labels={"figure": figure},
    )
    return paths


def runs_of(dataset):
    return [run for run in PLAN.runs if run.dataset == dataset]


def shown_runs(dataset, latent_allowed, spread):
    """Runs a per-run figure shows, per arch: its largest allowed latent size, the
    first complexity, mask ratio and seed; every lam, or (`spread`) the smallest,
    middle and largest."""
    runs = [r for r in runs_of(dataset) if latent_allowed(r.latent_dim)]
    chosen = []
    for arch in sorted({r.arch for r in runs}):
        of_arch = [r for r in runs if r.arch == arch]
        pick = (
            max(r.latent_dim for r in of_arch),
            min(r.complexity for r in of_arch),
            min(r.mask_ratio for r in of_arch),
            min(r.seed for r in of_arch),
        )
        setting = sorted(
            (
                r
                for r in of_arch
                if (r.latent_dim, r.complexity, r.mask_ratio, r.seed) == pick
            ),
            key=lambda r: r.lam,
        )
        if spread:
            setting = [
                setting[i] for i in sorted({0, len(setting) // 2, len(setting) - 1})
            ]
        chosen += setting
    return chosen


def example_runs(dataset):
    """The reconstruction grid: every lam at the largest latent size."""
    return shown_runs(dataset, lambda latent_dim: True, spread=False)


def latent_3d_runs(dataset):
    """The 3-D latent figure: runs with latent_dim 3."""
    return shown_runs(dataset, lambda latent_dim: latent_dim == 3, spread=True)


def latent_pca_runs(dataset):
    """The PCA latent figure: the largest latent size, if above 3."""
    return shown_runs(dataset, lambda latent_dim: latent_dim > 3, spread=True)


def summary_figure_applies(dataset, figure):
    """The trade-off index figures need two levels of the factor they vary."""
    factor = {"index_vs_latent": "latent_dim", "index_vs_complexity": "complexity"}
    if figure not in factor:
        return True
    return len({getattr(r, factor[figure]) for r in runs_of(dataset)}) > 1


def final_targets():
    targets = [
        f"{RESULTS}/summary.csv",
        f"{RESULTS}/claims.csv",
        f"{RESULTS}/tradeoff_index.csv",
        *PLAN.every_run_file(),
    ]
    for dataset in PLAN.datasets:
        figures = [f for f in SUMMARY_FIGURES if summary_figure_applies(dataset, f)]
        figures.append("reconstructions")
        if latent_3d_runs(dataset):
            figures.append("latents_3d")
        if latent_pca_runs(dataset):
            figures.append("latents_pca")
        masking = CONFIG["masking"]
        if masking["enabled"] and dataset in masking["datasets"]:
            figures.append("masking")
        targets += [
            f"{RESULTS}/plots/{dataset}/{figure}{ext}"
            for figure in figures
            for ext in PLOT_FORMATS
        ]
    return targets
