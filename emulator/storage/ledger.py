"""The debtor end's ledger: accounts, claims, payments, coverage, offsets, write-offs.

Rows ↔ model objects, nothing else: the business decisions are made by the engines in
``oir_adapter`` and by :mod:`emulator.ends.debtor`; this module only loads and saves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    union_all,
    update,
)

from emulator.storage import schema as t
from emulator.storage.prepared import Prepared
from emulator.storage.store import from_ore, to_ore
from oir_adapter.domain.bankdays import next_bank_day
from oir_adapter.domain.model import (
    LARGEST_AMOUNT,
    OPEN_STATES,
    AccountStatus,
    AccountType,
    Address,
    BenefitPayment,
    Claim,
    ClaimArt,
    ClaimState,
    CoLiable,
    Coverage,
    CoverageSource,
    Debtor,
    DebtorAccount,
    Invoice,
    Offset,
    OffsetStatus,
    Party,
    PartyKind,
    PsrmHandover,
    PsrmStatus,
    RecallReason,
    RejectionReason,
    SubClaim,
    WriteOff,
    fold_name,
)

# ---------------------------------------------------------------- accounts


def insert_account(conn: Connection, account: DebtorAccount, created: datetime) -> None:
    d = account.debtor
    conn.execute(insert(t.accounts), dict(
        number=account.number, authority_cvr=account.authority_cvr,
        fagsystem_id=account.fagsystem_id, fagsystem_reference=account.fagsystem_reference,
        party_kind=d.party.kind.value, party_number=d.party.number, name=d.name,
        name_fold=fold_name(d.name), address=_address_json(d.address),
        account_type=account.account_type.value, status=account.status.value, created=created,
        booked_ore=0))


def _address_json(a: Address | None) -> dict[str, Any] | None:
    if a is None:
        return None
    return {"street": a.street, "postcode": a.postcode, "city": a.city,
            "house_number": a.house_number, "floor": a.floor, "country": a.country}


def _account(row: Any) -> DebtorAccount:
    address = Address(**row.address) if row.address else None
    return DebtorAccount(
        number=row.number, fagsystem_reference=row.fagsystem_reference,
        debtor=Debtor(Party(PartyKind(row.party_kind), row.party_number), row.name, address),
        account_type=AccountType(row.account_type), authority_cvr=row.authority_cvr,
        fagsystem_id=row.fagsystem_id, status=AccountStatus(row.status))


_ACCOUNT_BY_NUMBER = Prepared(select(t.accounts).where(t.accounts.c.number == bindparam("v")))


def get_account(conn: Connection, number: str, *, with_claims: bool = False) -> DebtorAccount | None:
    row = _ACCOUNT_BY_NUMBER.first(conn, {"v": number})
    if row is None:
        return None
    account = _account(row)
    if with_claims:
        account.claims = claims_for_accounts(conn, [number])
    return account


def account_by_reference(conn: Connection, authority_cvr: str, fagsystem_id: str,
                         reference: str) -> DebtorAccount | None:
    row = conn.execute(select(t.accounts).where(
        t.accounts.c.authority_cvr == authority_cvr, t.accounts.c.fagsystem_id == fagsystem_id,
        t.accounts.c.fagsystem_reference == reference)).first()
    return None if row is None else _account(row)


def accounts_for_party(conn: Connection, party: Party) -> list[DebtorAccount]:
    rows = conn.execute(select(t.accounts).where(
        t.accounts.c.party_kind == party.kind.value, t.accounts.c.party_number == party.number)
        .order_by(t.accounts.c.number)).all()
    return [_account(r) for r in rows]


@dataclass(frozen=True, slots=True)
class AccountCriteria:
    party: Party | None = None
    number: str | None = None
    reference: str | None = None
    name_prefix: str | None = None
    status: str | None = None


def search_accounts(conn: Connection, c: AccountCriteria, *, after: str | None, limit: int,
                    authority_cvr: str | None = None) -> list[DebtorAccount]:
    """Accounts matching every given criterion, ordered by number, after a cursor."""
    values: dict[str, Any] = {"limit": limit}
    if authority_cvr is not None:
        values["authority"] = authority_cvr
    if c.party is not None:
        values["party_kind"], values["party_number"] = c.party.kind.value, c.party.number
    if c.number is not None:
        values["number"] = c.number
    if c.reference is not None:
        values["reference"] = c.reference
    if c.name_prefix is not None:
        values["name_prefix"] = _like_prefix(fold_name(c.name_prefix))
    if c.status is not None:
        values["status"] = c.status
    if after is not None:
        values["after"] = after
    rows = _account_search(frozenset(values)).rows(conn, values)
    return [_account(r) for r in rows]


_SEARCHES: dict[frozenset[str], Prepared] = {}


def _account_search(given: frozenset[str]) -> Prepared:
    """The search statement for one combination of criteria, built once with bind
    parameters (a search is the commonest read; a fresh statement costs three times more)."""
    found = _SEARCHES.get(given)
    if found is not None:
        return found
    a = t.accounts.c
    conditions = {
        "authority": lambda: a.authority_cvr == bindparam("authority"),
        "party_kind": lambda: a.party_kind == bindparam("party_kind"),
        "party_number": lambda: a.party_number == bindparam("party_number"),
        "number": lambda: a.number == bindparam("number"),
        "reference": lambda: a.fagsystem_reference == bindparam("reference"),
        "name_prefix": lambda: a.name_fold.like(bindparam("name_prefix"), escape="\\"),
        "status": lambda: a.status == bindparam("status"),
        "after": lambda: a.number > bindparam("after"),
    }
    where = [make() for key, make in conditions.items() if key in given]
    built = (select(t.accounts).where(*where).order_by(a.number)
             .limit(bindparam("limit", type_=Integer)))
    return _SEARCHES.setdefault(given, Prepared(built))


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


def account_balances(conn: Connection, numbers: Sequence[str]) -> dict[str, Decimal]:
    """Outstanding balance per account: the open remainders of its claims and their
    sub-claims, summed in SQL (an account may hold thousands of claims)."""
    out = {n: Decimal("0.00") for n in numbers}
    for number in out:
        for (total,) in _BALANCE.rows(conn, {"number": number}):
            out[number] += from_ore(int(total or 0))
    return out


def _balance_statement() -> Any:
    c, s = t.claims.c, t.sub_claims.c
    # one comparison per state, not IN (…): an IN list is re-expanded on every call
    counted = or_(*(c.state == state.value for state in sorted(OPEN_STATES)))
    principal = (select(func.sum(c.remaining_principal_ore).label("total"))
                 .where(c.account_number == bindparam("number"), counted))
    subs = (select(func.sum(s.remaining_ore).label("total"))
            .join_from(t.sub_claims, t.claims, s.claim_id == c.id)
            .where(c.account_number == bindparam("number"), counted))
    return union_all(principal, subs)


_BALANCE = Prepared(_balance_statement())  # every search answer shows balances


def balance_bound(conn: Connection, number: str) -> Decimal | None:
    """At least the account's balance (every amount booked onto it; remainders only go
    down), read in one lookup; None when not known, e.g. after a claim moved in. What
    lets a new claim be checked against the largest balance without summing the
    account's claims (:func:`account_balances` is linear in them)."""
    row = _BOOKED.first(conn, {"number": number})
    return None if row is None or row.booked_ore is None else from_ore(int(row.booked_ore))


