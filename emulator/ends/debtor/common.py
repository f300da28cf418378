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


def read_oir(element: etree._Element) -> Reader:
    """A reader of an ØIR request element (names in the ØIR namespace)."""
    return Reader(element, OIR_NS)


def fejl_of(violations: Sequence[rules.Violation]) -> list[Fejl]:
    """The ``Fejl`` lines of the violations that refuse (warnings are not answered)."""
    return [Fejl(*v.to_fejl()) for v in violations if v.severity == "error"]


def oir_violation(rule_id: str, field: str | None = None, **values: object) -> rules.Violation:
    """A violation of ``rule_id`` worded and located for an ØIR answer."""
    return rules.violation(rule_id, fmt="oir", field=field, **values)  # type: ignore[arg-type]


def too_large(total: str, amount: Decimal, field: str) -> rules.Violation:
    """OIR-320: a sum the account's replies report would pass what they can carry."""
    return oir_violation("OIR-320", field, total=total, amount=amount, limit=LARGEST_AMOUNT)


def refuse_reused_id(response: str) -> Callable[[Call, str], etree._Element]:
    """How an operation answering ``response`` refuses a TransaktionsID already used for
    another request (PSRM-600)."""
    def refuse(call: Call, transaction_id: str) -> etree._Element:
        return reply(response, transaction_id, call.now, fejl_of([
            oir_violation("PSRM-600", "transaction_id", action_id=transaction_id)]))
    return refuse


def answer_errors(call: Call, response: str, errors: Sequence[rules.Violation | Fejl]
                   ) -> etree._Element:
    """``response`` refusing the request with ``errors`` (and the journal's summary)."""
    call.outcome = "rejected"
    lines = [e if isinstance(e, Fejl) else Fejl(*e.to_fejl()) for e in errors]
    call.summary = "; ".join(f"{f.code} {f.field or ''}".strip() for f in lines)[:400]
    return reply(response, call.transaction_id, call.now, lines)


def own_account(call: Call, number: str) -> DebtorAccount | None:
    """The account if it exists and belongs to the calling authority (``MyndighedCVR``);
    every operation on an account asks this, so another authority's account is unknown
    to the caller (OIR-301)."""
    account = ledger.get_account(call.conn, number)
    if account is None or account.authority_cvr != read_oir(call.body).text("MyndighedCVR"):
        return None
    return account
