"""The answer to one call, with its business outcome already read.

ØIR answers say how it went in ``HovedoplysningerSvar`` (``SvarReaktion`` and a
``FejlSamling``); PSRM answers in ``Kontekst/HovedOplysningerSvar/SvarReaktion`` and, per
action, an ``MFAktionStruktur`` with its status and ``AfvistÅrsagSamling``. Reading both
here means callers branch on data, not on XPath. The parsers are public so a stored
response (journal, conformance evidence) can be read the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from lxml import etree

from ..contracts import KONTEKST_NS, OIR_NS, PSRM_NS, Operation


@dataclass(frozen=True, slots=True)
class BusinessError:
    """One ``FejlSamling/Fejl`` of an ØIR answer."""

    code: str
    text: str
    field: str | None = None

    def __str__(self) -> str:
        where = f" ({self.field})" if self.field else ""
        return f"{self.code}: {self.text}{where}"


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """One ``MFAktionStruktur`` of a PSRM answer or receipt."""

    action_id: str
    code: str  # MFAktionKode: OPRETFORDRING, NEDSKRIV, …
    status: str  # MFAktionStatusKode: MODTAGET, SAGSBEHANDL, UDFOERT, AFVIST
    efi_claim_id: str | None = None  # DMIFordringEFIFordringID
    claim_ref: str | None = None  # DMIFordringFordringHaverRef
    creditor_id: str | None = None  # DMIFordringHaverID
    efi_main_claim_id: str | None = None  # DMIFordringEFIHovedFordringID
    status_changed: datetime | None = None  # MFAktionStatusÆndretDato
    received: datetime | None = None  # DMIFordringModtagelseDato
    #: ``(MFAktionAfvistNummer, MFAktionAfvistTekst)`` per rejection reason.
    reasons: list[tuple[str, str]] = field(default_factory=list)

    @property
    def rejected(self) -> bool:
        return self.status == "AFVIST"


@dataclass(slots=True)
class Reply:
    """A successful exchange: the response body element and what it says."""

    element: etree._Element
    operation: Operation
    http_status: int
    elapsed: float  # seconds, request sent to reply read
    #: ``SvarReaktion`` (OK, FEJL; PSRM also ADVARSEL), ``None`` if the answer has none.
    reaction: str | None = None
    transaction_id: str | None = None
    errors: list[BusinessError] = field(default_factory=list)
    actions: list[ActionOutcome] = field(default_factory=list)
    envelope: etree._Element | None = None
    sent: bytes = b""
    received: bytes = b""

    @property
    def ok(self) -> bool:
        """No business error: not ``FEJL``, no ``FejlSamling``, no action ``AFVIST``."""
        return not self.has_business_errors

    @property
    def has_business_errors(self) -> bool:
        return (self.reaction == "FEJL" or bool(self.errors)
                or any(a.rejected for a in self.actions))

    @property
    def rejected_actions(self) -> list[ActionOutcome]:
        return [a for a in self.actions if a.rejected]

    @property
    def first_action(self) -> ActionOutcome | None:
        """The outcome of the first action (all a one-action delivery has), if any."""
        return self.actions[0] if self.actions else None

    def findtext(self, path: str) -> str | None:
        """Text at a prefix-free path below the body (``"FordringID"``), in its namespace."""
        return _text(self.element, path, etree.QName(self.element).namespace or "")


def _text(el: etree._Element | None, path: str, ns: str) -> str | None:
    if el is None:
        return None
    found = el.find("/".join(f"{{{ns}}}{p}" for p in path.split("/")))
    if found is None or found.text is None:
        return None
    return found.text.strip()


def _datetime(value: str | None) -> datetime | None:
    """An ``xs:dateTime`` (a bare date reads as midnight)."""
    if not value:
        return None
    try:
        text = value.strip().replace("Z", "+00:00")
        if "T" not in text:
            return datetime.combine(date.fromisoformat(text[:10]), datetime.min.time())
        return datetime.fromisoformat(text)
    except ValueError:  # schema validation is switchable: never fail on reading
        return None


def read_oir_outcome(element: etree._Element) -> tuple[str | None, str | None,
                                                        list[BusinessError]]:
    """``(SvarReaktion, TransaktionsID, FejlSamling)`` of an ØIR response element."""
    head = element.find(f"{{{OIR_NS}}}HovedoplysningerSvar")
    errors = []
    if head is not None:
        for fejl in head.iterfind(f"{{{OIR_NS}}}FejlSamling/{{{OIR_NS}}}Fejl"):
            errors.append(BusinessError(_text(fejl, "FejlKode", OIR_NS) or "",
                                        _text(fejl, "FejlTekst", OIR_NS) or "",
                                        _text(fejl, "Felt", OIR_NS)))
    return (_text(head, "SvarReaktion", OIR_NS), _text(head, "TransaktionsID", OIR_NS),
            errors)


def read_action(el: etree._Element) -> ActionOutcome:
    """One ``MFAktionStruktur``."""
    reasons = [(_text(r, "MFAktionAfvistNummer", PSRM_NS) or "",
                _text(r, "MFAktionAfvistTekst", PSRM_NS) or "")
               for r in el.iterfind(f"{{{PSRM_NS}}}AfvistÅrsagSamling/"
                                    f"{{{PSRM_NS}}}MFAktionAfvistStruktur")]
    return ActionOutcome(
        action_id=_text(el, "MFAktionID", PSRM_NS) or "",
        code=_text(el, "MFAktionKode", PSRM_NS) or "",
        status=_text(el, "MFAktionStatusKode", PSRM_NS) or "",
        efi_claim_id=_text(el, "DMIFordringEFIFordringID", PSRM_NS),
        claim_ref=_text(el, "DMIFordringFordringHaverRef", PSRM_NS),
        creditor_id=_text(el, "DMIFordringHaverID", PSRM_NS),
        efi_main_claim_id=_text(el, "DMIFordringEFIHovedFordringID", PSRM_NS),
        status_changed=_datetime(_text(el, "MFAktionStatusÆndretDato", PSRM_NS)),
        received=_datetime(_text(el, "DMIFordringModtagelseDato", PSRM_NS)),
        reasons=reasons,
    )


def read_psrm_outcome(element: etree._Element) -> tuple[
        str | None, str | None, list[BusinessError], list[ActionOutcome]]:
    """``(reaction, TransaktionsID, errors, actions)`` of a PSRM ``*_O`` element.

    PSRM's ``SvarReaktion`` is empty when the request was handled (``reaction`` ``"OK"``)
    and holds ``Fejl{FejlNummer, FejlTekst}`` when it was refused as a whole (``"FEJL"``,
    each one in ``errors``). Actions are every ``MFAktionStruktur`` below the element, so
    the synchronous ``MFFordringIndberet_O`` and the ``MFKvitteringHent_O`` receipts read
    alike.
    """
    head = element.find(f"{{{PSRM_NS}}}Kontekst/{{{KONTEKST_NS}}}HovedOplysningerSvar")
    errors = [] if head is None else [
        BusinessError(_text(f, "FejlNummer", KONTEKST_NS) or "",
                      _text(f, "FejlTekst", KONTEKST_NS) or "")
        for f in head.iterfind(f"{{{KONTEKST_NS}}}SvarReaktion/{{{KONTEKST_NS}}}Fejl")]
    actions = [read_action(a) for a in element.iter(f"{{{PSRM_NS}}}MFAktionStruktur")]
    reaction = None if head is None else ("FEJL" if errors else "OK")
    return reaction, _text(head, "TransaktionsID", KONTEKST_NS), errors, actions


def build_reply(element: etree._Element, operation: Operation, *, http_status: int,
                elapsed: float, envelope: etree._Element | None = None, sent: bytes = b"",
                received: bytes = b"") -> Reply:
    """A :class:`Reply` with the outcome read according to the element's namespace."""
    reply = Reply(element, operation, http_status, elapsed, envelope=envelope, sent=sent,
                  received=received)
    ns = etree.QName(element).namespace
    if ns == OIR_NS:
        reply.reaction, reply.transaction_id, reply.errors = read_oir_outcome(element)
    elif ns == PSRM_NS:
        reply.reaction, reply.transaction_id, reply.errors, reply.actions = \
            read_psrm_outcome(element)
    return reply
