"""The emulator's state as JSON, out and back in: every table of the business schema but
the journal, which stays as it is (it is the history of what happened, the exchanges of
whoever saved and restored included).

``GET /_admin/state`` saves it, ``PUT /_admin/state`` puts it back: the clock, accounts,
claims, payments, PSRM's claims and actions, scripted events, the outbox, settings and
counters. The conformance suite does both around a run against an emulator, so a shared
emulator is left as the run found it. Works the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Date, DateTime, LargeBinary, Table, delete, insert, select

from emulator.storage import schema as t
from emulator.storage.migrations import recompute_bounds
from emulator.storage.store import standing_changed

FORMAT = "oir-emulator-state/1"
#: Tables a saved state leaves alone.
KEPT = frozenset({t.journal.name})


class StateError(ValueError):
    """A state document the emulator cannot put back; the message says what is wrong."""


def _tables() -> list[Table]:
    return [table for table in t.metadata.sorted_tables if table.name not in KEPT]


def _out(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def export(conn: Connection) -> dict[str, Any]:
    """Every row of every table but the journal, as JSON-ready values."""
    return {"format": FORMAT, "tables": {
        table.name: [{key: _out(value) for key, value in row._mapping.items()}
                     for row in conn.execute(select(table))]
        for table in _tables()}}


def _in(table: Table, row: Any, where: str) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise StateError(f"{where}: a row must be an object")
    unknown = set(row) - set(table.c.keys())
    if unknown:
        raise StateError(f"{where}: {table.name} has no column {sorted(unknown)[0]!r}")
    values: dict[str, Any] = {}
    for key, value in row.items():
        kind = table.c[key].type
        try:
            if value is None:
                values[key] = None
            elif isinstance(kind, DateTime):
                values[key] = datetime.fromisoformat(value)
            elif isinstance(kind, Date):
                values[key] = date.fromisoformat(value)
            elif isinstance(kind, LargeBinary):
                values[key] = base64.b64decode(value, validate=True)
            else:
                values[key] = value
        except (TypeError, ValueError) as exc:
            raise StateError(f"{where}.{key}: {exc}") from None
    return values


def restore(conn: Connection, document: Any) -> dict[str, int]:
    """Replace every table but the journal with ``document`` (what :func:`export` gave);
    how many rows each table got. Nothing changes when the document is refused."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise StateError(f"format: not a saved emulator state ({FORMAT!r} expected)")
    given = document.get("tables")
    tables = _tables()
    if not isinstance(given, dict) or set(given) != {table.name for table in tables}:
        raise StateError("tables: every table of the saved state is required: "
                         + ", ".join(sorted(table.name for table in tables)))
    rows = {table.name: [_in(table, row, f"tables.{table.name}[{i}]")
                         for i, row in enumerate(given[table.name] or [])]
            for table in tables}
    for table in reversed(tables):
        conn.execute(delete(table))
    for table in tables:
        if rows[table.name]:
            conn.execute(insert(table), rows[table.name])
    recompute_bounds(conn)  # what the document says of them is not trusted
    standing_changed(conn)  # the clock and the armed faults are the document's now
    return {name: len(found) for name, found in rows.items()}
