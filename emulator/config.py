"""Emulator configuration: one dataclass, filled from ``oir serve`` options, environment
variables (``OIR_DB``, ``OIR_BASE_URL``…) or a test's keyword arguments."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .soap import Limits


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
    validate_responses: bool = True
    # the debtor system's identity towards PSRM
    se_number: str = "29189846"
    creditor_id: str = "29189846"  # DMIFordringHaverID
    creditor_number: str = "85123456"  # FIK kreditornummer on invoices
    # PSRM end behaviour
    psrm_days_to_process: int = 1  # MODTAGET → SAGSBEHANDL after this many days
    psrm_days_to_done: int = 2  # → UDFOERT after this many days from receipt
    # background work
    outbox_poll_seconds: float = 2.0
    outbox_max_attempts: int = 8
    call_timeout_seconds: float = 10.0
    start_worker: bool = True
    # access control (off by default on loopback)
    api_key: str | None = None
    admin_token: str | None = None
    wsse_users: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides: object) -> EmulatorConfig:
        env = os.environ
        values: dict[str, object] = {
            "db_url": env.get("OIR_DB"),
            "base_url": env.get("OIR_BASE_URL"),
            "psrm_url": env.get("OIR_PSRM_URL"),
            "callback_url": env.get("OIR_CALLBACK_URL"),
            "api_key": env.get("OIR_API_KEY"),
            "admin_token": env.get("OIR_ADMIN_TOKEN"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
