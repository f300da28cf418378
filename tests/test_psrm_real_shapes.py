"""Real-shaped PSRM traffic over HTTP: the element trees real fordringshaver systems and
PSRM's own intake send (public PSRM integration-test material, see docs/contracts.md),
with this project's own values. Each is accepted by the emulator's PSRM end and answered in
the real reply shape, every action code is booked as PSRM would, and the adapter decodes
the real answers.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from lxml import etree

from emulator import clock, psrm
from oir_adapter import mapping
from oir_adapter.clients.reply import read_psrm_outcome
from oir_adapter.contracts import KONTEKST_NS, PSRM_NS, safe_parser, validate_element
from oir_adapter.model import PsrmActionCode, PsrmStatus

from .emulator_inproc import InProcessEmulator, live_server

M = "{" + PSRM_NS + "}"
K = "{" + KONTEKST_NS + "}"
SE = "31415926"
FH = "2718"  # our DMIFordringHaverID
ISSUER = "fordringshaver.test"
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$")  # as PSRM writes its dates


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, InProcessEmulator]]:
    # the PSRM end checks the SAML header a fordringshaver system sends
    with live_server(tmp_path, saml_issuer=ISSUER) as (url, emu):
        with emu.runtime.store.transaction() as conn:
            clock.set_now(conn, datetime(2026, 6, 15, 10, 30))
        yield url, emu


def saml_header() -> str:
    """``wsse:Security`` with an unsigned SAML 1.1 sender-vouches assertion, as the
    fordringshaver system sends it (default namespace, attributes, groups)."""
    now = datetime.now(UTC)
    fmt = "%Y-%m-%dT%H:%M:%S.000Z"
    subject = ("<Subject><NameIdentifier Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:"
               "unspecified\" NameQualifier=\"skat\">systemGuid=FH2718,ou=systems</NameIdentifier>"
               "<SubjectConfirmation><ConfirmationMethod>urn:oasis:names:tc:SAML:1.0:cm:"
               "sender-vouches</ConfirmationMethod></SubjectConfirmation></Subject>")
    return f"""<soapenv:Header>
      <wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">
        <Assertion AssertionID="a{uuid.uuid4().hex}" IssueInstant="{now:{fmt}}" Issuer="{ISSUER}"
            MajorVersion="1" MinorVersion="1" xmlns="urn:oasis:names:tc:SAML:1.0:assertion"
            xmlns:saml="urn:oasis:names:tc:SAML:1.0:assertion"
            xmlns:samlp="urn:oasis:names:tc:SAML:1.0:protocol">
          <Conditions NotBefore="{now - timedelta(minutes=5):{fmt}}"
                      NotOnOrAfter="{now + timedelta(hours=1):{fmt}}"/>
          <AuthenticationStatement AuthenticationInstant="{now:{fmt}}"
              AuthenticationMethod="urn:oasis:names:tc:SAML:1.0:am:unspecified">{subject}
          </AuthenticationStatement>
          <AttributeStatement>{subject}
            <Attribute AttributeName="Groups" AttributeNamespace="urn:bea:security:saml:groups">
              <AttributeValue>AUTH_LEVEL_6</AttributeValue>
              <AttributeValue>EFIFordringshaverPRG</AttributeValue>
            </Attribute>
          </AttributeStatement>
        </Assertion>
      </wsse:Security>
    </soapenv:Header>"""


def envelope(body: str, *, header: str | None = None) -> bytes:
    return f"""<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:ns="http://skat.dk/begrebsmodel/2009/01/15/">
    {saml_header() if header is None else header}
    <soapenv:Body>{body}</soapenv:Body>
