# Training: one job per bundle of runs (see cremodels/plan.py). Each job trains up
# to train.pack_size runs together and writes every run's own directory.
# Rerun trigger: `fingerprint` (settings of the bundle's group + training code).

for bundle in PLAN.bundles:

    rule:
        name:
            rule_name("train", bundle)
        input:
            # ancient: re-making the same prepared file (`--force` on it, another
            # study sharing data.root) retrains nothing. Everything that decides its
            # content is in its name (Plan.prepared), so it is re-made in place
            # only when missing or forced: Snakemake 9 neither checks the params of
            # a job whose ancient input is re-made in the same invocation nor skips
            # it when that input was missing (then all runs on the dataset retrain).
            prepared=ancient(PLAN.prepared(bundle.group.dataset)),
        output:
            PLAN.bundle_outputs(bundle, "train"),
        log:
            PLAN.log("train", bundle.id),
        benchmark:
            f"{RESULTS}/benchmarks/train/{bundle.id}.tsv"
        threads: CONFIG["resources"]["train"]["threads"]
        resources:
            **job_resources("train", bundle),
        params:
            fingerprint=PLAN.train_fingerprint(bundle),
            # derived from the outputs, so not part of the params rerun trigger
            job=lambda wildcards, output, bundle=bundle: PLAN.train_job(bundle),
        script:
            "../workflow_scripts/train.py"
