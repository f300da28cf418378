"""Coverage order (gældsinddrivelsesloven § 4): worked examples and properties.

Worked examples assert every amount to the øre. The properties check the plan against an
order derived here from the rules themselves (not from the engine's own key), so a wrong
rank, tie-break or sub-claim order fails them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oir_adapter.domain.coverage import (
    CoverageError,
    CoveragePlan,
    apply_coverage,
    cover_payment,
    coverage_order,
    plan_coverage,
)
from oir_adapter.domain.model import (
    Claim,
    ClaimState,
    Coverage,
    CoverageSource,
    Invoice,
    MoneyError,
    Payment,
    SubClaim,
)
from oir_adapter.domain.tables import ClaimTypeTable
from tests import claim_strategies
from tests.claim_strategies import CODES, COVERABLE, OPEN_LIKE, RANK, cents, days, part, share_left

TYPES = ClaimTypeTable.default()
DAY = date(2026, 3, 2)
D = Decimal


# ---------------------------------------------------------------- builders

@dataclass(frozen=True)
class Sub:
    id: str
    amount: str
    founded: date | None = None
    remaining: str | None = None
    type_code: str = "RENTE"


def make_claim(
    id: str,
    type_code: str = "CFFAKTU",
    principal: str = "100.00",
    *,
    received: date = date(2026, 1, 1),
    founded: date = date(2025, 12, 1),
    remaining: str | None = None,
    subs: Sequence[Sub] = (),
    state: ClaimState = ClaimState.OPEN,
    payment_id: str | None = None,
    deferral_until: date | None = None,
) -> Claim:
    return Claim(
        id=id, account_number="K1", fagsystem_claim_id=f"F-{id}", type_code=type_code,
        principal=D(principal), period_from=date(2025, 1, 1), period_to=date(2025, 12, 31),
        founded=founded, due_date=date(2026, 1, 15), srb=date(2026, 1, 31), received=received,
        remaining_principal=None if remaining is None else D(remaining),
        sub_claims=[SubClaim(s.id, s.type_code, D(s.amount),
                             D(s.remaining if s.remaining is not None else s.amount),
                             founded=s.founded) for s in subs],
        invoice=None if payment_id is None else Invoice(
            id=f"I-{id}", payment_id=payment_id, creditor_number="87654321",
            amount=D(principal), due_date=date(2026, 1, 15), srb=date(2026, 1, 31)),
        state=state, deferral_until=deferral_until,
    )


def plan(claims: Sequence[Claim], amount: str, **kw: str | None) -> CoveragePlan:
    return plan_coverage(claims, D(amount), source=CoverageSource.PAYMENT, source_id="P1",
                         on=DAY, claim_types=TYPES, **kw)


def summary(p: CoveragePlan) -> list[tuple[str, str | None, str]]:
    return [(line.claim_id, line.sub_claim_id, str(line.amount)) for line in p.lines]


# ---------------------------------------------------------------- worked examples

EXAMPLES = {
    "fines before maintenance before other claims": (
        [make_claim("OTHER", "CFFAKTU", "300.00", received=date(2025, 1, 1)),
         make_claim("MAINT", "BIDRAGP", "200.00", received=date(2025, 6, 1)),
         make_claim("FINE", "BOEDE", "150.00", received=date(2026, 1, 1))],
        "400.00", {},
        [("FINE", None, "150.00"), ("MAINT", None, "200.00"), ("OTHER", None, "50.00")],
        "0.00"),
    "private before public maintenance": (
        [make_claim("PUB", "BIDRAGO", "100.00", received=date(2024, 1, 1)),
         make_claim("PRIV", "BIDRAGP", "100.00", received=date(2026, 1, 1))],
        "150.00", {},
        [("PRIV", None, "100.00"), ("PUB", None, "50.00")],
        "0.00"),
    "interest and fees before principal, oldest sub-claim first": (
        [make_claim("C", "CFFAKTU", "1000.00", subs=[
            Sub("A-RENTE", "12.34", founded=date(2026, 3, 1)),
            Sub("B-GEBYR", "100.00", founded=date(2026, 2, 1), type_code="GEBYR"),
            Sub("C-RENTE", "7.00")])],  # no founding date: counts as founded with the claim
        "150.00", {},
        [("C", "C-RENTE", "7.00"), ("C", "B-GEBYR", "100.00"), ("C", "A-RENTE", "12.34"),
         ("C", None, "30.66")],
        "0.00"),
    "oldest received first, ties by founding date, then id": (
        [make_claim("A", received=date(2026, 2, 1), founded=date(2025, 1, 1)),
         make_claim("B", received=date(2026, 1, 1), founded=date(2025, 12, 1)),
         make_claim("D", received=date(2026, 1, 1), founded=date(2025, 11, 1)),
         make_claim("C", received=date(2026, 1, 1), founded=date(2025, 11, 1))],
        "350.01", {},
        [("C", None, "100.00"), ("D", None, "100.00"), ("B", None, "100.00"),
         ("A", None, "50.01")],
        "0.00"),
    "FIK payment id covers its claim first, then the order": (
        [make_claim("FINE", "BOEDE", "80.00"),
         make_claim("BILL", "CFFAKTU", "200.00", payment_id="000000000012345"),
         make_claim("TV", "LIMEDIE", "90.00", received=date(2020, 1, 1))],
        "250.00", {"target_payment_id": "000000000012345"},
        [("BILL", None, "200.00"), ("FINE", None, "50.00")],
        "0.00"),
    "claim id covers its claim first, sub-claims before principal": (
        [make_claim("FINE", "BOEDE", "80.00"),
         make_claim("BILL", "CFFAKTU", "200.00", subs=[Sub("FEE", "65.00", type_code="GEBYR")])],
        "300.00", {"target_claim_id": "BILL"},
        [("BILL", "FEE", "65.00"), ("BILL", None, "200.00"), ("FINE", None, "35.00")],
        "0.00"),
    "unknown FIK id falls back to the order": (
        [make_claim("FINE", "BOEDE", "80.00"),
         make_claim("BILL", "CFFAKTU", "200.00", payment_id="000000000012345")],
        "100.00", {"target_payment_id": "999999999999999"},
        [("FINE", None, "80.00"), ("BILL", None, "20.00")],
        "0.00"),
    "surplus is reported, never lost": (
        [make_claim("C", "CFFAKTU", "123.45")],
        "1000.00", {},
        [("C", None, "123.45")],
        "876.55"),
    "partly paid claims cover only their remainder": (
        [make_claim("C", "CFFAKTU", "500.00", remaining="0.01",
                    subs=[Sub("R", "10.00", remaining="0.00"), Sub("G", "30.00", remaining="29.99")])],
        "100.00", {},
        [("C", "G", "29.99"), ("C", None, "0.01")],
        "70.00"),
    "deferral does not block a voluntary payment": (
        [make_claim("C", "CFFAKTU", "100.00", deferral_until=date(2027, 1, 1))],
        "40.00", {},
        [("C", None, "40.00")],
        "0.00"),
    "closed claims are passed over; handed-over ones are covered": (
        [make_claim("PAID", "BOEDE", "10.00", state=ClaimState.PAID),
         make_claim("GONE", "BOEDE", "10.00", state=ClaimState.CANCELLED),
         make_claim("OFF", "BOEDE", "10.00", state=ClaimState.WRITTEN_OFF),
         make_claim("PSRM-DONE", "BOEDE", "10.00", state=ClaimState.COVERED_BY_PSRM),
         make_claim("IN-PSRM", "CFFAKTU", "10.00", state=ClaimState.HANDED_OVER),
         make_claim("BACK", "CFFAKTU", "10.00", state=ClaimState.RECALLED,
                    received=date(2026, 1, 2))],
        "25.00", {},
        [("IN-PSRM", None, "10.00"), ("BACK", None, "10.00")],
        "5.00"),
    "zero payment covers nothing": (
        [make_claim("C")], "0.00", {}, [], "0.00"),
}


@pytest.mark.parametrize("name", EXAMPLES)
def test_worked_example(name: str) -> None:
    claims, amount, targets, expected, surplus = EXAMPLES[name]
    p = plan(claims, amount, **targets)
    assert summary(p) == expected
    assert p.surplus == D(surplus)
    assert p.covered + p.surplus == D(amount)
    assert all(line.date == DAY and line.source is CoverageSource.PAYMENT
               and line.source_id == "P1" for line in p.lines)


def docs_account() -> list[Claim]:
    """The account of docs/coverage.md's worked example."""
    return [
        make_claim("K-101", "CFFAKTU", "1200.00", received=date(2026, 1, 5),
                   founded=date(2025, 12, 1), payment_id="000000001011014",
                   subs=[Sub("R-1", "23.45", founded=date(2026, 2, 1)),
                         Sub("G-1", "100.00", founded=date(2026, 1, 20), type_code="GEBYR")]),
        make_claim("K-102", "LIMEDIE", "450.00", received=date(2025, 11, 10),
                   founded=date(2025, 10, 1)),
        make_claim("K-103", "BIDRAGO", "800.00", received=date(2025, 9, 1),
                   founded=date(2025, 8, 1)),
        make_claim("K-104", "BIDRAGP", "300.00", received=date(2026, 2, 1),
                   founded=date(2026, 1, 15)),
        make_claim("K-105", "BOEDE", "500.00", received=date(2026, 3, 1),
                   founded=date(2026, 2, 20)),
    ]


