"""The virtual clock: real time until someone sets it, then frozen until set or advanced.

Stored in the database so every worker and every restart sees the same time. Advancing
is done by :mod:`emulator.days`, which steps day by day and runs what falls due.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Connection

from emulator.storage.store import get_setting, put_setting, standing_changed
from oir_adapter.codecs.reading import EARLIEST_DATE, LATEST_DATE

_KEY = "clock"


def now(conn: Connection) -> datetime:
    """The emulator's current time (naive, local wall-clock time)."""
    return at(frozen(conn))


def frozen(conn: Connection) -> datetime | None:
    """Where the virtual clock stands, or None when it follows real time."""
    stored = get_setting(conn, _KEY)
    if stored and stored.get("frozen"):
        return datetime.fromisoformat(stored["frozen"])
    return None


def at(frozen_at: datetime | None) -> datetime:
    """The current time for a clock that :func:`frozen` found at ``frozen_at``."""
    return frozen_at if frozen_at is not None else datetime.now().replace(microsecond=0)


def today(conn: Connection) -> date:
    return now(conn).date()


def is_virtual(conn: Connection) -> bool:
    stored = get_setting(conn, _KEY)
    return bool(stored and stored.get("frozen"))


def set_now(conn: Connection, when: datetime) -> None:
    put_setting(conn, _KEY, {"frozen": when.replace(microsecond=0).isoformat()})
    standing_changed(conn)


def back_to_real_time(conn: Connection) -> None:
    put_setting(conn, _KEY, {"frozen": None})
    standing_changed(conn)


def parse_when(text: str) -> datetime:
    """An ISO date (noon that day) or datetime, as the admin API accepts it."""
    value = text.strip()
    if len(value) == 10:
        when = datetime.combine(date.fromisoformat(value), datetime.min.time()).replace(hour=12)
    else:
        when = datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)
    check_range(when)
    return when


#: How far the virtual clock may go: inside the dates a message may carry, with a
#: century to spare for what is computed from it (a clock in the year 9999 overflowed
#: on its next day's work).
LATEST_CLOCK_DAY = date(LATEST_DATE.year - 100, 12, 31)


def check_range(when: datetime) -> None:
    """Refuse (``ValueError``) a clock time outside the calendar the emulator computes in."""
    if not EARLIEST_DATE <= when.date() <= LATEST_CLOCK_DAY:
        raise ValueError(f"{when.date()} is outside {EARLIEST_DATE} to {LATEST_CLOCK_DAY}")
