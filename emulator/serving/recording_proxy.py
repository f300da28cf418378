"""``oir record``: a recording proxy between a system under test and a real endpoint.

:class:`RecordingProxy` is a WSGI application. Every request is forwarded to the
upstream unchanged — method, path, query, headers (``SOAPAction`` included) and body —
and the upstream's status, headers and body come back unchanged. Hop-by-hop headers
(``Connection``, ``Transfer-Encoding``…) are the only ones left out, and ``Host`` names the
upstream, as for any proxy. Bodies stream in both directions (a large delivery is never
held in memory); on the way they are copied to scratch files. An exchange is numbered as
its request arrives, and once it is over :class:`~.folder.RecordingWriter` masks and
writes it under that number (``POST`` only: a ``GET ?wsdl``
is forwarded, with the upstream's address in it replaced by the proxy's so a client built
from it keeps calling through the proxy, but not recorded).

When the upstream is down or too slow the client gets a SOAP 1.1 fault saying so (HTTP
502 or 504), the problem is logged, and the exchange is recorded with its outcome and the
request, never with half an answer. ``oir record`` serves this application under gunicorn
(threaded workers, as ``oir serve``); tests serve it on a loopback thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter

from oir_adapter.recording.folder import Draft, RecordingError, RecordingWriter

log = logging.getLogger("oir.record")

_CHUNK = 64 * 1024
#: Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1).
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "proxy-authenticate",
                        "proxy-authorization", "te", "trailer", "trailers",
                        "transfer-encoding", "upgrade"})
#: How a WSGI environ's header keys are spelt on the wire where title case is wrong.
_SPELLING = {"SOAPACTION": "SOAPAction", "WWW_AUTHENTICATE": "WWW-Authenticate"}
#: A GET answer up to this size is scanned for the upstream's address (WSDL, XSD).
_REWRITE_MAX = 4 * 1024 * 1024

StartResponse = Callable[..., Any]


class _ClientBrokeOff(Exception):
    """The client stopped sending its body before the length it announced."""


def _header_name(key: str) -> str:
    bare = key[5:] if key.startswith("HTTP_") else key
    return _SPELLING.get(bare) or "-".join(part.capitalize() for part in bare.split("_"))


def request_headers(environ: dict[str, Any]) -> list[tuple[str, str]]:
    """Every header the client sent, in a readable spelling."""
    out = []
    for key, value in environ.items():
        if key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if key in ("CONTENT_TYPE", "CONTENT_LENGTH") and not value:
                continue
            out.append((_header_name(key), str(value)))
    return out


def _forwarded(headers: list[tuple[str, str]]) -> dict[str, str]:
    """The client's headers as the upstream gets them."""
    named = {v.strip().lower() for k, v in headers if k.lower() == "connection"
             for v in v.split(",")}
    skip = HOP_BY_HOP | named | {"host", "content-length"}
    return {k: v for k, v in headers if k.lower() not in skip}


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...

    def close(self) -> None: ...


class _TeeInput:
    """The client's body, read by ``requests`` as it sends it upstream, copied to a file.

    ``len`` tells ``requests`` the length the client announced, so the upstream gets the
    same ``Content-Length`` (without one the body goes on chunked, as it came)."""

    def __init__(self, stream: Any, length: int | None, sink: _Sink) -> None:
        self.stream = stream
        self.remaining = length
        self.sink = sink
        self.failed = False
        if length is not None:
            self.len = length

    def read(self, size: int = -1) -> bytes:
        if self.remaining is not None:
            if self.remaining <= 0:
                return b""
            size = self.remaining if size is None or size < 0 else min(size, self.remaining)
        try:
            data = self.stream.read(size if size and size > 0 else _CHUNK)
        except OSError as exc:
            self.failed = True
            raise _ClientBrokeOff(str(exc)) from exc
        if self.remaining is not None:
            if not data:
                self.failed = True
                raise _ClientBrokeOff(f"{self.remaining} bytes of the body never arrived")
            self.remaining -= len(data)
        self.sink.write(data)
        return data

    def chunks(self) -> Iterator[bytes]:
        while data := self.read(_CHUNK):
            yield data

    def drain(self) -> None:
        """Read what the client still sends (the exchange is recorded whole)."""
        try:
            for _ in self.chunks():
                pass
        except _ClientBrokeOff:
            pass


