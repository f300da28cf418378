"""The dashboard, through Flask's test client: what each page shows for the demo scenario,
exact sums, rejection reasons in two languages, the journal, masking, escaping, languages,
the conformance report and access control. The browser tests (test_browser.py) add what
only a real browser shows: clicks, scripts and console errors."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from lxml import html as lxml_html

from emulator import days as chain
from emulator.app import create_app, runtime_of
from emulator.ends import psrm
from emulator.scenario import load_scenario
from emulator.soap import faults
from emulator.storage import journal, ledger
from emulator.web import dashboard
from oir_adapter.domain.model import ClaimState, OffsetStatus

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "emulator" / "scenarios" / "demo.yaml"
TEMPLATES = ROOT / "emulator" / "web" / "dashboard" / "templates" / "dashboard"


def demo(**extra: Any) -> dict[str, Any]:
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    data["clock"] = "2026-11-23T09:00:00"
    data.update(extra)
    return data


def make_app(tmp_path: Path, **config: Any) -> Flask:
    return create_app(db_url=f"sqlite:///{tmp_path}/e.sqlite3", start_worker=False, **config)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = make_app(tmp_path)
    load_scenario(runtime_of(app), demo())
    yield app
    runtime_of(app).close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def parse(data: bytes | str) -> Any:
    """An HTML document (typed Any: lxml's XPath results are too wide a union to use)."""
    return lxml_html.fromstring(data)


def page(client: FlaskClient, url: str, status: int = 200) -> Any:
    response = client.get(url)
    assert response.status_code == status, response.data[:500]
    return parse(response.data)


def text(doc: Any, xpath: str) -> str:
    found = doc.xpath(xpath)
    assert found, f"nothing at {xpath}"
    return " ".join(" ".join(e.text_content().split()) for e in found)


def tiles(doc: Any) -> dict[str, int]:
    return {li.get("data-state"): int(li.xpath("string(.//span[@class='tile-n'])"))
            for li in doc.xpath("//ul[@id='state-tiles']/li")}


def planned_and_at_psrm(app: Flask) -> tuple[str, str]:
    """What the ledger holds as planned offsets and as handed to PSRM, formatted in English:
    the engines decide these amounts, the dashboard must show exactly them."""
    runtime = runtime_of(app)
    planned = at_psrm = Decimal("0.00")
    with runtime.store.transaction() as conn:
        for number in ("100001", "100002", "100003"):
            planned += sum((o.amount for o in ledger.offsets_for_account(conn, number)
                            if o.status is OffsetStatus.PLANNED), Decimal("0.00"))
            at_psrm += sum((c.psrm.amount for c in ledger.claims_for_accounts(conn, [number])
                            if c.psrm is not None and c.state is ClaimState.HANDED_OVER),
                           Decimal("0.00"))
    return dashboard.format_money(planned, "en"), dashboard.format_money(at_psrm, "en")


def totals(doc: Any) -> dict[str, str]:
    return {tr.get("data-total"): " ".join(tr.xpath("string(td)").split())
            for tr in doc.xpath("//table[@id='totals']//tr")}


# ---------------------------------------------------------------- overview


def test_overview_counts_and_sums_the_demo_exactly(app: Flask, client: FlaskClient) -> None:
    doc = page(client, "/?lang=en")
    assert tiles(doc) == {"AABEN": 5, "BETALT": 0, "MODREGNET": 0, "OVERDRAGET": 0, "AFVIST": 0,
                          "DAEKKET_PSRM": 0, "TILBAGEKALDT": 0, "AFSKREVET": 0, "ANNULLERET": 0}
    # 2250.00 (2150 + a 100 fee) + 2150.00 + 1500.00 + 4884.20 (4800 + 84.20) + 750.00
    planned, _ = planned_and_at_psrm(app)
    assert planned != "0.00"  # the announced pension payout already reserves some claims
    assert totals(doc) == {
        "registered": "11,534.20", "outstanding": "10,934.20", "paid": "600.00",
        "offset": "0.00", "planned": planned, "at_psrm": "0.00", "psrm": "0.00",
        "written_off": "0.00", "surplus": "0.00"}
    rows = doc.xpath("//table[@id='accounts']/tbody/tr")
    assert [r.get("data-account") for r in rows] == ["100001", "100002", "100003"]
    assert text(doc, "//tr[@data-account='100001']/td[7]") == "3,800.00"  # 4400.00 - 600.00
    assert text(doc, "//p[@id='clock-now']") == "2026-11-23 09:00"


def test_overview_follows_the_clock_through_handover_and_offsetting(app: Flask,
                                                                     client: FlaskClient) -> None:
    runtime = runtime_of(app)
    chain.advance(runtime, days=1)
    doc = page(client, "/?lang=en")
    counts = tiles(doc)
    # the fine is kept back for the announced pension payout, the rest goes to PSRM
    assert (counts["AABEN"], counts["OVERDRAGET"]) == (1, 4)
    sums = totals(doc)
    planned, at_psrm = planned_and_at_psrm(app)
    assert (sums["planned"], sums["at_psrm"]) == (planned, at_psrm)
    assert at_psrm != "0.00"

    chain.advance(runtime, days=40)  # past the payout on 2026-12-30
    doc = page(client, "/?lang=en")
    counts = tiles(doc)
    assert counts["MODREGNET"] == 1  # the fine, covered in full by the payout
    assert counts["BETALT"] == 0
    sums = totals(doc)
    assert sums["offset"] == planned  # the payout was booked as planned
    assert sums["planned"] == "0.00"
    outstanding = Decimal("10934.20") - Decimal(planned.replace(",", ""))
    assert sums["outstanding"] == dashboard.format_money(outstanding, "en")


def test_display_state_tells_an_offset_claim_from_a_paid_one() -> None:
    assert dashboard.display_state("BETALT", "MODREGNING") == "MODREGNET"
    assert dashboard.display_state("BETALT", "INDBETALING") == "BETALT"
    assert dashboard.display_state("AABEN", "MODREGNING") == "AABEN"


def test_account_search(client: FlaskClient) -> None:
    doc = page(client, "/?q=Lars")
    assert [r.get("data-account") for r in doc.xpath("//table[@id='accounts']/tbody/tr")] == [
        "100002"]
    doc = page(client, "/?q=100003")
    assert [r.get("data-account") for r in doc.xpath("//table[@id='accounts']/tbody/tr")] == [
        "100003"]
    doc = page(client, "/?q=FIRMA-3003")
    assert [r.get("data-account") for r in doc.xpath("//table[@id='accounts']/tbody/tr")] == [
        "100003"]


# ---------------------------------------------------------------- account and claim


def test_account_page_shows_claims_payments_and_coverage(client: FlaskClient) -> None:
    doc = page(client, "/accounts/100001?lang=en")
    assert [r.get("data-claim") for r in doc.xpath("//table[@id='claims']/tbody/tr[@data-claim]")
            ] == ["F0000001", "F0000002"]
    assert "GEBYR" in text(doc, "//table[@id='claims']/tbody/tr[@class='sub']")
    assert text(doc, "//table[@id='payments']/tbody/tr/td[1]") == "DEMO-P-1"
    # the payment covers the fee first, then the principal of the oldest claim
    coverage = [(" ".join(r.xpath("string(td[4])").split()), r.xpath("string(td[5])").strip())
                for r in doc.xpath("//table[@id='coverage']/tbody/tr")]
    assert coverage == [("F0000001 ↳ F0000001-1", "100.00"), ("F0000001", "500.00")]
    assert text(doc, "//td[@id='account-balance']") == "3,800.00"


def test_cpr_numbers_are_masked_unless_asked_for(client: FlaskClient) -> None:
    response = client.get("/accounts/100001")
    assert b"040587-XXXX" in response.data
    assert b"0405871270" not in response.data
    shown = client.get("/accounts/100001?cpr=show")
    assert b"0405871270" in shown.data
    assert "oir_cpr=show" in shown.headers.get("Set-Cookie", "")
    assert b"0405871270" in client.get("/accounts/100001").data  # the cookie remembers
    assert b"0405871270" not in client.get("/accounts/100001?cpr=mask").data


def test_claim_timeline_from_registration_to_psrm(app: Flask, client: FlaskClient) -> None:
    chain.advance(runtime_of(app), days=3)
    doc = page(client, "/claims/F0000001?lang=en")
    kinds = [li.get("data-kind") for li in doc.xpath("//ol[@class='timeline']/li")]
    days = [li.xpath("string(time)") for li in doc.xpath("//ol[@class='timeline']/li")]
    assert days == sorted(days)
    # the demo's payment is dated before the claim reached the debtor system
    assert kinds[0] == "paid" and days[0] == "2026-10-05"
    for kind in ("registered", "invoiced", "reminded", "handed_over", "received", "done",
                 "reported"):
        assert kind in kinds, kind
    order = [kinds.index(k) for k in ("registered", "invoiced", "reminded", "handed_over",
                                      "received", "done")]
    assert order == sorted(order)
    steps = {li.get("data-step"): li.get("class") for li in doc.xpath("//ol[@class='steps']/li")}
    assert steps == {"registered": "done", "invoiced": "done", "reminded": "done",
                     "offset": "todo", "handed_over": "done", "received": "done",
                     "covered": "todo"}
    assert doc.xpath("//span[@id='claim-state']/@data-state") == ["OVERDRAGET"]
    # the journal entries behind the story: registration in, delivery out, PSRM's side
    ops = [(r.xpath("string(td[4])").strip(), r.xpath("string(td[5])").strip())
           for r in doc.xpath("//table[@id='claim-exchanges']/tbody/tr")]
    assert ("in", "OpretFordring") in ops
    assert ("out", "MFFordringIndberet") in ops
    assert ("in", "MFFordringIndberet") in ops
    assert ("in", "ForetagIndbetaling") in ops  # the payment that covered part of it
    # the payment on the timeline links to the exchange that brought it
    paid = doc.xpath("//ol[@class='timeline']/li[@data-kind='paid']//a[@class='evidence']")
    entry = client.get(paid[0].get("href"))
    assert b"ForetagIndbetaling" in entry.data and b"DEMO-P-1" in entry.data


def test_a_claim_covered_by_offsetting_reaches_the_offset_step(app: Flask,
                                                               client: FlaskClient) -> None:
    chain.advance(runtime_of(app), days=40)
    doc = page(client, "/claims/F0000003?lang=en")
    assert doc.xpath("//span[@id='claim-state']/@data-state") == ["MODREGNET"]
    steps = {li.get("data-step"): li.xpath("string(span[@class='step-day'])")
             for li in doc.xpath("//ol[@class='steps']/li")}
    assert steps["offset"] == "2026-12-30"  # the payout date
    assert steps["handed_over"] == "not reached"
    assert steps["covered"] == "2026-12-30"  # covered in full by the payout
    offset = doc.xpath("//ol[@class='timeline']/li[@data-kind='offset']")
    assert len(offset) == 1
    ops = [r.xpath("string(td[5])").strip()
           for r in doc.xpath("//table[@id='claim-exchanges']/tbody/tr")]
    assert "ForetagModregning" in ops  # the announcement of the payout that covered it
    assert "1,500.00" in offset[0].text_content()
    assert "DEMO-Y-1" in offset[0].text_content()


def test_a_remote_psrm_is_told_from_what_the_debtor_end_knows(app: Flask,
                                                              client: FlaskClient) -> None:
    """With a real PSRM (OIR_PSRM_URL) there are no PSRM-end actions in our store: the
    timeline comes from the claim's own PSRM status."""
    from sqlalchemy import delete

    from emulator.storage import schema as tables

    runtime = runtime_of(app)
    chain.advance(runtime, days=3)
    with runtime.store.transaction() as conn:
        conn.execute(delete(tables.psrm_actions))
    doc = page(client, "/claims/F0000001?lang=en")
    kinds = [li.get("data-kind") for li in doc.xpath("//ol[@class='timeline']/li")]
    assert "handed_over" in kinds and "done" in kinds
    handed = doc.xpath("//ol[@class='timeline']/li[@data-kind='handed_over']")[0]
    assert "1,650.00" in handed.text_content()  # what the debtor end handed over
    assert not doc.xpath("//table[@id='claim-receipts']")


def test_rejection_reasons_in_danish_and_english(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    runtime = runtime_of(app)
    load_scenario(runtime, demo(psrm={"reject_types": {"KTCIVIL": "Typen er lukket"}}))
    chain.advance(runtime, days=1)
    client = app.test_client()
    doc = page(client, "/claims/F0000005?lang=en")
    assert doc.xpath("//span[@id='claim-state']/@data-state") == ["AFVIST"]
    reason = doc.xpath("//table[@id='claim-receipts']//ul[@class='reasons']/li")[0]
    assert reason.xpath("string(span[@class='reason-no'])") == "574"
    assert reason.xpath("string(span[@class='reason-da'])") == "Typen er lukket"
    assert "inactive" in reason.xpath("string(span[@class='reason-en'])")
    assert "DMIFordringTypeKode" in reason.xpath("string(span[@class='reason-path'])")
    steps = {li.get("data-step"): li.get("class") for li in doc.xpath("//ol[@class='steps']/li")}
    assert steps["handed_over"] == "done" and steps["received"] == "todo"
    overview = page(client, "/")
    assert tiles(overview)["AFVIST"] == 1
    assert "574" in text(overview, "//table[@id='receipts']")
    runtime.close()


def test_unknown_account_claim_and_entry_are_404(client: FlaskClient) -> None:
    for url in ("/accounts/999999", "/claims/NOPE", "/journal/999999",
                "/journal/999999/request.xml"):
        assert client.get(url).status_code == 404


# ---------------------------------------------------------------- rejection reasons


def test_explain_reason_fills_the_english_text_with_the_danish_values() -> None:
    # a text with the values (an older emulator's, with the path in it)
    r = dashboard.explain_reason(
        "215", "Beløbet 75,00 kr. er ikke større end den nedre grænse på 100,00 kr. for "
               "overdragelse (felt: MFOpretFordringStruktur/FordringBeløbStruktur/"
               "DMIFordringBeløb)")
    assert r.rule_id == "PSRM-215"
    assert r.da == ("Beløbet 75,00 kr. er ikke større end den nedre grænse på 100,00 kr. for "
                    "overdragelse")
    assert r.en == "Amount 75.00 DKK is not above the lower limit of 100.00 DKK for hand-over"
    assert r.path == "MFOpretFordringStruktur/FordringBeløbStruktur/DMIFordringBeløb"
    # PSRM's own text, the path stored beside it
    own = dashboard.explain_reason("215", "Fordringsbeløb ikke større end nedre grænse",
                                   "AktionValg/OpretFordringAktion")
    assert (own.rule_id, own.da, own.path) == (
        "PSRM-215", "Fordringsbeløb ikke større end nedre grænse",
        "AktionValg/OpretFordringAktion")
    assert own.en.startswith("Amount … DKK is not above the lower limit")


def test_explain_reason_by_our_own_rule_id() -> None:
    r = dashboard.explain_reason("OIR-102", "Stiftelsesdato 2026-05-02 ligger efter forfaldsdato "
                                            "2026-05-01")
    assert r.rule_id == "OIR-102"
    assert r.en == "Founding date 2026-05-02 is after due date 2026-05-01"
    assert r.path is None


def test_explain_reason_with_text_of_psrm_own_and_unknown_numbers() -> None:
    custom = dashboard.explain_reason("574", "Typen er lukket")
    assert custom.rule_id == "PSRM-574"
    assert custom.en == "Claim type … is inactive"
    unknown = dashboard.explain_reason("9999", "Noget andet gik galt")
    assert unknown.rule_id is None
    assert unknown.da == unknown.en == "Noget andet gik galt"


def test_the_psrm_ends_own_reasons_are_explained_too() -> None:
    r = dashboard.explain_reason(psrm.UNREADABLE, "Feltet kan ikke læses: '12025-04-10' is "
                                                  "not a date")
    assert r.rule_id == psrm.UNREADABLE
    assert "12025-04-10" in r.en and r.en.startswith("The field cannot be read") and r.en != r.da


# ---------------------------------------------------------------- journal


def test_journal_filters(app: Flask, client: FlaskClient) -> None:
    chain.advance(runtime_of(app), days=1)
    doc = page(client, "/journal?end=psrm")
    ends = {r.xpath("string(td[3])").strip() for r in doc.xpath("//table[@id]/tbody/tr")
            or doc.xpath("//table[contains(@class,'journal')]/tbody/tr")}
    assert ends == {"psrm"}
    doc = page(client, "/journal?operation=OpretFordring")
    ops = [r.xpath("string(td[5])").strip()
           for r in doc.xpath("//table[contains(@class,'journal')]/tbody/tr")]
    assert ops == ["OpretFordring"] * 5
    doc = page(client, "/journal?status=fault")
    assert not doc.xpath("//table[contains(@class,'journal')]/tbody/tr")
    first = client.get("/_admin/journal?operation=OpretDebitorkonto").get_json()[-1]
    doc = page(client, f"/journal?transaktions_id={first['transaction_id']}")
    ids = [r.xpath("string(td[1])").strip()
           for r in doc.xpath("//table[contains(@class,'journal')]/tbody/tr")]
    assert ids == [str(first["id"])]


def test_journal_pages_back_in_time(client: FlaskClient,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashboard, "JOURNAL_PER_PAGE", 4)
    doc = page(client, "/journal")
    first = [int(r.xpath("string(td[1])")) for r in
             doc.xpath("//table[contains(@class,'journal')]/tbody/tr")]
    assert len(first) == 4 and first == sorted(first, reverse=True)
    older = doc.xpath("//a[@id='older']/@href")[0]
    doc = page(client, older)
    second = [int(r.xpath("string(td[1])")) for r in
              doc.xpath("//table[contains(@class,'journal')]/tbody/tr")]
    assert second and max(second) < min(first)


def test_journal_entry_highlights_and_masks_xml(client: FlaskClient) -> None:
    entry = client.get("/_admin/journal?operation=OpretDebitorkonto&full=1").get_json()[-1]
    assert "0405871270" in entry["request_xml"]
    response = client.get(f"/journal/{entry['id']}")
    assert response.status_code == 200
    doc = parse(response.data)
    request_pre = doc.xpath("//section[@id='request']//pre[@class='xml']")[0]
    tags = request_pre.xpath(".//span[@class='x-tag']/text()")
    assert any(t.endswith("OpretDebitorkontoRequest") for t in tags)
    assert "040587-XXXX" in request_pre.text_content()
    assert b"0405871270" not in response.data
    download = client.get(f"/journal/{entry['id']}/request.xml")
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert b"040587-XXXX" in download.data and b"0405871270" not in download.data
    raw = client.get(f"/journal/{entry['id']}/request.xml?cpr=show")
    assert raw.data.decode() == entry["request_xml"]


def test_journal_entry_links_its_account_and_claim(client: FlaskClient) -> None:
    entry = client.get("/_admin/journal?operation=OpretFordring").get_json()[-1]
    doc = page(client, f"/journal/{entry['id']}")
    links = doc.xpath("//td[@id='entry-correlation']//a/@href")
    assert "/accounts/100001" in links and "/claims/F0000001" in links


# ---------------------------------------------------------------- XML helpers


def test_highlight_xml_escapes_everything_it_is_given() -> None:
    hostile = '<a x="&quot;&gt;&lt;script&gt;">&lt;img src=x onerror=alert(1)&gt;</a>'
    out, cut = dashboard.highlight_xml(hostile)
    assert not cut
    assert "<script" not in out and "<img" not in out
    assert parse(f"<pre>{out}</pre>").text_content() == hostile
    not_xml = "not xml <script>alert(1)</script> & more"
    plain, _ = dashboard.highlight_xml(not_xml)
    assert "<script" not in plain
    assert parse(f"<pre>{plain}</pre>").text_content() == not_xml


def test_highlight_xml_never_expands_entities() -> None:
    xxe = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
           "<x>&e;</x>")
    out, _ = dashboard.highlight_xml(xxe)
    assert "root:" not in out


def test_pretty_xml_indents_and_leaves_non_xml_alone() -> None:
    assert dashboard.pretty_xml("<a><b>1</b></a>") == "<a>\n  <b>1</b>\n</a>"
    assert dashboard.pretty_xml("<a><b>") == "<a><b>"


def test_highlight_xml_falls_back_to_plain_text_when_huge(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashboard.xml_view, "HIGHLIGHT_LIMIT", 100)
    out, cut = dashboard.highlight_xml("<a>" + "x" * 500 + "</a>")
    assert cut and "span" not in out
    assert out == "&lt;a&gt;" + "x" * 97


def test_mask_xml_masks_cpr_numbers_only() -> None:
    xml = ("<p:PersonCPRNummer>0405871270</p:PersonCPRNummer><CVRNummer>55133018</CVRNummer>"
           "<BetalingsID>000000000000034</BetalingsID>")
    assert journal.mask_xml(xml) == (
        "<p:PersonCPRNummer>040587-XXXX</p:PersonCPRNummer><CVRNummer>55133018</CVRNummer>"
        "<BetalingsID>000000000000034</BetalingsID>")


def test_mask_text_masks_cpr_looking_numbers_only() -> None:
    assert dashboard.mask_text("debtor 0405871270 and 120385-2815") == \
        "debtor 040587-XXXX and 120385-XXXX"
    assert dashboard.mask_text("delivery 29189846-00000001, id 9999999999") == \
        "delivery 29189846-00000001, id 9999999999"


# ---------------------------------------------------------------- escaping, money, languages


def test_names_from_callers_are_escaped(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    load_scenario(runtime_of(app), {"clock": "2026-11-23", "accounts": [{
        "reference": "X-1", "cpr": "0405871270", "name": '<script>alert("x")</script>'}]})
    client = app.test_client()
    for url in ("/", "/accounts/100001"):
        data = client.get(url).data
        assert b'<script>alert("x")</script>' not in data
        assert b"&lt;script&gt;" in data
    runtime_of(app).close()


def test_format_money_is_exact_in_both_languages() -> None:
    assert dashboard.format_money(Decimal("1234567.50"), "da") == "1.234.567,50"
    assert dashboard.format_money(Decimal("1234567.50"), "en") == "1,234,567.50"
    assert dashboard.format_money(Decimal("-0.01"), "da") == "-0,01"
    assert dashboard.format_money(Decimal("0.10"), "en") == "0.10"
    assert dashboard.format_money(None, "en") == ""


def test_language_switch_is_remembered(client: FlaskClient) -> None:
    assert text(page(client, "/"), "(//h2)[1]") == "Virtuelt ur"
    response = client.get("/?lang=en")
    assert "oir_lang=en" in response.headers["Set-Cookie"]
    assert text(page(client, "/"), "(//h2)[1]") == "Virtual clock"
    assert text(page(client, "/?lang=xx"), "(//h2)[1]") == "Virtual clock"  # ignored
    assert page(client, "/?lang=da").get("lang") == "da"


def test_every_label_a_template_uses_exists_in_both_languages() -> None:
    import re

    used: set[str] = set()
    for path in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"_\('([\w.]+)'[,)]", path.read_text(encoding="utf-8")))
    known = set(dashboard.LABELS) | set(dashboard.STATE_LABELS) | set(dashboard.CODE_LABELS)
    used |= {f"fault.{kind}" for kind in faults.KINDS}  # built as 'fault.' ~ kind
    assert used and used <= known, sorted(used - known)
    for key, (da, en) in {**dashboard.LABELS, **dashboard.STATE_LABELS,
                          **dashboard.CODE_LABELS}.items():
        assert da.strip() and en.strip(), key