</soapenv:Envelope>""".encode()


def kontekst(transaction_id: str | None = None) -> str:
    tid = transaction_id or f"{uuid.uuid4()}_frbm"
    return f"""<Kontekst>
      <sk:HovedOplysninger xmlns:sk="http://skat.dk/begrebsmodel/xml/schemas/kontekst/2007/05/31/">
        <sk:TransaktionsID>{tid}</sk:TransaktionsID>
        <sk:TransaktionsTid>2026-06-15T10:29:58.412</sk:TransaktionsTid>
      </sk:HovedOplysninger>
    </Kontekst>"""


def indberet(*actions: str, delivery: str | None = None, head: str | None = None) -> str:
    return f"""<MFFordringIndberet_I xmlns="http://skat.dk/begrebsmodel/2009/01/15/">
      {kontekst() if head is None else head}
      <FordringhaverSystemIDStruktur><VirksomhedSENummer>{SE}</VirksomhedSENummer></FordringhaverSystemIDStruktur>
      <MFLeveranceID>{delivery or str(uuid.uuid4().int)[:13]}</MFLeveranceID>
      <FordringAktionSamling>{"".join(actions)}</FordringAktionSamling>
    </MFFordringIndberet_I>"""


def aktion(code: str, choice: str) -> str:
    return (f"<FordringAktion><MFAktionKode>{code}</MFAktionKode>"
            f"<DMIFordringHaverID>{FH}</DMIFordringHaverID><AktionValg>{choice}</AktionValg>"
            "</FordringAktion>")


def opret(ref: str, amount: str = "2480.50", *, art: str = "INDR", extra: str = "",
          hæftelse: str | None = None) -> str:
    """An OPRETFORDRING exactly as the fordringshaver system sends it: empty case notes and
    documents, the fordringshaver id repeated, both booleans on the hæftelse, an empty
    related-claims collection. ``extra`` goes between type code and reference (PSRM's
    intake adds its ids there)."""
    liable = hæftelse or """<MFHæftelseStruktur>
        <MFKundeStruktur><Valg><PersonCPRNummer>1702642201</PersonCPRNummer></Valg></MFKundeStruktur>
        <HæftelseForældelseDato>2029-04-30</HæftelseForældelseDato>
        <HæftelseDom>false</HæftelseDom><HæftelseForlig>false</HæftelseForlig>
      </MFHæftelseStruktur>"""
    return aktion("OPRETFORDRING", f"""<OpretFordringAktion><MFOpretFordringStruktur>
      <DMIFordringFordringArtKode>{art}</DMIFordringFordringArtKode>
      <DMIFordringTypeKode>CFFAKTU</DMIFordringTypeKode>{extra}
      <DMIFordringFordringHaverRef>{ref}</DMIFordringFordringHaverRef>
      <DMIFordringStiftelseTidspunkt>2026-01-12</DMIFordringStiftelseTidspunkt>
      <DMIFordringForfaldDato>2026-02-01</DMIFordringForfaldDato>
      <DMIFordringSRBDato>2026-02-16</DMIFordringSRBDato>
      <FordringBeløbStruktur><ValutaKode>DKK</ValutaKode><DMIFordringBeløb>{amount}</DMIFordringBeløb></FordringBeløbStruktur>
      <FordringPeriodeStruktur><DMIFordringPeriodeFraDato>2026-01-01</DMIFordringPeriodeFraDato>
        <DMIFordringPeriodeTilDato>2026-01-31</DMIFordringPeriodeTilDato></FordringPeriodeStruktur>
      <FordringOprindeligBeløbStruktur><ValutaKode>DKK</ValutaKode>
        <EFIFordringOprindeligBeløb>{amount}</EFIFordringOprindeligBeløb></FordringOprindeligBeløbStruktur>
      <SagsbemærkningSamling/>
      <DokumentSamling/>
      <DMIFordringHaverID>{FH}</DMIFordringHaverID>
      <FordringHæftelseSamling>{liable}</FordringHæftelseSamling>
    </MFOpretFordringStruktur><OpretUnderfordringSamling/></OpretFordringAktion>""")


def post(url: str, operation: str, data: bytes) -> requests.Response:
    return requests.post(f"{url}/psrm/{operation}/1", data=data, timeout=30,
                         headers={"Content-Type": "text/xml; charset=utf-8",
                                  "SOAPAction": f'"{operation}"'})


def answer(response: requests.Response) -> etree._Element:
    assert response.status_code == 200, response.text[:2000]
    body = etree.fromstring(response.content, safe_parser())[-1][0]
    assert validate_element(body) == []
    return body


def statuses(body: etree._Element) -> list[tuple[str, str, list[str]]]:
    return [(a.findtext(M + "MFAktionKode") or "", a.findtext(M + "MFAktionStatusKode") or "",
             [n.text or "" for n in a.iter(M + "MFAktionAfvistNummer")])
            for a in body.iter(M + "MFAktionStruktur")]


def deliver(url: str, *actions: str) -> etree._Element:
    return answer(post(url, "MFFordringIndberet", envelope(indberet(*actions))))


def created(url: str, ref: str, amount: str = "2480.50", *, art: str = "INDR") -> str:
    body = deliver(url, opret(ref, amount, art=art))
    [(code, status, reasons)] = statuses(body)
    assert (code, status, reasons) == ("OPRETFORDRING", "MODTAGET", [])
    efi = body.findtext(f".//{M}DMIFordringEFIFordringID")
    assert efi and efi.isdigit()
    return efi


def balance(emu: InProcessEmulator, efi: str) -> tuple[str, str, str]:
    with emu.runtime.store.transaction() as conn:
        c = next(c for c in psrm.claims(conn) if c["efi_claim_id"] == efi)
    return c["status"], c["amount"], c["remaining"]


# ---------------------------------------------------------------- OPRETFORDRING

def test_a_fordringshaver_delivery_is_accepted_in_the_real_reply_shape(
        server: tuple[str, InProcessEmulator]) -> None:
    url, _ = server
    tid = f"{uuid.uuid4()}_frbm"
    response = post(url, "MFFordringIndberet",
                    envelope(indberet(opret("FH-2026-0001"), delivery="1781519398001",
                                      head=kontekst(tid))))
    body = answer(response)
    assert etree.QName(body).localname == "MFFordringIndberet_O"
    # Kontekst in the begrebsmodel namespace, its head in the kontekst namespace
    head = body.find(f"{M}Kontekst/{K}HovedOplysningerSvar")
    assert head is not None
    assert [etree.QName(e).localname for e in head] == [
        "TransaktionsID", "ServiceID", "TransaktionsTid", "SvarReaktion"]
    assert head.findtext(K + "TransaktionsID") == tid
    assert head.findtext(K + "ServiceID") == "MFFordringIndberet"
    reaction = head.find(K + "SvarReaktion")
    assert reaction is not None and len(reaction) == 0 and not (reaction.text or "").strip()
    info = body.find(M + "FordringInfo")
    assert info is not None
    assert info.findtext(f"{M}FordringhaverSystemIDStruktur/{M}VirksomhedSENummer") == SE
    assert info.findtext(M + "MFLeveranceID") == "1781519398001"
    (action,) = info.iterfind(f"{M}FordringAktionStatusSamling/{M}MFAktionStruktur")
    assert [etree.QName(e).localname for e in action] == [
        "DMIFordringEFIFordringID", "DMIFordringEFIHovedFordringID",
        "DMIFordringFordringHaverRef", "MFAktionID", "MFAktionKode", "DMIFordringHaverID",
        "MFAktionStatusKode", "MFAktionStatusÆndretDato", "DMIFordringModtagelseDato",
        "AfvistÅrsagSamling"]
    values = {etree.QName(e).localname: (e.text or "").strip() for e in action}
    assert values["DMIFordringEFIFordringID"].isdigit()
    assert values["DMIFordringEFIFordringID"] == values["DMIFordringEFIHovedFordringID"]
    assert values["MFAktionID"].isdigit()
    assert (values["DMIFordringFordringHaverRef"], values["MFAktionKode"],
            values["DMIFordringHaverID"], values["MFAktionStatusKode"]) == (
        "FH-2026-0001", "OPRETFORDRING", FH, "MODTAGET")
    assert STAMP.match(values["MFAktionStatusÆndretDato"])
    assert STAMP.match(values["DMIFordringModtagelseDato"])
    assert values["AfvistÅrsagSamling"] == "" and len(action[-1]) == 0

    # the adapter reads the real answer
    reaction_text, transaction_id, errors, outcomes = read_psrm_outcome(body)
    assert (reaction_text, transaction_id, errors) == ("OK", tid, [])
    [receipt] = mapping.decode_receipts(body)
    assert (receipt.code, receipt.status, receipt.claim_ref) == (
        PsrmActionCode.CREATE, PsrmStatus.RECEIVED, "FH-2026-0001")
    assert receipt.status_changed == datetime(2026, 6, 15, 10, 30)


def test_the_saml_header_is_checked(server: tuple[str, InProcessEmulator]) -> None:
    url, _ = server
    unsigned = envelope(indberet(opret("NO-SAML")), header="<soapenv:Header/>")
    response = post(url, "MFFordringIndberet", unsigned)
    assert response.status_code == 500 and b"SAML" in response.content
    other = envelope(indberet(opret("OTHER-ISSUER"))).replace(
        f'Issuer="{ISSUER}"'.encode(), b'Issuer="someone.else"')
    assert post(url, "MFFordringIndberet", other).status_code == 500


def test_an_empty_kontekst_is_accepted(server: tuple[str, InProcessEmulator]) -> None:
    url, _ = server
    body = answer(post(url, "MFFordringIndberet",
                       envelope(indberet(opret("EMPTY-KONTEKST"), head="<Kontekst/>"))))
    assert statuses(body) == [("OPRETFORDRING", "MODTAGET", [])]


def test_psrms_intake_shape_with_its_ids_documents_and_judgment(
        server: tuple[str, InProcessEmulator]) -> None:
    """The richer shape PSRM's own intake sends: action and EFI ids and the receipt time
    inside the claim structure, dates with a zone, a document, a judgment with its date,
    prefixed elements. The sender's MFAktionID is kept; sent again it is 600."""
    url, emu = server
    extra = """<DMIFordringEFIFordringID>7</DMIFordringEFIFordringID>
      <MFAktionID>880055</MFAktionID>"""
    action = opret("INTAKE-1", extra=extra, hæftelse="""<MFHæftelseStruktur>
        <MFKundeStruktur><Valg><VirksomhedCVRNummer>13585628</VirksomhedCVRNummer></Valg></MFKundeStruktur>
        <HæftelseForældelseDato>2030-02-16+01:00</HæftelseForældelseDato>
        <HæftelseDom>true</HæftelseDom><HæftelseDomDato>2026-03-02</HæftelseDomDato>
        <HæftelseForlig>true</HæftelseForlig><HæftelseForligDato>2026-03-09</HæftelseForligDato>
      </MFHæftelseStruktur>""")
    action = action.replace("<DMIFordringStiftelseTidspunkt>2026-01-12</DMIFordringStiftelseTidspunkt>",
                            "<DMIFordringEFIHovedFordringID>7</DMIFordringEFIHovedFordringID>"
                            "<DMIFordringModtagelseDato>2026-06-15T10:29:59.107</DMIFordringModtagelseDato>"
                            "<DMIFordringStiftelseTidspunkt>2026-01-12+01:00</DMIFordringStiftelseTidspunkt>")
    action = action.replace("<DokumentSamling/>", """<DokumentSamling><MFDokumentStruktur>
        <DPDokumentArt>ANDET</DPDokumentArt><DPDokumentEksternReference>DOK-44</DPDokumentEksternReference>
        <DokumentFormatValg><DokumentFil><DokumentFilType>pdf</DokumentFilType>
          <DokumentFilIndhold>JVBERi0xLjQK</DokumentFilIndhold></DokumentFil></DokumentFormatValg>
      </MFDokumentStruktur></DokumentSamling>""")
    action = action.replace("<SagsbemærkningSamling/>", """<SagsbemærkningSamling>
        <MFNoteStruktur><MFNoteTekst>Dom afsagt i fogedretten</MFNoteTekst></MFNoteStruktur>
      </SagsbemærkningSamling>""")
    prefixed = re.sub(r"<(/?)(?![\w]+:)(\w)", r"<\1ns:\2", action)  # every element ns:-prefixed
    body = answer(post(url, "MFFordringIndberet", envelope(indberet(prefixed))))
    assert statuses(body) == [("OPRETFORDRING", "MODTAGET", [])]
    assert body.findtext(f".//{M}MFAktionID") == "880055"

    again = answer(post(url, "MFFordringIndberet",
                        envelope(indberet(action.replace("INTAKE-1", "INTAKE-2")))))
    assert statuses(again) == [("OPRETFORDRING", "AFVIST", ["600"])]
    assert again.findtext(f".//{M}MFAktionAfvistTekst") == "AktionId eksisterer allerede i PSRM"


