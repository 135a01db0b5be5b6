"""One summary figure of one dataset (accuracy/MSE/geometry vs lam, trade-off)."""

from cremodels.logs import log_to
from cremodels.plots import summary_figure

log_to(snakemake.log[0])
summary_figure(
    snakemake.input.summary,
    figure=snakemake.wildcards.figure,
    dataset=snakemake.wildcards.dataset,
    outputs=list(snakemake.output),
    dpi=snakemake.params.dpi,
    vit_mask_ratio=snakemake.params.vit_mask_ratio,
)
