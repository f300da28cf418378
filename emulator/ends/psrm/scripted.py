"""Scripted events and the day's progress: what the virtual clock makes PSRM do."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, bindparam, insert, select, update

from emulator.storage import schema as t
from emulator.storage.prepared import Prepared
from emulator.storage.store import to_ore
from oir_adapter.domain.model import (
    PsrmStatus,
)

if TYPE_CHECKING:
    from emulator.runtime import Runtime
from emulator.ends.psrm.claim_store import resolve_claim
from emulator.ends.psrm.notifications import apply_event
from emulator.ends.psrm.receipts import action_number
from emulator.ends.psrm.specs import spec_amount, spec_date, spec_text
from emulator.ends.psrm.vocabulary import ACTIVE, COVERAGE_SOURCES, END, SCRIPTED_KINDS


def script_event(conn: Connection, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Schedule a PSRM event for the virtual clock: ``{"due": "2026-12-01", "kind":
    "pay"|"write_off"|"return", "claim_ref"|"efi_claim_id": …, "amount": "150.00",
    "source": "INDB"|"MODR" (pay), "reason": "…" (write_off, return)}``. ``amount``
    defaults to what remains when the event fires. Raises ``ValueError`` naming the field.
    The claim is looked up when the event fires, so it may be scripted before hand-over."""
    unknown = set(spec) - {"due", "kind", "claim_ref", "efi_claim_id", "amount", "source",
                           "reason"}
    if unknown:
        raise ValueError(f"{sorted(unknown)[0]}: unknown field")
    due = spec_date(spec, "due", required=True)
    kind = spec_text(spec, "kind", required=True)
    if kind not in SCRIPTED_KINDS:
        raise ValueError(f"kind: {kind!r} is not one of {', '.join(SCRIPTED_KINDS)}")
    claim_ref = spec_text(spec, "claim_ref")
    efi_claim_id = spec_text(spec, "efi_claim_id")
    if not claim_ref and not efi_claim_id:
        raise ValueError("claim_ref: give claim_ref or efi_claim_id")
    amount = spec_amount(spec, "amount", required=False)
    if amount is not None and kind == "return":
        raise ValueError("amount: a return carries no amount")
    source = spec_text(spec, "source")
    if source is not None and (kind != "pay" or source not in COVERAGE_SOURCES):
        raise ValueError(f"source: {source!r} is not INDB or MODR on a pay event")
    reason = spec_text(spec, "reason", max_len=20)
    if reason is not None and kind == "pay":
        raise ValueError("reason: a pay event carries a source, not a reason")
    result = conn.execute(insert(t.psrm_scripted).values(
        due=due, kind=kind, claim_ref=claim_ref, efi_claim_id=efi_claim_id,
        amount_ore=None if amount is None else to_ore(amount),
        source=(source or "INDB") if kind == "pay" else None, reason=reason, done=False))
    key = result.inserted_primary_key
    assert key is not None and due is not None
    return {"id": int(key[0]), "due": due.isoformat(), "kind": kind, "claim_ref": claim_ref,
            "efi_claim_id": efi_claim_id, "amount": None if amount is None else str(amount),
            "source": (source or "INDB") if kind == "pay" else None, "reason": reason}


def _fire(conn: Connection, row: Row[Any]) -> dict[str, Any]:
    claim = resolve_claim(conn, row.claim_ref, row.efi_claim_id)
    skipped: dict[str, Any] = {"end": END, "event": "scripted_skipped", "scripted_id": row.id,
                               "kind": row.kind, "claim_ref": row.claim_ref,
                               "efi_claim_id": row.efi_claim_id, "date": row.due.isoformat()}
    if claim is None:
        return {**skipped, "reason": "no such claim in PSRM"}
    if claim.status != ACTIVE or (row.kind != "return" and claim.remaining_ore <= 0):
        return {**skipped, "reason": f"claim {claim.efi_claim_id} is {claim.status}"}
    ore = None if row.amount_ore is None else min(int(row.amount_ore), claim.remaining_ore)
    event = apply_event(conn, claim, kind=SCRIPTED_KINDS[row.kind], day=row.due,
                         amount_ore=ore, source=row.source, reason=row.reason)
    return {**event, "scripted_id": row.id}


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


_SET_ACTION_STATUS = Prepared(update(t.psrm_actions).where(
    t.psrm_actions.c.action_id == bindparam("key")))


def progress(conn: Connection, runtime: Runtime, day: date) -> list[dict[str, Any]]:
    """Run the PSRM end up to ``day``: accepted actions move ``MODTAGET`` → ``SAGSBEHANDL``
    (``psrm_days_to_process`` days after receipt) → ``UDFOERT`` (``psrm_days_to_done``),
    dated the day the change fell due; scripted events due on or before ``day`` fire.
    Safe to call for a day already run (nothing happens twice)."""
    cfg = runtime.config
    to_process = timedelta(days=cfg.psrm_days_to_process)
    to_done = timedelta(days=cfg.psrm_days_to_done)
    events: list[dict[str, Any]] = []
    open_statuses = (PsrmStatus.RECEIVED.value, PsrmStatus.IN_PROCESS.value)
    latest = datetime.combine(day - min(to_process, to_done), datetime.max.time())
    rows = conn.execute(select(t.psrm_actions).where(
        t.psrm_actions.c.status.in_(open_statuses), t.psrm_actions.c.received.is_not(None),
        t.psrm_actions.c.received <= latest)).all()
    moved: list[dict[str, Any]] = []
    for row in sorted(rows, key=lambda r: (action_number(r.action_id), r.action_id)):
        new_status, changed = None, None
        received = _day(row.received)
        if day >= received + to_done:
            new_status, changed = PsrmStatus.DONE.value, received + to_done
        elif day >= received + to_process and row.status == PsrmStatus.RECEIVED.value:
            new_status, changed = PsrmStatus.IN_PROCESS.value, received + to_process
        if new_status is None or changed is None:
            continue
        changed = datetime.combine(changed, datetime.min.time())  # the day it fell due
        moved.append({"key": row.action_id, "status": new_status, "status_changed": changed})
        events.append({"end": END, "event": "action_status", "action_id": row.action_id,
                       "delivery_id": row.delivery_id, "code": row.code, "status": new_status,
                       "date": changed.date().isoformat(),
                       "claim_ref": row.claim_ref, "efi_claim_id": row.efi_claim_id})
    _SET_ACTION_STATUS.run_many(conn, moved)  # one statement for the day, not one an action
    due = conn.execute(select(t.psrm_scripted).where(
        t.psrm_scripted.c.done.is_(False), t.psrm_scripted.c.due <= day)
        .order_by(t.psrm_scripted.c.due, t.psrm_scripted.c.id)).all()
    for row in due:
        events.append(_fire(conn, row))
        conn.execute(update(t.psrm_scripted).where(t.psrm_scripted.c.id == row.id)
                     .values(done=True))
    return events