def book_onto(conn: Connection, number: str, amount: Decimal) -> None:
    """Raise the account's bound (:func:`balance_bound`) by an amount booked onto it."""
    _BOOK_ONTO.run(conn, {"key": number, "ore": to_ore(amount)})


def forget_bounds(conn: Connection, *numbers: str) -> None:
    """The accounts' bounds are no longer known (an amount came in some other way)."""
    conn.execute(update(t.accounts).where(t.accounts.c.number.in_(numbers))
                 .values(booked_ore=None))


_BOOKED = Prepared(select(t.accounts.c.booked_ore).where(
    t.accounts.c.number == bindparam("number")))
#: Where a bound stops growing: past the largest balance it only ever says "sum the
#: claims", and a BIGINT that kept adding could overflow.
_BOUND_CAP = to_ore(LARGEST_AMOUNT) + 1
_BOOK_ONTO = Prepared(update(t.accounts).where(t.accounts.c.number == bindparam("key"))
                      .values(booked_ore=case(
                          (t.accounts.c.booked_ore > _BOUND_CAP - bindparam("ore"), _BOUND_CAP),
                          else_=t.accounts.c.booked_ore + bindparam("ore"))))


def count_accounts(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(t.accounts)).scalar_one())


# ---------------------------------------------------------------- claims


def insert_claim(conn: Connection, claim: Claim) -> None:
    assert claim.invoice is not None and claim.remaining_principal is not None
    inv = claim.invoice
    _INSERT_CLAIM.run(conn, dict(
        id=claim.id, account_number=claim.account_number,
        fagsystem_claim_id=claim.fagsystem_claim_id, type_code=claim.type_code,
        art=claim.art.value if claim.art else None, description=claim.description,
        currency=claim.currency, principal_ore=to_ore(claim.principal),
        remaining_principal_ore=to_ore(claim.remaining_principal),
        period_from=claim.period_from, period_to=claim.period_to, founded=claim.founded,
        due_date=claim.due_date, srb=claim.srb, received=claim.received,
        limitation_date=claim.limitation_date, judgment_date=claim.judgment_date,
        settlement_date=claim.settlement_date, offsetting_allowed=claim.offsetting_allowed,
        creditor_cvr=claim.creditor_cvr,
        co_liable=_co_liable_json(claim.co_liable),
        state=claim.state.value, deferral_until=claim.deferral_until,
        invoice_id=inv.id, payment_id=inv.payment_id, creditor_number=inv.creditor_number,
        invoice_amount_ore=to_ore(inv.amount), reminder_date=inv.reminder_date,
        **_psrm_values(claim.psrm)))
    book_onto(conn, claim.account_number, max(claim.total, claim.outstanding))
    if claim.sub_claims:
        _INSERT_SUB_CLAIM.run_many(conn, [
            {"id": s.id, "claim_id": claim.id, "position": n, "type_code": s.type_code,
             "amount_ore": to_ore(s.amount), "remaining_ore": to_ore(s.remaining),
             "period_from": s.period_from, "period_to": s.period_to, "founded": s.founded}
            for n, s in enumerate(claim.sub_claims, start=1)])


