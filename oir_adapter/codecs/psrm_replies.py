"""Builders for the PSRM end's answers (``MF*_O``), in exactly the element order of
``xsd/psrm/MF.xsd``: the ``Kontekst/HovedOplysningerSvar`` head, one ``MFAktionStruktur``
per action, one ``MFUnderretStruktur`` per notification.

Kept apart from :mod:`emulator.ends.psrm` so the end's decisions (what to accept, what to
store) read without XML plumbing in between.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache

from lxml import etree

from oir_adapter.codecs.writing import Writer, text_of
from oir_adapter.contracts import KONTEKST_NS, PSRM_NS
from oir_adapter.domain.model import PsrmAction

_M = "{" + PSRM_NS + "}"
_K = "{" + KONTEKST_NS + "}"
_NSMAP: dict[str | None, str] = {None: PSRM_NS, "k": KONTEKST_NS}
#: PSRM's texts are short; longer ones are cut where the project always cut them.
_MAX_TEXT = 1000
_NO_TRANSACTION = "00000000-0000-0000-0000-000000000000"


_W = Writer(PSRM_NS, _NSMAP)
#: Append PSRM element ``name`` with ``value`` as text (dates ISO, amounts ``0.00``).
sub = _W.sub
_text = text_of


def stamp(value: datetime | date) -> str:
    """An ``xs:dateTime`` as PSRM writes its receipt dates: local time with milliseconds
    (``2026-11-23T12:00:00.000``); a bare date is that day at midnight."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, datetime.min.time())
    return value.isoformat(timespec="milliseconds")


def answer(name: str, *, transaction_id: str | None, service_id: str, now: datetime,
           errors: Iterable[tuple[str, str]] = ()) -> etree._Element:
    """A ``*_O`` element headed by ``Kontekst/HovedOplysningerSvar``: ``Kontekst`` in the
    begrebsmodel namespace, its content in the kontekst namespace. ``SvarReaktion`` is
    empty when the request was handled (per-action rejections are in the actions), and
    holds one ``Fejl`` per ``(number, text)`` when the whole request was refused."""
    root = etree.Element(_M + name, nsmap=_NSMAP)  # type: ignore[arg-type]
    head = etree.SubElement(etree.SubElement(root, _M + "Kontekst"), _K + "HovedOplysningerSvar")
    etree.SubElement(head, _K + "TransaktionsID").text = transaction_id or _NO_TRANSACTION
    etree.SubElement(head, _K + "ServiceID").text = service_id
    etree.SubElement(head, _K + "TransaktionsTid").text = stamp(now)
    reaction = etree.SubElement(head, _K + "SvarReaktion")
    for number, text in errors:
        fejl = etree.SubElement(reaction, _K + "Fejl")
        etree.SubElement(fejl, _K + "FejlNummer").text = number
        etree.SubElement(fejl, _K + "FejlTekst").text = text
        etree.SubElement(fejl, _K + "ServiceID").text = service_id
    return root


def transaction_id_of(body: etree._Element) -> str | None:
    """``Kontekst/HovedOplysninger/TransaktionsID`` of a PSRM request, if present (real
    senders may send an empty ``Kontekst``)."""
    found = body.find(f"{_M}Kontekst/{_K}HovedOplysninger/{_K}TransaktionsID")
    return None if found is None or found.text is None else found.text.strip()


#: ``MFAktionStruktur``'s elements in schema order; the first three (the claim's ids) and
#: the receipt date are left out when an action has none.
_ACTION_ELEMENTS = ("DMIFordringEFIFordringID", "DMIFordringEFIHovedFordringID",
                    "DMIFordringFordringHaverRef", "MFAktionID", "MFAktionKode",
                    "DMIFordringHaverID", "MFAktionStatusKode", "MFAktionStatusÆndretDato",
                    "DMIFordringModtagelseDato", "AfvistÅrsagSamling")
_OPTIONAL = frozenset({0, 1, 2, 8})


@cache
def _action_template(shape: tuple[bool, ...]) -> etree._Element:
    """An empty ``MFAktionStruktur`` holding the elements that ``shape`` (one flag per
    optional element) keeps: copied per action, since building ten elements one by one
    costs three times as much (a 500-action answer)."""
    template = etree.Element(_M + "MFAktionStruktur", nsmap=_NSMAP)  # type: ignore[arg-type]
    kept = iter(shape)
    for n, name in enumerate(_ACTION_ELEMENTS):
        if n not in _OPTIONAL or next(kept):
            etree.SubElement(template, _M + name)
    return template


def _id(value: str | None) -> str | None:
    """An id as the answer carries it: none when it exceeds the schema's 64 characters
    (it could only have come from a sender's typo)."""
    return value if value and len(value) <= 64 else None


