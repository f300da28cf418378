"""The conformance suite's ``debitor`` role over HTTP against ``oir serve --workers 2``: wall
time against the emulator's own handling time in the same run.

The handling time is the emulator's own work for the run, in two parts:

- what its journal says: the sum of ``duration_ms`` over every incoming exchange of the
  run (each SOAP request any of its ends received, from the request's arrival in the
  pipeline to its answer), the calls its debtor end makes to its own PSRM end included;
- the clock advances and polls the suite asks for (``POST /_admin/clock/advance``, ``POST
  /_admin/poll``): the debtor end's day processing and its sending and fetching, which a
  debtor system does on its own schedule, timed by the emulator (its ``Server-Timing``
  answer header), less the journalled exchanges that ran inside them (already counted).

Every other admin call (reading the clock, the journal, the fagsystem's events) counts
as the suite's time. The ratio against the journal alone (the figure's definition before
2026-12-02) is printed beside it, and so are the workers' CPU time and the suite's own
CPU time over the run. The rest of the wall time is the suite: building and checking
messages, HTTP round trips, and its waits for asynchronous effects.

Size: every case of the role (``--quick``: the first four).
"""

from __future__ import annotations

import re
import tempfile
import time
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from benchmarks.emulator import BIN, _cpu_and_switches, _free_port, _server, _workers
from benchmarks.figures import QUICK, Figure

SECTION = "conformance"

#: Admin calls whose time in the emulator is the emulator's own work (see the module doc).
EMULATOR_WORK = ("/_admin/clock/advance", "/_admin/poll")

_DURATION = re.compile(r"(?:^|,)\s*admin;dur=([0-9.]+)")


class EmulatorWork:
    """A response hook: the emulator's time on each clock advance and poll, and the local
    wall-clock window the call ran in (to find the journal entries made inside it); and,
    for the breakdown printed beside the figure, every call's time until its answer came,
    by kind (SOAP, clock advances and polls, other admin calls)."""

    def __init__(self) -> None:
        self.calls: list[tuple[datetime, datetime, float]] = []  # (from, to, seconds)
        self.waited: dict[str, list[float]] = {}  # kind -> [calls, seconds, emulator's]

    def __call__(self, response: requests.Response, *args: Any, **kwargs: Any
                 ) -> requests.Response:
        path = urlsplit(response.request.url or "").path
        found = _DURATION.search(response.headers.get("Server-Timing", ""))
        server = float(found.group(1)) / 1000 if found else 0.0
        kind = ("clock advances and polls" if path in EMULATOR_WORK else
                "other admin calls" if path.startswith("/_admin/") else "SOAP calls")
        tally = self.waited.setdefault(kind, [0, 0.0, 0.0])
        tally[0] += 1
        tally[1] += response.elapsed.total_seconds()
        tally[2] += server
        if path in EMULATOR_WORK and found:
            ended = time.time()
            began = ended - response.elapsed.total_seconds() - 0.001
            self.calls.append((datetime.fromtimestamp(began), datetime.fromtimestamp(ended),
                               server))
        return response

    def breakdown(self, wall: float) -> str:
        """Where the wall time went, as one line."""
        parts = [f"{kind} {int(n)}: {seconds:.2f} s" + (f" (the emulator's {server:.2f} s)"
                                                        if server else "")
                 for kind, (n, seconds, server) in sorted(self.waited.items())]
        between = wall - sum(seconds for _, seconds, _ in self.waited.values())
        return "; ".join(parts) + f"; between calls {between:.2f} s"

    def net_of(self, incoming: list[dict[str, Any]]) -> tuple[float, float]:
        """The calls' emulator time, and the journalled durations that ran inside them."""
        inside = 0.0
        for row in incoming:
            at = datetime.fromisoformat(row["at"])
            if any(began <= at <= ended for began, ended, _ in self.calls):
                inside += float(row.get("duration_ms") or 0) / 1000
        return sum(seconds for *_, seconds in self.calls), inside


def run() -> list[Figure]:
    from emulator.serving.inprocess import LocalEmulator
    from oir_adapter.conformance import Role, SuiteOptions, cases_for, run_suite
    from oir_adapter.conformance.runner import RunSession

    cases = tuple(c.id for c in cases_for(Role.DEBITOR, ()))
    if QUICK:
        cases = cases[:4]
    work = EmulatorWork()
    with tempfile.TemporaryDirectory() as tmp, RunSession() as session:
        session.hooks["response"].append(work)
        port = _free_port()
        cmd = [str(BIN / "oir"), "serve", "--host", "127.0.0.1", "--port", str(port),
               "--db", f"sqlite:///{tmp}/conformance.sqlite3", "--workers", "2"]
        with _server(cmd, port, {"OIR_LOG_LEVEL": "warning"}) as proc:
            url = f"http://127.0.0.1:{port}"
            workers = _workers(proc.pid)
            mark = requests.get(f"{url}/_admin/journal?limit=1", timeout=30).json()
            after = mark[0]["id"] if mark else 0
            cpu0, _ = _cpu_and_switches(workers)
            own0 = time.process_time()
            started = time.perf_counter()
            report = run_suite(SuiteOptions(target=url, role=Role.DEBITOR, cases=cases,
                                            progress=False, restore_state=False,
                                            session=session, local_end=LocalEmulator.at))
            wall = time.perf_counter() - started
            own = time.process_time() - own0
            cpu1, _ = _cpu_and_switches(workers)
            rows = requests.get(f"{url}/_admin/journal?limit=10000", timeout=60).json()
    incoming = [r for r in rows if r["id"] > after and r.get("direction") == "in"]
    journalled = sum(float(r.get("duration_ms") or 0) for r in incoming) / 1000
    chain, inside = work.net_of(incoming)
    handling = journalled + chain - inside
    counts = report.counts()
    failed = {k: v for k, v in counts.items() if k not in ("pass", "skip") and v}
    print(f"conformance debitor over HTTP: {len(cases)} cases in {wall:.2f} s "
          f"({', '.join(f'{v} {k}' for k, v in counts.items() if v)}); the emulator's "
          f"handling {handling:.2f} s: {len(incoming)} incoming exchanges {journalled:.2f} s "
          f"(journal) + {len(work.calls)} clock advances and polls {chain:.2f} s less "
          f"{inside:.2f} s journalled inside them; its workers' CPU {cpu1 - cpu0:.2f} s, the "
          f"suite's own CPU {own:.2f} s")
    print(f"conformance debitor: until each answer came: {work.breakdown(wall)}")
    if journalled:
        print(f"conformance debitor: against the journal alone (the figure before "
              f"2026-12-02) {wall / journalled:.2f}×")
    if failed:
        print(f"conformance debitor: not every case passed ({failed}); the figure still "
              f"stands for the time taken")
    return [Figure(SECTION, f"conformance debitor role, {len(cases)} cases over HTTP, wall time "
                            f"(baseline: the emulator's handling time: its journal, clock "
                            f"advances and polls)",
                   wall, "s", handling or None, target="≤ 2×",
                   id="conformance.debitor.overhead")]
