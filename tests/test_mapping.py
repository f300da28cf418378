"""ØIR ↔ PSRM mapping: the round trip field by field, element order, streaming, the
other actions, receipts/notifications → fagsystem events, ``oir map`` and the field doc."""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from oir_adapter.cli import main
from oir_adapter.codecs import decode_delivery, decode_opret_fordring
from oir_adapter.contracts import KONTEKST_NS, OIR_NS, PSRM_NS, validate_element, xsd_path
from oir_adapter.mapping import (
    DOC_BEGIN,
    DOC_END,
    EVENT_MAP,
    FIELD_MAP,
    EventType,
    FagsystemEvent,
    MappingError,
    NotificationType,
    PsrmNotification,
    aendr_fordring_action,
    callback_request,
    claim_ref,
    decode_callback_request,
    decode_notifications,
    decode_receipts,
    delivery,
    events_from_notification,
    events_from_receipt,
    fejlagtig_hovedstol_action,
    field_map_markdown,
    find_sub_claim,
    genindsend_action,
    liable_parties,
    nedskriv_action,
    nedskrivning_annulleret_action,
    opret_fordring_action,
    opskrivning_action,
    parse_creditor_ids,
    parse_trace_notes,
    request_from_json,
    serialize,
    stream_deliveries,
    tilbagekald_action,
)
from oir_adapter.model import (
    AccountType,
    Claim,
    ClaimArt,
    ClaimState,
    CoLiable,
    CoverageSource,
    Debtor,
    DebtorAccount,
    MoneyError,
    Party,
    PsrmAction,
    PsrmActionCode,
    PsrmHandover,
    PsrmStatus,
    RecallReason,
    RejectionReason,
    SubClaim,
    WriteDownReason,
)
from oir_adapter.tables import ClaimTypeTable

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"
NS = {"p": PSRM_NS, "k": KONTEKST_NS, "o": OIR_NS}
TODAY = date(2026, 3, 20)
WHEN = datetime(2026, 3, 20, 8, 30, tzinfo=UTC)
CREDITOR = "29189919"  # the authority (MyndighedCVR)
CREDITOR_ID = "4711"  # its fordringshaver id at Gældsstyrelsen (DMIFordringHaverID)
STRUCTURE = "AktionValg/OpretFordringAktion/MFOpretFordringStruktur"
SE = "29189919"
CLAIM_ID = "2026000417"  # the debtor system's id of the fixture claim
TYPES = ClaimTypeTable.default()

REQUEST_XML = """<?xml version="1.0" encoding="UTF-8"?>
<OpretFordringRequest xmlns="http://serviceplatformen.dk/xml/schemas/OIR/Debitor/1/">
  <Hovedoplysninger>
    <TransaktionsID>6f1c2b1e-8d3a-4c55-9a43-0b7e2f1d9c11</TransaktionsID>
    <TransaktionsTid>2026-03-02T09:15:00+01:00</TransaktionsTid>
  </Hovedoplysninger>
  <MyndighedCVR>29189919</MyndighedCVR>
  <FagsystemID>BIBLIOTEK-ERSTAT</FagsystemID>
  <DebitorkontoNummer>K-204711</DebitorkontoNummer>
  <Fordring>
    <FagsystemFordringID>BIB-2026-000417</FagsystemFordringID>
    <FordringTypeKode>CFFAKTU</FordringTypeKode>
    <FordringArt>INDR</FordringArt>
    <Beskrivelse>Erstatning for bortkomne materialer, filial Nord</Beskrivelse>
    <ValutaKode>DKK</ValutaKode>
    <Hovedstol>1234.56</Hovedstol>
    <PeriodeFra>2026-01-01</PeriodeFra>
    <PeriodeTil>2026-01-31</PeriodeTil>
    <StiftelsesDato>2026-02-01</StiftelsesDato>
    <ForfaldsDato>2026-02-15</ForfaldsDato>
    <SidsteRettidigeBetalingsDato>2026-03-02</SidsteRettidigeBetalingsDato>
    <ForaeldelsesDato>2029-03-02</ForaeldelsesDato>
    <DomsDato>2026-02-20</DomsDato>
    <ForligsDato>2026-02-25</ForligsDato>
    <ModregningTilladt>false</ModregningTilladt>
    <HaefterSamling>
      <Haefter><Part><CPRNummer>0707614285</CPRNummer></Part><Navn>Mette Hæfter Jensen</Navn></Haefter>
      <Haefter><Part><CVRNummer>13585628</CVRNummer></Part><Navn>Jensen Holding ApS</Navn></Haefter>
    </HaefterSamling>
    <DelfordringSamling>
      <Delfordring>
        <DelfordringTypeKode>RENTE</DelfordringTypeKode>
        <Beloeb>23.45</Beloeb>
        <PeriodeFra>2026-02-16</PeriodeFra>
        <PeriodeTil>2026-02-28</PeriodeTil>
        <StiftelsesDato>2026-02-28</StiftelsesDato>
      </Delfordring>
      <Delfordring>
        <DelfordringTypeKode>GEBYR</DelfordringTypeKode>
        <Beloeb>100.00</Beloeb>
        <StiftelsesDato>2026-02-20</StiftelsesDato>
      </Delfordring>
    </DelfordringSamling>
  </Fordring>
</OpretFordringRequest>
""".encode()


def request_element() -> etree._Element:
    return etree.fromstring(REQUEST_XML)


def account_for(party: Party) -> DebtorAccount:
    return DebtorAccount(number="K-204711", fagsystem_reference="BIB-P-88",
                         debtor=Debtor(party=party, name="Jonas Møller Jensen"),
                         account_type=(AccountType.PERSON if party.kind.value == "CPR"
                                       else AccountType.COMPANY),
                         authority_cvr=CREDITOR, fagsystem_id="BIBLIOTEK-ERSTAT")


PERSON = account_for(Party.cpr("1203852815"))
COMPANY = account_for(Party.cvr("25313763"))


def fixture_claim(claim_id: str = CLAIM_ID) -> Claim:
    return decode_opret_fordring(request_element(), received=date(2026, 3, 2),
                                 claim_id=claim_id).claim


def one_delivery(*actions: etree._Element) -> etree._Element:
    d = delivery(actions, se_number=SE, delivery_id="L-1", transaction_id="T-1",
                 transaction_time=WHEN)
    assert validate_element(d) == []
    return d


def xp(element: etree._Element, path: str) -> list[Any]:
    found = element.xpath(path, namespaces=NS)
    assert isinstance(found, list)
    return found


def texts(element: etree._Element, path: str, prefix: str) -> list[str]:
    """Text of every node at ``path`` (unprefixed steps, XPath predicates allowed)."""
    steps = "/".join(s if s in (".", "..") else f"{prefix}:{s}" for s in path.split("/"))
    return [n.text or "" for n in xp(element, steps)]


def names(element: etree._Element) -> list[str]:
    return [etree.QName(c).localname for c in element]


def simple_claim(n: int, **overrides: object) -> Claim:
    values: dict[str, object] = dict(
        id=f"C{n}", account_number=f"K{n}", fagsystem_claim_id=f"FS{n}", type_code="LIMEDIE",
        principal=Decimal("250.00") + n, period_from=date(2026, 1, 1),
        period_to=date(2026, 1, 31), founded=date(2026, 1, 5), due_date=date(2026, 2, 1),
        srb=date(2026, 2, 10), received=date(2026, 1, 6), creditor_cvr=CREDITOR)
    values.update(overrides)
    return Claim(**values)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the round trip

