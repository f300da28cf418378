"""The contracts and their examples agree: every example validates (or, when meant to be
broken, is rejected) with both validators, every operation has examples, the WSDLs load
with zeep and are what ``scripts/generate_wsdl.py`` renders today.

The operation list comes from ``SERVICES``, so adding an operation without examples, or a
WSDL the table does not know, fails here.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import re
import socket
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import zeep
from lxml import etree
from stdnum import luhn
from stdnum.dk import cpr, cvr

from oir_adapter.codecs import decode_delivery, decode_opret_fordring
from oir_adapter.contracts import (
    OIR_NS,
    PSRM_NS,
    SERVICES,
    SOAP11_ENV_NS,
    Operation,
    Service,
    contracts_root,
    explaining_schema,
    lxml_schema,
    operation_for_element,
    operations,
    safe_parser,
    transliterate,
    validate_element,
    wsdl_path,
)
from oir_adapter.domain.model import ClaimKind, PsrmActionCode
from oir_adapter.domain.tables import BenefitTable, ClaimTypeTable

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"
ALL_EXAMPLES = sorted(EXAMPLES.glob("*.xml"))
INVALID = [p for p in ALL_EXAMPLES if p.name.endswith(".invalid.xml")]
VALID = [p for p in ALL_EXAMPLES if p not in INVALID]
OPERATIONS = {op.name: op for op in operations()}

#: For each broken example, a name that must appear in the path or message of a violation,
#: so a file that is broken for some other reason than the one it documents fails.
CULPRITS = {
    "OpretDebitorkonto.request.invalid.xml": "Kontotype",
    "OpretFordring.request.invalid.xml": "Hovedstol",
    "OpretFordring.request.order.invalid.xml": "StiftelsesDato",
    "OpretFordring.request.cpr.invalid.xml": "CPRNummer",
    "OpretFordring.response.invalid.xml": "BetalingsID",
    "RetFordringTilstand.request.invalid.xml": "AarsagKode",
    "RetFordringTilstand.request.twochanges.invalid.xml": "Overdrag",
    "SoegDebitorkonto.request.invalid.xml": "MaksAntal",
    "HentDebitorkonto.request.invalid.xml": "TransaktionsID",
    "HentDebitorkonto.response.invalid.xml": "Saldo",
    "ForetagIndbetaling.request.invalid.xml": "BetalingsDato",
    "ForetagIndbetaling.request.betalingsid.invalid.xml": "BetalingsID",
    "SoegDelfordringTilIndbetaling.request.invalid.xml": "CVRNummer",
    "ForetagModregning.request.invalid.xml": "Simulering",
    "ForetagModregning.request.modtager.invalid.xml": "Modtager",
    "ForetagModregning.response.invalid.xml": "Status",
    "RegistrerDaekningAfskrivning.request.invalid.xml": "HaendelseTypeKode",
    "AfslutGaeldendeAdresseAdministrator.request.invalid.xml": "SlutDato",
    "AfslutGaeldendeAdresseJuridiskAnsvarlig.request.invalid.xml": "SlutDato",
    "AfslutGaeldendeAdresseJuridiskMedhaefter.request.invalid.xml": "SlutDato",
    "AfslutHaeftelse.request.invalid.xml": "SlutDato",
    "AfslutLigestillingspartner.request.invalid.xml": "SlutDato",
    "AfslutAdministrator.request.invalid.xml": "SlutDato",
    "AfslutMaterialeabonnementAdministrator.request.invalid.xml": "SlutDato",
    "AfslutMaterialeabonnementJuridiskAnsvarlig.request.invalid.xml": "SlutDato",
    "AfslutMaterialeabonnementJuridiskMedhaefter.request.invalid.xml": "SlutDato",
    "OpretDebitorkontoAnmodning.request.invalid.xml": "TilDebitorkontoNummer",
    "RegistrerDebitorkontoStatus.request.invalid.xml": "AdviseringTypeKode",
    "FordringTilIndbetaling.request.invalid.xml": "Restbeloeb",
    "MFFordringIndberet.request.invalid.xml": "DMIFordringForfaldDato",
    "MFFordringIndberet.request.amount.invalid.xml": "DMIFordringBeløb",
    "MFFordringIndberet.request.aktionkode.invalid.xml": "MFAktionKode",
    "MFFordringIndberet.request.haeftelse.invalid.xml": "FordringHæftelseSamling",
    "MFFordringIndberet.response.invalid.xml": "MFAktionStatusÆndretDato",
    "MFKvitteringHent.request.invalid.xml": "FordringhaverSystemIDStruktur",
    "MFKvitteringHent.response.invalid.xml": "MFAktionStatusKode",
    "MFUnderretSamlingHent.request.invalid.xml": "MFUnderretningNummer",
    "MFUnderretSamlingHent.response.invalid.xml": "DMIFordringEFIFordringID",
}


# ---------------------------------------------------------------- helpers

def load(path: Path) -> etree._ElementTree:
    """An example file, with its comments (an invalid one says in one what is wrong)."""
    return etree.parse(str(path), safe_parser(keep_comments=True))


def body_element(tree: etree._ElementTree) -> etree._Element:
    """The message: first element child of a SOAP 1.1 ``Body``."""
    envelope = tree.getroot()
    assert envelope.tag == f"{{{SOAP11_ENV_NS}}}Envelope", "not a SOAP 1.1 envelope"
    body = envelope.find(f"{{{SOAP11_ENV_NS}}}Body")
    assert body is not None, "no soap:Body"
    children = [c for c in body if isinstance(c.tag, str)]
    assert len(children) == 1, "soap:Body must hold exactly one message element"
    return children[0]


def role_of(path: Path) -> tuple[str, str]:
    """``OpretFordring.request.minimal.xml`` → (``OpretFordring``, ``request``)."""
    name, role, *_ = path.name.split(".")
    return name, role


def schema_namespace(element: etree._Element) -> str:
    ns = etree.QName(element).namespace
    assert ns in (OIR_NS, PSRM_NS)
    return ns


def local(element: etree._Element) -> str:
    return etree.QName(element).localname


def child_names(element: etree._Element) -> list[str]:
    return [local(c) for c in element if isinstance(c.tag, str)]


def texts(element: etree._Element, name: str) -> list[str]:
    return [e.text or "" for e in element.iter(f"{{{etree.QName(element).namespace}}}{name}")]


def amounts(element: etree._Element, path: str) -> Decimal:
    ns = etree.QName(element).namespace
    q = "/".join(f"{{{ns}}}{p}" for p in path.split("/"))
    return sum((Decimal(e.text or "") for e in element.iterfind(q)), Decimal("0.00"))


def example(name: str) -> etree._Element:
    return body_element(load(EXAMPLES / name))


def ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


# ---------------------------------------------------------------- examples: coverage

def test_there_are_examples_of_both_kinds() -> None:
    assert len(VALID) >= 2 * len(OPERATIONS)
    assert INVALID


@pytest.mark.parametrize("op", list(OPERATIONS.values()), ids=list(OPERATIONS))
def test_every_operation_has_a_request_a_response_and_a_broken_request(op: Operation) -> None:
    for suffix in ("request.xml", "response.xml", "request.invalid.xml"):
        assert (EXAMPLES / f"{op.name}.{suffix}").is_file(), f"missing {op.name}.{suffix}"


@pytest.mark.parametrize("path", ALL_EXAMPLES, ids=ids(ALL_EXAMPLES))
def test_example_file_names_an_operation_and_a_role(path: Path) -> None:
    name, role = role_of(path)
    assert name in OPERATIONS, f"{path.name}: no operation {name} in SERVICES"
    assert role in ("request", "response")


@pytest.mark.parametrize("path", ALL_EXAMPLES, ids=ids(ALL_EXAMPLES))
def test_example_is_utf8(path: Path) -> None:
    raw = path.read_bytes()
    raw.decode("utf-8")
    assert raw.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')


def test_every_invalid_example_documents_its_culprit() -> None:
    assert set(CULPRITS) == {p.name for p in INVALID}


# ---------------------------------------------------------------- examples: validity

@pytest.mark.parametrize("path", VALID, ids=ids(VALID))
def test_valid_example_matches_its_operation(path: Path) -> None:
    name, role = role_of(path)
    element = body_element(load(path))
    found = operation_for_element(element.tag)
    assert found is not None, f"{element.tag} is no operation's message"
    op, is_request = found
    assert op.name == name
    assert is_request == (role == "request")
    assert local(element) == (op.request if is_request else op.response)


@pytest.mark.parametrize("path", VALID, ids=ids(VALID))
def test_valid_example_validates_with_lxml_and_xmlschema(path: Path) -> None:
    element = body_element(load(path))
    ns = schema_namespace(element)
    schema = lxml_schema(ns)
    assert schema.validate(element), str(schema.error_log)
    errors = [str(e) for e in explaining_schema(ns).iter_errors(element)]
    assert errors == []
    assert validate_element(element) == []


@pytest.mark.parametrize("path", INVALID, ids=ids(INVALID))
def test_invalid_example_is_rejected_by_both_validators(path: Path) -> None:
    element = body_element(load(path))
    ns = schema_namespace(element)
    assert not lxml_schema(ns).validate(element)
    assert not explaining_schema(ns).is_valid(element)
    violations = validate_element(element)
    assert violations
    culprit = CULPRITS[path.name]
    assert any(culprit in f"{v.path} {v.message}" for v in violations), \
        f"{path.name} is broken, but not at {culprit}: {[str(v) for v in violations]}"


@pytest.mark.parametrize("path", INVALID, ids=ids(INVALID))
def test_invalid_example_says_what_is_wrong_and_still_names_its_operation(path: Path) -> None:
    tree = load(path)
    first = tree.getroot().getprevious()
    while first is not None and first.getprevious() is not None:
        first = first.getprevious()
    assert first is not None and first.tag is etree.Comment
    assert first.text is not None and first.text.strip().startswith("INVALID: ")
    assert "\n" not in first.text.strip()
    name, role = role_of(path)
    found = operation_for_element(body_element(tree).tag)
    assert found is not None and found[0].name == name and found[1] == (role == "request")


# ---------------------------------------------------------------- examples: realistic content

@pytest.mark.parametrize("path", VALID, ids=ids(VALID))
def test_example_identifiers_are_valid(path: Path) -> None:
    """CPR and CVR numbers pass python-stdnum; FIK payment ids carry their mod-10 check digit."""
    element = body_element(load(path))
    seen = 0
    for e in element.iter():
        if not isinstance(e.tag, str):
            continue
        name = local(e)
        if name.endswith("CPRNummer"):
            assert cpr.is_valid(e.text or ""), f"{name} {e.text}"
            seen += 1
        elif name.endswith("CVRNummer") or name.endswith("CVR") or name == "VirksomhedSENummer":
            assert cvr.is_valid(e.text or ""), f"{name} {e.text}"
            seen += 1
        elif name == "BetalingsID":
            assert luhn.is_valid(e.text or ""), f"{name} {e.text}"
    if role_of(path)[1] == "request":
        assert seen, "every request names its caller or a party"


TYPES = ClaimTypeTable.default()
SUB_CLAIM_KINDS = {ClaimKind.INTEREST, ClaimKind.FEE}
# The business-valid examples must stay valid whatever "today" is from 2026 to 2029.
FIRST_DAY, LAST_DAY = date(2026, 1, 1), date(2029, 12, 31)


def assert_business_valid(claim: Any, *, handed_over: bool) -> None:
    """The front-door rules a hand-over or registration of these examples must pass."""
    known = TYPES.get(claim.type_code)
    assert known is not None and known.active and known.kind is ClaimKind.PRINCIPAL
    assert claim.principal >= Decimal("100.00")
    assert claim.currency == "DKK"
    assert claim.founded <= claim.due_date <= claim.srb
    assert claim.period_from <= claim.period_to
    if handed_over:
        assert claim.srb < FIRST_DAY
    assert claim.founded < FIRST_DAY
    if claim.limitation_date is not None:
        assert claim.limitation_date > date(2030, 12, 31) > LAST_DAY
    for d in (claim.judgment_date, claim.settlement_date):
        assert d is None or d < FIRST_DAY
    for sub in claim.sub_claims:
        sub_type = TYPES.get(sub.type_code)
        assert sub_type is not None and sub_type.kind in SUB_CLAIM_KINDS, sub.type_code
        assert sub.amount > 0
    for party in claim.co_liable:
        check = cpr if party.party.kind.value == "CPR" else cvr
        assert check.is_valid(party.party.number)


def test_oir_opret_fordring_example_is_business_valid() -> None:
    request = decode_opret_fordring(example("OpretFordring.request.xml"), received=FIRST_DAY)
    claim = request.claim
    assert_business_valid(claim, handed_over=False)
    assert claim.sub_claims and claim.co_liable
    assert cvr.is_valid(request.header.authority_cvr)


@pytest.mark.parametrize("name", ["MFFordringIndberet.request.xml",
                                  "MFFordringIndberet.request.minimal.xml"])
def test_psrm_delivery_examples_are_business_valid(name: str) -> None:
    delivery = decode_delivery(example(name), received=FIRST_DAY)
    creates = [a for a in delivery.actions if a.claim is not None]
    assert creates
    for action in delivery.actions:
        assert action.problems == []
        assert action.effective_date is None or action.effective_date < FIRST_DAY
        if action.amount is not None:
            assert action.amount > 0 and action.currency == "DKK"
    for action in creates:
        assert action.claim is not None
        assert_business_valid(action.claim, handed_over=True)


# docs/design.md#the-psrm-services, in order: the shape real fordringshaver systems send.
DELIVERY_ORDER = ["Kontekst", "FordringhaverSystemIDStruktur", "MFLeveranceID",
                  "FordringAktionSamling"]
ACTION_ORDER = ["MFAktionKode", "DMIFordringHaverID", "AktionValg"]
OPRET_ORDER = [
    "DMIFordringFordringArtKode", "DMIFordringTypeKode", "DMIFordringFordringHaverRef",
    "DMIFordringStiftelseTidspunkt", "DMIFordringForfaldDato", "DMIFordringSRBDato",
    "FordringBeløbStruktur", "FordringPeriodeStruktur", "FordringOprindeligBeløbStruktur",
    "SagsbemærkningSamling", "DokumentSamling", "DMIFordringHaverID", "FordringHæftelseSamling",
]
OPRET_REQUIRED = [
    "DMIFordringFordringArtKode", "DMIFordringTypeKode", "DMIFordringFordringHaverRef",
    "DMIFordringStiftelseTidspunkt", "DMIFordringForfaldDato", "DMIFordringSRBDato",
    "FordringBeløbStruktur", "FordringHæftelseSamling",
]


def actions_of(delivery: etree._Element) -> list[etree._Element]:
    return delivery.findall(f"{{{PSRM_NS}}}FordringAktionSamling/{{{PSRM_NS}}}FordringAktion")


def find(element: etree._Element, path: str) -> etree._Element:
    found = element.find("/".join(f"{{{PSRM_NS}}}{p}" for p in path.split("/")))
    assert found is not None, path
    return found


def test_psrm_delivery_example_is_shaped_like_real_deliveries() -> None:
    delivery = example("MFFordringIndberet.request.xml")
    assert child_names(delivery) == DELIVERY_ORDER
    actions = actions_of(delivery)
    codes = [find(a, "MFAktionKode").text for a in actions]
    assert {"OPRETFORDRING", "NEDSKRIV", "TILBAGEKALD"} <= set(codes)
    full = 0
    for action, code in zip(actions, codes, strict=True):
        assert child_names(action) == ACTION_ORDER
        if code != "OPRETFORDRING":
            continue
        opret = find(action, "AktionValg/OpretFordringAktion")
        structure = find(opret, "MFOpretFordringStruktur")
        assert child_names(structure) == OPRET_ORDER
        assert child_names(opret) == ["MFOpretFordringStruktur", "OpretUnderfordringSamling"]
        # the creditor id is repeated inside the claim, as real senders do
        assert find(structure, "DMIFordringHaverID").text == find(action, "DMIFordringHaverID").text
        subs = child_names(find(opret, "OpretUnderfordringSamling"))
        hæftere = child_names(find(structure, "FordringHæftelseSamling"))
        empty = all(child_names(find(structure, n)) == []
                    for n in ("SagsbemærkningSamling", "DokumentSamling"))
        if subs and len(hæftere) >= 2 and empty:
            full += 1
    assert full >= 1, "one OPRETFORDRING needs sub-claims, two hæftere and empty collections"


def test_minimal_psrm_delivery_carries_only_required_elements() -> None:
    delivery = example("MFFordringIndberet.request.minimal.xml")
    assert child_names(delivery) == DELIVERY_ORDER
    (action,) = actions_of(delivery)
    assert find(action, "MFAktionKode").text == "OPRETFORDRING"
    opret = find(action, "AktionValg/OpretFordringAktion")
    assert child_names(opret) == ["MFOpretFordringStruktur"]
    structure = find(opret, "MFOpretFordringStruktur")
    assert child_names(structure) == OPRET_REQUIRED
    (hæftelse,) = find(structure, "FordringHæftelseSamling")
    assert child_names(hæftelse) == ["MFKundeStruktur"]


def test_psrm_delivery_answer_covers_every_action_of_the_delivery() -> None:
    request = example("MFFordringIndberet.request.xml")
    answer = example("MFFordringIndberet.response.xml")
    statuses = answer.findall(f".//{{{PSRM_NS}}}MFAktionStruktur")
    assert [find(s, "MFAktionKode").text for s in statuses] == \
        [find(a, "MFAktionKode").text for a in actions_of(request)]
    assert texts(answer, "MFLeveranceID") == texts(request, "MFLeveranceID")


# ---------------------------------------------------------------- examples: exact sums

def test_account_example_reconciles_to_the_øre() -> None:
    account = example("HentDebitorkonto.response.xml").find(f"{{{OIR_NS}}}Debitorkonto")
    assert account is not None
    ns = OIR_NS

    def lines(collection: str, item: str) -> Iterator[etree._Element]:
        yield from account.iterfind(f"{{{ns}}}{collection}/{{{ns}}}{item}")

    def txt(e: etree._Element, name: str) -> str:
        return e.findtext(f"{{{ns}}}{name}") or ""

    covered: dict[str, Decimal] = {}
    for d in lines("DaekningSamling", "Daekning"):
        covered[txt(d, "FordringID")] = covered.get(txt(d, "FordringID"), Decimal(0)) + \
            Decimal(txt(d, "Beloeb"))
    written_off: dict[str, Decimal] = {}
    for w in lines("AfskrivningSamling", "Afskrivning"):
        written_off[txt(w, "FordringID")] = written_off.get(txt(w, "FordringID"), Decimal(0)) + \
            Decimal(txt(w, "Beloeb"))
    total_rest = Decimal("0.00")
    for claim in lines("FordringSamling", "Fordring"):
        cid = txt(claim, "FordringID")
        original = Decimal(txt(claim, "Hovedstol")) + amounts(claim, "DelfordringSamling/Delfordring/Beloeb")
        rest = Decimal(txt(claim, "Restbeloeb"))
        assert original - covered.get(cid, Decimal(0)) - written_off.get(cid, Decimal(0)) == rest, cid
        total_rest += rest
    assert Decimal(txt(account, "Saldo")) == total_rest == Decimal("345.00")
    by_payment: dict[str, Decimal] = {}
    for d in lines("DaekningSamling", "Daekning"):
        if txt(d, "Kilde") == "INDBETALING":
            by_payment[txt(d, "KildeID")] = by_payment.get(txt(d, "KildeID"), Decimal(0)) + \
                Decimal(txt(d, "Beloeb"))
    for p in lines("IndbetalingSamling", "Indbetaling"):
        assert by_payment[txt(p, "IndbetalingID")] + Decimal(txt(p, "Overskud")) == \
            Decimal(txt(p, "Beloeb"))


@pytest.mark.parametrize("name", ["ForetagIndbetaling.response.xml",
                                  "SoegDelfordringTilIndbetaling.response.xml"])
def test_payment_examples_cover_exactly_the_amount_paid(name: str) -> None:
    payment = example(name).find(f"{{{OIR_NS}}}Indbetaling")
    assert payment is not None
    covered = amounts(payment, "DaekningSamling/Daekning/Beloeb")
    surplus = Decimal(payment.findtext(f"{{{OIR_NS}}}Overskud") or "")
    assert covered + surplus == Decimal(payment.findtext(f"{{{OIR_NS}}}Beloeb") or "")


def test_offset_example_nets_the_payout_exactly() -> None:
    request = example("ForetagModregning.request.xml")
    result = example("ForetagModregning.response.xml").find(f"{{{OIR_NS}}}ModregningResultat")
    assert result is not None

    def amount(e: etree._Element, name: str) -> Decimal:
        return Decimal(e.findtext(f".//{{{OIR_NS}}}{name}") or "")

    gross = amount(result, "Bruttobeloeb")
    assert gross == amount(request, "Bruttobeloeb")
    offset = amount(result, "ModregnetIAlt")
    assert amounts(result, "ModregningSamling/Modregning/Beloeb") == offset
    assert gross - offset == amount(result, "Nettoudbetaling")
    assert offset <= gross - amount(request, "BeskyttetBeloeb")


# ---------------------------------------------------------------- WSDLs

@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a socket fails the test: the WSDLs must load offline."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@cache
def zeep_client(service_name: str) -> zeep.Client:
    svc = next(s for s in SERVICES if s.name == service_name)
    return zeep.Client(str(wsdl_path(svc.wsdl)))


def test_wsdl_folder_holds_exactly_the_services() -> None:
    on_disk = {p.relative_to(contracts_root() / "wsdl").as_posix()
               for p in (contracts_root() / "wsdl").rglob("*.wsdl")}
    assert on_disk == {s.wsdl for s in SERVICES}


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize("svc", SERVICES, ids=[s.name for s in SERVICES])
def test_wsdl_loads_with_zeep_and_lists_exactly_its_operations(svc: Service) -> None:
    client = zeep.Client(str(wsdl_path(svc.wsdl)))
    (service,) = client.wsdl.services.values()
    (port,) = service.ports.values()
    bound = port.binding._operations
    assert set(bound) == {op.name for op in svc.operations}
    for op in svc.operations:
        assert bound[op.name].soapaction == op.soap_action
        assert bound[op.name].input.body.qname == f"{{{op.namespace}}}{op.request}"
        assert bound[op.name].output.body.qname == f"{{{op.namespace}}}{op.response}"
    assert port.binding_options["address"].endswith(svc.path)


def load_generator() -> ModuleType:
    path = ROOT / "scripts" / "generate_wsdl.py"
    spec = importlib.util.spec_from_file_location("generate_wsdl", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("svc", SERVICES, ids=[s.name for s in SERVICES])
def test_wsdl_is_what_the_generator_renders(svc: Service) -> None:
    generator = load_generator()
    ops = [(op.name, op.request, op.response) for op in svc.operations]
    rendered = generator.render(svc.name, svc.wsdl_namespace, svc.types_namespace,
                                f"../../xsd/{svc.xsd}", svc.path, ops)
    on_disk = wsdl_path(svc.wsdl).read_text(encoding="utf-8")
    assert rendered == on_disk, f"wsdl/{svc.wsdl} is stale: run python scripts/generate_wsdl.py"


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize("path", VALID, ids=ids(VALID))
def test_zeep_reads_and_writes_every_valid_example(path: Path) -> None:
    """The clients are zeep: what the services send must parse, and zeep's rendering of
    it must still be schema-valid (Danish element names included)."""
    element = body_element(load(path))
    op, _ = operation_for_element(element.tag) or (None, None)
    assert op is not None
    client = zeep_client(op.service.name)
    xsd_element = client.get_element(element.tag)
    value = xsd_element.parse(element, client.wsdl.types)
    parent = etree.Element("parent")
    xsd_element.render(parent, value)
    (rendered,) = parent
    assert rendered.tag == element.tag
    schema = lxml_schema(schema_namespace(rendered))
    assert schema.validate(rendered), str(schema.error_log)


# ---------------------------------------------------------------- docs

CONTRACTS_DOC = ROOT / "docs" / "contracts.md"
GLOSSARY = ROOT / "docs" / "glossary.md"


@pytest.mark.parametrize("op", list(OPERATIONS.values()), ids=list(OPERATIONS))
def test_contracts_doc_names_every_operation(op: Operation) -> None:
    """A new operation must be documented: its SOAPAction, path and message names."""
    text = CONTRACTS_DOC.read_text(encoding="utf-8")
    row = (f"| `{op.service.name}` | `{op.service.path}` | `{op.name}` | "
           f"`{op.request}` → `{op.response}` | `{op.soap_action}` |")
    assert row in text
    assert f"**`{op.name}`**" in text, "each operation has its own paragraph"


@pytest.mark.parametrize("op", list(OPERATIONS.values()), ids=list(OPERATIONS))
def test_contracts_doc_says_whether_each_operation_name_is_published(op: Operation) -> None:
    """The *name* column: the published spelling with its source, or "modelled here"."""
    text = CONTRACTS_DOC.read_text(encoding="utf-8")
    row = next(line for line in text.splitlines()
               if line.startswith(f"| `{op.service.name}` | `{op.service.path}` | `{op.name}` |"))
    name = row.rstrip(" |").rsplit(" | ", 1)[1]
    if op.published is None:
        assert name == "modelled here", row
    else:
        assert name.startswith("published: ") and op.published in name, row
        assert "(" in name, "a published name names its source"


def test_published_names_are_spelled_in_ascii_on_the_wire() -> None:
    """SOAPAction is US-ASCII: published names with æ, ø, å are transliterated."""
    for op in OPERATIONS.values():
        assert op.soap_action.isascii() and op.request.isascii(), op.name
        if op.published is not None:
            assert transliterate(op.published) == op.name
    assert OPERATIONS["AfslutHaeftelse"].published == "AfslutHæftelse"
    assert OPERATIONS["SoegDelfordringTilIndbetaling"].published == "SøgDelfordringTilIndbetaling"


def test_contracts_doc_names_every_namespace() -> None:
    text = CONTRACTS_DOC.read_text(encoding="utf-8")
    for ns in (OIR_NS, PSRM_NS, SOAP11_ENV_NS, "http://skat.dk/begrebsmodel/xml/schemas/kontekst/2007/05/31/"):
        assert f"`{ns}`" in text


def test_contracts_doc_comparison_script_dumps_the_element_tree() -> None:
    """The script users run against the official files must work on ours."""
    text = CONTRACTS_DOC.read_text(encoding="utf-8")
    block = next(b for b in text.split("```python")[1:] if "def element_tree" in b)
    source = "\n".join(line.removeprefix("   ") for line in block.split("```")[0].splitlines())
    namespace: dict[str, Any] = {"__name__": "xsdtree"}
    exec(compile(source, "xsdtree", "exec"), namespace)
    lines = namespace["element_tree"](str(contracts_root() / "xsd" / "psrm" / "MF.xsd"))
    action = "MFFordringIndberet_I/FordringAktionSamling/FordringAktion"
    assert (f"{action}/MFAktionKode [1..1] MFAktionKodeType = "
            + "|".join(code.value for code in PsrmActionCode)) in lines
    structure = f"{action}/AktionValg/OpretFordringAktion/MFOpretFordringStruktur/"
    in_order = [line.split(" ")[0].removeprefix(structure) for line in lines
                if line.startswith(structure) and "/" not in line.split(" ")[0][len(structure):]]
    # the fordringshaver's order, with the ids PSRM's own intake adds in their places
    assert in_order == (OPRET_ORDER[:2] + ["DMIFordringEFIFordringID", "MFAktionID"]
                        + OPRET_ORDER[2:3]
                        + ["DMIFordringEFIHovedFordringID", "DMIFordringModtagelseDato"]
                        + OPRET_ORDER[3:])


def glossary_rows() -> list[list[str]]:
    rows = []
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and line.startswith("|") and cells[0] not in ("Danish", "---"):
            rows.append(cells)
    return rows


def backticked(cell: str) -> list[str]:
    return cell.split("`")[1::2]


def resolve(dotted: str) -> bool:
    """Whether ``module.Name[.attr…]`` names something in ``oir_adapter``."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):  # the longest prefix that is a module
        try:
            module = importlib.import_module("oir_adapter." + ".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        attrs = parts[cut:]
        break
    else:
        return False
    obj: Any = module
    for attr in attrs:
        if hasattr(obj, attr):
            obj = getattr(obj, attr)
        elif dataclasses.is_dataclass(obj) and attr in {f.name for f in dataclasses.fields(obj)}:
            return attr == attrs[-1]
        else:
            return False
    return True


@cache
def wire_names() -> frozenset[str]:
    names: set[str] = set()
    for xsd in (contracts_root() / "xsd").rglob("*.xsd"):
        names |= set(re.findall(r'(?:name|value)="([^"]+)"', xsd.read_text(encoding="utf-8")))
    names |= {t.code for t in ClaimTypeTable.default()}
    names |= set(BenefitTable.default().descriptions)
    for svc in SERVICES:
        names.add(svc.name)
        names |= {op.name for op in svc.operations}
    return frozenset(names)


def test_glossary_covers_the_terms_of_the_design() -> None:
    danish = " ".join(row[0] for row in glossary_rows()).lower()
    for term in ("fordring", "hovedfordring", "delfordring", "hæfter", "opkrævning",
                 "indbetaling", "dækning", "dækningsrækkefølge", "modregning",
                 "ydelsesudbetaling", "srb", "stiftelsesdato", "forfaldsdato", "forældelse",
                 "henstand", "rykker", "fordringshaver", "fordringshaveraftale",
                 "indgangsfilter", "retskraft", "debitorkonto", "fagsystem", "afskrivning",
                 "nedskrivning", "tilbagekald", "kvittering", "underretning", "leverance"):
        assert term in danish, term


def test_glossary_python_names_exist() -> None:
    missing = [ref for row in glossary_rows() for ref in backticked(row[2]) if not resolve(ref)]
    assert missing == []


def test_glossary_wire_names_exist() -> None:
    missing = [name for row in glossary_rows() for ref in backticked(row[3])
               for name in ref.split("/") if name not in wire_names()]
    assert missing == []
