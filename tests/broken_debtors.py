"""Deliberately broken debtor systems: the emulator with one behaviour spoiled, so the
conformance tests can show that exactly the cases guarding that behaviour fail.

Each is the real emulator app with one operation's handler wrapped (the view of that
service is re-registered with a patched handler table); everything else is untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from lxml import etree

from emulator.app import create_app
from emulator.ends import debtor
from emulator.soap.dispatch import Route, SoapDispatcher
from emulator.soap.pipeline import Call, OperationHandler
from emulator.storage import ledger
from oir_adapter.contracts import OIR_NS, service
from oir_adapter.domain.model import OPEN_STATES

_O = "{" + OIR_NS + "}"

Handle = Callable[[Call], etree._Element]


def _patch(app: Flask, service_name: str, operation: str,
           wrap: Callable[[Handle], Handle]) -> None:
    """Serve ``service_name`` with ``operation``'s handler wrapped by ``wrap``."""
    svc = service(service_name)
    original = debtor.HANDLERS[operation]
    handlers = {**debtor.HANDLERS, operation: OperationHandler(
        wrap(original.handle), original.refuse_duplicate, original.transaction_id,
        original.read_only)}
    dispatcher = app.wsgi_app
    assert isinstance(dispatcher, SoapDispatcher)  # where the SOAP POSTs are answered
    for path in svc.paths:
        dispatcher.routes[path] = Route(svc, handlers)


def _child(parent: etree._Element, name: str) -> etree._Element | None:
    return parent.find(_O + name)


# ---------------------------------------------------------------- the breakages

def _first_registered_first(handle: Handle) -> Handle:
    """Cover the account's first-registered open claim first, ignoring § 4's order."""
    def broken(call: Call) -> etree._Element:
        i = _child(call.body, "Indbetaling")
        assert i is not None
        number = _child(i, "DebitorkontoNummer")
        targeted = _child(i, "BetalingsID") is not None or _child(i, "FordringID") is not None
        if number is not None and not targeted:
            open_claims = [c for c in ledger.claims_for_accounts(call.conn, [number.text or ""])
                           if c.state in OPEN_STATES and c.outstanding > 0]
            if open_claims:
                etree.SubElement(i, _O + "FordringID").text = min(c.id for c in open_claims)
        return handle(call)
    return broken


def _period_swapped(handle: Handle) -> Handle:
    """Accept a claim whose period is reversed (by quietly swapping the dates)."""
    def broken(call: Call) -> etree._Element:
        f = _child(call.body, "Fordring")
        assert f is not None
        start, end = _child(f, "PeriodeFra"), _child(f, "PeriodeTil")
        assert start is not None and end is not None
        if (start.text or "") > (end.text or ""):
            start.text, end.text = end.text, start.text
        return handle(call)
    return broken


def _invalid_answer(handle: Handle) -> Handle:
    """Answer with an element the schema does not allow."""
    def broken(call: Call) -> etree._Element:
        el = handle(call)
        etree.SubElement(el, _O + "Fejlfelt").text = "not in the schema"
        return el
    return broken


def _double_booking(handle: Handle) -> Handle:
    """Book a repeated IndbetalingID again under a fresh id (and hide that in the answer)."""
    seen: dict[str, int] = {}

    def broken(call: Call) -> etree._Element:
        i = _child(call.body, "Indbetaling")
        assert i is not None
        pid = _child(i, "IndbetalingID")
        assert pid is not None and pid.text is not None
        original = pid.text
        if ledger.get_payment(call.conn, original) is None:
            return handle(call)
        seen[original] = seen.get(original, 0) + 1
        pid.text = f"{original}-{seen[original]}"
        el = handle(call)
        for echo in el.iter(_O + "IndbetalingID"):
            echo.text = original
        return el
    return broken


#: name → (service, operation, wrapper, extra emulator config)
BREAKAGES: dict[str, tuple[str, str, Callable[[Handle], Handle], dict[str, Any]]] = {
    "ignores-coverage-order": ("DebitorIndbetaling", "ForetagIndbetaling",
                               _first_registered_first, {}),
    "accepts-reversed-period": ("DebitorRegistrering", "OpretFordring", _period_swapped, {}),
    "schema-invalid-search-answer": ("DebitorForespoergsel", "SoegDebitorkonto", _invalid_answer,
                                     {"validate_responses": False}),
    "double-books-repeated-payment": ("DebitorIndbetaling", "ForetagIndbetaling",
                                      _double_booking, {}),
}


def broken_app(name: str, db_url: str, **config: Any) -> Flask:
    """The emulator with breakage ``name`` (a key of :data:`BREAKAGES`)."""
    service_name, operation, wrap, extra = BREAKAGES[name]
    app = create_app(db_url=db_url, start_worker=False, **{**extra, **config})
    _patch(app, service_name, operation, wrap)
    return app
