# Data preparation: one job per dataset, run where the workflow runs (it may need
# the network or local raw files), writing the tensor file every training job reads.


localrules:
    prepare_data,


rule prepare_data:
    output:
        prepared=PLAN.prepared("{dataset}"),
    log:
        f"{RESULTS}/logs/prepare_data/{{dataset}}.log",
    params:
        fingerprint=lambda wildcards: PLAN.fingerprint(
            "data", PLAN.data_settings(wildcards.dataset), "prepare_data.py"
        ),
        settings=lambda wildcards: PLAN.data_settings(wildcards.dataset),
        # <data.root>/prepared/<dataset>.pt -> <data.root>
        root=lambda wildcards, output: str(Path(output.prepared).parents[1]),
    script:
        "../workflow_scripts/prepare_data.py"
