"""The emulator store's fast paths: group commit, driver-level statements, the WAL
checkpoint thread, and the gunicorn worker that spreads connections.

Everything here runs on a SQLite file in ``tmp_path`` (the in-memory database has none of
these paths), without a server.
"""

from __future__ import annotations

import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from gunicorn.workers.gthread import ThreadWorker
from sqlalchemy import Connection, Row, bindparam, insert, select, text, update
from sqlalchemy.exc import IntegrityError

import emulator.serving.balanced_worker as balanced_worker
import emulator.storage.store as store_module
from emulator.serving.balanced_worker import DEFER_SECONDS, BalancedThreadWorker
from emulator.storage import schema as t
from emulator.storage.prepared import Prepared
from emulator.storage.store import (
    Store,
    _Checkpointer,
    _GroupCommit,
    get_setting,
    next_number,
    put_setting,
)

# ---------------------------------------------------------------- helpers


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "x.sqlite3"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{db_path}")
    try:
        yield s
    finally:
        # on a thread: a writer stuck in its work (a broken test, a deadlock) holds the
        # writers' lock that dispose() waits for; fail then instead of hanging the run
        _run_in_thread(s.dispose, timeout=30)


def _settings(s: Store) -> dict[str, Any]:
    with s.snapshot() as conn:
        return {row.key: row.value for row in conn.execute(select(t.settings))}


