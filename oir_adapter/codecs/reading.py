"""Typed reading of namespaced XML: one small class instead of ad-hoc ``findtext`` calls.

A :class:`Reader` wraps an element and a default namespace; paths are written without
prefixes (``"Fordring/Hovedstol"``) and typed getters turn text into dates, amounts and
booleans, raising :class:`DecodeError` with the element path when a value is unusable.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from lxml import etree

from oir_adapter.domain.model import DecodeError, MoneyError, money


class Reader:
    """Read children of ``element`` in namespace ``ns`` by slash-separated local names."""

    __slots__ = ("element", "ns")

    def __init__(self, element: etree._Element, ns: str) -> None:
        self.element = element
        self.ns = ns

    def _q(self, path: str) -> str:
        return _qualified(self.ns, path)

    def find(self, path: str) -> Reader | None:
        found = self.element.find(self._q(path))
        return None if found is None else Reader(found, self.ns)

    def all(self, path: str) -> Iterator[Reader]:
        for found in self.element.iterfind(self._q(path)):
            yield Reader(found, self.ns)

    def has(self, path: str) -> bool:
        return self.element.find(self._q(path)) is not None

    def opt_text(self, path: str) -> str | None:
        found = self.element.find(self._q(path))
        if found is None or found.text is None:
            return None
        return found.text.strip()

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
