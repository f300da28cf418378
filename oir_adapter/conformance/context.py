"""What a running case works with: the target and the capture point, the clients, the
target's clock, fresh identifiers, and the assertion helpers that record evidence.

Every exchange a case makes goes through :class:`CaseContext`, so each one lands in the
result's evidence (request, response, HTTP status, timing) whether the case passes or not.
Assertions are :meth:`CaseContext.check` calls: the first that fails ends the case with
that assertion, what was expected, what came back and a hint.
"""

from __future__ import annotations

import json
import random
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import requests
from lxml import etree

from oir_adapter.clients import ClientError, Clients, Reply, SoapFaultError, TransportError
from oir_adapter.codecs import oir_requests as messages
from oir_adapter.conformance.model import (
    NEEDS_ADMIN,
    NEEDS_CAPTURE,
    NEEDS_CLOCK,
    Case,
    Check,
    Evidence,
    Role,
)
from oir_adapter.conformance.views import AccountView, account_view
from oir_adapter.contracts import SERVICES
from oir_adapter.domain.identifiers import is_valid_cpr
from oir_adapter.domain.model import Party, PartyKind

T = TypeVar("T")

#: Evidence texts longer than this are cut (a journal page can hold megabytes).
MAX_EVIDENCE_CHARS = 100_000

#: The pauses of :meth:`CaseContext.eventually` between probes: short at first, since
#: most effects arrive within milliseconds, then no more than five probes a second.
_FIRST_PAUSE, _LONGEST_PAUSE = 0.02, 0.2


class CaseFailed(Exception):
    """The target broke an assertion."""

    def __init__(self, check: Check, hint: str = "") -> None:
        super().__init__(check.assertion)
        self.check = check
        self.hint = hint


class CaseSkipped(Exception):
    """The case cannot apply here; the message says why."""


class CaseErrored(Exception):
    """The suite could not finish the case (transport trouble, unusable admin answer)."""


class TargetUnreachable(ConnectionError):
    """The system under test does not answer at all: no case can run."""


@dataclass(frozen=True)
class SuiteOptions:
    """How a run is set up (the CLI's options, or a test's)."""

    target: str
    role: Role = Role.DEBITOR
    psrm: str | None = None  # capture point (debitor) or listen address (psrm-client)
    wait: float = 10.0  # seconds to wait for asynchronous effects or deliveries
    authority_cvr: str = "29189846"  # MyndighedCVR the suite calls with
    fagsystem_id: str = "OIRKONF"
    fagsystem_filter: str | None = None  # fagsystem role: judge only this FagsystemID
    se_number: str = "29189846"  # the suite's SE number when it delivers to a PSRM end
    creditor_id: str = "1000"  # DMIFordringHaverID the suite delivers as (a PSRM end)
    timeout: float = 30.0  # read timeout of one SOAP call
    session: requests.Session | None = None  # e.g. one with a WSGI adapter mounted
    username: str | None = None  # WS-Security UsernameToken on the SOAP calls
    password: str | None = None
    http_headers: tuple[tuple[str, str], ...] = ()  # extra HTTP headers (e.g. an API key)
    admin_token: str | None = None  # Authorization: Bearer … on the admin API
    cases: tuple[str, ...] = ()  # ids or fnmatch patterns; empty: all of the role
    #: psrm-client: called with the suite's PSRM URL once it serves (tests start senders).
    ready: Callable[[str], None] | None = None
    #: True: a progress bar; False: silent; None: a bar on a terminal, else one line per
    #: case on stderr (so CI logs show the run moving)
    progress: bool | None = None
    #: makes the ends the suite serves itself at a loopback URL (a context manager with a
    #: ``url``): the CLI passes the emulator's ``LocalEmulator.at``
    local_end: Callable[[str], Any] | None = None
    #: against an emulator: save its state first and put it back after the run
    #: (GET/PUT /_admin/state), so a shared emulator is left as the run found it
    restore_state: bool = True


