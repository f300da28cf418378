"""Builders for ØIR replies: the ``HovedoplysningerSvar`` head, ``Fejl`` lines, and the
model → XML pieces the debtor end's answers share (parties, claims, coverage lines)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from oir_adapter.codecs.writing import Writer
from oir_adapter.contracts import OIR_NS
from oir_adapter.domain.model import Party, PartyKind

_W = Writer(OIR_NS, {"oir": OIR_NS})
q, root, sub, opt, fill, record, children = (_W.q, _W.root, _W.sub, _W.opt, _W.fill, _W.record,
                                             _W.collection)


@dataclass(frozen=True, slots=True)
class Fejl:
    """One business error line: code, text, and the field it points at."""

    code: str
    text: str
    field: str | None = None


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
