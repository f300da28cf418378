"""The conformance suite against the emulator (it must pass its own suite) and against
deliberately broken debtor systems, PSRM clients and fagsystems (exactly the cases
guarding the broken behaviour must fail); the catalogue's completeness; the CLI."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from flask import Flask
from werkzeug.serving import make_server

from emulator.app import create_app, runtime_of
from emulator.serving.wsgi_transport import WSGIAdapter
from oir_adapter import mapping
from oir_adapter.clients import clients_for
from oir_adapter.codecs import oir_requests as messages
from oir_adapter.conformance import (
    Role,
    RunReport,
    Status,
    TargetUnreachable,
    all_cases,
    cases_for,
    catalogue_markdown,
    run_suite,
)
from oir_adapter.conformance.psrm_end import judged_by_psrm
from oir_adapter.conformance.rule_cases import DEBITOR_PROBES, psrm_only
from oir_adapter.domain.model import Claim, ClaimArt, CoLiable, Party
from oir_adapter.domain.rules import RULES
from oir_cli import main
from tests.broken_debtors import BREAKAGES, broken_app
from tests.emulator_inproc import suite_options

ROOT = Path(__file__).resolve().parent.parent
BASE = "http://target.invalid"
START = "2026-03-02T09:00:00"  # a Monday; every case works relative to it

#: Cases the emulator fails only when driven in-process, not over HTTP: none (the WSGI
#: transport passes the called host on, so ?wsdl's address is right in-process too).
KNOWN_IN_PROCESS: dict[str, str] = {}

#: Cases the emulator fails wherever it runs, pending a fix: none.
KNOWN_EMULATOR_ISSUES: dict[str, str] = {}
KNOWN = {**KNOWN_IN_PROCESS, **KNOWN_EMULATOR_ISSUES}


# ---------------------------------------------------------------- harness

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(make: Callable[[str], Flask]) -> Iterator[str]:
    """Serve the app ``make(base_url)`` builds on a loopback port (threaded werkzeug)."""
    server = make_server("127.0.0.1", 0, lambda environ, start: [], threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app = make(url)
    server.app = app
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        runtime_of(app).close()


def in_process(app: Flask, *, clock: bool = True) -> requests.Session:
    """A session reaching ``app`` at BASE; with ``clock`` its virtual clock is set to START."""
    session = requests.Session()
    session.mount(BASE, WSGIAdapter(app))
    if clock:
        assert session.put(f"{BASE}/_admin/clock", json={"now": START}).status_code == 200
    return session


def not_passed(report: RunReport) -> dict[str, str]:
    return {r.case.id: f"{r.status.value}: {r.reason}" for r in report.results
            if r.status is not Status.PASS}


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Flask]:
    app = create_app(db_url=f"sqlite:///{tmp_path}/emu.sqlite3", start_worker=False)
    yield app
    runtime_of(app).close()


# ---------------------------------------------------------------- the emulator passes

def test_emulator_passes_its_own_suite_in_process(emulator: Flask) -> None:
    report = run_suite(suite_options(target=BASE, session=in_process(emulator), progress=False))
    assert len(report.results) == len(cases_for(Role.DEBITOR))
    assert set(not_passed(report)) <= set(KNOWN), not_passed(report)
    # the run exercised the hand-over: something reached PSRM and was judged
    psr = {r.case.id: r for r in report.results if r.case.id.startswith("OIR-PSR")}
    assert all(r.status is Status.PASS for r in psr.values() if r.case.id not in KNOWN)
    assert any(e.kind == "journal" for r in psr.values() for e in r.evidence)


def test_wsdl_address_is_the_one_called_in_process(emulator: Flask) -> None:
    report = run_suite(suite_options(target=BASE, session=in_process(emulator),
                                    cases=("OIR-ERR-004",), progress=False))
    assert not not_passed(report)


def test_emulator_passes_its_own_suite_over_http(tmp_path: Path) -> None:
    def make(url: str) -> Flask:
        return create_app(db_url=f"sqlite:///{tmp_path}/http.sqlite3", start_worker=False,
                          base_url=url)

    with served(make) as url:
        requests.put(f"{url}/_admin/clock", json={"now": START}, timeout=10)
        report = run_suite(suite_options(target=url, progress=False))
    assert set(not_passed(report)) <= set(KNOWN_EMULATOR_ISSUES), not_passed(report)
    assert report.environment["capture"].startswith(url)


def test_no_hand_over_before_the_bank_day_after_srb(emulator: Flask) -> None:
    report = run_suite(suite_options(target=BASE, session=in_process(emulator), progress=False,
                                    cases=("OIR-HND-009", "OIR-PSR-002")))
    assert not not_passed(report), not_passed(report)


def run_with_capture(tmp_path: Path, *, capture: str, sends_to: str, **options: Any
                     ) -> RunReport:
    """The suite with ``--psrm capture`` against an emulator that hands claims over to, and
    calls back, ``sends_to`` (the capture point, or somewhere else)."""
    def make(url: str) -> Flask:
        return create_app(db_url=f"sqlite:///{tmp_path}/t.sqlite3", start_worker=False,
                          base_url=url, psrm_url=sends_to,
                          callback_url=f"{sends_to}/service/OIR/"
                                       "DaekningAfskrivningRegistreringAfsend/1")

    with served(make) as url:
        requests.put(f"{url}/_admin/clock", json={"now": START}, timeout=10)
        return run_suite(suite_options(target=url, psrm=capture, progress=False, **options))


def test_debitor_role_with_a_separate_capture_point(tmp_path: Path) -> None:
    """The target sends PSRM deliveries and callbacks elsewhere; the suite serves that end
    itself (``--psrm`` on a free loopback port) and moves both clocks in step."""
    capture = f"http://127.0.0.1:{_free_port()}"
    report = run_with_capture(tmp_path, capture=capture, sends_to=capture,
                              cases=("OIR-HND-00[1-4]", "OIR-CBK-*", "OIR-PSR-*"))
    assert "served by the suite" in report.environment["capture"]
    assert report.environment["capture_clock"].startswith("set to the target's")
    assert not not_passed(report)
    assert len(report.results) == 12


def test_psrm_role_passes_against_the_emulator(emulator: Flask) -> None:
    report = run_suite(suite_options(target=BASE, role=Role.PSRM, session=in_process(emulator),
                                    progress=False))
    assert not not_passed(report)
    assert len(report.results) == len(cases_for(Role.PSRM))


def test_without_admin_api_clock_and_capture_cases_skip_with_a_reason(emulator: Flask) -> None:
    """A vendor's debtor system has no /_admin: those cases skip, the rest still run (on
    the wall clock, as a vendor's system does)."""
    session = in_process(emulator, clock=False)

    class NoAdmin(WSGIAdapter):
        def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
                 ) -> requests.Response:
            if "/_admin/" in (request.url or ""):
                response = requests.Response()
                response.status_code = 404
                response._content = b"not found"
                response.request = request
                return response
            return super().send(request, *args, **kwargs)

    session.mount(BASE, NoAdmin(emulator))
    report = run_suite(suite_options(target=BASE, session=session, progress=False,
                                    cases=("OIR-HND-001", "OIR-CBK-001", "OIR-PAY-001",
                                           "OIR-PSR-001")))
    status = {r.case.id: (r.status, r.reason) for r in report.results}
    assert status["OIR-PAY-001"][0] is Status.PASS
    assert status["OIR-HND-001"][0] is Status.SKIP and "clock" in status["OIR-HND-001"][1]
    assert status["OIR-CBK-001"][0] is Status.SKIP and "--psrm" in status["OIR-CBK-001"][1]
    assert status["OIR-PSR-001"][0] is Status.SKIP


