"""Cases of the ``psrm`` role: the suite plays a fordringshaver system against a PSRM end
(the emulator's, or a PSRM test system) and checks its answers: the indgangsfilter action
by action, one case per rule PSRM judges, repeated deliveries, receipts on the clock and
notifications.

PSRM's checks are the rule catalogue's: each generated ``PSE-RUL-…`` case delivers an
action breaking one rule and expects ``AFVIST`` with the rule's PSRM number (its published
number, else the rule id) — and the neighbouring good action of the same delivery still
``MODTAGET``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from copy import deepcopy
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from lxml import etree

from .. import mapping
from ..clients import ActionOutcome, Reply, SoapFaultError
from ..contracts import PSRM_NS
from ..identifiers import is_valid_cvr
from ..model import (
    Claim,
    ClaimArt,
    CoLiable,
    Party,
    PsrmActionCode,
    RecallReason,
    SubClaim,
    WriteDownReason,
)
from ..rules import FIELD_PATHS, HANDOVER, PSRM_END, PSRM_FILTER, RULES, Rule
from .catalogue import case, register, rule_title
from .context import CaseContext, CaseErrored
from .model import NEEDS_ADMIN, NEEDS_CLOCK, Case, Role

D = Decimal
_M = "{" + PSRM_NS + "}"
PSRM_CONTEXTS = frozenset({PSRM_FILTER, PSRM_END, HANDOVER})


# ---------------------------------------------------------------- building deliveries

def psrm_claim(ctx: CaseContext, **changes: Any) -> Claim:
    """A claim PSRM accepts for recovery: SRB passed twenty days ago, a fresh CPR debtor."""
    ref = ctx.env.next_id("PSE")
    values: dict[str, Any] = dict(
        id=ref, account_number="", fagsystem_claim_id=ref, type_code="DAGINST",
        principal=D("1500.00"), period_from=ctx.day(-70), period_to=ctx.day(-41),
        founded=ctx.day(-40), due_date=ctx.day(-30), srb=ctx.day(-20), received=ctx.today,
        art=ClaimArt.RECOVERY, co_liable=[CoLiable(ctx.env.cpr())])
    values.update(changes)
    return Claim(**values)


def creditor(ctx: CaseContext) -> str:
    """The DMIFordringHaverID the suite delivers as (Gældsstyrelsen's number, not a CVR)."""
    return ctx.env.options.creditor_id


def opret(ctx: CaseContext, claim: Claim) -> etree._Element:
    return mapping.opret_fordring_action(claim, None, creditor_id=creditor(ctx))


def deliver(ctx: CaseContext, actions: Sequence[etree._Element], label: str, *,
            delivery_id: str | None = None, transaction_id: str | None = None) -> Reply:
    body = mapping.delivery(actions, se_number=ctx.env.options.se_number,
                            delivery_id=delivery_id or ctx.env.next_id("LEV"),
                            transaction_id=transaction_id or str(uuid.uuid4()),
                            transaction_time=datetime.now().astimezone())
    return ctx.call("MFFordringIndberet", body, label, accept=False)


def accepted(ctx: CaseContext, claim: Claim, label: str = "deliver a good claim") -> str:
    """Deliver one good claim; return PSRM's claim id (EFIFordringID)."""
    reply = deliver(ctx, [opret(ctx, claim)], label)
    outcome = reply.first_action
    ctx.check(outcome is not None and outcome.status == "MODTAGET" and bool(outcome.efi_claim_id),
              "PSRM accepts a good claim (MODTAGET with an EFIFordringID)",
              got=_show(reply.actions))
    assert outcome is not None and outcome.efi_claim_id is not None
    return outcome.efi_claim_id


def _show(actions: Sequence[ActionOutcome]) -> str:
    return "; ".join(f"{a.status} [{', '.join(n for n, _ in a.reasons)}]" for a in actions) \
        or "no MFAktionStruktur"


def rejected_for(ctx: CaseContext, outcome: ActionOutcome | None, number: str, *,
                 also: tuple[str, ...] = ()) -> None:
    got = _show([outcome]) if outcome else "no answer for the action"
    ctx.check(outcome is not None and outcome.status == "AFVIST",
              "the action is rejected (AFVIST)", expected=f"AFVIST [{number}]", got=got,
              hint=f"PSRM's indgangsfilter must reject this action with number {number}.")
    assert outcome is not None
    numbers = sorted({n for n, _ in outcome.reasons})
    ctx.check(number in numbers, f"one reason is MFAktionAfvistNummer {number}",
              expected=number, got=numbers)
    ctx.equal(numbers, sorted({number, *also}), "no other rule is reported for the action")


# ---------------------------------------------------------------- hand-written cases

@case("PSE-DLV-001", "A good claim is received (MODTAGET)", role=Role.PSRM, area="DLV",
      requirement="PSRM answers a delivery synchronously: each accepted action MODTAGET with "
                  "its MFAktionID and PSRM's claim id, the fordringshaver's reference echoed.",
      source="docs/design.md#the-psrm-services (MFFordringIndberet_O)", severity="critical",
      steps=("MFFordringIndberet with one OPRETFORDRING",),
      assertions=("SvarReaktion OK", "MFAktionStatusKode MODTAGET, MFAktionID and "
                  "DMIFordringEFIFordringID given, DMIFordringFordringHaverRef echoed"))
def pse_accept(ctx: CaseContext) -> None:
    claim = psrm_claim(ctx)
    reply = deliver(ctx, [opret(ctx, claim)], "deliver one good claim")
    ctx.equal(reply.reaction, "OK", "SvarReaktion OK")
    a = reply.first_action
    ctx.check(a is not None and a.status == "MODTAGET" and bool(a.action_id)
              and bool(a.efi_claim_id) and a.claim_ref == claim.fagsystem_claim_id,
              "MODTAGET with MFAktionID, EFIFordringID and the reference echoed",
              got=a)


@case("PSE-DLV-002", "Each action of a delivery is judged on its own", role=Role.PSRM,
      area="DLV", requirement="One bad action never touches its neighbours.",
      source="docs/design.md#the-psrm-services (one delivery carries many actions)", severity="critical",
      steps=("MFFordringIndberet with a good claim, one with its period reversed, a good claim",),
      assertions=("MODTAGET, AFVIST [569], MODTAGET",))
def pse_independent(ctx: CaseContext) -> None:
    bad = psrm_claim(ctx)
    bad.period_from, bad.period_to = bad.period_to, bad.period_from
    reply = deliver(ctx, [opret(ctx, psrm_claim(ctx)), opret(ctx, bad),
                          opret(ctx, psrm_claim(ctx))], "deliver good, bad, good")
    ctx.equal([a.status for a in reply.actions], ["MODTAGET", "AFVIST", "MODTAGET"],
              "only the bad action is rejected")
    rejected_for(ctx, reply.actions[1], "569")


@case("PSE-DLV-003", "A repeated delivery is answered, never booked twice", role=Role.PSRM,
      area="DLV", requirement="The same delivery sent again (same MFLeveranceID and content, "
                              "new TransaktionsID) answers with its actions as they are; the "
                              "same MFLeveranceID with other content is refused (600).",
      source="docs/design.md#idempotency; PSRM rule 600",
      steps=("deliver D", "deliver D again with a new TransaktionsID",
             "deliver another claim under D's MFLeveranceID"),
      assertions=("the repeat answers with the same MFAktionID", "the reuse is AFVIST [600]"))
def pse_repeat(ctx: CaseContext) -> None:
    delivery_id = ctx.env.next_id("LEV")
    action = opret(ctx, psrm_claim(ctx))
    copy = deepcopy(action)
    first = deliver(ctx, [action], "deliver D", delivery_id=delivery_id)
    again = deliver(ctx, [copy], "deliver D again", delivery_id=delivery_id)
    ctx.equal([a.action_id for a in again.actions], [a.action_id for a in first.actions],
              "the repeat answers with the same action")
    other = deliver(ctx, [opret(ctx, psrm_claim(ctx))], "reuse D's MFLeveranceID for another "
                    "claim", delivery_id=delivery_id)
    rejected_for(ctx, other.first_action, "600")


@case("PSE-DLV-004", "A schema-invalid delivery gets a SOAP Client fault", role=Role.PSRM,
      area="DLV", requirement="A delivery that does not validate against MF.xsd is a SOAP 1.1 "
                              "Client fault, HTTP 500.",
      source="docs/design.md#requests-and-faults (invalid → SOAP 1.1 Fault, faultcode Client)",
      steps=("MFFordringIndberet without MFLeveranceID",), assertions=("Client fault, HTTP 500",))
def pse_schema(ctx: CaseContext) -> None:
    body = mapping.delivery([opret(ctx, psrm_claim(ctx))], se_number=ctx.env.options.se_number,
                            delivery_id=ctx.env.next_id("LEV"), transaction_id=str(uuid.uuid4()),
                            transaction_time=datetime.now().astimezone())
    body.remove(body.find(f"{_M}MFLeveranceID"))  # type: ignore[arg-type]
    got = ctx.try_call("MFFordringIndberet", body, "deliver without MFLeveranceID")
    ctx.check(isinstance(got, SoapFaultError) and got.kind == "Client"
              and got.http_status == 500, "a SOAP Client fault with HTTP 500",
              got=type(got).__name__)


@case("PSE-DLV-005", "NEDSKRIV and TILBAGEKALD act on a received claim", role=Role.PSRM,
      area="DLV", requirement="A write-down and a recall naming PSRM's claim id are received.",
      source="docs/design.md#the-psrm-services (NEDSKRIV, TILBAGEKALD)",
      steps=("deliver a claim", "NEDSKRIV 200.00 INDB", "TILBAGEKALD HENS"),
      assertions=("both are MODTAGET",))
def pse_write_down_recall(ctx: CaseContext) -> None:
    efi = accepted(ctx, psrm_claim(ctx))
    for label, action in (
            ("write it down by 200.00", mapping.nedskriv_action(
                efi, D("200.00"), WriteDownReason.PAYMENT, creditor_id=creditor(ctx))),
            ("recall it", mapping.tilbagekald_action(efi, RecallReason.DEFERRAL,
                                                     creditor_id=creditor(ctx)))):
        reply = deliver(ctx, [action], label)
        ctx.equal([a.status for a in reply.actions], ["MODTAGET"], f"{label}: MODTAGET")


@case("PSE-RCP-001", "Receipts progress MODTAGET → SAGSBEHANDL → UDFOERT", role=Role.PSRM,
      area="RCP", needs=(NEEDS_CLOCK,), phase=2,
      requirement="MFKvitteringHent shows each action's status as PSRM works on it.",
      source="docs/design.md#the-psrm-services (MFKvitteringHent)",
      steps=("deliver a claim", "MFKvitteringHent", "advance the clock 1 day",
             "MFKvitteringHent", "advance 1 more day", "MFKvitteringHent"),
      assertions=("MODTAGET, then SAGSBEHANDL, then UDFOERT",))
def pse_receipts(ctx: CaseContext) -> None:
    ctx.require(NEEDS_CLOCK)
    delivery_id = ctx.env.next_id("LEV")
    deliver(ctx, [opret(ctx, psrm_claim(ctx))], "deliver a claim", delivery_id=delivery_id)
    seen = []
    for day in range(3):
        if day:
            ctx.advance(1)
        reply = ctx.call("MFKvitteringHent", mapping.kvittering_request(
            se_number=ctx.env.options.se_number, delivery_id=delivery_id),
            f"fetch the receipt (day {day})", accept=False)
        seen.append(reply.actions[0].status if reply.actions else None)
    ctx.equal(seen, ["MODTAGET", "SAGSBEHANDL", "UDFOERT"], "the status moves one step a day")


@case("PSE-RCP-002", "Coverage collected by PSRM is notified", role=Role.PSRM, area="RCP",
      needs=(NEEDS_ADMIN,), requirement="MFUnderretSamlingHent reports coverage PSRM collected "
                                        "(dækning) for the claim, with the amount.",
      source="docs/design.md#the-psrm-services (MFUnderretSamlingHent)",
      steps=("deliver a claim", "the debtor pays 400.00 in PSRM (admin API)",
             "MFUnderretSamlingHent after the last sequence number"),
      assertions=("a DAEKNING notification of 400.00 for PSRM's claim id",))
def pse_notifications(ctx: CaseContext) -> None:
    ctx.require(NEEDS_ADMIN)
    claim = psrm_claim(ctx)
    efi = accepted(ctx, claim)
    last = _last_seq(ctx)
    ctx.admin("POST", "psrm/pay", {"efi_claim_id": efi, "amount": "400.00"},
              label="the debtor pays 400.00 in PSRM")
    reply = ctx.call("MFUnderretSamlingHent", mapping.underret_request(
        se_number=ctx.env.options.se_number, after=last), "fetch new notifications",
        accept=False)
    notes = [(n.type.value, n.efi_claim_id, n.amount)
             for n in mapping.decode_notifications(reply.element)]
    ctx.check(("DAEKNING", efi, D("400.00")) in notes, "a DAEKNING of 400.00 is notified",
              expected=f"DAEKNING {efi} 400.00", got=notes)


def _last_seq(ctx: CaseContext) -> int:
    last = 0
    for _ in range(100):
        reply = ctx.call("MFUnderretSamlingHent", mapping.underret_request(
            se_number=ctx.env.options.se_number, after=last), "read the notifications so far",
            accept=False)
        notes = mapping.decode_notifications(reply.element)
        if not notes:
            return last
        last = max(n.seq_no for n in notes)
        if reply.findtext("MFFlereUnderretninger") != "true":
            return last
    return last


# ---------------------------------------------------------------- one case per rule

PsrmRun = Callable[[CaseContext, Rule], None]


@dataclass(frozen=True)
class PsrmProbe:
    steps: tuple[str, ...]
    run: PsrmRun
    needs: frozenset[str] = frozenset()


def _create(mutate: Callable[[CaseContext, Claim], None], *, also: tuple[str, ...] = ()
            ) -> PsrmRun:
    def run(ctx: CaseContext, rule: Rule) -> None:
        bad = psrm_claim(ctx)
        mutate(ctx, bad)
        reply = deliver(ctx, [opret(ctx, bad), opret(ctx, psrm_claim(ctx))],
                        f"deliver a claim breaking {rule.id} and a good one")
        rejected_for(ctx, reply.first_action, rule.code, also=also)
        ctx.equal(reply.actions[1].status if len(reply.actions) > 1 else None, "MODTAGET",
                  "the good neighbour is MODTAGET")
    return run


def _set(**values: Any) -> Callable[[CaseContext, Claim], None]:
    def mutate(ctx: CaseContext, claim: Claim) -> None:
        for key, value in values.items():
            setattr(claim, key, value(ctx) if callable(value) else value)
        claim.remaining_principal = claim.principal
    return mutate


def _invalid_cvr() -> str:
    return next(f"1234567{d}" for d in range(10) if not is_valid_cvr(f"1234567{d}"))


def _with_behaviour(switches: Callable[[CaseContext, Claim], dict[str, Any]]) -> PsrmRun:
    """Install PSRM behaviour switches for the probe and restore them afterwards."""
    def run(ctx: CaseContext, rule: Rule) -> None:
        ctx.require(NEEDS_ADMIN)
        before = ctx.admin("GET", "psrm", label="read PSRM's switches")["behaviour"]
        bad = psrm_claim(ctx)
        ctx.admin("POST", "psrm/behaviour", switches(ctx, bad), label="install the switches")
        try:
            reply = deliver(ctx, [opret(ctx, bad)], f"deliver a claim breaking {rule.id}")
        finally:
            ctx.admin("POST", "psrm/behaviour", {k: before.get(k) or None for k in
                                                 ("agreements", "unknown_debtors")},
                      label="restore the switches")
        rejected_for(ctx, reply.first_action, rule.code)
    return run


def _without_structure(ctx: CaseContext, rule: Rule) -> None:
    action = opret(ctx, psrm_claim(ctx))
    s = action.find(f"{_M}AktionValg/{_M}OpretFordringAktion/{_M}MFOpretFordringStruktur")
    assert s is not None
    parent = s.getparent()
    assert parent is not None
    parent.remove(s)
    reply = deliver(ctx, [action], "deliver OPRETFORDRING without MFOpretFordringStruktur")
    rejected_for(ctx, reply.first_action, rule.code)


def _duplicate_ref(ctx: CaseContext, rule: Rule) -> None:
    claim = psrm_claim(ctx)
    accepted(ctx, claim, "deliver claim X")
    reply = deliver(ctx, [opret(ctx, claim)], "deliver claim X again in a new delivery")
    rejected_for(ctx, reply.first_action, rule.code)


def _unreadable(ctx: CaseContext, rule: Rule) -> None:
    action = opret(ctx, psrm_claim(ctx))
    srb = action.find(f".//{_M}DMIFordringSRBDato")
    assert srb is not None
    srb.text = "12025-04-10"  # a valid xs:date no calendar library holds
    reply = deliver(ctx, [action], "deliver a claim with SRB in the year 12025")
    rejected_for(ctx, reply.first_action, rule.code)


def _no_liable(ctx: CaseContext, rule: Rule) -> None:
    action = opret(ctx, psrm_claim(ctx))
    samling = action.find(f".//{_M}FordringHæftelseSamling")
    assert samling is not None
    for h in list(samling):
        samling.remove(h)
    body = mapping.delivery([action], se_number=ctx.env.options.se_number,
                            delivery_id=ctx.env.next_id("LEV"), transaction_id=str(uuid.uuid4()),
                            transaction_time=datetime.now().astimezone())
    got = ctx.try_call("MFFordringIndberet", body, "deliver a claim with no hæfter")
    if isinstance(got, SoapFaultError):
        ctx.equal(got.kind, "Client", f"{rule.id}: a claim without hæfter is refused (the "
                                      "schema requires one: Client fault)")
        return
    if isinstance(got, Reply):
        rejected_for(ctx, got.first_action, rule.code)
        return
    ctx.check(False, "a claim without hæfter is refused", got=type(got).__name__)


def _on_claim(make: Callable[[CaseContext, str], list[etree._Element]], *,
              prepare: Callable[[CaseContext, str], None] | None = None,
              also: tuple[str, ...] = ()) -> PsrmRun:
    """Deliver a good claim, optionally act on it, then the probing action(s)."""
    def run(ctx: CaseContext, rule: Rule) -> None:
        efi = accepted(ctx, psrm_claim(ctx))
        if prepare is not None:
            prepare(ctx, efi)
        reply = deliver(ctx, make(ctx, efi), f"an action breaking {rule.id}")
        rejected_for(ctx, reply.first_action, rule.code, also=also)
    return run


def _nedskriv(amount: str, *, effective: int | None = None
              ) -> Callable[[CaseContext, str], list[etree._Element]]:
    def make(ctx: CaseContext, efi: str) -> list[etree._Element]:
        return [mapping.nedskriv_action(efi, D(amount), WriteDownReason.PAYMENT,
                                        creditor_id=creditor(ctx),
                                        effective=None if effective is None
                                        else ctx.day(effective))]
    return make


def _recall(ctx: CaseContext, efi: str) -> list[etree._Element]:
    return [mapping.tilbagekald_action(efi, RecallReason.DEFERRAL, creditor_id=creditor(ctx))]


def _recalled(ctx: CaseContext, efi: str) -> None:
    reply = deliver(ctx, _recall(ctx, efi), "recall the claim first")
    ctx.equal([a.status for a in reply.actions], ["MODTAGET"], "the recall is MODTAGET")


def _resubmit(ctx: CaseContext, efi: str) -> list[etree._Element]:
    return [mapping.genindsend_action(psrm_claim(ctx), None, creditor_id=creditor(ctx),
                                      efi_claim_id=efi)]


def _unknown_efi(ctx: CaseContext, rule: Rule) -> None:
    reply = deliver(ctx, _nedskriv("100.00")(ctx, "999999999999999999"),
                    "write down a claim PSRM does not know")
    rejected_for(ctx, reply.first_action, rule.code)


def _accepted_warning(ctx: CaseContext, rule: Rule) -> None:
    claim = psrm_claim(ctx, period_from=ctx.day(5), period_to=ctx.day(30))
    reply = deliver(ctx, [opret(ctx, claim)], f"deliver a claim with warning {rule.id}")
    ctx.equal([a.status for a in reply.actions], ["MODTAGET"],
              f"a claim with only warning {rule.id} is MODTAGET")


def _edit(action: etree._Element, path: str, text: str | None) -> etree._Element:
    """Set (or, with ``None``, remove) the element at ``path`` below the action."""
    found = action.find(".//" + "/".join(_M + p for p in path.split("/")))
    assert found is not None, path
    if text is None:
        parent = found.getparent()
        assert parent is not None
        parent.remove(found)
    else:
        found.text = text
    return action


def _shaped(build: Callable[[CaseContext, Claim], etree._Element]) -> PsrmRun:
    """Deliver an OPRETFORDRING edited past what the adapter would send, and a good one."""
    def run(ctx: CaseContext, rule: Rule) -> None:
        reply = deliver(ctx, [build(ctx, psrm_claim(ctx)), opret(ctx, psrm_claim(ctx))],
                        f"deliver a claim breaking {rule.id} and a good one")
        rejected_for(ctx, reply.first_action, rule.code)
        ctx.equal(reply.actions[1].status if len(reply.actions) > 1 else None, "MODTAGET",
                  "the good neighbour is MODTAGET")
    return run


def _judgment_without_date(ctx: CaseContext, claim: Claim) -> etree._Element:
    return _edit(opret(ctx, claim), "HæftelseDom", "true")


def _date_without_judgment(ctx: CaseContext, claim: Claim) -> etree._Element:
    claim.judgment_date = ctx.day(-10)
    return _edit(opret(ctx, claim), "HæftelseDom", "false")


def _empty_note(ctx: CaseContext, claim: Claim) -> etree._Element:
    action = opret(ctx, claim)
    notes = action.find(f".//{_M}SagsbemærkningSamling")
    assert notes is not None
    etree.SubElement(etree.SubElement(notes, _M + "MFNoteStruktur"), _M + "MFNoteTekst").text = " "
    return action


def _twice_liable(ctx: CaseContext, claim: Claim) -> etree._Element:
    action = opret(ctx, claim)  # the adapter names each party once: copy the hæftelse
    hæftelse = action.find(f".//{_M}MFHæftelseStruktur")
    assert hæftelse is not None
    hæftelse.addnext(deepcopy(hæftelse))
    return action


def _with_action_id(action: etree._Element, action_id: str) -> etree._Element:
    """Give an OPRETFORDRING the MFAktionID a sender may choose (after the type code)."""
    kind = action.find(f".//{_M}MFOpretFordringStruktur/{_M}DMIFordringTypeKode")
    assert kind is not None
    mark = etree.Element(_M + "MFAktionID")
    mark.text = action_id
    kind.addnext(mark)
    return action


def _same_action_id(ctx: CaseContext, rule: Rule) -> None:
    action_id = "9" + "".join(c for c in ctx.env.next_id("AKT") if c.isdigit())[-11:].rjust(11, "0")
    first = deliver(ctx, [_with_action_id(opret(ctx, psrm_claim(ctx)), action_id)],
                    f"deliver a claim with MFAktionID {action_id}")
    ctx.equal([a.action_id for a in first.actions], [action_id],
              "PSRM keeps the sender's MFAktionID")
    reply = deliver(ctx, [_with_action_id(opret(ctx, psrm_claim(ctx)), action_id)],
                    f"deliver another claim with MFAktionID {action_id}")
    rejected_for(ctx, reply.first_action, rule.code)


def _empty_choice(code: PsrmActionCode) -> PsrmRun:
    """An action whose AktionValg holds nothing: PSRM names the missing structure."""
    def run(ctx: CaseContext, rule: Rule) -> None:
        action = opret(ctx, psrm_claim(ctx))
        _edit(action, "MFAktionKode", code.value)
        valg = action.find(f"{_M}AktionValg")
        assert valg is not None
        for child in list(valg):
            valg.remove(child)
        reply = deliver(ctx, [action], f"deliver {code.value} with an empty AktionValg")
        rejected_for(ctx, reply.first_action, rule.code)
    return run


def _write_up(amount: str, code: PsrmActionCode = PsrmActionCode.WRITE_UP,
              ref: str | None = None) -> Callable[[CaseContext, str], list[etree._Element]]:
    def make(ctx: CaseContext, efi: str) -> list[etree._Element]:
        return [mapping.opskrivning_action(efi, D(amount), creditor_id=creditor(ctx), code=code,
                                           ref_action_id=ref)]
    return make


def _action_ids(reply: Reply) -> list[str]:
    return [a.action_id for a in reply.actions]


def _first_then(prepare: Callable[[CaseContext, str], list[etree._Element]],
                then: Callable[[CaseContext, str, str], list[etree._Element]], *,
                other_claim: bool = False) -> PsrmRun:
    """Deliver a good claim, an accepted first action on it, then an action that names the
    first by its MFAktionID (on the same claim, or on a second one)."""
    def run(ctx: CaseContext, rule: Rule) -> None:
        efi = accepted(ctx, psrm_claim(ctx))
        first = deliver(ctx, prepare(ctx, efi), "an accepted action to refer to")
        ctx.equal([a.status for a in first.actions], ["MODTAGET"], "it is MODTAGET")
        target = accepted(ctx, psrm_claim(ctx), "deliver a second claim") if other_claim else efi
        reply = deliver(ctx, then(ctx, target, _action_ids(first)[0]),
                        f"an action breaking {rule.id}")
        rejected_for(ctx, reply.first_action, rule.code)
    return run


def _payment(amount: str = "200.00", reason: WriteDownReason = WriteDownReason.PAYMENT
             ) -> Callable[[CaseContext, str], list[etree._Element]]:
    def make(ctx: CaseContext, efi: str) -> list[etree._Element]:
        return [mapping.nedskriv_action(efi, D(amount), reason, creditor_id=creditor(ctx),
                                        effective=ctx.day(-1))]
    return make


def _annul_payment(amount: str = "200.00", code: PsrmActionCode =
                   PsrmActionCode.WRITE_UP_ANNULLED_PAYMENT
                   ) -> Callable[[CaseContext, str, str], list[etree._Element]]:
    def make(ctx: CaseContext, efi: str, ref: str) -> list[etree._Element]:
        return [mapping.opskrivning_action(efi, D(amount), creditor_id=creditor(ctx), code=code,
                                           ref_action_id=ref)]
    return make


def _annul_write_up(amount: str = "200.00", code: PsrmActionCode =
                    PsrmActionCode.WRITE_DOWN_ANNULLED_WRITE_UP
                    ) -> Callable[[CaseContext, str, str], list[etree._Element]]:
    def make(ctx: CaseContext, efi: str, ref: str) -> list[etree._Element]:
        return [mapping.nedskrivning_annulleret_action(efi, D(amount), ref,
                                                       creditor_id=creditor(ctx), code=code)]
    return make


def _annulled_twice(ctx: CaseContext, rule: Rule) -> None:
    efi = accepted(ctx, psrm_claim(ctx))
    first = deliver(ctx, _payment()(ctx, efi), "write the claim down for a payment")
    ref = _action_ids(first)[0]
    undo = deliver(ctx, _annul_payment()(ctx, efi, ref), "annul that write-down")
    ctx.equal([a.status for a in undo.actions], ["MODTAGET"], "the annulment is MODTAGET")
    reply = deliver(ctx, _annul_payment()(ctx, efi, ref), "annul it again")
    rejected_for(ctx, reply.first_action, rule.code)


def _without_ref(ctx: CaseContext, rule: Rule) -> None:
    efi = accepted(ctx, psrm_claim(ctx))
    action = _annul_payment()(ctx, efi, "1")[0]
    reply = deliver(ctx, [_edit(action, "MFAktionIDRef", None)],
                    "annul a write-down without naming it")
    rejected_for(ctx, reply.first_action, rule.code)


def _regu_with_date(ctx: CaseContext, efi: str) -> list[etree._Element]:
    action = mapping.nedskriv_action(efi, D("100.00"), WriteDownReason.PAYMENT,
                                     creditor_id=creditor(ctx), effective=ctx.day(-1))
    return [_edit(action, "FordringNedskrivningÅrsagKode", "REGU")]


def _fejl_with_date(ctx: CaseContext, efi: str) -> list[etree._Element]:
    action = mapping.tilbagekald_action(efi, RecallReason.DEFERRAL, creditor_id=creditor(ctx),
                                        effective=ctx.day(-1))
    return [_edit(action, "HovedFordringTilbageÅrsagKode", "FEJL")]


def _recall_for(reason: RecallReason) -> Callable[[CaseContext, str], None]:
    def prepare(ctx: CaseContext, efi: str) -> None:
        reply = deliver(ctx, [mapping.tilbagekald_action(efi, reason, creditor_id=creditor(ctx))],
                        f"recall the claim ({reason.value})")
        ctx.equal([a.status for a in reply.actions], ["MODTAGET"], "the recall is MODTAGET")
    return prepare


def _paid(ctx: CaseContext, efi: str) -> None:
    reply = deliver(ctx, _payment("1500.00")(ctx, efi), "write the whole claim down (paid)")
    ctx.equal([a.status for a in reply.actions], ["MODTAGET"], "the write-down is MODTAGET")


def _change_recovery(ctx: CaseContext, efi: str) -> list[etree._Element]:
    return [mapping.aendr_fordring_action(efi, creditor_id=creditor(ctx),
                                          notes=["ny forfaldsdato aftalt"])]


def _lower_principal(ctx: CaseContext, efi: str) -> list[etree._Element]:
    return [mapping.fejlagtig_hovedstol_action(efi, D("1400.00"), creditor_id=creditor(ctx))]


_ADMIN = frozenset({NEEDS_ADMIN})

#: Rule id → probe against a PSRM end.
PSRM_PROBES: dict[str, PsrmProbe] = {
    "PSRM-2": PsrmProbe(("install agreements for another fordringshaver only",
                         "deliver a claim"), _with_behaviour(
        lambda c, cl: {"agreements": {"00000000": ["DAGINST"]}}), _ADMIN),
    "PSRM-5": PsrmProbe(("mark the debtor unknown", "deliver a claim"), _with_behaviour(
        lambda c, cl: {"unknown_debtors": [cl.co_liable[0].party.number]}), _ADMIN),
    "PSRM-151": PsrmProbe(("install an agreement allowing only CFFAKTU",
                           "deliver a DAGINST claim"), _with_behaviour(
        lambda c, cl: {"agreements": {creditor(c): ["CFFAKTU"]}}), _ADMIN),
    "PSRM-152": PsrmProbe(("deliver a claim in EUR",), _create(_set(currency="EUR"))),
    "PSRM-215": PsrmProbe(("deliver a claim of 50.00",), _create(_set(principal=D("50.00")))),
    "PSRM-444": PsrmProbe(("deliver OPRETFORDRING without MFOpretFordringStruktur",),
                          _without_structure),
    **{f"PSRM-{number}": PsrmProbe((f"deliver {code.value} with an empty AktionValg",),
                                   _empty_choice(code))
       for number, code in (("403", PsrmActionCode.RESUBMIT), ("404", PsrmActionCode.WRITE_UP),
                            ("406", PsrmActionCode.WRITE_UP_ANNULLED_PAYMENT),
                            ("407", PsrmActionCode.WRITE_UP_REVERSED_ADJUSTMENT),
                            ("412", PsrmActionCode.WRITE_DOWN_ANNULLED_WRITE_UP),
                            ("447", PsrmActionCode.WRITE_DOWN), ("448", PsrmActionCode.RECALL),
                            ("458", PsrmActionCode.CHANGE),
                            ("505", PsrmActionCode.WRITE_DOWN_ANNULLED_PAYMENT_WRITE_UP),
                            ("517", PsrmActionCode.WRONG_PRINCIPAL))},
    "PSRM-220": PsrmProbe(("deliver a claim with an empty case note",), _shaped(_empty_note)),
    "PSRM-227": PsrmProbe(("deliver a claim", "write it up by 0.00"),
                          _on_claim(_write_up("0.00"))),
    "PSRM-408": PsrmProbe(("deliver a claim", "write it down by 0.00"),
                          _on_claim(_nedskriv("0.00"))),
    "PSRM-469": PsrmProbe(("deliver a claim", "write it down 200.00 (INDB)",
                           "annul the write-down for 150.00"),
                          _first_then(_payment(), _annul_payment("150.00"))),
    "PSRM-471": PsrmProbe(("deliver a claim", "write it down 200.00 (REGU)",
                           "annul it as a payment write-down"),
                          _first_then(_payment(reason=WriteDownReason.ADJUSTMENT),
                                      _annul_payment())),
    "PSRM-473": PsrmProbe(("deliver a claim", "write it up 200.00",
                           "annul the write-up as if it were a write-down"),
                          _first_then(_write_up("200.00"), _annul_payment())),
    "PSRM-477": PsrmProbe(("deliver a claim", "write it down 200.00 (INDB)",
                           "reverse it as an adjustment"),
                          _first_then(_payment(), _annul_payment(
                              code=PsrmActionCode.WRITE_UP_REVERSED_ADJUSTMENT))),
    "PSRM-486": PsrmProbe(("deliver claim X", "deliver X again in a new delivery"),
                          _duplicate_ref),
    "PSRM-494": PsrmProbe(("deliver claim A", "write A down 200.00 (INDB)",
                           "deliver claim B", "annul A's write-down on B"),
                          _first_then(_payment(), _annul_payment(), other_claim=True)),
    "PSRM-496": PsrmProbe(("deliver a claim", "recall it", "write it up"),
                          _on_claim(_write_up("100.00"),
                                    prepare=_recall_for(RecallReason.DEFERRAL))),
    "PSRM-498": PsrmProbe(("deliver a claim", "recall it", "write it down"),
                          _on_claim(_nedskriv("100.00"), prepare=_recalled)),
    "PSRM-502": PsrmProbe(("deliver a claim", "write it down 200.00 (INDB)",
                           "annul it as if it were a write-up"),
                          _first_then(_payment(), _annul_write_up())),
    "PSRM-503": PsrmProbe(("deliver a claim", "write it down 200.00", "annul the write-down",
                           "annul it again"), _annulled_twice),
    "PSRM-504": PsrmProbe(("deliver a claim", "write it up 200.00",
                           "annul the write-up for 150.00"),
                          _first_then(_write_up("200.00"), _annul_write_up("150.00"))),
    "PSRM-506": PsrmProbe(("deliver a claim", "write it up 200.00 (adjustment)",
                           "annul it as a reversed payment write-up"),
                          _first_then(_write_up("200.00"), _annul_write_up(
                              code=PsrmActionCode.WRITE_DOWN_ANNULLED_PAYMENT_WRITE_UP))),
    "PSRM-509": PsrmProbe(("NEDSKRIV naming a claim id PSRM does not know",), _unknown_efi),
    "PSRM-510": PsrmProbe(("deliver a claim of 1500.00", "correct its principal to 1400.00"),
                          _on_claim(_lower_principal)),
    "PSRM-519": PsrmProbe(("deliver a claim", "write it down (REGU) with a date"),
                          _on_claim(_regu_with_date)),
    "PSRM-526": PsrmProbe(("deliver a claim", "annul an action PSRM does not know"),
                          _on_claim(lambda c, efi: _annul_payment()(c, efi, "999999999"))),
    "PSRM-527": PsrmProbe(("deliver a claim", "annul a write-down without MFAktionIDRef"),
                          _without_ref),
    "PSRM-528": PsrmProbe(("deliver a claim with the same hæfter twice",),
                          _shaped(_twice_liable)),
    "PSRM-531": PsrmProbe(("deliver a claim with HæftelseDom true and no date",),
                          _shaped(_judgment_without_date)),
    "PSRM-532": PsrmProbe(("deliver a claim with HæftelseDom false and a date",),
                          _shaped(_date_without_judgment)),
    "PSRM-537": PsrmProbe(("deliver a recovery claim", "change it with AENDRFORDRING"),
                          _on_claim(_change_recovery)),
    "PSRM-539": PsrmProbe(("deliver a claim", "recall it (FEJL)", "resubmit it"),
                          _on_claim(_resubmit, prepare=_recall_for(RecallReason.ERROR))),
    "PSRM-540": PsrmProbe(("deliver a claim", "resubmit it while PSRM holds it"),
                          _on_claim(_resubmit)),
    "PSRM-546": PsrmProbe(("deliver a claim", "recall it (FEJL) with a date"),
                          _on_claim(_fejl_with_date)),
    "PSRM-568": PsrmProbe(("deliver a claim founded in 1899",),
                          _create(_set(founded=lambda c: c.day(-365 * 130)))),
    "PSRM-571": PsrmProbe(("deliver a claim", "write it down (FAST)"),
                          _on_claim(lambda c, efi: _payment("100.00", WriteDownReason.FIXED)(
                              c, efi))),
    "PSRM-602": PsrmProbe(("deliver a claim", "recall it", "recall it again"),
                          _on_claim(_recall, prepare=_recalled)),
    "PSRM-548": PsrmProbe(("deliver a claim", "NEDSKRIV with DMIFordringVirkningDato today+5"),
                          _on_claim(_nedskriv("100.00", effective=5))),
    "PSRM-569": PsrmProbe(("deliver a claim with its period reversed",),
                          _create(lambda c, cl: _set(period_from=cl.period_to,
                                                     period_to=cl.period_from)(c, cl))),
    "PSRM-533": PsrmProbe(("deliver a claim with a judgment date in the future",),
                          _create(_set(judgment_date=lambda c: c.day(5)))),
    "PSRM-574": PsrmProbe(("deliver a claim of inactive type UDGAAET",),
                          _create(_set(type_code="UDGAAET"))),
    "PSRM-600": PsrmProbe(("deliver a claim with MFAktionID X",
                           "deliver another claim with MFAktionID X"), _same_action_id),
    "OIR-101": PsrmProbe(("deliver a claim whose SRB has not passed",),
                         _create(_set(due_date=lambda c: c.day(5), srb=lambda c: c.day(10)))),
    "OIR-102": PsrmProbe(("deliver a claim founded after its due date",),
                         _create(_set(founded=lambda c: c.day(-25)))),
    "OIR-103": PsrmProbe(("deliver a claim due after its SRB",),
                         _create(_set(due_date=lambda c: c.day(-15)))),
    "OIR-104": PsrmProbe(("deliver a time-barred claim",),
                         _create(_set(limitation_date=lambda c: c.day(-1)))),
    "OIR-105": PsrmProbe(("deliver a claim whose hæfter has CPR 3213901234",),
                         _create(_set(co_liable=[CoLiable(Party.cpr("3213901234"))]))),
    "OIR-106": PsrmProbe(("deliver a claim whose hæfter has a CVR failing modulus 11",),
                         _create(_set(co_liable=lambda c: [CoLiable(Party.cvr(_invalid_cvr()))]))),
    "OIR-107": PsrmProbe(("deliver a claim with a sub-claim of principal type DAGINST",),
                         _create(_set(sub_claims=lambda c: [SubClaim(
                             "S1", "DAGINST", D("100.00"), D("100.00"))]))),
    "OIR-108": PsrmProbe(("deliver a claim of 0.00",), _create(_set(principal=D("0.00")),
                                                               also=("215",))),
    "OIR-113": PsrmProbe(("deliver a claim of unknown type",), _create(_set(type_code="UKENDT99"))),
    "OIR-114": PsrmProbe(("deliver a BOEDE claim for offsetting only (MODR)",),
                         _create(_set(type_code="BOEDE", art=ClaimArt.OFFSETTING_ONLY))),
    "OIR-115": PsrmProbe(("deliver a claim whose period starts in five days",), _accepted_warning),
    "OIR-116": PsrmProbe(("deliver a claim with an empty FordringHæftelseSamling",), _no_liable),
    "OIR-117": PsrmProbe(("deliver a claim of interest type RENTE",),
                         _create(_set(type_code="RENTE"))),
    "OIR-118": PsrmProbe(("deliver a claim founded in three days",),
                         _create(_set(founded=lambda c: c.day(3)), also=("OIR-102",))),
    "OIR-201": PsrmProbe(("deliver a claim", "write it down in full", "write it down again"),
                         _on_claim(_nedskriv("100.00"), prepare=_paid, also=("OIR-203",))),
    "OIR-203": PsrmProbe(("deliver a claim of 1500.00", "write it down by 5000.00"),
                         _on_claim(_nedskriv("5000.00"))),
    "OIR-206": PsrmProbe(("deliver a claim", "write it down in full", "recall it"),
                         _on_claim(_recall, prepare=_paid)),
    "OIR-403": PsrmProbe(("deliver a claim whose SRB is in the year 12025",), _unreadable),
}

#: Rules PSRM cannot judge from a delivery, and why (no case is generated for them).
NOT_JUDGED_BY_PSRM: dict[str, str] = {
    "OIR-111": "needs a benefit payment to judge; PSRM's indgangsfilter sees none",
}


def judged_by_psrm(rule: Rule) -> bool:
    """Whether PSRM judges the rule from a delivery: a PSRM context and a field PSRM's
    format carries (the reminder date, ModregningTilladt and deferrals are not sent)."""
    return (bool(rule.applies_to & PSRM_CONTEXTS) and FIELD_PATHS[rule.field].psrm is not None
            and rule.id not in NOT_JUDGED_BY_PSRM)


def _missing(ctx: CaseContext) -> None:
    raise CaseErrored(f"the suite has no PSRM probe for rule {ctx.case.rule_id}: add one to "
                      "oir_adapter/conformance/psrm_end.py")


def _bound(probe: PsrmProbe, rule: Rule) -> Callable[[CaseContext], None]:
    def run(ctx: CaseContext) -> None:
        probe.run(ctx, rule)
    return run


for _rule in RULES:
    if not judged_by_psrm(_rule):
        continue
    _probe = PSRM_PROBES.get(_rule.id)
    _warning = _rule.severity == "warning"
    register(Case(
        id=f"PSE-RUL-{_rule.id}", title=rule_title(_rule), role=Role.PSRM,
        area="RUL", requirement=(f"Warning {_rule.id} never rejects an action." if _warning else
                                 f"PSRM rejects an action breaking {_rule.id} with "
                                 f"MFAktionAfvistNummer {_rule.code}."),
        source=f"rule {_rule.id} ({_rule.source})",
        steps=_probe.steps if _probe else ("(no probe)",),
        assertions=(("the action is MODTAGET",) if _warning else
                    (f"AFVIST with reason {_rule.code}", "no unrelated reason",
                     "a good neighbour in the same delivery is MODTAGET")),
        severity="minor" if _warning else "major",
        run=_bound(_probe, _rule) if _probe else _missing,
        hint=f"See docs/rules.md, rule {_rule.id}.",
        needs=_probe.needs if _probe else frozenset(), rule_id=_rule.id))
