"""Recording real traffic in tests: WSGI apps on loopback threads, recording proxies in
front of them, and one story a fagsystem tells a debtor system — recorded through
``oir record``'s proxy, replayed from the recording and judged by the suite.

The debtor system under test (the emulator, or a deliberately broken one) reaches PSRM and
the fagsystem through two more recording proxies writing into the same folder, so one
recording holds all three links: ØIR, PSRM and the callbacks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import requests
from werkzeug.serving import WSGIRequestHandler, make_server

from emulator.serving.recording_proxy import RecordingProxy
from oir_adapter.clients import ClientError, Clients, clients_for
from oir_adapter.codecs import oir_requests as messages
from oir_adapter.contracts import service
from oir_adapter.domain.model import Party
from oir_adapter.recording.folder import RecordingWriter

WSGIApp = Callable[..., Any]
CALLER = messages.Caller("29189846", "DAGTILBUD")
START = "2026-03-02T09:00:00"


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def _placeholder(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting\n"]


class Loopback:
    """A threaded WSGI server on 127.0.0.1; the app may be set after the port is known."""

    def __init__(self, app: WSGIApp | None = None) -> None:
        self.server = make_server("127.0.0.1", 0, app or _placeholder, threaded=True,
                                  request_handler=_Quiet)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def app(self) -> WSGIApp:
        return self.server.app  # type: ignore[no-any-return]

    @app.setter
    def app(self, app: WSGIApp) -> None:
        self.server.app = app

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@contextmanager
def loopback(app: WSGIApp | None = None) -> Iterator[Loopback]:
    server = Loopback(app)
    try:
        yield server
    finally:
        server.close()


def recording_proxy(upstream: str, folder: Path, *, timeout: float = 10.0,
                    **writer: Any) -> RecordingProxy:
    return RecordingProxy(upstream, RecordingWriter(folder, upstream=upstream, **writer),
                          timeout=timeout)


@dataclass
class Recorded:
    """The ends of a recorded setup: where the fagsystem calls, and the debtor's admin."""

    ours: str  # the proxy in front of the debtor system's ØIR services
    debtor: str  # the debtor system itself (its admin API, for the clock)
    folder: Path
    apps: list[Any] = field(default_factory=list)


@contextmanager
def recorded_debtor(make: Callable[..., Any], folder: Path) -> Iterator[Recorded]:
    """The debtor system ``make(**config)`` builds, with its ØIR end, its PSRM link and its
    callbacks each behind a recording proxy writing into ``folder``."""
    with ExitStack() as stack:
        debtor = stack.enter_context(loopback())
        oir = stack.enter_context(loopback())
        psrm = stack.enter_context(loopback())
        callbacks = stack.enter_context(loopback())
        app = make(base_url=debtor.url, psrm_url=psrm.url,
                   callback_url=callbacks.url
                   + service("DaekningAfskrivningRegistrering").path)
        stack.callback(_close_app, app)
        debtor.app = app
        for proxy_server in (oir, psrm, callbacks):
            proxy_server.app = recording_proxy(debtor.url, folder)
        yield Recorded(oir.url, debtor.url, folder, [app])


def _close_app(app: Any) -> None:
    from emulator.app import runtime_of

    runtime_of(app).close()


def admin(base: str, method: str, path: str, **body: Any) -> Any:
    # a state-changing admin call is JSON, an empty one too ({}): the admin API takes no other
    r = requests.request(method, f"{base}/_admin/{path}",
                         json=None if method == "GET" else body, timeout=60)
    assert r.status_code in (200, 201), r.text
    return r.json()


# ---------------------------------------------------------------- the story

@dataclass
class StoryAnswers:
    """What the fagsystem saw, to compare a replay with the recording."""

    answers: list[tuple[str, str]] = field(default_factory=list)  # (step, what came back)

    def note(self, step: str, value: object) -> None:
        self.answers.append((step, str(value)))


def _lines(reply: Any) -> list[tuple[str | None, str | None]]:
    from oir_adapter.contracts import OIR_NS

    return [(d.findtext(f"{{{OIR_NS}}}FordringID"), d.findtext(f"{{{OIR_NS}}}Beloeb"))
            for d in reply.element.iter(f"{{{OIR_NS}}}Daekning")]


