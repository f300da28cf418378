"""PSRM's own claims: found by id or reference, reduced, seeded by scenarios."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, insert, select, update

from emulator import clock
from emulator.storage import schema as t
from emulator.storage.store import from_ore, next_number, to_ore
from oir_adapter.domain.model import mask_cpr

if TYPE_CHECKING:
    pass
from emulator.ends.psrm.specs import spec_amount, spec_date, spec_text
from emulator.ends.psrm.vocabulary import ACTIVE, PAID, RECALLED, RETURNED, WRITTEN_OFF, efi_id


def _claim_by_efi(conn: Connection, efi_claim_id: str) -> Row[Any] | None:
    return conn.execute(select(t.psrm_claims).where(
        t.psrm_claims.c.efi_claim_id == efi_claim_id)).first()


def _active_claim_by_ref(conn: Connection, se: str | None, creditor_id: str | None,
                         claim_ref: str) -> Row[Any] | None:
    q = select(t.psrm_claims).where(t.psrm_claims.c.claim_ref == claim_ref,
                                    t.psrm_claims.c.status == ACTIVE)
    if se is not None:
        q = q.where(t.psrm_claims.c.se_number == se)
    if creditor_id is not None:
        q = q.where(t.psrm_claims.c.creditor_id == creditor_id)
    return conn.execute(q.order_by(t.psrm_claims.c.received.desc(),
                                   t.psrm_claims.c.efi_claim_id.desc())).first()


def reduce_remaining(conn: Connection, efi_claim_id: str, ore: int, closed_status: str) -> int:
    """Take ``ore`` off a claim's remaining; at zero it gets ``closed_status``. Returns
    what remains."""
    row = _claim_by_efi(conn, efi_claim_id)
    assert row is not None
    remaining = row.remaining_ore - ore
    conn.execute(update(t.psrm_claims).where(t.psrm_claims.c.efi_claim_id == efi_claim_id)
                 .values(remaining_ore=remaining,
                         status=closed_status if remaining == 0 else row.status))
    return int(remaining)


def resolve_claim(conn: Connection, claim_ref: str | None, efi_claim_id: str | None
             ) -> Row[Any] | None:
    if efi_claim_id:
        return _claim_by_efi(conn, efi_claim_id)
    if claim_ref:  # the active claim with that reference, else the latest one
        return _active_claim_by_ref(conn, None, None, claim_ref) or conn.execute(
            select(t.psrm_claims).where(t.psrm_claims.c.claim_ref == claim_ref).order_by(
                t.psrm_claims.c.received.desc(), t.psrm_claims.c.efi_claim_id.desc())).first()
    return None


def seed_claim(conn: Connection, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Put a claim into PSRM directly (scenarios: a claim handed over before the story
    starts). ``spec``: ``claim_ref``, ``party`` (CPR or CVR digits), ``amount``, and
    optionally ``efi_claim_id``, ``remaining``, ``se_number``, ``creditor_id``,
    ``type_code`` (CFFAKTU), ``art`` (INDR), ``status`` (AKTIV), ``received`` (ISO date).
    Raises ``ValueError`` naming the field."""
    claim_ref = spec_text(spec, "claim_ref", required=True)
    party = spec_text(spec, "party", required=True)
    assert claim_ref is not None and party is not None
    if not party.isdigit() or len(party) not in (8, 10):
        raise ValueError("party: a CPR (10 digits) or CVR (8 digits) number")
    amount = spec_amount(spec, "amount", required=True)
    assert amount is not None
    remaining = spec_amount(spec, "remaining", required=False)
    remaining = amount if remaining is None else remaining
    if remaining > amount:
        raise ValueError("remaining: larger than amount")
    status = spec_text(spec, "status") or ACTIVE
    if status not in (ACTIVE, PAID, RECALLED, RETURNED, WRITTEN_OFF):
        raise ValueError(f"status: {status!r} is not one of AKTIV, INDFRIET, TILBAGEKALDT, "
                         "RETUR, AFSKREVET")
    art = spec_text(spec, "art") or "INDR"
    if art not in ("INDR", "MODR"):
        raise ValueError(f"art: {art!r} is not INDR or MODR")
    received = spec_date(spec, "received", required=False) or clock.today(conn)
    efi = spec_text(spec, "efi_claim_id") or efi_id(next_number(conn, "psrm_efi_claim"))
    if _claim_by_efi(conn, efi) is not None:
        raise ValueError(f"efi_claim_id: {efi} exists already")
    se = spec_text(spec, "se_number") or "29189846"
    values = dict(
        efi_claim_id=efi, se_number=se, creditor_id=spec_text(spec, "creditor_id") or "1000",
        claim_ref=claim_ref, main_efi_claim_id=efi, type_code=spec_text(spec, "type_code")
        or "CFFAKTU", art=art, party_kind="CPR" if len(party) == 10 else "CVR",
        party_number=party, amount_ore=to_ore(amount), remaining_ore=to_ore(remaining),
        status=status, received=received, closed_reason=None)
    conn.execute(insert(t.psrm_claims).values(**values))
    return claim_json(values)


def claim_json(values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "efi_claim_id": values["efi_claim_id"], "claim_ref": values["claim_ref"],
        "se_number": values["se_number"], "creditor_id": values["creditor_id"],
        "type_code": values["type_code"], "art": values["art"],
        "party": mask_cpr(values["party_number"]),
        "amount": str(from_ore(values["amount_ore"])),
        "remaining": str(from_ore(values["remaining_ore"])), "status": values["status"],
        "received": values["received"].isoformat(),
    }
