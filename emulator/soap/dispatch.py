"""The SOAP dispatcher: a thin WSGI layer in front of Flask that takes the SOAP POSTs.

Flask keeps everything a browser or an operator asks for (WSDL, XSDs, the admin API, the
dashboard). A SOAP POST to a service path needs none of Flask's machinery — URL map,
application and request contexts, signals, before/after hooks — and paid ~100 µs for it
on every request. Here it goes straight from the WSGI environ into the pipeline
(:func:`emulator.soap.pipeline.serve`) and its answer straight back to the server, after
the same guard every Flask view has (:func:`emulator.web.guard.check`: the Host name and
a cross-site Origin are refused alike). Whatever the dispatcher does not take (another
method or path) it hands to Flask unchanged, so the app still serves the same URLs, and
every caller — gunicorn, werkzeug's server, Flask's test client, the in-process transport
— reaches the same pipeline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from werkzeug.datastructures import EnvironHeaders, MultiDict
from werkzeug.sansio.utils import get_content_length, get_host
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import get_input_stream

from emulator.soap.pipeline import OperationHandler, serve
from emulator.web import guard
from oir_adapter.contracts import Service

if TYPE_CHECKING:
    from emulator.runtime import Runtime

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True, slots=True)
class Route:
    """What answers SOAP at one path: the service and its end's handlers."""

    service: Service
    handlers: dict[str, OperationHandler]


class SoapDispatcher:
    """``app.wsgi_app = SoapDispatcher(app.wsgi_app, runtime, routes)``: POSTs to a path in
    ``routes`` are answered by the SOAP pipeline, everything else by ``fallback``."""

    def __init__(self, fallback: WSGIApp, runtime: Runtime, routes: dict[str, Route]) -> None:
        self.fallback = fallback
        self.runtime = runtime
        self.routes = routes

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        route = (self.routes.get(environ.get("PATH_INFO", ""))
                 if environ.get("REQUEST_METHOD") == "POST" else None)
        if route is None:
            return self.fallback(environ, start_response)
        # a query string (none in SOAP) needs werkzeug's parsing for the guard's NUL check
        request = (SoapRequest(environ) if not environ.get("QUERY_STRING")
                   else Request(environ))
        config = self.runtime.config
        refused = guard.check(request, config, guard.allowed_names(config))
        response = refused if refused is not None else serve(
            self.runtime, route.service, request, route.handlers)
        return respond(response, start_response)


class SoapRequest:
    """What the guard and the pipeline read of a request without a query string, read
    straight from the environ with werkzeug's own helpers (so every value is what
    ``werkzeug.Request`` would give). Building a ``Request`` computes a dozen values eagerly
    and cost ~30 µs a SOAP POST; this computes the few that are asked for."""

    __slots__ = ("environ", "headers", "query_string")

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ
        self.headers = EnvironHeaders(environ)
        self.query_string = b""

    @property
    def method(self) -> str:
        return str(self.environ.get("REQUEST_METHOD", "GET")).upper()

    @property
    def path(self) -> str:
        raw = str(self.environ.get("PATH_INFO", ""))
        return "/" + raw.encode("latin-1").decode("utf-8", "replace").lstrip("/")

    @property
    def scheme(self) -> str:
        return str(self.environ.get("wsgi.url_scheme", "http"))

    @property
    def remote_addr(self) -> str | None:
        return self.environ.get("REMOTE_ADDR")

    @property
    def host(self) -> str:
        name = self.environ.get("SERVER_NAME")
        port = str(self.environ.get("SERVER_PORT") or "")
        server = (name, int(port) if port.isdigit() else None) if name else None
        return get_host(self.scheme, self.headers.get("host"), server)

    @property
    def mimetype(self) -> str:
        return str(self.environ.get("CONTENT_TYPE", "")).partition(";")[0].strip().lower()

    @property
    def content_length(self) -> int | None:
        return get_content_length(self.headers.get("Content-Length"),
                                  self.headers.get("Transfer-Encoding"))

    @property
    def args(self) -> MultiDict[str, str]:
        return MultiDict()  # it has no query string

    @property
    def stream(self) -> Any:
        return get_input_stream(self.environ, max_content_length=None)


def respond(response: Response, start_response: Callable[..., Any]) -> list[bytes]:
    """Hand a finished, in-memory ``response`` to the server: its status, its headers with
    the body's length, and the body (what ``Response.__call__`` does, without preparing
    for streamed or conditional answers no SOAP reply is)."""
    body = response.get_data()
    headers = response.headers.to_wsgi_list()
    if "Content-Length" not in response.headers:
        headers.append(("Content-Length", str(len(body))))
    start_response(response.status, headers)
    return [body]
