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
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for
from lxml import etree
from markupsafe import Markup, escape
from sqlalchemy import Connection, func, or_, select

from emulator import clock
from emulator.ends import psrm
from emulator.runtime import Runtime
from emulator.scenario import DEMO_SCENARIO
from emulator.soap import faults
from emulator.storage import journal, ledger
from emulator.storage import schema as t
from emulator.storage.store import from_ore
from emulator.web import guard as web_guard
from oir_adapter.contracts import SERVICES, safe_parser
from oir_adapter.domain.model import (
    OPEN_STATES,
    ZERO,
    Claim,
    ClaimState,
    CoverageSource,
    OffsetStatus,
    Party,
    PartyKind,
    PsrmStatus,
    mask_cprs,
)
from oir_adapter.domain.rules import RULES, RULES_BY_ID, Rule

LANGS = ("da", "en")
DEFAULT_LANG = "da"
LANG_COOKIE = "oir_lang"
CPR_COOKIE = "oir_cpr"
DEFAULT_REPORT_DIR = Path("var") / "reports"
#: Above this many characters an exchange's XML is shown plain, not pretty-printed.
HIGHLIGHT_LIMIT = 400_000
ACCOUNTS_PER_PAGE = 50
JOURNAL_PER_PAGE = 50

# ---------------------------------------------------------------- labels

