"""One case per rule of the catalogue, generated from :data:`oir_adapter.domain.rules.RULES`.

For the ``debitor`` role each rule has a *probe*: a message that breaks exactly that rule
(and, where the rule cannot be broken alone, the rules that necessarily come with it),
sent to the debtor system, which must refuse it with the rule's ``FejlKode`` at the
rule's ``Felt`` and store nothing. Rules that only PSRM can judge are listed in
:data:`PSRM_ONLY` and checked in the ``psrm`` and ``psrm-client`` roles instead. A rule
added to the catalogue without a probe shows up as an erroring case, so the suite can
never silently fall behind the catalogue.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal

from oir_adapter.clients import Reply
from oir_adapter.codecs import oir_requests as messages
from oir_adapter.conformance.context import Account, CaseContext, CaseErrored
from oir_adapter.conformance.model import NEEDS_CLOCK, Case, Role
from oir_adapter.conformance.registry import register, rule_title
from oir_adapter.conformance.views import offset_lines
from oir_adapter.domain.identifiers import is_valid_cvr, make_payment_id
from oir_adapter.domain.model import Party
from oir_adapter.domain.rules import (
    HANDOVER,
    OIR_CREATE,
    OIR_SERVICE,
    OIR_STATE,
    RULES,
    Rule,
    violation,
)

D = Decimal
Run = Callable[[CaseContext, Rule], None]


@dataclass(frozen=True)
class Probe:
    """How to break one rule through ØIR, and what the refusal must say."""

    steps: tuple[str, ...]
    run: Run
    needs: frozenset[str] = frozenset()


def expected_path(rule_id: str, field: str | None = None, n: int | None = None) -> str:
    """The ``Felt`` the catalogue says a violation of ``rule_id`` points at (ØIR)."""
    return violation(rule_id, fmt="oir", field=field, n=n).path


def refused(ctx: CaseContext, reply: Reply, rule_id: str, *, field: str | None = None,
            n: int | None = None, also: tuple[str, ...] = ()) -> None:
    """The answer refuses with ``rule_id`` at its path, and reports no unrelated rule."""
    path = expected_path(rule_id, field, n)
    shown = "; ".join(f"{e.code} @ {e.field}" for e in reply.errors) or \
        f"accepted (SvarReaktion {reply.reaction})"
    ctx.check(bool(reply.errors), "the request is refused with a FejlSamling",
              expected=f"{rule_id} @ {path}", got=shown,
              hint=f"Apply rule {rule_id} (docs/rules.md) before accepting the request.")
    ctx.check(any(e.code == rule_id and e.field == path for e in reply.errors),
              f"the refusal has FejlKode {rule_id} with Felt {path}",
              expected=f"{rule_id} @ {path}", got=shown,
              hint="FejlKode is the rule id of the catalogue and Felt the path of the "
                   "offending element in the request (docs/rules.md).")
    ctx.equal(sorted({e.code for e in reply.errors}), sorted({rule_id, *also}),
              "no other rule is reported for this message",
              hint="Report every violation, but only real ones: the probe breaks no other rule.")
    ctx.equal(reply.reaction, "FEJL", "SvarReaktion is FEJL")


# ---------------------------------------------------------------- probes: OpretFordring

def _create(mutate: Callable[[CaseContext, messages.ClaimSpec], messages.ClaimSpec], *,
            field: str | None = None, n: int | None = None) -> Run:
    def run(ctx: CaseContext, rule: Rule) -> None:
        account = ctx.open_account()
        spec = mutate(ctx, ctx.claim_spec())
        reply = ctx.call("OpretFordring", messages.opret_fordring(
            ctx.caller, account_number=account.number, claim=spec),
            f"register a claim that breaks {rule.id}", accept=False)
        refused(ctx, reply, rule.id, field=field, n=n)
        ctx.equal(sorted(ctx.account(account, "check nothing was stored").claims), [],
                  "the refused claim was not stored")
    return run


def _invalid_cvr() -> str:
    return next(f"1234567{d}" for d in range(10) if not is_valid_cvr(f"1234567{d}"))


_CREATE_STEPS = ("OpretDebitorkonto", "OpretFordring with a claim that breaks the rule",
                 "HentDebitorkonto")

_CREATE: dict[str, tuple[str, Run]] = {
    "PSRM-152": ("ValutaKode EUR", _create(lambda c, s: replace(s, currency="EUR"))),
    "PSRM-569": ("PeriodeFra after PeriodeTil",
                 _create(lambda c, s: replace(s, period_from=s.period_to,
                                              period_to=s.period_from))),
    "PSRM-533": ("DomsDato in the future", _create(lambda c, s: replace(s, judgment_date=c.day(5)))),
    "PSRM-568": ("StiftelsesDato in 1899", _create(lambda c, s: replace(s, founded=c.day(-365 * 130)))),
    "PSRM-574": ("inactive claim type UDGAAET",
                 _create(lambda c, s: replace(s, type_code="UDGAAET"))),
    "OIR-102": ("StiftelsesDato after ForfaldsDato (both past)",
                _create(lambda c, s: replace(s, founded=c.day(-3), due_date=c.day(-5)))),
    "OIR-103": ("ForfaldsDato after the SRB", _create(lambda c, s: replace(s, due_date=c.day(50)))),
    "OIR-104": ("ForaeldelsesDato passed",
                _create(lambda c, s: replace(s, limitation_date=c.day(-1)))),
    "OIR-105": ("a hæfter with a CPR number that is no date (3213901234)",
                _create(lambda c, s: replace(s, co_liable=((Party.cpr("3213901234"), "X"),)),
                        n=1)),
    "OIR-106": ("a hæfter with a CVR number failing modulus 11",
                _create(lambda c, s: replace(s, co_liable=((Party.cvr(_invalid_cvr()), "X"),)),
                        n=1)),
    "OIR-107": ("a sub-claim of principal type DAGINST",
                _create(lambda c, s: replace(s, sub_claims=(messages.SubClaimSpec(
                    "DAGINST", D("100.00")),)), field="sub_claims.type_code", n=1)),
    "OIR-108": ("Hovedstol 0.00", _create(lambda c, s: replace(s, principal=D("0.00")))),
    "OIR-110": ("FordringArt MODR with ModregningTilladt=false",
                _create(lambda c, s: replace(s, art="MODR", offsetting_allowed=False))),
    "OIR-113": ("unknown claim type", _create(lambda c, s: replace(s, type_code="UKENDT99"))),
    "OIR-114": ("BOEDE (recovery only) with FordringArt MODR",
                _create(lambda c, s: replace(s, type_code="BOEDE", art="MODR"), field="art")),
    "OIR-117": ("interest type RENTE as the main claim",
                _create(lambda c, s: replace(s, type_code="RENTE"))),
    "OIR-118": ("StiftelsesDato in the future", _create(lambda c, s: replace(s, founded=c.day(3)))),
}


def _warning_accepted(ctx: CaseContext, rule: Rule) -> None:
    account = ctx.open_account()
    spec = ctx.claim_spec(period=(5, 30))
    reply = ctx.call("OpretFordring", messages.opret_fordring(
        ctx.caller, account_number=account.number, claim=spec),
        f"register a claim that triggers warning {rule.id}", accept=False)
    ctx.check(not reply.has_business_errors, f"a claim with only warning {rule.id} is accepted",
              expected="SvarReaktion OK", got="; ".join(str(e) for e in reply.errors),
              hint="Warnings are reported but never refuse a message (docs/rules.md).")
    ctx.check(bool(reply.findtext("FordringID")), "the claim gets a FordringID")


# ---------------------------------------------------------------- probes: state changes

def _state(prepare: Callable[[CaseContext, Account, str], None], change: str, *,
           field: str | None = None, also: tuple[str, ...] = (),
           spec: Callable[[CaseContext], messages.ClaimSpec] | None = None,
           **values: Callable[[CaseContext], object]) -> Run:
    def run(ctx: CaseContext, rule: Rule) -> None:
        account = ctx.open_account()
        claim = ctx.register(account, spec(ctx) if spec else ctx.claim_spec())
        prepare(ctx, account, claim.claim_id)
        reply = ctx.change(claim.claim_id, change, f"{change} that breaks {rule.id}",
                           accept=False, **{k: v(ctx) for k, v in values.items()})
        refused(ctx, reply, rule.id, field=field, also=also)
    return run


def _nothing(ctx: CaseContext, account: Account, claim_id: str) -> None:
    return None


def _cancelled(ctx: CaseContext, account: Account, claim_id: str) -> None:
    ctx.change(claim_id, "Annuller", "cancel the claim first")


def _past_srb(ctx: CaseContext) -> messages.ClaimSpec:
    return ctx.claim_spec(founded=-30, due=-20, srb=-10, period=(-60, -31))


def _handed_over(ctx: CaseContext, account: Account, claim_id: str) -> None:
    ctx.require(NEEDS_CLOCK)
    ctx.advance(1)
    ctx.settle()
    status = ctx.account(account, "check the claim was handed over").claims[claim_id].status
    if status != "OVERDRAGET":
        raise CaseErrored(f"the claim was not handed over after a day past SRB (status "
                          f"{status}); see OIR-HND-001")


def _deferred(ctx: CaseContext, account: Account, claim_id: str) -> None:
    ctx.change(claim_id, "Henstand", "grant a deferral first", deferral_until=ctx.day(30))


def _below_limit(ctx: CaseContext, rule: Rule) -> None:
    ctx.require(NEEDS_CLOCK)
    account = ctx.open_account()
    claim = ctx.register(account, replace(_past_srb(ctx), principal=D("50.00")),
                         "register a claim of 50.00 past its SRB")
    ctx.advance(1)
    ctx.settle()
    c = ctx.account(account, "check the claim stayed with the debtor system").claims[claim.claim_id]
    ctx.check(c.status == "AABEN", "a claim under 100 DKK is not handed over automatically",
              expected="AABEN", got=c.status)
    reply = ctx.change(claim.claim_id, "Overdrag", f"Overdrag that breaks {rule.id}",
                       accept=False, art="INDR")
    refused(ctx, reply, rule.id)


def _benefit_closed(ctx: CaseContext, rule: Rule) -> None:
    account = ctx.open_account()
    closed = ctx.register(account, ctx.claim_spec(type_code="CFFAKTU", principal="1000.00",
                                                  due=-5, srb=30, founded=-30),
                          "register an invoice claim (closed for cash assistance)")
    open_ = ctx.register(account, ctx.claim_spec(principal="800.00", due=-5, srb=30),
                         "register a day-care claim (open for cash assistance)")
    reply = ctx.call("ForetagModregning", messages.foretag_modregning(
        ctx.caller, benefit_id=ctx.env.next_id("YDL"), recipient=account.party,
        benefit_type="KONTHJ", payout=ctx.today, gross=D("10000.00"), protected=D("0.00")),
        "offset cash assistance (KONTHJ)")
    lines = offset_lines(reply.element.find("{*}ModregningResultat"))
    got = {line.claim_id: line.amount for line in lines}
    ctx.check(closed.claim_id not in got, f"{rule.id}: KONTHJ is not offset against CFFAKTU",
              expected="no offset line for the CFFAKTU claim", got=got,
              hint="Look the benefit type × claim type up in the offsetting table; a closed "
                   "pair is skipped.")
    ctx.equal(got, {open_.claim_id: D("800.00")}, "the day-care claim is offset (800.00, "
              "within 10 % of 10000.00)")


# ---------------------------------------------------------------- probes: service level

def _unknown_account(ctx: CaseContext, rule: Rule) -> None:
    reply = ctx.call("OpretFordring", messages.opret_fordring(
        ctx.caller, account_number=ctx.env.next_id("UKENDT"), claim=ctx.claim_spec()),
        "register a claim on an unknown account", accept=False)
    refused(ctx, reply, rule.id)


def _unknown_claim(ctx: CaseContext, rule: Rule) -> None:
    reply = ctx.change(ctx.env.next_id("UKENDT"), "Annuller", "cancel an unknown claim",
                       accept=False)
    refused(ctx, reply, rule.id)


def _claim_ref_reused(ctx: CaseContext, rule: Rule) -> None:
    account = ctx.open_account()
    spec = ctx.claim_spec()
    ctx.register(account, spec)
    reply = ctx.call("OpretFordring", messages.opret_fordring(
        ctx.caller, account_number=account.number, claim=replace(spec, principal=D("999.00"))),
        "register the same FagsystemFordringID with another amount", accept=False)
    refused(ctx, reply, rule.id)


def _payment_reused(ctx: CaseContext, rule: Rule) -> None:
    account = ctx.open_account()
    ctx.register(account, ctx.claim_spec())
    pid = ctx.env.next_id("IND")
    ctx.pay(account, "100.00", payment_id=pid)
    reply = ctx.pay(account, "200.00", payment_id=pid, accept=False,
                    label="reuse the IndbetalingID with another amount")
    refused(ctx, reply, rule.id)
    view = ctx.account(account)
    ctx.equal(sum(c.outstanding or D(0) for c in view.claims.values()), D("1400.00"),
              "only the first payment was booked")


def _benefit_reused(ctx: CaseContext, rule: Rule) -> None:
    party = ctx.open_account().party
    bid = ctx.env.next_id("YDL")
    for gross, accept in (("3000.00", True), ("4000.00", False)):
        reply = ctx.call("ForetagModregning", messages.foretag_modregning(
            ctx.caller, benefit_id=bid, recipient=party, benefit_type="FOLKEPEN",
            payout=ctx.today, gross=D(gross), protected=D("0.00")),
            f"benefit payment {bid} with gross {gross}", accept=accept)
    refused(ctx, reply, rule.id)


def _payment_unplaced(ctx: CaseContext, rule: Rule) -> None:
    reply = ctx.call("ForetagIndbetaling", messages.foretag_indbetaling(
        ctx.caller, payment_id=ctx.env.next_id("IND"), amount=D("100.00"), paid=ctx.today,
        payer=ctx.env.cpr()), "a payment from an unknown payer only", accept=False)
    refused(ctx, reply, rule.id)


def _fik_unknown(ctx: CaseContext, rule: Rule) -> None:
    reply = ctx.call("ForetagIndbetaling", messages.foretag_indbetaling(
        ctx.caller, payment_id=ctx.env.next_id("IND"), amount=D("100.00"), paid=ctx.today,
        fik=make_payment_id(int(uuid.uuid4().int % 10**13) + 9 * 10**13)),
        "a payment with an unknown BetalingsID", accept=False)
    refused(ctx, reply, rule.id)


def _benefit_probe(benefit_type: str, gross: str, protected: str, label: str) -> Run:
    def run(ctx: CaseContext, rule: Rule) -> None:
        reply = ctx.call("ForetagModregning", messages.foretag_modregning(
            ctx.caller, benefit_id=ctx.env.next_id("YDL"), recipient=ctx.env.cpr(),
            benefit_type=benefit_type, payout=ctx.today, gross=D(gross),
            protected=D(protected)), label, accept=False)
        refused(ctx, reply, rule.id)
    return run


def _bad_token(ctx: CaseContext, rule: Rule) -> None:
    reply = ctx.call("SoegDebitorkonto", messages.soeg_debitorkonto(
        ctx.caller, name_prefix="Konformitet", token="ikke-et-token!"),
        "search with a made-up continuation token", accept=False)
    refused(ctx, reply, rule.id)


def _bad_debtor(ctx: CaseContext, rule: Rule) -> None:
    reply = ctx.call("OpretDebitorkonto", messages.opret_debitorkonto(
        ctx.caller, reference=ctx.env.next_id("KONF"), party=Party.cpr("3213901234"),
        name="Konformitet Ugyldig"), "create an account for CPR 3213901234", accept=False)
    refused(ctx, reply, rule.id)


def _reference_reused(ctx: CaseContext, rule: Rule) -> None:
    account = ctx.open_account()
    reply = ctx.call("OpretDebitorkonto", messages.opret_debitorkonto(
        ctx.caller, reference=account.reference, party=ctx.env.cpr(), name="Konformitet Anden"),
        "reuse the reference for another debtor", accept=False)
    refused(ctx, reply, rule.id)


def _account_too_large(ctx: CaseContext, rule: Rule) -> None:
    account = ctx.open_account()
    ctx.register(account, ctx.claim_spec(principal="9999999999999.99"),
                 "register a claim of 9,999,999,999,999.99")
    reply = ctx.call("OpretFordring", messages.opret_fordring(
        ctx.caller, account_number=account.number, claim=ctx.claim_spec(principal="100.00")),
        "register a second claim on the same account", accept=False)
    refused(ctx, reply, rule.id)
    ctx.account(account)  # and the account is still readable


def _transaction_reused(ctx: CaseContext, rule: Rule) -> None:
    account = ctx.open_account()
    tid = str(uuid.uuid4())
    ctx.call("OpretFordring", messages.opret_fordring(
        ctx.caller, account_number=account.number, claim=ctx.claim_spec(), transaction_id=tid),
        "register a claim with TransaktionsID T")
    reply = ctx.call("OpretFordring", messages.opret_fordring(
        ctx.caller, account_number=account.number, claim=ctx.claim_spec(), transaction_id=tid),
        "register another claim with the same TransaktionsID", accept=False)
    refused(ctx, reply, rule.id, field="transaction_id")


def _end_unknown(ctx: CaseContext, rule: Rule) -> None:
    account = ctx.open_account()
    reply = ctx.call("AfslutAdministrator", messages.afslut(
        ctx.caller, "AfslutAdministrator", account_number=account.number, end=ctx.day(30),
        party=ctx.env.cpr()), "end an administrator the account does not have", accept=False)
    refused(ctx, reply, rule.id)


def _end_moved(ctx: CaseContext, rule: Rule) -> None:
    account = ctx.open_account()
    other = ctx.env.cpr()
    claim = ctx.register(account, ctx.claim_spec(co_liable=((other, None),)))
    for day, accept in ((ctx.day(30), True), (ctx.day(60), False)):
        reply = ctx.call("AfslutHaeftelse", messages.afslut(
            ctx.caller, "AfslutHaeftelse", account_number=account.number, end=day, party=other,
            claim_id=claim.claim_id), f"end the liability on {day}", accept=accept)
    refused(ctx, reply, rule.id)


def _end_own_liability(ctx: CaseContext, rule: Rule) -> None:
    account = ctx.open_account()
    claim = ctx.register(account, ctx.claim_spec())
    reply = ctx.call("AfslutHaeftelse", messages.afslut(
        ctx.caller, "AfslutHaeftelse", account_number=account.number, end=ctx.day(30),
        party=account.party, claim_id=claim.claim_id),
        "end the liability of the account's own debtor", accept=False)
    refused(ctx, reply, rule.id)


def _anmodning(ctx: CaseContext, account: Account, request_id: str, label: str, *,
               accept: bool, **kw: object) -> Reply:
    return ctx.call("OpretDebitorkontoAnmodning", messages.opret_debitorkonto_anmodning(
        ctx.caller, account_number=account.number, request_id=request_id, **kw),  # type: ignore[arg-type]
        label, accept=accept)


def _request_reused(ctx: CaseContext, rule: Rule) -> None:
    account = ctx.open_account()
    request_id = ctx.env.next_id("ANM")
    _anmodning(ctx, account, request_id, "close the empty account", accept=True, status="LUKKET")
    reply = _anmodning(ctx, account, request_id, "reopen it under the same AnmodningID",
                       accept=False, status="AKTIV")
    refused(ctx, reply, rule.id)


def _closed_account(ctx: CaseContext, rule: Rule) -> None:
    account = ctx.open_account()
    _anmodning(ctx, account, ctx.env.next_id("ANM"), "close the empty account", accept=True,
               status="LUKKET")
    reply = ctx.call("OpretFordring", messages.opret_fordring(
        ctx.caller, account_number=account.number, claim=ctx.claim_spec()),
        "register a claim on the closed account", accept=False)
    refused(ctx, reply, rule.id)


def _close_open_account(ctx: CaseContext, rule: Rule) -> None:
    account = ctx.open_account()
    ctx.register(account, ctx.claim_spec())
    reply = _anmodning(ctx, account, ctx.env.next_id("ANM"), "close an account with a claim",
                       accept=False, status="LUKKET")
    refused(ctx, reply, rule.id)


def _sub_claim_elsewhere(ctx: CaseContext, rule: Rule) -> None:
    account = ctx.open_account()
    claim = ctx.register(account, ctx.claim_spec())
    reply = _anmodning(ctx, account, ctx.env.next_id("ANM"), "move a sub-claim that is not there",
                       accept=False, move_sub_claims=([f"{claim.claim_id}-X"], claim.claim_id))
    refused(ctx, reply, rule.id)


_CLOCK = frozenset({NEEDS_CLOCK})

#: Rule id → probe, for every rule a debtor system judges through ØIR.
DEBITOR_PROBES: dict[str, Probe] = {
    **{rid: Probe((*_CREATE_STEPS[:1], f"OpretFordring with {what}", _CREATE_STEPS[2]), run)
       for rid, (what, run) in _CREATE.items()},
    "OIR-115": Probe(("OpretDebitorkonto", "OpretFordring with a period starting in five days"),
                     _warning_accepted),
    "PSRM-215": Probe(("OpretFordring 50.00 with SRB today-10", "advance the clock 1 day",
                       "RetFordringTilstand Overdrag"), _below_limit, _CLOCK),
    "PSRM-548": Probe(("OpretFordring", "RetFordringTilstand Nedskriv with VirkningsDato today+5"),
                      _state(_nothing, "Nedskriv", amount=lambda c: D("100.00"),
                             reason=lambda c: "REGU", effective=lambda c: c.day(5))),
    "PSRM-600": Probe(("OpretFordring with TransaktionsID T",
                       "OpretFordring of another claim reusing T"), _transaction_reused),
    "OIR-101": Probe(("OpretFordring with SRB today+45", "RetFordringTilstand Overdrag"),
                     _state(_nothing, "Overdrag", also=("OIR-109",), art=lambda c: "INDR")),
    "OIR-109": Probe(("OpretFordring with SRB today-10 (no reminder sent yet)",
                      "RetFordringTilstand Overdrag"),
                     _state(_nothing, "Overdrag", spec=_past_srb, art=lambda c: "INDR")),
    "OIR-111": Probe(("OpretFordring CFFAKTU 1000.00 and DAGINST 800.00",
                      "ForetagModregning KONTHJ gross 10000.00"), _benefit_closed),
    "OIR-112": Probe(("OpretFordring with SRB today-10", "Henstand until today+30",
                      "RetFordringTilstand Overdrag"),
                     _state(_deferred, "Overdrag", spec=_past_srb, also=("OIR-109",),
                            art=lambda c: "INDR")),
    "OIR-201": Probe(("OpretFordring", "Annuller", "Annuller again"),
                     _state(_cancelled, "Annuller")),
    "OIR-202": Probe(("OpretFordring with SRB today-10", "advance the clock 1 day (hand-over)",
                      "RetFordringTilstand Annuller"),
                     _state(_handed_over, "Annuller", spec=_past_srb), _CLOCK),
    "OIR-203": Probe(("OpretFordring 1500.00", "Nedskriv 2000.00"),
                     _state(_nothing, "Nedskriv", amount=lambda c: D("2000.00"),
                            reason=lambda c: "REGU")),
    "OIR-204": Probe(("OpretFordring", "Henstand until today"),
                     _state(_nothing, "Henstand", deferral_until=lambda c: c.today)),
    "OIR-205": Probe(("OpretFordring with SRB today-10", "advance the clock 1 day (hand-over)",
                      "RetFordringTilstand Overdrag"),
                     _state(_handed_over, "Overdrag", spec=_past_srb, art=lambda c: "INDR"),
                     _CLOCK),
    "OIR-206": Probe(("OpretFordring", "Tilbagekald of the open claim"),
                     _state(_nothing, "Tilbagekald", reason=lambda c: "FEJL")),
    "OIR-301": Probe(("OpretFordring on an account number that does not exist",),
                     _unknown_account),
    "OIR-302": Probe(("RetFordringTilstand on a FordringID that does not exist",), _unknown_claim),
    "OIR-303": Probe(("OpretFordring", "OpretFordring with the same FagsystemFordringID and "
                      "another amount"), _claim_ref_reused),
    "OIR-304": Probe(("ForetagIndbetaling 100.00 with IndbetalingID I",
                      "ForetagIndbetaling 200.00 with I", "HentDebitorkonto"), _payment_reused),
    "OIR-305": Probe(("ForetagModregning with YdelsesudbetalingID Y, gross 3000.00",
                      "ForetagModregning with Y, gross 4000.00"), _benefit_reused),
    "OIR-306": Probe(("ForetagIndbetaling naming only a payer with no account",),
                     _payment_unplaced),
    "OIR-307": Probe(("ForetagIndbetaling with a BetalingsID no invoice has",), _fik_unknown),
    "OIR-308": Probe(("ForetagModregning with benefit type UKENDT",),
                     _benefit_probe("UKENDT", "3000.00", "0.00", "an unknown benefit type")),
    "OIR-309": Probe(("ForetagModregning with protected 4000.00 above gross 3000.00",),
                     _benefit_probe("FOLKEPEN", "3000.00", "4000.00",
                                    "protected amount above the gross")),
    "OIR-310": Probe(("SoegDebitorkonto with a made-up FortsaettelsesToken",), _bad_token),
    "OIR-311": Probe(("OpretDebitorkonto for CPR 3213901234",), _bad_debtor),
    "OIR-312": Probe(("OpretDebitorkonto (reference R, CPR A)",
                      "OpretDebitorkonto (reference R, CPR B)"), _reference_reused),
    "OIR-313": Probe(("OpretDebitorkonto", "AfslutAdministrator for a party that is no "
                      "administrator"), _end_unknown),
    "OIR-314": Probe(("OpretFordring with co-liable party P", "AfslutHaeftelse P today+30",
                      "AfslutHaeftelse P today+60"), _end_moved),
    "OIR-315": Probe(("OpretFordring", "AfslutHaeftelse for the account's own debtor"),
                     _end_own_liability),
    "OIR-316": Probe(("OpretDebitorkontoAnmodning A: close the empty account",
                      "OpretDebitorkontoAnmodning A again: reopen it"), _request_reused),
    "OIR-317": Probe(("OpretDebitorkontoAnmodning: close the empty account",
                      "OpretFordring on it"), _closed_account),
    "OIR-318": Probe(("OpretFordring", "OpretDebitorkontoAnmodning: close the account"),
                     _close_open_account),
    "OIR-319": Probe(("OpretFordring", "OpretDebitorkontoAnmodning FlytDelfordring of a "
                      "sub-claim the account does not have"), _sub_claim_elsewhere),
    "OIR-320": Probe(("OpretFordring of 9,999,999,999,999.99", "OpretFordring of 100.00 on the "
                      "same account", "HentDebitorkonto"), _account_too_large),
}

#: Contexts in which a debtor system judges a rule through its ØIR services.
OIR_CONTEXTS = frozenset({OIR_CREATE, OIR_STATE, HANDOVER, OIR_SERVICE})

#: Why some PSRM-only rules are checked elsewhere (the others: PSRM's own checks).
_PSRM_ONLY_WHY: dict[str, str] = {
    "PSRM-2": "needs PSRM's creditor agreements",
    "PSRM-5": "needs PSRM's debtor register",
    "PSRM-151": "needs PSRM's creditor agreements",
    "PSRM-444": "a delivery without MFOpretFordringStruktur",
    "OIR-116": "ØIR claims always have the account's debtor as hæfter",
}


def psrm_only(rule: Rule) -> bool:
    """A rule the debtor system cannot be asked about through ØIR (checked in the psrm and
    psrm-client roles, and by OIR-PSR-002 on what the debtor system hands over)."""
    return rule.id not in DEBITOR_PROBES and not (rule.applies_to & OIR_CONTEXTS)


def psrm_only_reason(rule: Rule) -> str:
    why = _PSRM_ONLY_WHY.get(rule.id, "judged by PSRM against its own state")
    return f"{why}; checked in the psrm and psrm-client roles"


def _applies(rule: Rule) -> str:
    names = {OIR_CREATE: "OpretFordring", OIR_STATE: "RetFordringTilstand",
             HANDOVER: "hand-over", OIR_SERVICE: "every ØIR operation"}
    return ", ".join(v for k, v in names.items() if k in rule.applies_to) or "PSRM"


def _missing(ctx: CaseContext) -> None:
    raise CaseErrored(f"the suite has no probe for rule {ctx.case.rule_id}: add one to "
                      "oir_adapter/conformance/rule_cases.py")


def _bound(probe: Probe, rule: Rule) -> Callable[[CaseContext], None]:
    def run(ctx: CaseContext) -> None:
        probe.run(ctx, rule)
    return run


def _debitor_case(rule: Rule) -> Case | None:
    if psrm_only(rule):
        return None
    probe = DEBITOR_PROBES.get(rule.id)
    warning = rule.severity == "warning"
    if warning:
        requirement = (f"Warning {rule.id} ({rule.text_en}) is reported but never refuses "
                       "the message.")
        assertions: tuple[str, ...] = ("the request is accepted",)
    else:
        path = expected_path(rule.id)
        requirement = (f"The debtor system refuses a message breaking {rule.id} "
                       f"({rule.text_en}) with FejlKode {rule.id} and stores nothing.")
        assertions = (f"a FejlSamling with FejlKode {rule.id} pointing at its field "
                      f"(catalogue: {path or 'the request'})",
                      "no rule the message does not break is reported", "SvarReaktion FEJL")
    return Case(
        id=f"OIR-RUL-{rule.id}", title=rule_title(rule),
        requirement=requirement, source=f"rule {rule.id} ({rule.source}); applies to "
                                        f"{_applies(rule)}",
        role=Role.DEBITOR, area="RUL", steps=probe.steps if probe else ("(no probe)",),
        assertions=assertions, severity="minor" if warning else "major",
        run=_bound(probe, rule) if probe else _missing,
        hint=f"See docs/rules.md, rule {rule.id}.", needs=probe.needs if probe else frozenset(),
        phase=2 if probe and NEEDS_CLOCK in probe.needs else 1, rule_id=rule.id)


for _rule in RULES:
    _made = _debitor_case(_rule)
    if _made is not None:
        register(_made)
