"""The journal: every exchange on every end, both directions, with its XML.

Rows are written in the same transaction as the state change they describe, so the
journal never shows an exchange whose effect was rolled back (a failed request is
journaled on its own, after the rollback). A read changes nothing: its row is made when it
is answered (:func:`entry`) and written in a batch with others' (``Store.write(…,
wait=False)``), at most ~100 ms later; every reader of the journal settles the store first.
"""

from __future__ import annotations

import codecs
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lxml import etree
from sqlalchemy import Connection, bindparam, delete, func, insert, select

from emulator.storage import schema as t
from emulator.storage.prepared import Prepared
from oir_adapter.contracts import safe_parser
from oir_adapter.domain.model import mask_cprs


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
    """What was sent, as text every store can hold: decoded by its byte-order mark or
    XML declaration (a UTF-16 request read as UTF-8 was half NUL bytes), and any NUL left
    shown as ``␀`` (PostgreSQL text cannot hold NUL: the journal row was lost, or the
    request it recorded answered with a Server fault)."""
    return None if data is None else storable(_decoded(data))


def storable(text: str) -> str:
    """``text`` with NUL characters shown as ``␀`` (U+2400)."""
    return text.replace("\x00", "\u2400")


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
         (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
         (codecs.BOM_UTF16_BE, "utf-16-be"))  # UTF-32 LE's mark starts as UTF-16 LE's
_UNMARKED = {b"<\x00\x00\x00": "utf-32-le", b"\x00\x00\x00<": "utf-32-be",
             b"<\x00?\x00": "utf-16-le", b"\x00<\x00?": "utf-16-be"}
_DECLARED = re.compile(rb"""^<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9._-]{1,40})["']""")


def _decoded(data: bytes) -> str:
    for bom, name in _BOMS:
        if data.startswith(bom):
            return data[len(bom):].decode(name, errors="replace")
    unmarked = _UNMARKED.get(data[:4])
    if unmarked is not None:
        name = unmarked
    else:
        declared = _DECLARED.match(data[:300])
        name = declared.group(1).decode("ascii").lower() if declared else "utf-8"
        if name.startswith(("utf-16", "utf-32", "ucs")):  # declared, yet single bytes
            name = "utf-8"
    try:
        return data.decode(name, errors="replace")
    except LookupError:  # an encoding Python does not know
        return data.decode("utf-8", errors="replace")


_INSERT = Prepared(insert(t.journal))  # every request runs it (see prepared.py)


def record(conn: Connection, x: Exchange, *, virtual_at: datetime) -> int:
    return insert_entry(conn, entry(x, virtual_at=virtual_at))


def entry(x: Exchange, *, virtual_at: datetime) -> dict[str, Any]:
    """``x`` as its journal row, timed now (to be written now or in a later batch)."""
    return dict(
        at=datetime.now(), virtual_at=virtual_at, end=x.end, direction=x.direction,
        service=x.service, operation=x.operation, status=x.status, http_status=x.http_status,
        transaction_id=x.transaction_id, correlation=dict(x.correlation or {}),
        duration_ms=round((time.perf_counter() - x.started) * 1000, 3),
        request_xml=_text(x.request_xml), response_xml=_text(x.response_xml),
        summary=storable(x.summary or "")[:400] or None)


def insert_entry(conn: Connection, row: dict[str, Any]) -> int:
    """Write a row :func:`entry` made; its id."""
    return _INSERT.insert(conn, row)


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


def last_id(conn: Connection) -> int:
    """The newest entry's id (0 for an empty journal)."""
    return int(conn.execute(select(func.coalesce(func.max(t.journal.c.id), 0))).scalar_one())


def page_after(conn: Connection, after_id: int, up_to: int, *, limit: int = 500
               ) -> list[dict[str, Any]]:
    """Up to ``limit`` whole entries after ``after_id`` and up to ``up_to``, oldest first:
    a page of the export."""
    j = t.journal.c
    rows = conn.execute(select(t.journal).where(j.id > after_id, j.id <= up_to)
                        .order_by(j.id).limit(limit)).all()
    return [_row(r, full=True) for r in rows]


# ---------------------------------------------------------------- shown with CPRs masked

_CHAR_REF = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,6})|([0-9]{1,7}));")
_HIDING = re.compile(r"<!--.*?-->|<\?.*?\?>|<!\[CDATA\[|\]\]>", re.S)


def _as_read(text: str) -> str:
    """Text that is not well-formed XML as a parser would read its values: character
    references decoded; comments, processing instructions and CDATA markers gone."""
    def char(m: re.Match[str]) -> str:
        code = int(m.group(1), 16) if m.group(1) else int(m.group(2))
        return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF \
            else m.group()

    return _CHAR_REF.sub(char, _HIDING.sub("", text))


def mask_xml(text: str) -> str:
    """An exchange's XML with every CPR-shaped number masked (``DDMMYY-XXXX``) *after*
    decoding it, as the emulator read it: ``&#48;405871270``, a CDATA section, or a
    number split by a comment (``0405<!-- -->871270``) is the CPR number it reads as, and
    is masked like it. Well-formed XML is re-serialised (comments and processing
    instructions dropped: what was read, not what was sent); anything else is masked as
    text, read the same way."""
    try:
        root = etree.fromstring(text.encode("utf-8"), safe_parser())
    except (etree.XMLSyntaxError, ValueError):
        return mask_cprs(_as_read(text))
    return mask_cprs(etree.tostring(root, encoding="unicode"))


def masked(entry: dict[str, Any]) -> dict[str, Any]:
    """A journal entry (as :func:`query` or :func:`get` give it) with CPRs masked."""
    out = dict(entry)
    for key in ("request_xml", "response_xml"):
        if out.get(key):
            out[key] = mask_xml(out[key])
    if out.get("summary"):
        out["summary"] = mask_cprs(out["summary"])
    if out.get("transaction_id"):
        out["transaction_id"] = mask_cprs(out["transaction_id"])
    return out


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
