"""The conformance suite's ``debitor`` role over HTTP against ``oir serve --workers 2``: wall
time against the emulator's own handling time in the same run.

The handling time is what the emulator's journal says: the sum of ``duration_ms`` over
every incoming exchange of the run (each SOAP request any of its ends received, from the
request's arrival in the pipeline to its answer), the calls its debtor end makes to its
own PSRM end during clock advances included. The admin API calls (clock, state) are not
journalled and count as the suite's time. The workers' CPU time over the run is printed
beside it. The rest of the wall time is the suite: building and checking messages, and
its waits for asynchronous effects.

Size: every case of the role (``--quick``: the first four).
"""

from __future__ import annotations

import tempfile
import time

import requests

from benchmarks.emulator import BIN, _cpu_and_switches, _free_port, _server, _workers
from benchmarks.figures import QUICK, Figure

SECTION = "conformance"


def run() -> list[Figure]:
    from emulator.serving.inprocess import LocalEmulator
    from oir_adapter.conformance import Role, SuiteOptions, cases_for, run_suite

    cases = tuple(c.id for c in cases_for(Role.DEBITOR, ()))
    if QUICK:
        cases = cases[:4]
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        cmd = [str(BIN / "oir"), "serve", "--host", "127.0.0.1", "--port", str(port),
               "--db", f"sqlite:///{tmp}/conformance.sqlite3", "--workers", "2"]
        with _server(cmd, port, {"OIR_LOG_LEVEL": "warning"}) as proc:
            url = f"http://127.0.0.1:{port}"
            workers = _workers(proc.pid)
            mark = requests.get(f"{url}/_admin/journal?limit=1", timeout=30).json()
            after = mark[0]["id"] if mark else 0
            cpu0, _ = _cpu_and_switches(workers)
            started = time.perf_counter()
            report = run_suite(SuiteOptions(target=url, role=Role.DEBITOR, cases=cases,
                                            progress=False, restore_state=False,
                                            local_end=LocalEmulator.at))
            wall = time.perf_counter() - started
            cpu1, _ = _cpu_and_switches(workers)
            rows = requests.get(f"{url}/_admin/journal?limit=10000", timeout=60).json()
    incoming = [r for r in rows if r["id"] > after and r.get("direction") == "in"]
    handling = sum(float(r.get("duration_ms") or 0) for r in incoming) / 1000
    counts = report.counts()
    failed = {k: v for k, v in counts.items() if k not in ("pass", "skip") and v}
    print(f"conformance debitor over HTTP: {len(cases)} cases in {wall:.1f} s "
          f"({', '.join(f'{v} {k}' for k, v in counts.items() if v)}); the emulator's "
          f"handling of {len(incoming)} incoming exchanges {handling:.2f} s (journal), its "
          f"workers' CPU {cpu1 - cpu0:.2f} s")
    if failed:
        print(f"conformance debitor: not every case passed ({failed}); the figure still "
              f"stands for the time taken")
    return [Figure(SECTION, f"conformance debitor role, {len(cases)} cases over HTTP, wall time "
                            f"(baseline: the emulator's handling time from its journal)",
                   wall, "s", handling or None, target="≤ 2×",
                   id="conformance.debitor.overhead")]
