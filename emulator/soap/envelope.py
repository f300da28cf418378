"""SOAP 1.1 on the wire: hardened envelope parsing, faults, reply envelopes.

Everything a caller sends passes :func:`parse_envelope` first: no DTDs, no entities, no
network, bounded size, depth and element count. Whatever is wrong becomes a
:class:`SoapFault` that names the problem; nothing reaches the store.

The checks cost little on the hot path: byte scans for DTDs and start tags (so a flood
of elements is refused before its tree is built), one lxml parse (libxml2 itself stops
at 256 levels) and one compiled XPath for the configured depth.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from lxml import etree

from emulator.serving.logs import mask_cprs
from oir_adapter.contracts import (
    FAULT_ELEMENT,
    FAULT_NS,
    SOAP11_ENV_NS,
    SOAP12_ENV_NS,
    SchemaViolation,
    safe_parser,
    thread_xpath,
)

FAULT_DETAIL_NS = FAULT_NS  # the detail schema: xsd/fault/Fault.xsd, served at /xsd/fault/Fault.xsd
WSSE_NS = ("http://docs.oasis-open.org/wss/2004/01/"
           "oasis-200401-wss-wssecurity-secext-1.0.xsd")
_ENV = f"{{{SOAP11_ENV_NS}}}"
_ACTOR_NEXT = "http://schemas.xmlsoap.org/soap/actor/next"
#: Fault code prefixes other than ``soap`` a fault may use, with their namespaces.
FAULT_CODE_NAMESPACES = {"soap": SOAP11_ENV_NS, "wsse": WSSE_NS}

#: Header blocks the emulator processes (or deliberately accepts and ignores), so a
#: ``mustUnderstand="1"`` on them is honoured; any other mandatory header is refused.
UNDERSTOOD_HEADER_NAMESPACES = frozenset({
    WSSE_NS,
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
    "http://serviceplatformen.dk/xml/schemas/InvocationContext/1/",
    "http://serviceplatformen.dk/xml/schemas/AuthorityContext/1/",
    "http://www.w3.org/2005/08/addressing",
    "http://schemas.xmlsoap.org/ws/2004/08/addressing",
})


@dataclass(frozen=True, slots=True)
class Limits:
    """Hard limits on what a request may be; safe defaults, configurable
    (``OIR_MAX_BODY_BYTES``, ``OIR_MAX_DEPTH``, ``OIR_MAX_ELEMENTS``).

    The defaults leave room for a PSRM delivery of a few thousand actions (~40 elements
    and ~2 KB each) and refuse a 20 MB body, a 20 000-deep nesting or a flood of tiny
    elements before they cost real memory.
    """

    max_body_bytes: int = 10 * 1024 * 1024
    max_depth: int = 64
    max_elements: int = 200_000

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1024 or self.max_depth < 8 or self.max_elements < 100:
            raise ValueError("limits too small to carry a SOAP message: body >= 1024 bytes, "
                             "depth >= 8, elements >= 100")
        if self.max_depth > 250:
            raise ValueError("max_depth above 250 is not supported (libxml2 stops at 256)")


@dataclass
class SoapFault(Exception):
    """A SOAP 1.1 fault to answer with (HTTP 500, as SOAP 1.1 requires; 413/415/401 for
    what HTTP itself refuses). ``code`` is ``Client``/``Server``/``VersionMismatch``/
    ``MustUnderstand`` or a prefixed code from :data:`FAULT_CODE_NAMESPACES`."""

    code: str
    message: str
    violations: Sequence[SchemaViolation] = field(default_factory=tuple)
    http_status: int = 500
    http_headers: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code}: {mask_cprs(self.message)}"


@dataclass(frozen=True, slots=True)
class Envelope:
    """A parsed SOAP 1.1 request: its header (may be None) and the body's one element."""

    root: etree._Element
    header: etree._Element | None
    body: etree._Element


_local = threading.local()


