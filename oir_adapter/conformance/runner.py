"""Running the suite: set up the role's ends, run each case, collect a :class:`RunReport`.

The target is probed once first: one that does not answer at all ends the run before any
case (:class:`TargetUnreachable`). After that one case never stops the run: whatever it
raises becomes its result (fail, skip or error, with the reason). Progress is a bar on a
terminal, one line per case otherwise. Against an emulator the run saves its state first
and puts it back afterwards, so a shared emulator is left as it was found.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.sessions import merge_setting
from requests.utils import get_environ_proxies

from oir_adapter import __version__
from oir_adapter.clients import clients_for
from oir_adapter.conformance.catalogue import cases_for
from oir_adapter.conformance.context import (
    CaseContext,
    CaseErrored,
    CaseFailed,
    CaseSkipped,
    Endpoint,
    Environment,
    SuiteOptions,
    probe_admin,
    probe_target,
)
from oir_adapter.conformance.model import NEEDS_CAPTURE, Case, Result, Role, RunReport, Status
from oir_adapter.contracts import service

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in _LOOPBACK


class RunSession(requests.Session):
    """The session of one run: what the environment says about proxies and CA bundles is
    read once per host, not on every request. ``requests`` scans ``os.environ`` twice a
    request for it, a third of the suite's own CPU per SOAP call; the environment does
    not change during a run, so the settings are the same."""

    def __init__(self) -> None:
        super().__init__()
        self._environ: dict[tuple[str, str, str | None], tuple[dict[str, str], str | None]] = {}

    def _from_environ(self, url: str, no_proxy: str | None
                      ) -> tuple[dict[str, str], str | None]:
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, no_proxy)
        if key not in self._environ:
            self._environ[key] = (
                get_environ_proxies(url, no_proxy=no_proxy),
                os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE"))
        return self._environ[key]

    def merge_environment_settings(self, url: str | bytes | None, proxies: Any, stream: Any,
                                   verify: Any, cert: Any) -> Any:
        """What ``requests.Session.merge_environment_settings`` does, the environment
        read through :meth:`_from_environ`."""
        if not self.trust_env or not isinstance(url, str):
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        env_proxies, ca_bundle = self._from_environ(
            url, proxies.get("no_proxy") if proxies is not None else None)
        if proxies is not None:
            for k, v in env_proxies.items():
                proxies.setdefault(k, v)
        if verify is True or verify is None:
            verify = ca_bundle or verify
        return {"proxies": merge_setting(proxies, self.proxies),
                "stream": merge_setting(stream, self.stream),
                "verify": merge_setting(verify, self.verify),
                "cert": merge_setting(cert, self.cert)}


def _local_end(options: SuiteOptions, url: str) -> Any:
    """The PSRM and fagsystem ends the suite serves itself at ``url`` (a capture point, or
    the PSRM a ``psrm-client`` run delivers to), made by ``options.local_end`` — the CLI
    passes the emulator's; the library does not import the emulator."""
    if options.local_end is None:
        raise CaseErrored(f"the suite must serve its own PSRM end at {url}, but no local "
                          "end was given (run it with `oir conformance run`)")
    return options.local_end(url)

def run_case(env: Environment, case: Case) -> Result:
    """Run one case; every outcome, including a bug in the suite, becomes a result."""
    ctx = CaseContext(env, case)
    started = time.perf_counter()
    status, reason, hint = Status.PASS, "every assertion held", ""
    try:
        ctx.require(*sorted(case.needs, key=lambda n: (n == NEEDS_CAPTURE, n)))
        case.run(ctx)
    except CaseFailed as exc:
        c = exc.check
        status, hint = Status.FAIL, exc.hint
        said = [f"{k} {v}" for k, v in (("expected", c.expected), ("got", c.got))
                if v is not None]
        reason = c.assertion + (f" ({'; '.join(said)})" if said else "")
    except CaseSkipped as exc:
        status, reason = Status.SKIP, str(exc)
    except CaseErrored as exc:
        status, reason = Status.ERROR, str(exc)
    except Exception as exc:  # a bug in a case must not stop the run
        status = Status.ERROR
        reason = f"suite error: {type(exc).__name__}: {exc}\n" + "".join(
            traceback.format_exception(exc)[-3:])
    return Result(case, status, reason, ctx.checks, ctx.evidence,
                  time.perf_counter() - started, hint)


