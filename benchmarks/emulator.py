"""The emulator's own cost, each figure against a baseline measured in the same run.

1. **In-process** ``SoegDebitorkonto`` and ``OpretFordring`` (every rule, the journal,
   SQLite in WAL), each request one call into the app's WSGI entry — the object ``oir
   serve`` hands to gunicorn, so whatever dispatcher sits in front of Flask is measured —
   against the bare-lxml floor for the same message: parse the envelope, validate the
   body with lxml's ``XMLSchema``, build and serialise the same reply. Measured with the
   database on tmpfs where there is one, so the figure is the pipeline's CPU cost; the
   write through Flask's test client and with the file on disk are shown beside it.
2. **HTTP** throughput and latency under ``oir serve --workers 2`` for a read
   (``SoegDebitorkonto``) and a write (``OpretFordring``) at 16 connections, and p99 at 4,
   each against a bare Flask app answering a fixed reply under the same gunicorn
   settings; the workers' CPU time and context switches per request (from ``/proc``) next
   to each throughput. The load generator is ``wrk`` when installed (``make bench``
   installs Debian's), else Python threads; it is bounded in time and talks to loopback
   only. Every request carries a fresh TransaktionsID (and a write a fresh claim), so
   nothing is an idempotent replay.
3. **Memory**: resident set size of each emulator worker after the load.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import requests
from lxml import etree

from benchmarks.figures import QUICK, Figure, best_of, size

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SECTION = "emulator"
CALLER_CVR = "29189846"
CONNECTIONS = 16
XML = "text/xml; charset=utf-8"
SEARCH_PATH = "/service/OIR/DebitorForespoergselAfsend/1"
REGISTER_PATH = "/service/OIR/DebitorRegistreringAfsend/1"


def run() -> list[Figure]:
    figures = in_process()
    figures += over_http()
    return figures


# ================================================================ 1. in-process


def _scratch_dir() -> str | None:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def _envelope(body: etree._Element) -> bytes:
    from oir_adapter.clients.soap import build_envelope

    return etree.tostring(build_envelope(body), xml_declaration=True, encoding="UTF-8")


def _claim_request(account: str, n: int) -> bytes:
    from oir_adapter.codecs import oir_requests as messages

    caller = messages.Caller(CALLER_CVR, "DAGTILBUD")
    spec = messages.ClaimSpec(
        f"BENCH-{n}", "DAGINST", Decimal("1845.00"), date(2026, 2, 1), date(2026, 2, 28),
        date(2026, 2, 1), date(2026, 3, 10), date(2026, 3, 16), description="Forældrebetaling",
        co_liable=(),
        sub_claims=(messages.SubClaimSpec("GEBYR", Decimal("100.00"), founded=date(2026, 2, 1)),))
    return _envelope(messages.opret_fordring(caller, account_number=account, claim=spec,
                                             transaction_id=str(uuid.uuid4())))


def _rebuild(template: etree._Element) -> etree._Element:
    """Build a fresh tree equal to ``template`` element by element (the floor's "build")."""
    out = etree.Element(template.tag, nsmap=template.nsmap)  # type: ignore[arg-type]
    stack = [(template, out)]
    while stack:
        src, dst = stack.pop()
        dst.text = src.text
        for child in src:
            made = etree.SubElement(dst, child.tag)
            made.text = child.text
            stack.append((child, made))
    return out


def _client_post(client: object, path: str, data: bytes) -> bytes:
    response = client.post(path, data=data, content_type=XML)  # type: ignore[attr-defined]
    if response.status_code != 200:
        raise AssertionError(f"{path}: HTTP {response.status_code}: {response.data[:300]!r}")
    return bytes(response.data)


def _wsgi_post(app: object, path: str, data: bytes) -> bytes:
    """One request straight into the app's WSGI entry (whatever dispatcher sits in front of
    Flask): the emulator's cost without the test client's environ building."""
    import io

    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "127.0.0.1",
        "CONTENT_TYPE": XML, "CONTENT_LENGTH": str(len(data)), "wsgi.input": io.BytesIO(data),
        "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr, "wsgi.multithread": True,
        "wsgi.multiprocess": False, "wsgi.run_once": False, "wsgi.version": (1, 0),
    }
    status: list[str] = []
    chunks = app(environ, lambda s, h, e=None: status.append(s))  # type: ignore[operator]
    body = b"".join(chunks)
    if not status or not status[0].startswith("200"):
        raise AssertionError(f"{path}: {status}: {body[:300]!r}")
    return body


