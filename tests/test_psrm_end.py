"""The emulator's PSRM end over real SOAP: the indgangsfilter action by action, receipts on
the virtual clock, notifications, behaviour switches, repeated deliveries, NEDSKRIV and
TILBAGEKALD, and the admin functions the clock and the dashboard call."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from lxml import etree
from sqlalchemy import func, select

from emulator import clock, psrm
from emulator import tables as t
from emulator.app import create_app, runtime_of
from emulator.runtime import Runtime
from emulator.soap import envelope_bytes
from emulator.wsgi_transport import WSGIAdapter
from oir_adapter import mapping
from oir_adapter.clients import ServiceClient
from oir_adapter.clients.reply import ActionOutcome, read_psrm_outcome
from oir_adapter.contracts import KONTEKST_NS, PSRM_NS, safe_parser, validate_element
from oir_adapter.model import (
    Claim,
    ClaimArt,
    CoLiable,
    Party,
    RecallReason,
    SubClaim,
    WriteDownReason,
)

SE = "29189846"
CREDITOR = "4711"  # DMIFordringHaverID: Gældsstyrelsen's number for us
TODAY = date(2025, 11, 24)
_M = "{" + PSRM_NS + "}"
_K = "{" + KONTEKST_NS + "}"
BASE = "http://emulator.invalid"


# ---------------------------------------------------------------- harness

@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = create_app(db_url=f"sqlite:///{tmp_path}/x.sqlite3", start_worker=False,
                     base_url=None)
    runtime = runtime_of(app)
    with runtime.store.transaction() as conn:
        clock.set_now(conn, datetime.combine(TODAY, datetime.min.time()).replace(hour=9))
    yield app
    runtime.close()


@pytest.fixture
def runtime(app: Flask) -> Runtime:
    return runtime_of(app)


@dataclass
class Answer:
    element: etree._Element
    reaction: str | None
    actions: list[ActionOutcome]
    raw: bytes


def soap(app: Flask, operation: str, body: etree._Element) -> Answer:
    """POST ``body`` to the PSRM service ``operation`` through Flask's test client."""
    response = app.test_client().post(
        f"/psrm/{operation}/1", data=envelope_bytes(body),
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": operation})
    assert response.status_code == 200, response.data[:2000]
    envelope = etree.fromstring(response.data, safe_parser())
    element = envelope[-1][0]
    assert not validate_element(element)
    reaction, _tid, _errors, actions = read_psrm_outcome(element)
    return Answer(element, reaction, actions, response.data)


def head(root: etree._Element, transaction_id: str | None = None) -> None:
    h = etree.SubElement(etree.SubElement(root, _M + "Kontekst"), _K + "HovedOplysninger")
    etree.SubElement(h, _K + "TransaktionsID").text = transaction_id or str(uuid.uuid4())
    etree.SubElement(h, _K + "TransaktionsTid").text = "2025-11-24T09:00:00+01:00"


def request(name: str, se: str = SE) -> etree._Element:
    root = etree.Element(_M + name, nsmap={None: PSRM_NS, "k": KONTEKST_NS})  # type: ignore[dict-item]
    head(root)
    etree.SubElement(etree.SubElement(root, _M + "FordringhaverSystemIDStruktur"),
                     _M + "VirksomhedSENummer").text = se
    return root


def deliver(app: Flask, actions: list[etree._Element], *, delivery_id: str | None = None,
            transaction_id: str | None = None, se: str = SE) -> Answer:
    body = mapping.delivery(actions, se_number=se, delivery_id=delivery_id or str(uuid.uuid4()),
                            transaction_id=transaction_id or str(uuid.uuid4()),
                            transaction_time=datetime(2025, 11, 24, 9))
    return soap(app, "MFFordringIndberet", body)


def receipts(app: Flask, *, delivery_id: str | None = None, action_ids: tuple[str, ...] = (),
             se: str = SE) -> Answer:
    body = request("MFKvitteringHent_I", se)
    if delivery_id is not None:
        etree.SubElement(body, _M + "MFLeveranceID").text = delivery_id
    if action_ids:
        ids = etree.SubElement(body, _M + "MFAktionIDSamling")
        for a in action_ids:
            etree.SubElement(ids, _M + "MFAktionID").text = a
    return soap(app, "MFKvitteringHent", body)


def notifications(app: Flask, first: int | None = None, last: int | None = None,
                  se: str = SE, since: date | None = None,
                  creditors: tuple[str, ...] = ()) -> Answer:
    """``MFUnderretSamlingHent_I`` with the real search fields."""
    body = request("MFUnderretSamlingHent_I", se)
    if creditors:
        holder = etree.SubElement(body, _M + "FordringHaverSamling")
        for creditor in creditors:
            etree.SubElement(holder, _M + "DMIFordringHaverID").text = creditor
    if since is not None:
        etree.SubElement(etree.SubElement(body, _M + "SøgeDatoFra"),
                         _M + "MFUnderretningDatoTid").text = since.isoformat()
    for name, value in (("UnderretNummerFra", first), ("UnderretNummerTil", last)):
        if value is not None:
            etree.SubElement(etree.SubElement(body, _M + name),
                             _M + "MFUnderretningNummer").text = str(value)
    return soap(app, "MFUnderretSamlingHent", body)


def claim(ref: str, **changes: Any) -> Claim:
    values: dict[str, Any] = dict(
        id=ref, account_number="", fagsystem_claim_id=ref, type_code="CFFAKTU",
        principal=Decimal("1500.00"), period_from=date(2025, 1, 1), period_to=date(2025, 3, 31),
        founded=date(2025, 3, 1), due_date=date(2025, 3, 31), srb=date(2025, 4, 10),
        received=date(2025, 3, 1), art=ClaimArt.RECOVERY,
        co_liable=[CoLiable(Party.cpr("1702642201"))])
    values.update(changes)
    return Claim(**values)


def opret(c: Claim) -> etree._Element:
    return mapping.opret_fordring_action(c, None, creditor_id=CREDITOR)


def nedskriv(efi: str, amount: str, effective: date | None = None) -> etree._Element:
    return mapping.nedskriv_action(efi, Decimal(amount), WriteDownReason.PAYMENT,
                                   creditor_id=CREDITOR, effective=effective)


def tilbagekald(efi: str) -> etree._Element:
    return mapping.tilbagekald_action(efi, RecallReason.DEFERRAL, creditor_id=CREDITOR)


def numbers(a: ActionOutcome) -> set[str]:
    return {n for n, _ in a.reasons}


def count(runtime: Runtime, table: Any) -> int:
    with runtime.store.transaction() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def stored(runtime: Runtime, action_id: str) -> dict[str, Any]:
    """An action as the PSRM end keeps it (its reasons with the paths they point at)."""
    with runtime.store.transaction() as conn:
        (row,) = psrm.actions(conn, action_ids=[action_id])
    return row


def path_of(runtime: Runtime, a: ActionOutcome, number: str) -> str:
    return next(r["path"] for r in stored(runtime, a.action_id)["reasons"]
                if r["number"] == number)


def psrm_claim(runtime: Runtime, efi: str) -> dict[str, Any]:
    with runtime.store.transaction() as conn:
        return next(c for c in psrm.claims(conn) if c["efi_claim_id"] == efi)


# ---------------------------------------------------------------- MFFordringIndberet

def test_mixed_delivery_judges_every_action_on_its_own(app: Flask, runtime: Runtime) -> None:
    no_structure = opret(claim("NOSTRUCT"))
    s = no_structure.find(f"{_M}AktionValg/{_M}OpretFordringAktion/{_M}MFOpretFordringStruktur")
    assert s is not None
    s.getparent().remove(s)  # type: ignore[union-attr]
    actions = [
        opret(claim("GOOD-1")),
        opret(claim("PERIOD", period_from=date(2025, 3, 1), period_to=date(2025, 2, 1))),
        opret(claim("SMALL", principal=Decimal("50.00"))),
        opret(claim("EURO", currency="EUR")),
        no_structure,
        opret(claim("NOTYPE", type_code="XYZZY")),
        opret(claim("BARRED", limitation_date=date(2025, 6, 30))),
        opret(claim("BADCPR", co_liable=[CoLiable(Party.cpr("3213991234"))])),
        opret(claim("GOOD-2", principal=Decimal("100.00"), sub_claims=[
            SubClaim("R1", "RENTE", Decimal("12.34"), Decimal("12.34"))])),
    ]
    body = mapping.delivery(actions, se_number=SE, delivery_id="D-MIXED",
                            transaction_id=str(uuid.uuid4()),
                            transaction_time=datetime(2025, 11, 24, 9))
    session = requests.Session()
    session.mount(BASE, WSGIAdapter(app))
    with ServiceClient("MFFordringIndberet", f"{BASE}/psrm/MFFordringIndberet/1",
                       session=session) as client:
        reply = client.call("MFFordringIndberet", body)

    assert reply.reaction == "OK" and reply.errors == []  # handled: rejections are per action
    got = {a.claim_ref or f"#{i}": a for i, a in enumerate(reply.actions, start=1)}
    assert [a.status for a in reply.actions] == [
        "MODTAGET", "AFVIST", "AFVIST", "AFVIST", "AFVIST", "AFVIST", "AFVIST", "AFVIST",
        "MODTAGET"]
    assert numbers(got["PERIOD"]) == {"569"}
    assert numbers(got["SMALL"]) == {"215"}
    assert numbers(got["EURO"]) == {"152"}
    assert numbers(got["#5"]) == {"444"}
    assert numbers(got["NOTYPE"]) == {"OIR-113"}
    assert numbers(got["BARRED"]) == {"OIR-104"}
    assert numbers(got["BADCPR"]) == {"OIR-105"}
    assert not got["GOOD-1"].reasons and not got["GOOD-2"].reasons
    # PSRM's own texts, the field each reason is about beside them (journal, dashboard)
    assert dict(got["PERIOD"].reasons)["569"] == "PeriodeFra må ikke være efter PeriodeTil"
    assert path_of(runtime, got["PERIOD"], "569").endswith(
        "FordringPeriodeStruktur/DMIFordringPeriodeFraDato")
    assert dict(got["SMALL"].reasons)["215"] == "Fordringsbeløb ikke større end nedre grænse"
    assert "1702642201" not in dict(got["BADCPR"].reasons)["OIR-105"]  # CPR masked

    good = got["GOOD-1"]
    assert good.efi_claim_id and good.efi_claim_id == good.efi_main_claim_id
    assert good.efi_claim_id.isdigit() and good.action_id.isdigit()  # PSRM's ids are numbers
    assert good.received == good.status_changed == datetime(2025, 11, 24, 9)
    assert got["PERIOD"].efi_claim_id is None
    assert len({a.action_id for a in reply.actions}) == 9
    # only the two accepted claims exist in PSRM; the total includes the sub-claim
    with runtime.store.transaction() as conn:
        stored = psrm.claims(conn)
    assert [(c["claim_ref"], c["amount"], c["status"]) for c in stored] == [
        ("GOOD-1", "1500.00", "AKTIV"), ("GOOD-2", "112.34", "AKTIV")]
    assert count(runtime, t.psrm_actions) == 9


def test_fully_rejected_delivery_leaves_no_claim(app: Flask, runtime: Runtime) -> None:
    answer = deliver(app, [opret(claim("A", currency="SEK")),
                           opret(claim("B", srb=date(2025, 11, 24)))], delivery_id="D-BAD")
    assert answer.reaction == "OK"  # the delivery was handled; each action was rejected
    assert [a.status for a in answer.actions] == ["AFVIST", "AFVIST"]
    assert numbers(answer.actions[0]) == {"152"}
    assert numbers(answer.actions[1]) == {"OIR-101"}  # SRB not passed yet
    assert count(runtime, t.psrm_claims) == 0
    # the rejections are kept: a receipt can be fetched for them
    again = receipts(app, delivery_id="D-BAD")
    assert [(a.action_id, a.status, numbers(a)) for a in again.actions] == [
        (a.action_id, "AFVIST", numbers(a)) for a in answer.actions]


def test_code_that_does_not_match_its_structure_is_rejected(app: Flask) -> None:
    action = opret(claim("MISMATCH"))
    code = action.find(_M + "MFAktionKode")
    assert code is not None
    code.text = "NEDSKRIV"
    answer = deliver(app, [action, opret(claim("FINE"))])
    assert answer.actions[0].status == "AFVIST"
    assert answer.actions[0].reasons == [
        ("447", "AktionKode er MFNedskrivFordring men MFNedskrivFordringStruktur mangler")]
    assert answer.actions[1].status == "MODTAGET"


def test_unreadable_field_rejects_only_its_action(app: Flask, runtime: Runtime) -> None:
    action = opret(claim("ODDDATE"))
    srb = action.find(f".//{_M}DMIFordringSRBDato")
    assert srb is not None
    srb.text = "12025-04-10"  # a valid xs:date, but no date Python can hold
    answer = deliver(app, [action, opret(claim("FINE"))])
    assert answer.actions[0].status == "AFVIST"
    assert numbers(answer.actions[0]) == {psrm.UNREADABLE}
    assert path_of(runtime, answer.actions[0], psrm.UNREADABLE).endswith("DMIFordringSRBDato")
    assert answer.actions[1].status == "MODTAGET"


def test_docs_example_delivery_is_accepted_action_by_action(app: Flask, runtime: Runtime,
                                                            examples_dir: Path) -> None:
    path = examples_dir / "MFFordringIndberet.request.xml"
    if not path.exists():
        pytest.skip("docs/examples/MFFordringIndberet.request.xml not written yet")
    with runtime.store.transaction() as conn:
        for efi, ref in (("120000314765", "2025000101"), ("120000053323", "2025000102")):
            psrm.seed_claim(conn, {"efi_claim_id": efi, "claim_ref": ref,
                                   "party": "0405871270", "amount": "900.00",
                                   "received": "2025-10-01"})
    envelope = etree.fromstring(path.read_bytes(), safe_parser())
    answer = soap(app, "MFFordringIndberet", envelope[-1][0])
    assert answer.reaction == "OK", [a.reasons for a in answer.actions]
    assert [(a.code, a.status) for a in answer.actions] == [
        ("OPRETFORDRING", "MODTAGET"), ("OPRETFORDRING", "MODTAGET"), ("NEDSKRIV", "MODTAGET"),
        ("TILBAGEKALD", "MODTAGET"), ("OPRETFORDRING", "MODTAGET")]
    assert psrm_claim(runtime, "120000314765")["remaining"] == "550.00"
    assert psrm_claim(runtime, "120000053323")["status"] == "TILBAGEKALDT"
    # the civil invoice carries its interest and fee: 4250.00 + 187.63 + 100.00
    created = psrm_claim(runtime, answer.actions[0].efi_claim_id or "")
    assert created["amount"] == "4537.63"


# ---------------------------------------------------------------- receipts on the clock

def test_receipts_progress_with_the_clock(app: Flask, runtime: Runtime) -> None:
    answer = deliver(app, [opret(claim("P-1")), opret(claim("P-2", currency="EUR"))],
                     delivery_id="D-CLOCK")
    accepted, rejected = answer.actions
    day = TODAY
    cfg = runtime.config
    assert (cfg.psrm_days_to_process, cfg.psrm_days_to_done) == (1, 2)
    with runtime.store.transaction() as conn:
        assert psrm.progress(conn, runtime, day) == []
        first = psrm.progress(conn, runtime, day + timedelta(days=1))
    assert [(e["event"], e["action_id"], e["status"]) for e in first] == [
        ("action_status", accepted.action_id, "SAGSBEHANDL")]
    r = receipts(app, delivery_id="D-CLOCK")
    at = datetime.combine(day, datetime.min.time())
    assert [(a.action_id, a.status, a.status_changed) for a in r.actions] == [
        (accepted.action_id, "SAGSBEHANDL", at + timedelta(days=1)),
        (rejected.action_id, "AFVIST", at.replace(hour=9))]
    # one Kvittering per action; only an executed one says what it did
    assert len(r.element.findall(f"{_M}KvitteringSamling/{_M}Kvittering")) == 2
    assert r.element.find(f".//{_M}UdførtAktionValg") is None
    with runtime.store.transaction() as conn:
        second = psrm.progress(conn, runtime, day + timedelta(days=2))
        assert psrm.progress(conn, runtime, day + timedelta(days=2)) == []  # nothing twice
    assert [e["status"] for e in second] == ["UDFOERT"]
    by_id = receipts(app, action_ids=(accepted.action_id, "999999"))
    assert [(a.action_id, a.status, a.status_changed, a.received) for a in by_id.actions] == [
        (accepted.action_id, "UDFOERT", at + timedelta(days=2), at.replace(hour=9))]
    done = by_id.element.find(f".//{_M}UdførtAktionValg/{_M}MFOpretFordringUdførtStruktur")
    assert done is not None
    assert done.findtext(_M + "DMIFordringEFIFordringID") == accepted.efi_claim_id
    # another SE number sees nothing of it
    assert receipts(app, delivery_id="D-CLOCK", se="12345678").actions == []
    # neither a delivery nor action ids: nothing to answer
    assert receipts(app).reaction == "FEJL"


def test_a_clock_jump_goes_straight_to_done(app: Flask, runtime: Runtime) -> None:
    answer = deliver(app, [opret(claim("JUMP"))])
    with runtime.store.transaction() as conn:
        events = psrm.progress(conn, runtime, TODAY + timedelta(days=30))
    assert [(e["status"], e["date"]) for e in events] == [
        ("UDFOERT", (TODAY + timedelta(days=2)).isoformat())]
    assert receipts(app, action_ids=(answer.actions[0].action_id,)).actions[0].status == "UDFOERT"


# ---------------------------------------------------------------- notifications

def test_payments_write_offs_returns_and_paging(app: Flask, runtime: Runtime) -> None:
    answer = deliver(app, [opret(claim("N-1", principal=Decimal("1000.00"))),
                           opret(claim("N-2", principal=Decimal("400.00")))])
    efi_1 = answer.actions[0].efi_claim_id
    assert efi_1 is not None
    with runtime.store.transaction() as conn:
        paid = psrm.record_payment(conn, claim_ref="N-1", amount=Decimal("150.00"), day=TODAY)
        psrm.script_event(conn, {"due": "2025-11-26", "kind": "write_off",
                                 "efi_claim_id": efi_1, "amount": "100.00"})
        psrm.script_event(conn, {"due": "2025-11-27", "kind": "pay", "claim_ref": "N-1",
                                 "source": "MODR"})
        psrm.script_event(conn, {"due": "2025-11-27", "kind": "return", "claim_ref": "N-2",
                                 "reason": "DOEDSBO"})
        psrm.script_event(conn, {"due": "2025-11-28", "kind": "pay", "claim_ref": "N-1"})
        psrm.script_event(conn, {"due": "2025-12-31", "kind": "pay", "claim_ref": "N-2"})
    assert (paid["amount"], paid["remaining"], paid["source"]) == ("150.00", "850.00", "INDB")
    fired: list[dict[str, Any]] = []
    with runtime.store.transaction() as conn:
        for n in range(1, 5):
            fired += [e for e in psrm.progress(conn, runtime, TODAY + timedelta(days=n))
                      if e["event"] != "action_status"]
    assert [(e["event"], e.get("amount"), e.get("remaining")) for e in fired] == [
        ("AFSKRIVNING", "100.00", "750.00"), ("DAEKNING", "750.00", "0.00"),
        ("RETUR", None, None), ("scripted_skipped", None, None)]
    assert psrm_claim(runtime, efi_1)["status"] == "INDFRIET"
    assert psrm_claim(runtime, answer.actions[1].efi_claim_id or "")["status"] == "RETUR"

    everything = mapping.decode_notifications(notifications(app).element)
    first = everything[0].seq_no
    page1 = notifications(app, first=first, last=first + 1)
    notes = mapping.decode_notifications(page1.element)
    assert [(n.type.value, n.amount, n.source, n.reason_code) for n in notes] == [
        ("DAEKNING", Decimal("150.00"), "INDB", None),
        ("AFSKRIVNING", Decimal("100.00"), None, "FORAELDELSE")]
    last = int(page1.element.findtext(_M + "MFSidsteUnderretningNummer") or "0")
    assert last == notes[-1].seq_no == first + 1
    page2 = notifications(app, first=last + 1)
    rest = mapping.decode_notifications(page2.element)
    assert [(n.type.value, n.amount, n.source, n.reason_code, n.claim_ref) for n in rest] == [
        ("DAEKNING", Decimal("750.00"), "MODR", None, "N-1"),
        ("RETUR", None, None, "DOEDSBO", "N-2")]
    assert rest[0].date == date(2025, 11, 27)
    assert page2.element.findtext(_M + "MFFlereUnderretninger") == "false"
    end = int(page2.element.findtext(_M + "MFSidsteUnderretningNummer") or "0")
    empty = notifications(app, first=end + 1)
    assert mapping.decode_notifications(empty.element) == []
    assert empty.element.findtext(_M + "MFSidsteUnderretningNummer") == str(end)
    assert mapping.decode_notifications(notifications(app, se="12345678").element) == []
    # by date: what happened from 27 November on; by fordringshaver id
    since = mapping.decode_notifications(notifications(app, since=date(2025, 11, 27)).element)
    assert [n.type.value for n in since] == ["DAEKNING", "RETUR"]
    assert len(mapping.decode_notifications(
        notifications(app, creditors=(CREDITOR,)).element)) == 4
    assert mapping.decode_notifications(notifications(app, creditors=("9",)).element) == []


def test_record_payment_refuses_what_it_cannot_do(app: Flask, runtime: Runtime) -> None:
    deliver(app, [opret(claim("R-1", principal=Decimal("200.00")))])
    with runtime.store.transaction() as conn:
        with pytest.raises(ValueError, match="^amount:"):
            psrm.record_payment(conn, claim_ref="R-1", amount=Decimal("200.01"), day=TODAY)
        with pytest.raises(ValueError, match="^claim_ref:"):
            psrm.record_payment(conn, claim_ref="NOPE", amount=None, day=TODAY)
        with pytest.raises(ValueError, match="^source:"):
            psrm.record_payment(conn, claim_ref="R-1", day=TODAY, source="CASH")
        full = psrm.record_payment(conn, claim_ref="R-1", day=TODAY)
        assert (full["amount"], full["remaining"]) == ("200.00", "0.00")
        with pytest.raises(ValueError, match="^claim_ref:.*INDFRIET"):
            psrm.record_payment(conn, claim_ref="R-1", day=TODAY)


@pytest.mark.parametrize(("spec", "field"), [
    ({"kind": "pay", "claim_ref": "X"}, "due"),
    ({"due": "2025-13-01", "kind": "pay", "claim_ref": "X"}, "due"),
    ({"due": "2025-12-01", "kind": "steal", "claim_ref": "X"}, "kind"),
    ({"due": "2025-12-01", "kind": "pay"}, "claim_ref"),
    ({"due": "2025-12-01", "kind": "pay", "claim_ref": "X", "amount": "1.001"}, "amount"),
    ({"due": "2025-12-01", "kind": "pay", "claim_ref": "X", "amount": "-5"}, "amount"),
    ({"due": "2025-12-01", "kind": "return", "claim_ref": "X", "amount": "5"}, "amount"),
    ({"due": "2025-12-01", "kind": "pay", "claim_ref": "X", "source": "CASH"}, "source"),
    ({"due": "2025-12-01", "kind": "write_off", "claim_ref": "X", "reason": "X" * 21},
     "reason"),
    ({"due": "2025-12-01", "kind": "pay", "claim_ref": "X", "colour": "red"}, "colour"),
])
def test_script_event_names_the_bad_field(app: Flask, runtime: Runtime, spec: dict[str, Any],
                                          field: str) -> None:
    with runtime.store.transaction() as conn, pytest.raises(ValueError, match=f"^{field}:"):
        psrm.script_event(conn, spec)
    assert count(runtime, t.psrm_scripted) == 0


# ---------------------------------------------------------------- behaviour switches

def test_behaviour_switches(app: Flask, runtime: Runtime) -> None:
    with runtime.store.transaction() as conn:
        psrm.set_behaviour(conn, {"reject_types": {"LIMEDIE": "Medielicens modtages ikke"},
                                  "unknown_debtors": ["1108662006"],
                                  "agreements": {CREDITOR: ["CFFAKTU", "LIMEDIE"]}})
    other = mapping.opret_fordring_action(claim("OTHER"), None, creditor_id="5513")
    answer = deliver(app, [
        opret(claim("S-TYPE", type_code="LIMEDIE")),
        opret(claim("S-DEBTOR", co_liable=[CoLiable(Party.cpr("1702642201")),
                                           CoLiable(Party.cpr("1108662006"))])),
        opret(claim("S-AGREED", type_code="KTCIVIL")),
        other,
        opret(claim("S-FINE")),
    ])
    a = answer.actions
    assert a[0].reasons == [("574", "Medielicens modtages ikke")]  # the scenario's words
    assert a[1].reasons == [("5", "Skyldner der er angivet findes ikke")]
    assert "MFHæftelseStruktur[2]" in path_of(runtime, a[1], "5")
    assert numbers(a[2]) == {"151"}
    assert numbers(a[3]) == {"2"}
    assert a[4].status == "MODTAGET"
    with runtime.store.transaction() as conn:
        state = psrm.set_behaviour(conn, {"psrm_reject_types": None, "unknown_debtors": None,
                                          "agreements": None})
    assert state == {"reject_types": {}, "unknown_debtors": [], "agreements": None}
    again = deliver(app, [opret(claim("S-TYPE", type_code="LIMEDIE")),
                          mapping.opret_fordring_action(claim("OTHER"), None,
                                                        creditor_id="5513")])
    assert [x.status for x in again.actions] == ["MODTAGET", "MODTAGET"]


@pytest.mark.parametrize(("spec", "field"), [
    ({"colour": "red"}, "colour"),
    ({"reject_types": "LIMEDIE"}, "reject_types"),
    ({"unknown_debtors": ["12"]}, "unknown_debtors"),
    ({"agreements": {CREDITOR: "CFFAKTU"}}, "agreements"),
])
def test_set_behaviour_names_the_bad_field(app: Flask, runtime: Runtime, spec: dict[str, Any],
                                           field: str) -> None:
    with runtime.store.transaction() as conn:
        with pytest.raises(ValueError, match=f"^{field}"):
            psrm.set_behaviour(conn, {"unknown_debtors": ["1702642201"], **spec})
        assert psrm.behaviour(conn)["unknown_debtors"] == []  # nothing changed


# ---------------------------------------------------------------- repeats

def test_repeated_delivery_ids_and_transaction_ids(app: Flask, runtime: Runtime) -> None:
    tid = str(uuid.uuid4())
    first = deliver(app, [opret(claim("DUP-1"))], delivery_id="D-DUP", transaction_id=tid)
    # the same TransaktionsID and body: the very same answer, replayed
    replay = deliver(app, [opret(claim("DUP-1"))], delivery_id="D-DUP", transaction_id=tid)
    assert replay.raw == first.raw
    # the same delivery under a new TransaktionsID: its actions as they stand, nothing new
    resent = deliver(app, [opret(claim("DUP-1"))], delivery_id="D-DUP")
    assert resent.reaction == "OK"
    assert [(a.action_id, a.status) for a in resent.actions] == [
        (first.actions[0].action_id, "MODTAGET")]
    assert count(runtime, t.psrm_claims) == 1 and count(runtime, t.psrm_actions) == 1
    # the same MFLeveranceID with other content: every action refused with 600
    other = deliver(app, [opret(claim("DUP-2")), opret(claim("DUP-3"))], delivery_id="D-DUP")
    assert [(a.status, a.reasons) for a in other.actions] == [
        ("AFVIST", [("600", "AktionId eksisterer allerede i PSRM")])] * 2
    # a reused TransaktionsID with another body: refused the same way
    reused = deliver(app, [opret(claim("DUP-4"))], delivery_id="D-OTHER", transaction_id=tid)
    assert [(a.status, numbers(a)) for a in reused.actions] == [("AFVIST", {"600"})]
    with runtime.store.transaction() as conn:
        journal = conn.execute(select(t.journal.c.summary).order_by(t.journal.c.id)).scalars()
        summaries = [s for s in journal if s and "refused (600)" in s]
    assert len(summaries) == 2 and "D-DUP" in summaries[0] and tid in summaries[1]
    # refusals store nothing: the original delivery's receipts are as they were
    assert count(runtime, t.psrm_actions) == 1
    assert [a.action_id for a in receipts(app, delivery_id="D-DUP").actions] == [
        first.actions[0].action_id]
    # the same MFLeveranceID from another SE number is another delivery
    elsewhere = deliver(app, [opret(claim("DUP-1"))], delivery_id="D-DUP", se="12345678")
    assert elsewhere.actions[0].status == "MODTAGET"
    with runtime.store.transaction() as conn:
        refs = sorted(c["claim_ref"] for c in psrm.claims(conn))
    assert refs == ["DUP-1", "DUP-1"]


# ---------------------------------------------------------------- NEDSKRIV, TILBAGEKALD

def test_write_down_recall_and_resubmit(app: Flask, runtime: Runtime) -> None:
    created = deliver(app, [opret(claim("W-1", principal=Decimal("1000.00")))])
    efi = created.actions[0].efi_claim_id
    assert efi is not None
    answer = deliver(app, [
        nedskriv(efi, "200.00", effective=TODAY),
        nedskriv(efi, "800.01"),
        nedskriv("424242", "10.00"),
        nedskriv(efi, "10.00", effective=TODAY + timedelta(days=1)),
        opret(claim("W-1")),  # the same claim again while PSRM holds it
    ])
    a = answer.actions
    assert a[0].status == "MODTAGET" and not a[0].reasons
    assert (a[0].efi_claim_id, a[0].efi_main_claim_id, a[0].claim_ref) == (efi, efi, "W-1")
    assert numbers(a[1]) == {"OIR-203"}
    assert "800,01" in dict(a[1].reasons)["OIR-203"] and "800,00" in dict(a[1].reasons)["OIR-203"]
    assert a[2].reasons == [("509", "Den angivne FordringID er ikke kendt af systemet")]
    assert numbers(a[3]) == {"548"}
    assert a[4].reasons == [("486", "FordringshaverRefID er ikke entydig")]
    assert psrm_claim(runtime, efi)["remaining"] == "800.00"

    recall = deliver(app, [tilbagekald(efi), tilbagekald(efi), nedskriv(efi, "1.00")])
    r = recall.actions
    assert r[0].status == "MODTAGET"
    assert numbers(r[1]) == {"602"}  # recalled already
    assert numbers(r[2]) == {"498"}  # a recalled claim is not written down
    assert psrm_claim(runtime, efi)["status"] == "TILBAGEKALDT"

    resubmit = mapping.genindsend_action(claim("W-1", principal=Decimal("800.00")), None,
                                         creditor_id=CREDITOR, efi_claim_id=efi)
    again = deliver(app, [resubmit])
    new_efi = again.actions[0].efi_claim_id
    assert again.actions[0].status == "MODTAGET" and new_efi not in (None, efi)
    assert psrm_claim(runtime, new_efi or "")["amount"] == "800.00"
    twice = mapping.genindsend_action(claim("W-1", principal=Decimal("800.00")), None,
                                      creditor_id=CREDITOR, efi_claim_id=new_efi)
    refused = deliver(app, [twice]).actions[0]
    assert numbers(refused) == {"540", "486"}  # not recalled; its reference is in use
    # writing the rest down settles the claim
    rest = deliver(app, [nedskriv(new_efi or "", "800.00")]).actions[0]
    assert rest.status == "MODTAGET"
    assert psrm_claim(runtime, new_efi or "")["status"] == "INDFRIET"


def test_write_down_of_another_senders_claim_is_unknown(app: Flask) -> None:
    efi = deliver(app, [opret(claim("MINE"))]).actions[0].efi_claim_id
    assert efi is not None
    answer = deliver(app, [nedskriv(efi, "1.00")], se="12345678")
    assert numbers(answer.actions[0]) == {"509"}


# ---------------------------------------------------------------- dashboard

def test_snapshot_is_json_ready(app: Flask, runtime: Runtime) -> None:
    deliver(app, [opret(claim("SNAP-1")), opret(claim("SNAP-2", currency="EUR"))])
    with runtime.store.transaction() as conn:
        psrm.record_payment(conn, claim_ref="SNAP-1", amount=Decimal("1.00"), day=TODAY)
        psrm.script_event(conn, {"due": "2026-01-01", "kind": "pay", "claim_ref": "SNAP-1"})
        snap = psrm.snapshot(conn)
    assert snap["claims_by_status"] == {"AKTIV": 1}
    assert snap["actions_by_status"] == {"MODTAGET": 1, "AFVIST": 1}
    assert (snap["deliveries"], snap["notifications"], snap["scripted_pending"]) == (1, 1, 1)
    assert snap["claims"][0]["party"] == "170264-XXXX"
    assert snap["claims"][0]["remaining"] == "1499.00"
    assert [a["status"] for a in snap["actions"]] == ["AFVIST", "MODTAGET"]  # newest first
    assert snap["actions"][0]["reasons"][0]["number"] == "152"


def test_script_event_takes_yaml_values(app: Flask, runtime: Runtime) -> None:
    """A YAML scenario hands over dates, timestamps and numbers, not strings."""
    deliver(app, [opret(claim("2025000183", principal=Decimal("300.00")))])
    with runtime.store.transaction() as conn:
        first = psrm.script_event(conn, {"due": date(2025, 11, 25), "kind": "pay",
                                         "claim_ref": 2025000183, "amount": 100})
        second = psrm.script_event(conn, {"due": datetime(2025, 11, 26, 8), "kind": "pay",
                                          "claim_ref": "2025000183"})
        fired = psrm.progress(conn, runtime, date(2025, 11, 26))
    assert (first["due"], first["claim_ref"], first["amount"]) == ("2025-11-25", "2025000183",
                                                                   "100.00")
    assert second["due"] == "2025-11-26"
    assert [(e["event"], e["amount"], e["remaining"]) for e in fired
            if e["event"] == "DAEKNING"] == [("DAEKNING", "100.00", "200.00"),
                                             ("DAEKNING", "200.00", "0.00")]


def test_psrm_end_rules_are_in_the_catalogue() -> None:
    """The PSRM end's own rejections (triggered above) are catalogue rules, listed in
    docs/rules.md with their context."""
    from oir_adapter.rules import PSRM_END, RULES

    own = {r.id for r in RULES if r.applies_to == {PSRM_END}}
    assert psrm.UNREADABLE in own
    assert {"PSRM-509", "PSRM-539", "PSRM-540", "PSRM-602", "PSRM-526"} <= own
