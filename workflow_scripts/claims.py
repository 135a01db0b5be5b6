"""Check the study's claims on summary.csv; write claims.csv and the trade-off
index table, and log both."""

from cremodels.analysis import claims_job
from cremodels.logs import log_to

log_to(snakemake.log[0])
claims_job(
    snakemake.input.summary,
    claims_path=snakemake.output.claims,
    tradeoff_path=snakemake.output.tradeoff,
    html_path=snakemake.output.html,
    resamples=snakemake.params.bootstrap,
    seed=snakemake.params.seed,
)
