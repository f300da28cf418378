"""Access control on the SOAP ends, and the credentials the emulator sends to its own ends.

Everything here is off until configured (``EmulatorConfig``/environment), which is right
for a developer's loopback emulator; ``oir serve`` refuses a non-loopback bind without it
(:func:`check_bind`).

- **API key** (``OIR_API_KEY``): an HTTP header (``X-API-Key`` by default) on every SOAP
  call. Checked before the body is even read.
- **WS-Security UsernameToken** (``OIR_WSSE_USERS="user:password,…"``): PasswordText or
  PasswordDigest (Base64(SHA-1(nonce + created + password))). ``Created`` must be within
  ``wsse_max_skew_seconds`` of real time and a ``Nonce`` is accepted once (stored in the
  database, so every worker and host sees it). With both configured, either one admits.
- **Serviceplatformen headers** on the ØIR ends (``OIR_CHECK_SERVICEPLATFORM=1``): an
  ``InvocationContext`` with its four UUIDs, or an ``AuthorityContext`` whose
  ``MunicipalityCVR`` is the body's ``MyndighedCVR``. Unchecked by default, and always
  accepted (never a ``MustUnderstand`` fault).
- **SAML 1.1 sender-vouches** on the PSRM end (``OIR_SAML_ISSUER``, optionally
  ``OIR_SAML_SUBJECT``): the ``wsse:Security`` header must carry an assertion from that
  issuer, about that subject, confirmed ``sender-vouches`` and valid now. The XML
  signature is *not* verified (that needs xmlsec and the sender's certificate); the
  emulator checks what a test environment needs to catch a mis-configured sender.

Timestamps are judged against the real clock, never the virtual one: a caller's clock
does not move when a test advances the emulator's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from lxml import etree
from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import IntegrityError

from emulator.soap.envelope import WSSE_NS, Envelope, SoapFault
from emulator.storage import store
from oir_adapter.contracts import OIR_NS, Service

if TYPE_CHECKING:
    from emulator.config import EmulatorConfig

WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
_PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
PASSWORD_TEXT = f"{_PROFILE}#PasswordText"
PASSWORD_DIGEST = f"{_PROFILE}#PasswordDigest"
SAML1_NS = "urn:oasis:names:tc:SAML:1.0:assertion"
SENDER_VOUCHES = "urn:oasis:names:tc:SAML:1.0:cm:sender-vouches"
INVOCATION_NS = "http://serviceplatformen.dk/xml/schemas/InvocationContext/1/"
AUTHORITY_NS = "http://serviceplatformen.dk/xml/schemas/AuthorityContext/1/"
INVOCATION_UUIDS = ("ServiceAgreementUUID", "UserSystemUUID", "UserUUID", "ServiceUUID")

_W = f"{{{WSSE_NS}}}"
_S = f"{{{SAML1_NS}}}"


def soap_auth_enabled(config: EmulatorConfig) -> bool:
    """True when the SOAP ends require an API key or a UsernameToken."""
    return bool(config.api_key or config.wsse_users)


#: The shortest admin token a bind beyond loopback accepts: the token guards the admin
#: API and the dashboard's sessions, and a short one is guessed.
MIN_ADMIN_TOKEN = 16


def check_bind(host: str, config: EmulatorConfig, insecure: bool) -> str | None:
    """Why ``oir serve`` must not listen on ``host`` as configured, or None if it may.

    Loopback is always fine. Anything else needs SOAP authentication (API key or
    UsernameToken users) *and* an admin token of at least :data:`MIN_ADMIN_TOKEN`
    characters, unless the operator says ``--insecure``.
    """
    if insecure or is_loopback(host):
        return None
    missing = []
    if not soap_auth_enabled(config):
        missing.append("OIR_API_KEY or OIR_WSSE_USERS (SOAP ends)")
    if not config.admin_token:
        missing.append("OIR_ADMIN_TOKEN (/_admin)")
    elif len(config.admin_token) < MIN_ADMIN_TOKEN:
        missing.append(f"a strong OIR_ADMIN_TOKEN (at least {MIN_ADMIN_TOKEN} characters; "
                       "e.g. `openssl rand -hex 24`)")
    if not missing:
        return None
    return (f"refusing to listen on {host} without {' and '.join(missing)}; "
            "bind to 127.0.0.1 or pass --insecure")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# ---------------------------------------------------------------- checking a request


@dataclass(frozen=True, slots=True)
class Admission:
    """Who got in, and the nonce to remember inside the request's transaction."""

    user: str | None = None
    nonce: str | None = None


