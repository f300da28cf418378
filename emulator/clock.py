"""The virtual clock: real time until someone sets it, then frozen until set or advanced.

Stored in the database so every worker and every restart sees the same time. Advancing
is done by :mod:`emulator.days`, which steps day by day and runs what falls due.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Connection

from emulator.storage.store import get_setting, put_setting

_KEY = "clock"


def now(conn: Connection) -> datetime:
    """The emulator's current time (naive, local wall-clock time)."""
    stored = get_setting(conn, _KEY)
    if stored and stored.get("frozen"):
        return datetime.fromisoformat(stored["frozen"])
    return datetime.now().replace(microsecond=0)


def today(conn: Connection) -> date:
    return now(conn).date()


def is_virtual(conn: Connection) -> bool:
    stored = get_setting(conn, _KEY)
    return bool(stored and stored.get("frozen"))


def set_now(conn: Connection, when: datetime) -> None:
    put_setting(conn, _KEY, {"frozen": when.replace(microsecond=0).isoformat()})


def back_to_real_time(conn: Connection) -> None:
    put_setting(conn, _KEY, {"frozen": None})


def parse_when(text: str) -> datetime:
    """An ISO date (noon that day) or datetime, as the admin API accepts it."""
    value = text.strip()
    if len(value) == 10:
        return datetime.combine(date.fromisoformat(value), datetime.min.time()).replace(hour=12)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=None)
