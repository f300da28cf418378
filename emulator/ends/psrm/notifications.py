"""``MFUnderretSamlingHent`` (the notification search) and the notifications PSRM writes:
coverage, write-off and return."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from lxml import etree
from sqlalchemy import Connection, Row, insert, select, update

from emulator.soap.envelope import SoapFault
from emulator.soap.pipeline import Call
from emulator.storage import schema as t
from emulator.storage.store import from_ore, to_ore
from oir_adapter.codecs.psrm_replies import (
    NotificationView,
    answer,
    notification_structure,
    sub,
)
from oir_adapter.codecs.reading import Reader
from oir_adapter.contracts import PSRM_NS
from oir_adapter.domain.model import (
    MoneyError,
    money,
)
from oir_adapter.domain.rules import (
    violation,
)

if TYPE_CHECKING:
    pass
from emulator.ends.psrm.claim_store import reduce_remaining, resolve_claim
from emulator.ends.psrm.vocabulary import (
    ACTIVE,
    COVERAGE,
    COVERAGE_SOURCES,
    DEFAULT_RETURN_REASON,
    DEFAULT_WRITE_OFF_REASON,
    END,
    PAID,
    RETURN,
    RETURNED,
    WRITE_OFF,
    WRITTEN_OFF,
)

DEFAULT_PAGE = 100
_MAX_SEQ = 1 << 62


@dataclass(frozen=True, slots=True)
class _Search:
    """What an ``MFUnderretSamlingHent_I`` asks for (empty values count as not given)."""

    creditors: tuple[str, ...]
    since: date | None
    first: int | None
    last: int | None


def _search(r: Reader) -> _Search:
    """Read the search and refuse the combinations PSRM refuses, with its messages."""
    since_text = r.opt_text("SøgeDatoFra/MFUnderretningDatoTid") or None
    first_text = r.opt_text("UnderretNummerFra/MFUnderretningNummer") or None
    last_text = r.opt_text("UnderretNummerTil/MFUnderretningNummer") or None
    problems = []
    if since_text and (first_text or last_text):
        problems.append("If SøgeDatoFra has a value, the UnderretNummerFra and "
                        "UnderretNummerTil must not have a value")
    if first_text and since_text:
        problems.append("If UnderretNummerFra has a value, SøgeDatoFra must not have a value")
    if last_text and not first_text:
        problems.append("If UnderretNummerTil has a value, UnderretNummerFra must have a "
                        "value too")
    first = None if first_text is None else min(int(first_text), _MAX_SEQ)
    last = None if last_text is None else min(int(last_text), _MAX_SEQ)
    if first is not None and last is not None and last < first:
        problems.append("UnderretNummerTil must not be less than UnderretNummerFra")
    if problems:
        raise SoapFault("Client", "Request validation messages: " + " / ".join(problems))
    creditors = tuple(dict.fromkeys(
        (c.element.text or "").strip() for c in r.all("FordringHaverSamling/DMIFordringHaverID")
        if (c.element.text or "").strip()))
    return _Search(creditors, None if since_text is None else r.date(
        "SøgeDatoFra/MFUnderretningDatoTid"), first, last)


def answer_underret(call: Call) -> etree._Element:
    r = Reader(call.body, PSRM_NS)
    se = r.text("FordringhaverSystemIDStruktur/VirksomhedSENummer")
    search = _search(r)
    call.correlation.update({"VirksomhedSENummer": se})
    n = t.psrm_notifications.c
    query = select(t.psrm_notifications).where(n.se_number == se)
    if search.creditors:
        query = query.where(n.creditor_id.in_(search.creditors))
    if search.since is not None:
        query = query.where(n.date >= search.since)
    if search.first is not None:
        query = query.where(n.seq >= search.first)
    if search.last is not None:
        query = query.where(n.seq <= search.last)
    rows = call.conn.execute(query.order_by(n.seq).limit(DEFAULT_PAGE + 1)).all()
    more = len(rows) > DEFAULT_PAGE
    rows = rows[:DEFAULT_PAGE]
    el = answer("MFUnderretSamlingHent_O", transaction_id=call.transaction_id,
                service_id="MFUnderretSamlingHent", now=call.now)
    samling = sub(el, "MFUnderretSamling")
    for row in rows:
        notification_structure(samling, _notification_view(row))
    sub(el, "MFFlereUnderretninger", "true" if more else "false")
    after = (search.first or 1) - 1
    sub(el, "MFSidsteUnderretningNummer", rows[-1].seq if rows else after)
    call.summary = f"{len(rows)} notifications" + (" (more)" if more else "")
    return el


def _notification_view(row: Row[Any]) -> NotificationView:
    return NotificationView(
        seq=row.seq, kind=row.kind, efi_claim_id=row.efi_claim_id, day=row.date,
        claim_ref=row.claim_ref, creditor_id=row.creditor_id,
        amount=None if row.amount_ore is None else from_ore(row.amount_ore),
        source=row.source, reason=row.reason, text=row.text)


def refuse_read(service_id: str) -> Any:
    def refuse(call: Call, transaction_id: str) -> etree._Element:
        call.summary = f"TransaktionsID {transaction_id} reused with another body"
        v = violation("PSRM-600", fmt="psrm", field="transaction_id", action_id=transaction_id)
        return answer(f"{service_id}_O", transaction_id=transaction_id, service_id=service_id,
                      now=call.now, errors=[v.to_afvist()])
    return refuse





def _notify(conn: Connection, claim: Row[Any], *, kind: str, day: date,
            amount_ore: int | None = None, source: str | None = None,
            reason: str | None = None, text: str | None = None) -> int:
    result = conn.execute(insert(t.psrm_notifications).values(
        se_number=claim.se_number, kind=kind, efi_claim_id=claim.efi_claim_id,
        claim_ref=claim.claim_ref, creditor_id=claim.creditor_id, date=day,
        amount_ore=amount_ore, source=source, reason=reason, text=text))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def apply_event(conn: Connection, claim: Row[Any], *, kind: str, day: date,
                 amount_ore: int | None, source: str | None, reason: str | None
                 ) -> dict[str, Any]:
    """Coverage, write-off or return of an active claim, with its notification."""
    event: dict[str, Any] = {"end": END, "event": kind, "efi_claim_id": claim.efi_claim_id,
                             "claim_ref": claim.claim_ref, "date": day.isoformat()}
    if kind == RETURN:
        code = reason or DEFAULT_RETURN_REASON
        conn.execute(update(t.psrm_claims).where(
            t.psrm_claims.c.efi_claim_id == claim.efi_claim_id).values(status=RETURNED,
                                                                      closed_reason=code))
        event["seq"] = _notify(conn, claim, kind=RETURN, day=day, reason=code,
                               text=f"Fordringen returneres til fordringshaver ({code})")
        event["reason"] = code
        return event
    ore = claim.remaining_ore if amount_ore is None else amount_ore
    if kind == COVERAGE:
        src = source or "INDB"
        event["seq"] = _notify(conn, claim, kind=COVERAGE, day=day, amount_ore=ore, source=src)
        event["source"] = src
        remaining = reduce_remaining(conn, claim.efi_claim_id, ore, PAID)
    else:
        code = reason or DEFAULT_WRITE_OFF_REASON
        event["seq"] = _notify(conn, claim, kind=WRITE_OFF, day=day, amount_ore=ore, reason=code)
        event["reason"] = code
        remaining = reduce_remaining(conn, claim.efi_claim_id, ore, WRITTEN_OFF)
    event["amount"] = str(from_ore(ore))
    event["remaining"] = str(from_ore(remaining))
    return event


def record_payment(conn: Connection, *, claim_ref: str | None = None,
                   efi_claim_id: str | None = None, amount: Decimal | None = None,
                   day: date, source: str = "INDB") -> dict[str, Any]:
    """A debtor pays PSRM now (or PSRM offsets, ``source="MODR"``): a DAEKNING
    notification and the claim's remaining reduced; ``amount=None`` pays it in full.
    Raises ``ValueError`` naming the field when the claim or amount will not do."""
    if source not in COVERAGE_SOURCES:
        raise ValueError(f"source: {source!r} is not INDB or MODR")
    if not claim_ref and not efi_claim_id:
        raise ValueError("claim_ref: give claim_ref or efi_claim_id")
    claim = resolve_claim(conn, claim_ref, efi_claim_id)
    field = "efi_claim_id" if efi_claim_id else "claim_ref"
    if claim is None:
        raise ValueError(f"{field}: no PSRM claim {efi_claim_id or claim_ref!r}")
    if claim.status != ACTIVE or claim.remaining_ore <= 0:
        raise ValueError(f"{field}: PSRM claim {claim.efi_claim_id} is {claim.status} "
                         f"with {from_ore(claim.remaining_ore)} remaining")
    ore = None
    if amount is not None:
        try:
            ore = to_ore(money(amount))
        except (MoneyError, ValueError) as exc:
            raise ValueError(f"amount: {exc}") from exc
        if ore <= 0:
            raise ValueError(f"amount: must be positive (got {amount})")
        if ore > claim.remaining_ore:
            raise ValueError(f"amount: {from_ore(ore)} is more than the remaining "
                             f"{from_ore(claim.remaining_ore)}")
    return apply_event(conn, claim, kind=COVERAGE, day=day, amount_ore=ore, source=source,
                        reason=None)
