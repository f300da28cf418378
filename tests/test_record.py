"""``oir record``: the recording proxy over real HTTP on loopback.

It forwards unchanged (status, headers, SOAPAction, body) and records masked; it streams
large bodies both ways; an upstream that is down, slow or breaks off gets the client a
clear SOAP fault (or a dropped connection) and is recorded without half an answer; the
real command (gunicorn) stops cleanly on SIGTERM and leaves nothing half-written when
killed. Every wait is bounded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from emulator.app import create_app
from emulator.serving.recording_proxy import request_headers
from oir_adapter.clients import SoapFaultError, clients_for
from oir_adapter.codecs import oir_requests as messages
from oir_adapter.domain.model import Party
from oir_adapter.recording import Recording, RecordingWriter, mask_body
from oir_adapter.recording.masking import BodyMasker, mask_header
from oir_cli import main
from tests.emulator_process import OIR, ROOT, free_port
from tests.recorded_traffic import CALLER, loopback, record_story, recording_proxy

SOAP_ACTION = '"http://serviceplatformen.dk/xml/wsdl/soap11/OIR/DebitorRegistrering/1/OpretDebitorkonto"'
SECRET_ENVELOPE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
    b'xmlns:wsse="urn:wsse" xmlns:saml="urn:saml"><soap:Header><wsse:Security>'
    b'<wsse:UsernameToken><wsse:Username>kommune</wsse:Username>'
    b'<wsse:Password Type="PasswordText">hemmelig-kode</wsse:Password></wsse:UsernameToken>'
    b'<saml:Assertion AssertionID="a1"><saml:Subject>sender-vouches-subject</saml:Subject>'
    b'</saml:Assertion></wsse:Security></soap:Header><soap:Body><x:Ping xmlns:x="urn:x">'
    b'<x:CPRNummer>0405871270</x:CPRNummer><x:Note>ring 12345678 om 010170-1234</x:Note>'
    b'</x:Ping></soap:Body></soap:Envelope>')


class Upstream:
    """A programmable upstream: echoes what it got, answers slowly, breaks off or streams."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.release = threading.Event()  # ends every deliberate wait early
        self.arrived = threading.Event()
        self.marks: dict[str, float] = {}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        mode = environ.get("HTTP_X_MODE", "echo")
        stream = environ["wsgi.input"]
        length = environ.get("CONTENT_LENGTH")
        left = int(length) if length else None  # never read past the body (keep-alive)
        chunks = []
        while left is None or left > 0:
            data = stream.read(65536 if left is None else min(65536, left))
            if not data:
                break
            if left is not None:
                left -= len(data)
            self.marks.setdefault("first_read", time.monotonic())
            chunks.append(data)
        body = b"".join(chunks)
        self.seen.append({"method": environ["REQUEST_METHOD"], "path": environ["PATH_INFO"],
                          "headers": dict(request_headers(environ)), "body": body})
        self.arrived.set()
        if mode == "slow":
            self.release.wait(float(environ.get("HTTP_X_DELAY", "5")))
        if mode == "break":
            start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", "90000")])
            return self._broken()
        if mode == "stream":
            start_response("200 OK", [("Content-Type", "text/xml")])
            return self._streamed()
        status = environ.get("HTTP_X_STATUS", "200 OK")
        answer = b"<answer>" + hashlib.sha256(body).hexdigest().encode() + b"</answer>"
        start_response(status, [("Content-Type", "text/xml; charset=utf-8"),
                                ("X-Upstream", "echo"), ("Set-Cookie", "sid=s3ss10n")])
        return [answer]

    def _broken(self) -> Iterator[bytes]:
        yield b"<answer>" + b"x" * 1000
        raise ConnectionResetError("upstream died mid-answer")

    def _streamed(self) -> Iterator[bytes]:
        for n in range(3):
            if n:
                self.release.wait(0.3)
            self.marks[f"yield_{n}"] = time.monotonic()
            yield b"<part>" + b"y" * 200_000 + b"</part>"


@pytest.fixture
def upstream() -> Iterator[tuple[str, Upstream]]:
    app = Upstream()
    with loopback(app) as server:
        try:
            yield server.url, app
        finally:  # before closing the server joins its threads: no slow answer waits on
            app.release.set()


@pytest.fixture
def proxied(upstream: tuple[str, Upstream], tmp_path: Path) -> Iterator[tuple[str, Upstream, Path]]:
    url, app = upstream
    with loopback(recording_proxy(url, tmp_path / "rec", timeout=1.0)) as proxy:
        yield proxy.url, app, tmp_path / "rec"


