"""The emulator's gunicorn worker: ``gthread`` that spreads connections over the workers
and gives each request a time limit to arrive.

Every worker of ``oir serve --workers N`` waits on the same listening socket, and the
kernel wakes them all for each new connection: the first to call ``accept`` gets it.
With keep-alive clients that open their connections at once (a test suite's session
pool, a load generator) one worker often ends up holding all of them while the others
idle, and since a worker runs Python on one core at a time (the GIL), the emulator then
uses one core of several. This worker accepts at once while it holds few connections;
beyond that it first gives the others a moment to take the connection.

A client that trickles its request in holds a thread while it does; its parser reads
through :class:`~emulator.serving.request_deadline.DeadlineSource`, so headers must arrive within
:attr:`BalancedThreadWorker.head_seconds` and the body within
:attr:`BalancedThreadWorker.body_seconds` (set by ``oir serve`` from the emulator's
configuration).

When a connection ends, gunicorn (from 27) closes it "gracefully" on the worker's main
thread: it half-closes, then reads until the client closes too, for up to 2 s. A client
that keeps its socket open after a ``Connection: close`` answer so stalls every other
connection of the worker; here the close reads only what has already arrived. Likewise a
new connection that has sent nothing yet goes back to the poller at once, where gunicorn
27 would hold a thread for 5 s waiting on it.
"""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Any

from gunicorn import http
from gunicorn.workers import gthread
from gunicorn.workers.gthread import ThreadWorker

from emulator.serving.request_deadline import DeadlineSource

#: how long a worker that already holds its share waits before it takes a connection
DEFER_SECONDS = 0.002
#: how long a thread waits for a new connection's first bytes before the poller does
FIRST_BYTE_SECONDS = 0.05
#: gunicorn's "hand this connection back to the poller" answer (gunicorn 27 and later;
#: before, new connections waited on the poller anyway)
_DEFER = getattr(gthread, "_DEFER", None)


class BalancedThreadWorker(ThreadWorker):
    """``gthread`` with connections spread over the workers and a deadline for each
    request to arrive (see the module docstring)."""

    #: the request line and headers must arrive within this of their first byte
    head_seconds: float = 5.0
    #: the body must arrive within this of the headers (``OIR_BODY_TIMEOUT_SECONDS``)
    body_seconds: float = 30.0

    def accept(self, listener: Any) -> None:
        if self.nr_conns >= max(1, self.cfg.threads // 2):
            time.sleep(DEFER_SECONDS)  # a sibling with fewer connections accepts first
        super().accept(listener)

    def handle(self, conn: Any) -> Any:
        if (_DEFER is not None and not getattr(conn, "initialized", True)
                and not getattr(conn, "data_ready", True)
                and not conn.wait_for_data(FIRST_BYTE_SECONDS)):
            # a new connection with nothing sent yet waits on the poller, not in a thread
            # (gunicorn 27 would keep the thread for 5 s: a few silent connections, a
            # browser's preconnects say, and the worker served no one meanwhile)
            return _DEFER
        if conn.parser is None and not self.cfg.is_ssl:
            # before TConn.init builds the parser on the bare socket (plain HTTP/1.x only)
            conn.deadline = DeadlineSource(conn.sock, head_seconds=self.head_seconds,
                                           body_seconds=self.body_seconds)
            conn.parser = http.RequestParser(self.cfg, conn.deadline, conn.client)
            conn.close = lambda graceful=False, sock=conn.sock: close_without_lingering(
                sock, graceful=graceful)
        source: DeadlineSource | None = getattr(conn, "deadline", None)
        if source is not None:
            source.expect_head()
        try:
            return super().handle(conn)
        finally:
            if source is not None:
                source.idle()

    def handle_request(self, req: Any, conn: Any) -> Any:
        source: DeadlineSource | None = getattr(conn, "deadline", None)
        if source is not None:
            source.expect_body()
        return super().handle_request(req, conn)


def close_without_lingering(sock: socket.socket, *, graceful: bool = False) -> None:
    """Close a client connection from the worker's main thread without waiting on the
    client: half-close (so the answer is not cut by a reset), drop what has already
    arrived (up to 64 KiB), close. Called by gunicorn as ``conn.close(graceful=…)``."""
    if graceful:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            sock.setblocking(False)
            drained = 0
            while drained < 65536:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                drained += len(chunk)
    with contextlib.suppress(OSError):
        sock.close()
