"""``oir validate``: schema and rule checks of message files, text and JSON reports, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from oir_adapter.cli import main

TODAY = "2026-11-23"
EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"

OIR = "http://serviceplatformen.dk/xml/schemas/OIR/Debitor/1/"
MF = "http://skat.dk/begrebsmodel/2009/01/15/"
K = "http://skat.dk/begrebsmodel/xml/schemas/kontekst/2007/05/31/"


def envelope(body: str) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">\n'
            f"<soap:Body>\n{body}\n</soap:Body>\n</soap:Envelope>\n")


def opret_fordring(*, hovedstol: str = "1845.00", periode_fra: str = "2026-09-01",
                   periode_til: str = "2026-09-30", cpr: str = "2110625629",
                   valuta: str = "DKK") -> str:
    return envelope(f"""<OpretFordringRequest xmlns="{OIR}">
  <Hovedoplysninger>
    <TransaktionsID>1250aef4-6ee3-480e-8c5a-01978346f9ba</TransaktionsID>
    <TransaktionsTid>2026-11-20T10:12:43+01:00</TransaktionsTid>
  </Hovedoplysninger>
  <MyndighedCVR>29189846</MyndighedCVR>
  <FagsystemID>DAGTILBUD</FagsystemID>
  <DebitorkontoNummer>100004711</DebitorkontoNummer>
  <Fordring>
    <FagsystemFordringID>DT-1</FagsystemFordringID>
    <FordringTypeKode>DAGINST</FordringTypeKode>
    <FordringArt>INDR</FordringArt>
    <ValutaKode>{valuta}</ValutaKode>
    <Hovedstol>{hovedstol}</Hovedstol>
    <PeriodeFra>{periode_fra}</PeriodeFra>
    <PeriodeTil>{periode_til}</PeriodeTil>
    <StiftelsesDato>2026-08-20</StiftelsesDato>
    <ForfaldsDato>2026-09-01</ForfaldsDato>
    <SidsteRettidigeBetalingsDato>2026-09-10</SidsteRettidigeBetalingsDato>
    <ModregningTilladt>true</ModregningTilladt>
    <HaefterSamling><Haefter><Part><CPRNummer>{cpr}</CPRNummer></Part></Haefter></HaefterSamling>
    <DelfordringSamling>
      <Delfordring><DelfordringTypeKode>GEBYR</DelfordringTypeKode><Beloeb>100.00</Beloeb></Delfordring>
    </DelfordringSamling>
  </Fordring>
</OpretFordringRequest>""")


def mf_action(ref: str, *, amount: str = "4250.00", srb: str = "2026-04-10",
              structure: bool = True) -> str:
    inner = f"""<MFOpretFordringStruktur>
          <DMIFordringFordringArtKode>INDR</DMIFordringFordringArtKode>
          <DMIFordringTypeKode>CFFAKTU</DMIFordringTypeKode>
          <DMIFordringFordringHaverRef>{ref}</DMIFordringFordringHaverRef>
          <DMIFordringStiftelseTidspunkt>2026-03-01</DMIFordringStiftelseTidspunkt>
          <DMIFordringForfaldDato>2026-03-31</DMIFordringForfaldDato>
          <DMIFordringSRBDato>{srb}</DMIFordringSRBDato>
          <FordringBeløbStruktur><ValutaKode>DKK</ValutaKode><DMIFordringBeløb>{amount}</DMIFordringBeløb></FordringBeløbStruktur>
          <FordringHæftelseSamling>
            <MFHæftelseStruktur><MFKundeStruktur><Valg><PersonCPRNummer>1702642201</PersonCPRNummer></Valg></MFKundeStruktur></MFHæftelseStruktur>
          </FordringHæftelseSamling>
        </MFOpretFordringStruktur>""" if structure else ""
    return f"""<FordringAktion>
      <MFAktionKode>OPRETFORDRING</MFAktionKode>
      <DMIFordringHaverID>29189846</DMIFordringHaverID>
      <AktionValg><OpretFordringAktion>{inner}</OpretFordringAktion></AktionValg>
    </FordringAktion>"""


def delivery(*actions: str) -> str:
    """A bare ``MFFordringIndberet_I`` (no envelope): both forms are accepted."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<MFFordringIndberet_I xmlns="{MF}" xmlns:k="{K}">
  <Kontekst><k:HovedOplysninger>
    <k:TransaktionsID>3ddf0a80-bff2-4dca-b41b-d4fb851d6a79</k:TransaktionsID>
    <k:TransaktionsTid>2026-11-23T08:30:07+01:00</k:TransaktionsTid>
  </k:HovedOplysninger></Kontekst>
  <FordringhaverSystemIDStruktur><VirksomhedSENummer>29189846</VirksomhedSENummer></FordringhaverSystemIDStruktur>
  <MFLeveranceID>2918984620261123001</MFLeveranceID>
  <FordringAktionSamling>{"".join(actions)}</FordringAktionSamling>
