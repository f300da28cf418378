"""Each claim's story: its events in order, from the store and the journal."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, or_, select

from emulator.storage import ledger
from emulator.storage import schema as t
from emulator.storage.store import from_ore
from emulator.web.dashboard.figures import display_state
from emulator.web.dashboard.labels import STATE_LABELS, ExplainedReason, explain_reasons
from oir_adapter.domain.model import (
    ZERO,
    Claim,
    ClaimState,
    CoverageSource,
    OffsetStatus,
    PsrmStatus,
)

#: The steps of a claim's life, in order, as the stepper above its timeline shows them.
STEPS: tuple[tuple[str, str, str], ...] = (
    ("registered", "Registreret", "Registered"),
    ("invoiced", "Opkrævet", "Invoiced"),
    ("reminded", "Rykket", "Reminded"),
    ("offset", "Modregnet", "Offset"),
    ("handed_over", "Overdraget", "Handed over"),
    ("received", "Modtaget af PSRM", "Received by PSRM"),
    ("covered", "Dækket", "Covered"),
)

#: Timeline event kinds: (order within a day, Danish title, English title).
EVENT_KINDS: dict[str, tuple[int, str, str]] = {
    "registered": (0, "Registreret i debitorsystemet", "Registered in the debtor system"),
    "invoiced": (1, "Opkrævning udsendt", "Invoice issued"),
    "paid": (2, "Indbetaling dækkede", "Payment covered"),
    "reminded": (3, "Rykker sendt", "Reminder sent"),
    "offset_planned": (4, "Modregning planlagt", "Offset planned"),
    "offset": (5, "Modregnet i ydelsesudbetaling", "Offset in a benefit payment"),
    "handed_over": (6, "Sendt til PSRM", "Sent to PSRM"),
    "received": (7, "Modtaget af PSRM", "Received by PSRM"),
    "in_process": (8, "Under sagsbehandling i PSRM", "In process at PSRM"),
    "done": (9, "PSRM har udført aktionen", "PSRM has carried out the action"),
    "rejected": (9, "Afvist af PSRM", "Rejected by PSRM"),
    "written_off": (10, "Afskrevet", "Written off"),
    "covered": (11, "Dækket af PSRM", "Covered by PSRM"),
    "reported": (12, "Meldt til fagsystemet", "Reported to the fagsystem"),
}


@dataclass(slots=True)
class TimelineEvent:
    """One thing that happened to a claim, with where to see the evidence."""

    day: date
    kind: str
    claim_id: str
    detail_da: str = ""
    detail_en: str = ""
    amount: Decimal | None = None
    journal_id: int | None = None
    reasons: list[ExplainedReason] = field(default_factory=list)

    @property
    def order(self) -> tuple[date, int]:
        return self.day, EVENT_KINDS[self.kind][0]

    def title(self, lang: str) -> str:
        _, da, en = EVENT_KINDS[self.kind]
        return da if lang == "da" else en

    def detail(self, lang: str) -> str:
        return self.detail_da if lang == "da" else self.detail_en


@dataclass(slots=True)
class Step:
    key: str
    title_da: str
    title_en: str
    day: date | None

    def title(self, lang: str) -> str:
        return self.title_da if lang == "da" else self.title_en


@dataclass(slots=True)
class ClaimStory:
    """A claim with everything known about it: the timeline, the steps reached, the PSRM
    actions and the journal entries about it."""

    claim: Claim
    display_state: str
    events: list[TimelineEvent]
    steps: list[Step]
    actions: list[dict[str, Any]]
    exchanges: list[dict[str, Any]]


def _psrm_actions_for(conn: Connection, claims: Sequence[Claim]) -> dict[str, list[dict[str, Any]]]:
    """The PSRM end's actions about each claim (by its reference or its EFI claim id)."""
    by_ref = {c.id: c.id for c in claims}
    by_efi = {c.psrm.efi_claim_id: c.id for c in claims if c.psrm and c.psrm.efi_claim_id}
    out: dict[str, list[dict[str, Any]]] = {c.id: [] for c in claims}
    if not claims:
        return out
    a = t.psrm_actions.c
    conditions = [a.claim_ref.in_(list(by_ref))]
    if by_efi:
        conditions.append(a.efi_claim_id.in_(list(by_efi)))
    rows = conn.execute(select(t.psrm_actions).where(or_(*conditions))).all()
    for r in sorted(rows, key=lambda r: (_day(r.received or r.status_changed), r.action_id)):
        owner = by_ref.get(r.claim_ref or "") or by_efi.get(r.efi_claim_id or "")
        if owner is None:
            continue
        out[owner].append({
            "action_id": r.action_id, "delivery_id": r.delivery_id, "code": r.code,
            "status": r.status, "status_changed": _day(r.status_changed),
            "received": None if r.received is None else _day(r.received),
            "efi_claim_id": r.efi_claim_id, "reasons": explain_reasons(r.reasons or [])})
    return out


