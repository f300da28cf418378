"""The ØIR debtor end through real SOAP clients (in-process transport): each operation's
answers, every service-level rule, and that a refused request leaves the store as it was."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest
from sqlalchemy import func, select

from emulator.storage import schema as t
from oir_adapter.clients import Reply
from oir_adapter.codecs import oir_requests as messages
from oir_adapter.contracts import OIR_NS
from oir_adapter.domain.model import Party
from oir_adapter.domain.rules import OIR_SERVICE, RULES
from tests.emulator_inproc import InProcessEmulator, in_process

CALLER = messages.Caller("29189846", "DAGTILBUD")
OTHER = messages.Caller("55133018", "ANDEN")
CPR = "0405871270"
Q = f"{{{OIR_NS}}}"


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[InProcessEmulator]:
    with in_process(tmp_path) as e:
        e.admin("PUT", "/clock", now="2026-03-02T10:00:00")
        yield e


def spec(ref: str = "C-1", principal: str = "1000.00", **kw: object) -> messages.ClaimSpec:
    values: dict[str, object] = dict(
        fagsystem_claim_id=ref, type_code="DAGINST", principal=D(principal),
        period_from=date(2026, 2, 1), period_to=date(2026, 2, 28), founded=date(2026, 2, 1),
        due_date=date(2026, 3, 10), srb=date(2026, 3, 16))
    values.update(kw)
    return messages.ClaimSpec(**values)  # type: ignore[arg-type]


def account(emu: InProcessEmulator, ref: str = "A-1", cpr: str = CPR,
            caller: messages.Caller = CALLER, *, street: bool = False) -> str:
    address = {"street": "Vestergade 3", "postcode": "8000", "city": "Aarhus C"} if street else {}
    r = emu.soap.debitor_registrering.call("OpretDebitorkonto", messages.opret_debitorkonto(
        caller, reference=ref, party=Party.cpr(cpr), name="Mette Hansen", **address))
    number = r.findtext("DebitorkontoNummer")
    assert r.ok and number
    return number


def claim(emu: InProcessEmulator, number: str, s: messages.ClaimSpec | None = None) -> Reply:
    return emu.soap.debitor_registrering.call("OpretFordring", messages.opret_fordring(
        CALLER, account_number=number, claim=s or spec()))


def codes(reply: Reply) -> list[tuple[str, str | None]]:
    return [(e.code, e.field) for e in reply.errors]


def counts(emu: InProcessEmulator) -> dict[str, int]:
    """Rows per business table: what a refused request must leave unchanged."""
    with emu.runtime.store.transaction() as conn:
        return {table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
                for table in (t.accounts, t.claims, t.sub_claims, t.payments, t.coverage,
                              t.benefit_payments, t.offsets, t.write_offs, t.outbox)}


# ---------------------------------------------------------------- happy paths


def test_account_is_idempotent_on_the_fagsystem_reference(emu: InProcessEmulator) -> None:
    first = account(emu)
    r = emu.soap.debitor_registrering.call("OpretDebitorkonto", messages.opret_debitorkonto(
        CALLER, reference="A-1", party=Party.cpr(CPR), name="Mette Hansen"))
    assert r.findtext("DebitorkontoNummer") == first
    assert r.findtext("Oprettet") == "false"
    assert counts(emu)["accounts"] == 1


def test_invoice_gets_a_fik_payment_id_with_check_digit(emu: InProcessEmulator) -> None:
    from oir_adapter.domain.identifiers import is_valid_payment_id

    r = claim(emu, account(emu), spec(sub_claims=(messages.SubClaimSpec("GEBYR", D("100.00")),)))
    assert r.ok, r.errors
    fik = r.findtext("Opkraevning/BetalingsID")
    assert fik is not None and is_valid_payment_id(fik)
    assert r.findtext("Opkraevning/FIKKortart") == "71"
    assert r.findtext("Opkraevning/Beloeb") == "1100.00"


def test_due_date_on_a_bank_holiday_moves_to_the_next_bank_day(emu: InProcessEmulator) -> None:
    # 2026-04-03 is Good Friday, 2026-04-06 Easter Monday: the invoice falls due 04-07.
    r = claim(emu, account(emu), spec(due_date=date(2026, 4, 3), srb=date(2026, 4, 3)))
    assert r.findtext("Opkraevning/ForfaldsDato") == "2026-04-07"


def test_rule_violations_are_all_reported_and_nothing_is_stored(emu: InProcessEmulator) -> None:
    number = account(emu)
    before = counts(emu)
    r = claim(emu, number, spec(principal="-5.00", currency="EUR",
                                period_from=date(2026, 3, 1), period_to=date(2026, 2, 1)))
    assert r.reaction == "FEJL"
    assert {c for c, _ in codes(r)} >= {"OIR-108", "PSRM-152", "PSRM-569"}
    assert ("PSRM-569", "Fordring/PeriodeFra") in codes(r)
    assert counts(emu) == before


def test_search_pages_with_a_continuation_token(emu: InProcessEmulator) -> None:
    for n in range(5):
        account(emu, ref=f"A-{n}", cpr=CPR)
    account(emu, ref="X-1", caller=OTHER)  # another authority: never found
    seen: list[str] = []
    token = None
    for _ in range(5):
        r = emu.soap.debitor_forespoergsel.call("SoegDebitorkonto", messages.soeg_debitorkonto(
            CALLER, party=Party.cpr(CPR), max_count=2, token=token))
        seen += [e.text or "" for e in r.element.iter(f"{Q}DebitorkontoNummer")]
        token = r.findtext("FortsaettelsesToken")
        if token is None:
            break
    assert len(seen) == 5 and len(set(seen)) == 5


def test_search_by_name_prefix_and_reference(emu: InProcessEmulator) -> None:
    number = account(emu, ref="BARN-7")
    r = emu.soap.debitor_forespoergsel.call("SoegDebitorkonto", messages.soeg_debitorkonto(
        CALLER, name_prefix="mette"))
    assert [e.text for e in r.element.iter(f"{Q}DebitorkontoNummer")] == [number]
    r = emu.soap.debitor_forespoergsel.call("SoegDebitorkonto", messages.soeg_debitorkonto(
        CALLER, reference="BARN-8"))
    assert list(r.element.iter(f"{Q}DebitorkontoNummer")) == []


def named(emu: InProcessEmulator, name: str, ref: str) -> str:
    r = emu.soap.debitor_registrering.call("OpretDebitorkonto", messages.opret_debitorkonto(
        CALLER, reference=ref, party=Party.cpr(CPR), name=name))
    assert r.ok, r.errors
    return r.findtext("DebitorkontoNummer") or ""


def found_by_name(emu: InProcessEmulator, prefix: str) -> list[str | None]:
    r = emu.soap.debitor_forespoergsel.call("SoegDebitorkonto", messages.soeg_debitorkonto(
        CALLER, name_prefix=prefix))
    assert r.ok, r.errors
    return [e.text for e in r.element.iter(f"{Q}DebitorkontoNummer")]


def test_name_prefix_search_folds_danish_letters_and_compositions(
        emu: InProcessEmulator) -> None:
    """SQLite's lower() and LIKE fold ASCII only: "Ørsted" was not found even as typed."""
    oersted = named(emu, "Ørsted Åse", "N-1")
    aeroe = named(emu, "ærø ejendomme ApS", "N-2")
    ulla = named(emu, "Ulla Østergaard", "N-3")
    decomposed = named(emu, "A\u030aberg Sø", "N-4")  # Å sent as A + combining ring
    named(emu, "Orla Olsen", "N-5")
    for prefix in ("Ørsted", "ørsted", "ØRSTED", "Ør"):
        assert found_by_name(emu, prefix) == [oersted], prefix
    for prefix in ("Ær", "ÆRØ E", "ærø"):
        assert found_by_name(emu, prefix) == [aeroe], prefix
    assert found_by_name(emu, "ulla ø") == found_by_name(emu, "ULLA Ø") == [ulla]
    assert found_by_name(emu, "Åberg") == found_by_name(emu, "åBERG") == [decomposed]
    assert found_by_name(emu, "A\u030aBERG") == [decomposed]  # decomposed on both sides
    assert found_by_name(emu, "Ø") == [oersted]  # not Orla: Ø is a letter of its own
    assert found_by_name(emu, "100%") == [] and found_by_name(emu, "_rsted") == []


