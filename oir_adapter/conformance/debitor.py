"""Cases of the ``debitor`` role: the suite plays the fagsystem against a debtor system's
ØIR services, and reads what the debtor system sends on to PSRM and back to the fagsystem
at the capture point.

Every case makes its own accounts and claims (fresh CPR numbers and references), so cases
do not depend on each other or on what the target held before; amounts are exact and the
expected figures are worked out here from docs/design.md#rules, never read back from the target.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

import requests
from lxml import etree

from .. import messages
from ..bankdays import is_bank_day, next_bank_day
from ..clients import Reply, SoapFaultError, build_envelope
from ..codecs.psrm import ActionRequest
from ..contracts import (
    OIR_NS,
    SERVICES,
    SOAP11_ENV_NS,
    safe_parser,
    service,
    validate_element,
)
from ..identifiers import is_valid_payment_id
from ..model import ClaimArt, Party
from ..rules import RuleContext, validate_action
from .capture import Captured, actions_for, body_of, deliveries
from .catalogue import case
from .context import Account, CaseContext, CaseErrored, Registered
from .model import NEEDS_ADMIN, NEEDS_CAPTURE, NEEDS_CLOCK, Evidence
from .views import Line, amount, coverage_lines, offset_lines, text

D = Decimal
ZERO = D("0.00")


def _per_claim(lines: Iterable[Line]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for line in lines:
        out[line.claim_id] += line.amount
    return dict(out)


def _shown(lines: Iterable[Line]) -> str:
    return ", ".join(line.short() for line in lines) or "no lines"


def _offset(ctx: CaseContext, recipient: Party, *, benefit_type: str = "FOLKEPEN",
            gross: str, protected: str = "0.00", payout: date | None = None,
            simulate: bool | None = None, benefit_id: str | None = None,
            label: str = "offset against a benefit payment", accept: bool = True,
            ) -> tuple[str, etree._Element]:
    benefit_id = benefit_id or ctx.env.next_id("YDL")
    reply = ctx.call("ForetagModregning", messages.foretag_modregning(
        ctx.caller, benefit_id=benefit_id, recipient=recipient, benefit_type=benefit_type,
        payout=payout or ctx.today, gross=D(gross), protected=D(protected), simulate=simulate),
        label, accept=accept)
    return benefit_id, reply.element


def _result(el: etree._Element) -> etree._Element | None:
    return el.find(f"{{{OIR_NS}}}ModregningResultat")


# ================================================================ registration

@case("OIR-REG-001", "OpretDebitorkonto creates a debtor account",
      requirement="The debtor system creates a debtor account for a CPR number and answers "
                  "with its number.",
      source="docs/design.md#the-øir-services (OpretDebitorkonto)", area="REG", severity="critical",
      steps=("OpretDebitorkonto with a fresh CPR number and fagsystem reference",),
      assertions=("SvarReaktion OK without FejlSamling", "DebitorkontoNummer is given",
                  "Oprettet is true"),
      hint="Answer OpretDebitorkontoResponse with DebitorkontoNummer and Oprettet=true for a "
           "new reference.")
def reg_create_account(ctx: CaseContext) -> None:
    party = ctx.env.cpr()
    reference = ctx.env.next_id("KONF")
    reply = ctx.call("OpretDebitorkonto", messages.opret_debitorkonto(
        ctx.caller, reference=reference, party=party, name="Konformitet Testperson",
        street="Testvej 1", postcode="8000", city="Aarhus C"), "create an account")
    ctx.check(bool(reply.findtext("DebitorkontoNummer")), "DebitorkontoNummer is given",
              got=reply.findtext("DebitorkontoNummer"))
    ctx.equal(reply.findtext("Oprettet"), "true", "Oprettet is true for a new reference")


@case("OIR-REG-002", "OpretDebitorkonto is idempotent on the fagsystem reference",
      requirement="Creating an account again with the same FagsystemReference and debtor gives "
                  "the same account, not a second one.",
      source="docs/design.md#the-øir-services (idempotent on the fagsystem's reference)", area="REG",
      steps=("OpretDebitorkonto (reference R, CPR P)",
             "OpretDebitorkonto again with R and P and a new TransaktionsID"),
      assertions=("both answers carry the same DebitorkontoNummer",
                  "the second answer says Oprettet=false"),
      hint="Look the account up by (MyndighedCVR, FagsystemID, FagsystemReference) before "
           "creating one.")
def reg_account_idempotent(ctx: CaseContext) -> None:
    account = ctx.open_account()
    again = ctx.call("OpretDebitorkonto", messages.opret_debitorkonto(
        ctx.caller, reference=account.reference, party=account.party,
        name=f"Konformitet {account.reference}"), "create the same account again")
    ctx.equal(again.findtext("DebitorkontoNummer"), account.number,
              "the same DebitorkontoNummer comes back")
    ctx.equal(again.findtext("Oprettet"), "false", "Oprettet is false the second time")


@case("OIR-REG-003", "OpretFordring registers a claim and issues its invoice",
      requirement="OpretFordring registers the claim and issues an opkrævning with a FIK "
                  "payment id (15 digits, modulus-10 check digit) for principal plus sub-claims.",
      source="docs/design.md#the-øir-services (OpretFordring: send invoice)", area="REG", severity="critical",
      steps=("OpretDebitorkonto", "OpretFordring: DAGINST 1500.00 with a GEBYR sub-claim of 100.00"),
      assertions=("FordringID is given", "Opkraevning/BetalingsID has a valid check digit",
                  "Opkraevning/Beloeb is 1600.00",
                  "ForfaldsDato and SidsteRettidigeBetalingsDato are not before the claim's"),
      hint="The invoice amount is the principal plus every sub-claim; the payment id is a "
           "14-digit payload and a modulus-10 check digit.")
def reg_create_claim(ctx: CaseContext) -> None:
    account = ctx.open_account()
    spec = ctx.claim_spec(sub_claims=(messages.SubClaimSpec("GEBYR", D("100.00")),))
    reply = ctx.call("OpretFordring", messages.opret_fordring(
        ctx.caller, account_number=account.number, claim=spec), "register a claim")
    ctx.check(bool(reply.findtext("FordringID")), "FordringID is given")
    payment_id = reply.findtext("Opkraevning/BetalingsID") or ""
    ctx.check(is_valid_payment_id(payment_id), "BetalingsID is 15 digits with a valid "
              "modulus-10 check digit", got=payment_id)
    ctx.equal(reply.findtext("Opkraevning/Beloeb"), "1600.00",
              "the invoice is for principal plus sub-claims")
    due = reply.findtext("Opkraevning/ForfaldsDato") or ""
    srb = reply.findtext("Opkraevning/SidsteRettidigeBetalingsDato") or ""
    ctx.check(due >= spec.due_date.isoformat(), "the invoice's due date is not before the "
              "claim's", expected=f">= {spec.due_date}", got=due)
    ctx.check(srb >= spec.srb.isoformat(), "the invoice's SRB is not before the claim's",
              expected=f">= {spec.srb}", got=srb)


@case("OIR-REG-004", "OpretFordring is idempotent on FagsystemFordringID",
      requirement="Registering the same claim again (same FagsystemFordringID and content, new "
                  "TransaktionsID) gives the same claim and invoice, not a second claim.",
      source="docs/design.md#the-øir-services; rule OIR-303", area="REG",
      steps=("OpretFordring", "OpretFordring again with the same Fordring and a new TransaktionsID",
             "HentDebitorkonto"),
      assertions=("both answers carry the same FordringID and BetalingsID",
                  "the account holds one claim"),
      hint="Look the claim up by (account, FagsystemFordringID) first; identical content "
           "answers with the existing claim.")
def reg_claim_idempotent(ctx: CaseContext) -> None:
    account = ctx.open_account()
    spec = ctx.claim_spec()
    first = ctx.register(account, spec)
    again = ctx.call("OpretFordring", messages.opret_fordring(
        ctx.caller, account_number=account.number, claim=spec), "register the same claim again")
    ctx.equal(again.findtext("FordringID"), first.claim_id, "the same FordringID comes back")
    ctx.equal(again.findtext("Opkraevning/BetalingsID"), first.payment_id,
              "the same BetalingsID comes back")
    view = ctx.account(account)
    ctx.equal(sorted(view.claims), [first.claim_id], "the account holds exactly one claim")


@case("OIR-REG-005", "RetFordringTilstand Nedskriv writes a claim down",
      requirement="A write-down reduces what is outstanding by exactly the amount and is "
                  "listed with its reason.",
      source="docs/design.md#the-øir-services (RetFordringTilstand)", area="REG",
      steps=("OpretFordring 1500.00", "RetFordringTilstand Nedskriv 200.00 REGU",
             "HentDebitorkonto"),
      assertions=("Restbeloeb is 1300.00 in the answer and in HentDebitorkonto",
                  "AfskrivningSamling lists 200.00 with AarsagKode REGU"))
def reg_write_down(ctx: CaseContext) -> None:
    account = ctx.open_account()
    claim = ctx.register(account, ctx.claim_spec())
    reply = ctx.change(claim.claim_id, "Nedskriv", amount=D("200.00"), reason="REGU")
    ctx.equal(reply.findtext("Restbeloeb"), "1300.00", "the answer's Restbeloeb is 1300.00")
    view = ctx.account(account)
    ctx.equal(view.claims[claim.claim_id].outstanding, D("1300.00"),
              "HentDebitorkonto shows 1300.00 outstanding")
    ctx.equal([(w.claim_id, w.amount, w.source) for w in view.write_offs],
              [(claim.claim_id, D("200.00"), "REGU")], "the write-down is listed with its reason")


@case("OIR-REG-006", "RetFordringTilstand Annuller cancels a claim",
      requirement="Cancelling an open claim closes it with nothing outstanding.",
      source="docs/design.md#the-øir-services (RetFordringTilstand)", area="REG",
      steps=("OpretFordring", "RetFordringTilstand Annuller", "HentDebitorkonto"),
      assertions=("Status ANNULLERET and Restbeloeb 0.00 in the answer",
                  "HentDebitorkonto shows the claim ANNULLERET"))
def reg_cancel(ctx: CaseContext) -> None:
    account = ctx.open_account()
    claim = ctx.register(account, ctx.claim_spec())
    reply = ctx.change(claim.claim_id, "Annuller", reason="Fejlregistrering")
    ctx.equal(reply.findtext("Status"), "ANNULLERET", "the answer says ANNULLERET")
    ctx.equal(reply.findtext("Restbeloeb"), "0.00", "nothing is outstanding")
    ctx.equal(ctx.account(account).claims[claim.claim_id].status, "ANNULLERET",
              "HentDebitorkonto shows the claim ANNULLERET")


@case("OIR-REG-007", "RetFordringTilstand Henstand grants a deferral",
      requirement="A deferral is recorded on the claim with its end date.",
      source="docs/design.md#the-øir-services (deferral, henstand)", area="REG",
      steps=("OpretFordring", "RetFordringTilstand Henstand until today+30", "HentDebitorkonto"),
      assertions=("HenstandTilDato is today+30 in HentDebitorkonto",))
def reg_deferral(ctx: CaseContext) -> None:
    account = ctx.open_account()
    claim = ctx.register(account, ctx.claim_spec())
    until = ctx.day(30)
    ctx.change(claim.claim_id, "Henstand", deferral_until=until)
    ctx.equal(ctx.account(account).claims[claim.claim_id].deferral_until, until,
              "HentDebitorkonto shows the deferral's end date")


# ================================================================ queries

@case("OIR-QRY-001", "SoegDebitorkonto finds an account by CPR and by reference",
      requirement="Accounts can be searched by CPR/CVR and by the fagsystem's reference.",
      source="docs/design.md#the-øir-services (SoegDebitorkonto)", area="QRY", severity="critical",
      steps=("OpretDebitorkonto", "SoegDebitorkonto by Part/CPRNummer",
             "SoegDebitorkonto by FagsystemReference"),
      assertions=("each search finds exactly the account created",))
def qry_search(ctx: CaseContext) -> None:
    account = ctx.open_account()
    for label, body in (
            ("search by CPR", messages.soeg_debitorkonto(ctx.caller, party=account.party)),
            ("search by reference", messages.soeg_debitorkonto(ctx.caller,
                                                               reference=account.reference))):
        reply = ctx.call("SoegDebitorkonto", body, label)
        found = [e.text for e in reply.element.iter(f"{{{OIR_NS}}}DebitorkontoNummer")]
        ctx.equal(found, [account.number], f"{label}: exactly the account is found")


@case("OIR-QRY-002", "SoegDebitorkonto pages with a continuation token",
      requirement="A search is paged: MaksAntal caps a page, FortsaettelsesToken continues it, "
                  "and no account is lost or repeated.",
      source="docs/design.md#the-øir-services (paged with a continuation token)", area="QRY",
      steps=("OpretDebitorkonto three times, names sharing a run-unique prefix",
             "SoegDebitorkonto by NavnPrefix with MaksAntal 2",
             "SoegDebitorkonto again with the FortsaettelsesToken"),
      assertions=("the first page holds 2 accounts and a token",
                  "the second page holds 1 account and no token",
                  "together they are the three accounts, each once"))
def qry_paging(ctx: CaseContext) -> None:
    prefix = f"Paging{ctx.env.token}"
    made = {ctx.open_account(name=f"{prefix} {n}").number for n in range(3)}
    first = ctx.call("SoegDebitorkonto", messages.soeg_debitorkonto(
        ctx.caller, name_prefix=prefix, max_count=2), "first page")
    page1 = [e.text or "" for e in first.element.iter(f"{{{OIR_NS}}}DebitorkontoNummer")]
    token = first.findtext("FortsaettelsesToken")
    ctx.equal(len(page1), 2, "the first page holds MaksAntal=2 accounts", )
    ctx.check(bool(token), "the first page carries a FortsaettelsesToken")
    second = ctx.call("SoegDebitorkonto", messages.soeg_debitorkonto(
        ctx.caller, name_prefix=prefix, max_count=2, token=token), "second page")
    page2 = [e.text or "" for e in second.element.iter(f"{{{OIR_NS}}}DebitorkontoNummer")]
    ctx.equal(len(page2), 1, "the second page holds the last account")
    ctx.check(second.findtext("FortsaettelsesToken") is None, "the last page has no token",
              got=second.findtext("FortsaettelsesToken"))
    ctx.equal(sorted(page1 + page2), sorted(made), "both pages together are the three "
              "accounts, each once")


@case("OIR-QRY-003", "HentDebitorkonto shows a claim as it was registered",
      requirement="One account in full: the claim with its amounts, dates, sub-claims and "
                  "invoice, as registered.",
      source="docs/design.md#the-øir-services (HentDebitorkonto)", area="QRY", severity="critical",
      steps=("OpretFordring: CFFAKTU 1000.00 with RENTE 50.00", "HentDebitorkonto"),
      assertions=("type, principal, period and dates are as registered",
                  "the sub-claim is listed with 50.00", "status AABEN, Restbeloeb 1050.00",
                  "the invoice's BetalingsID is the one OpretFordring gave"))
def qry_account(ctx: CaseContext) -> None:
    account = ctx.open_account()
    spec = ctx.claim_spec(type_code="CFFAKTU", principal="1000.00",
                          sub_claims=(messages.SubClaimSpec("RENTE", D("50.00")),))
    claim = ctx.register(account, spec)
    view = ctx.account(account)
    c = view.claims.get(claim.claim_id)
    ctx.check(c is not None, "the claim is on the account", got=sorted(view.claims))
    assert c is not None
    ctx.equal((c.type_code, c.principal, c.period_from, c.period_to, c.founded, c.due_date,
               c.srb), (spec.type_code, spec.principal, spec.period_from, spec.period_to,
                        spec.founded, spec.due_date, spec.srb),
              "type, principal, period and dates are as registered")
    ctx.equal([(s.type_code, s.amount) for s in c.sub_claims], [("RENTE", D("50.00"))],
              "the sub-claim is listed")
    ctx.equal((c.status, c.outstanding), ("AABEN", D("1050.00")), "open with 1050.00 outstanding")
    ctx.equal(c.payment_id, claim.payment_id, "the invoice keeps its BetalingsID")


# ================================================================ payments

@case("OIR-PAY-001", "ForetagIndbetaling books a payment",
      requirement="A payment covers open claims; the coverage lines add up to the amount and "
                  "what is outstanding goes down by exactly that.",
      source="docs/design.md#the-øir-services (ForetagIndbetaling)", area="PAY", severity="critical",
      steps=("OpretFordring 1500.00", "ForetagIndbetaling 400.00 to the account",
             "HentDebitorkonto"),
      assertions=("the coverage lines add up to 400.00 and Overskud is 0.00",
                  "the claim has 1100.00 outstanding and the payment is listed"))
def pay_book(ctx: CaseContext) -> None:
    account = ctx.open_account()
    claim = ctx.register(account, ctx.claim_spec())
    payment_id = ctx.env.next_id("IND")
    reply = ctx.pay(account, "400.00", payment_id=payment_id)
    lines = [line for line in _lines(reply.element)]
    ctx.equal(_per_claim(lines), {claim.claim_id: D("400.00")}, "400.00 covers the claim")
    ctx.equal(reply.findtext("Indbetaling/Overskud"), "0.00", "no surplus")
    view = ctx.account(account)
    ctx.equal(view.claims[claim.claim_id].outstanding, D("1100.00"), "1100.00 is outstanding")
    ctx.check(any(p[0] == payment_id for p in view.payments), "the payment is listed",
              got=[p[0] for p in view.payments])


def _lines(response: etree._Element) -> list[Line]:

    return coverage_lines(response, "Indbetaling/DaekningSamling/Daekning")


@case("OIR-PAY-002", "Coverage order: fines before other claims",
      requirement="Payments cover fines first, whatever the age of the other claims.",
      source="gældsinddrivelsesloven § 4 (fines first); docs/design.md#coverage-order", area="PAY",
      severity="critical",
      steps=("OpretFordring CFFAKTU 1000.00 (registered first)", "OpretFordring BOEDE 500.00",
             "ForetagIndbetaling 700.00 to the account"),
      assertions=("the fine is covered in full (500.00) before the invoice claim",
                  "the invoice claim gets the remaining 200.00"),
      hint="Sort open claims by coverage category (fines, private maintenance, public "
           "maintenance, other) before age.")
def pay_fines_first(ctx: CaseContext) -> None:
    account = ctx.open_account()
    other = ctx.register(account, ctx.claim_spec(type_code="CFFAKTU", principal="1000.00",
                                                  founded=-30), "register an invoice claim")
    fine = ctx.register(account, ctx.claim_spec(type_code="BOEDE", principal="500.00",
                                                 founded=-5), "register a fine")
    lines = _lines(ctx.pay(account, "700.00").element)
    ctx.equal(_per_claim(lines), {fine.claim_id: D("500.00"), other.claim_id: D("200.00")},
              "the fine takes 500.00, the invoice claim 200.00", hint=_ORDER_HINT)
    ctx.equal(lines[0].claim_id, fine.claim_id, "the first coverage line is the fine's",
              hint=_ORDER_HINT)


_ORDER_HINT = ("Apply the coverage order (gældsinddrivelsesloven § 4, docs/design.md#coverage-order): category (fines first), then oldest receipt date, then "
               "founding date, then id; within a claim interest and fees before principal.")


@case("OIR-PAY-003", "Coverage order: interest and fees before principal",
      requirement="Within one claim, interest and fee sub-claims are covered before the "
                  "principal.",
      source="docs/design.md#coverage-order (within one claim interest and fees before principal)", area="PAY",
      severity="critical",
      steps=("OpretFordring CFFAKTU 1000.00 with RENTE 50.00 and GEBYR 100.00",
             "ForetagIndbetaling 200.00", "HentDebitorkonto"),
      assertions=("150.00 covers the two sub-claims, 50.00 the principal",
                  "both sub-claims are left at 0.00, 950.00 is outstanding"),
      hint=_ORDER_HINT)
def pay_interest_first(ctx: CaseContext) -> None:
    account = ctx.open_account()
    claim = ctx.register(account, ctx.claim_spec(
        type_code="CFFAKTU", principal="1000.00",
        sub_claims=(messages.SubClaimSpec("RENTE", D("50.00")),
                    messages.SubClaimSpec("GEBYR", D("100.00")))))
    lines = _lines(ctx.pay(account, "200.00").element)
    on_subs = sum((x.amount for x in lines if x.sub_claim_id), ZERO)
    on_principal = sum((x.amount for x in lines if not x.sub_claim_id), ZERO)
    ctx.equal((on_subs, on_principal), (D("150.00"), D("50.00")),
              "sub-claims take 150.00 and the principal 50.00", hint=_ORDER_HINT)
    c = ctx.account(account).claims[claim.claim_id]
    ctx.equal([s.remaining for s in c.sub_claims], [ZERO, ZERO], "both sub-claims are covered")
    ctx.equal(c.outstanding, D("950.00"), "950.00 is outstanding")


@case("OIR-PAY-004", "Coverage order: oldest first within a category",
      requirement="Within a category, claims are covered oldest first: by receipt date, ties "
                  "by founding date.",
      source="docs/design.md#coverage-order (oldest first by receipt date, ties by founding date then id)",
      area="PAY", severity="major",
      steps=("OpretFordring DAGINST 600.00 founded today-5 (registered first)",
             "OpretFordring DAGINST 600.00 founded today-20 (same receipt date)",
             "ForetagIndbetaling 700.00"),
      assertions=("the claim founded earlier is covered in full first (600.00)",
                  "the other gets 100.00"), hint=_ORDER_HINT)
def pay_oldest_first(ctx: CaseContext) -> None:
    account = ctx.open_account()
    newer = ctx.register(account, ctx.claim_spec(principal="600.00", founded=-5),
                         "register the newer claim first")
    older = ctx.register(account, ctx.claim_spec(principal="600.00", founded=-20),
                         "register the older claim second")
    lines = _lines(ctx.pay(account, "700.00").element)
    ctx.check(_per_claim(lines) == {older.claim_id: D("600.00"), newer.claim_id: D("100.00")},
              "the claim founded earlier is covered first",
              expected=f"{older.claim_id} 600.00, {newer.claim_id} 100.00", got=_shown(lines),
              hint=_ORDER_HINT)


@case("OIR-PAY-005", "A payment with a FIK payment id covers that claim first",
      requirement="A payment carrying a BetalingsID covers the invoice's claim first, "
                  "whatever the coverage order says.",
      source="docs/design.md#coverage-order (a payment carrying a FIK id covers that claim first)", area="PAY",
      steps=("OpretFordring A DAGINST 500.00 founded today-20", "OpretFordring B DAGINST 800.00",
             "ForetagIndbetaling 300.00 with B's BetalingsID"),
      assertions=("all 300.00 covers B",))
def pay_fik(ctx: CaseContext) -> None:
    account = ctx.open_account()
    ctx.register(account, ctx.claim_spec(principal="500.00", founded=-20), "register claim A")
    b = ctx.register(account, ctx.claim_spec(principal="800.00", founded=-5), "register claim B")
    lines = _lines(ctx.pay(account, "300.00", fik=b.payment_id, label="pay with B's FIK id"
                           ).element)
    ctx.check(_per_claim(lines) == {b.claim_id: D("300.00")}, "all of it covers B",
              expected=f"{b.claim_id} 300.00", got=_shown(lines),
              hint="Find the claim by the invoice's BetalingsID and cover it before the rest.")


@case("OIR-PAY-006", "Surplus is reported, never lost",
      requirement="What a payment cannot cover is reported as Overskud and kept on the "
                  "account as a credit.",
      source="docs/design.md#the-øir-services (surplus is reported, never lost)", area="PAY",
      steps=("OpretFordring 500.00", "ForetagIndbetaling 650.00", "HentDebitorkonto"),
      assertions=("coverage 500.00 and Overskud 150.00",
                  "the claim is paid (Restbeloeb 0.00)", "Tilgodehavende is 150.00"))
def pay_surplus(ctx: CaseContext) -> None:
    account = ctx.open_account()
    claim = ctx.register(account, ctx.claim_spec(principal="500.00"))
    reply = ctx.pay(account, "650.00")
    ctx.equal(_per_claim(_lines(reply.element)), {claim.claim_id: D("500.00")},
              "500.00 covers the claim")
    ctx.equal(reply.findtext("Indbetaling/Overskud"), "150.00", "Overskud is 150.00")
    view = ctx.account(account)
    ctx.equal(view.claims[claim.claim_id].outstanding, ZERO, "nothing is outstanding")
    ctx.equal(view.credit, D("150.00"), "Tilgodehavende keeps the 150.00")


@case("OIR-PAY-007", "SoegDelfordringTilIndbetaling previews without booking",
      requirement="The preview shows exactly what a payment would cover, and books nothing.",
      source="docs/design.md#the-øir-services (SoegDelfordringTilIndbetaling)", area="PAY",
      steps=("OpretFordring CFFAKTU 1000.00 with RENTE 50.00",
             "SoegDelfordringTilIndbetaling 300.00", "HentDebitorkonto",
             "ForetagIndbetaling 300.00"),
      assertions=("after the preview 1050.00 is still outstanding",
                  "the payment's coverage lines equal the preview's"))
def pay_preview(ctx: CaseContext) -> None:
    account = ctx.open_account()
    claim = ctx.register(account, ctx.claim_spec(
        type_code="CFFAKTU", principal="1000.00",
        sub_claims=(messages.SubClaimSpec("RENTE", D("50.00")),)))
    payment_id = ctx.env.next_id("IND")
    preview = ctx.call("SoegDelfordringTilIndbetaling", messages.soeg_delfordring_til_indbetaling(
        ctx.caller, payment_id=payment_id, amount=D("300.00"), paid=ctx.today,
        account_number=account.number), "preview a payment of 300.00")
    planned = [(x.claim_id, x.amount, bool(x.sub_claim_id)) for x in _lines(preview.element)]
    ctx.equal(ctx.account(account).claims[claim.claim_id].outstanding, D("1050.00"),
              "the preview booked nothing")
    booked = [(x.claim_id, x.amount, bool(x.sub_claim_id))
              for x in _lines(ctx.pay(account, "300.00", payment_id=payment_id).element)]
    ctx.equal(booked, planned, "the payment covers what the preview showed")


# ================================================================ offsetting

@case("OIR-OFF-001", "Offsetting never takes more than gross minus the protected amount",
      requirement="An offset takes at most gross minus the protected amount; the net payout "
                  "is the rest.",
      source="docs/design.md#offsetting-order-and-limits (never more than gross minus the protected amount)", area="OFF",
      severity="critical",
      steps=("OpretFordring DAGINST 1500.00 due today-5",
             "ForetagModregning FOLKEPEN payout today, gross 3000.00, protected 2800.00",
             "HentDebitorkonto"),
      assertions=("ModregnetIAlt 200.00, Nettoudbetaling 2800.00, Status BOOKET",
                  "the claim has 1300.00 outstanding"),
      hint="Cap the offsets at gross − BeskyttetBeloeb before any per-benefit share.")
def off_protected(ctx: CaseContext) -> None:
    account = ctx.open_account()
    claim = ctx.register(account, ctx.claim_spec(due=-5, srb=30))
    _bid, el = _offset(ctx, account.party, gross="3000.00", protected="2800.00")
    r = _result(el)
    ctx.equal((amount(r, "ModregnetIAlt"), amount(r, "Nettoudbetaling"), text(r, "Status")),
              (D("200.00"), D("2800.00"), "BOOKET"), "200.00 is offset, 2800.00 paid out")
    ctx.equal(ctx.account(account).claims[claim.claim_id].outstanding, D("1300.00"),
              "the claim has 1300.00 outstanding")


@case("OIR-OFF-002", "Offsetting respects the benefit type's maximum share",
      requirement="Per benefit type the offsets take at most the table's share of the gross "
                  "payout (pension: 20 %).",
      source="docs/design.md#tables (benefit types × claim types, maximum share)", area="OFF",
      steps=("OpretFordring DAGINST 1500.00 due today-5",
             "ForetagModregning FOLKEPEN payout today, gross 3000.00, protected 0.00"),
      assertions=("ModregnetIAlt 600.00 (20 % of 3000.00), Nettoudbetaling 2400.00",))
def off_share(ctx: CaseContext) -> None:
    account = ctx.open_account()
    ctx.register(account, ctx.claim_spec(due=-5, srb=30))
    _bid, el = _offset(ctx, account.party, gross="3000.00")
    r = _result(el)
    ctx.equal((amount(r, "ModregnetIAlt"), amount(r, "Nettoudbetaling")),
              (D("600.00"), D("2400.00")), "20 % of the pension is offset")


@case("OIR-OFF-003", "Simulering previews an offset without booking it",
      requirement="With Simulering=true the answer shows the offsets (Status SIMULERET) and "
                  "nothing is booked.",
      source="docs/design.md#the-øir-services (Simulering=true previews without booking)", area="OFF",
      steps=("OpretFordring DAGINST 1500.00 due today-5",
             "ForetagModregning Simulering=true, FOLKEPEN gross 3000.00", "HentDebitorkonto"),
      assertions=("Status SIMULERET, ModregnetIAlt 600.00",
                  "the account has no offsets and 1500.00 outstanding"))
def off_simulate(ctx: CaseContext) -> None:
    account = ctx.open_account()
    claim = ctx.register(account, ctx.claim_spec(due=-5, srb=30))
    _bid, el = _offset(ctx, account.party, gross="3000.00", simulate=True)
    r = _result(el)
    ctx.equal((text(r, "Status"), amount(r, "ModregnetIAlt")), ("SIMULERET", D("600.00")),
              "the simulation shows 600.00")
    view = ctx.account(account)
    ctx.equal((view.offsets, view.claims[claim.claim_id].outstanding), ([], D("1500.00")),
              "nothing was booked")


@case("OIR-OFF-004", "Claims with ModregningTilladt=false are not offset",
      requirement="A claim registered with ModregningTilladt=false is skipped by offsetting.",
      source="docs/design.md#offsetting-order-and-limits; rule OIR-110", area="OFF",
      steps=("OpretFordring A DAGINST 1000.00 ModregningTilladt=false (older)",
             "OpretFordring B DAGINST 1000.00", "ForetagModregning FOLKEPEN gross 3000.00"),
      assertions=("all 600.00 is offset against B, nothing against A",))
def off_not_allowed(ctx: CaseContext) -> None:
    account = ctx.open_account()
    ctx.register(account, ctx.claim_spec(principal="1000.00", due=-5, srb=30, founded=-30,
                                         offsetting_allowed=False), "register claim A (no offset)")
    b = ctx.register(account, ctx.claim_spec(principal="1000.00", due=-5, srb=30),
                     "register claim B")
    _bid, el = _offset(ctx, account.party, gross="3000.00")
    lines = offset_lines(_result(el))
    ctx.check(_per_claim(lines) == {b.claim_id: D("600.00")}, "only B is offset (600.00)",
              expected=f"{b.claim_id} 600.00", got=_shown(lines),
              hint="Skip claims whose ModregningTilladt is false.")


@case("OIR-OFF-005", "Deferral blocks offsetting",
      requirement="A claim with a deferral in force is not offset.",
      source="docs/design.md#offsetting-order-and-limits (a claim with deferral is skipped); rule OIR-112", area="OFF",
      steps=("OpretFordring DAGINST 1000.00 due today-5", "Henstand until today+30",
             "ForetagModregning FOLKEPEN gross 3000.00"),
      assertions=("nothing is offset (ModregnetIAlt 0.00, Nettoudbetaling 3000.00)",))
def off_deferral(ctx: CaseContext) -> None:
    account = ctx.open_account()
    claim = ctx.register(account, ctx.claim_spec(principal="1000.00", due=-5, srb=30))
    ctx.change(claim.claim_id, "Henstand", deferral_until=ctx.day(30))
    _bid, el = _offset(ctx, account.party, gross="3000.00")
    r = _result(el)
    ctx.equal((amount(r, "ModregnetIAlt"), amount(r, "Nettoudbetaling")),
              (ZERO, D("3000.00")), "nothing is offset while the deferral runs")


@case("OIR-OFF-006", "An announced payout is offset on its payout date",
      requirement="A payout date in the future announces the payment: the answer plans the "
                  "offsets, and on the payout date they are booked and reported.",
      source="docs/design.md#the-øir-services (ForetagModregning announces a future payout); docs/design.md#virtual-clock",
      area="OFF", needs=(NEEDS_CLOCK,), phase=2,
      steps=("OpretFordring DAGINST 1500.00 due today-5",
             "ForetagModregning FOLKEPEN payout today+2, gross 3000.00",
             "HentDebitorkonto", "advance the clock 2 days", "HentDebitorkonto"),
      assertions=("the answer says PLANLAGT with 600.00", "before the payout date nothing is "
                  "booked (1500.00 outstanding)",
                  "after it 600.00 is booked (BOOKET) and 900.00 is outstanding"))
def off_announced(ctx: CaseContext) -> None:
    ctx.require(NEEDS_CLOCK)
    account = ctx.open_account()
    claim = ctx.register(account, ctx.claim_spec(due=-5, srb=30))
    bid, el = _offset(ctx, account.party, gross="3000.00", payout=ctx.day(2),
                      label="announce a payout in two days")
    r = _result(el)
    ctx.equal((text(r, "Status"), amount(r, "ModregnetIAlt")), ("PLANLAGT", D("600.00")),
              "the answer plans 600.00")
    ctx.equal(ctx.account(account).claims[claim.claim_id].outstanding, D("1500.00"),
              "nothing is booked before the payout date")
    ctx.advance(2)
    view = ctx.account(account, "read the account on the payout date")
    booked = [o for o in view.offsets if o.source_id == bid and o.status == "BOOKET"]
    ctx.check(sum((o.amount for o in booked), ZERO) == D("600.00"),
              "600.00 is booked on the payout date", expected="600.00 BOOKET",
              got=_shown(view.offsets))
    ctx.equal(view.claims[claim.claim_id].outstanding, D("900.00"), "900.00 is outstanding")


# ================================================================ idempotency

@case("OIR-IDM-001", "A repeated TransaktionsID with the same body replays the answer",
      requirement="A repeated TransaktionsID with the same body replays the same answer.",
      source="docs/design.md#idempotency", area="IDM", severity="critical",
      steps=("OpretDebitorkonto with TransaktionsID T", "the same request again (same T)"),
      assertions=("the same DebitorkontoNummer and Oprettet come back",))
def idm_replay(ctx: CaseContext) -> None:
    body = messages.opret_debitorkonto(ctx.caller, reference=ctx.env.next_id("KONF"),
                                       party=ctx.env.cpr(), name="Konformitet Replay")
    first = ctx.call("OpretDebitorkonto", body, "create an account")
    again = ctx.call("OpretDebitorkonto", body, "send the identical request again")
    ctx.equal((again.findtext("DebitorkontoNummer"), again.findtext("Oprettet")),
              (first.findtext("DebitorkontoNummer"), first.findtext("Oprettet")),
              "the repeated request gets the same answer",
              hint="Store each answer under its TransaktionsID and replay it for a repeat.")


@case("OIR-IDM-002", "A repeated TransaktionsID with another body is refused",
      requirement="Reusing a TransaktionsID for a different request is refused (PSRM 600) "
                  "and changes nothing.",
      source="docs/design.md#idempotency (another body is refused); PSRM rule 600", area="IDM",
      severity="critical",
      steps=("OpretDebitorkonto with TransaktionsID T, reference R1",
             "OpretDebitorkonto with T again but reference R2",
             "SoegDebitorkonto by R2"),
      assertions=("the second answer has FejlKode PSRM-600 at Hovedoplysninger/TransaktionsID",
                  "no account with R2 exists"))
def idm_conflict(ctx: CaseContext) -> None:
    import uuid
    tid = str(uuid.uuid4())
    ctx.call("OpretDebitorkonto", messages.opret_debitorkonto(
        ctx.caller, reference=ctx.env.next_id("KONF"), party=ctx.env.cpr(), name="Konformitet A",
        transaction_id=tid), "create an account with TransaktionsID T")
    r2 = ctx.env.next_id("KONF")
    reply = ctx.call("OpretDebitorkonto", messages.opret_debitorkonto(
        ctx.caller, reference=r2, party=ctx.env.cpr(), name="Konformitet B",
        transaction_id=tid), "reuse T for another account", accept=False)
    ctx.check(any(e.code == "PSRM-600" and e.field == "Hovedoplysninger/TransaktionsID"
                  for e in reply.errors), "the reuse is refused with PSRM-600 at "
              "Hovedoplysninger/TransaktionsID", expected="PSRM-600",
              got="; ".join(str(e) for e in reply.errors) or "accepted")
    found = ctx.call("SoegDebitorkonto", messages.soeg_debitorkonto(ctx.caller, reference=r2),
                     "search for the second reference")
    ctx.equal([e.text for e in found.element.iter(f"{{{OIR_NS}}}DebitorkontoNummer")], [],
              "no account was created for the refused request")


@case("OIR-IDM-003", "A repeated payment is booked once",
      requirement="ForetagIndbetaling is idempotent on IndbetalingID: the same payment sent "
                  "again (new TransaktionsID) answers the same and books nothing more.",
      source="docs/design.md#the-øir-services (idempotent on IndbetalingID)", area="IDM", severity="critical",
      steps=("OpretFordring 1500.00", "ForetagIndbetaling 400.00 with IndbetalingID I",
             "the same payment again with a new TransaktionsID", "HentDebitorkonto"),
      assertions=("both answers carry the same coverage lines",
                  "the account lists the payment once and has 1100.00 outstanding"),
      hint="Look the payment up by IndbetalingID before booking; identical content answers "
           "with the booked lines.")
def idm_payment(ctx: CaseContext) -> None:
    account = ctx.open_account()
    claim = ctx.register(account, ctx.claim_spec())
    pid = ctx.env.next_id("IND")
    first = _lines(ctx.pay(account, "400.00", payment_id=pid).element)
    again = _lines(ctx.pay(account, "400.00", payment_id=pid, label="send the payment again")
                   .element)
    ctx.equal([(x.claim_id, x.amount) for x in again], [(x.claim_id, x.amount) for x in first],
              "the repeat answers with the same coverage")
    view = ctx.account(account)
    ctx.equal([p[0] for p in view.payments].count(pid), 1, "the payment is listed once")
    ctx.equal(view.claims[claim.claim_id].outstanding, D("1100.00"),
              "the claim was covered once (1100.00 outstanding)")


@case("OIR-IDM-004", "A repeated benefit payment is offset once",
      requirement="ForetagModregning is idempotent on YdelsesudbetalingID.",
      source="docs/design.md#the-øir-services (idempotent on YdelsesudbetalingID)", area="IDM",
      steps=("OpretFordring DAGINST 1500.00 due today-5",
             "ForetagModregning FOLKEPEN gross 3000.00 with id Y",
             "the same ForetagModregning again (new TransaktionsID)", "HentDebitorkonto"),
      assertions=("both answers offset 600.00", "the claim has 900.00 outstanding"))
def idm_offset(ctx: CaseContext) -> None:
    account = ctx.open_account()
    claim = ctx.register(account, ctx.claim_spec(due=-5, srb=30))
    bid, el1 = _offset(ctx, account.party, gross="3000.00")
    _bid, el2 = _offset(ctx, account.party, gross="3000.00", benefit_id=bid,
                        label="send the same benefit payment again")
    ctx.equal((amount(_result(el1), "ModregnetIAlt"), amount(_result(el2), "ModregnetIAlt")),
              (D("600.00"), D("600.00")), "both answers show the same 600.00")
    ctx.equal(ctx.account(account).claims[claim.claim_id].outstanding, D("900.00"),
              "the offset was booked once")


# ================================================================ faults

def _raw_post(ctx: CaseContext, operation: str, data: bytes, soap_action: str,
              label: str) -> requests.Response:
    client = ctx.env.clients.for_operation(operation)
    try:
        r = ctx.env.target.session.post(client.endpoint, data=data, timeout=ctx.env.options.timeout,
                                        headers={"Content-Type": "text/xml; charset=utf-8",
                                                 "SOAPAction": f'"{soap_action}"'})
    except requests.RequestException as exc:
        raise CaseErrored(f"{operation}: {exc}") from exc
    ctx.evidence.append(Evidence(label, "http", client.endpoint, "POST", operation,
                                 data.decode("utf-8", "replace"), r.text, r.status_code,
                                 round(r.elapsed.total_seconds() * 1000, 2)))
    return r


def _fault_code(text: str) -> str | None:
    try:
        root = etree.fromstring(text.encode("utf-8"), safe_parser())
    except etree.XMLSyntaxError:
        return None
    fault = root.find(f"{{{SOAP11_ENV_NS}}}Body/{{{SOAP11_ENV_NS}}}Fault")
    code = fault.findtext("faultcode") if fault is not None else None
    return code.rpartition(":")[2] if code else None


@case("OIR-ERR-001", "A schema-invalid request gets a SOAP Client fault",
      requirement="A request that does not validate against the XSD is answered with a SOAP "
                  "1.1 Fault, faultcode Client, HTTP 500, and a detail naming the violation.",
      source="docs/design.md#requests-and-faults (invalid → SOAP 1.1 Fault, HTTP 500, faultcode Client)", area="ERR",
      severity="critical",
      steps=("OpretFordring whose Fordring lacks Hovedstol",),
      assertions=("HTTP 500 with a SOAP Fault", "faultcode is Client",
                  "the detail names the missing or wrong element"),
      hint="Validate every request against the XSD first and answer a Client fault listing "
           "each violation with its path.")
def err_schema(ctx: CaseContext) -> None:
    account = ctx.open_account()
    body = messages.opret_fordring(ctx.caller, account_number=account.number,
                                   claim=ctx.claim_spec())
    fordring = body.find(f"{{{OIR_NS}}}Fordring")
    assert fordring is not None
    fordring.remove(fordring.find(f"{{{OIR_NS}}}Hovedstol"))  # type: ignore[arg-type]
    got = ctx.try_call("OpretFordring", body, "register a claim without Hovedstol")
    ctx.check(isinstance(got, SoapFaultError), "the answer is a SOAP Fault",
              expected="SOAP Fault", got=type(got).__name__ if not isinstance(got, SoapFaultError)
              else None)
    assert isinstance(got, SoapFaultError)
    ctx.equal(got.http_status, 500, "HTTP status 500")
    ctx.equal(got.kind, "Client", "faultcode Client")
    named = " ".join(got.violations) + " " + got.faultstring
    ctx.check("Hovedstol" in named or "Fordring" in named, "the fault names the wrong element",
              expected="a violation mentioning Fordring/Hovedstol", got=named.strip()[:400])


@case("OIR-ERR-002", "XML that is not well-formed gets a SOAP Client fault",
      requirement="A request that is not well-formed XML gets a SOAP 1.1 Client fault, not a "
                  "crash or an HTML page.",
      source="docs/design.md#requests-and-faults (hardened parsing: a bad input gets a clear fault)", area="ERR",
      steps=("POST a truncated envelope to DebitorRegistrering",),
      assertions=("HTTP 4xx/5xx with a SOAP Fault whose faultcode is Client",))
def err_malformed(ctx: CaseContext) -> None:
    op = service("DebitorRegistrering").operation("OpretDebitorkonto")
    r = _raw_post(ctx, "OpretDebitorkonto", b"<?xml version='1.0'?><soap:Envelope xmlns:soap="
                  b"'http://schemas.xmlsoap.org/soap/envelope/'><soap:Body><broken",
                  op.soap_action, "post a truncated envelope")
    ctx.check(r.status_code >= 400, "an error status", expected="HTTP 4xx/5xx", got=r.status_code)
    ctx.equal(_fault_code(r.text), "Client", "a SOAP Fault with faultcode Client")


@case("OIR-ERR-003", "A SOAPAction that does not match the body is refused",
      requirement="The operation is dispatched by SOAPAction and the Body's first child; a "
                  "mismatch is a Client fault.",
      source="docs/design.md#requests-and-faults (dispatch by SOAPAction and the Body's first child)", area="ERR",
      severity="minor",
      steps=("POST an OpretDebitorkontoRequest with the SOAPAction of OpretFordring",),
      assertions=("a SOAP Fault with faultcode Client",))
def err_soap_action(ctx: CaseContext) -> None:
    body = messages.opret_debitorkonto(ctx.caller, reference=ctx.env.next_id("KONF"),
                                       party=ctx.env.cpr(), name="Konformitet SOAPAction")
    data = etree.tostring(build_envelope(body), xml_declaration=True, encoding="utf-8")
    other = service("DebitorRegistrering").operation("OpretFordring").soap_action
    r = _raw_post(ctx, "OpretDebitorkonto", data, other, "post with a mismatched SOAPAction")
    ctx.equal(_fault_code(r.text), "Client", "a SOAP Fault with faultcode Client")


@case("OIR-ERR-004", "Each service serves its WSDL at ?wsdl",
      requirement="GET <endpoint>?wsdl serves the WSDL with soap:address pointing at the "
                  "endpoint called.",
      source="docs/design.md#serving (GET <endpoint>?wsdl)", area="ERR", severity="minor",
      steps=("GET ?wsdl on each ØIR service the debtor system offers",),
      assertions=("HTTP 200 with a wsdl:definitions document",
                  "soap:address location is the endpoint itself"),
      hint="Rewrite soap:address (and schemaLocation) to the scheme, host and port the "
           "?wsdl request came in on, so generated clients call back the same endpoint.")
def err_wsdl(ctx: CaseContext) -> None:
    for name in (s.name for s in SERVICES if s.end == "oir"):
        endpoint = ctx.env.clients[name].endpoint
        try:
            r = ctx.env.target.session.get(f"{endpoint}?wsdl", timeout=ctx.env.options.timeout)
        except requests.RequestException as exc:
            raise CaseErrored(f"GET {endpoint}?wsdl: {exc}") from exc
        ctx.evidence.append(Evidence(f"WSDL of {name}", "http", f"{endpoint}?wsdl", "GET",
                                     response=r.text[:5000], http_status=r.status_code))
        ctx.equal(r.status_code, 200, f"{name}?wsdl answers HTTP 200")
        try:
            doc = etree.fromstring(r.content, safe_parser())
        except etree.XMLSyntaxError as exc:
            ctx.check(False, f"{name}?wsdl is XML", got=str(exc))
            return
        ctx.equal(etree.QName(doc).localname, "definitions", f"{name}?wsdl is a WSDL")
        addresses = [a.get("location") for a in
                     doc.iter("{http://schemas.xmlsoap.org/wsdl/soap/}address")]
        ctx.equal(addresses, [endpoint], f"{name}'s soap:address is the endpoint called")


@case("OIR-ERR-005", "HentDebitorkonto of an unknown account is refused",
      requirement="An unknown account number is a business error (OIR-301) pointing at "
                  "DebitorkontoNummer, not a fault.",
      source="docs/design.md#the-øir-services; rule OIR-301", area="ERR",
      steps=("HentDebitorkonto for an account number that does not exist",),
      assertions=("FejlKode OIR-301 with Felt DebitorkontoNummer",))
def err_unknown_account(ctx: CaseContext) -> None:
    reply = ctx.call("HentDebitorkonto", messages.hent_debitorkonto(
        ctx.caller, account_number=ctx.env.next_id("UKENDT")), "read an unknown account",
        accept=False)
    ctx.check(any(e.code == "OIR-301" and e.field == "DebitorkontoNummer" for e in reply.errors),
              "OIR-301 at DebitorkontoNummer", expected="OIR-301 (DebitorkontoNummer)",
              got="; ".join(str(e) for e in reply.errors) or "accepted")


# ================================================================ callbacks

def _events(ctx: CaseContext, claim_id: str, want: str, *, status: str | None = None
            ) -> list[dict[str, Any]]:
    def probe() -> list[dict[str, Any]]:
        return [e for e in ctx.fagsystem_events(claim_id) if e.get("type") == want
                and (status is None or e.get("status") == status)]
    return ctx.eventually(probe)


@case("OIR-CBK-001", "A payment is reported to the fagsystem (DAEKNING)",
      requirement="Coverage from a payment is reported to the fagsystem through "
                  "RegistrerDaekningAfskrivning with amount, source and what remains.",
      source="docs/design.md#the-øir-services (fagsystem callback: coverage from payments)", area="CBK",
      needs=(NEEDS_CAPTURE,), severity="critical",
      steps=("OpretFordring 1500.00", "ForetagIndbetaling 400.00",
             "read the events the fagsystem end received"),
      assertions=("a DAEKNING event for the claim: 400.00, Kilde INDBETALING, Restbeloeb 1100.00",),
      hint="Call the fagsystem's RegistrerDaekningAfskrivning after booking a payment.")
def cbk_payment(ctx: CaseContext) -> None:
    ctx.require(NEEDS_CAPTURE)
    account = ctx.open_account()
    claim = ctx.register(account, ctx.claim_spec())
    ctx.pay(account, "400.00")
    events = _events(ctx, claim.claim_id, "DAEKNING")
    ctx.check([(e["amount"], e["source"], e["remaining"]) for e in events]
              == [("400.00", "INDBETALING", "1100.00")],
              "one DAEKNING event: 400.00 from INDBETALING, 1100.00 left",
              expected="400.00 INDBETALING 1100.00", got=events or "no event")


@case("OIR-CBK-002", "A write-down is reported to the fagsystem (AFSKRIVNING)",
      requirement="Write-offs are reported to the fagsystem with amount and reason.",
      source="docs/design.md#the-øir-services (fagsystem callback: write-offs)", area="CBK", needs=(NEEDS_CAPTURE,),
      steps=("OpretFordring 1500.00", "RetFordringTilstand Nedskriv 200.00 REGU",
             "read the events the fagsystem end received"),
      assertions=("an AFSKRIVNING event: 200.00, AarsagKode REGU, Restbeloeb 1300.00",))
def cbk_write_down(ctx: CaseContext) -> None:
    ctx.require(NEEDS_CAPTURE)
    account = ctx.open_account()
    claim = ctx.register(account, ctx.claim_spec())
    ctx.change(claim.claim_id, "Nedskriv", amount=D("200.00"), reason="REGU")
    events = _events(ctx, claim.claim_id, "AFSKRIVNING")
    ctx.check([(e["amount"], e["reason"], e["remaining"]) for e in events]
              == [("200.00", "REGU", "1300.00")], "one AFSKRIVNING event: 200.00 REGU",
              expected="200.00 REGU 1300.00", got=events or "no event")


@case("OIR-CBK-003", "Callbacks are schema-valid and carry unique event ids",
      requirement="Every RegistrerDaekningAfskrivning the debtor system sent during the run "
                  "validates, and each HaendelseID stands for one event.",
      source="docs/design.md#the-øir-services (fagsystem callback); docs/design.md#journal", area="CBK",
      needs=(NEEDS_CAPTURE,), phase=9,
      steps=("read every callback the capture point's fagsystem end received during the run",),
      assertions=("none was answered with a fault",
                  "no HaendelseID was sent twice with different content"))
def cbk_valid(ctx: CaseContext) -> None:
    ctx.require(NEEDS_CAPTURE)
    rows = ctx.capture_journal("fagsystem", "RegistrerDaekningAfskrivning")
    if not rows:
        ctx.skip("no callback reached the fagsystem end during this run")
    seen: dict[str, bytes] = {}
    for row in rows:
        if row.get("status") == "fault":
            ctx.journal_evidence(row, "a callback answered with a fault")
            ctx.check(False, "every callback validates", got=row.get("summary"))
        body = body_of(row.get("request_xml"))
        for h in body.iter(f"{{{OIR_NS}}}Haendelse") if body is not None else ():
            event_id = h.findtext(f"{{{OIR_NS}}}HaendelseID") or ""
            content = etree.tostring(h, method="c14n")
            if event_id in seen and seen[event_id] != content:
                ctx.journal_evidence(row, f"HaendelseID {event_id} reused")
                ctx.check(False, "a HaendelseID always carries the same event",
                          got=f"{event_id} sent with different content")
            seen[event_id] = content
    ctx.note(f"{len(rows)} callbacks, {len(seen)} distinct events")


# ================================================================ hand-over

def _past_due(ctx: CaseContext, **changes: Any) -> messages.ClaimSpec:
    """A claim whose SRB passed ten days ago: eligible for hand-over once reminded."""
    return ctx.claim_spec(founded=-30, due=-20, srb=-10, period=(-60, -31), **changes)


def _handed_over(ctx: CaseContext, spec: messages.ClaimSpec | None = None,
                 account: Account | None = None) -> tuple[Account, Registered]:
    """Register a claim past SRB and move the clock a day: reminded and handed over."""
    ctx.require(NEEDS_CLOCK)
    account = account or ctx.open_account()
    claim = ctx.register(account, spec or _past_due(ctx), "register a claim past its SRB")
    ctx.advance(1)
    ctx.settle()
    return account, claim


def _opret(ctx: CaseContext, claim_id: str) -> list[tuple[Captured, ActionRequest]]:
    def probe() -> list[tuple[Captured, ActionRequest]]:
        return list(actions_for(deliveries(ctx), claim_ref=claim_id, code="OPRETFORDRING"))
    return ctx.eventually(probe)


@case("OIR-HND-001", "A claim past SRB is reminded and handed over to PSRM",
      requirement="When SRB has passed, the claim is unpaid and its reminder was sent, the "
                  "debtor system hands it to PSRM (OPRETFORDRING) with what is outstanding.",
      source="docs/design.md#hand-over", area="HND", needs=(NEEDS_CLOCK, NEEDS_CAPTURE),
      severity="critical", phase=2,
      steps=("OpretFordring DAGINST 1500.00 + GEBYR 100.00 with SRB today-10",
             "advance the clock 1 day", "read the deliveries PSRM received", "HentDebitorkonto"),
      assertions=("a reminder date after SRB is set",
                  "one OPRETFORDRING reached PSRM for the claim: DAGINST, 1500.00, GEBYR "
                  "100.00, the account's CPR as first hæfter",
                  "PSRM answered MODTAGET", "the claim is OVERDRAGET with 1600.00 handed over"))
def hnd_basic(ctx: CaseContext) -> None:
    ctx.require(NEEDS_CLOCK, NEEDS_CAPTURE)
    account, claim = _handed_over(ctx, _past_due(
        ctx, sub_claims=(messages.SubClaimSpec("GEBYR", D("100.00")),)))
    found = _opret(ctx, claim.claim_id)
    ctx.equal(len(found), 1, "one OPRETFORDRING reached PSRM for the claim")
    captured, action = found[0]
    ctx.journal_evidence(captured.row, "the delivery PSRM received")
    a = action
    assert a.claim is not None
    got = a.claim
    ctx.equal((got.type_code, got.principal, [(s.type_code, s.amount) for s in got.sub_claims],
               got.co_liable[0].party.number if got.co_liable else None),
              ("DAGINST", D("1500.00"), [("GEBYR", D("100.00"))], account.party.number),
              "the delivery carries the claim as registered")
    outcome = captured.outcome(a.index)
    ctx.equal(outcome.status if outcome else None, "MODTAGET", "PSRM answered MODTAGET")
    c = ctx.account(account).claims[claim.claim_id]
    ctx.check(c.reminder_date is not None and c.reminder_date > claim.spec.srb,
              "a reminder was sent after SRB", got=c.reminder_date)
    ctx.equal((c.status, c.psrm_amount), ("OVERDRAGET", D("1600.00")),
              "the claim is OVERDRAGET with 1600.00")


@case("OIR-HND-002", "Only the remainder is handed over after a partial payment",
      requirement="A hand-over sends what is still owed, not the original amount.",
      source="docs/design.md#hand-over (hand over only the remainder)", area="HND",
      needs=(NEEDS_CLOCK, NEEDS_CAPTURE), phase=2,
      steps=("OpretFordring DAGINST 1500.00 with SRB today-10", "ForetagIndbetaling 400.00",
             "advance the clock 1 day", "read the deliveries PSRM received"),
      assertions=("the OPRETFORDRING carries 1100.00, and 1500.00 as the original amount",))
def hnd_remainder(ctx: CaseContext) -> None:
    ctx.require(NEEDS_CLOCK, NEEDS_CAPTURE)
    account = ctx.open_account()
    claim = ctx.register(account, _past_due(ctx), "register a claim past its SRB")
    ctx.pay(account, "400.00")
    ctx.advance(1)
    ctx.settle()
    found = _opret(ctx, claim.claim_id)
    ctx.equal(len(found), 1, "one OPRETFORDRING reached PSRM")
    captured, action = found[0]
    ctx.journal_evidence(captured.row, "the delivery PSRM received")
    assert action.claim is not None
    ctx.equal(action.claim.principal, D("1100.00"),
              "1100.00 (what is still owed) is handed over")
    orig = captured.request.findtext(".//{*}EFIFordringOprindeligBeløb") \
        if captured.request is not None else None
    ctx.equal(orig, "1500.00", "the original amount rides along")


@case("OIR-HND-003", "Known upcoming benefit payments are offset before hand-over",
      requirement="Before handing over, offset in known upcoming benefit payments and hand "
                  "over only what they will not cover.",
      source="docs/design.md#hand-over (try offsetting before handing over)", area="HND",
      needs=(NEEDS_CLOCK, NEEDS_CAPTURE), phase=2,
      steps=("OpretFordring DAGINST 1500.00 with SRB today-10",
             "ForetagModregning FOLKEPEN payout today+5, gross 3000.00 (plans 600.00)",
             "advance the clock 1 day", "read the deliveries PSRM received"),
      assertions=("the OPRETFORDRING carries 900.00",))
def hnd_offset_first(ctx: CaseContext) -> None:
    ctx.require(NEEDS_CLOCK, NEEDS_CAPTURE)
    account = ctx.open_account()
    claim = ctx.register(account, _past_due(ctx), "register a claim past its SRB")
    _offset(ctx, account.party, gross="3000.00", payout=ctx.day(5),
            label="announce a pension payout in five days")
    ctx.advance(1)
    ctx.settle()
    found = _opret(ctx, claim.claim_id)
    ctx.equal(len(found), 1, "one OPRETFORDRING reached PSRM")
    captured, action = found[0]
    ctx.journal_evidence(captured.row, "the delivery PSRM received")
    ctx.equal(action.claim.principal if action.claim else None, D("900.00"),
              "only 900.00 is handed over; 600.00 waits for the payout",
              hint="Plan offsets in announced payouts first and hand over the rest.")


@case("OIR-HND-004", "PSRM's receipts are fetched and shown",
      requirement="The debtor system fetches PSRM's receipts (MFKvitteringHent) and shows "
                  "the claim's PSRM status and id.",
      source="docs/design.md#the-psrm-services (MFKvitteringHent: MODTAGET → SAGSBEHANDL → UDFOERT)", area="HND",
      needs=(NEEDS_CLOCK, NEEDS_CAPTURE), phase=2,
      steps=("hand over a claim (SRB today-10, advance 1 day)", "advance the clock 3 more days",
             "read PSRM's journal", "HentDebitorkonto"),
      assertions=("MFKvitteringHent was called", "the claim shows PSRM status UDFOERT and "
                                                 "its EFIFordringID"))
def hnd_receipt(ctx: CaseContext) -> None:
    ctx.require(NEEDS_CLOCK, NEEDS_CAPTURE)
    account, claim = _handed_over(ctx)
    found = _opret(ctx, claim.claim_id)
    ctx.equal(len(found), 1, "one OPRETFORDRING reached PSRM")
    ctx.advance(3)
    fetched = ctx.capture_journal("psrm", "MFKvitteringHent")
    ctx.check(bool(fetched), "the debtor system fetched receipts (MFKvitteringHent)",
              got=f"{len(fetched)} calls")
    c = ctx.account(account).claims[claim.claim_id]
    ctx.check(c.psrm_status == "UDFOERT" and bool(c.psrm_efi_claim_id),
              "the claim shows PSRM status UDFOERT with its EFIFordringID",
              expected="UDFOERT + EFIFordringID", got=f"{c.psrm_status} {c.psrm_efi_claim_id}")


@case("OIR-HND-005", "Coverage collected by PSRM is booked and reported",
      requirement="PSRM's notifications (MFUnderretSamlingHent) of coverage are booked on the "
                  "claim and reported to the fagsystem.",
      source="docs/design.md#the-psrm-services (MFUnderretSamlingHent: dækning)", area="HND",
      needs=(NEEDS_CLOCK, NEEDS_CAPTURE), phase=2,
      steps=("hand over a claim of 1500.00", "the debtor pays 600.00 in PSRM "
             "(POST /_admin/psrm/pay on the capture point)", "advance the clock 1 day",
             "HentDebitorkonto", "read the fagsystem events"),
      assertions=("900.00 is outstanding and a coverage line from PSRM of 600.00 is listed",
                  "the fagsystem got a DAEKNING event with Kilde PSRM, 600.00"))
def hnd_psrm_coverage(ctx: CaseContext) -> None:
    ctx.require(NEEDS_CLOCK, NEEDS_CAPTURE)
    account, claim = _handed_over(ctx)
    _opret(ctx, claim.claim_id)
    ctx.capture_admin("POST", "psrm/pay", {"claim_ref": claim.claim_id, "amount": "600.00"},
                      label="the debtor pays 600.00 in PSRM")
    ctx.advance(1)
    view = ctx.account(account)
    ctx.equal(view.claims[claim.claim_id].outstanding, D("900.00"), "900.00 is outstanding")
    ctx.check(any(x.claim_id == claim.claim_id and x.source == "PSRM" and x.amount == D("600.00")
                  for x in view.coverage), "a coverage line from PSRM of 600.00 is listed",
              got=_shown(view.coverage))
    events = _events(ctx, claim.claim_id, "DAEKNING")
    ctx.check(any(e.get("source") == "PSRM" and e.get("amount") == "600.00" for e in events),
              "the fagsystem got a DAEKNING event from PSRM of 600.00", got=events or "none")


@case("OIR-HND-006", "A payment on a handed-over claim writes it down in PSRM",
      requirement="When the debtor system collects money on a claim PSRM holds, it sends "
                  "NEDSKRIV with reason INDB for that amount.",
      source="docs/design.md#the-psrm-services (NEDSKRIV, reasons INDB…); docs/design.md#offsetting-order-and-limits", area="HND",
      needs=(NEEDS_CLOCK, NEEDS_CAPTURE), phase=2,
      steps=("hand over a claim of 1500.00", "ForetagIndbetaling 300.00",
             "read the deliveries PSRM received"),
      assertions=("a NEDSKRIV for the claim's EFIFordringID: 300.00, reason INDB",))
def hnd_write_down(ctx: CaseContext) -> None:
    ctx.require(NEEDS_CLOCK, NEEDS_CAPTURE)
    account, claim = _handed_over(ctx)
    _opret(ctx, claim.claim_id)
    efi = ctx.account(account).claims[claim.claim_id].psrm_efi_claim_id
    ctx.check(bool(efi), "the claim knows its EFIFordringID", got=efi)
    ctx.pay(account, "300.00", label="pay 300.00 on the handed-over claim")
    ctx.settle()
    found = ctx.eventually(lambda: actions_for(deliveries(ctx), code="NEDSKRIV",
                                               efi_claim_id=efi))
    ctx.check(len(found) == 1, "one NEDSKRIV reached PSRM", got=len(found))
    captured, action = found[0]
    ctx.journal_evidence(captured.row, "the NEDSKRIV delivery")
    ctx.equal((action.amount, action.reason), (D("300.00"), "INDB"), "300.00 with reason INDB")


@case("OIR-HND-007", "Tilbagekald recalls a claim from PSRM",
      requirement="RetFordringTilstand Tilbagekald on a handed-over claim sends TILBAGEKALD "
                  "with the reason and reports the recall.",
      source="docs/design.md#the-øir-services (recall from PSRM); docs/design.md#the-psrm-services (TILBAGEKALD)", area="HND",
      needs=(NEEDS_CLOCK, NEEDS_CAPTURE), phase=2,
      steps=("hand over a claim", "RetFordringTilstand Tilbagekald KLAG",
             "read the deliveries PSRM received"),
      assertions=("the answer says TILBAGEKALDT", "a TILBAGEKALD with reason KLAG reached PSRM"))
def hnd_recall(ctx: CaseContext) -> None:
    ctx.require(NEEDS_CLOCK, NEEDS_CAPTURE)
    account, claim = _handed_over(ctx)
    _opret(ctx, claim.claim_id)
    efi = ctx.account(account).claims[claim.claim_id].psrm_efi_claim_id
    reply = ctx.change(claim.claim_id, "Tilbagekald", reason="KLAG")
    ctx.equal(reply.findtext("Status"), "TILBAGEKALDT", "the claim is TILBAGEKALDT")
    ctx.settle()
    found = ctx.eventually(lambda: actions_for(deliveries(ctx), code="TILBAGEKALD",
                                               efi_claim_id=efi))
    ctx.check(len(found) == 1, "one TILBAGEKALD reached PSRM", got=len(found))
    ctx.journal_evidence(found[0][0].row, "the TILBAGEKALD delivery")
    ctx.equal(found[0][1].reason, "KLAG", "with reason KLAG")


@case("OIR-HND-008", "A rejection by PSRM is shown and reported with its reasons",
      requirement="When PSRM rejects a hand-over, the claim shows AFVIST with PSRM's numbered "
                  "reasons and the fagsystem is told, so it can fix the claim.",
      source="docs/design.md#the-domain (a rejected claim comes back with numbered reasons); docs/design.md#the-øir-services", area="HND",
      needs=(NEEDS_CLOCK, NEEDS_CAPTURE), phase=2,
      steps=("close claim type KTCIVIL in PSRM (POST /_admin/psrm/behaviour reject_types)",
             "hand over a KTCIVIL claim", "HentDebitorkonto", "read the fagsystem events",
             "reopen the type"),
      assertions=("the claim is AFVIST with reason 574",
                  "the fagsystem got TILSTAND AFVIST with reason 574"))
def hnd_rejected(ctx: CaseContext) -> None:
    ctx.require(NEEDS_CLOCK, NEEDS_CAPTURE)
    ctx.capture_admin("POST", "psrm/behaviour",
                      {"reject_types": {"KTCIVIL": "Fordringstypen er lukket for nye fordringer"}},
                      label="close KTCIVIL in PSRM")
    try:
        account, claim = _handed_over(ctx, _past_due(ctx, type_code="KTCIVIL"))
    finally:
        ctx.capture_admin("POST", "psrm/behaviour", {"reject_types": None},
                          label="reopen KTCIVIL in PSRM")
    c = ctx.account(account).claims[claim.claim_id]
    ctx.check(c.status == "AFVIST" and any(n == "574" for n, _ in c.psrm_reasons),
              "the claim is AFVIST with PSRM's reason 574",
              expected="AFVIST [574]", got=f"{c.status} {c.psrm_reasons}")
    events = _events(ctx, claim.claim_id, "TILSTAND", status="AFVIST")
    ctx.check(any(any(r.get("number") == "574" for r in e.get("reasons") or [])
                  for e in events), "the fagsystem got TILSTAND AFVIST with reason 574",
              got=events or "no event")


@case("OIR-HND-009", "An SRB on a bank closing day moves to the next bank day",
      requirement="A claim whose SRB falls on a bank closing day (weekend, holiday) is paid "
                  "on time up to the next bank day, so it is handed over only after that day.",
      source="docs/design.md#hand-over (hand-over after SRB); rule OIR-101 (an SRB on a closing day moves "
             "to the next bank day), docs/rules.md 'Dates and identifiers'", area="HND",
      needs=(NEEDS_CLOCK, NEEDS_CAPTURE), phase=2,
      steps=("OpretFordring with SRB on the next bank closing day D",
             "advance the clock to the next bank day after D", "HentDebitorkonto",
             "advance the clock 1 more day", "HentDebitorkonto"),
      assertions=("on the next bank day after D the claim is still AABEN and nothing reached "
                  "PSRM", "the day after, it is handed over"),
      hint="Judge 'SRB has passed' against next_bank_day(SRB) (oir_adapter.bankdays), as rule "
           "OIR-101 does, in the automatic hand-over too.")
def hnd_bank_day(ctx: CaseContext) -> None:
    ctx.require(NEEDS_CLOCK, NEEDS_CAPTURE)
    srb = next(ctx.day(n) for n in range(2, 15) if not is_bank_day(ctx.day(n)))
    deadline = next_bank_day(srb)
    offset = (srb - ctx.today).days
    account = ctx.open_account()
    claim = ctx.register(account, ctx.claim_spec(
        founded=offset - 30, due=offset - 10, srb=offset, period=(offset - 60, offset - 31)),
        f"register a claim with SRB on {srb} (a bank closing day)")
    ctx.advance((deadline - ctx.today).days)
    ctx.settle()
    c = ctx.account(account, f"read the account on {deadline}, the next bank day").claims[
        claim.claim_id]
    ctx.check(c.status == "AABEN", f"on {deadline} the claim is not handed over yet (payment "
              "is on time up to that day)", expected="AABEN", got=c.status)
    ctx.equal(len(_opret(ctx, claim.claim_id)), 0, "nothing reached PSRM yet")
    ctx.advance(1)
    ctx.settle()
    c = ctx.account(account, "read the account the day after").claims[claim.claim_id]
    ctx.equal(c.status, "OVERDRAGET", "the day after the next bank day it is handed over")


@case("OIR-HND-010", "RetFordringTilstand Overdrag hands a claim over for offsetting only",
      requirement="The fagsystem can hand a claim to PSRM itself (Overdrag) for recovery "
                  "(INDR) or for offsetting only (MODR); here a recalled claim is handed over "
                  "again as MODR.",
      source="docs/design.md#the-øir-services (RetFordringTilstand: hand over for recovery "
             "or offsetting only); docs/design.md#the-psrm-services (GENINDSENDFORDRING, "
             "DMIFordringFordringArtKode)", area="HND",
      needs=(NEEDS_CLOCK, NEEDS_CAPTURE), phase=2,
      steps=("hand over a claim (SRB today-10, advance 1 day)", "Tilbagekald FEJL",
             "RetFordringTilstand Overdrag FordringArt MODR", "read the deliveries PSRM received"),
      assertions=("the answer says OVERDRAGET",
                  "the claim reaches PSRM again (GENINDSENDFORDRING or OPRETFORDRING) with art MODR"))
def hnd_explicit(ctx: CaseContext) -> None:
    ctx.require(NEEDS_CLOCK, NEEDS_CAPTURE)
    account, claim = _handed_over(ctx)
    ctx.equal(len(_opret(ctx, claim.claim_id)), 1, "the claim was handed over first")
    ctx.change(claim.claim_id, "Tilbagekald", reason="FEJL")
    ctx.settle()
    reply = ctx.change(claim.claim_id, "Overdrag", "hand it over again for offsetting only",
                       art="MODR")
    ctx.equal(reply.findtext("Status"), "OVERDRAGET", "the answer says OVERDRAGET")
    ctx.settle()

    def again() -> list[tuple[Captured, ActionRequest]]:
        return [(c, a) for code in ("GENINDSENDFORDRING", "OPRETFORDRING")
                for c, a in actions_for(deliveries(ctx), claim_ref=claim.claim_id, code=code)
                if a.claim is not None and a.claim.art is ClaimArt.OFFSETTING_ONLY]
    found = ctx.eventually(again)
    ctx.check(len(found) == 1, "the claim reached PSRM again with art MODR", got=len(found))
    ctx.journal_evidence(found[0][0].row, "the new hand-over")


# ================================================================ what reaches PSRM

def _all_deliveries(ctx: CaseContext) -> list[Captured]:
    ctx.require(NEEDS_CAPTURE)
    found = deliveries(ctx)
    if not found:
        ctx.skip("the target delivered nothing to PSRM during this run (hand-over needs the "
                 "clock: the hand-over cases were skipped or not selected)")
    return found


@case("OIR-PSR-001", "Every delivery to PSRM validates against MF.xsd",
      requirement="Every MFFordringIndberet_I the debtor system sent validates against the "
                  "PSRM schema, in the element order real senders use.",
      source="docs/design.md#the-psrm-services (MFFordringIndberet_I element tree)", area="PSR",
      needs=(NEEDS_CAPTURE,), phase=9, severity="critical",
      steps=("read every MFFordringIndberet the capture point received during the run",),
      assertions=("each request validates", "none was answered with a SOAP fault"),
      hint="Build deliveries in the order of docs/design.md#the-psrm-services and validate them before sending.")
def psr_schema(ctx: CaseContext) -> None:
    for c in _all_deliveries(ctx):
        if c.violations or c.problem or c.row.get("status") == "fault":
            ctx.journal_evidence(c.row, "a delivery PSRM could not accept")
            ctx.check(False, "the delivery validates and is not answered with a fault",
                      got=c.problem or "; ".join(str(v) for v in c.violations[:5])
                      or c.row.get("summary"))
    ctx.note("every delivery validates")


@case("OIR-PSR-002", "Every handed-over claim passes PSRM's indgangsfilter",
      requirement="What the debtor system hands over passes the front-door rules PSRM applies "
                  "(the rule catalogue), judged on the day it was sent.",
      source="docs/design.md#front-door-rules (rule catalogue); docs/design.md#hand-over", area="PSR", needs=(NEEDS_CAPTURE,), phase=9,
      severity="critical",
      steps=("decode every action the target delivered during the run",
             "judge each with the rule catalogue (hand-over rules on)"),
      assertions=("no action breaks a rule",),
      hint="Run the rule catalogue on a claim before handing it over; a claim that breaks a "
           "rule goes back to the fagsystem instead.")
def psr_rules(ctx: CaseContext) -> None:
    judged = 0
    for c in _all_deliveries(ctx):
        if c.delivery is None:
            continue
        for a in c.delivery.actions:
            judged += 1
            broken = [v for v in validate_action(a, today=c.day, context=RuleContext(
                handover=True)) if v.severity == "error"]
            if broken:
                ctx.journal_evidence(c.row, f"action {a.index} of {c.delivery.delivery_id}")
                ctx.check(False, "every handed-over action passes the rule catalogue",
                          got="; ".join(f"{v.rule_id} {v.path}: {v.message_en}" for v in broken))
    ctx.note("actions judged", got=judged)


@case("OIR-PSR-003", "What reaches PSRM is what was registered through ØIR",
      requirement="A handed-over claim carries the type, dates, period, original amount and "
                  "debtor registered through OpretFordring.",
      source="docs/design.md#the-psrm-services; docs/mapping.md (field mapping ØIR → PSRM)", area="PSR",
      needs=(NEEDS_CAPTURE,), phase=9, severity="critical",
      steps=("match each OPRETFORDRING to a claim the suite registered",
             "compare the fields"),
      assertions=("type, founding/due/SRB dates, period, original amount and the first "
                  "hæfter's CPR are equal",))
def psr_matches(ctx: CaseContext) -> None:
    compared = 0
    for captured, action in actions_for(_all_deliveries(ctx), code="OPRETFORDRING"):
        claim = action.claim
        reg = ctx.env.registered.get(claim.fagsystem_claim_id if claim else "")
        if claim is None or reg is None:
            continue
        compared += 1
        s = reg.spec
        orig = action.element.findtext(".//{*}EFIFordringOprindeligBeløb")
        want = (s.type_code, s.founded, s.due_date, s.srb, s.period_from, s.period_to,
                f"{s.principal:.2f}", reg.party.number)
        got = (claim.type_code, claim.founded, claim.due_date, claim.srb, claim.period_from,
               claim.period_to, orig,
               claim.co_liable[0].party.number if claim.co_liable else None)
        if want != got:
            ctx.journal_evidence(captured.row, f"the hand-over of {reg.claim_id}")
        ctx.equal(got, want, f"{reg.claim_id} reaches PSRM as registered (type, dates, "
                             "period, original amount, CPR)")
    if not compared:
        ctx.skip("no claim the suite registered was handed over during this run")
    ctx.note("claims compared", got=compared)


@case("OIR-PSR-004", "Deliveries have unique ids",
      requirement="Each delivery has its own MFLeveranceID and TransaktionsID, and one SE "
                  "number identifies the sender.",
      source="docs/design.md#the-psrm-services (MFLeveranceID, Kontekst/HovedOplysninger)", area="PSR",
      needs=(NEEDS_CAPTURE,), phase=9,
      steps=("read every delivery of the run",),
      assertions=("MFLeveranceID and TransaktionsID are never reused",
                  "one VirksomhedSENummer"))
def psr_ids(ctx: CaseContext) -> None:
    found = [c for c in _all_deliveries(ctx) if c.delivery is not None]
    ids = [c.delivery.delivery_id for c in found if c.delivery]
    tids = [c.delivery.transaction_id for c in found if c.delivery]
    ctx.equal(len(set(ids)), len(ids), "no MFLeveranceID is reused")
    ctx.equal(len(set(tids)), len(tids), "no TransaktionsID is reused")
    ctx.equal(len({c.delivery.se_number for c in found if c.delivery}), 1,
              "one SE number sends them all")



# ================================================================ end-date operations

_END_DATE_MODELLED = "the operation names are published; the message content is modelled"
_END_DATE_SOURCE = ("Serviceplatformen SF1590_B_01 DebitorRegistreringAfsend (the operation "
                    "names); the content is modelled: docs/contracts.md")

#: Wire name → (what it ends, whether it names a party, where HentDebitorkonto shows the end).
_END_DATES: dict[str, tuple[str, bool, str]] = {
    "AfslutGaeldendeAdresseAdministrator": (
        "an administrator's current address", True,
        "AdministratorSamling/Administrator/Adresse/SlutDato"),
    "AfslutGaeldendeAdresseJuridiskAnsvarlig": (
        "the debtor's current address", False, "Debitor/Adresse/SlutDato"),
    "AfslutGaeldendeAdresseJuridiskMedhaefter": (
        "a co-liable party's current address", True,
        "JuridiskMedhaefterSamling/JuridiskMedhaefter/Adresse/SlutDato"),
    "AfslutHaeftelse": (
        "a co-liable party's liability for a claim", True,
        "FordringSamling/Fordring/HaefterSamling/Haefter/SlutDato"),
    "AfslutLigestillingspartner": (
        "an equal partner", True, "LigestillingspartnerSamling/Ligestillingspartner/SlutDato"),
    "AfslutAdministrator": (
        "an administrator", True, "AdministratorSamling/Administrator/SlutDato"),
    "AfslutMaterialeabonnementAdministrator": (
        "an administrator's material subscription", True,
        "AdministratorSamling/Administrator/Materialeabonnement/SlutDato"),
    "AfslutMaterialeabonnementJuridiskAnsvarlig": (
        "the debtor's material subscription", False, "Materialeabonnement/SlutDato"),
    "AfslutMaterialeabonnementJuridiskMedhaefter": (
        "a co-liable party's material subscription", True,
        "JuridiskMedhaefterSamling/JuridiskMedhaefter/Materialeabonnement/SlutDato"),
}


def _account_with_objects(ctx: CaseContext, other: Party) -> Account:
    """An account whose debtor has an address and a subscription, and with ``other`` as
    administrator, co-liable party and equal partner (each with address and subscription)."""
    party = ctx.env.cpr()
    reference = ctx.env.next_id("KONF")
    role = messages.RoleSpec(other, "Konformitet Anden", "Testvej 2", "8000", "Aarhus C",
                             "BREV")
    reply = ctx.call("OpretDebitorkonto", messages.opret_debitorkonto(
        ctx.caller, reference=reference, party=party, name=f"Konformitet {reference}",
        street="Testvej 1", postcode="8000", city="Aarhus C", channel="DIGITALPOST",
        administrators=[role], co_liable=[role], partners=[role]),
        "create an account with an administrator, a co-liable party and an equal partner")
    number = reply.findtext("DebitorkontoNummer")
    ctx.check(bool(number), "OpretDebitorkonto answers with a DebitorkontoNummer", got=number)
    assert number is not None
    return Account(number, party, reference)


def _end_date_case(operation: str, n: int) -> None:
    what, by_party, where = _END_DATES[operation]

    @case(f"OIR-END-{n:03d}", f"{operation} ends {what}",
          requirement=f"{operation} ends {what} on SlutDato; HentDebitorkonto shows the end "
                      "date, the same end again is answered alike, another date is refused.",
          source=_END_DATE_SOURCE, area="END", modelled=_END_DATE_MODELLED,
          steps=("OpretDebitorkonto with an address, a material subscription and a party as "
                 "administrator, co-liable party and equal partner",
                 "OpretFordring with that party as co-liable (HaefterSamling)",
                 f"{operation} with SlutDato today+30", "HentDebitorkonto",
                 f"{operation} again with the same SlutDato", f"{operation} with today+60"),
          assertions=(f"{operation} is accepted and echoes DebitorkontoNummer and SlutDato",
                      f"HentDebitorkonto shows {where} = SlutDato",
                      "the same end again is accepted",
                      "another end date is refused with OIR-314 at SlutDato"),
          hint="Keep an ended object with its end date; never move an end date once given.")
    def run(ctx: CaseContext) -> None:
        other = ctx.env.cpr()
        account = _account_with_objects(ctx, other)
        claim = ctx.register(account, ctx.claim_spec(co_liable=((other, "Konformitet Anden"),)))
        end = ctx.day(30)
        kw: dict[str, Any] = {"party": other} if by_party else {}
        if operation == "AfslutHaeftelse":
            kw["claim_id"] = claim.claim_id
        reply = ctx.call(operation, messages.afslut(
            ctx.caller, operation, account_number=account.number, end=end, **kw), f"end {what}")
        ctx.equal((reply.findtext("DebitorkontoNummer"), reply.findtext("SlutDato")),
                  (account.number, end.isoformat()), "the answer echoes account and SlutDato")
        shown = ctx.call("HentDebitorkonto", messages.hent_debitorkonto(
            ctx.caller, account_number=account.number), "read the account")
        ctx.equal(shown.findtext(f"Debitorkonto/{where}"), end.isoformat(),
                  f"HentDebitorkonto shows {where}")
        ctx.call(operation, messages.afslut(ctx.caller, operation, account_number=account.number,
                                            end=end, **kw), "the same end again")
        again = ctx.call(operation, messages.afslut(
            ctx.caller, operation, account_number=account.number, end=ctx.day(60), **kw),
            "another end date", accept=False)
        ctx.equal([(e.code, e.field) for e in again.errors], [("OIR-314", "SlutDato")],
                  "another end date is refused with OIR-314")


for _n, _op in enumerate(_END_DATES, start=1):
    _end_date_case(_op, _n)


@case("OIR-END-010", "An ended liability is not handed over to PSRM",
      requirement="A co-liable party whose liability ended (AfslutHaeftelse) before the "
                  "hand-over is not among the hæftere the debtor system sends to PSRM; one "
                  "whose liability ends later still is.",
      source=_END_DATE_SOURCE, area="END", needs=(NEEDS_CLOCK, NEEDS_CAPTURE), phase=2,
      modelled=_END_DATE_MODELLED, severity="critical",
      steps=("OpretFordring with SRB today-10 and co-liable parties A and B",
             "AfslutHaeftelse for A with SlutDato today-1; for B with today+365",
             "advance the clock 1 day (reminder and hand-over)",
             "read the delivery PSRM received"),
      assertions=("the OPRETFORDRING names the account's debtor and B, not A",),
      hint="Leave the liabilities that have ended out of FordringHæftelseSamling.")
def end_liability_not_handed_over(ctx: CaseContext) -> None:
    ctx.require(NEEDS_CLOCK, NEEDS_CAPTURE)
    ended, kept = ctx.env.cpr(), ctx.env.cpr()
    account = ctx.open_account()
    claim = ctx.register(account, _past_due(ctx, co_liable=((ended, None), (kept, None))))
    for party, day in ((ended, ctx.day(-1)), (kept, ctx.day(365))):
        ctx.call("AfslutHaeftelse", messages.afslut(
            ctx.caller, "AfslutHaeftelse", account_number=account.number, end=day,
            party=party, claim_id=claim.claim_id), f"end the liability of {party.masked()}")
    ctx.advance(1)
    ctx.settle()
    found = _opret(ctx, claim.claim_id)
    ctx.check(bool(found), "the claim was handed over", got="no OPRETFORDRING")
    captured, action = found[0]
    ctx.journal_evidence(captured.row, "the delivery PSRM received")
    assert action.claim is not None
    liable = [c.party.number for c in action.claim.co_liable]
    ctx.equal(liable, [account.party.number, kept.number],
              "the hæftere are the debtor and the party whose liability runs on")


# ================================================================ anmodninger

_ANMODNING_MODELLED = ("the service and its action types are published; the operation and "
                       "the message content are modelled")
_ANMODNING_SOURCE = ("Serviceplatformen SF1590_B_04 DebitorkontoAnmodningAfsend (the service "
                     "and its action types); operation and content are modelled: "
                     "docs/contracts.md")


def _anmod(ctx: CaseContext, account: Account, label: str, *, accept: bool = True,
           **kw: Any) -> Reply:
    return ctx.call("OpretDebitorkontoAnmodning", messages.opret_debitorkonto_anmodning(
        ctx.caller, account_number=account.number, request_id=ctx.env.next_id("ANM"), **kw),
        label, accept=accept)


def _claim_ids(ctx: CaseContext, account: Account) -> dict[str, list[str]]:
    """Claim id → its sub-claim ids, as HentDebitorkonto shows the account."""
    reply = ctx.call("HentDebitorkonto", messages.hent_debitorkonto(
        ctx.caller, account_number=account.number), f"read account {account.number}")
    q = f"{{{OIR_NS}}}"
    return {f.findtext(f"{q}FordringID") or "": [d.findtext(f"{q}DelfordringID") or ""
                                                 for d in f.iter(f"{q}Delfordring")]
            for f in reply.element.iter(f"{q}Fordring")}


@case("OIR-ANM-001", "FLYT_FORDRING moves a claim to another account at once",
      requirement="An anmodning FLYT_FORDRING without UdfoerelsesDato is performed at once: "
                  "the answer says UDFOERT and the claim is on the other account.",
      source=_ANMODNING_SOURCE, area="ANM", modelled=_ANMODNING_MODELLED,
      steps=("two accounts", "OpretFordring on the first",
             "OpretDebitorkontoAnmodning FlytFordring to the second", "HentDebitorkonto of both"),
      assertions=("Anmodning/Status UDFOERT, AnmodningTypeKode FLYT_FORDRING",
                  "the claim is on the second account and not on the first"))
def anm_move_claim(ctx: CaseContext) -> None:
    first, second = ctx.open_account(), ctx.open_account()
    claim = ctx.register(first, ctx.claim_spec())
    reply = _anmod(ctx, first, "move the claim", move_claim=(claim.claim_id, second.number))
    ctx.equal((reply.findtext("Anmodning/Status"), reply.findtext("Anmodning/AnmodningTypeKode")),
              ("UDFOERT", "FLYT_FORDRING"), "the anmodning is performed at once")
    ctx.equal((claim.claim_id in _claim_ids(ctx, first), claim.claim_id in _claim_ids(ctx, second)),
              (False, True), "the claim has moved to the second account")


@case("OIR-ANM-002", "FLYT_DELFORDRING moves sub-claims to another claim at once",
      requirement="An anmodning FLYT_DELFORDRING moves the named sub-claims to the target "
                  "claim of the same account; what each claim has open follows them.",
      source=_ANMODNING_SOURCE, area="ANM", modelled=_ANMODNING_MODELLED,
      steps=("OpretFordring A with GEBYR 100.00 and RENTE 12.50", "OpretFordring B",
             "OpretDebitorkontoAnmodning FlytDelfordring of A's GEBYR to B",
             "HentDebitorkonto"),
      assertions=("Anmodning/Status UDFOERT", "B holds the GEBYR sub-claim, A only its RENTE"))
def anm_move_sub_claims(ctx: CaseContext) -> None:
    account = ctx.open_account()
    a = ctx.register(account, ctx.claim_spec(sub_claims=(
        messages.SubClaimSpec("GEBYR", D("100.00")), messages.SubClaimSpec("RENTE", D("12.50")))))
    b = ctx.register(account, ctx.claim_spec())
    before = _claim_ids(ctx, account)
    gebyr = before[a.claim_id][0]
    reply = _anmod(ctx, account, "move the GEBYR sub-claim",
                   move_sub_claims=([gebyr], b.claim_id))
    ctx.equal(reply.findtext("Anmodning/Status"), "UDFOERT", "the anmodning is performed at once")
    after = _claim_ids(ctx, account)
    ctx.equal((after[a.claim_id], after[b.claim_id]), (before[a.claim_id][1:], [gebyr]),
              "the sub-claim is on the target claim")


def _advice(ctx: CaseContext, account: Account, kind: str) -> list[etree._Element]:
    """Status advice about ``account`` of ``kind`` that reached the capture point."""
    q = f"{{{OIR_NS}}}"

    def probe() -> list[etree._Element]:
        found = []
        for row in ctx.capture_journal("fagsystem", "RegistrerDebitorkontoStatus"):
            body = body_of(row.get("request_xml"))
            for a in body.iter(f"{q}StatusAdvisering") if body is not None else ():
                if a.findtext(f"{q}DebitorkontoNummer") == account.number and \
                        a.findtext(f"{q}AdviseringTypeKode") == kind:
                    found.append(a)
        return found
    return ctx.eventually(probe)


@case("OIR-ANM-003", "AENDR_KONTOSTATUS closes a settled account and advises the fagsystem",
      requirement="An account with nothing open is closed at once (UDFOERT); a closed account "
                  "takes no new claim (OIR-317); the fagsystem gets KONTOSTATUS advice.",
      source=_ANMODNING_SOURCE + "; DækningAfskrivningRegistreringAfsend (advice on status "
                                 "changes of debtor accounts)",
      area="ANM", needs=(NEEDS_CAPTURE,), modelled=_ANMODNING_MODELLED,
      steps=("OpretDebitorkonto", "OpretDebitorkontoAnmodning AendrKontostatus LUKKET",
             "OpretFordring on the account", "read the status advice the fagsystem received"),
      assertions=("Anmodning/Status UDFOERT", "HentDebitorkonto shows Status LUKKET",
                  "OpretFordring is refused with OIR-317",
                  "a KONTOSTATUS advice with KontoStatus LUKKET reached the fagsystem"))
def anm_close_account(ctx: CaseContext) -> None:
    ctx.require(NEEDS_CAPTURE)
    account = ctx.open_account()
    reply = _anmod(ctx, account, "close the account", status="LUKKET")
    ctx.equal(reply.findtext("Anmodning/Status"), "UDFOERT", "the anmodning is performed at once")
    shown = ctx.call("HentDebitorkonto", messages.hent_debitorkonto(
        ctx.caller, account_number=account.number), "read the account")
    ctx.equal(shown.findtext("Debitorkonto/Status"), "LUKKET", "the account is LUKKET")
    refused = ctx.call("OpretFordring", messages.opret_fordring(
        ctx.caller, account_number=account.number, claim=ctx.claim_spec()),
        "register a claim on the closed account", accept=False)
    ctx.equal([e.code for e in refused.errors], ["OIR-317"], "a closed account takes no claim")
    advice = _advice(ctx, account, "KONTOSTATUS")
    ctx.equal([a.findtext(f"{{{OIR_NS}}}KontoStatus") for a in advice], ["LUKKET"],
              "one KONTOSTATUS advice: LUKKET")


@case("OIR-ANM-004", "An anmodning for a later day is received now and advised on its day",
      requirement="With a later UdfoerelsesDato the answer is MODTAGET; on that day the "
                  "anmodning is performed and its result reaches the fagsystem as ANMODNING "
                  "status advice.",
      source=_ANMODNING_SOURCE, area="ANM", needs=(NEEDS_CLOCK, NEEDS_CAPTURE), phase=2,
      modelled=_ANMODNING_MODELLED,
      steps=("two accounts, a claim on the first",
             "OpretDebitorkontoAnmodning FlytFordring with UdfoerelsesDato today+1",
             "advance the clock 1 day", "read the status advice the fagsystem received"),
      assertions=("the answer says MODTAGET with UdfoerelsesDato today+1",
                  "an ANMODNING advice with AnmodningStatus UDFOERT reached the fagsystem",
                  "the claim is on the second account"))
def anm_later(ctx: CaseContext) -> None:
    ctx.require(NEEDS_CLOCK, NEEDS_CAPTURE)
    first, second = ctx.open_account(), ctx.open_account()
    claim = ctx.register(first, ctx.claim_spec())
    day = ctx.day(1)
    reply = _anmod(ctx, first, "move the claim tomorrow",
                   move_claim=(claim.claim_id, second.number), on=day)
    ctx.equal((reply.findtext("Anmodning/Status"), reply.findtext("Anmodning/UdfoerelsesDato")),
              ("MODTAGET", day.isoformat()), "the anmodning is received for its day")
    ctx.advance(1)
    advice = _advice(ctx, first, "ANMODNING")
    ctx.equal([a.findtext(f"{{{OIR_NS}}}AnmodningStatus") for a in advice], ["UDFOERT"],
              "one ANMODNING advice: UDFOERT")
    ctx.check(claim.claim_id in _claim_ids(ctx, second), "the claim is on the second account")


@case("OIR-CBK-004", "FordringTilIndbetaling reaches a subscribing fagsystem",
      requirement="When a claim is registered, a fagsystem that subscribes to "
                  "FordringTilIndbetaling receives the claim with its invoice and what is open.",
      source="Serviceplatformen SF1590_B_03 DebitorIndbetalingAfsend (the message type "
             "FordringTilIndbetaling, distributed to subscribers); the content is "
             "modelled: docs/contracts.md",
      area="CBK", needs=(NEEDS_ADMIN, NEEDS_CAPTURE),
      modelled="the message type is published; its content and the subscription are modelled",
      steps=("PUT /_admin/subscriptions on the target: the suite's FagsystemID subscribes",
             "OpretFordring 1500.00 + GEBYR 100.00",
             "read the FordringTilIndbetaling the fagsystem received"),
      assertions=("one FordringTilIndbetaling for the claim, schema-valid",
                  "its BetalingsID is the invoice's and Restbeloeb 1600.00"))
def cbk_fordring_til_indbetaling(ctx: CaseContext) -> None:
    ctx.require(NEEDS_ADMIN, NEEDS_CAPTURE)
    ctx.admin("PUT", "subscriptions", {"FordringTilIndbetaling": [ctx.caller.fagsystem_id]},
              label="subscribe the suite's fagsystem")
    try:
        account = ctx.open_account()
        claim = ctx.register(account, ctx.claim_spec(
            sub_claims=(messages.SubClaimSpec("GEBYR", D("100.00")),)))
    finally:
        ctx.admin("PUT", "subscriptions", {}, label="end the subscription")
    q = f"{{{OIR_NS}}}"

    def probe() -> list[etree._Element]:
        found = []
        for row in ctx.capture_journal("fagsystem", "FordringTilIndbetaling"):
            body = body_of(row.get("request_xml"))
            if body is not None and body.findtext(f"{q}FordringID") == claim.claim_id:
                ctx.journal_evidence(row, "the FordringTilIndbetaling received")
                found.append(body)
        return found
    found = ctx.eventually(probe)
    ctx.equal(len(found), 1, "one FordringTilIndbetaling for the claim")
    body = found[0]
    ctx.equal(validate_element(body), [], "it validates")
    ctx.equal((body.findtext(f"{q}Opkraevning/{q}BetalingsID"), body.findtext(f"{q}Restbeloeb")),
              (claim.payment_id, "1600.00"), "it carries the invoice's BetalingsID and 1600.00")
