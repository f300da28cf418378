"""The HTML report: self-contained (nothing loaded from anywhere), and a failing case shows
its assertion, hint and evidence — checked in the parsed HTML and, when Chromium is
installed, in the DOM a headless browser builds from the file."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import lxml.html
import pytest
import requests

from emulator.app import runtime_of
from emulator.serving.wsgi_transport import WSGIAdapter
from oir_adapter.conformance import RunReport, Status, run_suite
from oir_adapter.conformance.report import write_reports
from tests.broken_debtors import broken_app
from tests.emulator_inproc import suite_options

CHROMIUM = Path(os.environ.get("OIR_CHROMIUM", "/usr/bin/chromium"))
BASE = "http://target.invalid"
FAILING = "OIR-RUL-PSRM-569"


def _html(data: bytes) -> lxml.html.HtmlElement:
    return cast(lxml.html.HtmlElement, lxml.html.fromstring(data))


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunReport, Path]]:
    """A run with one failing, one passing and one skipped case, written to disk."""
    folder = tmp_path_factory.mktemp("report")
    app = broken_app("accepts-reversed-period", f"sqlite:///{folder}/b.sqlite3")
    session = requests.Session()
    session.mount(BASE, WSGIAdapter(app))
    session.put(f"{BASE}/_admin/clock", json={"now": "2026-03-02T09:00:00"})
    try:
        run = run_suite(suite_options(target=BASE, session=session, progress=False,
                                     psrm="http://capture.invalid",
                                     cases=(FAILING, "OIR-REG-001", "OIR-CBK-001")))
    finally:
        runtime_of(app).close()
    assert {r.case.id: r.status for r in run.results} == {
        FAILING: Status.FAIL, "OIR-REG-001": Status.PASS, "OIR-CBK-001": Status.SKIP}
    write_reports(run, folder / "out")
    yield run, folder / "out" / "report.html"


def test_report_references_nothing_outside_itself(report: tuple[RunReport, Path]) -> None:
    _run, path = report
    doc = _html(path.read_bytes())
    for tag in ("script", "link", "img", "iframe", "object", "embed", "source", "video",
                "audio", "base", "form"):
        assert not doc.findall(f".//{tag}"), f"<{tag}> in a self-contained report"
    for el in doc.iter():
        if not isinstance(el.tag, str):
            continue
        for attr in ("src", "srcset", "action", "background", "poster", "data"):
            assert el.get(attr) is None, f"<{el.tag} {attr}=…>"
        href = el.get("href")
        assert href is None or href.startswith("#"), f"<{el.tag} href={href!r}>"
        assert "url(" not in (el.get("style") or "")
    styles = " ".join(s.text or "" for s in doc.iter("style"))
    assert styles and "@import" not in styles
    assert not re.search(r"url\(\s*['\"]?(?!data:)", styles)
    ids = [el.get("id") for el in doc.iter() if isinstance(el.tag, str) and el.get("id")]
    assert len(ids) == len(set(ids))
    assert all((a.get("href") or "")[1:] in ids for a in doc.iter("a"))


def test_failing_case_carries_assertion_hint_and_evidence(report: tuple[RunReport, Path]
                                                         ) -> None:
    _run, path = report
    doc = _html(path.read_bytes())
    section = doc.get_element_by_id(FAILING)
    text = section.text_content()
    assert "Failed assertion" in text and "PSRM-569 @ Fordring/PeriodeFra" in text
    assert "How to fix" in text
    pre = " ".join(p.text_content() for p in section.iter("pre"))
    assert "OpretFordringRequest" in pre and "<oir:PeriodeFra>" in pre
    assert "OpretFordringResponse" in pre  # the answer that accepted it
    summary = doc.text_content()
    assert "Summary by requirement area" in summary and "1 failed, 0 errors" in summary


def _dump_dom(path: Path, profile: Path) -> str:
    """``chromium --headless --dump-dom`` of the file, bounded in time; the process group
    it starts is ended if it overruns."""
    argv = [str(CHROMIUM), "--headless", "--dump-dom", "--no-sandbox", "--disable-gpu",
            "--no-first-run", "--disable-background-networking", "--disable-extensions",
            f"--user-data-dir={profile}", path.as_uri()]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("chromium --dump-dom did not finish within 90 s")
    return out.decode("utf-8", errors="replace")


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")
def test_headless_chromium_renders_the_failure(report: tuple[RunReport, Path],
                                               tmp_path: Path) -> None:
    _run, path = report
    dom = _dump_dom(path, tmp_path / "profile")
    assert "<html" in dom[:200].lower(), dom[:300]
    doc = _html(dom.encode("utf-8"))
    section = doc.get_element_by_id(FAILING)
    text = section.text_content()
    assert "PSRM-569 @ Fordring/PeriodeFra" in text and "accepted (SvarReaktion OK)" in text
    assert "<oir:PeriodeFra>" in text  # the request as evidence, escaped, not parsed as tags
    assert not section.findall(".//{*}PeriodeFra") and not section.findall(".//periodefra")


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")
def test_report_opens_in_chromium_without_console_errors(report: tuple[RunReport, Path],
                                                         tmp_path: Path) -> None:
    """Opened as a person would (a file URL in a real tab, DevTools protocol watching):
    no console error, no failed load, and the failing case with its evidence on screen."""
    from tests.test_browser import Browser

    _run, path = report
    browser = Browser(CHROMIUM, tmp_path / "devtools-profile")
    try:
        page = browser.new_page()
        page.goto(path.resolve().as_uri())
        assert page.errors() == []
        text = page.text("body")
        assert FAILING in text and "PSRM-569 @ Fordring/PeriodeFra" in text
        assert "<oir:PeriodeFra>" in text  # the evidence shows the request as text
        page.close()
    finally:
        browser.close()


def test_cases_resting_on_modelled_content_are_marked_in_every_report(
        report: tuple[RunReport, Path]) -> None:
    """ØIR cases rest on modelled message content: the HTML marks them MODELLED with the
    reason, the JSON names it, the JUnit carries it as a property."""
    run, path = report
    doc = _html(path.read_bytes())
    section = doc.get_element_by_id("OIR-REG-001")
    marks = section.find_class("modelled")
    assert marks and "modelled" in (marks[0].get("title") or "")
    assert "Rests on" in section.text_content()
    data = (path.parent / "report.json").read_text(encoding="utf-8")
    assert '"modelled": "ØIR message content is modelled' in data
    junit = (path.parent / "junit.xml").read_bytes()
    assert b'<property name="modelled" value="' in junit
    assert all(r.case.basis for r in run.results)


def test_only_cases_on_public_content_go_unmarked() -> None:
    from oir_adapter.conformance.catalogue import all_cases
    from oir_adapter.conformance.model import Role

    cases = {c.id: c for c in all_cases()}
    # PSRM's published rules and messages (public samples): not modelled
    published = [c for c in cases.values() if c.role in (Role.PSRM, Role.PSRM_CLIENT)
                 and not c.basis]
    assert published, "some PSRM cases rest on public content only"
    assert all(not (c.rule_id or "").startswith("OIR-") for c in published)
    # the new ØIR operations say precisely what is published and what is modelled
    assert "operation names are published" in cases["OIR-END-004"].basis
    assert "operation and the message content are modelled" in cases["OIR-ANM-001"].basis
    assert all(c.basis for c in cases.values() if c.role is Role.DEBITOR)