# ---------------------------------------------------------------- other pages


def test_fault_and_scenario_pages(client: FlaskClient) -> None:
    doc = page(client, "/faults")
    assert doc.xpath("//p[@id='no-faults']")
    assert "OpretFordring" in doc.xpath("//form[@id='fault-form']//select[@name='operation']"
                                        "/option/@value")
    client.post("/_admin/faults", json={"operation": "OpretFordring", "kind": "http_503",
                                        "count": 2})
    doc = page(client, "/faults")
    row = doc.xpath("//table[@id='armed-faults']/tbody/tr")[0]
    assert [c.text_content() for c in row.xpath("td")][1:4] == ["OpretFordring", "http_503", "2"]
    doc = page(client, "/scenario")
    assert "Mette Hansen" in doc.xpath("string(//textarea[@name='scenario'])")


def test_psrm_page_lists_actions_and_claims(app: Flask, client: FlaskClient) -> None:
    chain.advance(runtime_of(app), days=1)
    doc = page(client, "/psrm")
    assert len(doc.xpath("//table[@id='psrm-actions']/tbody/tr[not(@class='sub')]")) == 4
    refs = doc.xpath("//table[@id='psrm-claims']/tbody/tr/td[2]/a/text()")
    assert sorted(refs) == ["F0000001", "F0000002", "F0000004", "F0000005"]
    assert b"0405871270" not in client.get("/psrm").data