def test_round_trip_every_claim_field_decodes_back() -> None:
    request = request_element()
    assert validate_element(request) == []
    claim = fixture_claim()
    action = opret_fordring_action(claim, PERSON, creditor_id=CREDITOR_ID, claim_types=TYPES)
    d = one_delivery(action)

    [decoded] = decode_delivery(d, received=TODAY).actions
    assert decoded.code is PsrmActionCode.CREATE and decoded.problems == []
    assert decoded.creditor_id == CREDITOR_ID
    back = decoded.claim
    assert back is not None
    assert back.id == back.fagsystem_claim_id == CLAIM_ID
    assert back.type_code == "CFFAKTU"
    assert back.art is ClaimArt.RECOVERY
    assert back.currency == "DKK"
    assert back.principal == Decimal("1234.56")
    assert (back.period_from, back.period_to) == (date(2026, 1, 1), date(2026, 1, 31))
    assert back.founded == date(2026, 2, 1)
    assert back.due_date == date(2026, 2, 15)
    assert back.srb == date(2026, 3, 2)
    assert back.limitation_date == date(2029, 3, 2)
    assert back.judgment_date == date(2026, 2, 20)
    assert back.settlement_date == date(2026, 2, 25)
    assert back.creditor_cvr == CREDITOR_ID  # PSRM knows the fordringshaver by its id
    assert [c.party for c in back.co_liable] == [
        Party.cpr("1203852815"), Party.cpr("0707614285"), Party.cvr("13585628")]
    assert [(s.id, s.type_code, s.amount, s.period_from, s.period_to, s.founded)
            for s in back.sub_claims] == [
        (f"{CLAIM_ID}-1", "RENTE", Decimal("23.45"), date(2026, 2, 16), date(2026, 2, 28),
         date(2026, 2, 28)),
        (f"{CLAIM_ID}-2", "GEBYR", Decimal("100.00"), None, None, date(2026, 2, 20))]
    assert back.total == claim.total == Decimal("1358.01")

    # what decode_delivery does not read, straight from the tree
    s = "p:AktionValg/p:OpretFordringAktion/p:MFOpretFordringStruktur"
    assert xp(action, f"{s}/p:FordringOprindeligBeløbStruktur/p:EFIFordringOprindeligBeløb"
                        "/text()") == ["1234.56"]
    assert xp(action, f"{s}/p:DMIFordringHaverID/text()") == [CREDITOR_ID]
    notes = xp(action, f"{s}/p:SagsbemærkningSamling/p:MFNoteStruktur/p:MFNoteTekst/text()")
    assert parse_trace_notes(notes) == {
        "FagsystemID": "BIBLIOTEK-ERSTAT", "DebitorkontoNummer": "K-204711",
        "FagsystemFordringID": "BIB-2026-000417", "ModregningTilladt": "false",
        "Beskrivelse": "Erstatning for bortkomne materialer, filial Nord"}


def test_round_trip_passes_the_rule_catalogue() -> None:
    try:
        from oir_adapter import rules
    except ImportError:
        pytest.skip("oir_adapter.rules is not there yet (another helper's area)")
    if not hasattr(rules, "validate_action") or not hasattr(rules, "RuleContext"):
        pytest.skip("oir_adapter.rules has no validate_action/RuleContext yet")
    d = one_delivery(opret_fordring_action(fixture_claim(), PERSON, creditor_id=CREDITOR_ID))
    [decoded] = decode_delivery(d, received=TODAY).actions
    found = rules.validate_action(decoded, today=TODAY, context=rules.RuleContext(handover=True))
    assert [str(v) for v in found] == []


def _request_with_account(account: DebtorAccount) -> etree._Element:
    """The request plus a ``Debitorkonto/Debitor/Part`` for the FIELD_MAP's account rows."""
    request = copy.deepcopy(request_element())
    konto = etree.SubElement(request, f"{{{OIR_NS}}}Debitorkonto")
    part = etree.SubElement(etree.SubElement(konto, f"{{{OIR_NS}}}Debitor"), f"{{{OIR_NS}}}Part")
    party = account.debtor.party
    etree.SubElement(part, f"{{{OIR_NS}}}{party.kind.value}Nummer").text = party.number
    return request


def _derived_checks() -> dict[tuple[str, str], Callable[[etree._Element, etree._Element], None]]:
    """One assertion per ``derived`` FIELD_MAP row: (request, action) → assert."""

    def row(source: str, target_end: str) -> tuple[str, str]:
        found = [r for r in FIELD_MAP if r.source == source and r.target == target_end]
        [r] = found or [r for r in FIELD_MAP if r.source == source
                        and r.target.endswith("/" + target_end)]
        return r.source, r.target

    def at(action: etree._Element, source: str, target_end: str) -> list[str]:
        return texts(action, row(source, target_end)[1], "p")

    def n_haeftelser(action: etree._Element) -> int:
        return len(xp(action, "p:AktionValg/p:OpretFordringAktion/p:MFOpretFordringStruktur/"
                              "p:FordringHæftelseSamling/p:MFHæftelseStruktur"))

    def ref(req: etree._Element, act: etree._Element) -> None:
        assert at(act, "Fordring/FagsystemFordringID", "DMIFordringFordringHaverRef") == [CLAIM_ID]

    def art(req: etree._Element, act: etree._Element) -> None:
        assert at(act, "Fordring/FordringArt", "DMIFordringFordringArtKode") == texts(req, "Fordring/FordringArt", "o")

    def currency(req: etree._Element, act: etree._Element) -> None:
        assert at(act, "Fordring/ValutaKode", "ValutaKode") == ["DKK"]
        assert set(xp(act, "//p:ValutaKode/text()")) == {"DKK"}

    def creditor(target: str) -> Callable[[etree._Element, etree._Element], None]:
        def check(req: etree._Element, act: etree._Element) -> None:
            assert texts(req, "MyndighedCVR", "o") == [CREDITOR]
            assert at(act, "MyndighedCVR", target) == [CREDITOR_ID]  # the id, not the CVR
        return check

    def flag(source: str, end: str) -> Callable[[etree._Element, etree._Element], None]:
        def check(req: etree._Element, act: etree._Element) -> None:
            assert texts(req, source, "o")
            assert at(act, source, end) == ["true"] * n_haeftelser(act)
        return check

    def principal(req: etree._Element, act: etree._Element) -> None:
        assert at(act, "Fordring/Hovedstol", "DMIFordringBeløb") == ["1234.56"]

    def every_haeftelse(source: str, end: str) -> Callable[[etree._Element, etree._Element], None]:
        def check(req: etree._Element, act: etree._Element) -> None:
            [value] = texts(req, source, "o")
            assert at(act, source, end) == [value] * n_haeftelser(act)
        return check

    def sub_refs(req: etree._Element, act: etree._Element) -> None:
        assert at(act, "Fordring/DelfordringSamling/Delfordring", "DMIFordringFordringHaverRef") == [
            f"{CLAIM_ID}-1", f"{CLAIM_ID}-2"]

    def sub_amounts(req: etree._Element, act: etree._Element) -> None:
        assert at(act, "Fordring/DelfordringSamling/Delfordring/Beloeb",
                  "DMIFordringBeløb") == texts(
            req, "Fordring/DelfordringSamling/Delfordring/Beloeb", "o")

    return {
        row("Fordring/FagsystemFordringID", "DMIFordringFordringHaverRef"): ref,
        row("Fordring/FordringArt", "DMIFordringFordringArtKode"): art,
        row("Fordring/ValutaKode", "ValutaKode"): currency,
        row("Fordring/Hovedstol", "FordringBeløbStruktur/DMIFordringBeløb"): principal,
        row("Fordring/ForaeldelsesDato", "HæftelseForældelseDato"): every_haeftelse(
            "Fordring/ForaeldelsesDato", "HæftelseForældelseDato"),
        row("Fordring/DomsDato", "HæftelseDom"): flag("Fordring/DomsDato", "HæftelseDom"),
        row("Fordring/DomsDato", "HæftelseDomDato"): every_haeftelse("Fordring/DomsDato",
                                                                     "HæftelseDomDato"),
        row("Fordring/ForligsDato", "HæftelseForlig"): flag("Fordring/ForligsDato",
                                                           "HæftelseForlig"),
        row("Fordring/ForligsDato", "HæftelseForligDato"): every_haeftelse(
            "Fordring/ForligsDato", "HæftelseForligDato"),
        row("MyndighedCVR", "DMIFordringHaverID"): creditor("DMIFordringHaverID"),
        row("MyndighedCVR", f"{STRUCTURE}/DMIFordringHaverID"): creditor(
            f"{STRUCTURE}/DMIFordringHaverID"),
        row("Fordring/DelfordringSamling/Delfordring", "DMIFordringFordringHaverRef"): sub_refs,
        row("Fordring/DelfordringSamling/Delfordring/Beloeb", "DMIFordringBeløb"): sub_amounts,
    }


