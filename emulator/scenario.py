"""Scenarios: seed data and scripted events from a YAML or JSON document.

Seed data goes in through the emulator's own ØIR services (over an in-process SOAP
transport), so a scenario's claims pass the same rules, get the same ids and invoices,
and appear in the journal exactly as if a fagsystem had sent them. Shape::

    clock: "2026-01-15"                # optional: set the virtual clock first
    claim_types: [...]                 # optional: replace the claim-type table
    benefit_rules: [...]               # optional: replace the benefit table
    subscriptions: {FordringTilIndbetaling: [FagsystemID…]}   # optional: who receives it
    psrm:                              # optional PSRM behaviour switches
      agreements: {"29189846": [DAGINST, CFFAKTU]}
      reject_types: {KTCIVIL: "Typen er lukket"}
      unknown_debtors: ["0101801234"]
    accounts:
      - authority_cvr: "29189846"
        fagsystem_id: DAGTILBUD
        reference: BARN-1001
        cpr: "0101901234"              # or cvr
        name: Jens Jensen
        claims:
          - id: DT-2026-01             # the fagsystem's claim id
            type_code: DAGINST
            principal: "1500.00"
            period_from: 2026-01-01
            period_to: 2026-01-31
            founded: 2026-01-01
            due_date: 2026-01-10
            srb: 2026-01-15
            sub_claims: [{type_code: GEBYR, amount: "100.00"}]
        payments:
          - {id: P-1, amount: "200.00", date: 2026-01-12}
    benefit_payments:
      - {id: Y-1, cpr: "0101901234", benefit_type: FOLKEPEN, payout_date: 2026-02-01,
         gross: "9000.00", protected: "6000.00", authority_cvr: "29189846",
         fagsystem_id: PENSION}
    psrm_events:
      - {due: 2026-03-01, kind: pay, claim_ref: F0000001, amount: "500.00"}
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree

from emulator import bookkeeping, clock
from emulator import days as chain
from emulator.ends import psrm
from emulator.runtime import Runtime
from emulator.storage.store import put_setting
from oir_adapter.clients import ClientError
from oir_adapter.codecs import oir_requests as messages
from oir_adapter.domain.model import Party

if TYPE_CHECKING:
    from oir_adapter.clients import ServiceClient

#: The demonstration story `make run` and `oir serve --demo` load.
DEMO_SCENARIO = Path(__file__).resolve().parent / "scenarios" / "demo.yaml"

_BASE = "http://scenario.invalid"


class ScenarioError(ValueError):
    """A scenario that cannot be loaded; ``field`` says where."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


def _subscriptions(value: Any) -> dict[str, list[str]]:
    """``subscriptions``: distributed message → the FagsystemIDs (or ``*``) that receive it."""
    if not isinstance(value, Mapping) or any(
            name not in bookkeeping.DISTRIBUTED or not isinstance(ids, list)
            or not all(isinstance(i, str) for i in ids) for name, ids in value.items()):
        raise ScenarioError("give {FordringTilIndbetaling: [FagsystemID, …]}",
                            "subscriptions")
    return {str(name): list(ids) for name, ids in value.items()}


def _date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ScenarioError(f"{value!r} is not an ISO date", where) from None


def _opt_date(value: Any, where: str) -> date | None:
    return None if value is None else _date(value, where)


