"""Hypothesis strategies for sets of claims, shared by the coverage and offsetting
properties. Each test module picks its own weighting of the fields (which states, how
often offsetting is allowed…) and builds claims with :func:`claim_sets`."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import strategies as st

from oir_adapter.domain.model import Claim, ClaimState, Invoice, SubClaim

#: The § 4 ranks, restated here from the law rather than read from the engine.
RANK = {"BOEDE": 1, "BIDRAGP": 2, "BIDRAGO": 3}
CODES = ["BOEDE", "BIDRAGP", "BIDRAGO", "CFFAKTU", "LIMEDIE", "DAGINST", "UKENDT"]
DAY0 = date(2026, 1, 1)
OPEN_LIKE = {ClaimState.OPEN, ClaimState.REJECTED, ClaimState.RECALLED}
COVERABLE = OPEN_LIKE | {ClaimState.HANDED_OVER}

days = st.integers(0, 20).map(lambda n: DAY0 + timedelta(days=n))

# Strategies are built once: building them inside every draw costs more than the tests.
cents = st.integers(1, 500_000)
share_left = st.sampled_from(["full", "zero", "part", "part"])
part = st.integers(0, 10**6)


def left(amount_cents: int, share: str, part_value: int) -> Decimal:
    """A remainder between 0 and the amount, often exactly one of the two."""
    remainder = {"full": amount_cents, "zero": 0}.get(share, part_value % (amount_cents + 1))
    return Decimal(remainder).scaleb(-2)


@st.composite
def claim_sets(draw: st.DrawFn, fields: st.SearchStrategy[tuple], max_claims: int = 8
               ) -> list[Claim]:
    """Up to ``max_claims`` claims; ``fields`` draws ``(cents, share, part, code, founded,
    due, received, offsettable, creditor, state, deferral, subs)`` per claim, each sub
    ``(cents, share, part, code, founded)``."""
    count = draw(st.integers(0, max_claims))
    ids = draw(st.permutations([f"C{i}" for i in range(count)]))
    claims = []
    for i, claim_id in enumerate(ids):
        (amount, share, part_value, code, founded, due, received, offsettable, creditor,
         state, deferral, subs) = draw(fields)
        principal = Decimal(amount).scaleb(-2)
        claims.append(Claim(
            id=claim_id, account_number="K1", fagsystem_claim_id=f"F{i}", type_code=code,
            principal=principal, period_from=DAY0, period_to=DAY0, founded=founded,
            due_date=due, srb=DAY0, received=received,
            remaining_principal=left(amount, share, part_value),
            sub_claims=[SubClaim(f"{claim_id}-S{j}", sub_code, Decimal(c).scaleb(-2),
                                 left(c, sh, pt), founded=sub_founded)
                        for j, (c, sh, pt, sub_code, sub_founded) in enumerate(subs)],
            offsetting_allowed=offsettable, creditor_cvr=creditor,
            invoice=Invoice(f"I{i}", f"{i:015d}", "87654321", principal, DAY0, DAY0),
            state=state, deferral_until=deferral,
        ))
    return claims
