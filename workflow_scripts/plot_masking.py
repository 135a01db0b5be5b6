"""The masking figure of one dataset: probe accuracy and test MSE vs mask ratio."""

from cremodels.logs import log_to
from cremodels.plots import masking_figure

log_to(snakemake.log[0])
masking_figure(
    snakemake.input.summary,
    dataset=snakemake.wildcards.dataset,
    selection=snakemake.params.selection,
    outputs=list(snakemake.output),
    dpi=snakemake.params.dpi,
)
