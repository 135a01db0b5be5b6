"""Collect every run's records into summary.csv."""

from cremodels.aggregate import summarize
from cremodels.logs import log_to

log_to(snakemake.log[0])
records = [
    {"info": info, "metrics": metrics, "geometry": geometry, "probes": probes}
    for info, metrics, geometry, probes in zip(
        snakemake.input.info,
        snakemake.input.metrics,
        snakemake.input.geometry,
        snakemake.input.probes,
        strict=True,
    )
]
summarize(records, snakemake.output.summary)
