"""Reading what a capture point saw: the deliveries a debtor system sent to PSRM (and
PSRM's answers), decoded from the capture point's journal.

A capture point is an emulator (the target itself, or one the suite points the target
at): its journal keeps every exchange with its XML, so the suite judges exactly the bytes
the target sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from lxml import etree

from ..clients import ActionOutcome, read_psrm_outcome
from ..codecs.psrm import ActionRequest, Delivery, decode_delivery
from ..codecs.reading import DecodeError
from ..contracts import SOAP11_ENV_NS, SchemaViolation, safe_parser, validate_element
from .context import CaseContext


def body_of(xml: str | None) -> etree._Element | None:
    """The first element in the SOAP Body of an envelope text (``None`` if unreadable)."""
    if not xml:
        return None
    try:
        root = etree.fromstring(xml.encode("utf-8"), safe_parser(huge_tree=True))
    except etree.XMLSyntaxError:
        return None
    body = root.find(f"{{{SOAP11_ENV_NS}}}Body")
    if body is None:
        return None
    return next((c for c in body if isinstance(c.tag, str)), None)


@dataclass(slots=True)
class Captured:
    """One ``MFFordringIndberet`` exchange as the capture point journaled it."""

    row: dict[str, Any]
    request: etree._Element | None
    response: etree._Element | None
    violations: list[SchemaViolation] = field(default_factory=list)
    delivery: Delivery | None = None
    outcomes: list[ActionOutcome] = field(default_factory=list)
    problem: str | None = None  # why the request could not be read

    @property
    def day(self) -> date:
        return datetime.fromisoformat(str(self.row["virtual_at"])).date()

    def outcome(self, position: int) -> ActionOutcome | None:
        """PSRM's answer to the action at 1-based ``position``."""
        return self.outcomes[position - 1] if 0 < position <= len(self.outcomes) else None


def deliveries(ctx: CaseContext) -> list[Captured]:
    """Every delivery sent to the capture point's PSRM end during this run, oldest first."""
    out = []
    for row in ctx.capture_journal("psrm", "MFFordringIndberet"):
        request = body_of(row.get("request_xml"))
        response = body_of(row.get("response_xml"))
        c = Captured(row, request, response)
        if request is None:
            c.problem = "the request is not a readable SOAP 1.1 envelope"
        else:
            c.violations = validate_element(request)
            if not c.violations:
                try:
                    c.delivery = decode_delivery(request, received=c.day)
                except (DecodeError, ValueError) as exc:
                    c.problem = f"cannot decode the delivery: {exc}"
        if response is not None and etree.QName(response).localname == "MFFordringIndberet_O":
            c.outcomes = read_psrm_outcome(response)[3]
        out.append(c)
    return out


def actions_for(captured: list[Captured], *, claim_ref: str | None = None,
                code: str | None = None, efi_claim_id: str | None = None
                ) -> list[tuple[Captured, ActionRequest]]:
    """Decoded actions matching a claim reference, action code and/or PSRM claim id."""
    found = []
    for c in captured:
        if c.delivery is None:
            continue
        for a in c.delivery.actions:
            if code is not None and a.code.value != code:
                continue
            ref = a.claim.fagsystem_claim_id if a.claim is not None else None
            if claim_ref is not None and ref != claim_ref:
                continue
            if efi_claim_id is not None and a.efi_claim_id != efi_claim_id:
                continue
            found.append((c, a))
    return found