def test_accounts_from_before_the_name_search_key_are_found_after_an_upgrade(
        tmp_path: Path) -> None:
    """A database made before accounts.name_fold existed gets the column and its values
    when the emulator opens it."""
    from sqlalchemy import text

    from emulator.storage.store import Store

    with in_process(tmp_path) as emu:
        number = named(emu, "Øster Åse", "OLD-1")
    store = Store(f"sqlite:///{tmp_path / 'emulator.sqlite3'}")
    with store.transaction() as conn:  # as an earlier version left it
        conn.execute(text("ALTER TABLE accounts DROP COLUMN name_fold"))
    store.dispose()
    with in_process(tmp_path) as emu:
        with emu.runtime.store.transaction() as conn:
            assert conn.execute(select(t.accounts.c.name_fold)).scalar_one() == "øster åse"
        assert found_by_name(emu, "ØSTER") == [number]


def test_payment_surplus_is_reported_never_lost(emu: InProcessEmulator) -> None:
    number = account(emu)
    claim(emu, number)
    r = emu.soap.debitor_indbetaling.call("ForetagIndbetaling", messages.foretag_indbetaling(
        CALLER, payment_id="P-1", amount=D("1234.56"), paid=date(2026, 3, 5),
        account_number=number))
    assert r.findtext("Indbetaling/Overskud") == "234.56"
    h = emu.soap.debitor_forespoergsel.call("HentDebitorkonto", messages.hent_debitorkonto(
        CALLER, account_number=number))
    assert h.findtext("Debitorkonto/Saldo") == "0.00"
    assert h.findtext("Debitorkonto/Tilgodehavende") == "234.56"
    assert [e.text for e in h.element.iter(f"{Q}Status")][-1] == "BETALT"


