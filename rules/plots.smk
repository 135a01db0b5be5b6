# Figures per dataset, PNG and PDF (plots.formats). Cheap, so they run locally.
# Each figure goes into `snakemake --report` with its caption from report/.


localrules:
    plot_summary,
    plot_reconstructions,
    plot_latents_3d,
    plot_latents_pca,


rule plot_summary:
    input:
        summary=f"{RESULTS}/summary.csv",
    output:
        report_plot_outputs(
            "{figure}",
            caption="../report/summary_figure.rst",
            category=lambda wildcards: FIGURE_CATEGORIES[wildcards.figure],
        ),
    log:
        f"{RESULTS}/logs/plots/{{dataset}}_{{figure}}.log",
    wildcard_constraints:
        figure="|".join(SUMMARY_FIGURES),
    params:
        fingerprint=PLAN.fingerprint("plots", CONFIG["plots"], "plot_summary.py"),
        dpi=CONFIG["plots"]["dpi"],
        # the masking experiment's other ViT mask ratios have their own figure
        vit_mask_ratio=CONFIG["model"]["vit"]["mask_ratio"],
    script:
        "../workflow_scripts/plot_summary.py"


rule plot_reconstructions:
    input:
        examples=lambda wildcards: [
            PLAN.run_files(run, "evaluate")["examples"]
            for run in example_runs(wildcards.dataset)
        ],
    output:
        report_plot_outputs("reconstructions", caption="../report/reconstructions.rst"),
    log:
        f"{RESULTS}/logs/plots/{{dataset}}_reconstructions.log",
    params:
        fingerprint=PLAN.fingerprint("plots", CONFIG["plots"], "plot_runs.py"),
        dpi=CONFIG["plots"]["dpi"],
        labels=lambda wildcards, input: [
            f"{run.arch} λ={run.lam:g}" for run in example_runs(wildcards.dataset)
        ],
    script:
        "../workflow_scripts/plot_runs.py"


rule plot_latents_3d:
    input:
        latents=lambda wildcards: [
            PLAN.run_files(run, "evaluate")["latents"]
            for run in latent_3d_runs(wildcards.dataset)
        ],
    output:
        report_plot_outputs("latents_3d", caption="../report/latents_3d.rst"),
    log:
        f"{RESULTS}/logs/plots/{{dataset}}_latents_3d.log",
    params:
        fingerprint=PLAN.fingerprint("plots", CONFIG["plots"], "plot_runs.py"),
        dpi=CONFIG["plots"]["dpi"],
        labels=lambda wildcards, input: [
            f"{run.arch} λ={run.lam:g}" for run in latent_3d_runs(wildcards.dataset)
        ],
    script:
        "../workflow_scripts/plot_runs.py"


rule plot_latents_pca:
    input:
        latents=lambda wildcards: [
            PLAN.run_files(run, "evaluate")["latents"]
            for run in latent_pca_runs(wildcards.dataset)
        ],
    output:
        report_plot_outputs("latents_pca", caption="../report/latents_pca.rst"),
    log:
        f"{RESULTS}/logs/plots/{{dataset}}_latents_pca.log",
    params:
        fingerprint=PLAN.fingerprint("plots", CONFIG["plots"], "plot_runs.py"),
        dpi=CONFIG["plots"]["dpi"],
        labels=lambda wildcards, input: [
            f"{run.arch} z={run.latent_dim} λ={run.lam:g}"
            for run in latent_pca_runs(wildcards.dataset)
        ],
    script:
        "../workflow_scripts/plot_runs.py"


# The masking experiment (config `masking`): ViT runs only, so only when enabled.
if CONFIG["masking"]["enabled"]:

    localrules:
        plot_masking,

    rule plot_masking:
        input:
            summary=f"{RESULTS}/summary.csv",
        output:
            report_plot_outputs("masking", caption="../report/masking.rst"),
        log:
            f"{RESULTS}/logs/plots/{{dataset}}_masking.log",
        params:
            fingerprint=PLAN.fingerprint(
                "plots",
                {"plots": CONFIG["plots"], "masking": CONFIG["masking"]},
                "plot_masking.py",
            ),
            dpi=CONFIG["plots"]["dpi"],
            selection=CONFIG["masking"],
        script:
            "../workflow_scripts/plot_masking.py"
