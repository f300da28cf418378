"""``oir conformance judge DIR``: the suite's judging cases over a recording.

A story told to the emulator through ``oir record``'s proxies (ØIR, PSRM link, callbacks)
passes every judged case; the same story told to each deliberately broken debtor system
fails exactly the case guarding the broken behaviour, with the recorded exchange as
evidence. The same recording judged for the fagsystem finds the fagsystem's own mistakes;
deliveries sent in an impossible order fail the action-order case.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from emulator.app import create_app, runtime_of
from oir_adapter import mapping
from oir_adapter.cli import main
from oir_adapter.clients import Clients, clients_for
from oir_adapter.conformance import RunReport, Status
from oir_adapter.conformance.judge import judge_cases, judge_recording
from oir_adapter.conformance.model import Role
from oir_adapter.model import Claim, ClaimArt, CoLiable, Party, RecallReason, WriteDownReason
from oir_adapter.recording import Recording

from .broken_debtors import BREAKAGES, broken_app
from .recorded_traffic import loopback, record_story, recording_proxy

#: breakage → the judged cases that must fail (and no others).
EXPECTED: dict[str, set[str]] = {
    "ignores-coverage-order": {"REC-PAY-001"},
    "accepts-reversed-period": {"REC-RUL-PSRM-569"},
    "schema-invalid-search-answer": {"REC-ERR-001"},
    "double-books-repeated-payment": {"REC-IDM-003"},
}


def _recorded(tmp: Path, breakage: str | None = None) -> Path:
    def make(**config: Any) -> Any:
        url = f"sqlite:///{tmp}/debtor.sqlite3"
        if breakage is None:
            return create_app(db_url=url, start_worker=False, **config)
        return broken_app(breakage, url, **config)

    record_story(make, tmp / "rec")
    return tmp / "rec"


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _recorded(tmp_path_factory.mktemp("good"))


def failed(report: RunReport) -> set[str]:
    assert not report.by_status(Status.ERROR), [r.reason for r in report.by_status(Status.ERROR)]
    return {r.case.id for r in report.by_status(Status.FAIL)}


def test_the_emulators_recorded_traffic_passes(good: Path) -> None:
    report = judge_recording(good)
    assert failed(report) == set()
    assert report.role is Role.RECORDED
    by_id = {r.case.id: r for r in report.results}
    assert len(by_id) == len(judge_cases(Role.RECORDED))
    # the story exercised what the cases judge
    for judged in ("REC-PAY-001", "REC-IDM-001", "REC-IDM-002", "REC-IDM-003",
                   "REC-RUL-PSRM-569", "REC-ERR-001", "REC-HND-001", "OIR-PSR-002",
                   "PSC-DLV-002", "PSC-RCP-001", "OIR-CBK-003"):
        assert by_id[judged].status is Status.PASS, (judged, by_id[judged].reason)
    payments = next(c for c in by_id["REC-PAY-001"].checks if c.assertion == "payments judged")
    assert payments.got == "2"
    skipped = {r.case.id for r in report.by_status(Status.SKIP)}
    assert skipped == {"REC-IDM-004", "PSC-RUL-PSRM-2", "PSC-RUL-PSRM-151", "PSC-RUL-PSRM-5"}
    assert report.environment["oir_exchanges"] == 13 and report.environment["left_out"] == 0


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_a_broken_debtor_fails_exactly_the_case_that_guards_it(breakage: str,
                                                               tmp_path: Path) -> None:
    report = judge_recording(_recorded(tmp_path, breakage))
    assert failed(report) == EXPECTED[breakage]
    for r in report.by_status(Status.FAIL):
        check = r.failed_check
        assert check is not None and check.got and (r.hint or r.case.hint)
        pointed = [e for e in r.evidence if e.url.startswith("recorded exchange ")]
        assert pointed and all(e.request for e in pointed), r.case.id


def test_a_finding_says_precisely_what_was_wrong(tmp_path: Path) -> None:
    folder = _recorded(tmp_path, "ignores-coverage-order")
    (result,) = judge_recording(folder, cases=["REC-PAY-001"]).results
    check = result.failed_check
    assert check is not None
    assert check.assertion == "ForetagIndbetaling BANK-1 covers in the § 4 order"
    assert check.expected == "F0000002 principal 500.00, F0000001 principal 200.00; surplus 0.00"
    assert check.got == "F0000001 principal 700.00; surplus 0.00"
    payment = next(x for x in Recording.open(folder).exchanges
                   if x.operation == "ForetagIndbetaling")
    assert [e.url for e in result.evidence][-1] == \
        f"recorded exchange {payment.id} (exchanges/{payment.id}.json)"


def test_the_same_recording_judged_for_the_fagsystem(good: Path) -> None:
    """The story's fagsystem reverses a period and reuses a TransaktionsID on purpose."""
    report = judge_recording(good, judged="fagsystem")
    assert report.role is Role.FAGSYSTEM
    assert failed(report) == {"FAG-RUL-PSRM-569", "FAG-TRF-003", "FAG-TRF-004"}