#: Every label a page shows: key → (Danish, English).
LABELS: dict[str, tuple[str, str]] = {
    "title": ("ØIR ↔ PSRM-emulator", "ØIR ↔ PSRM emulator"),
    "nav.overview": ("Overblik", "Overview"),
    "nav.journal": ("Journal", "Journal"),
    "nav.psrm": ("PSRM", "PSRM"),
    "nav.faults": ("Fejlinjektion", "Fault injection"),
    "nav.scenario": ("Scenarie", "Scenario"),
    "nav.conformance": ("Konformitet", "Conformance"),
    "cpr.show": ("Vis CPR-numre", "Show CPR numbers"),
    "cpr.mask": ("Maskér CPR-numre", "Mask CPR numbers"),
    "clock": ("Virtuelt ur", "Virtual clock"),
    "clock.real": ("følger den rigtige tid", "follows real time"),
    "clock.virtual": ("virtuelt", "virtual"),
    "clock.advance": ("Frem", "Advance"),
    "clock.day": ("dag", "day"),
    "clock.days": ("dage", "days"),
    "clock.set": ("Sæt uret", "Set the clock"),
    "clock.help": ("At stille uret frem kører det, der forfalder: rykkere, modregning, "
                   "overdragelse til PSRM og PSRM's kvitteringer.",
                   "Advancing the clock runs what falls due: reminders, offsetting, hand-over "
                   "to PSRM and PSRM's receipts."),
    "states": ("Fordringer efter tilstand", "Claims by state"),
    "totals": ("Beløb (DKK)", "Amounts (DKK)"),
    "total.registered": ("Registreret i alt (hovedstol og delfordringer)",
                         "Registered in total (principal and sub-claims)"),
    "total.outstanding": ("Restgæld (åbne, overdragne, afviste, tilbagekaldte)",
                          "Outstanding (open, handed over, rejected, recalled)"),
    "total.paid": ("Dækket af indbetalinger", "Covered by payments"),
    "total.offset": ("Dækket ved modregning", "Covered by offsetting"),
    "total.planned": ("Planlagt modregning (reserveret)", "Planned offsetting (reserved)"),
    "total.at_psrm": ("Hos PSRM nu", "With PSRM now"),
    "total.psrm": ("Dækket af PSRM", "Covered by PSRM"),
    "total.written_off": ("Afskrevet og nedskrevet", "Written off and down"),
    "total.surplus": ("Overskydende indbetalinger", "Payment surplus"),
    "accounts": ("Debitorkonti", "Debtor accounts"),
    "account": ("Debitorkonto", "Debtor account"),
    "account.number": ("Kontonr.", "Account no."),
    "account.reference": ("Fagsystemets reference", "Fagsystem reference"),
    "account.name": ("Navn", "Name"),
    "account.party": ("CPR/CVR", "CPR/CVR"),
    "account.fagsystem": ("Fagsystem", "Fagsystem"),
    "account.authority": ("Myndighed (CVR)", "Authority (CVR)"),
    "account.type": ("Kontotype", "Account type"),
    "account.status": ("Status", "Status"),
    "account.address": ("Adresse", "Address"),
    "account.claims": ("Fordringer", "Claims"),
    "account.balance": ("Restgæld", "Balance"),
    "account.search": ("Søg (kontonr., reference eller navn)",
                       "Search (account no., reference or name)"),
    "account.none": ("Ingen debitorkonti endnu. Indlæs et scenarie.",
                     "No debtor accounts yet. Load a scenario."),
    "search": ("Søg", "Search"),
    "older": ("Ældre", "Older"),
    "newer": ("Nyeste", "Newest"),
    "next_page": ("Næste side", "Next page"),
    "claim": ("Fordring", "Claim"),
    "claim.id": ("Fordrings-ID", "Claim id"),
    "claim.ref": ("Fagsystemets fordrings-ID", "Fagsystem claim id"),
    "claim.type": ("Type", "Type"),
    "claim.description": ("Beskrivelse", "Description"),
    "claim.period": ("Periode", "Period"),
    "claim.founded": ("Stiftet", "Founded"),
    "claim.due": ("Forfald", "Due"),
    "claim.srb": ("Sidste rettidige betalingsdato", "Last timely payment date (SRB)"),
    "claim.principal": ("Hovedstol", "Principal"),
    "claim.total": ("I alt", "Total"),
    "claim.outstanding": ("Rest", "Outstanding"),
    "claim.state": ("Tilstand", "State"),
    "claim.invoice": ("Opkrævning", "Invoice"),
    "claim.offsetting": ("Modregning tilladt", "Offsetting allowed"),
    "claim.deferral": ("Henstand til og med", "Deferral until"),
    "claim.art": ("Art", "Art"),
    "claim.co_liable": ("Hæftere", "Co-liable parties"),
    "claim.subclaims": ("Delfordringer", "Sub-claims"),
    "claim.timeline": ("Fordringens liv", "The claim's life"),
    "claim.exchanges": ("Udvekslinger om fordringen", "Exchanges about this claim"),
    "yes": ("ja", "yes"),
    "no": ("nej", "no"),
    "none": ("ingen", "none"),
    "payments": ("Indbetalinger", "Payments"),
    "payment.id": ("Indbetalings-ID", "Payment id"),
    "payment.surplus": ("Overskud", "Surplus"),
    "coverage": ("Dækningslinjer", "Coverage lines"),
    "coverage.source": ("Kilde", "Source"),
    "coverage.source_id": ("Kilde-ID", "Source id"),
    "offsets": ("Modregninger", "Offsets"),
    "offset.benefit": ("Ydelsesudbetaling", "Benefit payment"),
    "offset.status": ("Status", "Status"),
    "write_offs": ("Afskrivninger", "Write-offs"),
    "reason": ("Årsag", "Reason"),
    "receipts": ("PSRM-kvitteringer", "PSRM receipts"),
    "receipts.none": ("Ingen fordringer er overdraget til PSRM.",
                      "No claim has been handed to PSRM."),
    "receipt.action": ("Aktion", "Action"),
    "receipt.code": ("Aktionskode", "Action code"),
    "receipt.status": ("Status", "Status"),
    "receipt.changed": ("Ændret", "Changed"),
    "receipt.received": ("Modtaget", "Received"),
    "receipt.efi": ("EFI-fordrings-ID", "EFI claim id"),
    "receipt.delivery": ("Levering", "Delivery"),
    "receipt.reasons": ("Afvisningsårsager", "Rejection reasons"),
    "timeline": ("Tidslinje", "Timeline"),
    "timeline.none": ("Intet er sket endnu.", "Nothing has happened yet."),
    "date": ("Dato", "Date"),
    "amount": ("Beløb", "Amount"),
    "event": ("Hændelse", "Event"),
    "details": ("Detaljer", "Details"),
    "not_reached": ("ikke nået", "not reached"),
    "journal": ("Journal", "Journal"),
    "journal.latest": ("Seneste udvekslinger", "Latest exchanges"),
    "journal.none": ("Ingen udvekslinger.", "No exchanges."),
    "journal.end": ("Ende", "End"),
    "journal.direction": ("Retning", "Direction"),
    "journal.operation": ("Operation", "Operation"),
    "journal.status": ("Status", "Status"),
    "journal.transaction": ("TransaktionsID", "Transaction id"),
    "journal.summary": ("Resumé", "Summary"),
    "journal.virtual_at": ("Virtuel tid", "Virtual time"),
    "journal.at": ("Rigtig tid", "Real time"),
    "journal.duration": ("Varighed (ms)", "Duration (ms)"),
    "journal.http": ("HTTP-status", "HTTP status"),
    "journal.service": ("Service", "Service"),
    "journal.correlation": ("Korrelation", "Correlation"),
    "journal.request": ("Forespørgsel", "Request"),
    "journal.response": ("Svar", "Response"),
    "journal.download": ("Hent som fil", "Download as file"),
    "journal.export": ("Eksportér hele journalen (JSON lines)",
                       "Export the whole journal (JSON lines)"),
    "journal.filter": ("Filtrér", "Filter"),
    "journal.all": ("alle", "all"),
    "journal.empty_body": ("(intet indhold)", "(no content)"),
    "journal.truncated": ("For stor til farvelægning; vist som ren tekst. Hent filen for det "
                          "hele.", "Too large to highlight; shown as plain text. Download the "
                          "file for all of it."),
    "journal.same_transaction": ("Alle udvekslinger med dette TransaktionsID",
                                 "Every exchange with this transaction id"),
    "journal.entry": ("Udveksling", "Exchange"),
    "dir.in": ("ind", "in"),
    "dir.out": ("ud", "out"),
    "psrm.title": ("PSRM-enden", "The PSRM end"),
    "psrm.claims": ("Fordringer i PSRM", "Claims in PSRM"),
    "psrm.actions": ("Aktioner (kvitteringer)", "Actions (receipts)"),
    "psrm.deliveries": ("Leveringer", "Deliveries"),
    "psrm.notifications": ("Underretninger", "Notifications"),
    "psrm.scripted": ("Planlagte PSRM-hændelser", "Scripted PSRM events pending"),
    "psrm.behaviour": ("Adfærd (kontakter)", "Behaviour (switches)"),
    "psrm.remaining": ("Rest", "Remaining"),
    "psrm.external": ("PSRM-enden er ekstern ({url}); kun debitorsystemets side vises.",
                      "The PSRM end is external ({url}); only the debtor system's side is "
                      "shown."),
    "faults.title": ("Fejlinjektion", "Fault injection"),
    "faults.help": ("De næste N kald af en operation får den valgte fejl.",
                    "The next N calls of an operation get the chosen fault."),
    "faults.armed": ("Aktive fejl", "Armed faults"),
    "faults.none": ("Ingen fejl er sat op.", "No fault is armed."),
    "faults.operation": ("Operation", "Operation"),
    "faults.kind": ("Art", "Kind"),
    "faults.count": ("Antal kald", "Number of calls"),
    "faults.delay": ("Forsinkelse (ms)", "Delay (ms)"),
    "faults.add": ("Sæt fejl op", "Arm fault"),
    "fault.soap_fault": ("SOAP-fejl, HTTP 500", "SOAP fault, HTTP 500"),
    "fault.http_503": ("HTTP 503, ingen SOAP", "HTTP 503, no SOAP"),
    "fault.delay": ("svaret kommer forsinket", "the answer comes late"),
    "fault.malformed": ("svar der ikke er XML", "an answer that is not XML"),
    "fault.truncated": ("svaret er skåret over", "the answer cut off"),
    "fault.drop": ("forbindelsen lukkes uden svar", "the connection closed, no answer"),
    "faults.clear": ("Fjern alle fejl", "Clear all faults"),
    "scenario.title": ("Scenarie", "Scenario"),
    "scenario.help": ("Et scenarie (YAML eller JSON) opretter konti, fordringer, "
                      "indbetalinger og ydelsesudbetalinger gennem emulatorens egne "
                      "ØIR-services. Demo-scenariet står i feltet.",
                      "A scenario (YAML or JSON) creates accounts, claims, payments and "
                      "benefit payouts through the emulator's own ØIR services. The demo "
                      "scenario is in the field."),
    "scenario.load": ("Indlæs scenarie", "Load scenario"),
    "scenario.reset": ("Nulstil alt", "Reset everything"),
    "scenario.reset_confirm": ("Klik igen for at slette alle data",
                               "Click again to delete all data"),
    "scenario.reset_help": ("Tømmer databasen og sætter uret tilbage til den rigtige tid.",
                            "Empties the database and puts the clock back to real time."),
    "conformance.title": ("Seneste konformitetsrapport", "Latest conformance report"),
    "conformance.none": ("Der er ikke kørt nogen konformitetstest endnu (ingen rapport i {dir}). "
                         "Kør i projektets mappe: make conformance — eller "
                         ".venv/bin/oir conformance run --target {url} --report {dir}/debitor",
                         "No conformance run yet (no report in {dir}). "
                         "Run in the project's folder: make conformance — or "
                         ".venv/bin/oir conformance run --target {url} --report {dir}/debitor"),
    "conformance.open_html": ("Åbn hele rapporten (HTML)", "Open the full report (HTML)"),
    "conformance.json": ("Rapporten som JSON", "The report as JSON"),
    "conformance.target": ("Mål", "Target"),
    "conformance.when": ("Kørt", "Run at"),
    "conformance.case": ("Testtilfælde", "Case"),
    "conformance.requirement": ("Krav", "Requirement"),
    "conformance.outcome": ("Resultat", "Outcome"),
    "conformance.all_passed": ("Alle tilfælde bestod.", "Every case passed."),
    "conformance.not_passed": ("Tilfælde der ikke bestod", "Cases that did not pass"),
    "fagsystem.events": ("Hændelser meldt til fagsystemet", "Events reported to the fagsystem"),
    "outbox.pending": ("Udestående udgående kald", "Outgoing calls pending"),
    "login.title": ("Log ind", "Log in"),
    "login.help": ("Emulatoren kræver admin-tokenet (OIR_ADMIN_TOKEN).",
                   "The emulator requires the admin token (OIR_ADMIN_TOKEN)."),
    "login.token": ("Admin-token", "Admin token"),
    "login.wrong": ("Forkert token.", "Wrong token."),
    "not_found": ("Findes ikke", "Not found"),
    "reasons.unknown_rule": ("(ukendt nummer; teksten er PSRM's egen)",
                             "(unknown number; the text is PSRM's own)"),
    "field": ("felt", "field"),
}

