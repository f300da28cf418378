"""What the virtual clock sets off, day by day: payouts booked, reminders sent, claims
offset and handed to PSRM, PSRM's status progression and scripted events, and the debtor
end fetching PSRM's receipts and notifications.

Each virtual day runs in its own transactions, and outgoing calls are made between them
(never inside one), so a day's hand-over reaches the PSRM end over HTTP before the next
day asks for its receipt. ``processed_day`` in the settings table says how far the chain
has run; advancing the clock runs every day from there to the new today.

With several workers (or hosts) on one database, every entry here — advancing or setting
the clock, catching up, polling PSRM — holds :data:`emulator.storage.store.LOCK_CHAIN` across
processes (``Store.exclusive``) for its whole run, so a day is processed once and a
second caller waits, then finds the work done (or moves the clock on from where the
first left it).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from lxml import etree
from sqlalchemy import Connection, select

from emulator import bookkeeping, clock, outbox
from emulator.ends import psrm
from emulator.ends.debtor import anmodning
from emulator.runtime import Runtime
from emulator.storage import ledger
from emulator.storage import schema as t
from emulator.storage.store import LOCK_CHAIN, get_setting, put_setting
from oir_adapter import mapping
from oir_adapter.clients import ClientError, Reply
from oir_adapter.domain import lifecycle
from oir_adapter.domain.coverage import apply_coverage, plan_coverage
from oir_adapter.domain.model import (
    ZERO,
    CoverageSource,
    DebtorAccount,
    WriteOff,
)

log = logging.getLogger("emulator.days")

_PROCESSED = "processed_day"
_LAST_SEQ = "psrm_last_seq"
MAX_DAYS = 3660  # one advance never runs more than ten years of days


def mark_processed(conn: Connection, day: date) -> None:
    put_setting(conn, _PROCESSED, day.isoformat())


def processed_day(conn: Connection) -> date | None:
    value = get_setting(conn, _PROCESSED)
    return date.fromisoformat(value) if value else None


def catch_up(runtime: Runtime) -> list[dict[str, Any]]:
    """Run every day up to the clock's today that has not run yet."""
    with runtime.store.snapshot() as conn:  # usually all have: no writers' lock to say so
        last = processed_day(conn)
        if last is not None and last >= clock.today(conn):
            return []
    with runtime.store.transaction() as conn:
        today = clock.today(conn)
        last = processed_day(conn)
        if last is None:
            mark_processed(conn, today)
            return []
    if last >= today:
        return []
    return run_days(runtime, None)


def run_days(runtime: Runtime, until: datetime | None) -> list[dict[str, Any]]:
    """Run each unprocessed day up to ``until`` (a virtual clock moving forward; ``None``:
    the clock follows real time). While a day runs, a virtual clock shows that day — at
    ``until``'s time of day — so everything the ends do that day is dated that day."""
    fired: list[dict[str, Any]] = []
    with runtime.store.exclusive(LOCK_CHAIN):
        for _ in range(MAX_DAYS):
            with runtime.store.transaction() as conn:
                target = until.date() if until is not None else clock.today(conn)
                last = processed_day(conn) or target
                if last >= target:
                    break
                day = last + timedelta(days=1)
                now = (datetime.combine(day, until.time()) if until is not None
                       else clock.now(conn))
                if until is not None:
                    clock.set_now(conn, now)
                fired.extend(on_day(day, _debtor_day(conn, runtime, day, now)))
            if runtime.config.psrm_url is None:
                with runtime.store.transaction() as conn:
                    fired.extend(on_day(day, psrm.progress(conn, runtime, day)))
            outbox.drain(runtime)
            fired.extend(poll_psrm(runtime, day))
            outbox.drain(runtime)
            with runtime.store.transaction() as conn:
                mark_processed(conn, day)
    return fired


