"""Cases of the ``recorded`` role: a debtor system judged from a recording of its real
traffic (``oir conformance judge DIR``), without sending it anything.

They read the exchanges through :meth:`CaseContext.capture_journal` — rows in the
emulator journal's shape, which ``oir conformance judge`` builds from a recording — and
judge what the debtor system *answered*: every answer against the schema, every claim
against the rule catalogue (refused with the rule's code when it breaks it, and only
then), repeated requests and payments, the coverage order of each payment against the
account as the recording shows it, and the order of the actions it sent PSRM for one claim.
Every finding carries the recorded exchange it was made on.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from lxml import etree

from oir_adapter.clients import BusinessError, read_oir_outcome
from oir_adapter.codecs.oir import decode_opret_fordring
from oir_adapter.codecs.psrm import ActionRequest
from oir_adapter.codecs.reading import DecodeError
from oir_adapter.conformance.capture import Captured, body_of, deliveries
from oir_adapter.conformance.context import CaseContext
from oir_adapter.conformance.model import Case, Role
from oir_adapter.conformance.registry import case, register, rule_title
from oir_adapter.conformance.views import Line, all_of, amount, coverage_lines, day, text
from oir_adapter.contracts import OIR_NS, SOAP11_ENV_NS, validate_element
from oir_adapter.domain import lifecycle
from oir_adapter.domain.coverage import plan_coverage, sub_claim_order
from oir_adapter.domain.model import (
    OPEN_STATES,
    Claim,
    ClaimState,
    CoverageSource,
    Invoice,
    PsrmActionCode,
    RecallReason,
    SubClaim,
)
from oir_adapter.domain.rules import (
    OIR_CREATE,
    OIR_SERVICE,
    RULES,
    Rule,
    RuleContext,
    validate_claim,
)
from oir_adapter.domain.tables import ClaimTypeTable

_O = "{" + OIR_NS + "}"
_FAULT = f"{{{SOAP11_ENV_NS}}}Fault"
_R = Role.RECORDED


@dataclass(slots=True)
class Exchange:
    """One recorded ØIR exchange: the fagsystem's request and the debtor system's answer
    (a message element, a SOAP Fault element, or ``None`` when nothing came back)."""

    row: dict[str, Any]
    request: etree._Element | None
    response: etree._Element | None

    @property
    def operation(self) -> str:
        return str(self.row.get("operation") or "")

    @property
    def day(self) -> date:
        """The debtor system's day when it answered (its TransaktionsTid)."""
        return datetime.fromisoformat(str(self.row["virtual_at"])).date()

    @property
    def fault(self) -> bool:
        return self.response is not None and self.response.tag == _FAULT

    @property
    def fault_code(self) -> str | None:
        if not self.fault or self.response is None:
            return None
        code = self.response.findtext("faultcode") or ""
        return code.rpartition(":")[2]

    @property
    def answer(self) -> etree._Element | None:
        """The ØIR answer element, if the debtor system answered with one."""
        r = self.response
        return r if r is not None and etree.QName(r).namespace == OIR_NS else None

    @property
    def errors(self) -> list[BusinessError]:
        return read_oir_outcome(self.answer)[2] if self.answer is not None else []

    @property
    def accepted(self) -> bool:
        a = self.answer
        return a is not None and not self.errors and read_oir_outcome(a)[0] == "OK"

    def transaction_id(self) -> str | None:
        return text(self.request, "Hovedoplysninger/TransaktionsID")


def exchanges(ctx: CaseContext) -> list[Exchange]:
    """The recorded ØIR exchanges, oldest first (parsed once per run)."""
    rows = [r for r in ctx.capture_journal("oir") if r.get("direction", "in") == "in"]
    cache: dict[Any, Exchange] = ctx.env.shared.setdefault("recorded_oir", {})
    out = []
    for row in rows:
        key = row.get("id")
        found = cache.get(key)
        if found is None:
            found = cache[key] = Exchange(row, body_of(row.get("request_xml")),
                                          body_of(row.get("response_xml")))
        out.append(found)
    if not out:
        ctx.skip("the recording holds no ØIR exchange")
    return out