def _fault(message: str, status: int) -> tuple[str, list[tuple[str, str]], bytes]:
    from emulator.soap.envelope import SoapFault, fault_bytes

    body = fault_bytes(SoapFault("Server", message))
    return (f"{status} {HTTPStatus(status).phrase}",
            [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(body)))],
            body)


class RecordingProxy:
    """The WSGI application of ``oir record``."""

    def __init__(self, upstream: str, writer: RecordingWriter | None, *,
                 timeout: float = 60.0, connect_timeout: float = 5.0) -> None:
        parts = urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise RecordingError(f"--upstream {upstream!r}: give a base URL such as "
                                 "http://host:port")
        self.upstream = upstream.rstrip("/")
        self.writer = writer
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._local = threading.local()

    def session(self) -> requests.Session:
        """One session per serving thread (its connection pool is reused)."""
        found: requests.Session | None = getattr(self._local, "session", None)
        if found is None:
            found = requests.Session()
            found.headers.clear()  # only what the client sent goes upstream
            found.trust_env = False  # no proxy from the environment between us and upstream
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=4, max_retries=0)
            found.mount("http://", adapter)
            found.mount("https://", adapter)
            self._local.session = found
        return found

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> Iterable[bytes]:
        started = datetime.now().astimezone()
        t0 = time.perf_counter()
        method = str(environ.get("REQUEST_METHOD") or "GET").upper()
        raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        if not raw_uri:
            query = environ.get("QUERY_STRING") or ""
            raw_uri = quote(str(environ.get("PATH_INFO") or "/"), safe="/:@!$&'()*+,;=~%") \
                + (f"?{query}" if query else "")
        raw_uri = str(raw_uri)
        if "://" in raw_uri.split("?", 1)[0]:  # an absolute form: keep its path only
            raw_uri = "/" + raw_uri.split("://", 1)[1].partition("/")[2]
        url = self.upstream + raw_uri
        headers = request_headers(environ)
        path, _sep, query = raw_uri.partition("?")
        draft = Draft(started=started, method=method, path=path, query=query,
                      upstream_url=url, request_headers=headers)
        record = method == "POST" and self.writer is not None
        length_text = environ.get("CONTENT_LENGTH") or ""
        length = int(length_text) if length_text.isdigit() else None
        sink: _Sink
        if record:
            assert self.writer is not None
            self._number(draft)
            draft.request_raw, sink = self.writer.new_partial("request")
        else:
            sink = _Discard()
        has_body = length is not None and length > 0 or (
            length is None and bool(environ.get("HTTP_TRANSFER_ENCODING")))
        tee = _TeeInput(environ["wsgi.input"], length if has_body else 0, sink)
        body: Any = (tee if length is not None else tee.chunks()) if has_body else None
        try:
            upstream = self.session().request(
                method, url, data=body, headers=_forwarded(headers), stream=True,
                allow_redirects=False, timeout=(self.connect_timeout, self.timeout))
        except (requests.RequestException, _ClientBrokeOff) as exc:
            return self._failed(exc, tee, sink, draft, t0, record, start_response)
        draft.upstream_ms = (time.perf_counter() - t0) * 1000
        draft.upstream_status = draft.status = upstream.status_code
        draft.response_headers = list(upstream.raw.headers.items())
        status = f"{upstream.status_code} {upstream.reason or _phrase(upstream.status_code)}"
        out_headers = [(k, v) for k, v in draft.response_headers if k.lower() not in HOP_BY_HOP]
        if not record:
            sink.close()
            return self._pass_through(environ, upstream, status, out_headers, start_response)
        assert self.writer is not None
        draft.response_raw, response_sink = self.writer.new_partial("response")
        sink.close()
        start_response(status, out_headers)
        return _Relay(self, upstream, draft, response_sink, t0)

    # ------------------------------------------------------------ failures

    def _failed(self, exc: BaseException, tee: _TeeInput, sink: _Sink, draft: Draft,
                t0: float, record: bool, start_response: StartResponse) -> Iterable[bytes]:
        if tee.failed or isinstance(exc, _ClientBrokeOff):
            outcome, status = "client_broke_off", 400
            message = f"oir record: the request body did not arrive whole ({exc})"
        elif isinstance(exc, requests.ReadTimeout):
            outcome, status = "upstream_timeout", 504
            message = (f"oir record: upstream {self.upstream} did not answer within "
                       f"{self.timeout:g} s")
        elif isinstance(exc, requests.ConnectionError):
            outcome, status = "upstream_unreachable", 502
            message = f"oir record: upstream {self.upstream} is unreachable: {_reason(exc)}"
        else:
            outcome, status = "upstream_failed", 502
            message = f"oir record: upstream {self.upstream} failed: {_reason(exc)}"
        if outcome != "client_broke_off":
            tee.drain()
        sink.close()
        log.warning("%s %s: %s", draft.method, draft.path, message)
        status_line, headers, body = _fault(message, status)
        draft.status, draft.outcome, draft.error = status, outcome, message
        draft.response_headers = headers
        draft.elapsed_ms = (time.perf_counter() - t0) * 1000
        if record and self.writer is not None:
            self._commit(draft)
        start_response(status_line, headers)
        return [body]

    def _number(self, draft: Draft) -> None:
        """Number the exchange as its request arrives: the recording's order is the order
        the exchanges were asked in, whenever each answer's relaying ends."""
        assert self.writer is not None
        try:
            draft.seq = self.writer.reserve()
        except Exception:  # a full disk must not take the proxy down: numbered at commit
            log.exception("could not number %s %s", draft.method, draft.path)

    def _commit(self, draft: Draft) -> None:
        assert self.writer is not None
        try:
            ident = self.writer.commit(draft)
        except Exception:  # a full disk must not take the proxy down with it
            log.exception("could not record %s %s", draft.method, draft.path)
            return
        log.info("%s %s %s -> %s (%s) in %.1f ms", ident, draft.method, draft.path,
                 draft.status, draft.outcome, draft.elapsed_ms)

    # ------------------------------------------------------------ not recorded

    def _pass_through(self, environ: dict[str, Any], upstream: requests.Response, status: str,
                      headers: list[tuple[str, str]], start_response: StartResponse
                      ) -> Iterable[bytes]:
        declared = upstream.headers.get("Content-Length", "")
        small = declared.isdigit() and int(declared) <= _REWRITE_MAX
        if ("xml" in upstream.headers.get("Content-Type", "").lower() and small
                and not upstream.headers.get("Content-Encoding")):
            try:
                data = upstream.raw.read(_REWRITE_MAX + 1, decode_content=False)
            finally:
                upstream.close()
            own = f"{environ.get('wsgi.url_scheme', 'http')}://" \
                  f"{environ.get('HTTP_HOST') or environ.get('SERVER_NAME', '')}"
            data = data.replace(self.upstream.encode(), own.encode())
            headers = [(k, str(len(data)) if k.lower() == "content-length" else v)
                       for k, v in headers]
            start_response(status, headers)
            return [data]
        start_response(status, headers)
        return _Relay(self, upstream, None, None, time.perf_counter())


