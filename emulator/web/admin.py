"""The admin API under ``/_admin``: clock, reset, scenarios, saved state, journal, faults,
health, and the PSRM behaviour switches. JSON in, JSON out; scripts and the conformance
suite depend on these exact shapes (docs/design.md#admin-api, docs/admin-api.md).

Errors are ``{"error": "<what>", "field": "<which>"}`` with HTTP 400 (or 404/401), never
a traceback. When an admin token is configured every call needs
``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from sqlalchemy import Connection, func, select
from werkzeug.exceptions import HTTPException

from emulator import bookkeeping, clock, outbox
from emulator import days as chain
from emulator.ends import fagsystem, psrm
from emulator.runtime import Runtime
from emulator.soap import faults
from emulator.storage import journal, ledger, state
from emulator.storage import schema as t
from emulator.storage.store import LOCK_CHAIN, get_setting, put_setting
from emulator.web import guard as web_guard
from oir_adapter import __version__
from oir_adapter.domain.model import mask_cprs

#: Entries read per transaction while the export streams.
EXPORT_PAGE = 500


class AdminError(Exception):
    def __init__(self, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


def _json_body() -> dict[str, Any]:
    data = request.get_data(cache=True)
    if not data.strip():
        return {}
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise AdminError(f"body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise AdminError("body must be a JSON object")
    _no_nul(value, "")
    return value


def _no_nul(value: Any, where: str) -> None:
    """Refuse a NUL character anywhere in a JSON body (PostgreSQL text cannot hold one:
    the same 400 on both stores)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise AdminError(f"{where or 'body'}: a NUL character is not allowed",
                             where or None)
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key, where)
            _no_nul(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for n, item in enumerate(value):
            _no_nul(item, f"{where}[{n}]")


def admin_blueprint(runtime: Runtime) -> Blueprint:
    bp = Blueprint("admin", __name__, url_prefix="/_admin")

    @bp.before_request
    def _started() -> None:
        g.admin_started = time.perf_counter()

    @bp.after_request
    def _server_timing(response: Response) -> Response:
        """``Server-Timing: admin;dur=<ms>``: the emulator's own time on the call (a clock
        advance runs the days' work), which no journal entry records; the conformance
        benchmark counts it as the emulator's, not the suite's."""
        started = g.get("admin_started")
        if started is not None:
            response.headers["Server-Timing"] = (
                f"admin;dur={(time.perf_counter() - started) * 1000:.2f}")
        return response

    @bp.before_request
    def _auth() -> Response | None:
        """With a token: ``Authorization: Bearer <token>``, or the dashboard's session
        cookie, and then for a state-changing call its CSRF token in ``X-CSRF-Token``."""
        token = runtime.config.admin_token
        if not token:
            return None
        given = request.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return None
        session = request.cookies.get(web_guard.SESSION_COOKIE, "")
        if session and web_guard.session_valid(token, session):
            if request.method not in web_guard.STATE_CHANGING or web_guard.csrf_valid(
                    token, session, request.headers.get(web_guard.CSRF_HEADER, "")):
                return None
            response = jsonify({"error": f"the dashboard's CSRF token is required "
                                         f"({web_guard.CSRF_HEADER})"})
            response.status_code = 403
            return response
        response = jsonify({"error": "admin token required (Authorization: Bearer …)"})
        response.status_code = 401
        return response

    @bp.errorhandler(AdminError)
    def _admin_error(exc: AdminError) -> tuple[Response, int]:
        body: dict[str, Any] = {"error": exc.message}
        if exc.field:
            body["field"] = exc.field
        return jsonify(body), exc.status

    @bp.app_errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        """The admin API answers in JSON also for a path or method it does not have
        (a script reads ``error``); elsewhere Flask's own page stands."""
        if not request.path.startswith(bp.url_prefix or "/_admin"):
            return exc
        return jsonify({"error": f"{exc.code} {exc.name}: {request.method} {request.path}"}
                       ), exc.code or 500

    # ------------------------------------------------------------ clock

    @bp.get("/clock")
    def get_clock() -> Response:
        with runtime.store.transaction() as conn:
            return jsonify({"now": clock.now(conn).isoformat(),
                            "virtual": clock.is_virtual(conn)})

    @bp.put("/clock")
    def put_clock() -> Response:
        body = _json_body()
        value = body.get("now")
        if not isinstance(value, str):
            raise AdminError("now: an ISO date or datetime string is required", "now")
        try:
            when = clock.parse_when(value)
        except ValueError:
            raise AdminError(f"now: {value!r} is not an ISO date or datetime from "
                             f"{clock.EARLIEST_DATE} to {clock.LATEST_CLOCK_DAY}", "now") from None
        new, events = chain.set_clock(runtime, when)
        return jsonify({"now": new.isoformat(), "events": events})

    @bp.post("/clock/advance")
    def advance_clock() -> Response:
        body = _json_body()
        days = _whole(body, "days", 0, 3650)
        hours = _whole(body, "hours", 0, 24 * 3650)
        if not days and not hours:
            raise AdminError("days or hours: give a positive whole number", "days")
        with runtime.store.transaction() as conn:
            current = clock.now(conn)
        try:
            clock.check_range(current + timedelta(days=days, hours=hours))
        except ValueError as exc:
            raise AdminError(f"days: {exc}", "days") from None
        new, events = chain.advance(runtime, days=days, hours=hours)
        return jsonify({"now": new.isoformat(), "events": events})

    # ------------------------------------------------------------ state

    @bp.post("/reset")
    def reset() -> Response:
        runtime.store.reset()
        return jsonify({"status": "reset"})

    @bp.post("/scenario")
    def scenario() -> Response:
        import yaml  # only here: a worker that loads no scenario does not carry it

        from emulator.scenario import ScenarioError, load_scenario

        text = request.get_data(as_text=True)
        try:
            data = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as exc:
            raise AdminError(f"scenario is neither JSON nor YAML: {exc}") from None
        if not isinstance(data, dict):
            raise AdminError("scenario must be a mapping (YAML or JSON object)")
        try:
            summary = load_scenario(runtime, data)
        except ScenarioError as exc:
            raise AdminError(str(exc), exc.field) from None
        return jsonify(summary)

    @bp.get("/state")
    def get_state() -> Response:
        """Everything but the journal, to put back later with ``PUT /state``."""
        with runtime.store.snapshot() as conn:
            return jsonify(state.export(conn))

    @bp.put("/state")
    def put_state() -> Response:
        document = _json_body()
        with runtime.store.exclusive(LOCK_CHAIN), runtime.store.transaction() as conn:
            try:
                counts = state.restore(conn, document)
            except state.StateError as exc:
                raise AdminError(str(exc), str(exc).split(":", 1)[0].split(".", 1)[0]
                                 ) from None
        return jsonify({"status": "restored", "rows": counts})

    @bp.get("/health")
    def health() -> Response:
        with runtime.store.transaction() as conn:
            conn.execute(select(1))
        return jsonify({"status": "ok", "db": runtime.store.dialect, "version": __version__})

    @bp.post("/poll")
    def poll() -> Response:
        """Send what the outbox holds and fetch PSRM's news now, without moving the clock.
        ``queued`` is what the outbox still holds afterwards (a failed call waiting for its
        retry, or one another worker is sending): 0 means nothing more is on its way, so
        the conformance suite need not wait out ``--wait`` to see that nothing came."""
        sent = outbox.drain(runtime)
        with runtime.store.transaction() as conn:
            today = clock.today(conn)
        events = chain.poll_psrm(runtime, today)
        sent += outbox.drain(runtime)
        with runtime.store.transaction() as conn:
            queued = conn.execute(select(func.count()).select_from(t.outbox).where(
                t.outbox.c.status.in_(("PENDING", "SENDING")))).scalar_one()
        return jsonify({"sent": sent, "events": events, "queued": queued})

    @bp.get("/outbox")
    def outbox_items() -> Response:
        with runtime.store.transaction() as conn:
            rows = conn.execute(select(t.outbox).order_by(t.outbox.c.id.desc()).limit(
                _limit())).all()
        return jsonify([{"id": r.id, "target": r.target, "operation": r.operation,
                         "status": r.status, "attempts": r.attempts,
                         "last_error": r.last_error, "created": r.created.isoformat()}
                        for r in rows])

    # ------------------------------------------------------------ journal

    @bp.get("/journal")
    def journal_list() -> Response:
        args = request.args
        with runtime.store.settled() as conn:
            rows = journal.query(conn, end=args.get("end"), operation=args.get("operation"),
                                 status=args.get("status"),
                                 transaction_id=args.get("transaktions_id"), limit=_limit(),
                                 full=args.get("full") in ("1", "true"))
        return jsonify(rows)

    @bp.get(f"/journal/<int(max={web_guard.MAX_ID}):exchange_id>")
    def journal_get(exchange_id: int) -> Response:
        with runtime.store.settled() as conn:
            row = journal.get(conn, exchange_id)
        if row is None:
            raise AdminError(f"no journal entry {exchange_id}", status=404)
        return jsonify(row)

    @bp.get("/journal/export")
    def journal_export() -> Response:
        """Every exchange up to now, oldest first, as JSON lines (request and response XML
        included), streamed a page at a time; CPR numbers masked unless ``?cpr=show``."""
        unmask = request.args.get("cpr") == "show"
        with runtime.store.settled() as conn:
            last = journal.last_id(conn)

        def lines() -> Iterator[str]:
            after = 0
            while True:
                with runtime.store.snapshot() as conn:
                    rows = journal.page_after(conn, after, last, limit=EXPORT_PAGE)
                if not rows:
                    return
                for row in rows:
                    yield json.dumps(row if unmask else journal.masked(row),
                                     ensure_ascii=False) + "\n"
                after = rows[-1]["id"]

        return Response(lines(), 200, content_type="application/x-ndjson; charset=utf-8",
                        headers={"Content-Disposition": "attachment; filename=journal.jsonl",
                                 "X-CPR-Numbers": "shown" if unmask else "masked",
                                 "X-Journal-Last-Id": str(last)})

    # ------------------------------------------------------------ faults

    @bp.post("/faults")
    def add_fault() -> tuple[Response, int]:
        body = _json_body()
        with runtime.store.transaction() as conn:
            try:
                fault = faults.add(conn, body)
            except faults.FaultSpecError as exc:
                raise AdminError(str(exc), str(exc).split(":", 1)[0]) from None
        return jsonify(fault.as_json()), 201

    @bp.get("/faults")
    def list_faults() -> Response:
        with runtime.store.transaction() as conn:
            return jsonify([f.as_json() for f in faults.armed(conn)])

    @bp.delete("/faults")
    def clear_faults() -> Response:
        with runtime.store.transaction() as conn:
            return jsonify({"cleared": faults.clear(conn)})

    # ------------------------------------------------------------ ends

    @bp.get("/fagsystem/events")
    def fagsystem_events() -> Response:
        with runtime.store.transaction() as conn:
            return jsonify(fagsystem.events(conn, claim_id=request.args.get("claim_id"),
                                            limit=_limit(default=1000)))

    @bp.get("/subscriptions")
    def subscriptions() -> Response:
        with runtime.store.transaction() as conn:
            return jsonify(get_setting(conn, bookkeeping.SUBSCRIPTIONS) or {})

    @bp.put("/subscriptions")
    def set_subscriptions() -> Response:
        """Who receives a distributed message: ``{"FordringTilIndbetaling": ["FAG-1"]}``
        (FagsystemIDs, or ``"*"`` for every fagsystem); replaces what was set."""
        body = _json_body()
        chosen = {name: body[name] for name in body}
        for name, listed in chosen.items():
            if name not in bookkeeping.DISTRIBUTED or not isinstance(listed, list) or \
                    not all(isinstance(x, str) for x in listed):
                raise AdminError(f"subscriptions: {name!r} must be one of "
                                 f"{', '.join(bookkeeping.DISTRIBUTED)} with a list of "
                                 "FagsystemIDs", "subscriptions")
        with runtime.store.transaction() as conn:
            put_setting(conn, bookkeeping.SUBSCRIPTIONS, chosen)
        return jsonify(chosen)

    @bp.get("/accounts")
    def accounts() -> Response:
        """The accounts, CPR numbers masked wherever they appear (a caller may put one in
        a name or a reference) unless ``?cpr=show``."""
        with runtime.store.transaction() as conn:
            found = ledger.search_accounts(conn, ledger.AccountCriteria(), after=None,
                                           limit=_limit())
            balances = ledger.account_balances(conn, [a.number for a in found])
        shown: Callable[[str], str] = (
            (lambda text: text) if request.args.get("cpr") == "show" else mask_cprs)
        return jsonify([{"number": a.number, "reference": shown(a.fagsystem_reference),
                         "name": shown(a.debtor.name),
                         "party": shown(a.debtor.party.number) if request.args.get(
                             "cpr") == "show" else a.debtor.party.masked(),
                         "authority_cvr": a.authority_cvr,
                         "fagsystem_id": shown(a.fagsystem_id),
                         "balance": str(balances[a.number])} for a in found])

    @bp.post("/psrm/behaviour")
    def psrm_behaviour() -> Response:
        return _psrm_call(psrm.set_behaviour)

    @bp.post("/psrm/pay")
    def psrm_pay() -> Response:
        body = _json_body()
        amount = _amount(body, "amount")
        with runtime.store.transaction() as conn:
            try:
                result = psrm.record_payment(
                    conn, claim_ref=body.get("claim_ref"), efi_claim_id=body.get("efi_claim_id"),
                    amount=amount, day=clock.today(conn), source=str(body.get("source", "INDB")))
            except ValueError as exc:
                raise AdminError(str(exc), str(exc).split(":", 1)[0]) from None
        return jsonify(result)

    @bp.post("/psrm/events")
    def psrm_events() -> Response:
        """Script a PSRM event for a later virtual day (``due``, or ``in_days`` from the
        emulator's today). One that cannot fire is refused; one that may not find its
        claim when it fires says so in the answer."""
        body = _json_body()
        with runtime.store.transaction() as conn:
            today = clock.today(conn)
            spec = _scripted_due(body, today)
            _claim_known(conn, spec)
            try:
                result = psrm.script_event(conn, spec)
            except ValueError as exc:
                raise AdminError(str(exc), str(exc).split(":", 1)[0]) from None
            warning = _scripted_warning(conn, runtime, result)
        return jsonify({**result, "today": today.isoformat(),
                        **({"warning": warning} if warning else {})})

    @bp.get("/psrm")
    def psrm_state() -> Response:
        with runtime.store.transaction() as conn:
            return jsonify(psrm.snapshot(conn))

    def _psrm_call(fn: Callable[[Any, dict[str, Any]], Any]) -> Response:
        body = _json_body()
        with runtime.store.transaction() as conn:
            try:
                result = fn(conn, body)
            except ValueError as exc:
                raise AdminError(str(exc), str(exc).split(":", 1)[0]) from None
        return jsonify(result if result is not None else {"status": "ok"})

    return bp


def _scripted_due(body: dict[str, Any], today: date) -> dict[str, Any]:
    """The event spec with ``in_days`` turned into ``due``; a day that is not after the
    emulator's today is refused (the clock would never reach it)."""
    spec = dict(body)
    if "in_days" in spec:
        if "due" in spec:
            raise AdminError("in_days: give due or in_days, not both", "in_days")
        days = _whole(spec, "in_days", 1, 3650)
        del spec["in_days"]
        spec["due"] = (today + timedelta(days=days)).isoformat()
    due = spec.get("due")
    try:
        day = date.fromisoformat(due) if isinstance(due, str) else None
    except ValueError:
        day = None  # script_event names the bad value
    if day is not None and day <= today:
        raise AdminError(
            f"due: {day.isoformat()} is not after the emulator's today ({today.isoformat()}); "
            "a scripted event fires when the clock reaches its day: give a later date or "
            "\"in_days\": N (POST /_admin/psrm/pay acts now)", "due")
    return spec


def _claim_known(conn: Connection, spec: dict[str, Any]) -> None:
    """Refuse an event about a claim neither PSRM nor the debtor end has ever seen."""
    ref, efi = spec.get("claim_ref"), spec.get("efi_claim_id")
    c = t.psrm_claims.c
    if isinstance(efi, str) and efi:
        if conn.execute(select(c.efi_claim_id).where(c.efi_claim_id == efi)).first() is None:
            raise AdminError(f"efi_claim_id: PSRM holds no claim {efi[:64]!r}", "efi_claim_id")
    elif (isinstance(ref, str) and ref
          and conn.execute(select(c.efi_claim_id).where(c.claim_ref == ref)).first() is None
          and ledger.get_claim(conn, ref) is None):
        raise AdminError(f"claim_ref: no claim {ref[:64]!r} in PSRM or at the debtor end "
                             "(claim_ref is the debtor system's claim id, e.g. F0000001)",
                             "claim_ref")


def _scripted_warning(conn: Connection, runtime: Runtime, event: dict[str, Any]) -> str | None:
    """Why a scripted event may do nothing when its day comes, if it may."""
    if runtime.config.psrm_url:
        return (f"claims are handed to {runtime.config.psrm_url}, not to this PSRM end: "
                "the event changes only this emulator's PSRM end")
    c = t.psrm_claims.c
    ref, efi, due = event.get("claim_ref"), event.get("efi_claim_id"), event["due"]
    where = c.efi_claim_id == efi if efi else c.claim_ref == ref
    statuses = {row[0] for row in conn.execute(select(c.status).where(where))}
    name = efi or ref
    if not statuses:
        return (f"{name} is not in PSRM yet: the event is skipped unless the claim is handed "
                f"over before {due}")
    if psrm.ACTIVE not in statuses:
        return (f"{name} is {', '.join(sorted(statuses))} in PSRM, not {psrm.ACTIVE}: the "
                "event is skipped unless it is handed over again before " + str(due))
    return None


def _whole(body: dict[str, Any], name: str, low: int, high: int) -> int:
    value = body.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise AdminError(f"{name}: a whole number from {low} to {high}", name)
    return value


def _amount(body: dict[str, Any], name: str) -> Decimal | None:
    value = body.get(name)
    if value is None:
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise AdminError(f"{name}: {value!r} is not an amount", name) from None
    if amount.quantize(Decimal("0.01")) != amount or amount <= 0:
        raise AdminError(f"{name}: a positive amount in whole øre", name)
    return amount


def _limit(default: int = 100) -> int:
    raw = request.args.get("limit")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise AdminError("limit: a whole number", "limit") from None
    if not 1 <= value <= 10_000:
        raise AdminError("limit: from 1 to 10000", "limit")
    return value

