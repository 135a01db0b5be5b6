"""Logging of workflow jobs: records and tracebacks go to the rule's log file."""

from __future__ import annotations

import logging
import sys


def log_to(path) -> None:
    """Send the package's log records and this process's stderr to `path`."""
    stream = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the job
    sys.stderr = stream
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[logging.StreamHandler(stream)],
        force=True,
    )
