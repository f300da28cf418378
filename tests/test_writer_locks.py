"""Lock keys of writing transactions (PostgreSQL runs writers on other keys side by side):
how a key becomes an advisory lock, the order locks are taken in, which operations have
keys and which keys a request gets. The locks themselves are proven on a server in
tests/test_postgres.py; here what needs none."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from emulator.ends import debtor, fagsystem, psrm
from emulator.soap.envelope import envelope_bytes
from emulator.storage.store import LOCK_WRITERS, Store, lock_ids, writer_locks_sql
from oir_adapter.codecs import oir_requests as messages
from oir_adapter.codecs.callback import callback_request
from oir_adapter.domain.lifecycle import EventType, FagsystemEvent
from oir_adapter.domain.model import Party
from tests.emulator_inproc import in_process
from tests.test_debtor_end import CALLER, spec

INT4 = range(-2**31, 2**31)


def test_a_key_is_the_same_lock_in_every_process() -> None:
    """Pinned: workers and hosts must turn one key into one lock (Python's own string
    hash differs per process; this is the key's SHA-256)."""
    assert lock_ids(["account:100001"]) == [(1304446030, 1590306820)]
    assert lock_ids(["tid:x"]) == [(1981417465, 1887093505)]


def test_keys_become_sorted_distinct_two_int_locks() -> None:
    keys = [f"account:{n}" for n in range(100001, 100041)] + ["tid:x", "payment:P-1"]
    ids = lock_ids(keys + keys[:5])  # repeats give no second lock
    assert len(ids) == len(keys)  # no two of these keys share a lock
    assert ids == sorted(ids)
    assert all(high in INT4 and low in INT4 for high, low in ids)
    assert lock_ids(reversed(keys)) == ids  # the order keys come in does not matter


def test_unkeyed_writers_take_the_writers_lock_alone_and_keyed_ones_share_it() -> None:
    assert writer_locks_sql(None) == f"SELECT pg_advisory_xact_lock({LOCK_WRITERS})"
    assert writer_locks_sql(()) == f"SELECT pg_advisory_xact_lock_shared({LOCK_WRITERS})"
    keys = ("tid:x", "account:100001")
    (high1, low1), (high2, low2) = lock_ids(keys)
    # the shared writers' lock first (an unkeyed writer waiting for it must not be
    # waiting behind someone holding a key), then the keys in one order for everyone
    assert writer_locks_sql(keys) == (
        f"SELECT pg_advisory_xact_lock_shared({LOCK_WRITERS}), "
        f"pg_advisory_xact_lock({high1}, {low1}), pg_advisory_xact_lock({high2}, {low2})")


#: The operations proven to lie within one account (see emulator/ends/debtor/__init__.py):
#: a new one is added here on purpose, after its footprint was checked.
KEYED = {"OpretFordring", "ForetagIndbetaling", "AfslutHaeftelse",
         "AfslutGaeldendeAdresseAdministrator", "AfslutGaeldendeAdresseJuridiskAnsvarlig",
         "AfslutGaeldendeAdresseJuridiskMedhaefter", "AfslutLigestillingspartner",
         "AfslutAdministrator", "AfslutMaterialeabonnementAdministrator",
         "AfslutMaterialeabonnementJuridiskAnsvarlig",
         "AfslutMaterialeabonnementJuridiskMedhaefter"}


def test_only_the_checked_operations_have_keys() -> None:
    keyed = {name for name, h in debtor.HANDLERS.items() if h.lock_keys is not None}
    assert keyed == KEYED
    assert not any(debtor.HANDLERS[name].read_only for name in keyed)
    # the fagsystem end keeps events by id and answers: keyed by those ids
    assert all(h.lock_keys is not None for h in fagsystem.HANDLERS.values())
    # PSRM's intake books deliveries of many claims and debtors at once
    assert all(h.lock_keys is None for h in psrm.HANDLERS.values())


def keys_of(operation: str, body: etree._Element) -> tuple[str, ...] | None:
    keys = debtor.HANDLERS[operation].lock_keys
    assert keys is not None
    return keys(body)


def payment(**target: Any) -> etree._Element:
    return messages.foretag_indbetaling(CALLER, payment_id="P-1", amount=D("10.00"),
                                        paid=date(2026, 3, 2), transaction_id="T-1", **target)


def test_a_payment_by_account_number_is_keyed_by_account_payment_and_transaction() -> None:
    assert keys_of("ForetagIndbetaling", payment(account_number="100001")) == (
        "account:100001", "payment:P-1", "tid:T-1")


def test_a_payment_found_by_claim_fik_or_payer_waits_for_every_writer() -> None:
    """Its account is known only once its claim or payer is looked up."""
    assert keys_of("ForetagIndbetaling", payment(claim_id="F0000001")) is None
    assert keys_of("ForetagIndbetaling", payment(fik="000000000000017")) is None
    assert keys_of("ForetagIndbetaling", payment(payer=Party.cpr("0405871270"))) is None


def test_keys_name_the_account_as_the_handler_reads_it() -> None:
    """The handler reads the number stripped: `` 100001 `` is account 100001, so it must
    take account 100001's lock, or two payments to one account would run side by side."""
    body = messages.opret_fordring(CALLER, account_number="100001", claim=spec(),
                                   transaction_id="T-2")
    assert keys_of("OpretFordring", body) == ("account:100001", "tid:T-2")
    number = body.find("{*}DebitorkontoNummer")
    assert number is not None
    number.text = "\n  100001 "
    assert keys_of("OpretFordring", body) == ("account:100001", "tid:T-2")


def test_the_pipeline_passes_a_requests_keys_to_its_transaction(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keyed operations hand their keys to ``Store.write``; an unkeyed one and a
    schema-invalid request hand none (SQLite ignores them)."""
    seen: list[tuple[str, Any]] = []
    with in_process(tmp_path) as emu:
        emu.admin("PUT", "/clock", now="2026-03-02T10:00:00")
        original = Store.write

        def spy(self: Store, work: Any, **kw: Any) -> Any:
            seen.append((getattr(work, "__qualname__", ""), kw.get("keys")))
            return original(self, work, **kw)

        monkeypatch.setattr(Store, "write", spy)
        reg = emu.soap.debitor_registrering
        number = reg.call("OpretDebitorkonto", messages.opret_debitorkonto(
            CALLER, reference="R", party=Party.cpr("0405871270"), name="N")
        ).findtext("DebitorkontoNummer")
        assert number
        claim_tid, payment_tid = str(uuid.uuid4()), str(uuid.uuid4())
        assert reg.call("OpretFordring", messages.opret_fordring(
            CALLER, account_number=number, claim=spec(), transaction_id=claim_tid)).ok
        assert emu.soap.debitor_indbetaling.call("ForetagIndbetaling", messages.foretag_indbetaling(
            CALLER, payment_id="P-9", amount=D("10.00"), paid=date(2026, 3, 2),
            account_number=number, transaction_id=payment_tid)).ok
        bad = messages.opret_fordring(CALLER, account_number=number, claim=spec(ref="C-2"))
        bad.remove(bad.find("{*}Fordring"))  # schema-invalid: no keys
        assert emu.post_raw("/service/OIR/DebitorRegistreringAfsend/1", envelope_bytes(bad)
                            ).status_code == 500
        assert emu.soap.debitor_forespoergsel.call("HentDebitorkonto", messages.hent_debitorkonto(
            CALLER, account_number=number)).ok
        emu.runtime.store.settle()
    requests = [keys for name, keys in seen if name.endswith("work")]
    assert requests == [None, (f"account:{number}", f"tid:{claim_tid}"),
                        (f"account:{number}", "payment:P-9", f"tid:{payment_tid}"), None]


def test_a_callback_is_keyed_by_its_event_ids_and_transaction() -> None:
    """The fagsystem end keeps events unique by HaendelseID: two callbacks carrying one
    event must take turns, or the second would fail on the unique key."""
    events = [FagsystemEvent(event_id=f"DAEK-P-{n}-F0000001", type=EventType.COVERAGE,
                             account_number="100001", claim_id="F0000001",
                             fagsystem_claim_id="C-1", date=date(2026, 3, 2),
                             amount=D("10.00"), remaining=D("990.00")) for n in (2, 1)]
    tid = str(uuid.uuid4())
    body = callback_request(events, transaction_id=tid, transaction_time=datetime(2026, 3, 2),
                            authority_cvr=CALLER.authority_cvr, fagsystem_id="DAGTILBUD")
    keys = fagsystem.HANDLERS["RegistrerDaekningAfskrivning"].lock_keys
    assert keys is not None
    assert keys(body) == ("event:DAEK-P-2-F0000001", "event:DAEK-P-1-F0000001", f"tid:{tid}")
