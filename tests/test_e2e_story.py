"""The emulator issue's story, end to end over real HTTP on loopback.

``oir serve`` runs as a real process (gunicorn, SQLite file); the test is the fagsystem,
talking SOAP through the adapter's zeep clients, and moves the virtual clock through the
admin API. Every amount is asserted to the øre.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal as D

import pytest
import requests
from lxml import etree

from oir_adapter.clients import Clients, clients_for
from oir_adapter.codecs import oir_requests as messages
from oir_adapter.contracts import OIR_NS
from oir_adapter.domain.model import Party
from tests.emulator_process import EmulatorProcess

CALLER = messages.Caller("29189846", "DAGTILBUD")
CPR = "0405871270"
NS = {"o": OIR_NS}


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    db = tmp_path_factory.mktemp("story") / "story.sqlite3"
    with EmulatorProcess(db) as emu:
        yield emu


def admin(url: str, method: str, path: str, **json: object) -> object:
    response = requests.request(method, f"{url}/_admin{path}",
                                json=json if json or method != "GET" else None,
                                timeout=60)
    assert response.status_code in (200, 201), response.text
    return response.json()


def texts(element: etree._Element, xpath: str) -> list[str]:
    return [str(t) for t in element.xpath(xpath, namespaces=NS)]


def test_story(emulator: EmulatorProcess) -> None:
    run_story(emulator.url)


def run_story(url: str) -> None:
    """The whole story against an emulator at ``url`` (any store, any number of workers)."""
    soap = clients_for(url)
    try:
        _story(url, soap)
    finally:
        soap.close()


def _story(url: str, soap: Clients) -> None:
    admin(url, "PUT", "/clock", now="2026-03-02T09:00:00")

    # 1. create an account
    r = soap.debitor_registrering.call("OpretDebitorkonto", messages.opret_debitorkonto(
        CALLER, reference="BARN-42", party=Party.cpr(CPR), name="Mette Hansen"))
    assert r.ok and r.findtext("Oprettet") == "true"
    account = r.findtext("DebitorkontoNummer")
    assert account

    # 2. send an invoice: 2000.00 principal, 45.50 interest, 100.00 fee
    claim_spec = messages.ClaimSpec(
        fagsystem_claim_id="DT-2026-03", type_code="DAGINST", principal=D("2000.00"),
        period_from=date(2026, 3, 1), period_to=date(2026, 3, 31), founded=date(2026, 2, 20),
        due_date=date(2026, 3, 10), srb=date(2026, 3, 16),
        sub_claims=(messages.SubClaimSpec("RENTE", D("45.50"), founded=date(2026, 3, 1)),
                    messages.SubClaimSpec("GEBYR", D("100.00"), founded=date(2026, 3, 2))))
    r = soap.debitor_registrering.call("OpretFordring", messages.opret_fordring(
        CALLER, account_number=account, claim=claim_spec))
    assert r.ok, r.errors
    claim_id = r.findtext("FordringID")
    fik = r.findtext("Opkraevning/BetalingsID")
    assert claim_id and fik and len(fik) == 15
    assert r.findtext("Opkraevning/Beloeb") == "2145.50"

    # 3. search finds it
    r = soap.debitor_forespoergsel.call("SoegDebitorkonto", messages.soeg_debitorkonto(
        CALLER, party=Party.cpr(CPR)))
    assert texts(r.element, "//o:Debitorkonto/o:DebitorkontoNummer/text()") == [account]
    assert texts(r.element, "//o:Debitorkonto/o:Saldo/text()") == ["2145.50"]

    # 4. a partial payment by FIK covers interest and fees before principal
    r = soap.debitor_indbetaling.call("ForetagIndbetaling", messages.foretag_indbetaling(
        CALLER, payment_id="BANK-0001", amount=D("200.00"), paid=date(2026, 3, 5), fik=fik))
    assert r.ok, r.errors
    lines = [(d.findtext(f"{{{OIR_NS}}}DelfordringID"), d.findtext(f"{{{OIR_NS}}}Beloeb"))
             for d in r.element.iter(f"{{{OIR_NS}}}Daekning")]
    assert lines == [(f"{claim_id}-1", "45.50"), (f"{claim_id}-2", "100.00"), (None, "54.50")]
    assert r.findtext("Indbetaling/Overskud") == "0.00"

    # 5. a benefit payment is announced: 8000.00 gross, 7400.00 protected
    recipient = Party.cpr(CPR)
    r = soap.debitor_modregning.call("ForetagModregning", messages.foretag_modregning(
        messages.Caller("29189846", "PENSION"), benefit_id="PEN-2026-04", recipient=recipient,
        benefit_type="FOLKEPEN", payout=date(2026, 4, 1), gross=D("8000.00"),
        protected=D("7400.00")))
    assert r.ok, r.errors
    assert r.findtext("ModregningResultat/Status") == "PLANLAGT"
    assert r.findtext("ModregningResultat/ModregnetIAlt") == "600.00"
    assert r.findtext("ModregningResultat/Nettoudbetaling") == "7400.00"

    # 6. the clock passes SRB: reminder, offset reserved, remainder handed to PSRM,
    #    receipt MODTAGET → SAGSBEHANDL → UDFOERT
    result = admin(url, "POST", "/clock/advance", days=18)
    assert isinstance(result, dict) and result["now"] == "2026-03-20T09:00:00"
    fired = {(e["event"], e.get("outcome") or e.get("status")) for e in result["events"]}
    assert ("reminder_sent", None) in fired
    assert ("handover", "handed_over") in fired
    handover = next(e for e in result["events"] if e["event"] == "handover")
    assert handover["handed_over"] == "1345.50"
    assert handover["reserved_for_offsetting"] == "600.00"
    r = soap.debitor_forespoergsel.call("HentDebitorkonto", messages.hent_debitorkonto(
        CALLER, account_number=account))
    claim = r.element.find(f".//{{{OIR_NS}}}Fordring")
    assert claim is not None
    assert claim.findtext(f"{{{OIR_NS}}}Status") == "OVERDRAGET"
    assert claim.findtext(f"{{{OIR_NS}}}Opkraevning/{{{OIR_NS}}}RykkerDato") == "2026-03-17"
    assert claim.findtext(f"{{{OIR_NS}}}PSRM/{{{OIR_NS}}}Status") == "UDFOERT"
    assert claim.findtext(f"{{{OIR_NS}}}PSRM/{{{OIR_NS}}}OverdragetBeloeb") == "1345.50"
    efi = claim.findtext(f"{{{OIR_NS}}}PSRM/{{{OIR_NS}}}EFIFordringID")
    assert efi
    assert r.findtext("Debitorkonto/Saldo") == "1945.50"

    # PSRM saw exactly what was handed over
    psrm_state = admin(url, "GET", "/psrm")
    assert isinstance(psrm_state, dict)
    psrm_claims = {c["efi_claim_id"]: c for c in psrm_state["claims"]}
    assert psrm_claims[efi]["amount"] == "1345.50"

    # 7. the payout date comes: 600.00 offset up to the protected amount
    result = admin(url, "POST", "/clock/advance", days=13)
    assert isinstance(result, dict)
    booked = next(e for e in result["events"] if e["event"] == "payout_booked")
    assert booked["offset"] == "600.00" and booked["net_payout"] == "7400.00"

    # 8. the debtor pays the rest in PSRM; the debtor end takes PSRM's notification
    paid = admin(url, "POST", "/psrm/pay", efi_claim_id=efi)
    assert isinstance(paid, dict)
    admin(url, "POST", "/clock/advance", days=1)

    # 9. zero balance, every step on the account
    r = soap.debitor_forespoergsel.call("HentDebitorkonto", messages.hent_debitorkonto(
        CALLER, account_number=account))
    konto = r.element
    assert r.findtext("Debitorkonto/Saldo") == "0.00"
    assert texts(konto, "//o:Fordring/o:Status/text()") == ["DAEKKET_PSRM"]
    assert texts(konto, "//o:Fordring/o:Restbeloeb/text()") == ["0.00"]
    coverage = [(k, a) for k, a in zip(
        texts(konto, "o:Debitorkonto/o:DaekningSamling/o:Daekning/o:Kilde/text()"),
        texts(konto, "o:Debitorkonto/o:DaekningSamling/o:Daekning/o:Beloeb/text()"),
        strict=True)]
    assert coverage == [("INDBETALING", "45.50"), ("INDBETALING", "100.00"),
                        ("INDBETALING", "54.50"), ("MODREGNING", "600.00"), ("PSRM", "1345.50")]
    assert sum(D(a) for _, a in coverage) == D("2145.50")
    assert texts(konto, "//o:ModregningSamling/o:Modregning/o:Status/text()") == ["BOOKET"]
    assert texts(konto, "//o:ModregningSamling/o:Modregning/o:Beloeb/text()") == ["600.00"]

    # 10. the fagsystem end holds every callback
    events = admin(url, "GET", "/fagsystem/events")
    assert isinstance(events, list)
    seen = [(e["type"], e["status"], e["source"], e["amount"]) for e in events
            if e["claim_id"] == claim_id]
    assert seen == [
        ("DAEKNING", None, "INDBETALING", "200.00"),
        ("TILSTAND", "OVERDRAGET", None, "1345.50"),
        ("DAEKNING", None, "MODREGNING", "600.00"),
        ("DAEKNING", None, "PSRM", "1345.50"),
        ("TILSTAND", "DAEKKET_PSRM", None, None),
    ]

    # 11. the journal shows the hand-over going out over SOAP and arriving at PSRM
    out = admin(url, "GET", "/journal?end=oir&operation=MFFordringIndberet")
    inbound = admin(url, "GET", "/journal?end=psrm&operation=MFFordringIndberet")
    assert isinstance(out, list) and isinstance(inbound, list)
    assert [e["direction"] for e in out] == ["out"]
    assert [e["status"] for e in inbound] == ["ok"]
