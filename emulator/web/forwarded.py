"""The address a caller used, as a reverse proxy in front of the emulator reports it.

Behind nginx or a load balancer the emulator sees the proxy's connection: an inner host
and port, often plain HTTP. The proxy says what the client asked for in
``X-Forwarded-Proto``, ``X-Forwarded-Host`` and ``X-Forwarded-Port``. Those headers are
believed only when the connection comes from a trusted proxy
(``EmulatorConfig.trusted_proxies``, ``OIR_TRUSTED_PROXIES``; loopback by default, as
gunicorn's ``forwarded_allow_ips``): from anyone else they could point a served WSDL at
another host. Even from a trusted proxy a forwarded name must be one the emulator serves
(``OIR_ALLOWED_HOSTS``): :mod:`emulator.web.guard` checks it as it checks ``Host``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Protocol

#: What ``OIR_TRUSTED_PROXIES`` holds by default: the proxy runs on the same host.
LOOPBACK_PROXIES = ("127.0.0.1", "::1")

class _Headers(Protocol):
    def get(self, key: str) -> str | None: ...


_HOST = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$")
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def parse_proxies(raw: str) -> tuple[str, ...]:
    """``OIR_TRUSTED_PROXIES``: addresses or networks (``10.0.0.0/8``) separated by commas,
    ``*`` for any peer, ``none`` for no proxy at all. Raises ``ValueError`` naming a bad
    entry."""
    items = tuple(item.strip() for item in raw.split(",") if item.strip())
    if items in ((), ("none",)):
        return ()
    for item in items:
        if item != "*":
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network (or '*', "
                                 "'none')") from None
    return items


def is_trusted(peer: str | None, proxies: Iterable[str]) -> bool:
    """Whether a connection from ``peer`` (an IP address) comes from a trusted proxy."""
    if not peer:
        return False
    return _trusted(peer, tuple(proxies))


@lru_cache(maxsize=1024)
def _trusted(peer: str, proxies: tuple[str, ...]) -> bool:
    """:func:`is_trusted`, remembered: every request asks, from a few peers (parsing an
    address and each network anew cost more than the rest of the check)."""
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    for item in proxies:
        if item == "*":
            return True
        network = ipaddress.ip_network(item, strict=False)
        if address.version == network.version and address in network:
            return True
    return False


def _first(value: str | None) -> str | None:
    """The client-facing entry of a header a chain of proxies may have appended to."""
    if not value:
        return None
    first = value.split(",", 1)[0].strip()
    return first or None


def external_base(*, scheme: str, host: str, peer: str | None, headers: _Headers,
                  proxies: Iterable[str]) -> str:
    """``scheme://host[:port]`` as the caller addressed the emulator: the forwarded values
    when ``peer`` is a trusted proxy and they are well-formed, else the connection's own."""
    if is_trusted(peer, proxies):
        proto = (_first(headers.get("X-Forwarded-Proto")) or "").lower()
        if proto in _DEFAULT_PORTS:
            scheme = proto
        forwarded_host = _first(headers.get("X-Forwarded-Host"))
        if forwarded_host and _HOST.match(forwarded_host):
            host = forwarded_host
        port = _first(headers.get("X-Forwarded-Port"))
        if port and port.isdigit() and 0 < int(port) < 65536:
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            host = name if _DEFAULT_PORTS.get(scheme) == port else f"{name}:{port}"
    if ":" in host and not host.endswith("]") and host.rsplit(":", 1)[1] == \
            _DEFAULT_PORTS.get(scheme):
        host = host.rsplit(":", 1)[0]
    return f"{scheme}://{host}"