_INSERT_CLAIM = Prepared(insert(t.claims))


def _co_liable_json(parties: Sequence[CoLiable]) -> list[dict[str, Any]]:
    return [{"kind": c.party.kind.value, "number": c.party.number, "name": c.name,
             **({"ended": c.ended.isoformat()} if c.ended else {})} for c in parties]
_INSERT_SUB_CLAIM = Prepared(insert(t.sub_claims))


def _psrm_values(p: PsrmHandover | None) -> dict[str, Any]:
    if p is None:
        return {"psrm_art": None, "psrm_status": None, "psrm_status_date": None,
                "psrm_amount_ore": None, "psrm_action_id": None, "psrm_efi_claim_id": None,
                "psrm_reasons": None, "psrm_recall_reason": None}
    return {"psrm_art": p.art.value, "psrm_status": p.status.value if p.status else None,
            "psrm_status_date": p.status_date, "psrm_amount_ore": to_ore(p.amount),
            "psrm_action_id": p.action_id, "psrm_efi_claim_id": p.efi_claim_id,
            "psrm_reasons": [{"number": r.number, "text": r.text} for r in p.reasons],
            "psrm_recall_reason": p.recall_reason.value if p.recall_reason else None}


def save_claim(conn: Connection, claim: Claim) -> None:
    """Write back what changes after registration: remainders, state, deferral, PSRM."""
    assert claim.remaining_principal is not None and claim.invoice is not None
    _SAVE_CLAIM.run(conn, dict(
        key=claim.id, remaining_principal_ore=to_ore(claim.remaining_principal),
        state=claim.state.value, deferral_until=claim.deferral_until,
        reminder_date=claim.invoice.reminder_date, art=claim.art.value if claim.art else None,
        co_liable=_co_liable_json(claim.co_liable), **_psrm_values(claim.psrm)))
    if claim.sub_claims:
        _SAVE_SUB_CLAIM.run_many(conn, [{"key": s.id, "remaining_ore": to_ore(s.remaining)}
                                        for s in claim.sub_claims])


# Built once: the SET columns come from the parameters, so no statement is rebuilt per call.
_SAVE_CLAIM = Prepared(update(t.claims).where(t.claims.c.id == bindparam("key")))
_SAVE_SUB_CLAIM = Prepared(update(t.sub_claims).where(t.sub_claims.c.id == bindparam("key")))


def _claim(row: Any, subs: list[SubClaim]) -> Claim:
    psrm = None
    if row.psrm_art is not None:
        psrm = PsrmHandover(
            art=ClaimArt(row.psrm_art),
            status=PsrmStatus(row.psrm_status) if row.psrm_status else None,
            status_date=row.psrm_status_date, amount=from_ore(row.psrm_amount_ore),
            action_id=row.psrm_action_id, efi_claim_id=row.psrm_efi_claim_id,
            reasons=[RejectionReason(r["number"], r["text"]) for r in row.psrm_reasons or []],
            recall_reason=RecallReason(row.psrm_recall_reason) if row.psrm_recall_reason
            else None)
    return Claim(
        id=row.id, account_number=row.account_number, fagsystem_claim_id=row.fagsystem_claim_id,
        type_code=row.type_code, principal=from_ore(row.principal_ore),
        remaining_principal=from_ore(row.remaining_principal_ore),
        period_from=row.period_from, period_to=row.period_to, founded=row.founded,
        due_date=row.due_date, srb=row.srb, received=row.received,
        offsetting_allowed=row.offsetting_allowed,
        art=ClaimArt(row.art) if row.art else None, description=row.description,
        currency=row.currency, limitation_date=row.limitation_date,
        judgment_date=row.judgment_date, settlement_date=row.settlement_date,
        creditor_cvr=row.creditor_cvr,
        co_liable=[CoLiable(Party(PartyKind(c["kind"]), c["number"]), c.get("name"),
                            date.fromisoformat(c["ended"]) if c.get("ended") else None)
                   for c in row.co_liable],
        sub_claims=subs, state=ClaimState(row.state), deferral_until=row.deferral_until,
        invoice=Invoice(id=row.invoice_id, payment_id=row.payment_id,
                        creditor_number=row.creditor_number,
                        amount=from_ore(row.invoice_amount_ore),
                        due_date=next_bank_day(row.due_date), srb=next_bank_day(row.srb),
                        reminder_date=row.reminder_date),
        psrm=psrm)


def _claims_where(where: Any) -> Any:
    return select(t.claims).where(where).order_by(t.claims.c.id)


# The lookups every request makes, built once with bind parameters.
_CLAIM_BY_ID = Prepared(_claims_where(t.claims.c.id == bindparam("v")))
_CLAIM_BY_PAYMENT_ID = Prepared(_claims_where(t.claims.c.payment_id == bindparam("v")))
_CLAIM_BY_EFI_ID = Prepared(_claims_where(t.claims.c.psrm_efi_claim_id == bindparam("v")))
_CLAIM_BY_REFERENCE = Prepared(_claims_where(and_(
    t.claims.c.account_number == bindparam("account"),
    t.claims.c.fagsystem_claim_id == bindparam("v"))))
