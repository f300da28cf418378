"""SOAP 1.1 framing: build the envelope around a body we built, and read what came back.

Kept apart from the zeep plumbing so the reading rules (what is a fault, what is
malformed, what is a plain HTTP error) are plain functions over status, headers and bytes,
the same for both call styles and easy to test.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Unpack

from lxml import etree

from oir_adapter.clients.errors import (
    HttpError,
    MalformedReplyError,
    ServiceUnavailableError,
    SoapFaultError,
    Where,
)
from oir_adapter.contracts import SOAP11_ENV_NS, SOAP12_ENV_NS, safe_parser

SOAP_NSMAP = {"soap": SOAP11_ENV_NS}
CONTENT_TYPE = "text/xml; charset=utf-8"


def build_envelope(body: etree._Element,
                   headers: Sequence[etree._Element] = ()) -> etree._Element:
    """A SOAP 1.1 envelope holding a copy of ``body`` (and of each header element).

    Copies, so the caller's tree is never moved into ours (lxml elements have one parent).
    """
    envelope = etree.Element(f"{{{SOAP11_ENV_NS}}}Envelope", nsmap=SOAP_NSMAP)
    if headers:
        header = etree.SubElement(envelope, f"{{{SOAP11_ENV_NS}}}Header")
        for h in headers:
            header.append(copy.deepcopy(h))
    etree.SubElement(envelope, f"{{{SOAP11_ENV_NS}}}Body").append(copy.deepcopy(body))
    return envelope


def add_headers(envelope: etree._Element, headers: Sequence[etree._Element]) -> None:
    """Append copies of ``headers`` to the envelope's Header, creating it if needed."""
    if not headers:
        return
    ns = etree.QName(envelope).namespace
    header = envelope.find(f"{{{ns}}}Header")
    if header is None:
        header = etree.Element(f"{{{ns}}}Header")
        envelope.insert(0, header)
    for h in headers:
        header.append(copy.deepcopy(h))


def _child(parent: etree._Element, local: str) -> etree._Element | None:
    """A fault child, unqualified as SOAP 1.1 says, or qualified as some stacks send it."""
    found = parent.find(local)
    return found if found is not None else parent.find(f"{{{SOAP11_ENV_NS}}}{local}")


def _leaf_text(el: etree._Element) -> str:
    text = (el.text or "").strip()
    where = el.get("path") or el.get("Path") or el.get("sti") or el.get("Sti")
    return f"{where}: {text}" if where and text else (where or text)


def fault_violations(detail: etree._Element | None) -> list[str]:
    """What a fault ``detail`` lists, one string per violation, in document order.

    The format is not fixed across services, so read it structurally: a leaf is one
    violation (``<Violation path="/a/b">msg</Violation>`` gives ``"/a/b: msg"``); an
    element whose children are leaves with distinct names is one record
    (``<Fejl><Sti>/a</Sti><Tekst>msg</Tekst></Fejl>`` gives ``"/a: msg"``); anything else
    is a list to walk.
    """
    out: list[str] = []
    if detail is None:
        return out

    def walk(el: etree._Element, top: bool) -> None:
        kids = [k for k in el if isinstance(k.tag, str)]
        if not kids:
            text = _leaf_text(el)
            if text:
                out.append(text)
            return
        names = [etree.QName(k).localname for k in kids]
        if not top and all(len(k) == 0 for k in kids) and len(set(names)) == len(names):
            parts = [_leaf_text(k) for k in kids]
            joined = ": ".join(p for p in parts if p)
            if joined:
                out.append(joined)
            return
        for k in kids:
            walk(k, False)

    walk(detail, True)
    return out


