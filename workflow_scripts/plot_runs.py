"""A figure built from saved run files: reconstructions or 3-D latents."""

from cremodels.logs import log_to
from cremodels.plots import run_figure

log_to(snakemake.log[0])
run_figure(
    snakemake.rule,
    files=list(snakemake.input),
    labels=snakemake.params.labels,
    dataset=snakemake.wildcards.dataset,
    outputs=list(snakemake.output),
    dpi=snakemake.params.dpi,
)
