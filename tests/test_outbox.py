"""The outbox: calls queued in a request's transaction are sent after it, once; an item
whose sender died mid-call (still SENDING when its lease ran out) is sent again."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from sqlalchemy import select, update

from emulator import outbox
from emulator.storage import schema as t
from emulator.worker import OutboxWorker
from oir_adapter.codecs import oir_requests as messages
from tests.emulator_inproc import InProcessEmulator, in_process
from tests.test_debtor_end import CALLER, account, claim


def _items(conn: object) -> list[tuple[str, str]]:
    return [(r.target, r.status) for r in conn.execute(  # type: ignore[attr-defined]
        select(t.outbox).order_by(t.outbox.c.id))]


def _pay(emu: InProcessEmulator) -> None:
    """A claim and a payment on it: the payment queues one fagsystem callback."""
    emu.admin("PUT", "/clock", now="2026-03-02T10:00:00")
    number = account(emu)
    claim(emu, number)
    emu.soap.debitor_indbetaling.call("ForetagIndbetaling", messages.foretag_indbetaling(
        CALLER, payment_id="P-1", amount=D("100.00"), paid=date(2026, 3, 2),
        account_number=number))


def test_a_payment_callback_is_queued_then_sent_once(tmp_path: Path) -> None:
    with in_process(tmp_path) as emu:
        _pay(emu)
        with emu.runtime.store.transaction() as conn:
            assert _items(conn) == [("fagsystem", "PENDING")]
        assert outbox.drain(emu.runtime) == 1
        assert outbox.drain(emu.runtime) == 0
        with emu.runtime.store.transaction() as conn:
            assert _items(conn) == [("fagsystem", "SENT")]
        assert [e["event_id"] for e in emu.admin("GET", "/fagsystem/events")] == [
            "INDB-P-1-F0000001"]


def test_an_item_left_sending_by_a_dead_sender_is_sent_after_its_lease(tmp_path: Path) -> None:
    with in_process(tmp_path) as emu:
        _pay(emu)
        # a sender claimed it and died: SENDING, lease still running → not taken
        with emu.runtime.store.transaction() as conn:
            conn.execute(update(t.outbox).values(
                status="SENDING", next_attempt=datetime.now() + timedelta(minutes=5)))
        assert outbox.drain(emu.runtime) == 0
        # the lease runs out → sent again, and the fagsystem end stores the event once
        with emu.runtime.store.transaction() as conn:
            conn.execute(update(t.outbox).values(
                next_attempt=datetime.now() - timedelta(seconds=1)))
        assert outbox.drain(emu.runtime) == 1
        with emu.runtime.store.transaction() as conn:
            assert _items(conn) == [("fagsystem", "SENT")]
        assert len(emu.admin("GET", "/fagsystem/events")) == 1


def test_the_journal_keeps_only_its_days_when_told_to(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """OIR_JOURNAL_KEEP_DAYS: the outbox worker deletes older entries, in batches, once a
    minute; newer ones and everything else stay."""
    from emulator.config import EmulatorConfig
    from emulator.storage import journal

    assert EmulatorConfig.from_env({"OIR_JOURNAL_KEEP_DAYS": "30"}).journal_keep_days == 30
    assert EmulatorConfig.from_env({}).journal_keep_days is None  # kept for ever by default
    with pytest.raises(ValueError, match="OIR_JOURNAL_KEEP_DAYS"):
        EmulatorConfig.from_env({"OIR_JOURNAL_KEEP_DAYS": "0"})
    monkeypatch.setattr(journal, "PRUNE_BATCH", 7)  # several batches
    with in_process(tmp_path, journal_keep_days=30) as emu:
        for n in range(20):
            account(emu, ref=f"A-{n}")
        emu.runtime.store.settle()
        with emu.runtime.store.transaction() as conn:
            ids = conn.execute(select(t.journal.c.id).order_by(t.journal.c.id)).scalars().all()
            old = ids[:17]
            conn.execute(update(t.journal).where(t.journal.c.id.in_(old)).values(
                at=datetime.now() - timedelta(days=31)))
            conn.execute(update(t.journal).where(t.journal.c.id == ids[17]).values(
                at=datetime.now() - timedelta(days=29)))
        worker = OutboxWorker(emu.runtime)
        worker._prune_journal()
        with emu.runtime.store.transaction() as conn:
            left = conn.execute(select(t.journal.c.id).order_by(t.journal.c.id)).scalars().all()
            accounts = len(conn.execute(select(t.accounts.c.number)).all())
        assert left == ids[17:] and accounts == 20
        with emu.runtime.store.transaction() as conn:  # once a minute, not every round
            conn.execute(update(t.journal).values(at=datetime.now() - timedelta(days=40)))
        worker._prune_journal()
        with emu.runtime.store.transaction() as conn:
            assert len(conn.execute(select(t.journal.c.id)).all()) == len(left)
        assert outbox.prune_journal(emu.runtime, 30) == len(left)


def test_poll_says_what_the_outbox_still_holds(tmp_path: Path) -> None:
    """``queued`` counts what a poll could not send yet (here: a call another sender holds
    in its lease), so the conformance suite knows when nothing more is on its way."""
    with in_process(tmp_path) as emu:
        _pay(emu)
        with emu.runtime.store.transaction() as conn:
            conn.execute(update(t.outbox).values(
                status="SENDING", next_attempt=datetime.now() + timedelta(minutes=5)))
        assert emu.admin("POST", "/poll")["queued"] == 1
        with emu.runtime.store.transaction() as conn:
            conn.execute(update(t.outbox).values(
                next_attempt=datetime.now() - timedelta(seconds=1)))
        answer = emu.admin("POST", "/poll")
        assert (answer["sent"], answer["queued"]) == (1, 0)
