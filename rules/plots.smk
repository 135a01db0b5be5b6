# Figures per dataset, PNG and PDF (plots.formats). Cheap, so they run locally.


localrules:
    plot_summary,
    plot_reconstructions,
    plot_latents_3d,


rule plot_summary:
    input:
        summary=f"{RESULTS}/summary.csv",
    output:
        plot_outputs("{figure}"),
    log:
        f"{RESULTS}/logs/plots/{{dataset}}_{{figure}}.log",
    wildcard_constraints:
        figure="|".join(SUMMARY_FIGURES),
    params:
        fingerprint=PLAN.fingerprint("plots", CONFIG["plots"], "plot_summary.py"),
        dpi=CONFIG["plots"]["dpi"],
    script:
        "../workflow_scripts/plot_summary.py"


rule plot_reconstructions:
    input:
        examples=lambda wildcards: [
            PLAN.run_files(run, "evaluate")["examples"]
            for run in example_runs(wildcards.dataset)
        ],
    output:
        plot_outputs("reconstructions"),
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
        plot_outputs("latents_3d"),
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