@dataclass(slots=True)
class Endpoint:
    """A base URL the suite talks to, and whether it offers the emulator's admin API."""

    url: str
    session: requests.Session
    admin: bool = False
    version: str | None = None
    token: str | None = None  # the admin API's bearer token, when it wants one

    def admin_url(self, path: str) -> str:
        return f"{self.url.rstrip('/')}/_admin/{path.lstrip('/')}"

    def admin_request(self, method: str, path: str, *, timeout: float = 60,
                      body: Any = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if body is None and method != "GET":
            body = {}  # the admin API takes a state-changing call only as JSON
        return self.session.request(method, self.admin_url(path), json=body, headers=headers,
                                    timeout=timeout)


def probe_reachable(url: str, session: requests.Session) -> None:
    """One request to ``url``: any HTTP answer will do. Raises :class:`TargetUnreachable`
    saying why when none comes (refused, unknown host, TLS, timeout, not a URL)."""
    try:
        session.get(url, timeout=(5, 15), allow_redirects=False, stream=True).close()
    except requests.exceptions.SSLError as exc:
        raise TargetUnreachable(f"cannot reach {url}: TLS failed ({_first_line(exc)})") from None
    except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema) as exc:
        raise TargetUnreachable(f"{url} is not a URL to reach: {_first_line(exc)}") from None
    except requests.exceptions.Timeout:
        raise TargetUnreachable(f"cannot reach {url}: no answer within the time limit") from None
    except requests.RequestException as exc:
        raise TargetUnreachable(f"cannot reach {url}: {_reason(exc)}") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def _reason(exc: BaseException) -> str:
    """The root cause of a connection error in a few words."""
    text = str(exc)
    for known, words in (("Name or service not known", "unknown host"),
                         ("nodename nor servname", "unknown host"),
                         ("Temporary failure in name resolution", "unknown host"),
                         ("NameResolutionError", "unknown host"),
                         ("Connection refused", "connection refused (is it running?)"),
                         ("No route to host", "no route to host"),
                         ("Network is unreachable", "network unreachable")):
        if known in text:
            return words
    return _first_line(exc)


def probe_admin(url: str, session: requests.Session, token: str | None = None
                ) -> tuple[bool, str | None]:
    """Whether ``url`` answers ``GET /_admin/health`` like the emulator (and its version)."""
    try:
        r = Endpoint(url, session, token=token).admin_request("GET", "health", timeout=5)
    except requests.RequestException:
        return False, None
    return _health(r)


def probe_target(url: str, session: requests.Session, token: str | None = None
                 ) -> tuple[bool, str | None]:
    """:func:`probe_reachable` and :func:`probe_admin` with one request when the target
    answers ``GET /_admin/health`` at all: any HTTP answer to it shows the target is
    there. Only when that request gets none is ``url`` itself probed, so a target is
    judged unreachable exactly as before (the emulator's ``url`` is its dashboard, whose
    first page a fresh worker takes a second to render)."""
    try:
        r = Endpoint(url, session, token=token).admin_request("GET", "health", timeout=5)
    except requests.RequestException:
        probe_reachable(url, session)
        return False, None
    return _health(r)


def _health(answer: requests.Response) -> tuple[bool, str | None]:
    try:
        body = answer.json() if answer.status_code == 200 else None
    except ValueError:
        return False, None
    if isinstance(body, dict) and body.get("status") == "ok":
        return True, str(body.get("version") or "")
    return False, None


@dataclass(slots=True)
class Registered:
    """A claim the suite registered through ØIR, to compare with what reaches PSRM."""

    claim_id: str
    account_number: str
    party: Party
    spec: messages.ClaimSpec
    payment_id: str | None
    invoice_amount: Decimal | None


@dataclass(slots=True)
class Account:
    number: str
    party: Party
    reference: str