def test_preview_books_nothing(emu: InProcessEmulator) -> None:
    number = account(emu)
    claim(emu, number)
    before = counts(emu)
    r = emu.soap.debitor_indbetaling.call(
        "SoegDelfordringTilIndbetaling", messages.soeg_delfordring_til_indbetaling(
            CALLER, payment_id="P-9", amount=D("300.00"), paid=date(2026, 3, 5),
            account_number=number))
    assert [d.findtext(f"{Q}Beloeb") for d in r.element.iter(f"{Q}Daekning")] == ["300.00"]
    assert counts(emu) == before


def test_simulated_offset_books_nothing(emu: InProcessEmulator) -> None:
    claim(emu, account(emu))
    before = counts(emu)
    r = emu.soap.debitor_modregning.call("ForetagModregning", messages.foretag_modregning(
        CALLER, benefit_id="Y-1", recipient=Party.cpr(CPR), benefit_type="FOLKEPEN",
        payout=date(2026, 3, 20), gross=D("5000.00"), protected=D("4500.00"), simulate=True))
    assert r.findtext("ModregningResultat/Status") == "SIMULERET"
    assert r.findtext("ModregningResultat/ModregnetIAlt") == "500.00"
    assert r.findtext("ModregningResultat/Nettoudbetaling") == "4500.00"
    assert counts(emu) == before


def test_payout_today_is_booked_at_once_and_reported(emu: InProcessEmulator) -> None:
    number = account(emu)
    claim(emu, number, spec(due_date=date(2026, 3, 1)))  # due by the payout date
    r = emu.soap.debitor_modregning.call("ForetagModregning", messages.foretag_modregning(
        CALLER, benefit_id="Y-2", recipient=Party.cpr(CPR), benefit_type="FOLKEPEN",
        payout=date(2026, 3, 2), gross=D("1000.00"), protected=D("700.00")))
    # 20 % pension cap (200.00) is below gross − protected (300.00)
    assert r.findtext("ModregningResultat/Status") == "BOOKET"
    assert r.findtext("ModregningResultat/ModregnetIAlt") == "200.00"
    h = emu.soap.debitor_forespoergsel.call("HentDebitorkonto", messages.hent_debitorkonto(
        CALLER, account_number=number))
    assert h.findtext("Debitorkonto/Saldo") == "800.00"


def test_state_changes_write_down_deferral_cancel(emu: InProcessEmulator) -> None:
    number = account(emu)
    claim_id = claim(emu, number).findtext("FordringID")
    assert claim_id
    reg = emu.soap.debitor_registrering
    r = reg.call("RetFordringTilstand", messages.ret_fordring_tilstand(
        CALLER, claim_id=claim_id, change="Nedskriv", amount=D("250.00"), reason="REGU"))
    assert r.ok, r.errors
    assert r.findtext("Restbeloeb") == "750.00"
    r = reg.call("RetFordringTilstand", messages.ret_fordring_tilstand(
        CALLER, claim_id=claim_id, change="Henstand", deferral_until=date(2026, 6, 1)))
    assert r.ok, r.errors
    # deferral blocks hand-over after SRB
    events = emu.admin("POST", "/clock/advance", days=30)["events"]
    assert not [e for e in events if e["event"] == "handover"]
    r = reg.call("RetFordringTilstand", messages.ret_fordring_tilstand(
        CALLER, claim_id=claim_id, change="Annuller", reason="fejl"))
    assert r.findtext("Status") == "ANNULLERET"
    r = reg.call("RetFordringTilstand", messages.ret_fordring_tilstand(
        CALLER, claim_id=claim_id, change="Nedskriv", amount=D("1.00"), reason="REGU"))
    assert [c for c, _ in codes(r)] == ["OIR-201"]


