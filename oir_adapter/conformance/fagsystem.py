"""Cases of the ``fagsystem`` role: a fagsystem team develops against the emulator, and the
suite judges the ØIR traffic the emulator's journal recorded from it
(``GET /_admin/journal?end=oir&full=1``): schema, refusals, TransaktionsID reuse, the
caller's identity, and one case per claim rule (every ``OpretFordring`` judged again).

``--fagsystem-id`` narrows the judgement to one fagsystem's requests when several share
the emulator.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from lxml import etree

from ..clients import read_oir_outcome
from ..codecs.oir import decode_opret_fordring
from ..codecs.reading import DecodeError
from ..contracts import OIR_NS, SOAP11_ENV_NS, safe_parser
from ..identifiers import is_valid_cvr
from ..rules import OIR_CREATE, RULES, Rule, RuleContext, validate_claim
from .capture import body_of
from .catalogue import case, register, rule_title
from .context import CaseContext
from .model import NEEDS_ADMIN, Case, Role

_O = "{" + OIR_NS + "}"


class Request:
    """One ØIR request the fagsystem sent, as the journal kept it."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.body = body_of(row.get("request_xml"))
        self.response = body_of(row.get("response_xml"))

    @property
    def operation(self) -> str:
        return str(self.row.get("operation") or "")

    @property
    def day(self) -> datetime:
        return datetime.fromisoformat(str(self.row["virtual_at"]))

    def text(self, path: str) -> str | None:
        if self.body is None:
            return None
        found = self.body.find("/".join(_O + p for p in path.split("/")))
        return None if found is None or found.text is None else found.text.strip()


def requests_of(ctx: CaseContext) -> list[Request]:
    """The fagsystem's requests (read once per run), oldest first."""
    found = ctx.env.shared.get("fagsystem_requests")
    if found is None:
        wanted = ctx.env.options.fagsystem_filter
        rows = [r for r in ctx.capture_journal("oir") if r.get("direction", "in") == "in"]
        found = [q for q in map(Request, rows)
                 if wanted is None or q.text("FagsystemID") == wanted]
        ctx.env.shared["fagsystem_requests"] = found
    if not found:
        ctx.skip("the journal holds no ØIR request from the fagsystem (see FAG-TRF-001)")
    return list(found)


_NEEDS = (NEEDS_ADMIN,)


@case("FAG-TRF-001", "The fagsystem's traffic is recorded", role=Role.FAGSYSTEM, area="TRF",
      needs=_NEEDS, severity="critical",
      requirement="The fagsystem called the emulator's ØIR services, so there is traffic to "
                  "judge.",
      source="docs/design.md#journal; docs/design.md#the-conformance-suite", steps=("read the emulator's ØIR journal",),
      assertions=("at least one request",),
      hint="Point the fagsystem at the emulator's /service/OIR/… endpoints and run its flows "
           "first.")
def fag_traffic(ctx: CaseContext) -> None:
    wanted = ctx.env.options.fagsystem_filter
    rows = [Request(r) for r in ctx.capture_journal("oir") if r.get("direction", "in") == "in"]
    mine = [q for q in rows if wanted is None or q.text("FagsystemID") == wanted]
    ctx.check(bool(mine), "the journal holds requests from the fagsystem",
              expected=">= 1" + (f" with FagsystemID {wanted}" if wanted else ""),
              got=len(mine))


def _fault_code(q: Request) -> str | None:
    xml = q.row.get("response_xml")
    if not xml:
        return None
    try:
        root = etree.fromstring(str(xml).encode("utf-8"), safe_parser())
    except etree.XMLSyntaxError:
        return None
    code = root.findtext(f"{{{SOAP11_ENV_NS}}}Body/{{{SOAP11_ENV_NS}}}Fault/faultcode")
    return code.rpartition(":")[2] if code else None


@case("FAG-TRF-002", "Every request validates against the contract", role=Role.FAGSYSTEM,
      area="TRF", needs=_NEEDS, severity="critical",
      requirement="Each request the fagsystem sent validates against Debitor.xsd with the "
                  "right SOAPAction; none got a Client fault.",
      source="docs/design.md#the-øir-services; docs/design.md#requests-and-faults (invalid → SOAP Client fault)",
      steps=("read the journal's faults",), assertions=("no Client fault",),
      hint="Build requests from the WSDL/XSD (or oir_adapter.messages) and validate them.")
def fag_schema(ctx: CaseContext) -> None:
    for q in requests_of(ctx):
        if q.row.get("status") == "fault" and _fault_code(q) == "Client":
            ctx.journal_evidence(q.row, f"{q.operation or 'a request'} refused as invalid")
            ctx.check(False, "every request validates", got=q.row.get("summary"))
    ctx.note("requests judged", got=len(requests_of(ctx)))


def _claim_rules() -> frozenset[str]:
    return frozenset(r.id for r in RULES if OIR_CREATE in r.applies_to)


@case("FAG-TRF-003", "No request is refused for a service-level reason", role=Role.FAGSYSTEM,
      area="TRF", needs=_NEEDS,
      requirement="The fagsystem refers to accounts and claims that exist, never reuses an "
                  "IndbetalingID, YdelsesudbetalingID, FagsystemFordringID or TransaktionsID "
                  "for other content, and asks only for changes the claim's state allows.",
      source="docs/design.md#the-øir-services; rules OIR-2xx, OIR-3xx, PSRM-600",
      steps=("read every refused request (FejlSamling)",),
      assertions=("no refusal other than the claim rules (judged by FAG-RUL-…)",),
      hint="Each FejlKode is a rule of docs/rules.md; fix the request it names.")
