"""zeep-backed clients for the eight services, loading the packaged contracts only.

Two call styles share one zeep client, so plugins, WS-Security and extra headers apply
to both:

- :meth:`ServiceClient.call` posts a body element we built ourselves (the mapping
  module's ``MFFordringIndberet_I``, the emulator's callbacks) and returns a
  :class:`~oir_adapter.clients.reply.Reply`; every failure is a typed
  :class:`~oir_adapter.clients.errors.ClientError`.
- ``client.service.<Operation>(**kwargs)`` is zeep's keyword style for those who like
  dicts, with zeep's errors translated to the same types (``client.zeep`` is the raw
  zeep proxy).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any, ClassVar, TypedDict, Unpack
from urllib.parse import urlparse

import requests
import zeep
import zeep.exceptions
from lxml import etree
from zeep.plugins import Plugin
from zeep.wsse.username import UsernameToken

from oir_adapter import contracts
from oir_adapter.clients.errors import (
    BusinessFault,
    ClientError,
    ClientTimeoutError,
    MalformedReplyError,
    SchemaError,
    TransportError,
    Where,
)
from oir_adapter.clients.reply import Reply, build_reply
from oir_adapter.clients.soap import (
    CONTENT_TYPE,
    add_headers,
    build_envelope,
    fault_error,
    http_error,
    read_reply,
)
from oir_adapter.contracts import SOAP11_ENV_NS, SchemaViolation, Service

log = logging.getLogger(__name__)

#: ``requests`` timeout: seconds, or ``(connect, read)``, or ``None`` to wait forever.
Timeout = float | tuple[float, float] | None
#: Extra SOAP header elements, fixed or made fresh for every call.
HeaderSource = Sequence[etree._Element] | Callable[[], Sequence[etree._Element]]


class ContractTransport(zeep.Transport):
    """A zeep transport that loads WSDL/XSD from local files only.

    The contracts ship with the package and import each other by relative
    ``schemaLocation``; a fetch over HTTP would mean a contract points outside the
    package, which must fail loudly rather than reach the network.
    """

    def load(self, url: str) -> bytes:
        scheme = urlparse(str(url)).scheme
        if scheme not in ("", "file") and len(scheme) != 1:  # len 1: a Windows drive
            raise ClientError(f"refusing to fetch {url}: contracts load from the package only")
        data: bytes = super().load(url)
        return data


class _SoapHeaders(Plugin):
    """Adds the configured extra SOAP headers (e.g. ``InvocationContext``) to every call."""

    def __init__(self, source: HeaderSource) -> None:
        self.source = source

    def egress(self, envelope: etree._Element, http_headers: dict[str, str], operation: Any,
               binding_options: Any) -> tuple[etree._Element, dict[str, str]]:
        add_headers(envelope, self.source() if callable(self.source) else self.source)
        return envelope, http_headers


class _ReplyValidator(Plugin):
    """Validates keyword-style replies against the XSD (the body style does it itself)."""

    def ingress(self, envelope: etree._Element, http_headers: Any,
                operation: Any) -> tuple[etree._Element, Any]:
        body = envelope.find(f"{{{SOAP11_ENV_NS}}}Body")
        children = [] if body is None else [c for c in body if isinstance(c.tag, str)]
        if len(children) == 1 and children[0].tag != f"{{{SOAP11_ENV_NS}}}Fault":
            violations = contracts.validate_element(children[0])
            if violations:
                raise SchemaError(f"reply does not validate: {violations[0]}",
                                  violations=violations, element=children[0],
                                  operation=getattr(operation, "name", None))
        return envelope, http_headers


def _transport_error(exc: requests.RequestException, **where: Unpack[Where]) -> ClientError:
    if isinstance(exc, requests.Timeout):  # before ConnectionError: ConnectTimeout is both
        return ClientTimeoutError(f"timed out: {exc}", **where)
    return TransportError(f"transport failed: {exc}", **where)


class ServiceClient:
    """A client for one service of the contracts, at one endpoint.

    ``service`` is a service name (``"MFFordringIndberet"``) or a
    :class:`~oir_adapter.contracts.Service`. ``endpoint`` overrides the WSDL's
    ``soap:address`` (default: the WSDL's, i.e. a local emulator on port 8080).
    ``username``/``password`` add a WS-Security UsernameToken (``digest=True`` for
    PasswordDigest). ``headers`` are extra SOAP header elements for every call (or a
    callable making them per call); ``http_headers`` extra HTTP headers. ``session``
    lets tests and the emulator inject a ``requests.Session``.
    """

    #: Set by the per-service subclasses.
    SERVICE: ClassVar[str | None] = None

    def __init__(self, service: str | Service, endpoint: str | None = None, *,
                 username: str | None = None, password: str | None = None,
                 digest: bool = False, timeout: Timeout = (5, 30),
                 session: requests.Session | None = None, validate_replies: bool = True,
                 validate_requests: bool = False, headers: HeaderSource | None = None,
                 http_headers: dict[str, str] | None = None,
                 raise_on_business_error: bool = False,
                 plugins: Sequence[Plugin] = ()) -> None:
        self.contract: Service = (contracts.service(service) if isinstance(service, str)
                                  else service)
        self.validate_replies = validate_replies
        self.validate_requests = validate_requests
        self.raise_on_business_error = raise_on_business_error
        self._own_session = session is None
        self.session = session if session is not None else requests.Session()
        self.transport = ContractTransport(session=self.session, operation_timeout=timeout)
        self.wsse = (UsernameToken(username, password, use_digest=digest)
                     if username is not None else None)
        all_plugins: list[Plugin] = []
        if headers:
            all_plugins.append(_SoapHeaders(headers))
        all_plugins.extend(plugins)
        if validate_replies:
            all_plugins.append(_ReplyValidator())
        #: The zeep client's own list (``zeep_client.plugins``), so both styles see the same.
        self._all_plugins = all_plugins
        self._settings = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True,
                                       forbid_external=True, extra_http_headers=http_headers)
        self._binding_qname = f"{{{self.contract.wsdl_namespace}}}{self.contract.name}Binding"
        self.endpoint: str = endpoint or self.zeep_client.service._binding_options["address"]
        #: Keyword calls with this module's typed exceptions.
        self.service = KeywordService(self)

    # zeep parses the WSDL and every schema it imports when it makes a client (~15 ms a
    # service); the body style needs none of it, so it is parsed on first use only.

    @cached_property
    def zeep_client(self) -> zeep.Client:
        """The zeep client over the packaged WSDL (parsed on first use)."""
        return zeep.Client(str(contracts.wsdl_path(self.contract.wsdl)),
                           transport=self.transport, wsse=self.wsse,
                           plugins=self._all_plugins, settings=self._settings)

    @cached_property
    def zeep(self) -> Any:
        """zeep's own service proxy: keyword calls with zeep's own exceptions."""
        return self.zeep_client.create_service(self._binding_qname, self.endpoint)

    @cached_property
    def _binding(self) -> Any:
        return self.zeep_client.wsdl.bindings[self._binding_qname]

    @property
    def _plugins(self) -> list[Plugin]:
        """Plugins for the body style: the keyword-style validator is not one of them."""
        return [p for p in self._all_plugins if not isinstance(p, _ReplyValidator)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.contract.name!r}, {self.endpoint!r})"

    def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._own_session:
            self.session.close()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, body: etree._Element, *,
             headers: Sequence[etree._Element] = ()) -> Reply:
        """:meth:`call` with the operation found from the body element's name."""
        found = contracts.operation_for_element(body.tag)
        if found is None or not found[1] or found[0].service.name != self.contract.name:
            raise ValueError(f"{body.tag} is not a request of {self.contract.name}")
        return self.call(found[0].name, body, headers=headers)

    def call(self, operation: str, body: etree._Element, *,
             headers: Sequence[etree._Element] = ()) -> Reply:
        """Send ``body`` (the request element) as ``operation``; return the reply.

        ``headers`` are extra SOAP header elements for this call only. Raises a
        :class:`ClientError` subclass for anything but a valid answer (and, with
        ``raise_on_business_error``, for an answer reporting business errors).
        """
        try:
            op = self.contract.operation(operation)
        except KeyError as exc:
            raise ValueError(str(exc)) from None
        expected = f"{{{op.namespace}}}{op.request}"
        if body.tag != expected:
            raise ValueError(f"{operation} sends {expected}, not {body.tag}")
        if self.validate_requests:
            violations: list[SchemaViolation] = contracts.validate_element(body)
            if violations:
                raise SchemaError(f"request does not validate: {violations[0]}",
                                  violations=violations, element=body, operation=operation,
                                  endpoint=self.endpoint)

        envelope = build_envelope(body, headers)
        http_headers = {"SOAPAction": f'"{op.soap_action}"', "Content-Type": CONTENT_TYPE}
        plugins = self._plugins
        # A caller's own plugins may read zeep's operation (ours do not): only then does a
        # body-style call need the parsed WSDL.
        zeep_op, options = ((self._binding.get(operation), self.zeep._binding_options)
                            if any(not isinstance(p, _SoapHeaders) for p in plugins)
                            else (None, None))
        for plugin in plugins:
            result = plugin.egress(envelope, http_headers, zeep_op, options)
            if result is not None:
                envelope, http_headers = result
        if self.wsse is not None:
            envelope, http_headers = self.wsse.apply(envelope, http_headers)
        if self._settings.extra_http_headers:
            http_headers.update(self._settings.extra_http_headers)

        start = time.perf_counter()
        try:
            response = self.transport.post_xml(self.endpoint, envelope, http_headers)
        except requests.RequestException as exc:
            sent = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
            raise _transport_error(exc, sent=sent, operation=operation,
                                   endpoint=self.endpoint) from exc
        elapsed = time.perf_counter() - start
        raw = response.request.body
        sent = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw or b"")
        received = response.content
        log.debug("%s %s -> HTTP %s in %.3fs", operation, self.endpoint,
                  response.status_code, elapsed)

        def ingress(doc: etree._Element) -> etree._Element:
            if self.wsse is not None:
                self.wsse.verify(doc)
            headers_in = response.headers
            for plugin in plugins:
                result = plugin.ingress(doc, headers_in, zeep_op)
                if result is not None:
                    doc, headers_in = result
            return doc

        root, element = read_reply(response.status_code, received, response.headers,
                                   sent=sent, on_envelope=ingress, operation=operation,
                                   endpoint=self.endpoint)
        if self.validate_replies:
            violations = self._check_reply(op, element)
            if violations:
                raise SchemaError(f"reply does not validate: {violations[0]}",
                                  violations=violations, element=element,
                                  operation=operation, endpoint=self.endpoint,
                                  http_status=response.status_code, sent=sent,
                                  received=received)
        reply = build_reply(element, op, http_status=response.status_code, elapsed=elapsed,
                            envelope=root, sent=sent, received=received)
        if self.raise_on_business_error and reply.has_business_errors:
            described = [str(e) for e in reply.errors] + [
                f"{a.action_id} AFVIST: " + "; ".join(f"{n} {t}" for n, t in a.reasons)
                for a in reply.rejected_actions]
            raise BusinessFault("business error: " + (" | ".join(described)
                                                      or f"SvarReaktion {reply.reaction}"),
                                reply=reply, operation=operation, endpoint=self.endpoint,
                                http_status=response.status_code, sent=sent,
                                received=received)
        return reply


    @staticmethod
    def _check_reply(op: contracts.Operation, element: etree._Element) -> list[SchemaViolation]:
        """Violations of the reply: the wrong element for the operation, or the XSD's."""
        expected = f"{{{op.namespace}}}{op.response}"
        if element.tag != expected:
            return [SchemaViolation("/", f"expected {expected}, got {element.tag}")]
        try:
            return contracts.validate_element(element)
        except etree.XMLSchemaValidateError as exc:  # e.g. an unexpanded entity reference
            return [SchemaViolation("/", f"cannot validate: {exc}")]