def _time_requests(where: str | None, n: int, direct: bool, kind: str = "write"
                   ) -> tuple[float, bytes, bytes]:
    """Seconds per request of ``kind`` (``write``: OpretFordring, ``read``:
    SoegDebitorkonto) on a fresh emulator whose SQLite file lives in ``where``; also the
    last request and its reply. ``direct``: one call into the app's WSGI entry (the path
    every SOAP POST takes), else through Flask's test client."""
    from emulator.app import create_app, runtime_of
    from oir_adapter.codecs import oir_requests as messages
    from oir_adapter.domain.model import Party

    with tempfile.TemporaryDirectory(dir=where) as tmp:
        app = create_app(db_url=f"sqlite:///{tmp}/bench.sqlite3", start_worker=False)
        try:
            client = app.test_client()
            client.put("/_admin/clock", json={"now": "2026-03-02T10:00:00"})
            created = _client_post(client, REGISTER_PATH, _envelope(messages.opret_debitorkonto(
                messages.Caller(CALLER_CVR, "DAGTILBUD"), reference="BENCH",
                party=Party.cpr("0405871270"), name="Bench Mark")))
            account = re.search(rb"DebitorkontoNummer>(\d+)<", created)
            assert account is not None
            if kind == "write":
                path = REGISTER_PATH
                bodies = [_claim_request(account.group(1).decode(), i) for i in range(n + 50)]
            else:  # a read of an account with a few claims on it
                for i in range(5):
                    _client_post(client, REGISTER_PATH,
                                 _claim_request(account.group(1).decode(), 10**6 + i))
                path = SEARCH_PATH
                template = _templates(account.group(1).decode())["read"]
                bodies = [_fill(template, 10**7 + i) for i in range(n + 50)]

            def post(data: bytes) -> bytes:
                return (_wsgi_post(app, path, data) if direct
                        else _client_post(client, path, data))

            for data in bodies[:50]:  # warm: caches, schema, the first pages of the file
                post(data)
            reply = b""
            started = time.perf_counter()
            for data in bodies[50:]:
                reply = post(data)
            elapsed = (time.perf_counter() - started) / n
            if b"<oir:SvarReaktion>OK</oir:SvarReaktion>" not in reply:
                raise AssertionError(f"{kind} was not accepted: {reply[:600]!r}")
            return elapsed, bodies[-1], reply
        finally:
            runtime_of(app).close()


def _floor(request: bytes, reply: bytes, namespace: str | None = None,
           number: int = 2000) -> float:
    """Seconds for the bare-lxml minimum: parse, validate the body, build the reply."""
    from emulator.soap.envelope import envelope_bytes
    from oir_adapter.contracts import OIR_NS, lxml_schema, safe_parser

    schema = lxml_schema(namespace or OIR_NS)
    parser = safe_parser()
    template = etree.fromstring(reply)[-1][0]  # Envelope/Body/<response>

    def floor() -> None:
        body = etree.fromstring(request, parser)[-1][0]
        if not schema.validate(body):
            raise AssertionError("the benchmark's own request does not validate")
        envelope_bytes(_rebuild(template))

    return best_of(floor, repeat=5, number=number)