def recorded(folder: Path, count: int, timeout: float = 5.0) -> list[Any]:
    """The exchanges of ``folder`` once there are ``count`` (an exchange is written just
    after its last byte went to the client, so the client may be a little ahead)."""
    deadline = time.monotonic() + timeout
    while True:
        found = Recording.open(folder).exchanges
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def _only(folder: Path) -> Any:
    (one,) = recorded(folder, 1)
    return one


# ---------------------------------------------------------------- masking

def test_masking_is_the_same_for_any_chunking() -> None:
    whole = mask_body(SECRET_ENVELOPE)
    assert b"hemmelig-kode" not in whole and b"sender-vouches-subject" not in whole
    assert b'<wsse:Password Type="PasswordText">***</wsse:Password>' in whole
    assert b'<saml:Assertion AssertionID="a1">***</saml:Assertion>' in whole
    assert b"<x:CPRNummer>0405871000</x:CPRNummer>" in whole
    assert b"010170-1000" in whole and b"12345678" in whole  # a CVR-length number stays
    for size in (1, 2, 3, 7, 11, 64, 4096):
        masker = BodyMasker()
        pieces = [masker.feed(SECRET_ENVELOPE[i:i + size])
                  for i in range(0, len(SECRET_ENVELOPE), size)]
        assert b"".join(pieces) + masker.flush() == whole, size
    assert mask_body(SECRET_ENVELOPE, keep_cpr=True).count(b"0405871270") == 1


def test_psrm_numeric_ids_are_kept_whatever_their_digits() -> None:
    """PSRM's ids are numbers; ten digits of one may read like a CPR number, but as an id
    element's whole content it is kept (masked, two claims could become one), in any
    chunking. The same digits anywhere else are masked."""
    body = (b'<mf:MFFordringIndberet_O xmlns:mf="urn:x"><mf:MFAktionStruktur>'
            b"<mf:MFAktionID>0405871270</mf:MFAktionID>"
            b"<mf:DMIFordringEFIFordringID>0405871271</mf:DMIFordringEFIFordringID>"
            b"<mf:DMIFordringHaverID>0405871272</mf:DMIFordringHaverID>"
            b"<mf:PersonCPRNummer>0405871273</mf:PersonCPRNummer>"
            b"<mf:MFNoteTekst>MFAktionID 0405871274</mf:MFNoteTekst>"
            b"</mf:MFAktionStruktur></mf:MFFordringIndberet_O>")
    whole = mask_body(body)
    for kept in (b"0405871270", b"0405871271", b"0405871272"):
        assert kept in whole
    assert b"0405871273" not in whole and b"0405871274" not in whole
    assert whole.count(b"0405871000") == 2
    for size in (1, 3, 10, 17, 64):
        masker = BodyMasker()
        pieces = [masker.feed(body[i:i + size]) for i in range(0, len(body), size)]
        assert b"".join(pieces) + masker.flush() == whole, size


def test_header_masking() -> None:
    assert mask_header("Authorization", "Basic dXNlcjpwYXNz") == "Basic ***"
    assert mask_header("Cookie", "sid=1") == mask_header("X-Auth-Token", "t") == "***"
    assert mask_header("X-Saml-Assertion", "PHNhbWw+") == "***"
    assert mask_header("X-Tenant", "k1", extra=("x-tenant",)) == "***"
    assert mask_header("X-Case", "borger 0405871270") == "borger 0405871000"
    assert mask_header("X-Case", "borger 0405871270", keep_cpr=True) == "borger 0405871270"


# ---------------------------------------------------------------- forwarding unchanged