def test_every_field_map_row_holds_in_the_built_tree() -> None:
    """Each FIELD_MAP row, checked by its rule on the fixture (a person and a company
    debtor): copies carry the same text, notes the same value, derived rows their own
    assertion, dropped values appear nowhere."""
    checks = _derived_checks()
    assert set(checks) == {(r.source, r.target) for r in FIELD_MAP if r.rule == "derived"}
    exercised: set[tuple[str, str]] = set()
    for account in (PERSON, COMPANY):
        request = _request_with_account(account)
        action = opret_fordring_action(fixture_claim(), account, creditor_id=CREDITOR_ID)
        one_delivery(copy.deepcopy(action))
        wire = serialize(action).decode()
        notes = parse_trace_notes(texts(action, FIELD_MAP[4].target, "p"))
        for r in FIELD_MAP:
            key = (r.source, r.target)
            source = texts(request, r.source, "o")
            if r.rule == "copy":
                assert texts(action, r.target, "p") == source, key
            elif r.rule == "note":
                match = re.search(r"`(\w+): ", r.note)
                assert match is not None, f"note row without a `Key: ` in its note: {key}"
                assert [notes[match.group(1)]] == source, key
            elif r.rule == "derived":
                checks[key](request, action)
            else:
                assert r.rule == "dropped" and r.target == "—", key
                assert all(v not in wire for v in source), key
            if source:
                exercised.add(key)
    assert exercised == {(r.source, r.target) for r in FIELD_MAP}, "fixture misses a field"


def _oir_leaves() -> set[str]:
    """Every leaf path below OpretFordringRequest, from the ØIR XSD."""
    xs = "{http://www.w3.org/2001/XMLSchema}"
    schema = etree.parse(str(xsd_path("oir/Debitor.xsd"))).getroot()
    types = {t.get("name"): t for t in schema.iter(f"{xs}complexType") if t.get("name")}

    def walk(particles: etree._Element, prefix: str) -> Iterator[str]:
        for e in particles.iter(f"{xs}element"):
            path = f"{prefix}{e.get('name')}"
            type_name = (e.get("type") or "").removeprefix("oir:")
            if type_name in types:
                yield from walk(types[type_name], path + "/")
            else:
                yield path

    [request] = [e for e in schema.iterfind(f"{xs}element")
                 if e.get("name") == "OpretFordringRequest"]
    body = request.find(f"{xs}complexType")
    assert body is not None
    leaves = set(walk(body, ""))
    leaves |= {f"Debitorkonto/Debitor/{p}" for p in walk(types["DebitorType"], "")
               if p.startswith("Part/")}
    return leaves


def test_field_map_covers_every_field_of_the_oir_request() -> None:
    leaves = _oir_leaves()
    sources = {r.source for r in FIELD_MAP}
    assert leaves - sources == set(), "ØIR fields with no FIELD_MAP row"
    assert sources - leaves == {"Fordring/DelfordringSamling/Delfordring"}, "unknown sources"


def test_event_map_names_real_elements() -> None:
    """Every PSRM name in EVENT_MAP exists in MF.xsd, every ØIR target in HaendelseType."""
    xs = "{http://www.w3.org/2001/XMLSchema}"
    mf = {e.get("name") for e in etree.parse(str(xsd_path("psrm/MF.xsd"))).iter(f"{xs}element")}
    oir = etree.parse(str(xsd_path("oir/Debitor.xsd")))
    [haendelse] = [t for t in oir.iter(f"{xs}complexType") if t.get("name") == "HaendelseType"]
    fields = {e.get("name") for e in haendelse.iter(f"{xs}element")}
    fields |= {"AfvistAarsag", "AfvistNummer", "AfvistTekst"}
    for r in EVENT_MAP:
        for name in re.findall(r"[A-Za-zÆØÅæøå]{4,}", r.source.split(" + ")[0]):
            if r.source.startswith("("):
                break
            assert name in mf, (r.source, name)
        if r.target != "—":
            assert set(r.target.split("/")) <= fields, r.target


def test_docs_mapping_md_holds_the_generated_tables() -> None:
    doc = (ROOT / "docs" / "mapping.md").read_text(encoding="utf-8")
    assert DOC_BEGIN in doc and DOC_END in doc
    start = doc.index(DOC_BEGIN)
    current = doc[start:doc.index(DOC_END) + len(DOC_END)] + "\n"
    assert current == field_map_markdown(), (
        "docs/mapping.md is stale: run `.venv/bin/python -m oir_adapter.mapping --write-docs`")
    for r in FIELD_MAP:
        assert f"`{r.source}`" in doc


# ---------------------------------------------------------------- element order

SENDER_ORDER = {
    "MFFordringIndberet_I": ["Kontekst", "FordringhaverSystemIDStruktur", "MFLeveranceID",
                             "FordringAktionSamling"],
    "Kontekst": ["HovedOplysninger"],
    "HovedOplysninger": ["TransaktionsID", "TransaktionsTid"],
    "FordringAktion": ["MFAktionKode", "DMIFordringHaverID", "AktionValg"],
    "OpretFordringAktion": ["MFOpretFordringStruktur", "OpretUnderfordringSamling"],
    "MFOpretFordringStruktur": [
        "DMIFordringFordringArtKode", "DMIFordringTypeKode", "DMIFordringFordringHaverRef",
        "DMIFordringStiftelseTidspunkt", "DMIFordringForfaldDato", "DMIFordringSRBDato",
        "FordringBeløbStruktur", "FordringPeriodeStruktur", "FordringOprindeligBeløbStruktur",
        "SagsbemærkningSamling", "DokumentSamling", "DMIFordringHaverID",
        "FordringHæftelseSamling"],
    "FordringBeløbStruktur": ["ValutaKode", "DMIFordringBeløb"],
    "FordringPeriodeStruktur": ["DMIFordringPeriodeFraDato", "DMIFordringPeriodeTilDato"],
    "FordringOprindeligBeløbStruktur": ["ValutaKode", "EFIFordringOprindeligBeløb"],
    "MFHæftelseStruktur": ["MFKundeStruktur", "HæftelseForældelseDato", "HæftelseDom",
                           "HæftelseDomDato", "HæftelseForlig", "HæftelseForligDato"],
    "MFOpretRelateretFordringStruktur": [
        "DMIFordringFordringArtKode", "DMIFordringTypeKode", "DMIFordringFordringHaverRef",
        "DMIFordringStiftelseTidspunkt", "DMIFordringForfaldDato", "DMIFordringSRBDato",
        "FordringBeløbStruktur", "FordringPeriodeStruktur", "FordringOprindeligBeløbStruktur",
        "SagsbemærkningSamling", "DokumentSamling", "DMIFordringHaverID",
        "FordringHæftelseSamling"],
    "SagsbemærkningSamling": ["MFNoteStruktur"] * 5,
    "MFNoteStruktur": ["MFNoteTekst"],
}


def test_element_order_is_the_design_tree() -> None:
    d = one_delivery(opret_fordring_action(fixture_claim(), PERSON, creditor_id=CREDITOR_ID))
    seen = set()
    for element in d.iter():
        name = etree.QName(element).localname
        if name in SENDER_ORDER and name not in seen:
            seen.add(name)
            assert names(element) == SENDER_ORDER[name], name
    assert seen == set(SENDER_ORDER)
    notes = xp(d, "//p:MFOpretFordringStruktur/p:SagsbemærkningSamling/*/*/text()")
    assert notes[0].startswith("FagsystemID: ")
    assert xp(d, "//p:DokumentSamling") and not xp(d, "//p:DokumentSamling/*")


def test_design_order_matches_the_psrm_xsd() -> None:
    """The senders' order and MF.xsd agree, so a valid tree is also one in that order."""
    xs = "{http://www.w3.org/2001/XMLSchema}"
    schema = etree.parse(str(xsd_path("psrm/MF.xsd")))
    for type_name, element in (("MFOpretFordringStrukturType", "MFOpretFordringStruktur"),
                               ("MFHæftelseStrukturType", "MFHæftelseStruktur"),
                               ("MFOpretRelateretFordringStrukturType",
                                "MFOpretRelateretFordringStruktur")):
        [t] = [t for t in schema.iter(f"{xs}complexType") if t.get("name") == type_name]
        in_schema = [e.get("name") for e in t.iter(f"{xs}element")]
        # what a fordringshaver sends, in the schema's order (which also has the ids PSRM's
        # own intake adds)
        assert [n for n in in_schema if n in SENDER_ORDER[element]] == SENDER_ORDER[element]


# ---------------------------------------------------------------- decisions in the builder

def test_amount_is_the_remainder_and_covered_sub_claims_stay_home() -> None:
    claim = fixture_claim()
    claim.remaining_principal = Decimal("200.00")
    claim.sub_claims[0].remaining = Decimal("0.00")
    claim.sub_claims[1].remaining = Decimal("50.00")
    d = one_delivery(opret_fordring_action(claim, PERSON, creditor_id=CREDITOR_ID))
    back = decode_delivery(d, received=TODAY).actions[0].claim
    assert back is not None
    assert back.principal == Decimal("200.00")
    assert [(s.id, s.amount) for s in back.sub_claims] == [(f"{CLAIM_ID}-2", Decimal("50.00"))]
    assert xp(d, "//p:EFIFordringOprindeligBeløb/text()") == ["1234.56", "100.00"]
    assert back.outstanding == claim.outstanding == Decimal("250.00")


