"""The fagsystem end: receives the debtor end's callbacks — ``RegistrerDaekningAfskrivning``
(kept event by event for inspection: admin API, dashboard, conformance suite),
``RegistrerDebitorkontoStatus`` (status advice on accounts) and ``FordringTilIndbetaling``
(a claim open for payment) — and answers each; the journal keeps them all with their XML.

Events are idempotent on ``HaendelseID``: a retried callback stores nothing twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select

from emulator.soap.pipeline import Call, OperationHandler
from emulator.storage import schema as t
from emulator.storage.store import from_ore, to_ore
from oir_adapter.codecs import Reader
from oir_adapter.codecs.oir_replies import Fejl, reply, sub, transaction_id_of
from oir_adapter.contracts import OIR_NS
from oir_adapter.domain import rules


def _receive(call: Call) -> Any:
    r = Reader(call.body, OIR_NS)
    events = list(r.all("HaendelseSamling/Haendelse"))
    ids = [e.text("HaendelseID") for e in events]
    # the ids stored already, asked once for the callback (a retry stores nothing twice)
    known: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        known.update(call.conn.execute(select(t.fagsystem_events.c.event_id).where(
            t.fagsystem_events.c.event_id.in_(ids[start:start + _CHUNK]))).scalars())
    rows = []
    for e, event_id in zip(events, ids, strict=True):
        if event_id in known:
            continue
        known.add(event_id)
        amount = e.opt_money("Beloeb")
        remaining = e.opt_money("Restbeloeb")
        reasons = [{"number": a.text("AfvistNummer"), "text": a.text("AfvistTekst")}
                   for a in e.all("AfvistAarsagSamling/AfvistAarsag")]
        rows.append(dict(
            received_at=call.now, transaction_id=call.transaction_id or "", event_id=event_id,
            event_type=e.text("HaendelseTypeKode"), account_number=e.text("DebitorkontoNummer"),
            claim_id=e.text("FordringID"), fagsystem_claim_id=e.text("FagsystemFordringID"),
            date=e.date("Dato"), amount_ore=to_ore(amount) if amount is not None else None,
            source=e.opt_text("Kilde"), source_id=e.opt_text("KildeID"),
            reason=e.opt_text("AarsagKode"), status=e.opt_text("Status"),
            remaining_ore=to_ore(remaining) if remaining is not None else None,
            reasons=reasons or None))
    if rows:  # one statement for the callback's events, not one an event
        call.conn.execute(insert(t.fagsystem_events), rows)
    call.summary = f"{len(events)} events, {len(rows)} new"
    el = reply("RegistrerDaekningAfskrivningResponse", call.transaction_id, call.now)
    sub(el, "ModtagetAntal", len(events))
    return el


_CHUNK = 500  # event ids bound in one IN (…)


def _status_advice(call: Call) -> Any:
    r = Reader(call.body, OIR_NS)
    advice = list(r.all("StatusAdviseringSamling/StatusAdvisering"))
    kinds = sorted({a.text("AdviseringTypeKode") for a in advice})
    call.summary = f"{len(advice)} status advice ({', '.join(kinds)})"
    call.correlation = {"account": advice[0].text("DebitorkontoNummer")} if advice else {}
    el = reply("RegistrerDebitorkontoStatusResponse", call.transaction_id, call.now)
    sub(el, "ModtagetAntal", len(advice))
    return el


def _fordring_til_indbetaling(call: Call) -> Any:
    r = Reader(call.body, OIR_NS)
    call.summary = (f"claim {r.text('FordringID')} open for payment: "
                    f"{r.text('Restbeloeb')} DKK, FIK {r.text('Opkraevning/BetalingsID')}")
    call.correlation = {"account": r.text("DebitorkontoNummer"), "claim": r.text("FordringID")}
    return reply("FordringTilIndbetalingResponse", call.transaction_id, call.now)


def _refusal(response: str) -> Any:
    def refuse(call: Call, transaction_id: str) -> Any:
        v = rules.violation("PSRM-600", fmt="oir", field="transaction_id",
                            action_id=transaction_id)
        return reply(response, transaction_id, call.now, [Fejl(*v.to_fejl())])
    return refuse


def _keys(body: Any) -> tuple[str, ...] | None:
    """Lock keys (PostgreSQL: callbacks run beside writers with other keys): what these
    handlers write besides the journal is the events, unique by ``HaendelseID``, and the
    answer kept under the TransaktionsID; they read nothing else another writer changes.
    An event without an id (the schema requires one) gets no keys: it waits for all."""
    r = Reader(body, OIR_NS)
    event_ids = [e.opt_text("HaendelseID") for e in r.all("HaendelseSamling/Haendelse")]
    if None in event_ids:
        return None
    keys = [f"event:{event_id}" for event_id in event_ids]
    transaction_id = transaction_id_of(body)
    return (*keys, f"tid:{transaction_id}") if transaction_id else tuple(keys)


HANDLERS = {
    "RegistrerDaekningAfskrivning": OperationHandler(
        _receive, _refusal("RegistrerDaekningAfskrivningResponse"), transaction_id_of,
        lock_keys=_keys),
    "RegistrerDebitorkontoStatus": OperationHandler(
        _status_advice, _refusal("RegistrerDebitorkontoStatusResponse"), transaction_id_of,
        lock_keys=_keys),
    "FordringTilIndbetaling": OperationHandler(
        _fordring_til_indbetaling, _refusal("FordringTilIndbetalingResponse"),
        transaction_id_of, lock_keys=_keys),
}


def events(conn: Connection, *, claim_id: str | None = None,
           limit: int = 1000) -> list[dict[str, Any]]:
    """Received events, oldest first, as JSON-ready dicts."""
    q = select(t.fagsystem_events).order_by(t.fagsystem_events.c.seq)
    if claim_id:
        q = q.where(t.fagsystem_events.c.claim_id == claim_id)
    out = []
    for r in conn.execute(q.limit(limit)).all():
        out.append({
            "seq": r.seq, "received_at": r.received_at.isoformat(), "event_id": r.event_id,
            "type": r.event_type, "account_number": r.account_number, "claim_id": r.claim_id,
            "fagsystem_claim_id": r.fagsystem_claim_id, "date": r.date.isoformat(),
            "amount": None if r.amount_ore is None else str(from_ore(r.amount_ore)),
            "source": r.source, "source_id": r.source_id, "reason": r.reason,
            "status": r.status,
            "remaining": None if r.remaining_ore is None else str(from_ore(r.remaining_ore)),
            "reasons": r.reasons or [],
        })
    return out