def test_a_claim_not_above_the_lower_limit_is_215(server: tuple[str, InProcessEmulator]) -> None:
    url, _ = server
    body = deliver(url, opret("AT-LIMIT", "100.00"), opret("ABOVE", "100.01"))
    assert statuses(body) == [("OPRETFORDRING", "AFVIST", ["215"]),
                              ("OPRETFORDRING", "MODTAGET", [])]
    assert body.findtext(f".//{M}MFAktionAfvistTekst") == \
        "Fordringsbeløb ikke større end nedre grænse"


# ---------------------------------------------------------------- every action code

def nedskriv(efi: str, amount: str, reason: str = "INDB", virkning: str = "2026-06-10") -> str:
    dated = f"<FordringNedskrivningVirkningFra>{virkning}+02:00</FordringNedskrivningVirkningFra>" \
        if virkning else ""
    return aktion("NEDSKRIV", f"""<MFNedskrivFordringStruktur>
      <DMIFordringEFIFordringID>{efi}</DMIFordringEFIFordringID>{dated}
      <NedskrivningÅrsagStruktur><FordringNedskrivningÅrsagKode>{reason}</FordringNedskrivningÅrsagKode>
        <FordringNedskrivningÅrsagBegr>Betaling modtaget</FordringNedskrivningÅrsagBegr></NedskrivningÅrsagStruktur>
      <NedskrivningBeløbStruktur><ValutaKode>DKK</ValutaKode>
        <FordringNedskrivningBeløb>{amount}</FordringNedskrivningBeløb></NedskrivningBeløbStruktur>
    </MFNedskrivFordringStruktur>""")


