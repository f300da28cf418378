"""Fault injection: the next N calls of an operation get a SOAP fault, HTTP 503, a delay,
a malformed or truncated reply, or a dropped connection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from emulator.storage import schema as t
from emulator.storage.prepared import Prepared
from emulator.storage.store import standing_changed
from oir_adapter.contracts import SERVICES

KINDS = ("soap_fault", "http_503", "delay", "malformed", "truncated", "drop")


@dataclass(frozen=True, slots=True)
class Fault:
    id: int
    operation: str
    kind: str
    remaining: int
    delay_ms: int

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "operation": self.operation, "kind": self.kind,
                "count": self.remaining, "delay_ms": self.delay_ms}


class FaultSpecError(ValueError):
    """A fault request the admin API cannot accept; the message says which field."""


#: the operations a fault can be armed for: every operation of every end
OPERATIONS = frozenset(op.name for svc in SERVICES for op in svc.operations)


def add(conn: Connection, spec: dict[str, Any]) -> Fault:
    operation = spec.get("operation")
    kind = spec.get("kind")
    if not isinstance(operation, str) or not operation:
        raise FaultSpecError("operation: a non-empty operation name is required")
    if operation not in OPERATIONS:  # a typo would arm a fault that never fires
        raise FaultSpecError(f"operation: {operation[:80]!r} is no operation of the emulator's "
                             f"ends (known: {', '.join(sorted(OPERATIONS))})")
    if kind not in KINDS:
        raise FaultSpecError(f"kind: must be one of {', '.join(KINDS)}")
    count = spec.get("count", 1)
    delay = spec.get("delay_ms", 0)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 1_000_000:
        raise FaultSpecError("count: a whole number from 1 to 1000000")
    if not isinstance(delay, int) or isinstance(delay, bool) or not 0 <= delay <= 120_000:
        raise FaultSpecError("delay_ms: a whole number of milliseconds from 0 to 120000")
    if kind == "delay" and delay == 0:
        raise FaultSpecError("delay_ms: a delay fault needs delay_ms > 0")
    result = conn.execute(insert(t.faults).values(operation=operation, kind=kind,
                                                  remaining=count, delay_ms=delay))
    standing_changed(conn)
    return Fault(int(result.inserted_primary_key[0]), operation, kind, count, delay)  # type: ignore[index]


_ARMED_SELECT = (select(t.faults).where(t.faults.c.operation == bindparam("operation"),
                                        t.faults.c.remaining > 0)
                 .order_by(t.faults.c.id).limit(1))
_ARMED = Prepared(_ARMED_SELECT)


def armed_for(conn: Connection, operation: str) -> bool:
    """Whether a fault waits for ``operation`` (a read: nothing is used up)."""
    return _ARMED.first(conn, {"operation": operation}) is not None


_TAKE = Prepared(_ARMED_SELECT.with_for_update())  # two workers must not both use the last count


def take(conn: Connection, operation: str) -> Fault | None:
    """Consume one use of the oldest fault armed for ``operation``, if any (every request
    asks, so the query is built once)."""
    row = _TAKE.first(conn, {"operation": operation})
    if row is None:
        return None
    if row.remaining <= 1:
        conn.execute(delete(t.faults).where(t.faults.c.id == row.id))
        standing_changed(conn)  # no longer armed
    else:
        conn.execute(update(t.faults).where(t.faults.c.id == row.id)
                     .values(remaining=row.remaining - 1))
    return Fault(row.id, row.operation, row.kind, row.remaining - 1, row.delay_ms)


def armed(conn: Connection) -> list[Fault]:
    rows = conn.execute(select(t.faults).order_by(t.faults.c.id)).all()
    return [Fault(r.id, r.operation, r.kind, r.remaining, r.delay_ms) for r in rows]


def clear(conn: Connection) -> int:
    standing_changed(conn)
    return int(conn.execute(delete(t.faults)).rowcount or 0)


def armed_operations(conn: Connection) -> frozenset[str]:
    """The operations a fault waits for."""
    return frozenset(conn.execute(select(t.faults.c.operation).distinct()
                                  .where(t.faults.c.remaining > 0)).scalars())
