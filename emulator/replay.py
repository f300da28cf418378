"""``oir serve --replay DIR``: the emulator answering from a recording of real traffic.

Every SOAP end of the emulator (and every other path the recording was made on) answers
with the recorded exchange that matches the request by operation and business keys
(:mod:`oir_adapter.recording.matching`): the recorded status, content type and body, with
the answer's ``TransaktionsID`` echo set to the caller's. A request nothing matches gets a
SOAP Client fault naming the nearest recorded exchange and how it differs.

The rest of the emulator stays as it is: the admin API, the dashboard, and the journal,
which keeps every replayed exchange with the id of the recorded one it was answered from.
Which recorded exchanges have been served lives in the store (a setting), so several
workers replay one recording in step and ``POST /_admin/reset`` starts it over.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, Response, request
from sqlalchemy import Connection

from oir_adapter.contracts import SERVICES, Service, operation_for_element
from oir_adapter.recording import Recording, mask_body
from oir_adapter.recording.matching import Matched, Matcher, Unmatched, request_view

from . import clock, journal
from .endpoints import XML_CONTENT_TYPE
from .runtime import Runtime
from .soap import SoapFault, fault_bytes, parse_envelope
from .store import get_setting, put_setting

log = logging.getLogger("emulator.replay")
SERVED = "replay_served"


@dataclass(frozen=True, slots=True)
class _Answer:
    body: bytes
    status: int
    content_type: str
    journal_status: str
    summary: str
    operation: str | None
    service: Service | None
    transaction_id: str | None
    recorded: str | None


class Replayer:
    """Answers requests from one recording."""

    def __init__(self, runtime: Runtime, folder: Path) -> None:
        self.runtime = runtime
        self.recording = Recording.open(folder)
        self.matcher = Matcher(self.recording)

    def answer(self, data: bytes) -> _Answer:
        """The recorded answer to ``data`` (a SOAP envelope), or a fault saying why not."""
        if self.recording.cpr_masked:
            data = mask_body(data)  # the recording holds CPR numbers masked: compare so
        try:
            envelope = parse_envelope(data, self.runtime.config.limits)
        except SoapFault as fault:
            return _fault(fault, None, None, None)
        wanted = request_view(envelope.body)
        known = operation_for_element(wanted.element)
        operation = known[0].name if known else wanted.local_name
        svc = known[0].service if known else None

        def choose(conn: Connection) -> Matched | Unmatched:
            served = set(get_setting(conn, SERVED, []) or [])
            found = self.matcher.match(wanted, served)
            if isinstance(found, Matched) and found.exchange.id not in served:
                put_setting(conn, SERVED, sorted(served | {found.exchange.id}))
            return found

        found = self.runtime.store.write(choose)
        if isinstance(found, Unmatched):
            log.info("replay: %s", found.message)
            return _fault(SoapFault("Client", f"oir replay: {found.message}"), operation, svc,
                          wanted.transaction_id, found.nearest.id if found.nearest else None)
        x = found.exchange
        body = x.response or b""
        old, new = found.recorded.transaction_id, wanted.transaction_id
        if old and new and old != new:  # the answer echoes the caller's TransaktionsID
            body = body.replace(f">{old}<".encode(), f">{new}<".encode())
        status = x.status or 200
        return _Answer(body, status, x.response_header("Content-Type") or XML_CONTENT_TYPE,
                       "fault" if x.meta.get("fault") else "ok" if status < 400
                       else "http_error",
                       f"replayed recorded exchange {x.id} ({found.why})", operation, svc,
                       wanted.transaction_id, x.id)


def _fault(fault: SoapFault, operation: str | None, svc: Service | None,
           transaction_id: str | None, nearest: str | None = None) -> _Answer:
    return _Answer(fault_bytes(fault), fault.http_status, XML_CONTENT_TYPE, "fault",
                   str(fault)[:400], operation, svc, transaction_id, nearest)


def install_replay(app: Flask, runtime: Runtime, folder: Path) -> Replayer:
    """Make ``app``'s SOAP ends (and the recording's own paths) answer from ``folder``."""
    replayer = Replayer(runtime, folder)
    ours = {svc.path: svc for svc in SERVICES}

    def serve(path_service: Service | None) -> Response:
        started = time.perf_counter()
        limit = runtime.config.limits.max_body_bytes
        if (request.content_length or 0) > limit:
            answer = _fault(SoapFault("Client", f"request body larger than {limit} bytes",
                                      http_status=413), None, None, None)
            data = b""
        else:
            data = request.get_data(cache=False)
            answer = replayer.answer(data)
        svc = path_service or answer.service

        def keep(conn: Connection) -> None:
            journal.record(conn, journal.Exchange(
                end=svc.end if svc else "oir", direction="in",
                service=svc.name if svc else None, operation=answer.operation,
                status=answer.journal_status, http_status=answer.status, started=started,
                request_xml=data[:1_000_000] or None, response_xml=answer.body,
                transaction_id=answer.transaction_id,
                correlation={"recorded": answer.recorded} if answer.recorded else None,
                summary=answer.summary), virtual_at=clock.now(conn))

        runtime.store.write(keep)
        return Response(answer.body, answer.status, content_type=answer.content_type)

    for svc in SERVICES:
        app.view_functions[f"{svc.name}_post"] = lambda svc=svc: serve(svc)
    for n, path in enumerate(sorted({str(x.meta["path"]) for x in replayer.recording.exchanges
                                     if x.meta.get("method") == "POST"} - set(ours))):
        app.add_url_rule(path, f"replay_{n}", lambda: serve(None), methods=["POST"])
    log.info("replaying %s (%d exchanges)", folder, len(replayer.recording.exchanges))
    return replayer