def _c14n(el: etree._Element | None, *, drop: Iterable[str] = ()) -> bytes:
    if el is None:
        return b""
    clone = copy.deepcopy(el)
    for name in drop:
        for found in clone.iter(f"{{*}}{name}"):
            parent = found.getparent()
            if parent is not None:
                parent.remove(found)
    return etree.tostring(clone, method="c14n")


# ================================================================ schema

@case("REC-ERR-001", "Every answer validates against the contract", role=_R, area="ERR",
      severity="critical",
      requirement="Each ØIR answer the debtor system gave validates against Debitor.xsd "
                  "(a SOAP Fault is a fault, not an answer).",
      source="docs/contracts.md (every message validates against the XSDs)",
      steps=("read every recorded ØIR answer", "validate it against the XSD"),
      assertions=("every answer validates",),
      hint="Validate each answer against the XSD before sending it; the violation names the "
           "element that is wrong.")
def rec_answers_valid(ctx: CaseContext) -> None:
    judged = 0
    for x in exchanges(ctx):
        if x.response is None or x.fault:
            continue
        judged += 1
        problems = validate_element(x.response)
        if problems:
            ctx.journal_evidence(x.row, f"{x.operation} answered outside the schema")
            ctx.check(False, "every answer validates against the contract",
                      got="; ".join(str(p) for p in problems[:5]))
    if not judged:
        ctx.skip("the recording holds no ØIR answer to judge")
    ctx.note("answers validated", got=judged)


@case("REC-ERR-002", "A request that breaks the schema gets a SOAP Client fault", role=_R,
      area="ERR", severity="major",
      requirement="A request that does not validate against Debitor.xsd is answered with a "
                  "SOAP 1.1 Client fault, never acted on.",
      source="docs/contracts.md (Errors: a schema violation is a SOAP Client fault)",
      steps=("validate every recorded request", "read the answer of each invalid one"),
      assertions=("each invalid request got a Client fault",),
      hint="Validate the request before handling it and answer a Client fault listing each "
           "violation.")
def rec_invalid_refused(ctx: CaseContext) -> None:
    invalid = 0
    for x in exchanges(ctx):
        if x.request is None or not validate_element(x.request) or x.response is None:
            continue
        invalid += 1
        if x.fault_code != "Client":
            ctx.journal_evidence(x.row, f"an invalid {x.operation} request")
            ctx.check(False, "an invalid request gets a Client fault",
                      expected="SOAP fault Client",
                      got=f"fault {x.fault_code}" if x.fault else "a normal answer")
    ctx.note("invalid requests in the recording", got=invalid)


# ================================================================ idempotency

#: Operations that change nothing: a repeat is answered afresh, and their TransaktionsID is
#: not kept (docs/operations.md, Idempotency).
READS = frozenset({"SoegDebitorkonto", "HentDebitorkonto", "SoegDelfordringTilIndbetaling",
                   "MFKvitteringHent", "MFUnderretSamlingHent"})

@case("REC-IDM-001", "A repeated request gets the same answer", role=_R, area="IDM",
      severity="critical",
      requirement="A request sent again with its TransaktionsID and the same body gets the "
                  "answer it got the first time (a read does nothing to repeat: it is "
                  "answered afresh).",
      source="docs/operations.md (Idempotency: a repeated TransaktionsID)",
      steps=("group the requests by TransaktionsID and body",
             "compare the answers (TransaktionsTid aside)"),
      assertions=("each repeat's answer equals the first",),
      hint="Store each answer under its TransaktionsID and replay it for a repeat.")
