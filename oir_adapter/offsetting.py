"""Offsetting (modregning) of claims in an upcoming benefit payment (§ 7 order and limits).

Pure functions, no I/O: ``ForetagModregning`` (simulate, announce, book), the hand-over
step that offsets before handing the remainder to PSRM, and the emulator's virtual clock
on a payout date all plan with :func:`plan_offsets`.

Order (docs/design.md#offsetting-order-and-limits): (1) claims under collection whose creditor is the paying authority,
(2) claims under recovery in PSRM, (3) other claims under collection — each class in the
§ 4 coverage order of :func:`~oir_adapter.coverage.coverage_order`, and within a claim the
interest and fee sub-claims before the principal.

Limits: never more in total than gross minus the protected amount; per benefit type ×
claim type (:class:`~oir_adapter.tables.BenefitTable`) offsetting may be closed, and the
offsets governed by one rule together take at most ``floor(max_share × gross)`` to the øre.
``total + net_payout == gross`` exactly, and the protected amount is never touched.

Choices (see docs/coverage.md):

* Only claims due on the payout date are offset (``due_date <= payout_date``); a claim not
  yet due is skipped, not anticipated.
* A deferral in force on the planning day ``on`` *or* on the payout date blocks
  offsetting of that claim (the payout date matters when a payout is booked late).
* The share cap belongs to the rule that decides: a rule for one claim type caps that
  type; a ``*`` rule caps all the claim types it governs *together* (so a 20 % pension
  rule really limits the pension to 20 %, however many claim types are offset). That is
  never more than the cap per claim type.
* Callers pass only the claims the recipient is liable for (the claims on the recipient's
  debtor accounts); the engine does not match parties.
* Offset lines are dated on the payout date, when the money is kept back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_DOWN, Decimal
from enum import IntEnum, StrEnum

from .coverage import (
    ClaimLine,
    CoverageError,
    apply_coverage,
    coverage_order,
    fill_claim,
    sum_per_claim,
)
from .model import (
    ZERO,
    ØRE,
    BenefitPayment,
    Claim,
    ClaimState,
    Offset,
    OffsetStatus,
    money,
)
from .tables import BenefitRule, BenefitTable, ClaimTypeTable

_UNDER_COLLECTION = frozenset({ClaimState.OPEN, ClaimState.REJECTED, ClaimState.RECALLED})


class OffsetClass(IntEnum):
    """The three § 7 classes, in the order they are offset."""

    OWN_COLLECTION = 1  # under collection, the paying authority is the creditor
    PSRM_RECOVERY = 2  # handed over to PSRM
    OTHER_COLLECTION = 3  # under collection by another creditor


class SkipReason(StrEnum):
    """Why an open claim got nothing from a benefit payment."""

    OFFSETTING_NOT_ALLOWED = "MODREGNING_IKKE_TILLADT"  # the claim says ModregningTilladt=false
    DEFERRED = "HENSTAND"  # deferral in force on the planning day or the payout date
    NOT_DUE = "IKKE_FORFALDEN"  # due date after the payout date
    BENEFIT_CLOSED = "YDELSE_LUKKET"  # benefit table: this benefit may not pay this claim type
    SHARE_CAP_REACHED = "ANDEL_OPBRUGT"  # the rule's max share of the payout is used up
    NOTHING_LEFT = "INTET_TILBAGE"  # gross minus protected already used by earlier claims


@dataclass(slots=True)
class OffsetPlan:
    """Offsets against one benefit payment and what is paid out; øre-exact."""

    lines: list[Offset] = field(default_factory=list)
    total: Decimal = ZERO
    net_payout: Decimal = ZERO
    skipped: list[tuple[str, SkipReason]] = field(default_factory=list)
    available: Decimal = ZERO  # gross minus protected (never below zero): the most offsettable

    def per_claim(self) -> dict[str, Decimal]:
        """Offset amount per claim id, in offsetting order (for reports and NEDSKRIV)."""
        return sum_per_claim(self.lines)


def offset_class(claim: Claim, benefit: BenefitPayment) -> OffsetClass:
    """Which § 7 class a (coverable) claim falls in for this benefit payment."""
    if claim.state is ClaimState.HANDED_OVER:
        return OffsetClass.PSRM_RECOVERY
    if (claim.state in _UNDER_COLLECTION and benefit.paying_authority_cvr is not None
            and claim.creditor_cvr == benefit.paying_authority_cvr):
        return OffsetClass.OWN_COLLECTION
    return OffsetClass.OTHER_COLLECTION


def share_cap(rule: BenefitRule, gross: Decimal) -> Decimal:
    """``floor(max_share × gross)`` to the øre: the most one rule's claims may take."""
    if rule.max_share <= 0:
        return ZERO
    return min(gross, (rule.max_share * gross).quantize(ØRE, rounding=ROUND_DOWN))