def _parser() -> etree.XMLParser:
    """One hardened parser per thread (lxml parsers must not be shared across threads)."""
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = safe_parser()
    return parser


def parse_envelope(data: bytes, limits: Limits) -> Envelope:
    """Parse and check a SOAP 1.1 request envelope, or raise a Client fault saying why."""
    if len(data) > limits.max_body_bytes:
        raise SoapFault("Client", f"request body larger than {limits.max_body_bytes} bytes",
                        http_status=413)
    if not data or data.isspace():
        raise SoapFault("Client", "empty request body: a SOAP 1.1 envelope is required")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise SoapFault("Client", "DTDs and entity declarations are not allowed")
    # Every element needs a start tag, and entities are refused, so counting start tags
    # bounds the element count from above (exactly, but for '<' inside comments and
    # CDATA) in C, before any tree is built.
    start_tags = (data.count(b"<") - data.count(b"</") - data.count(b"<!")
                  - data.count(b"<?"))
    if start_tags > limits.max_elements:
        raise SoapFault("Client", f"more than {limits.max_elements} elements")
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise SoapFault("Client", _syntax_message(exc, data, limits)) from None
    except (ValueError, LookupError) as exc:  # e.g. an unknown encoding name
        raise SoapFault("Client", f"malformed XML: {exc}") from None
    if root.getroottree().docinfo.doctype:  # type: ignore[union-attr]  # a DTD the byte scan missed
        raise SoapFault("Client", "DTDs and entity declarations are not allowed")
    if thread_xpath("/*" + "/*" * limits.max_depth)(root):  # an element deeper than that
        raise SoapFault("Client", f"nesting deeper than {limits.max_depth} levels")
    return _envelope(root)


def _envelope(root: etree._Element) -> Envelope:
    if root.tag == f"{{{SOAP12_ENV_NS}}}Envelope":
        raise SoapFault("VersionMismatch",
                        "SOAP 1.2 envelope received; this service speaks SOAP 1.1 "
                        f"({SOAP11_ENV_NS})")
    if root.tag != f"{_ENV}Envelope":
        raise SoapFault("Client", f"root element must be {{{SOAP11_ENV_NS}}}Envelope, "
                                  f"not {_tag_text(root)}")
    header: etree._Element | None = None
    body: etree._Element | None = None
    for child in root:
        if not isinstance(child.tag, str):
            continue  # comments and processing instructions
        if child.tag == f"{_ENV}Header":
            if header is not None:
                raise SoapFault("Client", "more than one soap:Header")
            if body is not None:
                raise SoapFault("Client", "soap:Header must come before soap:Body")
            header = child
        elif child.tag == f"{_ENV}Body":
            if body is not None:
                raise SoapFault("Client", "more than one soap:Body")
            body = child
        else:
            raise SoapFault("Client", f"unexpected element {child.tag} in soap:Envelope")
    if body is None:
        raise SoapFault("Client", "a SOAP envelope needs exactly one soap:Body")
    if body.text and body.text.strip():
        raise SoapFault("Client", "soap:Body holds text outside its element")
    children = [c for c in body if isinstance(c.tag, str)]
    if len(children) != 1:
        raise SoapFault("Client", f"soap:Body must hold exactly one element, found {len(children)}")
    if header is not None:
        _check_must_understand(header)
    return Envelope(root=root, header=header, body=children[0])


def _check_must_understand(header: etree._Element) -> None:
    """SOAP 1.1 §4.2.3: a mandatory header block meant for us that we do not know is a
    ``MustUnderstand`` fault, never silently ignored."""
    for block in header:
        if not isinstance(block.tag, str):
            continue
        if block.get(f"{_ENV}mustUnderstand", "0").strip() not in ("1", "true"):
            continue
        actor = block.get(f"{_ENV}actor")
        if actor and actor != _ACTOR_NEXT:
            continue  # meant for another node
        if etree.QName(block).namespace not in UNDERSTOOD_HEADER_NAMESPACES:
            raise SoapFault("MustUnderstand",
                            f"header {_tag_text(block)} is marked mustUnderstand but this "
                            "service does not process it")