</MFFordringIndberet_I>
"""


def ret_fordring_tilstand(change: str) -> str:
    return envelope(f"""<RetFordringTilstandRequest xmlns="{OIR}">
  <Hovedoplysninger>
    <TransaktionsID>d88322b2-7589-4597-8e99-d9df988c0895</TransaktionsID>
    <TransaktionsTid>2026-11-23T08:30:05+01:00</TransaktionsTid>
  </Hovedoplysninger>
  <MyndighedCVR>29189846</MyndighedCVR>
  <FagsystemID>DAGTILBUD</FagsystemID>
  <FordringID>2025000183</FordringID>
  {change}
</RetFordringTilstandRequest>""")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, ["validate", "--today", TODAY, *map(str, args)])


def run_json(*args: str | Path) -> tuple[int, list[dict[str, Any]]]:
    result = run("--json", *args)
    return result.exit_code, json.loads(result.output)


# ---------------------------------------------------------------- ØIR OpretFordring

def test_valid_request_exits_0(tmp_path: Path) -> None:
    result = run(write(tmp_path, "ok.xml", opret_fordring()))
    assert result.exit_code == 0, result.output
    assert "OK" in result.output and "OpretFordringRequest" in result.output


def test_reversed_period_exits_1_and_names_the_field(tmp_path: Path) -> None:
    result = run(write(tmp_path, "bad.xml", opret_fordring(periode_fra="2026-10-01")))
    assert result.exit_code == 1
    assert "PSRM-569" in result.output
    assert "/OpretFordringRequest/Fordring/PeriodeFra" in result.output


def test_three_decimals_exits_1_and_names_the_field(tmp_path: Path) -> None:
    code, (report,) = run_json(write(tmp_path, "bad.xml", opret_fordring(hovedstol="1845.005")))
    assert code == 1 and not report["ok"]
    (err,) = report["schema_errors"]
    assert err["path"] == "/OpretFordringRequest/Fordring/Hovedstol"
    assert err["line"] == 17
    assert "fraction digits" in err["message"]


def test_schema_and_rule_faults_are_reported_together(tmp_path: Path) -> None:
    # ModregningTilladt missing (schema) and currency EUR (rule 152), in one answer.
    text = opret_fordring(valuta="EUR").replace(
        "<ModregningTilladt>true</ModregningTilladt>", "")
    code, (report,) = run_json(write(tmp_path, "two.xml", text))
    assert code == 1
    assert len(report["schema_errors"]) == 1
    assert [(v["rule"], v["path"]) for v in report["rule_violations"]] == [
        ("PSRM-152", "/OpretFordringRequest/Fordring/ValutaKode")]


def test_warning_alone_is_ok(tmp_path: Path) -> None:
    text = opret_fordring(periode_fra="2026-12-01", periode_til="2026-12-31")
    code, (report,) = run_json(write(tmp_path, "future.xml", text))
    assert code == 0 and report["ok"]
    assert [(v["rule"], v["severity"]) for v in report["rule_violations"]] == [
        ("OIR-115", "warning")]


def test_json_shape(tmp_path: Path) -> None:
    good = write(tmp_path, "good.xml", opret_fordring())
    bad = write(tmp_path, "bad.xml", opret_fordring(periode_fra="2026-10-01", cpr="3102851234"))
    code, reports = run_json(good, bad)
    assert code == 1
    assert [r["file"] for r in reports] == [str(good), str(bad)]
    for r in reports:
        assert {"file", "operation", "kind", "schema_errors", "rule_violations", "ok"} <= set(r)
        assert r["operation"] == "DebitorRegistreringAfsend.OpretFordring"
        assert r["kind"] == "request"
    assert reports[0]["ok"] is True and reports[0]["rule_violations"] == []
    assert reports[1]["ok"] is False
    violations = {v["rule"]: v for v in reports[1]["rule_violations"]}
    assert set(violations) == {"PSRM-569", "OIR-105"}
    v = violations["PSRM-569"]
    assert set(v) == {"rule", "psrm_number", "severity", "path", "message_en", "message_da"}
    assert v["psrm_number"] == "569" and v["severity"] == "error"
    assert v["message_en"] == "Period from 2026-10-01 is after period to 2026-09-30"
    assert violations["OIR-105"]["path"] == (
        "/OpretFordringRequest/Fordring/HaefterSamling/Haefter[1]/Part/CPRNummer")
    assert violations["OIR-105"]["psrm_number"] is None


# ---------------------------------------------------------------- PSRM deliveries

def test_valid_delivery_exits_0(tmp_path: Path) -> None:
    code, (report,) = run_json(write(tmp_path, "d.xml", delivery(mf_action("A"), mf_action("B"))))
    assert code == 0, report
    assert report["operation"] == "MFFordringIndberet.MFFordringIndberet"


def test_delivery_actions_are_judged_as_hand_overs(tmp_path: Path) -> None:
    text = delivery(mf_action("A"), mf_action("A", amount="99.00"),
                    mf_action("C", srb="2026-11-23"), mf_action("D", structure=False))
    code, (report,) = run_json(write(tmp_path, "d.xml", text))
    assert code == 1
    assert report["schema_errors"] == []
    a = "/MFFordringIndberet_I/FordringAktionSamling/FordringAktion"
    s = "AktionValg/OpretFordringAktion/MFOpretFordringStruktur"
    assert {(v["rule"], v["path"]) for v in report["rule_violations"]} == {
        ("PSRM-486", f"{a}[2]/{s}/DMIFordringFordringHaverRef"),  # ref repeated in delivery
        ("PSRM-215", f"{a}[2]/{s}/FordringBeløbStruktur/DMIFordringBeløb"),
        ("OIR-101", f"{a}[3]/{s}/DMIFordringSRBDato"),
        ("PSRM-444", f"{a}[4]/{s}"),
    }


def test_text_report_is_plain_and_names_action_paths(tmp_path: Path) -> None:
    result = run(write(tmp_path, "d.xml", delivery(mf_action("A", amount="99.00"))))
    assert result.exit_code == 1
    assert "\x1b[" not in result.output  # no colour codes when not a terminal
    assert ("PSRM-215 [PSRM 215] /MFFordringIndberet_I/FordringAktionSamling/FordringAktion[1]/"
            "AktionValg/OpretFordringAktion/MFOpretFordringStruktur/FordringBeløbStruktur/"
            "DMIFordringBeløb: Amount 99.00 DKK is not above the lower limit") in result.output


# ---------------------------------------------------------------- other operations

def test_state_change_request_is_judged_on_its_own(tmp_path: Path) -> None:
    path = write(tmp_path, "r.xml", ret_fordring_tilstand(
        "<Henstand><HenstandTilDato>2026-11-01</HenstandTilDato></Henstand>"))
    code, (report,) = run_json(path)
    assert code == 1
    assert [(v["rule"], v["path"]) for v in report["rule_violations"]] == [
        ("OIR-204", "/RetFordringTilstandRequest/Henstand/HenstandTilDato")]
    assert report["notes"]  # says the stored claim was not judged


def test_response_is_schema_checked_only(tmp_path: Path) -> None:
    body = f"""<OpretFordringResponse xmlns="{OIR}">
  <HovedoplysningerSvar>
    <TransaktionsID>1250aef4-6ee3-480e-8c5a-01978346f9ba</TransaktionsID>
    <TransaktionsTid>2026-11-20T10:12:44+01:00</TransaktionsTid>
    <SvarReaktion>OK</SvarReaktion>
  </HovedoplysningerSvar>
  <FordringID>C-1</FordringID>