_CLAIMS_BY_IDS = _claims_where(t.claims.c.id.in_(bindparam("v", expanding=True)))
_CHUNK = 500  # ids bound in one IN (…): well under every driver's parameter limit
_CLAIMS_OF_ACCOUNTS = _claims_where(t.claims.c.account_number.in_(bindparam("v",
                                                                             expanding=True)))
_SUB_CLAIMS_OF = (select(t.sub_claims)
                  .where(t.sub_claims.c.claim_id.in_(bindparam("ids", expanding=True)))
                  .order_by(t.sub_claims.c.claim_id, t.sub_claims.c.position))
_SUB_CLAIMS_OF_ONE = Prepared(select(t.sub_claims)
                              .where(t.sub_claims.c.claim_id == bindparam("id"))
                              .order_by(t.sub_claims.c.position))


def _load_claims(conn: Connection, where: Any, params: dict[str, Any] | None = None
                 ) -> list[Claim]:
    """Claims (with their sub-claims) matching ``where``: a clause, or a prebuilt select
    and its ``params``."""
    if isinstance(where, Prepared):
        rows = where.rows(conn, params)
    else:
        statement = where if params is not None else _claims_where(where)
        rows = list(conn.execute(statement, params or {}).all())
    if not rows:
        return []
    ids = [r.id for r in rows]
    subs: dict[str, list[SubClaim]] = {i: [] for i in ids}
    found = (_SUB_CLAIMS_OF_ONE.rows(conn, {"id": ids[0]}) if len(ids) == 1
             else conn.execute(_SUB_CLAIMS_OF, {"ids": ids}))
    for s in found:
        subs[s.claim_id].append(SubClaim(
            id=s.id, type_code=s.type_code, amount=from_ore(s.amount_ore),
            remaining=from_ore(s.remaining_ore), period_from=s.period_from,
            period_to=s.period_to, founded=s.founded))
    return [_claim(r, subs[r.id]) for r in rows]


def _one(found: list[Claim]) -> Claim | None:
    return found[0] if found else None


def get_claim(conn: Connection, claim_id: str) -> Claim | None:
    return _one(_load_claims(conn, _CLAIM_BY_ID, {"v": claim_id}))


def claim_by_payment_id(conn: Connection, payment_id: str) -> Claim | None:
    return _one(_load_claims(conn, _CLAIM_BY_PAYMENT_ID, {"v": payment_id}))


def claim_by_reference(conn: Connection, account_number: str, fagsystem_claim_id: str) -> Claim | None:
    return _one(_load_claims(conn, _CLAIM_BY_REFERENCE,
                             {"account": account_number, "v": fagsystem_claim_id}))


def claim_by_efi_id(conn: Connection, efi_claim_id: str) -> Claim | None:
    return _one(_load_claims(conn, _CLAIM_BY_EFI_ID, {"v": efi_claim_id}))


def claims_for_accounts(conn: Connection, numbers: Iterable[str]) -> list[Claim]:
    return _load_claims(conn, _CLAIMS_OF_ACCOUNTS, {"v": list(numbers)})


def claims_by_ids(conn: Connection, ids: Iterable[str]) -> dict[str, Claim]:
    """The claims named (with their sub-claims), by id: a statement or two per 500 ids,
    not per claim (a batch of PSRM receipts)."""
    wanted = sorted(set(ids))
    found: dict[str, Claim] = {}
    for start in range(0, len(wanted), _CHUNK):
        found.update((c.id, c) for c in _load_claims(
            conn, _CLAIMS_BY_IDS, {"v": wanted[start:start + _CHUNK]}))
    return found


def claim_ids_by_psrm(conn: Connection, column: str, values: Iterable[str]) -> dict[str, str]:
    """``{value: claim id}`` for the claims whose ``column`` (``psrm_action_id`` or
    ``psrm_efi_claim_id``) is one of ``values``."""
    wanted = sorted(set(values))
    key = t.claims.c[column]
    found: dict[str, str] = {}
    for start in range(0, len(wanted), _CHUNK):
        found.update((row[0], row[1]) for row in conn.execute(
            select(key, t.claims.c.id).where(key.in_(wanted[start:start + _CHUNK]))))
    return found


def psrm_status_by_action(conn: Connection, action_ids: Iterable[str]
                          ) -> dict[str, tuple[str, PsrmStatus | None]]:
    """``{PSRM action id: (claim id, the claim's PSRM status)}`` for the claims whose
    hand-over is one of ``action_ids``: enough to tell whether a receipt moves a claim
    before reading the claim."""
    wanted = sorted(set(action_ids))
    c = t.claims.c
    found: dict[str, tuple[str, PsrmStatus | None]] = {}
    for start in range(0, len(wanted), _CHUNK):
        for row in conn.execute(select(c.psrm_action_id, c.id, c.psrm_status).where(
                c.psrm_action_id.in_(wanted[start:start + _CHUNK]))):
            found[row[0]] = (row[1], PsrmStatus(row[2]) if row[2] else None)
    return found


def claims_for_party(conn: Connection, party: Party) -> list[Claim]:
    """Every claim on every account of this party (the recipient of a benefit payout)."""
    return claims_for_accounts(conn, [a.number for a in accounts_for_party(conn, party)])


