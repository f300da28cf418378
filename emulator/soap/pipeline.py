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
from typing import TYPE_CHECKING, Any, Protocol

from lxml import etree
from sqlalchemy import Connection, bindparam, insert, select
from werkzeug.datastructures import Headers
from werkzeug.exceptions import ClientDisconnected
from werkzeug.wrappers import Response

from emulator import clock
from emulator.soap import faults, security
from emulator.soap.content_coding import decode_body
from emulator.soap.envelope import (
    Envelope,
    SoapFault,
    envelope_bytes,
    fault_bytes,
    parse_envelope,
    soap_action,
)
from emulator.soap.standing import current as current_standing
from emulator.storage import journal
from emulator.storage import schema as t
from emulator.storage.prepared import Prepared
from oir_adapter.codecs import DecodeError
from oir_adapter.contracts import (
    KONTEKST_NS,
    OIR_NS,
    Operation,
    SchemaViolation,
    Service,
    Violations,
    validate_element,
)

if TYPE_CHECKING:
    from emulator.runtime import Runtime

log = logging.getLogger("emulator.soap.envelope")
XML_CONTENT_TYPE = "text/xml; charset=utf-8"
_SOAP12_CONTENT_TYPE = "application/soap+xml"


class Incoming(Protocol):
    """What the pipeline reads of a request: a ``werkzeug.Request``, or the dispatcher's
    lighter view of the same environ (:class:`emulator.soap.dispatch.SoapRequest`)."""

    environ: dict[str, Any]

    @property
    def headers(self) -> Headers: ...
    @property
    def mimetype(self) -> str: ...
    @property
    def content_length(self) -> int | None: ...
    @property
    def stream(self) -> Any: ...


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
    #: Only reads: answered from a snapshot that takes no write lock (several at once,
    #: beside a writer); nothing is written in the request: no idempotency record (a
    #: repeat is answered afresh), and the journal row goes to a batch (Store.write with
    #: wait=False).
    read_only: bool = False
    #: The lock keys a schema-valid request's transaction needs (``Store.write(keys=…)``):
    #: on PostgreSQL it then waits only for writers sharing one of them, e.g. those of
    #: the same debtor account or TransaktionsID. ``None`` here, or from the function
    #: (a request it cannot place), waits for every other writer. Only for an operation
    #: whose every read and write is proven to lie within its keys.
    lock_keys: Callable[[etree._Element], tuple[str, ...] | None] | None = None


#: Not part of a request's business content: when it was sent (a resend changes it).
_NOT_CONTENT = frozenset({f"{{{OIR_NS}}}TransaktionsTid", f"{{{KONTEKST_NS}}}TransaktionsTid"})


def request_hash(body: etree._Element) -> str:
    """A digest of ``body``'s business content: what makes a resend *the same request*.

    Counted: every element by namespace and local name, in order, with its attributes and
    its text without surrounding whitespace (the decoders read values stripped). Not
    counted: namespace prefixes, whitespace between elements, comments and processing
    instructions (the parser drops them), and every ``TransaktionsTid``. A Python walk
    (~1 µs an element): C14N would count prefixes and whitespace, C14N 2.0 with
    ``strip_text`` and ``rewrite_prefixes`` took seven times as long."""
    parts: list[str] = []
    add = parts.append
    for element in body.iter(etree.Element):
        tag = element.tag
        if tag in _NOT_CONTENT:
            add("")
            continue
        text = element.text
        attributes = element.items()  # one element's parts at once: a tenth less time
        if attributes:
            add(f"{tag}\x1f{len(element)}\x1f{sorted(attributes)!r}\x1f"
                f"{text.strip() if text else ''}")
        else:
            add(f"{tag}\x1f{len(element)}\x1f{text.strip() if text else ''}")
    # U+001F cannot occur in XML text, so the joined parts read back one way only
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def serve(runtime: Runtime, service: Service, request: Incoming,
          handlers: dict[str, OperationHandler]) -> Response:
    """Answer one SOAP request to ``service``: always a SOAP answer, whatever arrived."""
    started = time.perf_counter()
    try:
        return _serve(runtime, service, request, handlers, started)
    except Exception as exc:  # the last line of defence: a bug still answers as SOAP
        log.exception("unexpected error serving %s", service.name)
        return _reply_fault(runtime, service, None, SoapFault(
            "Server", f"internal error: {type(exc).__name__}"), started, b"")


