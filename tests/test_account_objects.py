"""The objects of an account and what the fagsystem asks of them, over real HTTP (a loopback
socket): the nine end-date operations of DebitorRegistreringAfsend, their effect on what
HentDebitorkonto shows and on the hand-over to PSRM, the anmodninger of
DebitorkontoAnmodningAfsend (at once and on a later day), the status advice and the
FordringTilIndbetaling message the debtor system sends to the fagsystem."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest
from lxml import etree

from oir_adapter import messages
from oir_adapter.clients import Clients, Reply, clients_for
from oir_adapter.contracts import OIR_NS, service, validate_element
from oir_adapter.model import Party

from .emulator_inproc import InProcessEmulator, live_server

CALLER = messages.Caller("29189846", "DAGTILBUD")
DEBTOR = Party.cpr("0405871270")
ADMIN = Party.cpr("1203852815")
CO = Party.cpr("0101801234")
PARTNER = Party.cpr("0707614285")
Q = f"{{{OIR_NS}}}"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Clients, InProcessEmulator]]:
    with live_server(tmp_path) as (url, emu):
        emu.admin("PUT", "/clock", now="2026-03-02T10:00:00")
        soap = clients_for(url)
        try:
            yield soap, emu
        finally:
            soap.close()


def _account(soap: Clients, ref: str = "A-1", party: Party = DEBTOR, **roles: object) -> str:
    r = soap.debitor_registrering.call("OpretDebitorkonto", messages.opret_debitorkonto(
        CALLER, reference=ref, party=party, name="Mette Hansen", street="Vestergade 3",
        postcode="8000", city="Aarhus C", **roles))  # type: ignore[arg-type]
    number = r.findtext("DebitorkontoNummer")
    assert r.ok and number, r.errors
    return number


def _claim(soap: Clients, number: str, ref: str = "C-1", **kw: object) -> str:
    values: dict[str, object] = dict(
        fagsystem_claim_id=ref, type_code="DAGINST", principal=D("1000.00"),
        period_from=date(2026, 1, 1), period_to=date(2026, 1, 31), founded=date(2026, 1, 5),
        due_date=date(2026, 2, 1), srb=date(2026, 2, 10))
    values.update(kw)
    r = soap.debitor_registrering.call("OpretFordring", messages.opret_fordring(
        CALLER, account_number=number, claim=messages.ClaimSpec(**values)))  # type: ignore[arg-type]
    claim_id = r.findtext("FordringID")
    assert r.ok and claim_id, r.errors
    return claim_id


def _hent(soap: Clients, number: str) -> Reply:
    r = soap.debitor_forespoergsel.call("HentDebitorkonto", messages.hent_debitorkonto(
        CALLER, account_number=number))
    assert r.ok, r.errors
    return r


def _end(soap: Clients, operation: str, number: str, day: date, **kw: object) -> Reply:
    return soap.debitor_registrering.afslut(messages.afslut(
        CALLER, operation, account_number=number, end=day, **kw))  # type: ignore[arg-type]


ROLES = dict(
    channel="DIGITALPOST",
    administrators=[messages.RoleSpec(ADMIN, "Værge Olsen", "Bredgade 1", "1260", "København K",
                                      "BREV")],
    co_liable=[messages.RoleSpec(CO, "Hans Hansen", "Vestergade 3", "8000", "Aarhus C",
                                 "EMAIL")],
    partners=[messages.RoleSpec(PARTNER, "Lone Hansen")])


# ---------------------------------------------------------------- end-date operations


def test_each_end_date_operation_ends_its_object_and_hent_shows_the_end(
        live: tuple[Clients, InProcessEmulator]) -> None:
    soap, _emu = live
    number = _account(soap, **ROLES)
    claim_id = _claim(soap, number, co_liable=[(CO, "Hans Hansen")])
    k = _hent(soap, number)
    assert k.findtext("Debitorkonto/Materialeabonnement/Kanal") == "DIGITALPOST"
    assert k.findtext("Debitorkonto/AdministratorSamling/Administrator/Materialeabonnement/"
                      "Kanal") == "BREV"
    assert k.findtext("Debitorkonto/LigestillingspartnerSamling/Ligestillingspartner/"
                      "Navn") == "Lone Hansen"
    assert not list(k.element.iter(f"{Q}SlutDato"))

    day = date(2026, 3, 31)
    calls: list[tuple[str, dict[str, object], str]] = [
        ("AfslutGaeldendeAdresseAdministrator", {"party": ADMIN},
         "AdministratorSamling/Administrator/Adresse/SlutDato"),
        ("AfslutGaeldendeAdresseJuridiskAnsvarlig", {}, "Debitor/Adresse/SlutDato"),
        ("AfslutGaeldendeAdresseJuridiskMedhaefter", {"party": CO},
         "JuridiskMedhaefterSamling/JuridiskMedhaefter/Adresse/SlutDato"),
        ("AfslutHaeftelse", {"party": CO, "claim_id": claim_id},
         "FordringSamling/Fordring/HaefterSamling/Haefter/SlutDato"),
        ("AfslutLigestillingspartner", {"party": PARTNER},
         "LigestillingspartnerSamling/Ligestillingspartner/SlutDato"),
        ("AfslutMaterialeabonnementAdministrator", {"party": ADMIN},
         "AdministratorSamling/Administrator/Materialeabonnement/SlutDato"),
        ("AfslutMaterialeabonnementJuridiskAnsvarlig", {}, "Materialeabonnement/SlutDato"),
        ("AfslutMaterialeabonnementJuridiskMedhaefter", {"party": CO},
         "JuridiskMedhaefterSamling/JuridiskMedhaefter/Materialeabonnement/SlutDato"),
        ("AfslutAdministrator", {"party": ADMIN}, "AdministratorSamling/Administrator/SlutDato"),
    ]
    assert {c[0] for c in calls} == {op.name for op in
                                      service("DebitorRegistreringAfsend").operations
                                      if op.name.startswith("Afslut")}
    for operation, kw, where in calls:
        r = _end(soap, operation, number, day, **kw)
        assert r.ok, (operation, r.errors)
        assert (r.findtext("DebitorkontoNummer"), r.findtext("SlutDato")) == (number, "2026-03-31")
        k = _hent(soap, number)
        assert k.findtext(f"Debitorkonto/{where}") == "2026-03-31", (operation, where)
        # the same end again is answered the same; another date is refused
        assert _end(soap, operation, number, day, **kw).ok
        again = _end(soap, operation, number, date(2026, 4, 30), **kw)
        assert [e.code for e in again.errors] == ["OIR-314"], operation


def test_end_date_refusals_name_the_field_and_change_nothing(
        live: tuple[Clients, InProcessEmulator]) -> None:
    soap, _emu = live
    number = _account(soap)  # no administrator, no subscription
    claim_id = _claim(soap, number, co_liable=[(CO, None)])
    day = date(2026, 3, 31)
    r = _end(soap, "AfslutAdministrator", number, day, party=ADMIN)
    assert [(e.code, e.field) for e in r.errors] == [("OIR-313", "Part")]
    r = _end(soap, "AfslutMaterialeabonnementJuridiskAnsvarlig", number, day)
    assert [e.code for e in r.errors] == ["OIR-313"]
    r = _end(soap, "AfslutHaeftelse", number, day, party=DEBTOR, claim_id=claim_id)
    assert [(e.code, e.field) for e in r.errors] == [("OIR-315", "Part")]
    r = _end(soap, "AfslutHaeftelse", number, day, party=ADMIN, claim_id=claim_id)
    assert [e.code for e in r.errors] == ["OIR-313"]
    r = _end(soap, "AfslutHaeftelse", number, day, party=CO, claim_id="F9999999")
    assert [(e.code, e.field) for e in r.errors] == [("OIR-302", "FordringID")]
    r = _end(soap, "AfslutLigestillingspartner", "999999", day, party=PARTNER)
    assert [(e.code, e.field) for e in r.errors] == [("OIR-301", "DebitorkontoNummer")]
    assert not list(_hent(soap, number).element.iter(f"{Q}SlutDato"))


def _handed_over_liable(emu: InProcessEmulator) -> list[str]:
    """The CPR numbers of every MFHæftelseStruktur in what reached PSRM."""
    sent = emu.admin("GET", "/journal?end=psrm&operation=MFFordringIndberet&full=1")
    assert sent, "nothing was handed over"
    out = []
    for row in sent:
        doc = etree.fromstring(row["request_xml"].encode())
        out += [h.findtext(".//{*}PersonCPRNummer") or "" for h in
                doc.iter("{*}MFHæftelseStruktur")]
    return out


def test_an_ended_liability_is_not_handed_over(live: tuple[Clients, InProcessEmulator]) -> None:
    soap, emu = live
    number = _account(soap)
    kept = _claim(soap, number, "C-KEPT", co_liable=[(ADMIN, "Bo Berg")])
    ended = _claim(soap, number, "C-ENDED", co_liable=[(CO, "Hans Hansen")])
    # a liability that ends after the hand-over day still goes with the claim
    assert _end(soap, "AfslutHaeftelse", number, date(2026, 12, 31), party=ADMIN,
                claim_id=kept).ok
    assert _end(soap, "AfslutHaeftelse", number, date(2026, 3, 2), party=CO,
                claim_id=ended).ok
    emu.admin("POST", "/clock/advance", days=3)  # SRB passed long ago: reminded, handed over
    liable = _handed_over_liable(emu)
    assert liable.count(DEBTOR.number) == 2  # the account's debtor on both claims
    assert ADMIN.number in liable
    assert CO.number not in liable


# ---------------------------------------------------------------- anmodninger


def _anmod(soap: Clients, number: str, request_id: str, **kw: object) -> Reply:
    return soap.debitorkonto_anmodning.call("OpretDebitorkontoAnmodning",
                                            messages.opret_debitorkonto_anmodning(
                                                CALLER, account_number=number,
                                                request_id=request_id, **kw))  # type: ignore[arg-type]


def _advice(emu: InProcessEmulator) -> list[etree._Element]:
    emu.admin("POST", "/poll")
    rows = emu.admin("GET", "/journal?end=fagsystem&operation=RegistrerDebitorkontoStatus"
                            "&full=1")
    out = []
    for row in reversed(rows):
        assert row["status"] == "ok", row["summary"]
        body = etree.fromstring(row["request_xml"].encode()).find(
            "{http://schemas.xmlsoap.org/soap/envelope/}Body")
        assert body is not None and validate_element(body[0]) == []
        out += list(body[0].iter(f"{Q}StatusAdvisering"))
    return out


def test_move_a_claim_to_another_account_at_once(live: tuple[Clients, InProcessEmulator]
                                                 ) -> None:
    soap, _emu = live
    first, second = _account(soap, "A-1"), _account(soap, "A-2", Party.cpr("1203852815"))
    claim_id = _claim(soap, first, srb=date(2026, 4, 10), due_date=date(2026, 4, 1))
    r = _anmod(soap, first, "AN-1", move_claim=(claim_id, second))
    assert r.ok, r.errors
    assert (r.findtext("Anmodning/Status"), r.findtext("Anmodning/AnmodningTypeKode"),
            r.findtext("Anmodning/UdfoerelsesDato")) == ("UDFOERT", "FLYT_FORDRING", "2026-03-02")
    assert _hent(soap, first).findtext("Debitorkonto/FordringSamling/Fordring/FordringID") is None
    moved = _hent(soap, second).findtext("Debitorkonto/FordringSamling/Fordring/FordringID")
    assert moved == claim_id
    # the same anmodning again is answered alike; other content under its id is refused
    assert _anmod(soap, first, "AN-1", move_claim=(claim_id, second)).findtext(
        "Anmodning/Status") == "UDFOERT"
    r = _anmod(soap, first, "AN-1", status="LUKKET")
    assert [(e.code, e.field) for e in r.errors] == [("OIR-316", "AnmodningID")]
    # the claim is no longer on the first account
    r = _anmod(soap, first, "AN-2", move_claim=(claim_id, second))
    assert [(e.code, e.field) for e in r.errors] == [("OIR-302", "FlytFordring/FordringID")]


def test_move_sub_claims_between_claims(live: tuple[Clients, InProcessEmulator]) -> None:
    soap, _emu = live
    number = _account(soap)
    later = dict(srb=date(2026, 4, 10), due_date=date(2026, 4, 1))
    source = _claim(soap, number, "C-1", sub_claims=(
        messages.SubClaimSpec("RENTE", D("12.50")), messages.SubClaimSpec("GEBYR", D("100.00"))),
        **later)
    target = _claim(soap, number, "C-2", **later)
    r = _anmod(soap, number, "AN-S", move_sub_claims=([f"{source}-2"], target))
    assert r.findtext("Anmodning/Status") == "UDFOERT", r.errors
    claims = {f.findtext(f"{Q}FordringID"): f for f in
              _hent(soap, number).element.iter(f"{Q}Fordring")}
    subs = {c: [d.findtext(f"{Q}DelfordringID") for d in f.iter(f"{Q}Delfordring")]
            for c, f in claims.items()}
    assert subs == {source: [f"{source}-1"], target: [f"{source}-2"]}
    assert claims[target].findtext(f"{Q}Restbeloeb") == "1100.00"
    assert claims[source].findtext(f"{Q}Restbeloeb") == "1012.50"
    r = _anmod(soap, number, "AN-T", move_sub_claims=([f"{source}-2"], target))
    assert [(e.code, e.field) for e in r.errors] == [("OIR-319", "FlytDelfordring/DelfordringID")]


def test_change_the_account_status_later_advises_the_fagsystem(
        live: tuple[Clients, InProcessEmulator]) -> None:
    soap, emu = live
    number = _account(soap)
    claim_id = _claim(soap, number, srb=date(2026, 4, 10), due_date=date(2026, 4, 1))
    # an account with money open on it cannot be closed now
    r = _anmod(soap, number, "AN-C0", status="LUKKET")
    assert [(e.code, e.field) for e in r.errors] == [("OIR-318", "AendrKontostatus/KontoStatus")]
    # asked for a later day, it is received now and judged on that day
    r = _anmod(soap, number, "AN-C1", status="LUKKET", on=date(2026, 3, 5))
    assert (r.findtext("Anmodning/Status"), r.findtext("Anmodning/UdfoerelsesDato")) == (
        "MODTAGET", "2026-03-05")
    emu.admin("POST", "/clock/advance", days=3)
    advice = _advice(emu)
    assert [(a.findtext(f"{Q}AdviseringTypeKode"), a.findtext(f"{Q}AnmodningStatus"),
             a.findtext(f"{Q}FejlSamling/{Q}Fejl/{Q}FejlKode")) for a in advice] == [
        ("ANMODNING", "AFVIST", "OIR-318")]
    assert _hent(soap, number).findtext("Debitorkonto/Status") == "AKTIV"
    # once the claim is paid, the same kind of anmodning closes the account on its day
    paid = soap.debitor_indbetaling.call("ForetagIndbetaling", messages.foretag_indbetaling(
        CALLER, payment_id="P-1", amount=D("1000.00"), paid=date(2026, 3, 5),
        claim_id=claim_id))
    assert paid.ok, paid.errors
    r = _anmod(soap, number, "AN-C2", status="LUKKET", on=date(2026, 3, 7))
    assert r.findtext("Anmodning/Status") == "MODTAGET"
    emu.admin("POST", "/clock/advance", days=2)
    advice = _advice(emu)[1:]
    kinds = sorted((a.findtext(f"{Q}AdviseringTypeKode"), a.findtext(f"{Q}KontoStatus"),
                    a.findtext(f"{Q}AnmodningStatus")) for a in advice)
    assert kinds == [("ANMODNING", None, "UDFOERT"), ("KONTOSTATUS", "LUKKET", None)]
    assert _hent(soap, number).findtext("Debitorkonto/Status") == "LUKKET"
    # a closed account takes no new claim; reopened at once, it does again
    r = soap.debitor_registrering.call("OpretFordring", messages.opret_fordring(
        CALLER, account_number=number, claim=messages.ClaimSpec(
            fagsystem_claim_id="C-9", type_code="DAGINST", principal=D("100.00"),
            period_from=date(2026, 1, 1), period_to=date(2026, 1, 31),
            founded=date(2026, 1, 5), due_date=date(2026, 4, 1), srb=date(2026, 4, 10))))
    assert [(e.code, e.field) for e in r.errors] == [("OIR-317", "DebitorkontoNummer")]
    assert _anmod(soap, number, "AN-C3", status="AKTIV").findtext("Anmodning/Status") == "UDFOERT"
    _claim(soap, number, "C-9", srb=date(2026, 4, 10), due_date=date(2026, 4, 1))


def test_a_moved_claim_is_handed_over_from_its_new_account(
        live: tuple[Clients, InProcessEmulator]) -> None:
    soap, emu = live
    other = Party.cpr("1203852815")
    first, second = _account(soap, "A-1"), _account(soap, "A-2", other)
    claim_id = _claim(soap, first)
    assert _anmod(soap, first, "AN-1", move_claim=(claim_id, second),
                  on=date(2026, 3, 3)).findtext("Anmodning/Status") == "MODTAGET"
    emu.admin("POST", "/clock/advance", days=1)  # moved first, then reminded
    emu.admin("POST", "/clock/advance", days=1)  # and handed over
    liable = _handed_over_liable(emu)
    assert liable == [other.number]
    # a claim with PSRM cannot be moved
    r = _anmod(soap, second, "AN-2", move_claim=(claim_id, first))
    assert [(e.code, e.field) for e in r.errors] == [("OIR-202", "FlytFordring/FordringID")]


# ---------------------------------------------------------------- FordringTilIndbetaling


def test_fordring_til_indbetaling_reaches_subscribers_only(
        live: tuple[Clients, InProcessEmulator]) -> None:
    soap, emu = live
    number = _account(soap)
    _claim(soap, number, "C-1")
    emu.admin("POST", "/poll")
    assert emu.admin("GET", "/journal?operation=FordringTilIndbetaling") == []
    emu.admin("PUT", "/subscriptions", FordringTilIndbetaling=[CALLER.fagsystem_id])
    claim_id = _claim(soap, number, "C-2", sub_claims=(messages.SubClaimSpec("GEBYR", D("50.00")),))
    emu.admin("POST", "/poll")
    rows = emu.admin("GET", "/journal?end=fagsystem&operation=FordringTilIndbetaling&full=1")
    assert [r["status"] for r in rows] == ["ok"]
    body = etree.fromstring(rows[0]["request_xml"].encode()).find(
        "{http://schemas.xmlsoap.org/soap/envelope/}Body")
    assert body is not None and validate_element(body[0]) == []
    m = body[0]
    assert (m.findtext(f"{Q}FordringID"), m.findtext(f"{Q}Restbeloeb"),
            m.findtext(f"{Q}Opkraevning/{Q}Beloeb")) == (claim_id, "1050.00", "1050.00")
    emu.admin("PUT", "/subscriptions", expect=400, Ukendt=["*"])
    # a scenario may set them too; "*" is every fagsystem
    emu.admin("POST", "/scenario", subscriptions={"FordringTilIndbetaling": ["*"]})
    assert emu.admin("GET", "/subscriptions") == {"FordringTilIndbetaling": ["*"]}
    _claim(soap, number, "C-3")
    emu.admin("POST", "/poll")
    assert len(emu.admin("GET", "/journal?end=fagsystem&operation=FordringTilIndbetaling")) == 2
    emu.admin("POST", "/scenario", expect=400, subscriptions={"FordringTilIndbetaling": "*"})
