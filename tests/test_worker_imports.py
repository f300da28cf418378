"""What a server worker loads: the heavy libraries it needs only for rare work (zeep and
requests to call another end, xmlschema to explain a schema failure, PyYAML to load a
scenario, SQLAlchemy's PostgreSQL dialect only on PostgreSQL, the holiday calendar with
the first bank-day question) load when that work comes,
not with the app, so a worker serving SOAP reads and writes does not carry them (see
docs/performance.md, resident memory). Checked in a fresh interpreter, as a worker
starts: this test process has imported everything already."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Loaded only when the work that needs them comes.
ON_DEMAND = ("zeep", "requests", "xmlschema", "holidays", "yaml",
             "sqlalchemy.dialects.postgresql")

_WORKER = textwrap.dedent("""
    import io, json, re, sys
    from datetime import date
    from decimal import Decimal

    import emulator.serving.server  # what the gunicorn master imports before forking
    from emulator.app import create_app, runtime_of
    from oir_adapter.clients import build_envelope
    from oir_adapter.codecs import oir_requests as messages
    from oir_adapter.domain.model import Party
    from lxml import etree

    heavy = {heavy!r}
    loaded = {{}}
    app = create_app(db_url="sqlite:///" + sys.argv[1], start_worker=True)
    loaded["app"] = [m for m in heavy if m in sys.modules]

    def post(path, body):
        data = etree.tostring(build_envelope(body), xml_declaration=True, encoding="UTF-8")
        environ = {{"REQUEST_METHOD": "POST", "PATH_INFO": path, "QUERY_STRING": "",
                   "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1",
                   "SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_TYPE": "text/xml; charset=utf-8",
                   "CONTENT_LENGTH": str(len(data)), "wsgi.input": io.BytesIO(data),
                   "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
                   "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
                   "wsgi.version": (1, 0)}}
        return b"".join(app(environ, lambda status, headers, exc=None: None))

    caller = messages.Caller("29189846", "DAGTILBUD")
    registration = "/service/OIR/DebitorRegistreringAfsend/1"
    created = post(registration, messages.opret_debitorkonto(
        caller, reference="R1", party=Party.cpr("0405871270"), name="Test Person"))
    account = re.search(rb"DebitorkontoNummer>(\\d+)<", created).group(1).decode()
    claim = messages.ClaimSpec(
        "C-1", "DAGINST", Decimal("1845.00"), date(2026, 2, 1), date(2026, 2, 28),
        date(2026, 2, 1), date(2026, 3, 10), date(2026, 3, 16), description="Pasning")
    read = post("/service/OIR/DebitorForespoergselAfsend/1",
                messages.soeg_debitorkonto(caller, party=Party.cpr("0405871270")))
    loaded["read"] = [m for m in heavy if m in sys.modules]
    written = post(registration, messages.opret_fordring(caller, account_number=account,
                                                         claim=claim))
    loaded["served"] = [m for m in heavy if m in sys.modules]
    answers = [b">OK</oir:SvarReaktion>" in reply for reply in (created, written, read)]
    broken = messages.soeg_debitorkonto(caller, party=Party.cpr("0405871270"))
    broken.append(etree.Element("{{http://serviceplatformen.dk/xml/schemas/OIR/Debitor/1/}}Stray"))
    fault = post("/service/OIR/DebitorForespoergselAfsend/1", broken)
    loaded["explained"] = [m for m in heavy if m in sys.modules]
    runtime_of(app).close()
    print(json.dumps({{"loaded": loaded, "answers": answers,
                      "fault": fault.decode("utf-8", "replace")}}))
""")


def test_a_worker_serving_soap_loads_no_client_or_explaining_library(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WORKER.format(heavy=ON_DEMAND), str(tmp_path / "w.sqlite3")],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["answers"] == [True, True, True], result
    assert result["loaded"]["app"] == []
    assert result["loaded"]["read"] == []
    # a claim's due date and SRB move to bank days: the Danish holidays are needed now
    assert result["loaded"]["served"] == ["holidays"]
    # the schema failure is explained with its path, through xmlschema loaded for it
    assert "Stray" in result["fault"]
    assert sorted(result["loaded"]["explained"]) == ["holidays", "xmlschema"]


def test_every_name_the_clients_package_exports_resolves() -> None:
    """The clients load on first use (``oir_adapter.clients.__getattr__``), but every name
    of the package's ``__all__`` is still there, and ``import *`` gives them all."""
    import oir_adapter.clients as clients
    from oir_adapter.clients import service

    for name in clients.__all__:
        value = getattr(clients, name)
        if hasattr(service, name):  # one object, wherever it is imported from
            assert value is getattr(service, name), name
    star: dict[str, object] = {}
    exec("from oir_adapter.clients import *", star)
    assert set(clients.__all__) <= set(star)
