"""What the debtor system sends the fagsystem: coverage and write-off events
(``RegistrerDaekningAfskrivningRequest``, and back), status advice on accounts
(``RegistrerDebitorkontoStatusRequest``) and claims open for payment
(``FordringTilIndbetalingRequest``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from lxml import etree

from oir_adapter.codecs.psrm_actions import amount_text
from oir_adapter.codecs.psrm_answers import (
    child_text,
    message_body,
    optional_date,
    reasons_in,
    required_text,
)
from oir_adapter.codecs.writing import timestamp_text
from oir_adapter.contracts import OIR_NS
from oir_adapter.domain.handover import MappingError
from oir_adapter.domain.lifecycle import EventType, FagsystemEvent
from oir_adapter.domain.model import (
    Claim,
    ClaimState,
    CoverageSource,
    DebtorAccount,
    PartyKind,
    money,
)

_O = "{" + OIR_NS + "}"
_OIR_NSMAP: dict[str | None, str] = {None: OIR_NS}


def _oir_head(tag: str, *, transaction_id: str, transaction_time: datetime, authority_cvr: str,
              fagsystem_id: str) -> etree._Element:
    """An ØIR request ``tag`` headed as the debtor system's callbacks are."""
    sub = etree.SubElement
    root = etree.Element(_O + tag, nsmap=_OIR_NSMAP)  # type: ignore[arg-type]
    head = sub(root, _O + "Hovedoplysninger")
    sub(head, _O + "TransaktionsID").text = transaction_id
    sub(head, _O + "TransaktionsTid").text = timestamp_text(transaction_time)
    sub(root, _O + "MyndighedCVR").text = authority_cvr
    sub(root, _O + "FagsystemID").text = fagsystem_id
    return root


def callback_request(events: Iterable[FagsystemEvent], *, transaction_id: str,
                     transaction_time: datetime, authority_cvr: str,
                     fagsystem_id: str) -> etree._Element:
    """A ``RegistrerDaekningAfskrivningRequest`` reporting ``events`` to a fagsystem."""
    sub = etree.SubElement
    root = _oir_head("RegistrerDaekningAfskrivningRequest", transaction_id=transaction_id,
                     transaction_time=transaction_time, authority_cvr=authority_cvr,
                     fagsystem_id=fagsystem_id)
    samling = sub(root, _O + "HaendelseSamling")
    for e in events:
        h = sub(samling, _O + "Haendelse")
        sub(h, _O + "HaendelseID").text = e.event_id
        sub(h, _O + "HaendelseTypeKode").text = e.type.value
        sub(h, _O + "DebitorkontoNummer").text = e.account_number
        sub(h, _O + "FordringID").text = e.claim_id
        sub(h, _O + "FagsystemFordringID").text = e.fagsystem_claim_id
        sub(h, _O + "Dato").text = e.date.isoformat()
        if e.amount is not None:
            sub(h, _O + "Beloeb").text = amount_text(e.amount)
        if e.source is not None:
            sub(h, _O + "Kilde").text = e.source.value
        if e.source_id is not None:
            sub(h, _O + "KildeID").text = e.source_id
        if e.reason_code is not None:
            sub(h, _O + "AarsagKode").text = e.reason_code
        if e.status is not None:
            sub(h, _O + "Status").text = e.status.value
        if e.remaining is not None:
            sub(h, _O + "Restbeloeb").text = amount_text(e.remaining)
        if e.rejection_reasons:
            rs = sub(h, _O + "AfvistAarsagSamling")
            for r in e.rejection_reasons:
                a = sub(rs, _O + "AfvistAarsag")
                sub(a, _O + "AfvistNummer").text = r.number
                sub(a, _O + "AfvistTekst").text = r.text
    if len(samling) == 0:
        raise MappingError("a callback needs at least one event")
    return root


@dataclass(frozen=True, slots=True)
class StatusAdvice:
    """One ``StatusAdvisering`` of ``RegistrerDebitorkontoStatusRequest``: an account's status
    changed (``KONTOSTATUS``), or an anmodning performed on a later day has its result
    (``ANMODNING``, with the reasons when it was refused)."""

    advice_id: str
    kind: str  # KONTOSTATUS | ANMODNING
    account_number: str
    date: date
    account_status: str | None = None
    request_id: str | None = None
    request_kind: str | None = None
    request_status: str | None = None
    errors: tuple[tuple[str, str, str | None], ...] = ()  # (FejlKode, FejlTekst, Felt)