def test_forwards_unchanged_and_records_masked(proxied: tuple[str, Upstream, Path]) -> None:
    url, app, folder = proxied
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": SOAP_ACTION,
               "Authorization": "Basic dXNlcjpwYXNz", "X-Custom": "keep me",
               "X-Status": "500 Internal Server Error"}
    r = requests.post(f"{url}/oir/DebitorRegistrering/1?v=1", data=SECRET_ENVELOPE,
                      headers=headers, timeout=10)
    # the client gets the upstream's status, headers and body as they were
    assert r.status_code == 500
    assert r.headers["X-Upstream"] == "echo" and r.headers["Set-Cookie"] == "sid=s3ss10n"
    assert r.content == b"<answer>" + hashlib.sha256(SECRET_ENVELOPE).hexdigest().encode() \
        + b"</answer>"
    # the upstream got the request as the client sent it, secrets and CPR included
    (got,) = app.seen
    assert got["body"] == SECRET_ENVELOPE and got["path"] == "/oir/DebitorRegistrering/1"
    for name in ("SOAPAction", "Authorization", "X-Custom", "Content-Type"):
        assert got["headers"][name] == headers[name], name
    assert got["headers"]["Content-Length"] == str(len(SECRET_ENVELOPE))
    # the recording keeps the exchange, masked
    x = _only(folder)
    assert (x.meta["status"], x.meta["upstream_status"], x.outcome) == (500, 500, "ok")
    assert x.meta["soap_action"] == SOAP_ACTION.strip('"') and x.meta["query"] == "v=1"
    assert x.request == mask_body(SECRET_ENVELOPE) and x.response == r.content
    assert x.meta["request"]["secrets_masked"] == 2
    sent = dict(x.meta["request"]["headers"])
    assert sent["Authorization"] == "Basic ***" and sent["X-Custom"] == "keep me"
    assert dict(x.meta["response"]["headers"])["Set-Cookie"] == "***"
    on_disk = b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())
    for secret in (b"hemmelig-kode", b"dXNlcjpwYXNz", b"s3ss10n", b"0405871270",
                   b"sender-vouches-subject"):
        assert secret not in on_disk, secret
    deadline = time.monotonic() + 5  # the index follows the exchange's own file
    while True:
        index = json.loads((folder / "index.json").read_text())
        if index["exchanges"] or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert index["cpr_masked"] is True and [e["id"] for e in index["exchanges"]] == ["000001"]


def test_keep_cpr_keeps_them(upstream: tuple[str, Upstream], tmp_path: Path) -> None:
    url, _app = upstream
    with loopback(recording_proxy(url, tmp_path / "rec", keep_cpr=True)) as proxy:
        requests.post(proxy.url + "/x", data=SECRET_ENVELOPE, timeout=10,
                      headers={"Content-Type": "text/xml"})
    x = _only(tmp_path / "rec")
    assert b"0405871270" in (x.request or b"") and b"hemmelig-kode" not in (x.request or b"")
    with pytest.raises(Exception, match="keeps CPR numbers"):
        RecordingWriter(tmp_path / "rec", upstream=url, keep_cpr=False)


def test_a_wsdl_fetched_through_the_proxy_points_at_the_proxy(tmp_path: Path) -> None:
    app = create_app(db_url=f"sqlite:///{tmp_path}/e.sqlite3", start_worker=False)
    try:
        with loopback(app) as emu, loopback(recording_proxy(emu.url, tmp_path / "r")) as proxy:
            wsdl = requests.get(f"{proxy.url}/service/OIR/DebitorRegistreringAfsend/1?wsdl", timeout=10)
    finally:
        from emulator.app import runtime_of
        runtime_of(app).close()
    assert wsdl.status_code == 200
    assert f'location="{proxy.url}/service/OIR/DebitorRegistreringAfsend/1"'.encode() in wsdl.content
    assert Recording.open(tmp_path / "r").exchanges == []  # a GET is forwarded, not recorded


def test_a_whole_story_through_zeep_is_recorded(tmp_path: Path) -> None:
    def make(**config: Any) -> Any:
        return create_app(db_url=f"sqlite:///{tmp_path}/e.sqlite3", start_worker=False,
                          **config)

    seen = record_story(make, tmp_path / "rec")
    answers = dict(seen.answers)
    assert answers["reuse the TransaktionsID"] == "FEJL ['PSRM-600']"
    assert answers["coverage"] == "[('F0000002', '500.00'), ('F0000001', '200.00')]"
    rec = Recording.open(tmp_path / "rec")
    operations = [x.operation for x in rec.exchanges]
    assert operations[:11] == ["OpretDebitorkonto"] * 3 + ["OpretFordring"] * 2 + [
        "SoegDebitorkonto", "HentDebitorkonto", "ForetagIndbetaling", "ForetagIndbetaling",
        "OpretDebitorkonto", "OpretFordring"]
    assert {"MFFordringIndberet", "MFKvitteringHent", "MFUnderretSamlingHent",
            "RegistrerDaekningAfskrivning"} <= set(operations)
    assert all(x.outcome == "ok" and x.status == 200 for x in rec.exchanges)
    assert all(x.elapsed_ms > 0 and x.meta["upstream_ms"] is not None for x in rec.exchanges)
    assert [x.seq for x in rec.exchanges] == list(range(1, len(rec.exchanges) + 1))
    assert b"0405871270" not in b"".join(x.request or b"" for x in rec.exchanges)


