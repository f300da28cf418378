"""Cases of the ``psrm-client`` role: the suite serves PSRM's end (the emulator's PSRM
services on a local port), the system under test delivers to it for ``--wait`` seconds,
and the cases judge what arrived: schema, ids, the indgangsfilter rule by rule, and
whether the system fetched its receipts and notifications.

The suite's PSRM end answers exactly as PSRM would (the same indgangsfilter), so the
system under test sees real receipts and rejections while it runs.
"""

from __future__ import annotations

from copy import deepcopy
from datetime import datetime, timedelta
from typing import Any

from lxml import etree

from ..rules import RULES, Rule
from .capture import Captured, deliveries
from .catalogue import case, register, rule_title
from .context import CaseContext
from .model import Case, Role
from .psrm_end import judged_by_psrm

#: Rules PSRM only judges with context the suite's PSRM end does not have installed.
NEEDS_PSRM_CONTEXT: dict[str, str] = {
    "PSRM-2": "fires only when fordringshaver agreements are installed in PSRM",
    "PSRM-151": "fires only when fordringshaver agreements are installed in PSRM",
    "PSRM-5": "fires only when PSRM is told which debtors it does not know",
}


def received(ctx: CaseContext) -> list[Captured]:
    """The deliveries that reached the suite's PSRM end (read once per run)."""
    found = ctx.env.shared.get("psrm_client_deliveries")
    if found is None:
        found = deliveries(ctx)
        ctx.env.shared["psrm_client_deliveries"] = found
    return list(found)


def _some(ctx: CaseContext) -> list[Captured]:
    found = received(ctx)
    if not found:
        ctx.skip("nothing was delivered during the wait (see PSC-DLV-001)")
    return found


@case("PSC-DLV-001", "The system delivers to PSRM", role=Role.PSRM_CLIENT, area="DLV",
      requirement="Within the wait, the system under test sends at least one "
                  "MFFordringIndberet to the PSRM end it is pointed at.",
      source="docs/design.md#the-psrm-services (MFFordringIndberet)", severity="critical",
      steps=("serve PSRM's end", "wait --wait seconds", "read what arrived"),
      assertions=("at least one MFFordringIndberet arrived",),
      hint="Point the system's PSRM address at the URL the suite prints, and make it hand "
           "over a claim during the wait.")
def psc_arrived(ctx: CaseContext) -> None:
    found = received(ctx)
    ctx.check(bool(found), "at least one delivery arrived", expected=">= 1", got=len(found))


@case("PSC-DLV-002", "Every delivery validates against MF.xsd", role=Role.PSRM_CLIENT,
      area="DLV", requirement="Each MFFordringIndberet_I validates against the PSRM schema in "
                              "the element order real senders use; none is a SOAP fault.",
      source="docs/design.md#the-psrm-services (element order); docs/design.md#requests-and-faults", severity="critical",
      steps=("read every delivery",), assertions=("no delivery was answered with a fault",),
      hint="Validate deliveries against MF.xsd before sending (oir validate FILE).")
def psc_schema(ctx: CaseContext) -> None:
    for c in _some(ctx):
        if c.violations or c.problem or c.row.get("status") == "fault":
            ctx.journal_evidence(c.row, "a delivery PSRM could not accept")
            ctx.check(False, "every delivery validates", got=c.problem or "; ".join(
                str(v) for v in c.violations[:5]) or c.row.get("summary"))
    ctx.note("every delivery validates")


@case("PSC-DLV-003", "Every action passes PSRM's indgangsfilter", role=Role.PSRM_CLIENT,
      area="DLV", requirement="No action the system delivers is rejected (AFVIST).",
      source="docs/design.md#the-psrm-services (AfvistÅrsagSamling); docs/design.md#front-door-rules", severity="critical",
      steps=("read PSRM's answer to every delivery",), assertions=("no action is AFVIST",),
      hint="Run the rule catalogue (oir validate) on every action before delivering it; the "
           "PSRM-RUL cases name the rule that was broken.")
def psc_accepted(ctx: CaseContext) -> None:
    for c in _some(ctx):
        for n, outcome in enumerate(c.outcomes, start=1):
            if outcome.status == "AFVIST":
                ctx.journal_evidence(c.row, f"action {n} rejected")
                ctx.check(False, "no action is rejected", got="; ".join(
                    f"{num} {text}" for num, text in outcome.reasons))
    ctx.note("actions answered", got=sum(len(c.outcomes) for c in received(ctx)))


def _content(c: Captured) -> bytes:
    if c.request is None:
        return b""
    clone = deepcopy(c.request)
    for k in clone.findall("{*}Kontekst"):
        clone.remove(k)
    return etree.tostring(clone, method="c14n")


@case("PSC-DLV-004", "Delivery ids are not reused for other content", role=Role.PSRM_CLIENT,
      area="DLV", requirement="An MFLeveranceID or TransaktionsID names one delivery; a resend "
                              "of the same delivery is fine, other content under a used id is "
                              "not.",
      source="docs/design.md#the-psrm-services; docs/design.md#idempotency; PSRM rule 600",
      steps=("group the deliveries by MFLeveranceID and by TransaktionsID",),
      assertions=("each id carries one content",))
