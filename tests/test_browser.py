"""The dashboard in a real browser: Debian's headless Chromium, driven over the DevTools
protocol on a pipe (``--remote-debugging-pipe``: no websocket library, no port, nothing
downloaded). The emulator serves on a loopback port with its ends talking over HTTP, as
``oir serve`` does.

Every page must load with no console error (that includes CSP violations and failed
requests); a person must be able to click from an account to a claim to a journal entry,
and to move the virtual clock from the page and see a claim change state.

``make test`` installs Chromium first (``make browser``); without it these tests skip.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask

from emulator import days as chain
from emulator.app import create_app, runtime_of
from emulator.scenario import load_scenario
from emulator.serving.server import on_loopback
from emulator.storage import journal

CHROMIUM = Path(os.environ.get("OIR_CHROMIUM", "/usr/bin/chromium"))
ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "emulator" / "scenarios" / "demo.yaml"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--mute-audio",
         "--remote-debugging-pipe", "--window-size=1280,1000")
TIMEOUT = 30.0

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason=f"{CHROMIUM} is missing: run `make browser` (Debian's chromium)"),
]


class CdpError(RuntimeError):
    """The browser answered a DevTools command with an error, or did not answer."""


class Browser:
    """Chromium with the DevTools protocol on file descriptors 3 (commands in) and 4
    (answers and events out), each message JSON ended by a NUL byte."""

    def __init__(self, executable: Path, profile: Path) -> None:
        cmd_r, cmd_w = os.pipe()
        out_r, out_w = os.pipe()
        # Move the child's ends above 10 so dup2 onto 3 and 4 cannot clobber one another.
        high_r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD_CLOEXEC, 10)
        high_w = fcntl.fcntl(out_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(cmd_r)
        os.close(out_w)
        log = profile.parent / "chromium.log"
        actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT, 0o600),
                   (os.POSIX_SPAWN_DUP2, 1, 2),
                   (os.POSIX_SPAWN_DUP2, high_r, 3),
                   (os.POSIX_SPAWN_DUP2, high_w, 4)]
        argv = [str(executable), *FLAGS, f"--user-data-dir={profile}", "about:blank"]
        # posix_spawn: no Python code runs in the child, so this is safe with threads
        self.pid = os.posix_spawn(str(executable), argv, dict(os.environ),
                                  file_actions=actions)
        os.close(high_r)
        os.close(high_w)
        self._out = os.fdopen(cmd_w, "wb", buffering=0)
        self._in = out_r
        self._next_id = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition()
        self._answers: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._in, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._changed:
                    self._answers[-1] = {"error": {"message": "browser closed the pipe"}}
                    self._changed.notify_all()
                return
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            with self._changed:
                for raw in messages:
                    message = json.loads(raw)
                    if "id" in message:
                        self._answers[message["id"]] = message
                    else:
                        self.events.append(message)
                self._changed.notify_all()

    def send(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None, timeout: float = TIMEOUT) -> dict[str, Any]:
        with self._lock:
            self._next_id += 1
            ident = self._next_id
            message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
            if session:
                message["sessionId"] = session
            self._out.write(json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._changed:
            while ident not in self._answers:
                if -1 in self._answers:
                    raise CdpError(f"{method}: {self._answers[-1]['error']['message']}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CdpError(f"{method}: no answer in {timeout} s")
                self._changed.wait(left)
            answer = self._answers.pop(ident)
        if "error" in answer:
            raise CdpError(f"{method}: {answer['error']}")
        return dict(answer.get("result", {}))

    def wait_for(self, test: Callable[[dict[str, Any]], bool], after: int,
                 what: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The first event from index ``after`` on that passes ``test``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for event in self.events[after:]:
                    if test(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CdpError(f"no {what} in {timeout} s")
                self._changed.wait(left)

    def new_page(self) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target,
                                                      "flatten": True})["sessionId"]
        return Page(self, target, session)

    def close(self) -> None:
        with contextlib.suppress(CdpError):
            self.send("Browser.close", timeout=5)
        for _ in range(50):
            done, _status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.1)
        else:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        self._out.close()
        os.close(self._in)


class Page:
    """One tab: navigate, click, read, and collect console errors."""

    def __init__(self, browser: Browser, target: str, session: str) -> None:
        self.browser = browser
        self.target = target
        self.session = session
        self.start = len(browser.events)
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.send(method, params, session=self.session)

    def _mine(self, method: str) -> Callable[[dict[str, Any]], bool]:
        return lambda e: e.get("sessionId") == self.session and e.get("method") == method

    def _load(self, action: Callable[[], None]) -> None:
        mark = len(self.browser.events)
        action()
        self.browser.wait_for(self._mine("Page.loadEventFired"), mark, "page load")

    def goto(self, url: str) -> None:
        def navigate() -> None:
            self.send("Page.navigate", {"url": url})

        self._load(navigate)

    def eval(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression,
                                                "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise CdpError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def text(self, selector: str) -> str:
        value = self.eval(f"(document.querySelector({json.dumps(selector)}) || {{}})"
                          ".textContent || ''")
        return " ".join(str(value).split())

    def url(self) -> str:
        return str(self.eval("location.pathname + location.search"))

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element (scrolled into view)."""
        box = self.eval(f"""(() => {{
            const el = document.querySelector({json.dumps(selector)});
            if (!el) return null;
            el.scrollIntoView({{block: 'center'}});
            const r = el.getBoundingClientRect();
            return {{x: r.left + r.width / 2, y: r.top + r.height / 2}};
        }})()""")
        if box is None:
            raise CdpError(f"nothing matches {selector}")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": box["x"], "y": box["y"],
                                                   "button": "left", "clickCount": 1})

    def click_and_load(self, selector: str) -> None:
        self._load(lambda: self.click(selector))

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads since the tab opened."""
        out = []
        for e in self.browser.events[self.start:]:
            if e.get("sessionId") != self.session:
                continue
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.exceptionThrown":
                out.append(str(params["exceptionDetails"].get("text")))
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error",
                                                                                  "assert"):
                out.append(" ".join(str(a.get("value", a.get("description")))
                                    for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                out.append(f"{params['entry'].get('text')} ({params['entry'].get('url')})")
        return out

    def close(self) -> None:
        self.browser.send("Target.closeTarget", {"targetId": self.target})


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    b = Browser(CHROMIUM, tmp_path_factory.mktemp("chromium") / "profile")
    yield b
    b.close()


@contextlib.contextmanager
def demo_served(tmp_path: Path, **config: Any) -> Iterator[tuple[str, Flask]]:
    """The emulator with the demo scenario on 2026-11-23 (KTCIVIL closed at PSRM, so a
    rejection shows), on a loopback port, its ends calling each other over HTTP."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = create_app(db_url=f"sqlite:///{tmp_path}/e.sqlite3", start_worker=False, **config)
    runtime = runtime_of(app)
    try:
        with on_loopback(app) as base:
            runtime.config.base_url = base
            data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
            data["clock"] = "2026-11-23T09:00:00"
            data["psrm"] = {"reject_types": {"KTCIVIL": "Typen er lukket"}}
            load_scenario(runtime, data)
            yield base, app
    finally:
        runtime.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Flask]]:
    with demo_served(tmp_path) as pair:
        yield pair


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    p = browser.new_page()
    yield p
    p.close()


