"""``oir serve --replay DIR``: a recorded story told again gets the recorded answers,
matched by operation and business keys (the replaying client makes new TransaktionsIDs);
an unmatched request gets a fault naming the nearest recorded exchange; the journal and
the dashboard show what was replayed; several gunicorn workers replay in step."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from lxml import etree

from emulator.app import create_app, runtime_of
from oir_adapter import messages
from oir_adapter.cli import main
from oir_adapter.clients import SoapFaultError, clients_for
from oir_adapter.clients.reply import read_psrm_outcome
from oir_adapter.contracts import KONTEKST_NS, PSRM_NS, SOAP11_ENV_NS, safe_parser
from oir_adapter.model import Party
from oir_adapter.recording import Recording

from .emulator_process import EmulatorProcess
from .recorded_traffic import CALLER, StoryAnswers, loopback, record_story, tell_story


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, StoryAnswers]:
    tmp = tmp_path_factory.mktemp("replay")

    def make(**config: Any) -> Any:
        return create_app(db_url=f"sqlite:///{tmp}/e.sqlite3", start_worker=False, **config)

    answers = record_story(make, tmp / "rec")
    return tmp / "rec", answers


@pytest.fixture
def replaying(story: tuple[Path, StoryAnswers], tmp_path: Path) -> Iterator[str]:
    app = create_app(db_url=f"sqlite:///{tmp_path}/replay.sqlite3", start_worker=False,
                     replay_dir=str(story[0]))
    try:
        with loopback(app) as server:
            yield server.url
    finally:
        runtime_of(app).close()


def test_the_story_told_again_gets_the_recorded_answers(story: tuple[Path, StoryAnswers],
                                                        replaying: str) -> None:
    folder, recorded = story
    soap = clients_for(replaying)
    try:
        again = tell_story(soap, admin_base=None)
    finally:
        soap.close()
    assert again.answers == recorded.answers
    rows = requests.get(f"{replaying}/_admin/journal?end=oir&limit=100", timeout=10).json()
    assert len(rows) == 13 and {r["status"] for r in rows} == {"ok"}
    assert all(r["summary"].startswith("replayed recorded exchange ") for r in rows)
    recorded_ids = [r["correlation"]["recorded"] for r in reversed(rows)]
    assert len(set(recorded_ids)) == 13  # every answer came from its own recorded exchange
    oir = [x.id for x in Recording.open(folder).exchanges  # the debtor end's, not callbacks
           if x.meta["path"].startswith("/service/OIR/Debitor")]
    assert recorded_ids == oir
    page = requests.get(f"{replaying}/journal", timeout=10)
    assert page.status_code == 200 and "replayed recorded exchange" in page.text
    assert requests.get(f"{replaying}/", timeout=10).status_code == 200  # the overview


def test_every_recorded_request_sent_verbatim_gets_its_recorded_answer(
        story: tuple[Path, StoryAnswers], replaying: str) -> None:
    for x in Recording.open(story[0]).exchanges:
        headers = {k: v for k, v in x.meta["request"]["headers"]
                   if k.lower() in ("content-type", "soapaction")}
        r = requests.post(replaying + x.meta["path"], data=x.request, headers=headers,
                          timeout=10)
        assert (r.status_code, r.content) == (x.status, x.response), x.id


def _oir(replaying: str) -> Any:
    return clients_for(replaying)


def test_an_unmatched_request_names_the_nearest_recorded_exchange(
        story: tuple[Path, StoryAnswers], replaying: str) -> None:
    first = next(x for x in Recording.open(story[0]).exchanges if x.operation == "OpretFordring")
    account = "100001"
    claim = messages.ClaimSpec("REC-F9", "CFFAKTU", Decimal("1000.00"), date(2026, 1, 1),
                               date(2026, 1, 31), date(2026, 2, 1), date(2026, 3, 10),
                               date(2026, 3, 16))
    soap = _oir(replaying)
    try:
        with pytest.raises(SoapFaultError) as caught:
            soap.debitor_registrering.call("OpretFordring", messages.opret_fordring(
                CALLER, account_number=account, claim=claim))
        with pytest.raises(SoapFaultError) as none_recorded:
            soap.debitor_modregning.call("ForetagModregning", messages.foretag_modregning(
                CALLER, benefit_id="Y-1", recipient=Party.cpr("0405871270"),
                benefit_type="FOLKEPEN", payout=date(2026, 4, 1), gross=Decimal("100.00"),
                protected=Decimal("0.00")))
    finally:
        soap.close()
    fault = caught.value
    assert fault.kind == "Client" and fault.http_status == 500
    assert "no recorded OpretFordringRequest has these business keys" in fault.faultstring
    assert f"nearest: recorded exchange {first.id} (FagsystemFordringID REC-F9 here, " \
           "REC-F1 recorded)" in fault.faultstring
    assert "the recording holds no ForetagModregningRequest (it holds: " \
           in none_recorded.value.faultstring
    rows = requests.get(f"{replaying}/_admin/journal?status=fault", timeout=10).json()
    assert {r["operation"] for r in rows} == {"OpretFordring", "ForetagModregning"}


def test_the_answer_echoes_the_callers_transaction_id(story: tuple[Path, StoryAnswers],
                                                      replaying: str) -> None:
    body = messages.hent_debitorkonto(CALLER, account_number="100001",
                                      transaction_id="0f0f0f0f-1111-2222-3333-444444444444")
    soap = _oir(replaying)
    try:
        reply = soap.debitor_forespoergsel.call("HentDebitorkonto", body)
    finally:
        soap.close()
    assert reply.transaction_id == "0f0f0f0f-1111-2222-3333-444444444444"
    assert reply.findtext("Debitorkonto/DebitorkontoNummer") == "100001"


def test_psrm_traffic_is_matched_past_its_kontekst(story: tuple[Path, StoryAnswers],
                                                  replaying: str) -> None:
    """The debtor end's PSRM link, sent again with new TransaktionsIDs and times in the
    Kontekst (PSRM's own namespace): each delivery, receipt fetch and notification search
    gets its recorded answer — PSRM's numeric ids as they were — echoing the new
    TransaktionsID in the answer's Kontekst."""
    psrm = [x for x in Recording.open(story[0]).exchanges if x.meta["path"].startswith("/psrm/")]
    assert {x.operation for x in psrm} >= {"MFFordringIndberet", "MFKvitteringHent",
                                           "MFUnderretSamlingHent"}
    head = f"{{{PSRM_NS}}}Kontekst/{{{KONTEKST_NS}}}HovedOplysninger/{{{KONTEKST_NS}}}"
    for n, x in enumerate(psrm):
        assert x.request is not None and x.response is not None
        envelope = etree.fromstring(x.request, safe_parser())
        message = _message(envelope)
        tid = f"0f0f0f0f-1111-2222-3333-{n:012d}"
        for name, value in (("TransaktionsID", tid), ("TransaktionsTid", "2030-01-01T12:00:00")):
            found = message.find(head + name)
            assert found is not None, x.id
            found.text = value
        r = requests.post(replaying + x.meta["path"],
                          data=etree.tostring(envelope, encoding="utf-8"),
                          headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=10)
        answer = _message(etree.fromstring(r.content, safe_parser()))
        recorded = _message(etree.fromstring(x.response, safe_parser()))
        got, want = read_psrm_outcome(answer), read_psrm_outcome(recorded)
        assert r.status_code == x.status and got[1] == tid, x.id
        assert (got[0], got[2], got[3]) == (want[0], want[2], want[3]), x.id
        assert all(a.efi_claim_id is None or a.efi_claim_id.isdigit() for a in got[3])
    rows = requests.get(f"{replaying}/_admin/journal?end=psrm&limit=100", timeout=10).json()
    assert [r["correlation"]["recorded"] for r in reversed(rows)] == [x.id for x in psrm]


def _message(envelope: etree._Element) -> etree._Element:
    body = envelope.find(f"{{{SOAP11_ENV_NS}}}Body")
    assert body is not None and len(body)
    return body[0]


def test_oir_serve_replay_with_two_workers(story: tuple[Path, StoryAnswers],
                                           tmp_path: Path) -> None:
    """Under gunicorn, several workers share which recorded exchanges were served."""
    body = messages.hent_debitorkonto(CALLER, account_number="100001")
    with EmulatorProcess(tmp_path / "r.sqlite3", workers=2,
                         extra=["--replay", str(story[0])]) as emu:
        soap = clients_for(emu.url)
        try:
            seen = [soap.debitor_forespoergsel.call("HentDebitorkonto", body)
                    .findtext("Debitorkonto/Saldo") for _ in range(3)]
        finally:
            soap.close()
        rows = requests.get(f"{emu.url}/_admin/journal?operation=HentDebitorkonto",
                            timeout=10).json()
    # before the payments, after the hand-over, and the last one again
    assert seen == ["1500.00", "800.00", "800.00"]
    assert [r["summary"].endswith("served before)") for r in reversed(rows)] == [
        False, False, True]


def test_replay_refuses_a_folder_that_is_no_recording(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["serve", "--replay", str(tmp_path)])
    assert result.exit_code == 2 and "is not a recording" in result.output
