"""Storage: one SQLAlchemy engine, one transaction per request, SQLite (WAL) or PostgreSQL.

``Store.transaction()`` yields a :class:`sqlalchemy.Connection` inside a transaction that
commits when the block ends and rolls back on any exception, so a request either lands
whole or leaves nothing. On SQLite every transaction starts ``BEGIN IMMEDIATE`` (one writer
at a time, no lock-upgrade deadlocks) and the file runs in WAL with ``synchronous=NORMAL``:
an accepted request survives the process being killed; a power cut may lose the last
commits (``synchronous=FULL``, one fsync per commit, is one setting away:
``OIR_SQLITE_SYNCHRONOUS=FULL``).

Several processes may share one database (``oir serve --workers N``, or several hosts on
PostgreSQL). On PostgreSQL a writing transaction may name *lock keys* (``Store.write(work,
keys=("account:100001", …))``): it then waits only for writers holding one of its keys, and
writers on other keys run beside it; one without keys waits for every other writer, as all
did before (see :func:`writer_locks_sql`). Work that must run once at a time — the clock's
day-by-day chain — takes :meth:`Store.exclusive`: a PostgreSQL session advisory lock, or on
SQLite an ``flock`` on a file next to the database. Counters and settings are written
race-free on both.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload
from urllib.parse import quote

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
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool, StaticPool

from emulator.storage import migrations
from emulator.storage import schema as t
from emulator.storage.prepared import Prepared

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql import Insert as PgInsert

DEFAULT_DB_PATH = Path("var") / "oir.sqlite3"


def pg_insert(table: Table) -> PgInsert:
    """PostgreSQL's ``INSERT`` (``ON CONFLICT …``): its dialect (~2 MB) is imported where
    it is used, not in every SQLite worker."""
    from sqlalchemy.dialects.postgresql import insert as dialect_insert

    return dialect_insert(table)


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
LOCK_WRITERS = 0x4F49_5203  # writers: shared by those with lock keys, else exclusive


T = TypeVar("T")
log = logging.getLogger("emulator.storage.store")


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

    def __init__(self, url: str | None = None, *, sqlite_synchronous: str = "NORMAL") -> None:
        self.url = url or default_url()
        self.sqlite_synchronous = sqlite_synchronous_level(sqlite_synchronous)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"future": True}
        if self.dialect == "sqlite":
            database = parsed.database or ""
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            # every transaction ends in an explicit commit or rollback, so the pool's own
            # rollback on each check-in is a wasted call
            kwargs["pool_reset_on_return"] = None
            if database in ("", ":memory:"):
                kwargs["poolclass"] = StaticPool  # one shared in-memory database
        else:
            kwargs["pool_pre_ping"] = True
            # Whatever the server's default: a writer's statements must each see what
            # committed before them, above all what the writer it waited for committed
            # (under REPEATABLE READ the view would be fixed while it waited for its lock).
            # Snapshots ask for REPEATABLE READ themselves.
            kwargs["isolation_level"] = "READ COMMITTED"
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.dialect == "sqlite":
            _sqlite_pragmas(self.engine, self.sqlite_synchronous)
        self._database = parsed.database or ""
        self._exclusive: dict[int, _Exclusive] = {}
        self._exclusive_guard = threading.Lock()
        self._writers = (self.exclusive(LOCK_WRITERS) if self.dialect == "sqlite"
                         and self._database not in ("", ":memory:") else None)
        self._group = (_GroupCommit(self) if self._writers is not None and _GROUP_COMMIT
                       else None)
        # what reads keep, batched (see write(wait=False)); the group commit batches it
        # itself; an in-memory database (one shared connection) writes it at once
        self._deferred = (_Deferred(self) if self._group is None and (
            self._writers is not None or self.dialect == "postgresql") else None)
        self._checkpoints = _Checkpointer(self) if self._writers is not None else None
        self._in_write = threading.local()  # this thread holds a writing transaction
        self._read_engine: Engine | None = None
        # snapshot connections kept open between reads (see snapshot()), by process
        self._idle_readers: list[Connection] = []
        self._readers_pid = os.getpid()
        if self._writers is not None:  # a SQLite file: snapshots on read-only connections
            self._read_engine = create_engine(
                "sqlite://", creator=lambda: sqlite3.connect(
                    f"file:{quote(str(Path(self._database).resolve()))}?mode=ro", uri=True,
                    check_same_thread=False, timeout=30),
                poolclass=QueuePool, pool_size=16, max_overflow=16, pool_reset_on_return=None)
            _sqlite_pragmas(self._read_engine, self.sqlite_synchronous)
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
        in it fails: on a SQLite file its connections are opened read-only (a pool of
        their own, so they keep their page cache and compiled statements: flipping
        ``PRAGMA query_only`` would expire every compiled statement each time); on
        PostgreSQL it is a ``REPEATABLE READ, READ ONLY`` transaction. An in-memory SQLite
        database has one shared connection: there it is an ordinary transaction."""
        if self.dialect == "sqlite" and self._database in ("", ":memory:"):
            with self.transaction() as shared:
                yield shared
            return
        if self._read_engine is not None:
            with self._reader() as conn, conn.begin():
                yield conn
            return
        with self.engine.connect().execution_options(oir_read_only=True) as conn, conn.begin():
            if self.dialect == "postgresql":
                # one view for the whole read, as a SQLite read transaction has (under READ
                # COMMITTED each statement would see the writes committed since the last)
                conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield conn

    @contextmanager
    def _reader(self) -> Iterator[Connection]:
        """A read-only connection to the SQLite file, kept open between snapshots: taking
        one from the pool and giving it back cost as much as the rest of a small read.
        Each is used by one snapshot at a time; a forked worker opens its own."""
        if self._readers_pid != os.getpid():
            self._idle_readers, self._readers_pid = [], os.getpid()  # the parent's stay
        try:
            conn = self._idle_readers.pop()
        except IndexError:
            assert self._read_engine is not None
            conn = self._read_engine.connect().execution_options(oir_read_only=True)
        try:
            yield conn
        except BaseException:
            conn.close()  # a failed read: its connection goes back to the pool
            raise
        self._idle_readers.append(conn)  # snapshot() ended its transaction

    def create_schema(self) -> None:
        """Create missing tables and bring older ones up to date (:mod:`.migrations`).
        Several workers start at once, so they take turns: under an advisory lock on
        PostgreSQL (two concurrent ``CREATE TABLE`` of one name would otherwise fail in
        the second), under the writers' lock on a SQLite file."""
        with self._writers or nullcontext(), self.engine.begin() as conn:
            if self.dialect == "postgresql":
                advisory_lock(conn, LOCK_SCHEMA)
            t.metadata.create_all(conn)
            security_metadata.create_all(conn)
            applied = migrations.upgrade(conn)
            if applied:
                log.info("database brought up to date: %s", ", ".join(applied))

    @contextmanager
    def transaction(self, keys: Sequence[str] | None = None) -> Iterator[Connection]:
        """One unit of work: commit at the end of the block, roll back on error.

        On a SQLite file, writers queue on a lock of their own (threads, then processes
        through ``flock``) before ``BEGIN IMMEDIATE``: SQLite's busy handler would
        otherwise make them poll with sleeps of up to 100 ms, which under load turns
        milliseconds of work into seconds of waiting.

        ``keys`` (PostgreSQL; elsewhere one writer runs at a time anyway): the lock keys
        that cover everything the work reads to decide and everything it writes, e.g.
        ``("account:100001", "tid:…")``. The transaction then waits only for writers
        holding one of them (or none: ``()``), while those without keys still wait for
        every other writer and every other writer for them. Give keys only where the work
        is proven to touch nothing a writer with other keys could change (see
        :func:`writer_locks_sql`)."""
        if self._writers is None and self.dialect != "postgresql":
            with self.engine.begin() as conn:  # one shared in-memory SQLite connection
                yield conn
            return
        if self._checkpoints is not None:
            self._checkpoints.ensure_running()
        if getattr(self._in_write, "active", False) or (
                self._group is not None and self._group.is_current_thread()):
            raise RuntimeError("a second writing transaction inside a writing transaction of "
                               "the same thread would wait for itself (one writer at a time)")
        # Writers take turns: on a SQLite file behind the writers' lock, on PostgreSQL
        # behind transaction-level advisory locks, the first statement of the
        # transaction. Side by side under READ COMMITTED, two requests would read a
        # claim's remainder, both subtract their payment and the second overwrite the
        # first: money lost. Taking turns gives every request the state its predecessor
        # left, across workers and hosts (each later statement sees what committed before
        # it; a lock is released only after its holder's commit is visible). On
        # PostgreSQL only writers that share a key take turns; reads (snapshots) run
        # beside them all.
        with self._writers or nullcontext(), self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.exec_driver_sql(writer_locks_sql(keys))
            self._in_write.active = True
            try:
                yield conn
            finally:
                self._in_write.active = False

    @overload
    def write(self, work: Callable[[Connection], T], *,
              keys: Sequence[str] | None = None) -> T: ...

    @overload
    def write(self, work: Callable[[Connection], T], *, wait: bool,
              keys: Sequence[str] | None = None) -> T | None: ...

    def write(self, work: Callable[[Connection], T], *, wait: bool = True,
              keys: Sequence[str] | None = None) -> T | None:
        """Run ``work`` in a writing transaction and return what it returns, once that
        transaction is committed; if ``work`` raises, nothing of it is kept.

        ``wait=False`` is for what a *read* keeps (its journal entry): the work is queued
        and the caller answers at once. Queued work is committed in batches: when
        :data:`DEFERRED_ROWS` are waiting, :data:`DEFERRED_SECONDS` after the first was
        queued, or ahead of the next write, whichever comes first (a crash in between
        loses at most that much, never a state change). :meth:`settle` commits it now:
        every reader of the journal calls it first, and :meth:`dispose` does.

        On a SQLite file the writes of concurrent requests are *group-committed*: one
        thread of this process runs them one after another in a single transaction (each
        under a savepoint of its own, so one failing undoes only itself) and commits them
        together: one lock, one commit, one fsync for the lot. Each caller still gets its
        answer only after the commit, so accepted still means durable. Elsewhere (one
        shared in-memory SQLite, PostgreSQL with its many writers) it is an ordinary
        :meth:`transaction`, with ``keys`` as there (SQLite ignores them).

        Work queued with ``wait=False`` runs under the shared writers' lock alone (like
        ``keys=()``): it may only add rows nobody else reads to decide, as a journal
        entry."""
        if self._group is None:
            if self._deferred is not None:
                if not wait:
                    self._deferred.add(work)
                    return None
                self._deferred.flush()  # what reads queued lands before this write
            with self.transaction(keys) as conn:
                return work(conn)
        assert self._checkpoints is not None  # a group commit means a SQLite file
        self._checkpoints.ensure_running()
        return self._group.submit(work, wait=wait)

    def settle(self) -> None:
        """Wait until every write of this process queued so far is committed (the records
        reads leave to be written in batches included)."""
        if self._group is not None:
            self._group.drain()
        if self._deferred is not None:
            self._deferred.flush()

    @contextmanager
    def settled(self) -> Iterator[Connection]:
        """A transaction that sees every write this process has queued, the records that
        reads leave to be committed included: what the journal's views open."""
        self.settle()
        with self.transaction() as conn:
            yield conn

    def reset(self) -> None:
        """Empty every table (schema stays)."""
        self.settle()  # no record queued before the reset lands after it
        with self.transaction() as conn:
            for table in reversed(t.metadata.sorted_tables):
                conn.execute(delete(table))
            standing_changed(conn)  # the clock and the armed faults are gone

    def dispose(self) -> None:
        if self._group is not None:
            self._group.stop()
        if self._deferred is not None:
            self._deferred.stop()
        if self._checkpoints is not None:
            self._checkpoints.stop()
        if self._read_engine is not None:
            while self._idle_readers:
                self._idle_readers.pop().close()
            self._read_engine.dispose()
        for lock in list(self._exclusive.values()):
            lock.close()
        self.engine.dispose()


