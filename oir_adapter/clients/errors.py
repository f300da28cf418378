"""Typed client errors: one hierarchy under :class:`ClientError`.

Callers (the emulator's background hand-over worker, the conformance suite, vendors'
scripts) need to tell apart "try again later" (transport trouble, timeouts, 503) from
"the other end said no" (SOAP faults, business errors) from "the other end is broken"
(malformed or schema-invalid replies), without parsing messages. Every error carries
what is known about the exchange (operation, endpoint, status, bytes sent and received)
so a report can show the evidence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict, Unpack

from lxml import etree

from oir_adapter.contracts import SchemaViolation

if TYPE_CHECKING:
    from oir_adapter.clients.reply import BusinessError, Reply


class Where(TypedDict, total=False):
    """Where an exchange happened: shared keyword arguments of every error."""

    operation: str | None
    endpoint: str | None
    sent: bytes | None


class Exchange(Where, total=False):
    """:class:`Where` plus what came back."""

    http_status: int | None
    received: bytes | None


class ClientError(Exception):
    """Base of every error a client raises about an exchange."""

    #: Whether repeating the same request later may succeed (used by retry loops).
    retryable: bool = False

    def __init__(self, message: str, *, operation: str | None = None,
                 endpoint: str | None = None, http_status: int | None = None,
                 sent: bytes | None = None, received: bytes | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.endpoint = endpoint
        self.http_status = http_status
        self.sent = sent
        self.received = received

    def __str__(self) -> str:
        where = f" [{self.operation} @ {self.endpoint}]" if self.operation else ""
        return f"{self.message}{where}"


class TransportError(ClientError):
    """The exchange did not complete: connection refused, reset or dropped mid-reply."""

    retryable = True


class ClientTimeoutError(TransportError, TimeoutError):
    """Connecting or reading the reply took longer than the configured timeout."""


class HttpError(ClientError):
    """An HTTP error status whose body is not a SOAP fault (a proxy page, plain text…)."""

    def __init__(self, message: str, *, status: int, body: bytes, **kw: Unpack[Where]) -> None:
        super().__init__(message, http_status=status, received=body, **kw)
        self.status = status
        self.body = body


class ServiceUnavailableError(HttpError):
    """HTTP 503: the service is down or throttling; ``retry_after`` seconds if it said so."""

    retryable = True

    def __init__(self, message: str, *, status: int, body: bytes,
                 retry_after: float | None = None, **kw: Unpack[Where]) -> None:
        super().__init__(message, status=status, body=body, **kw)
        self.retry_after = retry_after


class SoapFaultError(ClientError):
    """A SOAP 1.1 Fault; ``violations`` lists what the ``detail`` names (e.g. schema paths)."""

    def __init__(self, message: str, *, faultcode: str, faultstring: str,
                 detail: etree._Element | None, violations: list[str],
                 faultactor: str | None = None, **kw: Unpack[Exchange]) -> None:
        super().__init__(message, **kw)
        self.faultcode = faultcode
        self.faultstring = faultstring
        self.faultactor = faultactor
        self.detail = detail
        self.violations = violations
        self.retryable = self.http_status == 503

    @property
    def kind(self) -> str:
        """The fault code without its prefix: ``Client``, ``Server``, ``VersionMismatch``…"""
        return self.faultcode.rpartition(":")[2]


class MalformedReplyError(ClientError):
    """The reply is not XML, is truncated, or is not a SOAP 1.1 envelope with one body."""


class SchemaError(ClientError):
    """The reply body does not validate against the contract's XSD (or is the wrong element)."""

    def __init__(self, message: str, *, violations: list[SchemaViolation],
                 element: etree._Element | None = None, **kw: Unpack[Exchange]) -> None:
        super().__init__(message, **kw)
        self.violations = violations
        self.element = element


class BusinessFault(ClientError):
    """A valid reply that reports business errors (``FejlSamling``, ``FEJL``, ``AFVIST``).

    Only raised with ``raise_on_business_error=True``; the full :class:`Reply` is attached
    so nothing in a partly accepted delivery is lost.
    """

    def __init__(self, message: str, *, reply: Reply, **kw: Unpack[Exchange]) -> None:
        super().__init__(message, **kw)
        self.reply = reply

    @property
    def errors(self) -> list[BusinessError]:
        return self.reply.errors
