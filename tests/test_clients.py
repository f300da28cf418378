"""The SOAP clients against recorded answers (``responses``) and real loopback sockets."""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
import requests
import responses
import zeep
from lxml import etree
from zeep.plugins import HistoryPlugin

from oir_adapter import contracts
from oir_adapter.clients import (
    BusinessError,
    BusinessFault,
    ClientError,
    ClientTimeoutError,
    DebitorRegistreringClient,
    HttpError,
    MalformedReplyError,
    MFFordringIndberetClient,
    SchemaError,
    ServiceClient,
    ServiceUnavailableError,
    SoapFaultError,
    TransportError,
    clients_for,
    fault_violations,
)
from oir_adapter.clients.service import ContractTransport
from oir_adapter.contracts import KONTEKST_NS, OIR_NS, PSRM_NS, SOAP11_ENV_NS

BASE = "http://127.0.0.1:8080"
REG_URL = BASE + "/oir/DebitorRegistrering/1"
MF_URL = BASE + "/psrm/MFFordringIndberet/1"
WSSE_NS = ("http://docs.oasis-open.org/wss/2004/01/"
           "oasis-200401-wss-wssecurity-secext-1.0.xsd")
TX = "6f1c2a7e-3b9d-4c1e-9a0f-2d4b5c6e7f80"

# ------------------------------------------------------------------ recorded messages

OPRET_KONTO = f"""\
<oir:OpretDebitorkontoRequest xmlns:oir="{OIR_NS}">
  <oir:Hovedoplysninger>
    <oir:TransaktionsID>{TX}</oir:TransaktionsID>
    <oir:TransaktionsTid>2026-11-23T12:00:00</oir:TransaktionsTid>
  </oir:Hovedoplysninger>
  <oir:MyndighedCVR>29189846</oir:MyndighedCVR>
  <oir:FagsystemID>FAG-1</oir:FagsystemID>
  <oir:FagsystemReference>REF-1</oir:FagsystemReference>
  <oir:Debitor>
    <oir:Part><oir:CPRNummer>0101701234</oir:CPRNummer></oir:Part>
    <oir:Navn>Jens Jensen</oir:Navn>
  </oir:Debitor>
  <oir:Kontotype>PERSON</oir:Kontotype>
</oir:OpretDebitorkontoRequest>"""


def konto_svar(reaction: str = "OK", fejl: str = "", rest: str = "") -> str:
    return f"""\
<oir:OpretDebitorkontoResponse xmlns:oir="{OIR_NS}">
  <oir:HovedoplysningerSvar>
    <oir:TransaktionsID>{TX}</oir:TransaktionsID>
    <oir:TransaktionsTid>2026-11-23T12:00:01</oir:TransaktionsTid>
    <oir:SvarReaktion>{reaction}</oir:SvarReaktion>{fejl}
  </oir:HovedoplysningerSvar>{rest}
</oir:OpretDebitorkontoResponse>"""


KONTO_OK = konto_svar(rest="<oir:DebitorkontoNummer>K-100</oir:DebitorkontoNummer>"
                           "<oir:Oprettet>true</oir:Oprettet>")
KONTO_FEJL = konto_svar("FEJL", fejl="""
    <oir:FejlSamling>
      <oir:Fejl><oir:FejlKode>OIR-CPR</oir:FejlKode><oir:FejlTekst>CPR-nummer er ugyldigt</oir:FejlTekst><oir:Felt>Debitor/Part/CPRNummer</oir:Felt></oir:Fejl>
      <oir:Fejl><oir:FejlKode>OIR-NAVN</oir:FejlKode><oir:FejlTekst>Navn mangler</oir:FejlTekst></oir:Fejl>
    </oir:FejlSamling>""")

INDBERET = f"""\
<mf:MFFordringIndberet_I xmlns:mf="{PSRM_NS}" xmlns:k="{KONTEKST_NS}">
  <mf:Kontekst><k:HovedOplysninger>
    <k:TransaktionsID>T-1_frbm</k:TransaktionsID><k:TransaktionsTid>2026-11-23T12:00:00</k:TransaktionsTid>
  </k:HovedOplysninger></mf:Kontekst>
  <mf:FordringhaverSystemIDStruktur><mf:VirksomhedSENummer>12345678</mf:VirksomhedSENummer></mf:FordringhaverSystemIDStruktur>
  <mf:MFLeveranceID>7001</mf:MFLeveranceID>
  <mf:FordringAktionSamling><mf:FordringAktion>
    <mf:MFAktionKode>TILBAGEKALD</mf:MFAktionKode>
    <mf:DMIFordringHaverID>4711</mf:DMIFordringHaverID>
    <mf:AktionValg><mf:MFTilbagekaldFordringStruktur>
      <mf:DMIFordringEFIFordringID>990</mf:DMIFordringEFIFordringID>
      <mf:HovedFordringTilbagekaldÅrsagStruktur>
        <mf:HovedFordringTilbageÅrsagKode>HENS</mf:HovedFordringTilbageÅrsagKode>
      </mf:HovedFordringTilbagekaldÅrsagStruktur>
    </mf:MFTilbagekaldFordringStruktur></mf:AktionValg>
  </mf:FordringAktion></mf:FordringAktionSamling>
</mf:MFFordringIndberet_I>"""