def _debtor_day(conn: Connection, runtime: Runtime, day: date, now: datetime
                ) -> list[dict[str, Any]]:
    """The debtor end's day: payouts offset and booked, anmodninger settled, reminders,
    and the claims past SRB handed over. The PSRM actions all this causes are gathered
    (:class:`~emulator.bookkeeping.DayDeliveries`) and queued at the end as deliveries of
    up to 500 actions, sent once the day's transaction has committed."""
    fired: list[dict[str, Any]] = []
    deliveries = bookkeeping.DayDeliveries()
    for benefit in ledger.benefits_due(conn, day):
        lines, net = bookkeeping.book_benefit(conn, runtime, benefit, day, now, deliveries)
        fired.append({"end": "oir", "event": "payout_booked", "benefit_payment_id":
                      benefit.payment.id, "offset": str(sum((o.amount for o in lines), ZERO)),
                      "net_payout": str(net)})
    fired.extend(anmodning.run_due(conn, runtime, day, now))
    for claim in ledger.claims_needing_reminder(conn, day):
        assert claim.invoice is not None
        claim.invoice.reminder_date = day
        ledger.save_claim(conn, claim)
        fired.append({"end": "oir", "event": "reminder_sent", "claim_id": claim.id})
    # an account's claims side by side: they share a delivery, and the answer to it tells
    # the account's fagsystem of them in one callback (one a claim, were they spread out)
    account: DebtorAccount | None = None
    due = sorted(ledger.claims_for_handover(conn, day), key=lambda c: (c.account_number, c.id))
    facts = bookkeeping.HandoverFacts.load(conn, day, [c.id for c in due])
    for claim in due:
        if claim.deferred_on(day):
            continue
        if account is None or account.number != claim.account_number:
            account = ledger.get_account(conn, claim.account_number)
            assert account is not None
        result = bookkeeping.hand_over(conn, runtime, claim, account, None, day, now,
                                       deliveries, facts)
        # a claim kept back (offsetting reserved, under the lower limit) is retried daily;
        # say so on the day it first could have gone, not every day after
        assert claim.invoice is not None
        if result.outcome == "handed_over" or claim.invoice.reminder_date == day:
            fired.append(result.as_json())
    deliveries.queue(conn, runtime, now)
    return fired


# ---------------------------------------------------------------- PSRM polling


def poll_psrm(runtime: Runtime, day: date) -> list[dict[str, Any]]:
    """Fetch receipts for claims PSRM has not finished, then new notifications (once at a
    time across workers: two pollers would both book the same notifications). Each call
    is journaled as the debtor end's (``oir`` ``out``)."""
    with runtime.store.exclusive(LOCK_CHAIN):
        return on_day(day, _poll_psrm(runtime, day))


