"""Other SOAP stacks than our own clients: plain zeep driven from the WSDL the emulator
serves (keyword arguments, zeep's own serialisation), suds, and hand-written envelopes
posted raw (the docs/examples requests, default namespaces, other prefixes, no SOAPAction).
A schema fault reads the same in each of them: typed by the WSDL, one ``Path`` whatever
prefixes the stack wrote."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest
import requests
import suds
import suds.client
import zeep
from lxml import etree

from oir_adapter.contracts import (
    FAULT_NS,
    OIR_NS,
    SERVICES,
    operation_for_element,
    validate_element,
    xsd_path,
)

from .conftest import EXAMPLES
from .emulator_inproc import InProcessEmulator, live_server

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, InProcessEmulator]]:
    with live_server(tmp_path_factory.mktemp("stacks")) as pair:
        pair[1].admin("PUT", "/clock", now="2026-03-02T10:00:00")
        yield pair


def head() -> dict[str, object]:
    import uuid

    return {"TransaktionsID": str(uuid.uuid4()), "TransaktionsTid": datetime(2026, 3, 2, 10)}


def test_plain_zeep_from_the_served_wsdl(server: tuple[str, InProcessEmulator]) -> None:
    url, _emu = server
    reg = zeep.Client(f"{url}/oir/DebitorRegistrering/1?wsdl").service
    answer = reg.OpretDebitorkonto(
        Hovedoplysninger=head(), MyndighedCVR="29189846", FagsystemID="ZEEP",
        FagsystemReference="Z-1",
        Debitor={"Part": {"CPRNummer": "0405871270"}, "Navn": "Zeep Bruger"},
        Kontotype="PERSON")
    assert answer.HovedoplysningerSvar.SvarReaktion == "OK"
    number = answer.DebitorkontoNummer
    answer = reg.OpretFordring(
        Hovedoplysninger=head(), MyndighedCVR="29189846", FagsystemID="ZEEP",
        DebitorkontoNummer=number,
        Fordring={"FagsystemFordringID": "Z-C-1", "FordringTypeKode": "CFFAKTU",
                  "Hovedstol": D("1250.75"), "PeriodeFra": date(2026, 2, 1),
                  "PeriodeTil": date(2026, 2, 28), "StiftelsesDato": date(2026, 2, 1),
                  "ForfaldsDato": date(2026, 3, 10),
                  "SidsteRettidigeBetalingsDato": date(2026, 3, 16), "ModregningTilladt": True,
                  "DelfordringSamling": {"Delfordring": [
                      {"DelfordringTypeKode": "RENTE", "Beloeb": D("12.25")}]}})
    assert answer.HovedoplysningerSvar.SvarReaktion == "OK", answer
    assert answer.Opkraevning.Beloeb == D("1263.00")
    ind = zeep.Client(f"{url}/oir/DebitorIndbetaling/1?wsdl").service
    answer = ind.ForetagIndbetaling(
        Hovedoplysninger=head(), MyndighedCVR="29189846", FagsystemID="ZEEP",
        Indbetaling={"IndbetalingID": "Z-P-1", "Beloeb": D("100.00"),
                     "BetalingsDato": date(2026, 3, 3),
                     "BetalingsID": answer.Opkraevning.BetalingsID})
    lines = [(d.DelfordringID is not None, d.Beloeb)
             for d in answer.Indbetaling.DaekningSamling.Daekning]
    assert lines == [(True, D("12.25")), (False, D("87.75"))]
    # a business error comes back as data, not as a fault
    forsp = zeep.Client(f"{url}/oir/DebitorForespoergsel/1?wsdl").service
    answer = forsp.HentDebitorkonto(Hovedoplysninger=head(), MyndighedCVR="29189846",
                                    FagsystemID="ZEEP", DebitorkontoNummer="nope")
    assert answer.HovedoplysningerSvar.SvarReaktion == "FEJL"
    assert answer.HovedoplysningerSvar.FejlSamling.Fejl[0].FejlKode == "OIR-301"


VALID_REQUESTS = sorted(p for p in EXAMPLES.glob("*.request*.xml")
                        if not p.name.endswith(".invalid.xml"))


@pytest.mark.parametrize("path", VALID_REQUESTS, ids=lambda p: p.name)
def test_hand_written_example_requests_get_schema_valid_answers(
        server: tuple[str, InProcessEmulator], path: Path) -> None:
    """Posted as the bytes on disk, with no SOAPAction: never a fault, always a reply that
    validates (business errors such as an unknown account are data)."""
    url, _emu = server
    body = etree.fromstring(path.read_bytes()).find(f"{{{SOAP}}}Body")
    assert body is not None
    found = operation_for_element(body[0].tag)
    assert found is not None
    op = found[0]
    response = requests.post(f"{url}{op.service.path}", data=path.read_bytes(),
                             headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=30)
    assert response.status_code == 200, response.text
    reply = etree.fromstring(response.content).find(f"{{{SOAP}}}Body")
    assert reply is not None
    assert etree.QName(reply[0]).localname == op.response
    assert validate_element(reply[0]) == []


def test_example_delivery_is_judged_action_by_action(server: tuple[str, InProcessEmulator]
                                                     ) -> None:
    url, emu = server
    # the example may have been posted above: PSRM would rightly refuse the same claims
    # again (600), so judge it on an empty PSRM
    emu.admin("POST", "/reset")
    data = (EXAMPLES / "MFFordringIndberet.request.xml").read_bytes()
    response = requests.post(f"{url}/psrm/MFFordringIndberet/1", data=data,
                             headers={"Content-Type": "text/xml"}, timeout=30)
    reply = etree.fromstring(response.content)
    statuses = [(s.findtext("{*}MFAktionKode"), s.findtext("{*}MFAktionStatusKode"))
                for s in reply.iter("{*}MFAktionStruktur")]
    creates = [st for code, st in statuses if code == "OPRETFORDRING"]
    assert creates and all(st == "MODTAGET" for st in creates), statuses
    # NEDSKRIV and TILBAGEKALD name EFI claims this fresh PSRM does not hold
    others = [(code, st) for code, st in statuses if code != "OPRETFORDRING"]
    assert others == [("NEDSKRIV", "AFVIST"), ("TILBAGEKALD", "AFVIST")]
    numbers = {n.text for n in reply.iter("{*}MFAktionAfvistNummer")}
    assert numbers == {"509"}  # PSRM: "Den angivne FordringID er ikke kendt af systemet"


def test_prefixes_and_default_namespaces_do_not_matter(server: tuple[str, InProcessEmulator]
                                                       ) -> None:
    url, _emu = server
    envelope = b"""<?xml version="1.0" encoding="utf-8"?>