# ---------------------------------------------------------------- service-level rules

SERVICE_RULES = {r.id for r in RULES if OIR_SERVICE in r.applies_to}
TRIGGERED: set[str] = set()


def expect(reply: Reply, rule_id: str, field: str) -> None:
    assert reply.reaction == "FEJL"
    assert (rule_id, field) in codes(reply), codes(reply)
    TRIGGERED.add(rule_id)


def test_service_rules(emu: InProcessEmulator) -> None:
    reg, forsp = emu.soap.debitor_registrering, emu.soap.debitor_forespoergsel
    ind, modr = emu.soap.debitor_indbetaling, emu.soap.debitor_modregning
    number = account(emu)
    claim_id = claim(emu, number).findtext("FordringID")
    assert claim_id
    before = counts(emu)
    expect(claim(emu, "999999"), "OIR-301", "DebitorkontoNummer")
    expect(forsp.call("HentDebitorkonto", messages.hent_debitorkonto(
        OTHER, account_number=number)), "OIR-301", "DebitorkontoNummer")  # not the caller's
    expect(reg.call("RetFordringTilstand", messages.ret_fordring_tilstand(
        CALLER, claim_id="F9999999", change="Annuller")), "OIR-302", "FordringID")
    expect(claim(emu, number, spec(principal="1000.01")), "OIR-303",
           "Fordring/FagsystemFordringID")
    expect(claim(emu, number, spec(ref="C-2", principal="9999999999999.99")), "OIR-320",
           "Fordring/Hovedstol")
    expect(ind.call("ForetagIndbetaling", messages.foretag_indbetaling(
        CALLER, payment_id="P-1", amount=D("10.00"), paid=date(2026, 3, 5))),
        "OIR-306", "Indbetaling")
    expect(ind.call("ForetagIndbetaling", messages.foretag_indbetaling(
        CALLER, payment_id="P-1", amount=D("10.00"), paid=date(2026, 3, 5),
        fik="000000000009998")), "OIR-307", "Indbetaling/BetalingsID")
    expect(modr.call("ForetagModregning", messages.foretag_modregning(
        CALLER, benefit_id="Y-1", recipient=Party.cpr(CPR), benefit_type="LOTTO",
        payout=date(2026, 4, 1), gross=D("100.00"), protected=D("0.00"))),
        "OIR-308", "Ydelsesudbetaling/YdelsesTypeKode")
    expect(modr.call("ForetagModregning", messages.foretag_modregning(
        CALLER, benefit_id="Y-1", recipient=Party.cpr(CPR), benefit_type="FOLKEPEN",
        payout=date(2026, 4, 1), gross=D("100.00"), protected=D("100.01"))),
        "OIR-309", "Ydelsesudbetaling/BeskyttetBeloeb")
    expect(forsp.call("SoegDebitorkonto", messages.soeg_debitorkonto(
        CALLER, token="not-a-token")), "OIR-310", "FortsaettelsesToken")
    expect(reg.call("OpretDebitorkonto", messages.opret_debitorkonto(
        CALLER, reference="A-2", party=Party.cpr("3213991234"), name="X")),
        "OIR-311", "Debitor/Part/CPRNummer")
    expect(reg.call("OpretDebitorkonto", messages.opret_debitorkonto(
        CALLER, reference="A-1", party=Party.cpr("1203852815"), name="Y")),
        "OIR-312", "FagsystemReference")
    # the end-date operations and the anmodninger
    day = date(2026, 3, 31)
    expect(reg.afslut(messages.afslut(CALLER, "AfslutAdministrator", account_number=number,
                                      end=day, party=Party.cpr("1203852815"))),
           "OIR-313", "Part")
    expect(reg.afslut(messages.afslut(CALLER, "AfslutHaeftelse", account_number=number,
                                      end=day, party=Party.cpr(CPR), claim_id=claim_id)),
           "OIR-315", "Part")
    anmod = emu.soap.debitorkonto_anmodning
    expect(anmod.call("OpretDebitorkontoAnmodning", messages.opret_debitorkonto_anmodning(
        CALLER, account_number=number, request_id="AN-1", status="LUKKET")),
        "OIR-318", "AendrKontostatus/KontoStatus")
    expect(anmod.call("OpretDebitorkontoAnmodning", messages.opret_debitorkonto_anmodning(
        CALLER, account_number=number, request_id="AN-1", move_sub_claims=(["X-1"], claim_id))),
        "OIR-319", "FlytDelfordring/DelfordringID")
    assert counts(emu) == before
    # ended once, an end date stands; a closed account takes no claims
    assert reg.afslut(messages.afslut(CALLER, "AfslutGaeldendeAdresseJuridiskAnsvarlig",
                                      account_number=account(emu, "A-3", "1203852815", street=True),
                                      end=day)).ok
    expect(reg.afslut(messages.afslut(CALLER, "AfslutGaeldendeAdresseJuridiskAnsvarlig",
                                      account_number=account(emu, "A-3", "1203852815"),
                                      end=date(2026, 4, 1))), "OIR-314", "SlutDato")
    empty = account(emu, "A-4", "0101801234")
    assert anmod.call("OpretDebitorkontoAnmodning", messages.opret_debitorkonto_anmodning(
        CALLER, account_number=empty, request_id="AN-2", status="LUKKET")).ok
    expect(claim(emu, empty), "OIR-317", "DebitorkontoNummer")
    expect(anmod.call("OpretDebitorkontoAnmodning", messages.opret_debitorkonto_anmodning(
        CALLER, account_number=empty, request_id="AN-2", status="AKTIV")),
        "OIR-316", "AnmodningID")
    # reused ids with other content: book once, then change the content
    assert ind.call("ForetagIndbetaling", messages.foretag_indbetaling(
        CALLER, payment_id="P-2", amount=D("10.00"), paid=date(2026, 3, 5),
        account_number=number)).ok
    expect(ind.call("ForetagIndbetaling", messages.foretag_indbetaling(
        CALLER, payment_id="P-2", amount=D("11.00"), paid=date(2026, 3, 5),
        account_number=number)), "OIR-304", "Indbetaling/IndbetalingID")
    assert modr.call("ForetagModregning", messages.foretag_modregning(
        CALLER, benefit_id="Y-2", recipient=Party.cpr(CPR), benefit_type="FOLKEPEN",
        payout=date(2026, 4, 1), gross=D("100.00"), protected=D("50.00"))).ok
    expect(modr.call("ForetagModregning", messages.foretag_modregning(
        CALLER, benefit_id="Y-2", recipient=Party.cpr(CPR), benefit_type="FOLKEPEN",
        payout=date(2026, 4, 2), gross=D("100.00"), protected=D("50.00"))),
        "OIR-305", "Ydelsesudbetaling/YdelsesudbetalingID")