def psc_ids(ctx: CaseContext) -> None:
    by_delivery: dict[str, bytes] = {}
    by_transaction: dict[str, bytes] = {}
    for c in _some(ctx):
        if c.delivery is None:
            continue
        content = _content(c)
        for key, seen, what in ((c.delivery.delivery_id, by_delivery, "MFLeveranceID"),
                                (c.delivery.transaction_id, by_transaction, "TransaktionsID")):
            if key is None:  # an empty Kontekst: no TransaktionsID to compare
                continue
            if key in seen and seen[key] != content:
                ctx.journal_evidence(c.row, f"{what} {key} reused")
                ctx.check(False, f"{what} is never reused for other content", got=key)
            seen.setdefault(key, content)
    ctx.note("distinct deliveries", got=len(by_delivery))


@case("PSC-DLV-005", "TransaktionsTid is the time of sending", role=Role.PSRM_CLIENT,
      area="DLV", severity="minor",
      requirement="Kontekst/HovedOplysninger/TransaktionsTid says when the message was sent "
                  "(within a day of its arrival).",
      source="docs/design.md#the-psrm-services (Kontekst/HovedOplysninger)",
      steps=("compare each delivery's TransaktionsTid with its arrival",),
      assertions=("they differ by less than a day",))
def psc_time(ctx: CaseContext) -> None:
    for c in _some(ctx):
        if c.delivery is None:
            continue
        sent = c.delivery.transaction_time
        if sent is None:
            ctx.journal_evidence(c.row, "a delivery without Kontekst/HovedOplysninger")
            ctx.check(False, "every delivery says when it was sent", got="no TransaktionsTid")
            continue
        if sent.tzinfo is not None:
            sent = sent.astimezone().replace(tzinfo=None)
        arrived = datetime.fromisoformat(str(c.row["at"]))
        virtual = datetime.fromisoformat(str(c.row.get("virtual_at") or c.row["at"]))
        if min(abs(sent - arrived), abs(sent - virtual)) > timedelta(days=1):  # real or virtual
            ctx.journal_evidence(c.row, "a delivery with an odd TransaktionsTid")
            ctx.check(False, "TransaktionsTid is within a day of the arrival",
                      expected=f"{arrived.isoformat()} or {virtual.isoformat()}",
                      got=sent.isoformat())
    ctx.note("every TransaktionsTid is plausible")


def _calls(ctx: CaseContext, operation: str) -> list[dict[str, Any]]:
    return ctx.capture_journal("psrm", operation)


@case("PSC-RCP-001", "The system fetches its receipts", role=Role.PSRM_CLIENT, area="RCP",
      severity="minor",
      requirement="After delivering, the system asks for its receipts (MFKvitteringHent): "
                  "later states and rejections only come that way.",
      source="docs/design.md#the-psrm-services (later states come through MFKvitteringHent)",
      steps=("read the MFKvitteringHent calls during the wait",),
      assertions=("at least one MFKvitteringHent after the first delivery",),
      hint="Poll MFKvitteringHent for the actions that are not UDFOERT or AFVIST yet.")
def psc_receipts(ctx: CaseContext) -> None:
    first = _some(ctx)[0].row["id"]
    calls = [r for r in _calls(ctx, "MFKvitteringHent") if r["id"] > first]
    ctx.check(bool(calls), "MFKvitteringHent was called after delivering", got=len(calls))


@case("PSC-RCP-002", "The system polls PSRM's notifications", role=Role.PSRM_CLIENT, area="RCP",
      severity="minor",
      requirement="The system asks for notifications (MFUnderretSamlingHent) so coverage, "
                  "write-offs and returns in PSRM reach the debtor system.",
      source="docs/design.md#the-psrm-services (MFUnderretSamlingHent)",
      steps=("read the MFUnderretSamlingHent calls during the wait",),
      assertions=("at least one MFUnderretSamlingHent",),
      hint="Poll MFUnderretSamlingHent after the last sequence number seen.")
def psc_notifications(ctx: CaseContext) -> None:
    _some(ctx)
    calls = _calls(ctx, "MFUnderretSamlingHent")
    ctx.check(bool(calls), "MFUnderretSamlingHent was called", got=len(calls))


def _rule_case(rule: Rule) -> Case:
    def run(ctx: CaseContext) -> None:
        if rule.id in NEEDS_PSRM_CONTEXT:
            ctx.skip(f"not judged here: {NEEDS_PSRM_CONTEXT[rule.id]} (the suite's PSRM end "
                     "has none)")
        judged = 0
        for c in _some(ctx):
            for n, outcome in enumerate(c.outcomes, start=1):
                judged += 1
                hits = [text for num, text in outcome.reasons if num == rule.code]
                if hits:
                    ctx.journal_evidence(c.row, f"action {n} of the delivery")
                    ctx.check(False, f"no action breaks {rule.id}", expected="no reason "
                              f"{rule.code}", got=f"action {n}: {rule.code} {hits[0]}")
        ctx.note("actions judged", got=judged)

    return Case(
        id=f"PSC-RUL-{rule.id}", title=rule_title(rule), role=Role.PSRM_CLIENT,
        area="RUL", requirement=f"No action the system delivers breaks {rule.id} (PSRM "
                                f"rejection {rule.code}).",
        source=f"rule {rule.id} ({rule.source})",
        steps=("read PSRM's answer to every action delivered",),
        assertions=(f"no action is rejected with reason {rule.code}",), severity="major",
        run=run, hint=f"See docs/rules.md, rule {rule.id}.", rule_id=rule.id)


for _rule in RULES:
    if judged_by_psrm(_rule) and _rule.severity == "error":
        register(_rule_case(_rule))