def _serve(runtime: Runtime, service: Service, request: Incoming,
           handlers: dict[str, OperationHandler], started: float) -> Response:
    config = runtime.config
    limits = config.limits
    mimetype = (request.mimetype or "").lower()
    if mimetype == _SOAP12_CONTENT_TYPE:
        return _reply_fault(runtime, service, None, SoapFault(
            "Client", "Content-Type application/soap+xml is SOAP 1.2; send SOAP 1.1 as text/xml",
            http_status=415), started, b"")
    if mimetype not in _XML_TYPES:
        return _reply_fault(runtime, service, None, SoapFault(
            "Client", f"Content-Type must be text/xml for SOAP 1.1, not {mimetype[:80]!r}"
            if mimetype else "Content-Type text/xml is required for SOAP 1.1",
            http_status=415), started, b"")
    key = security.check_api_key(config, request.headers)
    if key is False or (key is None and config.api_key and not config.wsse_users):
        return _reply_fault(runtime, service, None, security.api_key_fault(config, key),
                            started, b"")
    length = request.content_length
    if length is not None and length > limits.max_body_bytes:
        with contextlib.suppress(OSError, ClientDisconnected):
            _discard(request, length)
        return _reply_fault(runtime, service, None, SoapFault(
            "Client", f"request body larger than {limits.max_body_bytes} bytes",
            http_status=413), started, b"")
    try:
        data = _read_body(request, limits.max_body_bytes + 1, config.body_timeout_seconds)
    except (OSError, ClientDisconnected):  # the caller stopped sending mid-body
        return _reply_fault(runtime, service, None, SoapFault(
            "Client", f"request body not received within {config.body_timeout_seconds:g} s",
            http_status=408, http_headers={"Connection": "close"}), started, b"")
    coding = request.headers.get("Content-Encoding")
    if coding is not None and len(data) <= limits.max_body_bytes:
        try:
            data = decode_body(data, coding, limits.max_body_bytes)
        except SoapFault as fault:
            return _reply_fault(runtime, service, None, fault, started, data[:_JOURNAL_MAX])
    answer = _process(runtime, service, request, handlers, started, data, key)
    if answer.wake_outbox:
        runtime.wake_outbox()
    if answer.delay_ms:
        time.sleep(answer.delay_ms / 1000)
    if answer.drop:
        drop_connection(request.environ)
    return answer.response


def _process(runtime: Runtime, service: Service, request: Incoming,
             handlers: dict[str, OperationHandler], started: float, data: bytes,
             key: bool | None) -> _Answer:
    """Everything after the body has arrived: parse, dispatch, answer, journal."""
    config = runtime.config
    kept = security.redact_passwords(data)  # what the journal keeps
    if log.isEnabledFor(logging.DEBUG):  # CPR numbers are masked by the log formatter
        log.debug("%s <- %s", service.name, kept[:4096].decode("utf-8", "replace"))

    def fault_answer(op: Operation | None, fault: SoapFault) -> _Answer:
        return _Answer(_reply_fault(runtime, service, op, fault, started, kept))

    parsed = _parse(runtime, service, request, handlers, data, key)
    if isinstance(parsed, tuple):
        return fault_answer(*parsed)
    envelope, op, handler = parsed.envelope, parsed.op, parsed.handler
    admission, transaction_id = parsed.admission, parsed.transaction_id
    violations, digest = parsed.violations, parsed.digest
    if handler.read_only and not violations:
        try:
            read = _answer_read(runtime, service, op, handler, envelope, transaction_id,
                                started, kept, admission, digest)
        except SoapFault as fault:
            return fault_answer(op, fault)
        except Exception as exc:
            log.exception("%s failed", op.name)
            return fault_answer(op, SoapFault(
                "Server", f"internal error while handling {op.name}: {type(exc).__name__}"))
        if read is not None:
            return read

    def work(conn: Connection) -> _Answer:
        # One transaction per request: the injected fault is used up, the nonce
        # remembered, the request handled and journaled together, or none of it.
        standing = current_standing(runtime.store, conn)
        security.remember_nonce(conn, admission, config)
        return _answer(runtime, service, op, handler, conn, envelope, standing.now(),
                       transaction_id, started, kept, violations, digest,
                       armed=op.name in standing.armed)

    try:
        keys = handler.lock_keys(envelope.body) if handler.lock_keys and not violations else None
        return runtime.store.write(work, keys=keys)
    except SoapFault as fault:
        return fault_answer(op, fault)
    except Exception as exc:  # a bug or a storage failure: nothing was stored
        log.exception("%s failed", op.name)
        return fault_answer(op, SoapFault(
            "Server", f"internal error while handling {op.name}: {type(exc).__name__}"))