def fault_error(fault: etree._Element, *, http_status: int | None = None,
                received: bytes | None = None, **where: Unpack[Where]) -> SoapFaultError:
    """A :class:`SoapFaultError` for a ``soap:Fault`` element."""
    code_el, string_el = _child(fault, "faultcode"), _child(fault, "faultstring")
    actor_el, detail = _child(fault, "faultactor"), _child(fault, "detail")
    code = (code_el.text or "").strip() if code_el is not None else ""
    string = (string_el.text or "").strip() if string_el is not None else ""
    violations = fault_violations(detail)
    message = f"SOAP fault {code}: {string}" if string else f"SOAP fault {code}"
    if violations:
        message += f" ({len(violations)} violation{'s' if len(violations) != 1 else ''})"
    return SoapFaultError(
        message, faultcode=code, faultstring=string, detail=detail, violations=violations,
        faultactor=(actor_el.text or "").strip() if actor_el is not None else None,
        http_status=http_status, received=received, **where)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:  # an HTTP date: leave it to the caller's back-off
        return None


def http_error(status: int, body: bytes, headers: Mapping[str, str],
               **where: Unpack[Where]) -> HttpError:
    """:class:`ServiceUnavailableError` for 503, :class:`HttpError` otherwise."""
    snippet = body[:200].decode("utf-8", "replace").strip()
    message = f"HTTP {status}" + (f": {snippet}" if snippet else "")
    if status == 503:
        return ServiceUnavailableError(message, status=status, body=body,
                                       retry_after=_retry_after(headers), **where)
    return HttpError(message, status=status, body=body, **where)


def read_reply(status: int, body: bytes, headers: Mapping[str, str], *,
               operation: str | None = None, endpoint: str | None = None,
               sent: bytes | None = None,
               on_envelope: Callable[[etree._Element], etree._Element] | None = None,
               ) -> tuple[etree._Element, etree._Element]:
    """Classify a reply; return ``(envelope, body element)`` or raise the right error.

    Order matters: a SOAP fault wins whatever the status (servers send them with 500 or
    200); an error status without a fault is an :class:`HttpError`; a 200 that is not one
    well-formed SOAP 1.1 envelope with exactly one body element is malformed.
    ``on_envelope`` sees (and may replace) every parsed envelope before it is judged,
    as zeep's ingress plugins do.
    """
    where: Where = {"operation": operation, "endpoint": endpoint, "sent": sent}

    def malformed(reason: str) -> MalformedReplyError:
        return MalformedReplyError(f"malformed reply: {reason}", http_status=status,
                                   received=body, **where)

    if not body.strip():
        if status >= 300:
            raise http_error(status, body, headers, **where)
        raise malformed("empty body")
    try:
        root = etree.fromstring(body, safe_parser())
    except etree.XMLSyntaxError as exc:
        if status >= 300:
            raise http_error(status, body, headers, **where) from exc
        raise malformed(f"not well-formed XML ({exc})") from exc
    doctype: str = getattr(root.getroottree().docinfo, "doctype", "")
    if doctype:  # SOAP 1.1 §3: no DTD in a message, ever
        raise malformed("a SOAP message must not carry a document type declaration")
    if root.tag != f"{{{SOAP11_ENV_NS}}}Envelope":
        if status >= 300:
            raise http_error(status, body, headers, **where)
        if root.tag == f"{{{SOAP12_ENV_NS}}}Envelope":
            raise malformed("a SOAP 1.2 envelope where SOAP 1.1 was expected")
        raise malformed(f"root element is {root.tag}, not a SOAP 1.1 Envelope")
    if on_envelope is not None:
        root = on_envelope(root)
    soap_body = root.find(f"{{{SOAP11_ENV_NS}}}Body")
    if soap_body is None:
        if status >= 300:
            raise http_error(status, body, headers, **where)
        raise malformed("envelope has no Body")
    fault = soap_body.find(f"{{{SOAP11_ENV_NS}}}Fault")
    if fault is not None:
        raise fault_error(fault, http_status=status, received=body, **where)
    if status >= 300:
        raise http_error(status, body, headers, **where)
    children = [c for c in soap_body if isinstance(c.tag, str)]
    if len(children) != 1:
        raise malformed(f"Body holds {len(children)} elements, expected one")
    return root, children[0]
