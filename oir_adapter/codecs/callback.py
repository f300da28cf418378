"""What the debtor system sends the fagsystem: coverage and write-off events
(``RegistrerDaekningAfskrivningRequest``, and back), status advice on accounts
(``RegistrerDebitorkontoStatusRequest``) and claims open for payment
(``FordringTilIndbetalingRequest``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum

from lxml import etree

from oir_adapter.codecs.psrm_answers import (
    child_text,
    message_body,
    optional_date,
    reasons_in,
    required_text,
)
from oir_adapter.codecs.writing import Writer
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


#: The callbacks' writer: ØIR elements in the default namespace, values as the contracts
#: want them, and a field that is None left out (see :class:`Writer`).
_W = Writer(OIR_NS, _OIR_NSMAP)


def _oir_head(tag: str, *, transaction_id: str, transaction_time: datetime, authority_cvr: str,
              fagsystem_id: str) -> etree._Element:
    """An ØIR request ``tag`` headed as the debtor system's callbacks are."""
    root = _W.root(tag)
    _W.fill(_W.sub(root, "Hovedoplysninger"), TransaktionsID=transaction_id,
            TransaktionsTid=transaction_time)
    return _W.fill(root, MyndighedCVR=authority_cvr, FagsystemID=fagsystem_id)


def _value(member: Enum | None) -> str | None:
    return None if member is None else str(member.value)


def callback_request(events: Iterable[FagsystemEvent], *, transaction_id: str,
                     transaction_time: datetime, authority_cvr: str,
                     fagsystem_id: str) -> etree._Element:
    """A ``RegistrerDaekningAfskrivningRequest`` reporting ``events`` to a fagsystem."""
    root = _oir_head("RegistrerDaekningAfskrivningRequest", transaction_id=transaction_id,
                     transaction_time=transaction_time, authority_cvr=authority_cvr,
                     fagsystem_id=fagsystem_id)
    samling = _W.sub(root, "HaendelseSamling")
    for e in events:
        h = _W.record(
            "Haendelse", HaendelseID=e.event_id, HaendelseTypeKode=e.type.value,
            DebitorkontoNummer=e.account_number, FordringID=e.claim_id,
            FagsystemFordringID=e.fagsystem_claim_id, Dato=e.date, Beloeb=e.amount,
            Kilde=_value(e.source), KildeID=e.source_id, AarsagKode=e.reason_code,
            Status=_value(e.status), Restbeloeb=e.remaining)
        _W.collection(h, "AfvistAarsagSamling", (
            _W.record("AfvistAarsag", AfvistNummer=r.number, AfvistTekst=r.text)
            for r in e.rejection_reasons))
        samling.append(h)
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
    root = _oir_head("RegistrerDebitorkontoStatusRequest", transaction_id=transaction_id,
                     transaction_time=transaction_time, authority_cvr=authority_cvr,
                     fagsystem_id=fagsystem_id)
    samling = _W.sub(root, "StatusAdviseringSamling")
    for a in advice:
        s = _W.record(
            "StatusAdvisering", AdviseringID=a.advice_id, AdviseringTypeKode=a.kind,
            DebitorkontoNummer=a.account_number, Dato=a.date, KontoStatus=a.account_status,
            AnmodningID=a.request_id, AnmodningTypeKode=a.request_kind,
            AnmodningStatus=a.request_status)
        _W.collection(s, "FejlSamling", (
            _W.record("Fejl", FejlKode=code, FejlTekst=text[:400], Felt=where or None)
            for code, text, where in a.errors))
        samling.append(s)
    if len(samling) == 0:
        raise MappingError("status advice needs at least one StatusAdvisering")
    return root


def fordring_til_indbetaling_request(claim: Claim, account: DebtorAccount, *,
                                     transaction_id: str, transaction_time: datetime
                                     ) -> etree._Element:
    """A ``FordringTilIndbetalingRequest``: the claim open for payment, with its invoice."""
    assert claim.id is not None and claim.invoice is not None
    root = _oir_head("FordringTilIndbetalingRequest", transaction_id=transaction_id,
                     transaction_time=transaction_time, authority_cvr=account.authority_cvr,
                     fagsystem_id=account.fagsystem_id)
    _W.sub(root, "DebitorkontoNummer", account.number)
    d = account.debtor.party
    _W.sub(_W.sub(root, "Debitor"), "CPRNummer" if d.kind is PartyKind.CPR else "CVRNummer",
           d.number)
    _W.fill(root, FordringID=claim.id, FagsystemFordringID=claim.fagsystem_claim_id,
            FordringTypeKode=claim.type_code, Restbeloeb=claim.outstanding)
    inv = claim.invoice
    _W.fill(_W.sub(root, "Opkraevning"), OpkraevningID=inv.id, FIKKortart=inv.card_type,
            BetalingsID=inv.payment_id, KreditorNummer=inv.creditor_number, Beloeb=inv.amount,
            ForfaldsDato=inv.due_date, SidsteRettidigeBetalingsDato=inv.srb,
            RykkerDato=inv.reminder_date)
    _W.collection(root, "DelfordringSamling", (
        _W.record("Delfordring", DelfordringID=s.id, DelfordringTypeKode=s.type_code,
                  Beloeb=s.amount, Restbeloeb=s.remaining)
        for s in claim.sub_claims))
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