def _srb_passed(claims: list[Claim], day: date) -> list[Claim]:
    """Those whose SRB has passed on ``day``: a payment is timely up to and including the
    first bank day on or after SRB (the invoice's SRB), so SRB has passed the day after."""
    return [c for c in claims if c.invoice is not None and c.invoice.srb < day]


def claims_needing_reminder(conn: Connection, day: date) -> list[Claim]:
    """Open claims whose SRB has passed and that have had no reminder yet."""
    c = t.claims.c
    return _srb_passed(_load_claims(conn, and_(c.state == ClaimState.OPEN.value, c.srb < day,
                                               c.reminder_date.is_(None))), day)


def claims_for_handover(conn: Connection, day: date) -> list[Claim]:
    """Open claims past SRB with a reminder sent."""
    c = t.claims.c
    return _srb_passed(_load_claims(conn, and_(c.state == ClaimState.OPEN.value, c.srb < day,
                                               c.reminder_date.is_not(None),
                                               c.reminder_date <= day)), day)


def psrm_actions_awaited(conn: Connection) -> dict[str, str]:
    """``{claim id: PSRM action id}`` of the handed-over claims whose PSRM action is not
    final yet (only the ids: a receipt poll needs no more)."""
    c = t.claims.c
    return {row[0]: row[1] for row in conn.execute(
        select(c.id, c.psrm_action_id).where(
            c.state == ClaimState.HANDED_OVER.value, c.psrm_action_id.is_not(None),
            c.psrm_status.in_((PsrmStatus.RECEIVED.value, PsrmStatus.HEARING.value,
                               PsrmStatus.IN_PROCESS.value))).order_by(c.id))}


def claim_counts_by_state(conn: Connection) -> dict[str, int]:
    c = t.claims.c
    return {row[0]: int(row[1]) for row in
            conn.execute(select(c.state, func.count()).group_by(c.state)).all()}


# ---------------------------------------------------------------- money movements


def get_payment_hash(conn: Connection, payment_id: str) -> str | None:
    row = conn.execute(select(t.payments.c.request_hash).where(t.payments.c.id == payment_id)).first()
    return None if row is None else str(row[0])


def insert_payment(conn: Connection, *, id: str, account_number: str, amount: Decimal, day: date,
                   payer: Party | None, payment_id: str | None, claim_id: str | None,
                   surplus: Decimal, request_hash: str) -> None:
    conn.execute(insert(t.payments), dict(
        id=id, account_number=account_number, amount_ore=to_ore(amount), date=day,
        payer={"kind": payer.kind.value, "number": payer.number} if payer else None,
        payment_id=payment_id, claim_id=claim_id, surplus_ore=to_ore(surplus),
        request_hash=request_hash))


@dataclass(frozen=True, slots=True)
class PaymentRecord:
    id: str
    account_number: str
    amount: Decimal
    date: date
    surplus: Decimal


def payments_for_account(conn: Connection, number: str) -> list[PaymentRecord]:
    rows = conn.execute(select(t.payments).where(t.payments.c.account_number == number)
                        .order_by(t.payments.c.date, t.payments.c.id)).all()
    return [PaymentRecord(r.id, r.account_number, from_ore(r.amount_ore), r.date,
                          from_ore(r.surplus_ore)) for r in rows]


def get_payment(conn: Connection, payment_id: str) -> PaymentRecord | None:
    r = conn.execute(select(t.payments).where(t.payments.c.id == payment_id)).first()
    return None if r is None else PaymentRecord(r.id, r.account_number, from_ore(r.amount_ore),
                                                r.date, from_ore(r.surplus_ore))


def insert_coverage(conn: Connection, account_number: str, lines: Sequence[Coverage]) -> None:
    if lines:
        conn.execute(insert(t.coverage), [
            {"account_number": account_number, "source": c.source.value, "source_id": c.source_id,
             "claim_id": c.claim_id, "sub_claim_id": c.sub_claim_id,
             "amount_ore": to_ore(c.amount), "date": c.date} for c in lines])


def coverage_for_source(conn: Connection, source: CoverageSource, source_id: str) -> list[Coverage]:
    rows = conn.execute(select(t.coverage).where(t.coverage.c.source == source.value,
                                                 t.coverage.c.source_id == source_id)
                        .order_by(t.coverage.c.seq)).all()
    return [_coverage(r) for r in rows]


def coverage_for_account(conn: Connection, number: str) -> list[Coverage]:
    rows = conn.execute(select(t.coverage).where(t.coverage.c.account_number == number)
                        .order_by(t.coverage.c.seq)).all()
    return [_coverage(r) for r in rows]


def _coverage(r: Any) -> Coverage:
    return Coverage(source=CoverageSource(r.source), source_id=r.source_id, claim_id=r.claim_id,
                    amount=from_ore(r.amount_ore), date=r.date, sub_claim_id=r.sub_claim_id)


# ---------------------------------------------------------------- benefit payments and offsets


@dataclass(frozen=True, slots=True)
class BenefitRecord:
    payment: BenefitPayment
    authority_cvr: str
    fagsystem_id: str
    status: OffsetStatus
    request_hash: str


def get_benefit(conn: Connection, benefit_id: str) -> BenefitRecord | None:
    r = conn.execute(select(t.benefit_payments).where(t.benefit_payments.c.id == benefit_id)).first()
    return None if r is None else _benefit(r)