def status_advice_request(advice: Iterable[StatusAdvice], *, transaction_id: str,
                          transaction_time: datetime, authority_cvr: str,
                          fagsystem_id: str) -> etree._Element:
    """A ``RegistrerDebitorkontoStatusRequest``: status advice on accounts to a fagsystem."""
    sub = etree.SubElement
    root = _oir_head("RegistrerDebitorkontoStatusRequest", transaction_id=transaction_id,
                     transaction_time=transaction_time, authority_cvr=authority_cvr,
                     fagsystem_id=fagsystem_id)
    samling = sub(root, _O + "StatusAdviseringSamling")
    for a in advice:
        s = sub(samling, _O + "StatusAdvisering")
        for tag, value in (("AdviseringID", a.advice_id), ("AdviseringTypeKode", a.kind),
                           ("DebitorkontoNummer", a.account_number),
                           ("Dato", a.date.isoformat()), ("KontoStatus", a.account_status),
                           ("AnmodningID", a.request_id), ("AnmodningTypeKode", a.request_kind),
                           ("AnmodningStatus", a.request_status)):
            if value is not None:
                sub(s, _O + tag).text = value
        if a.errors:
            fs = sub(s, _O + "FejlSamling")
            for code, text, where in a.errors:
                f = sub(fs, _O + "Fejl")
                sub(f, _O + "FejlKode").text = code
                sub(f, _O + "FejlTekst").text = text[:400]
                if where:
                    sub(f, _O + "Felt").text = where
    if len(samling) == 0:
        raise MappingError("status advice needs at least one StatusAdvisering")
    return root


def fordring_til_indbetaling_request(claim: Claim, account: DebtorAccount, *,
                                     transaction_id: str, transaction_time: datetime
                                     ) -> etree._Element:
    """A ``FordringTilIndbetalingRequest``: the claim open for payment, with its invoice."""
    sub = etree.SubElement
    assert claim.id is not None and claim.invoice is not None
    root = _oir_head("FordringTilIndbetalingRequest", transaction_id=transaction_id,
                     transaction_time=transaction_time, authority_cvr=account.authority_cvr,
                     fagsystem_id=account.fagsystem_id)
    sub(root, _O + "DebitorkontoNummer").text = account.number
    party = sub(root, _O + "Debitor")
    d = account.debtor.party
    sub(party, _O + ("CPRNummer" if d.kind is PartyKind.CPR else "CVRNummer")).text = d.number
    for tag, value in (("FordringID", claim.id),
                       ("FagsystemFordringID", claim.fagsystem_claim_id),
                       ("FordringTypeKode", claim.type_code),
                       ("Restbeloeb", amount_text(claim.outstanding))):
        sub(root, _O + tag).text = value
    inv = claim.invoice
    o = sub(root, _O + "Opkraevning")
    for tag, value in (("OpkraevningID", inv.id), ("FIKKortart", inv.card_type),
                       ("BetalingsID", inv.payment_id), ("KreditorNummer", inv.creditor_number),
                       ("Beloeb", amount_text(inv.amount)), ("ForfaldsDato", inv.due_date.isoformat()),
                       ("SidsteRettidigeBetalingsDato", inv.srb.isoformat())):
        sub(o, _O + tag).text = value
    if inv.reminder_date is not None:
        sub(o, _O + "RykkerDato").text = inv.reminder_date.isoformat()
    if claim.sub_claims:
        ds = sub(root, _O + "DelfordringSamling")
        for s in claim.sub_claims:
            x = sub(ds, _O + "Delfordring")
            sub(x, _O + "DelfordringID").text = s.id
            sub(x, _O + "DelfordringTypeKode").text = s.type_code
            sub(x, _O + "Beloeb").text = amount_text(s.amount)
            sub(x, _O + "Restbeloeb").text = amount_text(s.remaining)
    return root


def decode_callback_request(element: etree._Element) -> list[FagsystemEvent]:
    """The events of a ``RegistrerDaekningAfskrivningRequest`` (the fagsystem's side)."""
    body = message_body(element)
    out = []
    for h in body.iterfind(f"{_O}HaendelseSamling/{_O}Haendelse"):
        amount, source, status, remaining = (child_text(h, _O + n) for n in
                                             ("Beloeb", "Kilde", "Status", "Restbeloeb"))
        day = optional_date(h, _O + "Dato")
        assert day is not None
        out.append(FagsystemEvent(
            event_id=required_text(h, _O + "HaendelseID"),
            type=EventType(required_text(h, _O + "HaendelseTypeKode")),
            account_number=required_text(h, _O + "DebitorkontoNummer"),
            claim_id=required_text(h, _O + "FordringID"),
            fagsystem_claim_id=required_text(h, _O + "FagsystemFordringID"),
            date=day,
            amount=money(amount) if amount is not None else None,
            source=CoverageSource(source) if source is not None else None,
            source_id=child_text(h, _O + "KildeID"),
            reason_code=child_text(h, _O + "AarsagKode"),
            status=ClaimState(status) if status is not None else None,
            remaining=money(remaining) if remaining is not None else None,
            rejection_reasons=tuple(reasons_in(h, _O + "AfvistAarsagSamling", _O + "AfvistAarsag",
                                             _O + "AfvistNummer", _O + "AfvistTekst")),
        ))
    return out