class KeywordService:
    """``client.service.<Operation>(**kwargs)``: zeep's keyword calls, typed errors."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    def __dir__(self) -> list[str]:
        return [op.name for op in self._client.contract.operations]

    def __getattr__(self, name: str) -> Callable[..., Any]:
        client = self._client
        if name.startswith("_") or name not in {o.name for o in client.contract.operations}:
            raise AttributeError(f"{client.contract.name} has no operation {name!r}")
        method = getattr(client.zeep, name)
        where: Where = {"operation": name, "endpoint": client.endpoint}

        def invoke(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except zeep.exceptions.Fault as exc:
                detail = exc.detail if isinstance(exc.detail, etree._Element) else None
                fault = etree.Element(f"{{{SOAP11_ENV_NS}}}Fault")
                etree.SubElement(fault, "faultcode").text = exc.code or ""
                etree.SubElement(fault, "faultstring").text = exc.message or ""
                if detail is not None:
                    fault.append(detail)
                raise fault_error(fault, **where) from exc
            except zeep.exceptions.TransportError as exc:
                body = exc.content or b""
                if exc.status_code and exc.status_code >= 300:
                    raise http_error(exc.status_code, body, {}, **where) from exc
                raise MalformedReplyError(f"malformed reply: {exc}", received=body,
                                          http_status=exc.status_code or None,
                                          **where) from exc
            except (zeep.exceptions.XMLSyntaxError, zeep.exceptions.XMLParseError) as exc:
                raise MalformedReplyError(f"malformed reply: {exc}", **where) from exc
            except requests.RequestException as exc:
                raise _transport_error(exc, **where) from exc

        invoke.__name__ = name
        return invoke


# ------------------------------------------------------------------ per-service clients

class ClientOptions(TypedDict, total=False):
    """The keyword options of :class:`ServiceClient`, for the subclasses and the factory."""

    username: str | None
    password: str | None
    digest: bool
    timeout: Timeout
    session: requests.Session | None
    validate_replies: bool
    validate_requests: bool
    headers: HeaderSource | None
    http_headers: dict[str, str] | None
    raise_on_business_error: bool
    plugins: Sequence[Plugin]


class _Bound(ServiceClient):
    """A :class:`ServiceClient` whose service is fixed by the class."""

    def __init__(self, endpoint: str | None = None, **options: Unpack[ClientOptions]) -> None:
        assert self.SERVICE is not None
        super().__init__(self.SERVICE, endpoint, **options)


class DebitorRegistreringClient(_Bound):
    """ØIR DebitorRegistreringAfsend: accounts, claims (send invoice), claim state
    changes, and the end-date operations (``Afslut…``) on an account's objects."""

    SERVICE = "DebitorRegistreringAfsend"

    def opret_debitorkonto(self, body: etree._Element) -> Reply:
        return self.call("OpretDebitorkonto", body)

    def opret_fordring(self, body: etree._Element) -> Reply:
        return self.call("OpretFordring", body)

    def ret_fordring_tilstand(self, body: etree._Element) -> Reply:
        return self.call("RetFordringTilstand", body)

    def afslut(self, body: etree._Element) -> Reply:
        """Any of the nine end-date operations; which one is named by ``body``'s element
        (``AfslutHaeftelseRequest`` → ``AfslutHaeftelse``)."""
        return self.call(etree.QName(body).localname.removesuffix("Request"), body)