<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"
            xmlns:x="http://serviceplatformen.dk/xml/schemas/OIR/Debitor/1/">
 <e:Header><ctx:InvocationContext xmlns:ctx="http://serviceplatformen.dk/xml/wsdl/soap11/Security/Invocation/1/"><ctx:ServiceAgreementUUID>42</ctx:ServiceAgreementUUID></ctx:InvocationContext></e:Header>
 <e:Body><x:SoegDebitorkontoRequest><x:Hovedoplysninger>
   <x:TransaktionsID>0b9d2a56-4f0e-4d53-9c4b-5a8f66c1d001</x:TransaktionsID>
   <x:TransaktionsTid>2026-03-02T10:00:00Z</x:TransaktionsTid></x:Hovedoplysninger>
   <x:MyndighedCVR>29189846</x:MyndighedCVR><x:FagsystemID>RAW</x:FagsystemID>
   <x:Soegekriterier><x:NavnPrefix>Zeep</x:NavnPrefix></x:Soegekriterier>
 </x:SoegDebitorkontoRequest></e:Body></e:Envelope>"""
    response = requests.post(f"{url}/oir/DebitorForespoergsel/1", data=envelope,
                             headers={"Content-Type": "text/xml",
                                      "SOAPAction": '"urn:SoegDebitorkonto"'}, timeout=30)
    assert response.status_code == 200, response.text
    assert b"<oir:SvarReaktion>OK</oir:SvarReaktion>" in response.content


def test_every_service_answers_its_examples() -> None:
    names = {p.name.split(".")[0] for p in VALID_REQUESTS}
    assert names == {op.name for s in SERVICES for op in s.operations}


# ---------------------------------------------------------------- faults

#: One violation (a TransaktionsID that is no UUID), as every stack must be told it.
BAD_ID_PATH = "/oir:SoegDebitorkontoRequest/oir:Hovedoplysninger/oir:TransaktionsID"
_SEARCH = """<{p}SoegDebitorkontoRequest{decl}><{p}Hovedoplysninger>
  <{p}TransaktionsID>not-a-uuid</{p}TransaktionsID>
  <{p}TransaktionsTid>2026-03-02T10:00:00+01:00</{p}TransaktionsTid></{p}Hovedoplysninger>
  <{p}MyndighedCVR>29189846</{p}MyndighedCVR><{p}FagsystemID>RAW</{p}FagsystemID>
  <{p}Soegekriterier><{p}NavnPrefix>Z</{p}NavnPrefix></{p}Soegekriterier>
