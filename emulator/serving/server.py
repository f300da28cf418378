"""``oir serve``: the emulator under gunicorn (threaded workers), never Flask's debug server.

Workers are ``gthread`` so a debtor end calling its own PSRM and fagsystem ends over
HTTP is answered by another thread instead of waiting on itself. The schema is created
and seed data (``--demo``, ``--scenario``) loaded once, before the workers start. Every
process logs through :func:`emulator.serving.logs.configure_logging` (CPR numbers masked), and a
bind beyond loopback needs authentication configured or ``--insecure``.
"""

from __future__ import annotations

import errno
import gc
import logging
import os
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from emulator.config import EmulatorConfig
from emulator.scenario import DEMO_SCENARIO
from emulator.serving.balanced_worker import BalancedThreadWorker
from emulator.serving.logs import configure_logging
from emulator.soap.security import check_bind
from emulator.storage.store import Store, default_url
from emulator.web import guard as web_guard

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger("emulator.serving.server")

#: gunicorn's gthread, spreading keep-alive connections over the workers (by import path)
WORKER_CLASS = f"{BalancedThreadWorker.__module__}.{BalancedThreadWorker.__qualname__}"


def _switch_interval() -> float:
    raw = os.environ.get("OIR_SWITCH_INTERVAL", "0.001")
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1:
        raise click.UsageError(f"OIR_SWITCH_INTERVAL: {raw!r} is not a number of seconds "
                               "from 0 to 1")
    return value


