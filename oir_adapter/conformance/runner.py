"""Running the suite: set up the role's ends, run each case, collect a :class:`RunReport`.

One case never stops the run: whatever it raises becomes its result (fail, skip or
error, with the reason). A progress bar is shown on a terminal only.
"""

from __future__ import annotations

import contextlib
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from typing import Any

import requests

from .. import __version__
from ..clients import clients_for
from .catalogue import cases_for
from .context import (
    CaseContext,
    CaseErrored,
    CaseFailed,
    CaseSkipped,
    Endpoint,
    Environment,
    SuiteOptions,
    probe_admin,
)
from .model import NEEDS_CAPTURE, Case, Result, Role, RunReport, Status
from .server import LocalEmulator, is_loopback


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


def _endpoint(url: str, session: requests.Session, token: str | None) -> Endpoint:
    admin, version = probe_admin(url, session, token)
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
            return found
        if is_loopback(options.psrm):
            emu = stack.enter_context(LocalEmulator.at(options.psrm))
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
    session = options.session or requests.Session()
    notes: dict[str, Any] = {"role": options.role.value}
    with ExitStack() as stack:
        if options.session is None:
            stack.callback(session.close)
        if options.http_headers:
            session.headers.update(dict(options.http_headers))
        role = options.role
        if role is Role.PSRM_CLIENT:
            listen = options.psrm or options.target
            emu = stack.enter_context(LocalEmulator.at(listen))
            target = Endpoint(emu.url, session, True, __version__)
            notes["psrm_end"] = f"{emu.url} (served by the suite; point the system under test "\
                                "at it)"
            capture: Endpoint | None = target
        else:
            target = _endpoint(options.target, session, options.admin_token)
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


def run_suite(options: SuiteOptions) -> RunReport:
    """Run the cases of ``options.role`` (narrowed by ``options.cases``) and report."""
    cases = cases_for(options.role, options.cases)
    started = datetime.now().isoformat(timespec="seconds")
    results: list[Result] = []
    with environment(options) as (env, notes):
        show = sys.stderr.isatty() if options.progress is None else options.progress
        if show:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TextColumn("{task.fields[last]}"), transient=False) as bar:
                task = bar.add_task(f"conformance ({options.role.value})", total=len(cases),
                                    last="")
                for case in cases:
                    bar.update(task, last=case.id)
                    results.append(run_case(env, case))
                    bar.update(task, advance=1, last=f"{case.id} {results[-1].status.value}")
        else:
            for case in cases:
                results.append(run_case(env, case))
        env.clients.close()
    return RunReport(target=options.target, role=options.role, started=started,
                     finished=datetime.now().isoformat(timespec="seconds"), results=results,
                     environment=notes, suite_version=__version__)
