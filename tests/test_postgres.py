"""The emulator on PostgreSQL with several gunicorn workers: state is shared, the end-to-end
story passes with 4 workers, clock-driven work (hand-over, PSRM progression and polling,
callbacks) runs once however many workers are asked at the same moment, a client's retry
racing its original is answered once, and requests racing for one business key are
answered as if in turn. Writers on one debtor account take turns (no payment lost) while
writers on other accounts do not wait for them (per-account locks).

The PostgreSQL tests need a server: ``make test-postgres`` starts one
(``scripts/postgres.sh``) and sets ``OIR_TEST_PG_URL``; without it they are skipped. Each
gets a database of its own, dropped afterwards. The run-once test also runs on SQLite
with several workers (file locks instead of advisory locks), in every ``make test``.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from emulator.storage.store import Store, next_number, put_setting, writer_locks_sql
from oir_adapter.clients import clients_for
from oir_adapter.codecs import oir_requests as messages
from oir_adapter.domain.model import Party
from tests.emulator_process import EmulatorProcess
from tests.test_debtor_end import CALLER, spec
from tests.test_e2e_story import run_story

PG_URL = os.environ.get("OIR_TEST_PG_URL")


def needs_postgres(fn: Any) -> Any:
    fn = pytest.mark.skipif(not PG_URL, reason="no PostgreSQL: set OIR_TEST_PG_URL, or run "
                            "`make test-postgres` (scripts/postgres.sh starts one)")(fn)
    return pytest.mark.postgres(fn)


@pytest.fixture
def pg_db() -> Iterator[str]:
    """A fresh, empty database on the test server; dropped afterwards."""
    assert PG_URL
    url = make_url(PG_URL)
    name = f"oir_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def serve(tmp_path: Path, db_url: str, workers: int = 4) -> EmulatorProcess:
    return EmulatorProcess(tmp_path / "pg", db_url=db_url, workers=workers)


def admin(url: str, method: str, path: str, **body: Any) -> Any:
    r = requests.request(method, f"{url}/_admin{path}",
                         json=body if body or method != "GET" else None, timeout=120)
    assert r.status_code in (200, 201), r.text
    return r.json()


@needs_postgres
def test_the_story_passes_on_postgresql_with_four_workers(tmp_path: Path, pg_db: str) -> None:
    with serve(tmp_path, pg_db) as emu:
        assert admin(emu.url, "GET", "/health")["db"] == "postgresql"
        run_story(emu.url)


@needs_postgres
def test_workers_share_one_state(tmp_path: Path, pg_db: str) -> None:
    """Accounts made through whichever worker answered are found through every other."""
    with serve(tmp_path, pg_db) as emu:
        def make(n: int) -> str:
            soap = clients_for(emu.url)
            try:
                number = soap.debitor_registrering.call(
                    "OpretDebitorkonto", messages.opret_debitorkonto(
                        CALLER, reference=f"R-{n}", party=Party.cpr("0405871270"),
                        name=f"N{n}")).findtext("DebitorkontoNummer")
                assert number
                return number
            finally:
                soap.close()

        with ThreadPoolExecutor(max_workers=16) as pool:
            numbers = list(pool.map(make, range(48)))
        assert len(set(numbers)) == 48  # one counter, no number handed out twice
        seen = {a["number"] for a in admin(emu.url, "GET", "/accounts?limit=1000")}
        assert seen == set(numbers)


@contextmanager
def hosts(tmp_path: Path, db_url: str, count: int, workers: int) -> Iterator[list[str]]:
    """``count`` separate ``oir serve`` processes (as on separate hosts) on one database."""
    procs: list[EmulatorProcess] = []
    try:
        for n in range(count):
            procs.append(EmulatorProcess(tmp_path / f"host{n}", db_url=db_url,
                                         workers=workers).start())
        yield [p.url for p in procs]
    finally:
        for p in procs:
            p.stop()


@needs_postgres
def test_clock_driven_work_runs_once_on_postgresql(tmp_path: Path, pg_db: str) -> None:
    with hosts(tmp_path, pg_db, count=2, workers=2) as urls:
        check_clock_work_runs_once(urls)


def test_clock_driven_work_runs_once_on_sqlite_across_processes(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    with hosts(tmp_path, db_url, count=3, workers=1) as urls:
        check_clock_work_runs_once(urls)


def check_clock_work_runs_once(urls: list[str], claims: int = 6) -> None:
    """Eight advances at once, spread over processes and their workers (each also running
    its own background worker): every claim is handed over once, PSRM gets the day's
    hand-overs in one delivery (each claim in it once), the fagsystem hears each state
    change once, the outbox sends each item once, and the clock moves eight days."""
    url = urls[0]
    admin(url, "PUT", "/clock", now="2026-03-02T10:00:00")
    soap = clients_for(url)
    ids = []
    for n in range(claims):
        number = soap.debitor_registrering.call(
            "OpretDebitorkonto", messages.opret_debitorkonto(
                CALLER, reference=f"R-{n}", party=Party.cpr("0405871270"),
                name=f"N{n}")).findtext("DebitorkontoNummer")
        assert number
        r = soap.debitor_registrering.call("OpretFordring", messages.opret_fordring(
            CALLER, account_number=number, claim=spec(
                ref=f"C-{n}", principal="250.00", due_date=date(2026, 3, 3),
                srb=date(2026, 3, 4))))
        assert r.ok, r.errors
        ids.append(r.findtext("FordringID"))
    soap.close()

    barrier = threading.Barrier(8)

    def advance(n: int) -> Any:
        barrier.wait()
        return admin(urls[n % len(urls)], "POST", "/clock/advance", days=1)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(advance, range(8)))
    # advances are serialised, not merged: eight one-day steps
    assert sorted(r["now"] for r in results)[-1] == "2026-03-10T10:00:00"
    assert admin(url, "GET", "/clock")["now"] == "2026-03-10T10:00:00"
    handovers = [e for r in results for e in r["events"] if e["event"] == "handover"]
    assert Counter(e["claim_id"] for e in handovers) == Counter(ids)
    # the background workers may still be sending a callback: wait (bounded) for the
    # outbox to empty, then count what went out
    deadline = time.monotonic() + 30
    while True:
        admin(url, "POST", "/poll")
        items = admin(url, "GET", "/outbox?limit=1000")
        if {i["status"] for i in items} == {"SENT"} or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert {i["status"] for i in items} == {"SENT"}, items

    psrm = admin(url, "GET", "/psrm")
    assert len(psrm["claims"]) == claims
    assert sorted(D(c["amount"]) for c in psrm["claims"]) == [D("250.00")] * claims
    inbound = admin(url, "GET",
                    "/journal?end=psrm&operation=MFFordringIndberet&limit=1000")
    assert [j["status"] for j in inbound] == ["ok"]  # the claims fall due on one day
    outgoing = admin(url, "GET", "/journal?end=oir&limit=10000")
    # every queued call sent once (the other out rows are the debtor end's polls of PSRM)
    sent = Counter(j["correlation"]["outbox"] for j in outgoing
                   if j["direction"] == "out" and j["status"] == "ok" and "outbox" in j["correlation"])
    assert sent and set(sent.values()) == {1}
    delivered = [c for j in outgoing if j["operation"] == "MFFordringIndberet"
                 and j["status"] == "ok" for c in j["correlation"]["claims"]]
    assert Counter(delivered) == Counter(ids)
    assert set(sent) == {i["id"] for i in items}
    events = admin(url, "GET", "/fagsystem/events")
    handed = Counter(e["claim_id"] for e in events
                     if e["type"] == "TILSTAND" and e["status"] == "OVERDRAGET")
    assert handed == Counter(ids)


@needs_postgres
def test_schema_creation_and_counters_survive_a_race(pg_db: str) -> None:
    """Workers start together: creating the schema and taking the first number of a
    counter must not fail in the one that comes second."""
    barrier = threading.Barrier(6)
    stores: list[Store] = []

    def start(_: int) -> int:
        barrier.wait()
        store = Store(pg_db)
        stores.append(store)
        with store.transaction() as conn:
            put_setting(conn, "raced", {"by": threading.get_ident()})
            return next_number(conn, "raced")

    with ThreadPoolExecutor(max_workers=6) as pool:
        numbers = list(pool.map(start, range(6)))
    assert sorted(numbers) == [1, 2, 3, 4, 5, 6]
    for store in stores:
        store.dispose()


def fresh_account(url: str) -> str:
    """Set the clock to 2 March 2026 and open an account; its number."""
    admin(url, "PUT", "/clock", now="2026-03-02T10:00:00")
    return open_account(url, "R")


def open_account(url: str, reference: str, claims: int = 0) -> str:
    """Open an account (its fagsystem reference ``reference``) with ``claims`` claims of
    1000.00 each; its number."""
    soap = clients_for(url)
    try:
        number = soap.debitor_registrering.call("OpretDebitorkonto", messages.opret_debitorkonto(
            CALLER, reference=reference, party=Party.cpr("0405871270"), name="N")).findtext(
            "DebitorkontoNummer")
        assert number
        for n in range(claims):
            assert soap.debitor_registrering.call("OpretFordring", messages.opret_fordring(
                CALLER, account_number=number, claim=spec(ref=f"{reference}-{n}"))).ok
    finally:
        soap.close()
    return number


def remainders(url: str, number: str) -> list[D]:
    """What is left of each claim of the account, as HentDebitorkonto reports it."""
    soap = clients_for(url)
    try:
        view = soap.debitor_forespoergsel.call("HentDebitorkonto", messages.hent_debitorkonto(
            CALLER, account_number=number))
    finally:
        soap.close()
    return [D(r.text or "") for r in
            view.element.findall(".//{*}FordringSamling/{*}Fordring/{*}Restbeloeb")]


def pay(url: str, number: str, payment_id: str, amount: D, transaction_id: str | None = None
        ) -> Any:
    """One ForetagIndbetaling to the account by its number (a keyed write); the reply."""
    soap = clients_for(url)
    try:
        return soap.debitor_indbetaling.call("ForetagIndbetaling", messages.foretag_indbetaling(
            CALLER, payment_id=payment_id, amount=amount, paid=date(2026, 3, 2),
            account_number=number, transaction_id=transaction_id))
    finally:
        soap.close()


@needs_postgres
def test_a_retry_racing_its_original_is_answered_once(tmp_path: Path, pg_db: str) -> None:
    """The same OpretFordring (same TransaktionsID) eight times at once over four workers:
    one claim, and every caller gets the same answer."""
    with serve(tmp_path, pg_db) as emu:
        number = fresh_account(emu.url)
        body = messages.opret_fordring(CALLER, account_number=number, claim=spec(ref="SAME"),
                                       transaction_id=str(uuid.uuid4()))
        barrier = threading.Barrier(8)

        def send(_: int) -> tuple[str | None, str | None]:
            clients = clients_for(emu.url)
            try:
                barrier.wait()
                r = clients.debitor_registrering.call("OpretFordring", body)
                return r.findtext("FordringID"), r.findtext("Opkraevning/BetalingsID")
            finally:
                clients.close()

        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = set(pool.map(send, range(8)))
        assert len(answers) == 1 and None not in next(iter(answers))
        journal = admin(emu.url, "GET", "/journal?operation=OpretFordring&limit=100")
        assert sorted(j["status"] for j in journal) == ["ok"] + ["replayed"] * 7


@needs_postgres
def test_requests_racing_for_one_business_key_are_answered_as_if_in_turn(
        tmp_path: Path, pg_db: str) -> None:
    """Eight OpretFordring with the same claim reference, then eight ForetagIndbetaling with
    the same IndbetalingID, each with a TransaktionsID of its own, at once over four
    workers: side by side, the losers of the unique key got a Server fault
    (IntegrityError). Each is answered as if it had come second: one claim, one payment,
    every answer OK, no fault in the journal."""
    with serve(tmp_path, pg_db) as emu:
        number = fresh_account(emu.url)
        barrier = threading.Barrier(8)

        def at_once(service: str, operation: str, make: Any) -> list[Any]:
            def send(_: int) -> Any:
                clients = clients_for(emu.url)
                try:
                    body = make()
                    barrier.wait()
                    return getattr(clients, service).call(operation, body)
                finally:
                    clients.close()

            with ThreadPoolExecutor(max_workers=8) as pool:
                return list(pool.map(send, range(8)))

        claims = at_once("debitor_registrering", "OpretFordring", lambda: messages.opret_fordring(
            CALLER, account_number=number, claim=spec(ref="SAME", principal="1000.00"),
            transaction_id=str(uuid.uuid4())))
        assert all(r.ok for r in claims), [r.errors for r in claims]
        ids = {r.findtext("FordringID") for r in claims}
        assert len(ids) == 1 and None not in ids
        claim_id = ids.pop()
        payments = at_once("debitor_indbetaling", "ForetagIndbetaling",
                           lambda: messages.foretag_indbetaling(
                               CALLER, payment_id="PAY-SAME", amount=D("123.45"),
                               paid=date(2026, 3, 2), claim_id=claim_id))
        assert all(r.ok for r in payments), [r.errors for r in payments]
        soap = clients_for(emu.url)
        view = soap.debitor_forespoergsel.call("HentDebitorkonto", messages.hent_debitorkonto(
            CALLER, account_number=number))
        soap.close()
        rest = view.element.findall(".//{*}FordringSamling/{*}Fordring/{*}Restbeloeb")
        assert [D(r.text or "") for r in rest] == [D("876.55")]  # paid once, øre-exact
        journal = admin(emu.url, "GET", "/journal?limit=200")
        assert not [j for j in journal if j["status"] == "fault"]
        assert "Traceback" not in emu.log()


@needs_postgres
def test_payments_at_once_over_four_workers_are_all_booked(tmp_path: Path, pg_db: str) -> None:
    """Sixteen payments at once (each its own IndbetalingID), half to one claim and half to
    the account, over four workers. Side by side on PostgreSQL each read the claims'
    remainders before the others had booked theirs and wrote its own result over them:
    all sixteen answered OK, a fraction of the money booked. Writers take turns now."""
    with serve(tmp_path, pg_db) as emu:
        number = fresh_account(emu.url)
        soap = clients_for(emu.url)
        reg = soap.debitor_registrering
        claim_ids = [reg.call("OpretFordring", messages.opret_fordring(
            CALLER, account_number=number, claim=spec(ref=f"C-{i}", principal="1000.00")
        )).findtext("FordringID") for i in range(3)]
        soap.close()
        barrier = threading.Barrier(16)

        def pay(i: int) -> bool:
            clients = clients_for(emu.url)
            try:
                target: dict[str, Any] = ({"claim_id": claim_ids[0]} if i % 2 == 0
                                          else {"account_number": number})
                body = messages.foretag_indbetaling(
                    CALLER, payment_id=f"P-{i}", amount=D("100.01") if i % 2 == 0
                    else D("149.99"), paid=date(2026, 3, 2), **target)
                barrier.wait()
                return bool(clients.debitor_indbetaling.call("ForetagIndbetaling", body).ok)
            finally:
                clients.close()

        with ThreadPoolExecutor(max_workers=16) as pool:
            assert all(pool.map(pay, range(16)))
        soap = clients_for(emu.url)
        view = soap.debitor_forespoergsel.call("HentDebitorkonto", messages.hent_debitorkonto(
            CALLER, account_number=number))
        soap.close()
        rest = {c.findtext("{*}FordringID"): D(c.findtext("{*}Restbeloeb") or "")
                for c in view.element.findall(".//{*}FordringSamling/{*}Fordring")}
        # 8 × 100.01 on the first claim; 8 × 149.99 by the coverage order, oldest first
        assert sum(rest.values()) == D("3000.00") - 8 * D("100.01") - 8 * D("149.99")
        assert rest == {claim_ids[0]: D("0.00"), claim_ids[1]: D("0.00"),
                        claim_ids[2]: D("1000.00")}


@needs_postgres
@pytest.mark.parametrize("server_default", ["read committed", "repeatable read"])
def test_a_keyed_writer_sees_what_the_writer_it_waited_for_committed(
        pg_db: str, server_default: str) -> None:
    """A writer waits for its key's lock in its transaction's first statement, and each
    later statement sees what committed before it, so it works from what the holder
    left: here it adds one to a number the holder changed while it waited. Also where
    the server's default isolation is REPEATABLE READ (its view would be fixed at the
    lock statement, before the holder committed): the store asks for READ COMMITTED."""
    admin_engine = create_engine(pg_db, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        database = make_url(pg_db).database
        conn.exec_driver_sql(f"ALTER DATABASE \"{database}\" SET default_transaction_isolation "
                             f"TO '{server_default}'")
    admin_engine.dispose()
    store = Store(pg_db)
    holder_engine = create_engine(pg_db)
    keys = ("account:100001",)
    try:
        with store.transaction() as conn:
            put_setting(conn, "balance", 1)

        def add_one(conn: Any) -> int:
            value = int(conn.execute(text("SELECT value FROM settings WHERE key = 'balance'")
                                     ).scalar_one()) + 1
            put_setting(conn, "balance", value)
            return value

        with ThreadPoolExecutor(max_workers=1) as pool, holder_engine.connect() as holder:
            with holder.begin():
                holder.exec_driver_sql(writer_locks_sql(keys))
                waiting = pool.submit(store.write, add_one, keys=keys)
                assert wait_for_lock_waiters(holder_engine, 1)
                holder.execute(text("UPDATE settings SET value = '41' WHERE key = 'balance'"))
            assert waiting.result(timeout=20) == 42
    finally:
        holder_engine.dispose()
        store.dispose()


@needs_postgres
def test_a_snapshot_sees_one_state_however_long_it_reads(pg_db: str) -> None:
    """A read of several statements (an account's claims, then their sub-claims) sees one
    state, as on SQLite: what commits meanwhile shows in the next read, not halfway."""
    store = Store(pg_db)
    try:
        with store.transaction() as conn:
            put_setting(conn, "seen", {"n": 1})
        with store.snapshot() as reading:
            before = reading.execute(text("SELECT value FROM settings WHERE key = 'seen'")
                                     ).scalar_one()
            with store.transaction() as conn:
                put_setting(conn, "seen", {"n": 2})
            during = reading.execute(text("SELECT value FROM settings WHERE key = 'seen'")
                                     ).scalar_one()
        with store.snapshot() as reading:
            after = reading.execute(text("SELECT value FROM settings WHERE key = 'seen'")
                                    ).scalar_one()
    finally:
        store.dispose()
    assert before == during == {"n": 1}
    assert after == {"n": 2}


# ---------------------------------------------------------------- the same answers as on SQLite


@contextmanager
def in_process_on(tmp_path: Path, db_url: str) -> Iterator[Any]:
    from tests.emulator_inproc import in_process

    with in_process(tmp_path, db_url=db_url) as emu:
        yield emu


@needs_postgres
def test_hostile_input_gets_the_same_answer_and_journal_row_on_postgresql(
        tmp_path: Path, pg_db: str) -> None:
    """Every hostile input on every end, as on SQLite: its Client fault and one journal
    row. (Those whose bytes held NUL left no row on PostgreSQL: text cannot hold NUL.)
    And a valid UTF-16 or UTF-32 request is answered, not a Server fault (DataError)."""
    from oir_adapter.contracts import SERVICES
    from tests.test_hostile_input import CASES, check_hostile_case, check_other_encodings

    with in_process_on(tmp_path, pg_db) as emu:
        emu.admin("PUT", "/clock", now="2026-03-02T10:00:00")
        for svc in SERVICES:
            for case in CASES:
                check_hostile_case(emu, svc, case)
        check_other_encodings(emu)


@needs_postgres
def test_reads_write_nothing_in_their_request_on_postgresql(
        tmp_path: Path, pg_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """As on SQLite: no idempotency record, the journal row queued and written in
    batches, there as soon as the journal is read."""
    import emulator.storage.store as store_module
    from tests.test_read_journal import check_reads_are_queued_and_batched

    monkeypatch.setattr(store_module, "DEFERRED_SECONDS", 3600.0)
    with in_process_on(tmp_path, pg_db) as emu:
        emu.admin("PUT", "/clock", now="2026-03-02T10:00:00")
        check_reads_are_queued_and_batched(emu)


@needs_postgres
def test_urls_with_nul_and_huge_ids_are_refused_on_postgresql(tmp_path: Path,
                                                              pg_db: str) -> None:
    """``?q=%00``, ``/accounts/%00``, ``/_admin/journal?transaktions_id=%00`` answered 500
    on PostgreSQL (DataError): a 400, as on SQLite."""
    from tests.test_web_guard import check_urls_with_nul_and_huge_ids

    with in_process_on(tmp_path, pg_db) as emu:
        check_urls_with_nul_and_huge_ids(emu.http)


@needs_postgres
def test_the_journal_export_streams_every_exchange_on_postgresql(tmp_path: Path,
                                                                 pg_db: str) -> None:
    from tests.test_web_guard import check_the_export_holds_every_exchange

    with in_process_on(tmp_path, pg_db) as emu:
        check_the_export_holds_every_exchange(emu)


@needs_postgres
def test_an_account_never_holds_more_than_its_replies_can_report_on_postgresql(
        tmp_path: Path, pg_db: str) -> None:
    from tests.test_booked_values import check_account_limits, check_the_overview_sums_past_64_bits

    with in_process_on(tmp_path, pg_db) as emu:
        emu.admin("PUT", "/clock", now="2025-08-20T10:00:00")
        check_account_limits(emu)
        check_the_overview_sums_past_64_bits(emu)


# ---------------------------------------------------------------- locks per debtor account


@needs_postgres
def test_payments_to_one_account_at_once_lose_nothing(tmp_path: Path, pg_db: str) -> None:
    """Twenty payments at once over four workers, each by account number (so each takes
    only its account's lock): sixteen to one account, four to another beside them. Every
    øre of each is booked on its own account: nothing read a remainder another payment
    was changing."""
    with serve(tmp_path, pg_db) as emu:
        fresh_account(emu.url)
        busy = open_account(emu.url, "R-busy", claims=3)
        beside = open_account(emu.url, "R-beside", claims=1)
        amounts = [D("10.00") + D(n) / 100 for n in range(20)]  # 10.00, 10.01 … 10.19
        targets = [busy] * 16 + [beside] * 4
        barrier = threading.Barrier(20)

        def one(n: int) -> bool:
            barrier.wait()
            return bool(pay(emu.url, targets[n], f"P-{n}", amounts[n]).ok)

        with ThreadPoolExecutor(max_workers=20) as pool:
            assert all(pool.map(one, range(20)))
        assert sum(remainders(emu.url, busy)) == D("3000.00") - sum(amounts[:16])
        assert remainders(emu.url, beside) == [D("1000.00") - sum(amounts[16:])]
        journal = admin(emu.url, "GET", "/journal?operation=ForetagIndbetaling&limit=100")
        assert sorted(j["status"] for j in journal) == ["ok"] * 20


@needs_postgres
def test_a_writer_on_one_account_does_not_wait_for_another_accounts(
        tmp_path: Path, pg_db: str) -> None:
    """Hold one account's lock as a writer on it would (an open transaction on a
    connection of the test's own): a payment to another account is answered meanwhile,
    a payment to the held account waits on that lock until the transaction ends, then
    is booked from what the holder left."""
    with serve(tmp_path, pg_db, workers=2) as emu:
        fresh_account(emu.url)
        held = open_account(emu.url, "R-held", claims=1)
        free = open_account(emu.url, "R-free", claims=1)
        engine = create_engine(pg_db)
        try:
            with ThreadPoolExecutor(max_workers=2) as pool, engine.connect() as holder:
                with holder.begin():
                    holder.exec_driver_sql(writer_locks_sql((f"account:{held}",)))
                    waiting = pool.submit(pay, emu.url, held, "P-held", D("100.00"))
                    assert wait_for_lock_waiters(engine, 1), "the payment never waited"
                    # answered while the held account's writer is still open
                    answered = pool.submit(pay, emu.url, free, "P-free", D("100.00"))
                    assert answered.result(timeout=20).ok
                    assert remainders(emu.url, free) == [D("900.00")]
                    assert not waiting.done()
                    assert remainders(emu.url, held) == [D("1000.00")]
                assert waiting.result(timeout=20).ok  # the lock went with the commit
        finally:
            engine.dispose()
        assert remainders(emu.url, held) == [D("900.00")]


@needs_postgres
def test_a_payment_waits_for_each_of_its_keys(tmp_path: Path, pg_db: str) -> None:
    """Races on a TransaktionsID or an IndbetalingID shared by two accounts are lost or won
    by timing; this shows without timing that a payment takes each key's lock (the same
    lock the test's process computes): held here, the payment waits for it, and is
    answered once it is released."""
    with serve(tmp_path, pg_db, workers=2) as emu:
        fresh_account(emu.url)
        number = open_account(emu.url, "R-keys", claims=1)
        engine = create_engine(pg_db)
        try:
            with ThreadPoolExecutor(max_workers=1) as pool, engine.connect() as holder:
                for n, kind in enumerate(("account", "payment", "tid")):
                    tid = str(uuid.uuid4())
                    key = {"account": f"account:{number}", "payment": f"payment:P-key-{n}",
                           "tid": f"tid:{tid}"}[kind]
                    with holder.begin():
                        holder.exec_driver_sql(writer_locks_sql((key,)))
                        waiting = pool.submit(pay, emu.url, number, f"P-key-{n}", D("1.00"),
                                              tid)
                        assert wait_for_lock_waiters(engine, 1), f"{kind}: never waited"
                        assert not waiting.done()
                    assert waiting.result(timeout=20).ok, kind
        finally:
            engine.dispose()
        assert remainders(emu.url, number) == [D("997.00")]


def wait_for_lock_waiters(engine: Any, count: int, seconds: float = 15.0) -> bool:
    """Whether ``count`` transactions come to wait for a per-key advisory lock (two-int
    advisory locks show ``objsubid`` 2 in ``pg_locks``) within ``seconds``."""
    deadline = time.monotonic() + seconds
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                "AND objsubid = 2 AND NOT granted")).scalar_one()
            conn.rollback()
            if waiting >= count:
                return True
            time.sleep(0.05)
    return False


@needs_postgres
def test_one_payment_or_transaction_id_on_two_accounts_at_once_is_taken_once(
        tmp_path: Path, pg_db: str) -> None:
    """Writers on two accounts run side by side, yet ids unique across accounts are still
    claimed once. Eight payments with one IndbetalingID, four to each of two accounts:
    booked once (one account's four get its answer, the other's are refused OIR-304).
    Eight payments with one TransaktionsID: one answered, seven refused (PSRM-600).
    Without the id's lock key the losers of the unique key got a Server fault
    (IntegrityError)."""
    with serve(tmp_path, pg_db) as emu:
        fresh_account(emu.url)
        accounts = [open_account(emu.url, "R-a", claims=1), open_account(emu.url, "R-b", claims=1)]
        barrier = threading.Barrier(8)

        def at_once(payment_ids: list[str], transaction_ids: list[str]) -> list[Any]:
            def one(n: int) -> Any:
                barrier.wait()
                return pay(emu.url, accounts[n % 2], payment_ids[n], D("10.00"),
                           transaction_ids[n])

            with ThreadPoolExecutor(max_workers=8) as pool:
                return list(pool.map(one, range(8)))

        rounds = 3  # each race is lost or won by timing: several make a miss unlikely
        for round_ in range(rounds):
            same_payment = at_once([f"P-SAME-{round_}"] * 8,
                                   [str(uuid.uuid4()) for _ in range(8)])
            assert sum(r.ok for r in same_payment) == 4
            assert len({n % 2 for n, r in enumerate(same_payment) if r.ok}) == 1  # one account
            assert {e.code for r in same_payment for e in r.errors} == {"OIR-304"}

            same_tid = at_once([f"P-{round_}-{n}" for n in range(8)], [str(uuid.uuid4())] * 8)
            assert sum(r.ok for r in same_tid) == 1
            assert {e.code for r in same_tid for e in r.errors} == {"PSRM-600"}

        left = sum(sum(remainders(emu.url, a)) for a in accounts)
        assert left == D("2000.00") - 2 * rounds * D("10.00")  # two payments a round, no more
        journal = admin(emu.url, "GET", "/journal?limit=200")
        assert not [j for j in journal if j["status"] == "fault"]
        assert "Traceback" not in emu.log()