class _ClosedLate:
    """An answer whose ``close()`` waits for ``until`` (bounded; no wait without it) and
    then sets ``then``."""

    def __init__(self, inner: Any, until: threading.Event | None,
                 then: threading.Event | None) -> None:
        self.inner, self.until, self.then = inner, until, then

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.inner)

    def close(self) -> None:
        if self.until is not None:
            self.until.wait(5)
        try:
            self.inner.close()
        finally:
            if self.then is not None:
                self.then.set()


class _FirstClosedLast:
    """Around the proxy: the server closes the first answer only after the second one, as a
    loaded server's thread may — the client already has the whole first answer (the last
    chunk went out before ``close()``) and sends its next request on a new connection."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.answers = 0
        self.second_closed = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.answers += 1
        inner = self.app(environ, start_response)
        if self.answers == 1:
            return _ClosedLate(inner, self.second_closed, None)
        return _ClosedLate(inner, None, self.second_closed if self.answers == 2 else None)


def test_exchanges_are_numbered_in_the_order_their_requests_arrived(
        upstream: tuple[str, Upstream], tmp_path: Path) -> None:
    url, _app = upstream
    folder = tmp_path / "rec"
    held = _FirstClosedLast(recording_proxy(url, folder))
    with loopback(held) as proxy:
        for path in ("/first", "/second"):  # one connection each (no session)
            r = requests.post(proxy.url + path, data=b"<x/>", timeout=10,
                              headers={"Content-Type": "text/xml"})
            assert r.status_code == 200
        assert held.second_closed.wait(10)
        found = recorded(folder, 2)
    assert [(x.id, x.meta["path"]) for x in found] == [("000001", "/first"),
                                                      ("000002", "/second")]
    index = json.loads((folder / "index.json").read_text())
    assert [(e["id"], e["path"]) for e in index["exchanges"]] == [("000001", "/first"),
                                                                 ("000002", "/second")]
    assert index["next_seq"] == 3


# ---------------------------------------------------------------- large bodies stream

def test_large_bodies_stream_both_ways(proxied: tuple[str, Upstream, Path]) -> None:
    url, app, folder = proxied
    parts = [(b"<p>0405871270 " + bytes([65 + n]) * 2_000_000 + b" 0101701234</p>")
             for n in range(3)]
    sent_last = 0.0

    def body() -> Iterator[bytes]:
        nonlocal sent_last
        for n, part in enumerate(parts):
            if n:
                time.sleep(0.3)
            yield part
        sent_last = time.monotonic()

    r = requests.post(url + "/big", data=body(), stream=True, timeout=10,
                      headers={"Content-Type": "text/xml", "X-Mode": "stream"})
    pieces = r.iter_content(65536)
    first = next(pieces)
    first_received = time.monotonic()
    rest = b"".join(pieces)
    # the upstream read the body before the client had sent all of it, and the client
    # had the answer's first bytes before the upstream had produced the last
    assert app.marks["first_read"] < sent_last
    assert first_received < app.marks["yield_2"]
    assert len(first + rest) == 3 * (len(b"<part></part>") + 200_000)
    x = _only(folder)
    assert x.meta["request"]["bytes_received"] == sum(map(len, parts))
    assert x.request == mask_body(b"".join(parts))
    assert x.response == first + rest


# ---------------------------------------------------------------- upstream trouble

def test_upstream_down_gives_a_clear_fault(tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with loopback(recording_proxy(dead, tmp_path / "rec")) as proxy:
        soap = clients_for(proxy.url)
        caplog.set_level(logging.WARNING, "oir.record")
        started = time.monotonic()
        with pytest.raises(SoapFaultError) as caught:
            soap.debitor_registrering.call("OpretDebitorkonto", messages.opret_debitorkonto(
                CALLER, reference="X", party=Party.cpr("0405871270"), name="X"))
        soap.close()
    assert time.monotonic() - started < 8
    fault = caught.value
    assert fault.http_status == 502 and fault.kind == "Server"
    assert f"upstream {dead} is unreachable: connection refused" in fault.faultstring
    assert any("unreachable" in r.getMessage() for r in caplog.records)
    x = _only(tmp_path / "rec")
    assert (x.outcome, x.status, x.meta["upstream_status"]) == ("upstream_unreachable", 502, None)
    assert x.request is not None and b"OpretDebitorkontoRequest" in x.request
    assert x.response is None and "unreachable" in x.meta["error"]
    assert list((tmp_path / "rec" / ".partial").iterdir()) == []


def test_upstream_slow_gives_a_timeout_fault(proxied: tuple[str, Upstream, Path]) -> None:
    url, app, folder = proxied
    started = time.monotonic()
    r = requests.post(url + "/slow", data=b"<a/>", timeout=10,
                      headers={"Content-Type": "text/xml", "X-Mode": "slow", "X-Delay": "5"})
    took = time.monotonic() - started
    app.release.set()
    assert r.status_code == 504 and 0.9 < took < 4
    assert b"did not answer within 1 s" in r.content and b"soap:Fault" in r.content
    x = _only(folder)
    assert (x.outcome, x.status, x.response) == ("upstream_timeout", 504, None)


def test_an_answer_broken_off_is_not_recorded_as_whole(proxied: tuple[str, Upstream, Path]
                                                       ) -> None:
    url, _app, folder = proxied
    with pytest.raises(requests.RequestException):
        r = requests.post(url + "/b", data=b"<a/>", timeout=10,
                          headers={"Content-Type": "text/xml", "X-Mode": "break"})
        r.raise_for_status()
        _ = r.content
    x = _only(folder)
    assert x.outcome == "upstream_broke_off" and x.response is None
    assert x.meta["upstream_status"] == 200 and "broken off" in x.meta["error"]


# ---------------------------------------------------------------- the command

def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else b""
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("oir record did not listen in time")


def _start(upstream: str, folder: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [str(OIR), "record", "--upstream", upstream, "--port", str(port), "--out", str(folder),
         "--timeout", "10"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    _wait_for_port(port, proc)
    return proc


def test_oir_record_stops_cleanly_finishing_what_is_in_flight(
        upstream: tuple[str, Upstream], tmp_path: Path) -> None:
    url, app = upstream
    port = free_port()
    folder = tmp_path / "rec"
    proc = _start(url, folder, port)
    try:
        assert requests.post(f"http://127.0.0.1:{port}/a", data=b"<a/>", timeout=10,
                             headers={"Content-Type": "text/xml"}).status_code == 200
        assert len(recorded(folder, 1)) == 1
        answers: list[requests.Response] = []
        slow = threading.Thread(target=lambda: answers.append(requests.post(
            f"http://127.0.0.1:{port}/b", data=b"<b/>", timeout=15,
            headers={"Content-Type": "text/xml", "X-Mode": "slow", "X-Delay": "1"})))
        app.arrived.clear()
        slow.start()
        assert app.arrived.wait(10)
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
        slow.join(timeout=15)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    assert proc.returncode == 0, out
    assert [a.status_code for a in answers] == [200]
    assert b"holds 2 exchange(s)" in out
    assert [x.meta["path"] for x in Recording.open(folder).exchanges] == ["/a", "/b"]
    assert list((folder / ".partial").iterdir()) == []


def test_a_killed_recorder_leaves_nothing_half_written(upstream: tuple[str, Upstream],
                                                       tmp_path: Path) -> None:
    url, app = upstream
    port = free_port()
    folder = tmp_path / "rec"
    proc = _start(url, folder, port)
    try:
        requests.post(f"http://127.0.0.1:{port}/a", data=b"<a/>", timeout=10,
                      headers={"Content-Type": "text/xml"})
        assert len(recorded(folder, 1)) == 1
        app.arrived.clear()

        def in_flight() -> None:
            with pytest.raises(requests.ConnectionError):  # the recorder dies under it
                requests.post(f"http://127.0.0.1:{port}/b", data=b"<b>" + b"z" * 100_000
                              + b"</b>", timeout=15,
                              headers={"Content-Type": "text/xml", "X-Mode": "slow",
                                       "X-Delay": "3"})

        caller = threading.Thread(target=in_flight, daemon=True)
        caller.start()
        assert app.arrived.wait(10)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    app.release.set()
    caller.join(timeout=10)
    assert [x.meta["path"] for x in Recording.open(folder).exchanges] == ["/a"]
    index = json.loads((folder / "index.json").read_text())
    assert [e["id"] for e in index["exchanges"]] == ["000001"]
    # opening it again clears what was on its way; /b's number, taken on arrival, is
    # never given again
    assert RecordingWriter(folder, upstream=url).reserve() == 3
    assert list((folder / ".partial").iterdir()) == []
    assert sorted(p.name for p in (folder / "exchanges").iterdir()) == [
        "000001.json", "000001.request.xml", "000001.response.xml"]


@pytest.mark.parametrize(("args", "words"), [
    (["--upstream", "ftp://host"], "give a base URL such as http://host:port"),
    (["--upstream", "http://127.0.0.1:1"], "is not empty and holds no recording"),
])
def test_record_refuses_bad_input_in_one_line(tmp_path: Path, args: list[str],
                                              words: str) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = CliRunner().invoke(main, ["record", "--out", str(tmp_path), *args])
    assert result.exit_code == 1 and words in result.output, result.output
    assert "Traceback" not in result.output