class DebitorForespoergselClient(_Bound):
    """ØIR DebitorForespoergselAfsend: search accounts, read one account in full."""

    SERVICE = "DebitorForespoergselAfsend"

    def soeg_debitorkonto(self, body: etree._Element) -> Reply:
        return self.call("SoegDebitorkonto", body)

    def hent_debitorkonto(self, body: etree._Element) -> Reply:
        return self.call("HentDebitorkonto", body)


class DebitorIndbetalingClient(_Bound):
    """ØIR DebitorIndbetalingAfsend: receive a payment, preview its coverage."""

    SERVICE = "DebitorIndbetalingAfsend"

    def foretag_indbetaling(self, body: etree._Element) -> Reply:
        return self.call("ForetagIndbetaling", body)

    def soeg_delfordring_til_indbetaling(self, body: etree._Element) -> Reply:
        return self.call("SoegDelfordringTilIndbetaling", body)


class DebitorkontoAnmodningClient(_Bound):
    """ØIR DebitorkontoAnmodningAfsend: ask the debtor system to act on an account (move a
    claim or sub-claims, change the account's status), at once or on a later day."""

    SERVICE = "DebitorkontoAnmodningAfsend"

    def opret_debitorkonto_anmodning(self, body: etree._Element) -> Reply:
        return self.call("OpretDebitorkontoAnmodning", body)


