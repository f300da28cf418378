"""Typed reading of namespaced XML: one small class instead of ad-hoc ``findtext`` calls.

A :class:`Reader` wraps an element and a default namespace; paths are written without
prefixes (``"Fordring/Hovedstol"``) and typed getters turn text into dates, amounts and
booleans, raising :class:`DecodeError` with the element path when a value is unusable.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from lxml import etree

from oir_adapter.domain.model import DecodeError, MoneyError, money


class Reader:
    """Read children of ``element`` in namespace ``ns`` by slash-separated local names.

    The tree must not change while a reader reads it: the first read indexes the
    element's children by name (a decoder reads a dozen values of one element; lxml's
    ``find`` would search them a dozen times, through its ElementPath engine in Python)."""

    __slots__ = ("element", "ns", "_children")

    def __init__(self, element: etree._Element, ns: str) -> None:
        self.element = element
        self.ns = ns
        self._children: dict[object, etree._Element] | None = None

    def _q(self, path: str) -> str:
        return _qualified(self.ns, path)

    def _first(self, path: str) -> etree._Element | None:
        """The first element at ``path``, as ``element.find`` finds it (for ``a/b``: the
        first ``b`` of the first ``a`` that has one)."""
        steps = _steps(self.ns, path)
        if steps is None:
            return self.element.find(self._q(path))
        children = self._children
        if children is None:
            children = self._children = {}
            for child in self.element.iterchildren(etree.Element):
                children.setdefault(child.tag, child)
        head = children.get(steps[0])
        if head is None or len(steps) == 1:
            return head
        found = _first_below(head, steps[1:])
        return found if found is not None else _first_below(self.element, steps)

    def find(self, path: str) -> Reader | None:
        found = self._first(path)
        return None if found is None else Reader(found, self.ns)

    def all(self, path: str) -> Iterator[Reader]:
        steps = _steps(self.ns, path)
        found = (self.element.iterfind(self._q(path)) if steps is None
                 else _all_below(self.element, steps))
        for element in found:
            yield Reader(element, self.ns)

    def has(self, path: str) -> bool:
        return self._first(path) is not None

    def opt_text(self, path: str) -> str | None:
        found = self._first(path)
        if found is None:
            return None
        text = found.text
        return None if text is None else text.strip()

    def text(self, path: str) -> str:
        value = self.opt_text(path)
        if value is None:
            raise DecodeError(self.path_of(path), "missing")
        return value

    def _date(self, value: str, path: str) -> date:
        try:
            return parse_date(value)
        except DecodeError as exc:  # the element's path only when it is needed
            raise DecodeError(self.path_of(path), exc.message) from exc.__cause__

    def opt_date(self, path: str) -> date | None:
        value = self.opt_text(path)
        return None if value is None else self._date(value, path)

    def date(self, path: str) -> date:
        return self._date(self.text(path), path)

    def datetime(self, path: str) -> datetime:
        try:
            return parse_datetime(self.text(path))
        except DecodeError as exc:
            raise DecodeError(self.path_of(path), exc.message) from exc.__cause__

    def opt_money(self, path: str) -> Decimal | None:
        value = self.opt_text(path)
        if value is None:
            return None
        try:
            return money(value)
        except MoneyError as exc:
            raise DecodeError(self.path_of(path), str(exc)) from exc

    def money(self, path: str) -> Decimal:
        value = self.opt_money(path)
        if value is None:
            raise DecodeError(self.path_of(path), "missing")
        return value

    def opt_bool(self, path: str) -> bool | None:
        value = self.opt_text(path)
        return None if value is None else value in ("true", "1")

    def opt_int(self, path: str) -> int | None:
        value = self.opt_text(path)
        return None if value is None else int(value)

    def path_of(self, path: str = "") -> str:
        """A readable path of this element (and ``path`` below it), without prefixes."""
        names = [etree.QName(e).localname for e in reversed(list(self.element.iterancestors()))]
        names.append(etree.QName(self.element).localname)
        trail = "/".join(n for n in names if n not in ("Envelope", "Body"))
        return f"{trail}/{path}" if path else trail


@lru_cache(maxsize=1024)
def _qualified(ns: str, path: str) -> str:
    """``a/b`` → ``{ns}a/{ns}b`` (every read asks, for a handful of paths)."""
    return "/".join(f"{{{ns}}}{p}" for p in path.split("/"))


_PLAIN_NAME = re.compile(r"[^/.*@\[\]{}()\s]+")


@lru_cache(maxsize=1024)
def _steps(ns: str, path: str) -> tuple[str, ...] | None:
    """``a/b`` → ``("{ns}a", "{ns}b")``; None for a path that is more than child names
    (``.``, ``*``, predicates…) or has no namespace: lxml's ``find`` reads those."""
    names = path.split("/")
    if not ns or not all(_PLAIN_NAME.fullmatch(n) for n in names):
        return None
    return tuple(f"{{{ns}}}{n}" for n in names)


