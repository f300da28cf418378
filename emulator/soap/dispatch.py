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

from werkzeug.wrappers import Request, Response

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
        request = Request(environ)
        config = self.runtime.config
        refused = guard.check(request, config, guard.allowed_names(config))
        response = refused if refused is not None else serve(
            self.runtime, route.service, request, route.handlers)
        return respond(response, start_response)


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