def _benefit(r: Any) -> BenefitRecord:
    return BenefitRecord(
        payment=BenefitPayment(id=r.id, recipient=Party(PartyKind(r.party_kind), r.party_number),
                               benefit_type=r.benefit_type, payout_date=r.payout_date,
                               gross=from_ore(r.gross_ore), protected=from_ore(r.protected_ore),
                               paying_authority_cvr=r.paying_authority_cvr),
        authority_cvr=r.authority_cvr, fagsystem_id=r.fagsystem_id,
        status=OffsetStatus(r.status), request_hash=r.request_hash)


def insert_benefit(conn: Connection, b: BenefitPayment, *, authority_cvr: str, fagsystem_id: str,
                   status: OffsetStatus, request_hash: str) -> None:
    conn.execute(insert(t.benefit_payments), dict(
        id=b.id, party_kind=b.recipient.kind.value, party_number=b.recipient.number,
        benefit_type=b.benefit_type, payout_date=b.payout_date, gross_ore=to_ore(b.gross),
        protected_ore=to_ore(b.protected), paying_authority_cvr=b.paying_authority_cvr,
        authority_cvr=authority_cvr, fagsystem_id=fagsystem_id, status=status.value,
        request_hash=request_hash))


def set_benefit_status(conn: Connection, benefit_id: str, status: OffsetStatus) -> None:
    conn.execute(update(t.benefit_payments).where(t.benefit_payments.c.id == benefit_id)
                 .values(status=status.value))


def benefits_due(conn: Connection, day: date) -> list[BenefitRecord]:
    """Announced payouts whose payout date has come."""
    rows = conn.execute(select(t.benefit_payments).where(
        t.benefit_payments.c.status == OffsetStatus.PLANNED.value,
        t.benefit_payments.c.payout_date <= day).order_by(t.benefit_payments.c.payout_date,
                                                          t.benefit_payments.c.id)).all()
    return [_benefit(r) for r in rows]


def upcoming_benefits(conn: Connection, party: Party, day: date) -> list[BenefitRecord]:
    rows = conn.execute(select(t.benefit_payments).where(
        t.benefit_payments.c.status == OffsetStatus.PLANNED.value,
        t.benefit_payments.c.party_kind == party.kind.value,
        t.benefit_payments.c.party_number == party.number,
        t.benefit_payments.c.payout_date >= day).order_by(t.benefit_payments.c.payout_date,
                                                          t.benefit_payments.c.id)).all()
    return [_benefit(r) for r in rows]


def upcoming_benefit_recipients(conn: Connection, day: date) -> set[Party]:
    """The parties with an announced payout on or after ``day`` (those
    :func:`upcoming_benefits` finds anything for)."""
    b = t.benefit_payments.c
    return {Party(PartyKind(row[0]), row[1]) for row in conn.execute(
        select(b.party_kind, b.party_number).distinct().where(
            b.status == OffsetStatus.PLANNED.value, b.payout_date >= day))}


def claims_with_planned_offsets(conn: Connection) -> set[str]:
    """The claims money from an announced payout is reserved for (a planned offset)."""
    return set(conn.execute(select(t.offsets.c.claim_id).distinct().where(
        t.offsets.c.status == OffsetStatus.PLANNED.value)).scalars())


def insert_offsets(conn: Connection, account_of: dict[str, str], lines: Sequence[Offset]) -> None:
    if lines:
        conn.execute(insert(t.offsets), [
            {"benefit_payment_id": o.benefit_payment_id, "account_number": account_of[o.claim_id],
             "claim_id": o.claim_id, "sub_claim_id": o.sub_claim_id,
             "amount_ore": to_ore(o.amount), "date": o.date, "status": o.status.value}
            for o in lines])


def offsets_for_benefit(conn: Connection, benefit_id: str,
                        status: OffsetStatus | None = None) -> list[Offset]:
    q = select(t.offsets).where(t.offsets.c.benefit_payment_id == benefit_id)
    if status is not None:
        q = q.where(t.offsets.c.status == status.value)
    return [_offset(r) for r in conn.execute(q.order_by(t.offsets.c.seq)).all()]


def offsets_for_account(conn: Connection, number: str) -> list[Offset]:
    rows = conn.execute(select(t.offsets).where(t.offsets.c.account_number == number)
                        .order_by(t.offsets.c.seq)).all()
    return [_offset(r) for r in rows]


def planned_offsets_for_claims(conn: Connection, claim_ids: Sequence[str]) -> dict[str, Decimal]:
    """Sum of offsets planned (not yet booked) per claim: money reserved from payouts."""
    out: dict[str, Decimal] = {}
    rows = conn.execute(select(t.offsets.c.claim_id, func.sum(t.offsets.c.amount_ore)).where(
        t.offsets.c.claim_id.in_(list(claim_ids)),
        t.offsets.c.status == OffsetStatus.PLANNED.value).group_by(t.offsets.c.claim_id)).all()
    for claim_id, total in rows:
        out[claim_id] = from_ore(int(total))
    return out


def delete_planned_offsets(conn: Connection, benefit_id: str) -> None:
    conn.execute(delete(t.offsets).where(t.offsets.c.benefit_payment_id == benefit_id,
                                         t.offsets.c.status == OffsetStatus.PLANNED.value))


