# Data preparation: one job per dataset, run where the workflow runs (it may need
# the network or local raw files), writing the tensor file every training job reads.


localrules:
    prepare_data,


rule prepare_data:
    output:
        # <dataset>-<digest of its split settings and code>.pt, see Plan.prepared;
        # the name is the rerun trigger: no fingerprint parameter
        prepared=f"{CONFIG['data']['root']}/prepared/{{dataset}}-{{split}}.pt",
    log:
        f"{RESULTS}/logs/prepare_data/{{dataset}}-{{split}}.log",
    wildcard_constraints:
        split="[0-9a-f]{8}",
    params:
        # where raw files are may change without changing the prepared content
        settings=lambda wildcards, output: PLAN.data_settings(wildcards.dataset),
        # <data.root>/prepared/<file> -> <data.root>
        root=lambda wildcards, output: str(Path(output.prepared).parents[1]),
    script:
        "../workflow_scripts/prepare_data.py"
