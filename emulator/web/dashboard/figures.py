"""The overview's figures, read from the store: counts and sums per state, the latest
actions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from emulator.storage import schema as t
from emulator.storage.store import from_ore
from emulator.web.dashboard.labels import OFFSET_STATE, STATE_LABELS, explain_reasons
from oir_adapter.domain.model import (
    OPEN_STATES,
    ClaimState,
    CoverageSource,
    OffsetStatus,
)


@dataclass(slots=True)
class Overview:
    """Counts and sums for the overview; amounts are øre-exact Decimals."""

    accounts: int
    claims: int
    by_state: dict[str, int]
    registered: Decimal
    outstanding: Decimal
    paid: Decimal
    offset: Decimal
    planned: Decimal
    at_psrm: Decimal
    psrm: Decimal
    written_off: Decimal
    surplus: Decimal


_BALANCE_STATES = tuple(sorted(s.value for s in OPEN_STATES))


#: Sums are taken in two parts, above and below this many øre: SQLite's SUM raises past
#: 2^63 øre, which some 9 300 accounts at the largest balance reach (OIR-320 bounds one).
_SPLIT = 10**9


def _sum(conn: Connection, column: Any, *where: Any) -> Decimal:
    high, low = conn.execute(select(func.coalesce(func.sum(column // _SPLIT), 0),
                                    func.coalesce(func.sum(column % _SPLIT), 0))
                             .where(*where)).one()
    return from_ore(int(high) * _SPLIT + int(low))


def display_state(state: str, last_source: str | None) -> str:
    """The state a person sees: a paid claim whose last covering was an offset is shown as
    offset (modregnet)."""
    if state == ClaimState.PAID.value and last_source == CoverageSource.OFFSET.value:
        return OFFSET_STATE
    return state


def _last_sources(conn: Connection, claim_ids: Sequence[str]) -> dict[str, str]:
    """The source of the last coverage line of each claim."""
    if not claim_ids:
        return {}
    cov = t.coverage.c
    last = (select(cov.claim_id, func.max(cov.seq).label("seq"))
            .where(cov.claim_id.in_(list(claim_ids))).group_by(cov.claim_id).subquery())
    rows = conn.execute(select(cov.claim_id, cov.source).join(last, cov.seq == last.c.seq)).all()
    return {r.claim_id: r.source for r in rows}


def overview_figures(conn: Connection) -> Overview:
    """Everything the overview counts, by SQL aggregates (cheap on a large store)."""
    c, s = t.claims.c, t.sub_claims.c
    by_state = {key: 0 for key in STATE_LABELS}
    for state, n in conn.execute(select(c.state, func.count()).group_by(c.state)).all():
        by_state[state] = by_state.get(state, 0) + int(n)
    paid_ids = [r[0] for r in conn.execute(select(c.id).where(
        c.state == ClaimState.PAID.value)).all()]
    for source in _last_sources(conn, paid_ids).values():
        if source == CoverageSource.OFFSET.value:
            by_state[ClaimState.PAID.value] -= 1
            by_state[OFFSET_STATE] += 1
    open_ids = select(c.id).where(c.state.in_(_BALANCE_STATES))
    cov, off = t.coverage.c, t.offsets.c
    return Overview(
        accounts=int(conn.execute(select(func.count()).select_from(t.accounts)).scalar_one()),
        claims=sum(by_state.values()),
        by_state=by_state,
        registered=_sum(conn, c.principal_ore) + _sum(conn, s.amount_ore),
        outstanding=(_sum(conn, c.remaining_principal_ore, c.state.in_(_BALANCE_STATES))
                     + _sum(conn, s.remaining_ore, s.claim_id.in_(open_ids))),
        paid=_sum(conn, cov.amount_ore, cov.source == CoverageSource.PAYMENT.value),
        offset=_sum(conn, cov.amount_ore, cov.source == CoverageSource.OFFSET.value),
        planned=_sum(conn, off.amount_ore, off.status == OffsetStatus.PLANNED.value),
        at_psrm=_sum(conn, c.psrm_amount_ore, c.state == ClaimState.HANDED_OVER.value),
        psrm=_sum(conn, cov.amount_ore, cov.source == CoverageSource.PSRM.value),
        written_off=_sum(conn, t.write_offs.c.amount_ore),
        surplus=_sum(conn, t.payments.c.surplus_ore),
    )


def latest_actions(conn: Connection, limit: int = 10) -> list[dict[str, Any]]:
    """The PSRM actions whose status changed last (newest first), reasons explained."""
    a = t.psrm_actions.c
    rows = conn.execute(select(t.psrm_actions).order_by(
        a.status_changed.desc(), a.received.desc(), a.delivery_id.desc(), a.position.desc())
        .limit(limit)).all()
    return [{"action_id": r.action_id, "delivery_id": r.delivery_id, "code": r.code,
             "claim_ref": r.claim_ref, "efi_claim_id": r.efi_claim_id, "status": r.status,
             "status_changed": r.status_changed.isoformat(),
             "explained": explain_reasons(r.reasons or [])} for r in rows]