def _tag_text(element: etree._Element) -> str:
    return str(element.tag)[:300]


_DECLARED = re.compile(rb"""^\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9._-]{1,40})["']""")


def _syntax_message(exc: etree.XMLSyntaxError, data: bytes, limits: Limits) -> str:
    """What is wrong with the bytes, in words a caller can act on."""
    text = str(getattr(exc, "msg", "") or exc)
    if "Excessive depth" in text:
        return f"nesting deeper than {limits.max_depth} levels"
    if "Detected an entity reference loop" in text or "amplification" in text:
        return "DTDs and entity declarations are not allowed"
    found = _DECLARED.match(data[:300])
    if found:
        declared = found.group(1).decode("ascii")
        hint = _encoding_mismatch(data, declared)
        if hint:
            return f"malformed XML: {hint} ({text})"
    return f"malformed XML: {text}"


def _encoding_mismatch(data: bytes, declared: str) -> str | None:
    """Why the body cannot be in the encoding its XML declaration names, if it cannot."""
    name = declared.lower().replace("_", "-")
    if name.startswith(("utf-16", "utf-32", "ucs")) and data.lstrip()[:5] == b"<?xml":
        return (f"the XML declaration says {declared} but the bytes are in a single-byte "
                "encoding")
    try:
        data.decode(name)
    except LookupError:
        return f"unknown encoding {declared!r} in the XML declaration"
    except UnicodeDecodeError as err:
        return f"the bytes are not valid {declared} (byte {err.start} cannot be decoded)"
    return None


def envelope_bytes(body: etree._Element) -> bytes:
    """A SOAP 1.1 envelope around ``body``, serialised as UTF-8 with a declaration."""
    env = etree.Element(f"{_ENV}Envelope", nsmap={"soap": SOAP11_ENV_NS})
    etree.SubElement(env, f"{_ENV}Header")
    etree.SubElement(env, f"{_ENV}Body").append(body)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def fault_bytes(fault: SoapFault) -> bytes:
    """A SOAP 1.1 Fault envelope; the detail lists each violation with path and line.

    CPR numbers in the texts are masked: a fault string ends up in client logs."""
    prefix, _, local = fault.code.rpartition(":")
    prefix = prefix or "soap"
    nsmap = {"soap": SOAP11_ENV_NS}
    if prefix != "soap":
        nsmap[prefix] = FAULT_CODE_NAMESPACES[prefix]
    env = etree.Element(f"{_ENV}Envelope", nsmap=nsmap)
    body = etree.SubElement(env, f"{_ENV}Body")
    f = etree.SubElement(body, f"{_ENV}Fault")
    etree.SubElement(f, "faultcode").text = f"{prefix}:{local}"
    etree.SubElement(f, "faultstring").text = _xml_safe(mask_cprs(fault.message))
    if fault.violations:
        detail = etree.SubElement(f, "detail")
        holder = etree.SubElement(detail, f"{{{FAULT_DETAIL_NS}}}{FAULT_ELEMENT}",
                                  nsmap={"v": FAULT_DETAIL_NS})
        for v in fault.violations:
            item = etree.SubElement(holder, f"{{{FAULT_DETAIL_NS}}}Violation")
            etree.SubElement(item, f"{{{FAULT_DETAIL_NS}}}Path").text = _xml_safe(v.path)
            if v.line:
                etree.SubElement(item, f"{{{FAULT_DETAIL_NS}}}Line").text = str(v.line)
            etree.SubElement(item, f"{{{FAULT_DETAIL_NS}}}Message").text = _xml_safe(
                mask_cprs(v.message))
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_safe(text: str) -> str:
    """Text that lxml will serialise: a fault may quote bytes the caller sent."""
    return _NOT_XML.sub("\ufffd", text)


def soap_action(header_value: str | None) -> str:
    """The SOAPAction header without its quotes."""
    return (header_value or "").strip().strip('"')