def _offset(r: Any) -> Offset:
    return Offset(benefit_payment_id=r.benefit_payment_id, claim_id=r.claim_id,
                  amount=from_ore(r.amount_ore), date=r.date, status=OffsetStatus(r.status),
                  sub_claim_id=r.sub_claim_id)


def insert_write_off(conn: Connection, account_number: str, w: WriteOff) -> None:
    conn.execute(insert(t.write_offs), dict(account_number=account_number, claim_id=w.claim_id,
                                             amount_ore=to_ore(w.amount), reason=w.reason,
                                             date=w.date))


def write_offs_for_account(conn: Connection, number: str) -> list[WriteOff]:
    rows = conn.execute(select(t.write_offs).where(t.write_offs.c.account_number == number)
                        .order_by(t.write_offs.c.seq)).all()
    return [WriteOff(r.claim_id, from_ore(r.amount_ore), r.reason, r.date) for r in rows]


# ---------------------------------------------------------------- PSRM write-downs waiting for an EFI id


@dataclass(frozen=True, slots=True)
class PendingWriteDown:
    """A write-down of a claim's PSRM part owed to PSRM as ``NEDSKRIV`` once its EFI id is
    known (see :data:`emulator.storage.schema.psrm_pending_writedowns`)."""

    id: int
    claim_id: str
    amount: Decimal
    reason: str
    effective: date


def insert_pending_writedown(conn: Connection, claim_id: str, amount: Decimal, reason: str,
                             effective: date, created: datetime) -> None:
    conn.execute(insert(t.psrm_pending_writedowns), dict(
        claim_id=claim_id, amount_ore=to_ore(amount), reason=reason, effective=effective,
        created=created))


def pending_writedowns(conn: Connection, claim_id: str) -> list[PendingWriteDown]:
    """The claim's pending write-downs, oldest first."""
    rows = conn.execute(select(t.psrm_pending_writedowns).where(
        t.psrm_pending_writedowns.c.claim_id == claim_id)
        .order_by(t.psrm_pending_writedowns.c.id)).all()
    return [PendingWriteDown(r.id, r.claim_id, from_ore(r.amount_ore), r.reason, r.effective)
            for r in rows]


def delete_pending_writedowns(conn: Connection, claim_id: str) -> int:
    """Drop the claim's pending write-downs (sent, or made moot); return how many."""
    return _delete_of_claim(conn, t.psrm_pending_writedowns, claim_id)


def _delete_of_claim(conn: Connection, table: Table, claim_id: str) -> int:
    return int(conn.execute(delete(table).where(table.c.claim_id == claim_id)).rowcount)


# ---------------------------------------------------------------- PSRM recalls waiting for an EFI id


@dataclass(frozen=True, slots=True)
class PendingRecall:
    """A recall owed to PSRM as ``TILBAGEKALD`` once the claim's EFI id is known (see
    :data:`emulator.storage.schema.psrm_pending_recalls`)."""

    claim_id: str
    reason: str
    effective: date


def put_pending_recall(conn: Connection, claim_id: str, reason: str, effective: date,
                       created: datetime) -> None:
    """Keep the claim's recall (replacing one kept before: the latest asked for counts)."""
    delete_pending_recall(conn, claim_id)
    conn.execute(insert(t.psrm_pending_recalls), dict(
        claim_id=claim_id, reason=reason, effective=effective, created=created))


def pending_recall(conn: Connection, claim_id: str) -> PendingRecall | None:
    row = conn.execute(select(t.psrm_pending_recalls).where(
        t.psrm_pending_recalls.c.claim_id == claim_id)
        .order_by(t.psrm_pending_recalls.c.id.desc()).limit(1)).first()
    return PendingRecall(row.claim_id, row.reason, row.effective) if row is not None else None


def claims_with_pending_psrm(conn: Connection, claim_ids: Iterable[str]) -> set[str]:
    """Those of ``claim_ids`` with a recall or write-down kept for PSRM's EFI id: one
    statement per 500 ids, so a batch of receipts asks once, not per claim."""
    wanted = sorted(set(claim_ids))
    found: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start:start + _CHUNK]
        for table in (t.psrm_pending_recalls, t.psrm_pending_writedowns):
            found.update(conn.execute(select(table.c.claim_id).distinct().where(
                table.c.claim_id.in_(chunk))).scalars())
    return found


def delete_pending_recall(conn: Connection, claim_id: str) -> int:
    """Drop the claim's pending recall (sent, or made moot); return how many rows went."""
    return _delete_of_claim(conn, t.psrm_pending_recalls, claim_id)


# ---------------------------------------------------------------- the objects of an account


class Role(StrEnum):
    """A party's role on an account (see :data:`emulator.storage.schema.account_roles`)."""

    RESPONSIBLE = "JURIDISK_ANSVARLIG"  # the account's own debtor
    ADMINISTRATOR = "ADMINISTRATOR"
    CO_LIABLE = "JURIDISK_MEDHAEFTER"
    PARTNER = "LIGESTILLINGSPARTNER"