def test_every_service_rule_is_triggered_above() -> None:
    # runs after test_service_rules in file order; the set fills as the rules fire
    assert TRIGGERED == SERVICE_RULES


def test_rejected_claim_is_handed_over_again_as_a_new_claim(emu: InProcessEmulator) -> None:
    emu.admin("POST", "/psrm/behaviour", reject_types={"DAGINST": "Typen er lukket"})
    number = account(emu)
    claim_id = claim(emu, number).findtext("FordringID")
    assert claim_id
    emu.admin("POST", "/clock/advance", days=20)
    h = emu.soap.debitor_forespoergsel.call("HentDebitorkonto", messages.hent_debitorkonto(
        CALLER, account_number=number))
    assert h.findtext("Debitorkonto/FordringSamling/Fordring/Status") == "AFVIST"
    assert [e.text for e in h.element.iter(f"{Q}AfvistNummer")] == ["574"]
    rejected = [e for e in emu.admin("GET", "/fagsystem/events") if e["status"] == "AFVIST"]
    assert [r["number"] for r in rejected[0]["reasons"]] == ["574"]
    # PSRM opens the type again; the fagsystem asks for the hand-over once more
    emu.admin("POST", "/psrm/behaviour", reject_types={})
    r = emu.soap.debitor_registrering.call("RetFordringTilstand", messages.ret_fordring_tilstand(
        CALLER, claim_id=claim_id, change="Overdrag", art="INDR"))
    assert r.ok, r.errors
    emu.admin("POST", "/clock/advance", days=3)
    sent = emu.admin("GET", "/journal?end=psrm&operation=MFFordringIndberet&full=1")
    # PSRM never held it: OPRETFORDRING again (GENINDSENDFORDRING is for recalled claims)
    assert "<MFAktionKode>OPRETFORDRING</MFAktionKode>" in sent[0]["request_xml"]
    assert "GENINDSENDFORDRING" not in sent[0]["request_xml"]
    h = emu.soap.debitor_forespoergsel.call("HentDebitorkonto", messages.hent_debitorkonto(
        CALLER, account_number=number))
    assert h.findtext("Debitorkonto/FordringSamling/Fordring/Status") == "OVERDRAGET"
    assert h.findtext("Debitorkonto/FordringSamling/Fordring/PSRM/Status") == "UDFOERT"