def test_reference_falls_back_to_the_fagsystem_id_and_is_reversible() -> None:
    offline = fixture_claim(claim_id="")
    assert claim_ref(offline) == "BIB-2026-000417"
    action = opret_fordring_action(offline, PERSON, creditor_id=CREDITOR_ID)
    refs = xp(action, "//p:DMIFordringFordringHaverRef/text()")
    assert refs == ["BIB-2026-000417", "BIB-2026-000417-1", "BIB-2026-000417-2"]
    assert find_sub_claim(offline, "BIB-2026-000417-2") is offline.sub_claims[1]
    assert find_sub_claim(offline, "BIB-2026-000417-3") is None
    online = fixture_claim()
    assert find_sub_claim(online, f"{CLAIM_ID}-1") is online.sub_claims[0]


def test_liable_parties_debtor_first_once_each_and_never_none() -> None:
    claim = fixture_claim()
    claim.co_liable.insert(0, CoLiable(Party.cpr("1203852815")))  # the debtor again
    assert liable_parties(claim, PERSON) == [Party.cpr("1203852815"), Party.cpr("0707614285"),
                                             Party.cvr("13585628")]
    assert liable_parties(fixture_claim(), None)[0] == Party.cpr("0707614285")
    lonely = simple_claim(1)
    with pytest.raises(MappingError, match="names no debtor"):
        opret_fordring_action(lonely, None, creditor_id=CREDITOR_ID)


def test_art_explicit_beats_claim_beats_type_default() -> None:
    types = ClaimTypeTable.from_rows([{"code": "ONLYMODR", "allowed_arts": ["MODR"]},
                                      {"code": "LIMEDIE"}])

    def art_of(claim: Claim, art: ClaimArt | None = None) -> str:
        a = opret_fordring_action(claim, PERSON, creditor_id=CREDITOR_ID, art=art, claim_types=types)
        [text] = xp(a, "//p:DMIFordringFordringArtKode/text()")
        return str(text)

    assert art_of(simple_claim(1, type_code="ONLYMODR")) == "MODR"
    assert art_of(simple_claim(1, type_code="LIMEDIE")) == "INDR"
    assert art_of(simple_claim(1, type_code="UNKNOWN")) == "INDR"
    assert art_of(simple_claim(1, type_code="LIMEDIE", art=ClaimArt.OFFSETTING_ONLY)) == "MODR"
    assert art_of(simple_claim(1, type_code="ONLYMODR", art=ClaimArt.OFFSETTING_ONLY),
                  ClaimArt.RECOVERY) == "INDR"


def test_amounts_are_never_rounded() -> None:
    with pytest.raises(MoneyError):
        nedskriv_action("71", Decimal("10.005"), WriteDownReason.PAYMENT,
                        creditor_id=CREDITOR_ID)
    claim = simple_claim(1, principal=Decimal("100.1"))
    action = opret_fordring_action(claim, PERSON, creditor_id=CREDITOR_ID)
    assert xp(action, "//p:DMIFordringBeløb/text()") == ["100.10"]


def test_write_down_recall_and_resubmit_actions_validate_and_decode() -> None:
    claim = fixture_claim()
    d = one_delivery(
        nedskriv_action("501", Decimal("345.00"), WriteDownReason.PAYMENT,
                        creditor_id=CREDITOR_ID, effective=date(2026, 3, 18)),
        tilbagekald_action("502", RecallReason.DEFERRAL, creditor_id=CREDITOR_ID,
                           effective=date(2026, 3, 19)),
        genindsend_action(claim, PERSON, creditor_id=CREDITOR_ID, efi_claim_id="503"),
        genindsend_action(claim, None, creditor_id=CREDITOR_ID),
        # no effective date for REGU (519) or a recall for FEJL (546), even when given
        nedskriv_action("504", Decimal("1.00"), WriteDownReason.ADJUSTMENT,
                        creditor_id=CREDITOR_ID, effective=date(2026, 3, 18)),
        tilbagekald_action("505", RecallReason.ERROR, creditor_id=CREDITOR_ID,
                           effective=date(2026, 3, 19)))
    a = decode_delivery(d, received=TODAY).actions
    assert [x.code for x in a] == [PsrmActionCode.WRITE_DOWN, PsrmActionCode.RECALL,
                                   PsrmActionCode.RESUBMIT, PsrmActionCode.RESUBMIT,
                                   PsrmActionCode.WRITE_DOWN, PsrmActionCode.RECALL]
    assert (a[0].efi_claim_id, a[0].amount, a[0].currency, a[0].reason, a[0].effective_date) == (
        "501", Decimal("345.00"), "DKK", "INDB", date(2026, 3, 18))
    assert a[0].choice == "MFNedskrivFordringStruktur"
    assert (a[1].efi_claim_id, a[1].reason, a[1].effective_date) == (
        "502", "HENS", date(2026, 3, 19))
    assert a[2].efi_claim_id == "503" and a[2].claim is not None
    assert a[2].claim.principal == Decimal("1234.56")
    assert a[2].choice == "MFGenindsendFordringStruktur"
    assert a[3].efi_claim_id is None and a[3].claim is not None
    assert a[3].claim.co_liable[0].party == Party.cpr("0707614285")
    assert a[4].effective_date is None and a[4].reason == "REGU"
    assert a[5].effective_date is None and a[5].reason == "FEJL"


def test_every_action_code_is_built_validates_and_decodes() -> None:
    code = PsrmActionCode
    built = {
        code.CREATE: opret_fordring_action(fixture_claim(), PERSON, creditor_id=CREDITOR_ID),
        code.WRITE_DOWN: nedskriv_action("601", Decimal("10.00"), WriteDownReason.PAYMENT,
                                         creditor_id=CREDITOR_ID),
        code.RECALL: tilbagekald_action("601", RecallReason.COMPLAINT, creditor_id=CREDITOR_ID),
        code.RESUBMIT: genindsend_action(fixture_claim(), PERSON, creditor_id=CREDITOR_ID),
        code.WRITE_UP: opskrivning_action("601", Decimal("20.00"), creditor_id=CREDITOR_ID,
                                          effective=date(2026, 3, 1), reason_text="rente"),
        code.WRITE_UP_ANNULLED_PAYMENT: opskrivning_action(
            "601", Decimal("30.00"), creditor_id=CREDITOR_ID, code=code.WRITE_UP_ANNULLED_PAYMENT,
            ref_action_id="71", effective=date(2026, 3, 2)),
        code.WRITE_UP_REVERSED_ADJUSTMENT: opskrivning_action(
            "601", Decimal("40.00"), creditor_id=CREDITOR_ID,
            code=code.WRITE_UP_REVERSED_ADJUSTMENT, ref_action_id="72",
            effective=date(2026, 3, 3)),
        code.WRITE_DOWN_ANNULLED_WRITE_UP: nedskrivning_annulleret_action(
            "601", Decimal("50.00"), "73", creditor_id=CREDITOR_ID, effective=date(2026, 3, 4)),
        code.WRITE_DOWN_ANNULLED_PAYMENT_WRITE_UP: nedskrivning_annulleret_action(
            "601", Decimal("60.00"), "74", creditor_id=CREDITOR_ID,
            code=code.WRITE_DOWN_ANNULLED_PAYMENT_WRITE_UP, reason_text="fejl"),
        code.WRONG_PRINCIPAL: fejlagtig_hovedstol_action("601", Decimal("70.00"),
                                                         creditor_id=CREDITOR_ID),
        code.CHANGE: aendr_fordring_action("601", creditor_id=CREDITOR_ID,
                                           srb=date(2026, 4, 1), notes=["ny SRB"]),
    }
    assert set(built) == set(PsrmActionCode)
    d = one_delivery(*built.values())
    assert validate_element(d) == []
    decoded = decode_delivery(d, received=TODAY).actions
    assert [a.code for a in decoded] == list(built)
    assert all(a.choice == a.expected_choice and not a.problems for a in decoded)
    changes = {a.code: (a.amount, a.action_id_ref, a.effective_date) for a in decoded[4:10]}
    assert changes == {
        code.WRITE_UP: (Decimal("20.00"), None, date(2026, 3, 1)),
        code.WRITE_UP_ANNULLED_PAYMENT: (Decimal("30.00"), "71", date(2026, 3, 2)),
        code.WRITE_UP_REVERSED_ADJUSTMENT: (Decimal("40.00"), "72", date(2026, 3, 3)),
        code.WRITE_DOWN_ANNULLED_WRITE_UP: (Decimal("50.00"), "73", date(2026, 3, 4)),
        code.WRITE_DOWN_ANNULLED_PAYMENT_WRITE_UP: (Decimal("60.00"), "74", None),
        code.WRONG_PRINCIPAL: (Decimal("70.00"), None, None),
    }
    assert decoded[4].reason_text == "rente" and decoded[8].reason_text == "fejl"
    assert decoded[10].notes == ["ny SRB"]
    with pytest.raises(MappingError):
        opskrivning_action("601", Decimal("1.00"), creditor_id=CREDITOR_ID,
                           code=code.WRITE_UP_ANNULLED_PAYMENT)  # names no write-down


