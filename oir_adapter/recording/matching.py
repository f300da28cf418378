"""Which recorded exchange answers a request: by operation and business keys, not bytes.

A request's **business keys** are its identifier leaves — elements whose name ends in
``ID``, ``Nummer``, ``Ref``, ``Reference``, ``CVR``, ``CPR`` or ``Token`` (claim
reference, account number, payment id, delivery id, CPR number…) — with their paths below
the message element. ``TransaktionsID`` and ``TransaktionsTid`` are left out: a caller
makes a new one for every call, so they cannot say *which* business event a request is.
Nothing here knows a contract's element names beyond those endings, so a recording of
another version of a contract is matched the same way.

A recorded exchange answers a request when it carries the same message element and the
same business keys. Among several (an account read before and after a payment, a payment
sent twice) the first one not served yet is taken, in recording order — preferring the one
with the same ``TransaktionsID`` and then the one most alike in every other leaf (a
search by another name prefix) — and once all have been served, the last one again.
A request that matches nothing is told which recorded exchange came nearest, and how it
differs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from lxml import etree

from .folder import RecordedExchange, Recording

#: Leaf names that identify a business object (a suffix match on the local name).
KEY_NAME = re.compile(r"(ID|Id|Nummer|Ref|Reference|CVR|CPR|Token)$")
#: Identifier leaves that name the call, not the business event.
VOLATILE = frozenset({"TransaktionsID", "TransaktionsTid"})
TRANSACTION_ID = "TransaktionsID"


@dataclass(frozen=True, slots=True)
class RequestView:
    """What matching compares of one request."""

    element: str  # {namespace}local name of the message element
    keys: tuple[tuple[str, str], ...]  # (path, value), sorted
    transaction_id: str | None
    leaves: frozenset[tuple[str, str]]  # every non-volatile leaf (path, value)

    @property
    def local_name(self) -> str:
        return etree.QName(self.element).localname

    def similarity(self, other: RequestView) -> float:
        union = self.leaves | other.leaves
        return len(self.leaves & other.leaves) / len(union) if union else 1.0


def request_view(message: etree._Element) -> RequestView:
    """The keys and leaves of a message element (the SOAP Body's first child)."""
    keys: list[tuple[str, str]] = []
    leaves: set[tuple[str, str]] = set()
    transaction_id: str | None = None

    def walk(el: etree._Element, path: str) -> None:
        nonlocal transaction_id
        children = [c for c in el if isinstance(c.tag, str)]
        if not children:
            name = etree.QName(el).localname
            value = (el.text or "").strip()
            if name == TRANSACTION_ID and transaction_id is None:
                transaction_id = value
            if name in VOLATILE:
                return
            leaves.add((path, value))
            if KEY_NAME.search(name):
                keys.append((path, value))
            return
        for child in children:
            walk(child, f"{path}/{etree.QName(child).localname}" if path
                 else etree.QName(child).localname)

    walk(message, "")
    return RequestView(str(message.tag), tuple(sorted(keys)), transaction_id,
                       frozenset(leaves))


@dataclass(frozen=True, slots=True)
class Candidate:
    exchange: RecordedExchange
    view: RequestView


@dataclass(frozen=True, slots=True)
class Matched:
    exchange: RecordedExchange
    recorded: RequestView
    why: str


@dataclass(frozen=True, slots=True)
class Unmatched:
    message: str
    nearest: RecordedExchange | None = None


def _shown(keys: Iterable[tuple[str, str]]) -> str:
    return ", ".join(f"{path.rsplit('/', 1)[-1]}={value}" for path, value in keys) or "none"


def _difference(wanted: RequestView, recorded: RequestView) -> str:
    here = dict(wanted.keys)
    there = dict(recorded.keys)
    parts = []
    for path in sorted(set(here) | set(there)):
        name = path.rsplit("/", 1)[-1]
        if here.get(path) != there.get(path):
            parts.append(f"{name} {here.get(path, 'absent')} here, "
                         f"{there.get(path, 'absent')} recorded")
    return "; ".join(parts) or "the same keys"


class Matcher:
    """Chooses the recorded answer for a request (see the module docstring)."""

    def __init__(self, recording: Recording) -> None:
        from ..contracts import safe_parser

        self.recording = recording
        self.candidates: list[Candidate] = []
        parser = safe_parser(huge_tree=True)
        for x in recording.exchanges:
            if not x.answered_by_upstream or not x.request:
                continue
            message = message_of(x.request, parser)
            if message is not None:
                self.candidates.append(Candidate(x, request_view(message)))

    def match(self, wanted: RequestView, served: set[str]) -> Matched | Unmatched:
        same_element = [c for c in self.candidates if c.view.element == wanted.element]
        if not same_element:
            recorded = sorted({c.view.local_name for c in self.candidates})
            return Unmatched(f"the recording holds no {wanted.local_name} (it holds: "
                             f"{', '.join(recorded) or 'no answered exchange'})")
        hits = [c for c in same_element if c.view.keys == wanted.keys]
        if not hits:
            nearest = max(same_element, key=lambda c: (
                len(set(c.view.keys) & set(wanted.keys)), wanted.similarity(c.view),
                -c.exchange.seq))
            return Unmatched(
                f"no recorded {wanted.local_name} has these business keys "
                f"({_shown(wanted.keys)}); nearest: recorded exchange {nearest.exchange.id} "
                f"({_difference(wanted, nearest.view)})", nearest.exchange)
        fresh = [c for c in hits if c.exchange.id not in served]
        pool = fresh or hits
        later = -1 if fresh else 1  # unserved: the earliest; all served: the latest

        def rank(c: Candidate) -> tuple[bool, float, int]:
            same_tid = bool(wanted.transaction_id) and \
                c.view.transaction_id == wanted.transaction_id
            return (same_tid, wanted.similarity(c.view), later * c.exchange.seq)

        chosen = max(pool, key=rank)
        why = "same TransaktionsID" if wanted.transaction_id and \
            chosen.view.transaction_id == wanted.transaction_id else "same business keys"
        if not fresh:
            why += ", served before"
        return Matched(chosen.exchange, chosen.view, why)


def message_of(data: bytes | None, parser: etree.XMLParser) -> etree._Element | None:
    """The SOAP Body's first element of an envelope, or ``None``."""
    if not data:
        return None
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError:
        return None
    body = next((c for c in root if isinstance(c.tag, str)
                 and etree.QName(c).localname == "Body"), None)
    if body is None:
        return None
    return next((c for c in body if isinstance(c.tag, str)), None)
