"""The journal: every exchange on every end, both directions, with its XML.

Rows are written in the same transaction as the state change they describe, so the
journal never shows an exchange whose effect was rolled back (a failed request is
journaled on its own, after the rollback).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select

from emulator.storage import schema as t
from emulator.storage.prepared import Prepared


@dataclass(slots=True)
class Exchange:
    """What one request/response pair was, as it will be stored."""

    end: str
    direction: str  # "in" (served by the emulator) | "out" (sent by the emulator)
    service: str | None
    operation: str | None
    status: str  # ok | rejected | fault | http_error | error
    http_status: int | None
    started: float  # time.perf_counter() at start
    request_xml: bytes | None
    response_xml: bytes | None
    transaction_id: str | None = None
    correlation: Mapping[str, Any] | None = None
    summary: str | None = None


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", errors="replace")


_INSERT = Prepared(insert(t.journal))  # every request runs it (see prepared.py)


def record(conn: Connection, x: Exchange, *, virtual_at: datetime) -> int:
    return _INSERT.insert(conn, dict(
        at=datetime.now(), virtual_at=virtual_at, end=x.end, direction=x.direction,
        service=x.service, operation=x.operation, status=x.status, http_status=x.http_status,
        transaction_id=x.transaction_id, correlation=dict(x.correlation or {}),
        duration_ms=round((time.perf_counter() - x.started) * 1000, 3),
        request_xml=_text(x.request_xml), response_xml=_text(x.response_xml),
        summary=(x.summary or "")[:400] or None))


_SUMMARY_COLUMNS = ("id", "at", "virtual_at", "end", "direction", "service", "operation",
                    "status", "http_status", "transaction_id", "correlation", "duration_ms",
                    "summary")


def _row(r: Any, *, full: bool) -> dict[str, Any]:
    out = {c: getattr(r, c) for c in _SUMMARY_COLUMNS}
    out["at"] = r.at.isoformat()
    out["virtual_at"] = r.virtual_at.isoformat()
    if full:
        out["request_xml"] = r.request_xml
        out["response_xml"] = r.response_xml
    return out


def query(conn: Connection, *, end: str | None = None, operation: str | None = None,
          status: str | None = None, transaction_id: str | None = None, limit: int = 100,
          before_id: int | None = None, full: bool = False) -> list[dict[str, Any]]:
    """Newest first, filtered by any of the given fields."""
    j = t.journal.c
    q = select(t.journal)
    if end:
        q = q.where(j.end == end)
    if operation:
        q = q.where(j.operation == operation)
    if status:
        q = q.where(j.status == status)
    if transaction_id:
        q = q.where(j.transaction_id == transaction_id)
    if before_id:
        q = q.where(j.id < before_id)
    rows = conn.execute(q.order_by(j.id.desc()).limit(max(1, min(limit, 10_000)))).all()
    return [_row(r, full=full) for r in rows]


def get(conn: Connection, exchange_id: int) -> dict[str, Any] | None:
    r = conn.execute(select(t.journal).where(t.journal.c.id == exchange_id)).first()
    return None if r is None else _row(r, full=True)


#: entries deleted per transaction when pruning (a long delete would hold the writers)
PRUNE_BATCH = 2000


def prune(conn: Connection, *, keep_days: int, now: datetime | None = None) -> int:
    """Delete up to :data:`PRUNE_BATCH` of the oldest entries recorded more than
    ``keep_days`` days ago (by the wall clock, not the virtual one); how many went."""
    cutoff = (now or datetime.now()) - timedelta(days=keep_days)
    j = t.journal.c
    oldest = (select(j.id).where(j.at < bindparam("cutoff")).order_by(j.id)
              .limit(PRUNE_BATCH).scalar_subquery())
    return int(conn.execute(delete(t.journal).where(j.id.in_(oldest)),
                            {"cutoff": cutoff}).rowcount or 0)