def _run_in_thread(fn: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Run ``fn`` on a thread of its own; its result or exception, or a failure if it hangs
    (a deadlock then fails the test instead of freezing the run)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"still running after {timeout} s (deadlock?)"
    if "error" in box:
        raise box["error"]
    return box.get("result")


def _in_threads(fn: Callable[[int], Any], n: int, timeout: float = 30.0) -> list[Any]:
    """``[fn(0), …, fn(n - 1)]``, each called on a daemon thread of its own, all at once;
    a failure (not a hang) if any is still running after ``timeout`` seconds."""
    results: list[Any] = [None] * n
    errors: list[BaseException] = []
    go = threading.Barrier(n)

    def target(i: int) -> None:
        try:
            go.wait()
            results[i] = fn(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "threads still waiting (hang?)"
    if errors:
        raise errors[0]
    return results


def _wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


# ---------------------------------------------------------------- group commit


def test_write_returns_the_work_result_and_the_row_is_committed(store: Store) -> None:
    assert store._group is not None  # a SQLite file: group-committed

    def work(conn: Connection) -> tuple[str, int]:
        put_setting(conn, "greeting", {"text": "hej", "n": 1})
        return ("done", 42)

    assert store.write(work) == ("done", 42)
    with store.snapshot() as conn:  # a fresh read-only connection sees the commit
        assert get_setting(conn, "greeting") == {"text": "hej", "n": 1}
    # and so does a connection opened outside the store altogether
    raw = sqlite3.connect(store._database)
    try:
        assert raw.execute("SELECT value FROM settings WHERE key = 'greeting'").fetchone() \
            == ('{"text": "hej", "n": 1}',)
    finally:
        raw.close()


def test_a_lone_failing_write_keeps_nothing_and_raises_its_own_exception(store: Store) -> None:
    boom = ValueError("boom")

    def work(conn: Connection) -> None:
        put_setting(conn, "lost", 1)
        raise boom

    with pytest.raises(ValueError) as caught:
        store.write(work)
    assert caught.value is boom
    assert "lost" not in _settings(store)
    assert store.write(lambda conn: put_setting(conn, "after", 2)) is None  # still serving
    assert _settings(store) == {"after": 2}


def test_many_threads_writing_settings_all_land_exactly_once(store: Store) -> None:
    threads, per_thread = 16, 20

    def writer(n: int) -> list[str]:
        keys = []
        for i in range(per_thread):
            key = f"t{n:02d}-{i:02d}"
            value = {"thread": n, "i": i}

            def work(conn: Connection, k: str = key, v: dict[str, int] = value) -> None:
                put_setting(conn, k, v)

            store.write(work)
            keys.append(key)
        return keys

    written = [k for keys in _in_threads(writer, threads) for k in keys]

    stored = _settings(store)
    assert len(written) == threads * per_thread == len(set(written))
    assert set(stored) == set(written)
    for key, value in stored.items():
        n, i = key[1:].split("-")
        assert value == {"thread": int(n), "i": int(i)}


def test_next_number_from_many_threads_is_gap_free_and_unique(store: Store) -> None:
    threads, per_thread = 16, 20

    def taker(_: int) -> list[int]:
        return [store.write(lambda conn: next_number(conn, "seq")) for _ in range(per_thread)]

    per_caller = _in_threads(taker, threads)
    numbers = [n for got in per_caller for n in got]

    assert sorted(numbers) == list(range(1, threads * per_thread + 1))
    with store.snapshot() as conn:
        assert conn.execute(select(t.counters.c.value)
                            .where(t.counters.c.name == "seq")).scalar_one() \
            == threads * per_thread
    # each caller sees its own numbers rising (each write commits before its next starts)
    assert all(got == sorted(got) for got in per_caller)
    # and a counter with another start begins there
    assert store.write(lambda conn: next_number(conn, "other", start=100)) == 100
    assert store.write(lambda conn: next_number(conn, "other", start=100)) == 101


def test_one_failing_job_in_a_batch_undoes_only_itself(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    batches: list[list[int]] = []
    original = _GroupCommit._commit

    def recording_commit(self: _GroupCommit, batch: list[Any]) -> None:
        batches.append([id(job) for job in batch])
        original(self, batch)

    monkeypatch.setattr(_GroupCommit, "_commit", recording_commit)

    started, release = threading.Event(), threading.Event()
    blocker_ran_on: list[int] = []

    def blocker(conn: Connection) -> str:
        blocker_ran_on.append(threading.get_ident())
        put_setting(conn, "blocker", True)
        started.set()
        assert release.wait(10)
        return "blocker"

    mine = ValueError("mine alone")

    def failing(conn: Connection) -> None:
        put_setting(conn, "failing", "should vanish")
        raise mine

    def duplicate(conn: Connection) -> None:  # a database error, through SQLAlchemy
        conn.execute(insert(t.settings), {"key": "dup-extra", "value": 1})
        conn.execute(insert(t.settings), {"key": "blocker", "value": "again"})

    ran_on: dict[int, int] = {}

    def ok(n: int) -> Callable[[Connection], int]:
        def work(conn: Connection) -> int:
            ran_on[n] = threading.get_ident()
            put_setting(conn, f"ok{n}", n)
            return n
        return work

    jobs: list[tuple[str, Callable[[Connection], Any]]] = [
        ("ok0", ok(0)), ("ok1", ok(1)), ("failing", failing), ("ok2", ok(2)),
        ("duplicate", duplicate), ("ok3", ok(3)), ("ok4", ok(4))]
    outcomes: dict[str, Any] = {}

    def submit(name: str, work: Callable[[Connection], Any]) -> None:
        try:
            outcomes[name] = ("result", store.write(work))
        except BaseException as exc:
            outcomes[name] = ("error", exc)

    first = threading.Thread(target=submit, args=("blocker", blocker), daemon=True)
    first.start()
    assert started.wait(10)  # a batch is running the blocker: the others queue up
    others = [threading.Thread(target=submit, args=job, daemon=True) for job in jobs]
    for thread in others:
        thread.start()
    group = store._group
    assert group is not None
    _wait_until(lambda: len(group._waiting) == len(jobs))
    release.set()
    for thread in [first, *others]:
        thread.join(10)
        assert not thread.is_alive()

    assert [len(b) for b in batches] == [1, len(jobs)]  # the seven ran as one batch
    assert blocker_ran_on == [first.ident]  # a lone writer runs its work on its own thread
    assert len(set(ran_on.values())) == 1  # the batch ran on one thread, one of the callers'
    assert ran_on[0] in {thread.ident for thread in others}
    assert outcomes["blocker"] == ("result", "blocker")
    for n in range(5):
        assert outcomes[f"ok{n}"] == ("result", n)
    assert outcomes["failing"] == ("error", mine)
    kind, error = outcomes["duplicate"]
    assert kind == "error" and isinstance(error, IntegrityError)

    stored = _settings(store)
    assert stored == {"blocker": True, "ok0": 0, "ok1": 1, "ok2": 2, "ok3": 3, "ok4": 4}
    assert "failing" not in stored and "dup-extra" not in stored


def test_write_inside_a_write_raises_instead_of_deadlocking(store: Store) -> None:
    def nested_write(conn: Connection) -> None:
        put_setting(conn, "outer", 1)
        store.write(lambda inner: put_setting(inner, "inner", 2))

    with pytest.raises(RuntimeError, match="inside a group-committed write"):
        _run_in_thread(lambda: store.write(nested_write))

    def nested_transaction(conn: Connection) -> None:
        put_setting(conn, "outer", 1)
        with store.transaction() as inner:
            put_setting(inner, "inner", 2)

    with pytest.raises(RuntimeError, match="wait for itself"):
        _run_in_thread(lambda: store.write(nested_transaction))

    # the error is raised inside the work (which may handle it), not around it
    def handled(conn: Connection) -> str:
        try:
            store.write(lambda inner: None)
        except RuntimeError:
            put_setting(conn, "handled", True)
            return "caught"
        return "not raised"

    assert _run_in_thread(lambda: store.write(handled)) == "caught"
    assert _settings(store) == {"handled": True}  # the failed ones left nothing


class _BrokenLock:
    def __enter__(self) -> None:
        raise OSError("lock file gone")

    def __exit__(self, *exc: object) -> None:
        raise AssertionError("never entered")


def test_when_the_lock_fails_every_caller_gets_the_error_and_nothing_runs(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []

    def work(conn: Connection) -> str:
        ran.append("yes")
        put_setting(conn, "k", 1)
        return "ran"

    assert store.write(work) == "ran"
    monkeypatch.setattr(store, "_writers", _BrokenLock())
    with pytest.raises(OSError, match="lock file gone"):
        _run_in_thread(lambda: store.write(work))
    monkeypatch.undo()
    assert ran == ["yes"]
    # the failed batch gave up its lead: the next writer is not left waiting for it
    assert _run_in_thread(lambda: store.write(lambda conn: get_setting(conn, "k"))) == 1


def test_transaction_outside_a_write_still_works(store: Store) -> None:
    with store.transaction() as conn:
        put_setting(conn, "plain", [1, 2])
    assert store.write(lambda conn: get_setting(conn, "plain")) == [1, 2]


def test_group_commit_switched_off(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "_GROUP_COMMIT", False)
    s = Store(f"sqlite:///{db_path}")
    try:
        assert s._group is None
        assert s._writers is not None  # still a file with its writers' lock
        caller = threading.get_ident()

        def work(conn: Connection) -> int:
            put_setting(conn, "k", "v")
            return threading.get_ident()

        ran_on = s.write(work)
        assert ran_on == caller

        def failing(conn: Connection) -> None:
            put_setting(conn, "gone", 1)
            raise KeyError("x")

        with pytest.raises(KeyError):
            s.write(failing)
        assert _settings(s) == {"k": "v"}

        def nested(conn: Connection) -> str:
            started = time.monotonic()
            with pytest.raises(RuntimeError, match="would wait for itself"):
                s.write(lambda inner: None)
            assert time.monotonic() - started < 1  # refused at once, not a 30 s busy wait
            return "ok"

        assert s.write(nested) == "ok"
    finally:
        s.dispose()


def test_in_memory_store_has_no_group_committer() -> None:
    s = Store("sqlite://")
    try:
        assert s._group is None and s._checkpoints is None
        assert s.write(lambda conn: next_number(conn, "n")) == 1
        assert s.write(lambda conn: next_number(conn, "n")) == 2
        with s.snapshot() as conn:
            assert conn.execute(select(t.counters.c.value)).scalar_one() == 2
    finally:
        s.dispose()


# ---------------------------------------------------------------- Prepared

_CLAIM_DEFAULTS: dict[str, Any] = dict(
    account_number="A1", type_code="SKAT", art="INDR", description="Ærø — «test»",
    currency="DKK", principal_ore=123_456_789_012_345, remaining_principal_ore=-5,
    period_from=date(2023, 1, 1), period_to=date(2023, 12, 31), founded=date(2023, 2, 28),
    due_date=date(2024, 2, 29), srb=date(2024, 3, 1), received=date(1999, 12, 31),
    limitation_date=None, judgment_date=date(2030, 6, 15), settlement_date=None,
    offsetting_allowed=True, creditor_cvr=None,
    co_liable=[{"kind": "CPR", "number": "0101010101", "name": "Åse"}, {"nested": [1, None]}],
    state="ACTIVE", deferral_until=None, invoice_id="INV", creditor_number="C1",
    invoice_amount_ore=2**40, reminder_date=None, psrm_art=None, psrm_status=None,
    psrm_status_date=None, psrm_amount_ore=None, psrm_action_id=None,
    psrm_efi_claim_id=None, psrm_reasons=[])


def _claim(n: int, **changes: Any) -> dict[str, Any]:
    return {**_CLAIM_DEFAULTS, "id": f"C{n}", "fagsystem_claim_id": f"F{n}",
            "payment_id": f"P{n}", **changes}


def _journal(n: int, **changes: Any) -> dict[str, Any]:
    return {"at": datetime(2024, 5, n, 12, 30, 15, 123456), "virtual_at": datetime(2024, 1, n),
            "end": "debtor", "direction": "in", "service": None, "operation": f"op{n}",
            "status": "ok", "http_status": None if n % 2 else 200,
            "transaction_id": f"tx{n}", "correlation": {"n": n, "ø": [True, None]},
            "duration_ms": n / 3, "request_xml": "<a/>", "response_xml": None,
            "summary": None, **changes}


@pytest.fixture
def filled(store: Store) -> Store:
    with store.transaction() as conn:
        conn.execute(insert(t.claims), [
            _claim(1),
            _claim(2, offsetting_allowed=False, limitation_date=date(2026, 1, 1),
                   co_liable=[], psrm_reasons=[{"number": 7, "text": "nej"}],
                   psrm_amount_ore=0, art=None, description=None),
            _claim(3, account_number="A2", psrm_art="INDR", psrm_status="MODTAGET",
                   psrm_status_date=date(2024, 1, 2), psrm_amount_ore=-(2**50))])
        conn.execute(insert(t.journal), [_journal(1), _journal(2), _journal(3)])
    return store


def _assert_same_rows(fast: list[Any], slow: Sequence[Any]) -> None:
    assert len(fast) == len(slow) > 0
    for f, s in zip(fast, slow, strict=True):
        assert tuple(f) == tuple(s)
        for key in s._fields:
            assert getattr(f, key) == getattr(s, key), key
            assert type(getattr(f, key)) is type(getattr(s, key)), key


def _on_fast_path(prepared: Prepared) -> bool:
    return not prepared._slow and bool(prepared._forms)


def test_prepared_select_matches_sqlalchemy(filled: Store) -> None:
    stmt = (select(t.claims).where(t.claims.c.account_number == bindparam("acct"))
            .order_by(t.claims.c.id))
    prepared = Prepared(stmt)
    with filled.transaction() as conn:
        fast = prepared.rows(conn, {"acct": "A1"})
        slow = conn.execute(stmt, {"acct": "A1"}).all()
    assert _on_fast_path(prepared)
    assert not isinstance(fast[0], Row)  # the driver's answer, not SQLAlchemy's
    _assert_same_rows(fast, slow)
    # the types came back, not their stored forms
    first = fast[0]
    assert first.srb == date(2024, 3, 1) and first.offsetting_allowed is True
    assert fast[1].offsetting_allowed is False
    assert first.co_liable == _CLAIM_DEFAULTS["co_liable"]
    assert first.principal_ore == 123_456_789_012_345
    assert first.limitation_date is None and fast[1].limitation_date == date(2026, 1, 1)
    assert fast[1].psrm_reasons == [{"number": 7, "text": "nej"}]


def test_prepared_select_of_some_columns_with_literals_and_limit(filled: Store) -> None:
    j = t.journal.c
    stmt = (select(j.id, j.at, j.virtual_at, j.correlation, j.duration_ms, j.http_status,
                   j.end, j.service)
            .where(j.end == "debtor", j.id >= bindparam("from_id"))
            .order_by(j.id.desc()).limit(2))
    prepared = Prepared(stmt)
    with filled.transaction() as conn:
        fast = prepared.rows(conn, {"from_id": 1})
        slow = conn.execute(stmt, {"from_id": 1}).all()
        one = prepared.first(conn, {"from_id": 3})
    assert _on_fast_path(prepared)
    _assert_same_rows(fast, slow)
    assert [r.id for r in fast] == [3, 2]
    assert fast[0].at == datetime(2024, 5, 3, 12, 30, 15, 123456)
    assert fast[0].correlation == {"n": 3, "ø": [True, None]}
    assert one is not None and one.id == 3 and one.http_status is None


def test_prepared_first_is_none_when_nothing_matches(filled: Store) -> None:
    prepared = Prepared(select(t.claims).where(t.claims.c.id == bindparam("id")))
    with filled.transaction() as conn:
        assert prepared.first(conn, {"id": "nope"}) is None
        assert prepared.rows(conn, {"id": "nope"}) == []
        found = prepared.first(conn, {"id": "C3"})
    assert _on_fast_path(prepared)
    assert found is not None and found.psrm_amount_ore == -(2**50)


def test_prepared_insert_returns_the_new_key_and_stores_what_sqlalchemy_would(
        store: Store) -> None:
    prepared = Prepared(insert(t.journal))
    with store.transaction() as conn:
        key = conn.execute(insert(t.journal), _journal(1)).inserted_primary_key
        assert key is not None
        via_sqlalchemy = key[0]
        first = prepared.insert(conn, _journal(2))
        second = prepared.insert(conn, _journal(3))
        assert _on_fast_path(prepared)
        assert (first, second) == (via_sqlalchemy + 1, via_sqlalchemy + 2)
        assert conn.execute(select(t.journal.c.operation)
                            .where(t.journal.c.id == second)).scalar_one() == "op3"
        # stored exactly as SQLAlchemy stores it (same text for dates, JSON, floats)
        raw = conn.execute(text("SELECT at, virtual_at, correlation, duration_ms, "
                                "typeof(http_status), typeof(response_xml) FROM journal "
                                "ORDER BY id")).all()
    reference = raw[0]
    assert reference[0] == "2024-05-01 12:30:15.123456"
    for row, n in zip(raw[1:], (2, 3), strict=True):
        assert row[0] == reference[0].replace("05-01", f"05-0{n}")
        assert row[2] == reference[2].replace('"n": 1', f'"n": {n}')
        assert row[5] == reference[5] == "null"


def test_prepared_insert_claim_round_trips(store: Store) -> None:
    prepared = Prepared(insert(t.claims))
    with store.transaction() as conn:
        conn.execute(insert(t.claims), _claim(1))
        prepared.run(conn, _claim(2))
        assert _on_fast_path(prepared)
        rows = conn.execute(select(t.claims).order_by(t.claims.c.id)).all()
        raw = conn.execute(text("SELECT * FROM claims ORDER BY id")).all()
    own = ("id", "fagsystem_claim_id", "payment_id")

    def shared(row: Row[Any]) -> dict[str, Any]:
        return {k: v for k, v in row._asdict().items() if k not in own}

    assert shared(rows[1]) == shared(rows[0])
    assert rows[1].offsetting_allowed is True and rows[1].due_date == date(2024, 2, 29)
    assert shared(raw[1]) == shared(raw[0])  # the same stored values, as stored
    assert rows[1].payment_id == "P2"


def test_prepared_insert_of_none_into_json_matches_sqlalchemy(store: Store) -> None:
    # JSON (none_as_null=False) stores Python None as the JSON text 'null', not SQL NULL;
    # the fast path must store the same, or `IS NULL` would depend on the database
    prepared = Prepared(insert(t.journal))
    with store.transaction() as conn:
        conn.execute(insert(t.journal), _journal(1, correlation=None))
        prepared.insert(conn, _journal(2, correlation=None))
        assert _on_fast_path(prepared)
        raw = conn.execute(text("SELECT correlation, typeof(correlation), "
                                "typeof(summary), typeof(response_xml) "
                                "FROM journal ORDER BY id")).all()
        null = conn.execute(select(t.journal.c.id)
                            .where(t.journal.c.correlation.is_(None))).all()
        back = Prepared(select(t.journal.c.correlation)).rows(conn)
    assert raw[0] == raw[1] == ("null", "text", "null", "null")
    assert null == []
    assert [r.correlation for r in back] == [None, None]


def test_prepared_insert_fills_scalar_column_defaults(store: Store) -> None:
    faults = Prepared(insert(t.faults))
    scripted = Prepared(insert(t.psrm_scripted))
    with store.transaction() as conn:
        fault_id = faults.insert(conn, {"operation": "op", "kind": "timeout", "remaining": 2})
        given = faults.insert(conn, {"operation": "op", "kind": "slow", "remaining": 1,
                                     "delay_ms": 250})
        script_id = scripted.insert(conn, {"due": date(2024, 1, 1), "kind": "PAY"})
        assert _on_fast_path(faults) and _on_fast_path(scripted)
        delays = dict(conn.execute(select(t.faults.c.id, t.faults.c.delay_ms)).all())
        done = conn.execute(select(t.psrm_scripted.c.done)
                            .where(t.psrm_scripted.c.id == script_id)).scalar_one()
        raw_done = conn.execute(text("SELECT done, typeof(done) FROM psrm_scripted")).one()
    assert delays == {fault_id: 0, given: 250}
    assert done is False
    assert tuple(raw_done) == (0, "integer")


def test_prepared_run_returns_the_rowcount(store: Store) -> None:
    add = Prepared(insert(t.faults))
    change = Prepared(update(t.faults).where(t.faults.c.operation == bindparam("op"))
                      .values(remaining=bindparam("left")))
    with store.transaction() as conn:
        add.run_many(conn, [{"operation": op, "kind": "k", "remaining": 5}
                            for op in ("x", "x", "x", "y")])
        assert change.run(conn, {"op": "x", "left": 0}) == 3
        assert change.run(conn, {"op": "y", "left": 1}) == 1
        assert change.run(conn, {"op": "none", "left": 9}) == 0
        assert _on_fast_path(change) and _on_fast_path(add)
        left = sorted(conn.execute(select(t.faults.c.operation, t.faults.c.remaining)).all())
    assert left == [("x", 0), ("x", 0), ("x", 0), ("y", 1)]


def test_prepared_outside_a_transaction_falls_back_to_sqlalchemy(filled: Store) -> None:
    stmt = select(t.claims).where(t.claims.c.id == bindparam("id"))
    prepared = Prepared(stmt)
    with filled.engine.connect() as conn:
        assert not conn.in_transaction()
        row = prepared.first(conn, {"id": "C2"})
        assert isinstance(row, Row)  # SQLAlchemy's, not the driver's
        assert not prepared._forms and not prepared._slow
        assert row.co_liable == [] and row.offsetting_allowed is False
        expected = conn.execute(stmt, {"id": "C2"}).all()
    with filled.engine.connect() as conn:
        assert prepared.rows(conn, {"id": "C2"}) == expected
        assert prepared.first(conn, {"id": "nope"}) is None
        assert Prepared(update(t.claims).values(state=bindparam("s"))).run(
            conn, {"s": "CLOSED"}) == 3
        conn.rollback()


def test_prepared_expanding_in_falls_back_to_sqlalchemy(filled: Store) -> None:
    stmt = (select(t.claims.c.id, t.claims.c.founded)
            .where(t.claims.c.id.in_(bindparam("ids", expanding=True)))
            .order_by(t.claims.c.id))
    prepared = Prepared(stmt)
    with filled.transaction() as conn:
        two = prepared.rows(conn, {"ids": ["C1", "C3", "C9"]})
        one = prepared.rows(conn, {"ids": ["C2"]})
        none = prepared.first(conn, {"ids": ["C9"]})
    assert prepared._slow  # the length changes per call: not compiled once
    assert [tuple(r) for r in two] == [("C1", date(2023, 2, 28)), ("C3", date(2023, 2, 28))]
    assert [r.id for r in one] == ["C2"]
    assert none is None


# ---------------------------------------------------------------- checkpoints

def _wal_frames(db: Path) -> tuple[int, int]:
    """(frames in the WAL, frames already copied into the database), read from the
    wal-index (``-shm``) without taking any lock or running a checkpoint of our own:
    ``mxFrame`` at offset 16 of the index header, ``nBackfill`` at offset 96."""
    data = Path(f"{db}-shm").read_bytes()[:100]
    return struct.unpack_from("=I", data, 16)[0], struct.unpack_from("=I", data, 96)[0]


def _big_write(conn: Connection) -> None:
    for i in range(1200):  # ~5 MB: past SQLite's default autocheckpoint of 1000 pages
        put_setting(conn, f"big{i}", "x" * 4000)


def test_connection_pragmas_leave_checkpoints_to_the_store(store: Store) -> None:
    with store.transaction() as conn:
        driver: Any = conn.connection.driver_connection
        assert driver.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        assert driver.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert driver.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
        assert driver.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    with store.snapshot() as conn:  # the read-only pool gets them too
        driver = conn.connection.driver_connection
        assert driver.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0


@pytest.mark.parametrize(("env", "level"), [
    ({}, 1), ({"OIR_SQLITE_SYNCHRONOUS": "full"}, 2), ({"OIR_SQLITE_SYNC": "FULL"}, 2),
    ({"OIR_SQLITE_SYNCHRONOUS": "EXTRA"}, 3)])
def test_the_synchronous_setting_is_the_pragma_of_every_connection(
        db_path: Path, env: dict[str, str], level: int) -> None:
    """WAL with synchronous=NORMAL by default; FULL one environment variable away, on the
    writing connections and the read-only snapshots alike."""
    from emulator.config import EmulatorConfig
    from emulator.runtime import Runtime

    config = EmulatorConfig.from_env(env, db_url=f"sqlite:///{db_path}", start_worker=False)
    runtime = Runtime(config)
    try:
        with runtime.store.transaction() as conn:
            driver: Any = conn.connection.driver_connection
            assert driver.execute("PRAGMA synchronous").fetchone()[0] == level
            assert driver.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        with runtime.store.snapshot() as conn:
            driver = conn.connection.driver_connection
            assert driver.execute("PRAGMA synchronous").fetchone()[0] == level
    finally:
        runtime.store.dispose()


def test_an_unknown_synchronous_level_is_refused_naming_the_variable() -> None:
    from emulator.config import EmulatorConfig

    with pytest.raises(ValueError, match="OIR_SQLITE_SYNCHRONOUS.*'OFF'"):
        EmulatorConfig.from_env({"OIR_SQLITE_SYNCHRONOUS": "OFF"})


def test_commits_alone_do_not_checkpoint(
        db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_Checkpointer, "INTERVAL", 3600.0)  # the thread never gets to it
    s = Store(f"sqlite:///{db_path}")
    try:
        s.write(_big_write)
        s.write(lambda conn: put_setting(conn, "one more", 1))
        frames, copied = _wal_frames(db_path)
        assert frames > 1000
        assert copied < frames  # no commit crossed an autocheckpoint threshold
    finally:
        s.dispose()


def test_checkpointer_copies_the_wal_back(store: Store, db_path: Path) -> None:
    store.write(_big_write)
    for i in range(20):
        name = f"c{i % 3}"
        store.write(lambda conn, name=name: next_number(conn, name))  # type: ignore[misc]
    frames, _ = _wal_frames(db_path)
    assert frames > 1000

    def all_copied() -> bool:
        in_wal, copied = _wal_frames(db_path)
        return in_wal == copied

    _wait_until(all_copied, timeout=1.2 + 3)
    assert _wal_frames(db_path)[0] >= frames  # nothing restarted the WAL meanwhile
    with store.snapshot() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
        size = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
    assert db_path.stat().st_size == pages * size  # the database file holds every page

    fresh = sqlite3.connect(db_path)
    try:
        busy, log, checkpointed = fresh.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        fresh.close()
    assert busy == 0 and log == checkpointed >= frames


def test_checkpointer_stops_with_the_store(db_path: Path) -> None:
    s = Store(f"sqlite:///{db_path}")
    s.write(lambda conn: put_setting(conn, "k", 1))
    checkpoints = s._checkpoints
    assert checkpoints is not None
    thread = checkpoints._thread
    assert thread is not None and thread.is_alive()
    _run_in_thread(s.dispose, timeout=30)
    assert not thread.is_alive()


# ---------------------------------------------------------------- balanced gunicorn worker

@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> tuple[list[float], list[tuple[Any, Any]]]:
    sleeps: list[float] = []
    accepts: list[tuple[Any, Any]] = []
    monkeypatch.setattr(balanced_worker.time, "sleep", sleeps.append)

    def parent_accept(self: Any, listener: Any) -> None:
        accepts.append((self, listener))

    monkeypatch.setattr(ThreadWorker, "accept", parent_accept)
    return sleeps, accepts


def _worker(nr_conns: int, threads: int) -> BalancedThreadWorker:
    worker: Any = object.__new__(BalancedThreadWorker)
    worker.nr_conns = nr_conns
    worker.cfg = SimpleNamespace(threads=threads)
    return worker


@pytest.mark.parametrize(("nr_conns", "threads", "defers"), [
    (0, 8, False), (1, 8, False), (3, 8, False),
    (4, 8, True), (5, 8, True), (100, 8, True),
    (0, 1, False), (1, 1, True),  # one thread: its share is one connection
    (0, 3, False), (1, 3, True),
])
def test_balanced_worker_defers_only_beyond_its_share(
        recorded: tuple[list[float], list[tuple[Any, Any]]],
        nr_conns: int, threads: int, defers: bool) -> None:
    sleeps, accepts = recorded
    worker = _worker(nr_conns, threads)
    listener = object()
    worker.accept(listener)
    assert sleeps == ([DEFER_SECONDS] if defers else [])
    assert accepts == [(worker, listener)]  # the connection is always taken in the end


def test_defer_is_short() -> None:
    assert 0 < DEFER_SECONDS <= 0.01


# ---------------------------------------------------------------- writes nobody waits for


def _blocked_leader(s: Store) -> tuple[threading.Thread, threading.Event]:
    """A write that holds the lead (inside its batch) until the returned event is set."""
    started, release = threading.Event(), threading.Event()

    def blocker(conn: Connection) -> None:
        put_setting(conn, "blocker", True)
        started.set()
        assert release.wait(10)

    thread = threading.Thread(target=lambda: s.write(blocker), daemon=True)
    thread.start()
    assert started.wait(10)
    return thread, release


def test_a_read_record_is_queued_not_written_in_its_request(store: Store) -> None:
    """A read writes nothing in its request: its record waits for a batch, committed
    DEFERRED_SECONDS after it was queued at the latest (or by settle())."""
    assert store.write(lambda conn: put_setting(conn, "r", 1), wait=False) is None
    assert "r" not in _settings(store)
    _wait_until(lambda: _settings(store).get("r") == 1)


@pytest.mark.parametrize("group", [True, False], ids=["group-commit", "no-group-commit"])
def test_read_records_are_committed_in_batches_of_at_most_64(
        db_path: Path, monkeypatch: pytest.MonkeyPatch, group: bool) -> None:
    """200 records queued at once: three commits of 64 (and the last 8 by settle()), not
    200; with the timer out of the way, only the count and settle() commit."""
    monkeypatch.setattr(store_module, "_GROUP_COMMIT", group)
    monkeypatch.setattr(store_module, "DEFERRED_SECONDS", 3600.0)
    s = Store(f"sqlite:///{db_path}")
    try:
        batcher: Any = s._group if group else s._deferred
        assert batcher is not None
        for i in range(200):
            s.write(lambda conn, i=i: put_setting(conn, f"read{i}", i), wait=False)
            if i % 64 == 63:  # the 64th wakes the sweeper: wait for its commit
                _wait_until(lambda i=i: batcher.commits >= (i + 1) // 64)
        assert batcher.commits == 3
        assert len(_settings(s)) == 192
        s.settle()
        assert len(_settings(s)) == 200
        assert batcher.commits <= 5  # settle's own (possibly empty) batch besides
    finally:
        _run_in_thread(s.dispose, timeout=30)


@pytest.mark.parametrize("group", [True, False], ids=["group-commit", "no-group-commit"])
def test_queued_read_records_land_before_the_next_write(
        db_path: Path, monkeypatch: pytest.MonkeyPatch, group: bool) -> None:
    """A record queued before a write is committed no later than the write (the journal
    keeps the order requests were answered in)."""
    monkeypatch.setattr(store_module, "_GROUP_COMMIT", group)
    monkeypatch.setattr(store_module, "DEFERRED_SECONDS", 3600.0)
    s = Store(f"sqlite:///{db_path}")
    try:
        s.write(lambda conn: put_setting(conn, "read", 1), wait=False)
        s.write(lambda conn: put_setting(conn, "write", 2))
        assert _settings(s) == {"read": 1, "write": 2}
    finally:
        _run_in_thread(s.dispose, timeout=30)


def test_a_read_record_during_a_batch_returns_at_once_and_is_committed_after(
        store: Store) -> None:
    thread, release = _blocked_leader(store)
    started = time.monotonic()
    assert store.write(lambda conn: put_setting(conn, "read", 1), wait=False) is None
    assert time.monotonic() - started < 1  # did not wait for the blocked batch
    assert "read" not in _settings(store)  # not committed yet: the batch is still running
    release.set()
    thread.join(10)
    store.settle()
    assert _settings(store) == {"blocker": True, "read": 1}


def test_once_writes_ran_side_by_side_the_sweeper_commits_read_records(store: Store) -> None:
    thread, release = _blocked_leader(store)
    store.write(lambda conn: put_setting(conn, "first", 1), wait=False)
    release.set()
    thread.join(10)
    # no batch running now, but writes have met here before: the caller does not wait,
    # and nobody calls settle() — the sweeper commits it by itself
    assert store.write(lambda conn: put_setting(conn, "second", 2), wait=False) is None
    _wait_until(lambda: _settings(store).get("second") == 2)
    assert _settings(store) == {"blocker": True, "first": 1, "second": 2}


def test_a_failing_read_record_is_logged_and_keeps_nothing(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    thread, release = _blocked_leader(store)

    def failing(conn: Connection) -> None:
        put_setting(conn, "half", 1)
        raise ValueError("broken record")

    store.write(failing, wait=False)
    store.write(lambda conn: put_setting(conn, "fine", 1), wait=False)
    release.set()
    thread.join(10)
    store.settle()
    assert _settings(store) == {"blocker": True, "fine": 1}
    assert any("broken record" in r.getMessage() for r in caplog.records)


def test_dispose_commits_queued_read_records(db_path: Path) -> None:
    s = Store(f"sqlite:///{db_path}")
    thread, release = _blocked_leader(s)
    s.write(lambda conn: put_setting(conn, "queued", 1), wait=False)
    release.set()
    thread.join(10)
    _run_in_thread(s.dispose, timeout=30)
    again = Store(f"sqlite:///{db_path}")
    try:
        assert _settings(again) == {"blocker": True, "queued": 1}
    finally:
        _run_in_thread(again.dispose, timeout=30)