</OpretFordringResponse>"""
    code, (report,) = run_json(write(tmp_path, "resp.xml", envelope(body)))
    assert code == 0 and report["kind"] == "response"
    bad = body.replace("<SvarReaktion>OK</SvarReaktion>", "<SvarReaktion>MAYBE</SvarReaktion>")
    code, (report,) = run_json(write(tmp_path, "resp2.xml", envelope(bad)))
    assert code == 1
    assert report["schema_errors"][0]["path"] == (
        "/OpretFordringResponse/HovedoplysningerSvar/SvarReaktion")


# ---------------------------------------------------------------- unusable input

@pytest.mark.parametrize(("text", "expected"), [
    ("<a><b></a>", "line 1"),
    ("not xml at all", "not well-formed"),
    ("", "not well-formed"),
    ('<x:Foo xmlns:x="urn:nope"/>', "unknown message element"),
    (envelope(""), "Body is empty"),
    ('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"/>', "without a Body"),
])
def test_unusable_input_exits_2(tmp_path: Path, text: str, expected: str) -> None:
    result = run(write(tmp_path, "x.xml", text))
    assert result.exit_code == 2
    assert expected in result.output


def test_entities_are_not_expanded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET", encoding="utf-8")
    text = opret_fordring().replace(
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file://{secret}">]>\n'
    ).replace("<ValutaKode>DKK</ValutaKode>", "<ValutaKode>&e;</ValutaKode>")
    result = run("--json", write(tmp_path, "xxe.xml", text))
    # Expanded, the file's content would come back in rule 152's "got …" text.
    assert result.exit_code == 1
    assert "TOPSECRET" not in result.output


def test_worst_file_decides_the_exit_code(tmp_path: Path) -> None:
    good = write(tmp_path, "good.xml", opret_fordring())
    bad = write(tmp_path, "bad.xml", opret_fordring(periode_fra="2026-10-01"))
    broken = write(tmp_path, "broken.xml", "<nope")
    assert run(good, bad).exit_code == 1
    assert run(good, bad, broken).exit_code == 2
    code, reports = run_json(good, broken)
    assert code == 2
    assert reports[1]["ok"] is False and "not well-formed" in reports[1]["error"]


# ---------------------------------------------------------------- the shipped examples

@pytest.mark.skipif(not (EXAMPLES / "OpretFordring.request.xml").exists(),
                    reason="docs/examples not present")
@pytest.mark.parametrize("name", ["OpretFordring.request.xml", "MFFordringIndberet.request.xml",
                                  "RetFordringTilstand.request.xml"])
def test_shipped_examples_are_clean(name: str) -> None:
    result = CliRunner().invoke(main, ["validate", "--today", "2025-11-24",
                                       str(EXAMPLES / name)])
    assert result.exit_code == 0, result.output
