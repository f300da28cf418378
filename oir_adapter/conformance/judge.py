"""``oir conformance judge DIR``: the suite's judging cases run over a recording.

A recording made by ``oir record`` is turned into rows of the emulator journal's shape —
one per recorded SOAP exchange whose message the contracts know, placed on the ØIR, PSRM
or fagsystem end by its message element (not its URL, which is the vendor's) and dated by
the answering system's own ``TransaktionsTid`` (a test system's virtual clock included)
as well as by the wall clock of the recording.
The cases that judge messages and exchanges read those rows instead of a live journal:

* ``debitor`` (a debtor system): the ``recorded`` role's cases (its answers, rules,
  idempotency, coverage order, action order per claim), what it delivered to PSRM
  (``PSC-…`` schema, ids, indgangsfilter, receipts; ``OIR-PSR-002`` the hand-over rules)
  and the callbacks it sent (``OIR-CBK-003``);
* ``fagsystem``: the ``FAG-…`` cases on the fagsystem's ØIR requests;
* ``psrm-client`` (any fordringshaver system): what it delivered to PSRM.

A group of cases whose end the recording holds nothing of is skipped with that reason.
The reports are the suite's (JUnit XML, JSON, HTML); each finding's evidence is the
recorded exchange itself, named by its id and file.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
from lxml import etree

from .. import __version__
from ..clients import clients_for
from ..contracts import operation_for_element, safe_parser
from ..recording import RecordedExchange, Recording
from ..recording.matching import message_of
from .catalogue import all_cases
from .context import Endpoint, Environment, SuiteOptions
from .model import Case, Result, Role, RunReport, Status
from .runner import run_case

#: who is judged → the role its report carries
JUDGED_ROLES: dict[str, Role] = {"debitor": Role.RECORDED, "fagsystem": Role.FAGSYSTEM,
                                 "psrm-client": Role.PSRM_CLIENT}

_PSRM_LINK = (("PSC-DLV-00[2-5]", "psrm"), ("PSC-RCP-*", "psrm"), ("PSC-RUL-*", "psrm"),
              ("OIR-PSR-002", "psrm"), ("REC-HND-*", "psrm"))
#: the cases each judgement runs, as (id pattern, the end whose exchanges they read)
CASES: dict[Role, tuple[tuple[str, str], ...]] = {
    Role.RECORDED: (("REC-HND-*", "psrm"), ("REC-*", "oir"), *_PSRM_LINK,
                    ("OIR-CBK-003", "fagsystem")),
    Role.FAGSYSTEM: (("FAG-*", "oir"),),
    Role.PSRM_CLIENT: _PSRM_LINK,
}
_END_NAMES = {"oir": "ØIR", "psrm": "PSRM", "fagsystem": "fagsystem callback"}


def judge_cases(role: Role, patterns: Iterable[str] = ()) -> list[tuple[Case, str]]:
    """The cases a judgement of ``role`` runs, each with the end it reads; narrowed to
    ids matching ``patterns`` (an unknown pattern raises ``KeyError``)."""
    chosen: list[tuple[Case, str]] = []
    for c in all_cases():
        end = next((e for pattern, e in CASES[role] if fnmatch.fnmatchcase(c.id, pattern)),
                   None)
        if end is not None:
            chosen.append((c, end))
    wanted = [p.upper() for p in patterns]
    for p in wanted:
        if not any(fnmatch.fnmatchcase(c.id, p) for c, _ in chosen):
            raise KeyError(f"no case of this judgement matches {p!r}")
    if wanted:
        chosen = [(c, e) for c, e in chosen if any(fnmatch.fnmatchcase(c.id, p) for p in wanted)]
    return chosen


# ---------------------------------------------------------------- recording → rows

def _local_time(value: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.astimezone().replace(tzinfo=None) if when.tzinfo else when


def message_time(message: etree._Element | None) -> datetime | None:
    """The sender's own time of a message (its first ``TransaktionsTid``)."""
    if message is None:
        return None
    found = next(message.iter("{*}TransaktionsTid"), None)
    return None if found is None or not found.text else _local_time(found.text)


