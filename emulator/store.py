"""Storage: one SQLAlchemy engine, one transaction per request, SQLite (WAL) or PostgreSQL.

``Store.transaction()`` yields a :class:`sqlalchemy.Connection` inside a transaction that
commits when the block ends and rolls back on any exception, so a request either lands
whole or leaves nothing. On SQLite every transaction starts ``BEGIN IMMEDIATE`` (one writer
at a time, no lock-upgrade deadlocks) and the file runs in WAL with ``synchronous=FULL``:
accepted means durable (``OIR_SQLITE_SYNC=NORMAL`` trades power-cut durability for speed).

Several processes may share one database (``oir serve --workers N``, or several hosts on
PostgreSQL). Work that must run once at a time — the clock's day-by-day chain — takes
:meth:`Store.exclusive`: a PostgreSQL session advisory lock, or on SQLite an ``flock`` on
a file next to the database. Counters and settings are written race-free on both.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from . import tables as t

DEFAULT_DB_PATH = Path("var") / "oir.sqlite3"

#: Tables of the access layer, kept apart from the business schema (``tables.metadata``)
#: so a reset of the emulator's state does not forget which WS-Security nonces were seen.
security_metadata = MetaData()
wsse_nonces = Table(
    "wsse_nonces", security_metadata,
    Column("nonce", String(200), primary_key=True),
    Column("seen", DateTime, nullable=False, index=True),
)

#: Advisory lock keys (PostgreSQL): one per kind of work that must not run twice at once.
LOCK_SCHEMA = 0x4F49_5201
LOCK_CHAIN = 0x4F49_5202
LOCK_WRITERS = 0x4F49_5203  # SQLite only: one writing transaction at a time


def default_url() -> str:
    return f"sqlite:///{DEFAULT_DB_PATH}"


def to_ore(amount: Decimal) -> int:
    """Decimal kroner → integer øre, exactly (amounts are øre-exact by construction)."""
    ore = amount * 100
    if ore != ore.to_integral_value():
        raise ValueError(f"{amount} is not a whole number of øre")
    return int(ore)


def from_ore(ore: int) -> Decimal:
    return (Decimal(ore) / 100).quantize(Decimal("0.01"))


class Store:
    """The emulator's database: schema creation, transactions, reset."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url or default_url()
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"future": True}
        if self.dialect == "sqlite":
            database = parsed.database or ""
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            if database in ("", ":memory:"):
                kwargs["poolclass"] = StaticPool  # one shared in-memory database
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.dialect == "sqlite":
            _sqlite_pragmas(self.engine)
        self._database = parsed.database or ""
        self._exclusive: dict[int, _Exclusive] = {}
        self._exclusive_guard = threading.Lock()
        self._writers = (self.exclusive(LOCK_WRITERS) if self.dialect == "sqlite"
                         and self._database not in ("", ":memory:") else None)
        self.create_schema()

    def exclusive(self, key: int) -> _Exclusive:
        """A lock on ``key`` held across every thread and process using this database
        (re-entrant within a thread): ``with store.exclusive(LOCK_CHAIN): …``."""
        with self._exclusive_guard:
            found = self._exclusive.get(key)
            if found is None:
                found = self._exclusive[key] = _Exclusive(self, key)
            return found

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read-only transaction: a consistent view that takes no write lock, so reads
        run side by side with each other and with a writer (SQLite in WAL mode). Writing
        in it fails (``PRAGMA query_only`` / ``SET TRANSACTION READ ONLY``). An in-memory
        SQLite database has one shared connection: there it is an ordinary transaction."""
        if self.dialect == "sqlite" and self._database in ("", ":memory:"):
            with self.transaction() as shared:
                yield shared
            return
        with self.engine.connect().execution_options(oir_read_only=True) as conn:
            raw: Any = conn.connection.driver_connection  # pragmas outside any transaction
            if self.dialect == "sqlite":
                raw.execute("PRAGMA query_only=1")
            try:
                with conn.begin():
                    if self.dialect == "postgresql":
                        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                    yield conn
            finally:
                if self.dialect == "sqlite":
                    raw.execute("PRAGMA query_only=0")

    def create_schema(self) -> None:
        """Create missing tables. On PostgreSQL several workers start at once, so they
        take turns under an advisory lock (two concurrent ``CREATE TABLE`` of one name
        would otherwise fail in the second)."""
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                advisory_lock(conn, LOCK_SCHEMA)
            t.metadata.create_all(conn)
            security_metadata.create_all(conn)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One unit of work: commit at the end of the block, roll back on error.

        On a SQLite file, writers queue on a lock of their own (threads, then processes
        through ``flock``) before ``BEGIN IMMEDIATE``: SQLite's busy handler would
        otherwise make them poll with sleeps of up to 100 ms, which under load turns
        milliseconds of work into seconds of waiting."""
        if self._writers is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._writers, self.engine.begin() as conn:
            yield conn

    def reset(self) -> None:
        """Empty every table (schema stays)."""
        with self.transaction() as conn:
            for table in reversed(t.metadata.sorted_tables):
                conn.execute(delete(table))

    def dispose(self) -> None:
        for lock in list(self._exclusive.values()):
            lock.close()
        self.engine.dispose()


