# Latent geometry of every run of a bundle, from its saved latents (CPU only).

for bundle in PLAN.bundles:

    rule:
        name:
            rule_name("geometry", bundle)
        input:
            latents=[PLAN.run_files(run, "evaluate")["latents"] for run in bundle.runs],
        output:
            PLAN.bundle_outputs(bundle, "geometry"),
        log:
            PLAN.log("geometry", bundle.id),
        threads: CONFIG["resources"]["geometry"]["threads"]
        resources:
            **job_resources("geometry", bundle),
        params:
            fingerprint=PLAN.geometry_fingerprint(bundle),
            job=lambda wildcards, output, bundle=bundle: PLAN.geometry_job(bundle),
        script:
            "../workflow_scripts/geometry.py"