def _row(x: RecordedExchange, parser: etree.XMLParser) -> dict[str, Any] | None:
    request = message_of(x.request, parser)
    known = operation_for_element(str(request.tag)) if request is not None else None
    if request is None or known is None or not known[1]:
        return None
    op = known[0]
    response = message_of(x.response, parser)
    started = x.started.astimezone().replace(tzinfo=None)
    when = message_time(response) or message_time(request) or started
    fault = response is not None and etree.QName(response).localname == "Fault"
    status = ("error" if x.outcome != "ok" else "fault" if fault
              else "http_error" if (x.status or 0) >= 400 else "ok")
    summary = x.meta.get("error")
    if fault and response is not None:
        summary = f"{(response.findtext('faultcode') or '').strip()}: " \
                  f"{(response.findtext('faultstring') or '').strip()}"[:400]
    tid = next(request.iter("{*}TransaktionsID"), None)
    # "at": when it arrived, by the wall clock; "virtual_at": by the receiving system's own
    # clock, as its answer states it (a test system on a virtual clock included)
    return {"id": x.seq, "at": started.isoformat(), "virtual_at": when.isoformat(),
            "end": op.service.end, "direction": "in", "service": op.service.name,
            "operation": op.name, "status": status, "http_status": x.status,
            "transaction_id": tid.text if tid is not None else None, "correlation": {},
            "duration_ms": x.elapsed_ms, "summary": summary,
            "request_xml": (x.request or b"").decode("utf-8", "replace"),
            "response_xml": x.response.decode("utf-8", "replace") if x.response else None,
            "where": x.where}


def recording_rows(recording: Recording) -> tuple[dict[str, list[dict[str, Any]]], int]:
    """The recording's exchanges as journal rows per end, and how many were left out
    (not SOAP, or a message the contracts do not know)."""
    parser = safe_parser(huge_tree=True)
    ends: dict[str, list[dict[str, Any]]] = {"oir": [], "psrm": [], "fagsystem": []}
    left_out = 0
    for x in recording.exchanges:
        row = _row(x, parser)
        if row is None:
            left_out += 1
        else:
            ends.setdefault(row["end"], []).append(row)
    return ends, left_out


# ---------------------------------------------------------------- the judgement

def judge_recording(folder: Path, *, judged: str = "debitor", cases: Iterable[str] = (),
                    fagsystem_id: str | None = None) -> RunReport:
    """Judge the recording in ``folder``; ``judged`` names who is under test (a key of
    :data:`JUDGED_ROLES`). Raises ``RecordingError`` for a folder that is no recording
    and ``KeyError`` for a case pattern that matches nothing."""
    role = JUDGED_ROLES[judged]
    chosen = judge_cases(role, cases)
    recording = Recording.open(folder)
    ends, left_out = recording_rows(recording)
    started = datetime.now().isoformat(timespec="seconds")
    target = f"recording {folder}"
    options = SuiteOptions(target=target, role=role, fagsystem_filter=fagsystem_id,
                           progress=False)
    session = requests.Session()
    endpoint = Endpoint(target, session, admin=True, version=__version__)
    clients = clients_for("http://recording.invalid", session=session)
    env = Environment(options, endpoint, clients, endpoint)

    def source(end: str, operation: str | None) -> list[dict[str, Any]]:
        return [r for r in ends.get(end, []) if operation is None or r["operation"] == operation]

    env.journal_source = source
    results: list[Result] = []
    try:
        for c, end in chosen:
            if not ends.get(end):
                results.append(Result(c, Status.SKIP, f"the recording holds no "
                                                      f"{_END_NAMES[end]} exchange"))
            else:
                results.append(run_case(env, c))
    finally:
        clients.close()
        session.close()
    times = [x.started for x in recording.exchanges]
    notes: dict[str, Any] = {
        "judged": judged, "recording": str(folder), "exchanges": len(recording.exchanges),
        **{f"{end}_exchanges": len(rows) for end, rows in ends.items()},
        "left_out": left_out, "cpr_masked": recording.cpr_masked,
        "upstreams": ", ".join(recording.index.get("upstreams") or []),
    }
    if times:
        notes["recorded"] = f"{min(times).isoformat(timespec='seconds')} – " \
                            f"{max(times).isoformat(timespec='seconds')}"
    return RunReport(target=target, role=role, started=started,
                     finished=datetime.now().isoformat(timespec="seconds"), results=results,
                     environment=notes, suite_version=__version__)
