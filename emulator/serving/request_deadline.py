"""A request must arrive within a time limit, however slowly its bytes trickle in.

gunicorn's threaded worker hands a connection to a thread as soon as it is readable, and
the thread then reads the request's headers and body with blocking ``recv`` calls. A
client that sends one header line a second (slowloris), or a body a byte at a time, holds
that thread for as long as it likes; a few such clients hold every thread, and the
emulator stops answering anyone. A per-``recv`` socket timeout does not help: each drip
arrives in time.

:class:`DeadlineSource` is what the worker's HTTP parser reads from instead of the bare
socket: every ``recv`` waits at most until one deadline per phase — the headers within
``head_seconds`` of their first byte, then the body within ``body_seconds`` of the
headers. Headers too late get a bare ``408`` and the connection is closed; a body too
late raises :class:`TimeoutError`, which the SOAP pipeline answers as a 408 fault.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import time

#: ``recv`` flag: answer with what has arrived, or at once with EAGAIN
_DONTWAIT: int | None = getattr(socket, "MSG_DONTWAIT", None)
#: the answer to headers that did not arrive in time (the connection is closed after it)
_LATE_HEADERS = (b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
                 b"Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n\r\n%s")


class DeadlineSource:
    """The client socket as gunicorn's parser reads it (``recv``), against a deadline.

    The worker calls :meth:`expect_head` when a request may start on the connection,
    :meth:`expect_body` once its headers are parsed and :meth:`idle` after the answer.
    Everything else (``sendall``, ``fileno``…) is the socket's own."""

    def __init__(self, sock: socket.socket, *, head_seconds: float, body_seconds: float
                 ) -> None:
        self.sock = sock
        self.head_seconds = head_seconds
        self.body_seconds = body_seconds
        self._phase = "idle"
        self._deadline: float | None = None

    def expect_head(self) -> None:
        """A request may begin: its headers' time starts with their first byte."""
        self._phase, self._deadline = "head", None

    def expect_body(self) -> None:
        """The headers are in: the body's time starts now."""
        self._phase, self._deadline = "body", time.monotonic() + self.body_seconds

    def idle(self) -> None:
        self._phase, self._deadline = "idle", None

    def recv(self, size: int) -> bytes:
        if self._phase == "idle":
            return self.sock.recv(size)
        now = time.monotonic()
        if self._deadline is None:  # the first read of the headers
            self._deadline = now + self.head_seconds
        left = self._deadline - now
        if left <= 0:
            raise self._late()
        sock = self.sock
        before = sock.gettimeout()
        try:
            if before is None:
                if _DONTWAIT is not None:
                    # what has arrived already: one system call, as a plain recv (a
                    # timeout set and unset around each read would cost three more)
                    try:
                        return sock.recv(size, _DONTWAIT)
                    except BlockingIOError:
                        pass
            elif before <= left:
                return sock.recv(size)  # the caller's own, shorter timeout applies
            sock.settimeout(left)  # wait for more, until the deadline at most
            try:
                return sock.recv(size)
            finally:
                sock.settimeout(before)
        except TimeoutError:
            if time.monotonic() < self._deadline:  # the caller's own timeout
                raise
            raise self._late() from None

    def _late(self) -> OSError:
        if self._phase == "body":
            return TimeoutError(f"request body not received within {self.body_seconds:g} s")
        text = f"request headers not received within {self.head_seconds:g} s\n".encode()
        before = self.sock.gettimeout()
        with contextlib.suppress(OSError):
            self.sock.settimeout(1.0)  # a client that reads nothing does not hold us
            self.sock.sendall(_LATE_HEADERS % (len(text), text))
        with contextlib.suppress(OSError):
            self.sock.settimeout(before)
            # nothing more is read from this client: what it still sends is dropped
            self.sock.shutdown(socket.SHUT_RD)
        self.idle()
        # what gunicorn takes for a client gone away: closed quietly, nothing logged
        return ConnectionResetError(errno.ECONNRESET, "request headers arrived too slowly")

    def __getattr__(self, name: str) -> object:
        return getattr(self.sock, name)
