"""The running emulator: configuration, store, tables, clients to other ends, outbox worker.

One :class:`Runtime` per Flask app. Everything a handler needs beyond its request comes
from here, so tests can build a runtime on a temporary database and drive it in-process.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from emulator.config import EmulatorConfig
from emulator.soap.standing import held
from emulator.storage.store import Store
from oir_adapter.contracts import service
from oir_adapter.domain.tables import BenefitTable, ClaimTypeTable

if TYPE_CHECKING:
    import requests
    from flask import Flask

    from emulator.worker import OutboxWorker
    from oir_adapter.clients import ServiceClient


class Runtime:
    """State shared by every request of one emulator app."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.store = Store(config.db_url, sqlite_synchronous=config.sqlite_synchronous)
        self.app: Flask | None = None
        self.worker: OutboxWorker | None = None
        self._clients: dict[tuple[str, str], ServiceClient] = {}
        self._lock = threading.Lock()
        self._session: requests.Session | None = None

    # ------------------------------------------------------------ tables

    def claim_types(self, conn: Connection) -> ClaimTypeTable:
        """The claim-type table: a scenario's own if it installed one, else the default."""
        return held(self.store, conn, "claim_types", lambda rows: ClaimTypeTable.from_rows(rows)
                    if rows else ClaimTypeTable.default())

    def benefit_table(self, conn: Connection) -> BenefitTable:
        return held(self.store, conn, "benefit_rules", lambda rows: BenefitTable.from_rows(rows)
                    if rows else BenefitTable.default())

    # ------------------------------------------------------------ reaching other ends

    def http_session(self) -> requests.Session:
        """A session to the other ends: real HTTP when a base URL is known, else in-process."""
        with self._lock:
            if self._session is None:
                # requests and zeep load with the first call to another end (see
                # docs/performance.md: a worker that never calls out does not carry them)
                import requests

                self._session = requests.Session()
                if self.config.base_url is None and self.app is not None:
                    from emulator.serving.wsgi_transport import WSGIAdapter

                    self._session.mount("http://emulator.invalid", WSGIAdapter(self.app))
            return self._session

    def own_base_url(self) -> str:
        return (self.config.base_url or "http://emulator.invalid").rstrip("/")

    def psrm_url(self, service_name: str) -> str:
        base = (self.config.psrm_url or self.own_base_url()).rstrip("/")
        return f"{base}{service(service_name).path}"

    def callback_url(self) -> str:
        if self.config.callback_url:
            return self.config.callback_url
        return f"{self.own_base_url()}{service('DaekningAfskrivningRegistreringAfsend').path}"

    def own_client_options(self, service_name: str) -> dict[str, Any]:
        """Keyword options for a ``ServiceClient`` calling one of this emulator's own ends:
        the credentials its access checks want (empty when they are off)."""
        from emulator.soap.security import own_client_options

        return own_client_options(self.config, service(service_name))

    def client(self, service_name: str, endpoint: str) -> ServiceClient:
        """A cached zeep client for one service at one endpoint; calls to our own ends
        carry our own credentials (see :mod:`emulator.soap.security`), and their answers,
        which our end validated against the same schema before sending them
        (``validate_responses``), are not validated a second time on arrival."""
        key = (service_name, endpoint)
        with self._lock:
            found = self._clients.get(key)
        if found is not None:
            return found
        from oir_adapter.clients import ServiceClient

        timeout = self.config.call_timeout_seconds
        own = endpoint.startswith(self.own_base_url() + "/")
        made = ServiceClient(service_name, endpoint, session=self.http_session(),
                             timeout=(timeout, timeout),
                             validate_replies=not (own and self.config.validate_responses),
                             **(self.own_client_options(service_name) if own else {}))
        with self._lock:
            return self._clients.setdefault(key, made)

    def wake_outbox(self) -> None:
        """Tell the background worker there is work (no-op when none runs)."""
        if self.worker is not None:
            self.worker.wake()

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        for c in self._clients.values():
            c.close()
        if self._session is not None:
            self._session.close()
        self.store.dispose()
