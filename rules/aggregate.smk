# One tidy table of every run of the config: factors, metrics, cost, provenance.


localrules:
    aggregate,


rule aggregate:
    input:
        info=PLAN.all_run_files("train", "info"),
        metrics=PLAN.all_run_files("evaluate", "metrics"),
        geometry=PLAN.all_run_files("geometry", "geometry"),
    output:
        summary=f"{RESULTS}/summary.csv",
    log:
        f"{RESULTS}/logs/aggregate.log",
    params:
        fingerprint=PLAN.fingerprint("aggregate", {}, "aggregate.py"),
    script:
        "../workflow_scripts/aggregate.py"
