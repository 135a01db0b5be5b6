"""Latent-geometry metrics of one bundle of runs."""

from cremodels.geometry import geometry_job
from cremodels.logs import log_to

log_to(snakemake.log[0])
geometry_job(**snakemake.params.job)