def test_delivery_needs_an_action() -> None:
    with pytest.raises(MappingError):
        delivery([], se_number=SE, delivery_id="L", transaction_id="T", transaction_time=WHEN)


@settings(max_examples=30, deadline=None)
@given(principal=st.integers(1, 10**9), paid=st.integers(0, 100), subs=st.lists(
    st.tuples(st.sampled_from(["RENTE", "GEBYR", "PROCREN"]), st.integers(0, 10**6),
              st.booleans()), max_size=4),
    co=st.lists(st.sampled_from(["0707614285", "13585628", "2110625629", "1203852815"]),
                max_size=4),
    days=st.integers(0, 3000))
def test_any_claim_maps_to_a_valid_delivery_that_decodes_back(
        principal: int, paid: int, subs: list[tuple[str, int, bool]], co: list[str],
        days: int) -> None:
    """Property: amounts and dates survive the trip øre-exactly for any claim shape."""
    amount = Decimal(principal).scaleb(-2)
    remaining = (amount * (100 - paid) / 100).quantize(Decimal("0.01"))
    founded = date(2020, 1, 1) + timedelta(days=days)
    claim = simple_claim(
        1, principal=amount, remaining_principal=remaining, founded=founded,
        period_from=founded, period_to=founded + timedelta(days=30),
        due_date=founded + timedelta(days=31), srb=founded + timedelta(days=45),
        co_liable=[CoLiable(Party.cvr(n) if len(n) == 8 else Party.cpr(n)) for n in co],
        sub_claims=[SubClaim(str(i), code, Decimal(v).scaleb(-2), Decimal(v).scaleb(-2),
                             period_from=founded if dated else None)
                    for i, (code, v, dated) in enumerate(subs, start=1)])
    d = one_delivery(opret_fordring_action(claim, PERSON, creditor_id=CREDITOR_ID))
    back = decode_delivery(d, received=TODAY).actions[0].claim
    assert back is not None
    assert back.principal == remaining
    assert back.outstanding == claim.outstanding
    assert back.founded == founded and back.srb == claim.srb
    assert back.co_liable[0].party == PERSON.debtor.party
    assert len(back.co_liable) == 1 + len(set(co) - {"1203852815"})


# ---------------------------------------------------------------- streaming

def test_stream_deliveries_chunks_lazily() -> None:
    consumed = 0

    def claims() -> Iterator[tuple[Claim, DebtorAccount | None]]:
        nonlocal consumed
        for n in itertools.count(1):  # endless: only laziness lets this test finish
            consumed += 1
            yield simple_claim(n), PERSON

    stream = stream_deliveries(claims(), max_actions=10, se_number=SE, transaction_time=WHEN,
                               delivery_prefix="2026", creditor_id=CREDITOR_ID)
    assert consumed == 0
    first = next(stream)
    assert consumed == 10
    second = next(stream)
    assert consumed == 20
    for d, number in ((first, 1), (second, 2)):
        assert validate_element(d) == []
        assert d.findtext("p:MFLeveranceID", namespaces=NS) == f"2026{number:04d}"
        assert len(xp(d, "p:FordringAktionSamling/p:FordringAktion")) == 10


def test_stream_deliveries_splits_into_max_actions_and_keeps_every_claim_in_order() -> None:
    claims = [(simple_claim(n), PERSON) for n in range(1, 24)]
    deliveries = list(stream_deliveries(iter(claims), max_actions=10, se_number=SE,
                                        transaction_time=WHEN,
                                        creditor_ids={CREDITOR: CREDITOR_ID}))
    decoded = [decode_delivery(d, received=TODAY) for d in deliveries]
    assert [len(x.actions) for x in decoded] == [10, 10, 3]
    assert all(validate_element(d) == [] for d in deliveries)
    refs = [a.claim.id for x in decoded for a in x.actions if a.claim is not None]
    assert refs == [f"C{n}" for n in range(1, 24)]
    assert len({x.transaction_id for x in decoded}) == 3
    assert len({x.delivery_id for x in decoded}) == 3
    assert {a.creditor_id for x in decoded for a in x.actions} == {CREDITOR_ID}
    assert all(x.delivery_id.isdigit() for x in decoded)  # MFLeveranceID is a number
    assert list(stream_deliveries(iter([]), max_actions=5, se_number=SE)) == []


def test_stream_deliveries_needs_a_fordringshaver_id() -> None:
    stream = stream_deliveries(iter([(simple_claim(1), PERSON)]), max_actions=5, se_number=SE)
    with pytest.raises(MappingError, match=f"no fordringshaver id .* CVR {CREDITOR}"):
        next(stream)
    other = stream_deliveries(iter([(simple_claim(1), PERSON)]), max_actions=5, se_number=SE,
                              creditor_ids={"55133018": "12"})
    with pytest.raises(MappingError, match="no fordringshaver id"):
        next(other)
    explicit = stream_deliveries(iter([(simple_claim(1, creditor_cvr=None), PERSON)]),
                                 max_actions=5, se_number=SE, creditor_id="1111")
    assert xp(next(explicit), "//p:DMIFordringHaverID/text()") == ["1111", "1111"]
    by_cvr = stream_deliveries(iter([(simple_claim(1), PERSON)]), max_actions=5, se_number=SE,
                               creditor_id="1111", creditor_ids={CREDITOR: "2222"})
    assert xp(next(by_cvr), "//p:DMIFordringHaverID/text()") == ["2222", "2222"]
    cvr_as_id = stream_deliveries(iter([(simple_claim(1), PERSON)]), max_actions=5,
                                  se_number=SE, creditor_id="CVR29189919")
    with pytest.raises(MappingError, match="must be a number"):
        next(cvr_as_id)


def test_creditor_ids_parse_from_text() -> None:
    assert parse_creditor_ids(" 29189919=4711, 55133018=12 ,") == {
        "29189919": "4711", "55133018": "12"}
    for bad in ("29189919", "2918991=4711", "29189919=x", "29189919=12345678901"):
        with pytest.raises(ValueError, match="CVR=ID"):
            parse_creditor_ids(bad)


# ---------------------------------------------------------------- receipts → events

KVITTERING_XML = """<MFKvitteringHent_O xmlns="http://skat.dk/begrebsmodel/2009/01/15/"
    xmlns:k="http://skat.dk/begrebsmodel/xml/schemas/kontekst/2007/05/31/">
  <Kontekst><k:HovedOplysningerSvar><k:TransaktionsID>T-9</k:TransaktionsID>
    <k:ServiceID>MFKvitteringHent</k:ServiceID><k:TransaktionsTid>2026-03-21T06:00:00</k:TransaktionsTid>
    <k:SvarReaktion/></k:HovedOplysningerSvar></Kontekst>
  <KvitteringSamling>
    <Kvittering><MFAktionStruktur>
      <DMIFordringEFIFordringID>77</DMIFordringEFIFordringID>
      <DMIFordringEFIHovedFordringID>77</DMIFordringEFIHovedFordringID>
      <DMIFordringFordringHaverRef>2026000417</DMIFordringFordringHaverRef>
      <MFAktionID>9001</MFAktionID><MFAktionKode>OPRETFORDRING</MFAktionKode>
      <DMIFordringHaverID>4711</DMIFordringHaverID><MFAktionStatusKode>UDFOERT</MFAktionStatusKode>
      <MFAktionStatusÆndretDato>2026-03-20T06:00:00.000</MFAktionStatusÆndretDato>
      <DMIFordringModtagelseDato>2026-03-19T10:15:30.250</DMIFordringModtagelseDato>
      <AfvistÅrsagSamling/>
    </MFAktionStruktur></Kvittering>
    <Kvittering><MFAktionStruktur>
      <DMIFordringFordringHaverRef>2026000418</DMIFordringFordringHaverRef>
      <MFAktionID>9002</MFAktionID><MFAktionKode>GENINDSENDFORDRING</MFAktionKode>
      <DMIFordringHaverID>4711</DMIFordringHaverID><MFAktionStatusKode>AFVIST</MFAktionStatusKode>
      <MFAktionStatusÆndretDato>2026-03-20T06:00:00.000</MFAktionStatusÆndretDato>
      <AfvistÅrsagSamling>
        <MFAktionAfvistStruktur><MFAktionAfvistNummer>215</MFAktionAfvistNummer>
          <MFAktionAfvistTekst>Beløb under bundgrænse</MFAktionAfvistTekst></MFAktionAfvistStruktur>
        <MFAktionAfvistStruktur><MFAktionAfvistNummer>5</MFAktionAfvistNummer>
          <MFAktionAfvistTekst>Skyldner ukendt</MFAktionAfvistTekst></MFAktionAfvistStruktur>
      </AfvistÅrsagSamling>
    </MFAktionStruktur></Kvittering>
  </KvitteringSamling>
</MFKvitteringHent_O>"""