def fag_refusals(ctx: CaseContext) -> None:
    claim_rules = _claim_rules()
    for q in requests_of(ctx):
        if q.response is None or etree.QName(q.response).namespace != OIR_NS:
            continue
        _reaction, _tid, errors = read_oir_outcome(q.response)
        other = [e for e in errors if e.code not in claim_rules]
        if other:
            ctx.journal_evidence(q.row, f"{q.operation} refused")
            ctx.check(False, "no request is refused for a service-level reason",
                      got="; ".join(str(e) for e in other))
    ctx.note("no service-level refusal")


def _c14n(q: Request) -> bytes:
    if q.body is None:
        return b""
    clone = copy.deepcopy(q.body)
    return etree.tostring(clone, method="c14n")


@case("FAG-TRF-004", "A TransaktionsID names one request", role=Role.FAGSYSTEM, area="TRF",
      needs=_NEEDS, requirement="A retry repeats its TransaktionsID with the same body; a new "
                                "request gets a new TransaktionsID.",
      source="docs/design.md#the-øir-services (Hovedoplysninger); docs/design.md#idempotency",
      steps=("group the requests by TransaktionsID",),
      assertions=("each TransaktionsID carries one request body",),
      hint="Make a fresh UUID per request and keep it only for retries of that request.")
def fag_transaction_ids(ctx: CaseContext) -> None:
    seen: dict[str, bytes] = {}
    for q in requests_of(ctx):
        tid = q.text("Hovedoplysninger/TransaktionsID")
        if not tid:
            continue
        body = _c14n(q)
        if tid in seen and seen[tid] != body:
            ctx.journal_evidence(q.row, f"TransaktionsID {tid} reused")
            ctx.check(False, "a TransaktionsID is never reused for another request", got=tid)
        seen.setdefault(tid, body)
    ctx.note("distinct TransaktionsIDs", got=len(seen))


@case("FAG-TRF-005", "The caller names a valid authority", role=Role.FAGSYSTEM, area="TRF",
      needs=_NEEDS, severity="minor",
      requirement="MyndighedCVR is the municipality's CVR number (modulus 11) and FagsystemID "
                  "is given.", source="docs/design.md#the-øir-services (MyndighedCVR + FagsystemID)",
      steps=("read MyndighedCVR and FagsystemID of every request",),
      assertions=("every MyndighedCVR passes modulus 11",))
def fag_caller(ctx: CaseContext) -> None:
    for q in requests_of(ctx):
        cvr = q.text("MyndighedCVR")
        if cvr is not None and not is_valid_cvr(cvr):
            ctx.journal_evidence(q.row, "a request with an invalid MyndighedCVR")
            ctx.check(False, "MyndighedCVR is a valid CVR number", got=cvr)
    ctx.note("every MyndighedCVR is valid")


@case("FAG-TRF-006", "TransaktionsTid is the time of sending", role=Role.FAGSYSTEM, area="TRF",
      needs=_NEEDS, severity="minor",
      requirement="TransaktionsTid says when the request was sent: within a day of its arrival "
                  "(real or virtual time).", source="docs/design.md#the-øir-services (Hovedoplysninger)",
      steps=("compare each TransaktionsTid with the journal's times",),
      assertions=("within a day of the real or the virtual arrival",))
def fag_time(ctx: CaseContext) -> None:
    for q in requests_of(ctx):
        raw = q.text("Hovedoplysninger/TransaktionsTid")
        if raw is None:
            continue
        try:
            sent = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            continue
        if sent.tzinfo is not None:
            sent = sent.astimezone().replace(tzinfo=None)
        real = datetime.fromisoformat(str(q.row["at"]))
        if min(abs(sent - real), abs(sent - q.day)) > timedelta(days=1):
            ctx.journal_evidence(q.row, "a request with an odd TransaktionsTid")
            ctx.check(False, "TransaktionsTid is within a day of the arrival",
                      expected=f"{real.isoformat()} or {q.day.isoformat()}", got=raw)
    ctx.note("every TransaktionsTid is plausible")


def _rule_case(rule: Rule) -> Case:
    def run(ctx: CaseContext) -> None:
        judged = 0
        for q in requests_of(ctx):
            if q.operation != "OpretFordring" or q.body is None:
                continue
            try:
                request = decode_opret_fordring(q.body, received=q.day.date())
            except (DecodeError, ValueError):
                continue  # unreadable requests are FAG-TRF-002's
            judged += 1
            hits = [v for v in validate_claim(
                request.claim, today=q.day.date(), fmt="oir",
                context=RuleContext(creditor_id=request.header.authority_cvr))
                if v.rule_id == rule.id]
            if hits:
                ctx.journal_evidence(q.row, f"OpretFordring {request.claim.fagsystem_claim_id}")
                ctx.check(False, f"no registered claim breaks {rule.id}",
                          got=f"{request.claim.fagsystem_claim_id}: {hits[0].path}: "
                              f"{hits[0].message_en}")
        ctx.note("OpretFordring requests judged", got=judged)

    return Case(
        id=f"FAG-RUL-{rule.id}", title=rule_title(rule), role=Role.FAGSYSTEM,
        area="RUL", requirement=f"No claim the fagsystem registers breaks {rule.id}.",
        source=f"rule {rule.id} ({rule.source})",
        steps=("judge every OpretFordring in the journal on the (virtual) day it was sent",),
        assertions=(f"no claim breaks {rule.id}",), severity="major", run=run,
        hint=f"See docs/rules.md, rule {rule.id}: check it in the fagsystem before sending.",
        needs=frozenset(_NEEDS), rule_id=rule.id)


for _rule in RULES:
    if OIR_CREATE in _rule.applies_to and _rule.severity == "error":
        register(_rule_case(_rule))