def rec_repeat_same_answer(ctx: CaseContext) -> None:
    first: dict[tuple[str, bytes], Exchange] = {}
    repeats = 0
    for x in exchanges(ctx):
        tid = x.transaction_id()
        if not tid or x.response is None or x.operation in READS:
            continue
        key = (tid, _c14n(x.request))
        before = first.get(key)
        if before is None:
            if not x.fault:
                first[key] = x
            continue
        repeats += 1
        if _c14n(x.response, drop=("TransaktionsTid",)) != \
                _c14n(before.response, drop=("TransaktionsTid",)):
            ctx.journal_evidence(before.row, "the first answer")
            ctx.journal_evidence(x.row, "the answer to the repeat")
            ctx.check(False, "a repeated request gets the same answer", got=f"{x.operation} "
                      f"{tid} answered differently the second time")
    if not repeats:
        ctx.skip("the recording holds no request sent twice with the same TransaktionsID")
    ctx.note("repeats judged", got=repeats)


@case("REC-IDM-002", "A TransaktionsID reused for another request is refused", role=_R,
      area="IDM", severity="critical",
      requirement="A TransaktionsID reused with a different body is refused with PSRM-600 at "
                  "Hovedoplysninger/TransaktionsID, and nothing is done (one a read used is "
                  "not kept: reads keep no record of theirs).",
      source="docs/operations.md (Idempotency); PSRM rejection 600",
      steps=("group the requests by TransaktionsID", "read the answer to each reuse"),
      assertions=("each reuse is refused with FejlKode PSRM-600",))
def rec_reuse_refused(ctx: CaseContext) -> None:
    bodies: dict[str, bytes] = {}
    reuses = 0
    for x in exchanges(ctx):
        tid = x.transaction_id()
        if not tid or x.response is None:
            continue
        body = _c14n(x.request)
        if tid not in bodies:
            if x.operation not in READS:
                bodies[tid] = body
            continue
        if bodies[tid] == body:
            continue
        reuses += 1
        if not any(e.code == "PSRM-600" for e in x.errors):
            ctx.journal_evidence(x.row, f"TransaktionsID {tid} reused for another request")
            ctx.check(False, "a reused TransaktionsID is refused with PSRM-600",
                      expected="FejlKode PSRM-600",
                      got="; ".join(f"{e.code} {e.text}" for e in x.errors)
                      or ("a fault" if x.fault else "accepted"))
    if not reuses:
        ctx.skip("the recording holds no TransaktionsID reused for another request")
    ctx.note("reuses judged", got=reuses)


def _lines_of(el: etree._Element | None, path: str) -> str:
    """Coverage or offset lines as a report shows them: ``F1/F1-1 45.50, F1 54.50``."""
    return ", ".join(x.short() for x in coverage_lines(el, path)) or "no lines"


@case("REC-IDM-003", "A repeated payment is booked once", role=_R, area="IDM",
      severity="critical",
      requirement="ForetagIndbetaling is idempotent on IndbetalingID: the same payment sent "
                  "again answers with the coverage it got the first time and books nothing.",
      source="docs/operations.md (ForetagIndbetaling: idempotent on IndbetalingID)",
      steps=("group the accepted payments by IndbetalingID and content",
             "compare each repeat's coverage with the first"),
      assertions=("a repeat answers the first coverage lines and surplus",),
      hint="Look the payment up by IndbetalingID before booking; identical content answers "
           "with the lines booked the first time.")
def rec_payment_once(ctx: CaseContext) -> None:
    first: dict[tuple[str, bytes], Exchange] = {}
    repeats = 0
    for x in exchanges(ctx):
        if x.operation != "ForetagIndbetaling" or not x.accepted or x.request is None:
            continue
        payment = x.request.find(_O + "Indbetaling")
        key = (text(payment, "IndbetalingID") or "", _c14n(payment))
        before = first.setdefault(key, x)
        if before is x:
            continue
        repeats += 1
        path = "Indbetaling/DaekningSamling/Daekning"
        got = f"{_lines_of(x.answer, path)}; surplus {text(x.answer, 'Indbetaling/Overskud')}"
        want = f"{_lines_of(before.answer, path)}; surplus " \
               f"{text(before.answer, 'Indbetaling/Overskud')}"
        if got != want:
            ctx.journal_evidence(before.row, f"payment {key[0]} booked")
            ctx.journal_evidence(x.row, f"payment {key[0]} sent again")
        ctx.equal(got, want, f"payment {key[0]} sent again answers the first booking",
                  hint="A repeated IndbetalingID must not be booked again.")
    if not repeats:
        ctx.skip("the recording holds no payment sent twice")
    ctx.note("repeated payments judged", got=repeats)