def receipt(code: PsrmActionCode, status: PsrmStatus, *reasons: RejectionReason) -> PsrmAction:
    return PsrmAction(action_id="9001", code=code, creditor_id=CREDITOR_ID, status=status,
                      status_changed=datetime(2026, 3, 20, 6), claim_ref=CLAIM_ID,
                      efi_claim_id="77",
                      reasons=list(reasons))


def test_decode_receipts_reads_every_field() -> None:
    element = etree.fromstring(KVITTERING_XML.encode())
    assert validate_element(element) == []
    done, rejected = decode_receipts(element)
    assert (done.action_id, done.code, done.creditor_id, done.status, done.status_changed,
            done.claim_ref, done.efi_claim_id, done.efi_main_claim_id, done.received,
            done.reasons) == (
        "9001", PsrmActionCode.CREATE, CREDITOR_ID, PsrmStatus.DONE,
        datetime(2026, 3, 20, 6), CLAIM_ID, "77", "77", datetime(2026, 3, 19, 10, 15, 30, 250000),
        [])
    assert (rejected.code, rejected.status, rejected.efi_claim_id, rejected.received) == (
        PsrmActionCode.RESUBMIT, PsrmStatus.REJECTED, None, None)
    assert rejected.reasons == [RejectionReason("215", "Beløb under bundgrænse"),
                                RejectionReason("5", "Skyldner ukendt")]
    with pytest.raises(MappingError):
        decode_receipts(etree.fromstring(REQUEST_XML))


@pytest.mark.parametrize("name, count", [("MFFordringIndberet.response.xml", 5),
                                         ("MFKvitteringHent.response.xml", 5)])
def test_decode_receipts_of_the_shared_examples(name: str, count: int) -> None:
    path = EXAMPLES / name
    if not path.exists():
        pytest.skip(f"{name} not written yet")
    actions = decode_receipts(etree.parse(str(path)).getroot())  # a SOAP envelope
    assert len(actions) == count
    assert all(a.action_id and a.creditor_id for a in actions)


def test_receipt_hand_over_reported_once() -> None:
    claim = fixture_claim()
    [event] = events_from_receipt(claim, receipt(PsrmActionCode.CREATE, PsrmStatus.RECEIVED),
                                  on=date(2026, 3, 21))
    assert event == FagsystemEvent(
        event_id="PSRM-9001-MODTAGET", type=EventType.STATE, account_number="K-204711",
        claim_id=CLAIM_ID, fagsystem_claim_id="BIB-2026-000417", date=date(2026, 3, 21),
        amount=Decimal("1358.01"), status=ClaimState.HANDED_OVER, remaining=Decimal("1358.01"))
    claim.state = ClaimState.HANDED_OVER
    for status in (PsrmStatus.RECEIVED, PsrmStatus.IN_PROCESS, PsrmStatus.DONE):
        assert events_from_receipt(claim, receipt(PsrmActionCode.CREATE, status),
                                   on=TODAY) == []
    # a receipt seen first as UDFOERT still tells the fagsystem once
    missed = fixture_claim()
    missed.psrm = PsrmHandover(art=ClaimArt.RECOVERY, status=PsrmStatus.RECEIVED,
                               status_date=TODAY, amount=Decimal("1000.00"))
    [late] = events_from_receipt(missed, receipt(PsrmActionCode.RESUBMIT, PsrmStatus.DONE),
                                 on=TODAY)
    assert (late.event_id, late.status, late.amount) == (
        "PSRM-9001-UDFOERT", ClaimState.HANDED_OVER, Decimal("1000.00"))


def test_receipt_rejection_always_reported_with_reasons() -> None:
    reasons = (RejectionReason("215", "Beløb under bundgrænse"), RejectionReason("5", "ukendt"))
    claim = fixture_claim()
    for state in (ClaimState.OPEN, ClaimState.REJECTED):
        claim.state = state
        [e] = events_from_receipt(claim, receipt(PsrmActionCode.CREATE, PsrmStatus.REJECTED,
                                                 *reasons), on=TODAY)
        assert (e.type, e.status, e.rejection_reasons, e.reason_code) == (
            EventType.STATE, ClaimState.REJECTED, reasons, None)


def test_receipts_of_recall_and_write_down() -> None:
    claim = fixture_claim()
    claim.state = ClaimState.HANDED_OVER
    assert events_from_receipt(claim, receipt(PsrmActionCode.RECALL, PsrmStatus.RECEIVED),
                               on=TODAY) == []
    [recalled] = events_from_receipt(claim, receipt(PsrmActionCode.RECALL, PsrmStatus.DONE),
                                     on=TODAY)
    assert recalled.status is ClaimState.RECALLED
    assert events_from_receipt(claim, receipt(PsrmActionCode.WRITE_DOWN, PsrmStatus.DONE),
                               on=TODAY) == []
    [refused] = events_from_receipt(claim, receipt(PsrmActionCode.WRITE_DOWN, PsrmStatus.REJECTED,
                                                   RejectionReason("152", "DKK")), on=TODAY)
    assert (refused.status, refused.reason_code, refused.rejection_reasons) == (
        ClaimState.HANDED_OVER, "NEDSKRIV", (RejectionReason("152", "DKK"),))


# ---------------------------------------------------------------- notifications → events

