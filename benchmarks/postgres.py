"""PostgreSQL writers per account: run only when named, against a server of your own.

``OIR_BENCH_PG_URL=$(scripts/postgres.sh start) .venv/bin/python -m benchmarks postgres``

Writers on different debtor accounts take only their account's lock (``Store.write(…,
keys=…)``) instead of all waiting for one writers' lock. Measured through ``Store.write``
from several threads, each write holding its transaction a fixed time (``pg_sleep``: what
round trips to a database on another host or a commit's fsync cost), so the figure is
what the locks let run side by side, not the machine's CPU. The baseline is the same
writes without keys (the one writers' lock every write took before), in the same run.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url

from benchmarks.figures import Figure, size
from emulator.storage.store import Store, put_setting

#: threads writing at once: below the store's 15 pooled connections, so none waits for one
THREADS = 12
HOLD_SECONDS = 0.01


def run() -> list[Figure]:
    url = os.environ.get("OIR_BENCH_PG_URL")
    if not url:
        print("postgres: set OIR_BENCH_PG_URL (scripts/postgres.sh start prints one); skipped")
        return []
    writes = size(10, 3)
    with _database(url) as store:
        def rate(keys: Callable[[int], Sequence[str] | None]) -> float:
            return _writes_per_second(store, keys, writes)

        rate(lambda i: None)  # warm the pool and the server's caches
        unkeyed = rate(lambda i: None)
        spread = rate(lambda i: (f"account:{i}",))
        one = rate(lambda i: ("account:0",))
    held = (f"{THREADS} threads × {writes} writes, each holding its transaction "
            f"{HOLD_SECONDS * 1000:g} ms")
    return [
        Figure("postgres", f"writers on {THREADS} accounts, {held} (baseline: one writers' lock)",
               spread, "writes/s", unkeyed, "≥ 4×", higher_is_better=True,
               id="postgres.writers.per_account"),
        Figure("postgres", f"writers on one account, {held} (baseline: one writers' lock)",
               one, "writes/s", unkeyed, "≈ 1× (they take turns)", higher_is_better=True,
               id="postgres.writers.one_account"),
    ]


def _writes_per_second(store: Store, keys: Callable[[int], Sequence[str] | None],
                       writes: int) -> float:
    def writer(i: int) -> None:
        for n in range(writes):
            store.write(_one_write(i, n), keys=keys(i))

    started = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(writer, range(THREADS)))
    return THREADS * writes / (time.perf_counter() - started)


def _one_write(writer: int, n: int) -> Callable[[Connection], None]:
    """A write that holds its transaction :data:`HOLD_SECONDS` and changes a row of its
    writer's own."""
    def work(conn: Connection) -> None:
        conn.execute(text("SELECT pg_sleep(:s)"), {"s": HOLD_SECONDS})
        put_setting(conn, f"bench-{writer}", n)
    return work


@contextmanager
def _database(url: str) -> Iterator[Store]:
    """A fresh database on the server for the run (dropped afterwards), and its store."""
    server = make_url(url)
    name = f"oir_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    store = Store(server.set(database=name).render_as_string(hide_password=False))
    try:
        yield store
    finally:
        store.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