def _phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"


def _reason(exc: BaseException) -> str:
    """The innermost cause of a ``requests`` error in one line (no pool internals)."""
    inner: BaseException = exc
    while True:
        nxt = inner.__context__ or inner.__cause__
        if nxt is None or nxt is inner:
            break
        inner = nxt
    text = str(inner).strip() or type(inner).__name__
    if "] " in text and text.startswith("<"):  # urllib3's "<conn object>: Failed…[Errno…] x"
        text = text.rsplit("] ", 1)[1]
    for marker in ("Connection refused", "Name or service not known", "timed out",
                   "No route to host", "Connection reset"):
        if marker in text:
            return marker.lower()
    return text.splitlines()[0][:300]


class _Discard:
    """A sink for bodies that are not recorded."""

    def write(self, data: bytes) -> int:
        return len(data)

    def close(self) -> None:
        pass


class _Relay:
    """The upstream's body streamed to the client (and, when recording, to a file); the
    exchange is written when the server closes the iterable, i.e. when the last byte went
    out — or recorded as broken off, without the partial answer, if it never did."""

    def __init__(self, proxy: RecordingProxy, upstream: requests.Response, draft: Draft | None,
                 sink: IO[bytes] | None, t0: float) -> None:
        self.proxy = proxy
        self.upstream = upstream
        self.draft = draft
        self.sink = sink
        self.t0 = t0
        self.complete = False
        self.failure: BaseException | None = None

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self.upstream.raw.stream(_CHUNK, decode_content=False):
                if self.sink is not None:
                    self.sink.write(chunk)
                yield chunk
        except Exception as exc:
            self.failure = exc
            if self.draft is not None:
                log.warning("%s %s: upstream %s broke off the answer: %s", self.draft.method,
                            self.draft.path, self.proxy.upstream, _reason(exc))
            raise  # the server drops the connection: the client never sees half as whole
        self.complete = True

    def close(self) -> None:
        self.upstream.close()
        if self.sink is None or self.draft is None:
            return
        self.sink.close()
        draft = self.draft
        draft.elapsed_ms = (time.perf_counter() - self.t0) * 1000
        if not self.complete:
            failure = self.failure
            timed_out = failure is not None and "timed out" in str(failure).lower()
            draft.outcome = ("upstream_timeout" if timed_out else "upstream_broke_off") \
                if failure is not None else "client_broke_off"
            draft.error = (f"upstream answer broken off: {_reason(failure)}" if failure
                           else "the client stopped reading the answer")
            if draft.response_raw is not None:
                draft.response_raw.unlink(missing_ok=True)
                draft.response_raw = None
        self.proxy._commit(draft)