def _amount(value: Any, where: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ScenarioError(f"{value!r} is not an amount", where) from None
    if amount.quantize(Decimal("0.01")) != amount:
        raise ScenarioError(f"{value!r} has more than two decimals", where)
    return amount


def _party(item: Mapping[str, Any], where: str) -> Party:
    try:
        return messages.party_of([("cpr", item.get("cpr", "")), ("cvr", item.get("cvr", ""))])
    except ValueError:
        raise ScenarioError("cpr or cvr is required", where) from None


class _Sender:
    """Posts ØIR requests to this emulator's own ends without a socket."""

    def __init__(self, runtime: Runtime) -> None:
        # the clients (requests, zeep) load when a scenario is loaded, not with this
        # module (a server worker imports it for DEMO_SCENARIO)
        import requests

        from emulator.serving.wsgi_transport import WSGIAdapter

        assert runtime.app is not None
        self.session = requests.Session()
        self.session.mount(_BASE, WSGIAdapter(runtime.app))
        self.clients: dict[str, ServiceClient] = {}
        self.runtime = runtime  # for own_client_options: past our own access checks

    def call(self, service_name: str, operation: str, body: etree._Element, where: str
             ) -> Any:
        client = self.clients.get(service_name)
        if client is None:
            from oir_adapter.clients import ServiceClient
            from oir_adapter.contracts import service

            client = ServiceClient(service_name, f"{_BASE}{service(service_name).path}",
                                   session=self.session,
                                   **self.runtime.own_client_options(service_name))
            self.clients[service_name] = client
        try:
            reply = client.call(operation, body)
        except ClientError as exc:
            raise ScenarioError(f"{operation} failed: {exc}", where) from None
        if reply.errors:
            text = "; ".join(f"{e.code} {e.field or ''}: {e.text}" for e in reply.errors)
            raise ScenarioError(f"{operation} refused: {text}", where)
        return reply


def load_scenario(runtime: Runtime, data: Mapping[str, Any]) -> dict[str, Any]:
    """Load a scenario; return what it created (account numbers and claim ids by reference)."""
    summary: dict[str, Any] = {"accounts": {}, "claims": {}, "benefit_payments": [],
                               "events": []}
    if "clock" in data:
        from datetime import datetime

        when = clock.parse_when(str(data["clock"]))
        _, events = chain.set_clock(runtime, datetime.combine(when.date(), when.time()))
        summary["events"].extend(events)
    with runtime.store.transaction() as conn:
        if "claim_types" in data:
            put_setting(conn, "claim_types", list(data["claim_types"]))
        if "benefit_rules" in data:
            put_setting(conn, "benefit_rules", list(data["benefit_rules"]))
        if "subscriptions" in data:
            put_setting(conn, bookkeeping.SUBSCRIPTIONS, _subscriptions(data["subscriptions"]))
        if "psrm" in data:
            try:
                psrm.set_behaviour(conn, dict(data["psrm"]))
            except ValueError as exc:
                raise ScenarioError(str(exc), "psrm") from None
    sender = _Sender(runtime)
    for n, item in enumerate(data.get("accounts") or [], start=1):
        _load_account(sender, item, f"accounts[{n}]", summary)
    for n, item in enumerate(data.get("benefit_payments") or [], start=1):
        where = f"benefit_payments[{n}]"
        caller = messages.Caller(str(item.get("authority_cvr", "29189846")),
                                 str(item.get("fagsystem_id", "YDELSE")))
        body = messages.foretag_modregning(
            caller, benefit_id=str(item["id"]), recipient=_party(item, where),
            benefit_type=str(item["benefit_type"]),
            payout=_date(item["payout_date"], f"{where}.payout_date"),
            gross=_amount(item["gross"], f"{where}.gross"),
            protected=_amount(item.get("protected", "0.00"), f"{where}.protected"),
            paying_authority_cvr=item.get("paying_authority_cvr"))
        sender.call("DebitorModregning", "ForetagModregning", body, where)
        summary["benefit_payments"].append(str(item["id"]))
    with runtime.store.transaction() as conn:
        for n, item in enumerate(data.get("psrm_events") or [], start=1):
            try:
                summary["events"].append(psrm.script_event(conn, dict(item)))
            except ValueError as exc:
                raise ScenarioError(str(exc), f"psrm_events[{n}]") from None
    return summary


def _load_account(sender: _Sender, item: Mapping[str, Any], where: str,
                  summary: dict[str, Any]) -> None:
    if not isinstance(item, Mapping) or "reference" not in item:
        raise ScenarioError("each account needs a reference", where)
    caller = messages.Caller(str(item.get("authority_cvr", "29189846")),
                             str(item.get("fagsystem_id", "FAGSYSTEM")))
    body = messages.opret_debitorkonto(
        caller, reference=str(item["reference"]), party=_party(item, where),
        name=str(item.get("name", item["reference"])),
        account_type=str(item.get("account_type", "PERSON")), street=item.get("street"),
        postcode=item.get("postcode"), city=item.get("city"))
    reply = sender.call("DebitorRegistreringAfsend", "OpretDebitorkonto", body, where)
    number = reply.findtext("DebitorkontoNummer")
    summary["accounts"][str(item["reference"])] = number
    for n, c in enumerate(item.get("claims") or [], start=1):
        cw = f"{where}.claims[{n}]"
        try:
            spec = messages.ClaimSpec(
                fagsystem_claim_id=str(c["id"]), type_code=str(c["type_code"]),
                principal=_amount(c["principal"], f"{cw}.principal"),
                period_from=_date(c["period_from"], f"{cw}.period_from"),
                period_to=_date(c["period_to"], f"{cw}.period_to"),
                founded=_date(c["founded"], f"{cw}.founded"),
                due_date=_date(c["due_date"], f"{cw}.due_date"),
                srb=_date(c["srb"], f"{cw}.srb"),
                offsetting_allowed=bool(c.get("offsetting_allowed", True)),
                art=c.get("art"), description=c.get("description"),
                limitation_date=_opt_date(c.get("limitation_date"), f"{cw}.limitation_date"),
                sub_claims=tuple(messages.SubClaimSpec(
                    type_code=str(s["type_code"]), amount=_amount(s["amount"], f"{cw}.sub_claims"),
                    founded=_opt_date(s.get("founded"), f"{cw}.sub_claims"))
                    for s in c.get("sub_claims") or []))
        except KeyError as exc:
            raise ScenarioError(f"missing {exc.args[0]}", cw) from None
        reply = sender.call("DebitorRegistreringAfsend", "OpretFordring",
                            messages.opret_fordring(caller, account_number=number, claim=spec), cw)
        summary["claims"][str(c["id"])] = reply.findtext("FordringID")
    for n, p in enumerate(item.get("payments") or [], start=1):
        pw = f"{where}.payments[{n}]"
        body = messages.foretag_indbetaling(
            caller, payment_id=str(p["id"]), amount=_amount(p["amount"], f"{pw}.amount"),
            paid=_date(p["date"], f"{pw}.date"), account_number=number, fik=p.get("fik"),
            claim_id=summary["claims"].get(str(p.get("claim"))) if p.get("claim") else None)
        sender.call("DebitorIndbetalingAfsend", "ForetagIndbetaling", body, pw)
