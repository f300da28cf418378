"""The clock and the armed faults are held in memory between changes: a request reads one
version token, and a change made anywhere — another worker on the same database, a reset,
a restored state — is seen by the next request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator.storage.store import put_setting
from oir_adapter.codecs import oir_requests as messages
from tests.emulator_inproc import InProcessEmulator, in_process
from tests.test_debtor_end import CALLER, account, claim, spec


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[InProcessEmulator, InProcessEmulator]]:
    """Two emulators on one database: two workers, as far as the cache is concerned."""
    with in_process(tmp_path) as one, in_process(tmp_path) as two:
        yield one, two


def _hent(emu: InProcessEmulator, number: str) -> Any:
    return emu.soap.debitor_forespoergsel.call("HentDebitorkonto", messages.hent_debitorkonto(
        CALLER, account_number=number))


def test_a_clock_set_by_another_worker_is_seen_at_once(
        pair: tuple[InProcessEmulator, InProcessEmulator]) -> None:
    one, two = pair
    number = account(two)
    _hent(two, number)  # two remembers the clock as it stood
    one.admin("PUT", "/clock", now="2031-05-06T07:08:09")
    assert _hent(two, number).ok
    newest = two.admin("GET", "/journal?limit=1")[0]
    assert newest["operation"] == "HentDebitorkonto"
    assert newest["virtual_at"] == "2031-05-06T07:08:09"


@pytest.mark.parametrize("operation", ["HentDebitorkonto", "OpretDebitorkonto"])
def test_a_fault_armed_by_another_worker_fires_and_is_used_up(
        pair: tuple[InProcessEmulator, InProcessEmulator], operation: str) -> None:
    one, two = pair
    number = account(two)
    _hent(two, number)

    def call() -> Any:
        if operation == "HentDebitorkonto":
            return two.post_raw("/oir/DebitorForespoergsel/1", _envelope(
                messages.hent_debitorkonto(CALLER, account_number=number)))
        return two.post_raw("/oir/DebitorRegistrering/1", _envelope(
            messages.opret_debitorkonto(CALLER, reference="R-9", party=_party(),
                                        name="Mette")))

    one.admin("POST", "/faults", operation=operation, kind="http_503", count=1)
    assert call().status_code == 503
    assert call().status_code == 200  # used up: the cache learnt that too
    one.admin("POST", "/faults", operation=operation, kind="http_503", count=1)
    one.admin("DELETE", "/faults")
    assert call().status_code == 200


def test_a_reset_and_a_restored_state_bring_their_clock(tmp_path: Path) -> None:
    with in_process(tmp_path) as emu:
        emu.admin("PUT", "/clock", now="2030-01-02T12:00:00")
        saved = emu.admin("GET", "/state")
        emu.admin("POST", "/reset")
        number = account(emu)
        _hent(emu, number)
        assert emu.admin("GET", "/journal?limit=1")[0]["virtual_at"] != "2030-01-02T12:00:00"
        emu.admin("PUT", "/state", **saved)
        _hent(emu, number)
        assert emu.admin("GET", "/journal?limit=1")[0]["virtual_at"] == "2030-01-02T12:00:00"


def test_warm_requests_read_neither_clock_nor_faults(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between changes a request reads only the version token; after one, it reloads."""
    from emulator import clock
    from emulator.soap import faults

    loads: list[str] = []
    frozen, armed = clock.frozen, faults.armed_operations
    monkeypatch.setattr(clock, "frozen", lambda conn: loads.append("clock") or frozen(conn))
    monkeypatch.setattr(faults, "armed_operations",
                        lambda conn: loads.append("faults") or armed(conn))
    with in_process(tmp_path) as emu:
        number = account(emu)
        _hent(emu, number)
        loads.clear()
        for _ in range(3):
            _hent(emu, number)
        account(emu, ref="A-2", cpr="0101901234")
        assert loads == []
        emu.admin("PUT", "/clock", now="2030-01-02T12:00:00")
        loads.clear()
        _hent(emu, number)
        _hent(emu, number)
        assert loads == ["clock", "faults"]


def _envelope(body: Any) -> bytes:
    from emulator.soap.envelope import envelope_bytes

    return envelope_bytes(body)


def _party() -> Any:
    from oir_adapter.domain.model import Party

    return Party.cpr("0405871270")


def _fejl(reply: Any) -> list[str]:
    return [error.code for error in reply.errors]


def test_a_claim_type_table_installed_by_another_worker_is_used_at_once(
        pair: tuple[InProcessEmulator, InProcessEmulator]) -> None:
    """The reference tables are held in memory between changes like the clock: a table a
    scenario installs through one worker is the one the other judges the next claim by,
    and so is the next one after it."""
    one, two = pair
    number = account(two)
    assert claim(two, number, spec("C-1")).ok  # two holds the default table: DAGINST known
    one.admin("POST", "/scenario", claim_types=[{"code": "SFOBETL", "description": "SFO"}])
    assert _fejl(claim(two, number, spec("C-2"))) == ["OIR-113"]
    one.admin("POST", "/scenario", claim_types=[{"code": "DAGINST", "description": "Dag"}])
    assert _fejl(claim(two, number, spec("C-3", type_code="SFOBETL"))) == ["OIR-113"]
    assert claim(two, number, spec("C-4")).ok


def test_a_reference_table_written_anywhere_is_not_held_past_its_change(
        pair: tuple[InProcessEmulator, InProcessEmulator]) -> None:
    """Writing a held setting changes the version the other worker compares with, even
    when nothing else of the standing changes."""
    one, two = pair
    with two.runtime.store.snapshot() as conn:
        assert two.runtime.claim_types(conn).get("DAGINST") is not None  # held now
        assert two.runtime.benefit_table(conn) is two.runtime.benefit_table(conn)
    with one.runtime.store.transaction() as conn:
        put_setting(conn, "claim_types", [{"code": "SFOBETL", "description": "SFO"}])
        put_setting(conn, "benefit_rules", [])
    with two.runtime.store.snapshot() as conn:
        types = two.runtime.claim_types(conn)
        assert types.get("DAGINST") is None and types.get("SFOBETL") is not None
        assert two.runtime.claim_types(conn) is types  # and held again
