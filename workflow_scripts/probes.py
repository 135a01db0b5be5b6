"""Information probes (MLP classifier, fresh decoder) of one bundle of runs."""

from cremodels.logs import log_to
from cremodels.probes import probes_job

log_to(snakemake.log[0])
probes_job(prepared=snakemake.input.prepared, **snakemake.params.job)