def _bare_test_client() -> float:
    """Seconds per POST of the same size through Flask's test client to a fixed reply."""
    from flask import Flask, Response, request

    app = Flask("bare")
    reply = (ROOT / "docs" / "examples" / "OpretFordring.response.xml").read_bytes()

    @app.post("/x")
    def answer() -> Response:
        request.get_data()
        return Response(reply, 200, content_type=XML)

    client = app.test_client()
    data = b"<x>" + b" " * 1500 + b"</x>"
    return best_of(lambda: client.post("/x", data=data, content_type=XML), repeat=5,
                   number=500)


def in_process(n: int | None = None) -> list[Figure]:
    n = n or size(400, 40)
    shm = _scratch_dir()
    direct, request, reply = _time_requests(shm, n, direct=True)
    read, read_request, read_reply = _time_requests(shm, n, direct=True, kind="read")
    tested, _req, _rep = _time_requests(shm, n, direct=False)
    on_disk, _req, _rep = _time_requests(None, max(20, n // 4), direct=True)
    floor = _floor(request, reply, number=size(2000, 200))
    read_floor = _floor(read_request, read_reply, number=size(2000, 200))
    bare = _bare_test_client()
    where = "tmpfs" if shm else "disk"
    print(f"emulator in-process ({n} requests each): SoegDebitorkonto {read * 1e6:,.0f} µs "
          f"(floor {read_floor * 1e6:,.1f} µs); OpretFordring {direct * 1e6:,.0f} µs (direct "
          f"WSGI, SQLite on {where}), {tested * 1e6:,.0f} µs (test client), "
          f"{on_disk * 1e6:,.0f} µs (SQLite on disk); floor {floor * 1e6:,.1f} µs; Flask "
          f"test client alone {bare * 1e6:,.0f} µs")
    us = 1e6
    return [
        Figure(SECTION, f"in-process read SoegDebitorkonto: WSGI entry, SQLite WAL on {where} "
                        f"(baseline: bare-lxml floor)",
               read * us, "µs", read_floor * us, target="≤ 5×", id="emulator.inprocess.read"),
        Figure(SECTION, f"in-process write OpretFordring: WSGI entry, all rules, journal, "
                        f"SQLite WAL on {where} (baseline: bare-lxml floor)",
               direct * us, "µs", floor * us, target="≤ 8×", id="emulator.inprocess.write"),
        Figure(SECTION, "  … the write through Flask's test client", tested * us, "µs",
               floor * us),
        Figure(SECTION, "  … the write with SQLite on disk (the configured synchronous "
                        "level)", on_disk * us, "µs", floor * us),
        Figure(SECTION, "  Flask test client alone, fixed reply (what no pipeline can beat)",
               bare * us, "µs", floor * us),
    ]


# ================================================================ 2. over HTTP

GUNICORN_THREADS = 8  # what emulator.serving sets


def __getattr__(name: str) -> object:
    """``benchmarks.emulator:bare_app`` for gunicorn, made on first use only."""
    if name == "bare_app":
        from flask import Flask, Response, request

        app = Flask("bare")
        reply = (ROOT / "docs" / "examples" / "SoegDebitorkonto.response.xml").read_bytes()

        @app.post("/<path:_where>")
        def answer(_where: str) -> Response:
            request.get_data()
            return Response(reply, 200, content_type=XML)

        globals()["bare_app"] = app
        return app
    raise AttributeError(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _server(cmd: list[str], port: int, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    with tempfile.TemporaryFile() as log, subprocess.Popen(
            cmd, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True) as proc:
        yield from _serving(proc, port, log)


def _serving(proc: subprocess.Popen[bytes], port: int, log: object
             ) -> Iterator[subprocess.Popen[bytes]]:
    cmd = proc.args if isinstance(proc.args, list) else [str(proc.args)]
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                log.seek(0)  # type: ignore[attr-defined]
                raise RuntimeError(f"{cmd[0]} exited: {log.read()[-2000:]!r}")  # type: ignore[attr-defined]
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{cmd[0]} did not listen on {port}") from None
                time.sleep(0.1)
        time.sleep(0.5)  # let every worker boot
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _workers(master: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        match = re.search(r"^PPid:\s+(\d+)", text, re.M)
        if match and int(match.group(1)) == master:
            found.append(int(status.parent.name))
    return found


def _rss_mb(pid: int) -> float:
    match = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(match.group(1)) / 1024 if match else 0.0


@dataclass(frozen=True)
class Shares:
    """Beside the RSS (every resident page a process maps, shared ones in full): PSS
    (shared pages divided among the processes mapping them), USS (the pages only it maps),
    and how much of the RSS is ``mapped`` (a file: SQLite maps its database), in MB."""

    pss: float
    uss: float
    mapped: float


def _shares(pid: int, mapped: str | None = None) -> Shares:
    kb = {key: int(value.split()[0]) for key, value in re.findall(
        r"^(\w+):\s+(\d+ kB)", Path(f"/proc/{pid}/smaps_rollup").read_text(), re.M)}
    in_file = 0
    if mapped:
        current = ""
        for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                current = line.split(maxsplit=5)[-1]
            elif line.startswith("Rss:") and current == mapped:
                in_file += int(line.split()[1])
    return Shares(kb.get("Pss", 0) / 1024,
                  (kb.get("Private_Clean", 0) + kb.get("Private_Dirty", 0)) / 1024,
                  in_file / 1024)


@dataclass(frozen=True)
class Load:
    per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    count: int = 0  # requests answered
    cpu_s: float = 0.0  # the server's workers' CPU time (user + system) over the run
    switches: int = 0  # the workers' context switches (voluntary + involuntary) over the run

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_s / self.count * 1e6 if self.count else 0.0

    @property
    def switches_per_request(self) -> float:
        return self.switches / self.count if self.count else 0.0


def _cpu_and_switches(pids: list[int]) -> tuple[float, int]:
    """CPU seconds (user + system, every thread) and context switches (summed over every
    live thread) the processes have had so far."""
    tick = os.sysconf("SC_CLK_TCK")
    cpu, switches = 0.0, 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        cpu += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        for task in Path(f"/proc/{pid}/task").glob("*/status"):
            try:
                status = task.read_text()
            except OSError:  # the thread ended
                continue
            switches += sum(int(x) for x in re.findall(
                r"^(?:non)?voluntary_ctxt_switches:\s+(\d+)", status, re.M))
    return cpu, switches


_TID = "00000000-0000-4000-8000-000000000000"


def _templates(account: str) -> dict[str, bytes]:
    """Request bytes with ``@@N@@`` where each request puts its own number."""
    from oir_adapter.codecs import oir_requests as messages
    from oir_adapter.domain.model import Party

    caller = messages.Caller(CALLER_CVR, "DAGTILBUD")
    read = _envelope(messages.soeg_debitorkonto(caller, party=Party.cpr("0405871270"),
                                                transaction_id=_TID))
    spec = messages.ClaimSpec(
        "W-@@N@@", "DAGINST", Decimal("1845.00"), date(2026, 2, 1), date(2026, 2, 28),
        date(2026, 2, 1), date(2026, 3, 10), date(2026, 3, 16), description="Forældrebetaling",
        sub_claims=(messages.SubClaimSpec("GEBYR", Decimal("100.00"), founded=date(2026, 2, 1)),))
    write = _envelope(messages.opret_fordring(caller, account_number=account, claim=spec,
                                              transaction_id=_TID))
    mark = b"00000000-0000-4000-8000-@@N@@"
    return {"read": read.replace(_TID.encode(), mark), "write": write.replace(_TID.encode(), mark)}


def _fill(template: bytes, n: int) -> bytes:
    return template.replace(b"@@N@@", b"%012d" % n)


_LUA = """
local template = [==[{template}]==]
local path = "{path}"
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
request = function()
  n = n + 1
  local body = template:gsub("@@N@@", string.format("%012d", {offset} + tid * 100000000 + n))
  return wrk.format("POST", path, {{["Content-Type"] = "text/xml; charset=utf-8",
                                    ["SOAPAction"] = '""'}}, body)
end
"""


def _wrk(port: int, path: str, template: bytes, seconds: float, offset: int,
         connections: int) -> Load:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", encoding="utf-8") as script:
        script.write(_LUA.format(template=template.decode("utf-8"), path=path, offset=offset))
        script.flush()
        done = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{round(seconds)}s", "--latency", "-s",
             script.name, f"http://127.0.0.1:{port}{path}"],
            capture_output=True, text=True, timeout=seconds + 60)
    out = done.stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if done.returncode != 0 or rate is None:
        raise RuntimeError(f"wrk failed: {done.stderr or out}")
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors:.*?(\d+).*?(\d+).*?(\d+).*?(\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    return Load(float(rate.group(1)), _wrk_ms(out, "50%"), _wrk_ms(out, "99%"),
                (int(errors.group(1)) if errors else 0)
                + (sum(int(g) for g in socket_errors.groups()) if socket_errors else 0),
                count=int(total.group(1)) if total else 0)


def _wrk_ms(out: str, percentile: str) -> float:
    found = re.search(rf"^\s+{percentile}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if found is None:
        raise RuntimeError(f"wrk printed no {percentile} latency:\n{out}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]
    return float(found.group(1)) * scale


def _python_load(port: int, path: str, template: bytes, seconds: float, offset: int,
                 connections: int) -> Load:
    """The fallback load generator: keep-alive connections from threads."""
    import http.client

    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    counter = iter(range(offset, offset + 10**8))

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        while time.monotonic() < stop:
            with lock:
                n = next(counter)
            data = _fill(template, n)
            started = time.perf_counter()
            conn.request("POST", path, data, {"Content-Type": XML, "SOAPAction": '""'})
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            if response.status != 200:
                errors[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(connections)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    latencies.sort()
    return Load(len(latencies) / seconds, latencies[len(latencies) // 2] * 1000,
                latencies[int(len(latencies) * 0.99)] * 1000, errors[0], count=len(latencies))


def _combined(loads: list[Load]) -> Load:
    """Several runs as one: mean rate, median p50 and p99, all errors."""
    def median(values: list[float]) -> float:
        ordered = sorted(values)
        return ordered[len(ordered) // 2]

    return Load(sum(x.per_second for x in loads) / len(loads),
                median([x.p50_ms for x in loads]), median([x.p99_ms for x in loads]),
                sum(x.errors for x in loads), count=sum(x.count for x in loads),
                cpu_s=sum(x.cpu_s for x in loads), switches=sum(x.switches for x in loads))


def _load(port: int, path: str, template: bytes, seconds: float, offset: int,
          connections: int = CONNECTIONS, workers: list[int] | None = None) -> Load:
    """One bounded load run; with ``workers``, also what those processes spent on it."""
    cpu0, switches0 = _cpu_and_switches(workers or [])
    if shutil.which("wrk"):
        load = _wrk(port, path, template, seconds, offset, connections)
    else:
        load = _python_load(port, path, template, seconds, offset, connections)
    cpu1, switches1 = _cpu_and_switches(workers or [])
    return dataclasses.replace(load, cpu_s=cpu1 - cpu0, switches=switches1 - switches0)


ROUNDS = 3  # load runs alternate between the two servers, so a busy neighbour hits both
FEW_CONNECTIONS = 4  # the latency figure: p99 with a light, steady load


def over_http() -> list[Figure]:
    from emulator.serving import server as serving_server
    from oir_adapter.codecs import oir_requests as messages
    from oir_adapter.domain.model import Party

    tool = "wrk" if shutil.which("wrk") else "Python threads"
    runs: dict[tuple[str, str], list[Load]] = {}
    light: dict[tuple[str, str], Load] = {}
    rss: dict[str, list[float]] = {}
    shares: dict[str, list[Shares]] = {}
    seconds = float(os.environ.get("OIR_BENCH_SECONDS", "1" if QUICK else "9"))
    rounds = 1 if QUICK else ROUNDS
    slice_seconds = float(max(1, round(seconds / rounds)))  # wrk takes whole seconds
    with tempfile.TemporaryDirectory() as tmp:
        port, bare_port = _free_port(), _free_port()
        emulator_cmd = [str(BIN / "oir"), "serve", "--host", "127.0.0.1", "--port", str(port),
                        "--db", f"sqlite:///{tmp}/http.sqlite3", "--workers", "2"]
        bare_cmd = [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{bare_port}", "--workers", "2",
                    "--worker-class", serving_server.WORKER_CLASS, "--threads", str(GUNICORN_THREADS),
                    "--timeout", "120", "--graceful-timeout", "5", "--log-level", "warning",
                    "benchmarks.emulator:bare_app"]
        with _server(emulator_cmd, port, {"OIR_LOG_LEVEL": "warning"}) as proc, \
                _server(bare_cmd, bare_port, {}) as bare_proc:
            workers = {"emulator": _workers(proc.pid), "bare": _workers(bare_proc.pid)}
            base = f"http://127.0.0.1:{port}"
            requests.put(f"{base}/_admin/clock", json={"now": "2026-03-02T10:00:00"}, timeout=30)
            created = requests.post(base + REGISTER_PATH, data=_envelope(
                messages.opret_debitorkonto(messages.Caller(CALLER_CVR, "DAGTILBUD"),
                                            reference="HTTP", party=Party.cpr("0405871270"),
                                            name="Bench Mark")),
                headers={"Content-Type": XML}, timeout=30)
            account = re.search(rb"DebitorkontoNummer>(\d+)<", created.content)
            assert account is not None, created.content[:500]
            templates = _templates(account.group(1).decode())
            # TransaktionsIDs are unique per end, so each run numbers from its own offset
            for k, (kind, path) in enumerate((("read", SEARCH_PATH), ("write", REGISTER_PATH))):
                check = requests.post(base + path, data=_fill(templates[kind], 1 + k),
                                      headers={"Content-Type": XML}, timeout=30)
                if b">OK</oir:SvarReaktion>" not in check.content:
                    raise AssertionError(f"{kind}: {check.content[:600]!r}")
                offset = (k + 1) * 10**11
                if not QUICK:
                    _load(port, path, templates[kind], 1.0, offset)  # warm-up
                    _load(bare_port, path, templates[kind], 1.0, 0)
                for r in range(rounds):
                    offset += 10**10
                    runs.setdefault(("bare", kind), []).append(_load(
                        bare_port, path, templates[kind], slice_seconds, 0,
                        workers=workers["bare"]))
                    runs.setdefault(("emulator", kind), []).append(_load(
                        port, path, templates[kind], slice_seconds, offset + r,
                        workers=workers["emulator"]))
                offset += 10**10
                light[("bare", kind)] = _load(bare_port, path, templates[kind], slice_seconds,
                                              0, FEW_CONNECTIONS)
                light[("emulator", kind)] = _load(port, path, templates[kind], slice_seconds,
                                                  offset + 9, FEW_CONNECTIONS)
            rss["emulator"] = [_rss_mb(pid) for pid in workers["emulator"]]
            rss["bare"] = [_rss_mb(pid) for pid in workers["bare"]]
            shares["emulator"] = [_shares(pid, f"{tmp}/http.sqlite3")
                                  for pid in workers["emulator"]]
            shares["bare"] = [_shares(pid) for pid in workers["bare"]]
    results = {key: _combined(loads) for key, loads in runs.items()}

    figures: list[Figure] = []
    for kind, op, target in (("read", "SoegDebitorkonto", "≥ 0.45×"),
                             ("write", "OpretFordring", "≥ 0.25×")):
        emu, bare = results[("emulator", kind)], results[("bare", kind)]
        emu4, bare4 = light[("emulator", kind)], light[("bare", kind)]
        if emu.errors or emu4.errors:
            print(f"emulator HTTP {kind}: {emu.errors + emu4.errors} answers were not HTTP 200")
        print(f"emulator HTTP {kind} ({op}, {tool}, {CONNECTIONS} connections, "
              f"{rounds}×{slice_seconds:g} s alternating with the baseline): "
              f"{emu.per_second:,.0f}/s p50 {emu.p50_ms:.2f} ms p99 {emu.p99_ms:.2f} ms, "
              f"{emu.cpu_us_per_request:,.0f} µs CPU and {emu.switches_per_request:.1f} context "
              f"switches a request; bare Flask {bare.per_second:,.0f}/s p50 {bare.p50_ms:.2f} ms "
              f"p99 {bare.p99_ms:.2f} ms, {bare.cpu_us_per_request:,.0f} µs CPU and "
              f"{bare.switches_per_request:.1f} switches; at {FEW_CONNECTIONS} connections "
              f"p99 {emu4.p99_ms:.2f} ms (bare {bare4.p99_ms:.2f} ms)")
        figures += [
            Figure(SECTION, f"HTTP {kind} {op}, oir serve --workers 2 ({tool}, "
                            f"{CONNECTIONS} conn.; baseline: bare Flask, same gunicorn)",
                   emu.per_second, "req/s", bare.per_second, target=target,
                   higher_is_better=True, id=f"emulator.http.{kind}"),
            Figure(SECTION, f"  {kind} latency p50, {CONNECTIONS} conn.", emu.p50_ms, "ms",
                   bare.p50_ms),
            Figure(SECTION, f"  {kind} latency p99, {CONNECTIONS} conn.", emu.p99_ms, "ms",
                   bare.p99_ms),
            Figure(SECTION, f"  {kind} latency p99, {FEW_CONNECTIONS} conn.", emu4.p99_ms, "ms",
                   bare4.p99_ms, target="≤ 20 ms", id=f"emulator.http.{kind}.p99_{FEW_CONNECTIONS}conn"),
            Figure(SECTION, f"  {kind}: server CPU per request (workers' user + system)",
                   emu.cpu_us_per_request, "µs", bare.cpu_us_per_request,
                   target="≤ 2.5×" if kind == "read" else "",
                   id=f"emulator.cpu_per_{kind}"),
            Figure(SECTION, f"  {kind}: context switches per request (workers)",
                   emu.switches_per_request, "", bare.switches_per_request),
        ]
    worst = max(rss["emulator"], default=0.0)
    print(f"emulator workers' resident memory after the load: "
          f"{', '.join(f'{m:.0f} MB' for m in rss['emulator'])} (PSS "
          f"{', '.join(f'{m.pss:.0f}' for m in shares['emulator'])}, USS "
          f"{', '.join(f'{m.uss:.0f}' for m in shares['emulator'])}, the database file "
          f"mapped by SQLite {', '.join(f'{m.mapped:.0f}' for m in shares['emulator'])}); "
          f"bare Flask workers {', '.join(f'{m:.0f} MB' for m in rss['bare'])} (PSS "
          f"{', '.join(f'{m.pss:.0f}' for m in shares['bare'])}, USS "
          f"{', '.join(f'{m.uss:.0f}' for m in shares['bare'])})")
    figures.append(Figure(SECTION, "resident memory per worker after the load (largest; "
                                   "baseline: bare Flask worker)",
                          worst, "MB", max(rss["bare"], default=0.0) or None,
                          target="≤ 100 MB", id="emulator.rss_per_worker"))
    for what, share in (("PSS: shared pages divided among their processes", "pss"),
                        ("USS: pages no other process maps", "uss")):
        figures.append(Figure(
            SECTION, f"  … a worker's largest {what}",
            max((getattr(m, share) for m in shares["emulator"]), default=0.0), "MB",
            max((getattr(m, share) for m in shares["bare"]), default=0.0) or None))
    return figures