def test_static_files_and_security_headers(client: FlaskClient) -> None:
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    doc = parse(response.data)
    assert not doc.xpath("//script[not(@src)]")  # no inline script: the CSP forbids it
    for src in doc.xpath("//script/@src") + doc.xpath("//link/@href"):
        assert src.startswith("/"), src  # nothing from another host (no CDN)
        assert client.get(src).status_code == 200, src


# ---------------------------------------------------------------- conformance report


def test_no_conformance_report_yet(client: FlaskClient, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OIR_REPORT_DIR", str(tmp_path / "none-here"))
    doc = page(client, "/conformance")
    hint = text(doc, "//p[@id='no-report']")
    assert "none-here" in hint
    # a command that works right after `make`: no bare `oir` on the PATH needed
    assert "make conformance" in hint
    assert (f".venv/bin/oir conformance run --target http://localhost --report "
            f"{tmp_path / 'none-here'}/debitor") in hint
    assert client.get("/conformance/report.html").status_code == 404


def test_latest_conformance_report_is_shown(client: FlaskClient, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    reports = tmp_path / "reports"
    old, new = reports / "run-1", reports / "run-2"
    for folder, outcome in ((old, "pass"), (new, "fail")):
        folder.mkdir(parents=True)
        # the shape `oir conformance run` writes (oir_adapter/conformance/report.py)
        (folder / "report.json").write_text(json.dumps({
            "target": "http://127.0.0.1:8080", "role": "debitor",
            "started": "2026-11-24T10:00:00", "ok": outcome == "pass",
            "summary": {"pass": 1 + int(outcome == "pass"), "fail": int(outcome == "fail"),
                        "skip": 0, "error": 0},
            "results": [{"id": "OIR-REG-001", "title": "OpretFordring answers",
                         "requirement": "docs/design.md#the-øir-services", "status": "pass", "reason": ""},
                        {"id": "OIR-REG-002", "title": "Rejects a bad CPR",
                         "requirement": "docs/design.md#front-door-rules", "status": outcome,
                         "reason": "<b>no FejlSamling</b>"}]}))
        (folder / "report.html").write_text(f"<html><body>{folder.name}</body></html>")
    past = time.time() - 3600
    for p in old.iterdir():
        os.utime(p, (past, past))
    monkeypatch.setenv("OIR_REPORT_DIR", str(reports))
    response = client.get("/conformance")
    assert b"<b>no FejlSamling</b>" not in response.data  # escaped
    doc = parse(response.data)
    failing = doc.xpath("//table[@id='report-failing']/tbody/tr")
    assert [r.xpath("string(td[1])") for r in failing] == ["OIR-REG-002"]
    assert "<b>no FejlSamling</b>" in failing[0].xpath("string(td[4])")
    report = client.get("/conformance/report.html")
    assert report.data == b"<html><body>run-2</body></html>"
    assert report.headers["Content-Security-Policy"].startswith("sandbox")
    assert json.loads(client.get("/conformance/report.json").data)["summary"]["fail"] == 1
    assert "(debitor)" in text(doc, "//td[@id='report-target']")
    overview = page(client, "/")
    assert "fail: 1" in text(overview, "//ul[@class='counts']")


# ---------------------------------------------------------------- access control


def test_admin_token_guards_the_dashboard(tmp_path: Path) -> None:
    app = make_app(tmp_path, admin_token="s3cret")
    client = app.test_client()
    response = client.get("/accounts/100001")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.post("/login", data={"token": "wrong"}).status_code == 200
    assert b"s3cret" not in client.get("/login").data
    response = client.post("/login?next=//evil.example/", data={"token": "s3cret"})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "HttpOnly" in response.headers["Set-Cookie"]
    assert "s3cret" not in response.headers["Set-Cookie"]  # a session, not the token
    doc = page(client, "/")
    assert not doc.xpath("//meta[@name='oir-admin-token']")
    assert b"s3cret" not in client.get("/").data
    assert len(doc.xpath("//meta[@name='oir-csrf-token']/@content")[0]) > 20
    assert client.get("/_dashboard/dashboard.css").status_code == 200
    runtime_of(app).close()