@dataclass(slots=True)
class _Parsed:
    """A request that parsed, named a known operation and passed the access checks."""

    envelope: Envelope
    op: Operation
    handler: OperationHandler
    admission: security.Admission
    transaction_id: str | None
    violations: Violations  # the body's schema violations (answered as a fault)
    digest: str  # the body's hash for idempotency ("" when it does not validate)


def _parse(runtime: Runtime, service: Service, request: Incoming,
           handlers: dict[str, OperationHandler], data: bytes, key: bool | None
           ) -> _Parsed | tuple[Operation | None, SoapFault]:
    """Parse, dispatch, check access, validate and hash: what depends on the request alone
    (so it runs before any lock), or the operation (if known) and the fault to answer."""
    try:
        envelope = parse_envelope(data, runtime.config.limits)
        op = _operation(service, envelope, request.headers.get("SOAPAction"),
                        strict=runtime.config.strict_soap_action)
    except SoapFault as fault:
        return None, fault
    try:
        admission = security.check_envelope(runtime.config, service, envelope, key)
    except SoapFault as fault:
        return op, fault
    handler = handlers[op.name]
    violations = validate_element(envelope.body)
    return _Parsed(envelope, op, handler, admission, handler.transaction_id(envelope.body),
                   violations, "" if violations else request_hash(envelope.body))


_XML_TYPES = frozenset({"text/xml", "application/xml"})


@dataclass(slots=True)
class _Answer:
    response: Response
    wake_outbox: bool = False
    delay_ms: int = 0
    drop: bool = False


def _answer(runtime: Runtime, service: Service, op: Operation, handler: OperationHandler,
            conn: Connection, envelope: Envelope, now: datetime, transaction_id: str | None,
            started: float, data: bytes, violations: Violations, digest: str, *,
            armed: bool = True) -> _Answer:
    """Everything of one request that happens inside its transaction (``violations`` and
    ``digest``: the body's schema check and hash, made before the transaction began;
    ``armed``: whether a fault may wait for the operation, else none is looked for)."""

    def note(status: str, http_status: int | None, body: bytes | None,
             summary: str | None = None) -> None:
        journal.record(conn, journal.Exchange(
            end=service.end, direction="in", service=service.name, operation=op.name,
            status=status, http_status=http_status, started=started,
            request_xml=data[:_JOURNAL_MAX] or None, response_xml=body,
            transaction_id=transaction_id, summary=summary), virtual_at=now)

    injected = faults.take(conn, op.name) if armed else None
    kind = injected.kind if injected is not None else None
    if kind == "http_503":
        note("http_error", 503, b"Service Unavailable", "injected HTTP 503")
        return _Answer(Response(b"Service Unavailable", 503, {"Retry-After": "1"},
                                content_type="text/plain"))
    if kind == "soap_fault":
        fault = SoapFault("Server", f"injected fault for {op.name}")
        body = fault_bytes(fault)
        note("fault", 500, body, str(fault))
        return _Answer(Response(body, 500, content_type=XML_CONTENT_TYPE))
    if kind == "drop":
        note("error", None, None, "connection dropped by fault injection")
        return _Answer(Response(b"", 500), drop=True)

    if violations:
        n = len(violations)
        counted = (f"{n} violation{'s' if n != 1 else ''}" if violations.complete else
                   f"more than {n} violations: listing stops at the first {n}")
        fault = SoapFault("Client", f"{op.request} does not validate against its schema "
                          f"({counted})", violations)
        body = fault_bytes(fault)
        note("fault", 500, body, str(fault))
        log.info("%s %s refused: %s", service.name, op.name, _first(fault))
        return _Answer(Response(body, 500, content_type=XML_CONTENT_TYPE))

    call = Call(runtime=runtime, conn=conn, operation=op, envelope=envelope, now=now,
                transaction_id=transaction_id)
    body_bytes, status, fresh = _respond(call, handler, service, digest)
    _keep_answer(conn, call, service, digest, body_bytes, status, fresh, started, data,
                 store=_STORE.run)
    log.debug("%s %s %s", service.name, op.name, status)
    return _Answer(_reply_bytes(body_bytes, kind), wake_outbox=call.wake_outbox,
                   delay_ms=injected.delay_ms if kind == "delay" and injected else 0)


_JOURNAL_MAX = 1_000_000


