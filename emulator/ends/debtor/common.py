"""What every handler of the debtor end shares: reading, refusing, rule violations as
``Fejl``, and the caller's own account."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

from lxml import etree

from emulator.soap.pipeline import Call
from emulator.storage import ledger
from oir_adapter.codecs import Reader
from oir_adapter.codecs.oir_replies import (
    Fejl,
    reply,
)
from oir_adapter.contracts import OIR_NS
from oir_adapter.domain import rules
from oir_adapter.domain.model import LARGEST_AMOUNT, DebtorAccount


def _r(element: etree._Element) -> Reader:
    return Reader(element, OIR_NS)


def _fejl(violations: Sequence[rules.Violation]) -> list[Fejl]:
    return [Fejl(*v.to_fejl()) for v in violations if v.severity == "error"]


def _v(rule_id: str, field: str | None = None, **values: object) -> rules.Violation:
    return rules.violation(rule_id, fmt="oir", field=field, **values)  # type: ignore[arg-type]


def _too_large(total: str, amount: Decimal, field: str) -> rules.Violation:
    """OIR-320: a sum the account's replies report would pass what they can carry."""
    return _v("OIR-320", field, total=total, amount=amount, limit=LARGEST_AMOUNT)


def _refuse(response: str) -> Callable[[Call, str], etree._Element]:
    def refuse(call: Call, transaction_id: str) -> etree._Element:
        return reply(response, transaction_id, call.now, _fejl([
            _v("PSRM-600", "transaction_id", action_id=transaction_id)]))
    return refuse


def _answer_errors(call: Call, response: str, errors: Sequence[rules.Violation | Fejl]
                   ) -> etree._Element:
    call.outcome = "rejected"
    lines = [e if isinstance(e, Fejl) else Fejl(*e.to_fejl()) for e in errors]
    call.summary = "; ".join(f"{f.code} {f.field or ''}".strip() for f in lines)[:400]
    return reply(response, call.transaction_id, call.now, lines)


def own_account(call: Call, number: str) -> DebtorAccount | None:
    """The account if it exists and belongs to the calling authority (``MyndighedCVR``);
    every operation on an account asks this, so another authority's account is unknown
    to the caller (OIR-301)."""
    account = ledger.get_account(call.conn, number)
    if account is None or account.authority_cvr != _r(call.body).text("MyndighedCVR"):
        return None
    return account
