"""``oir serve`` on an address it cannot have: one line saying what failed and what to do,
a quick non-zero exit, no banner, and nothing left behind (no database, no lock file)."""

from __future__ import annotations

import errno
import socket
import subprocess
import time
from pathlib import Path

import pytest

from emulator.serving.server import bind_problem
from tests.emulator_process import OIR, ROOT


def serve(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run([str(OIR), "serve", "--db", f"sqlite:///{tmp_path / 'oir.sqlite3'}",
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    return done, time.monotonic() - started


def assert_one_line_and_nothing_left(done: subprocess.CompletedProcess[str], elapsed: float,
                                     tmp_path: Path, *words: str) -> None:
    assert done.returncode != 0
    assert elapsed < 10  # no retries
    assert "oir emulator on" not in done.stdout  # no success banner
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert all(w in lines[0] for w in words), lines[0]
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []  # no database, no var/oir.sqlite3.lock-*


def test_a_port_in_use_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done, elapsed = serve(tmp_path, "--port", str(port))
    assert_one_line_and_nothing_left(done, elapsed, tmp_path, f"127.0.0.1:{port}",
                                     "in use", "--port")


def test_an_address_of_another_machine_is_one_line(tmp_path: Path) -> None:
    done, elapsed = serve(tmp_path, "--host", "192.0.2.1", "--insecure", "--port", "8080")
    assert_one_line_and_nothing_left(done, elapsed, tmp_path, "192.0.2.1",
                                     "not an address of this machine", "127.0.0.1")


@pytest.mark.parametrize(("code", "words"), [
    (errno.EACCES, ("below 1024", "--port 1024 or higher")),
    (errno.EADDRINUSE, ("in use", "another --port")),
    (errno.EADDRNOTAVAIL, ("not an address of this machine",)),
])
def test_each_bind_failure_says_what_to_do(monkeypatch: pytest.MonkeyPatch, code: int,
                                           words: tuple[str, ...]) -> None:
    """Also those this test cannot provoke for real (as root, port 80 is free to bind)."""
    def refuse(_self: socket.socket, _address: object) -> None:
        raise OSError(code, "refused")

    monkeypatch.setattr(socket.socket, "bind", refuse)
    problem = bind_problem("127.0.0.1", 80)
    assert problem is not None and problem.startswith("cannot listen on 127.0.0.1:80: ")
    assert all(w in problem for w in words), problem


def test_a_free_port_is_no_problem() -> None:
    assert bind_problem("127.0.0.1", 0) is None


def test_a_scenario_that_fails_to_load_is_one_line_and_no_server(tmp_path: Path) -> None:
    """The scenario is loaded in a child process (so the workers do not inherit what
    loading imported): its refusal still reaches the user once, as one line, and no
    server starts."""
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("accounts:\n  - cpr: '0405871270'\n", encoding="utf-8")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done, _elapsed = serve(tmp_path, "--port", str(port), "--scenario", str(scenario))
    assert done.returncode == 1
    assert "oir emulator on" not in done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [f"Error: {scenario}: accounts[1]: each account needs a reference"], lines
