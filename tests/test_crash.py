"""Crash safety: ``oir serve`` on SQLite takes a stream of ``OpretFordring`` and
``ForetagIndbetaling`` calls from several threads and is killed with SIGKILL mid-stream.
Restarted on the same file, every call that was answered with success is there exactly
once, the money balances to the øre, and repeating the calls that got no answer — with
their own TransaktionsID and IndbetalingID — completes them without doubles."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import requests
from lxml import etree

from oir_adapter.clients import ClientError, Clients, clients_for
from oir_adapter.codecs import oir_requests as messages
from oir_adapter.contracts import OIR_NS
from oir_adapter.domain.model import Party
from tests.emulator_process import EmulatorProcess
from tests.test_debtor_end import CALLER

THREADS = 4
ROUNDS = 60  # per thread, each a claim and a payment: more than get through before the kill
KILL_AFTER = 50  # successful answers across all threads
PRINCIPAL = D("100.00")
PAYMENT = D("10.00")  # always less than what is open: no surplus to account for
Q = f"{{{OIR_NS}}}"


@dataclass
class Sent:
    """One call as the caller knows it: what was sent and whether success came back."""

    operation: str
    account: str
    key: str  # FagsystemFordringID or IndbetalingID
    body: etree._Element
    answered: bool = False


@dataclass
class Stream:
    calls: list[Sent] = field(default_factory=list)
    successes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    enough: threading.Event = field(default_factory=threading.Event)


def call(soap: Clients, sent: Sent) -> bool:
    """Send one call; True when it was answered with success."""
    client = (soap.debitor_registrering if sent.operation == "OpretFordring"
              else soap.debitor_indbetaling)
    reply = client.call(sent.operation, sent.body)
    assert reply.ok, reply.errors
    return True


def worker(url: str, account: str, n: int, stream: Stream) -> None:
    soap = clients_for(url, timeout=(5, 30))
    try:
        for i in range(ROUNDS):
            claim = Sent("OpretFordring", account, f"T{n}-C{i}", messages.opret_fordring(
                CALLER, account_number=account, claim=messages.ClaimSpec(
                    f"T{n}-C{i}", "DAGINST", PRINCIPAL, date(2026, 2, 1), date(2026, 2, 28),
                    date(2026, 2, 1), date(2026, 3, 20), date(2026, 3, 27))))
            payment = Sent("ForetagIndbetaling", account, f"T{n}-P{i}",
                           messages.foretag_indbetaling(
                               CALLER, payment_id=f"T{n}-P{i}", amount=PAYMENT,
                               paid=date(2026, 3, 2), account_number=account))
            for sent in (claim, payment):
                with stream.lock:
                    stream.calls.append(sent)
                try:
                    sent.answered = call(soap, sent)
                except ClientError:
                    return  # the server is gone: this call stays unanswered
                with stream.lock:
                    stream.successes += 1
                    if stream.successes >= KILL_AFTER:
                        stream.enough.set()
    finally:
        soap.close()


def account_state(soap: Clients, account: str) -> tuple[D, Counter[str], Counter[str], D]:
    """Balance, claims by FagsystemFordringID, payments by IndbetalingID, coverage sum."""
    konto = soap.debitor_forespoergsel.call("HentDebitorkonto", messages.hent_debitorkonto(
        CALLER, account_number=account)).element.find(f"{Q}Debitorkonto")
    assert konto is not None
    claims = Counter(e.text or "" for e in konto.iter(f"{Q}FagsystemFordringID"))
    payments = Counter(e.findtext(f"{Q}IndbetalingID") or ""
                       for e in konto.iterfind(f"{Q}IndbetalingSamling/{Q}Indbetaling"))
    covered = sum((D(e.text or "0") for e in konto.iterfind(
        f"{Q}DaekningSamling/{Q}Daekning/{Q}Beloeb")), D("0.00"))
    return D(konto.findtext(f"{Q}Saldo") or "x"), claims, payments, covered


def check_books(soap: Clients, accounts: list[str], must_have: list[Sent]) -> None:
    """Each call in ``must_have`` is there once, nothing else is, and the money balances."""
    for account in accounts:
        balance, claims, payments, covered = account_state(soap, account)
        assert all(n == 1 for n in claims.values()), claims
        assert all(n == 1 for n in payments.values()), payments
        mine = [s for s in must_have if s.account == account]
        assert {s.key for s in mine if s.operation == "OpretFordring"} <= set(claims)
        assert {s.key for s in mine if s.operation == "ForetagIndbetaling"} <= set(payments)
        assert covered == PAYMENT * len(payments)
        assert balance == PRINCIPAL * len(claims) - PAYMENT * len(payments)


def test_sigkill_mid_stream_loses_no_answered_call_and_doubles_nothing(tmp_path: Path) -> None:
    db = tmp_path / "crash.sqlite3"
    emu = EmulatorProcess(db, workers=2).start()
    try:
        soap = clients_for(emu.url)
        requests.put(f"{emu.url}/_admin/clock", json={"now": "2026-03-02T10:00:00"}, timeout=30)
        accounts = []
        for n in range(THREADS):
            r = soap.debitor_registrering.call("OpretDebitorkonto", messages.opret_debitorkonto(
                CALLER, reference=f"CRASH-{n}", party=Party.cpr("0405871270"), name=f"T{n}"))
            number = r.findtext("DebitorkontoNummer")
            assert number
            accounts.append(number)
        soap.close()
        stream = Stream()
        threads = [threading.Thread(target=worker, args=(emu.url, a, n, stream), daemon=True)
                   for n, a in enumerate(accounts)]
        for th in threads:
            th.start()
        assert stream.enough.wait(60), "the stream never got going"
        emu.kill()  # SIGKILL, mid-stream
        for th in threads:
            th.join(timeout=60)
            assert not th.is_alive()
    finally:
        emu.kill()

    answered = [s for s in stream.calls if s.answered]
    unanswered = [s for s in stream.calls if not s.answered]
    assert len(answered) >= KILL_AFTER
    assert len(unanswered) <= THREADS  # each thread stops at its first unanswered call
    assert len(stream.calls) < THREADS * ROUNDS * 2  # the kill did come mid-stream

    again = EmulatorProcess(db, workers=2).start()
    try:
        soap = clients_for(again.url)
        check_books(soap, accounts, answered)
        # the calls that got no answer, repeated as they were: now answered, and once
        for sent in unanswered:
            assert call(soap, sent)
        # a few answered ones repeated too: replayed, not booked twice
        for sent in answered[:3] + answered[-3:]:
            assert call(soap, sent)
        check_books(soap, accounts, stream.calls)
        for account in accounts:
            _balance, claims, payments, _covered = account_state(soap, account)
            sent_claims = {s.key for s in stream.calls
                           if s.account == account and s.operation == "OpretFordring"}
            sent_payments = {s.key for s in stream.calls
                             if s.account == account and s.operation == "ForetagIndbetaling"}
            assert set(claims) == sent_claims and set(payments) == sent_payments
        soap.close()
    finally:
        again.stop()
