"""The account's balance bound: what lets OpretFordring check the largest balance (OIR-320)
without summing every claim on the account, and when it must not be trusted.

The bound is every amount booked onto an account (a remainder only goes down), so it is
never below the balance; where an amount arrives some other way (a claim moved in, a
restored state, a database from before the bound existed) it is forgotten or recomputed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from emulator.storage import ledger, migrations
from emulator.storage.store import Store
from tests.emulator_inproc import InProcessEmulator, in_process
from tests.test_booked_values import REGISTRATION, example, found, post

LARGEST = b"9999999999999.99"


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[InProcessEmulator]:
    with in_process(tmp_path) as e:
        e.admin("PUT", "/clock", now="2025-08-20T10:00:00")
        yield e


def fresh_id(reference: bytes) -> bytes:
    """A TransaktionsID's first group of its own for each reference."""
    return hashlib.sha256(reference).hexdigest()[:8].encode()


def new_account(emu: InProcessEmulator, reference: bytes) -> str:
    data = (example("OpretDebitorkonto").replace(b"<FagsystemReference>",
                                                 b"<FagsystemReference>" + reference)
            .replace(b"69c0bc7d", fresh_id(reference)))
    [number] = found(post(emu, REGISTRATION, data), "DebitorkontoNummer")
    return number


def claim(number: str, reference: bytes, principal: bytes) -> bytes:
    """An OpretFordring of ``principal`` with no sub-claims on account ``number``."""
    return (example("OpretFordring").replace(b"100004711", number.encode())
            .replace(b"<Hovedstol>1845.00", b"<Hovedstol>" + principal)
            .replace(b"DT-2025-09", reference).replace(b"1250aef4", fresh_id(reference))
            .replace(b"<DelfordringSamling>", b"<!--").replace(b"</DelfordringSamling>", b"-->"))


def bound(emu: InProcessEmulator, number: str) -> Decimal | None:
    with emu.runtime.store.transaction() as conn:
        return ledger.balance_bound(conn, number)


def test_every_claim_raises_the_bound_by_what_it_books(emu: InProcessEmulator) -> None:
    number = new_account(emu, b"B1-")
    assert bound(emu, number) == Decimal("0.00")
    post(emu, REGISTRATION, claim(number, b"REF-A-0001", b"1234.56"))
    post(emu, REGISTRATION, claim(number, b"REF-A-0002", b"0.07"))
    assert bound(emu, number) == Decimal("1234.63")
    # the full example, with its two sub-claims: principal plus both, øre-exact
    full = (example("OpretFordring").replace(b"100004711", number.encode()))
    post(emu, REGISTRATION, full)
    with emu.runtime.store.transaction() as conn:
        balance = ledger.account_balances(conn, [number])[number]
    assert balance > Decimal("1234.63") and bound(emu, number) == balance


def test_a_refused_claim_books_nothing(emu: InProcessEmulator) -> None:
    number = new_account(emu, b"B2-")
    post(emu, REGISTRATION, claim(number, b"REF-B-0001", LARGEST))
    refused = post(emu, REGISTRATION, claim(number, b"REF-B-0002", b"0.01"), ok=False)
    assert found(refused, "FejlKode") == ["OIR-320"]
    assert bound(emu, number) == Decimal(LARGEST.decode())


def test_a_claim_moved_in_makes_the_bound_unknown_and_the_limit_still_holds(
        emu: InProcessEmulator) -> None:
    """A claim that arrives by a move was never booked onto its new account: the bound
    is forgotten, and OIR-320 sums the claims again."""
    full, other = new_account(emu, b"B3-"), new_account(emu, b"B4-")
    post(emu, REGISTRATION, claim(other, b"REF-C-0001", LARGEST))
    with emu.runtime.store.transaction() as conn:
        [moved] = [c.id for c in ledger.claims_for_accounts(conn, [other])]
        ledger.move_claim(conn, moved, full)
    assert bound(emu, full) is None
    refused = post(emu, REGISTRATION, claim(full, b"REF-C-0002", b"0.01"), ok=False)
    assert found(refused, "FejlKode") == ["OIR-320"]


def test_a_restored_state_gets_its_bounds_from_its_claims(emu: InProcessEmulator) -> None:
    """A saved state may say anything of the bound (an edited file, an older version):
    the restore computes it from the claims, so an understated one cannot let a claim
    past the limit."""
    number = new_account(emu, b"B5-")
    post(emu, REGISTRATION, claim(number, b"REF-D-0001", LARGEST))
    state = emu.admin("GET", "/state")
    [row] = [a for a in state["tables"]["accounts"] if a["number"] == number]
    row["booked_ore"] = 0
    emu.admin("PUT", "/state", **state)
    assert bound(emu, number) == Decimal(LARGEST.decode())
    refused = post(emu, REGISTRATION, claim(number, b"REF-D-0002", b"0.01"), ok=False)
    assert found(refused, "FejlKode") == ["OIR-320"]


def test_an_older_database_gets_the_bound_on_start(tmp_path: Path) -> None:
    """A database made before the bound existed: the column is added and filled from the
    claims already there when the emulator starts on it."""
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    with in_process(tmp_path, db_url=url) as emu:
        emu.admin("PUT", "/clock", now="2025-08-20T10:00:00")
        number = new_account(emu, b"B6-")
        post(emu, REGISTRATION, claim(number, b"REF-E-0001", b"500.25"))
    store = Store(url)
    try:
        with store.transaction() as conn:
            conn.execute(text("ALTER TABLE accounts DROP COLUMN booked_ore"))
    finally:
        store.dispose()
    store = Store(url)  # starts: brings the file up to date
    try:
        with store.transaction() as conn:
            assert ledger.balance_bound(conn, number) == Decimal("500.25")
            migrations.recompute_bounds(conn)  # again: the same figure
            assert ledger.balance_bound(conn, number) == Decimal("500.25")
    finally:
        store.dispose()