def _exchanges_for(conn: Connection, *, claim_ids: Sequence[str] = (),
                   account: str | None = None, delivery_ids: Sequence[str] = (),
                   benefit_ids: Sequence[str] = (), limit: int = 200) -> list[dict[str, Any]]:
    """Journal entries correlated with these claims, this account, these deliveries or
    these benefit payouts."""
    j = t.journal.c
    corr = j.correlation
    conditions = []
    if claim_ids:
        conditions.append(corr["claim"].as_string().in_(list(claim_ids)))
    if account:
        conditions.append(corr["account"].as_string() == account)
    if delivery_ids:
        conditions.append(corr["delivery_id"].as_string().in_(list(delivery_ids)))
        conditions.append(corr["MFLeveranceID"].as_string().in_(list(delivery_ids)))
    if benefit_ids:
        conditions.append(corr["benefit_payment"].as_string().in_(list(benefit_ids)))
    if not conditions:
        return []
    rows = conn.execute(select(j.id, j.virtual_at, j.end, j.direction, j.operation, j.status,
                               j.transaction_id, j.correlation, j.summary)
                        .where(or_(*conditions)).order_by(j.id).limit(limit)).all()
    return [dict(r._mapping) for r in rows]


def _day(value: date | datetime) -> date:
    """PSRM's receipt times as the timeline's days."""
    return value.date() if isinstance(value, datetime) else value


def _text_pair(da: str, en: str) -> dict[str, str]:
    return {"detail_da": da, "detail_en": en}


def claim_stories(conn: Connection, claims: Sequence[Claim], *,
                  account_number: str) -> list[ClaimStory]:
    """Every claim of one account as a story: derived from the claim itself, its coverage,
    offsets and write-offs, the PSRM end's actions, the fagsystem events and the journal."""
    if not claims:
        return []
    ids = [c.id for c in claims]
    coverage = ledger.coverage_for_account(conn, account_number)
    offsets = ledger.offsets_for_account(conn, account_number)
    write_offs = ledger.write_offs_for_account(conn, account_number)
    actions = _psrm_actions_for(conn, claims)
    deliveries = sorted({a["delivery_id"] for acts in actions.values() for a in acts})
    exchanges = _exchanges_for(conn, claim_ids=ids, account=account_number,
                               delivery_ids=deliveries,
                               benefit_ids=sorted({o.benefit_payment_id for o in offsets}),
                               limit=1000)
    events_by_claim: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    for e in conn.execute(select(t.fagsystem_events).where(
            t.fagsystem_events.c.claim_id.in_(ids)).order_by(t.fagsystem_events.c.seq)).all():
        events_by_claim[e.claim_id].append(dict(e._mapping))
    payouts = {r.id: r.payout_date for r in conn.execute(select(
        t.benefit_payments.c.id, t.benefit_payments.c.payout_date).where(
        t.benefit_payments.c.id.in_({o.benefit_payment_id for o in offsets}))).all()}
    last_source = {}
    for line in coverage:
        last_source[line.claim_id] = line.source.value
    stories = []
    for claim in claims:
        story = _story(claim, coverage=[x for x in coverage if x.claim_id == claim.id],
                       offsets=[o for o in offsets if o.claim_id == claim.id],
                       write_offs=[w for w in write_offs if w.claim_id == claim.id],
                       actions=actions[claim.id], fagsystem_events=events_by_claim[claim.id],
                       exchanges=exchanges, payouts=payouts)
        story.display_state = display_state(claim.state.value, last_source.get(claim.id))
        stories.append(story)
    return stories


