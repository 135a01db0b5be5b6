"""Train one bundle of runs; each run gets its model, history and run record."""

from cremodels.logs import log_to
from cremodels.train import train_job

log_to(snakemake.log[0])
train_job(prepared=snakemake.input.prepared, **snakemake.params.job)