def run_server(*, host: str, port: int, db: str | None, workers: int, scenario: Path | None,
               demo: bool, insecure: bool) -> int:
    """Start gunicorn; returns its exit status."""
    from gunicorn.app.base import BaseApplication

    try:
        config = EmulatorConfig.from_env(db_url=db)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    switch_interval = _switch_interval()
    gc_freeze = os.environ.get("OIR_GC_FREEZE", "1").strip().lower() not in ("0", "false", "no")
    refusal = check_bind(host, config, insecure)
    if refusal:
        raise click.UsageError(refusal)
    # before anything is opened or printed: a port that cannot be had ends here, in one
    # line, instead of after the banner, gunicorn's retries and a database touched for nothing
    problem = bind_problem(host, port)
    if problem:
        raise click.ClickException(problem)
    level = os.environ.get("OIR_LOG_LEVEL", "warning")
    configure_logging(level)
    reach = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    config.base_url = config.base_url or f"http://{reach}:{port}"
    config.db_url = config.db_url or default_url()
    try:
        # the schema, once, before the workers race for it
        Store(config.db_url, sqlite_synchronous=config.sqlite_synchronous).dispose()
    except (SQLAlchemyError, OSError) as exc:
        raise click.ClickException(f"cannot open the database {_shown(config.db_url)}: "
                                   f"{_reason(exc)}") from None
    _seed(config, scenario, demo)
    loaded: list[Flask] = []  # the worker's app, once loaded (in the worker process)

    class _App(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", WORKER_CLASS)
            self.cfg.set("threads", int(os.environ.get("OIR_THREADS", "8")))
            self.cfg.set("timeout", 120)
            # an idle connection (between requests, or before its first) waits this long
            # on the poller before it is closed; gunicorn's 2 s is short for a browser
            self.cfg.set("keepalive", 5)
            self.cfg.set("graceful_timeout", 5)
            self.cfg.set("accesslog", None)
            # X-Forwarded-Proto from the same proxies the WSDL's host and port come from
            self.cfg.set("forwarded_allow_ips", ",".join(config.trusted_proxies))
            self.cfg.set("loglevel", level)
            self.cfg.set("on_starting", lambda _arbiter: configure_logging(level))
            self.cfg.set("worker_exit", lambda _arbiter, _worker: settle_apps(loaded))

        def load(self) -> Any:
            from emulator.app import create_app

            configure_logging(level)  # in the worker: wrap gunicorn's handlers too
            # A writer holding the database's write lock gives up the GIL at every SQLite
            # call; getting it back waits for another thread to yield, by default after
            # 5 ms. 1 ms measured ~25 % more writes/s under load here (OIR_SWITCH_INTERVAL).
            sys.setswitchinterval(switch_interval)
            # the worker reads each request against these (slow clients, see the worker)
            BalancedThreadWorker.head_seconds = config.header_timeout_seconds
            BalancedThreadWorker.body_seconds = config.body_timeout_seconds
            app = create_app(EmulatorConfig(**{**config.__dict__}))
            if gc_freeze:
                # What the app built at start (schemas, compiled statements, lxml and
                # SQLAlchemy internals) never becomes garbage; moved out of the collector's
                # sight, a full collection under load takes ~3–8 ms instead of 50–65 ms,
                # which had been most of the p99 (OIR_GC_FREEZE=0 to compare).
                gc.collect()
                gc.freeze()
            loaded.append(app)
            return app

    base = config.base_url
    click.echo(f"oir emulator on {base} (db: {config.db_url}, {workers} worker(s))")
    click.echo(f"  dashboard   {base}/")
    click.echo(f"  ØIR         {base}/service/OIR/DebitorRegistreringAfsend/1?wsdl  (and "
               "DebitorForespoergselAfsend, DebitorIndbetalingAfsend, "
               "DebitorkontoAnmodningAfsend, DebitorModregning)")
    click.echo(f"  fagsystem   {base}/service/OIR/DaekningAfskrivningRegistreringAfsend/1?wsdl")
    click.echo("              (the earlier /oir/… and /fagsystem/… paths answer too, "
               "for one release)")
    click.echo(f"  PSRM        {base}/psrm/MFFordringIndberet/1?wsdl  (and MFKvitteringHent, "
               "MFUnderretSamlingHent)")
    click.echo(f"  admin API   {base}/_admin/health")
    names = [n for n in web_guard.allowed_names(config) if n not in web_guard.LOOPBACK_NAMES]
    click.echo("  answers to  localhost, IP addresses" + "".join(f", {n}" for n in names)
               + ("" if config.allowed_hosts else "  (other names: set OIR_ALLOWED_HOSTS)"))
    if config.replay_dir:
        from oir_adapter.recording import Recording

        held = len(Recording.open(Path(config.replay_dir)).exchanges)
        click.echo(f"  replaying   {config.replay_dir} ({held} recorded exchanges)")
    sys.stdout.flush()
    _App().run()
    return 0


def settle_apps(apps: list[Flask]) -> None:
    """A worker stopping: commit what its reads left queued (their journal rows), so a
    graceful stop loses none of them."""
    from emulator.app import runtime_of

    for app in apps:
        try:
            runtime_of(app).store.settle()
        except Exception:  # the worker is going anyway: say so, do not hang it
            log.exception("could not write the queued journal rows at exit")


def bind_problem(host: str, port: int) -> str | None:
    """Why ``oir serve`` cannot listen on ``host:port`` — what failed and what to do — or
    None when it can (the address is bound and released again, as gunicorn will bind it:
    with ``SO_REUSEADDR``)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        return (f"cannot listen on {host}:{port}: {host!r} is not an address of this machine "
                f"({getattr(exc, 'strerror', None) or exc}); use 127.0.0.1, 0.0.0.0 or one of "
                "its addresses")
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            return _bind_error(host, port, exc)
    return None


def _bind_error(host: str, port: int, exc: OSError) -> str:
    where = f"cannot listen on {host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (f"{where}: the port is in use (another oir serve, or another program); stop "
                f"it or choose another --port")
    if exc.errno == errno.EACCES:
        return (f"{where}: ports below 1024 need root privileges; choose --port 1024 or "
                "higher (e.g. 8080) and put a reverse proxy in front")
    if exc.errno == errno.EADDRNOTAVAIL:
        return (f"{where}: {host} is not an address of this machine; use 127.0.0.1, 0.0.0.0 "
                "or one of its addresses")
    return f"{where}: {exc.strerror or exc}"


def _shown(url: str) -> str:
    """A database URL as it may be printed (no password)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return repr(url[:200])


def _reason(exc: BaseException) -> str:
    """The first line of what went wrong, without SQLAlchemy's background link."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _seed(config: EmulatorConfig, scenario: Path | None, demo: bool) -> None:
    """Load ``--demo`` and ``--scenario`` into the database, in a child process when the
    master is single-threaded (as it is here): loading builds an app and imports the SOAP
    clients (zeep, requests) and PyYAML, and the workers, forked from the master, would
    otherwise each carry all of that (~12 MB a worker, measured)."""
    if not scenario and not demo:
        return
    if not hasattr(os, "fork") or threading.active_count() > 1:
        _load_seeds(config, scenario, demo)
        return
    sys.stdout.flush()  # what is buffered now must not be written again by the child
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        code = 1
        try:
            _load_seeds(config, scenario, demo)
            code = 0
        except click.ClickException as exc:
            exc.show()
            code = exc.exit_code
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _pid, status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:  # the child said why
        raise SystemExit(code if code > 0 else 1)


def _load_seeds(config: EmulatorConfig, scenario: Path | None, demo: bool) -> None:
    import yaml

    from emulator.app import create_app, runtime_of
    from emulator.scenario import ScenarioError, load_scenario

    app = create_app(EmulatorConfig(**{**config.__dict__, "base_url": None,
                                       "start_worker": False}))
    runtime = runtime_of(app)
    try:
        for path in ([DEMO_SCENARIO] if demo else []) + ([scenario] if scenario else []):
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            try:
                summary = load_scenario(runtime, data)
            except ScenarioError as exc:
                raise click.ClickException(f"{path}: {exc}") from None
            click.echo(f"loaded {path.name}: {len(summary['accounts'])} accounts, "
                       f"{len(summary['claims'])} claims")
    finally:
        runtime.close()


@contextmanager
def on_loopback(app: Flask, port: int = 0) -> Iterator[str]:
    """``app`` served on 127.0.0.1 from threads of this process (werkzeug, threaded, so the
    emulator's ends can call each other over HTTP), for tests and scripts that need a real
    socket but not gunicorn's processes. Yields the base URL; ``port`` 0 picks a free one."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