def tell_story(soap: Clients, admin_base: str | None) -> StoryAnswers:
    """The fagsystem's story: accounts, claims (one a fine), a payment and its repeat, a
    request resent and a TransaktionsID reused, a claim with its period reversed, the
    clock past SRB (hand-over to PSRM), a payment on the handed-over claim.

    ``admin_base``: where to move the virtual clock (``None`` when replaying: the answers
    are recorded, the clock does not matter)."""
    seen = StoryAnswers()

    def call(client: Any, operation: str, body: Any, step: str) -> Any:
        try:
            reply = client.call(operation, body)
        except ClientError as exc:
            seen.note(step, f"{type(exc).__name__}")
            return None
        seen.note(step, f"{reply.reaction} {[e.code for e in reply.errors]}")
        return reply

    if admin_base:
        admin(admin_base, "PUT", "clock", now=START)
    reg, qry, pay = soap.debitor_registrering, soap.debitor_forespoergsel, soap.debitor_indbetaling
    create = messages.opret_debitorkonto(CALLER, reference="REC-1",
                                         party=Party.cpr("0405871270"), name="Mette Hansen")
    r = call(reg, "OpretDebitorkonto", create, "create account")
    account = r.findtext("DebitorkontoNummer")
    seen.note("account", account)
    call(reg, "OpretDebitorkonto", create, "resend the same request")
    tid = create.findtext(".//{*}TransaktionsID")
    call(reg, "OpretDebitorkonto", messages.opret_debitorkonto(
        CALLER, reference="REC-9", party=Party.cpr("0101901234"), name="Jens",
        transaction_id=tid), "reuse the TransaktionsID")
    invoice = messages.ClaimSpec("REC-F1", "CFFAKTU", D("1000.00"), date(2026, 1, 1),
                                 date(2026, 1, 31), date(2026, 2, 1), date(2026, 3, 10),
                                 date(2026, 3, 16))
    r = call(reg, "OpretFordring", messages.opret_fordring(
        CALLER, account_number=account, claim=invoice), "register an invoice claim")
    seen.note("invoice claim", r.findtext("FordringID") if r else None)
    fine = messages.ClaimSpec("REC-F2", "BOEDE", D("500.00"), date(2026, 2, 1),
                              date(2026, 2, 28), date(2026, 2, 20), date(2026, 3, 10),
                              date(2026, 3, 16))
    call(reg, "OpretFordring", messages.opret_fordring(
        CALLER, account_number=account, claim=fine), "register a fine")
    call(qry, "SoegDebitorkonto", messages.soeg_debitorkonto(CALLER, party=Party.cpr(
        "0405871270")), "search by CPR")
    call(qry, "HentDebitorkonto", messages.hent_debitorkonto(CALLER, account_number=account),
         "read the account")
    payment = dict(payment_id="BANK-1", amount=D("700.00"), paid=date(2026, 3, 5),
                   account_number=account)
    r = call(pay, "ForetagIndbetaling", messages.foretag_indbetaling(CALLER, **payment), "pay")
    seen.note("coverage", _lines(r) if r else None)
    r = call(pay, "ForetagIndbetaling", messages.foretag_indbetaling(CALLER, **payment),
             "send the payment again")
    seen.note("coverage of the repeat", _lines(r) if r else None)
    other = call(reg, "OpretDebitorkonto", messages.opret_debitorkonto(
        CALLER, reference="REC-2", party=Party.cpr("1211800123"), name="Ole"),
        "create a second account")
    reversed_period = messages.ClaimSpec("REC-F3", "CFFAKTU", D("900.00"), date(2026, 2, 28),
                                         date(2026, 2, 1), date(2026, 2, 20),
                                         date(2026, 3, 20), date(2026, 3, 30))
    call(reg, "OpretFordring", messages.opret_fordring(
        CALLER, account_number=other.findtext("DebitorkontoNummer"), claim=reversed_period),
        "register a claim with its period reversed")
    if admin_base:
        admin(admin_base, "POST", "clock/advance", days=20)
        admin(admin_base, "POST", "poll")
        for _ in range(3):
            admin(admin_base, "POST", "clock/advance", days=1)
            admin(admin_base, "POST", "poll")
    r = call(qry, "HentDebitorkonto", messages.hent_debitorkonto(CALLER, account_number=account),
             "read the account after the hand-over")
    seen.note("states", [e.text for e in r.element.iter("{*}Status")] if r else None)
    r = call(pay, "ForetagIndbetaling", messages.foretag_indbetaling(
        CALLER, payment_id="BANK-2", amount=D("100.00"), paid=date(2026, 3, 25),
        account_number=account), "pay on the handed-over claim")
    seen.note("coverage after hand-over", _lines(r) if r else None)
    if admin_base:
        admin(admin_base, "POST", "poll")
        admin(admin_base, "POST", "clock/advance", days=1)
        admin(admin_base, "POST", "poll")
    return seen


def record_story(make: Callable[..., Any], folder: Path) -> StoryAnswers:
    """Record the story told to the debtor system ``make`` builds; what the fagsystem saw."""
    with recorded_debtor(make, folder) as setup:
        soap = clients_for(setup.ours)
        try:
            return tell_story(soap, setup.debtor)
        finally:
            soap.close()
