"""A local emulator the suite serves itself: the PSRM end (and fagsystem end) that a
vendor's system is pointed at, as a capture point (``debitor`` role) or as the PSRM the
vendor delivers to (``psrm-client`` role).

It runs werkzeug's threaded server in a daemon thread on a fresh SQLite file, so it never
touches another store, and stops when the run ends.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in LOOPBACK


class LocalEmulator:
    """``with LocalEmulator("127.0.0.1", 0) as emu: emu.url …``"""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 db_dir: Path | None = None, **config: Any) -> None:
        self.host = host
        self.port = port
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.db_dir = db_dir
        self.config = config
        self.url = ""
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.app: Any = None

    @classmethod
    def at(cls, url: str, **config: Any) -> LocalEmulator:
        """One that will listen at ``url``'s host and port (loopback only)."""
        parts = urlsplit(url)
        if not is_loopback(url):
            raise ValueError(f"{url}: the suite serves its own ends on loopback only")
        return cls(parts.hostname or "127.0.0.1", parts.port or 80, **config)

    def start(self) -> LocalEmulator:
        from werkzeug.serving import WSGIRequestHandler, make_server

        from emulator.app import create_app

        if self.db_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="oir-conformance-")
            self.db_dir = Path(self._tmp.name)
        class Quiet(WSGIRequestHandler):
            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                pass  # the journal records every exchange; no access log on stderr

        server = make_server(self.host, self.port, _placeholder, threaded=True,
                             request_handler=Quiet)
        self.url = f"http://{self.host}:{server.server_port}"
        self.app = create_app(db_url=f"sqlite:///{self.db_dir}/emulator.sqlite3",
                              start_worker=False, base_url=self.url, **self.config)
        server.app = self.app
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="oir-conformance-emu",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.app is not None:
            from emulator.app import runtime_of

            runtime_of(self.app).close()
            self.app = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> LocalEmulator:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _placeholder(environ: Any, start_response: Any) -> list[bytes]:
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting\n"]