@case("REC-IDM-004", "A repeated benefit payment is offset once", role=_R, area="IDM",
      requirement="ForetagModregning is idempotent on YdelsesudbetalingID: the same benefit "
                  "payment sent again answers with the offsets it got the first time.",
      source="docs/operations.md (ForetagModregning: idempotent on YdelsesudbetalingID)",
      steps=("group the accepted offsets by YdelsesudbetalingID and content",
             "compare each repeat's offsets with the first"),
      assertions=("a repeat answers the first offsets and net payout",))
def rec_offset_once(ctx: CaseContext) -> None:
    first: dict[tuple[str, bytes, str | None], Exchange] = {}
    repeats = 0
    for x in exchanges(ctx):
        if x.operation != "ForetagModregning" or not x.accepted or x.request is None:
            continue
        benefit = x.request.find(_O + "Ydelsesudbetaling")
        key = (text(benefit, "YdelsesudbetalingID") or "", _c14n(benefit),
               text(x.request, "Simulering"))
        before = first.setdefault(key, x)
        if before is x:
            continue
        repeats += 1

        def offsets(e: Exchange) -> str:
            result = e.answer.find(_O + "ModregningResultat") if e.answer is not None else None
            return (f"{_lines_of(result, 'ModregningSamling/Modregning')}; offset "
                    f"{text(result, 'ModregnetIAlt')}; net {text(result, 'Nettoudbetaling')}")

        if offsets(x) != offsets(before):
            ctx.journal_evidence(before.row, f"benefit payment {key[0]} offset")
            ctx.journal_evidence(x.row, f"benefit payment {key[0]} sent again")
        ctx.equal(offsets(x), offsets(before),
                  f"benefit payment {key[0]} sent again answers the first offsets")
    if not repeats:
        ctx.skip("the recording holds no benefit payment sent twice")
    ctx.note("repeated benefit payments judged", got=repeats)


# ================================================================ coverage order

_SUBS, _PRINCIPAL = "interest and fees", "principal"


def _shape(lines: Iterable[tuple[str, bool, Decimal]]) -> list[tuple[str, str, Decimal]]:
    """Coverage as (claim, part, amount), consecutive lines on one part added up: sub-claim
    ids need not be known to compare the order."""
    out: list[tuple[str, str, Decimal]] = []
    for claim_id, on_sub, value in lines:
        part = _SUBS if on_sub else _PRINCIPAL
        if out and out[-1][:2] == (claim_id, part):
            out[-1] = (claim_id, part, out[-1][2] + value)
        else:
            out.append((claim_id, part, value))
    return out


def _shown_shape(shape: list[tuple[str, str, Decimal]], surplus: Decimal | None) -> str:
    lines = ", ".join(f"{c} {p} {a}" for c, p, a in shape) or "nothing covered"
    return f"{lines}; surplus {surplus}"


@dataclass(slots=True)
class _Account:
    """One debtor account as the recording shows it."""

    number: str
    claims: dict[str, Claim] = field(default_factory=dict)
    known: bool = False  # every claim on it, with its remainders, is known
    day: date | None = None  # the day that knowledge holds for (clock events move it)
    source: dict[str, Any] | None = None  # the row it was last read from


def _state(value: str | None) -> ClaimState:
    try:
        return ClaimState(value or "")
    except ValueError:
        return ClaimState.CANCELLED  # a state we do not know is one nothing covers


