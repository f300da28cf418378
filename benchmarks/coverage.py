"""Coverage engine: 100 000 payments over 1 000 000 open claims, and a tenth of that.

The emulator plans each payment against the claims of one debtor account, so the data is
spread over accounts (10 claims each, every fourth with a fee sub-claim, a third of the
payments naming a claim) and every payment is planned against its own account's claims.

Baseline, in the same run: a bare loop that only sorts each account's claims by the same
§ 4 key and subtracts amounts with Decimal — the least work any coverage engine must do.
The growth factor compares the two scales (×10 data): linear is 10×.

Data is generated deterministically. Holding a million claims in memory is a benchmark
artefact (the emulator loads one account at a time), so the cyclic garbage collector is
kept off the generated data (``gc.freeze``) to time the engine, not full collections of
objects no call touches.
"""

from __future__ import annotations

import gc
import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from benchmarks.figures import Figure, best_of
from oir_adapter.domain.coverage import CoveragePlan, apply_coverage, plan_coverage
from oir_adapter.domain.model import Claim, CoverageSource, SubClaim
from oir_adapter.domain.tables import ClaimTypeTable

SECTION = "coverage"
CLAIMS_PER_ACCOUNT = 10
SEED = 20261124
PAY_DAY = date(2026, 11, 24)

#: Type codes with weights: mostly other claims, some fines and maintenance.
_CODES = ("CFFAKTU",) * 5 + ("LIMEDIE", "KTCIVIL", "BOEDE", "BIDRAGP", "BIDRAGO")
_RANK = {"BOEDE": 1, "BIDRAGP": 2, "BIDRAGO": 3}


@dataclass(slots=True)
class Workload:
    accounts: list[list[Claim]]
    payments: list[tuple[Decimal, str | None]]  # (amount, targeted claim id or None)

    @property
    def claim_count(self) -> int:
        return sum(len(a) for a in self.accounts)


def make_workload(accounts: int, *, seed: int = SEED) -> Workload:
    """``accounts`` accounts of ten open claims each and one payment per account."""
    rng = random.Random(seed)
    # Shared immutable values keep a million claims cheap to build and small in memory.
    amounts = [Decimal(rng.randrange(5_000, 500_000)).scaleb(-2) for _ in range(997)]
    fees = [Decimal(rng.randrange(5_000, 25_000)).scaleb(-2) for _ in range(31)]
    days = [date(2024, 1, 1) + timedelta(days=d) for d in range(900)]
    types = ClaimTypeTable.default()
    assert all(code in types for code in _CODES)
    result: list[list[Claim]] = []
    payments: list[tuple[Decimal, str | None]] = []
    serial = 0
    for a in range(accounts):
        account = f"K{a:07d}"
        claims = []
        for _ in range(CLAIMS_PER_ACCOUNT):
            serial += 1
            cid = f"C{serial:08d}"
            founded = days[rng.randrange(800)]
            principal = amounts[rng.randrange(len(amounts))]
            subs = ([SubClaim(f"{cid}-G", "GEBYR", fees[serial % 31], fees[serial % 31],
                              founded=founded + timedelta(days=30))]
                    if serial % 4 == 0 else [])
            claims.append(Claim(
                id=cid, account_number=account, fagsystem_claim_id=cid,
                type_code=_CODES[rng.randrange(len(_CODES))], principal=principal,
                period_from=founded, period_to=founded, founded=founded,
                due_date=founded, srb=founded, received=days[rng.randrange(800, 900)],
                sub_claims=subs))
        result.append(claims)
        target = claims[rng.randrange(CLAIMS_PER_ACCOUNT)].id if a % 3 == 0 else None
        payments.append((amounts[rng.randrange(len(amounts))] * rng.randrange(1, 8), target))
    return Workload(result, payments)


def plan_all(work: Workload, types: ClaimTypeTable) -> list[CoveragePlan]:
    """What the emulator does per ForetagIndbetaling, minus storage: plan one payment."""
    return [
        plan_coverage(claims, amount, source=CoverageSource.PAYMENT, source_id=f"P{i}",
                      on=PAY_DAY, claim_types=types, target_claim_id=target)
        for i, (claims, (amount, target)) in enumerate(zip(work.accounts, work.payments,
                                                           strict=True))
    ]


def bare_loop(work: Workload) -> Decimal:
    """The minimum: sort by the § 4 key and subtract with Decimal; no lines, no checks."""
    rank = _RANK
    surplus = Decimal(0)
    for claims, (amount, _target) in zip(work.accounts, work.payments, strict=True):
        left = amount
        for c in sorted(claims, key=lambda c: (rank.get(c.type_code, 4), c.received,
                                               c.founded, c.id)):
            for s in c.sub_claims:
                take = min(s.remaining, left)
                left -= take
            principal = c.remaining_principal
            assert principal is not None
            left -= min(principal, left)
            if not left:
                break
        surplus += left
    return surplus


def _measure(accounts: int, repeat: int) -> tuple[float, float, float, int]:
    """(engine s, bare s, apply s, claims) for one scale."""
    types = ClaimTypeTable.default()
    gc.collect()
    gc.disable()
    try:
        work = make_workload(accounts)
        gc.freeze()
        engine = best_of(lambda: plan_all(work, types), repeat=repeat)
        bare = best_of(lambda: bare_loop(work), repeat=repeat)
        plans = plan_all(work, types)

        def apply_all() -> None:
            for claims, plan in zip(work.accounts, plans, strict=True):
                apply_coverage(claims, plan.lines)

        applied = best_of(apply_all, repeat=1)  # mutates: once only
        return engine, bare, applied, work.claim_count
    finally:
        gc.unfreeze()
        gc.enable()
        gc.collect()


def run() -> list[Figure]:
    small_e, small_b, _, small_n = _measure(10_000, repeat=3)
    big_e, big_b, big_apply, big_n = _measure(100_000, repeat=2)
    return [
        Figure(SECTION, f"plan 10 000 payments / {small_n:,} claims", small_e, "s", small_b,
               target="bare sort+subtract loop as baseline"),
        Figure(SECTION, f"plan 100 000 payments / {big_n:,} claims", big_e, "s", big_b,
               target="well under a minute", id="coverage.plan_100k"),
        Figure(SECTION, "plan per payment (100 000 payments)", big_e / 100_000 * 1e6, "µs",
               big_b / 100_000 * 1e6),
        Figure(SECTION, "growth ×10 data (engine vs bare loop)", big_e / small_e, "×",
               big_b / small_b, target="≈10× (linear)", id="coverage.growth"),
        Figure(SECTION, "apply 100 000 plans (once)", big_apply, "s"),
    ]
