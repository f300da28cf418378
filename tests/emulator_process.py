"""Run the emulator as a real process (``oir serve`` under gunicorn) for end-to-end tests.

Binds a free loopback port, waits until ``/_admin/health`` answers, and stops with
SIGTERM (``stop``) or SIGKILL (``kill``). Every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import requests

ROOT = Path(__file__).resolve().parent.parent
OIR = Path(sys.executable).parent / "oir"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmulatorProcess:
    """``with EmulatorProcess(db_path) as emu: emu.url …``"""

    def __init__(self, db: Path, *, port: int | None = None, workers: int = 1,
                 extra: list[str] | None = None, env: dict[str, str] | None = None,
                 db_url: str | None = None) -> None:
        self.db_url = db_url or f"sqlite:///{db}"
        self.port = port or free_port()
        self.workers = workers
        self.extra = extra or []
        self.env = env or {}
        self.log_path = db.with_suffix(f".{self.port}.log") if db_url is None else Path(
            f"/tmp/oir-emulator-{self.port}.log")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> EmulatorProcess:
        env = {**os.environ, "OIR_LOG_LEVEL": "info", **self.env}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [str(OIR), "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--db", self.db_url, "--workers", str(self.workers), *self.extra],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"emulator exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if requests.get(f"{self.url}/_admin/health", timeout=1,
                                headers=self.admin_headers).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"emulator did not answer within {timeout}s:\n{self.log()}")

    @property
    def admin_headers(self) -> dict[str, str]:
        """The bearer token ``/_admin`` wants when the process runs with OIR_ADMIN_TOKEN."""
        token = self.env.get("OIR_ADMIN_TOKEN")
        return {"Authorization": f"Bearer {token}"} if token else {}

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") \
            if self.log_path.exists() else ""

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
