"""Coverage of payments (dækningsrækkefølge, gældsinddrivelsesloven § 4).

Pure functions over the domain model, no I/O: the debtor system's ``ForetagIndbetaling``
and ``SoegDelfordringTilIndbetaling``, the offsetting engine and the emulator all plan with
these, so every end covers claims in the same order.

The order (docs/design.md#coverage-order):

1. a claim the payment names (by FIK payment id or by claim id) is covered first;
2. then every open claim by category — fines, private maintenance, public maintenance,
   other claims — and within a category by receipt date (oldest first), ties by founding
   date, then claim id;
3. within one claim, interest and fee sub-claims (oldest first by founding date, then id)
   before the principal.

Money is øre-exact throughout: a plan's lines plus its surplus always equal the amount
paid, to the øre, and nothing is rounded. Planning never mutates; :func:`apply_coverage`
is the one place remainders change.

Choices (see docs/coverage.md):

* A deferral (henstand) does **not** block a voluntary payment: the debtor may always pay.
  It only stops offsetting (see :mod:`oir_adapter.domain.offsetting`).
* A claim fully covered in state OPEN, REJECTED or RECALLED (it is in the debtor system's
  hands) becomes PAID; a HANDED_OVER claim stays HANDED_OVER and the caller reports the
  coverage to PSRM as ``NEDSKRIV`` with reason ``INDB``.
* Callers pass the claims of one debtor account (the account the payment was made to);
  the engine does not look at parties.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Protocol

from oir_adapter.domain import lifecycle
from oir_adapter.domain.model import (
    OPEN_STATES,
    ZERO,
    ØRE,
    Claim,
    ClaimState,
    Coverage,
    CoverageSource,
    Payment,
    SubClaim,
    money,
)
from oir_adapter.domain.tables import ClaimTypeTable

#: States whose claims the debtor system itself collects: fully covered means PAID.
#: HANDED_OVER is left out on purpose — PSRM owns the claim until it is written down.
_SETTLES_TO_PAID = frozenset({ClaimState.OPEN, ClaimState.REJECTED, ClaimState.RECALLED})


class CoverageError(ValueError):
    """A coverage line or amount the engine refuses (overpayment, unknown claim, …)."""


class ClaimLine(Protocol):
    """Anything that puts an amount on a claim or sub-claim: a coverage or an offset line."""

    @property
    def claim_id(self) -> str: ...

    @property
    def sub_claim_id(self) -> str | None: ...

    @property
    def amount(self) -> Decimal: ...


@dataclass(slots=True)
class CoveragePlan:
    """What a payment would cover, line by line, and what is left over (never lost)."""

    lines: list[Coverage] = field(default_factory=list)
    surplus: Decimal = ZERO

    @property
    def covered(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)

    @property
    def amount(self) -> Decimal:
        """The amount planned: covered plus surplus, exactly."""
        return self.covered + self.surplus

    def per_claim(self) -> dict[str, Decimal]:
        """Covered amount per claim id, in coverage order (for reports and NEDSKRIV)."""
        return sum_per_claim(self.lines)


def sum_per_claim(lines: Iterable[ClaimLine]) -> dict[str, Decimal]:
    """Sum line amounts per claim id, keeping the order in which claims first appear."""
    totals: dict[str, Decimal] = {}
    for line in lines:
        totals[line.claim_id] = totals.get(line.claim_id, ZERO) + line.amount
    return totals


# ---------------------------------------------------------------- order

def is_coverable(claim: Claim) -> bool:
    """Whether a payment or offset can still go to this claim at all.

    Same as ``outstanding > 0`` for remainders that are never negative, without summing.
    """
    if claim.state not in OPEN_STATES:
        return False
    principal = claim.remaining_principal
    assert principal is not None
    return principal > 0 or any(s.remaining > 0 for s in claim.sub_claims)


def coverage_order(claims: Iterable[Claim], *, claim_types: ClaimTypeTable) -> list[Claim]:
    """The open claims in § 4 order: category, receipt date, founding date, id.

    Claims that cannot be covered (closed states, nothing outstanding) are left out.
    Unknown type codes count as 'other claims' (:meth:`ClaimTypeTable.category_of`).
    """
    open_claims = [c for c in claims if is_coverable(c)]
    if len(open_claims) > 1:
        rank = {code: claim_types.category_of(code).rank
                for code in {c.type_code for c in open_claims}}
        open_claims.sort(key=lambda c: (rank[c.type_code], c.received, c.founded, c.id))
    return open_claims


def sub_claim_order(claim: Claim) -> list[SubClaim]:
    """The claim's sub-claims that still owe something, oldest first, then by id.

    A sub-claim without a founding date counts as founded with its claim.
    """
    if not claim.sub_claims:
        return []
    founded = claim.founded
    return sorted((s for s in claim.sub_claims if s.remaining > 0),
                  key=lambda s: (s.founded or founded, s.id))


def fill_claim(claim: Claim, amount: Decimal) -> list[tuple[str | None, Decimal]]:
    """Spread up to ``amount`` over one claim: sub-claims first, then the principal.

    Returns ``(sub_claim_id or None for the principal, amount)`` pairs, each positive and
    never more than that part's remainder. Shared by coverage and offsetting.
    """
    parts: list[tuple[str | None, Decimal]] = []
    left = amount
    for sub in sub_claim_order(claim):
        if left <= 0:
            return parts
        take = sub.remaining if sub.remaining < left else left
        parts.append((sub.id, take))
        left -= take
    principal = claim.remaining_principal
    assert principal is not None
    if left > 0 and principal > 0:
        parts.append((None, principal if principal < left else left))
    return parts


def _put_targets_first(ordered: list[Claim], target_claim_id: str | None,
                       target_payment_id: str | None) -> list[Claim]:
    """Move the claim named by id, then the one named by FIK payment id, to the front."""
    targets: list[Claim] = []
    if target_claim_id is not None:
        targets.extend(c for c in ordered if c.id == target_claim_id)
    if target_payment_id is not None:
        targets.extend(c for c in ordered
                       if c.invoice is not None and c.invoice.payment_id == target_payment_id
                       and c.id != target_claim_id)
    if not targets:
        return ordered
    first = {c.id for c in targets}
    return targets + [c for c in ordered if c.id not in first]


def _non_negative_money(amount: Decimal, what: str) -> Decimal:
    exact = money(amount)
    if exact < 0:
        raise CoverageError(f"{what} {amount} is negative")
    return exact


# ---------------------------------------------------------------- planning

def plan_coverage(
    claims: Iterable[Claim],
    amount: Decimal,
    *,
    source: CoverageSource,
    source_id: str,
    on: date,
    claim_types: ClaimTypeTable,
    target_claim_id: str | None = None,
    target_payment_id: str | None = None,
) -> CoveragePlan:
    """Plan how ``amount`` covers ``claims`` (one account's); mutates nothing.

    The claim named by ``target_claim_id`` or by FIK ``target_payment_id``
    (``claim.invoice.payment_id``) is covered first if it is still open; the rest follows
    :func:`coverage_order`. Lines are dated ``on``. Whatever no claim can take is the
    surplus, so ``covered + surplus == amount`` to the øre.
    """
    left = _non_negative_money(amount, "amount")
    ordered = coverage_order(claims, claim_types=claim_types)
    if target_claim_id is not None or target_payment_id is not None:
        ordered = _put_targets_first(ordered, target_claim_id, target_payment_id)
    lines: list[Coverage] = []
    for claim in ordered:
        if not left:
            break
        for sub_id, take in fill_claim(claim, left):
            lines.append(Coverage(source, source_id, claim.id, take, on, sub_id))
            left -= take
    return CoveragePlan(lines, left)


def cover_payment(
    claims: Iterable[Claim],
    payment: Payment,
    *,
    already_applied: Container[str],
    claim_types: ClaimTypeTable,
    on: date | None = None,
) -> CoveragePlan | None:
    """Plan a payment idempotently: ``None`` when its id is in ``already_applied``.

    The caller keeps the set of applied payment ids (the emulator stores it), applies the
    plan with :func:`apply_coverage` and records ``payment.id`` in the same transaction.
    Lines are dated ``on``, by default the payment's own date.
    """
    if payment.id in already_applied:
        return None
    return plan_coverage(
        claims, payment.amount,
        source=CoverageSource.PAYMENT, source_id=payment.id,
        on=payment.date if on is None else on,
        claim_types=claim_types,
        target_claim_id=payment.claim_id, target_payment_id=payment.payment_id,
    )


# ---------------------------------------------------------------- applying

def apply_coverage(claims: Iterable[Claim], lines: Iterable[ClaimLine]) -> None:
    """Book coverage (or offset) lines on the claims they name; all or nothing.

    Every line is checked first — positive, øre-exact, naming a coverable claim and an
    existing sub-claim, and, summed with the other lines on the same part, not more than
    its remainder — and a :class:`CoverageError` leaves every claim untouched.
    A claim that ends fully covered becomes PAID unless it is HANDED_OVER (then the caller
    reports a ``NEDSKRIV`` with reason ``INDB`` to PSRM and the state stays).
    """
    by_id = {c.id: c for c in claims}
    pending: dict[tuple[str, str | None], Decimal] = {}
    for line in lines:
        amount = line.amount
        if amount <= 0 or amount.quantize(ØRE) != amount:
            raise CoverageError(f"line on claim {line.claim_id} has amount {amount}; "
                                "amounts must be positive whole øre")
        claim = by_id.get(line.claim_id)
        if claim is None:
            raise CoverageError(f"claim {line.claim_id} is not among the claims given")
        if claim.state not in OPEN_STATES:
            raise CoverageError(f"claim {claim.id} is {claim.state.value} and cannot be covered")
        part = (claim.id, line.sub_claim_id)
        pending[part] = pending.get(part, ZERO) + amount
        remaining = _remaining(claim, line.sub_claim_id)
        if pending[part] > remaining:
            what = f"sub-claim {line.sub_claim_id}" if line.sub_claim_id else "principal"
            raise CoverageError(f"lines would overpay {what} of claim {claim.id}: "
                                f"{pending[part]} > remaining {remaining}")
    for (claim_id, sub_id), amount in pending.items():
        claim = by_id[claim_id]
        claim.take(sub_id, amount)  # every sub-claim id was found by _remaining above
        claim.state = lifecycle.advance(claim.state, lifecycle.Step.COVERAGE,
                                        outstanding=claim.outstanding)


def _sub_claim(claim: Claim, sub_id: str) -> SubClaim:
    for sub in claim.sub_claims:
        if sub.id == sub_id:
            return sub
    raise CoverageError(f"claim {claim.id} has no sub-claim {sub_id}")


def _remaining(claim: Claim, sub_id: str | None) -> Decimal:
    if sub_id is None:
        assert claim.remaining_principal is not None
        return claim.remaining_principal
    return _sub_claim(claim, sub_id).remaining