def opskriv(code: str, element: str, efi: str, amount: str, ref: str | None = None) -> str:
    """A write-up in the element order of its real structure (the reference of a reversed
    REGU write-down comes after the date, of an annulled payment before the debtor)."""
    reference = f"<MFAktionIDRef>{ref}</MFAktionIDRef>" if ref else ""
    before = reference if code == "OPSKRIVNINGANNULLERETNEDSKRIVNINGINDBETALING" else ""
    after = reference if code != "OPSKRIVNINGANNULLERETNEDSKRIVNINGINDBETALING" else ""
    debtor = ("<EFIKundeIdentStruktur><IdentValg><PersonCPRNummer>1702642201</PersonCPRNummer>"
              "</IdentValg></EFIKundeIdentStruktur>") if before else ""
    return aktion(code, f"""<{element}>
      <DMIFordringEFIFordringID>{efi}</DMIFordringEFIFordringID>
      <DMIFordringModtagelseDato>2026-06-15T10:29:59.107</DMIFordringModtagelseDato>
      {before}{debtor}<FordringOpskrivningVirkningFra>2026-06-10</FordringOpskrivningVirkningFra>{after}
      <OpskrivningÅrsagStruktur><FordringOpskrivningÅrsagBegr>Korrektion</FordringOpskrivningÅrsagBegr></OpskrivningÅrsagStruktur>
      <SagsbemærkningSamling><MFNoteStruktur><MFNoteTekst>Se sag 17</MFNoteTekst></MFNoteStruktur></SagsbemærkningSamling>
      <DokumentSamling/>
      <HoeringJournalNummer>HJ-17</HoeringJournalNummer>
      <OpskrivningBeløbStruktur><ValutaKode>DKK</ValutaKode>
        <FordringOpskrivningBeløb>{amount}</FordringOpskrivningBeløb></OpskrivningBeløbStruktur>
    </{element}>""")


