"""Shared by the package's small commands (`python -m cremodels.<command>`)."""

from __future__ import annotations

import logging


def report_to(log: logging.Logger, stream) -> None:
    """Make `log` print plain lines to `stream`: a command's report is its output."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.handlers = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