#: Claim states as people name them. ``OFFSET`` is the dashboard's own: a paid claim
#: whose last covering came from offsetting a benefit payment.
STATE_LABELS: dict[str, tuple[str, str]] = {
    ClaimState.OPEN.value: ("Åben", "Open"),
    ClaimState.PAID.value: ("Betalt", "Paid"),
    "MODREGNET": ("Modregnet", "Offset"),
    ClaimState.HANDED_OVER.value: ("Overdraget til PSRM", "Handed to PSRM"),
    ClaimState.REJECTED.value: ("Afvist af PSRM", "Rejected by PSRM"),
    ClaimState.COVERED_BY_PSRM.value: ("Dækket af PSRM", "Covered by PSRM"),
    ClaimState.RECALLED.value: ("Tilbagekaldt", "Recalled"),
    ClaimState.WRITTEN_OFF.value: ("Afskrevet", "Written off"),
    ClaimState.CANCELLED.value: ("Annulleret", "Cancelled"),
}
OFFSET_STATE = "MODREGNET"

#: Codes on the wire and in the tables, explained.
CODE_LABELS: dict[str, tuple[str, str]] = {
    PsrmStatus.RECEIVED.value: ("Modtaget", "Received"),
    PsrmStatus.IN_PROCESS.value: ("Under sagsbehandling", "In process"),
    PsrmStatus.DONE.value: ("Udført", "Done"),
    PsrmStatus.REJECTED.value: ("Afvist", "Rejected"),
    CoverageSource.PAYMENT.value: ("Indbetaling", "Payment"),
    CoverageSource.OFFSET.value: ("Modregning", "Offset"),
    CoverageSource.PSRM.value: ("PSRM", "PSRM"),
    OffsetStatus.PLANNED.value: ("Planlagt", "Planned"),
    OffsetStatus.BOOKED.value: ("Bogført", "Booked"),
    OffsetStatus.SIMULATED.value: ("Simuleret", "Simulated"),
    "INDR": ("Inddrivelse", "Recovery"),
    "MODR": ("Kun modregning", "Offsetting only"),
    "AKTIV": ("Aktiv", "Active"),
    "INDFRIET": ("Indfriet", "Paid in full"),
    "RETUR": ("Returneret", "Returned"),
    "ok": ("ok", "ok"),
    "rejected": ("afvist", "rejected"),
    "fault": ("SOAP-fejl", "SOAP fault"),
    "http_error": ("HTTP-fejl", "HTTP error"),
    "error": ("fejl", "error"),
}

JOURNAL_ENDS = ("oir", "fagsystem", "psrm")
JOURNAL_STATUSES = ("ok", "rejected", "fault", "http_error", "error")


def label(key: str, lang: str) -> str:
    """The label ``key`` in ``lang``; an unknown key shows itself (a missing label is
    visible on the page instead of breaking it)."""
    pair = LABELS.get(key) or STATE_LABELS.get(key) or CODE_LABELS.get(key)
    if pair is None:
        return key
    return pair[0] if lang == "da" else pair[1]


def format_money(amount: Decimal | None, lang: str) -> str:
    """Øre-exact amount with thousands separators: ``1.650,00`` (da) or ``1,650.00`` (en)."""
    if amount is None:
        return ""
    text = f"{amount:,.2f}"
    if lang == "da":
        return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return text


def mask_text(text: str) -> str:
    """Mask every CPR-looking number in free text, such as a journal summary: the
    dashboard cannot know where a caller put a CPR number."""
    return mask_cprs(text)


