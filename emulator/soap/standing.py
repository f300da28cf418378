"""What every SOAP request asks before it is handled — where the clock stands and which
operations have a fault armed — held in memory between changes.

Both change rarely (an admin call, a test's set-up), yet each request read them: two
statements of its own. Every change also writes a fresh ``standing_version`` token in the
same transaction (``store.standing_changed``), so a request reads that one setting and
uses what it remembers while the token is the one it remembers; any other worker or host
that changes them changes the token too.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from emulator import clock
from emulator.soap import faults
from emulator.storage.store import STANDING_VERSION, Store, get_setting


@dataclass(frozen=True, slots=True)
class Standing:
    """The clock and the armed faults as of one version."""

    version: str | None
    frozen: datetime | None  # the virtual clock, or None for real time
    armed: frozenset[str]  # operations a fault waits for

    def now(self) -> datetime:
        return clock.at(self.frozen)


_remembered: weakref.WeakKeyDictionary[Store, Standing] = weakref.WeakKeyDictionary()
_guard = threading.Lock()


def current(store: Store, conn: Connection) -> Standing:
    """The clock and armed faults as ``conn``'s transaction sees them: one statement while
    nothing changed, three after a change."""
    version = get_setting(conn, STANDING_VERSION)
    known = _remembered.get(store)
    if known is not None and known.version == version:
        return known
    fresh = Standing(version, clock.frozen(conn), faults.armed_operations(conn))
    with _guard:
        _remembered[store] = fresh
    return fresh