@pytest.mark.parametrize("amount, fik, expected, surplus", [
    ("2500.00", None,
     [("K-105", None, "500.00"), ("K-104", None, "300.00"), ("K-103", None, "800.00"),
      ("K-102", None, "450.00"), ("K-101", "G-1", "100.00"), ("K-101", "R-1", "23.45"),
      ("K-101", None, "326.55")], "0.00"),
    ("300.00", "000000001011014",
     [("K-101", "G-1", "100.00"), ("K-101", "R-1", "23.45"), ("K-101", None, "176.55")],
     "0.00"),
    ("5000.00", None,
     [("K-105", None, "500.00"), ("K-104", None, "300.00"), ("K-103", None, "800.00"),
      ("K-102", None, "450.00"), ("K-101", "G-1", "100.00"), ("K-101", "R-1", "23.45"),
      ("K-101", None, "1200.00")], "1626.55"),
])
def test_docs_worked_example(amount: str, fik: str | None,
                             expected: list[tuple[str, str | None, str]], surplus: str) -> None:
    p = plan(docs_account(), amount, target_payment_id=fik)
    assert summary(p) == expected
    assert p.surplus == D(surplus) and p.covered + p.surplus == D(amount)


def test_coverage_order_leaves_out_closed_and_settled_claims() -> None:
    claims = [make_claim("Z", "CFFAKTU"), make_claim("F", "BOEDE"),
              make_claim("ZERO", "BOEDE", remaining="0.00"),
              make_claim("X", "BIDRAGO", state=ClaimState.PAID),
              make_claim("U", "NOSUCHTYPE", received=date(2025, 1, 1))]
    assert [c.id for c in coverage_order(claims, claim_types=TYPES)] == ["F", "U", "Z"]