def _respond(call: Call, handler: OperationHandler, service: Service, digest: str
             ) -> tuple[bytes, str, bool]:
    """The answer's bytes and journal status, and whether it is new (to keep for replay):
    a repeated TransaktionsID with the same body replays the kept answer, with another
    body it is refused (600); otherwise the handler answers, and its answer must pass its
    own schema (one that does not is a bug: nothing of the request is kept)."""
    op = call.operation
    replay = _idempotent_replay(call.conn, service.end, call.transaction_id, digest, op)
    if isinstance(replay, bytes):
        return replay, "replayed", False
    try:
        if replay == "conflict":
            reply = handler.refuse_duplicate(call, call.transaction_id or "")
            call.outcome = "rejected"
        else:
            reply = handler.handle(call)
    except DecodeError as exc:  # schema-valid, yet no model can hold it: the caller's fault
        raise SoapFault("Client", f"{op.request} holds a value the emulator cannot read: "
                        f"{exc.path}: {exc.message}",
                        [SchemaViolation(f"/{exc.path}", exc.message)]) from None
    problems = validate_element(reply) if call.runtime.config.validate_responses else []
    if problems:
        raise AssertionError(f"{op.response} fails its own schema: "
                             + "; ".join(str(p) for p in problems[:5]))
    return envelope_bytes(reply), call.outcome, replay is None

def _answer_read(runtime: Runtime, service: Service, op: Operation, handler: OperationHandler,
                 envelope: Envelope, transaction_id: str | None, started: float, data: bytes,
                 admission: security.Admission, digest: str) -> _Answer | None:
    """A schema-valid read-only operation, or None when it must take the ordinary path (a
    fault is armed for it: answered and journaled there). Answered from a snapshot.

    A read writes nothing in its request: it keeps no answer for replay (a repeated
    TransaktionsID is answered afresh; one a write used is still refused, as the snapshot
    finds that write's record), and its journal row, made now, is written in a batch
    (``Store.write(…, wait=False)``): a crash may lose the last ~100 ms of read rows,
    never a state change. Only a WS-Security nonce, which must be on record before the
    answer goes, makes it wait for a commit (with its row)."""
    with runtime.store.snapshot() as conn:
        standing = current_standing(runtime.store, conn)
        if op.name in standing.armed:
            return None
        now = standing.now()
        call = Call(runtime=runtime, conn=conn, operation=op, envelope=envelope, now=now,
                    transaction_id=transaction_id)
        body_bytes, status, _fresh = _respond(call, handler, service, digest)
    row = journal.entry(_exchange(call, service, status, started, data, body_bytes),
                        virtual_at=now)

    if admission.nonce is None:
        runtime.store.write(lambda conn: journal.insert_entry(conn, row), wait=False)
    else:
        def keep(conn: Connection) -> None:
            security.remember_nonce(conn, admission, runtime.config)
            journal.insert_entry(conn, row)

        runtime.store.write(keep)
    return _Answer(_reply_bytes(body_bytes, None))


def _keep_answer(conn: Connection, call: Call, service: Service, digest: str,
                 body_bytes: bytes, status: str, fresh: bool, started: float, data: bytes, *,
                 store: Callable[[Connection, dict[str, Any]], object]) -> None:
    """What every answered write keeps: a fresh answer under its TransaktionsID for
    replay (``store``), and its journal entry."""
    transaction_id = call.transaction_id
    if fresh and transaction_id:
        store(conn, dict(
            end=service.end, transaction_id=transaction_id, operation=call.operation.name,
            request_hash=digest, response_xml=body_bytes, http_status=200))
    journal.record(conn, _exchange(call, service, status, started, data, body_bytes),
                   virtual_at=call.now)


def _exchange(call: Call, service: Service, status: str, started: float, data: bytes,
              body_bytes: bytes) -> journal.Exchange:
    """An answered request as the journal keeps it."""
    return journal.Exchange(
        end=service.end, direction="in", service=service.name, operation=call.operation.name,
        status=status, http_status=200, started=started, request_xml=data,
        response_xml=body_bytes, transaction_id=call.transaction_id,
        correlation=call.correlation, summary=call.summary)


def _first(fault: SoapFault) -> str:
    return str(fault.violations[0]) if fault.violations else fault.message


def _read_body(request: Incoming, cap: int, timeout: float) -> bytes:
    """Up to ``cap`` bytes of the body, however the server hands them over (a socket
    stream may return short reads; a chunked body has no length).

    A caller that stops sending mid-body would hold a worker thread forever; on a real
    socket the read gives up after ``timeout`` seconds (``OSError``)."""
    sock = request.environ.get("gunicorn.socket") or request.environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        sock.settimeout(timeout)
    try:
        stream = request.stream
        parts: list[bytes] = []
        size = 0
        while size < cap:
            chunk = stream.read(min(cap - size, 1024 * 1024))
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
        return b"".join(parts)
    finally:
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.settimeout(None)


