# One tidy table of every run of the config: factors, metrics, cost, provenance.


localrules:
    aggregate,
    claims,


rule aggregate:
    input:
        info=PLAN.all_run_files("train", "info"),
        metrics=PLAN.all_run_files("evaluate", "metrics"),
        geometry=PLAN.all_run_files("geometry", "geometry"),
        probes=PLAN.all_run_files("probes", "probes"),
    output:
        summary=report(
            f"{RESULTS}/summary.csv",
            caption="../report/summary.rst",
            category="summary",
            labels={"table": "summary: one row per run"},
        ),
    log:
        f"{RESULTS}/logs/aggregate.log",
    params:
        fingerprint=PLAN.fingerprint("aggregate", {}, "aggregate.py"),
    script:
        "../workflow_scripts/aggregate.py"


# The study's claims checked on the summary, with bootstrap intervals over seeds,
# and the trade-off index of every group (cremodels/analysis.py).
rule claims:
    input:
        summary=f"{RESULTS}/summary.csv",
    output:
        claims=report(
            f"{RESULTS}/claims.csv",
            caption="../report/claims.rst",
            category="summary",
            labels={"table": "claims: verdicts with 95 % intervals"},
        ),
        tradeoff=report(
            f"{RESULTS}/tradeoff_index.csv",
            caption="../report/tradeoff_index.rst",
            category="summary",
            labels={"table": "trade-off index per group"},
        ),
        html=report(
            f"{RESULTS}/claims.html",
            caption="../report/claims.rst",
            category="summary",
            labels={"table": "claims and trade-off index (view)"},
        ),
    log:
        f"{RESULTS}/logs/claims.log",
    params:
        fingerprint=PLAN.fingerprint("claims", CONFIG["analysis"], "claims.py"),
        bootstrap=CONFIG["analysis"]["bootstrap"],
        seed=CONFIG["analysis"]["seed"],
    script:
        "../workflow_scripts/claims.py"