class DebitorModregningClient(_Bound):
    """Offset claims in an upcoming benefit payment (this project's modelled service)."""

    SERVICE = "DebitorModregning"

    def foretag_modregning(self, body: etree._Element) -> Reply:
        return self.call("ForetagModregning", body)


class DaekningAfskrivningRegistreringClient(_Bound):
    """The fagsystem's callback (DaekningAfskrivningRegistreringAfsend): coverage,
    write-offs and claim state changes, status advice on accounts, and the
    ``FordringTilIndbetaling`` message."""

    SERVICE = "DaekningAfskrivningRegistreringAfsend"

    def registrer_daekning_afskrivning(self, body: etree._Element) -> Reply:
        return self.call("RegistrerDaekningAfskrivning", body)

    def registrer_debitorkonto_status(self, body: etree._Element) -> Reply:
        return self.call("RegistrerDebitorkontoStatus", body)

    def fordring_til_indbetaling(self, body: etree._Element) -> Reply:
        return self.call("FordringTilIndbetaling", body)


class MFFordringIndberetClient(_Bound):
    """PSRM MFFordringIndberet: deliver claim actions (create, write down, recall…)."""

    SERVICE = "MFFordringIndberet"

    def mf_fordring_indberet(self, body: etree._Element) -> Reply:
        return self.call("MFFordringIndberet", body)