# ---------------------------------------------------------------- broken debtor systems

#: breakage → the cases that must fail (and no others).
EXPECTED_FAILURES: dict[str, set[str]] = {
    "ignores-coverage-order": {"OIR-PAY-002", "OIR-PAY-004"},
    "accepts-reversed-period": {"OIR-RUL-PSRM-569"},
    "schema-invalid-search-answer": {"OIR-QRY-001", "OIR-QRY-002", "OIR-IDM-002",
                                     "OIR-RUL-OIR-310"},
    "double-books-repeated-payment": {"OIR-IDM-003", "OIR-RUL-OIR-304"},
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_broken_debtor_fails_exactly_the_cases_that_guard_it(breakage: str,
                                                             tmp_path: Path) -> None:
    app = broken_app(breakage, f"sqlite:///{tmp_path}/broken.sqlite3")
    try:
        report = run_suite(suite_options(target=BASE, session=in_process(app), progress=False))
    finally:
        runtime_of(app).close()
    failed = {r.case.id for r in report.results if r.status is Status.FAIL}
    assert failed - set(KNOWN) == EXPECTED_FAILURES[breakage]
    assert not report.by_status(Status.ERROR)
    for r in report.results:
        if r.case.id in EXPECTED_FAILURES[breakage]:
            assert r.failed_check is not None and r.evidence, r.case.id
            assert r.hint or r.case.hint, r.case.id


def test_a_failure_names_the_assertion_and_carries_the_exchange(tmp_path: Path) -> None:
    app = broken_app("accepts-reversed-period", f"sqlite:///{tmp_path}/b.sqlite3")
    try:
        report = run_suite(suite_options(target=BASE, session=in_process(app), progress=False,
                                        cases=("OIR-RUL-PSRM-569",)))
    finally:
        runtime_of(app).close()
    (result,) = report.results
    assert result.status is Status.FAIL
    check = result.failed_check
    assert check is not None
    assert check.expected == "PSRM-569 @ Fordring/PeriodeFra"
    assert "accepted" in (check.got or "")
    sent = [e for e in result.evidence if e.operation == "OpretFordring"]
    assert len(sent) == 1 and sent[0].http_status == 200
    assert "PeriodeFra" in (sent[0].request or "") and "FordringID" in (sent[0].response or "")
    assert sent[0].elapsed_ms is not None


# ---------------------------------------------------------------- psrm-client role

def _claim(ref: str, **changes: Any) -> Claim:
    today = date.today()
    values: dict[str, Any] = dict(
        id=ref, account_number="", fagsystem_claim_id=ref, type_code="DAGINST",
        principal=Decimal("1500.00"), period_from=today - timedelta(days=70),
        period_to=today - timedelta(days=41), founded=today - timedelta(days=40),
        due_date=today - timedelta(days=30), srb=today - timedelta(days=20), received=today,
        art=ClaimArt.RECOVERY, co_liable=[CoLiable(Party.cpr("0101901234"))])
    values.update(changes)
    return Claim(**values)


def _sender(*, broken: bool, done: threading.Event) -> Callable[[str], None]:
    """A PSRM client that delivers once; the broken one sends a reversed period and never
    asks for receipts or notifications."""
    def ready(url: str) -> None:
        def run() -> None:
            try:
                c = clients_for(url)
                actions = [mapping.opret_fordring_action(_claim(f"OK-{uuid.uuid4().hex[:8]}"),
                                                         None, creditor_id="29189846")]
                if broken:
                    bad = _claim(f"BAD-{uuid.uuid4().hex[:8]}")
                    bad.period_from, bad.period_to = bad.period_to, bad.period_from
                    actions.append(mapping.opret_fordring_action(bad, None,
                                                                 creditor_id="29189846"))
                body = mapping.delivery(actions, se_number="29189846", delivery_id="D-1",
                                        transaction_id=str(uuid.uuid4()),
                                        transaction_time=datetime.now().astimezone())
                c.mf_fordring_indberet.call("MFFordringIndberet", body)
                if not broken:
                    c.mf_kvittering_hent.call("MFKvitteringHent", mapping.kvittering_request(
                        se_number="29189846", delivery_id="D-1"))
                    c.mf_underret_samling_hent.call("MFUnderretSamlingHent",
                                                    mapping.underret_request(se_number="29189846"))
                c.close()
            finally:
                done.set()
        threading.Thread(target=run, daemon=True).start()
    return ready


@pytest.mark.parametrize("broken", [False, True], ids=["good", "broken"])
def test_psrm_client_role_scores_what_arrives(broken: bool) -> None:
    done = threading.Event()
    report = run_suite(suite_options(target=f"http://127.0.0.1:{_free_port()}",
                                    role=Role.PSRM_CLIENT, wait=1.0,
                                    ready=_sender(broken=broken, done=done), progress=False))
    assert done.is_set()
    skipped = {r.case.id for r in report.by_status(Status.SKIP)}
    assert skipped == {"PSC-RUL-PSRM-2", "PSC-RUL-PSRM-151", "PSC-RUL-PSRM-5"}
    failed = {r.case.id for r in report.by_status(Status.FAIL)}
    assert not report.by_status(Status.ERROR)
    assert failed == ({"PSC-DLV-003", "PSC-RUL-PSRM-569", "PSC-RCP-001", "PSC-RCP-002"}
                      if broken else set())


def test_psrm_client_role_fails_when_nothing_arrives() -> None:
    report = run_suite(suite_options(target=f"http://127.0.0.1:{_free_port()}",
                                    role=Role.PSRM_CLIENT, wait=0, ready=lambda url: None,
                                    progress=False))
    assert {r.case.id for r in report.by_status(Status.FAIL)} == {"PSC-DLV-001"}
    assert not report.by_status(Status.PASS)


# ---------------------------------------------------------------- fagsystem role

def _fagsystem_traffic(session: requests.Session, *, broken: bool) -> None:
    c = clients_for(BASE, session=session)
    caller = messages.Caller("29189846", "DAGTILBUD")
    account = c.debitor_registrering.call("OpretDebitorkonto", messages.opret_debitorkonto(
        caller, reference="BARN-1", party=Party.cpr("0101901234"), name="Jens")
    ).findtext("DebitorkontoNummer")
    assert account is not None
    day = date(2026, 3, 2)
    spec = messages.ClaimSpec("DT-1", "DAGINST", Decimal("1500.00"), day - timedelta(days=40),
                              day - timedelta(days=11), day - timedelta(days=10),
                              day + timedelta(days=20), day + timedelta(days=45))
    c.debitor_registrering.call("OpretFordring", messages.opret_fordring(
        caller, account_number=account, claim=spec))
    c.debitor_forespoergsel.call("HentDebitorkonto", messages.hent_debitorkonto(
        caller, account_number=account))
    if broken:
        reversed_period = messages.ClaimSpec(
            "DT-2", "DAGINST", Decimal("900.00"), spec.period_to, spec.period_from, spec.founded,
            spec.due_date, spec.srb)
        c.debitor_registrering.call("OpretFordring", messages.opret_fordring(
            caller, account_number=account, claim=reversed_period))
        invalid = messages.hent_debitorkonto(caller, account_number=account)
        invalid.remove(invalid[1])  # no MyndighedCVR
        with pytest.raises(Exception, match="does not validate"):
            c.debitor_forespoergsel.call("HentDebitorkonto", invalid)
    c.close()


@pytest.mark.parametrize("broken", [False, True], ids=["good", "broken"])
def test_fagsystem_role_judges_the_recorded_traffic(emulator: Flask, broken: bool) -> None:
    session = in_process(emulator)
    _fagsystem_traffic(session, broken=broken)
    report = run_suite(suite_options(target=BASE, role=Role.FAGSYSTEM, session=session,
                                    progress=False))
    failed = {r.case.id for r in report.by_status(Status.FAIL)}
    assert not_passed(report).keys() == failed
    assert failed == ({"FAG-TRF-002", "FAG-RUL-PSRM-569"} if broken else set())


def test_fagsystem_role_can_narrow_to_one_fagsystem(emulator: Flask) -> None:
    session = in_process(emulator)
    _fagsystem_traffic(session, broken=True)
    report = run_suite(suite_options(target=BASE, role=Role.FAGSYSTEM, session=session,
                                    fagsystem_filter="ANDETSYSTEM", progress=False))
    by_id = {r.case.id: r.status for r in report.results}
    assert by_id["FAG-TRF-001"] is Status.FAIL
    assert {s for k, s in by_id.items() if k != "FAG-TRF-001"} == {Status.SKIP}


# ---------------------------------------------------------------- the catalogue

def test_every_rule_is_checked_somewhere() -> None:
    covered = {c.rule_id for c in all_cases() if c.rule_id}
    assert {r.id for r in RULES} <= covered
    for rule in RULES:
        if psrm_only(rule):
            assert judged_by_psrm(rule), f"{rule.id} is checked in no role"
        else:
            assert rule.id in DEBITOR_PROBES, f"{rule.id} has no ØIR probe"


def test_case_ids_are_unique_and_well_formed() -> None:
    ids = [c.id for c in all_cases()]
    assert len(ids) == len(set(ids))
    prefixes = {Role.DEBITOR: "OIR-", Role.PSRM: "PSE-", Role.PSRM_CLIENT: "PSC-",
                Role.FAGSYSTEM: "FAG-", Role.RECORDED: "REC-"}
    for c in all_cases():
        assert c.id.startswith(prefixes[c.role] + c.area + "-"), c.id
        assert c.steps and c.assertions and c.requirement and c.source, c.id


def test_case_selection_by_pattern() -> None:
    chosen = cases_for(Role.DEBITOR, ["oir-pay-00[12]", "OIR-RUL-PSRM-569"])
    assert [c.id for c in chosen] == ["OIR-PAY-001", "OIR-PAY-002", "OIR-RUL-PSRM-569"]
    with pytest.raises(KeyError):
        cases_for(Role.DEBITOR, ["OIR-NOPE-*"])


def test_docs_list_every_case() -> None:
    doc = (ROOT / "docs" / "conformance.md").read_text(encoding="utf-8")
    listed = doc.split("<!-- cases:begin -->\n", 1)[1].split("<!-- cases:end -->", 1)[0]
    assert listed == catalogue_markdown(), "docs/conformance.md is stale: run `oir " \
        "conformance list --markdown --update docs/conformance.md`"


def test_cli_updates_the_case_list_in_place(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("intro\n<!-- cases:begin -->\nold\n<!-- cases:end -->\nafter\n")
    out = CliRunner().invoke(main, ["conformance", "list", "--markdown", "--update", str(doc)])
    assert out.exit_code == 0, out.output
    assert doc.read_text() == ("intro\n<!-- cases:begin -->\n" + catalogue_markdown()
                               + "<!-- cases:end -->\nafter\n")
    (tmp_path / "plain.md").write_text("no markers\n")
    bad = CliRunner().invoke(main, ["conformance", "list", "--markdown", "--update",
                                    str(tmp_path / "plain.md")])
    assert bad.exit_code == 1 and "markers" in bad.output


# ---------------------------------------------------------------- the command line

def test_cli_list_and_markdown() -> None:
    runner = CliRunner()
    out = runner.invoke(main, ["conformance", "list", "--role", "psrm"])
    assert out.exit_code == 0
    lines = out.output.splitlines()
    assert len(lines) == len(cases_for(Role.PSRM)) and all("PSE-" in x for x in lines)
    md = runner.invoke(main, ["conformance", "list", "--markdown"])
    assert md.exit_code == 0 and md.output == catalogue_markdown()


def test_cli_run_writes_reports_and_exits_by_outcome(tmp_path: Path) -> None:
    def make(url: str) -> Flask:
        return broken_app("accepts-reversed-period", f"sqlite:///{tmp_path}/cli.sqlite3",
                          base_url=url)

    runner = CliRunner()
    with served(make) as url:
        good = runner.invoke(main, ["conformance", "run", "--target", url, "--report",
                                    str(tmp_path / "ok"), "--case", "OIR-REG-00*"])
        bad = runner.invoke(main, ["conformance", "run", "--target", url, "--report",
                                   str(tmp_path / "bad"), "--case", "OIR-RUL-PSRM-569",
                                   "--case", "OIR-REG-001"])
        unknown = runner.invoke(main, ["conformance", "run", "--target", url, "--report",
                                       str(tmp_path / "x"), "--case", "NOPE-1"])
    assert good.exit_code == 0, good.output
    assert good.stdout.startswith("pass 7 fail 0 skip 0 error 0 (7 cases)")
    assert bad.exit_code == 1
    assert "FAIL  OIR-RUL-PSRM-569: the request is refused with a FejlSamling" in bad.output
    for folder in ("ok", "bad"):
        assert {p.name for p in (tmp_path / folder).iterdir()} == {
            "junit.xml", "report.json", "report.html"}
    assert unknown.exit_code == 2 and "NOPE-1" in unknown.output


def test_cli_needs_a_target() -> None:
    out = CliRunner().invoke(main, ["conformance", "run", "--report", "x"])
    assert out.exit_code == 2 and "--target" in out.output


# ---------------------------------------------------------------- results and reports

def test_an_unreachable_target_ends_the_run_before_any_case() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(TargetUnreachable, match="connection refused"):
        run_suite(suite_options(target=url, progress=False, timeout=5))
    with pytest.raises(TargetUnreachable, match="unknown host"):
        run_suite(suite_options(target="http://no-such-host.invalid:8080", progress=False))


def test_a_target_that_goes_away_mid_run_gives_errors_not_failures(tmp_path: Path) -> None:
    """Reachable when probed; every call after that is refused: errors with evidence."""
    url = f"http://127.0.0.1:{_free_port()}"
    session = requests.Session()
    session.mount(url, _AnswersOnce())
    report = run_suite(suite_options(target=url, cases=("OIR-REG-001", "OIR-HND-001"),
                                    session=session, progress=False, timeout=5))
    by_id = {r.case.id: r for r in report.results}
    assert by_id["OIR-REG-001"].status is Status.ERROR
    assert "OpretDebitorkonto" in by_id["OIR-REG-001"].reason
    assert by_id["OIR-REG-001"].evidence[0].error  # what was attempted is still shown
    assert by_id["OIR-HND-001"].status is Status.SKIP  # no admin API answered
    assert not report.ok


class _AnswersOnce(requests.adapters.HTTPAdapter):
    """Answers the first request (the suite's probe) with a 404, then refuses."""

    def __init__(self) -> None:
        super().__init__()
        self.answered = False

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
             ) -> requests.Response:
        if self.answered:
            raise requests.ConnectionError("Connection refused")
        self.answered = True
        response = requests.Response()
        response.status_code, response.url, response.request = 404, str(request.url), request
        response.raw = __import__("io").BytesIO(b"")
        return response


def test_a_bug_in_a_case_becomes_an_error_result(emulator: Flask) -> None:
    from oir_adapter.conformance import Case, run_case
    from oir_adapter.conformance.runner import environment

    def buggy(ctx: Any) -> None:
        ctx.open_account()
        raise ZeroDivisionError("a bug in the suite")

    c = Case(id="OIR-REG-999", title="buggy", requirement="r", source="s", role=Role.DEBITOR,
             area="REG", steps=("s",), assertions=("a",), severity="minor", run=buggy)
    with environment(suite_options(target=BASE, session=in_process(emulator))) as (env, _notes):
        result = run_case(env, c)
    assert result.status is Status.ERROR
    assert result.reason.startswith("suite error: ZeroDivisionError: a bug in the suite")
    assert [e.operation for e in result.evidence] == ["OpretDebitorkonto"]


def test_junit_and_json_reports(tmp_path: Path) -> None:
    import json

    from lxml import etree

    from oir_adapter.conformance.report import write_reports

    app = broken_app("accepts-reversed-period", f"sqlite:///{tmp_path}/r.sqlite3")
    try:
        report = run_suite(suite_options(target=BASE, session=in_process(app), progress=False,
                                        psrm="http://capture.invalid",
                                        cases=("OIR-RUL-PSRM-569", "OIR-REG-001", "OIR-CBK-001")))
    finally:
        runtime_of(app).close()
    paths = write_reports(report, tmp_path / "out")
    suite = etree.parse(str(paths["junit"])).getroot()[0]
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"),
            suite.get("skipped")) == ("3", "1", "0", "1")
    cases = {tc.get("name", "").split()[0]: tc for tc in suite.iter("testcase")}
    failure = cases["OIR-RUL-PSRM-569"].find("failure")
    assert failure is not None and "PSRM-569 @ Fordring/PeriodeFra" in failure.get("message", "")
    assert "OpretFordringRequest" in (cases["OIR-RUL-PSRM-569"].findtext("system-out") or "")
    assert cases["OIR-CBK-001"].find("skipped") is not None
    assert cases["OIR-REG-001"].get("classname") == "oir.conformance.debitor.REG"
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert data["summary"] == data["counts"] == {"pass": 1, "fail": 1, "skip": 1, "error": 0}
    assert data["ok"] is False and data["role"] == "debitor"
    failed = next(r for r in data["results"] if r["status"] == "fail")
    assert failed["id"] == "OIR-RUL-PSRM-569" and failed["rule_id"] == "PSRM-569"
    assert failed["checks"][-1]["passed"] is False
    assert any(e["operation"] == "OpretFordring" and e["http_status"] == 200
               for e in failed["evidence"])


