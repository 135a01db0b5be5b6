# Evaluation of every run of a bundle on the test split (never masked), plus the
# latents and reconstruction examples that later stages read.

for bundle in PLAN.bundles:

    rule:
        name:
            rule_name("evaluate", bundle)
        input:
            # ancient: see rules/train.smk
            prepared=ancient(PLAN.prepared(bundle.group.dataset)),
            models=[PLAN.run_files(run, "train")["model"] for run in bundle.runs],
        output:
            PLAN.bundle_outputs(bundle, "evaluate"),
        log:
            PLAN.log("evaluate", bundle.id),
        threads: CONFIG["resources"]["evaluate"]["threads"]
        resources:
            **job_resources("evaluate", bundle),
        params:
            fingerprint=PLAN.evaluate_fingerprint(bundle),
            job=lambda wildcards, output, bundle=bundle: PLAN.evaluate_job(bundle),
        script:
            "../workflow_scripts/evaluate.py"
