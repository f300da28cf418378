"""Builders for ØIR replies: the ``HovedoplysningerSvar`` head, ``Fejl`` lines, and the
model → XML pieces the debtor end's answers share (parties, claims, coverage lines)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from lxml import etree

from oir_adapter.contracts import OIR_NS
from oir_adapter.model import Party, PartyKind

_NSMAP = {"oir": OIR_NS}


def q(name: str) -> str:
    return f"{{{OIR_NS}}}{name}"


@dataclass(frozen=True, slots=True)
class Fejl:
    """One business error line: code, text, and the field it points at."""

    code: str
    text: str
    field: str | None = None


def root(name: str) -> etree._Element:
    return etree.Element(q(name), nsmap=_NSMAP)


def sub(parent: etree._Element, name: str, value: object = None) -> etree._Element:
    """Append ``name`` with ``value`` as text (dates ISO, Decimals as-is, bools xs:boolean)."""
    el = etree.SubElement(parent, q(name))
    if value is not None:
        el.text = text_of(value)
    return el


def opt(parent: etree._Element, name: str, value: object) -> None:
    """Append ``name`` only when ``value`` is not None."""
    if value is not None:
        sub(parent, name, value)


def text_of(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return str(value)


def reply(name: str, transaction_id: str | None, now: datetime,
          errors: Sequence[Fejl] = ()) -> etree._Element:
    """A response element headed by ``HovedoplysningerSvar`` (OK, or FEJL with its lines)."""
    el = root(name)
    head = sub(el, "HovedoplysningerSvar")
    sub(head, "TransaktionsID", transaction_id or "00000000-0000-0000-0000-000000000000")
    sub(head, "TransaktionsTid", now)
    sub(head, "SvarReaktion", "FEJL" if errors else "OK")
    if errors:
        samling = sub(head, "FejlSamling")
        for e in errors:
            f = sub(samling, "Fejl")
            sub(f, "FejlKode", e.code)
            sub(f, "FejlTekst", e.text[:400])
            opt(f, "Felt", e.field)
    return el


def party(parent: etree._Element, name: str, p: Party) -> None:
    holder = sub(parent, name)
    sub(holder, "CPRNummer" if p.kind is PartyKind.CPR else "CVRNummer", p.number)


def transaction_id_of(body: etree._Element) -> str | None:
    found = body.find(f"{q('Hovedoplysninger')}/{q('TransaktionsID')}")
    return None if found is None or found.text is None else found.text.strip()


def children(parent: etree._Element, name: str, items: Iterable[etree._Element]) -> None:
    """Append a ``…Samling`` holding ``items`` — only when there is at least one."""
    items = list(items)
    if items:
        holder = sub(parent, name)
        holder.extend(items)