def annuller_opskrivning(code: str, element: str, efi: str, amount: str, ref: str) -> str:
    debtor = ("<EFIKundeIdentStruktur><IdentValg><PersonCPRNummer>1702642201</PersonCPRNummer>"
              "</IdentValg></EFIKundeIdentStruktur>"
              if code == "NEDSKRIVNINGANNULLERETOPSKRIVNINGINDBETALING" else "")
    return aktion(code, f"""<{element}>
      <DMIFordringEFIFordringID>{efi}</DMIFordringEFIFordringID>
      <DMIFordringModtagelseDato>2026-06-15T10:29:59.107</DMIFordringModtagelseDato>
      <MFAktionIDRef>{ref}</MFAktionIDRef>{debtor}
      <FordringNedskrivningVirkningFra>2026-06-10</FordringNedskrivningVirkningFra>
      <FordringNedskrivningÅrsagBegr>Opskrivningen var en fejl</FordringNedskrivningÅrsagBegr>
      <NedskrivningBeløbStruktur><ValutaKode>DKK</ValutaKode>
        <FordringNedskrivningBeløb>{amount}</FordringNedskrivningBeløb></NedskrivningBeløbStruktur>
    </{element}>""")


def first_action_id(body: etree._Element) -> str:
    found = body.findtext(f".//{M}MFAktionID")
    assert found
    return found