def check_api_key(config: EmulatorConfig, headers: Mapping[str, str] | Any) -> bool | None:
    """True for the right key, False for a wrong one, None when none was sent (or no key
    is configured)."""
    if not config.api_key:
        return None
    given = headers.get(config.api_key_header)
    if given is None:
        return None
    return hmac.compare_digest(given.strip().encode(), config.api_key.encode())


def api_key_fault(config: EmulatorConfig, given: bool | None) -> SoapFault:
    what = "wrong API key" if given is False else "API key required"
    return SoapFault("Client", f"{what}: send it in the HTTP header {config.api_key_header}",
                     http_status=401, http_headers={"WWW-Authenticate": "ApiKey"})


def check_envelope(config: EmulatorConfig, service: Service, envelope: Envelope,
                   key: bool | None, *, now: datetime | None = None) -> Admission:
    """Admit or refuse one parsed request; raises :class:`SoapFault`."""
    if not (soap_auth_enabled(config) or config.saml_issuer or config.check_serviceplatform):
        return Admission()
    now = now or datetime.now(UTC)
    skew = timedelta(seconds=config.wsse_max_skew_seconds)
    security = _security_header(envelope.header)
    admission = Admission()
    if soap_auth_enabled(config) and key is not True:
        token = security.find(f"{_W}UsernameToken") if security is not None else None
        if token is not None and config.wsse_users:
            admission = _check_username_token(config, token, now, skew)
        elif config.wsse_users:
            if key is False:
                raise api_key_fault(config, key)
            raise SoapFault("wsse:FailedAuthentication",
                            "a WS-Security UsernameToken is required"
                            + (f" (or the HTTP header {config.api_key_header})"
                               if config.api_key else ""))
        else:
            raise api_key_fault(config, key)
    if service.end == "psrm" and config.saml_issuer:
        _check_saml(config, security, now, skew)
    if service.end == "oir" and config.check_serviceplatform:
        _check_serviceplatform(envelope)
    return admission


def _security_header(header: etree._Element | None) -> etree._Element | None:
    if header is None:
        return None
    found = header.findall(f"{_W}Security")
    if len(found) > 1:
        raise SoapFault("wsse:InvalidSecurity", "more than one wsse:Security header")
    return found[0] if found else None


def _check_username_token(config: EmulatorConfig, token: etree._Element, now: datetime,
                          skew: timedelta) -> Admission:
    failed = SoapFault("wsse:FailedAuthentication", "the security token could not be "
                       "authenticated: unknown user or wrong password")
    user = (token.findtext(f"{_W}Username") or "").strip()
    password_el = token.find(f"{_W}Password")
    if not user or password_el is None:
        raise SoapFault("wsse:InvalidSecurity", "UsernameToken needs Username and Password")
    expected = config.wsse_users.get(user)
    kind = password_el.get("Type", PASSWORD_TEXT)
    given = (password_el.text or "").strip()
    nonce_text = (token.findtext(f"{_W}Nonce") or "").strip() or None
    created_text = (token.findtext(f"{{{WSU_NS}}}Created") or "").strip() or None
    if created_text is not None:
        _check_fresh(created_text, now, skew)
    if kind == PASSWORD_DIGEST:
        if nonce_text is None or created_text is None:
            raise SoapFault("wsse:InvalidSecurity",
                            "PasswordDigest needs a Nonce and a wsu:Created timestamp")
        try:
            nonce = base64.b64decode(nonce_text, validate=True)
        except (binascii.Error, ValueError):
            raise SoapFault("wsse:InvalidSecurity", "Nonce is not base64") from None
        if expected is None:
            raise failed
        digest = base64.b64encode(hashlib.sha1(
            nonce + created_text.encode() + expected.encode()).digest()).decode()
        if not hmac.compare_digest(digest.encode(), given.encode()):
            raise failed
    elif kind == PASSWORD_TEXT:
        if expected is None or not hmac.compare_digest(given.encode(), expected.encode()):
            raise failed
    else:
        raise SoapFault("wsse:UnsupportedSecurityToken", f"password type {kind[:200]!r} "
                        "is not supported (PasswordText or PasswordDigest)")
    return Admission(user=user, nonce=nonce_text)