_Stamps = dict[tuple[datetime | date, object], str]


def _stamp(value: datetime | date, stamps: _Stamps) -> str:
    """:func:`stamp`, once per value (by its zone too: equal instants in two zones are
    written apart)."""
    key = (value, getattr(value, "tzinfo", None))
    text = stamps.get(key)
    if text is None:
        text = stamps[key] = stamp(value)
    return text


def action_structure(parent: etree._Element, a: PsrmAction,
                     stamps: _Stamps | None = None) -> etree._Element:
    """Append one ``MFAktionStruktur``; IDs that exceed the schema's 64 characters are
    left out rather than truncated. ``AfvistÅrsagSamling`` is always there, empty when the
    action is accepted. ``stamps``: the dates already written (an answer's actions share
    a few)."""
    if stamps is None:
        stamps = {}
    changed = _stamp(a.status_changed, stamps)
    received = None if a.received is None else _stamp(a.received, stamps)
    ids = (_id(a.efi_claim_id), _id(a.efi_main_claim_id), _id(a.claim_ref))
    texts = [i for i in ids if i is not None]
    texts += [a.action_id, a.code.value, a.creditor_id, a.status.value, changed]
    if received is not None:
        texts.append(received)
    s = copy.deepcopy(_action_template((*(i is not None for i in ids), received is not None)))
    parent.append(s)
    *filled, samling = s
    for element, text in zip(filled, texts, strict=True):
        element.text = text
    for r in a.reasons:
        afvist = sub(samling, "MFAktionAfvistStruktur")
        sub(afvist, "MFAktionAfvistNummer", r.number)
        sub(afvist, "MFAktionAfvistTekst", r.text[:_MAX_TEXT])
    return s


def indberet_answer(*, transaction_id: str | None, now: datetime, se_number: str,
                    delivery_id: str, actions: Iterable[PsrmAction]) -> etree._Element:
    """``MFFordringIndberet_O``: the head, then ``FordringInfo`` with one status per action."""
    root = answer("MFFordringIndberet_O", transaction_id=transaction_id,
                  service_id="MFFordringIndberet", now=now)
    info = sub(root, "FordringInfo")
    sub(sub(info, "FordringhaverSystemIDStruktur"), "VirksomhedSENummer", se_number)
    sub(info, "MFLeveranceID", delivery_id)
    samling = sub(info, "FordringAktionStatusSamling")
    stamps: _Stamps = {}
    for a in actions:
        action_structure(samling, a, stamps)
    return root


@dataclass(slots=True)
class NotificationView:
    """One ``MFUnderretStruktur``: coverage, write-off or return of a claim."""

    seq: int
    kind: str  # DAEKNING | AFSKRIVNING | RETUR
    efi_claim_id: str
    day: date  # the day it took effect
    at: datetime | None = None  # when PSRM registered it (default: the day, midnight)
    claim_ref: str | None = None
    creditor_id: str | None = None
    amount: Decimal | None = None
    source: str | None = None  # DækningKildeKode
    reason: str | None = None
    text: str | None = None


def notification_structure(parent: etree._Element, n: NotificationView) -> etree._Element:
    s = sub(parent, "MFUnderretStruktur")
    sub(s, "MFUnderretningNummer", n.seq)
    sub(s, "MFUnderretTypeKode", n.kind)
    sub(s, "DMIFordringEFIFordringID", n.efi_claim_id)
    if n.claim_ref:
        sub(s, "DMIFordringFordringHaverRef", n.claim_ref)
    if n.creditor_id:
        sub(s, "DMIFordringHaverID", n.creditor_id)
    sub(s, "MFUnderretningDatoTid", stamp(n.at or n.day))
    if n.kind == "DAEKNING":
        d = sub(s, "MFDækningStruktur")
        _amount(d, n.amount)
        sub(d, "DækningKildeKode", n.source or "INDB")
        sub(d, "DækningDato", n.day)
    elif n.kind == "AFSKRIVNING":
        a = sub(s, "MFAfskrivningStruktur")
        _amount(a, n.amount)
        sub(a, "AfskrivningÅrsagKode", n.reason or "FORAELDELSE")
    else:
        r = sub(s, "MFReturStruktur")
        sub(r, "HovedFordringReturAarsagKode", n.reason or "ANDET")
        if n.text:
            sub(r, "ReturTekst", n.text[:_MAX_TEXT])
    return s


def _amount(parent: etree._Element, amount: Decimal | None) -> None:
    b = sub(parent, "FordringBeløbStruktur")
    sub(b, "ValutaKode", "DKK")
    sub(b, "DMIFordringBeløb", amount if amount is not None else Decimal("0.00"))