INDBERET_SVAR = f"""\
<mf:MFFordringIndberet_O xmlns:mf="{PSRM_NS}" xmlns:k="{KONTEKST_NS}">
  <mf:Kontekst><k:HovedOplysningerSvar>
    <k:TransaktionsID>T-1_frbm</k:TransaktionsID><k:ServiceID>MFFordringIndberet</k:ServiceID>
    <k:TransaktionsTid>2026-11-23T12:00:02.118</k:TransaktionsTid><k:SvarReaktion/>
  </k:HovedOplysningerSvar></mf:Kontekst>
  <mf:FordringInfo>
    <mf:FordringhaverSystemIDStruktur><mf:VirksomhedSENummer>12345678</mf:VirksomhedSENummer></mf:FordringhaverSystemIDStruktur>
    <mf:MFLeveranceID>7001</mf:MFLeveranceID>
    <mf:FordringAktionStatusSamling>
      <mf:MFAktionStruktur>
        <mf:DMIFordringEFIFordringID>881</mf:DMIFordringEFIFordringID>
        <mf:DMIFordringFordringHaverRef>REF-1</mf:DMIFordringFordringHaverRef>
        <mf:MFAktionID>71</mf:MFAktionID><mf:MFAktionKode>OPRETFORDRING</mf:MFAktionKode>
        <mf:DMIFordringHaverID>4711</mf:DMIFordringHaverID>
        <mf:MFAktionStatusKode>MODTAGET</mf:MFAktionStatusKode>
        <mf:MFAktionStatusÆndretDato>2026-11-23T12:00:02.503</mf:MFAktionStatusÆndretDato>
        <mf:DMIFordringModtagelseDato>2026-11-23T12:00:02.118</mf:DMIFordringModtagelseDato>
        <mf:AfvistÅrsagSamling/>
      </mf:MFAktionStruktur>
      <mf:MFAktionStruktur>
        <mf:DMIFordringFordringHaverRef>REF-2</mf:DMIFordringFordringHaverRef>
        <mf:MFAktionID>72</mf:MFAktionID><mf:MFAktionKode>OPRETFORDRING</mf:MFAktionKode>
        <mf:DMIFordringHaverID>4711</mf:DMIFordringHaverID>
        <mf:MFAktionStatusKode>AFVIST</mf:MFAktionStatusKode>
        <mf:MFAktionStatusÆndretDato>2026-11-23T12:00:02.503</mf:MFAktionStatusÆndretDato>
        <mf:AfvistÅrsagSamling>
          <mf:MFAktionAfvistStruktur><mf:MFAktionAfvistNummer>215</mf:MFAktionAfvistNummer><mf:MFAktionAfvistTekst>Fordringsbeløb ikke større end nedre grænse</mf:MFAktionAfvistTekst></mf:MFAktionAfvistStruktur>
          <mf:MFAktionAfvistStruktur><mf:MFAktionAfvistNummer>152</mf:MFAktionAfvistNummer><mf:MFAktionAfvistTekst>Der må ikke indberettes på denne ValutaKode ifølge fordringhaveraftale</mf:MFAktionAfvistTekst></mf:MFAktionAfvistStruktur>
        </mf:AfvistÅrsagSamling>
      </mf:MFAktionStruktur>
    </mf:FordringAktionStatusSamling>
  </mf:FordringInfo>
</mf:MFFordringIndberet_O>"""

FAULT = """\
<soap:Fault>
  <faultcode>soap:Client</faultcode>
  <faultstring>Request does not validate against the schema</faultstring>
  <detail>
    <Violations>
      <Violation path="/OpretDebitorkontoRequest/MyndighedCVR">value does not match pattern [0-9]{8}</Violation>
      <Violation path="/OpretDebitorkontoRequest/Kontotype">value must be one of PERSON, VIRKSOMHED, DOEDSBO</Violation>
    </Violations>
  </detail>
</soap:Fault>"""


def envelope(inner: str, *, header: str = "") -> bytes:
    head = f"<soap:Header>{header}</soap:Header>" if header else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope xmlns:soap="{SOAP11_ENV_NS}">'
            f"{head}<soap:Body>{inner}</soap:Body></soap:Envelope>").encode()


def el(xml: str) -> etree._Element:
    return etree.fromstring(xml.encode())


