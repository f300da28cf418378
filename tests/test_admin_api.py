"""Admin answers that say what will not happen: a scripted PSRM event that can never fire,
or may find no claim when its day comes, is told in the answer to the request that
scripted it — not as one ``scripted_skipped`` among the clock's many events."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.serving import DEMO_SCENARIO

from .emulator_inproc import InProcessEmulator, in_process


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[InProcessEmulator]:
    with in_process(tmp_path) as emu:
        emu.admin("PUT", "/clock", now="2026-11-02T10:00:00")
        loaded = emu.http.post("/_admin/scenario", data=DEMO_SCENARIO.read_bytes(),
                               content_type="application/x-yaml")
        assert loaded.status_code == 200, loaded.get_data(as_text=True)
        yield emu


def test_an_event_dated_before_the_emulators_today_is_refused(demo: InProcessEmulator
                                                              ) -> None:
    for due in ("2026-11-01", "2026-11-02"):
        error = demo.admin("POST", "/psrm/events", expect=400, due=due, kind="pay",
                           claim_ref="F0000001")
        assert error["field"] == "due"
        assert "not after the emulator's today (2026-11-02)" in error["error"]
        assert "in_days" in error["error"]
    assert demo.admin("GET", "/psrm")["scripted_pending"] == 0


def test_in_days_counts_from_the_emulators_clock(demo: InProcessEmulator) -> None:
    answer = demo.admin("POST", "/psrm/events", in_days=7, kind="pay", claim_ref="F0000001",
                        amount="100.00")
    assert (answer["due"], answer["today"]) == ("2026-11-09", "2026-11-02")
    demo.admin("POST", "/psrm/events", expect=400, in_days=0, kind="pay", claim_ref="F0000001")
    demo.admin("POST", "/psrm/events", expect=400, in_days=3, due="2026-12-01", kind="pay",
               claim_ref="F0000001")


def test_an_event_about_an_unknown_claim_is_refused(demo: InProcessEmulator) -> None:
    error = demo.admin("POST", "/psrm/events", expect=400, in_days=3, kind="pay",
                       claim_ref="F9999999")
    assert error["field"] == "claim_ref" and "F9999999" in error["error"]
    error = demo.admin("POST", "/psrm/events", expect=400, in_days=3, kind="return",
                       efi_claim_id="EFI-999")
    assert error["field"] == "efi_claim_id"


def test_a_claim_not_yet_in_psrm_is_a_warning_that_comes_true(demo: InProcessEmulator
                                                               ) -> None:
    # F0000001 is at the debtor end; it reaches PSRM at the first advance (SRB passed)
    answer = demo.admin("POST", "/psrm/events", in_days=5, kind="pay", claim_ref="F0000001")
    assert answer["warning"] == ("F0000001 is not in PSRM yet: the event is skipped unless "
                                 "the claim is handed over before 2026-11-07")
    events = demo.admin("POST", "/clock/advance", days=5)["events"]
    fired = [e for e in events if e.get("scripted_id") == answer["id"]]
    assert [e["event"] for e in fired] == ["DAEKNING"]  # handed over meanwhile: it applied
    # paid in full by that event: another payment would find nothing to cover
    again = demo.admin("POST", "/psrm/events", in_days=1, kind="pay", claim_ref="F0000001")
    assert again["warning"].startswith("F0000001 is INDFRIET in PSRM, not AKTIV: the event "
                                       "is skipped")
    # a claim active in PSRM: nothing to warn about
    active = demo.admin("GET", "/psrm")["claims"]
    ref = next(c["claim_ref"] for c in active if c["status"] == "AKTIV")
    assert "warning" not in demo.admin("POST", "/psrm/events", in_days=1, kind="write_off",
                                       claim_ref=ref)


# ---------------------------------------------------------------- saved state

def test_state_goes_out_and_back_in_leaving_the_journal(demo: InProcessEmulator) -> None:
    saved = demo.admin("GET", "/state")
    before = (demo.admin("GET", "/clock"), demo.admin("GET", "/accounts"),
              demo.admin("GET", "/psrm"), demo.admin("GET", "/outbox"))
    journal_before = len(demo.admin("GET", "/journal?limit=10000"))
    # a run changes everything: the clock, PSRM, new accounts, a scripted event
    demo.admin("POST", "/clock/advance", days=4)
    demo.admin("POST", "/psrm/events", in_days=2, kind="write_off", claim_ref="F0000002")
    assert demo.admin("GET", "/psrm") != before[2]
    restored = demo.admin("PUT", "/state", **saved)
    assert restored["status"] == "restored" and restored["rows"]["accounts"] == 3
    assert (demo.admin("GET", "/clock"), demo.admin("GET", "/accounts"),
            demo.admin("GET", "/psrm"), demo.admin("GET", "/outbox")) == before
    # the journal is history: the run's exchanges stay
    assert len(demo.admin("GET", "/journal?limit=10000")) > journal_before
    # and the restored emulator works on from there as before
    again = demo.admin("POST", "/clock/advance", days=4)["events"]
    assert {"reminder_sent", "handover"} <= {e["event"] for e in again}


def test_a_state_that_is_not_one_is_refused_and_changes_nothing(demo: InProcessEmulator
                                                                ) -> None:
    saved = demo.admin("GET", "/state")
    error = demo.admin("PUT", "/state", expect=400, format="something else", tables={})
    assert error["field"] == "format"
    broken = {**saved, "tables": {**saved["tables"], "accounts": [{"nope": 1}]}}
    error = demo.admin("PUT", "/state", expect=400, **broken)
    assert "accounts has no column 'nope'" in error["error"]
    assert len(demo.admin("GET", "/accounts")) == 3