def _endpoint(url: str, session: requests.Session, token: str | None,
              probe: Callable[[str, requests.Session, str | None], tuple[bool, str | None]]
              = probe_admin) -> Endpoint:
    admin, version = probe(url, session, token)
    return Endpoint(url.rstrip("/"), session, admin, version, token)


def _journal_mark(endpoint: Endpoint) -> int:
    """The newest journal id on an emulator, so the run judges only its own exchanges."""
    try:
        rows = endpoint.admin_request("GET", "journal?limit=1").json()
    except (requests.RequestException, ValueError):
        return 0
    return int(rows[0]["id"]) if isinstance(rows, list) and rows else 0


def _today(env: Environment) -> None:
    if env.target.admin:
        try:
            now = env.target.admin_request("GET", "clock").json()["now"]
            env.today = datetime.fromisoformat(now).date()
        except (requests.RequestException, ValueError, KeyError, TypeError):
            pass


def _sync_clock(env: Environment, notes: dict[str, Any]) -> None:
    """A separate capture point's clock starts at the target's: PSRM judges SRB and
    receipt dates by its own today, and the suite moves both clocks in step."""
    capture = env.capture
    assert capture is not None
    try:
        now = env.target.admin_request("GET", "clock").json()["now"]
        capture.admin_request("PUT", "clock", body={"now": now})
        notes["capture_clock"] = f"set to the target's ({now})"
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        notes["capture_clock"] = f"not synchronised: {exc}"


def _capture(options: SuiteOptions, session: requests.Session, target: Endpoint,
             stack: ExitStack, notes: dict[str, Any]) -> Endpoint | None:
    """Where the suite sees what the debtor system sends to PSRM and the fagsystem."""
    if options.psrm:
        found = _endpoint(options.psrm, session, options.admin_token)
        if found.admin:
            notes["capture"] = f"{found.url} (an emulator already running)"
            if options.restore_state:
                _keep_state(found, stack, notes, "capture_state")
            return found
        if is_loopback(options.psrm):
            emu = stack.enter_context(_local_end(options, options.psrm))
            notes["capture"] = f"{emu.url} (served by the suite for this run)"
            return Endpoint(emu.url, session, True, __version__)
        notes["capture"] = f"{options.psrm} does not answer /_admin/health: no capture point"
        return None
    if target.admin:
        notes["capture"] = f"{target.url} (the target's own PSRM and fagsystem ends)"
        return target
    notes["capture"] = "none: pass --psrm URL to check what the target sends to PSRM"
    return None


@contextlib.contextmanager
def environment(options: SuiteOptions) -> Iterator[tuple[Environment, dict[str, Any]]]:
    """Set up the ends of ``options.role`` for the run; torn down afterwards."""
    session = options.session or RunSession()
    notes: dict[str, Any] = {"role": options.role.value}
    with ExitStack() as stack:
        if options.session is None:
            stack.callback(session.close)
        if options.http_headers:
            session.headers.update(dict(options.http_headers))
        role = options.role
        if role is Role.PSRM_CLIENT:
            listen = options.psrm or options.target
            emu = stack.enter_context(_local_end(options, listen))
            target = Endpoint(emu.url, session, True, __version__)
            notes["psrm_end"] = f"{emu.url} (served by the suite; point the system under test "\
                                "at it)"
            capture: Endpoint | None = target
        else:
            target = _endpoint(options.target, session, options.admin_token, probe_target)
            if target.admin and options.restore_state:
                _keep_state(target, stack, notes, "target_state")
            capture = _capture(options, session, target, stack, notes) \
                if role is Role.DEBITOR else (target if target.admin else None)
        notes["target_admin_api"] = target.admin
        if target.version:
            notes["target_version"] = target.version
        clients = clients_for(target.url, session=session, timeout=(5, options.timeout),
                              username=options.username, password=options.password)
        env = Environment(options, target, clients, capture)
        _today(env)
        notes["target_today"] = env.today.isoformat()
        notes["run_token"] = env.token
        if capture is not None and capture.admin and role is not Role.FAGSYSTEM:
            env.capture_mark = _journal_mark(capture)  # judge only this run's exchanges
            if not env.capture_is_target and target.admin:
                _sync_clock(env, notes)
        if role is Role.PSRM_CLIENT:
            _await_deliveries(env, notes)
        yield env, notes


