"""What keeps a browser from being turned against the emulator, whether a token is set or
not: the names it answers to, where state-changing requests may come from, what the admin
API accepts, and the headers every page carries.

A developer's emulator listens on loopback with no token, and any web page that
developer visits can send requests to it. So, on every request:

- **Host** must be a name the emulator serves (:func:`host_allowed`): loopback names,
  any IP address, the host of ``OIR_BASE_URL``, and ``OIR_ALLOWED_HOSTS``. A page on
  ``evil.example`` that re-points its own name at 127.0.0.1 (DNS rebinding) sends
  ``Host: evil.example`` and is refused: an IP address cannot be re-pointed, a name can.
  The WSDL's ``soap:address`` is therefore only ever built from an allowed name.
- **Origin** (and ``Sec-Fetch-Site``) on a state-changing request (POST, PUT, PATCH,
  DELETE) must be this site: a form or ``fetch`` from another site is refused.
- **The admin API** takes state-changing requests only as ``application/json`` (or YAML
  for a scenario): a type no page can send across sites without the browser asking first.
- **No NUL** in a URL's path or query (PostgreSQL text cannot hold one; SQLite treated it
  as a character): a 400 on both stores.
- Every answer that is not SOAP gets the dashboard's security headers (a 404 from a path
  no one serves included), and pages and admin answers ``Cache-Control: no-store``.
- Ids in URLs are bounded (:data:`MAX_ID`): a larger one is not found, not a 500.

With ``OIR_ADMIN_TOKEN`` set, the dashboard asks for the token once and keeps a **session**
instead (:func:`new_session`): a signed, expiring cookie (HttpOnly, SameSite=Strict) that
never holds the token itself. Its pages carry a CSRF token bound to that session
(:func:`csrf_token`), which their script sends with every state-changing admin call; the
token itself is never written into a page. Login redirects only to a path of this site
(:func:`safe_next`).

Behind a reverse proxy, the name that counts is the one the caller used
(:func:`caller_base`): ``X-Forwarded-Host``/``-Proto``/``-Port`` from a trusted proxy
(``OIR_TRUSTED_PROXIES``, :mod:`emulator.web.forwarded`), else ``Host``. Those headers from
any other peer are ignored, and a forwarded name must be allowed as ``Host`` must: the
Host and Origin checks and the WSDL's addresses all use that one name.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import time
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from flask import Flask, request
from werkzeug.datastructures import Headers, MultiDict
from werkzeug.wrappers import Response

from emulator.web.forwarded import external_base
from oir_adapter.contracts import SERVICES

if TYPE_CHECKING:
    from emulator.config import EmulatorConfig

#: Names that always mean this machine (RFC 6761: ``localhost`` and ``*.localhost``), and
#: the names of in-process calls (the emulator's own, scenarios): ``.invalid`` names never
#: resolve, so no web page can be served from one.
LOOPBACK_NAMES = (".localhost", ".invalid")
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Content types the admin API takes a state-changing request in (none is one a form or
#: a cross-site ``fetch`` may send without the browser asking the server first).
ADMIN_TYPES = frozenset({"application/json"})
SCENARIO_TYPES = frozenset({"application/json", "application/yaml", "application/x-yaml",
                            "text/yaml", "text/x-yaml"})
#: Where the SOAP ends answer (each service's path and its earlier ones): no page headers.
SOAP_PATHS = frozenset(path for svc in SERVICES for path in svc.paths)
#: The largest id a URL may name: an INTEGER column's on PostgreSQL (SQLite's go to
#: 2^63 - 1), so both stores answer a larger one alike, with a 404.
MAX_ID = 2**31 - 1
SESSION_COOKIE = "oir_session"
SESSION_SECONDS = 12 * 3600
CSRF_HEADER = "X-CSRF-Token"
ADMIN_PREFIX = "/_admin"
STATIC_PREFIX = "/_dashboard/"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"),
    "X-Content-Type-Options": "nosniff",
    # no referrer to other sites; this site's own forms keep their Origin (under
    # ``no-referrer`` a browser sends ``Origin: null`` even to the same site)
    "Referrer-Policy": "same-origin",
}


class Asking(Protocol):
    """What the guard reads of a request: Flask's, werkzeug's, or the SOAP dispatcher's
    lighter view of the environ (:class:`emulator.soap.dispatch.SoapRequest`)."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def scheme(self) -> str: ...
    @property
    def remote_addr(self) -> str | None: ...
    @property
    def headers(self) -> Headers: ...
    @property
    def query_string(self) -> bytes: ...
    @property
    def args(self) -> MultiDict[str, str]: ...
    @property
    def mimetype(self) -> str: ...


def split_host(host: str) -> tuple[str, int | None]:
    """``Host`` (or an origin's netloc) as a lower-case name without a trailing dot, and
    its port if one is given; ``[::1]:8080`` → ``("::1", 8080)``."""
    value = host.strip().lower()
    port: int | None = None
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        if rest.startswith(":") and rest[1:].isdigit():
            port = int(rest[1:])
    elif value.count(":") == 1:
        name, _, raw = value.partition(":")
        port = int(raw) if raw.isdigit() else -1
    else:
        name = value
    return name.rstrip("."), port


def allowed_names(config: EmulatorConfig) -> tuple[str, ...]:
    """Every name the emulator answers to, as configured (``.example.org`` allows its
    subdomains, ``*`` any name)."""
    names = [*LOOPBACK_NAMES, *config.allowed_hosts]
    if config.base_url:
        base = urlsplit(config.base_url).hostname
        if base:
            names.append(base)
    return tuple(n.strip().lower().rstrip(".") for n in names if n.strip())


