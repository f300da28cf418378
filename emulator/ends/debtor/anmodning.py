"""``DebitorkontoAnmodningAfsend`` (SF1590_B_04): the fagsystem asks the debtor system to
act on an account, and the debtor system answers at once or later.

Three kinds of anmodning, the actions the public service text names:

- ``FLYT_FORDRING``: move a claim (with its sub-claims) to another account of the
  authority (an owner change of the claim);
- ``FLYT_DELFORDRING``: move sub-claims from one claim to another claim of the account;
- ``AENDR_KONTOSTATUS``: change the account's status (close a settled account, reopen it).

Without ``UdfoerelsesDato`` (or with today or a past day) the anmodning is checked and
performed at once: the business receipt says ``UDFOERT``, or refuses it with its reasons.
With a later day it is kept as ``MODTAGET`` and checked and performed when the virtual
clock reaches that day (:func:`run_due`, from :mod:`emulator.days`), since what is
possible then is what counts; its result reaches the fagsystem as status advice
(``RegistrerDebitorkontoStatus``, ``AdviseringTypeKode`` ``ANMODNING``): ``UDFOERT``, or
``AFVIST`` with the reasons.
A change of the account's status is advised too (``KONTOSTATUS``), whenever it happens.
Idempotent on (account, ``AnmodningID``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import date, datetime
from typing import Any

from lxml import etree
from sqlalchemy import Connection

from emulator import bookkeeping
from emulator.ends.debtor.common import answer_errors, oir_violation, own_account
from emulator.runtime import Runtime
from emulator.soap.pipeline import Call
from emulator.storage import ledger
from oir_adapter import mapping
from oir_adapter.codecs import Reader
from oir_adapter.codecs.oir_replies import fill, reply, sub
from oir_adapter.contracts import OIR_NS
from oir_adapter.domain import rules
from oir_adapter.domain.model import (
    CLOSED_STATES,
    OPEN_STATES,
    ZERO,
    AccountStatus,
    ClaimState,
    DebtorAccount,
)

MOVE_CLAIM, MOVE_SUB_CLAIMS, CHANGE_STATUS = "FLYT_FORDRING", "FLYT_DELFORDRING", "AENDR_KONTOSTATUS"
RECEIVED, DONE, REFUSED = "MODTAGET", "UDFOERT", "AFVIST"
_KIND_OF = {"FlytFordring": MOVE_CLAIM, "FlytDelfordring": MOVE_SUB_CLAIMS,
            "AendrKontostatus": CHANGE_STATUS}


def _decode(r: Reader) -> tuple[str, dict[str, Any]]:
    for name, kind in _KIND_OF.items():
        c = r.find(name)
        if c is None:
            continue
        if kind == MOVE_CLAIM:
            return kind, {"claim_id": c.text("FordringID"),
                          "to_account": c.text("TilDebitorkontoNummer")}
        if kind == MOVE_SUB_CLAIMS:
            return kind, {"sub_claim_ids": [s.element.text.strip() for s in c.all("DelfordringID")
                                            if s.element.text],
                          "to_claim": c.text("TilFordringID")}
        return kind, {"status": c.text("KontoStatus")}
    raise AssertionError("the schema admits no other anmodning")  # pragma: no cover


def check(conn: Connection, account: DebtorAccount, kind: str, payload: dict[str, Any]
          ) -> list[rules.Violation]:
    """Why the anmodning cannot be performed on ``account`` now (empty: it can)."""
    if kind == MOVE_CLAIM:
        return _check_move_claim(conn, account, payload)
    if kind == MOVE_SUB_CLAIMS:
        return _check_move_sub_claims(conn, account, payload)
    if payload["status"] == AccountStatus.CLOSED.value:
        open_amount = sum((c.outstanding for c in ledger.claims_for_accounts(conn, [account.number])
                           if c.state in OPEN_STATES), ZERO)
        if open_amount > 0:
            return [oir_violation("OIR-318", account=account.number, amount=open_amount)]
    return []


def _claim_movable(state: ClaimState, field: str, change: str) -> list[rules.Violation]:
    if state is ClaimState.HANDED_OVER:
        return [oir_violation("OIR-202", field, change=change)]
    if state in CLOSED_STATES:
        return [oir_violation("OIR-201", field, state=state.value, change=change)]
    return []


def _check_move_claim(conn: Connection, account: DebtorAccount, p: dict[str, Any]
                      ) -> list[rules.Violation]:
    claim = ledger.get_claim(conn, p["claim_id"])
    if claim is None or claim.account_number != account.number:
        return [oir_violation("OIR-302", "move.claim", claim_id=p["claim_id"])]
    target = ledger.get_account(conn, p["to_account"])
    if target is None or target.authority_cvr != account.authority_cvr:
        return [oir_violation("OIR-301", "move.account", account=p["to_account"])]
    errors = _claim_movable(claim.state, "move.claim", "flytning")
    if target.status is AccountStatus.CLOSED:
        errors.append(oir_violation("OIR-317", "move.account", account=target.number))
    if target.number != account.number and ledger.claim_by_reference(
            conn, target.number, claim.fagsystem_claim_id) is not None:
        errors.append(oir_violation("OIR-303", "move.claim", ref=claim.fagsystem_claim_id))
    return errors


def _check_move_sub_claims(conn: Connection, account: DebtorAccount, p: dict[str, Any]
                           ) -> list[rules.Violation]:
    claims = {c.id: c for c in ledger.claims_for_accounts(conn, [account.number])}
    target = claims.get(p["to_claim"])
    if target is None:
        return [oir_violation("OIR-302", "move.target_claim", claim_id=p["to_claim"])]
    errors = _claim_movable(target.state, "move.target_claim", "flytning af delfordringer")
    owner = {s.id: c for c in claims.values() for s in c.sub_claims}
    for sub_id in p["sub_claim_ids"]:
        source = owner.get(sub_id)
        if source is None or source.id == target.id:
            errors.append(oir_violation("OIR-319", sub_claim_id=sub_id))
        else:
            errors += _claim_movable(source.state, "move.sub_claim", "flytning af delfordringer")
    return errors


def perform(conn: Connection, runtime: Runtime, account: DebtorAccount, kind: str,
            payload: dict[str, Any], day: date, now: datetime) -> None:
    """Do what a checked anmodning asks."""
    if kind == MOVE_CLAIM:
        ledger.move_claim(conn, payload["claim_id"], payload["to_account"])
    elif kind == MOVE_SUB_CLAIMS:
        ledger.move_sub_claims(conn, payload["sub_claim_ids"], payload["to_claim"])
    else:
        status = AccountStatus(payload["status"])
        if status is not account.status:
            ledger.set_account_status(conn, account.number, status)
            advise(conn, runtime, account, [mapping.StatusAdvice(
                advice_id=f"KONTO-{account.number}-{uuid.uuid4().hex[:12]}", kind="KONTOSTATUS",
                account_number=account.number, date=day, account_status=status.value)], now)


def advise(conn: Connection, runtime: Runtime, account: DebtorAccount,
           advice: list[mapping.StatusAdvice], now: datetime) -> None:
    """Queue status advice on ``account`` to its fagsystem (one callback)."""
    body = mapping.status_advice_request(advice, transaction_id=str(uuid.uuid4()),
                                         transaction_time=now,
                                         authority_cvr=account.authority_cvr,
                                         fagsystem_id=account.fagsystem_id)
    bookkeeping.queue(conn, target="fagsystem", operation="RegistrerDebitorkontoStatus",
                      body=body, context={"account": account.number,
                                          "advice": [a.advice_id for a in advice]}, now=now)


def _digest(kind: str, payload: dict[str, Any], asked: date | None) -> str:
    text = json.dumps([kind, payload, asked.isoformat() if asked else None], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _answer(call: Call, request_id: str, kind: str, status: str, due: date) -> etree._Element:
    el = reply("OpretDebitorkontoAnmodningResponse", call.transaction_id, call.now)
    fill(sub(el, "Anmodning"), AnmodningID=request_id, AnmodningTypeKode=kind, Status=status,
         UdfoerelsesDato=due)
    return el


def opret_debitorkonto_anmodning(call: Call) -> etree._Element:
    r = Reader(call.body, OIR_NS)
    response = "OpretDebitorkontoAnmodningResponse"
    number = r.text("DebitorkontoNummer")
    account = own_account(call, number)
    if account is None:
        return answer_errors(call, response, [oir_violation("OIR-301", account=number)])
    request_id = r.text("AnmodningID")
    kind, payload = _decode(r)
    asked = r.opt_date("UdfoerelsesDato")
    due = max(asked or call.today, call.today)
    digest = _digest(kind, payload, asked)
    call.correlation = {"account": number, "anmodning": request_id}
    known = ledger.get_request(call.conn, number, request_id)
    if known is not None:
        if known.request_hash != digest:
            return answer_errors(call, response, [oir_violation("OIR-316", request_id=request_id)])
        call.summary = f"anmodning {request_id} already {known.status}"
        return _answer(call, request_id, kind, known.status, known.due)
    status = RECEIVED if due > call.today else DONE
    if status == DONE:
        errors = check(call.conn, account, kind, payload)
        if errors:
            return answer_errors(call, response, errors)
        perform(call.conn, call.runtime, account, kind, payload, call.today, call.now)
        call.wake_outbox = True
    ledger.insert_request(call.conn, ledger.AccountRequest(
        number, request_id, kind, payload, due, status, [], digest), call.now)
    call.summary = f"anmodning {request_id} {kind}: {status} ({due})"
    return _answer(call, request_id, kind, status, due)


def run_due(conn: Connection, runtime: Runtime, day: date, now: datetime
            ) -> list[dict[str, Any]]:
    """Perform the anmodninger whose day has come (checked again: the account may have
    changed since), and advise the fagsystem of each result."""
    fired: list[dict[str, Any]] = []
    for a in ledger.requests_due(conn, day):
        account = ledger.get_account(conn, a.account_number)
        assert account is not None
        errors = [e for e in check(conn, account, a.kind, a.payload) if e.severity == "error"]
        if errors:
            reasons = [dict(zip(("code", "text", "field"), e.to_fejl(), strict=True))
                       for e in errors]
            ledger.settle_request(conn, a, REFUSED, reasons)
        else:
            perform(conn, runtime, account, a.kind, a.payload, day, now)
            ledger.settle_request(conn, a, DONE, [])
        status = REFUSED if errors else DONE
        advise(conn, runtime, account, [mapping.StatusAdvice(
            advice_id=f"ANMOD-{a.account_number}-{a.request_id}", kind="ANMODNING",
            account_number=a.account_number, date=day, request_id=a.request_id,
            request_kind=a.kind, request_status=status,
            errors=tuple(e.to_fejl() for e in errors))], now)
        fired.append({"end": "oir", "event": "anmodning", "account": a.account_number,
                      "anmodning": a.request_id, "kind": a.kind, "status": status})
    return fired