def show_party(kind: str | PartyKind, number: str, *, unmask: bool) -> str:
    """A party number as the page shows it: CPR masked unless the viewer chose otherwise."""
    if unmask:
        return number
    return Party(PartyKind(kind), number).masked()


# ---------------------------------------------------------------- rejection reasons


@dataclass(frozen=True, slots=True)
class ExplainedReason:
    """One PSRM rejection reason in plain Danish and English, with the rule behind it."""

    number: str
    rule_id: str | None
    da: str
    en: str
    path: str | None


_BY_PSRM_NUMBER: dict[str, Rule] = {r.psrm_number: r for r in RULES if r.psrm_number}
_FIELD_SUFFIX = re.compile(r"^(?P<text>.*?)\s*\(felt: (?P<path>[^()]*)\)\s*$", re.S)
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_DANISH_DECIMAL = re.compile(r"^-?\d+,\d{2}$")


def _template_regex(template: str) -> re.Pattern[str]:
    """A regex that matches ``template`` filled in, capturing each placeholder."""
    parts: list[str] = []
    seen: set[str] = set()
    last = 0
    for m in _PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[last:m.start()]))
        name = m.group(1)
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
        seen.add(name)
        last = m.end()
    parts.append(re.escape(template[last:]))
    return re.compile("^" + "".join(parts) + "$", re.S)


def _to_english_value(value: str) -> str:
    if _DANISH_DECIMAL.match(value):
        return value.replace(",", ".")
    return {"ingen": "none"}.get(value, value)


def _translate(text_da: str, template_da: str, template_en: str) -> str:
    """Fill the English template with the values found in the Danish text (or ``…``)."""
    m = _template_regex(template_da).match(text_da)
    values: Mapping[str, str] = (
        {k: _to_english_value(v) for k, v in m.groupdict().items()} if m else {})
    return _PLACEHOLDER.sub(lambda p: values.get(p.group(1), "…"), template_en)


def explain_reason(number: str, text: str, path: str | None = None) -> ExplainedReason:
    """PSRM's ``(MFAktionAfvistNummer, MFAktionAfvistTekst)`` in plain Danish and English.

    The number is looked up as a published PSRM number first, then as one of our own rule
    ids; the Danish text is PSRM's own (with the offending values), the English one is the
    rule's English text filled with the same values.
    """
    number = (number or "").strip()
    body = (text or "").strip()
    m = _FIELD_SUFFIX.match(body)  # an older emulator wrote the path into the text
    if m:
        body, path = m.group("text"), m.group("path")
    found = _BY_PSRM_NUMBER.get(number) or RULES_BY_ID.get(number)
    if found is not None:
        da = body or found.text_da
        return ExplainedReason(number, found.id, da, _translate(da, found.text_da, found.text_en),
                               path)
    return ExplainedReason(number, None, body, body, path)


def explain_reasons(reasons: Iterable[Mapping[str, Any] | Any]) -> list[ExplainedReason]:
    """Explain stored reasons: dicts ``{"number", "text", "path"}`` or RejectionReason
    objects (the path is the element the reason is about, kept beside PSRM's text)."""
    out = []
    for r in reasons:
        if isinstance(r, Mapping):
            out.append(explain_reason(str(r.get("number", "")), str(r.get("text", "")),
                                      r.get("path") or None))
        else:
            out.append(explain_reason(str(r.number), str(r.text), r.path))
    return out


# ---------------------------------------------------------------- XML


_TOKEN = re.compile(
    r"(?P<comment><!--.*?-->)|(?P<cdata><!\[CDATA\[.*?\]\]>)|(?P<pi><\?.*?\?>)"
    r"|(?P<doctype><!.*?>)|(?P<tag></?[^<>\s/]+(?:\s[^<>]*?)?/?>)|(?P<text>[^<]+)|(?P<lt><)",
    re.S)
_TAG = re.compile(r"^(?P<open></?)(?P<name>[^\s/>]+)(?P<rest>.*?)(?P<close>/?>)$", re.S)
_ATTR = re.compile(r"(?P<name>[^\s=]+)(?P<eq>\s*=\s*)(?P<value>\"[^\"]*\"|'[^']*')")


def pretty_xml(text: str) -> str:
    """Indent ``text`` when it is well-formed XML; anything else is returned unchanged.

    Parsed with the hardened parser (no DTDs, no entities, no network): journal entries
    are whatever a caller sent, including hostile input. Comments stay (shown as sent).
    """
    try:
        root = etree.fromstring(text.encode("utf-8"), safe_parser(keep_comments=True))
    except (etree.XMLSyntaxError, ValueError):
        return text
    etree.indent(root, space="  ")
    return etree.tostring(root, encoding="unicode")


def _span(cls: str, text: str) -> Markup:
    return Markup('<span class="{}">{}</span>').format(cls, text)


def _highlight_tag(token: str) -> Markup:
    m = _TAG.match(token)
    if m is None:
        return _span("x-text", token)
    out = [_span("x-punct", m.group("open")), _span("x-tag", m.group("name"))]
    rest = m.group("rest")
    last = 0
    for a in _ATTR.finditer(rest):
        out.append(escape(rest[last:a.start()]))
        name = a.group("name")
        out.append(_span("x-ns" if name.startswith("xmlns") else "x-attr", name))
        out.append(_span("x-punct", a.group("eq")))
        out.append(_span("x-val", a.group("value")))
        last = a.end()
    out.append(escape(rest[last:]))
    out.append(_span("x-punct", m.group("close")))
    return Markup("").join(out)


def highlight_xml(text: str | None, *, mask: bool = True) -> tuple[Markup, bool]:
    """Pretty-printed, syntax-highlighted XML as safe HTML, and whether it was too large.

    Every piece of the input goes through :func:`markupsafe.escape`; only the ``span``
    wrappers are ours. Text that is not XML is shown escaped, as it is. ``mask``: CPR
    numbers masked after decoding (:func:`emulator.storage.journal.mask_xml`), so the XML is
    shown as the emulator read it.
    """
    if not text:
        return Markup(""), False
    if mask:
        text = journal.mask_xml(text)
    if len(text) > HIGHLIGHT_LIMIT:
        return escape(text[:HIGHLIGHT_LIMIT]), True
    pretty = pretty_xml(text)
    out: list[Markup] = []
    for m in _TOKEN.finditer(pretty):
        kind = m.lastgroup
        token = m.group()
        if kind == "tag":
            out.append(_highlight_tag(token))
        elif kind in ("comment", "cdata", "pi", "doctype"):
            out.append(_span(f"x-{kind}", token))
        else:
            out.append(_span("x-text", token) if token.strip() else escape(token))
    return Markup("").join(out), False