def test_every_action_code_is_accepted_and_booked(server: tuple[str, InProcessEmulator]) -> None:
    url, emu = server
    efi = created(url, "BOOK-1", "1000.00")
    # NEDSKRIV for a payment (INDB) and an adjustment (REGU, no date)
    paid = deliver(url, nedskriv(efi, "150.25"))
    regu = deliver(url, nedskriv(efi, "49.75", reason="REGU", virkning=""))
    assert statuses(paid)[0][1] == statuses(regu)[0][1] == "MODTAGET"
    assert balance(emu, efi) == ("AKTIV", "1000.00", "800.00")
    # OPSKRIVNINGREGULERING raises the claim
    up = deliver(url, opskriv("OPSKRIVNINGREGULERING", "MFOpskrivningReguleringStruktur", efi,
                              "75.50"))
    assert balance(emu, efi) == ("AKTIV", "1075.50", "875.50")
    # the bounced payment and the undone adjustment come back
    deliver(url, opskriv("OPSKRIVNINGANNULLERETNEDSKRIVNINGINDBETALING",
                         "MFOpskrivningAnnulleretNedskrivningIndbetalingStruktur", efi, "150.25",
                         first_action_id(paid)))
    oani = emu_last_action(emu)
    deliver(url, opskriv("OPSKRIVNINGOMGJORTNEDSKRIVNINGREGULERING",
                         "MFOpskrivningOmgjortNedskrivningReguleringStruktur", efi, "49.75",
                         first_action_id(regu)))
    assert balance(emu, efi) == ("AKTIV", "1275.50", "1075.50")
    # and the write-ups are annulled again
    deliver(url, annuller_opskrivning("NEDSKRIVNINGANNULLERETOPSKRIVNINGREGULERING",
                                      "MFNedskrivningAnnulleretOpskrivningReguleringStruktur",
                                      efi, "75.50", first_action_id(up)))
    deliver(url, annuller_opskrivning("NEDSKRIVNINGANNULLERETOPSKRIVNINGINDBETALING",
                                      "MFNedskrivningAnnulleretOpskrivningIndbetalingStruktur",
                                      efi, "150.25", oani))
    assert balance(emu, efi) == ("AKTIV", "1275.50", "849.75")
    # the principal was reported too low: 1000.00 → 1400.00 raises it by the difference
    wrong = deliver(url, aktion("FEJLAGTIGHOVEDSTOLINDBERETNING", f"""
      <MFFejlagtigHovedstolIndberetningStruktur>
        <DMIFordringEFIFordringID>{efi}</DMIFordringEFIFordringID>
        <DMIFordringModtagelseDato>2026-06-15</DMIFordringModtagelseDato>
        <HoeringJournalNummer>HJ-18</HoeringJournalNummer>
        <OpskrivningÅrsagStruktur><FordringOpskrivningÅrsagBegr>Forkert hovedstol</FordringOpskrivningÅrsagBegr></OpskrivningÅrsagStruktur>
        <SagsbemærkningSamling/><DokumentSamling/>
        <FordringOprindeligBeløbStruktur><ValutaKode>DKK</ValutaKode>
          <EFIFordringOprindeligBeløb>1400.00</EFIFordringOprindeligBeløb></FordringOprindeligBeløbStruktur>
      </MFFejlagtigHovedstolIndberetningStruktur>"""))
    assert statuses(wrong) == [("FEJLAGTIGHOVEDSTOLINDBERETNING", "MODTAGET", [])]
    assert balance(emu, efi) == ("AKTIV", "1400.00", "974.25")
    # TILBAGEKALD (deferral), then GENINDSENDFORDRING
    recall = deliver(url, aktion("TILBAGEKALD", f"""<MFTilbagekaldFordringStruktur>
      <DMIFordringEFIFordringID>{efi}</DMIFordringEFIFordringID>
      <HovedFordringTilbagekaldÅrsagStruktur><HovedFordringTilbageÅrsagKode>HENS</HovedFordringTilbageÅrsagKode>
        <HovedFordringTilbageÅrsagBegr>Henstand bevilget</HovedFordringTilbageÅrsagBegr></HovedFordringTilbagekaldÅrsagStruktur>
      <DMIFordringVirkningFra>2026-06-14+02:00</DMIFordringVirkningFra>
    </MFTilbagekaldFordringStruktur>"""))
    assert statuses(recall) == [("TILBAGEKALD", "MODTAGET", [])]
    assert balance(emu, efi)[0] == "TILBAGEKALDT"
    claim_part = opret("BOOK-1", "974.25").split("<OpretFordringAktion>")[1].split(
        "</OpretFordringAktion>")[0]
    resend = deliver(url, aktion("GENINDSENDFORDRING", f"""<MFGenindsendFordringStruktur>
      <DMIFordringEFIFordringID>{efi}</DMIFordringEFIFordringID>{claim_part}
    </MFGenindsendFordringStruktur>"""))
    assert statuses(resend) == [("GENINDSENDFORDRING", "MODTAGET", [])]
    # AENDRFORDRING on an offsetting-only claim
    modr = created(url, "MODR-1", "500.00", art="MODR")
    change = deliver(url, aktion("AENDRFORDRING", f"""<MFAendrFordringStruktur>
      <DMIFordringEFIFordringID>{modr}</DMIFordringEFIFordringID>
      <DMIFordringSRBDato>2026-03-02</DMIFordringSRBDato>
    </MFAendrFordringStruktur>"""))
    assert statuses(change) == [("AENDRFORDRING", "MODTAGET", [])]

    # every action code comes back in receipts, and the adapter decodes each one
    with emu.runtime.store.transaction() as conn:
        ids = [a["action_id"] for a in psrm.actions(conn)]
    kvittering = mapping.kvittering_request(se_number=SE, action_ids=ids)
    got = answer(post(url, "MFKvitteringHent", envelope(etree.tostring(
        kvittering, encoding="unicode"))))
    codes = {r.code for r in mapping.decode_receipts(got)}
    assert codes == set(PsrmActionCode)
    assert all(r.status is PsrmStatus.RECEIVED for r in mapping.decode_receipts(got))


