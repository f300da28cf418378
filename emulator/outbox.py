"""The outbox: outgoing SOAP calls of the debtor end, sent after the transaction that queued
them has committed, retried with back-off, and their answers taken in.

A call is never made while a database transaction is open, so the emulator can call its
own PSRM and fagsystem ends over HTTP without a worker waiting on itself. Several workers
(or processes) may drain the same outbox: an item is claimed with a conditional update
before it is sent, so it is sent once.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from lxml import etree
from sqlalchemy import Connection, select, update

from emulator.bookkeeping import (
    AccountEvents,
    release_pending_recall,
    release_pending_writedowns,
    resubmit_after_recall,
    waits_for_recall,
)
from emulator.runtime import Runtime
from emulator.storage import journal, ledger
from emulator.storage import schema as t
from oir_adapter import mapping
from oir_adapter.clients import ClientError, Reply
from oir_adapter.domain.model import (
    CLOSED_STATES,
    Claim,
    ClaimState,
    PsrmAction,
    PsrmActionCode,
    PsrmStatus,
)

log = logging.getLogger("emulator.outbox")


def _claim_next(runtime: Runtime) -> dict[str, Any] | None:
    """Claim the oldest due item (PENDING → SENDING), or None.

    A claim is a lease: ``next_attempt`` moves to the end of it, and an item still SENDING
    after its lease ran out (the sender died mid-call, e.g. a killed process) is due again.
    The receiving ends are idempotent, so a call that did arrive is answered once more.
    """
    now = datetime.now()
    lease_end = now + timedelta(seconds=max(60.0, 3 * runtime.config.call_timeout_seconds))
    due = (select(t.outbox).where(t.outbox.c.status.in_(("PENDING", "SENDING")),
                                  t.outbox.c.next_attempt <= now)
           .order_by(t.outbox.c.id).limit(1))
    # Nothing due is the usual answer (every worker asks on each poll and after each
    # write that queued a call): a snapshot gives it without a writing transaction,
    # whose writers' lock on PostgreSQL would make every other writer wait.
    with runtime.store.snapshot() as conn:
        if conn.execute(due).first() is None:
            return None
    # Claimers take turns (key "outbox"); beside them, writers only add rows (the claim
    # is a conditional update, so a row claimed meanwhile is not claimed twice).
    with runtime.store.transaction(keys=("outbox",)) as conn:
        row = conn.execute(due).first()
        if row is None:
            return None
        claimed = conn.execute(update(t.outbox).where(
            t.outbox.c.id == row.id, t.outbox.c.status == row.status,
            t.outbox.c.next_attempt == row.next_attempt).values(
                status="SENDING", next_attempt=lease_end))
        if claimed.rowcount != 1:
            return None
        return dict(row._mapping)


def drain(runtime: Runtime, *, max_items: int = 10_000) -> int:
    """Send every due item now; return how many were handled."""
    handled = 0
    while handled < max_items:
        item = _claim_next(runtime)
        if item is None:
            break
        send(runtime, item)
        handled += 1
    return handled


def send(runtime: Runtime, item: dict[str, Any]) -> None:
    """Send one claimed item and record the outcome."""
    started = time.perf_counter()
    body = etree.fromstring(item["payload"])
    if item["target"] == "psrm":
        service_name, url = "MFFordringIndberet", runtime.psrm_url("MFFordringIndberet")
    else:
        service_name, url = "DaekningAfskrivningRegistreringAfsend", runtime.callback_url()
    client = runtime.client(service_name, url)
    try:
        reply = client.call(item["operation"], body)
    except ClientError as exc:
        _failed(runtime, item, exc, started)
        return
    # PSRM's receipts change claims of any account: that waits for every writer; a
    # callback's answer changes its own outbox row and journals it, nothing else
    keys = None if item["target"] == "psrm" else (f"outbox:{item['id']}",)
    with runtime.store.transaction(keys) as conn:
        if item["target"] == "psrm":
            take_receipts(conn, runtime, reply.element, item["context"])
        conn.execute(update(t.outbox).where(t.outbox.c.id == item["id"]).values(
            status="SENT", attempts=item["attempts"] + 1, last_error=None))
        _journal_out(conn, runtime, service_name, item, started, reply, None)


def _failed(runtime: Runtime, item: dict[str, Any], exc: ClientError, started: float) -> None:
    attempts = item["attempts"] + 1
    final = attempts >= runtime.config.outbox_max_attempts
    delay = min(60.0, 0.5 * (2 ** (attempts - 1)))
    log.warning("outbox item %s (%s) failed (attempt %s): %s", item["id"], item["operation"],
                attempts, exc)
    with runtime.store.transaction(keys=(f"outbox:{item['id']}",)) as conn:  # its row alone
        conn.execute(update(t.outbox).where(t.outbox.c.id == item["id"]).values(
            status="FAILED" if final else "PENDING", attempts=attempts,
            next_attempt=datetime.now() + timedelta(seconds=delay), last_error=str(exc)[:2000]))
        service_name = ("MFFordringIndberet" if item["target"] == "psrm"
                        else "DaekningAfskrivningRegistreringAfsend")
        _journal_out(conn, runtime, service_name, item, started, None, exc)


def _journal_out(conn: Connection, runtime: Runtime, service_name: str, item: dict[str, Any],
                 started: float, reply: Reply | None, exc: ClientError | None) -> None:
    context = item["context"]
    correlation: dict[str, Any] = {"outbox": item["id"], **{
        k: v for k, v in context.items() if k in ("delivery_id", "account")}}
    claims = sorted(set(context.get("claims") or ()))
    if claims:
        correlation.update({"claim": claims[0]} if len(claims) == 1 else {"claims": claims})
    record_sent(conn, service=service_name, operation=item["operation"],
                request=item["payload"], reply=reply, exc=exc, started=started,
                correlation=correlation)


def record_sent(conn: Connection, *, service: str, operation: str, request: bytes,
                reply: Reply | None, exc: ClientError | None, started: float,
                correlation: dict[str, Any], summary: str | None = None) -> None:
    """Journal one call the debtor end made (``oir`` ``out``): a delivery, a callback or
    a poll of PSRM, with its TransaktionsID, what it is about and a one-line summary."""
    from emulator import clock

    response = etree.tostring(reply.element, encoding="UTF-8") if reply is not None else None
    status = "ok" if reply is not None and reply.ok else ("rejected" if reply else "error")
    sent = etree.fromstring(request)
    found = sent.find(".//{*}TransaktionsID")
    journal.record(conn, journal.Exchange(
        end="oir", direction="out", service=service, operation=operation,
        status=status, http_status=reply.http_status if reply else None, started=started,
        request_xml=request, response_xml=response,
        transaction_id=found.text.strip() if found is not None and found.text else None,
        correlation=correlation,
        summary=str(exc)[:400] if exc else (summary or sent_summary(sent, reply))),
        virtual_at=clock.now(conn))


def sent_summary(request: etree._Element, reply: Reply | None) -> str:
    """One line about a call the debtor end made: what it carried and what came back."""
    name = etree.QName(request).localname
    if name == "RegistrerDaekningAfskrivningRequest":
        kinds = Counter(k.text for k in request.iter("{*}HaendelseTypeKode"))
        claims = sorted({c.text or "" for c in request.iter("{*}FordringID")})
        return (f"{sum(kinds.values())} events ({_counted(kinds)}) on {', '.join(claims)}"
                + ("" if reply is None or reply.ok else f"; answered {reply.reaction}"))[:400]
    statuses = Counter(a.status for a in reply.actions) if reply is not None else Counter()
    if name == "MFFordringIndberet_I":
        delivery = request.findtext("{*}MFLeveranceID")
        actions = len(request.findall("{*}FordringAktionSamling/{*}FordringAktion"))
        return f"{delivery}: {actions} actions, {_counted(statuses) or 'no answer'}"[:400]
    if name == "MFKvitteringHent_I":
        return f"receipts: {sum(statuses.values())} actions, {_counted(statuses) or 'none'}"
    return name


def _counted(counts: Counter[Any]) -> str:
    return ", ".join(f"{n} {key}" for key, n in sorted(counts.items(), key=str))


# ---------------------------------------------------------------- PSRM answers


def take_receipts(conn: Connection, runtime: Runtime, element: etree._Element,
                  context: dict[str, Any]) -> list[dict[str, Any]]:
    """Update claims from PSRM receipts (a synchronous answer or ``MFKvitteringHent``).

    A receipt belongs to the claim at its position in the delivery (``context["claims"]``,
    when ``positional``), else to the claim with its action id or EFI id. The claims of a
    whole batch are read at once, and the fagsystem hears of them in one callback per
    account (:class:`~emulator.bookkeeping.AccountEvents`).
    """
    from emulator import clock

    fired: list[dict[str, Any]] = []
    today = clock.today(conn)
    actions = mapping.decode_receipts(element)
    claims = _claims_for_receipts(conn, actions, context)
    pending = ledger.claims_with_pending_psrm(conn, [c.id for c in claims if c is not None])
    callbacks = AccountEvents()
    for action, claim in zip(actions, claims, strict=True):
        if claim is not None:
            fired.extend(_take_receipt(conn, runtime, claim, action, today, callbacks,
                                       has_pending=claim.id in pending))
    callbacks.queue(conn, runtime, datetime.combine(today, datetime.min.time()))
    return fired


def _claims_for_receipts(conn: Connection, actions: Sequence[PsrmAction],
                         context: dict[str, Any]) -> list[Claim | None]:
    """The claim each receipt is about (None: not one of ours), read in a few statements:
    by position in the delivery, else by the action's id, else by its EFI id."""
    by_position: list[str | None] = [None] * len(actions)
    if context.get("positional", True):
        for position, claim_id in enumerate(list(context.get("claims", []))[:len(actions)]):
            by_position[position] = claim_id
    loaded = ledger.claims_by_ids(conn, [i for i in by_position if i is not None])
    unmatched = [a for a, i in zip(actions, by_position, strict=True) if i not in loaded]
    progress = ledger.psrm_status_by_action(conn, [a.action_id for a in unmatched])
    by_action = {a: claim_id for a, (claim_id, _status) in progress.items()}
    # a receipt that tells a hand-over's claim nothing new (a poll the day PSRM answered)
    # does not need its claim read
    stale = {a.action_id for a in unmatched if a.action_id in progress
             and not _moves(a, a.action_id, progress[a.action_id][1])}
    by_efi = ledger.claim_ids_by_psrm(conn, "psrm_efi_claim_id", [
        a.efi_claim_id for a in unmatched
        if a.action_id not in by_action and a.efi_claim_id])
    named = [by_action.get(a.action_id) or by_efi.get(a.efi_claim_id or "") for a in unmatched
             if a.action_id not in stale]
    loaded.update(ledger.claims_by_ids(conn, [i for i in named if i is not None]))
    out: list[Claim | None] = []
    for action, claim_id in zip(actions, by_position, strict=True):
        if claim_id not in loaded:
            if action.action_id in stale:
                out.append(None)
                continue
            claim_id = by_action.get(action.action_id) or by_efi.get(action.efi_claim_id or "")
        out.append(loaded.get(claim_id) if claim_id is not None else None)
    return out


