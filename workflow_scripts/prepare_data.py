"""Verify a dataset's raw files and write its prepared tensor file."""

from cremodels.data import prepare_dataset
from cremodels.logs import log_to

log_to(snakemake.log[0])
settings = snakemake.params.settings
prepare_dataset(
    settings["name"],
    root=snakemake.params.root,
    out_path=snakemake.output.prepared,
    raw_dir=settings["raw_dir"],
    download=settings["download"],
    checksums=settings["checksums"],
    val_fraction=settings["val_fraction"],
    split_seed=settings["split_seed"],
)
