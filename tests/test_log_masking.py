"""CPR numbers never appear unmasked in the logs or in error texts (the journal keeps what
was sent). The full-run test greps the log of a real ``oir serve`` process, at debug level
(zeep dumps whole envelopes there), after the end-to-end story and a few refusals that
quote what the caller sent."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import requests
from lxml import etree

from emulator.serving.logs import CprMaskingFormatter, configure_logging, mask_cprs
from emulator.soap.envelope import SoapFault, fault_bytes
from oir_adapter.contracts import SchemaViolation
from tests.emulator_process import EmulatorProcess
from tests.test_e2e_story import CPR as STORY_CPR
from tests.test_e2e_story import run_story

# CPR numbers this file sends somewhere they could be echoed back
SENT = ("0405871270", "1203852815", "3112999998")


def test_mask_cprs_masks_what_looks_like_a_cpr_and_nothing_else() -> None:
    assert mask_cprs("cpr 0405871270 and 120385-2815.") == "cpr 040587-XXXX and 120385-XXXX."
    assert mask_cprs("<CPRNummer>3112999998</CPRNummer>") == "<CPRNummer>311299-XXXX</CPRNummer>"
    # not a date in front, or part of a longer number: left alone
    for text in ("4105871270", "0413871270", "12345678901", "FIK 710000012345678",
                 "2026-03-02", "29189846", "amount 1234.50"):
        assert mask_cprs(text) == text


def test_the_formatter_masks_messages_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(CprMaskingFormatter(logging.Formatter("%(message)s")))
    log = logging.getLogger("test.masking")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("debtor %s", "0405871270")
        try:
            raise ValueError("bad party 1203852815")
        except ValueError:
            log.exception("while booking for 3112999998")
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert not any(cpr in text for cpr in SENT)
    assert "040587-XXXX" in text and "120385-XXXX" in text and "311299-XXXX" in text
    assert "Traceback" in text  # the traceback itself is kept, only masked


def test_configure_logging_wraps_every_handler_once() -> None:
    root = logging.getLogger()
    saved = list(root.handlers), root.level, logging.lastResort
    try:
        configure_logging("info")
        configure_logging("info")
        ours = [h for h in root.handlers if getattr(h, "_oir_masking", False)]
        assert len(ours) == 1
        assert all(isinstance(h.formatter, CprMaskingFormatter) for h in root.handlers)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.lastResort = saved[2]


def test_fault_texts_mask_cprs_in_message_and_detail() -> None:
    body = fault_bytes(SoapFault("Client", "party 0405871270 unknown", [
        SchemaViolation("/a/CVRNummer", "value '1203852815' is not 8 digits", 3)]))
    text = body.decode()
    assert "0405871270" not in text and "1203852815" not in text
    assert "040587-XXXX" in text and "120385-XXXX" in text
    assert str(SoapFault("Client", "x 0405871270")) == "Client: x 040587-XXXX"


def test_no_cpr_in_the_logs_of_a_full_run(tmp_path: Path) -> None:
    with EmulatorProcess(tmp_path / "log.sqlite3", env={"OIR_LOG_LEVEL": "debug"}) as emu:
        run_story(emu.url)
        # refusals that quote the caller's values: a CPR where a CVR belongs, a CPR in a
        # non-XML body, a business error on a CPR account
        search = f"{emu.url}/oir/DebitorForespoergsel/1"
        wrong = (Path(__file__).parent.parent / "docs/examples/SoegDebitorkonto.request.xml"
                 ).read_bytes().replace(b"<MyndighedCVR>29189846</MyndighedCVR>",
                                        b"<MyndighedCVR>3112999998</MyndighedCVR>")
        assert b"3112999998" in wrong
        r = requests.post(search, data=wrong, headers={"Content-Type": "text/xml"}, timeout=30)
        assert r.status_code == 500 and b"3112999998" not in r.content
        r = requests.post(search, data=b"<x>1203852815", headers={"Content-Type": "text/xml"},
                          timeout=30)
        assert r.status_code == 500
        journal = requests.get(f"{emu.url}/_admin/journal?full=1&limit=10000", timeout=30).json()
    log = emu.log()
    assert "DEBUG" in log and "INFO" in log  # it did log, at the level asked for
    assert len(log) > 10_000
    leaked = [cpr for cpr in (STORY_CPR, *SENT) if cpr in log]
    assert leaked == [], [line for line in log.splitlines() if any(c in line for c in leaked)][:5]
    # the lines were there, masked: the story's hand-over, the refused requests
    assert "040587-XXXX" in log and "311299-XXXX" in log and "120385-XXXX" in log
    # the journal keeps what was sent
    requests_sent = "".join(j["request_xml"] or "" for j in journal)
    assert STORY_CPR in requests_sent and "3112999998" in requests_sent
    etree.fromstring(r.content)  # and the last answer was still a SOAP envelope