def _story(claim: Claim, *, coverage: Sequence[Any], offsets: Sequence[Any],
           write_offs: Sequence[Any], actions: list[dict[str, Any]],
           fagsystem_events: Sequence[Mapping[str, Any]], exchanges: Sequence[Mapping[str, Any]],
           payouts: Mapping[str, date]) -> ClaimStory:
    cid = claim.id
    deliveries = {a["delivery_id"] for a in actions}
    sources = {line.source_id for line in coverage} | {o.benefit_payment_id for o in offsets}
    mine = [x for x in exchanges if _about(x, cid, deliveries, sources)]
    by_source = {x["correlation"].get(key): x["id"] for x in mine
                 for key in ("payment", "benefit_payment")
                 if isinstance(x.get("correlation"), dict) and x["correlation"].get(key)}
    events: list[TimelineEvent] = []

    def add(day: date, kind: str, **kw: Any) -> None:
        events.append(TimelineEvent(day=day, kind=kind, claim_id=cid, **kw))

    registration = next((x for x in mine if x["operation"] == "OpretFordring"
                         and x["direction"] == "in"), None)
    registered_on = registration["virtual_at"].date() if registration else claim.received
    total = claim.total
    add(registered_on, "registered", amount=total,
        journal_id=registration["id"] if registration else None,
        **_text_pair(f"{claim.type_code}, {claim.fagsystem_claim_id}",
                     f"{claim.type_code}, {claim.fagsystem_claim_id}"))
    inv = claim.invoice
    if inv is not None:
        fik = f"+{inv.card_type}<{inv.payment_id}+{inv.creditor_number}<"
        add(registered_on, "invoiced", amount=inv.amount, **_text_pair(
            f"FIK {fik}, forfald {inv.due_date.isoformat()}, SRB {inv.srb.isoformat()}",
            f"FIK {fik}, due {inv.due_date.isoformat()}, SRB {inv.srb.isoformat()}"))
        if inv.reminder_date is not None:
            add(inv.reminder_date, "reminded")
    for (source, source_id, day), amount in _grouped(coverage).items():
        kind = {CoverageSource.PAYMENT.value: "paid", CoverageSource.OFFSET.value: "offset",
                CoverageSource.PSRM.value: "covered"}[source]
        add(day, kind, amount=amount, journal_id=by_source.get(source_id),
            **_text_pair(source_id, source_id))
    planned: dict[tuple[str, date], Decimal] = {}
    for o in offsets:
        if o.status is OffsetStatus.PLANNED:
            key = (o.benefit_payment_id, o.date)
            planned[key] = planned.get(key, ZERO) + o.amount
    for (benefit_id, day), amount in planned.items():
        payout = payouts.get(benefit_id)
        when = payout.isoformat() if payout else "?"
        add(day, "offset_planned", amount=amount, **_text_pair(
            f"{benefit_id}, udbetales {when}", f"{benefit_id}, paid out {when}"))
    for w in write_offs:
        add(w.date, "written_off", amount=w.amount, **_text_pair(w.reason, w.reason))
    sent = {x["correlation"].get("delivery_id"): x for x in mine
            if x["operation"] == "MFFordringIndberet" and x["direction"] == "out"
            and isinstance(x.get("correlation"), dict)}
    for a in actions:
        code = a["code"]
        delivery = sent.get(a["delivery_id"])
        day_sent = delivery["virtual_at"].date() if delivery else (a["received"]
                                                                    or a["status_changed"])
        add(day_sent, "handed_over", journal_id=delivery["id"] if delivery else None,
            **_text_pair(f"{code}, levering {a['delivery_id']}",
                         f"{code}, delivery {a['delivery_id']}"))
        if a["received"] is not None and a["status"] != PsrmStatus.REJECTED.value:
            add(a["received"], "received", **_text_pair(
                f"{code} {a['action_id']}" + (f", {a['efi_claim_id']}" if a["efi_claim_id"]
                                              else ""),
                f"{code} {a['action_id']}" + (f", {a['efi_claim_id']}" if a["efi_claim_id"]
                                              else "")))
        status = a["status"]
        if status == PsrmStatus.IN_PROCESS.value:
            add(a["status_changed"], "in_process", **_text_pair(code, code))
        elif status == PsrmStatus.DONE.value:
            add(a["status_changed"], "done", **_text_pair(code, code))
        elif status == PsrmStatus.REJECTED.value:
            add(a["status_changed"], "rejected", reasons=a["reasons"],
                **_text_pair(code, code))
    if not actions and claim.psrm is not None:  # PSRM is a remote system: what we know
        p = claim.psrm
        add(p.status_date, "handed_over", amount=p.amount,
            **_text_pair(f"{p.art.value}", f"{p.art.value}"))
        status_kind = {None: None, PsrmStatus.RECEIVED: "received",
                       PsrmStatus.IN_PROCESS: "in_process", PsrmStatus.DONE: "done",
                       PsrmStatus.REJECTED: "rejected"}[p.status]
        if status_kind is not None:
            add(p.status_date, status_kind, reasons=explain_reasons(p.reasons),
                **_text_pair(p.action_id or "", p.action_id or ""))
    for e in fagsystem_events:
        what_da, what_en = _event_words(e)
        add(e["date"], "reported", amount=from_ore(e["amount_ore"]) if e["amount_ore"] is not None
            else None, reasons=explain_reasons(e.get("reasons") or []),
            **_text_pair(what_da, what_en))
    events.sort(key=lambda ev: ev.order)
    return ClaimStory(claim=claim, display_state=claim.state.value, events=events,
                      steps=_steps(events, _covered_on(claim, coverage)), actions=actions,
                      exchanges=[dict(x) for x in mine])