@dataclass(slots=True)
class AccountRole:
    """A party in a role on an account, with the end dates of the role, of its current
    address and of its material subscription (the last day each is in force)."""

    account_number: str
    role: Role
    party: Party
    name: str
    address: Address | None = None
    channel: str | None = None  # material subscription: DIGITALPOST | BREV | EMAIL
    ended: date | None = None
    address_ended: date | None = None
    subscription_ended: date | None = None
    id: int | None = None


def insert_role(conn: Connection, r: AccountRole, created: datetime) -> AccountRole:
    result = conn.execute(insert(t.account_roles), dict(
        account_number=r.account_number, role=r.role.value, party_kind=r.party.kind.value,
        party_number=r.party.number, name=r.name, address=_address_json(r.address),
        address_ended=r.address_ended, channel=r.channel,
        subscription_ended=r.subscription_ended, ended=r.ended, created=created))
    key = result.inserted_primary_key
    assert key is not None
    r.id = int(key[0])
    return r


def save_role(conn: Connection, r: AccountRole) -> None:
    """Write back a role's end dates (all that changes after it was added)."""
    conn.execute(update(t.account_roles).where(t.account_roles.c.id == r.id).values(
        ended=r.ended, address_ended=r.address_ended, subscription_ended=r.subscription_ended))


def roles_of(conn: Connection, account_number: str) -> list[AccountRole]:
    """Every role on the account, ended ones too, in the order they were added."""
    rows = conn.execute(select(t.account_roles).where(
        t.account_roles.c.account_number == account_number).order_by(t.account_roles.c.id)).all()
    return [AccountRole(
        account_number=r.account_number, role=Role(r.role),
        party=Party(PartyKind(r.party_kind), r.party_number), name=r.name,
        address=Address(**r.address) if r.address else None, channel=r.channel, ended=r.ended,
        address_ended=r.address_ended, subscription_ended=r.subscription_ended, id=r.id)
        for r in rows]


def role_of(conn: Connection, account_number: str, role: Role,
            party: Party | None = None) -> AccountRole | None:
    """The party's role on the account: the one still running, else the latest ended
    (``party`` ``None``: any party in that role)."""
    found = [r for r in roles_of(conn, account_number)
             if r.role is role and (party is None or r.party == party)]
    running = [r for r in found if r.ended is None]
    chosen = running or found
    return chosen[-1] if chosen else None


# ---------------------------------------------------------------- what an anmodning changes


def move_claim(conn: Connection, claim_id: str, account_number: str) -> None:
    """Put the claim (with its sub-claims) on another account."""
    conn.execute(update(t.claims).where(t.claims.c.id == claim_id)
                 .values(account_number=account_number))
    forget_bounds(conn, account_number)


def move_sub_claims(conn: Connection, sub_claim_ids: Sequence[str], claim_id: str) -> None:
    """Put sub-claims on another claim, after the sub-claims it has."""
    last = conn.execute(select(func.max(t.sub_claims.c.position)).where(
        t.sub_claims.c.claim_id == claim_id)).scalar()
    for n, sub_id in enumerate(sub_claim_ids, start=int(last or 0) + 1):
        conn.execute(update(t.sub_claims).where(t.sub_claims.c.id == sub_id)
                     .values(claim_id=claim_id, position=n))
    forget_bounds(conn, *conn.execute(select(t.claims.c.account_number).where(
        t.claims.c.id == claim_id)).scalars())


def set_account_status(conn: Connection, number: str, status: AccountStatus) -> None:
    conn.execute(update(t.accounts).where(t.accounts.c.number == number)
                 .values(status=status.value))


@dataclass(frozen=True, slots=True)
class AccountRequest:
    """One anmodning as stored (see :data:`emulator.storage.schema.account_requests`)."""

    account_number: str
    request_id: str
    kind: str
    payload: dict[str, Any]
    due: date
    status: str
    reasons: list[dict[str, str]]
    request_hash: str


def _request(r: Any) -> AccountRequest:
    return AccountRequest(r.account_number, r.request_id, r.kind, r.payload, r.due, r.status,
                          r.reasons or [], r.request_hash)


def insert_request(conn: Connection, a: AccountRequest, created: datetime) -> None:
    conn.execute(insert(t.account_requests), dict(
        account_number=a.account_number, request_id=a.request_id, kind=a.kind,
        payload=a.payload, due=a.due, status=a.status, reasons=a.reasons or None,
        request_hash=a.request_hash, created=created))


def get_request(conn: Connection, account_number: str, request_id: str) -> AccountRequest | None:
    r = conn.execute(select(t.account_requests).where(
        t.account_requests.c.account_number == account_number,
        t.account_requests.c.request_id == request_id)).first()
    return None if r is None else _request(r)


def requests_due(conn: Connection, day: date) -> list[AccountRequest]:
    """Anmodninger waiting for a day that has come, oldest first."""
    rows = conn.execute(select(t.account_requests).where(
        t.account_requests.c.status == "MODTAGET", t.account_requests.c.due <= day)
        .order_by(t.account_requests.c.due, t.account_requests.c.id)).all()
    return [_request(r) for r in rows]


def settle_request(conn: Connection, a: AccountRequest, status: str,
                   reasons: list[dict[str, str]]) -> None:
    conn.execute(update(t.account_requests).where(
        t.account_requests.c.account_number == a.account_number,
        t.account_requests.c.request_id == a.request_id).values(
        status=status, reasons=reasons or None))