def test_credentials_reach_the_soap_ends_and_the_admin_api(tmp_path: Path) -> None:
    app = create_app(db_url=f"sqlite:///{tmp_path}/auth.sqlite3", start_worker=False,
                     api_key="s3cret-key", admin_token="adm1n-token")
    session = requests.Session()
    session.mount(BASE, WSGIAdapter(app))
    session.put(f"{BASE}/_admin/clock", json={"now": START},
                headers={"Authorization": "Bearer adm1n-token"})
    chosen = ("OIR-REG-001", "OIR-HND-001")
    try:
        without = run_suite(suite_options(target=BASE, session=session, cases=chosen,
                                         progress=False))
        with_them = run_suite(suite_options(
            target=BASE, session=session, cases=chosen, progress=False,
            http_headers=(("X-API-Key", "s3cret-key"),), admin_token="adm1n-token"))
    finally:
        runtime_of(app).close()
    assert {r.case.id: r.status for r in without.results} == {
        "OIR-REG-001": Status.FAIL, "OIR-HND-001": Status.SKIP}
    assert not not_passed(with_them)
    assert with_them.environment["target_admin_api"] is True


# ---------------------------------------------------------------- a newcomer's run

def test_cli_against_nothing_is_one_line_and_its_own_exit_code(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    monkeypatch.chdir(tmp_path)
    for target, words in ((f"http://127.0.0.1:{_free_port()}", "connection refused"),
                          ("http://no-such-host.invalid:8080", "unknown host")):
        out = CliRunner().invoke(main, ["conformance", "run", "--target", target])
        assert out.exit_code == 3, out.output
        assert out.stderr.strip() == f"Error: cannot reach {target}: {words}" or (
            words in out.stderr and len(out.stderr.strip().splitlines()) == 1), out.stderr
        assert out.stdout == ""
    assert not (tmp_path / "var").exists()  # no report of a run that did not happen
    usage = CliRunner().invoke(main, ["conformance", "run", "--target", "127.0.0.1:8080"])
    assert usage.exit_code == 2 and "http://" in usage.output


def test_cli_reports_to_var_reports_role_with_a_line_per_case(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    monkeypatch.chdir(tmp_path)

    def make(url: str) -> Flask:
        return create_app(db_url=f"sqlite:///{tmp_path}/r.sqlite3", start_worker=False,
                          base_url=url)

    with served(make) as url:
        out = CliRunner().invoke(main, ["conformance", "run", "--target", url,
                                        "--case", "OIR-REG-00[12]"])
    assert out.exit_code == 0, out.output
    assert {p.name for p in (tmp_path / "var" / "reports" / "debitor").iterdir()} == {
        "junit.xml", "report.json", "report.html"}
    # not a terminal: one progress line per case on stderr, for CI logs
    lines = out.stderr.splitlines()
    assert lines[0] == f"conformance (debitor) against {url}: 2 cases"
    assert [line.split(" (")[0] for line in lines[1:]] == ["[1/2] OIR-REG-001 pass",
                                                           "[2/2] OIR-REG-002 pass"]


def test_a_run_against_a_shared_emulator_leaves_it_as_it_found_it(emulator: Flask) -> None:
    session = in_process(emulator, clock=False)
    assert session.put(f"{BASE}/_admin/clock", json={"now": "2026-11-02T10:00:00"}).ok
    demo = (ROOT / "emulator" / "scenarios" / "demo.yaml").read_bytes()
    assert session.post(f"{BASE}/_admin/scenario", data=demo,
                        headers={"Content-Type": "application/x-yaml"}).status_code == 200

    def seen() -> tuple[Any, ...]:
        return tuple(session.get(f"{BASE}/_admin/{path}").json()
                     for path in ("clock", "accounts", "psrm", "fagsystem/events"))

    before = seen()
    cases = ("OIR-REG-001", "OIR-HND-001", "OIR-PAY-002")
    report = run_suite(suite_options(target=BASE, session=session, cases=cases, progress=False))
    assert not not_passed(report), not_passed(report)
    assert report.environment["target_state"].startswith("restored after the run")
    assert seen() == before
    # the journal keeps the run's exchanges: what it did can still be read
    assert any(row["operation"] == "OpretFordring" and "KONF" in (row["summary"] or "")
               or row["operation"] == "OpretDebitorkonto"
               for row in session.get(f"{BASE}/_admin/journal?limit=500").json())
    # --leave-changes keeps them
    run_suite(suite_options(target=BASE, session=session, cases=cases, progress=False,
                           restore_state=False))
    assert len(session.get(f"{BASE}/_admin/accounts").json()) > len(before[1])


def test_a_capture_point_that_got_nothing_says_so_in_the_hint(tmp_path: Path) -> None:
    """The vendor forgot to point its PSRM URL at the capture point (here: it hands over
    to a PSRM nobody listens on): the capture cases fail with a hint that says so, and no
    report field is an empty hint."""
    capture = f"http://127.0.0.1:{_free_port()}"
    report = run_with_capture(tmp_path, capture=capture,
                              sends_to=f"http://127.0.0.1:{_free_port()}", wait=1,
                              cases=("OIR-HND-001", "OIR-CBK-001", "OIR-REG-001"))
    by_id = {r.case.id: r for r in report.results}
    assert by_id["OIR-REG-001"].status is Status.PASS
    for case_id in ("OIR-HND-001", "OIR-CBK-001"):
        assert by_id[case_id].status is Status.FAIL, by_id[case_id].reason
        assert by_id[case_id].hint.startswith(
            f"nothing reached {capture} — is your system's PSRM URL set to it"), case_id
    for result in report.as_json()["results"]:
        assert result.get("hint", "x") != ""
