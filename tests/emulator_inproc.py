"""The emulator in-process: a Flask app on a temporary SQLite file, reached by the
adapter's real SOAP clients through the WSGI transport (no socket), plus admin helpers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from flask import Flask

from emulator.app import create_app, runtime_of
from emulator.runtime import Runtime
from emulator.serving.inprocess import LocalEmulator
from emulator.serving.wsgi_transport import WSGIAdapter
from oir_adapter.clients import Clients, clients_for
from oir_adapter.conformance import SuiteOptions

BASE = "http://emulator.invalid"  # an .invalid name: the web guard lets it in


class InProcessEmulator:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.runtime: Runtime = runtime_of(app)
        self.http = app.test_client()
        self.session = requests.Session()
        self.session.mount(BASE, WSGIAdapter(app))
        self.soap: Clients = clients_for(BASE, session=self.session)

    def admin(self, method: str, path: str, expect: int | tuple[int, ...] = (200, 201),
              **json: Any) -> Any:
        response = self.http.open(f"/_admin{path}", method=method,
                                  json=json if json or method != "GET" else None)
        codes = (expect,) if isinstance(expect, int) else expect
        assert response.status_code in codes, response.get_data(as_text=True)
        return response.get_json()

    def post_raw(self, path: str, data: bytes, content_type: str = "text/xml; charset=utf-8",
                 headers: dict[str, str] | None = None) -> Any:
        return self.http.post(path, data=data, content_type=content_type, headers=headers or {})

    def close(self) -> None:
        self.soap.close()
        self.runtime.close()


@contextmanager
def in_process(tmp: Path, **config: Any) -> Iterator[InProcessEmulator]:
    """On a SQLite file in ``tmp``, or on ``db_url`` (a PostgreSQL test database)."""
    db_url = config.pop("db_url", None) or f"sqlite:///{tmp / 'emulator.sqlite3'}"
    app = create_app(db_url=db_url, start_worker=False, **config)
    emu = InProcessEmulator(app)
    try:
        yield emu
    finally:
        emu.close()


@contextmanager
def live_server(tmp: Path, **config: Any) -> Iterator[tuple[str, InProcessEmulator]]:
    """The app on a real loopback socket (werkzeug, threaded) for tests of the wire."""
    from emulator.serving.server import on_loopback
    from tests.emulator_process import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with in_process(tmp, base_url=url, **config) as emu, on_loopback(emu.app, port):
        yield url, emu


def suite_options(**given: Any) -> SuiteOptions:
    """Suite options as the CLI makes them: the suite serves its own ends with the emulator's."""
    return SuiteOptions(local_end=LocalEmulator.at, **given)
