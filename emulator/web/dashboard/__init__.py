"""The dashboard at ``/``: the emulator's state as a person reads it.

Server-rendered (Flask + Jinja2, autoescaped) so every page works without JavaScript;
the small script in ``static/dashboard.js`` only drives the admin API for the buttons
(advance the clock, arm faults, load a scenario). Everything a page shows is read here,
from the same store the SOAP ends write, so the dashboard can never disagree with them.

Two audiences read it: Danish caseworkers and testers, and foreign developers. Labels come
in Danish and English (``?lang=da|en``, kept in a cookie), PSRM's numbered rejection
reasons are looked up in the rule catalogue and shown in both languages, and CPR numbers
are masked unless someone asks to see them (``?cpr=show``).
"""

from __future__ import annotations

import hmac
from decimal import Decimal
from typing import Any

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for
from markupsafe import Markup
from sqlalchemy import func, select

from emulator import clock
from emulator.ends import psrm
from emulator.runtime import Runtime
from emulator.scenario import DEMO_SCENARIO
from emulator.soap import faults
from emulator.storage import journal, ledger
from emulator.storage import schema as t
from emulator.web import guard as web_guard
from emulator.web.dashboard.figures import display_state, latest_actions, overview_figures
from emulator.web.dashboard.labels import (
    CODE_LABELS,
    JOURNAL_ENDS,
    JOURNAL_STATUSES,
    LABELS,
    STATE_LABELS,
    explain_reason,
    explain_reasons,
    format_money,
    label,
    mask_text,
    show_party,
)
from emulator.web.dashboard.reports import latest_report, report_dir
from emulator.web.dashboard.settings import (
    ACCOUNTS_PER_PAGE,
    CPR_COOKIE,
    DEFAULT_LANG,
    JOURNAL_PER_PAGE,
    LANG_COOKIE,
    LANGS,
)
from emulator.web.dashboard.timelines import claim_stories
from emulator.web.dashboard.xml_view import highlight_xml, pretty_xml
from oir_adapter.contracts import SERVICES
from oir_adapter.domain.model import mask_cprs

__all__ = ["CODE_LABELS", "JOURNAL_PER_PAGE", "LABELS", "STATE_LABELS", "claim_stories", "dashboard_blueprint", "display_state", "explain_reason", "explain_reasons", "format_money", "highlight_xml", "label", "latest_actions", "latest_report", "mask_text", "overview_figures", "pretty_xml", "show_party"]


def _operations() -> list[str]:
    return sorted({op.name for svc in SERVICES for op in svc.operations})


