"""A ``requests`` transport adapter that answers from a WSGI app in the same process.

The debtor end always reaches the PSRM and fagsystem ends through a real SOAP client;
when the emulator runs without a socket (tests on Flask's test client, benchmarks, the
night batch in-process) this adapter is the seam that carries those calls, like httpx's
mock transport. It builds the WSGI environ itself (werkzeug's test client prepares far
more — cookies, redirects, multipart — than one SOAP POST needs) and calls the app, so a
call costs what the emulator's own WSGI entry costs.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from io import BytesIO
from typing import Any
from urllib.parse import unquote, urlsplit

from requests import PreparedRequest, Response
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

#: Headers a WSGI environ carries without the ``HTTP_`` prefix (PEP 3333).
_UNPREFIXED = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}


def environ_for(method: str, url: str, headers: Mapping[str, str], body: bytes
                ) -> dict[str, Any]:
    """The WSGI environ of one request to ``url`` with ``headers`` and ``body``."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method.upper(), "SCRIPT_NAME": "",
        "PATH_INFO": unquote(parts.path or "/", "latin-1"), "QUERY_STRING": parts.query,
        "SERVER_NAME": parts.hostname or "localhost",
        "SERVER_PORT": str(parts.port or (443 if https else 80)),
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": parts.netloc, "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": BytesIO(body), "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": parts.scheme or "http", "wsgi.version": (1, 0),
        "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
    }
    for name, value in headers.items():
        key = name.lower()
        if key == "content-length":
            continue  # the body's own length, set above
        environ[_UNPREFIXED.get(key) or "HTTP_" + key.upper().replace("-", "_")] = value
    return environ


class WSGIAdapter(BaseAdapter):
    """Send each request to ``app``, a WSGI application in this process."""

    def __init__(self, app: Any) -> None:
        super().__init__()
        self.app = app

    def send(self, request: PreparedRequest, stream: bool = False,
             timeout: float | tuple[float, float] | tuple[float, None] | None = None,
             verify: bool | str = True, cert: Any = None,
             proxies: Mapping[str, str] | None = None) -> Response:
        body = request.body if isinstance(request.body, bytes) else (
            (request.body or "").encode("utf-8"))
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]],
                           exc_info: Any = None) -> None:
            started[:] = [status, headers]

        chunks = self.app(environ_for(request.method or "GET", request.url or "",
                                      request.headers, body), start_response)
        try:
            data = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        status, headers = started
        code, _, reason = status.partition(" ")
        response = Response()
        response.status_code = int(code)
        response.headers = CaseInsensitiveDict(headers)
        response.raw = BytesIO(data)
        response.url = request.url or ""
        response.request = request
        response.reason = reason
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass
