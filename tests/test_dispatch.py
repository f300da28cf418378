"""The SOAP dispatcher in front of Flask: SOAP POSTs reach the pipeline without Flask's
request handling, behind the same guard, and what it reads of a request is what
werkzeug's own ``Request`` would read."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.wrappers import Request

from emulator.soap.dispatch import SoapDispatcher, SoapRequest
from tests.emulator_inproc import InProcessEmulator, in_process
from tests.test_booked_values import REGISTRATION, example

SEARCH = "/service/OIR/DebitorForespoergselAfsend/1"


def environ(**given: Any) -> dict[str, Any]:
    body = given.pop("body", b"<x/>")
    base: dict[str, Any] = {
        "REQUEST_METHOD": "POST", "SCRIPT_NAME": "", "PATH_INFO": SEARCH, "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8080", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1:8080",
        "CONTENT_TYPE": "text/xml; charset=utf-8", "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http",
    }
    base.update(given)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize("given", [
    {},
    {"HTTP_HOST": "[::1]:8080", "REMOTE_ADDR": "::1"},
    {"HTTP_HOST": None, "SERVER_NAME": "emulator.invalid", "SERVER_PORT": "443",
     "wsgi.url_scheme": "https"},
    {"HTTP_HOST": "Emulator.Example:80", "CONTENT_TYPE": "Application/XML ; charset=UTF-8"},
    {"CONTENT_LENGTH": None, "HTTP_TRANSFER_ENCODING": "chunked"},
    {"CONTENT_LENGTH": "-5", "CONTENT_TYPE": None},
    {"PATH_INFO": "/service/OIR/Debitor\xc3\xa6/1", "REQUEST_METHOD": "post"},
    {"HTTP_SOAPACTION": '"urn:x"', "HTTP_ORIGIN": "http://elsewhere.example",
     "HTTP_SEC_FETCH_SITE": "cross-site", "SERVER_PORT": "not-a-port"},
], ids=["plain", "ipv6", "no-host-https", "mixed-case", "chunked", "bad-length",
        "latin-1-path", "headers"])
def test_the_dispatchers_request_reads_what_werkzeug_reads(given: dict[str, Any]) -> None:
    ours, theirs = SoapRequest(environ(**given)), Request(environ(**given))
    for name in ("method", "path", "host", "scheme", "remote_addr", "mimetype",
                 "content_length", "query_string"):
        assert getattr(ours, name) == getattr(theirs, name), name
    for header in ("SOAPAction", "Origin", "Sec-Fetch-Site", "Content-Encoding", "Host"):
        assert ours.headers.get(header) == theirs.headers.get(header), header
    assert ours.stream.read() == theirs.stream.read()


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[InProcessEmulator]:
    with in_process(tmp_path) as e:
        yield e


def test_a_soap_post_skips_flask_and_everything_else_does_not(emu: InProcessEmulator) -> None:
    """Flask's request hooks run for a WSDL, an admin call and a page, never for a SOAP
    POST, which the pipeline answers all the same."""
    assert isinstance(emu.app.wsgi_app, SoapDispatcher)
    seen: list[str] = []

    @emu.app.before_request
    def note() -> None:
        from flask import request

        seen.append(f"{request.method} {request.path}")

    answer = emu.post_raw(REGISTRATION, example("OpretDebitorkonto"),
                          headers={"SOAPAction": '""'})
    assert answer.status_code == 200 and b">OK</" in answer.get_data()
    assert seen == []
    assert emu.http.get(REGISTRATION + "?wsdl").status_code == 200
    assert emu.http.get("/_admin/health").status_code == 200
    assert seen == [f"GET {REGISTRATION}", "GET /_admin/health"]


def test_the_guard_stands_in_front_of_the_dispatcher(emu: InProcessEmulator) -> None:
    """A rebound host name and a cross-site POST are refused before the pipeline, and
    nothing is journalled for them."""
    before = emu.admin("GET", "/journal?limit=1")
    data = example("OpretDebitorkonto")
    rebound = emu.http.post(REGISTRATION, data=data, content_type="text/xml",
                            headers={"Host": "evil.example"})
    assert rebound.status_code == 400 and b"unknown host" in rebound.get_data()
    cross = emu.http.post(REGISTRATION, data=data, content_type="text/xml",
                          headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403 and b"cross-site POST refused" in cross.get_data()
    assert emu.admin("GET", "/journal?limit=1") == before
