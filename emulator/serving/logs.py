"""Logging for the emulator process, with CPR numbers masked in every line.

A CPR number is personal data: it may travel in requests, the journal and the ledger
(they keep what was sent), but it must never reach a log file, where it outlives every
retention rule. The masking sits in the *formatter* of each handler, so it covers the
message, its arguments, exception tracebacks and stack traces of every logger
(ours, gunicorn's, zeep's debug dumps of whole envelopes) in one place.
"""

from __future__ import annotations

import logging
import sys

from oir_adapter.domain.model import CPR_IN_TEXT, mask_cprs

__all__ = ["CPR_IN_TEXT", "CprMaskingFormatter", "configure_logging", "mask_cprs"]

LOG_FORMAT = "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"


class CprMaskingFormatter(logging.Formatter):
    """Wraps another formatter and masks CPR numbers in what it produces."""

    def __init__(self, inner: logging.Formatter | None = None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter(LOG_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return mask_cprs(self.inner.format(record))


def mask_handler(handler: logging.Handler) -> None:
    """Make ``handler`` mask CPR numbers (idempotent)."""
    if not isinstance(handler.formatter, CprMaskingFormatter):
        handler.setFormatter(CprMaskingFormatter(handler.formatter))


def configure_logging(level: str | int = "WARNING") -> None:
    """Route every logger through a CPR-masking stderr handler at ``level``.

    Called by ``oir serve`` in the master and in each worker; handlers that gunicorn set
    up for its own loggers are wrapped too. Safe to call more than once.
    """
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
        if not isinstance(level, int):
            level = logging.WARNING
    root = logging.getLogger()
    if not any(getattr(h, "_oir_masking", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler._oir_masking = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    for name in ("", "gunicorn.error", "gunicorn.access", "werkzeug"):
        for existing in logging.getLogger(name).handlers:
            mask_handler(existing)
    logging.lastResort = None  # no unmasked fallback handler