def _parse_time(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _check_fresh(created: str, now: datetime, skew: timedelta) -> None:
    when = _parse_time(created)
    if when is None:
        raise SoapFault("wsse:InvalidSecurity", f"wsu:Created {created[:60]!r} is not a "
                        "timestamp")
    if when > now + skew:
        raise SoapFault("wsse:MessageExpired", "wsu:Created lies in the future")
    if when < now - skew:
        raise SoapFault("wsse:MessageExpired", f"wsu:Created is older than "
                        f"{int(skew.total_seconds())} seconds")


def remember_nonce(conn: Connection, admission: Admission, config: EmulatorConfig) -> None:
    """Store the nonce in the request's transaction; a nonce seen before is a replay.

    Called inside the request's transaction so a refused request stores nothing, and
    entries older than twice the allowed skew are dropped on the way (a replay that old
    already fails the ``Created`` check).
    """
    if admission.nonce is None:
        return
    now = datetime.now(UTC).replace(tzinfo=None)
    table = store.wsse_nonces
    if conn.execute(select(table.c.nonce).where(table.c.nonce == admission.nonce)
                    ).first() is not None:
        raise SoapFault("wsse:FailedAuthentication", "replayed UsernameToken: this Nonce "
                        "was used before")
    try:
        with conn.begin_nested():
            conn.execute(insert(table).values(nonce=admission.nonce, seen=now))
    except IntegrityError:  # another worker took it a moment ago
        raise SoapFault("wsse:FailedAuthentication", "replayed UsernameToken: this Nonce "
                        "was used before") from None
    horizon = now - timedelta(seconds=2 * config.wsse_max_skew_seconds)
    if random.random() < 1 / 64:  # now and then, not on every call
        conn.execute(delete(table).where(table.c.seen < horizon))


def _check_saml(config: EmulatorConfig, security: etree._Element | None, now: datetime,
                skew: timedelta) -> None:
    assertion = security.find(f"{_S}Assertion") if security is not None else None
    if assertion is None:
        raise SoapFault("wsse:FailedAuthentication", "a SAML 1.1 assertion is required in "
                        "the wsse:Security header")
    if (assertion.get("MajorVersion"), assertion.get("MinorVersion")) != ("1", "1"):
        raise SoapFault("wsse:InvalidSecurityToken", "the assertion must be SAML 1.1 "
                        "(MajorVersion 1, MinorVersion 1)")
    issuer = assertion.get("Issuer", "")
    if issuer != config.saml_issuer:
        raise SoapFault("wsse:FailedAuthentication",
                        f"assertion issuer {issuer[:200]!r} is not trusted "
                        f"(expected {config.saml_issuer!r})")
    conditions = assertion.find(f"{_S}Conditions")
    if conditions is not None:
        before = _parse_time(conditions.get("NotBefore", "")) if conditions.get(
            "NotBefore") else None
        after = _parse_time(conditions.get("NotOnOrAfter", "")) if conditions.get(
            "NotOnOrAfter") else None
        if (before is not None and now + skew < before) or (
                after is not None and now - skew >= after):
            raise SoapFault("wsse:MessageExpired", "the assertion is not valid now "
                            "(Conditions NotBefore/NotOnOrAfter)")
    subjects = [s for s in assertion.iter(f"{_S}Subject")]
    if not subjects:
        raise SoapFault("wsse:InvalidSecurityToken", "the assertion has no Subject")
    confirmed = [s for s in subjects
                 if s.findtext(f"{_S}SubjectConfirmation/{_S}ConfirmationMethod",
                               "").strip() == SENDER_VOUCHES]
    if not confirmed:
        raise SoapFault("wsse:InvalidSecurityToken",
                        f"the assertion's subject must be confirmed by {SENDER_VOUCHES}")
    if config.saml_subject:
        names = {(s.findtext(f"{_S}NameIdentifier") or "").strip() for s in confirmed}
        if config.saml_subject not in names:
            raise SoapFault("wsse:FailedAuthentication",
                            f"the assertion is not about {config.saml_subject!r}")


def _check_serviceplatform(envelope: Envelope) -> None:
    header = envelope.header
    invocation = header.find(f"{{{INVOCATION_NS}}}InvocationContext") if header is not None \
        else None
    authority = header.find(f"{{{AUTHORITY_NS}}}AuthorityContext") if header is not None \
        else None
    if invocation is None and authority is None:
        raise SoapFault("Client", "Serviceplatformen's InvocationContext or AuthorityContext "
                        "header is required")
    if invocation is not None:
        for name in INVOCATION_UUIDS:
            value = (invocation.findtext(f"{{{INVOCATION_NS}}}{name}") or "").strip()
            try:
                uuid.UUID(value)
            except ValueError:
                raise SoapFault("Client", f"InvocationContext/{name} must be a UUID") from None
    if authority is not None:
        cvr = (authority.findtext(f"{{{AUTHORITY_NS}}}MunicipalityCVR") or "").strip()
        body_cvr = (envelope.body.findtext(f"{{{OIR_NS}}}MyndighedCVR") or "").strip()
        if cvr != body_cvr:
            raise SoapFault("Client", f"AuthorityContext/MunicipalityCVR {cvr[:20]!r} does "
                            f"not match MyndighedCVR {body_cvr[:20]!r}")


# ---------------------------------------------------------------- the emulator's own calls


def own_client_options(config: EmulatorConfig, service: Service) -> dict[str, Any]:
    """``ServiceClient`` keyword options that get the emulator's own calls (outbox, chain
    polling, scenario loading) past its own checks: a UsernameToken (digest) or the API
    key, a SAML assertion towards the PSRM end, an InvocationContext towards the ØIR ends.
    Empty when nothing is switched on."""
    options: dict[str, Any] = {}
    if config.wsse_users:
        user, password = next(iter(config.wsse_users.items()))
        options.update(username=user, password=password, digest=True)
    elif config.api_key:
        options["http_headers"] = {config.api_key_header: config.api_key}
    makers: list[Callable[[], etree._Element]] = []
    if service.end == "psrm" and config.saml_issuer:
        issuer, subject = config.saml_issuer, config.saml_subject or config.se_number
        makers.append(lambda: security_header(saml_assertion(issuer, subject)))
    if service.end == "oir" and config.check_serviceplatform:
        makers.append(invocation_context)
    if makers:
        def headers() -> Sequence[etree._Element]:
            return [make() for make in makers]
        options["headers"] = headers
    return options


def security_header(*tokens: etree._Element) -> etree._Element:
    """A ``wsse:Security`` header block holding ``tokens`` (zeep adds its UsernameToken
    to the same block)."""
    sec = etree.Element(f"{_W}Security", nsmap={"wsse": WSSE_NS})
    for token in tokens:
        sec.append(token)
    return sec


def saml_assertion(issuer: str, subject: str, *, now: datetime | None = None,
                   lifetime: timedelta = timedelta(minutes=5)) -> etree._Element:
    """An (unsigned) SAML 1.1 sender-vouches assertion about ``subject``."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)

    def stamp(when: datetime) -> str:
        return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    a = etree.Element(f"{_S}Assertion", nsmap={"saml": SAML1_NS}, MajorVersion="1",
                      MinorVersion="1", AssertionID=f"_{uuid.uuid4().hex}", Issuer=issuer,
                      IssueInstant=stamp(now))
    etree.SubElement(a, f"{_S}Conditions", NotBefore=stamp(now - timedelta(minutes=1)),
                     NotOnOrAfter=stamp(now + lifetime))
    statement = etree.SubElement(a, f"{_S}AuthenticationStatement",
                                 AuthenticationMethod="urn:oasis:names:tc:SAML:1.0:am:unspecified",
                                 AuthenticationInstant=stamp(now))
    s = etree.SubElement(statement, f"{_S}Subject")
    etree.SubElement(s, f"{_S}NameIdentifier").text = subject
    confirmation = etree.SubElement(s, f"{_S}SubjectConfirmation")
    etree.SubElement(confirmation, f"{_S}ConfirmationMethod").text = SENDER_VOUCHES
    return a


def invocation_context(service_agreement: str | None = None, user_system: str | None = None,
                       user: str | None = None, service: str | None = None) -> etree._Element:
    """Serviceplatformen's ``InvocationContext`` header (random UUIDs where not given)."""
    q = f"{{{INVOCATION_NS}}}"
    ctx = etree.Element(f"{q}InvocationContext", nsmap={"ic": INVOCATION_NS})
    for name, value in zip(INVOCATION_UUIDS, (service_agreement, user_system, user, service),
                           strict=True):
        etree.SubElement(ctx, f"{q}{name}").text = value or str(uuid.uuid4())
    return ctx


def authority_context(municipality_cvr: str) -> etree._Element:
    """Serviceplatformen's ``AuthorityContext`` header for one municipality."""
    ctx = etree.Element(f"{{{AUTHORITY_NS}}}AuthorityContext", nsmap={"ac": AUTHORITY_NS})
    etree.SubElement(ctx, f"{{{AUTHORITY_NS}}}MunicipalityCVR").text = municipality_cvr
    return ctx


def redact_passwords(data: bytes) -> bytes:
    """The request as the journal keeps it: a PasswordText in clear is replaced (a digest
    is harmless and stays)."""
    if b"Password" not in data:
        return data
    try:
        root = etree.fromstring(data, parser=etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False))
    except etree.XMLSyntaxError:
        return data
    changed = False
    for el in root.iter(f"{_W}Password"):
        if el.get("Type", PASSWORD_TEXT) == PASSWORD_TEXT:
            for part in list(el):  # a comment or PI splitting the password, and its tail
                el.remove(part)
            el.text = "***"
            changed = True
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8") if changed else data