class Environment:
    """Everything shared by the cases of one run."""

    def __init__(self, options: SuiteOptions, target: Endpoint, clients: Clients,
                 capture: Endpoint | None) -> None:
        self.options = options
        self.target = target
        self.clients = clients
        self.capture = capture
        self.caller = messages.Caller(options.authority_cvr, options.fagsystem_id)
        self.token = secrets.token_hex(3).upper()
        self._counter = 0
        self._rng = random.Random(self.token)
        self._cprs: set[str] = set()
        self.registered: dict[str, Registered] = {}
        #: Journal ids on the capture point when the run started: older exchanges are not ours.
        self.capture_mark = 0
        #: Whether anything the target sent reached the capture point during this run.
        self.capture_reached = False
        self.today = date.today()
        self.shared: dict[str, Any] = {}
        #: Where journaled exchanges come from instead of the capture point's journal API:
        #: ``(end, operation) -> rows`` (``oir conformance judge`` reads a recording).
        self.journal_source: Callable[[str, str | None], list[dict[str, Any]]] | None = None

    @property
    def capture_is_target(self) -> bool:
        return self.capture is not None and self.capture.url == self.target.url

    def next_id(self, prefix: str) -> str:
        """A run-unique id: ``<prefix>-<run token>-<n>`` (fits ØIR's 64-character IDType)."""
        self._counter += 1
        return f"{prefix}-{self.token}-{self._counter:04d}"

    def cpr(self) -> Party:
        """A valid, run-unique CPR number (born 1940–1999, modulus 11 not required)."""
        while True:
            born = date(self._rng.randint(1940, 1999), self._rng.randint(1, 12),
                        self._rng.randint(1, 28))
            serial = f"{self._rng.randint(0, 3)}{self._rng.randint(0, 999):03d}"
            number = born.strftime("%d%m%y") + serial
            if number not in self._cprs and is_valid_cpr(number, today=self.today):
                self._cprs.add(number)
                return Party(PartyKind.CPR, number)


def _text(data: bytes | str | None) -> str | None:
    if data is None:
        return None
    value = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    if len(value) > MAX_EVIDENCE_CHARS:
        return value[:MAX_EVIDENCE_CHARS] + f"\n… ({len(value) - MAX_EVIDENCE_CHARS} more characters cut)"
    return value


def describe_error(exc: ClientError) -> str:
    """One line saying what kind of wrong answer came back."""
    kind = type(exc).__name__
    if isinstance(exc, SoapFaultError):
        detail = "; ".join(exc.violations[:3])
        return f"SOAP fault {exc.kind}: {exc.faultstring}" + (f" ({detail})" if detail else "")
    status = f" (HTTP {exc.http_status})" if exc.http_status else ""
    return f"{kind}{status}: {exc.message}"


def shown(value: object) -> str:
    """A value as a report shows it: amounts as text, mappings as ``key value`` pairs."""
    if isinstance(value, str):
        return value
    if isinstance(value, Decimal | date):
        return str(value)
    if isinstance(value, dict):
        return ", ".join(f"{shown(k)} {shown(v)}" for k, v in value.items()) or "nothing"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(shown(v) for v in value) + "]"
    return str(value)


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1, default=str)