def c14n(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n", exclusive=True)


def shape(element: etree._Element) -> tuple[object, ...]:
    """Names, order and text of a tree, whatever the prefixes and indentation."""
    return (element.tag, (element.text or "").strip(), tuple(shape(c) for c in element))


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    """Every HTTP call is answered from the recordings; anything else fails the test."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def reg(rsps: responses.RequestsMock) -> DebitorRegistreringClient:
    return DebitorRegistreringClient(REG_URL)


def sent_envelope(rsps: responses.RequestsMock, index: int = 0) -> etree._Element:
    body = rsps.calls[index].request.body
    assert isinstance(body, bytes | str)
    return etree.fromstring(body.encode() if isinstance(body, str) else body)


def sent_body(rsps: responses.RequestsMock, index: int = 0) -> etree._Element:
    found = sent_envelope(rsps, index).find(f"{{{SOAP11_ENV_NS}}}Body")
    assert found is not None
    return found[0]


def sent_timeout(rsps: responses.RequestsMock, index: int = 0) -> object:
    """The ``timeout`` the client handed to requests (``responses`` records it)."""
    kwargs: dict[str, object] = rsps.calls[index].request.req_kwargs  # type: ignore[attr-defined]
    return kwargs["timeout"]


# ------------------------------------------------------------------ normal answers


def test_normal_answer_reads_outcome_and_sends_a_proper_request(
        rsps: responses.RequestsMock, reg: DebitorRegistreringClient) -> None:
    rsps.add(responses.POST, REG_URL, body=envelope(KONTO_OK), content_type="text/xml")
    reply = reg.opret_debitorkonto(el(OPRET_KONTO))

    assert reply.ok and reply.reaction == "OK" and reply.errors == []
    assert reply.transaction_id == TX
    assert reply.operation.name == "OpretDebitorkonto"
    assert reply.http_status == 200 and reply.elapsed >= 0
    assert reply.element.tag == f"{{{OIR_NS}}}OpretDebitorkontoResponse"
    assert reply.findtext("DebitorkontoNummer") == "K-100"
    assert reply.received == envelope(KONTO_OK)

    request = rsps.calls[0].request
    assert request.headers["SOAPAction"] == (
        '"http://serviceplatformen.dk/xml/wsdl/soap11/OIR/DebitorRegistreringAfsend/1/'
        'OpretDebitorkonto"')
    assert request.headers["Content-Type"] == "text/xml; charset=utf-8"
    sent = sent_envelope(rsps)
    assert sent.tag == f"{{{SOAP11_ENV_NS}}}Envelope"
    assert sent.find(f"{{{SOAP11_ENV_NS}}}Header") is None  # nothing configured, nothing sent
    assert c14n(sent_body(rsps)) == c14n(el(OPRET_KONTO))
    assert reply.sent == request.body
    assert sent_timeout(rsps) == (5, 30)


def test_a_body_style_call_parses_no_wsdl_until_zeep_is_asked_for(
        rsps: responses.RequestsMock) -> None:
    """zeep parses the WSDL and its schemas on first use only: a body-style call without a
    caller's own plugins needs none of it (~15 ms a service when a client is made)."""
    client = DebitorRegistreringClient(REG_URL, username="u", password="p",
                                       headers=[el("<x:Context xmlns:x='urn:x'>1</x:Context>")])
    rsps.add(responses.POST, REG_URL, body=envelope(KONTO_OK), content_type="text/xml")
    assert client.opret_debitorkonto(el(OPRET_KONTO)).ok
    assert "zeep_client" not in vars(client)
    header = sent_envelope(rsps).find(f"{{{SOAP11_ENV_NS}}}Header")
    assert header is not None and header.find("{urn:x}Context") is not None
    assert header.find(".//{*}UsernameToken") is not None
    assert client.zeep._binding_options["address"] == REG_URL
    assert "zeep_client" in vars(client)


def test_call_leaves_the_callers_tree_alone(rsps: responses.RequestsMock,
                                            reg: DebitorRegistreringClient) -> None:
    rsps.add(responses.POST, REG_URL, body=envelope(KONTO_OK))
    body = el(OPRET_KONTO)
    reg.call("OpretDebitorkonto", body)
    assert body.getparent() is None and body.getroottree().getroot() is body


def test_send_finds_the_operation_from_the_body(rsps: responses.RequestsMock,
                                                reg: DebitorRegistreringClient) -> None:
    rsps.add(responses.POST, REG_URL, body=envelope(KONTO_OK))
    assert reg.send(el(OPRET_KONTO)).operation.name == "OpretDebitorkonto"
    with pytest.raises(ValueError, match="not a request of DebitorRegistrering"):
        reg.send(el(INDBERET))


def test_wrong_body_or_operation_is_a_programming_error(reg: DebitorRegistreringClient) -> None:
    with pytest.raises(ValueError, match="OpretFordring sends"):
        reg.call("OpretFordring", el(OPRET_KONTO))
    with pytest.raises(ValueError, match="no operation"):
        reg.call("Nonsense", el(OPRET_KONTO))


def test_business_errors_are_read_from_fejlsamling(rsps: responses.RequestsMock,
                                                   reg: DebitorRegistreringClient) -> None:
    rsps.add(responses.POST, REG_URL, body=envelope(KONTO_FEJL))
    reply = reg.call("OpretDebitorkonto", el(OPRET_KONTO))
    assert not reply.ok and reply.reaction == "FEJL"
    assert reply.errors == [
        BusinessError("OIR-CPR", "CPR-nummer er ugyldigt", "Debitor/Part/CPRNummer"),
        BusinessError("OIR-NAVN", "Navn mangler", None),
    ]


def test_raise_on_business_error_turns_fejlsamling_into_business_fault(
        rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, REG_URL, body=envelope(KONTO_FEJL))
    client = DebitorRegistreringClient(REG_URL, raise_on_business_error=True)
    with pytest.raises(BusinessFault) as info:
        client.call("OpretDebitorkonto", el(OPRET_KONTO))
    assert [e.code for e in info.value.errors] == ["OIR-CPR", "OIR-NAVN"]
    assert "CPR-nummer er ugyldigt" in str(info.value)
    assert info.value.reply.reaction == "FEJL" and info.value.http_status == 200


def test_psrm_answer_gives_per_action_status_and_rejection_reasons(
        rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, MF_URL, body=envelope(INDBERET_SVAR))
    reply = MFFordringIndberetClient(MF_URL).mf_fordring_indberet(el(INDBERET))

    # PSRM's empty SvarReaktion: the delivery was handled
    assert reply.reaction == "OK" and reply.transaction_id == "T-1_frbm" and reply.errors == []
    first, second = reply.actions
    assert (first.action_id, first.code, first.status, first.efi_claim_id, first.claim_ref) == (
        "71", "OPRETFORDRING", "MODTAGET", "881", "REF-1")
    assert first.reasons == [] and not first.rejected
    assert first.status_changed == datetime(2026, 11, 23, 12, 0, 2, 503000)
    assert first.received == datetime(2026, 11, 23, 12, 0, 2, 118000)
    assert (second.action_id, second.status, second.efi_claim_id, second.claim_ref) == (
        "72", "AFVIST", None, "REF-2")
    assert second.reasons == [
        ("215", "Fordringsbeløb ikke større end nedre grænse"),
        ("152", "Der må ikke indberettes på denne ValutaKode ifølge fordringhaveraftale")]
    assert reply.rejected_actions == [second] and not reply.ok
    assert rsps.calls[0].request.headers["SOAPAction"] == (
        '"http://skat.dk/psrm/wsdl/soap11/MFFordringIndberet/1/MFFordringIndberet"')


def test_psrm_rejection_raises_when_asked(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, MF_URL, body=envelope(INDBERET_SVAR))
    client = MFFordringIndberetClient(MF_URL, raise_on_business_error=True)
    with pytest.raises(BusinessFault, match="72 AFVIST: 215 Fordringsbeløb ikke større") as info:
        client.call("MFFordringIndberet", el(INDBERET))
    assert [a.action_id for a in info.value.reply.actions] == ["71", "72"]  # nothing lost


def test_psrm_refusal_of_a_whole_request_is_read_from_svarreaktion(
        rsps: responses.RequestsMock) -> None:
    refused = INDBERET_SVAR.replace("<k:SvarReaktion/>", (
        "<k:SvarReaktion><k:Fejl><k:FejlNummer>600</k:FejlNummer>"
        "<k:FejlTekst>AktionId eksisterer allerede i PSRM</k:FejlTekst></k:Fejl>"
        "</k:SvarReaktion>"))
    rsps.add(responses.POST, MF_URL, body=envelope(refused))
    reply = MFFordringIndberetClient(MF_URL).mf_fordring_indberet(el(INDBERET))
    assert reply.reaction == "FEJL" and not reply.ok
    assert [(e.code, e.text) for e in reply.errors] == [
        ("600", "AktionId eksisterer allerede i PSRM")]


# ------------------------------------------------------------------ faults and failures


@pytest.mark.parametrize("status", [500, 200])
def test_soap_fault_with_detail(rsps: responses.RequestsMock, reg: DebitorRegistreringClient,
                                status: int) -> None:
    rsps.add(responses.POST, REG_URL, body=envelope(FAULT), status=status)
    with pytest.raises(SoapFaultError) as info:
        reg.call("OpretDebitorkonto", el(OPRET_KONTO))
    fault = info.value
    assert fault.faultcode == "soap:Client" and fault.kind == "Client"
    assert fault.faultstring == "Request does not validate against the schema"
    assert fault.violations == [
        "/OpretDebitorkontoRequest/MyndighedCVR: value does not match pattern [0-9]{8}",
        "/OpretDebitorkontoRequest/Kontotype: value must be one of PERSON, VIRKSOMHED, DOEDSBO",
    ]
    assert fault.detail is not None and etree.QName(fault.detail).localname == "detail"
    assert fault.http_status == status and not fault.retryable
    assert fault.operation == "OpretDebitorkonto" and fault.endpoint == REG_URL
    assert fault.sent is not None and b"OpretDebitorkontoRequest" in fault.sent


def test_http_503_is_service_unavailable_and_retryable(rsps: responses.RequestsMock,
                                                       reg: DebitorRegistreringClient) -> None:
    rsps.add(responses.POST, REG_URL, body="Service Unavailable", status=503,
             content_type="text/plain", headers={"Retry-After": "5"})
    with pytest.raises(ServiceUnavailableError) as info:
        reg.call("OpretDebitorkonto", el(OPRET_KONTO))
    assert isinstance(info.value, HttpError)
    assert info.value.status == 503 and info.value.body == b"Service Unavailable"
    assert info.value.retry_after == 5.0 and info.value.retryable


def test_http_500_with_non_xml_body_is_an_http_error(rsps: responses.RequestsMock,
                                                     reg: DebitorRegistreringClient) -> None:
    rsps.add(responses.POST, REG_URL, body="<html><body>Internal Server Error", status=500,
             content_type="text/html")
    with pytest.raises(HttpError) as info:
        reg.call("OpretDebitorkonto", el(OPRET_KONTO))
    assert type(info.value) is HttpError
    assert info.value.status == 500 and not info.value.retryable
    assert info.value.body.startswith(b"<html>")


def test_read_timeout_is_a_client_timeout(rsps: responses.RequestsMock,
                                          reg: DebitorRegistreringClient) -> None:
    rsps.add(responses.POST, REG_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(ClientTimeoutError) as info:
        reg.call("OpretDebitorkonto", el(OPRET_KONTO))
    assert isinstance(info.value, TimeoutError) and isinstance(info.value, TransportError)
    assert info.value.retryable and info.value.sent is not None


def test_connection_error_is_a_transport_error(rsps: responses.RequestsMock,
                                               reg: DebitorRegistreringClient) -> None:
    rsps.add(responses.POST, REG_URL, body=requests.exceptions.ConnectionError("reset by peer"))
    with pytest.raises(TransportError) as info:
        reg.call("OpretDebitorkonto", el(OPRET_KONTO))
    assert not isinstance(info.value, ClientTimeoutError)
    assert "reset by peer" in str(info.value)


@pytest.mark.parametrize(("body", "reason"), [
    (envelope(KONTO_OK)[:180], "not well-formed XML"),
    (b"this is not xml", "not well-formed XML"),
    (b"", "empty body"),
    (b"<html/>", "not a SOAP 1.1 Envelope"),
    (envelope(KONTO_OK).replace(SOAP11_ENV_NS.encode(),
                                contracts.SOAP12_ENV_NS.encode()), "SOAP 1.2"),
    (envelope(KONTO_OK + KONTO_OK), "Body holds 2 elements"),
    (f'<soap:Envelope xmlns:soap="{SOAP11_ENV_NS}"/>'.encode(), "no Body"),
])
def test_truncated_or_malformed_reply(rsps: responses.RequestsMock,
                                      reg: DebitorRegistreringClient, body: bytes,
                                      reason: str) -> None:
    rsps.add(responses.POST, REG_URL, body=body)
    with pytest.raises(MalformedReplyError, match=reason) as info:
        reg.call("OpretDebitorkonto", el(OPRET_KONTO))
    assert info.value.received == body and info.value.http_status == 200


def test_reply_with_an_entity_is_refused_not_expanded(rsps: responses.RequestsMock,
                                                      reg: DebitorRegistreringClient) -> None:
    evil = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            + envelope(KONTO_OK.replace("K-100", "&e;")).split(b"?>", 1)[1])
    rsps.add(responses.POST, REG_URL, body=evil)
    with pytest.raises(MalformedReplyError, match="document type declaration"):
        reg.call("OpretDebitorkonto", el(OPRET_KONTO))


def test_schema_invalid_reply_is_a_schema_error(rsps: responses.RequestsMock,
                                                reg: DebitorRegistreringClient) -> None:
    rsps.add(responses.POST, REG_URL, body=envelope(konto_svar("MAYBE")))
    with pytest.raises(SchemaError) as info:
        reg.call("OpretDebitorkonto", el(OPRET_KONTO))
    assert len(info.value.violations) == 1
    assert "SvarReaktion" in info.value.violations[0].path
    assert info.value.element is not None


def test_schema_validation_is_switchable(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, REG_URL, body=envelope(konto_svar("MAYBE")))
    reply = DebitorRegistreringClient(REG_URL, validate_replies=False).call(
        "OpretDebitorkonto", el(OPRET_KONTO))
    assert reply.reaction == "MAYBE" and reply.ok


def test_reply_for_another_operation_is_a_schema_error(rsps: responses.RequestsMock,
                                                       reg: DebitorRegistreringClient) -> None:
    other = KONTO_OK.replace("OpretDebitorkontoResponse", "RetFordringTilstandResponse")
    other = other.replace("<oir:DebitorkontoNummer>K-100</oir:DebitorkontoNummer>"
                          "<oir:Oprettet>true</oir:Oprettet>", "")
    assert contracts.validate_element(el(other)) == []  # valid on its own…
    rsps.add(responses.POST, REG_URL, body=envelope(other))
    with pytest.raises(SchemaError, match="expected .*OpretDebitorkontoResponse"):
        reg.call("OpretDebitorkonto", el(OPRET_KONTO))  # …but not the answer to this call


def test_invalid_request_is_refused_before_sending_when_asked(
        rsps: responses.RequestsMock) -> None:
    client = DebitorRegistreringClient(REG_URL, validate_requests=True)
    bad = el(OPRET_KONTO.replace("29189846", "123"))
    with pytest.raises(SchemaError, match="request does not validate"):
        client.call("OpretDebitorkonto", bad)
    assert len(rsps.calls) == 0


# ------------------------------------------------------------------ headers and security


def _security(rsps: responses.RequestsMock) -> etree._Element:
    found = sent_envelope(rsps).find(f"{{{SOAP11_ENV_NS}}}Header/{{{WSSE_NS}}}Security")
    assert found is not None
    return found


def test_username_token_text(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, REG_URL, body=envelope(KONTO_OK))
    DebitorRegistreringClient(REG_URL, username="fag", password="hemmeligt").call(
        "OpretDebitorkonto", el(OPRET_KONTO))
    token = _security(rsps).find(f"{{{WSSE_NS}}}UsernameToken")
    assert token is not None
    assert token.findtext(f"{{{WSSE_NS}}}Username") == "fag"
    password = token.find(f"{{{WSSE_NS}}}Password")
    assert password is not None and password.text == "hemmeligt"
    assert password.get("Type", "").endswith("#PasswordText")


def test_username_token_digest(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, REG_URL, body=envelope(KONTO_OK))
    DebitorRegistreringClient(REG_URL, username="fag", password="hemmeligt", digest=True).call(
        "OpretDebitorkonto", el(OPRET_KONTO))
    token = _security(rsps).find(f"{{{WSSE_NS}}}UsernameToken")
    assert token is not None
    password = token.find(f"{{{WSSE_NS}}}Password")
    assert password is not None and password.get("Type", "").endswith("#PasswordDigest")
    nonce = base64.b64decode(token.findtext(f"{{{WSSE_NS}}}Nonce") or "")
    created = next(e.text for e in token if etree.QName(e).localname == "Created")
    assert created is not None
    expected = base64.b64encode(hashlib.sha1(nonce + created.encode() + b"hemmeligt").digest())
    assert password.text == expected.decode()


def _invocation_context(user: str) -> etree._Element:
    ns = "http://serviceplatformen.dk/xml/schemas/InvocationContext/1/"
    ctx = etree.Element(f"{{{ns}}}InvocationContext", nsmap={"ic": ns})
    etree.SubElement(ctx, f"{{{ns}}}UserID").text = user
    return ctx


def _header_texts(rsps: responses.RequestsMock, index: int) -> list[str]:
    header = sent_envelope(rsps, index).find(f"{{{SOAP11_ENV_NS}}}Header")
    assert header is not None
    return [str(t).strip() for t in header.itertext() if str(t).strip()]


def test_extra_soap_headers_fixed_callable_and_per_call(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, REG_URL, body=envelope(KONTO_OK))
    rsps.add(responses.POST, REG_URL, body=envelope(KONTO_OK))
    counter = iter(range(1, 10))

    def fresh() -> list[etree._Element]:
        return [_invocation_context(f"user-{next(counter)}")]

    client = DebitorRegistreringClient(REG_URL, headers=fresh, username="fag", password="pw")
    client.call("OpretDebitorkonto", el(OPRET_KONTO))
    client.call("OpretDebitorkonto", el(OPRET_KONTO), headers=[_invocation_context("extra")])
    assert _header_texts(rsps, 0) == ["user-1", "fag", "pw"]
    assert _header_texts(rsps, 1) == ["extra", "user-2", "fag", "pw"]


def test_injected_session_plugins_and_http_headers_are_used(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, REG_URL, body=envelope(KONTO_OK))
    session = requests.Session()
    session.headers["X-Caller"] = "test-suite"
    history = HistoryPlugin()
    client = DebitorRegistreringClient(REG_URL, session=session, plugins=[history],
                                       http_headers={"X-Api-Key": "k"}, timeout=2.5)
    client.call("OpretDebitorkonto", el(OPRET_KONTO))
    request = rsps.calls[0].request
    assert request.headers["X-Caller"] == "test-suite" and request.headers["X-Api-Key"] == "k"
    assert sent_timeout(rsps) == 2.5
    assert history.last_sent is not None and history.last_received is not None
    received = history.last_received["envelope"]
    assert received.find(f".//{{{OIR_NS}}}DebitorkontoNummer").text == "K-100"
    client.close()
    assert session.adapters  # an injected session is the caller's to close


# ------------------------------------------------------------------ keyword style (zeep)


def _konto_kwargs() -> dict[str, object]:
    return {
        "Hovedoplysninger": {"TransaktionsID": TX, "TransaktionsTid": "2026-11-23T12:00:00"},
        "MyndighedCVR": "29189846", "FagsystemID": "FAG-1", "FagsystemReference": "REF-1",
        "Debitor": {"Part": {"CPRNummer": "0101701234"}, "Navn": "Jens Jensen"},
        "Kontotype": "PERSON",
    }


def test_keyword_call_builds_a_valid_request(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, REG_URL, body=envelope(KONTO_OK))
    client = DebitorRegistreringClient(REG_URL, username="fag", password="pw",
                                       headers=[_invocation_context("u")])
    result = client.service.OpretDebitorkonto(**_konto_kwargs())
    assert result.DebitorkontoNummer == "K-100" and result.Oprettet is True
    body = sent_body(rsps)
    assert body.tag == f"{{{OIR_NS}}}OpretDebitorkontoRequest"
    assert contracts.validate_element(body) == []
    assert shape(body) == shape(el(OPRET_KONTO))  # same names, order and values
    request = rsps.calls[0].request
    assert request.headers["SOAPAction"].endswith('/DebitorRegistreringAfsend/1/OpretDebitorkonto"')
    assert _header_texts(rsps, 0) == ["u", "fag", "pw"]
    assert "OpretDebitorkonto" in dir(client.service)


def test_keyword_call_to_psrm_with_danish_names_and_the_kontekst_header(
        rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, MF_URL, body=envelope(INDBERET_SVAR))
    result = MFFordringIndberetClient(MF_URL).service.MFFordringIndberet(
        Kontekst={"HovedOplysninger": {"TransaktionsID": "T-1_frbm",
                                       "TransaktionsTid": "2026-11-23T12:00:00"}},
        FordringhaverSystemIDStruktur={"VirksomhedSENummer": "12345678"},
        MFLeveranceID="7001",
        FordringAktionSamling={"FordringAktion": [{
            "MFAktionKode": "TILBAGEKALD", "DMIFordringHaverID": "4711",
            "AktionValg": {"MFTilbagekaldFordringStruktur": {
                "DMIFordringEFIFordringID": "990",
                "HovedFordringTilbagekaldÅrsagStruktur": {
                    "HovedFordringTilbageÅrsagKode": "HENS"}}}}]})
    body = sent_body(rsps)
    assert contracts.validate_element(body) == []
    assert shape(body) == shape(el(INDBERET))
    statuses = result.FordringInfo.FordringAktionStatusSamling.MFAktionStruktur
    assert [a.MFAktionStatusKode for a in statuses] == ["MODTAGET", "AFVIST"]


def test_keyword_call_translates_errors(rsps: responses.RequestsMock) -> None:
    client = DebitorRegistreringClient(REG_URL)
    rsps.add(responses.POST, REG_URL, body=envelope(FAULT), status=500)
    with pytest.raises(SoapFaultError) as fault:
        client.service.OpretDebitorkonto(**_konto_kwargs())
    assert fault.value.kind == "Client" and len(fault.value.violations) == 2

    rsps.add(responses.POST, REG_URL, body="down", status=503)
    with pytest.raises(ServiceUnavailableError):
        client.service.OpretDebitorkonto(**_konto_kwargs())

    rsps.add(responses.POST, REG_URL, body=envelope(konto_svar("MAYBE")))
    with pytest.raises(SchemaError):
        client.service.OpretDebitorkonto(**_konto_kwargs())

    rsps.add(responses.POST, REG_URL, body=requests.exceptions.ConnectTimeout("slow"))
    with pytest.raises(ClientTimeoutError):
        client.service.OpretDebitorkonto(**_konto_kwargs())

    with pytest.raises(AttributeError):
        client.service.MFFordringIndberet  # noqa: B018
    assert isinstance(client.zeep, zeep.proxy.ServiceProxy)


# ------------------------------------------------------------------ contracts, factory


def test_clients_for_gives_all_eight_at_their_paths_without_network(
        rsps: responses.RequestsMock) -> None:
    clients = clients_for(BASE + "/")  # any HTTP while loading would fail inside rsps
    names = [c.contract.name for c in clients]
    assert names == [s.name for s in contracts.SERVICES]
    for client, svc in zip(clients, contracts.SERVICES, strict=True):
        assert client.endpoint == BASE + svc.path
        assert client.session is clients.session
        assert client.zeep._binding_options["address"] == client.endpoint
    assert clients["MFKvitteringHent"] is clients.mf_kvittering_hent
    assert clients.for_operation("ForetagModregning") is clients.debitor_modregning
    assert len(rsps.calls) == 0
    clients.close()


def test_generic_client_by_name_or_service_and_default_address() -> None:
    by_name = ServiceClient("MFUnderretSamlingHent")
    assert by_name.endpoint == "http://localhost:8080/psrm/MFUnderretSamlingHent/1"
    by_service = ServiceClient(contracts.service("DebitorModregning"), "http://h:1/x")
    assert by_service.contract.name == "DebitorModregning" and by_service.endpoint == "http://h:1/x"
    with pytest.raises(KeyError):
        ServiceClient("NoSuchService")


def test_contract_transport_never_fetches_over_http(tmp_path: Path) -> None:
    with pytest.raises(ClientError, match="refusing to fetch"):
        ContractTransport().load("http://example.invalid/x.xsd")
    wsdl = contracts.wsdl_path("oir/DebitorModregning.wsdl").read_text(encoding="utf-8")
    remote = tmp_path / "remote.wsdl"
    remote.write_text(wsdl.replace('schemaLocation="../../xsd/oir/Debitor.xsd"',
                                   'schemaLocation="http://example.invalid/Debitor.xsd"'),
                      encoding="utf-8")
    with responses.RequestsMock() as mock, pytest.raises(Exception) as info:
        zeep.Client(str(remote), transport=ContractTransport(),
                    settings=zeep.Settings(forbid_external=False))
    assert "refusing to fetch" in str(info.value)
    assert len(mock.calls) == 0


def test_fault_violations_reads_the_usual_detail_shapes() -> None:
    detail = el("""<detail>
      <Fejl><Sti>/a/b</Sti><Tekst>for lang</Tekst></Fejl>
      <Fejl><Sti>/a/c</Sti><Tekst>mangler</Tekst></Fejl>
      <Note>se dokumentationen</Note>
    </detail>""")
    assert fault_violations(detail) == ["/a/b: for lang", "/a/c: mangler", "se dokumentationen"]
    assert fault_violations(el("<detail><m>x</m><m>y</m></detail>")) == ["x", "y"]
    assert fault_violations(el("<detail/>")) == []
    assert fault_violations(None) == []


# ------------------------------------------------------------------ the documented examples

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


def _examples(kind: str) -> list[pytest.ParameterSet]:
    """``(operation, request file, response file)`` for each documented operation."""
    out = []
    for request in sorted(EXAMPLES.glob("*.request.xml")):
        operation = request.name.split(".")[0]
        for response in sorted(EXAMPLES.glob(f"{operation}.response{kind}.xml")):
            out.append(pytest.param(operation, request, response, id=response.name))
    return out


def _example_body(path: Path) -> etree._Element:
    root = etree.parse(str(path), contracts.safe_parser()).getroot()
    body = root.find(f"{{{SOAP11_ENV_NS}}}Body")
    return root if body is None else body[0]


@pytest.mark.parametrize(("operation", "request_file", "response_file"), _examples(""))
def test_documented_examples_round_trip(rsps: responses.RequestsMock, operation: str,
                                        request_file: Path, response_file: Path) -> None:
    op = next(o for o in contracts.operations() if o.name == operation)
    url = BASE + op.service.path
    rsps.add(responses.POST, url, body=envelope(etree.tostring(
        _example_body(response_file), encoding="unicode")))
    reply = ServiceClient(op.service, url).call(operation, _example_body(request_file))
    assert reply.element.tag == f"{{{op.namespace}}}{op.response}"
    assert reply.reaction in ("OK", "FEJL", "ADVARSEL")
    assert shape(sent_body(rsps)) == shape(_example_body(request_file))


@pytest.mark.parametrize(("operation", "request_file", "response_file"), _examples(".invalid"))
def test_documented_invalid_replies_are_schema_errors(
        rsps: responses.RequestsMock, operation: str, request_file: Path,
        response_file: Path) -> None:
    op = next(o for o in contracts.operations() if o.name == operation)
    url = BASE + op.service.path
    rsps.add(responses.POST, url, body=envelope(etree.tostring(
        _example_body(response_file), encoding="unicode")))
    with pytest.raises(SchemaError) as info:
        ServiceClient(op.service, url).call(operation, _example_body(request_file))
    assert info.value.violations


# ------------------------------------------------------------------ real loopback sockets


def _serve_once(handler: Callable[[socket.socket], object]) -> tuple[str, threading.Thread]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def run() -> None:
        conn, _ = server.accept()
        try:
            conn.recv(65536)
            handler(conn)
        finally:
            conn.close()
            server.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{port}/oir/DebitorRegistrering/1", thread


def test_connection_refused_is_a_transport_error() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    client = DebitorRegistreringClient(f"http://127.0.0.1:{port}/x", timeout=(1, 1))
    with pytest.raises(TransportError) as info:
        client.call("OpretDebitorkonto", el(OPRET_KONTO))
    assert not isinstance(info.value, ClientTimeoutError) and info.value.retryable


def test_dropped_connection_is_a_transport_error() -> None:
    url, thread = _serve_once(lambda conn: None)  # read the request, hang up
    with pytest.raises(TransportError):
        DebitorRegistreringClient(url, timeout=(1, 2)).call("OpretDebitorkonto",
                                                            el(OPRET_KONTO))
    thread.join(2)


def test_reply_cut_short_of_content_length_is_a_transport_error() -> None:
    def half(conn: socket.socket) -> None:
        body = envelope(KONTO_OK)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:100])

    url, thread = _serve_once(half)
    with pytest.raises(TransportError):
        DebitorRegistreringClient(url, timeout=(1, 2)).call("OpretDebitorkonto",
                                                            el(OPRET_KONTO))
    thread.join(2)


def test_silent_server_times_out() -> None:
    gate = threading.Event()
    url, thread = _serve_once(lambda conn: gate.wait(2))
    with pytest.raises(ClientTimeoutError):
        DebitorRegistreringClient(url, timeout=(1, 0.2)).call("OpretDebitorkonto",
                                                              el(OPRET_KONTO))
    gate.set()
    thread.join(2)