def _about(x: Mapping[str, Any], claim_id: str, deliveries: set[str],
           sources: set[str]) -> bool:
    """Whether a journal entry is about this claim: registered or changed it, carried it
    to PSRM, or brought the payment or payout that covered it."""
    corr = x.get("correlation") or {}
    if not isinstance(corr, dict):
        return False
    if corr.get("claim") == claim_id:
        return True
    if corr.get("payment") in sources or corr.get("benefit_payment") in sources:
        return True
    return bool(deliveries) and (corr.get("delivery_id") in deliveries
                                 or corr.get("MFLeveranceID") in deliveries)


def _grouped(lines: Iterable[Any]) -> dict[tuple[str, str, date], Decimal]:
    """Coverage lines summed per source, source id and day (sub-claims folded in)."""
    out: dict[tuple[str, str, date], Decimal] = {}
    for line in lines:
        key = (line.source.value, line.source_id, line.date)
        out[key] = out.get(key, ZERO) + line.amount
    return out


def _event_words(e: Mapping[str, Any]) -> tuple[str, str]:
    kind = e["event_type"]
    status = e.get("status")
    if kind == "TILSTAND" and status:
        da, en = STATE_LABELS.get(status, (status, status))
        return f"TILSTAND: {da}", f"TILSTAND (state): {en}"
    if kind == "DAEKNING":
        source = e.get("source") or ""
        return f"DAEKNING ({source})", f"DAEKNING (coverage, {source})"
    if kind == "AFSKRIVNING":
        return f"AFSKRIVNING ({e.get('reason') or ''})", f"AFSKRIVNING (write-off, " \
                                                         f"{e.get('reason') or ''})"
    return kind, kind


def _covered_on(claim: Claim, coverage: Sequence[Any]) -> date | None:
    """The day a claim was covered in full (by payments, offsets or PSRM), if it was."""
    if claim.state not in (ClaimState.PAID, ClaimState.COVERED_BY_PSRM) or claim.outstanding:
        return None
    return max((line.date for line in coverage), default=None)


def _steps(events: Sequence[TimelineEvent], covered_on: date | None) -> list[Step]:
    """The stepper: the first day each step was reached; "covered" means covered in full."""
    first: dict[str, date] = {}
    for ev in events:
        key = {"offset_planned": "offset", "in_process": "received", "done": "received"}.get(
            ev.kind, ev.kind)
        if key in ("paid", "covered"):
            continue
        first.setdefault(key, ev.day)
    if covered_on is not None:
        first["covered"] = covered_on
    return [Step(key, da, en, first.get(key)) for key, da, en in STEPS]
