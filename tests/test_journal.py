"""The journal is symmetric and the wire carries zones: every call the debtor end makes —
deliveries, callbacks and its own polls of PSRM — is an ``oir`` ``out`` row with its
TransaktionsID, correlation and a summary, matching the row of the end that received it;
clock events carry their virtual date and are all documented; every timestamp the
emulator writes on the wire has a zone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from emulator.serving import DEMO_SCENARIO

from .conftest import ROOT
from .emulator_inproc import InProcessEmulator, in_process

#: an xs:dateTime value as element text, and whether a zone follows it
_TIMESTAMP = re.compile(r">(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?)(Z|[+-]\d{2}:\d{2})?<")


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[InProcessEmulator, list[dict[str, Any]], list[dict[str, Any]]]]:
    """The demo scenario, then ten virtual days: every end talks to every other."""
    with in_process(tmp_path_factory.mktemp("journal")) as emu:
        emu.admin("PUT", "/clock", now="2026-11-02T10:00:00")
        loaded = emu.http.post("/_admin/scenario", data=DEMO_SCENARIO.read_bytes(),
                               content_type="application/x-yaml")
        assert loaded.status_code == 200, loaded.get_data(as_text=True)
        emu.admin("POST", "/psrm/events", due="2026-11-06", kind="pay", claim_ref="F0000004",
                  amount="250.00")
        events: list[dict[str, Any]] = []
        for _ in range(10):
            events += emu.admin("POST", "/clock/advance", days=1)["events"]
        rows = emu.admin("GET", "/journal?limit=10000&full=1")
        yield emu, rows, events


def test_every_call_the_debtor_end_makes_is_an_out_row(story: Any) -> None:
    _emu, rows, _events = story
    out = [r for r in rows if r["end"] == "oir" and r["direction"] == "out"]
    assert {r["operation"] for r in out} >= {"MFFordringIndberet", "RegistrerDaekningAfskrivning",
                                            "MFKvitteringHent", "MFUnderretSamlingHent"}
    received = {(r["operation"], r["transaction_id"]) for r in rows if r["direction"] == "in"}
    for r in out:
        assert r["summary"], r
        assert r["transaction_id"], r
        # the end that received it journaled the same exchange under the same id
        assert (r["operation"], r["transaction_id"]) in received, r


def test_out_rows_say_what_they_carried_and_whom_they_concern(story: Any) -> None:
    _emu, rows, _events = story
    out = [r for r in rows if r["end"] == "oir" and r["direction"] == "out"]
    callbacks = [r for r in out if r["operation"] == "RegistrerDaekningAfskrivning"]
    assert callbacks
    for r in callbacks:
        claims = [r["correlation"]["claim"]] if "claim" in r["correlation"] else \
            r["correlation"]["claims"]
        assert claims and all(re.fullmatch(r"F\d{7}", c) for c in claims), r
        assert re.match(r"\d+ events \(\d+ [A-Z]+", r["summary"]), r["summary"]
        for claim in claims:
            assert claim in r["request_xml"] and claim in r["summary"]
    deliveries = [r for r in out if r["operation"] == "MFFordringIndberet"]
    assert deliveries and all(re.match(r"\S+: \d+ actions, \d+ (MODTAGET|AFVIST)", r["summary"])
                              for r in deliveries), [r["summary"] for r in deliveries]
    polls = [r for r in out if r["operation"] == "MFUnderretSamlingHent"]
    assert any(re.match(r"[1-9]\d* notifications after \d+ \(\d+ DAEKNING", r["summary"])
               and "F0000004" in r["summary"] for r in polls), [r["summary"] for r in polls]
    receipts = [r for r in out if r["operation"] == "MFKvitteringHent"]
    assert receipts and all(r["summary"].startswith("receipts: ") for r in receipts)


def test_clock_events_carry_their_virtual_date(story: Any) -> None:
    _emu, _rows, events = story
    assert events
    for event in events:
        day = date.fromisoformat(event["date"])
        assert date(2026, 11, 2) <= day <= date(2026, 11, 12), event


def test_admin_api_lists_every_event_kind(story: Any) -> None:
    _emu, _rows, events = story
    doc = (ROOT / "docs" / "admin-api.md").read_text(encoding="utf-8")
    seen = {e["event"] for e in events}
    assert {"reminder_sent", "handover", "psrm_receipt", "action_status"} <= seen
    sources = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "emulator").glob("*.py"))
    written = set(re.findall(r'"event": "(\w+)"', sources))
    written |= {f"psrm_{kind}" for kind in ("daekning", "afskrivning", "retur")}
    written |= {"DAEKNING", "AFSKRIVNING", "RETUR"}  # the PSRM end's, by notification kind
    for kind in seen | written:
        assert f"`{kind}`" in doc, kind


#: How real PSRM writes the times in its answers: local time, milliseconds, no zone.
_PSRM_TIME = re.compile(r">\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}<")


def test_every_timestamp_the_emulator_writes_carries_its_zone(story: Any) -> None:
    """Every timestamp carries its zone, except the PSRM end's answers, which write them
    exactly as real PSRM does (docs/contracts.md)."""
    _emu, rows, _events = story
    psrm_answers = [r["response_xml"] for r in rows
                    if r["direction"] == "in" and r["end"] == "psrm" and r["response_xml"]]
    written = [r["response_xml"] for r in rows
               if r["direction"] == "in" and r["end"] != "psrm"] + \
              [r["request_xml"] for r in rows if r["direction"] == "out"]
    found = [m for xml in written if xml for m in _TIMESTAMP.finditer(xml)]
    assert len(found) > 20
    assert [m.group(0) for m in found if not m.group(2)] == []
    psrm_times = [m.group(0) for xml in psrm_answers for m in _TIMESTAMP.finditer(xml)]
    assert psrm_times and all(_PSRM_TIME.fullmatch(t) for t in psrm_times), psrm_times[:5]


def test_example_answers_show_zones_too() -> None:
    examples = (ROOT / "docs" / "examples")
    bare = [f"{p.name}: {m.group(0)}" for p in sorted(examples.glob("*.response.xml"))
            if not p.name.startswith("MF")  # PSRM's answers: as real PSRM writes them
            for m in _TIMESTAMP.finditer(p.read_text(encoding="utf-8")) if not m.group(2)]
    assert bare == []