def _claim(ref: str) -> Claim:
    today = date.today()
    return Claim(id=ref, account_number="", fagsystem_claim_id=ref, type_code="DAGINST",
                 principal=Decimal("1500.00"), period_from=today - timedelta(days=70),
                 period_to=today - timedelta(days=41), founded=today - timedelta(days=40),
                 due_date=today - timedelta(days=30), srb=today - timedelta(days=20),
                 received=today, art=ClaimArt.RECOVERY,
                 co_liable=[CoLiable(Party.cpr("0101901234"))])


def _deliver(soap: Clients, actions: list[Any], delivery_id: str) -> Any:
    body = mapping.delivery(actions, se_number="29189846", delivery_id=delivery_id,
                            transaction_id=str(uuid.uuid4()),
                            transaction_time=datetime.now().astimezone())
    return soap.mf_fordring_indberet.call("MFFordringIndberet", body)


#: what is sent after handing a claim over (W write-down, R recall with its reason, G
#: GENINDSENDFORDRING) → REC-HND-001's finding (``None``: it passes).
ORDERS: dict[str, tuple[str, str | None]] = {
    "in-order": ("W R:HENS", None),
    "after-recall": ("R:HENS W", "nothing but GENINDSEND follows a recall (got NEDSKRIV on "
                                 "{efi} after its TILBAGEKALD)"),
    "resubmitted-after-deferral": ("R:HENS G", None),
    "resubmitted-after-error": ("R:FEJL G", "a claim recalled with FEJL or BORT goes again as "
                                            "OPRETFORDRING (got GENINDSENDFORDRING of {efi} "
                                            "after its TILBAGEKALD FEJL)"),
    "resubmitted-unrecalled": ("G", "GENINDSENDFORDRING only for a recalled claim (got "
                                    "GENINDSENDFORDRING of {efi}, which is not recalled)"),
}


@pytest.mark.parametrize("order", sorted(ORDERS))
def test_actions_for_one_claim_must_come_in_a_possible_order(tmp_path: Path,
                                                             order: str) -> None:
    steps, finding = ORDERS[order]
    app = create_app(db_url=f"sqlite:///{tmp_path}/psrm.sqlite3", start_worker=False)
    try:
        with loopback(app) as psrm, loopback(recording_proxy(psrm.url, tmp_path / "rec")) as p:
            soap = clients_for(p.url)
            claim = _claim("REF-1")
            efi = _deliver(soap, [mapping.opret_fordring_action(
                claim, None, creditor_id="1229")], "L-1").first_action.efi_claim_id
            assert efi is not None and efi.isdigit()  # PSRM's claim ids are numbers
            for n, step in enumerate(steps.split(), start=2):
                kind, _, reason = step.partition(":")
                if kind == "W":
                    action = mapping.nedskriv_action(efi, Decimal("100.00"),
                                                     WriteDownReason.PAYMENT, creditor_id="1229")
                elif kind == "R":
                    action = mapping.tilbagekald_action(efi, RecallReason(reason),
                                                        creditor_id="1229")
                else:
                    action = mapping.genindsend_action(claim, None, creditor_id="1229",
                                                       efi_claim_id=efi)
                _deliver(soap, [action], f"L-{n}")
            soap.close()
    finally:
        runtime_of(app).close()
    report = judge_recording(tmp_path / "rec", judged="psrm-client")
    by_id = {r.case.id: r for r in report.results}
    judged = by_id["REC-HND-001"]
    if finding is None:
        assert judged.status is Status.PASS, judged.reason
        return
    assert judged.status is Status.FAIL
    assert judged.reason == finding.format(efi=efi)
    assert judged.evidence[-1].url.startswith(f"recorded exchange 00000{len(steps.split()) + 1} ")