# ---------------------------------------------------------------- tests


def test_every_page_loads_without_console_errors(served: tuple[str, Flask], page: Page) -> None:
    base, app = served
    runtime = runtime_of(app)
    chain.advance(runtime, days=3)
    with runtime.store.transaction() as conn:
        delivery = journal.query(conn, end="oir", operation="MFFordringIndberet", limit=1)[0]
    pages = {
        "/": "Virtuelt ur", "/?lang=en": "Virtual clock",
        "/accounts/100001": "Mette Hansen", "/accounts/100002": "Lars Nielsen",
        "/claims/F0000001": "F0000001", "/claims/F0000005": "574",
        "/journal": "Journal", f"/journal/{delivery['id']}": "MFFordringIndberet_I",
        "/psrm": "120000000001", "/faults": "http_503", "/scenario": "Mette Hansen",
        "/conformance": "oir conformance run",
    }
    for path, expected in pages.items():
        page.goto(base + path)
        assert expected in page.text("body"), path
        assert page.errors() == [], path
    assert page.eval("document.querySelectorAll('pre.xml span.x-tag').length") == 0
    page.goto(base + f"/journal/{delivery['id']}")
    assert page.eval("document.querySelectorAll('pre.xml span.x-tag').length") > 20
    # the stylesheet applied: the header bar is the brand colour, not the default white
    color = page.eval("getComputedStyle(document.querySelector('header.top')).backgroundColor")
    assert color == "rgb(31, 78, 121)"
    assert page.errors() == []


def test_click_from_account_to_claim_to_journal_entry(served: tuple[str, Flask],
                                                      page: Page) -> None:
    base, _ = served
    page.goto(base + "/?lang=en")
    page.click_and_load("tr[data-account='100001'] a.account-link")
    assert page.url() == "/accounts/100001"
    assert "Mette Hansen" in page.text("h1")
    page.click_and_load("tr[data-claim='F0000001'] a.claim-link")
    assert page.url() == "/claims/F0000001"
    assert page.text("#claim-state") == "Open"
    page.click_and_load("#claim-exchanges a.entry-link")
    assert page.url().startswith("/journal/")
    assert page.text("h1").startswith("OpretFordring")
    assert "OpretFordringRequest" in page.text("#request pre.xml")
    assert "OpretFordringResponse" in page.text("#response pre.xml")
    assert page.errors() == []


