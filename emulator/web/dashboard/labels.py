"""Labels in Danish and English, money and party display, and PSRM's numbered
rejection reasons explained in both languages."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from oir_adapter.domain.model import (
    ClaimState,
    CoverageSource,
    OffsetStatus,
    Party,
    PartyKind,
    PsrmStatus,
    mask_cprs,
)
from oir_adapter.domain.rules import RULES, RULES_BY_ID, Rule

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