</{p}SoegDebitorkontoRequest>"""


def _raw_envelope(style: str) -> bytes:
    """The request as other stacks write it: node-soap takes the WSDL's own prefix for the
    types namespace (``types:``) declared on the envelope; .NET and JAX-WS write a
    default namespace on the body element; another client picks ``oir`` for a namespace
    that is not ØIR's and ``x`` for ØIR's."""
    env = f'xmlns:soap="{SOAP}"'
    if style == "node-soap":
        env += f' xmlns:types="{OIR_NS}"'
        body = _SEARCH.format(p="types:", decl="")
    elif style == "default-namespace":
        body = _SEARCH.format(p="", decl=f' xmlns="{OIR_NS}"')
    else:  # clashing prefixes
        env += f' xmlns:oir="urn:not-oir" xmlns:x="{OIR_NS}"'
        body = _SEARCH.format(p="x:", decl="")
    return (f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope {env}><soap:Body>{body}'
            "</soap:Body></soap:Envelope>").encode()


def _violations(detail: etree._Element) -> list[tuple[str | None, str | None]]:
    return [(v.findtext(f"{{{FAULT_NS}}}Path"), v.findtext(f"{{{FAULT_NS}}}Message"))
            for v in detail.iter(f"{{{FAULT_NS}}}Violation")]


def test_a_fault_names_one_path_whatever_prefixes_the_stack_wrote(
        server: tuple[str, InProcessEmulator]) -> None:
    url, _emu = server
    wsdl = f"{url}/oir/DebitorForespoergsel/1?wsdl"
    seen: dict[str, list[tuple[str | None, str | None]]] = {}
    for style in ("node-soap", "default-namespace", "clashing-prefixes"):
        response = requests.post(f"{url}/oir/DebitorForespoergsel/1", data=_raw_envelope(style),
                                 headers={"Content-Type": "text/xml"}, timeout=30)
        assert response.status_code == 500, response.text
        seen[style] = _violations(etree.fromstring(response.content))
    with pytest.raises(zeep.exceptions.Fault) as zeep_fault:
        zeep.Client(wsdl).service.SoegDebitorkonto(
            Hovedoplysninger={**head(), "TransaktionsID": "not-a-uuid"},
            MyndighedCVR="29189846", FagsystemID="ZEEP", Soegekriterier={"NavnPrefix": "Z"})
    assert zeep_fault.value.detail is not None
    seen["zeep"] = _violations(zeep_fault.value.detail)
    client = suds.client.Client(wsdl)
    hoved = client.factory.create(f"{{{OIR_NS}}}HovedoplysningerType")
    hoved.TransaktionsID, hoved.TransaktionsTid = "not-a-uuid", datetime(2026, 3, 2, 10)
    with pytest.raises(suds.WebFault) as suds_fault:
        client.service.SoegDebitorkonto(Hovedoplysninger=hoved, MyndighedCVR="29189846",
                                        FagsystemID="SUDS", Soegekriterier={"NavnPrefix": "Z"})
    # suds reads the detail as the type the WSDL declares for the fault
    typed = suds_fault.value.fault.detail.Violations.Violation
    typed = typed if isinstance(typed, list) else [typed]
    seen["suds"] = [(str(v.Path), str(v.Message)) for v in typed]
    assert seen["zeep"] and seen["zeep"][0][0] == BAD_ID_PATH, seen
    assert all(found == seen["zeep"] for found in seen.values()), seen


def test_every_operation_declares_the_served_fault_schema(
        server: tuple[str, InProcessEmulator]) -> None:
    """``wsdl:fault`` on every operation of every WSDL, its detail element defined by the
    schema the emulator serves under ``/xsd/`` (what generated clients type faults by)."""
    url, _emu = server
    wsdl_ns = "{http://schemas.xmlsoap.org/wsdl/}"
    for svc in SERVICES:
        doc = etree.fromstring(requests.get(f"{url}{svc.path}?wsdl", timeout=30).content)
        imports = {i.get("namespace"): i.get("schemaLocation")
                   for i in doc.iter("{http://www.w3.org/2001/XMLSchema}import")}
        assert imports[FAULT_NS] == f"{url}/xsd/fault/Fault.xsd", svc.name
        for operation in doc.iter(f"{wsdl_ns}operation"):
            assert operation.find(f"{wsdl_ns}fault") is not None, (svc.name, operation.get("name"))
    served = requests.get(f"{url}/xsd/fault/Fault.xsd", timeout=30)
    assert served.status_code == 200
    assert served.content == xsd_path("fault/Fault.xsd").read_bytes()
    # a real fault's detail is valid against it
    response = requests.post(f"{url}/oir/DebitorForespoergsel/1",
                             data=_raw_envelope("node-soap"),
                             headers={"Content-Type": "text/xml"}, timeout=30)
    detail = next(etree.fromstring(response.content).iter(f"{{{FAULT_NS}}}Violations"))
    schema = etree.XMLSchema(etree.fromstring(served.content))
    assert schema.validate(detail), schema.error_log


# ---------------------------------------------------------------- SOAPAction

#: How stacks spell SOAPAction for OpretDebitorkonto: none, empty, a URN, the bare name.
LENIENT_SPELLINGS = (None, '""', '"urn:OpretDebitorkonto"', "OpretDebitorkonto")


def _post_with_action(emu: InProcessEmulator, action: str | None) -> tuple[int, str]:
    data = (EXAMPLES / "OpretDebitorkonto.request.xml").read_bytes()
    headers = {} if action is None else {"SOAPAction": action}
    response = emu.post_raw("/oir/DebitorRegistrering/1", data, headers=headers)
    return response.status_code, response.get_data(as_text=True)


def test_soap_action_is_lenient_by_default_and_strict_on_request(tmp_path: Path) -> None:
    from .emulator_inproc import in_process

    own = next(s for s in SERVICES if s.name == "DebitorRegistrering")
    right = f'"{own.operation("OpretDebitorkonto").soap_action}"'
    with in_process(tmp_path / "lenient") as emu:
        for action in LENIENT_SPELLINGS + (right,):
            assert _post_with_action(emu, action)[0] == 200, action
    with in_process(tmp_path / "strict", strict_soap_action=True) as emu:
        status, text = _post_with_action(emu, right)
        assert status == 200, text
        for action in LENIENT_SPELLINGS:
            status, text = _post_with_action(emu, action)
            assert status == 500 and "<faultcode>soap:Client</faultcode>" in text, action
            assert own.operation("OpretDebitorkonto").soap_action in text  # what to send
        assert "SOAPAction is missing" in _post_with_action(emu, None)[1]
        # the adapter's own clients send the WSDL's action: they pass the strict check
        body = etree.fromstring((EXAMPLES / "OpretDebitorkonto.request.xml").read_bytes()
                                ).find(f"{{{SOAP}}}Body")
        assert body is not None
        assert emu.soap.debitor_registrering.call("OpretDebitorkonto", body[0]).ok