def test_plan_does_not_mutate() -> None:
    claims = [make_claim("C", subs=[Sub("R", "5.00")])]
    plan(claims, "50.00")
    assert claims[0].remaining_principal == D("100.00")
    assert claims[0].sub_claims[0].remaining == D("5.00")


@pytest.mark.parametrize("amount, error", [("-0.01", CoverageError), ("1.005", MoneyError)])
def test_plan_refuses_bad_amounts(amount: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        plan([make_claim("C")], amount)


def test_plan_normalises_whole_kroner() -> None:
    p = plan([make_claim("C")], "30")
    assert p.lines[0].amount == D("30.00") and str(p.surplus) == "0.00"


def test_apply_settles_open_claims_and_keeps_handed_over_ones() -> None:
    open_claim = make_claim("O", "BOEDE", "50.00", subs=[Sub("R", "2.50")])
    psrm = make_claim("H", "CFFAKTU", "20.00", state=ClaimState.HANDED_OVER)
    rejected = make_claim("J", "CFFAKTU", "20.00", state=ClaimState.REJECTED,
                          received=date(2026, 2, 1))
    claims = [open_claim, psrm, rejected]
    p = plan(claims, "80.00")
    assert summary(p) == [("O", "R", "2.50"), ("O", None, "50.00"), ("H", None, "20.00"),
                          ("J", None, "7.50")]
    apply_coverage(claims, p.lines)
    assert open_claim.state is ClaimState.PAID and open_claim.outstanding == D("0.00")
    assert psrm.state is ClaimState.HANDED_OVER and psrm.outstanding == D("0.00")
    assert rejected.state is ClaimState.REJECTED and rejected.outstanding == D("12.50")
    p2 = plan(claims, "12.50")
    apply_coverage(claims, p2.lines)
    assert rejected.state is ClaimState.PAID


def _line(claim_id: str, amount: str, sub: str | None = None) -> Coverage:
    return Coverage(CoverageSource.PAYMENT, "P", claim_id, D(amount), DAY, sub)


@pytest.mark.parametrize("lines, message", [
    ([_line("C", "100.01")], "overpay"),
    ([_line("C", "60.00"), _line("C", "40.01")], "overpay"),
    ([_line("C", "1.00"), _line("C", "5.00", "R"), _line("C", "0.01", "R")], "overpay"),
    ([_line("C", "1.00"), _line("NOPE", "1.00")], "not among"),
    ([_line("C", "1.00"), _line("C", "1.00", "NOSUB")], "no sub-claim"),
    ([_line("C", "0.00")], "positive"),
    ([_line("C", "-1.00")], "positive"),
    ([_line("C", "0.001")], "positive"),
    ([_line("PAID", "1.00")], "cannot be covered"),
])
def test_apply_refuses_and_changes_nothing(lines: list[Coverage], message: str) -> None:
    claims = [make_claim("C", subs=[Sub("R", "5.00")]),
              make_claim("PAID", remaining="10.00", state=ClaimState.PAID)]
    with pytest.raises(CoverageError, match=message):
        apply_coverage(claims, lines)
    assert claims[0].remaining_principal == D("100.00")
    assert claims[0].sub_claims[0].remaining == D("5.00")
    assert claims[0].state is ClaimState.OPEN


def test_cover_payment_targets_and_is_idempotent() -> None:
    claims = [make_claim("FINE", "BOEDE", "80.00"),
              make_claim("BILL", "CFFAKTU", "200.00", payment_id="000000000012345")]
    payment = Payment(id="IND-1", amount=D("210.00"), date=date(2026, 2, 27),
                      payment_id="000000000012345")
    applied: set[str] = set()
    first = cover_payment(claims, payment, already_applied=applied, claim_types=TYPES)
    assert first is not None
    assert summary(first) == [("BILL", None, "200.00"), ("FINE", None, "10.00")]
    assert all(line.date == date(2026, 2, 27) and line.source_id == "IND-1"
               for line in first.lines)
    apply_coverage(claims, first.lines)
    applied.add(payment.id)
    assert cover_payment(claims, payment, already_applied=applied, claim_types=TYPES) is None
    assert [c.outstanding for c in claims] == [D("70.00"), D("0.00")]


# ---------------------------------------------------------------- properties

maybe_days = st.none() | days


def øre(low: int, high: int) -> st.SearchStrategy[Decimal]:
    return st.integers(low, high).map(lambda n: Decimal(n).scaleb(-2))


_sub_fields = st.tuples(cents, share_left, part, st.sampled_from(["RENTE", "GEBYR"]),
                        maybe_days)
_claim_fields = st.tuples(
    cents, share_left, part, st.sampled_from(CODES), days, days, days,
    st.booleans(), st.sampled_from([None, "11111111", "22222222"]),
    st.sampled_from(list(ClaimState)), maybe_days, st.lists(_sub_fields, max_size=3))


def claim_sets(max_claims: int = 8) -> st.SearchStrategy[list[Claim]]:
    return claim_strategies.claim_sets(_claim_fields, max_claims)


Slot = tuple[str, str | None]  # (claim id, sub-claim id or None for the principal)


def expected_slots(claims: Sequence[Claim], targets: Sequence[str] = ()) -> list[tuple[Slot, Decimal]]:
    """Every part that may receive money, in the order the rules give, with its remainder."""
    open_claims = [c for c in claims if c.state in COVERABLE and c.outstanding > 0]
    open_claims.sort(key=lambda c: (RANK.get(c.type_code, 4), c.received, c.founded, c.id))
    first = [c for t in targets for c in open_claims if c.id == t]
    ordered = first + [c for c in open_claims if c not in first]
    slots: list[tuple[Slot, Decimal]] = []
    for c in ordered:
        subs = sorted((s for s in c.sub_claims if s.remaining > 0),
                      key=lambda s: (s.founded or c.founded, s.id))
        slots.extend(((c.id, s.id), s.remaining) for s in subs)
        assert c.remaining_principal is not None
        if c.remaining_principal > 0:
            slots.append(((c.id, None), c.remaining_principal))
    return slots


def snapshot(claims: Sequence[Claim]) -> list[tuple[object, ...]]:
    return [(c.id, c.state, c.remaining_principal, tuple(s.remaining for s in c.sub_claims))
            for c in claims]


def check_greedy(slots: list[tuple[Slot, Decimal]], lines: Sequence[Coverage]) -> None:
    """Lines come in slot order, never overpay, and no slot gets money while an earlier
    one is left with a remainder."""
    index = {slot: i for i, (slot, _) in enumerate(slots)}
    positions = [index[(line.claim_id, line.sub_claim_id)] for line in lines]
    assert positions == sorted(set(positions)), "one line per part, in order"
    paid = {(line.claim_id, line.sub_claim_id): line.amount for line in lines}
    last = max(positions, default=-1)
    for i, (slot, remaining) in enumerate(slots):
        got = paid.get(slot, Decimal(0))
        assert Decimal(0) <= got <= remaining
        if i < last:
            assert got == remaining, f"{slot} left owing while a later part was paid"


PROPERTY = settings(max_examples=300, deadline=None)


@PROPERTY
@given(claims=claim_sets(), amount=øre(0, 2_000_000), target=st.none() | st.integers(0, 9),
       by_fik=st.booleans())
def test_plan_conserves_money_and_follows_the_order(
        claims: list[Claim], amount: Decimal, target: int | None, by_fik: bool) -> None:
    target_id = f"C{target}" if target is not None else None
    target_fik = f"{target:015d}" if target is not None and by_fik else None
    if by_fik:
        p = plan_coverage(claims, amount, source=CoverageSource.PAYMENT, source_id="P",
                          on=DAY, claim_types=TYPES, target_payment_id=target_fik)
        # FIK ids here are f"{i:015d}" of invoice I{i}, the claim built at position i.
        fik_claim = [c.id for c in claims if c.invoice and c.invoice.payment_id == target_fik]
        slots = expected_slots(claims, fik_claim)
    else:
        p = plan_coverage(claims, amount, source=CoverageSource.PAYMENT, source_id="P",
                          on=DAY, claim_types=TYPES, target_claim_id=target_id)
        slots = expected_slots(claims, [target_id] if target_id else [])

    assert p.covered + p.surplus == amount
    assert p.surplus >= 0 and all(line.amount > 0 for line in p.lines)
    check_greedy(slots, p.lines)
    if p.surplus:
        assert p.covered == sum((r for _, r in slots), Decimal(0)), "surplus only when all is paid"
    # interest and fees of a claim are fully covered before its principal gets anything
    paid = {(line.claim_id, line.sub_claim_id): line.amount for line in p.lines}
    for c in claims:
        if (c.id, None) in paid:
            assert all(paid.get((c.id, s.id), Decimal(0)) == s.remaining for s in c.sub_claims)

    before = snapshot(claims)
    apply_coverage(claims, p.lines)
    for c, (_, state, principal, subs) in zip(claims, before, strict=True):
        assert isinstance(principal, Decimal) and isinstance(subs, tuple)
        got = sum((line.amount for line in p.lines if line.claim_id == c.id), Decimal(0))
        assert principal + sum(subs, Decimal(0)) - got == c.outstanding >= 0
        if got and c.outstanding == 0 and state in OPEN_LIKE:
            assert c.state is ClaimState.PAID
        else:
            assert c.state is state


@PROPERTY
@given(claims=claim_sets(), amount=øre(0, 1_000_000), target=st.none() | st.integers(0, 9))
def test_same_payment_twice_changes_nothing_the_second_time(
        claims: list[Claim], amount: Decimal, target: int | None) -> None:
    payment = Payment(id="IND-7", amount=amount, date=DAY,
                      payment_id=None if target is None else f"{target:015d}")
    applied: set[str] = set()

    def receive() -> CoveragePlan | None:
        """What the emulator does per ForetagIndbetaling, in one transaction."""
        p = cover_payment(claims, payment, already_applied=applied, claim_types=TYPES, on=DAY)
        if p is not None:
            apply_coverage(claims, p.lines)
            applied.add(payment.id)
        return p

    first = receive()
    assert first is not None and first.covered + first.surplus == amount
    after_first = snapshot(claims)
    assert receive() is None
    assert snapshot(claims) == after_first


@PROPERTY
@given(claims=claim_sets(), data=st.data())
def test_apply_refuses_any_overpayment_atomically(claims: list[Claim], data: st.DataObject) -> None:
    slots = expected_slots(claims)
    if not slots:
        return
    # a valid prefix of lines followed by one that overpays its part
    (claim_id, sub_id), remaining = data.draw(st.sampled_from(slots))
    good = plan_coverage(claims, data.draw(øre(0, 100_000)), source=CoverageSource.PAYMENT,
                         source_id="P", on=DAY, claim_types=TYPES).lines
    already = sum((line.amount for line in good
                   if (line.claim_id, line.sub_claim_id) == (claim_id, sub_id)), Decimal(0))
    extra = remaining - already + data.draw(øre(1, 10_000))
    bad = Coverage(CoverageSource.PAYMENT, "P", claim_id, extra, DAY, sub_id)
    before = snapshot(claims)
    with pytest.raises(CoverageError, match="overpay"):
        apply_coverage(claims, [*good, bad])
    assert snapshot(claims) == before
