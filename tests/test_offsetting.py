"""Offsetting in a benefit payment (§ 7 order and limits): worked examples and properties.

The properties restate the rules here — classes, § 4 ranks, eligibility, share caps by
exact fractions — and check the engine's plan against them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oir_adapter.domain.coverage import CoverageError
from oir_adapter.domain.model import (
    BenefitPayment,
    Claim,
    ClaimState,
    Offset,
    OffsetStatus,
    Party,
    SubClaim,
)
from oir_adapter.domain.offsetting import (
    OffsetClass,
    OffsetPlan,
    SkipReason,
    apply_offsets,
    offset_class,
    plan_offsets,
)
from oir_adapter.domain.tables import ANY_CLAIM_TYPE, BenefitRule, BenefitTable, ClaimTypeTable
from tests import claim_strategies
from tests.claim_strategies import CODES, COVERABLE, DAY0, RANK, cents, days, part, share_left

TYPES = ClaimTypeTable.default()
BENEFITS = BenefitTable.default()
D = Decimal
OWN = "11111111"  # the paying municipality
OTHER = "22222222"
PAYOUT = date(2026, 4, 30)
TODAY = date(2026, 4, 1)
RECIPIENT = Party.cpr("0101901234")


def make_claim(
    id: str,
    type_code: str = "CFFAKTU",
    principal: str = "100.00",
    *,
    creditor: str | None = OWN,
    state: ClaimState = ClaimState.OPEN,
    received: date = date(2026, 1, 1),
    due: date = date(2026, 2, 1),
    offsetting_allowed: bool = True,
    deferral_until: date | None = None,
    subs: Sequence[tuple[str, str]] = (),
) -> Claim:
    return Claim(
        id=id, account_number="K1", fagsystem_claim_id=f"F-{id}", type_code=type_code,
        principal=D(principal), period_from=date(2025, 1, 1), period_to=date(2025, 12, 31),
        founded=date(2025, 12, 1), due_date=due, srb=due, received=received,
        offsetting_allowed=offsetting_allowed, creditor_cvr=creditor, state=state,
        deferral_until=deferral_until,
        sub_claims=[SubClaim(sid, "RENTE", D(a), D(a), founded=date(2026, 1, 10))
                    for sid, a in subs],
    )


def benefit(benefit_type: str, gross: str, protected: str = "0.00", *,
            payer: str | None = OWN, payout: date = PAYOUT) -> BenefitPayment:
    return BenefitPayment(id="Y1", recipient=RECIPIENT, benefit_type=benefit_type,
                          payout_date=payout, gross=D(gross), protected=D(protected),
                          paying_authority_cvr=payer)


OPEN_TABLE = BenefitTable([BenefitRule("TEST", ANY_CLAIM_TYPE, allowed=True)])


def offsets(b: BenefitPayment, claims: Sequence[Claim], table: BenefitTable = BENEFITS,
            **kw: OffsetStatus) -> OffsetPlan:
    return plan_offsets(b, claims, on=TODAY, claim_types=TYPES, benefits=table, **kw)


def summary(p: OffsetPlan) -> list[tuple[str, str | None, str]]:
    return [(line.claim_id, line.sub_claim_id, str(line.amount)) for line in p.lines]


# ---------------------------------------------------------------- worked examples

EXAMPLES = {
    "own claims, then PSRM, then other creditors, each in § 4 order": (
        benefit("TEST", "1000.00", "200.00"),
        [make_claim("ELSEWHERE-FINE", "BOEDE", "500.00", creditor=OTHER),
         make_claim("PSRM", "CFFAKTU", "400.00", creditor=OWN, state=ClaimState.HANDED_OVER),
         make_claim("OWN-NEW", "CFFAKTU", "150.00", received=date(2026, 3, 1)),
         make_claim("OWN-FINE", "BOEDE", "150.00", received=date(2026, 3, 2))],
        OPEN_TABLE,
        [("OWN-FINE", None, "150.00"), ("OWN-NEW", None, "150.00"), ("PSRM", None, "400.00"),
         ("ELSEWHERE-FINE", None, "100.00")],
        "800.00", "200.00", []),
    "docs/coverage.md: pension, class order under one 20 % cap": (
        benefit("FOLKEPEN", "10000.00", "6000.00"),
        [make_claim("K-301", "LIMEDIE", "1000.00", creditor=OTHER),
         make_claim("K-201", "CFFAKTU", "900.00", state=ClaimState.HANDED_OVER),
         make_claim("K-105", "BOEDE", "500.00")],
        BENEFITS,
        [("K-105", None, "500.00"), ("K-201", None, "900.00"), ("K-301", None, "600.00")],
        "2000.00", "8000.00", []),
    "rejected and recalled claims count as under collection": (
        benefit("TEST", "300.00"),
        [make_claim("PSRM", "BOEDE", "100.00", state=ClaimState.HANDED_OVER),
         make_claim("BACK", "CFFAKTU", "100.00", state=ClaimState.RECALLED),
         make_claim("REJ", "CFFAKTU", "50.00", state=ClaimState.REJECTED, creditor=OTHER)],
        OPEN_TABLE,
        [("BACK", None, "100.00"), ("PSRM", None, "100.00"), ("REJ", None, "50.00")],
        "250.00", "50.00", []),
    "cash assistance: closed except day care and SFO, 10 % cap per rule": (
        benefit("KONTHJ", "12345.67", "5000.00"),
        [make_claim("DAYCARE", "DAGINST", "2000.00"),
         make_claim("SFO", "SFOBETL", "300.00", received=date(2026, 1, 2)),
         make_claim("BILL", "CFFAKTU", "200.00", received=date(2025, 1, 1))],
        BENEFITS,
        [("DAYCARE", None, "1234.56"), ("SFO", None, "300.00")],
        "1534.56", "10811.11", [("BILL", SkipReason.BENEFIT_CLOSED)]),
    "pension: 20 % of the payout for all claim types together": (
        benefit("FOLKEPEN", "9876.54"),
        [make_claim("BILL", "CFFAKTU", "1500.00"),
         make_claim("TV", "LIMEDIE", "1000.00", received=date(2026, 1, 2)),
         make_claim("KTRL", "KTCIVIL", "10.00", received=date(2026, 1, 3))],
        BENEFITS,
        [("BILL", None, "1500.00"), ("TV", None, "475.30")],
        "1975.30", "7901.24", [("KTRL", SkipReason.SHARE_CAP_REACHED)]),
    "protected amount is never touched": (
        benefit("TEST", "1000.00", "950.00"),
        [make_claim("A", "CFFAKTU", "500.00"), make_claim("B", "CFFAKTU", "5.00",
                                                          received=date(2026, 2, 1))],
        OPEN_TABLE,
        [("A", None, "50.00")],
        "50.00", "950.00", [("B", SkipReason.NOTHING_LEFT)]),
    "protected above gross: nothing offset, full payout": (
        benefit("TEST", "100.00", "150.00"),
        [make_claim("A", "CFFAKTU", "500.00")],
        OPEN_TABLE, [], "0.00", "100.00", [("A", SkipReason.NOTHING_LEFT)]),
    "interest before principal": (
        benefit("TEST", "120.00"),
        [make_claim("A", "CFFAKTU", "500.00", subs=[("A-R2", "30.00"), ("A-R1", "12.50")])],
        OPEN_TABLE,
        [("A", "A-R1", "12.50"), ("A", "A-R2", "30.00"), ("A", None, "77.50")],
        "120.00", "0.00", []),
    "skips: not allowed, deferred, not yet due, closed states": (
        benefit("TEST", "1000.00"),
        [make_claim("NO", offsetting_allowed=False),
         make_claim("DEFERRED-NOW", deferral_until=TODAY),
         make_claim("DEFERRED-AT-PAYOUT", deferral_until=PAYOUT),
         make_claim("DEFERRAL-OVER", deferral_until=TODAY - timedelta(days=1)),
         make_claim("NOT-DUE", due=PAYOUT + timedelta(days=1)),
         make_claim("DUE-ON-PAYOUT", due=PAYOUT),
         make_claim("PAID", state=ClaimState.PAID),
         make_claim("CANCELLED", state=ClaimState.CANCELLED)],
        OPEN_TABLE,
        [("DEFERRAL-OVER", None, "100.00"), ("DUE-ON-PAYOUT", None, "100.00")],
        "200.00", "800.00",
        [("DEFERRED-AT-PAYOUT", SkipReason.DEFERRED), ("DEFERRED-NOW", SkipReason.DEFERRED),
         ("NO", SkipReason.OFFSETTING_NOT_ALLOWED), ("NOT-DUE", SkipReason.NOT_DUE)]),
    "unknown benefit type allows nothing": (
        benefit("NOSUCH", "1000.00"),
        [make_claim("A")], BENEFITS, [], "0.00", "1000.00",
        [("A", SkipReason.BENEFIT_CLOSED)]),
}


@pytest.mark.parametrize("name", EXAMPLES)
def test_worked_example(name: str) -> None:
    b, claims, table, expected, total, net, skipped = EXAMPLES[name]
    p = offsets(b, claims, table)
    assert summary(p) == expected
    assert p.total == D(total) and p.net_payout == D(net)
    assert p.total + p.net_payout == b.gross
    assert sorted(p.skipped) == sorted(skipped)
    assert all(line.date == PAYOUT and line.status is OffsetStatus.PLANNED
               and line.benefit_payment_id == "Y1" for line in p.lines)


@pytest.mark.parametrize("on, until, blocked", [
    (TODAY, PAYOUT, True),  # in force throughout
    (TODAY, date(2026, 4, 15), True),  # in force when planned, over by the payout
    (date(2026, 5, 2), date(2026, 5, 1), True),  # booked late: in force on the payout date
    (date(2026, 5, 2), date(2026, 4, 29), False),  # over before the payout date
])
def test_deferral_blocks_on_planning_day_or_payout_date(on: date, until: date,
                                                        blocked: bool) -> None:
    claims = [make_claim("A", deferral_until=until)]
    p = plan_offsets(benefit("TEST", "100.00"), claims, on=on, claim_types=TYPES,
                     benefits=OPEN_TABLE)
    if blocked:
        assert p.lines == [] and p.skipped == [("A", SkipReason.DEFERRED)]
        assert p.net_payout == D("100.00")
    else:
        assert summary(p) == [("A", None, "100.00")] and p.net_payout == D("0.00")


def test_offset_classes() -> None:
    b = benefit("TEST", "1.00")
    assert offset_class(make_claim("A"), b) is OffsetClass.OWN_COLLECTION
    assert offset_class(make_claim("A", creditor=OTHER), b) is OffsetClass.OTHER_COLLECTION
    assert offset_class(make_claim("A", creditor=None), b) is OffsetClass.OTHER_COLLECTION
    assert offset_class(make_claim("A", creditor=None), benefit("TEST", "1.00", payer=None)) \
        is OffsetClass.OTHER_COLLECTION
    assert offset_class(make_claim("A", state=ClaimState.HANDED_OVER), b) \
        is OffsetClass.PSRM_RECOVERY


def test_book_marks_paid_and_keeps_handed_over() -> None:
    own = make_claim("OWN", "CFFAKTU", "100.00")
    psrm = make_claim("PSRM", "CFFAKTU", "100.00", state=ClaimState.HANDED_OVER)
    claims = [own, psrm]
    p = offsets(benefit("TEST", "150.00"), claims, OPEN_TABLE, status=OffsetStatus.BOOKED)
    assert all(line.status is OffsetStatus.BOOKED for line in p.lines)
    assert p.per_claim() == {"OWN": D("100.00"), "PSRM": D("50.00")}
    apply_offsets(claims, p.lines)
    assert own.state is ClaimState.PAID and own.outstanding == D("0.00")
    assert psrm.state is ClaimState.HANDED_OVER and psrm.outstanding == D("50.00")
    # booking the same lines again would overpay: refused, nothing changes
    with pytest.raises(CoverageError):
        apply_offsets(claims, p.lines)
    assert psrm.outstanding == D("50.00")


@pytest.mark.parametrize("gross, protected", [("-1.00", "0.00"), ("10.00", "-0.01")])
def test_negative_amounts_are_refused(gross: str, protected: str) -> None:
    with pytest.raises(CoverageError):
        offsets(benefit("TEST", gross, protected), [make_claim("A")], OPEN_TABLE)


# ---------------------------------------------------------------- properties

# Weighted towards claims that may be offset, so several compete for one payout.
maybe_days = st.sampled_from([None, None, None]) | days
late_days = st.integers(5, 25).map(lambda n: DAY0 + timedelta(days=n))
_states = st.sampled_from([ClaimState.OPEN] * 3 + [ClaimState.HANDED_OVER] * 2
                          + list(ClaimState))
_sub_fields = st.tuples(cents, share_left, part, st.just("RENTE"), maybe_days)
_claim_fields = st.tuples(
    cents, share_left, part, st.sampled_from(CODES), days, days, days,
    st.sampled_from([True, True, True, False]), st.sampled_from([None, OWN, OTHER]),
    _states, maybe_days, st.lists(_sub_fields, max_size=3))


def claim_sets() -> st.SearchStrategy[list[Claim]]:
    return claim_strategies.claim_sets(_claim_fields)


_rule = st.tuples(st.sampled_from([True, True, False]),
                  st.sampled_from(["0", "0.10", "0.20", "0.333", "0.5", "1", "1", "1.5"]))


@st.composite
def benefit_tables(draw: st.DrawFn) -> BenefitTable:
    """Rules for benefit type ``B``: maybe a ``*`` rule, and rules for some claim types."""
    rules = []
    star = draw(_rule | st.none())
    if star is not None:
        rules.append(BenefitRule("B", ANY_CLAIM_TYPE, star[0], Decimal(star[1])))
    specific = draw(st.dictionaries(st.sampled_from(CODES), _rule, max_size=4))
    rules.extend(BenefitRule("B", code, allowed, Decimal(share))
                 for code, (allowed, share) in specific.items())
    return BenefitTable(rules)


øre = st.integers(0, 2_000_000).map(lambda n: Decimal(n).scaleb(-2))
benefits = st.builds(
    BenefitPayment, id=st.just("Y"), recipient=st.just(RECIPIENT), benefit_type=st.just("B"),
    payout_date=late_days, gross=øre, protected=øre | st.just(Decimal("0.00")),
    paying_authority_cvr=st.sampled_from([None, OWN, OTHER]))


def klass(c: Claim, b: BenefitPayment) -> int:
    if c.state is ClaimState.HANDED_OVER:
        return 2
    return 1 if b.paying_authority_cvr is not None and c.creditor_cvr == b.paying_authority_cvr else 3


def eligible(c: Claim, b: BenefitPayment, on: date, table: BenefitTable) -> bool:
    return (c.state in COVERABLE and c.outstanding > 0 and c.offsetting_allowed
            and not c.deferred_on(on) and not c.deferred_on(b.payout_date)
            and c.due_date <= b.payout_date and table.rule_for("B", c.type_code).allowed)


def cap(rule: BenefitRule, gross: Decimal) -> Decimal:
    """floor(share × gross) in whole øre, by exact fractions."""
    cents = math.floor(Fraction(rule.max_share) * Fraction(gross) * 100)
    return min(Decimal(cents).scaleb(-2), gross)


def group_of(c: Claim, table: BenefitTable) -> tuple[str, str]:
    rule = table.rule_for("B", c.type_code)
    return (rule.benefit_type, rule.claim_type)


PROPERTY = settings(max_examples=300, deadline=None)


@PROPERTY
@given(claims=claim_sets(), b=benefits, table=benefit_tables(), on=late_days)
def test_offsets_respect_money_limits_and_order(
        claims: list[Claim], b: BenefitPayment, table: BenefitTable, on: date) -> None:
    p = plan_offsets(b, claims, on=on, claim_types=TYPES, benefits=table)
    lines: list[Offset] = p.lines
    available = max(b.gross - b.protected, Decimal(0))

    # money: conserved to the øre; the protected amount is never touched
    assert p.total == sum((line.amount for line in lines), Decimal(0))
    assert p.total + p.net_payout == b.gross
    assert Decimal(0) <= p.total <= available == p.available
    assert p.net_payout >= min(b.protected, b.gross)
    assert all(line.amount > 0 and line.date == b.payout_date for line in lines)

    # only eligible claims are touched: never deferred, non-offsettable, not due, closed
    by_id = {c.id: c for c in claims}
    assert all(eligible(by_id[line.claim_id], b, on, table) for line in lines)

    # share caps: per rule (and so per claim type)
    per_group: dict[tuple[str, str], Decimal] = {}
    per_type: dict[str, Decimal] = {}
    for line in lines:
        c = by_id[line.claim_id]
        g = group_of(c, table)
        per_group[g] = per_group.get(g, Decimal(0)) + line.amount
        per_type[c.type_code] = per_type.get(c.type_code, Decimal(0)) + line.amount
    for code, amount in per_type.items():
        assert amount <= cap(table.rule_for("B", code), b.gross)
    exhausted = {g for g, amount in per_group.items()
                 if amount == cap(table.rule_for(*g), b.gross)}
    exhausted |= {group_of(c, table) for c in claims
                  if cap(table.rule_for("B", c.type_code), b.gross) == 0}

    # order: classes, then § 4, then sub-claims before principal; greedy under the caps
    open_claims = sorted((c for c in claims if eligible(c, b, on, table)),
                         key=lambda c: (klass(c, b), RANK.get(c.type_code, 4), c.received,
                                        c.founded, c.id))
    slots: list[tuple[tuple[str, str | None], Decimal, tuple[str, str]]] = []
    for c in open_claims:
        for s in sorted((s for s in c.sub_claims if s.remaining > 0),
                        key=lambda s: (s.founded or c.founded, s.id)):
            slots.append(((c.id, s.id), s.remaining, group_of(c, table)))
        assert c.remaining_principal is not None
        if c.remaining_principal > 0:
            slots.append(((c.id, None), c.remaining_principal, group_of(c, table)))
    index = {slot: i for i, (slot, _, _) in enumerate(slots)}
    positions = [index[(line.claim_id, line.sub_claim_id)] for line in lines]
    assert positions == sorted(set(positions)), "one line per part, in order"
    paid = {(line.claim_id, line.sub_claim_id): line.amount for line in lines}
    for i, (slot, remaining, group) in enumerate(slots):
        got = paid.get(slot, Decimal(0))
        assert got <= remaining, "never overpays"
        if got == remaining:
            continue
        # left owing: only because the payout's rest or this rule's share ran out here,
        # so no later part gets money unless it is under another, unexhausted rule
        assert p.total == available or group in exhausted, f"{slot} passed over"
        for later, _, later_group in slots[i + 1:]:
            if paid.get(later):
                assert group in exhausted and later_group != group, f"{later} before {slot}"

    # every open claim that got nothing says why, and only those
    touched = {line.claim_id for line in lines}
    untouched = {c.id for c in claims if c.state in COVERABLE and c.outstanding > 0} - touched
    assert sorted(cid for cid, _ in p.skipped) == sorted(untouched)
    for cid, reason in p.skipped:
        c = by_id[cid]
        if reason is SkipReason.NOTHING_LEFT:
            assert eligible(c, b, on, table) and p.total == available
        elif reason is SkipReason.SHARE_CAP_REACHED:
            assert eligible(c, b, on, table) and group_of(c, table) in exhausted
        else:
            assert not eligible(c, b, on, table)

    apply_offsets(claims, lines)  # a plan always books cleanly


@PROPERTY
@given(claims=claim_sets(), b=benefits, on=days)
def test_default_tables_keep_cash_assistance_closed_and_pension_capped(
        claims: list[Claim], b: BenefitPayment, on: date) -> None:
    for benefit_type, allowed_types, share in [("KONTHJ", {"DAGINST", "SFOBETL"}, "0.10"),
                                               ("FOLKEPEN", set(CODES), "0.20")]:
        real = BenefitPayment(b.id, b.recipient, benefit_type, b.payout_date, b.gross,
                              b.protected, b.paying_authority_cvr)
        p = plan_offsets(real, claims, on=on, claim_types=TYPES, benefits=BENEFITS)
        by_id = {c.id: c for c in claims}
        assert {by_id[line.claim_id].type_code for line in p.lines} <= allowed_types
        limit = math.floor(Fraction(share) * Fraction(b.gross) * 100)
        for code in allowed_types:
            got = sum((line.amount for line in p.lines if by_id[line.claim_id].type_code == code),
                      Decimal(0))
            assert got * 100 <= limit
        if benefit_type == "FOLKEPEN":
            assert p.total * 100 <= limit, "the pension cap holds for all claim types together"


def test_docs_benefit_table_matches_the_defaults() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "coverage.md").read_text()
    rows = {line for line in text.splitlines() if line.startswith("| ")}
    for rule in BenefitTable.default():
        share = f"{(rule.max_share * 100).normalize():f} %"
        row = (f"| {rule.benefit_type} | {rule.claim_type} | "
               f"{'yes' if rule.allowed else 'no'} | {share} |")
        assert row in rows, row
