"""A read writes nothing in its request: no idempotency record, and its journal row goes
to a batch (at most 64 rows, at most 100 ms) that every reader of the journal commits
first, and shutdown too. A write's row stays in the write's own transaction."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import html as lxml_html
from sqlalchemy import func, select

import emulator.storage.store as store_module
from emulator.storage import schema as t
from emulator.storage.store import Store
from oir_adapter.codecs import oir_requests as messages
from tests.emulator_inproc import InProcessEmulator, in_process
from tests.test_debtor_end import CALLER, account

TID = "7e0c9c39-4e57-4a8e-9d3a-2a6f0f5b6c07"


@pytest.fixture
def emu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessEmulator]:
    # the timer out of the way: only a full batch, a reader or shutdown commits read rows
    monkeypatch.setattr(store_module, "DEFERRED_SECONDS", 3600.0)
    with in_process(tmp_path) as e:
        e.admin("PUT", "/clock", now="2026-03-02T10:00:00")
        yield e


def _read(emu: InProcessEmulator, number: str, tid: str | None = None) -> Any:
    reply = emu.soap.debitor_forespoergsel.call("HentDebitorkonto", messages.hent_debitorkonto(
        CALLER, account_number=number, transaction_id=tid))
    assert reply.ok
    return reply


def _count(store: Store, table: Any, **where: str) -> int:
    with store.snapshot() as conn:  # sees only what is committed: no settle
        q = select(func.count()).select_from(table)
        for column, value in where.items():
            q = q.where(table.c[column] == value)
        return int(conn.execute(q).scalar_one())


def test_a_read_leaves_no_idempotency_record_and_its_row_waits(emu: InProcessEmulator) -> None:
    number = account(emu)
    store = emu.runtime.store
    records = _count(store, t.idempotency)
    _read(emu, number, TID)
    assert _count(store, t.idempotency) == records
    assert _count(store, t.idempotency, transaction_id=TID) == 0
    assert _count(store, t.journal, operation="HentDebitorkonto") == 0  # queued, not written


@pytest.mark.parametrize("reader", ["admin journal", "admin entry", "admin export",
                                    "dashboard journal", "dashboard overview"])
def test_every_journal_reader_sees_a_read_at_once(emu: InProcessEmulator, reader: str) -> None:
    number = account(emu)
    _read(emu, number, TID)
    if reader == "admin journal":
        rows = emu.admin("GET", f"/journal?transaktions_id={TID}")
        assert [r["operation"] for r in rows] == ["HentDebitorkonto"]
    elif reader == "admin entry":
        newest = emu.admin("GET", "/journal?limit=1")[0]
        assert newest["operation"] == "HentDebitorkonto"
        assert emu.admin("GET", f"/journal/{newest['id']}")["transaction_id"] == TID
    elif reader == "admin export":
        r = emu.http.get("/_admin/journal/export")
        rows = [json.loads(line) for line in r.get_data(as_text=True).splitlines()]
        assert rows[-1]["operation"] == "HentDebitorkonto"
    else:
        page = emu.http.get("/journal" if reader == "dashboard journal" else "/")
        assert page.status_code == 200
        text = lxml_html.fromstring(page.data).text_content()
        assert "HentDebitorkonto" in text


def test_reads_and_writes_keep_their_order_in_the_journal(emu: InProcessEmulator) -> None:
    """A read's row is committed ahead of the next write's, so ids follow the answers."""
    number = account(emu)
    _read(emu, number)
    account(emu, ref="A-2", cpr="0101901234")
    ops = [r["operation"] for r in emu.admin("GET", "/journal?limit=3")]
    assert ops == ["OpretDebitorkonto", "HentDebitorkonto", "OpretDebitorkonto"]


def test_a_burst_of_reads_is_written_in_batches(emu: InProcessEmulator) -> None:
    assert emu.runtime.store._group is not None  # a SQLite file: reads ride the group commit
    check_reads_are_queued_and_batched(emu)


def check_reads_are_queued_and_batched(emu: InProcessEmulator) -> None:
    """A read leaves no idempotency record and no row of its own; 130 reads are written
    in a few transactions, all there once the journal is read. (Shared by the SQLite test
    here and the PostgreSQL one; ``DEFERRED_SECONDS`` set out of the way.)"""
    number = account(emu)
    store = emu.runtime.store
    batcher: Any = store._group or store._deferred
    records = _count(store, t.idempotency)
    _read(emu, number, TID)
    assert _count(store, t.idempotency) == records
    assert _count(store, t.journal, operation="HentDebitorkonto") == 0
    before = batcher.commits
    for _ in range(129):
        _read(emu, number)
    # how many are still queued now depends on when the sweeper, woken at 64, ran (it
    # writes all that wait by then): not asserted; the reader commits the rest
    emu.admin("GET", "/journal?limit=1")
    assert _count(store, t.journal, operation="HentDebitorkonto") == 130
    assert batcher.commits - before <= 3  # not 130 transactions


def test_shutdown_writes_the_queued_read_rows(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "DEFERRED_SECONDS", 3600.0)
    with in_process(tmp_path) as emu:
        number = account(emu)
        for _ in range(3):
            _read(emu, number)
        assert _count(emu.runtime.store, t.journal, operation="HentDebitorkonto") == 0
    again = Store(f"sqlite:///{tmp_path / 'emulator.sqlite3'}")
    try:
        assert _count(again, t.journal, operation="HentDebitorkonto") == 3
    finally:
        again.dispose()


def test_a_repeated_read_is_answered_afresh(emu: InProcessEmulator) -> None:
    """A read keeps no answer for replay: the same TransaktionsID again gets today's
    state, and a TransaktionsID a read used is free for a write."""
    number = account(emu)
    first = _read(emu, number, TID)
    emu.soap.debitor_registrering.call("OpretFordring", messages.opret_fordring(
        CALLER, account_number=number, claim=_spec()))
    again = _read(emu, number, TID)
    assert first.findtext("Debitorkonto/Saldo") != again.findtext("Debitorkonto/Saldo")
    statuses = [r["status"] for r in emu.admin(
        "GET", f"/journal?transaktions_id={TID}&operation=HentDebitorkonto")]
    assert statuses == ["ok", "ok"]
    write = emu.soap.debitor_registrering.call("OpretFordring", messages.opret_fordring(
        CALLER, account_number=number, claim=_spec("C-2"), transaction_id=TID))
    assert write.ok, write.errors


def test_a_read_reusing_a_writes_transaction_id_is_still_refused(
        emu: InProcessEmulator) -> None:
    number = account(emu)
    write = emu.soap.debitor_registrering.call("OpretFordring", messages.opret_fordring(
        CALLER, account_number=number, claim=_spec(), transaction_id=TID))
    assert write.ok
    refused = emu.soap.debitor_forespoergsel.call(
        "HentDebitorkonto", messages.hent_debitorkonto(CALLER, account_number=number,
                                                       transaction_id=TID))
    assert [(e.code, e.field) for e in refused.errors] == [
        ("PSRM-600", "Hovedoplysninger/TransaktionsID")]


def _spec(ref: str = "C-1") -> messages.ClaimSpec:
    from tests.test_debtor_end import spec

    return spec(ref=ref)


def test_a_gunicorn_worker_writes_the_queued_read_rows_as_it_exits(
        emu: InProcessEmulator) -> None:
    """``oir serve`` registers this as gunicorn's ``worker_exit``: a graceful stop loses
    no read's row."""
    from emulator.serving.server import settle_apps

    number = account(emu)
    _read(emu, number)
    assert _count(emu.runtime.store, t.journal, operation="HentDebitorkonto") == 0
    settle_apps([emu.app])
    assert _count(emu.runtime.store, t.journal, operation="HentDebitorkonto") == 1