# ---------------------------------------------------------------- oir record

def run_recorder(*, upstream: str, host: str, port: int, out: Path, keep_cpr: bool,
                 timeout: float, threads: int, mask_headers: tuple[str, ...]) -> int:
    """Serve the proxy under gunicorn until stopped; returns the exit status."""
    import click
    from gunicorn.app.base import BaseApplication

    from emulator.serving.logs import configure_logging

    level = "info"
    configure_logging(level)
    try:
        proxy = RecordingProxy(upstream, None, timeout=timeout)  # checks the URL first
        writer = proxy.writer = RecordingWriter(out, upstream=upstream, keep_cpr=keep_cpr,
                                                mask_headers=mask_headers)
    except RecordingError as exc:
        raise click.ClickException(str(exc)) from None

    def finished(_arbiter: Any) -> None:
        writer.clean_partial()
        click.echo(f"oir record: stopped; {out} holds {_count(out)} exchange(s)")

    class _App(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", 1)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", threads)
            self.cfg.set("timeout", max(30, int(timeout) + 30))
            self.cfg.set("graceful_timeout", max(10, int(timeout) + 5))
            self.cfg.set("keepalive", 5)
            self.cfg.set("control_socket_disable", True)  # one per host: not ours to take
            self.cfg.set("accesslog", None)
            self.cfg.set("loglevel", level)
            self.cfg.set("on_starting", lambda _arbiter: configure_logging(level))
            self.cfg.set("on_exit", finished)

        def load(self) -> Any:
            configure_logging(level)
            return proxy

    click.echo(f"oir record: http://{host}:{port} -> {proxy.upstream}, recording into {out} "
               f"(CPR numbers {'kept' if keep_cpr else 'masked'})")
    click.echo("  stop with Ctrl-C or SIGTERM; exchanges in flight are finished or left out")
    _App().run()
    return 0


def _count(folder: Path) -> int:
    from oir_adapter.recording.folder import Recording

    try:
        return len(Recording.open(folder).exchanges)
    except RecordingError:
        return 0