UNDERRET_XML = """<MFUnderretSamlingHent_O xmlns="http://skat.dk/begrebsmodel/2009/01/15/"
    xmlns:k="http://skat.dk/begrebsmodel/xml/schemas/kontekst/2007/05/31/">
  <Kontekst><k:HovedOplysningerSvar><k:TransaktionsID>T-10</k:TransaktionsID>
    <k:ServiceID>MFUnderretSamlingHent</k:ServiceID><k:TransaktionsTid>2026-04-02T05:00:00</k:TransaktionsTid>
    <k:SvarReaktion/></k:HovedOplysningerSvar></Kontekst>
  <MFUnderretSamling>
    <MFUnderretStruktur>
      <MFUnderretningNummer>7</MFUnderretningNummer><MFUnderretTypeKode>DAEKNING</MFUnderretTypeKode>
      <DMIFordringEFIFordringID>77</DMIFordringEFIFordringID>
      <DMIFordringFordringHaverRef>2026000417</DMIFordringFordringHaverRef>
      <DMIFordringHaverID>4711</DMIFordringHaverID><MFUnderretningDatoTid>2026-04-01T06:00:00.000</MFUnderretningDatoTid>
      <MFDækningStruktur><FordringBeløbStruktur><ValutaKode>DKK</ValutaKode>
        <DMIFordringBeløb>500.00</DMIFordringBeløb></FordringBeløbStruktur>
        <DækningKildeKode>INDB</DækningKildeKode><DækningDato>2026-03-30</DækningDato></MFDækningStruktur>
    </MFUnderretStruktur>
    <MFUnderretStruktur>
      <MFUnderretningNummer>8</MFUnderretningNummer><MFUnderretTypeKode>DAEKNING</MFUnderretTypeKode>
      <DMIFordringEFIFordringID>778</DMIFordringEFIFordringID>
      <DMIFordringFordringHaverRef>2026000417-2</DMIFordringFordringHaverRef>
      <MFUnderretningDatoTid>2026-04-01T06:00:00.000</MFUnderretningDatoTid>
      <MFDækningStruktur><FordringBeløbStruktur><ValutaKode>DKK</ValutaKode>
        <DMIFordringBeløb>858.01</DMIFordringBeløb></FordringBeløbStruktur>
        <DækningKildeKode>MODR</DækningKildeKode><DækningDato>2026-03-31</DækningDato></MFDækningStruktur>
    </MFUnderretStruktur>
    <MFUnderretStruktur>
      <MFUnderretningNummer>9</MFUnderretningNummer><MFUnderretTypeKode>AFSKRIVNING</MFUnderretTypeKode>
      <DMIFordringEFIFordringID>77</DMIFordringEFIFordringID>
      <MFUnderretningDatoTid>2026-04-01T06:00:00.000</MFUnderretningDatoTid>
      <MFAfskrivningStruktur><FordringBeløbStruktur><ValutaKode>DKK</ValutaKode>
        <DMIFordringBeløb>58.01</DMIFordringBeløb></FordringBeløbStruktur>
        <AfskrivningÅrsagKode>FORAELDELSE</AfskrivningÅrsagKode></MFAfskrivningStruktur>
    </MFUnderretStruktur>
    <MFUnderretStruktur>
      <MFUnderretningNummer>10</MFUnderretningNummer><MFUnderretTypeKode>RETUR</MFUnderretTypeKode>
      <DMIFordringEFIFordringID>77</DMIFordringEFIFordringID>
      <MFUnderretningDatoTid>2026-04-01T06:00:00.000</MFUnderretningDatoTid>
      <MFReturStruktur><HovedFordringReturAarsagKode>HENS</HovedFordringReturAarsagKode>
        <ReturTekst>Henstand</ReturTekst></MFReturStruktur>
    </MFUnderretStruktur>
  </MFUnderretSamling>
  <MFFlereUnderretninger>false</MFFlereUnderretninger>
  <MFSidsteUnderretningNummer>10</MFSidsteUnderretningNummer>
</MFUnderretSamlingHent_O>"""


def notifications() -> list[PsrmNotification]:
    element = etree.fromstring(UNDERRET_XML.encode())
    assert validate_element(element) == []
    return decode_notifications(element)


def test_decode_notifications_reads_every_kind() -> None:
    paid, offset, written_off, returned = notifications()
    assert paid == PsrmNotification(
        seq_no=7, type=NotificationType.COVERAGE, efi_claim_id="77",
        notified=date(2026, 4, 1), date=date(2026, 3, 30), claim_ref=CLAIM_ID,
        creditor_id=CREDITOR_ID, amount=Decimal("500.00"), currency="DKK", source="INDB")
    assert (offset.source, offset.claim_ref, offset.creditor_id) == ("MODR", f"{CLAIM_ID}-2", None)
    assert (written_off.type, written_off.amount, written_off.reason_code, written_off.date) == (
        NotificationType.WRITE_OFF, Decimal("58.01"), "FORAELDELSE", date(2026, 4, 1))
    assert (returned.type, returned.reason_code, returned.text, returned.amount) == (
        NotificationType.RETURN, "HENS", "Henstand", None)


def test_shared_notification_example_decodes() -> None:
    path = EXAMPLES / "MFUnderretSamlingHent.response.xml"
    if not path.exists():
        pytest.skip("shared example not written yet")
    found = decode_notifications(etree.parse(str(path)).getroot())
    assert [n.type for n in found] == [NotificationType.COVERAGE, NotificationType.COVERAGE,
                                       NotificationType.WRITE_OFF, NotificationType.RETURN]


def test_coverage_by_psrm_partial_then_full() -> None:
    paid, offset, _, _ = notifications()
    claim = fixture_claim()
    claim.state = ClaimState.HANDED_OVER
    [e] = events_from_notification(claim, paid)
    assert e == FagsystemEvent(
        event_id="PSRM-U7", type=EventType.COVERAGE, account_number="K-204711", claim_id=CLAIM_ID,
        fagsystem_claim_id="BIB-2026-000417", date=date(2026, 3, 30), amount=Decimal("500.00"),
        source=CoverageSource.PSRM, source_id="PSRM-U7", reason_code="INDB",
        remaining=Decimal("858.01"))
    claim.remaining_principal = Decimal("734.56")  # the debtor system booked the 500.00
    assert claim.outstanding == Decimal("858.01")
    covered, state = events_from_notification(claim, offset)
    assert (covered.type, covered.reason_code, covered.amount, covered.remaining) == (
        EventType.COVERAGE, "MODR", Decimal("858.01"), Decimal("0.00"))
    assert (state.event_id, state.type, state.status, state.remaining) == (
        "PSRM-U8-T", EventType.STATE, ClaimState.COVERED_BY_PSRM, Decimal("0.00"))


def test_coverage_above_the_outstanding_leaves_zero_not_a_negative() -> None:
    paid = notifications()[0]
    claim = simple_claim(1, principal=Decimal("300.00"), id=CLAIM_ID)
    events = events_from_notification(claim, paid)
    assert [e.remaining for e in events] == [Decimal("0.00"), Decimal("0.00")]
    assert events[1].status is ClaimState.COVERED_BY_PSRM


def test_write_off_and_return() -> None:
    _, _, written_off, returned = notifications()
    claim = fixture_claim()
    [partial] = events_from_notification(claim, written_off)
    assert (partial.type, partial.amount, partial.reason_code, partial.remaining) == (
        EventType.WRITE_OFF, Decimal("58.01"), "FORAELDELSE", Decimal("1300.00"))
    small = simple_claim(1, principal=Decimal("58.01"), id=CLAIM_ID)
    off, state = events_from_notification(small, written_off)
    assert (off.remaining, state.status) == (Decimal("0.00"), ClaimState.WRITTEN_OFF)
    [back] = events_from_notification(claim, returned)
    assert (back.type, back.status, back.reason_code, back.remaining, back.date) == (
        EventType.STATE, ClaimState.RECALLED, "HENS", Decimal("1358.01"), date(2026, 4, 1))


def test_notification_for_another_claim_is_refused() -> None:
    paid = notifications()[0]
    with pytest.raises(MappingError, match="not claim"):
        events_from_notification(simple_claim(5), paid)


def test_callback_request_validates_and_decodes_back() -> None:
    claim = fixture_claim()
    events = events_from_receipt(claim, receipt(PsrmActionCode.CREATE, PsrmStatus.REJECTED,
                                                RejectionReason("215", "Beløb for lavt")),
                                 on=TODAY)
    events += events_from_receipt(claim, receipt(PsrmActionCode.CREATE, PsrmStatus.RECEIVED),
                                  on=TODAY)
    for n in notifications():
        events += events_from_notification(claim, n)
    request = callback_request(events, transaction_id="2b6f0c1a-7d4e-4e55-8f1a-3c2d1e0f9a8b",
                               transaction_time=WHEN, authority_cvr=CREDITOR,
                               fagsystem_id="BIBLIOTEK-ERSTAT")
    assert validate_element(request) == []
    assert etree.QName(request).localname == "RegistrerDaekningAfskrivningRequest"
    assert decode_callback_request(request) == events
    assert request.findtext("o:FagsystemID", namespaces=NS) == "BIBLIOTEK-ERSTAT"
    with pytest.raises(MappingError):
        callback_request([], transaction_id="2b6f0c1a-7d4e-4e55-8f1a-3c2d1e0f9a8b",
                         transaction_time=WHEN, authority_cvr=CREDITOR, fagsystem_id="X")


# ---------------------------------------------------------------- oir map