def _claims_of_statement(answer: etree._Element, before: _Account | None) -> dict[str, Claim]:
    """The claims of a HentDebitorkonto answer as model claims (remainders included)."""
    out: dict[str, Claim] = {}
    for f in all_of(answer, "Debitorkonto/FordringSamling/Fordring"):
        claim_id = text(f, "FordringID") or ""
        known = before.claims.get(claim_id) if before else None
        subs = []
        for n, d in enumerate(all_of(f, "DelfordringSamling/Delfordring")):
            old = known.sub_claims[n] if known and n < len(known.sub_claims) else None
            subs.append(SubClaim(text(d, "DelfordringID") or f"{claim_id}-{n + 1}",
                                 text(d, "DelfordringTypeKode") or "",
                                 amount(d, "Beloeb") or Decimal(0),
                                 amount(d, "Restbeloeb") or Decimal(0),
                                 founded=old.founded if old else None))
        outstanding = amount(f, "Restbeloeb") or Decimal(0)
        founded = day(f, "StiftelsesDato") or date.min
        claim = Claim(
            id=claim_id, account_number=text(answer, "Debitorkonto/DebitorkontoNummer") or "",
            fagsystem_claim_id=text(f, "FagsystemFordringID") or "",
            type_code=text(f, "FordringTypeKode") or "", principal=amount(f, "Hovedstol")
            or Decimal(0), period_from=day(f, "PeriodeFra") or founded,
            period_to=day(f, "PeriodeTil") or founded, founded=founded,
            due_date=day(f, "ForfaldsDato") or founded,
            srb=day(f, "SidsteRettidigeBetalingsDato") or founded,
            received=day(f, "ModtagelsesDato") or founded, sub_claims=subs,
            remaining_principal=outstanding - sum((s.remaining for s in subs), Decimal(0)),
            state=_state(text(f, "Status")))
        payment_id = text(f, "Opkraevning/BetalingsID")
        if payment_id:
            claim.invoice = Invoice(text(f, "Opkraevning/OpkraevningID") or "", payment_id, "",
                                    claim.total, claim.due_date, claim.srb)
        out[claim_id] = claim
    return out


class _Ledger:
    """The accounts as far as the recording lets them be followed."""

    def __init__(self) -> None:
        self.accounts: dict[str, _Account] = {}

    def account(self, number: str) -> _Account:
        return self.accounts.setdefault(number, _Account(number))

    def trusted(self, number: str | None, on: date) -> _Account | None:
        found = self.accounts.get(number or "")
        return found if found is not None and found.known and found.day == on else None

    def see(self, x: Exchange) -> None:
        """Follow what an exchange other than a payment did to the accounts."""
        a = x.answer
        if not x.accepted or a is None or x.request is None:
            return
        op = x.operation
        if op == "OpretDebitorkonto":
            number = text(a, "DebitorkontoNummer") or ""
            if text(a, "Oprettet") == "true":
                self.accounts[number] = _Account(number, known=True, day=x.day, source=x.row)
            else:
                self.account(number)
        elif op == "OpretFordring":
            self._registered(x, a)
        elif op == "HentDebitorkonto":
            number = text(a, "Debitorkonto/DebitorkontoNummer") or ""
            before = self.accounts.get(number)
            self.accounts[number] = _Account(number, _claims_of_statement(a, before), True,
                                             x.day, x.row)
        elif op == "RetFordringTilstand":
            claim_id = text(x.request, "FordringID")
            for account in self.accounts.values():
                if claim_id in account.claims:
                    account.known = False
        elif op == "ForetagModregning" and text(x.request, "Simulering") != "true":
            for account in self.accounts.values():  # offsets go by recipient, not account
                account.known = False

    def _registered(self, x: Exchange, a: etree._Element) -> None:
        assert x.request is not None
        claim_id = text(a, "FordringID")
        number = text(x.request, "DebitorkontoNummer") or ""
        account = self.account(number)
        if not claim_id or claim_id in account.claims:
            return
        try:
            claim = decode_opret_fordring(x.request, received=x.day, claim_id=claim_id).claim
        except (DecodeError, ValueError):
            account.known = False
            return
        payment_id = text(a, "Opkraevning/BetalingsID")
        if payment_id:
            claim.invoice = Invoice(text(a, "Opkraevning/OpkraevningID") or "", payment_id,
                                    text(a, "Opkraevning/KreditorNummer") or "",
                                    amount(a, "Opkraevning/Beloeb") or claim.total,
                                    claim.due_date, claim.srb)
        account.claims[claim_id] = claim

    @staticmethod
    def book(account: _Account, lines: list[Line]) -> None:
        """Put the debtor system's own coverage lines on the account's claims."""
        for line in lines:
            claim = account.claims.get(line.claim_id)
            if claim is None:
                account.known = False
                return
            if line.sub_claim_id is not None and not any(
                    s.id == line.sub_claim_id for s in claim.sub_claims):
                # ids we made up from the request: the next in order takes the answer's id
                sub = next(iter(sub_claim_order(claim)), None)
                if sub is None:
                    account.known = False
                    return
                sub.id = line.sub_claim_id
            claim.take(line.sub_claim_id, line.amount)
        for claim in account.claims.values():
            if claim.outstanding < 0:
                account.known = False
            elif claim.state in OPEN_STATES:
                claim.state = lifecycle.advance(claim.state, lifecycle.Step.COVERAGE,
                                                outstanding=claim.outstanding)