def _keep_state(endpoint: Endpoint, stack: ExitStack, notes: dict[str, Any], key: str
                ) -> None:
    """Save an emulator's state now and put it back when the run is over (its journal,
    the run's exchanges included, stays). An emulator without ``/_admin/state`` is left
    as the run leaves it, and the report says so."""
    try:
        answer = endpoint.admin_request("GET", "state", timeout=300)
        saved = answer.json() if answer.status_code == 200 else None
    except (requests.RequestException, ValueError) as exc:
        notes[key] = f"not saved ({exc}): the run's changes stay"
        return
    if not isinstance(saved, dict):
        notes[key] = (f"not saved (GET /_admin/state: HTTP {answer.status_code}): the run's "
                      "changes stay")
        return
    notes[key] = "saved before the run; restoring it failed"

    def put_back() -> None:
        try:
            back = endpoint.admin_request("PUT", "state", body=saved, timeout=300)
        except requests.RequestException as exc:
            notes[key] = f"saved before the run; NOT restored: {exc}"
            return
        notes[key] = ("restored after the run (clock, accounts, PSRM; the journal keeps the "
                      "run's exchanges)" if back.status_code == 200 else
                      f"saved before the run; NOT restored: HTTP {back.status_code} "
                      f"{back.text[:200]}")

    stack.callback(put_back)


def _nothing_reached(env: Environment) -> bool:
    """Whether a separate capture point has seen nothing from the target this run."""
    capture = env.capture
    if env.capture_reached or capture is None or not capture.admin or env.capture_is_target:
        return False
    env.capture_reached = _journal_mark(capture) > env.capture_mark
    return not env.capture_reached


def _capture_hint(env: Environment) -> str:
    assert env.capture is not None
    return (f"nothing reached {env.capture.url} — is your system's PSRM URL set to it "
            "(and its fagsystem callback URL to "
            f"{env.capture.url}{service('DaekningAfskrivningRegistreringAfsend').path})?")


def _await_deliveries(env: Environment, notes: dict[str, Any]) -> None:
    """psrm-client: tell whoever waits where PSRM is, then give the system ``wait`` seconds."""
    options = env.options
    if options.ready is not None:
        options.ready(env.target.url)
    else:
        print(f"PSRM end listening at {env.target.url}: waiting {options.wait:g} s for "
              "deliveries", file=sys.stderr)
    time.sleep(max(0.0, options.wait))
    notes["waited_seconds"] = options.wait


def _run(env: Environment, case: Case) -> Result:
    """One case; a capture case that failed because nothing arrived says so."""
    result = run_case(env, case)
    if result.status is Status.FAIL and NEEDS_CAPTURE in case.needs and _nothing_reached(env):
        result.hint = _capture_hint(env)
    return result


def _line(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_suite(options: SuiteOptions) -> RunReport:
    """Run the cases of ``options.role`` (narrowed by ``options.cases``) and report."""
    cases = cases_for(options.role, options.cases)
    started = datetime.now().isoformat(timespec="seconds")
    results: list[Result] = []
    with environment(options) as (env, notes):
        bar = sys.stderr.isatty() if options.progress is None else options.progress
        if bar:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TextColumn("{task.fields[last]}"), transient=False) as shown:
                task = shown.add_task(f"conformance ({options.role.value})", total=len(cases),
                                      last="")
                for case in cases:
                    shown.update(task, last=case.id)
                    results.append(_run(env, case))
                    shown.update(task, advance=1, last=f"{case.id} {results[-1].status.value}")
        else:
            lines = options.progress is None  # not a terminal: a line per case for CI logs
            if lines:
                _line(f"conformance ({options.role.value}) against {env.target.url}: "
                      f"{len(cases)} cases")
            for number, case in enumerate(cases, 1):
                results.append(_run(env, case))
                if lines:
                    r = results[-1]
                    _line(f"[{number}/{len(cases)}] {case.id} {r.status.value} "
                          f"({r.duration:.1f} s)")
        env.clients.close()
    return RunReport(target=options.target, role=options.role, started=started,
                     finished=datetime.now().isoformat(timespec="seconds"), results=results,
                     environment=notes, suite_version=__version__)