#: How far an action has come in PSRM: an answer never takes a claim back to an earlier one.
#: (A real PSRM may put an action in hearing: that is under way, as SAGSBEHANDL is.)
_PROGRESS = {PsrmStatus.RECEIVED: 0, PsrmStatus.HEARING: 1, PsrmStatus.IN_PROCESS: 1,
             PsrmStatus.DONE: 2, PsrmStatus.REJECTED: 2}


def _moves(action: PsrmAction, action_id: str | None, status: PsrmStatus | None) -> bool:
    """Whether a receipt moves a claim whose hand-over is ``action_id`` at ``status``:
    every receipt but the same answer again, or an older one replayed, for a hand-over
    (``OPRETFORDRING``, ``GENINDSENDFORDRING``); nothing moves back."""
    if action.code not in (PsrmActionCode.CREATE, PsrmActionCode.RESUBMIT):
        return True
    return not (action_id == action.action_id and status is not None
                and _PROGRESS[action.status] <= _PROGRESS[status])


def _take_receipt(conn: Connection, runtime: Runtime, claim: Claim, action: PsrmAction,
                  today: date, callbacks: AccountEvents, *, has_pending: bool
                  ) -> list[dict[str, Any]]:
    """Book one receipt on its claim. ``has_pending``: a recall or write-downs wait for
    PSRM's EFI id (without, nothing is asked about them)."""
    if action.code not in (PsrmActionCode.CREATE, PsrmActionCode.RESUBMIT):
        if action.status is PsrmStatus.REJECTED:
            callbacks.add(callbacks.account(conn, claim.account_number),
                          mapping.events_from_receipt(claim, action, on=today))
        return [{"end": "oir", "event": "psrm_receipt", "claim_id": claim.id,
                 "action": action.code.value, "status": action.status.value}]
    if claim.psrm is None:
        return []
    if not _moves(action, claim.psrm.action_id, claim.psrm.status):
        return []  # the same answer again, or an older one replayed: nothing moves back
    first_answer = claim.psrm.status is None
    rejected = action.status is PsrmStatus.REJECTED
    # paid (or written off) while PSRM had not answered yet: it stays so, and the
    # fagsystem hears of no hand-over (the pending write-downs clear PSRM's side)
    settled = claim.state in CLOSED_STATES and not rejected
    # recalled by the municipality (Tilbagekald; or returned by PSRM) before this answer:
    # it stays TILBAGEKALDT whatever PSRM says of the hand-over, AFVIST included — the
    # claim is back with the debtor system either way, that is what was asked for, and the
    # fagsystem, told TILBAGEKALDT already, hears of no hand-over or rejection now
    recalled = claim.state is ClaimState.RECALLED
    # recalled, then handed over again, before this answer: the answer is the recalled
    # hand-over's; the fagsystem hears of the new one's only (see hand_over)
    resubmit = has_pending and waits_for_recall(conn, claim)
    keep = settled or recalled or resubmit
    before = dataclasses.replace(claim, state=ClaimState.OPEN) if first_answer else claim
    events = [] if keep else mapping.events_from_receipt(before, action, on=today)
    claim.psrm.status = action.status
    claim.psrm.status_date = action.status_changed.date()
    claim.psrm.action_id = action.action_id
    claim.psrm.efi_claim_id = action.efi_claim_id or claim.psrm.efi_claim_id
    claim.psrm.reasons = list(action.reasons)
    if not keep:
        claim.state = mapping.state_after_receipt(before, action)
    ledger.save_claim(conn, claim)
    callbacks.add(callbacks.account(conn, claim.account_number), events)
    now = datetime.combine(today, datetime.min.time())
    # a recall, and write-downs, booked while PSRM's EFI id was unknown: send them now
    # that it is known, drop them when the hand-over came back rejected (the remainder
    # reflects the write-downs); a recall goes alone, the claim comes back whole, and a
    # hand-over asked for since goes right after it
    if has_pending and (rejected or claim.psrm.efi_claim_id):
        if resubmit:
            resubmit_after_recall(conn, runtime, claim, rejected=rejected, day=today, now=now)
        elif not release_pending_recall(conn, runtime, claim, send=not rejected, now=now):
            release_pending_writedowns(conn, runtime, claim, send=not rejected, now=now)
    return [{"end": "oir", "event": "psrm_receipt", "claim_id": claim.id,
             "action": action.code.value, "status": action.status.value}]


# ---------------------------------------------------------------- the worker


def prune_journal(runtime: Runtime, keep_days: int) -> int:
    """Delete journal entries older than ``keep_days`` days, batch by batch; how many."""
    total = 0
    while True:
        gone = runtime.store.write(lambda conn: journal.prune(conn, keep_days=keep_days))
        total += gone
        if gone < journal.PRUNE_BATCH:
            break
    if total:
        log.info("journal: %d entries older than %d days deleted", total, keep_days)
    return total
