"""XML as the dashboard shows it: pretty-printed, highlighted, CPR numbers masked."""

from __future__ import annotations

import re

from lxml import etree
from markupsafe import Markup, escape

from emulator.storage import journal
from oir_adapter.contracts import safe_parser

HIGHLIGHT_LIMIT = 400_000



_TOKEN = re.compile(
    r"(?P<comment><!--.*?-->)|(?P<cdata><!\[CDATA\[.*?\]\]>)|(?P<pi><\?.*?\?>)"
    r"|(?P<doctype><!.*?>)|(?P<tag></?[^<>\s/]+(?:\s[^<>]*?)?/?>)|(?P<text>[^<]+)|(?P<lt><)",
    re.S)
_TAG = re.compile(r"^(?P<open></?)(?P<name>[^\s/>]+)(?P<rest>.*?)(?P<close>/?>)$", re.S)
_ATTR = re.compile(r"(?P<name>[^\s=]+)(?P<eq>\s*=\s*)(?P<value>\"[^\"]*\"|'[^']*')")


def pretty_xml(text: str) -> str:
    """Indent ``text`` when it is well-formed XML; anything else is returned unchanged.

    Parsed with the hardened parser (no DTDs, no entities, no network): journal entries
    are whatever a caller sent, including hostile input. Comments stay (shown as sent).
    """
    try:
        root = etree.fromstring(text.encode("utf-8"), safe_parser(keep_comments=True))
    except (etree.XMLSyntaxError, ValueError):
        return text
    etree.indent(root, space="  ")
    return etree.tostring(root, encoding="unicode")


def _span(cls: str, text: str) -> Markup:
    return Markup('<span class="{}">{}</span>').format(cls, text)


def _highlight_tag(token: str) -> Markup:
    m = _TAG.match(token)
    if m is None:
        return _span("x-text", token)
    out = [_span("x-punct", m.group("open")), _span("x-tag", m.group("name"))]
    rest = m.group("rest")
    last = 0
    for a in _ATTR.finditer(rest):
        out.append(escape(rest[last:a.start()]))
        name = a.group("name")
        out.append(_span("x-ns" if name.startswith("xmlns") else "x-attr", name))
        out.append(_span("x-punct", a.group("eq")))
        out.append(_span("x-val", a.group("value")))
        last = a.end()
    out.append(escape(rest[last:]))
    out.append(_span("x-punct", m.group("close")))
    return Markup("").join(out)


def highlight_xml(text: str | None, *, mask: bool = True) -> tuple[Markup, bool]:
    """Pretty-printed, syntax-highlighted XML as safe HTML, and whether it was too large.

    Every piece of the input goes through :func:`markupsafe.escape`; only the ``span``
    wrappers are ours. Text that is not XML is shown escaped, as it is. ``mask``: CPR
    numbers masked after decoding (:func:`emulator.storage.journal.mask_xml`), so the XML is
    shown as the emulator read it.
    """
    if not text:
        return Markup(""), False
    if mask:
        text = journal.mask_xml(text)
    if len(text) > HIGHLIGHT_LIMIT:
        return escape(text[:HIGHLIGHT_LIMIT]), True
    pretty = pretty_xml(text)
    out: list[Markup] = []
    for m in _TOKEN.finditer(pretty):
        kind = m.lastgroup
        token = m.group()
        if kind == "tag":
            out.append(_highlight_tag(token))
        elif kind in ("comment", "cdata", "pi", "doctype"):
            out.append(_span(f"x-{kind}", token))
        else:
            out.append(_span("x-text", token) if token.strip() else escape(token))
    return Markup("").join(out), False