def test_a_group_the_recording_holds_nothing_of_is_skipped(tmp_path: Path) -> None:
    app = create_app(db_url=f"sqlite:///{tmp_path}/e.sqlite3", start_worker=False)
    try:
        with loopback(app) as emu, loopback(recording_proxy(emu.url, tmp_path / "rec")) as p:
            soap = clients_for(p.url)
            soap.mf_kvittering_hent.call("MFKvitteringHent", mapping.kvittering_request(
                se_number="29189846", delivery_id="NONE"))
            soap.close()
    finally:
        runtime_of(app).close()
    report = judge_recording(tmp_path / "rec", judged="fagsystem")
    assert {r.status for r in report.results} == {Status.SKIP}
    assert {r.reason for r in report.results} == {"the recording holds no ØIR exchange"}
    assert report.ok


def test_the_command_writes_the_suites_reports(tmp_path: Path) -> None:
    folder = _recorded(tmp_path, "accepts-reversed-period")
    runner = CliRunner()
    bad = runner.invoke(main, ["conformance", "judge", str(folder), "--report",
                               str(tmp_path / "out")])
    assert bad.exit_code == 1, bad.output
    assert "FAIL  REC-RUL-PSRM-569: a claim breaking PSRM-569 is refused with it" in bad.output
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "junit.xml", "report.json", "report.html"}
    data = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert data["role"] == "recorded" and data["environment"]["recording"] == str(folder)
    result = next(r for r in data["results"] if r["id"] == "REC-RUL-PSRM-569")
    assert any(e["url"].startswith("recorded exchange ") and "PeriodeFra" in e["request"]
               for e in result["evidence"])
    assert "recorded exchange" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    one = runner.invoke(main, ["conformance", "judge", str(folder), "--report",
                               str(tmp_path / "one"), "--case", "REC-PAY-*"])
    assert one.exit_code == 0 and one.output.startswith("pass 1 fail 0 skip 0 error 0 (1 cases)")
    nothing = runner.invoke(main, ["conformance", "judge", str(tmp_path), "--report",
                                   str(tmp_path / "x")])
    assert nothing.exit_code == 2 and "is not a recording" in nothing.output
    unknown = runner.invoke(main, ["conformance", "judge", str(folder), "--report",
                                   str(tmp_path / "x"), "--case", "NOPE-*"])
    assert unknown.exit_code == 2 and "NOPE-*" in unknown.output


def test_a_refusal_for_what_the_account_holds_is_no_claim_rule_finding(tmp_path: Path) -> None:
    """Registering a claim reference again with other content is refused (OIR-303) by what
    the account holds, not by the claim: no claim rule may be held against it."""
    from oir_adapter import messages

    from .recorded_traffic import CALLER

    app = create_app(db_url=f"sqlite:///{tmp_path}/e.sqlite3", start_worker=False)
    try:
        with loopback(app) as emu, loopback(recording_proxy(emu.url, tmp_path / "rec")) as p:
            soap = clients_for(p.url)
            reg = soap.debitor_registrering
            account = reg.call("OpretDebitorkonto", messages.opret_debitorkonto(
                CALLER, reference="K-1", party=Party.cpr("0405871270"), name="Mette")
            ).findtext("DebitorkontoNummer")
            today = date.today()
            spec = messages.ClaimSpec("F-1", "DAGINST", Decimal("500.00"),
                                      today - timedelta(days=40), today - timedelta(days=11),
                                      today - timedelta(days=10), today + timedelta(days=20),
                                      today + timedelta(days=45))
            reg.call("OpretFordring", messages.opret_fordring(CALLER, account_number=account,
                                                              claim=spec))
            other = replace(spec, principal=Decimal("600.00"))
            refused = reg.call("OpretFordring", messages.opret_fordring(
                CALLER, account_number=account, claim=other))
            soap.close()
    finally:
        runtime_of(app).close()
    assert [e.code for e in refused.errors] == ["OIR-303"]
    report = judge_recording(tmp_path / "rec", cases=["REC-RUL-*"])
    assert failed(report) == set()
    assert "REC-RUL-OIR-303" not in {r.case.id for r in report.results}