def _blocked(claim: Claim, benefit: BenefitPayment, on: date) -> SkipReason | None:
    if not claim.offsetting_allowed:
        return SkipReason.OFFSETTING_NOT_ALLOWED
    if claim.deferred_on(on) or claim.deferred_on(benefit.payout_date):
        return SkipReason.DEFERRED
    if claim.due_date > benefit.payout_date:
        return SkipReason.NOT_DUE
    return None


def plan_offsets(
    benefit: BenefitPayment,
    claims: Iterable[Claim],
    *,
    on: date,
    claim_types: ClaimTypeTable,
    benefits: BenefitTable,
    status: OffsetStatus = OffsetStatus.PLANNED,
) -> OffsetPlan:
    """Plan the offsets of ``claims`` (the recipient's) in ``benefit``; mutates nothing.

    Claims are taken in § 7 class order, each class in § 4 order; each eligible claim gets
    as much as the payout's offsettable rest and its rule's share cap allow. Every open
    claim that gets nothing is listed in ``skipped`` with the reason. Book the lines with
    :func:`apply_offsets`.
    """
    gross = money(benefit.gross)
    protected = money(benefit.protected)
    if gross < 0 or protected < 0:
        raise CoverageError(f"benefit payment {benefit.id}: gross {gross} and protected "
                            f"{protected} must not be negative")
    available = gross - protected if gross > protected else ZERO
    ordered = sorted(coverage_order(claims, claim_types=claim_types),
                     key=lambda c: offset_class(c, benefit))  # stable: § 4 order within a class
    left = available
    room_by_rule: dict[tuple[str, str], Decimal] = {}
    lines: list[Offset] = []
    skipped: list[tuple[str, SkipReason]] = []
    for claim in ordered:
        reason = _blocked(claim, benefit, on)
        if reason is not None:
            skipped.append((claim.id, reason))
            continue
        rule = benefits.rule_for(benefit.benefit_type, claim.type_code)
        if not rule.allowed:
            skipped.append((claim.id, SkipReason.BENEFIT_CLOSED))
            continue
        if not left:
            skipped.append((claim.id, SkipReason.NOTHING_LEFT))
            continue
        group = (rule.benefit_type, rule.claim_type)
        room = room_by_rule.get(group)
        if room is None:
            room = share_cap(rule, gross)
        if not room:
            room_by_rule[group] = room
            skipped.append((claim.id, SkipReason.SHARE_CAP_REACHED))
            continue
        budget = left if left < room else room
        taken = ZERO
        for sub_id, take in fill_claim(claim, budget):
            lines.append(Offset(benefit.id, claim.id, take, benefit.payout_date, status, sub_id))
            taken += take
        left -= taken
        room_by_rule[group] = room - taken
    total = available - left
    return OffsetPlan(lines=lines, total=total, net_payout=gross - total, skipped=skipped,
                      available=available)


def apply_offsets(claims: Iterable[Claim], lines: Iterable[ClaimLine]) -> None:
    """Book offset lines on the claims: the same all-or-nothing rules as coverage."""
    apply_coverage(claims, lines)
