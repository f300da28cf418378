"""SOAP 1.1 on the wire: hardened envelope parsing, faults, reply envelopes.

Everything a caller sends passes :func:`parse_envelope` first: no DTDs, no entities, no
network, bounded size, depth and element count. Whatever is wrong becomes a
:class:`SoapFault` that names the problem; nothing reaches the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from lxml import etree

from oir_adapter.contracts import SOAP11_ENV_NS, SOAP12_ENV_NS, SchemaViolation, safe_parser

FAULT_DETAIL_NS = "urn:oir-adapter:fault:1"
_ENV = f"{{{SOAP11_ENV_NS}}}"


@dataclass(frozen=True, slots=True)
class Limits:
    """Hard limits on what a request may be; safe defaults, configurable."""

    max_body_bytes: int = 5 * 1024 * 1024
    max_depth: int = 64
    max_elements: int = 100_000


@dataclass
class SoapFault(Exception):
    """A SOAP 1.1 fault to answer with (HTTP 500, as SOAP 1.1 requires)."""

    code: str  # Client | Server | VersionMismatch | MustUnderstand
    message: str
    violations: Sequence[SchemaViolation] = field(default_factory=tuple)
    http_status: int = 500

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True, slots=True)
class Envelope:
    """A parsed SOAP 1.1 request: its header (may be None) and the body's one element."""

    root: etree._Element
    header: etree._Element | None
    body: etree._Element


def parse_envelope(data: bytes, limits: Limits) -> Envelope:
    """Parse and check a SOAP 1.1 request envelope, or raise a Client fault saying why."""
    if len(data) > limits.max_body_bytes:
        raise SoapFault("Client", f"request body larger than {limits.max_body_bytes} bytes",
                        http_status=413)
    if not data.strip():
        raise SoapFault("Client", "empty request body: a SOAP 1.1 envelope is required")
    head = data[:4096].lstrip()
    if b"<!DOCTYPE" in head.upper() or b"<!ENTITY" in data.upper():
        raise SoapFault("Client", "DTDs and entity declarations are not allowed")
    try:
        root = etree.fromstring(data, parser=safe_parser())
    except etree.XMLSyntaxError as exc:
        raise SoapFault("Client", f"malformed XML: {_syntax_message(exc)}") from None
    if root.getroottree().docinfo.doctype:  # type: ignore[union-attr]
        raise SoapFault("Client", "DTDs and entity declarations are not allowed")
    _check_shape(root, limits)
    if root.tag == f"{{{SOAP12_ENV_NS}}}Envelope":
        raise SoapFault("VersionMismatch",
                        "SOAP 1.2 envelope received; this service speaks SOAP 1.1 "
                        f"({SOAP11_ENV_NS})")
    if root.tag != f"{_ENV}Envelope":
        raise SoapFault("Client", f"root element must be {{{SOAP11_ENV_NS}}}Envelope, "
                                  f"not {root.tag}")
    headers = [c for c in root if isinstance(c.tag, str) and c.tag == f"{_ENV}Header"]
    bodies = [c for c in root if isinstance(c.tag, str) and c.tag == f"{_ENV}Body"]
    others = [c for c in root if isinstance(c.tag, str) and c.tag not in (f"{_ENV}Header", f"{_ENV}Body")]
    if len(headers) > 1:
        raise SoapFault("Client", "more than one soap:Header")
    if len(bodies) != 1:
        raise SoapFault("Client", "a SOAP envelope needs exactly one soap:Body")
    if others:
        raise SoapFault("Client", f"unexpected element {others[0].tag} in soap:Envelope")
    children = [c for c in bodies[0] if isinstance(c.tag, str)]
    if len(children) != 1:
        raise SoapFault("Client", f"soap:Body must hold exactly one element, found {len(children)}")
    return Envelope(root=root, header=headers[0] if headers else None, body=children[0])


def _syntax_message(exc: etree.XMLSyntaxError) -> str:
    line, column = exc.position if exc.position else (None, None)
    text = str(exc.msg if hasattr(exc, "msg") and exc.msg else exc)
    return f"{text} (line {line}, column {column})" if line else text


def _check_shape(root: etree._Element, limits: Limits) -> None:
    count = depth = 0
    for event, _element in etree.iterwalk(root, events=("start", "end")):
        if event == "start":
            count += 1
            depth += 1
            if depth > limits.max_depth:
                raise SoapFault("Client", f"nesting deeper than {limits.max_depth} levels")
            if count > limits.max_elements:
                raise SoapFault("Client", f"more than {limits.max_elements} elements")
        else:
            depth -= 1


def envelope_bytes(body: etree._Element) -> bytes:
    """A SOAP 1.1 envelope around ``body``, serialised as UTF-8 with a declaration."""
    env = etree.Element(f"{_ENV}Envelope", nsmap={"soap": SOAP11_ENV_NS})
    etree.SubElement(env, f"{_ENV}Header")
    etree.SubElement(env, f"{_ENV}Body").append(body)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def fault_bytes(fault: SoapFault) -> bytes:
    """A SOAP 1.1 Fault envelope; the detail lists each violation with path and line."""
    env = etree.Element(f"{_ENV}Envelope", nsmap={"soap": SOAP11_ENV_NS})
    body = etree.SubElement(env, f"{_ENV}Body")
    f = etree.SubElement(body, f"{_ENV}Fault")
    etree.SubElement(f, "faultcode").text = f"soap:{fault.code}"
    etree.SubElement(f, "faultstring").text = fault.message
    if fault.violations:
        detail = etree.SubElement(f, "detail")
        holder = etree.SubElement(detail, f"{{{FAULT_DETAIL_NS}}}Violations",
                                  nsmap={"v": FAULT_DETAIL_NS})
        for v in fault.violations:
            item = etree.SubElement(holder, f"{{{FAULT_DETAIL_NS}}}Violation")
            etree.SubElement(item, f"{{{FAULT_DETAIL_NS}}}Path").text = v.path
            if v.line:
                etree.SubElement(item, f"{{{FAULT_DETAIL_NS}}}Line").text = str(v.line)
            etree.SubElement(item, f"{{{FAULT_DETAIL_NS}}}Message").text = v.message
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def soap_action(header_value: str | None) -> str:
    """The SOAPAction header without its quotes."""
    return (header_value or "").strip().strip('"')