class CaseContext:
    """One case's view of the run: calls that leave evidence, checks, the clock, helpers."""

    def __init__(self, env: Environment, case: Case) -> None:
        self.env = env
        self.case = case
        self.evidence: list[Evidence] = []
        self.checks: list[Check] = []
        self.hint = ""

    # ------------------------------------------------------------ basics

    @property
    def today(self) -> date:
        return self.env.today

    def day(self, offset: int) -> date:
        """The target's today moved by ``offset`` days."""
        return self.env.today + timedelta(days=offset)

    @property
    def caller(self) -> messages.Caller:
        return self.env.caller

    def skip(self, reason: str) -> None:
        raise CaseSkipped(reason)

    def require(self, *needs: str) -> None:
        """Skip unless the run offers these capabilities (see :mod:`.model`)."""
        env = self.env
        for need in needs:
            if need in (NEEDS_CLOCK, NEEDS_ADMIN) and not env.target.admin:
                self.skip("needs the target's clock and admin API (GET /_admin/health does not "
                          "answer); run against the emulator, or test this by hand")
            if need == NEEDS_CAPTURE and (env.capture is None or not env.capture.admin):
                self.skip("needs a capture point that sees what the target sends to PSRM and "
                          "the fagsystem: pass --psrm URL and point the target's PSRM and "
                          "fagsystem callback addresses at it")

    # ------------------------------------------------------------ assertions

    def check(self, condition: bool, assertion: str, *, expected: object = None,
              got: object = None, hint: str = "") -> None:
        """Record one assertion; a false one ends the case as failed."""
        c = Check(assertion, bool(condition), None if expected is None else shown(expected),
                  None if got is None else shown(got))
        self.checks.append(c)
        if not condition:
            raise CaseFailed(c, hint)

    def equal(self, got: object, expected: object, assertion: str, *, hint: str = "") -> None:
        self.check(got == expected, assertion, expected=expected, got=got, hint=hint)

    def note(self, assertion: str, *, got: object = None) -> None:
        """A passed observation worth showing in the report (no condition)."""
        self.checks.append(Check(assertion, True, None, None if got is None else shown(got)))

    # ------------------------------------------------------------ SOAP

    def try_call(self, operation: str, body: etree._Element, label: str = "",
                 *, headers: Sequence[etree._Element] = ()) -> Reply | ClientError:
        """Call the target; a wrong answer comes back as the client's error, not raised."""
        client = self.env.clients.for_operation(operation)
        label = label or operation
        try:
            reply = client.call(operation, body, headers=headers)
        except TransportError as exc:
            self.evidence.append(Evidence(label, "soap", client.endpoint, operation=operation,
                                          request=_text(exc.sent), error=describe_error(exc)))
            raise CaseErrored(f"{operation}: {describe_error(exc)}") from exc
        except ClientError as exc:
            self.evidence.append(Evidence(
                label, "soap", client.endpoint, operation=operation, request=_text(exc.sent),
                response=_text(exc.received), http_status=exc.http_status,
                error=describe_error(exc)))
            return exc
        self.evidence.append(Evidence(
            label, "soap", client.endpoint, operation=operation, request=_text(reply.sent),
            response=_text(reply.received), http_status=reply.http_status,
            elapsed_ms=round(reply.elapsed * 1000, 2)))
        return reply

    def call(self, operation: str, body: etree._Element, label: str = "", *,
             accept: bool = True, hint: str = "") -> Reply:
        """Call the target and require a schema-valid answer (and, with ``accept``, no
        business error)."""
        got = self.try_call(operation, body, label)
        response = service_response(operation)
        if isinstance(got, ClientError):
            self.check(False, f"{operation} is answered with a schema-valid {response}",
                       expected=f"HTTP 200 with {response}", got=describe_error(got),
                       hint=hint or "Validate every response against the XSD before sending it; "
                                     "the detail names the element that is wrong.")
            raise AssertionError("unreachable")
        if accept:
            self.check(not got.has_business_errors, f"{operation} accepts the request "
                       f"({label or 'valid request'})", expected="SvarReaktion OK, no FejlSamling",
                       got="; ".join(str(e) for e in got.errors) or f"SvarReaktion {got.reaction}",
                       hint=hint)
        return got

    # ------------------------------------------------------------ admin API and capture

    def _http(self, endpoint: Endpoint, method: str, path: str, body: Any = None,
              label: str = "") -> Any:
        url = endpoint.admin_url(path)
        started = time.perf_counter()
        try:
            r = endpoint.admin_request(method, path, body=body,
                                       timeout=max(self.env.options.timeout, 60))
        except requests.RequestException as exc:
            self.evidence.append(Evidence(label or f"{method} {path}", "admin", url, method,
                                          request=None if body is None else _json_text(body),
                                          error=str(exc)))
            raise CaseErrored(f"admin API {method} {url}: {exc}") from exc
        elapsed = round((time.perf_counter() - started) * 1000, 2)
        self.evidence.append(Evidence(
            label or f"{method} /_admin/{path}", "admin", url, method,
            request=None if body is None else _json_text(body), response=_text(r.text),
            http_status=r.status_code, elapsed_ms=elapsed))
        if r.status_code >= 400:
            raise CaseErrored(f"admin API {method} {url} answered HTTP {r.status_code}: "
                              f"{r.text[:300]}")
        try:
            return r.json()
        except ValueError as exc:
            raise CaseErrored(f"admin API {method} {url} did not answer JSON") from exc

    def admin(self, method: str, path: str, body: Any = None, label: str = "") -> Any:
        """Call the target's admin API (the case must ``require(NEEDS_ADMIN)`` first)."""
        return self._http(self.env.target, method, path, body, label)

    def capture_admin(self, method: str, path: str, body: Any = None, label: str = "") -> Any:
        capture = self.env.capture
        assert capture is not None
        return self._http(capture, method, path, body, label)

    def capture_journal(self, end: str, operation: str | None = None) -> list[dict[str, Any]]:
        """Exchanges the capture point journaled during this run, oldest first, with XML
        (or, when the run judges a recording, the recorded exchanges of that end)."""
        source = self.env.journal_source
        if source is not None:
            rows = source(end, operation)
            self.evidence.append(Evidence(
                f"recording: {end} {operation or ''}".strip(), "journal", self.env.target.url,
                "GET", response=f"{len(rows)} recorded exchanges (each finding names its own)"))
            return rows
        query = f"journal?end={end}&full=1&limit=2000"
        if operation:
            query += f"&operation={operation}"
        capture = self.env.capture
        assert capture is not None
        url = capture.admin_url(query)
        try:
            r = capture.admin_request("GET", query)
            rows = r.json()
        except (requests.RequestException, ValueError) as exc:
            raise CaseErrored(f"reading the capture journal {url}: {exc}") from exc
        if r.status_code != 200 or not isinstance(rows, list):
            raise CaseErrored(f"reading the capture journal {url}: HTTP {r.status_code}")
        mine = sorted((row for row in rows if int(row.get("id", 0)) > self.env.capture_mark),
                      key=lambda row: int(row["id"]))
        self.evidence.append(Evidence(
            f"journal: {end} {operation or ''}".strip(), "journal", url, "GET",
            response=f"{len(mine)} exchanges of this run (XML of each in the findings below)",
            http_status=r.status_code))
        return mine

    def journal_evidence(self, row: dict[str, Any], label: str) -> None:
        """Add one journaled exchange (as the capture point saw it) to the evidence."""
        self.evidence.append(Evidence(
            label, "journal", row.get("where") or f"journal #{row.get('id')} ({row.get('end')})",
            "POST",
            operation=row.get("operation"), request=_text(row.get("request_xml")),
            response=_text(row.get("response_xml")), http_status=row.get("http_status"),
            elapsed_ms=row.get("duration_ms"),
            error=None if row.get("status") in ("ok", "rejected", "replayed")
            else f"status {row.get('status')}: {row.get('summary')}"))

    def fagsystem_events(self, claim_id: str) -> list[dict[str, Any]]:
        """Callback events the capture point's fagsystem end received for ``claim_id``."""
        rows = self.capture_admin("GET", f"fagsystem/events?claim_id={claim_id}",
                                  label=f"fagsystem events for {claim_id}")
        if not isinstance(rows, list):
            raise CaseErrored("GET /_admin/fagsystem/events did not answer a list")
        return rows

    # ------------------------------------------------------------ time

    def refresh_today(self, clock: Any = None) -> None:
        """Take the target's today from ``clock`` (an answer of its clock API that says
        ``now``), or read its clock when none is given (or it does not say)."""
        if not self.env.target.admin:
            return
        if not (isinstance(clock, dict) and "now" in clock):
            clock = self.admin("GET", "clock", label="read the target's clock")
        try:
            self.env.today = datetime.fromisoformat(str(clock["now"])).date()
        except (KeyError, TypeError, ValueError) as exc:
            raise CaseErrored(f"the target's clock did not say now: {clock!r}") from exc

    def settle(self) -> bool:
        """Let the target send what it queued (outbox) and fetch PSRM's news now.

        ``True`` when the target's answer says nothing is left in its queue (the emulator's
        ``"queued": 0``): every call it queued has then been answered, so an effect not
        seen by now is not on its way. ``False`` when something is left or the target
        does not say.
        """
        if not self.env.target.admin:
            return False
        answer = self.admin("POST", "poll", label="let the target send what it queued")
        return isinstance(answer, dict) and answer.get("queued") == 0

    def advance(self, days: int) -> None:
        """Move the target's virtual clock (and a separate capture point's) forward."""
        self.require(NEEDS_CLOCK)
        env = self.env
        separate = env.capture is not None and env.capture.admin and not env.capture_is_target
        moved: Any = None  # the target's answer says its new now: no GET /clock after it
        if not separate:
            moved = self.admin("POST", "clock/advance", {"days": days},
                               label=f"advance {days} days")
        else:
            for _ in range(days):
                moved = self.admin("POST", "clock/advance", {"days": 1},
                                   label="advance the target 1 day")
                self.capture_admin("POST", "clock/advance", {"days": 1},
                                   label="advance the capture point 1 day")
            self.settle()
        self.refresh_today(moved)

    def eventually(self, probe: Callable[[], T], *, timeout: float | None = None) -> T:
        """``probe()`` until it is truthy or the wait is over; the last value either way.

        Between probes the target is told to send what it queued (:meth:`settle`). Once
        it says its queue is empty, one more probe is the last: nothing else is on its way,
        so waiting out the rest of ``--wait`` (the whole of it when the awaited effect
        must *not* come) would change no verdict. A target that cannot say is waited for
        as long as ``--wait``; the pauses between its probes grow from 20 ms to 200 ms.
        """
        limit = self.env.options.wait if timeout is None else timeout
        deadline = time.monotonic() + limit
        value = probe()
        pause = _FIRST_PAUSE
        while not value and time.monotonic() < deadline:
            if self.settle():
                return probe()
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(2 * pause, _LONGEST_PAUSE)
            value = probe()
        return value

    # ------------------------------------------------------------ ØIR helpers

    def open_account(self, *, party: Party | None = None, name: str | None = None,
                     label: str = "create a debtor account") -> Account:
        party = party or self.env.cpr()
        reference = self.env.next_id("KONF")
        reply = self.call("OpretDebitorkonto", messages.opret_debitorkonto(
            self.caller, reference=reference, party=party,
            name=name or f"Konformitet {reference}"), label)
        number = reply.findtext("DebitorkontoNummer")
        self.check(bool(number), "OpretDebitorkonto answers with a DebitorkontoNummer",
                   got=number)
        assert number is not None
        return Account(number, party, reference)

    def claim_spec(self, *, type_code: str = "DAGINST", principal: str = "1500.00",
                   founded: int = -10, due: int = 20, srb: int = 45,
                   period: tuple[int, int] = (-40, -11), **changes: Any) -> messages.ClaimSpec:
        """A valid claim with dates relative to the target's today and a fresh id."""
        spec = messages.ClaimSpec(
            fagsystem_claim_id=self.env.next_id("FORD"), type_code=type_code,
            principal=Decimal(principal), period_from=self.day(period[0]),
            period_to=self.day(period[1]), founded=self.day(founded), due_date=self.day(due),
            srb=self.day(srb))
        return replace(spec, **changes) if changes else spec

    def register(self, account: Account, spec: messages.ClaimSpec,
                 label: str = "register a claim") -> Registered:
        """``OpretFordring`` that must be accepted; the claim is remembered for PSRM checks."""
        reply = self.call("OpretFordring", messages.opret_fordring(
            self.caller, account_number=account.number, claim=spec), label)
        claim_id = reply.findtext("FordringID")
        self.check(bool(claim_id), "OpretFordring answers with a FordringID", got=claim_id)
        assert claim_id is not None
        amount = reply.findtext("Opkraevning/Beloeb")
        found = Registered(claim_id, account.number, account.party, spec,
                           reply.findtext("Opkraevning/BetalingsID"),
                           Decimal(amount) if amount else None)
        self.env.registered[claim_id] = found
        return found

    def account(self, account: Account | str, label: str = "read the account") -> AccountView:
        number = account.number if isinstance(account, Account) else account
        reply = self.call("HentDebitorkonto", messages.hent_debitorkonto(
            self.caller, account_number=number), label)
        return account_view(reply.element)

    def pay(self, account: Account, amount: str, *, payment_id: str | None = None,
            paid: date | None = None, fik: str | None = None, claim_id: str | None = None,
            label: str = "pay", accept: bool = True) -> Reply:
        body = messages.foretag_indbetaling(
            self.caller, payment_id=payment_id or self.env.next_id("IND"),
            amount=Decimal(amount), paid=paid or self.today,
            account_number=None if (fik or claim_id) else account.number, fik=fik,
            claim_id=claim_id)
        return self.call("ForetagIndbetaling", body, label, accept=accept)

    def change(self, claim_id: str, change: str, label: str = "", *, accept: bool = True,
               **values: Any) -> Reply:
        body = messages.ret_fordring_tilstand(self.caller, claim_id=claim_id, change=change,
                                              **values)
        return self.call("RetFordringTilstand", body, label or f"{change} {claim_id}",
                         accept=accept)


def service_response(operation: str) -> str:
    """The response element name of an operation (for messages)."""
    for svc in SERVICES:
        for op in svc.operations:
            if op.name == operation:
                return op.response
    return f"{operation}Response"
