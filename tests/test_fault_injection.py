"""Fault injection over a real socket: each kind reaches a zeep client as what it is."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from oir_adapter.clients import (
    ClientTimeoutError,
    MalformedReplyError,
    ServiceClient,
    ServiceUnavailableError,
    SoapFaultError,
    TransportError,
    clients_for,
)
from oir_adapter.codecs import oir_requests as messages
from oir_adapter.domain.model import Party
from tests.emulator_inproc import InProcessEmulator, live_server
from tests.test_debtor_end import CALLER, CPR


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, InProcessEmulator]]:
    with live_server(tmp_path_factory.mktemp("faults")) as pair:
        yield pair


def search(url: str, timeout: float = 10.0) -> object:
    client = ServiceClient("DebitorForespoergsel", f"{url}/oir/DebitorForespoergsel/1",
                           timeout=(timeout, timeout))
    try:
        return client.call("SoegDebitorkonto", messages.soeg_debitorkonto(
            CALLER, party=Party.cpr(CPR)))
    finally:
        client.close()


def arm(emu: InProcessEmulator, kind: str, **extra: object) -> None:
    emu.admin("POST", "/faults", operation="SoegDebitorkonto", kind=kind, count=1, **extra)


@pytest.mark.parametrize(("kind", "error"), [
    ("soap_fault", SoapFaultError),
    ("http_503", ServiceUnavailableError),
    ("malformed", MalformedReplyError),
    ("truncated", MalformedReplyError),
    ("drop", TransportError),
])
def test_fault_kind_is_seen_as_what_it_is(server: tuple[str, InProcessEmulator], kind: str,
                                          error: type[Exception]) -> None:
    url, emu = server
    arm(emu, kind)
    with pytest.raises(error):
        search(url)
    # count=1: the next call is served normally again
    reply = search(url)
    assert getattr(reply, "ok", False)


def test_delay_fault_is_a_delay_and_a_short_timeout_sees_it(
        server: tuple[str, InProcessEmulator]) -> None:
    url, emu = server
    arm(emu, "delay", delay_ms=600)
    started = time.monotonic()
    assert getattr(search(url), "ok", False)
    assert time.monotonic() - started >= 0.6
    arm(emu, "delay", delay_ms=1500)
    with pytest.raises(ClientTimeoutError):
        search(url, timeout=0.5)


def test_soap_fault_names_the_injection(server: tuple[str, InProcessEmulator]) -> None:
    url, emu = server
    arm(emu, "soap_fault")
    with pytest.raises(SoapFaultError) as info:
        search(url)
    assert info.value.faultcode.endswith("Server")
    assert "injected" in info.value.faultstring


def test_faults_are_listed_and_cleared(server: tuple[str, InProcessEmulator]) -> None:
    _url, emu = server
    emu.admin("POST", "/faults", operation="HentDebitorkonto", kind="http_503", count=3)
    listed = emu.admin("GET", "/faults")
    assert [(f["operation"], f["kind"], f["count"]) for f in listed] == [
        ("HentDebitorkonto", "http_503", 3)]
    assert emu.admin("DELETE", "/faults") == {"cleared": 1}
    assert emu.admin("GET", "/faults") == []


@pytest.mark.parametrize(("spec", "field"), [
    ({"kind": "soap_fault"}, "operation"),
    ({"operation": "OpretFordringg", "kind": "soap_fault"}, "operation"),  # a typo
    ({"operation": "OpretFordring", "kind": "boom"}, "kind"),
    ({"operation": "OpretFordring", "kind": "delay"}, "delay_ms"),
    ({"operation": "OpretFordring", "kind": "drop", "count": 0}, "count"),
])
def test_bad_fault_specs_name_the_field(server: tuple[str, InProcessEmulator],
                                        spec: dict[str, object], field: str) -> None:
    _url, emu = server
    answer = emu.admin("POST", "/faults", expect=400, **spec)
    assert answer["field"] == field
    assert emu.admin("GET", "/faults") == []  # nothing was armed


def test_debtor_end_retries_psrm_after_a_503(tmp_path: Path) -> None:
    """The hand-over survives PSRM being down: the outbox retries with back-off."""
    from datetime import date
    from decimal import Decimal as D

    from emulator import outbox

    with live_server(tmp_path) as (url, emu):
        clients = clients_for(url)
        emu.admin("PUT", "/clock", now="2026-03-02T10:00:00")
        number = clients.debitor_registrering.call("OpretDebitorkonto", messages.opret_debitorkonto(
            CALLER, reference="R", party=Party.cpr(CPR), name="M")).findtext("DebitorkontoNummer")
        assert number
        clients.debitor_registrering.call("OpretFordring", messages.opret_fordring(
            CALLER, account_number=number, claim=messages.ClaimSpec(
                "C", "DAGINST", D("500.00"), date(2026, 2, 1), date(2026, 2, 28),
                date(2026, 2, 1), date(2026, 3, 3), date(2026, 3, 4))))
        emu.admin("POST", "/faults", operation="MFFordringIndberet", kind="http_503", count=1)
        emu.admin("POST", "/clock/advance", days=3)
        items = emu.admin("GET", "/outbox")
        psrm_items = [i for i in items if i["target"] == "psrm"]
        assert psrm_items[0]["status"] == "PENDING" and psrm_items[0]["attempts"] == 1
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            outbox.drain(emu.runtime)
            items = [i for i in emu.admin("GET", "/outbox") if i["target"] == "psrm"]
            if items[0]["status"] == "SENT":
                break
            time.sleep(0.2)
        assert items[0]["status"] == "SENT"
        clients.close()


def test_the_admin_api_answers_json_for_paths_and_methods_it_does_not_have(
        server: tuple[str, InProcessEmulator]) -> None:
    _url, emu = server
    assert emu.admin("GET", "/nonexistent", expect=404) == {
        "error": "404 Not Found: GET /_admin/nonexistent"}
    assert emu.admin("GET", "/journal/abc", expect=404)["error"].startswith("404 Not Found")
    assert emu.admin("DELETE", "/clock", expect=405) == {
        "error": "405 Method Not Allowed: DELETE /_admin/clock"}
    page = emu.http.get("/no-such-page")  # elsewhere Flask's own page stands
    assert page.status_code == 404 and page.content_type.startswith("text/html")
