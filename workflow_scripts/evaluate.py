"""Evaluate one bundle of trained runs on the test split."""

from cremodels.evaluate import evaluate_job
from cremodels.logs import log_to

log_to(snakemake.log[0])
evaluate_job(prepared=snakemake.input.prepared, **snakemake.params.job)