class MFKvitteringHentClient(_Bound):
    """PSRM MFKvitteringHent: receipts per action."""

    SERVICE = "MFKvitteringHent"

    def mf_kvittering_hent(self, body: etree._Element) -> Reply:
        return self.call("MFKvitteringHent", body)


class MFUnderretSamlingHentClient(_Bound):
    """PSRM MFUnderretSamlingHent: notifications after a sequence number."""

    SERVICE = "MFUnderretSamlingHent"

    def mf_underret_samling_hent(self, body: etree._Element) -> Reply:
        return self.call("MFUnderretSamlingHent", body)


CLIENT_CLASSES: dict[str, type[_Bound]] = {
    cls.SERVICE: cls for cls in (
        DebitorRegistreringClient, DebitorForespoergselClient, DebitorIndbetalingClient,
        DebitorkontoAnmodningClient, DebitorModregningClient,
        DaekningAfskrivningRegistreringClient,
        MFFordringIndberetClient, MFKvitteringHentClient, MFUnderretSamlingHentClient)
    if cls.SERVICE is not None
}


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


@dataclass(frozen=True)
class Clients:
    """One client per service under one base URL, sharing one HTTP session."""

    debitor_registrering: DebitorRegistreringClient
    debitor_forespoergsel: DebitorForespoergselClient
    debitor_indbetaling: DebitorIndbetalingClient
    debitorkonto_anmodning: DebitorkontoAnmodningClient
    debitor_modregning: DebitorModregningClient
    daekning_afskrivning_registrering: DaekningAfskrivningRegistreringClient
    mf_fordring_indberet: MFFordringIndberetClient
    mf_kvittering_hent: MFKvitteringHentClient
    mf_underret_samling_hent: MFUnderretSamlingHentClient
    #: The shared session, and whether :meth:`close` should close it (made by the factory).
    session: requests.Session = field(repr=False, compare=False)
    owns_session: bool = field(default=False, repr=False, compare=False)

    def __iter__(self) -> Iterator[ServiceClient]:
        return (getattr(self, f.name) for f in fields(self)
                if f.name not in ("session", "owns_session"))

    def __getitem__(self, service_name: str) -> ServiceClient:
        """The client of a service by its contract name (``"MFFordringIndberet"``), or by a
        name the service had before (``"DebitorRegistrering"``)."""
        name = contracts.service(service_name).name
        for client in self:
            if client.contract.name == name:
                return client
        raise KeyError(service_name)

    def for_operation(self, operation: str) -> ServiceClient:
        """The client whose service has ``operation``."""
        for client in self:
            if any(op.name == operation for op in client.contract.operations):
                return client
        raise KeyError(operation)

    def close(self) -> None:
        """Close the shared session if :func:`clients_for` made it."""
        if self.owns_session:
            self.session.close()


def clients_for(base_url: str, **options: Unpack[ClientOptions]) -> Clients:
    """One client per service, at its standard path (``Service.path``) under ``base_url``.

    ``base_url`` is scheme, host and port (plus any prefix), e.g. ``http://127.0.0.1:8080``
    for the emulator. One ``requests.Session`` is shared (given or made here), so
    connections are pooled across services.
    """
    base = base_url.rstrip("/")
    opts = ClientOptions(**options)
    session = opts.get("session")
    owns = session is None
    if session is None:
        session = opts["session"] = requests.Session()
    made: dict[str, Any] = {
        _snake(cls.__name__.removesuffix("Client")): cls(base + contracts.service(name).path,
                                                         **opts)
        for name, cls in CLIENT_CLASSES.items()
    }
    return Clients(**made, session=session, owns_session=owns)
