"""Parameter count of every (arch, complexity) pair, for each dataset.

    python -m cremodels.models [--latent-dim 16] [--markdown]

Counts depend on the latent size (the FC and CNN bottleneck layers scale with
it); ViT models use the default patch sizes of `schemas/config.schema.yaml`.
"""

from __future__ import annotations

import argparse
import logging
import sys

from cremodels.catalog import DATASETS
from cremodels.cli import report_to
from cremodels.config import validate_config
from cremodels.models import LEVELS, build_model, count_parameters

log = logging.getLogger("cremodels.models")


def parameter_table(latent_dim: int) -> list[dict]:
    """One row per (arch, complexity): the parameter count on every dataset."""
    defaults = validate_config(
        {
            "grid": {
                "datasets": ["digits"],
                "archs": ["fc"],
                "lams": [0.0],
                "latent_dims": [1],
                "complexities": [1],
                "seeds": [0],
            }
        }
    )
    patch_sizes = defaults["model"]["vit"]["patch_size"]
    rows = []
    for arch, levels in LEVELS.items():
        for complexity, sizes in levels.items():
            row = {"arch": arch, "complexity": complexity, "sizes": sizes}
            for dataset, facts in DATASETS.items():
                options = {"patch_size": patch_sizes[dataset]} if arch == "vit" else {}
                model = build_model(
                    arch=arch,
                    input_shape=facts["shape"],
                    num_classes=facts["classes"],
                    latent_dim=latent_dim,
                    complexity=complexity,
                    **options,
                )
                row[dataset] = count_parameters(model)
            rows.append(row)
    return rows


def _sizes(sizes) -> str:
    """A level's dataclass as `key=value` pairs, tuples without spaces."""
    fields = vars(sizes)
    return ", ".join(
        f"{key}={str(value).replace(' ', '')}" for key, value in fields.items()
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m cremodels.models", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--latent-dim", type=int, default=16)
    parser.add_argument(
        "--markdown", action="store_true", help="print a markdown table"
    )
    args = parser.parse_args(argv)
    report_to(log, sys.stdout)

    rows = parameter_table(args.latent_dim)
    datasets = list(DATASETS)
    log.info("parameters per model at latent_dim = %d", args.latent_dim)
    if args.markdown:
        log.info("| arch | level | sizes | %s |", " | ".join(datasets))
        log.info("|---|---|---|%s", "---:|" * len(datasets))
        for row in rows:
            counts = " | ".join(f"{row[d]:,}" for d in datasets)
            log.info(
                "| %s | %d | %s | %s |",
                row["arch"],
                row["complexity"],
                _sizes(row["sizes"]),
                counts,
            )
        return
    log.info("%-4s %5s %s", "arch", "level", "".join(f"{d:>15}" for d in datasets))
    for row in rows:
        counts = "".join(f"{row[d]:>15,}" for d in datasets)
        log.info("%-4s %5d %s", row["arch"], row["complexity"], counts)


if __name__ == "__main__":
    main()