def test_advancing_the_clock_from_the_page_changes_a_claim(served: tuple[str, Flask],
                                                           page: Page) -> None:
    base, _ = served
    page.goto(base + "/claims/F0000001?lang=en")
    assert page.eval("document.querySelector('#claim-state').dataset.state") == "AABEN"
    page.goto(base + "/?lang=en")
    assert page.text("#clock-now") == "2026-11-23 09:00"
    page.click_and_load("#advance-1")  # POSTs /_admin/clock/advance, then reloads
    assert page.text("#clock-now") == "2026-11-24 09:00"
    flash = page.text("#flash")
    assert "reminder_sent ×5" in flash and "handover" in flash
    assert page.eval("document.querySelector('[data-state=OVERDRAGET] .tile-n')"
                     ".textContent") == "3"
    page.goto(base + "/claims/F0000001?lang=en")
    assert page.eval("document.querySelector('#claim-state').dataset.state") == "OVERDRAGET"
    assert page.text("#claim-state") == "Handed to PSRM"
    done = page.eval("[...document.querySelectorAll('ol.steps li.done')]"
                     ".map(li => li.dataset.step)")
    assert done == ["registered", "invoiced", "reminded", "handed_over", "received"]
    assert page.errors() == []


def test_faults_are_armed_and_cleared_from_the_page(served: tuple[str, Flask],
                                                    page: Page) -> None:
    base, app = served
    page.goto(base + "/faults?lang=en")
    page.eval("""(() => { const f = document.querySelector('#fault-form');
        f.operation.value = 'ForetagIndbetaling'; f.kind.value = 'delay';
        f.count.value = '3'; f.delay_ms.value = '250'; })()""")
    page.click_and_load("#fault-form button[type=submit]")
    cells = page.eval("[...document.querySelectorAll('#armed-faults tbody td')]"
                      ".map(td => td.textContent)")
    assert cells[1:] == ["ForetagIndbetaling", "delay", "3", "250"]
    with runtime_of(app).store.transaction() as conn:
        from emulator.soap import faults

        assert [(f.operation, f.kind, f.remaining) for f in faults.armed(conn)] == [
            ("ForetagIndbetaling", "delay", 3)]
    page.click_and_load("#clear-faults")
    assert page.eval("!!document.querySelector('#no-faults')") is True
    # an admin API refusal is shown on the page, not thrown to the console
    page.eval("document.querySelector('#fault-form').kind.value = 'delay'")
    page.eval("document.querySelector('#fault-form').delay_ms.value = '0'")
    page.click("#fault-form button[type=submit]")
    deadline = time.monotonic() + TIMEOUT
    while "delay_ms" not in page.text("#flash") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "delay_ms" in page.text("#flash")
    # the browser itself logs the refused request (a 400); nothing else may appear
    assert [e for e in page.errors() if "400 (BAD REQUEST)" not in e] == []
    assert len(page.errors()) == 1


def test_language_switch_and_cpr_toggle(served: tuple[str, Flask], page: Page) -> None:
    base, _ = served
    page.goto(base + "/accounts/100001")
    assert page.text("#account-party") == "CPR 040587-XXXX"
    page.click_and_load(".switch a[lang=en]")
    assert page.text("h2") == "Claims"
    page.click_and_load("#cpr-toggle")
    assert page.text("#account-party") == "CPR 0405871270"
    page.goto(base + "/accounts/100001?cpr=mask")
    assert page.text("#account-party") == "CPR 040587-XXXX"
    assert page.eval("document.documentElement.lang") == "en"  # the cookie kept English
    assert page.errors() == []


@pytest.fixture
def served_with_token(tmp_path: Path) -> Iterator[tuple[str, Flask]]:
    """As ``served``, with an admin token: the dashboard asks for it once."""
    with demo_served(tmp_path, admin_token=ADMIN_TOKEN) as pair:
        yield pair


ADMIN_TOKEN = "browser-admin-token-0123456789"


def test_with_an_admin_token_the_page_works_through_its_session(
        served_with_token: tuple[str, Flask], page: Page) -> None:
    """The token is asked for once and never written into a page; the buttons move the
    clock with the session's CSRF token; the export link downloads (it answered 401)."""
    base, _ = served_with_token
    page.goto(base + "/?lang=en")
    assert page.url().startswith("/login")
    page.eval(f"document.querySelector('input[name=token]').value = {json.dumps(ADMIN_TOKEN)}")
    page.click_and_load("form button[type=submit]")
    assert page.url() == "/?lang=en", page.text("body")
    html = page.eval("document.documentElement.outerHTML")
    assert ADMIN_TOKEN not in html and "oir-admin-token" not in html
    assert "oir_session" not in page.eval("document.cookie")  # HttpOnly
    assert page.text("#clock-now") == "2026-11-23 09:00"
    page.click_and_load("#advance-1")
    assert page.text("#clock-now") == "2026-11-24 09:00"
    page.goto(base + "/journal?lang=en")
    status = page.eval("fetch(document.querySelector('#journal-export').href)"
                       ".then(r => r.status + ' ' + r.headers.get('X-CPR-Numbers'))")
    assert status == "200 masked"
    assert page.errors() == []