class _Daemon:
    """A daemon thread started on first use in each process: gunicorn forks its workers
    after the store exists, and a thread does not survive a fork. ``loop(wake, stop)``
    runs on it; :meth:`stop` sets both events and joins it."""

    def __init__(self, name: str, loop: Callable[[threading.Event, threading.Event], None]
                 ) -> None:
        self._name = name
        self._loop = loop
        self.wake = threading.Event()
        self._stop = threading.Event()
        self.thread: threading.Thread | None = None
        self._pid = 0
        self._guard = threading.Lock()

    def running_here(self) -> bool:
        return self._pid == os.getpid()

    def ensure(self) -> None:
        if self._pid == os.getpid():
            return
        with self._guard:
            if self._pid != os.getpid():
                self.wake, self._stop = threading.Event(), threading.Event()
                self.thread = threading.Thread(target=self._loop, args=(self.wake, self._stop),
                                               name=self._name, daemon=True)
                self._pid = os.getpid()
                self.thread.start()

    def stop(self) -> None:
        thread = self.thread
        if thread is not None and self._pid == os.getpid() and thread.is_alive():
            self._stop.set()
            self.wake.set()
            thread.join(timeout=10)
        self._pid = 0


class _Job:
    """One caller's work waiting for the group commit."""

    __slots__ = ("work", "attached", "wake", "finished", "lead", "result", "error")

    def __init__(self, work: Callable[[Connection], Any], attached: bool = True) -> None:
        self.work = work
        self.attached = attached  # its caller waits for it (else: committed by a leader)
        self.wake = threading.Event()
        self.finished = False  # committed (or failed): result or error is set
        self.lead = False  # woken to lead the next batch instead
        self.result: Any = None
        self.error: BaseException | None = None


