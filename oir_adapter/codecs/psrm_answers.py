"""PSRM's answers → model: receipts (``MFAktionStruktur`` of ``MFFordringIndberet_O``
and ``MFKvitteringHent_O``) and notifications (``MFUnderretSamlingHent_O``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from lxml import etree

from oir_adapter.codecs.psrm_actions import (
    Q_BELOEB,
    Q_BELOEB_STRUKTUR,
    Q_EFI_ID,
    Q_HAVER_ID,
    Q_REF,
    Q_VALUTA,
)
from oir_adapter.contracts import (
    PSRM_NS,
    SOAP11_ENV_NS,
    SOAP12_ENV_NS,
)
from oir_adapter.domain.actions import NotificationType, PsrmNotification
from oir_adapter.domain.handover import MappingError
from oir_adapter.domain.model import (
    PsrmAction,
    PsrmActionCode,
    PsrmStatus,
    RejectionReason,
    money,
)

_M = "{" + PSRM_NS + "}"


def message_body(element: etree._Element) -> etree._Element:
    """The message element itself, or the first child of a SOAP envelope's Body."""
    if element.tag in (f"{{{SOAP11_ENV_NS}}}Envelope", f"{{{SOAP12_ENV_NS}}}Envelope"):
        for ns in (SOAP11_ENV_NS, SOAP12_ENV_NS):
            body = element.find(f"{{{ns}}}Body")
            if body is not None and len(body):
                return body[0]
        raise MappingError("SOAP envelope without a body element")
    return element


def child_text(e: etree._Element, tag: str) -> str | None:
    found = e.find(tag)
    return None if found is None or found.text is None else found.text.strip()


def required_text(e: etree._Element, tag: str) -> str:
    value = child_text(e, tag)
    if value is None:
        raise MappingError(f"{etree.QName(e).localname}: {etree.QName(tag).localname} missing")
    return value


def optional_date(e: etree._Element, tag: str) -> date | None:
    value = child_text(e, tag)
    return None if value is None else date.fromisoformat(value[:10])


def _datetime(value: str) -> datetime:
    """An ``xs:dateTime`` (or a bare date, as midnight) as PSRM writes it; the zone, when
    there is one, is kept."""
    text = value.strip().replace("Z", "+00:00")
    if "T" not in text:
        return datetime.combine(date.fromisoformat(text[:10]), datetime.min.time())
    return datetime.fromisoformat(text)


def reasons_in(e: etree._Element, samling: str, item: str, number: str,
             text: str) -> list[RejectionReason]:
    return [RejectionReason(required_text(r, number), child_text(r, text) or "")
            for r in e.iterfind(f"{samling}/{item}")]


def decode_receipts(element: etree._Element) -> list[PsrmAction]:
    """Each ``MFAktionStruktur`` of an ``MFFordringIndberet_O`` or ``MFKvitteringHent_O``
    (or a SOAP envelope holding one) as a :class:`PsrmAction`."""
    body = message_body(element)
    name = etree.QName(body).localname
    if name == "MFFordringIndberet_O":
        path = f"{_M}FordringInfo/{_M}FordringAktionStatusSamling/{_M}MFAktionStruktur"
    elif name == "MFKvitteringHent_O":
        path = f"{_M}KvitteringSamling/{_M}Kvittering/{_M}MFAktionStruktur"
    else:
        raise MappingError(f"{name} is not a PSRM receipt (MFFordringIndberet_O, "
                           "MFKvitteringHent_O)")
    out = []
    for a in body.iterfind(path):
        changed = _datetime(required_text(a, _M + "MFAktionStatusÆndretDato"))
        received = child_text(a, _M + "DMIFordringModtagelseDato")
        out.append(PsrmAction(
            action_id=required_text(a, _M + "MFAktionID"),
            code=PsrmActionCode(required_text(a, _M + "MFAktionKode")),
            creditor_id=required_text(a, Q_HAVER_ID),
            status=PsrmStatus(required_text(a, _M + "MFAktionStatusKode")),
            status_changed=changed,
            claim_ref=child_text(a, Q_REF),
            efi_claim_id=child_text(a, Q_EFI_ID),
            efi_main_claim_id=child_text(a, _M + "DMIFordringEFIHovedFordringID"),
            received=None if received is None else _datetime(received),
            reasons=reasons_in(a, _M + "AfvistÅrsagSamling", _M + "MFAktionAfvistStruktur",
                             _M + "MFAktionAfvistNummer", _M + "MFAktionAfvistTekst"),
        ))
    return out


def decode_notifications(element: etree._Element) -> list[PsrmNotification]:
    """Each ``MFUnderretStruktur`` of an ``MFUnderretSamlingHent_O`` (or its envelope)."""
    body = message_body(element)
    if etree.QName(body).localname != "MFUnderretSamlingHent_O":
        raise MappingError(f"{etree.QName(body).localname} is not MFUnderretSamlingHent_O")
    out = []
    for u in body.iterfind(f"{_M}MFUnderretSamling/{_M}MFUnderretStruktur"):
        notified_at = child_text(u, _M + "MFUnderretningDatoTid")
        if notified_at is None:
            raise MappingError("MFUnderretStruktur: MFUnderretningDatoTid missing")
        notified = _datetime(notified_at).date()
        kind = NotificationType(required_text(u, _M + "MFUnderretTypeKode"))
        common: dict[str, Any] = dict(
            seq_no=int(required_text(u, _M + "MFUnderretningNummer")), type=kind,
            efi_claim_id=required_text(u, Q_EFI_ID), notified=notified, claim_ref=child_text(u, Q_REF),
            creditor_id=child_text(u, Q_HAVER_ID))
        d = u.find(_M + "MFDækningStruktur")
        a = u.find(_M + "MFAfskrivningStruktur")
        r = u.find(_M + "MFReturStruktur")
        if d is not None:
            out.append(PsrmNotification(
                **common, date=optional_date(d, _M + "DækningDato") or notified,
                amount=money(required_text(d, f"{Q_BELOEB_STRUKTUR}/{Q_BELOEB}")),
                currency=child_text(d, f"{Q_BELOEB_STRUKTUR}/{Q_VALUTA}"),
                source=child_text(d, _M + "DækningKildeKode")))
        elif a is not None:
            out.append(PsrmNotification(
                **common, date=notified,
                amount=money(required_text(a, f"{Q_BELOEB_STRUKTUR}/{Q_BELOEB}")),
                currency=child_text(a, f"{Q_BELOEB_STRUKTUR}/{Q_VALUTA}"),
                reason_code=child_text(a, _M + "AfskrivningÅrsagKode")))
        elif r is not None:
            out.append(PsrmNotification(
                **common, date=notified, reason_code=child_text(r, _M + "HovedFordringReturAarsagKode"),
                text=child_text(r, _M + "ReturTekst")))
        else:
            raise MappingError(f"notification {common['seq_no']} carries no structure")
    return out
