"""What every SOAP request asks before it is handled — where the clock stands and which
operations have a fault armed — and the reference tables its handlers judge by (claim
types, benefit rules), held in memory between changes.

They change rarely (an admin call, a scenario, a test's set-up), yet each request read
them with statements of its own. Every change also writes a fresh ``standing_version``
token in the same transaction (``store.standing_changed``), so a request reads that one
setting and uses what it remembers while the token is the one it remembers; any other
worker or host that changes them changes the token too.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, select

from emulator import clock
from emulator.soap import faults
from emulator.storage import schema as t
from emulator.storage.store import STANDING_VERSION, Store, get_setting

T = TypeVar("T")


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


#: Reference tables built from held settings (``store.HELD_SETTINGS``), by store: each
#: with the version it was built at.
_tables: weakref.WeakKeyDictionary[Store, dict[str, tuple[str | None, Any]]] = \
    weakref.WeakKeyDictionary()


def held(store: Store, conn: Connection, key: str, build: Callable[[Any], T]) -> T:
    """The table ``build`` makes of setting ``key`` (one of ``store.HELD_SETTINGS``), held
    between changes like the clock: every write of it changes the standing version, so
    one lookup of the version tells whether the table held is the one ``conn`` sees.
    Each claim read and built the whole claim-type table before."""
    version = get_setting(conn, STANDING_VERSION)
    tables = _tables.get(store)
    known = tables.get(key) if tables is not None else None
    if known is not None and known[0] == version:  # None too: nothing changed yet
        return cast(T, known[1])
    # the value with the version it goes with, in one statement (one view of both)
    found = {row.key: row.value for row in conn.execute(select(
        t.settings.c.key, t.settings.c.value).where(
        t.settings.c.key.in_((key, STANDING_VERSION))))}
    table = build(found.get(key))
    with _guard:
        _tables.setdefault(store, {})[key] = (found.get(STANDING_VERSION), table)
    return table
