"""``DebitorIndbetalingAfsend``: payments covered in the order of § 4."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from lxml import etree

from emulator import bookkeeping
from emulator.ends.debtor.common import (
    answer_errors,
    oir_violation,
    own_account,
    read_oir,
    too_large,
)
from emulator.ends.debtor.queries import coverage_element
from emulator.soap.pipeline import Call, request_hash
from emulator.storage import ledger
from oir_adapter.codecs import Reader
from oir_adapter.codecs.oir import decode_party
from oir_adapter.codecs.oir_replies import (
    children,
    fill,
    reply,
    sub,
)
from oir_adapter.domain import rules
from oir_adapter.domain.coverage import plan_coverage
from oir_adapter.domain.model import (
    LARGEST_AMOUNT,
    Claim,
    Coverage,
    CoverageSource,
    DebtorAccount,
)


def _locate_payment(call: Call) -> tuple[DebtorAccount | None, list[rules.Violation], Reader]:
    """Check a payment and find the account it goes to: the account number, else the FIK
    id's claim, else the claim id's, else the payer's account with this authority."""
    i = read_oir(call.body).find("Indbetaling")
    assert i is not None
    account, errors = _payment_account(call, i)
    amount = i.money("Beloeb")
    if amount <= 0:
        errors.append(oir_violation("OIR-108", "payment.amount", amount=amount))
    return account, errors, i


def _payment_account(call: Call, i: Reader) -> tuple[DebtorAccount | None, list[rules.Violation]]:
    number = i.opt_text("DebitorkontoNummer")
    fik = i.opt_text("BetalingsID")
    claim_id = i.opt_text("FordringID")
    payer = i.find("Indbetaler")
    if number is not None:
        account = own_account(call, number)
        return account, ([] if account else [oir_violation("OIR-301", account=number)])
    if fik is not None:
        claim = ledger.claim_by_payment_id(call.conn, fik)
        account = own_account(call, claim.account_number) if claim else None
        return account, ([] if account else [oir_violation("OIR-307", payment_id=fik)])
    if claim_id is not None:
        claim = ledger.get_claim(call.conn, claim_id)
        account = own_account(call, claim.account_number) if claim else None
        return account, ([] if account else [oir_violation("OIR-302", "payment.claim_id",
                                                claim_id=claim_id)])
    if payer is not None:
        authority = read_oir(call.body).text("MyndighedCVR")
        accounts = [a for a in ledger.accounts_for_party(call.conn, decode_party(payer))
                    if a.authority_cvr == authority]
        if accounts:
            return accounts[0], []
    return None, [oir_violation("OIR-306")]


def _plan_payment(call: Call, account: DebtorAccount, i: Reader
                  ) -> tuple[list[Claim], list[Coverage], Decimal]:
    claims = ledger.claims_for_accounts(call.conn, [account.number])
    plan = plan_coverage(
        claims, i.money("Beloeb"), source=CoverageSource.PAYMENT, source_id=i.text("IndbetalingID"),
        on=i.date("BetalingsDato"), claim_types=call.runtime.claim_types(call.conn),
        target_claim_id=i.opt_text("FordringID"), target_payment_id=i.opt_text("BetalingsID"))
    return claims, plan.lines, plan.surplus


def _payment_reply(call: Call, response: str, account_number: str, i: Reader,
                   lines: Sequence[Coverage], surplus: Decimal) -> etree._Element:
    el = reply(response, call.transaction_id, call.now)
    p = fill(sub(el, "Indbetaling"), IndbetalingID=i.text("IndbetalingID"),
             DebitorkontoNummer=account_number, Beloeb=i.money("Beloeb"),
             BetalingsDato=i.date("BetalingsDato"))
    children(p, "DaekningSamling", (coverage_element(c) for c in lines))
    sub(p, "Overskud", surplus)
    return el


def foretag_indbetaling(call: Call) -> etree._Element:
    response = "ForetagIndbetalingResponse"
    account, errors, i = _locate_payment(call)
    if errors or account is None:
        return answer_errors(call, response, errors)
    amount = i.money("Beloeb")
    payment_id = i.text("IndbetalingID")
    digest = request_hash(i.element)
    known = ledger.get_payment(call.conn, payment_id)
    if known is not None:
        if ledger.get_payment_hash(call.conn, payment_id) != digest:
            return answer_errors(call, response, [oir_violation("OIR-304", payment=payment_id)])
        call.summary = f"payment {payment_id} already booked"
        return _payment_reply(call, response, known.account_number, i, ledger.coverage_for_source(
            call.conn, CoverageSource.PAYMENT, payment_id), known.surplus)
    claims, lines, surplus = _plan_payment(call, account, i)
    if surplus:
        credit = sum((p.surplus for p in ledger.payments_for_account(call.conn, account.number)),
                     surplus)
        if credit > LARGEST_AMOUNT:
            return answer_errors(call, response, [
                too_large("Tilgodehavende", credit, "payment.amount")])
    bookkeeping.book_lines(call.conn, call.runtime, account, claims, lines,
                           source=CoverageSource.PAYMENT, source_id=payment_id,
                           day=i.date("BetalingsDato"), now=call.now)
    payer = i.find("Indbetaler")
    ledger.insert_payment(call.conn, id=payment_id, account_number=account.number, amount=amount,
                          day=i.date("BetalingsDato"),
                          payer=decode_party(payer) if payer is not None else None,
                          payment_id=i.opt_text("BetalingsID"), claim_id=i.opt_text("FordringID"),
                          surplus=surplus, request_hash=digest)
    call.wake_outbox = True
    call.correlation = {"account": account.number, "payment": payment_id}
    call.summary = f"payment {payment_id} {amount} DKK: {len(lines)} lines, surplus {surplus}"
    return _payment_reply(call, response, account.number, i, lines, surplus)


def soeg_delfordring_til_indbetaling(call: Call) -> etree._Element:
    response = "SoegDelfordringTilIndbetalingResponse"
    account, errors, i = _locate_payment(call)
    if errors or account is None:
        return answer_errors(call, response, errors)
    _claims, lines, surplus = _plan_payment(call, account, i)
    call.summary = f"preview {i.money('Beloeb')} DKK: {len(lines)} lines"
    return _payment_reply(call, response, account.number, i, lines, surplus)