def invoke(*args: str) -> tuple[int, bytes, str]:
    """``oir map`` with the fordringshaver id the tests use, unless they give their own."""
    if not any(a.startswith("--creditor-id") for a in args):
        args = (*args, "--creditor-id", CREDITOR_ID)
    result = CliRunner().invoke(main, ["map", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout_bytes, result.stderr


def test_oir_map_needs_a_fordringshaver_id(tmp_path: Path) -> None:
    source = str(write_request(tmp_path / "r.xml"))
    code, out, err = invoke(source, "--today", "2026-03-20", "--creditor-ids", "")
    assert code == 1 and out == b""
    assert "no fordringshaver id (DMIFordringHaverID)" in err and CREDITOR in err
    code, out, err = invoke(source, "--today", "2026-03-20",
                            "--creditor-ids", f"{CREDITOR}=4712")
    assert code == 0, err
    assert xp(etree.fromstring(out), "//p:DMIFordringHaverID/text()")[0] == "4712"
    code, out, err = invoke(source, "--creditor-ids", "4712")
    assert code == 2 and "CVR=ID" in err


def write_request(path: Path, fagsystem_id: str = "BIB-2026-000417") -> Path:
    path.write_bytes(REQUEST_XML.replace(b"BIB-2026-000417", fagsystem_id.encode()))
    return path


def test_oir_map_one_file_to_stdout(tmp_path: Path) -> None:
    code, out, err = invoke(str(write_request(tmp_path / "r.xml")), "--today", "2026-03-20",
                            "--se-number", SE)
    assert code == 0, err
    d = etree.fromstring(out)
    assert validate_element(d) == []
    [action] = decode_delivery(d, received=TODAY).actions
    assert action.claim is not None and action.claim.id == "BIB-2026-000417"
    assert action.creditor_id == CREDITOR_ID  # the fordringshaver id given, not the CVR
    assert d.findtext("p:FordringhaverSystemIDStruktur/p:VirksomhedSENummer",
                      namespaces=NS) == SE
    assert str(d.findtext("p:Kontekst/k:HovedOplysninger/k:TransaktionsTid",
                          namespaces=NS)).startswith("2026-03-20T")
    assert "mapped 1 claim(s) into 1 delivery" in err


def test_oir_map_shared_soap_example_to_a_file(tmp_path: Path) -> None:
    example = EXAMPLES / "OpretFordring.request.xml"
    if not example.exists():
        pytest.skip("shared example not written yet")
    out = tmp_path / "delivery.xml"
    code, _, err = invoke(str(example), "--out", str(out), "--today", "2025-11-24")
    assert code == 0, err
    d = etree.parse(str(out)).getroot()
    assert validate_element(d) == []
    [action] = decode_delivery(d, received=TODAY).actions
    assert action.claim is not None and action.claim.co_liable  # the Haefter is the debtor


def test_oir_map_folder_into_deliveries(tmp_path: Path) -> None:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    write_request(src / "a.xml", "FS-A")
    write_request(src / "b.xml", "FS-B")
    write_request(src / "sub" / "c.xml", "FS-C")
    out = tmp_path / "out"
    code, stdout, err = invoke(str(src), "--out", str(out), "--max-actions", "2",
                               "--today", "2026-03-20")
    assert code == 0, err
    assert stdout == b""
    files = sorted(p.name for p in out.iterdir())
    assert files == ["delivery-0001.xml", "delivery-0002.xml"]
    refs = []
    for name in files:
        d = etree.parse(str(out / name)).getroot()
        assert validate_element(d) == []
        refs += [a.claim.id for a in decode_delivery(d, received=TODAY).actions if a.claim]
    assert refs == ["FS-A", "FS-B", "FS-C"]
    assert "3 claim(s) into 2 deliveries" in err


def json_line(n: int, **extra: object) -> str:
    obj: dict[str, object] = {
        "MyndighedCVR": CREDITOR, "FagsystemID": "P-BOEDE", "DebitorkontoNummer": f"K-{n}",
        "Debitor": {"CPRNummer": "1203852815", "Navn": "Jonas"}, "FordringID": f"D-{n}",
        "FagsystemFordringID": f"PK-{n}", "FordringTypeKode": "KTCIVIL", "Hovedstol": "750.00",
        "Restbeloeb": "600.00", "PeriodeFra": "2026-01-10", "PeriodeTil": "2026-01-10",
        "StiftelsesDato": "2026-01-10", "ForfaldsDato": "2026-01-24",
        "SidsteRettidigeBetalingsDato": "2026-02-07", "ModregningTilladt": True,
        "HaefterSamling": [{"CVRNummer": "13585628"}],
        "DelfordringSamling": [{"DelfordringTypeKode": "GEBYR", "Beloeb": "100.00",
                                "Restbeloeb": "40.00"}]}
    obj.update(extra)
    return json.dumps(obj, ensure_ascii=False)


def test_oir_map_json_lines(tmp_path: Path) -> None:
    src = tmp_path / "claims.jsonl"
    src.write_text("\n".join(json_line(n) for n in range(1, 6)) + "\n\n", encoding="utf-8")
    out = tmp_path / "one.xml"
    code, _, err = invoke(str(src), "--out", str(out), "--today", "2026-03-20")
    assert code == 0, err
    d = etree.parse(str(out)).getroot()
    assert validate_element(d) == []
    actions = decode_delivery(d, received=TODAY).actions
    assert [a.claim.id for a in actions if a.claim] == [f"D-{n}" for n in range(1, 6)]
    first = actions[0].claim
    assert first is not None
    assert [c.party for c in first.co_liable] == [Party.cpr("1203852815"), Party.cvr("13585628")]
    assert first.principal == Decimal("600.00")
    assert [(s.id, s.amount) for s in first.sub_claims] == [("D-1-1", Decimal("40.00"))]
    notes = xp(d, "//p:FordringAktion[1]//p:MFNoteTekst/text()")
    assert parse_trace_notes(notes)["FagsystemID"] == "P-BOEDE"


def test_the_json_example_in_the_doc_maps(tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "mapping.md").read_text(encoding="utf-8")
    [line] = re.findall(r"```json\n(.*?)\n```", doc, re.S)
    src = tmp_path / "doc.jsonl"
    src.write_text(line + "\n", encoding="utf-8")
    code, out, err = invoke(str(src), "--today", "2025-11-24")
    assert code == 0, err
    [action] = decode_delivery(etree.fromstring(out), received=TODAY).actions
    assert action.claim is not None and action.claim.principal == Decimal("1500.00")


def test_request_from_json_builds_a_valid_oir_request() -> None:
    element = request_from_json(json.loads(json_line(1)), where="x")
    assert validate_element(element) == []
    assert element.findtext("o:Fordring/o:ModregningTilladt", namespaces=NS) == "true"


@pytest.mark.parametrize("content, message", [
    (b"<OpretFordringRequest", "not well-formed XML"),
    (REQUEST_XML.replace(b"<Hovedstol>1234.56</Hovedstol>", b""), "Hovedstol"),
    (REQUEST_XML.replace(b"2026-02-15", b"2026-02-31"), "r.xml"),
    (b"<Other xmlns='urn:x'/>", "expected an ØIR OpretFordringRequest"),
    (json_line(1, Hovedstol=750.5).encode(), "float"),
    (json_line(1, Hovedstoll="1.00").encode(), "unknown field(s) Hovedstoll"),
    (json_line(1, Restbeloeb="800.00").encode(), "not between"),
    (b"{not json", "invalid JSON"),
    (json_line(1, Debitor={"Navn": "x"}).encode(), "needs CPRNummer or CVRNummer"),
])
def test_oir_map_invalid_input_is_one_clear_line(tmp_path: Path, content: bytes,
                                                 message: str) -> None:
    src = tmp_path / "r.xml"
    src.write_bytes(content)
    code, out, err = invoke(str(src), "--today", "2026-03-20")
    assert code == 1
    assert out == b""
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in err


def test_oir_map_leaves_nothing_behind_on_error(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    write_request(src / "a.xml", "FS-A")
    write_request(src / "b.xml", "FS-B")
    (src / "c.xml").write_bytes(b"<broken")
    out = tmp_path / "out"
    code, _, err = invoke(str(src), "--out", str(out), "--max-actions", "1")
    assert code == 1 and "c.xml" in err
    assert list(out.glob("*.xml")) == []


def test_oir_map_refuses_several_deliveries_on_stdout_and_bad_options(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    write_request(src / "a.xml", "FS-A")
    write_request(src / "b.xml", "FS-B")
    code, out, err = invoke(str(src), "--max-actions", "1")
    assert (code, out) == (1, b"") and "--out FOLDER" in err
    code, _, err = invoke(str(src), "--se-number", "1234")
    assert code == 1 and "8 digits" in err
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "delivery-0001.xml").write_text("old")
    code, _, err = invoke(str(src), "--out", str(tmp_path / "out"))
    assert code == 1 and "already holds" in err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("{}\n")
    code, _, err = invoke(str(empty))
    assert code == 1


def test_benchmark_baseline_builds_the_same_bytes() -> None:
    """The benchmark compares like with like: bare lxml and the adapter agree byte for byte."""
    bench = pytest.importorskip("benchmarks.mapping")
    claims = bench._claims(60)
    produced = bench.adapter(claims)
    assert produced == bench.bare(bench.precompute(claims))
    assert all(validate_element(etree.fromstring(b)) == [] for b in produced)