class _Exclusive:
    """One cross-process lock: a thread lock in this process, then the database's own
    (PostgreSQL advisory lock on a connection of its own, held outside any transaction,
    released if the process dies) or an ``flock`` beside a SQLite file."""

    def __init__(self, store: Store, key: int) -> None:
        self.store = store
        self.key = key
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._conn: Connection | None = None
        self._fd: int | None = None  # the lock file while the lock is held
        self._file: int | None = None  # the lock file, kept open between uses

    def __enter__(self) -> _Exclusive:
        self._thread_lock.acquire()
        try:
            if self._depth == 0:
                self._acquire()
        except BaseException:
            self._thread_lock.release()
            raise
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._depth -= 1
            if self._depth == 0:
                self._release()
        finally:
            self._thread_lock.release()

    def _acquire(self) -> None:
        store = self.store
        if store.dialect == "postgresql":
            conn = store.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                conn.execute(select(func.pg_advisory_lock(self.key)))
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        elif store.dialect == "sqlite" and store._database not in ("", ":memory:"):
            if self._file is None:  # opened once: an open() per lock costs more than flock
                path = f"{store._database}.lock-{self.key:x}"
                self._file = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self._file, fcntl.LOCK_EX)
            self._fd = self._file

    def _release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.execute(select(func.pg_advisory_unlock(self.key)))
            finally:
                conn.close()  # closing alone would keep a pooled session's lock
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._thread_lock:
            if self._file is not None:
                os.close(self._file)
                self._file = None


def lock_key(*parts: str) -> int:
    """A PostgreSQL advisory lock key (signed 64 bits) for a tuple of strings."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def advisory_lock(conn: Connection, key: int) -> None:
    """Hold a PostgreSQL transaction-level advisory lock on ``key`` until the transaction
    ends (other dialects: nothing; SQLite's ``BEGIN IMMEDIATE`` already serialises)."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(key)))


def try_advisory_lock(conn: Connection, key: int) -> bool:
    """Take the advisory lock on ``key`` for this transaction if it is free; True if taken
    (always True off PostgreSQL)."""
    if conn.dialect.name != "postgresql":
        return True
    return bool(conn.execute(select(func.pg_try_advisory_xact_lock(key))).scalar_one())


#: ``OIR_SQLITE_SYNC``: FULL (default) fsyncs every commit, so an accepted request survives
#: a power cut; NORMAL fsyncs only at checkpoints in WAL mode: a commit still survives the
#: process being killed (the crash test holds), not the machine losing power.
_SQLITE_SYNC = os.environ.get("OIR_SQLITE_SYNC", "FULL").strip().upper()
if _SQLITE_SYNC not in ("FULL", "NORMAL", "EXTRA"):
    raise ValueError(f"OIR_SQLITE_SYNC: {_SQLITE_SYNC!r} is not FULL, NORMAL or EXTRA")


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={_SQLITE_SYNC}")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get("oir_read_only")
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


# ---------------------------------------------------------------- small shared tables

# Statements built once: SQLAlchemy then only looks up the compiled form (~20 µs a call
# instead of ~60 µs for a statement made afresh with literal values).
_COUNTER = (select(t.counters.c.value).where(t.counters.c.name == bindparam("name"))
            .with_for_update())
_COUNTER_NEW = insert(t.counters)
_COUNTER_SET = update(t.counters).where(t.counters.c.name == bindparam("name_")).values(
    value=bindparam("value"))
_SETTING = select(t.settings.c.value).where(t.settings.c.key == bindparam("key"))
_SETTING_KEY = select(t.settings.c.key).where(t.settings.c.key == bindparam("key"))
_SETTING_NEW = insert(t.settings)
_SETTING_SET = update(t.settings).where(t.settings.c.key == bindparam("key_")).values(
    value=bindparam("value"))


def next_number(conn: Connection, name: str, start: int = 1) -> int:
    """The next value of a named counter (gap-free within committed transactions).

    On PostgreSQL two transactions may both find no row for a new counter; the row is
    created with ``ON CONFLICT DO NOTHING`` first, so the second waits on the first's row
    lock instead of failing on the primary key."""
    if conn.dialect.name == "postgresql":
        conn.execute(pg_insert(t.counters).values(name=name, value=start - 1)
                     .on_conflict_do_nothing(index_elements=[t.counters.c.name]))
    row = conn.execute(_COUNTER, {"name": name}).first()
    if row is None:
        conn.execute(_COUNTER_NEW, {"name": name, "value": start})
        return start
    value = int(row[0]) + 1
    conn.execute(_COUNTER_SET, {"name_": name, "value": value})
    return value


def get_setting(conn: Connection, key: str, default: Any = None) -> Any:
    row = conn.execute(_SETTING, {"key": key}).first()
    return default if row is None else row[0]


def put_setting(conn: Connection, key: str, value: Any) -> None:
    if conn.dialect.name == "postgresql":  # one statement: no race on a new key
        stmt = pg_insert(t.settings).values(key=key, value=value)
        conn.execute(stmt.on_conflict_do_update(index_elements=[t.settings.c.key],
                                                set_={"value": stmt.excluded.value}))
        return
    if conn.execute(_SETTING_KEY, {"key": key}).first() is None:
        conn.execute(_SETTING_NEW, {"key": key, "value": value})
    else:
        conn.execute(_SETTING_SET, {"key_": key, "value": value})