_PAYMENTS = ("ForetagIndbetaling", "SoegDelfordringTilIndbetaling")


@case("REC-PAY-001", "Payments cover claims in the § 4 order", role=_R, area="PAY",
      severity="critical",
      requirement="Each payment (and each preview) covers the account's open claims in the "
                  "coverage order of gældsinddrivelsesloven § 4 — a claim named by FIK id or "
                  "claim id first, then fines, maintenance, other claims, oldest first, "
                  "interest and fees before principal — and reports the rest as surplus.",
      source="gældsinddrivelsesloven § 4; docs/coverage.md (coverage order)",
      steps=("follow each account through the recording: accounts created, claims "
             "registered, payments booked, refreshed from every HentDebitorkonto answer",
             "plan each payment on the account as it stood, with the coverage engine",
             "compare with the coverage lines the debtor system answered"),
      assertions=("every judged payment covers what the § 4 order says, to the øre",),
      hint="Sort open claims by coverage category (fines, private maintenance, public "
           "maintenance, other), then receipt date, founding date and id; within a claim "
           "interest and fees before principal. A payment may only be judged on a day the "
           "recording shows the account whole (created or read with HentDebitorkonto).")
def rec_coverage_order(ctx: CaseContext) -> None:
    ledger = _Ledger()
    booked: set[str] = set()
    judged, not_judged = 0, 0
    types = ClaimTypeTable.default()
    for x in exchanges(ctx):
        if x.operation not in _PAYMENTS:
            ledger.see(x)
            continue
        if not x.accepted or x.request is None or x.answer is None:
            continue
        payment = x.request.find(_O + "Indbetaling")
        answer = x.answer.find(_O + "Indbetaling")
        payment_id = text(payment, "IndbetalingID") or ""
        books = x.operation == "ForetagIndbetaling"
        if books and payment_id in booked:
            continue  # a repeat: REC-IDM-003 judges it
        number = text(answer, "DebitorkontoNummer") or text(payment, "DebitorkontoNummer")
        account = ledger.trusted(number, x.day)
        got_lines = coverage_lines(answer, "DaekningSamling/Daekning")
        if account is None:
            not_judged += 1
        else:
            judged += 1
            plan = plan_coverage(
                account.claims.values(), amount(payment, "Beloeb") or Decimal(0),
                source=CoverageSource.PAYMENT, source_id=payment_id,
                on=day(payment, "BetalingsDato") or x.day, claim_types=types,
                target_claim_id=text(payment, "FordringID"),
                target_payment_id=text(payment, "BetalingsID"))
            want = _shape((p.claim_id, p.sub_claim_id is not None, p.amount)
                          for p in plan.lines)
            got = _shape((g.claim_id, g.sub_claim_id is not None, g.amount) for g in got_lines)
            surplus = amount(answer, "Overskud")
            if (got, surplus) != (want, plan.surplus):
                if account.source is not None:
                    ctx.journal_evidence(account.source, f"account {number} as it stood")
                ctx.journal_evidence(x.row, f"{x.operation} {payment_id}")
            ctx.check((got, surplus) == (want, plan.surplus),
                      f"{x.operation} {payment_id} covers in the § 4 order",
                      expected=_shown_shape(want, plan.surplus),
                      got=_shown_shape(got, surplus))
        if books:
            booked.add(payment_id)
            if number in ledger.accounts:
                ledger.book(ledger.accounts[number], got_lines)
    if not judged:
        ctx.skip(f"no payment could be judged ({not_judged} on accounts the recording does "
                 "not show whole on that day)" if not_judged else
                 "the recording holds no accepted payment")
    ctx.note("payments judged", got=judged)
    if not_judged:
        ctx.note("payments not judged (the account was not shown whole that day)",
                 got=not_judged)


