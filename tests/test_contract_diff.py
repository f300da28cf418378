"""``oir contract diff DIR``: copies of our own ØIR contracts stand in for official files.

An unchanged copy is equal (exit 0); each modification — a renamed element, a changed
type, a reordered sequence, a removed enumeration value, another SOAPAction or binding
style, a removed operation, another namespace — is reported once and precisely (exit 1);
a folder that cannot be read is refused (exit 2). Only the ØIR contracts are used here:
the PSRM ones are out of the copies' scope and reported as not compared.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from oir_adapter.cli import main
from oir_adapter.contract_diff import diff_folder
from oir_adapter.contracts import OIR_NS

ROOT = Path(__file__).resolve().parent.parent
XSD = "xsd/oir/Debitor.xsd"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"


@pytest.fixture
def official(tmp_path: Path) -> Path:
    """The ØIR WSDLs and XSDs (with the fault detail they import), copied with the layout
    their imports expect."""
    folder = tmp_path / "official"
    for part in ("wsdl/oir", "wsdl/fagsystem", "xsd/oir", "xsd/fault"):
        shutil.copytree(ROOT / part, folder / part)
    return folder


def edit(path: Path, after: str, old: str, new: str) -> None:
    """Replace the first ``old`` that follows ``after`` (both must be there)."""
    text = path.read_text(encoding="utf-8")
    start = text.index(after)
    at = text.index(old, start)
    path.write_text(text[:at] + new + text[at + len(old):], encoding="utf-8")


def differences(folder: Path) -> list[tuple[str, str, str, str]]:
    return [(d.kind, d.subject, d.official, d.ours) for d in diff_folder(folder).differences]


def test_an_unchanged_copy_is_equal(official: Path) -> None:
    result = diff_folder(official)
    assert result.equal and result.differences == []
    assert len(result.compared_operations) == 21
    assert "service MFFordringIndberetPortType" in result.not_compared
    out = CliRunner().invoke(main, ["contract", "diff", str(official)])
    assert out.exit_code == 0 and "**No differences**" in out.output


def _rename(folder: Path) -> None:
    edit(folder / XSD, '<xs:element name="OpretDebitorkontoRequest">',
         'name="FagsystemReference"', 'name="FagsystemReferenceID"')


def _retype(folder: Path) -> None:
    edit(folder / XSD, '<xs:element name="OpretDebitorkontoResponse">',
         '<xs:element name="Oprettet" type="xs:boolean"',
         '<xs:element name="Oprettet" type="xs:string"')


def _reorder(folder: Path) -> None:
    edit(folder / XSD, '<xs:complexType name="FejlType">',
         '<xs:element name="FejlKode" type="oir:KodeType"/>\n'
         '      <xs:element name="FejlTekst" type="oir:TekstType"/>',
         '<xs:element name="FejlTekst" type="oir:TekstType"/>\n'
         '      <xs:element name="FejlKode" type="oir:KodeType"/>')


def _drop_value(folder: Path) -> None:
    edit(folder / XSD, '<xs:simpleType name="KontotypeType">',
         '<xs:enumeration value="DOEDSBO"/>', "")


MODIFIED = {
    "renamed element": (_rename, (
        "renamed", "element OpretDebitorkontoRequest: FagsystemReference",
        "FagsystemReferenceID", "FagsystemReference"),
        ["OpretDebitorkonto request: OpretDebitorkontoRequest/FagsystemReference"]),
    "changed type": (_retype, (
        "type", "element OpretDebitorkontoResponse: Oprettet", "xs:string", "xs:boolean"),
        ["OpretDebitorkonto response: OpretDebitorkontoResponse/Oprettet"]),
    "reordered sequence": (_reorder, (
        "order", "type FejlType (children of Fejl)", "FejlTekst FejlKode Felt",
        "FejlKode FejlTekst Felt"), None),
    "removed enumeration value": (_drop_value, (
        "enumeration", "type KontotypeType", "PERSON, VIRKSOMHED",
        "PERSON, VIRKSOMHED, DOEDSBO"),
        ["HentDebitorkonto response: HentDebitorkontoResponse/Debitorkonto/Kontotype",
         "OpretDebitorkonto request: OpretDebitorkontoRequest/Kontotype",
         "SoegDebitorkonto response: SoegDebitorkontoResponse/DebitorkontoSamling/"
         "Debitorkonto/Kontotype"]),
}


@pytest.mark.parametrize("change", sorted(MODIFIED))
def test_each_modification_is_reported_once_and_precisely(official: Path, change: str) -> None:
    modify, expected, places = MODIFIED[change]
    modify(official)
    result = diff_folder(official)
    (found,) = result.differences
    assert (found.kind, found.subject, found.official, found.ours) == expected
    shown = sorted(p.shown() for p in found.places)
    if places is not None:
        assert shown == places
    else:  # FejlType stands in every response and in the status advice: one difference,
        # each of them a place
        answers = [s for s in shown if s.endswith("/HovedoplysningerSvar/FejlSamling/Fejl")]
        assert len(answers) == 21 and sorted(set(shown) - set(answers)) == [
            "RegistrerDebitorkontoStatus request: RegistrerDebitorkontoStatusRequest/"
            "StatusAdviseringSamling/StatusAdvisering/FejlSamling/Fejl"]
    if change == "removed enumeration value":
        assert found.detail == "only in ours: DOEDSBO"


def test_all_four_at_once_are_four_differences(official: Path) -> None:
    for modify, _expected, _places in MODIFIED.values():
        modify(official)
    assert sorted(differences(official)) == sorted(e for _m, e, _p in MODIFIED.values())


def test_soap_action_and_binding_style(official: Path) -> None:
    wsdl = official / "wsdl/oir/DebitorIndbetalingAfsend.wsdl"
    edit(wsdl, '<wsdl:binding', "DebitorIndbetalingAfsend/1/ForetagIndbetaling\"",
         "DebitorIndbetalingAfsend/1/ForetagIndbetalingV2\"")
    edit(wsdl, "SoegDelfordringTilIndbetaling\" style=", 'style="document"', 'style="rpc"')
    assert sorted(differences(official)) == [
        ("SOAPAction", "operation ForetagIndbetaling",
         "http://serviceplatformen.dk/xml/wsdl/soap11/OIR/DebitorIndbetalingAfsend/1/"
         "ForetagIndbetalingV2",
         "http://serviceplatformen.dk/xml/wsdl/soap11/OIR/DebitorIndbetalingAfsend/1/"
         "ForetagIndbetaling"),
        ("binding style", "operation SoegDelfordringTilIndbetaling", "rpc", "document"),
    ]


def test_an_operation_the_official_files_lack(official: Path) -> None:
    wsdl = official / "wsdl/oir/DebitorIndbetalingAfsend.wsdl"
    doc = etree.parse(str(wsdl))
    for el in doc.iter(f"{{{WSDL_NS}}}operation", f"{{{WSDL_NS}}}message"):
        if (el.get("name") or "").startswith("SoegDelfordringTilIndbetaling"):
            el.getparent().remove(el)
    doc.write(str(wsdl), xml_declaration=True, encoding="UTF-8")
    result = diff_folder(official)
    assert [(d.kind, d.subject, d.official) for d in result.differences] == [
        ("operation extra", "operation SoegDelfordringTilIndbetaling", "absent")]
    assert result.differences[0].ours == \
        "DebitorIndbetalingAfsendPortType (wsdl/oir/DebitorIndbetalingAfsend.wsdl)"


def test_another_namespace_is_one_difference(official: Path) -> None:
    new = OIR_NS.replace("/1/", "/2/")
    for path in official.rglob("*.*"):
        path.write_text(path.read_text(encoding="utf-8").replace(OIR_NS, new), encoding="utf-8")
    (found,) = diff_folder(official).differences
    assert (found.kind, found.official, found.ours) == ("namespace", new, OIR_NS)
    assert len(found.places) > 100


def test_markdown_and_json(official: Path, tmp_path: Path) -> None:
    _rename(official)
    _drop_value(official)
    runner = CliRunner()
    md = runner.invoke(main, ["contract", "diff", str(official)])
    assert md.exit_code == 1
    assert "**2 differences.**" in md.output
    assert "### 1. Enumeration values: type KontotypeType" in md.output or \
        "### 2. Enumeration values: type KontotypeType" in md.output
    assert "| OpretDebitorkonto | DebitorRegistreringAfsendPortType | yes | yes | same | document " \
           "| OpretDebitorkontoRequest | OpretDebitorkontoResponse | 2 |" in md.output
    out = tmp_path / "diff.json"
    js = runner.invoke(main, ["contract", "diff", str(official), "--format", "json",
                              "--out", str(out)])
    assert js.exit_code == 1 and "2 difference(s)" in js.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["equal"] is False and len(data["differences"]) == 2
    renamed = next(d for d in data["differences"] if d["kind"] == "renamed")
    assert renamed["places"] == [{"operation": "OpretDebitorkonto", "message": "request",
                                  "path": "OpretDebitorkontoRequest/FagsystemReference"}]
    assert {o["operation"] for o in data["operations"]} >= {"OpretDebitorkonto",
                                                             "ForetagModregning"}


@pytest.mark.parametrize("setup", ["missing", "empty", "broken xsd", "unresolved import"])
def test_unusable_input_exits_2(tmp_path: Path, official: Path, setup: str) -> None:
    folder = tmp_path / "input"
    if setup == "empty":
        folder.mkdir()
    elif setup == "broken xsd":
        folder = official
        (folder / XSD).write_text("<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'>",
                                  encoding="utf-8")
    elif setup == "unresolved import":
        folder = official
        shutil.rmtree(folder / "xsd")
    result = CliRunner().invoke(main, ["contract", "diff", str(folder)])
    assert result.exit_code == 2, result.output
    said = result.stderr
    assert said.startswith("oir contract diff: ") and "Traceback" not in said
    if setup in ("broken xsd", "unresolved import"):
        assert "cannot be read" in said
