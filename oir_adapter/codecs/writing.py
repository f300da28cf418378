"""Writing namespaced XML: one small class instead of ad-hoc ``SubElement`` calls.

The counterpart of :mod:`.reading`. A :class:`Writer` builds elements of one namespace;
values become text the way the contracts want them (dates ISO, amounts with two
decimals, booleans ``true``/``false``), and ``None`` means "leave the element out", so
optional elements need no ``if`` at the call site.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal

from lxml import etree

from ..model import money


def text_of(value: object) -> str:
    """A value as element text: ISO dates, øre-exact amounts, ``xs:boolean``, and
    timestamps with their zone (see :func:`timestamp_text`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return timestamp_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{money(value):.2f}"
    return str(value)


def timestamp_text(value: datetime) -> str:
    """An ``xs:dateTime`` that always carries its zone, to the second. A naive value is
    wall-clock time of this host (the emulator's clock, ``datetime.now()``) and gets the
    host's zone (``TZ``; ``2026-11-23T12:00:00+01:00`` in Denmark in winter)."""
    aware = value if value.tzinfo is not None else value.astimezone()
    return aware.replace(microsecond=0).isoformat()


class Writer:
    """Build elements in namespace ``ns`` (``nsmap`` is used on root elements)."""

    __slots__ = ("ns", "nsmap", "_prefix")

    def __init__(self, ns: str, nsmap: Mapping[str | None, str]) -> None:
        self.ns = ns
        self.nsmap = dict(nsmap)
        self._prefix = f"{{{ns}}}"

    def q(self, name: str) -> str:
        return self._prefix + name

    def root(self, name: str) -> etree._Element:
        return etree.Element(self._prefix + name, nsmap=self.nsmap)  # type: ignore[arg-type]

    def sub(self, parent: etree._Element, name: str, value: object = None) -> etree._Element:
        """Append ``name`` (with ``value`` as text unless it is None)."""
        el = etree.SubElement(parent, self._prefix + name)
        if value is not None:
            el.text = text_of(value)
        return el

    def opt(self, parent: etree._Element, name: str, value: object) -> None:
        """Append ``name`` only when ``value`` is not None."""
        if value is not None:
            self.sub(parent, name, value)

    def fill(self, parent: etree._Element, **fields: object) -> etree._Element:
        """Append one element per field, in argument order; None fields are left out."""
        for name, value in fields.items():
            self.opt(parent, name, value)
        return parent

    def record(self, name: str, **fields: object) -> etree._Element:
        """A detached element ``name`` holding ``fields`` (see :meth:`fill`)."""
        return self.fill(etree.Element(self._prefix + name), **fields)

    def collection(self, parent: etree._Element, name: str,
                   items: Iterable[etree._Element]) -> None:
        """Append ``name`` holding ``items`` — only when there is at least one."""
        listed = list(items)
        if listed:
            self.sub(parent, name).extend(listed)