# ================================================================ actions per claim

@case("REC-HND-001", "The actions for one claim come in a possible order", role=_R,
      area="HND", severity="major",
      requirement="What is sent to PSRM for one claim follows its life there: a claim is "
                  "handed over once (a resend of the same delivery aside), nothing but a "
                  "resubmission follows its recall, and GENINDSENDFORDRING goes only for a "
                  "claim recalled with HENS, KLAG, BORD or HAFT (PSRM 539, 540).",
      source="docs/mapping.md (claims → deliveries), docs/psrm-end.md (repeats); PSRM "
             "rejections 539 and 540 (docs/rules.md)",
      steps=("read every recorded delivery and PSRM's answer per action",
             "follow each claim by its fordringshaver id, reference and PSRM's claim id"),
      assertions=("no second OPRETFORDRING for a claim PSRM holds",
                  "no action on a recalled claim but GENINDSEND",
                  "GENINDSENDFORDRING only for a claim recalled with HENS, KLAG, BORD or HAFT"),
      hint="Keep each claim's PSRM state (EFIFordringID, recalled and why) and send only the "
           "actions that state allows; a claim recalled with FEJL or BORT goes again as "
           "OPRETFORDRING.")
def rec_action_order(ctx: CaseContext) -> None:
    found = [c for c in deliveries(ctx) if c.delivery is not None]
    if not found:
        ctx.skip("the recording holds no delivery to PSRM that could be read")
    state: dict[str, str] = {}  # PSRM claim id -> "live", or the reason it was recalled
    # a claim is (DMIFordringHaverID, DMIFordringFordringHaverRef), as PSRM keeps it (486)
    efi_of: dict[tuple[str, str], str] = {}  # claim -> PSRM claim id
    handed: dict[tuple[str, str], str] = {}  # claim -> the MFAktionID of its hand-over
    judged = unknown = 0

    def wrong(c: Captured, a: ActionRequest, assertion: str, got: str) -> None:
        assert c.delivery is not None
        ctx.journal_evidence(c.row, f"action {a.index} of {c.delivery.delivery_id}")
        ctx.check(False, assertion, got=got)

    for c in found:
        assert c.delivery is not None
        for a in c.delivery.actions:
            outcome = c.outcome(a.index)
            received = outcome is not None and outcome.status != "AFVIST"
            if a.code in (PsrmActionCode.CREATE, PsrmActionCode.RESUBMIT) and a.claim:
                ref = a.claim.fagsystem_claim_id
                claim = (a.creditor_id, ref)
                held = a.efi_claim_id or efi_of.get(claim)
                if a.code is PsrmActionCode.RESUBMIT and (held is None or held not in state):
                    unknown += 1  # handed over and recalled before the recording began
                else:
                    judged += 1
                # the same action sent again (its MFAktionID: the sender's, or PSRM's own)
                again = outcome is not None and outcome.action_id == handed.get(claim)
                was = state.get(held) if held else None
                if a.code is PsrmActionCode.CREATE and was == "live" and not again:
                    wrong(c, a, "a claim PSRM holds is not handed over again",
                          f"OPRETFORDRING of {ref} while PSRM holds it as {held}")
                if a.code is PsrmActionCode.RESUBMIT and was is not None:
                    if was == "live":
                        wrong(c, a, "GENINDSENDFORDRING only for a recalled claim",
                              f"GENINDSENDFORDRING of {held}, which is not recalled")
                    elif not _resubmittable(was):
                        wrong(c, a, "a claim recalled with FEJL or BORT goes again as "
                                    "OPRETFORDRING", f"GENINDSENDFORDRING of {held} after "
                                                     f"its TILBAGEKALD {was}")
                if received and outcome is not None and outcome.efi_claim_id:
                    efi_of[claim] = outcome.efi_claim_id
                    state[outcome.efi_claim_id] = "live"
                    handed.setdefault(claim, outcome.action_id)
                continue
            efi = a.efi_claim_id
            if efi is None or efi not in state:
                unknown += 1  # handed over before the recording began
                continue
            judged += 1
            if state[efi] != "live":
                wrong(c, a, "nothing but GENINDSEND follows a recall",
                      f"{a.code.value} on {efi} after its TILBAGEKALD")
            if received and a.code is PsrmActionCode.RECALL:
                state[efi] = a.reason or "?"
    ctx.note("actions judged", got=judged)
    if unknown:
        ctx.note("actions on claims handed over before the recording began", got=unknown)