def emu_last_action(emu: InProcessEmulator) -> str:
    with emu.runtime.store.transaction() as conn:
        return str(psrm.actions(conn)[-1]["action_id"])


def test_an_unknown_structure_under_aktionvalg_is_a_client_fault(
        server: tuple[str, InProcessEmulator]) -> None:
    url, _ = server
    unknown = aktion("TILBAGEKALD", "<IKKE_EN_AKTION><DMIFordringEFIFordringID>1"
                                    "</DMIFordringEFIFordringID></IKKE_EN_AKTION>")
    response = post(url, "MFFordringIndberet", envelope(indberet(unknown)))
    assert response.status_code == 500
    fault = etree.fromstring(response.content)
    assert (fault.findtext(".//faultcode") or "").endswith("Client")
    assert "IKKE_EN_AKTION" in response.text  # the fault names what it cannot take
    truncated = b"<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\">" \
                b"<soapenv:Body><ns:MFFordring"
    assert post(url, "MFFordringIndberet", truncated).status_code == 500


# ---------------------------------------------------------------- MFUnderretSamlingHent

def underret(*parts: str, se: str = SE) -> bytes:
    return envelope(f"""<ns:MFUnderretSamlingHent_I>
      <ns:Kontekst/>
      <ns:FordringhaverSystemIDStruktur><ns:VirksomhedSENummer>{se}</ns:VirksomhedSENummer></ns:FordringhaverSystemIDStruktur>
      <ns:FordringHaverSamling><ns:DMIFordringHaverID>{FH}</ns:DMIFordringHaverID></ns:FordringHaverSamling>
      {"".join(parts)}
    </ns:MFUnderretSamlingHent_I>""")


def fra(n: str) -> str:
    return f"<ns:UnderretNummerFra><ns:MFUnderretningNummer>{n}</ns:MFUnderretningNummer></ns:UnderretNummerFra>"


def til(n: str) -> str:
    return f"<ns:UnderretNummerTil><ns:MFUnderretningNummer>{n}</ns:MFUnderretningNummer></ns:UnderretNummerTil>"


def siden(day: str) -> str:
    return f"<ns:SøgeDatoFra><ns:MFUnderretningDatoTid>{day}</ns:MFUnderretningDatoTid></ns:SøgeDatoFra>"


def test_notifications_by_number_range_and_by_date(server: tuple[str, InProcessEmulator]
                                                   ) -> None:
    url, emu = server
    efi = created(url, "PAID-IN-PSRM", "600.00")
    with emu.runtime.store.transaction() as conn:
        psrm.record_payment(conn, efi_claim_id=efi, amount=Decimal("100.00"),
                            day=clock.today(conn))
        psrm.record_payment(conn, efi_claim_id=efi, amount=Decimal("200.00"),
                            day=clock.today(conn))
    every = answer(post(url, "MFUnderretSamlingHent", underret("<ns:SøgeDatoFra/>", fra("1"),
                                                               til("1"))))
    numbers = [int(n.text or 0) for n in every.iter(M + "MFUnderretningNummer")]
    assert numbers == [1]
    both = answer(post(url, "MFUnderretSamlingHent", underret(fra("1"))))
    [first, second] = mapping.decode_notifications(both)
    assert (first.seq_no, first.amount, second.seq_no, second.amount) == (
        1, Decimal("100.00"), 2, Decimal("200.00"))
    assert all(STAMP.match(e.text or "") for e in both.iter(M + "MFUnderretningDatoTid"))
    dated = answer(post(url, "MFUnderretSamlingHent", underret(siden("2026-06-15+02:00"))))
    assert len(mapping.decode_notifications(dated)) == 2
    later = answer(post(url, "MFUnderretSamlingHent", underret(siden("2026-06-16"))))
    assert mapping.decode_notifications(later) == []