# ---------------------------------------------------------------- overview figures


@dataclass(slots=True)
class Overview:
    """Counts and sums for the overview; amounts are øre-exact Decimals."""

    accounts: int
    claims: int
    by_state: dict[str, int]
    registered: Decimal
    outstanding: Decimal
    paid: Decimal
    offset: Decimal
    planned: Decimal
    at_psrm: Decimal
    psrm: Decimal
    written_off: Decimal
    surplus: Decimal


_BALANCE_STATES = tuple(sorted(s.value for s in OPEN_STATES))


#: Sums are taken in two parts, above and below this many øre: SQLite's SUM raises past
#: 2^63 øre, which some 9 300 accounts at the largest balance reach (OIR-320 bounds one).
_SPLIT = 10**9


def _sum(conn: Connection, column: Any, *where: Any) -> Decimal:
    high, low = conn.execute(select(func.coalesce(func.sum(column // _SPLIT), 0),
                                    func.coalesce(func.sum(column % _SPLIT), 0))
                             .where(*where)).one()
    return from_ore(int(high) * _SPLIT + int(low))


def display_state(state: str, last_source: str | None) -> str:
    """The state a person sees: a paid claim whose last covering was an offset is shown as
    offset (modregnet)."""
    if state == ClaimState.PAID.value and last_source == CoverageSource.OFFSET.value:
        return OFFSET_STATE
    return state


def _last_sources(conn: Connection, claim_ids: Sequence[str]) -> dict[str, str]:
    """The source of the last coverage line of each claim."""
    if not claim_ids:
        return {}
    cov = t.coverage.c
    last = (select(cov.claim_id, func.max(cov.seq).label("seq"))
            .where(cov.claim_id.in_(list(claim_ids))).group_by(cov.claim_id).subquery())
    rows = conn.execute(select(cov.claim_id, cov.source).join(last, cov.seq == last.c.seq)).all()
    return {r.claim_id: r.source for r in rows}


def overview_figures(conn: Connection) -> Overview:
    """Everything the overview counts, by SQL aggregates (cheap on a large store)."""
    c, s = t.claims.c, t.sub_claims.c
    by_state = {key: 0 for key in STATE_LABELS}
    for state, n in conn.execute(select(c.state, func.count()).group_by(c.state)).all():
        by_state[state] = by_state.get(state, 0) + int(n)
    paid_ids = [r[0] for r in conn.execute(select(c.id).where(
        c.state == ClaimState.PAID.value)).all()]
    for source in _last_sources(conn, paid_ids).values():
        if source == CoverageSource.OFFSET.value:
            by_state[ClaimState.PAID.value] -= 1
            by_state[OFFSET_STATE] += 1
    open_ids = select(c.id).where(c.state.in_(_BALANCE_STATES))
    cov, off = t.coverage.c, t.offsets.c
    return Overview(
        accounts=int(conn.execute(select(func.count()).select_from(t.accounts)).scalar_one()),
        claims=sum(by_state.values()),
        by_state=by_state,
        registered=_sum(conn, c.principal_ore) + _sum(conn, s.amount_ore),
        outstanding=(_sum(conn, c.remaining_principal_ore, c.state.in_(_BALANCE_STATES))
                     + _sum(conn, s.remaining_ore, s.claim_id.in_(open_ids))),
        paid=_sum(conn, cov.amount_ore, cov.source == CoverageSource.PAYMENT.value),
        offset=_sum(conn, cov.amount_ore, cov.source == CoverageSource.OFFSET.value),
        planned=_sum(conn, off.amount_ore, off.status == OffsetStatus.PLANNED.value),
        at_psrm=_sum(conn, c.psrm_amount_ore, c.state == ClaimState.HANDED_OVER.value),
        psrm=_sum(conn, cov.amount_ore, cov.source == CoverageSource.PSRM.value),
        written_off=_sum(conn, t.write_offs.c.amount_ore),
        surplus=_sum(conn, t.payments.c.surplus_ore),
    )


def latest_actions(conn: Connection, limit: int = 10) -> list[dict[str, Any]]:
    """The PSRM actions whose status changed last (newest first), reasons explained."""
    a = t.psrm_actions.c
    rows = conn.execute(select(t.psrm_actions).order_by(
        a.status_changed.desc(), a.received.desc(), a.delivery_id.desc(), a.position.desc())
        .limit(limit)).all()
    return [{"action_id": r.action_id, "delivery_id": r.delivery_id, "code": r.code,
             "claim_ref": r.claim_ref, "efi_claim_id": r.efi_claim_id, "status": r.status,
             "status_changed": r.status_changed.isoformat(),
             "explained": explain_reasons(r.reasons or [])} for r in rows]


# ---------------------------------------------------------------- timelines

#: The steps of a claim's life, in order, as the stepper above its timeline shows them.
STEPS: tuple[tuple[str, str, str], ...] = (
    ("registered", "Registreret", "Registered"),
    ("invoiced", "Opkrævet", "Invoiced"),
    ("reminded", "Rykket", "Reminded"),
    ("offset", "Modregnet", "Offset"),
    ("handed_over", "Overdraget", "Handed over"),
    ("received", "Modtaget af PSRM", "Received by PSRM"),
    ("covered", "Dækket", "Covered"),
)

#: Timeline event kinds: (order within a day, Danish title, English title).
EVENT_KINDS: dict[str, tuple[int, str, str]] = {
    "registered": (0, "Registreret i debitorsystemet", "Registered in the debtor system"),
    "invoiced": (1, "Opkrævning udsendt", "Invoice issued"),
    "paid": (2, "Indbetaling dækkede", "Payment covered"),
    "reminded": (3, "Rykker sendt", "Reminder sent"),
    "offset_planned": (4, "Modregning planlagt", "Offset planned"),
    "offset": (5, "Modregnet i ydelsesudbetaling", "Offset in a benefit payment"),
    "handed_over": (6, "Sendt til PSRM", "Sent to PSRM"),
    "received": (7, "Modtaget af PSRM", "Received by PSRM"),
    "in_process": (8, "Under sagsbehandling i PSRM", "In process at PSRM"),
    "done": (9, "PSRM har udført aktionen", "PSRM has carried out the action"),
    "rejected": (9, "Afvist af PSRM", "Rejected by PSRM"),
    "written_off": (10, "Afskrevet", "Written off"),
    "covered": (11, "Dækket af PSRM", "Covered by PSRM"),
    "reported": (12, "Meldt til fagsystemet", "Reported to the fagsystem"),
}


@dataclass(slots=True)
class TimelineEvent:
    """One thing that happened to a claim, with where to see the evidence."""

    day: date
    kind: str
    claim_id: str
    detail_da: str = ""
    detail_en: str = ""
    amount: Decimal | None = None
    journal_id: int | None = None
    reasons: list[ExplainedReason] = field(default_factory=list)

    @property
    def order(self) -> tuple[date, int]:
        return self.day, EVENT_KINDS[self.kind][0]

    def title(self, lang: str) -> str:
        _, da, en = EVENT_KINDS[self.kind]
        return da if lang == "da" else en

    def detail(self, lang: str) -> str:
        return self.detail_da if lang == "da" else self.detail_en


@dataclass(slots=True)
class Step:
    key: str
    title_da: str
    title_en: str
    day: date | None

    def title(self, lang: str) -> str:
        return self.title_da if lang == "da" else self.title_en


@dataclass(slots=True)
class ClaimStory:
    """A claim with everything known about it: the timeline, the steps reached, the PSRM
    actions and the journal entries about it."""

    claim: Claim
    display_state: str
    events: list[TimelineEvent]
    steps: list[Step]
    actions: list[dict[str, Any]]
    exchanges: list[dict[str, Any]]


def _psrm_actions_for(conn: Connection, claims: Sequence[Claim]) -> dict[str, list[dict[str, Any]]]:
    """The PSRM end's actions about each claim (by its reference or its EFI claim id)."""
    by_ref = {c.id: c.id for c in claims}
    by_efi = {c.psrm.efi_claim_id: c.id for c in claims if c.psrm and c.psrm.efi_claim_id}
    out: dict[str, list[dict[str, Any]]] = {c.id: [] for c in claims}
    if not claims:
        return out
    a = t.psrm_actions.c
    conditions = [a.claim_ref.in_(list(by_ref))]
    if by_efi:
        conditions.append(a.efi_claim_id.in_(list(by_efi)))
    rows = conn.execute(select(t.psrm_actions).where(or_(*conditions))).all()
    for r in sorted(rows, key=lambda r: (_day(r.received or r.status_changed), r.action_id)):
        owner = by_ref.get(r.claim_ref or "") or by_efi.get(r.efi_claim_id or "")
        if owner is None:
            continue
        out[owner].append({
            "action_id": r.action_id, "delivery_id": r.delivery_id, "code": r.code,
            "status": r.status, "status_changed": _day(r.status_changed),
            "received": None if r.received is None else _day(r.received),
            "efi_claim_id": r.efi_claim_id, "reasons": explain_reasons(r.reasons or [])})
    return out


def _exchanges_for(conn: Connection, *, claim_ids: Sequence[str] = (),
                   account: str | None = None, delivery_ids: Sequence[str] = (),
                   benefit_ids: Sequence[str] = (), limit: int = 200) -> list[dict[str, Any]]:
    """Journal entries correlated with these claims, this account, these deliveries or
    these benefit payouts."""
    j = t.journal.c
    corr = j.correlation
    conditions = []
    if claim_ids:
        conditions.append(corr["claim"].as_string().in_(list(claim_ids)))
    if account:
        conditions.append(corr["account"].as_string() == account)
    if delivery_ids:
        conditions.append(corr["delivery_id"].as_string().in_(list(delivery_ids)))
        conditions.append(corr["MFLeveranceID"].as_string().in_(list(delivery_ids)))
    if benefit_ids:
        conditions.append(corr["benefit_payment"].as_string().in_(list(benefit_ids)))
    if not conditions:
        return []
    rows = conn.execute(select(j.id, j.virtual_at, j.end, j.direction, j.operation, j.status,
                               j.transaction_id, j.correlation, j.summary)
                        .where(or_(*conditions)).order_by(j.id).limit(limit)).all()
    return [dict(r._mapping) for r in rows]


def _day(value: date | datetime) -> date:
    """PSRM's receipt times as the timeline's days."""
    return value.date() if isinstance(value, datetime) else value


def _text_pair(da: str, en: str) -> dict[str, str]:
    return {"detail_da": da, "detail_en": en}


def claim_stories(conn: Connection, claims: Sequence[Claim], *,
                  account_number: str) -> list[ClaimStory]:
    """Every claim of one account as a story: derived from the claim itself, its coverage,
    offsets and write-offs, the PSRM end's actions, the fagsystem events and the journal."""
    if not claims:
        return []
    ids = [c.id for c in claims]
    coverage = ledger.coverage_for_account(conn, account_number)
    offsets = ledger.offsets_for_account(conn, account_number)
    write_offs = ledger.write_offs_for_account(conn, account_number)
    actions = _psrm_actions_for(conn, claims)
    deliveries = sorted({a["delivery_id"] for acts in actions.values() for a in acts})
    exchanges = _exchanges_for(conn, claim_ids=ids, account=account_number,
                               delivery_ids=deliveries,
                               benefit_ids=sorted({o.benefit_payment_id for o in offsets}),
                               limit=1000)
    events_by_claim: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    for e in conn.execute(select(t.fagsystem_events).where(
            t.fagsystem_events.c.claim_id.in_(ids)).order_by(t.fagsystem_events.c.seq)).all():
        events_by_claim[e.claim_id].append(dict(e._mapping))
    payouts = {r.id: r.payout_date for r in conn.execute(select(
        t.benefit_payments.c.id, t.benefit_payments.c.payout_date).where(
        t.benefit_payments.c.id.in_({o.benefit_payment_id for o in offsets}))).all()}
    last_source = {}
    for line in coverage:
        last_source[line.claim_id] = line.source.value
    stories = []
    for claim in claims:
        story = _story(claim, coverage=[x for x in coverage if x.claim_id == claim.id],
                       offsets=[o for o in offsets if o.claim_id == claim.id],
                       write_offs=[w for w in write_offs if w.claim_id == claim.id],
                       actions=actions[claim.id], fagsystem_events=events_by_claim[claim.id],
                       exchanges=exchanges, payouts=payouts)
        story.display_state = display_state(claim.state.value, last_source.get(claim.id))
        stories.append(story)
    return stories


def _story(claim: Claim, *, coverage: Sequence[Any], offsets: Sequence[Any],
           write_offs: Sequence[Any], actions: list[dict[str, Any]],
           fagsystem_events: Sequence[Mapping[str, Any]], exchanges: Sequence[Mapping[str, Any]],
           payouts: Mapping[str, date]) -> ClaimStory:
    cid = claim.id
    deliveries = {a["delivery_id"] for a in actions}
    sources = {line.source_id for line in coverage} | {o.benefit_payment_id for o in offsets}
    mine = [x for x in exchanges if _about(x, cid, deliveries, sources)]
    by_source = {x["correlation"].get(key): x["id"] for x in mine
                 for key in ("payment", "benefit_payment")
                 if isinstance(x.get("correlation"), dict) and x["correlation"].get(key)}
    events: list[TimelineEvent] = []

    def add(day: date, kind: str, **kw: Any) -> None:
        events.append(TimelineEvent(day=day, kind=kind, claim_id=cid, **kw))

    registration = next((x for x in mine if x["operation"] == "OpretFordring"
                         and x["direction"] == "in"), None)
    registered_on = registration["virtual_at"].date() if registration else claim.received
    total = claim.total
    add(registered_on, "registered", amount=total,
        journal_id=registration["id"] if registration else None,
        **_text_pair(f"{claim.type_code}, {claim.fagsystem_claim_id}",
                     f"{claim.type_code}, {claim.fagsystem_claim_id}"))
    inv = claim.invoice
    if inv is not None:
        fik = f"+{inv.card_type}<{inv.payment_id}+{inv.creditor_number}<"
        add(registered_on, "invoiced", amount=inv.amount, **_text_pair(
            f"FIK {fik}, forfald {inv.due_date.isoformat()}, SRB {inv.srb.isoformat()}",
            f"FIK {fik}, due {inv.due_date.isoformat()}, SRB {inv.srb.isoformat()}"))
        if inv.reminder_date is not None:
            add(inv.reminder_date, "reminded")
    for (source, source_id, day), amount in _grouped(coverage).items():
        kind = {CoverageSource.PAYMENT.value: "paid", CoverageSource.OFFSET.value: "offset",
                CoverageSource.PSRM.value: "covered"}[source]
        add(day, kind, amount=amount, journal_id=by_source.get(source_id),
            **_text_pair(source_id, source_id))
    planned: dict[tuple[str, date], Decimal] = {}
    for o in offsets:
        if o.status is OffsetStatus.PLANNED:
            key = (o.benefit_payment_id, o.date)
            planned[key] = planned.get(key, ZERO) + o.amount
    for (benefit_id, day), amount in planned.items():
        payout = payouts.get(benefit_id)
        when = payout.isoformat() if payout else "?"
        add(day, "offset_planned", amount=amount, **_text_pair(
            f"{benefit_id}, udbetales {when}", f"{benefit_id}, paid out {when}"))
    for w in write_offs:
        add(w.date, "written_off", amount=w.amount, **_text_pair(w.reason, w.reason))
    sent = {x["correlation"].get("delivery_id"): x for x in mine
            if x["operation"] == "MFFordringIndberet" and x["direction"] == "out"
            and isinstance(x.get("correlation"), dict)}
    for a in actions:
        code = a["code"]
        delivery = sent.get(a["delivery_id"])
        day_sent = delivery["virtual_at"].date() if delivery else (a["received"]
                                                                    or a["status_changed"])
        add(day_sent, "handed_over", journal_id=delivery["id"] if delivery else None,
            **_text_pair(f"{code}, levering {a['delivery_id']}",
                         f"{code}, delivery {a['delivery_id']}"))
        if a["received"] is not None and a["status"] != PsrmStatus.REJECTED.value:
            add(a["received"], "received", **_text_pair(
                f"{code} {a['action_id']}" + (f", {a['efi_claim_id']}" if a["efi_claim_id"]
                                              else ""),
                f"{code} {a['action_id']}" + (f", {a['efi_claim_id']}" if a["efi_claim_id"]
                                              else "")))
        status = a["status"]
        if status == PsrmStatus.IN_PROCESS.value:
            add(a["status_changed"], "in_process", **_text_pair(code, code))
        elif status == PsrmStatus.DONE.value:
            add(a["status_changed"], "done", **_text_pair(code, code))
        elif status == PsrmStatus.REJECTED.value:
            add(a["status_changed"], "rejected", reasons=a["reasons"],
                **_text_pair(code, code))
    if not actions and claim.psrm is not None:  # PSRM is a remote system: what we know
        p = claim.psrm
        add(p.status_date, "handed_over", amount=p.amount,
            **_text_pair(f"{p.art.value}", f"{p.art.value}"))
        status_kind = {None: None, PsrmStatus.RECEIVED: "received",
                       PsrmStatus.IN_PROCESS: "in_process", PsrmStatus.DONE: "done",
                       PsrmStatus.REJECTED: "rejected"}[p.status]
        if status_kind is not None:
            add(p.status_date, status_kind, reasons=explain_reasons(p.reasons),
                **_text_pair(p.action_id or "", p.action_id or ""))
    for e in fagsystem_events:
        what_da, what_en = _event_words(e)
        add(e["date"], "reported", amount=from_ore(e["amount_ore"]) if e["amount_ore"] is not None
            else None, reasons=explain_reasons(e.get("reasons") or []),
            **_text_pair(what_da, what_en))
    events.sort(key=lambda ev: ev.order)
    return ClaimStory(claim=claim, display_state=claim.state.value, events=events,
                      steps=_steps(events, _covered_on(claim, coverage)), actions=actions,
                      exchanges=[dict(x) for x in mine])


def _about(x: Mapping[str, Any], claim_id: str, deliveries: set[str],
           sources: set[str]) -> bool:
    """Whether a journal entry is about this claim: registered or changed it, carried it
    to PSRM, or brought the payment or payout that covered it."""
    corr = x.get("correlation") or {}
    if not isinstance(corr, dict):
        return False
    if corr.get("claim") == claim_id:
        return True
    if corr.get("payment") in sources or corr.get("benefit_payment") in sources:
        return True
    return bool(deliveries) and (corr.get("delivery_id") in deliveries
                                 or corr.get("MFLeveranceID") in deliveries)


def _grouped(lines: Iterable[Any]) -> dict[tuple[str, str, date], Decimal]:
    """Coverage lines summed per source, source id and day (sub-claims folded in)."""
    out: dict[tuple[str, str, date], Decimal] = {}
    for line in lines:
        key = (line.source.value, line.source_id, line.date)
        out[key] = out.get(key, ZERO) + line.amount
    return out


def _event_words(e: Mapping[str, Any]) -> tuple[str, str]:
    kind = e["event_type"]
    status = e.get("status")
    if kind == "TILSTAND" and status:
        da, en = STATE_LABELS.get(status, (status, status))
        return f"TILSTAND: {da}", f"TILSTAND (state): {en}"
    if kind == "DAEKNING":
        source = e.get("source") or ""
        return f"DAEKNING ({source})", f"DAEKNING (coverage, {source})"
    if kind == "AFSKRIVNING":
        return f"AFSKRIVNING ({e.get('reason') or ''})", f"AFSKRIVNING (write-off, " \
                                                         f"{e.get('reason') or ''})"
    return kind, kind


def _covered_on(claim: Claim, coverage: Sequence[Any]) -> date | None:
    """The day a claim was covered in full (by payments, offsets or PSRM), if it was."""
    if claim.state not in (ClaimState.PAID, ClaimState.COVERED_BY_PSRM) or claim.outstanding:
        return None
    return max((line.date for line in coverage), default=None)


def _steps(events: Sequence[TimelineEvent], covered_on: date | None) -> list[Step]:
    """The stepper: the first day each step was reached; "covered" means covered in full."""
    first: dict[str, date] = {}
    for ev in events:
        key = {"offset_planned": "offset", "in_process": "received", "done": "received"}.get(
            ev.kind, ev.kind)
        if key in ("paid", "covered"):
            continue
        first.setdefault(key, ev.day)
    if covered_on is not None:
        first["covered"] = covered_on
    return [Step(key, da, en, first.get(key)) for key, da, en in STEPS]


# ---------------------------------------------------------------- conformance report


@dataclass(slots=True)
class Report:
    """The latest conformance report found in the report folder."""

    folder: Path
    json_path: Path | None
    html_path: Path | None
    data: dict[str, Any]
    modified: datetime

    @property
    def counts(self) -> dict[str, int]:
        """Outcome → number of cases (from the report's summary, else counted)."""
        summary = self.data.get("summary") or self.data.get("totals")
        if isinstance(summary, Mapping):
            return {str(k): int(v) for k, v in summary.items()
                    if isinstance(v, int) and not isinstance(v, bool)}
        out: dict[str, int] = {}
        for case in self.cases:
            out[case["outcome"]] = out.get(case["outcome"], 0) + 1
        return out

    @property
    def cases(self) -> list[dict[str, str]]:
        raw = self.data.get("cases") or self.data.get("results") or []
        out = []
        for c in raw if isinstance(raw, list) else []:
            if not isinstance(c, Mapping):
                continue
            outcome = c.get("outcome") or c.get("status") or c.get("result") or ""
            reason = c.get("reason") or c.get("message") or c.get("detail") or ""
            title = str(c.get("title") or "")
            requirement = str(c.get("requirement") or "")
            out.append({"id": str(c.get("id") or c.get("case_id") or ""),
                        "requirement": " — ".join(x for x in (title, requirement) if x),
                        "outcome": str(outcome).lower(), "reason": str(reason)})
        return out

    @property
    def failing(self) -> list[dict[str, str]]:
        return [c for c in self.cases if c["outcome"] not in ("pass", "passed", "skip",
                                                              "skipped")]


def report_dir(runtime: Runtime) -> Path:
    """Where conformance reports are looked for: config, ``OIR_REPORT_DIR``, or var/reports."""
    configured = getattr(runtime.config, "report_dir", None)
    return Path(configured or os.environ.get("OIR_REPORT_DIR") or DEFAULT_REPORT_DIR)


def latest_report(folder: Path) -> Report | None:
    """The newest report in ``folder`` or in any of its sub-folders (one per run)."""
    candidates: list[Path] = []
    if folder.is_dir():
        for d in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
            if (d / "report.json").is_file() or (d / "report.html").is_file():
                candidates.append(d)
    if not candidates:
        return None

    def mtime(d: Path) -> float:
        return max(p.stat().st_mtime for p in (d / "report.json", d / "report.html")
                   if p.is_file())

    best = max(candidates, key=mtime)
    json_path = best / "report.json"
    html_path = best / "report.html"
    data: dict[str, Any] = {}
    if json_path.is_file():
        try:
            loaded = json.loads(json_path.read_text(encoding="utf-8"))
        except (ValueError, OSError):
            loaded = {}
        data = loaded if isinstance(loaded, dict) else {}
    return Report(folder=best, json_path=json_path if json_path.is_file() else None,
                  html_path=html_path if html_path.is_file() else None, data=data,
                  modified=datetime.fromtimestamp(mtime(best)).replace(microsecond=0))


# ---------------------------------------------------------------- the blueprint


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
        with runtime.store.transaction() as conn:
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
        with runtime.store.transaction() as conn:
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
