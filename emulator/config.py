"""Emulator configuration: one dataclass, filled from ``oir serve`` options, environment
variables (``OIR_DB``, ``OIR_BASE_URL``…) or a test's keyword arguments.

Environment variables (all optional):

======================================  ===================================================
``OIR_DB``                              SQLAlchemy URL (default: SQLite ``var/oir.sqlite3``)
``OIR_BASE_URL``                        where the emulator reaches itself over HTTP
``OIR_PSRM_URL`` / ``OIR_CALLBACK_URL`` a real PSRM test system / fagsystem instead of ours
``OIR_API_KEY``, ``OIR_API_KEY_HEADER`` API key on the SOAP ends (header ``X-API-Key``)
``OIR_WSSE_USERS``                      ``user:password,…`` for WS-Security UsernameTokens
``OIR_WSSE_MAX_SKEW_SECONDS``           how old/new a ``wsu:Created`` may be (300)
``OIR_ADMIN_TOKEN``                     bearer token required on ``/_admin``
``OIR_SAML_ISSUER``, ``OIR_SAML_SUBJECT``  require a SAML 1.1 sender-vouches assertion on PSRM
``OIR_CHECK_SERVICEPLATFORM``           ``1``: require InvocationContext/AuthorityContext on ØIR
``OIR_MAX_BODY_BYTES``, ``OIR_MAX_DEPTH``, ``OIR_MAX_ELEMENTS``  request limits
``OIR_BODY_TIMEOUT_SECONDS``            a request body must arrive within this (30)
``OIR_ALLOWED_HOSTS``                   names the emulator answers to (``a.example,.b.org``)
``OIR_TRUSTED_PROXIES``                 whose ``X-Forwarded-*`` headers to believe (loopback)
``OIR_STRICT_SOAPACTION``               ``1``: a missing or foreign SOAPAction is a fault
``OIR_REPLAY_DIR``                      answer the SOAP ends from this recording (``--replay``)
``OIR_SQLITE_SYNCHRONOUS``              SQLite ``synchronous``: NORMAL (default), FULL, EXTRA
======================================  ===================================================
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from emulator.soap.envelope import Limits
from emulator.storage.store import sqlite_synchronous_level
from emulator.web.forwarded import LOOPBACK_PROXIES, parse_proxies
from oir_adapter.mapping import CREDITOR_ID, parse_creditor_ids


@dataclass
class EmulatorConfig:
    """Everything the emulator needs to know at start.

    ``base_url`` is where the emulator itself can be reached over HTTP; the debtor end
    calls the PSRM end and the fagsystem end through it (or through ``psrm_url`` /
    ``callback_url`` when a real PSRM test system or fagsystem is plugged in). With no
    ``base_url`` the calls go through an in-process WSGI transport instead of a socket.
    """

    db_url: str | None = None
    base_url: str | None = None
    psrm_url: str | None = None  # base URL of the PSRM end; default: base_url
    callback_url: str | None = None  # full URL of RegistrerDaekningAfskrivning; default: ours
    limits: Limits = field(default_factory=Limits)
    body_timeout_seconds: float = 30.0  # a request body must arrive within this (408)
    # under ``oir serve``: a request's line and headers must arrive within this (408)
    header_timeout_seconds: float = 5.0
    validate_responses: bool = True
    # the debtor system's identity towards PSRM
    se_number: str = "29189846"
    #: DMIFordringHaverID: Gældsstyrelsen's number for the fordringshaver (not a CVR), for
    #: authorities ``creditor_ids`` does not name
    creditor_id: str = "1000"
    creditor_ids: dict[str, str] = field(default_factory=dict)  # authority CVR → its id
    creditor_number: str = "85123456"  # FIK kreditornummer on invoices
    # PSRM end behaviour
    psrm_days_to_process: int = 1  # MODTAGET → SAGSBEHANDL after this many days
    psrm_days_to_done: int = 2  # → UDFOERT after this many days from receipt
    # background work
    #: journal entries older than this many days are deleted (None: kept for ever); for
    #: a shared emulator that runs for months, where the journal would fill the disk
    journal_keep_days: int | None = None
    outbox_poll_seconds: float = 2.0
    outbox_max_attempts: int = 8
    call_timeout_seconds: float = 10.0
    start_worker: bool = True
    # access control (off by default on loopback; see emulator.soap.security)
    api_key: str | None = None
    api_key_header: str = "X-API-Key"
    admin_token: str | None = None
    wsse_users: dict[str, str] = field(default_factory=dict)
    wsse_max_skew_seconds: int = 300
    saml_issuer: str | None = None  # PSRM end: require a sender-vouches assertion from it
    saml_subject: str | None = None  # … about this subject (NameIdentifier)
    check_serviceplatform: bool = False  # ØIR ends: require InvocationContext/AuthorityContext
    # the names browsers and callers may use (besides loopback, IP addresses and the
    # host of base_url; see emulator.web.guard)
    allowed_hosts: tuple[str, ...] = ()
    #: peers whose X-Forwarded-Proto/-Host/-Port are believed (addresses, networks, "*");
    #: the forwarded name must be an allowed one too (emulator.web.guard)
    trusted_proxies: tuple[str, ...] = LOOPBACK_PROXIES
    #: a request whose SOAPAction is missing or names no operation of its body is a fault
    strict_soap_action: bool = False
    #: answer every SOAP end from this recording (``oir serve --replay``; emulator.ends.replay)
    replay_dir: str | None = None
    #: SQLite's ``PRAGMA synchronous`` (WAL mode): NORMAL loses nothing acknowledged when
    #: the process is killed, a power cut may lose the last commits; FULL fsyncs every
    #: commit. PostgreSQL keeps its own settings.
    sqlite_synchronous: str = "NORMAL"

    def creditor_for(self, authority_cvr: str | None) -> str:
        """The DMIFordringHaverID the debtor end sends for claims of ``authority_cvr``."""
        return self.creditor_ids.get(authority_cvr or "", self.creditor_id)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object
                 ) -> EmulatorConfig:
        """Configuration from ``OIR_*`` environment variables, then ``overrides`` (a
        ``None`` override keeps the environment's value). A malformed variable raises
        ``ValueError`` naming it."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for key, name, parse in _ENV:
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            try:
                values[key] = parse(raw)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        limits = {k: values.pop(k) for k in ("max_body_bytes", "max_depth", "max_elements")
                  if k in values}
        if limits:
            try:
                values["limits"] = Limits(**limits)  # type: ignore[arg-type]
            except ValueError as exc:
                raise ValueError(f"OIR_MAX_*: {exc}") from None
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown configuration field(s): {', '.join(sorted(unknown))}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def _users(raw: str) -> dict[str, str]:
    users: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        user, sep, password = item.partition(":")
        if not sep or not user.strip() or not password:
            raise ValueError("expected user:password pairs separated by commas")
        users[user.strip()] = password
    return users


def _positive(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("must be a positive whole number")
    return value


def _seconds(raw: str) -> float:
    value = float(raw)
    if not 0 < value <= 3600:
        raise ValueError("must be a number of seconds from 0 to 3600")
    return value


def _flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected 1/0, true/false, yes/no or on/off")


def _text(raw: str) -> str:
    return raw


_HOST_NAME = re.compile(r"^(\*|\.?[a-z0-9-]+(\.[a-z0-9-]+)*)$")


def _names(raw: str) -> tuple[str, ...]:
    names = tuple(n.strip().lower() for n in raw.split(",") if n.strip())
    for name in names:
        if not _HOST_NAME.match(name):
            raise ValueError(f"{name!r} is not a host name (nor .domain, nor *)")
    return names


def _creditor_id(raw: str) -> str:
    value = raw.strip()
    if not CREDITOR_ID.fullmatch(value):
        raise ValueError("a fordringshaver id is a number of 1 to 10 digits")
    return value


_ENV: tuple[tuple[str, str, Callable[[str], Any]], ...] = (
    ("db_url", "OIR_DB", _text),
    ("base_url", "OIR_BASE_URL", _text),
    ("psrm_url", "OIR_PSRM_URL", _text),
    ("creditor_id", "OIR_CREDITOR_ID", _creditor_id),
    ("creditor_ids", "OIR_CREDITOR_IDS", parse_creditor_ids),
    ("callback_url", "OIR_CALLBACK_URL", _text),
    ("api_key", "OIR_API_KEY", _text),
    ("api_key_header", "OIR_API_KEY_HEADER", _text),
    ("admin_token", "OIR_ADMIN_TOKEN", _text),
    ("wsse_users", "OIR_WSSE_USERS", _users),
    ("wsse_max_skew_seconds", "OIR_WSSE_MAX_SKEW_SECONDS", _positive),
    ("saml_issuer", "OIR_SAML_ISSUER", _text),
    ("saml_subject", "OIR_SAML_SUBJECT", _text),
    ("check_serviceplatform", "OIR_CHECK_SERVICEPLATFORM", _flag),
    ("allowed_hosts", "OIR_ALLOWED_HOSTS", _names),
    ("journal_keep_days", "OIR_JOURNAL_KEEP_DAYS", _positive),
    ("max_body_bytes", "OIR_MAX_BODY_BYTES", _positive),
    ("max_depth", "OIR_MAX_DEPTH", _positive),
    ("max_elements", "OIR_MAX_ELEMENTS", _positive),
    ("body_timeout_seconds", "OIR_BODY_TIMEOUT_SECONDS", _seconds),
    ("header_timeout_seconds", "OIR_HEADER_TIMEOUT_SECONDS", _seconds),
    ("trusted_proxies", "OIR_TRUSTED_PROXIES", parse_proxies),
    ("strict_soap_action", "OIR_STRICT_SOAPACTION", _flag),
    ("replay_dir", "OIR_REPLAY_DIR", _text),
    ("sqlite_synchronous", "OIR_SQLITE_SYNC", sqlite_synchronous_level),  # the older name
    ("sqlite_synchronous", "OIR_SQLITE_SYNCHRONOUS", sqlite_synchronous_level),
)