def _nothing(_conn: Connection) -> None:
    """What :meth:`_GroupCommit.drain` queues: a marker that needs no transaction."""


class _GroupCommit:
    """Group commit behind :meth:`Store.write` on a SQLite file, led by the callers.

    SQLite has one writer at a time, and a commit costs a lock (and under ``synchronous=FULL``
    an fsync) whatever it holds, so under load most of a write's time is queueing for the lock and
    the disk. Here writers queue in memory instead. A caller that finds no batch running
    leads: it takes everything waiting (up to :attr:`MAX_BATCH`, its own work first),
    runs it under the writers' lock, commits once and wakes each caller with its own
    result or exception. Whoever arrived meanwhile waits; when the leader's own work is
    done it hands the lead to the first of them. A lone writer therefore runs its work on
    its own thread, with no hand-over at all."""

    MAX_BATCH = 64

    def __init__(self, store: Store) -> None:
        self._store = store
        self._mutex = threading.Lock()
        self._waiting: list[_Job] = []
        self._leading = False
        self._local = threading.local()
        # The leaders' connection, kept between batches: checking one out of the pool and
        # back for every batch cost more than the statements of a small write. Only the
        # leader of the moment uses it.
        self._conn: Connection | None = None
        self._deferred = 0  # jobs in _waiting nobody waits for (what reads keep)
        # commits work nobody waits for, DEFERRED_SECONDS after the first of it was queued
        # or once DEFERRED_ROWS of it wait, unless a leader's batch took it first
        self._sweeper = _Daemon("oir-write-sweeper", self._sweep)
        self._hurry = threading.Event()
        self.commits = 0  # batches committed (or tried) by this process: for tests

    def _sweep(self, wake: threading.Event, stop: threading.Event) -> None:
        while True:
            wake.wait()  # the first deferred job since the last sweep
            wake.clear()
            if stop.is_set():
                return
            self._hurry.wait(DEFERRED_SECONDS)  # …or DEFERRED_ROWS of them
            self._hurry.clear()
            if not self._deferred:
                continue  # a leader's batch took them
            try:
                self.drain()
            except Exception:  # a failed batch is logged per job; try again next time
                log.exception("sweeping queued writes failed")

    def drain(self) -> None:
        """Return once everything queued before is committed: a no-op write queued behind
        it (batches are committed in order) leads, or waits behind the leader."""
        self.submit(_nothing)

    def is_current_thread(self) -> bool:
        """Whether this thread is running a batch (a nested write would wait for itself)."""
        return bool(getattr(self._local, "running", False))

    def submit(self, work: Callable[[Connection], T], *, wait: bool = True) -> T | None:
        if self.is_current_thread():
            raise RuntimeError("Store.write() called from inside a group-committed write")
        job = _Job(work, attached=wait)
        if not wait:  # the caller answers now; a leader's batch or the sweeper commits it
            self._sweeper.ensure()
            with self._mutex:
                self._waiting.append(job)
                self._deferred += 1
                if self._deferred == 1:
                    self._sweeper.wake.set()
                if self._deferred >= DEFERRED_ROWS:
                    self._hurry.set()
            return None
        with self._mutex:
            self._waiting.append(job)
            lead = not self._leading
            self._leading = True
        while not lead:
            job.wake.wait()
            job.wake.clear()
            if job.finished:
                break
            lead = job.lead
        if not job.finished:
            self._lead(job)
        if job.error is not None:
            raise job.error
        return job.result

    def _lead(self, own: _Job) -> None:
        """Run batches until ``own`` is committed, then pass the lead to a caller that
        waits, or give it up, whatever happens meanwhile: a lead never handed on would
        stop every writer."""
        handed = False
        try:
            while True:
                with self._mutex:
                    if own.finished:
                        handed = self._hand_over()
                        return
                    batch = self._waiting[:self.MAX_BATCH + 1]
                    if len(batch) > self.MAX_BATCH and batch[-1].work is not _nothing:
                        batch.pop()  # MAX_BATCH jobs, and a drain's marker behind them
                    del self._waiting[:len(batch)]
                    self._deferred -= sum(1 for job in batch if not job.attached)
                self._local.running = True
                try:
                    self._commit(batch)
                finally:
                    self._local.running = False
                    for job in batch:
                        if job is not own:
                            if job.attached:
                                job.wake.set()
                            elif job.error is not None:
                                log.error("a write nobody waited for failed: %r", job.error)
        finally:
            if not handed:  # an exception escaped: never leave the lead with nobody
                with self._mutex:
                    self._hand_over()

    def _hand_over(self) -> bool:
        """Under the mutex: give the lead to the first waiting caller, else give it up;
        work nobody waits for that is still queued is left to the sweeper, whose timer
        runs since the first of it was queued (a leader that kept committing it would keep
        its own caller waiting as long as reads arrive)."""
        if not self._leading:
            return True
        successor = next((job for job in self._waiting if job.attached), None)
        if successor is not None:
            successor.lead = True
            successor.wake.set()
            return True
        self._leading = False
        return True

    def stop(self) -> None:
        """Commit what is queued, stop the sweeper, close the leaders' connection."""
        if self._waiting and not self._leading:
            self.drain()
        self._hurry.set()
        self._sweeper.stop()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _connection(self) -> Connection:
        conn = self._conn
        if conn is None or conn.closed or conn.invalidated:
            conn = self._conn = self._store.engine.connect()
        return conn

    def _commit(self, batch: list[_Job]) -> None:
        if all(job.work is _nothing for job in batch):  # drains only: nothing to commit
            for job in batch:
                job.finished = True
            return
        store = self._store
        alone = len(batch) == 1
        try:
            assert store._writers is not None
            with store._writers:
                conn = self._connection()
                try:
                    self._run_batch(conn, batch, alone)
                except BaseException:
                    if conn.invalidated:  # a broken connection is not kept
                        self._conn = None
                        conn.close()
                    raise
        except BaseException as exc:  # the commit (or the lock) failed: nothing was kept
            for job in batch:
                if job.error is None:
                    job.error = exc
                    job.result = None
        finally:
            self.commits += 1
            for job in batch:
                job.finished = True

    @staticmethod
    def _run_batch(conn: Connection, batch: list[_Job], alone: bool) -> None:
        """One transaction for the batch: each job under a savepoint of its own (a lone
        job needs none: its exception rolls the transaction back)."""
        with conn.begin():
            raw: Any = conn.connection.driver_connection
            for job in batch:
                if alone:
                    try:
                        job.result = job.work(conn)
                    except BaseException as exc:
                        job.error = exc
                        raise
                    continue
                raw.execute("SAVEPOINT oir_write")
                try:
                    job.result = job.work(conn)
                except BaseException as exc:  # undo this one, keep the others
                    job.error = exc
                    raw.execute("ROLLBACK TO oir_write")
                raw.execute("RELEASE oir_write")


