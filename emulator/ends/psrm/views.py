"""PSRM's state as JSON for the dashboard and the admin API."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, func, or_, select

from emulator.storage import schema as t

if TYPE_CHECKING:
    pass
from emulator.ends.psrm.claim_store import claim_json
from emulator.ends.psrm.receipts import action_number
from emulator.ends.psrm.switches import behaviour


def snapshot(conn: Connection, *, limit: int = 200) -> dict[str, Any]:
    """A JSON-ready summary for the dashboard: counts by status, the latest claims and
    actions (CPR numbers masked), notification and scripted-event counts, the switches."""
    claims = conn.execute(select(t.psrm_claims).order_by(t.psrm_claims.c.received.desc(),
                                                         t.psrm_claims.c.efi_claim_id.desc())
                          .limit(limit)).all()
    actions = conn.execute(select(t.psrm_actions)).all()
    actions = sorted(actions, key=lambda r: (action_number(r.action_id), r.action_id))[-limit:]
    by_claim_status: dict[Any, Any] = dict(conn.execute(select(t.psrm_claims.c.status, func.count())
                                        .group_by(t.psrm_claims.c.status)).all())
    by_action_status: dict[Any, Any] = dict(conn.execute(select(t.psrm_actions.c.status, func.count())
                                         .group_by(t.psrm_actions.c.status)).all())
    notifications = conn.execute(select(func.count()).select_from(t.psrm_notifications)
                                 ).scalar_one()
    pending = conn.execute(select(func.count()).select_from(t.psrm_scripted)
                           .where(t.psrm_scripted.c.done.is_(False))).scalar_one()
    deliveries = conn.execute(select(func.count()).select_from(t.psrm_deliveries)).scalar_one()
    return {
        "claims_by_status": {str(k): int(v) for k, v in by_claim_status.items()},
        "actions_by_status": {str(k): int(v) for k, v in by_action_status.items()},
        "deliveries": int(deliveries),
        "notifications": int(notifications),
        "scripted_pending": int(pending),
        "claims": [claim_json(dict(r._mapping)) for r in claims],
        "actions": [_action_json(r) for r in reversed(actions)],
        "behaviour": behaviour(conn),
    }


def _action_json(row: Row[Any]) -> dict[str, Any]:
    return {"action_id": row.action_id, "delivery_id": row.delivery_id,
            "se_number": row.se_number, "position": row.position, "code": row.code,
            "creditor_id": row.creditor_id, "claim_ref": row.claim_ref,
            "efi_claim_id": row.efi_claim_id, "status": row.status,
            "status_changed": row.status_changed.isoformat(),
            "received": row.received.isoformat() if row.received else None,
            "reasons": list(row.reasons or [])}


def actions(conn: Connection, *, delivery_id: str | None = None,
            action_ids: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Stored actions as JSON (tests, admin): of one delivery and/or by id."""
    conditions = []
    if delivery_id is not None:
        conditions.append(t.psrm_actions.c.delivery_id == delivery_id)
    ids = list(action_ids)
    if ids:
        conditions.append(t.psrm_actions.c.action_id.in_(ids))
    q = select(t.psrm_actions)
    if conditions:
        q = q.where(or_(*conditions))
    rows = sorted(conn.execute(q).all(), key=lambda r: (action_number(r.action_id),
                                                         r.action_id))
    return [_action_json(r) for r in rows]


def claims(conn: Connection) -> list[dict[str, Any]]:
    """Every PSRM claim as JSON, oldest first."""
    rows = conn.execute(select(t.psrm_claims).order_by(t.psrm_claims.c.received,
                                                       t.psrm_claims.c.efi_claim_id)).all()
    return [claim_json(dict(r._mapping)) for r in rows]
