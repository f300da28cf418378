"""The fagsystem callback: events ↔ ``RegistrerDaekningAfskrivningRequest``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from lxml import etree

from oir_adapter.codecs.psrm_actions import _O, _OIR_NSMAP, _amount
from oir_adapter.codecs.psrm_answers import _body, _opt_date, _reasons, _req, _t
from oir_adapter.codecs.writing import timestamp_text
from oir_adapter.domain.handover import MappingError
from oir_adapter.domain.lifecycle import EventType, FagsystemEvent
from oir_adapter.domain.model import (
    ClaimState,
    CoverageSource,
    money,
)


def callback_request(events: Iterable[FagsystemEvent], *, transaction_id: str,
                     transaction_time: datetime, authority_cvr: str,
                     fagsystem_id: str) -> etree._Element:
    """A ``RegistrerDaekningAfskrivningRequest`` reporting ``events`` to a fagsystem."""
    sub = etree.SubElement
    root = etree.Element(_O + "RegistrerDaekningAfskrivningRequest",
                         nsmap=_OIR_NSMAP)  # type: ignore[arg-type]
    head = sub(root, _O + "Hovedoplysninger")
    sub(head, _O + "TransaktionsID").text = transaction_id
    sub(head, _O + "TransaktionsTid").text = timestamp_text(transaction_time)
    sub(root, _O + "MyndighedCVR").text = authority_cvr
    sub(root, _O + "FagsystemID").text = fagsystem_id
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
            sub(h, _O + "Beloeb").text = _amount(e.amount)
        if e.source is not None:
            sub(h, _O + "Kilde").text = e.source.value
        if e.source_id is not None:
            sub(h, _O + "KildeID").text = e.source_id
        if e.reason_code is not None:
            sub(h, _O + "AarsagKode").text = e.reason_code
        if e.status is not None:
            sub(h, _O + "Status").text = e.status.value
        if e.remaining is not None:
            sub(h, _O + "Restbeloeb").text = _amount(e.remaining)
        if e.rejection_reasons:
            rs = sub(h, _O + "AfvistAarsagSamling")
            for r in e.rejection_reasons:
                a = sub(rs, _O + "AfvistAarsag")
                sub(a, _O + "AfvistNummer").text = r.number
                sub(a, _O + "AfvistTekst").text = r.text
    if len(samling) == 0:
        raise MappingError("a callback needs at least one event")
    return root


def decode_callback_request(element: etree._Element) -> list[FagsystemEvent]:
    """The events of a ``RegistrerDaekningAfskrivningRequest`` (the fagsystem's side)."""
    body = _body(element)
    out = []
    for h in body.iterfind(f"{_O}HaendelseSamling/{_O}Haendelse"):
        amount, source, status, remaining = (_t(h, _O + n) for n in
                                             ("Beloeb", "Kilde", "Status", "Restbeloeb"))
        day = _opt_date(h, _O + "Dato")
        assert day is not None
        out.append(FagsystemEvent(
            event_id=_req(h, _O + "HaendelseID"),
            type=EventType(_req(h, _O + "HaendelseTypeKode")),
            account_number=_req(h, _O + "DebitorkontoNummer"),
            claim_id=_req(h, _O + "FordringID"),
            fagsystem_claim_id=_req(h, _O + "FagsystemFordringID"),
            date=day,
            amount=money(amount) if amount is not None else None,
            source=CoverageSource(source) if source is not None else None,
            source_id=_t(h, _O + "KildeID"),
            reason_code=_t(h, _O + "AarsagKode"),
            status=ClaimState(status) if status is not None else None,
            remaining=money(remaining) if remaining is not None else None,
            rejection_reasons=tuple(_reasons(h, _O + "AfvistAarsagSamling", _O + "AfvistAarsag",
                                             _O + "AfvistNummer", _O + "AfvistTekst")),
        ))
    return out