class _Deferred:
    """What reads keep, batched, where there is no group commit (PostgreSQL; a SQLite file
    with ``OIR_GROUP_COMMIT=0``): queued in memory and committed in one transaction (each
    job under a savepoint of its own) once :data:`DEFERRED_ROWS` wait,
    :data:`DEFERRED_SECONDS` after the first was queued, or when :meth:`flush` is called
    (before a write, by :meth:`Store.settle`, at :meth:`Store.dispose`)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._mutex = threading.Lock()
        self._flushing = threading.Lock()  # one flush at a time, in queue order
        self._queued: list[Callable[[Connection], Any]] = []
        self._daemon = _Daemon("oir-deferred-writes", self._run)
        self._hurry = threading.Event()
        self.commits = 0  # batches committed (or tried) by this process: for tests

    def add(self, work: Callable[[Connection], Any]) -> None:
        self._daemon.ensure()
        with self._mutex:
            self._queued.append(work)
            if len(self._queued) == 1:
                self._daemon.wake.set()
            if len(self._queued) >= DEFERRED_ROWS:
                self._hurry.set()

    def flush(self) -> None:
        """Commit everything queued so far (no-op when nothing is)."""
        if not self._queued:
            return
        with self._flushing:
            with self._mutex:
                batch, self._queued = self._queued, []
            if not batch:
                return
            try:
                # journal rows: they touch nothing another writer reads, so the batch
                # runs beside keyed writers (keys=()) instead of stopping them all
                with self._store.transaction(keys=()) as conn:
                    for work in batch:
                        try:
                            with conn.begin_nested():
                                work(conn)
                        except Exception as exc:  # undo this one, keep the others
                            log.error("a write nobody waited for failed: %r", exc)
            except Exception:
                log.exception("committing %d queued writes failed", len(batch))
            finally:
                self.commits += 1

    def _run(self, wake: threading.Event, stop: threading.Event) -> None:
        while True:
            wake.wait()
            wake.clear()
            if stop.is_set():
                return
            self._hurry.wait(DEFERRED_SECONDS)
            self._hurry.clear()
            self.flush()

    def stop(self) -> None:
        self.flush()
        self._hurry.set()
        self._daemon.stop()


class _Checkpointer:
    """Copies the WAL back into a SQLite file from a thread of its own, every
    :attr:`INTERVAL` seconds.

    SQLite's automatic checkpoint runs inside the commit that crosses its threshold, under
    the write lock, with an fsync of the whole database file: every few hundred requests
    one of them (and every writer queued behind it) waited tens of milliseconds. A passive
    checkpoint here takes no write lock; writers carry on while it copies."""

    INTERVAL = 0.5

    def __init__(self, store: Store) -> None:
        self._store = store
        self._daemon = _Daemon("oir-checkpoint", self._run)

    @property
    def _thread(self) -> threading.Thread | None:
        return self._daemon.thread

    def ensure_running(self) -> None:
        self._daemon.ensure()

    def stop(self) -> None:
        self._daemon.stop()

    def _run(self, _wake: threading.Event, stop: threading.Event) -> None:
        connection = sqlite3.connect(self._store._database, timeout=30,
                                     check_same_thread=False, isolation_level=None)
        try:
            while not stop.wait(self.INTERVAL):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:  # busy or gone: the next round tries again
                    continue
        finally:
            connection.close()


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


def lock_ids(keys: Iterable[str]) -> list[tuple[int, int]]:
    """Each lock key as the two signed 32-bit ints of a two-key PostgreSQL advisory lock,
    sorted, without repeats.

    The ints are the first 8 bytes of the key's SHA-256: the same in every process and on
    every host (Python's ``hash`` of a string is salted per process). Two keys with the
    same ints would only take turns needlessly. Two-key advisory locks are a key space
    apart from the one-key ``LOCK_*`` locks, so a key can never collide with those. Sorted,
    every writer takes its keys in one order: two writers never each hold a key the other
    waits for (no deadlock)."""
    ids: set[tuple[int, int]] = set()
    for key in keys:
        digest = hashlib.sha256(key.encode("utf-8")).digest()
        ids.add((int.from_bytes(digest[:4], "big", signed=True),
                 int.from_bytes(digest[4:8], "big", signed=True)))
    return sorted(ids)


def writer_locks_sql(keys: Sequence[str] | None) -> str:
    """The statement a PostgreSQL writing transaction begins with: the locks it waits for.

    Without keys (``None``), :data:`LOCK_WRITERS` exclusively: it waits for every other
    writer and every other waits for it (the clock's chain, PSRM's intake and receipts,
    the admin API, every operation whose footprint is not proven to lie within keys).
    With keys, :data:`LOCK_WRITERS` *shared* (beside every other keyed writer, never
    beside an unkeyed one), then each key's lock exclusively, in :func:`lock_ids` order:
    it waits only for the writers holding one of its keys. The shared lock comes first:
    a writer holding a key while queued behind an unkeyed one that waits for the holders
    of the shared lock would close a circle. All in one statement (the target list is
    evaluated left to right), one round trip; every lock is held until the transaction
    ends. The ints are computed here, never taken from a request, so they are written
    into the text."""
    if keys is None:
        return f"SELECT pg_advisory_xact_lock({LOCK_WRITERS})"
    locks = [f"pg_advisory_xact_lock_shared({LOCK_WRITERS})"]
    locks += [f"pg_advisory_xact_lock({high}, {low})" for high, low in lock_ids(keys)]
    return "SELECT " + ", ".join(locks)


def advisory_lock(conn: Connection, key: int) -> None:
    """Hold a PostgreSQL transaction-level advisory lock on ``key`` until the transaction
    ends (other dialects: nothing; SQLite's ``BEGIN IMMEDIATE`` already serialises)."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(key)))


#: SQLite's ``synchronous`` levels a store accepts (``EmulatorConfig.sqlite_synchronous``):
#: NORMAL (default) fsyncs only at checkpoints in WAL mode, so a commit survives the process
#: being killed (the crash test holds) but a power cut may lose the last commits; FULL
#: fsyncs every commit, so an accepted request survives a power cut too; EXTRA also fsyncs
#: the directory.
SQLITE_SYNCHRONOUS = ("NORMAL", "FULL", "EXTRA")


def sqlite_synchronous_level(value: str) -> str:
    """``value`` as a ``PRAGMA synchronous`` level, or ``ValueError``."""
    level = value.strip().upper()
    if level not in SQLITE_SYNCHRONOUS:
        raise ValueError(f"{value!r} is not one of {', '.join(SQLITE_SYNCHRONOUS)}")
    return level


#: What reads keep (``Store.write(…, wait=False)``) is committed once this many jobs wait…
DEFERRED_ROWS = 64
#: … or this many seconds after the first of them was queued, whichever comes first.
DEFERRED_SECONDS = 0.1

#: ``OIR_GROUP_COMMIT=0`` runs each write in its own transaction on the caller's thread.
_GROUP_COMMIT = os.environ.get("OIR_GROUP_COMMIT", "1").strip() not in ("0", "false", "no")


def _sqlite_pragmas(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_connection.cursor()
        if cur.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA mmap_size=1073741824")
        # checkpoints are run by Store's own thread (see _Checkpointer), not by a commit
        cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get("oir_read_only")
        # on the driver: every request begins a transaction, and SQLAlchemy's execution
        # path costs several times what the statement does
        conn.connection.driver_connection.execute(  # type: ignore[union-attr]
            "BEGIN" if read_only else "BEGIN IMMEDIATE")


# ---------------------------------------------------------------- small shared tables

# Statements built once: SQLAlchemy then only looks up the compiled form (~20 µs a call
# instead of ~60 µs for a statement made afresh with literal values).
_COUNTER = Prepared(select(t.counters.c.value).where(t.counters.c.name == bindparam("name"))
                    .with_for_update())
_COUNTER_NEW = Prepared(insert(t.counters))
_COUNTER_SET = Prepared(update(t.counters).where(t.counters.c.name == bindparam("name_"))
                        .values(value=bindparam("value")))
_SETTING = Prepared(select(t.settings.c.value).where(t.settings.c.key == bindparam("key")))
_SETTING_KEY = Prepared(select(t.settings.c.key).where(t.settings.c.key == bindparam("key")))
_SETTING_NEW = Prepared(insert(t.settings))
_SETTING_SET = Prepared(update(t.settings).where(t.settings.c.key == bindparam("key_"))
                        .values(value=bindparam("value")))


def next_number(conn: Connection, name: str, start: int = 1) -> int:
    """The next value of a named counter (gap-free within committed transactions).

    On PostgreSQL two transactions may both find no row for a new counter; the row is
    created with ``ON CONFLICT DO NOTHING`` first, so the second waits on the first's row
    lock instead of failing on the primary key."""
    if conn.dialect.name == "postgresql":
        conn.execute(pg_insert(t.counters).values(name=name, value=start - 1)
                     .on_conflict_do_nothing(index_elements=[t.counters.c.name]))
    row = _COUNTER.first(conn, {"name": name})
    if row is None:
        _COUNTER_NEW.run(conn, {"name": name, "value": start})
        return start
    value = int(row[0]) + 1
    _COUNTER_SET.run(conn, {"name_": name, "value": value})
    return value


def get_setting(conn: Connection, key: str, default: Any = None) -> Any:
    row = _SETTING.first(conn, {"key": key})
    return default if row is None else row[0]


#: The setting that changes (to a fresh random token) whenever the clock or the armed
#: faults do: what every request asks first, so it can keep both in memory between changes
#: (``emulator.soap.standing``). A token, not a counter: a reset empties the settings and
#: a counter would start again at a value a cache has seen; a restored state brings the
#: token that went with its clock and faults.
STANDING_VERSION = "standing_version"


def standing_changed(conn: Connection) -> None:
    """Note, in ``conn``'s transaction, that the clock or the armed faults changed."""
    put_setting(conn, STANDING_VERSION, uuid.uuid4().hex)


#: Settings held in memory between changes (the reference tables a scenario installs):
#: writing one changes the standing version too, which is what tells every worker and
#: host that what it holds is out of date (see ``Runtime.claim_types``).
HELD_SETTINGS = frozenset({"claim_types", "benefit_rules"})


def put_setting(conn: Connection, key: str, value: Any) -> None:
    if key in HELD_SETTINGS:
        standing_changed(conn)
    if conn.dialect.name == "postgresql":  # one statement: no race on a new key
        stmt = pg_insert(t.settings).values(key=key, value=value)
        conn.execute(stmt.on_conflict_do_update(index_elements=[t.settings.c.key],
                                                set_={"value": stmt.excluded.value}))
        return
    if _SETTING_KEY.first(conn, {"key": key}) is None:
        _SETTING_NEW.run(conn, {"key": key, "value": value})
    else:
        _SETTING_SET.run(conn, {"key_": key, "value": value})
