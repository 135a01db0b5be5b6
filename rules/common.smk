# Helpers of every rule file: the validated config, the plan of runs and bundles,
# and the target list. Rule files hold rules only.

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
SUMMARY_FIGURES = ["accuracy_vs_lam", "mse_vs_lam", "tradeoff", "geometry_vs_lam"]


wildcard_constraints:
    dataset="|".join(PLAN.datasets),


def rule_name(stage, bundle):
    """Rule names are identifiers: train_digits_fc_z3_c1_<hash>."""
    return f"{stage}_" + "".join(c if c.isalnum() else "_" for c in bundle.id)


def job_resources(stage, bundle):
    """Cluster resources of a bundle's job: runtime grows with its run count."""
    res = CONFIG["resources"][stage]
    resources = {
        "mem_mb": res["mem_mb"],
        "runtime": res["runtime_base"] + res["runtime_per_run"] * len(bundle.runs),
    }
    if res["gpu"]:
        resources["gpu"] = res["gpu"]
    if res["gres"]:
        resources["gres"] = res["gres"]
    return resources


def plot_outputs(figure):
    return multiext(f"{RESULTS}/plots/{{dataset}}/{figure}", *PLOT_FORMATS)


def runs_of(dataset):
    return [run for run in PLAN.runs if run.dataset == dataset]


def example_runs(dataset):
    """Runs shown in the reconstruction grid: every lam of each arch, at the
    largest latent size, the first complexity and seed."""
    runs = runs_of(dataset)
    chosen = []
    for arch in sorted({r.arch for r in runs}):
        of_arch = [r for r in runs if r.arch == arch]
        pick = (
            max(r.latent_dim for r in of_arch),
            min(r.complexity for r in of_arch),
            min(r.mask_ratio for r in of_arch),
            min(r.seed for r in of_arch),
        )
        chosen += [
            r
            for r in of_arch
            if (r.latent_dim, r.complexity, r.mask_ratio, r.seed) == pick
        ]
    return chosen


def latent_3d_runs(dataset):
    """Runs of the 3-D latent figure: smallest, middle and largest lam per arch."""
    chosen = []
    runs = [r for r in runs_of(dataset) if r.latent_dim == 3]
    for arch in sorted({r.arch for r in runs}):
        of_arch = [r for r in runs if r.arch == arch]
        c = min(r.complexity for r in of_arch)
        s = min(r.seed for r in of_arch)
        m = min(r.mask_ratio for r in of_arch)
        of_arch = sorted(
            (r for r in of_arch if (r.complexity, r.seed, r.mask_ratio) == (c, s, m)),
            key=lambda r: r.lam,
        )
        picks = {0, len(of_arch) // 2, len(of_arch) - 1}
        chosen += [of_arch[i] for i in sorted(picks)]
    return chosen


def final_targets():
    targets = [f"{RESULTS}/summary.csv"]
    for dataset in PLAN.datasets:
        figures = SUMMARY_FIGURES + ["reconstructions"]
        if latent_3d_runs(dataset):
            figures.append("latents_3d")
        targets += [
            f"{RESULTS}/plots/{dataset}/{figure}{ext}"
            for figure in figures
            for ext in PLOT_FORMATS
        ]
    return targets