def on_day(day: date, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``events`` with the virtual day they happened on (``date``), unless they carry one."""
    for event in events:
        event.setdefault("date", day.isoformat())
    return events


def _call_psrm(runtime: Runtime, service: str, request: Any, correlation: dict[str, Any]
               ) -> tuple[Reply, Callable[[Connection, str | None], None]]:
    """Call one PSRM service; the answer, and how to journal the call in the transaction
    that books it (a failed call is journaled at once, then raised)."""
    sent = etree.tostring(request, encoding="UTF-8")
    started = time.perf_counter()
    try:
        reply = runtime.client(service, runtime.psrm_url(service)).call(service, request)
    except ClientError as exc:
        with runtime.store.transaction() as conn:
            outbox.record_sent(conn, service=service, operation=service, request=sent,
                               reply=None, exc=exc, started=started, correlation=correlation)
        raise

    def journal(conn: Connection, summary: str | None) -> None:
        outbox.record_sent(conn, service=service, operation=service, request=sent, reply=reply,
                           exc=None, started=started, correlation=correlation, summary=summary)

    return reply, journal


def _poll_psrm(runtime: Runtime, day: date) -> list[dict[str, Any]]:
    fired: list[dict[str, Any]] = []
    when = datetime.combine(day, datetime.min.time()).replace(hour=7)
    with runtime.store.transaction() as conn:
        awaiting = ledger.psrm_actions_awaited(conn)
        last_seq = int(get_setting(conn, _LAST_SEQ, 0))
        in_psrm = conn.execute(select(t.claims.c.id).where(
            t.claims.c.psrm_art.is_not(None)).limit(1)).first() is not None
    if not in_psrm:
        return fired
    try:
        se_number = runtime.config.se_number
        if awaiting:
            req = mapping.kvittering_request(se_number=se_number,
                                             action_ids=list(awaiting.values()),
                                             transaction_time=when)
            reply, journal = _call_psrm(runtime, "MFKvitteringHent", req, _about(list(awaiting)))
            with runtime.store.transaction() as conn:
                fired.extend(outbox.take_receipts(conn, runtime, reply.element,
                                                  {"positional": False}))
                journal(conn, None)
        for _ in range(100):  # pages
            req = mapping.underret_request(se_number=se_number, after=last_seq,
                                           transaction_time=when)
            reply, journal = _call_psrm(runtime, "MFUnderretSamlingHent", req,
                                        {"after_seq": last_seq})
            notes = mapping.decode_notifications(reply.element)
            after = last_seq
            with runtime.store.transaction() as conn:
                booked: list[dict[str, Any]] = []
                for note in notes:
                    booked.extend(take_notification(conn, runtime, note, day))
                    last_seq = max(last_seq, note.seq_no)
                put_setting(conn, _LAST_SEQ, last_seq)
                kinds = Counter(n.type.value for n in notes)
                claims = sorted({str(e["claim_id"]) for e in booked if e.get("claim_id")})
                journal(conn, f"{len(notes)} notifications after {after}"
                              + (f" ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))})"
                                 if notes else "")
                              + (f" on {', '.join(claims)}" if claims else ""))
                fired.extend(booked)
            more = reply.findtext("MFFlereUnderretninger") == "true"
            if not notes or not more:
                break
    except ClientError as exc:
        log.warning("polling PSRM failed: %s", exc)
        fired.append({"end": "oir", "event": "psrm_poll_failed", "error": str(exc)[:300]})
    return fired


def _about(claims: list[str]) -> dict[str, Any]:
    """The correlation of a call about ``claims`` (the key an answer's row uses too)."""
    unique = sorted(set(claims))
    return {"claim": unique[0]} if len(unique) == 1 else {"claims": unique}


def take_notification(conn: Connection, runtime: Runtime, note: mapping.PsrmNotification,
                      day: date) -> list[dict[str, Any]]:
    """Book one PSRM notification (coverage, write-off, return) on its claim."""
    claim = ledger.claim_by_efi_id(conn, note.efi_claim_id)
    if claim is None and note.claim_ref:
        row = conn.execute(select(t.claims.c.id).where(t.claims.c.id == note.claim_ref)).first()
        claim = ledger.get_claim(conn, row[0]) if row else None
    if claim is None:
        return [{"end": "oir", "event": "psrm_notification_unmatched", "seq": note.seq_no}]
    account = ledger.get_account(conn, claim.account_number)
    assert account is not None
    now = datetime.combine(day, datetime.min.time()).replace(hour=7)
    events = mapping.events_from_notification(claim, note)
    kind = note.type
    amount = min(note.amount or ZERO, claim.outstanding)
    if kind is mapping.NotificationType.COVERAGE and amount > 0:
        plan = plan_coverage([claim], amount, source=CoverageSource.PSRM,
                             source_id=f"PSRM-U{note.seq_no}", on=note.date,
                             claim_types=runtime.claim_types(conn), target_claim_id=claim.id)
        apply_coverage([claim], plan.lines)
        ledger.insert_coverage(conn, account.number, plan.lines)
        if claim.psrm is not None:
            claim.psrm.amount = max(ZERO, claim.psrm.amount - amount)
        claim.state = lifecycle.advance(claim.state, lifecycle.Step.PSRM_COVERAGE,
                                        outstanding=claim.outstanding)
    elif kind is mapping.NotificationType.WRITE_OFF and amount > 0:
        bookkeeping.write_down(claim, amount)
        ledger.insert_write_off(conn, account.number, WriteOff(
            claim.id, amount, note.reason_code or "PSRM", note.date))
        if claim.psrm is not None:
            claim.psrm.amount = max(ZERO, claim.psrm.amount - amount)
        claim.state = lifecycle.advance(claim.state, lifecycle.Step.PSRM_WRITE_OFF,
                                        outstanding=claim.outstanding)
    elif kind is mapping.NotificationType.RETURN:
        claim.state = lifecycle.advance(claim.state, lifecycle.Step.RETURNED,
                                        outstanding=claim.outstanding)
    ledger.save_claim(conn, claim)
    bookkeeping.queue_events(conn, runtime, account, events, now)
    return [{"end": "oir", "event": f"psrm_{kind.value.lower()}", "claim_id": claim.id,
             "amount": str(amount), "seq": note.seq_no}]


def advance(runtime: Runtime, *, days: int = 0, hours: int = 0) -> tuple[datetime, list[dict[str, Any]]]:
    """Move the clock forward and run what falls due; return the new now and the events."""
    with runtime.store.exclusive(LOCK_CHAIN):
        return _advance(runtime, days=days, hours=hours)


def _advance(runtime: Runtime, *, days: int, hours: int) -> tuple[datetime, list[dict[str, Any]]]:
    with runtime.store.transaction() as conn:
        start = clock.now(conn)
        if processed_day(conn) is None:
            mark_processed(conn, start.date())
        new = start + timedelta(days=days, hours=hours)
        clock.set_now(conn, new if new.date() == start.date() else start)
    fired = run_days(runtime, new)
    with runtime.store.transaction() as conn:
        clock.set_now(conn, new)
    return new, fired


def set_clock(runtime: Runtime, when: datetime) -> tuple[datetime, list[dict[str, Any]]]:
    """Set the clock; forward runs what falls due, backward only moves the hands."""
    with runtime.store.exclusive(LOCK_CHAIN):
        return _set_clock(runtime, when)


def _set_clock(runtime: Runtime, when: datetime) -> tuple[datetime, list[dict[str, Any]]]:
    with runtime.store.transaction() as conn:
        last = processed_day(conn) or clock.today(conn)
        mark_processed(conn, min(last, when.date()))
        clock.set_now(conn, when if when.date() <= last else
                      datetime.combine(last, when.time()))
    fired = run_days(runtime, when)
    with runtime.store.transaction() as conn:
        clock.set_now(conn, when)
    return when, fired

