"""A gunicorn ``gthread`` worker that leaves new connections to a less busy sibling.

Every worker of ``oir serve --workers N`` waits on the same listening socket, and the
kernel wakes them all for each new connection: the first to call ``accept`` gets it.
With keep-alive clients that open their connections at once (a test suite's session
pool, a load generator) one worker often ends up holding all of them while the others
idle, and since a worker runs Python on one core at a time (the GIL), the emulator then
uses one core of several. This worker accepts at once while it holds few connections;
beyond that it first gives the others a moment to take the connection.
"""

from __future__ import annotations

import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

#: how long a worker that already holds its share waits before it takes a connection
DEFER_SECONDS = 0.002


class BalancedThreadWorker(ThreadWorker):
    """``gthread`` with connections spread over the workers (see the module docstring)."""

    def accept(self, listener: Any) -> None:
        if self.nr_conns >= max(1, self.cfg.threads // 2):
            time.sleep(DEFER_SECONDS)  # a sibling with fewer connections accepts first
        super().accept(listener)