def _resubmittable(reason: str) -> bool:
    try:
        return RecallReason(reason).resubmittable
    except ValueError:
        return True  # a reason not known here: not held against the sender


# ================================================================ one case per rule

def _judged_from_the_claim(rule: Rule) -> bool:
    """A front-door rule the claim alone decides (not one about what the account already
    holds, such as a FagsystemFordringID registered with other content)."""
    return OIR_CREATE in rule.applies_to and OIR_SERVICE not in rule.applies_to


def _claim_rule_ids() -> frozenset[str]:
    return frozenset(r.id for r in RULES if _judged_from_the_claim(r))


def _rule_case(rule: Rule) -> Case:
    def run(ctx: CaseContext) -> None:
        claim_rules = _claim_rule_ids()
        judged = 0
        for x in exchanges(ctx):
            if x.operation != "OpretFordring" or x.request is None or x.answer is None:
                continue
            codes = {e.code: e for e in x.errors}
            if set(codes) - claim_rules:
                continue  # refused before the claim was judged (account, id reuse…)
            try:
                request = decode_opret_fordring(x.request, received=x.day)
            except (DecodeError, ValueError):
                continue
            judged += 1
            hits = [v for v in validate_claim(
                request.claim, today=x.day, fmt="oir",
                context=RuleContext(creditor_id=request.header.authority_cvr))
                if v.rule_id == rule.id]
            ref = request.claim.fagsystem_claim_id
            given = codes.get(rule.id)
            if hits and (given is None or given.field != hits[0].path):
                ctx.journal_evidence(x.row, f"OpretFordring {ref}")
                ctx.check(False, f"a claim breaking {rule.id} is refused with it",
                          expected=f"{rule.id} @ {hits[0].path}",
                          got=f"{given.code} @ {given.field}" if given else
                          "; ".join(f"{e.code} @ {e.field}" for e in x.errors)
                          or "accepted")
            if not hits and given is not None:
                ctx.journal_evidence(x.row, f"OpretFordring {ref}")
                ctx.check(False, f"{rule.id} is only reported for a claim that breaks it",
                          expected=f"no {rule.id}", got=f"{given.code} @ {given.field}")
        if not judged:
            ctx.skip("the recording holds no OpretFordring judged by the claim rules")
        ctx.note("OpretFordring requests judged", got=judged)

    return Case(
        id=f"REC-RUL-{rule.id}", title=rule_title(rule), role=_R, area="RUL",
        requirement=f"The debtor system refuses every claim that breaks {rule.id} with "
                    f"FejlKode {rule.id} at the rule's field, and reports {rule.id} for no "
                    "other claim.",
        source=f"rule {rule.id} ({rule.source})",
        steps=("judge every recorded OpretFordring with the rule catalogue, on the day the "
               "debtor system answered it", "compare with its FejlSamling"),
        assertions=(f"broken → refused with {rule.id}", f"not broken → no {rule.id}"),
        severity="major", run=run,
        hint=f"See docs/rules.md, rule {rule.id}.", rule_id=rule.id)


for _rule in RULES:
    if _judged_from_the_claim(_rule) and _rule.severity == "error":
        register(_rule_case(_rule))