@pytest.mark.parametrize(("parts", "message"), [
    ((siden("2026-01-01+01:00"), fra("12"), til("13")),
     "If SøgeDatoFra has a value, the UnderretNummerFra and UnderretNummerTil must not"),
    ((siden("2026-01-01+01:00"), fra("12"), til("")),
     "If UnderretNummerFra has a value, SøgeDatoFra must not"),
    (("<ns:SøgeDatoFra><ns:MFUnderretningDatoTid/></ns:SøgeDatoFra>", fra(""), til("13")),
     "If UnderretNummerTil has a value, UnderretNummerFra must have a value too"),
])
def test_notification_searches_psrm_refuses(server: tuple[str, InProcessEmulator],
                                            parts: tuple[str, ...], message: str) -> None:
    url, _ = server
    response = post(url, "MFUnderretSamlingHent", underret(*parts))
    assert response.status_code == 500
    text = response.content.decode()
    assert "Request validation messages:" in text and message in text


def test_a_notification_search_without_se_number_is_refused(
        server: tuple[str, InProcessEmulator]) -> None:
    url, _ = server
    response = post(url, "MFUnderretSamlingHent", underret(fra("1"), se=""))
    assert response.status_code == 500 and b"VirksomhedSENummer" in response.content


# ---------------------------------------------------------------- the adapter reads real answers

REAL_SHAPED_ANSWER = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<MFFordringIndberet_O xmlns="http://skat.dk/begrebsmodel/2009/01/15/">
    <Kontekst>
        <ns2:HovedOplysningerSvar xmlns:ns="http://skat.dk/begrebsmodel/2009/01/15/" xmlns:ns2="http://skat.dk/begrebsmodel/xml/schemas/kontekst/2007/05/31/">
            <ns2:TransaktionsID>5b0c1e9a-2f3d-4b8e-9c1a-7d6e5f4a3b2c_frbm</ns2:TransaktionsID>
            <ns2:ServiceID>MFFordringIndberet</ns2:ServiceID>
            <ns2:TransaktionsTid>2026-06-15T10:30:02.771</ns2:TransaktionsTid>
            <ns2:SvarReaktion/>
        </ns2:HovedOplysningerSvar>
    </Kontekst>
    <FordringInfo>
        <FordringhaverSystemIDStruktur>
            <VirksomhedSENummer>31415926</VirksomhedSENummer>
        </FordringhaverSystemIDStruktur>
        <MFLeveranceID>1781519398777</MFLeveranceID>
        <FordringAktionStatusSamling>
            <MFAktionStruktur>
                <DMIFordringEFIFordringID>604411</DMIFordringEFIFordringID>
                <DMIFordringEFIHovedFordringID>604411</DMIFordringEFIHovedFordringID>
                <DMIFordringFordringHaverRef>31337 Reference</DMIFordringFordringHaverRef>
                <MFAktionID>604411</MFAktionID>
                <MFAktionKode>OPRETFORDRING</MFAktionKode>
                <DMIFordringHaverID>2718</DMIFordringHaverID>
                <MFAktionStatusKode>MODTAGET</MFAktionStatusKode>
                <MFAktionStatusÆndretDato>2026-06-15T10:30:04.019</MFAktionStatusÆndretDato>
                <DMIFordringModtagelseDato>2026-06-15T10:30:02.771</DMIFordringModtagelseDato>
                <AfvistÅrsagSamling/>
            </MFAktionStruktur>
        </FordringAktionStatusSamling>
    </FordringInfo>
</MFFordringIndberet_O>
"""


def test_the_adapter_decodes_a_real_shaped_answer() -> None:
    element = etree.fromstring(REAL_SHAPED_ANSWER.encode(), safe_parser())
    assert validate_element(element) == []
    [receipt] = mapping.decode_receipts(element)
    assert (receipt.action_id, receipt.efi_claim_id, receipt.claim_ref, receipt.creditor_id,
            receipt.status) == ("604411", "604411", "31337 Reference", "2718",
                                PsrmStatus.RECEIVED)
    assert receipt.status_changed == datetime(2026, 6, 15, 10, 30, 4, 19000)
    assert receipt.received == datetime(2026, 6, 15, 10, 30, 2, 771000)
    assert receipt.reasons == []
    reaction, tid, errors, outcomes = read_psrm_outcome(element)
    assert (reaction, tid, errors) == ("OK", "5b0c1e9a-2f3d-4b8e-9c1a-7d6e5f4a3b2c_frbm", [])
    assert [o.status for o in outcomes] == ["MODTAGET"]


def test_every_status_code_decodes() -> None:
    for status in PsrmStatus:
        element = etree.fromstring(REAL_SHAPED_ANSWER.replace(
            "<MFAktionStatusKode>MODTAGET<", f"<MFAktionStatusKode>{status.value}<").encode())
        assert validate_element(element) == []
        assert mapping.decode_receipts(element)[0].status is status
