"""The background thread: it sends what the outbox holds, runs the virtual days that are
due, and keeps the journal to its size. It sits above the outbox (the queue) and the day
loop (:mod:`emulator.days`), so neither imports the other's caller.
"""

from __future__ import annotations

import logging
import threading
import time

from emulator import days as chain
from emulator.outbox import drain, prune_journal
from emulator.runtime import Runtime

log = logging.getLogger(__name__)


class OutboxWorker:
    """A daemon thread that drains the outbox when woken and every few seconds, and lets
    the virtual day roll on when the clock follows real time."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="oir-outbox", daemon=True)
        self._pruned = float("-inf")

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.runtime.config.outbox_poll_seconds)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                drain(self.runtime)
                chain.catch_up(self.runtime)
                self._prune_journal()
            except Exception:  # keep the worker alive; the next round retries
                log.exception("outbox worker round failed")

    _PRUNE_EVERY_SECONDS = 60.0

    def _prune_journal(self) -> None:
        """Keep the journal to ``journal_keep_days`` (see :func:`journal.prune`): once a
        minute, in batches, each in a short transaction of its own."""
        keep = self.runtime.config.journal_keep_days
        now = time.monotonic()
        if keep is None or now - self._pruned < self._PRUNE_EVERY_SECONDS:
            return
        self._pruned = now
        prune_journal(self.runtime, keep)
