"""The rule catalogue: every rule fires on a violating case and stays quiet on a valid one;
all faults of a message come back at once with paths in both formats; bank days; docs."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from oir_adapter.codecs.oir import decode_state_change
from oir_adapter.codecs.psrm import ActionRequest, Liability
from oir_adapter.contracts import OIR_NS
from oir_adapter.domain.bankdays import (
    add_bank_days,
    bank_holidays,
    easter_sunday,
    is_bank_day,
    next_bank_day,
    previous_bank_day,
)
from oir_adapter.domain.model import (
    Claim,
    ClaimArt,
    ClaimState,
    CoLiable,
    Invoice,
    Party,
    PsrmActionCode,
    SubClaim,
)
from oir_adapter.domain.rules import (
    CLAIM_CHECKS,
    CONTEXTS,
    FIELD_PATHS,
    OIR_SERVICE,
    PSRM_END,
    RULES,
    RULES_BY_ID,
    RuleContext,
    StateChange,
    StateChangeKind,
    Violation,
    catalogue_markdown,
    rule,
    validate_action,
    validate_claim,
    validate_state_change,
    violation,
)
from oir_cli import main

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 11, 23)  # a Monday
CREDITOR = "29189846"
D = Decimal


def valid_claim(**changes: object) -> Claim:
    """A claim that passes every rule in every context, hand-over included, as of TODAY."""
    claim = Claim(
        id="C-1",
        account_number="100004711",
        fagsystem_claim_id="F-1",
        type_code="CFFAKTU",
        art=ClaimArt.RECOVERY,
        principal=D("1000.00"),
        period_from=date(2026, 9, 1),
        period_to=date(2026, 9, 30),
        founded=date(2026, 9, 1),
        due_date=date(2026, 10, 1),
        srb=date(2026, 10, 15),
        received=date(2026, 9, 1),
        limitation_date=date(2029, 10, 15),
        judgment_date=date(2026, 11, 1),
        creditor_cvr=CREDITOR,
        co_liable=[CoLiable(Party.cpr("2110625629")), CoLiable(Party.cvr("13585628"))],
        sub_claims=[SubClaim("C-1-1", "RENTE", D("50.00"), D("50.00"), date(2026, 10, 16),
                             date(2026, 11, 15), date(2026, 11, 15))],
        invoice=Invoice(id="I-1", payment_id="000000000000018", creditor_number="12345678",
                        amount=D("1000.00"), due_date=date(2026, 10, 1), srb=date(2026, 10, 15),
                        reminder_date=date(2026, 10, 25)),
    )
    for name, value in changes.items():
        setattr(claim, name, value)
    if "principal" in changes:
        claim.remaining_principal = claim.principal
    return claim


def full_context(**changes: object) -> RuleContext:
    """A context in which every context-dependent rule is switched on, yet satisfied."""
    ctx = RuleContext(agreements={CREDITOR: frozenset({"CFFAKTU", "BOEDE", "UDGAAET", "PROCREN",
                                                      "NOPE", "DAGINST"})},
                      known_debtor=lambda party: True, handover=True, benefit_type="FOLKEPEN",
                      seen_action_ids=frozenset({"F-0"}))
    return dataclasses.replace(ctx, **changes)  # type: ignore[arg-type]


def check(fmt: str = "oir", ctx: RuleContext | None = None, **changes: object
          ) -> list[Violation]:
    return validate_claim(valid_claim(**changes), today=TODAY, context=ctx or full_context(),
                          fmt=fmt)  # type: ignore[arg-type]


def action(code: PsrmActionCode, choice: str | None, **fields: object) -> ActionRequest:
    return ActionRequest(index=1, code=code, creditor_id=CREDITOR,
                         element=etree.Element("FordringAktion"), choice=choice,
                         **fields)  # type: ignore[arg-type]


def act(a: ActionRequest) -> list[Violation]:
    return validate_action(a, today=TODAY, context=full_context())


def create(**fields: object) -> ActionRequest:
    return action(PsrmActionCode.CREATE, "OpretFordringAktion", claim=valid_claim(), **fields)


_STRUCTURE = {
    PsrmActionCode.WRITE_DOWN: ("MFNedskrivFordringStruktur",
                                "NedskrivningBeløbStruktur/FordringNedskrivningBeløb",
                                "FordringNedskrivningVirkningFra"),
    PsrmActionCode.RECALL: ("MFTilbagekaldFordringStruktur", None, "DMIFordringVirkningFra"),
    PsrmActionCode.WRITE_UP: ("MFOpskrivningReguleringStruktur",
                              "OpskrivningBeløbStruktur/FordringOpskrivningBeløb",
                              "FordringOpskrivningVirkningFra"),
    PsrmActionCode.WRITE_UP_ANNULLED_PAYMENT: (
        "MFOpskrivningAnnulleretNedskrivningIndbetalingStruktur",
        "OpskrivningBeløbStruktur/FordringOpskrivningBeløb", "FordringOpskrivningVirkningFra"),
}


def change(code: PsrmActionCode, **fields: object) -> ActionRequest:
    """A valid non-claim action of ``code`` with ``fields`` changed."""
    element, amount_path, effective_path = _STRUCTURE[code]
    values: dict[str, object] = dict(
        efi_claim_id="120000000001", amount=D("10.00") if amount_path else None,
        amount_path=amount_path, currency="DKK" if amount_path else None,
        reason={PsrmActionCode.WRITE_DOWN: "INDB", PsrmActionCode.RECALL: "HENS"}.get(code),
        effective_date=TODAY, effective_path=effective_path, action_id_ref="110000000001")
    values.update(fields)
    return action(code, element, **values)


def state(claim_state: ClaimState, change: StateChange) -> list[Violation]:
    return validate_state_change(valid_claim(state=claim_state), change, today=TODAY,
                                 context=RuleContext())


# One violating case per rule id: each returns what the validators said about it.
TRIGGERS: dict[str, Callable[[], list[Violation]]] = {
    "PSRM-2": lambda: check("psrm", full_context(agreements={"11111111": frozenset()})),
    "PSRM-5": lambda: check("psrm", full_context(known_debtor=lambda p: p.number != "13585628")),
    "PSRM-151": lambda: check("psrm", full_context(agreements={CREDITOR: frozenset({"LIMEDIE"})})),
    "PSRM-152": lambda: check(currency="EUR"),
    "PSRM-215": lambda: check(principal=D("49.99")),
    "PSRM-220": lambda: act(create(notes=["Ok", "  "])),
    "PSRM-227": lambda: act(change(PsrmActionCode.WRITE_UP, amount=D("0.00"))),
    "PSRM-408": lambda: act(change(PsrmActionCode.WRITE_DOWN, amount=D("0.00"))),
    "PSRM-444": lambda: act(action(PsrmActionCode.CREATE, "OpretFordringAktion")),
    **{rule_id: (lambda code=code: act(action(code, None)))
       for rule_id, code in (("PSRM-403", PsrmActionCode.RESUBMIT),
                             ("PSRM-404", PsrmActionCode.WRITE_UP),
                             ("PSRM-406", PsrmActionCode.WRITE_UP_ANNULLED_PAYMENT),
                             ("PSRM-407", PsrmActionCode.WRITE_UP_REVERSED_ADJUSTMENT),
                             ("PSRM-412", PsrmActionCode.WRITE_DOWN_ANNULLED_WRITE_UP),
                             ("PSRM-447", PsrmActionCode.WRITE_DOWN),
                             ("PSRM-448", PsrmActionCode.RECALL),
                             ("PSRM-458", PsrmActionCode.CHANGE),
                             ("PSRM-505", PsrmActionCode.WRITE_DOWN_ANNULLED_PAYMENT_WRITE_UP),
                             ("PSRM-517", PsrmActionCode.WRONG_PRINCIPAL))},
    "PSRM-486": lambda: check("psrm", full_context(seen_refs=frozenset({"F-1"}))),
    "PSRM-519": lambda: act(change(PsrmActionCode.WRITE_DOWN, reason="REGU",
                                   effective_date=TODAY)),
    "PSRM-527": lambda: act(change(PsrmActionCode.WRITE_UP_ANNULLED_PAYMENT, action_id_ref=None)),
    "PSRM-528": lambda: check("psrm", co_liable=[CoLiable(Party.cvr("13585628")),
                                                 CoLiable(Party.cvr("13585628"))]),
    "PSRM-531": lambda: act(create(liabilities=[Liability(1, True, None, False, None)])),
    "PSRM-532": lambda: act(create(liabilities=[Liability(1, False, TODAY, None, None)])),
    "PSRM-546": lambda: act(change(PsrmActionCode.RECALL, reason="FEJL", effective_date=TODAY)),
    "PSRM-548": lambda: act(change(PsrmActionCode.WRITE_DOWN,
                                   effective_date=TODAY + timedelta(days=1))),
    "PSRM-568": lambda: check(founded=date(1899, 12, 31)),
    "PSRM-600": lambda: act(create(action_id="F-0")),
    "PSRM-569": lambda: check(period_from=date(2026, 10, 1)),
    "PSRM-533": lambda: check(settlement_date=TODAY + timedelta(days=1)),
    "PSRM-574": lambda: check(type_code="UDGAAET"),
    "OIR-101": lambda: check(srb=TODAY, due_date=TODAY),
    "OIR-102": lambda: check(founded=date(2026, 10, 2)),
    "OIR-103": lambda: check(due_date=date(2026, 10, 16)),
    "OIR-104": lambda: check(limitation_date=TODAY - timedelta(days=1)),
    "OIR-105": lambda: check(co_liable=[CoLiable(Party.cpr("3102851234"))]),
    "OIR-106": lambda: check(co_liable=[CoLiable(Party.cvr("13585627"))]),
    "OIR-107": lambda: check(sub_claims=[SubClaim("S", "CFFAKTU", D("5.00"), D("5.00"))]),
    "OIR-108": lambda: check(principal=D("0.00")),
    "OIR-109": lambda: check(invoice=None),
    "OIR-110": lambda: check(offsetting_allowed=False, art=ClaimArt.OFFSETTING_ONLY),
    "OIR-111": lambda: check(ctx=full_context(benefit_type="KONTHJ")),
    "OIR-112": lambda: check(deferral_until=TODAY + timedelta(days=30)),
    "OIR-113": lambda: check(type_code="NOPE"),
    "OIR-114": lambda: check(type_code="BOEDE", art=ClaimArt.OFFSETTING_ONLY),
    "OIR-115": lambda: check(period_from=TODAY + timedelta(days=8),
                             period_to=TODAY + timedelta(days=38)),
    "OIR-116": lambda: check("psrm", co_liable=[]),
    "OIR-117": lambda: check(type_code="PROCREN"),
    "OIR-118": lambda: check(founded=TODAY + timedelta(days=1)),
    "OIR-201": lambda: state(ClaimState.PAID, StateChange(StateChangeKind.CANCEL)),
    "OIR-202": lambda: state(ClaimState.HANDED_OVER, StateChange(StateChangeKind.CANCEL)),
    "OIR-203": lambda: state(ClaimState.OPEN, StateChange(StateChangeKind.WRITE_DOWN,
                                                          amount=D("1050.01"), reason="REGU")),
    "OIR-204": lambda: state(ClaimState.OPEN, StateChange(StateChangeKind.DEFERRAL,
                                                          deferral_until=TODAY)),
    "OIR-205": lambda: state(ClaimState.HANDED_OVER, StateChange(StateChangeKind.HAND_OVER,
                                                                 art=ClaimArt.RECOVERY)),
    "OIR-206": lambda: state(ClaimState.OPEN, StateChange(StateChangeKind.RECALL, reason="FEJL")),
}


def _source(trigger: Callable[[], list[Violation]]) -> str:
    return inspect.getsource(trigger)


def ids(violations: list[Violation]) -> set[str]:
    return {v.rule_id for v in violations}


# ---------------------------------------------------------------- every rule

def test_every_rule_has_a_trigger() -> None:
    # Service-level rules (unknown account, reused payment id…) need the debtor end's ledger:
    # tests/test_debtor_end.py triggers each of those over SOAP.
    # PSRM-end rules (unknown EFI claim id…) need PSRM's state: tests/test_psrm_end.py.
    service = {r.id for r in RULES_BY_ID.values()
               if OIR_SERVICE in r.applies_to or r.applies_to == {PSRM_END}}
    assert set(TRIGGERS) == set(RULES_BY_ID) - service


@pytest.mark.parametrize("rule_id", sorted(TRIGGERS))
def test_rule_fires_on_its_trigger(rule_id: str) -> None:
    found = TRIGGERS[rule_id]()
    assert rule_id in ids(found), found
    for v in found:
        assert v.path, v
        assert "{" not in v.message_da and "{" not in v.message_en, v
        assert "?" not in v.message_da and "?" not in v.message_en, v  # every value filled


@pytest.mark.parametrize("fmt", ["oir", "psrm"])
def test_valid_claim_breaks_no_rule(fmt: str) -> None:
    assert check(fmt) == []
    assert check(fmt, RuleContext()) == []  # no context at all: nothing extra fires


@pytest.mark.parametrize("change", [
    StateChange(StateChangeKind.CANCEL, reason="fejl"),
    StateChange(StateChangeKind.WRITE_DOWN, amount=D("1050.00"), reason="REGU",
                effective_date=TODAY),
    StateChange(StateChangeKind.DEFERRAL, deferral_until=TODAY + timedelta(days=1)),
    StateChange(StateChangeKind.HAND_OVER, art=ClaimArt.RECOVERY),
    StateChange(StateChangeKind.HAND_OVER, art=ClaimArt.OFFSETTING_ONLY),
], ids=lambda c: c.kind.value)
def test_valid_state_changes_break_no_rule(change: StateChange) -> None:
    assert validate_state_change(valid_claim(), change, today=TODAY, context=full_context()) == []


def test_recall_of_handed_over_claim_is_fine() -> None:
    assert state(ClaimState.HANDED_OVER, StateChange(StateChangeKind.RECALL, reason="HENS")) == []


def test_valid_psrm_actions_break_no_rule() -> None:
    liabilities = [Liability(1, True, date(2026, 11, 1), False, None),
                   Liability(2, True, date(2026, 11, 1), True, date(2026, 11, 2))]
    for a in (create(liabilities=liabilities, notes=["FagsystemID: X"]),
              *(change(code) for code in _STRUCTURE)):
        assert act(a) == [], a.code


# ---------------------------------------------------------------- all at once, with paths

def _many_faults() -> Claim:
    return valid_claim(
        period_from=date(2026, 10, 1),  # after period_to
        currency="EUR",
        principal=D("-1.00"),
        sub_claims=[SubClaim("S1", "RENTE", D("5.00"), D("5.00")),
                    SubClaim("S2", "CFFAKTU", D("5.00"), D("5.00"))],
        co_liable=[CoLiable(Party.cpr("2110625629")), CoLiable(Party.cpr("3102851234"))],
    )


def test_all_faults_reported_at_once_with_oir_paths() -> None:
    found = validate_claim(_many_faults(), today=TODAY, context=RuleContext(), fmt="oir")
    assert {(v.rule_id, v.path) for v in found} == {
        ("PSRM-569", "Fordring/PeriodeFra"),
        ("PSRM-152", "Fordring/ValutaKode"),
        ("OIR-108", "Fordring/Hovedstol"),
        ("OIR-107", "Fordring/DelfordringSamling/Delfordring[2]/DelfordringTypeKode"),
        ("OIR-105", "Fordring/HaefterSamling/Haefter[2]/Part/CPRNummer"),
    }


def test_all_faults_reported_at_once_with_psrm_paths() -> None:
    found = validate_claim(_many_faults(), today=TODAY, context=RuleContext(handover=True),
                           fmt="psrm")
    s = "MFOpretFordringStruktur"
    assert {(v.rule_id, v.path) for v in found} == {
        ("PSRM-569", f"{s}/FordringPeriodeStruktur/DMIFordringPeriodeFraDato"),
        ("PSRM-152", f"{s}/FordringBeløbStruktur/ValutaKode"),
        ("OIR-108", f"{s}/FordringBeløbStruktur/DMIFordringBeløb"),
        ("PSRM-215", f"{s}/FordringBeløbStruktur/DMIFordringBeløb"),
        ("OIR-107", "OpretUnderfordringSamling/MFOpretRelateretFordringStruktur[2]/"
                    "DMIFordringTypeKode"),
        ("OIR-105", f"{s}/FordringHæftelseSamling/MFHæftelseStruktur[2]/MFKundeStruktur/Valg/"
                    "PersonCPRNummer"),
    }


def test_messages_carry_the_values() -> None:
    found = {v.rule_id: v for v in validate_claim(_many_faults(), today=TODAY,
                                                  context=RuleContext(), fmt="oir")}
    assert found["PSRM-569"].message_en == "Period from 2026-10-01 is after period to 2026-09-30"
    assert found["PSRM-569"].message_da == ("Periode fra 2026-10-01 ligger efter periode til "
                                            "2026-09-30")
    assert found["OIR-108"].message_en == "The amount must be positive (got -1.00)"
    assert found["OIR-108"].message_da == "Beløbet skal være positivt (modtaget: -1,00)"
    assert found["OIR-107"].message_en.startswith("Sub-claim 2 has claim type CFFAKTU")


def test_cpr_numbers_are_masked_in_messages() -> None:
    found = TRIGGERS["OIR-105"]()
    (v,) = [v for v in found if v.rule_id == "OIR-105"]
    assert "310285-XXXX" in v.message_en and "1234" not in v.message_en
    (u,) = [v for v in TRIGGERS["PSRM-5"]() if v.rule_id == "PSRM-5"]
    assert u.path.endswith("MFHæftelseStruktur[2]/MFKundeStruktur/Valg/VirksomhedCVRNummer")


def test_sub_claim_rules_point_at_the_sub_claim() -> None:
    sub = SubClaim("S", "NOPE", D("0.00"), D("0.00"), date(2026, 11, 2), date(2026, 11, 1))
    found = check(sub_claims=[sub])
    d = "Fordring/DelfordringSamling/Delfordring[1]"
    assert {(v.rule_id, v.path) for v in found} == {
        ("OIR-113", f"{d}/DelfordringTypeKode"),
        ("OIR-108", f"{d}/Beloeb"),
        ("PSRM-569", f"{d}/PeriodeFra"),
    }


# ---------------------------------------------------------------- context gating

def test_agreement_rules_need_installed_agreements() -> None:
    assert not {"PSRM-2", "PSRM-151"} & ids(check("psrm", RuleContext(agreements=None)))
    assert "PSRM-2" in ids(check("psrm", RuleContext(agreements={})))


def test_creditor_id_from_context_beats_the_claims() -> None:
    ctx = full_context(creditor_id="11111111")
    assert "PSRM-2" in ids(check("psrm", ctx))


def test_debtor_rule_needs_a_lookup() -> None:
    assert "PSRM-5" not in ids(check("psrm", RuleContext(known_debtor=None)))


def test_handover_rules_only_at_handover() -> None:
    quiet = RuleContext(handover=False)
    late = {"srb": TODAY, "due_date": TODAY, "invoice": None, "principal": D("10.00"),
            "deferral_until": TODAY}
    assert not {"OIR-101", "OIR-109", "PSRM-215", "OIR-112"} & ids(check("oir", quiet, **late))
    assert {"OIR-101", "OIR-109", "PSRM-215", "OIR-112"} <= ids(
        check("oir", RuleContext(handover=True), **late))


def test_psrm_only_rules_do_not_fire_on_oir() -> None:
    ctx = full_context(seen_action_ids=frozenset({"F-1"}), agreements={})
    assert not {"PSRM-600", "PSRM-2", "OIR-116"} & ids(check("oir", ctx, co_liable=[]))


def test_rules_without_a_field_in_the_format_are_not_judged_there() -> None:
    # A PSRM delivery carries no reminder date and no ModregningTilladt.
    found = ids(check("psrm", offsetting_allowed=False, art=ClaimArt.OFFSETTING_ONLY,
                      invoice=None))
    assert not {"OIR-109", "OIR-110"} & found
    assert {"OIR-109", "OIR-110"} <= ids(check("oir", offsetting_allowed=False,
                                               art=ClaimArt.OFFSETTING_ONLY, invoice=None))


def test_the_senders_action_id_is_what_rule_600_checks() -> None:
    ctx = full_context(seen_action_ids=frozenset({"4711"}))
    seen = create(action_id="4711")
    (v,) = validate_action(seen, today=TODAY, context=ctx)
    assert (v.rule_id, v.path) == (
        "PSRM-600", "AktionValg/OpretFordringAktion/MFOpretFordringStruktur/MFAktionID")
    assert v.message_en == "Action id 4711 already exists"
    assert v.to_afvist() == ("600", "AktionId eksisterer allerede i PSRM")
    assert validate_action(create(action_id="4712"), today=TODAY, context=ctx) == []
    # a claim reference PSRM holds already is 486, not 600
    assert ids(check("psrm", full_context(seen_refs=frozenset({"F-1"})))) == {"PSRM-486"}


def test_benefit_table_decides_offsetting() -> None:
    assert "OIR-111" not in ids(check(ctx=full_context(benefit_type="KONTHJ"),
                                      type_code="DAGINST"))
    assert "OIR-110" in ids(check(ctx=full_context(benefit_type="FOLKEPEN"),
                                  offsetting_allowed=False))


# ---------------------------------------------------------------- hand-over dates

def test_limitation_date_today_is_not_yet_time_barred() -> None:
    assert "OIR-104" not in ids(check(limitation_date=TODAY))


def test_srb_on_a_weekend_moves_to_next_bank_day() -> None:
    saturday = date(2026, 11, 21)
    claim = {"srb": saturday, "due_date": saturday, "invoice": None}
    ctx = RuleContext(handover=True)
    found = [v for v in check("oir", ctx, **claim) if v.rule_id == "OIR-101"]
    assert found and "2026-11-23" in found[0].message_en  # Monday is still on time
    after = validate_claim(valid_claim(**claim), today=TODAY + timedelta(days=1), context=ctx,
                           fmt="oir")
    assert "OIR-101" not in ids(after)


def test_reminder_must_follow_srb_and_precede_today() -> None:
    def with_reminder(day: date) -> set[str]:
        claim = valid_claim()
        assert claim.invoice is not None
        claim.invoice.reminder_date = day
        return ids(validate_claim(claim, today=TODAY, context=RuleContext(handover=True),
                                  fmt="oir"))

    assert "OIR-109" in with_reminder(date(2026, 10, 15))  # on the SRB itself
    assert "OIR-109" in with_reminder(TODAY + timedelta(days=1))
    assert "OIR-109" not in with_reminder(date(2026, 10, 16))


def test_lower_limit_counts_sub_claims_and_payments() -> None:
    # 60 principal + 50 interest = 110: above the limit; exactly 100.00 is not (PSRM 215
    # rejects an amount "not above" the lower limit), 100.01 is.
    assert "PSRM-215" not in ids(check(principal=D("60.00")))
    assert "PSRM-215" in ids(check(principal=D("50.00")))
    assert "PSRM-215" not in ids(check(principal=D("50.01")))
    paid_down = valid_claim(principal=D("60.00"))
    paid_down.remaining_principal = D("49.99")  # 99.99 left
    found = validate_claim(paid_down, today=TODAY, context=full_context(), fmt="oir")
    (v,) = [v for v in found if v.rule_id == "PSRM-215"]
    assert v.message_en == ("Amount 99.99 DKK is not above the lower limit of 100.00 DKK for "
                            "hand-over")
    assert v.to_afvist() == ("215", "Fordringsbeløb ikke større end nedre grænse")


# ---------------------------------------------------------------- state changes

def test_overdrag_judges_the_art_it_asks_for() -> None:
    claim = valid_claim(type_code="BOEDE")
    found = validate_state_change(claim, StateChange(StateChangeKind.HAND_OVER,
                                                     art=ClaimArt.OFFSETTING_ONLY),
                                  today=TODAY, context=RuleContext())
    assert [(v.rule_id, v.path) for v in found] == [("OIR-114", "Overdrag/FordringArt")]


def test_overdrag_reports_every_hand_over_fault() -> None:
    claim = valid_claim(srb=TODAY, due_date=TODAY, invoice=None, deferral_until=TODAY,
                        principal=D("10.00"), sub_claims=[])
    found = validate_state_change(claim, StateChange(StateChangeKind.HAND_OVER,
                                                     art=ClaimArt.RECOVERY),
                                  today=TODAY, context=RuleContext())
    assert {(v.rule_id, v.path) for v in found} == {
        ("OIR-101", "Fordring/SidsteRettidigeBetalingsDato"),
        ("OIR-109", "Opkraevning/RykkerDato"),
        ("OIR-112", "Henstand/HenstandTilDato"),
        ("PSRM-215", "Fordring/Hovedstol"),
    }


def test_closed_claim_refuses_everything_with_one_answer() -> None:
    for closed in (ClaimState.PAID, ClaimState.CANCELLED, ClaimState.WRITTEN_OFF,
                   ClaimState.COVERED_BY_PSRM):
        found = state(closed, StateChange(StateChangeKind.HAND_OVER, art=ClaimArt.RECOVERY))
        assert [(v.rule_id, v.path) for v in found] == [("OIR-201", "FordringID")]
        assert closed.value in found[0].message_da
    (v,) = state(ClaimState.PAID, StateChange(StateChangeKind.CANCEL))
    assert v.message_en == "The claim is closed (state BETALT); cancellation is not possible"
    assert v.message_da == "Fordringen er lukket (status BETALT); annullering er ikke mulig"


def test_write_down_checks_without_a_stored_claim() -> None:
    change = StateChange(StateChangeKind.WRITE_DOWN, amount=D("0.00"), reason="REGU",
                         effective_date=TODAY + timedelta(days=2))
    found = validate_state_change(None, change, today=TODAY, context=RuleContext())
    assert {(v.rule_id, v.path) for v in found} == {("OIR-108", "Nedskriv/Beloeb"),
                                                    ("PSRM-548", "Nedskriv/VirkningsDato")}


def test_write_down_of_exactly_the_outstanding_amount_is_fine() -> None:
    change = StateChange(StateChangeKind.WRITE_DOWN, amount=D("1050.00"), reason="REGU")
    assert state(ClaimState.OPEN, change) == []
    (v,) = state(ClaimState.OPEN, dataclasses.replace(change, amount=D("1050.01")))
    assert v.message_en == ("The write-down 1050.01 is larger than the outstanding amount "
                            "1050.00")


def _ret(change_xml: str) -> etree._Element:
    return etree.fromstring(
        f'<RetFordringTilstandRequest xmlns="{OIR_NS}"><FordringID>C-9</FordringID>'
        f"{change_xml}</RetFordringTilstandRequest>")


@pytest.mark.parametrize(("xml", "expected"), [
    ("<Annuller><Begrundelse>dublet</Begrundelse></Annuller>",
     StateChange(StateChangeKind.CANCEL, reason="dublet")),
    ("<Nedskriv><Beloeb>12.50</Beloeb><AarsagKode>INDB</AarsagKode>"
     "<VirkningsDato>2026-11-20</VirkningsDato></Nedskriv>",
     StateChange(StateChangeKind.WRITE_DOWN, amount=D("12.50"), reason="INDB",
                 effective_date=date(2026, 11, 20))),
    ("<Henstand><HenstandTilDato>2027-01-31</HenstandTilDato></Henstand>",
     StateChange(StateChangeKind.DEFERRAL, deferral_until=date(2027, 1, 31))),
    ("<Overdrag><FordringArt>MODR</FordringArt></Overdrag>",
     StateChange(StateChangeKind.HAND_OVER, art=ClaimArt.OFFSETTING_ONLY)),
    ("<Tilbagekald><AarsagKode>HENS</AarsagKode></Tilbagekald>",
     StateChange(StateChangeKind.RECALL, reason="HENS")),
])
def test_decode_state_change(xml: str, expected: StateChange) -> None:
    assert decode_state_change(_ret(xml)) == ("C-9", expected)


# ---------------------------------------------------------------- PSRM actions

def test_action_paths_are_relative_to_the_fordring_aktion() -> None:
    claim = valid_claim(currency="EUR")
    a = action(PsrmActionCode.CREATE, "OpretFordringAktion", claim=claim)
    found = validate_action(a, today=TODAY, context=full_context(agreements={}))
    assert {(v.rule_id, v.path) for v in found} == {
        ("PSRM-152", "AktionValg/OpretFordringAktion/MFOpretFordringStruktur/"
                     "FordringBeløbStruktur/ValutaKode"),
        ("PSRM-2", "DMIFordringHaverID"),  # the action's own fordringshaver id
    }


def test_write_down_action_faults() -> None:
    a = change(PsrmActionCode.WRITE_DOWN, amount=D("0.00"), currency="SEK", reason="REGU",
               effective_date=TODAY + timedelta(days=1))
    n = "AktionValg/MFNedskrivFordringStruktur"
    assert {(v.rule_id, v.path) for v in validate_action(a, today=TODAY,
                                                         context=RuleContext())} == {
        ("PSRM-408", f"{n}/NedskrivningBeløbStruktur/FordringNedskrivningBeløb"),
        ("PSRM-152", f"{n}/NedskrivningBeløbStruktur/ValutaKode"),
        ("PSRM-519", f"{n}/FordringNedskrivningVirkningFra"),
        ("PSRM-548", f"{n}/FordringNedskrivningVirkningFra"),
    }


def test_recall_effective_date_path() -> None:
    a = change(PsrmActionCode.RECALL, effective_date=TODAY + timedelta(days=1))
    (v,) = validate_action(a, today=TODAY, context=RuleContext())
    assert v.path == "AktionValg/MFTilbagekaldFordringStruktur/DMIFordringVirkningFra"
    assert v.to_afvist() == ("548", "Den angivne virkningsdato må ikke være fremtidig")


def test_missing_structure_is_444() -> None:
    (v,) = TRIGGERS["PSRM-444"]()
    assert v.path == "AktionValg/OpretFordringAktion/MFOpretFordringStruktur"
    assert v.to_afvist() == ("444", "AktionKode er MFOpretFordring men MFOpretFordringStruktur "
                                    "mangler")


def test_another_structure_than_the_code_names_is_its_missing_structure() -> None:
    a = action(PsrmActionCode.WRITE_DOWN, "OpretFordringAktion", claim=valid_claim())
    (v,) = act(a)
    assert (v.rule_id, v.path) == ("PSRM-447", "AktionValg")


def test_judgment_and_settlement_are_judged_per_liability() -> None:
    later = TODAY + timedelta(days=1)
    a = create(liabilities=[Liability(1, True, date(2026, 11, 1), False, None),
                            Liability(2, True, later, True, later),
                            Liability(3, None, date(1899, 1, 1), None, None)])
    h = "AktionValg/OpretFordringAktion/MFOpretFordringStruktur/FordringHæftelseSamling/"
    assert {(v.rule_id, v.path) for v in act(a)} == {
        ("PSRM-533", f"{h}MFHæftelseStruktur[2]/HæftelseDomDato"),
        ("PSRM-533", f"{h}MFHæftelseStruktur[2]/HæftelseForligDato"),
        ("PSRM-532", f"{h}MFHæftelseStruktur[3]/HæftelseDomDato"),
        ("PSRM-568", f"{h}MFHæftelseStruktur[3]/HæftelseDomDato"),
    }


# ---------------------------------------------------------------- answers

def test_to_fejl_and_to_afvist() -> None:
    v = violation("PSRM-569", fmt="oir", period_from=date(2026, 2, 1), period_to=date(2026, 1, 1))
    assert v.to_fejl() == ("PSRM-569", "Periode fra 2026-02-01 ligger efter periode til "
                                       "2026-01-01", "Fordring/PeriodeFra")
    assert v.to_afvist() == ("569", "PeriodeFra må ikke være efter PeriodeTil")
    own = violation("OIR-116", fmt="psrm")
    assert own.to_afvist() == ("OIR-116", "Fordringen har ingen hæfter")
    assert own.path == "MFOpretFordringStruktur/FordringHæftelseSamling"


def test_texts_are_cut_to_the_schema_limits() -> None:
    v = violation("PSRM-2", fmt="oir", creditor="x" * 2000)
    assert len(v.to_fejl()[1]) == 400
    assert v.to_afvist() == ("2", "Fordringhaveraftale findes ikke")  # PSRM's own text
    own = violation("OIR-403", fmt="psrm", message="x" * 2000)
    assert len(own.to_afvist()[1]) == 1000


def test_with_prefix_resolves_parent_steps() -> None:
    v = violation("PSRM-2", fmt="psrm", creditor="1")
    assert v.path == "../../DMIFordringHaverID"
    assert v.with_prefix("/MFFordringIndberet_I/FordringAktionSamling/FordringAktion[3]/"
                         "AktionValg/OpretFordringAktion").path == (
        "/MFFordringIndberet_I/FordringAktionSamling/FordringAktion[3]/DMIFordringHaverID")


# ---------------------------------------------------------------- the catalogue itself

def test_catalogue_is_well_formed() -> None:
    assert len(RULES) == len(RULES_BY_ID)
    for r in RULES:  # PSRM answers its published number with its own text
        assert (r.psrm_number is None) == (r.psrm_text is None), r.id
        assert r.psrm_number is None or r.id == f"PSRM-{r.psrm_number}", r.id
    for r in RULES:
        assert r.field in FIELD_PATHS, r.id
        assert r.applies_to and r.applies_to <= set(CONTEXTS), r.id
        assert r.text_da and r.text_en and r.source, r.id
        assert r.severity in ("error", "warning")
        assert rule(r.id) is r
    # Claim-content checks exist exactly for the rules that judge a claim.
    assert set(CLAIM_CHECKS) <= set(RULES_BY_ID)
    service = {r.id for r in RULES if OIR_SERVICE in r.applies_to or r.applies_to == {PSRM_END}}
    action_rules = {rule_id for rule_id in TRIGGERS if "act(" in _source(TRIGGERS[rule_id])}
    assert set(RULES_BY_ID) - set(CLAIM_CHECKS) - service - action_rules == {
        "OIR-201", "OIR-202", "OIR-203", "OIR-204", "OIR-205", "OIR-206"}


def test_docs_rules_md_is_current() -> None:
    current = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert current == catalogue_markdown(), "docs/rules.md is stale: run `oir docs rules " \
                                            "--out docs/rules.md`"


def test_catalogue_markdown_lists_every_rule_once() -> None:
    text = catalogue_markdown()
    for r in RULES:
        assert text.count(f"\n| {r.id} |") == 1
    assert "`Fordring/Hovedstol`" in text
    assert "`MFOpretFordringStruktur/FordringBeløbStruktur/DMIFordringBeløb`" in text


def test_cli_docs_rules(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["docs", "rules"])
    assert result.exit_code == 0 and result.output == catalogue_markdown()
    out = tmp_path / "rules.md"
    assert runner.invoke(main, ["docs", "rules", "--out", str(out)]).exit_code == 0
    assert out.read_text(encoding="utf-8") == catalogue_markdown()


# ---------------------------------------------------------------- bank days

@pytest.mark.parametrize(("day", "open_"), [
    (date(2026, 12, 23), True),
    (date(2026, 12, 24), False),  # Christmas Eve
    (date(2026, 12, 25), False),
    (date(2026, 12, 31), False),  # New Year's Eve
    (date(2027, 1, 1), False),
    (date(2026, 4, 2), False),  # Maundy Thursday
    (date(2026, 4, 6), False),  # Easter Monday
    (date(2026, 5, 1), True),  # Workers' Day: banks open
    (date(2026, 5, 14), False),  # Ascension Day
    (date(2026, 5, 15), False),  # the Friday after
    (date(2026, 5, 25), False),  # Whit Monday
    (date(2026, 6, 5), False),  # Constitution Day
    (date(2026, 11, 21), False),  # Saturday
    (date(2026, 11, 22), False),  # Sunday
    (date(2026, 11, 23), True),
    (date(2023, 5, 5), False),  # Great Prayer Day, still a holiday in 2023
    (date(2024, 4, 26), True),  # … abolished from 2024
])
def test_is_bank_day(day: date, open_: bool) -> None:
    assert is_bank_day(day) is open_


def test_easter_sunday_known_years() -> None:
    assert easter_sunday(2024) == date(2024, 3, 31)
    assert easter_sunday(2025) == date(2025, 4, 20)
    assert easter_sunday(2026) == date(2026, 4, 5)
    assert easter_sunday(2038) == date(2038, 4, 25)


def test_bank_holidays_names_the_extra_closing_days() -> None:
    days = bank_holidays(2026)
    assert days[date(2026, 5, 15)] == "Dagen efter Kristi himmelfartsdag"
    assert days[date(2026, 6, 5)] == "Grundlovsdag"
    assert date(2026, 5, 1) not in days
    days.clear()  # callers get a copy
    assert bank_holidays(2026)


def test_next_and_previous_bank_day() -> None:
    assert next_bank_day(date(2026, 11, 23)) == date(2026, 11, 23)
    assert next_bank_day(date(2026, 12, 24)) == date(2026, 12, 28)
    assert next_bank_day(date(2026, 12, 31)) == date(2027, 1, 4)
    assert previous_bank_day(date(2026, 12, 27)) == date(2026, 12, 23)


def test_add_bank_days() -> None:
    assert add_bank_days(date(2026, 12, 23), 1) == date(2026, 12, 28)
    assert add_bank_days(date(2026, 12, 28), -1) == date(2026, 12, 23)
    assert add_bank_days(date(2026, 11, 21), 0) == date(2026, 11, 23)
    assert add_bank_days(date(2026, 11, 23), 5) == date(2026, 11, 30)
    assert add_bank_days(date(2026, 5, 13), 1) == date(2026, 5, 18)


@settings(max_examples=60, deadline=None)
@given(start=st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)),
       n=st.integers(min_value=-40, max_value=40))
def test_add_bank_days_counts_bank_days(start: date, n: int) -> None:
    end = add_bank_days(start, n)
    assert is_bank_day(end)
    if n == 0:
        assert end == next_bank_day(start)
        return
    low, high = (start, end) if n > 0 else (end, start)
    between = sum(is_bank_day(low + timedelta(days=i)) for i in range(1, (high - low).days))
    assert between == abs(n) - 1  # the end day itself is the n-th