def _all_below(element: etree._Element, steps: tuple[str, ...]) -> Iterator[etree._Element]:
    """What ``element.iterfind("{ns}a/{ns}b")`` yields, by lxml's child iteration in C."""
    head, rest = steps[0], steps[1:]
    for child in element.iterchildren(head):
        if rest:
            yield from _all_below(child, rest)
        else:
            yield child


def _first_below(element: etree._Element, steps: tuple[str, ...]) -> etree._Element | None:
    """What ``element.find("{ns}a/{ns}b")`` finds, by lxml's child iteration in C."""
    head, rest = steps[0], steps[1:]
    for child in element.iterchildren(head):
        if not rest:
            return child
        found = _first_below(child, rest)
        if found is not None:
            return found
    return None


#: The dates the debtor system computes with. ``xs:date`` allows any year (0001, 9999,
#: 10000, -2026); bank days, reminders and limitation periods computed from the far ends
#: overflow Python's calendar, and no claim, payment or benefit is dated there. A date
#: outside this range is refused as unreadable (a Client fault naming the element). The
#: range starts a century before PSRM's own limit, so a date in the 1800s is read and
#: refused as PSRM refuses it: rule PSRM-568 (no date before 1900), with PSRM's number.
EARLIEST_DATE = date(1800, 1, 1)
LATEST_DATE = date(2999, 12, 31)
_RANGE = f"from {EARLIEST_DATE.isoformat()} to {LATEST_DATE.isoformat()}"


def _in_range(day: date, value: str, path: str) -> date:
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise DecodeError(path, f"{value.strip()!r} is not a date {_RANGE}")
    return day


def parse_datetime(value: str, path: str = "") -> datetime:
    """An ``xs:dateTime`` (``Z`` or an offset; ``24:00:00`` is the next midnight)."""
    text = value.strip().replace("Z", "+00:00")
    midnight = "T24:00:00" in text
    if midnight:
        text = text.replace("T24:00:00", "T00:00:00", 1)
    try:
        when = datetime.fromisoformat(text)
        if midnight:
            when += timedelta(days=1)
    except (ValueError, OverflowError) as exc:
        raise DecodeError(path, f"{value.strip()!r} is not a date and time {_RANGE}") from exc
    _in_range(when.date(), value, path)
    return when


def parse_date(value: str, path: str = "") -> date:
    """An ``xs:date`` or ``xs:dateTime`` (time and zone dropped) as a date."""
    text = value.strip()
    if "T" in text:
        return parse_datetime(text, path).date()
    try:
        day = date.fromisoformat(text[:10])
    except ValueError as exc:
        raise DecodeError(path, f"{value!r} is not a date {_RANGE}") from exc
    if len(text) > 10 and text[10] not in "Z+-":  # '10000-01-01' is not '1000-01-0…'
        raise DecodeError(path, f"{value!r} is not a date {_RANGE}")
    return _in_range(day, value, path)
