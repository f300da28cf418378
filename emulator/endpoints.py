"""The SOAP pipeline every end shares: parse → dispatch → validate → idempotency → handle
→ validate the reply → journal, all in one transaction.

An end registers one :class:`OperationHandler` per operation. Handlers get a :class:`Call`
(the connection, the body element, the virtual time) and return the response body
element; business errors are ordinary responses (``FejlSamling``/``AfvistÅrsagSamling``),
never exceptions. Anything else that goes wrong ends as a SOAP fault with the store
untouched.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from flask import Request, Response
from lxml import etree
from sqlalchemy import Connection, insert, select

from oir_adapter.contracts import Operation, Service, validate_element

from . import clock, faults, journal
from . import tables as t
from .soap import Envelope, SoapFault, envelope_bytes, fault_bytes, parse_envelope, soap_action

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger("emulator.soap")
XML_CONTENT_TYPE = "text/xml; charset=utf-8"
_SOAP12_CONTENT_TYPE = "application/soap+xml"


@dataclass(slots=True)
class Call:
    """One inbound request as a handler sees it."""

    runtime: Runtime
    conn: Connection
    operation: Operation
    envelope: Envelope
    now: datetime
    transaction_id: str | None
    correlation: dict[str, Any] = field(default_factory=dict)
    summary: str | None = None
    outcome: str = "ok"  # handlers set "rejected" when they answer with business errors
    wake_outbox: bool = False

    @property
    def body(self) -> etree._Element:
        return self.envelope.body

    @property
    def today(self) -> date:
        return self.now.date()


Handle = Callable[[Call], etree._Element]
Refuse = Callable[[Call, str], etree._Element]


@dataclass(frozen=True, slots=True)
class OperationHandler:
    """How an end answers one operation, and how it refuses a reused TransaktionsID."""

    handle: Handle
    refuse_duplicate: Refuse
    transaction_id: Callable[[etree._Element], str | None]


def request_hash(body: etree._Element) -> str:
    return hashlib.sha256(etree.tostring(body, method="c14n")).hexdigest()


def serve(runtime: Runtime, service: Service, request: Request,
          handlers: dict[str, OperationHandler]) -> Response:
    """Answer one SOAP request to ``service``."""
    started = time.perf_counter()
    content_type = (request.content_type or "").lower()
    if content_type.startswith(_SOAP12_CONTENT_TYPE):
        return _reply_fault(runtime, service, None, SoapFault(
            "Client", "Content-Type application/soap+xml is SOAP 1.2; send SOAP 1.1 as text/xml",
            http_status=415), started, b"")
    length = request.content_length
    if length is not None and length > runtime.config.limits.max_body_bytes:
        return _reply_fault(runtime, service, None, SoapFault(
            "Client", f"request body larger than {runtime.config.limits.max_body_bytes} bytes",
            http_status=413), started, b"")
    data = request.stream.read(runtime.config.limits.max_body_bytes + 1)
    try:
        envelope = parse_envelope(data, runtime.config.limits)
        op = _operation(service, envelope, request.headers.get("SOAPAction"))
    except SoapFault as fault:
        return _reply_fault(runtime, service, None, fault, started, data)
    handler = handlers[op.name]

    injected = _take_fault(runtime, op.name)
    if injected is not None and injected.kind == "delay":
        time.sleep(injected.delay_ms / 1000)
        injected = None
    if injected is not None and injected.kind == "http_503":
        return _journal_only(runtime, service, op, started, data, b"Service Unavailable",
                             status="http_error", http_status=503,
                             response=Response(b"Service Unavailable", 503,
                                               {"Retry-After": "1"}, content_type="text/plain"))
    if injected is not None and injected.kind == "soap_fault":
        return _reply_fault(runtime, service, op, SoapFault(
            "Server", f"injected fault for {op.name}"), started, data)
    if injected is not None and injected.kind == "drop":
        _journal_only(runtime, service, op, started, data, None, status="error", http_status=None,
                      response=None, summary="connection dropped by fault injection")
        drop_connection(request.environ)
        return Response(b"", 500)

    violations = validate_element(envelope.body)
    if violations:
        return _reply_fault(runtime, service, op, SoapFault(
            "Client", f"{op.request} does not validate against its schema "
                      f"({len(violations)} violation{'s' if len(violations) != 1 else ''})",
            violations), started, data)

    transaction_id = handler.transaction_id(envelope.body)
    digest = request_hash(envelope.body)
    try:
        with runtime.store.transaction() as conn:
            call = Call(runtime=runtime, conn=conn, operation=op, envelope=envelope,
                        now=clock.now(conn), transaction_id=transaction_id)
            replay = _idempotent_replay(conn, service.end, transaction_id, digest, op)
            if isinstance(replay, bytes):
                body_bytes, status = replay, "replayed"
            else:
                if replay == "conflict":
                    reply = handler.refuse_duplicate(call, transaction_id or "")
                    call.outcome = "rejected"
                else:
                    reply = handler.handle(call)
                problems = validate_element(reply) if runtime.config.validate_responses else []
                if problems:
                    raise AssertionError(f"{op.response} fails its own schema: "
                                         + "; ".join(str(p) for p in problems[:5]))
                body_bytes = envelope_bytes(reply)
                status = call.outcome
                if transaction_id and replay is None:
                    conn.execute(insert(t.idempotency).values(
                        end=service.end, transaction_id=transaction_id, operation=op.name,
                        request_hash=digest, response_xml=body_bytes, http_status=200))
            journal.record(conn, journal.Exchange(
                end=service.end, direction="in", service=service.name, operation=op.name,
                status=status, http_status=200, started=started, request_xml=data,
                response_xml=body_bytes, transaction_id=transaction_id,
                correlation=call.correlation, summary=call.summary), virtual_at=call.now)
    except Exception as exc:  # a bug or a storage failure: nothing was stored
        log.exception("%s failed", op.name)
        return _reply_fault(runtime, service, op, SoapFault(
            "Server", f"internal error while handling {op.name}: {type(exc).__name__}"),
            started, data)
    if call.wake_outbox:
        runtime.wake_outbox()
    return _reply_bytes(body_bytes, injected.kind if injected else None)


def drop_connection(environ: dict[str, Any]) -> None:
    """Close the client's socket without an answer (gunicorn and werkzeug expose it)."""
    sock = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _operation(service: Service, envelope: Envelope, action_header: str | None) -> Operation:
    qname = etree.QName(envelope.body)
    for op in service.operations:
        if qname.namespace == op.namespace and qname.localname == op.request:
            # SOAP stacks spell SOAPAction in many ways (empty, the operation name, a URN);
            # only an action that names *another* operation of this service contradicts
            # the body and is refused.
            action = soap_action(action_header)
            named = action.rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1].rsplit(":", 1)[-1]
            others = {o.name for o in service.operations if o.name != op.name}
            if action and action != op.soap_action and named in others:
                raise SoapFault("Client", f"SOAPAction {action!r} names another operation than "
                                          f"the body element {qname.localname} (expected "
                                          f"{op.soap_action!r})")
            return op
    known = ", ".join(o.request for o in service.operations)
    raise SoapFault("Client", f"unknown operation: {service.name} has no request element "
                              f"{{{qname.namespace}}}{qname.localname} (known: {known})")