def _discard(request: Incoming, length: int) -> None:
    """Read and drop an over-long body (up to 64 MB), so the client gets to read our 413
    instead of a connection reset while it is still sending."""
    if length > 64 * 1024 * 1024:
        return
    stream = request.stream
    left = length
    while left > 0:
        chunk = stream.read(min(left, 1024 * 1024))
        if not chunk:
            break
        left -= len(chunk)


def drop_connection(environ: dict[str, Any]) -> None:
    """Close the client's socket without an answer (gunicorn and werkzeug expose it)."""
    sock = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _operation(service: Service, envelope: Envelope, action_header: str | None, *,
               strict: bool = False) -> Operation:
    qname = etree.QName(envelope.body)
    for op in service.operations:
        if qname.namespace == op.namespace and qname.localname == op.request:
            # SOAP stacks spell SOAPAction in many ways (empty, the operation name, a URN);
            # only an action that names *another* operation of this service contradicts
            # the body and is refused — unless checking is strict (OIR_STRICT_SOAPACTION):
            # then it must be the WSDL's soapAction of the body's operation (or the one the
            # service's earlier WSDL gave it, while the earlier name is kept as an alias).
            action = soap_action(action_header)
            if strict and action not in op.soap_actions:
                raise SoapFault("Client", (
                    f"SOAPAction {action!r} is not {op.soap_action!r}, the action of "
                    if action else "SOAPAction is missing; strict checking wants "
                    f"{op.soap_action!r} for ") + f"the body element {qname.localname}")
            named = action.rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1].rsplit(":", 1)[-1]
            others = {o.name for o in service.operations if o.name != op.name}
            if action and action not in op.soap_actions and named in others:
                raise SoapFault("Client", f"SOAPAction {action!r} names another operation than "
                                          f"the body element {qname.localname} (expected "
                                          f"{op.soap_action!r})")
            return op
    known = ", ".join(o.request for o in service.operations)
    raise SoapFault("Client", f"unknown operation: {service.name} has no request element "
                              f"{{{qname.namespace}}}{qname.localname} (known: {known})")


# built once: every request runs them (see store.py)
_STORED = Prepared(select(t.idempotency).where(t.idempotency.c.end == bindparam("end"),
                                               t.idempotency.c.transaction_id == bindparam("tid")))
_STORE = Prepared(insert(t.idempotency))


def _idempotent_replay(conn: Connection, end: str, transaction_id: str | None, digest: str,
                       op: Operation) -> bytes | str | None:
    """Stored reply bytes for a repeat, ``"conflict"`` for a reuse with another body."""
    if not transaction_id:
        return None
    row = _STORED.first(conn, {"end": end, "tid": transaction_id})
    if row is None:
        return None
    if row.request_hash == digest and row.operation == op.name:
        return bytes(row.response_xml)
    return "conflict"


def _reply_bytes(body: bytes, injected: str | None) -> Response:
    if injected == "malformed":
        body = b"<?xml version='1.0'?><soap:Envelope><soap:Body><broken"
    elif injected == "truncated":
        body = body[: max(1, len(body) // 2)]
    return Response(body, 200, content_type=XML_CONTENT_TYPE)


def _reply_fault(runtime: Runtime, service: Service, op: Operation | None, fault: SoapFault,
                 started: float, data: bytes) -> Response:
    body = fault_bytes(fault)
    response = Response(body, fault.http_status, dict(fault.http_headers),
                        content_type=XML_CONTENT_TYPE)
    log.info("%s %s fault %s: %s", service.name, op.name if op else "-", fault.code,
             _first(fault))
    return _journal_only(runtime, service, op, started, data, body, status="fault",
                         http_status=fault.http_status, response=response,
                         summary=str(fault))


def _journal_only(runtime: Runtime, service: Service, op: Operation | None, started: float,
                  data: bytes, body: bytes | None, *, status: str, http_status: int | None,
                  response: Response | None, summary: str | None = None) -> Response:
    def keep(conn: Connection) -> None:
        journal.record(conn, journal.Exchange(
            end=service.end, direction="in", service=service.name,
            operation=op.name if op else None, status=status, http_status=http_status,
            started=started, request_xml=data[:_JOURNAL_MAX] or None, response_xml=body,
            summary=summary), virtual_at=clock.now(conn))

    try:
        runtime.store.write(keep)
    except Exception:  # the journal must never turn a clean fault into a crash
        log.exception("could not journal a %s exchange", status)
    return response if response is not None else Response(status=500)
