"""The quickstarts are safe to paste: every shell block of README.md and
docs/quickstart.md (one section per kind of user) runs, in order, against a fresh
``oir serve --demo`` on loopback, as a newcomer would paste them.

A block that is not meant to run says so in its fence — ```` ```sh not-run: <why> ```` —
(it starts the emulator itself, or holds a placeholder for the reader's own system); a
shell block with neither ``sh`` nor ``sh not-run: …`` fails this test, so nothing is
skipped silently. The blocks run in a scratch folder laid out like a checkout after
``make`` (``docs``, ``.venv``, ``Makefile``, ``var``…), with ``127.0.0.1:8080`` (the
emulator ``make run`` starts) replaced by the test's emulator and every other loopback
port by a free one. Each block is bounded in time; whatever it started is stopped.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from .conftest import ROOT
from .emulator_process import EmulatorProcess, free_port

PAGES = ("README.md", "docs/quickstart.md")
SHELLS = ("sh", "bash", "shell", "console", "")
BLOCK_SECONDS = 300
_FENCE = re.compile(r"^(?P<indent>[ ]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ ]*$",
                    re.MULTILINE | re.DOTALL)
#: a port a block names: in a loopback URL, or as ``--port N``
_PORT = re.compile(r"(?<=127\.0\.0\.1:)(\d{2,5})\b|(?<=--port )(\d{2,5})\b")

#: What a block's output must show, by a line that identifies the block.
EXPECTED = {
    "ACCOUNT=$(curl": ("account: 100004", "SvarReaktion>OK</", "<oir:FordringID>"),
    "make conformance": ("fail 0 skip 0 error 0",),
    "--case 'OIR-HND-00[1-4]'": ("fail 0 skip 0 error 0",),
    '"in_days": 7': ('"today":', '"warning":"F0000001 is not in PSRM yet', '"psrm_daekning"'),
    "oir validate docs/examples/OpretFordring": ("OK", ),
    "_admin/scenario": ('"BIL-4711":"100005"',),
}
#: What no block's output may show: an admin API error, a SOAP fault, a traceback.
FORBIDDEN = re.compile(r'"error":\s*"|<faultcode>|Traceback \(most recent call last\)')


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    info: str
    body: str

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def runs(self) -> bool:
        return "not-run" not in self.info


def shell_blocks() -> list[Block]:
    found = []
    for page in PAGES:
        text = (ROOT / page).read_text(encoding="utf-8")
        for m in _FENCE.finditer(text):
            info = m.group("info").strip()
            if info.split(" ", 1)[0] not in SHELLS:
                continue  # yaml, python, json …
            body = textwrap.dedent("\n".join(
                line[len(m.group("indent")):] if line.startswith(m.group("indent")) else line
                for line in m.group("body").splitlines()))
            found.append(Block(page, text.count("\n", 0, m.start()) + 1, info, body))
    return found


def test_every_shell_block_says_whether_it_runs() -> None:
    blocks = shell_blocks()
    assert len([b for b in blocks if b.runs]) >= 10
    unmarked = [b.where for b in blocks if b.info in ("", "console", "shell", "bash")]
    assert unmarked == [], "write ```sh (run by this test) or ```sh not-run: <why>"
    no_reason = [b.where for b in blocks if "not-run" in b.info
                 and not re.fullmatch(r"sh not-run: \S.*", b.info)]
    assert no_reason == [], "a block that does not run says why"
    # placeholders never hide in a block that runs
    for b in blocks:
        if b.runs:
            assert not re.search(r"\.example\b|<[a-z-]+>|\bout/", b.body), b.where


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout after ``make``: the repository's files, ``.venv`` (this interpreter's,
    up to date for make), an empty ``var``."""
    work = tmp_path_factory.mktemp("checkout")
    for name in ("docs", "emulator", "oir_adapter", "wsdl", "xsd", "scripts", "Makefile",
                 "pyproject.toml", "README.md"):
        (work / name).symlink_to(ROOT / name)
    venv = work / ".venv"
    venv.mkdir()
    (venv / "bin").symlink_to(Path(sys.executable).parent)
    (venv / ".installed").touch()  # newer than pyproject.toml: make installs nothing
    (work / "var").mkdir()
    return work


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    db = tmp_path_factory.mktemp("quickstart") / "oir.sqlite3"
    with EmulatorProcess(db, extra=["--demo"]) as emu:
        yield emu


def _ports(emu: EmulatorProcess) -> dict[str, str]:
    """``8080`` → the test's emulator; every other port a block names → a free one."""
    ports = {"8080": str(emu.port)}
    for block in shell_blocks():
        for m in _PORT.finditer(block.body):
            ports.setdefault(m.group(0), str(free_port()))
    return ports


def _run(block: Block, workdir: Path, url: str, ports: dict[str, str]) -> str:
    script = _PORT.sub(lambda m: ports[m.group(0)], block.body)
    env = {**os.environ, "TARGET": url}  # make conformance's target
    env.pop("OIR_REPORT_DIR", None)
    proc = subprocess.Popen(["bash", "-e", "-o", "pipefail", "-c", script], cwd=workdir,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=BLOCK_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"{block.where} did not finish within {BLOCK_SECONDS} s:\n{out}")
    finally:
        with contextlib.suppress(ProcessLookupError):  # what the block left running
            os.killpg(proc.pid, signal.SIGTERM)
    assert proc.returncode == 0, f"{block.where} exited {proc.returncode}:\n{script}\n{out}"
    return out


def test_the_quickstarts_run_as_written(workdir: Path, emulator: EmulatorProcess) -> None:
    ports = _ports(emulator)
    ran = []
    for block in shell_blocks():
        if not block.runs:
            continue
        out = _run(block, workdir, emulator.url, ports)
        bad = FORBIDDEN.search(out)
        assert bad is None, f"{block.where} printed {bad and bad.group(0)!r}:\n{out}"
        for key, wanted in EXPECTED.items():
            if key in block.body:
                for text in wanted:
                    assert text in out, f"{block.where}: {text!r} not in:\n{out}"
        ran.append(block.where)
    assert len(ran) >= 10
    # the suite left the shared emulator as it found it: the demo's three accounts, the
    # one the fagsystem section made, the scenario's
    accounts = requests.get(f"{emulator.url}/_admin/accounts", timeout=30).json()
    assert sorted(a["number"] for a in accounts) == [f"10000{n}" for n in range(1, 6)], accounts
