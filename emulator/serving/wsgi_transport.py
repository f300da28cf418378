"""A ``requests`` transport adapter that answers from a WSGI app in the same process.

The debtor end always reaches the PSRM and fagsystem ends through a real SOAP client;
when the emulator runs without a socket (tests on Flask's test client, benchmarks) this
adapter is the seam that carries those calls, like httpx's mock transport.
"""

from __future__ import annotations

from collections.abc import Mapping
from io import BytesIO
from typing import Any
from urllib.parse import urlsplit

from requests import PreparedRequest, Response
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from werkzeug.test import Client


class WSGIAdapter(BaseAdapter):
    """Send each request to ``app`` through werkzeug's test client."""

    def __init__(self, app: Any) -> None:
        super().__init__()
        self.app = app

    def send(self, request: PreparedRequest, stream: bool = False,
             timeout: float | tuple[float, float] | tuple[float, None] | None = None,
             verify: bool | str = True, cert: Any = None,
             proxies: Mapping[str, str] | None = None) -> Response:
        parts = urlsplit(request.url or "")
        body = request.body if isinstance(request.body, bytes) else (
            (request.body or "").encode("utf-8"))
        client = Client(self.app)
        reply = client.open(path=parts.path, query_string=parts.query,
                            base_url=f"{parts.scheme}://{parts.netloc}",
                            method=request.method or "GET",
                            headers=list(request.headers.items()), data=body)
        response = Response()
        response.status_code = reply.status_code
        response.headers = CaseInsensitiveDict(dict(reply.headers))
        response.raw = BytesIO(reply.get_data())
        response.url = request.url or ""
        response.request = request
        response.reason = reply.status.split(" ", 1)[1] if " " in reply.status else ""
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass
