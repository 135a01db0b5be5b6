# Classification-reconstruction encoders: train -> evaluate -> latent geometry ->
# summary and plots, for every run of the config's grid. See README.md.

from snakemake.utils import min_version

min_version("9.11")


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/geometry.smk"
include: "rules/probes.smk"
include: "rules/aggregate.smk"
include: "rules/plots.smk"


rule all:
    default_target: True
    input:
        final_targets(),