def dashboard_blueprint(runtime: Runtime) -> Blueprint:
    """The dashboard's pages and downloads, mounted at ``/``."""
    bp = Blueprint("dashboard", __name__, template_folder="templates", static_folder="static",
                   static_url_path="/_dashboard")

    @bp.before_request
    def _context() -> Any:
        g.lang = next((x for x in (request.args.get("lang"), request.cookies.get(LANG_COOKIE))
                       if x in LANGS), DEFAULT_LANG)
        cpr = request.args.get("cpr") or request.cookies.get(CPR_COOKIE)
        g.unmask = cpr == "show"
        token = runtime.config.admin_token
        g.csrf_token = None
        if token:
            session = request.cookies.get(web_guard.SESSION_COOKIE, "")
            if session and web_guard.session_valid(token, session):
                g.csrf_token = web_guard.csrf_token(token, session)
            elif request.endpoint not in ("dashboard.login", "dashboard.static"):
                return redirect(url_for("dashboard.login", next=request.full_path))
        return None

    @bp.after_request
    def _remember(response: Response) -> Response:
        lang = request.args.get("lang")
        if lang in LANGS:
            response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="Lax")
        cpr = request.args.get("cpr")
        if cpr in ("show", "mask"):
            response.set_cookie(CPR_COOKIE, cpr, max_age=86400, samesite="Lax")
        return response  # security headers and no-store: emulator.web.guard, on every page

    @bp.record_once
    def _mask_every_value(state: Any) -> None:
        """Every value a template writes passes here: unless the viewer asked to see them,
        CPR-shaped numbers are masked wherever they stand (a name, a reference, a
        description, a journal summary: a caller may put one anywhere)."""
        env = state.app.jinja_env
        inner = env.finalize

        def finalize(value: Any) -> Any:
            if inner is not None:
                value = inner(value)
            if isinstance(value, str) and not g.get("unmask", False):
                masked = mask_cprs(value)
                return Markup(masked) if isinstance(value, Markup) else masked
            return value

        env.finalize = finalize

    @bp.app_template_filter("money")
    def _money(amount: Decimal | None) -> str:
        return format_money(amount, g.lang)

    @bp.context_processor
    def _helpers() -> dict[str, Any]:
        def _(key: str, **values: Any) -> str:
            text = label(key, g.lang)
            return text.format(**values) if values else text

        def here(**changes: Any) -> str:
            args = request.args.to_dict()
            args.update({k: v for k, v in changes.items() if v is not None})
            for k in [k for k, v in changes.items() if v is None]:
                args.pop(k, None)
            values: dict[str, Any] = {**(request.view_args or {}), **args}
            return url_for(request.endpoint or "dashboard.overview", **values)

        def party(kind: str, number: str) -> str:
            return show_party(kind, number, unmask=g.unmask)

        def masked(text: str) -> str:
            return text if g.unmask else mask_text(text)

        return {"_": _, "lang": g.lang, "unmask": g.unmask, "here": here, "party": party,
                "csrf_token": g.csrf_token, "mask_cpr": masked, "explain": explain_reasons,
                "decimal": Decimal}

    def page(template: str, **values: Any) -> str:
        with runtime.store.transaction() as conn:
            now = clock.now(conn)
            virtual = clock.is_virtual(conn)
        return render_template(f"dashboard/{template}", now=now, virtual=virtual, **values)

    # ------------------------------------------------------------ pages

    @bp.get("/")
    def overview() -> str:
        q = (request.args.get("q") or "").strip()
        after = request.args.get("after") or None
        with runtime.store.settled() as conn:
            figures = overview_figures(conn)
            criteria = ledger.AccountCriteria()
            if q:
                criteria = (ledger.AccountCriteria(number=q) if q.isdigit()
                            else ledger.AccountCriteria(name_prefix=q))
            found = ledger.search_accounts(conn, criteria, after=after,
                                           limit=ACCOUNTS_PER_PAGE + 1)
            if q and not found and not q.isdigit():
                found = ledger.search_accounts(conn, ledger.AccountCriteria(reference=q),
                                               after=after, limit=ACCOUNTS_PER_PAGE + 1)
            more = len(found) > ACCOUNTS_PER_PAGE
            accounts = found[:ACCOUNTS_PER_PAGE]
            numbers = [a.number for a in accounts]
            balances = ledger.account_balances(conn, numbers)
            claim_counts: dict[str, int] = dict(conn.execute(
                select(t.claims.c.account_number, func.count())
                .where(t.claims.c.account_number.in_(numbers))
                .group_by(t.claims.c.account_number)).all())
            latest = journal.query(conn, limit=10)
            actions = latest_actions(conn) if runtime.config.psrm_url is None else []
            pending = int(conn.execute(select(func.count()).select_from(t.outbox).where(
                t.outbox.c.status.in_(("PENDING", "SENDING")))).scalar_one())
            armed = faults.armed(conn)
            events = int(conn.execute(select(func.count()).select_from(
                t.fagsystem_events)).scalar_one())
        return page("overview.html", figures=figures, accounts=accounts, balances=balances,
                    claim_counts=claim_counts, more=more, q=q, latest=latest, actions=actions,
                    pending=pending, armed=armed, fagsystem_events=events,
                    report=latest_report(report_dir(runtime)),
                    report_folder=report_dir(runtime))

    @bp.get("/accounts/<number>")
    def account(number: str) -> str:
        with runtime.store.settled() as conn:  # its journal entries too
            acct = ledger.get_account(conn, number, with_claims=True)
            if acct is None:
                abort(404)
            stories = claim_stories(conn, acct.claims, account_number=number)
            payments = ledger.payments_for_account(conn, number)
            coverage = ledger.coverage_for_account(conn, number)
            offsets = ledger.offsets_for_account(conn, number)
            write_offs = ledger.write_offs_for_account(conn, number)
            balance = ledger.account_balances(conn, [number])[number]
        timeline = sorted((ev for s in stories for ev in s.events), key=lambda ev: ev.order)
        return page("account.html", account=acct, stories=stories, payments=payments,
                    coverage=coverage, offsets=offsets, write_offs=write_offs,
                    balance=balance, timeline=timeline)

    @bp.get("/claims/<claim_id>")
    def claim(claim_id: str) -> str:
        with runtime.store.settled() as conn:  # its journal entries too
            found = ledger.get_claim(conn, claim_id)
            if found is None:
                abort(404)
            acct = ledger.get_account(conn, found.account_number)
            story = claim_stories(conn, [found], account_number=found.account_number)[0]
        return page("claim.html", story=story, claim=found, account=acct)

    @bp.get("/journal")
    def journal_list() -> str:
        args = request.args
        before = args.get("before", type=int)
        if before is not None and not 0 < before <= web_guard.MAX_ID:
            before = None  # older than an id no entry can have: from the newest
        filters = {"end": args.get("end") or None, "operation": args.get("operation") or None,
                   "status": args.get("status") or None,
                   "transaction_id": (args.get("transaktions_id") or "").strip() or None}
        with runtime.store.settled() as conn:
            rows = journal.query(conn, limit=JOURNAL_PER_PAGE + 1, before_id=before,
                                 end=filters["end"], operation=filters["operation"],
                                 status=filters["status"],
                                 transaction_id=filters["transaction_id"])
        more = len(rows) > JOURNAL_PER_PAGE
        rows = rows[:JOURNAL_PER_PAGE]
        return page("journal.html", rows=rows, more=more, filters=filters,
                    ends=JOURNAL_ENDS, operations=_operations(), statuses=JOURNAL_STATUSES,
                    next_before=rows[-1]["id"] if more and rows else None)

    @bp.get(f"/journal/<int(max={web_guard.MAX_ID}):exchange_id>")
    def journal_entry(exchange_id: int) -> str:
        with runtime.store.settled() as conn:
            entry = journal.get(conn, exchange_id)
        if entry is None:
            abort(404)
        request_html, request_cut = highlight_xml(entry["request_xml"], mask=not g.unmask)
        response_html, response_cut = highlight_xml(entry["response_xml"], mask=not g.unmask)
        return page("entry.html", entry=entry, request_html=request_html,
                    response_html=response_html, request_cut=request_cut,
                    response_cut=response_cut)

    @bp.get(f"/journal/<int(max={web_guard.MAX_ID}):exchange_id>"
            "/<any(request, response):which>.xml")
    def journal_download(exchange_id: int, which: str) -> Response:
        with runtime.store.settled() as conn:
            entry = journal.get(conn, exchange_id)
        if entry is None or not entry[f"{which}_xml"]:
            abort(404)
        text = entry[f"{which}_xml"]
        if not g.unmask:
            text = journal.mask_xml(text)
        name = f"journal-{exchange_id}-{entry['operation'] or 'unknown'}-{which}.xml"
        return Response(text, 200, content_type="application/xml; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @bp.get("/psrm")
    def psrm_page() -> str:
        external = runtime.config.psrm_url
        snapshot: dict[str, Any] = {}
        if external is None:
            with runtime.store.transaction() as conn:
                snapshot = psrm.snapshot(conn)
            for a in snapshot["actions"]:
                a["explained"] = explain_reasons(a["reasons"])
        return page("psrm.html", snapshot=snapshot, external=external)

    @bp.get("/faults")
    def faults_page() -> str:
        with runtime.store.transaction() as conn:
            armed = faults.armed(conn)
        return page("faults.html", armed=armed, operations=_operations(), kinds=faults.KINDS)

    @bp.get("/scenario")
    def scenario_page() -> str:
        return page("scenario.html", demo=DEMO_SCENARIO.read_text(encoding="utf-8"))

    @bp.get("/conformance")
    def conformance() -> str:
        folder = report_dir(runtime)
        return page("conformance.html", report=latest_report(folder), folder=folder)

    @bp.get("/conformance/report.<any(html, json):kind>")
    def conformance_file(kind: str) -> Response:
        found = latest_report(report_dir(runtime))
        path = None if found is None else (found.html_path if kind == "html" else found.json_path)
        if path is None:
            abort(404)
        content_type = ("text/html; charset=utf-8" if kind == "html"
                        else "application/json; charset=utf-8")
        response = Response(path.read_bytes(), 200, content_type=content_type)
        # The report is a file someone else wrote: let it run its own script, but in an
        # opaque origin with no access to this site.
        response.headers["Content-Security-Policy"] = (
            "sandbox allow-scripts; default-src 'none'; style-src 'unsafe-inline'; "
            "script-src 'unsafe-inline'; img-src data:")
        return response

    @bp.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        token = runtime.config.admin_token
        wrong = False
        if request.method == "POST":
            given = request.form.get("token", "")
            if token and hmac.compare_digest(given.encode(), token.encode()):
                response = redirect(web_guard.safe_next(request.args.get("next")))
                # a session, never the token itself: signed, expiring, unreadable to scripts
                response.set_cookie(web_guard.SESSION_COOKIE, web_guard.new_session(token),
                                    max_age=web_guard.SESSION_SECONDS, httponly=True,
                                    samesite="Strict", secure=request.is_secure)
                return response
            wrong = True
        return page("login.html", wrong=wrong)

    @bp.errorhandler(404)
    def not_found(exc: Exception) -> tuple[str, int]:
        return page("not_found.html"), 404

    return bp


__all__ = [
    "ExplainedReason",
    "Overview",
    "claim_stories",
    "dashboard_blueprint",
    "display_state",
    "explain_reason",
    "explain_reasons",
    "format_money",
    "highlight_xml",
    "label",
    "latest_report",
    "mask_text",
    "overview_figures",
    "pretty_xml",
]