def _idempotent_replay(conn: Connection, end: str, transaction_id: str | None, digest: str,
                       op: Operation) -> bytes | str | None:
    """Stored reply bytes for a repeat, ``"conflict"`` for a reuse with another body."""
    if not transaction_id:
        return None
    row = conn.execute(select(t.idempotency).where(
        t.idempotency.c.end == end, t.idempotency.c.transaction_id == transaction_id)).first()
    if row is None:
        return None
    if row.request_hash == digest and row.operation == op.name:
        return bytes(row.response_xml)
    return "conflict"


def _take_fault(runtime: Runtime, operation: str) -> faults.Fault | None:
    with runtime.store.transaction() as conn:
        return faults.take(conn, operation)


def _reply_bytes(body: bytes, injected: str | None) -> Response:
    if injected == "malformed":
        body = b"<?xml version='1.0'?><soap:Envelope><soap:Body><broken"
    elif injected == "truncated":
        body = body[: max(1, len(body) // 2)]
    return Response(body, 200, content_type=XML_CONTENT_TYPE)


def _reply_fault(runtime: Runtime, service: Service, op: Operation | None, fault: SoapFault,
                 started: float, data: bytes) -> Response:
    body = fault_bytes(fault)
    response = Response(body, fault.http_status, content_type=XML_CONTENT_TYPE)
    return _journal_only(runtime, service, op, started, data, body, status="fault",
                         http_status=fault.http_status, response=response,
                         summary=str(fault))


def _journal_only(runtime: Runtime, service: Service, op: Operation | None, started: float,
                  data: bytes, body: bytes | None, *, status: str, http_status: int | None,
                  response: Response | None, summary: str | None = None) -> Response:
    try:
        with runtime.store.transaction() as conn:
            journal.record(conn, journal.Exchange(
                end=service.end, direction="in", service=service.name,
                operation=op.name if op else None, status=status, http_status=http_status,
                started=started, request_xml=data[:1_000_000] or None, response_xml=body,
                summary=summary), virtual_at=clock.now(conn))
    except Exception:  # the journal must never turn a clean fault into a crash
        log.exception("could not journal a %s exchange", status)
    return response if response is not None else Response(status=500)