@lru_cache(maxsize=256)
def host_allowed(host: str, names: tuple[str, ...]) -> bool:
    """Whether a request for ``host`` is one for this emulator (see the module doc).
    Remembered per (host, names): every SOAP request asks, with the same few names."""
    name, port = split_host(host)
    if not name or port == -1:
        return False
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        return True  # an address cannot be re-pointed at another machine by a web page
    for allowed in names:
        if allowed == "*" or name == allowed or (allowed.startswith(".") and (
                name.endswith(allowed) or name == allowed[1:])):
            return True
    return False


def caller_base(req: Asking, config: EmulatorConfig) -> str:
    """``scheme://host[:port]`` as the caller addressed the emulator: what a trusted proxy
    forwarded (well-formed), else the request's own scheme and ``Host``."""
    return external_base(scheme=req.scheme, host=req.host, peer=req.remote_addr,
                         headers=req.headers, proxies=config.trusted_proxies)


def same_origin(origin: str, host: str) -> bool:
    """Whether ``Origin`` is the site the caller addressed (``host``: its name and port)."""
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    origin_name = parts.hostname.rstrip(".").lower()
    try:
        origin_port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    name, port = split_host(host)
    if origin_name != name:
        return False
    # without an explicit port the request came to a default one (perhaps through a TLS
    # proxy, so the origin's scheme may differ from the request's)
    return origin_port == port if port is not None else origin_port in (80, 443)


def _refuse(req: Asking, status: int, message: str) -> Response:
    if req.path.startswith(ADMIN_PREFIX):
        return Response(json.dumps({"error": message}) + "\n", status,
                        content_type="application/json")
    return Response(message + "\n", status, content_type="text/plain; charset=utf-8")


def _has_nul(req: Asking) -> bool:
    if "\x00" in req.path:
        return True
    if not req.query_string:  # a SOAP POST: no query to decode
        return False
    return any("\x00" in key or "\x00" in value for key, value in req.args.items(multi=True))


def check(request: Asking, config: EmulatorConfig, names: tuple[str, ...]
          ) -> Response | None:
    """The checks every request passes before any view (Flask's and the SOAP
    dispatcher's, :mod:`emulator.soap.dispatch`); an answer when one fails."""
    host = urlsplit(caller_base(request, config)).netloc
    if not host_allowed(host, names):
        via = ("" if split_host(host)[0] == split_host(request.host)[0]
               else " (forwarded by a trusted proxy)")
        return _refuse(request, 400, f"unknown host {host[:100]!r}{via}: this emulator answers to "
                            "loopback names, IP addresses and OIR_ALLOWED_HOSTS")
    if _has_nul(request):
        return _refuse(request, 400, "a NUL character is not allowed in a URL")
    if request.method in STATE_CHANGING:
        site = request.headers.get("Sec-Fetch-Site", "").lower()
        origin = request.headers.get("Origin")
        if origin == "null" and site == "same-origin":
            origin = None  # an opaque origin the browser itself vouches is this site
        if site in ("cross-site", "same-site") or (
                origin is not None and not same_origin(origin, host)):
            return _refuse(request, 403, f"cross-site {request.method} refused (Origin "
                                f"{(origin or site)[:100]!r} is not this site)")
        if request.path.startswith(ADMIN_PREFIX + "/"):
            wanted = SCENARIO_TYPES if request.path == ADMIN_PREFIX + "/scenario" \
                else ADMIN_TYPES
            if (request.mimetype or "").lower() not in wanted:
                return _refuse(request, 415, f"Content-Type must be {' or '.join(sorted(wanted))} "
                                    f"(got {(request.mimetype or 'none')[:60]!r})")
    return None


def headers(response: Response) -> Response:
    """Security headers on every answer that is not SOAP; no caching of pages and admin
    answers (they carry personal data)."""
    path = request.path
    if path in SOAP_PATHS or path.startswith("/xsd/"):
        return response
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if not path.startswith(STATIC_PREFIX):
        response.headers["Cache-Control"] = "no-store"
    return response


# ---------------------------------------------------------------- the dashboard's session


def _sign(token: str, message: str) -> str:
    digest = hmac.new(token.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def new_session(token: str, *, now: float | None = None) -> str:
    """A session cookie's value: when it was issued, a random nonce, and their signature
    with the admin token (so every worker and host can check it, and a new token ends
    every session)."""
    issued = int(now if now is not None else time.time())
    nonce = secrets.token_urlsafe(18)
    return f"{issued}.{nonce}.{_sign(token, f'session:{issued}.{nonce}')}"


def session_valid(token: str, value: str, *, now: float | None = None) -> bool:
    """Whether ``value`` is a session this token issued less than 12 hours ago."""
    issued, _, rest = value.partition(".")
    nonce, _, signature = rest.partition(".")
    if not (issued.isdigit() and nonce and signature):
        return False
    age = (now if now is not None else time.time()) - int(issued)
    if not 0 <= age <= SESSION_SECONDS:
        return False
    return hmac.compare_digest(signature.encode(),
                               _sign(token, f"session:{issued}.{nonce}").encode())


def csrf_token(token: str, session: str) -> str:
    """The CSRF token of one session: what a page's script sends in ``X-CSRF-Token``."""
    return _sign(token, f"csrf:{session}")


def csrf_valid(token: str, session: str, given: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(),
                                               csrf_token(token, session).encode())


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path of this site, else ``/``. Browsers drop tabs
    and line breaks from a URL and read ``\\`` as ``/``, so ``/\t/evil.example`` would
    be ``//evil.example``, another site; a CR or LF would break the header."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    if any(ord(c) < 0x21 or c in "\\\x7f" for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def install(app: Flask, config: EmulatorConfig) -> None:
    """Guard every request of ``app``."""

    @app.before_request
    def _guard() -> Response | None:
        return check(request, config, allowed_names(config))

    app.after_request(headers)
