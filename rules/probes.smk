# Information probes of every run of a bundle: an MLP classifier and a fresh
# decoder of the run's architecture, trained on its frozen latents (GPU if present).

for bundle in PLAN.bundles:

    rule:
        name:
            rule_name("probes", bundle)
        input:
            # ancient: see rules/train.smk
            prepared=ancient(PLAN.prepared(bundle.group.dataset)),
            models=[PLAN.run_files(run, "train")["model"] for run in bundle.runs],
            latents=[PLAN.run_files(run, "evaluate")["latents"] for run in bundle.runs],
        output:
            PLAN.bundle_outputs(bundle, "probes"),
        log:
            PLAN.log("probes", bundle.id),
        threads: CONFIG["resources"]["probes"]["threads"]
        resources:
            **job_resources("probes", bundle),
        params:
            fingerprint=PLAN.probes_fingerprint(bundle),
            job=lambda wildcards, output, bundle=bundle: PLAN.probes_job(bundle),
        script:
            "../workflow_scripts/probes.py"
