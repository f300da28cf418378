"""ØIR ↔ PSRM mapping: claims to ``MFFordringIndberet_I`` deliveries, and PSRM's receipts
and notifications back to the events the fagsystem's callback receives.

Outbound (docs/design.md#the-psrm-services, #hand-over): a claim the debtor system hands
over becomes one ``FordringAktion`` (``OPRETFORDRING``; ``NEDSKRIV``, ``TILBAGEKALD``,
``GENINDSENDFORDRING`` and the others for
what follows) built as an lxml tree in exactly the element order of ``xsd/psrm/MF.xsd``.
Deliveries of at most ``max_actions`` actions stream lazily, so a bulk hand-over of 100 000
claims never holds more than one delivery in memory.

Inbound: ``decode_receipts`` / ``decode_notifications`` read PSRM's answers;
``events_from_receipt`` / ``events_from_notification`` turn them into
:class:`FagsystemEvent` values (the ØIR ``Haendelse``), and ``callback_request`` builds the
``RegistrerDaekningAfskrivningRequest`` that reports them.

Reference choice (reversible): ``DMIFordringFordringHaverRef`` is the debtor system's claim
id (``Claim.id``), falling back to the fagsystem's id when the claim has none yet (offline
``oir map``). Every PSRM answer carries that ref back, so the debtor system finds its claim;
the fagsystem's own ids travel as ``Key: value`` case notes (``Sagsbemærkning``) so a PSRM
case worker can trace a claim to its origin. Sub-claims get ``<claim ref>-<sub-claim id>``.

``FIELD_MAP`` and ``EVENT_MAP`` list every field and what happens to it; docs/mapping.md is
generated from them (``python -m oir_adapter.mapping --write-docs``) and a test keeps the
two in step.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from oir_adapter.codecs.callback import (
    StatusAdvice,
    callback_request,
    decode_callback_request,
    fordring_til_indbetaling_request,
    status_advice_request,
)
from oir_adapter.codecs.psrm_actions import (
    NSMAP,
    Q_AKTION,
    Q_AKTION_KODE,
    Q_AKTION_SAMLING,
    Q_AKTION_VALG,
    Q_ART,
    Q_BELOEB,
    Q_BELOEB_STRUKTUR,
    Q_CPR,
    Q_CVR,
    Q_DOKUMENT_SAMLING,
    Q_DOM,
    Q_DOM_DATO,
    Q_EFI_ID,
    Q_FORAELDELSE,
    Q_FORFALD,
    Q_FORLIG,
    Q_FORLIG_DATO,
    Q_GENINDSEND_STRUKTUR,
    Q_HAEFTELSE,
    Q_HAEFTELSE_SAMLING,
    Q_HAVER_ID,
    Q_HOVEDOPLYSNINGER,
    Q_INDBERET_I,
    Q_KONTEKST,
    Q_KUNDE,
    Q_LEVERANCE_ID,
    Q_NEDSKRIV_AARSAG,
    Q_NEDSKRIV_AARSAG_STRUKTUR,
    Q_NEDSKRIV_BELOEB,
    Q_NEDSKRIV_BELOEB_STRUKTUR,
    Q_NEDSKRIV_STRUKTUR,
    Q_NEDSKRIV_VIRKNING,
    Q_NOTE,
    Q_NOTE_TEKST,
    Q_OPRET_AKTION,
    Q_OPRET_STRUKTUR,
    Q_OPRINDELIG,
    Q_OPRINDELIG_STRUKTUR,
    Q_PERIODE,
    Q_PERIODE_FRA,
    Q_PERIODE_TIL,
    Q_REF,
    Q_SAGSBEM_SAMLING,
    Q_SE,
    Q_SRB,
    Q_STIFTELSE,
    Q_SYSTEM_ID,
    Q_TILBAGEKALD_AARSAG,
    Q_TILBAGEKALD_AARSAG_STRUKTUR,
    Q_TILBAGEKALD_STRUKTUR,
    Q_TRANSAKTIONS_ID,
    Q_TRANSAKTIONS_TID,
    Q_TYPE,
    Q_UNDER,
    Q_UNDER_SAMLING,
    Q_VALG,
    Q_VALUTA,
    Q_VIRKNING,
    aendr_fordring_action,
    delivery,
    fejlagtig_hovedstol_action,
    genindsend_action,
    kvittering_request,
    nedskriv_action,
    nedskrivning_annulleret_action,
    opret_fordring_action,
    opskrivning_action,
    serialize,
    stream_deliveries,
    tilbagekald_action,
    underret_request,
)
from oir_adapter.codecs.psrm_answers import decode_notifications, decode_receipts
from oir_adapter.domain.actions import NotificationType, PsrmNotification
from oir_adapter.domain.handover import (
    CREDITOR_ID,
    NOTE_ACCOUNT,
    NOTE_DESCRIPTION,
    NOTE_FAGSYSTEM_CLAIM_ID,
    NOTE_FAGSYSTEM_ID,
    NOTE_KEYS,
    NOTE_OFFSETTING,
    MappingError,
    claim_ref,
    creditor_for,
    find_sub_claim,
    liable_parties,
    parse_creditor_ids,
    parse_trace_notes,
    resolve_art,
    sub_claim_ref,
    trace_notes,
)
from oir_adapter.domain.lifecycle import (
    EventType,
    FagsystemEvent,
    events_from_notification,
    events_from_receipt,
    state_after_receipt,
)

__all__ = ["CREDITOR_ID", "DOC_BEGIN", "DOC_END", "EVENT_MAP", "EventType", "FIELD_MAP", "FagsystemEvent", "FieldRow", "MappingError", "NOTE_ACCOUNT", "NOTE_DESCRIPTION", "NOTE_FAGSYSTEM_CLAIM_ID", "NOTE_FAGSYSTEM_ID", "NOTE_KEYS", "NOTE_OFFSETTING", "NSMAP", "NotificationType", "PsrmNotification", "StatusAdvice", "Q_AKTION", "Q_AKTION_KODE", "Q_AKTION_SAMLING", "Q_AKTION_VALG", "Q_ART", "Q_BELOEB", "Q_BELOEB_STRUKTUR", "Q_CPR", "Q_CVR", "Q_DOKUMENT_SAMLING", "Q_DOM", "Q_DOM_DATO", "Q_EFI_ID", "Q_FORAELDELSE", "Q_FORFALD", "Q_FORLIG", "Q_FORLIG_DATO", "Q_GENINDSEND_STRUKTUR", "Q_HAEFTELSE", "Q_HAEFTELSE_SAMLING", "Q_HAVER_ID", "Q_HOVEDOPLYSNINGER", "Q_INDBERET_I", "Q_KONTEKST", "Q_KUNDE", "Q_LEVERANCE_ID", "Q_NEDSKRIV_AARSAG", "Q_NEDSKRIV_AARSAG_STRUKTUR", "Q_NEDSKRIV_BELOEB", "Q_NEDSKRIV_BELOEB_STRUKTUR", "Q_NEDSKRIV_STRUKTUR", "Q_NEDSKRIV_VIRKNING", "Q_NOTE", "Q_NOTE_TEKST", "Q_OPRET_AKTION", "Q_OPRET_STRUKTUR", "Q_OPRINDELIG", "Q_OPRINDELIG_STRUKTUR", "Q_PERIODE", "Q_PERIODE_FRA", "Q_PERIODE_TIL", "Q_REF", "Q_SAGSBEM_SAMLING", "Q_SE", "Q_SRB", "Q_STIFTELSE", "Q_SYSTEM_ID", "Q_TILBAGEKALD_AARSAG", "Q_TILBAGEKALD_AARSAG_STRUKTUR", "Q_TILBAGEKALD_STRUKTUR", "Q_TRANSAKTIONS_ID", "Q_TRANSAKTIONS_TID", "Q_TYPE", "Q_UNDER", "Q_UNDER_SAMLING", "Q_VALG", "Q_VALUTA", "Q_VIRKNING", "aendr_fordring_action", "callback_request", "claim_ref", "creditor_for", "decode_callback_request", "decode_notifications", "decode_receipts", "delivery", "events_from_notification", "events_from_receipt", "fejlagtig_hovedstol_action", "field_map_markdown", "fordring_til_indbetaling_request", "find_sub_claim", "genindsend_action", "kvittering_request", "liable_parties", "nedskriv_action", "nedskrivning_annulleret_action", "opret_fordring_action", "opskrivning_action", "parse_creditor_ids", "parse_trace_notes", "resolve_art", "serialize", "state_after_receipt", "stream_deliveries", "status_advice_request", "sub_claim_ref", "tilbagekald_action", "trace_notes", "underret_request", "update_doc"]



@dataclass(frozen=True, slots=True)
class FieldRow:
    """One line of the field map.

    ``rule`` says how the value travels: ``copy`` (the same text on both sides),
    ``derived`` (computed, see the note), ``note`` (a ``Key: value`` Sagsbemærkning) or
    ``dropped`` (PSRM has no place for it; the note says why).
    """

    source: str
    target: str
    rule: str
    note: str = ""


_S = "AktionValg/OpretFordringAktion/MFOpretFordringStruktur"
_H = f"{_S}/FordringHæftelseSamling/MFHæftelseStruktur"
_U = "AktionValg/OpretFordringAktion/OpretUnderfordringSamling/MFOpretRelateretFordringStruktur"
_NOTE = f"{_S}/SagsbemærkningSamling/MFNoteStruktur/MFNoteTekst"

#: ØIR ``OpretFordringRequest`` (and the account it names) → PSRM ``FordringAktion``.
#: Source paths below ``OpretFordringRequest``; ``Debitorkonto/…`` is the account the
#: debtor system holds (from ``OpretDebitorkonto``). Target paths below ``FordringAktion``.
FIELD_MAP: tuple[FieldRow, ...] = (
    FieldRow("Hovedoplysninger/TransaktionsID", "—", "dropped",
             "each delivery has its own Kontekst/HovedOplysninger/TransaktionsID"),
    FieldRow("Hovedoplysninger/TransaktionsTid", "—", "dropped",
             "each delivery has its own Kontekst/HovedOplysninger/TransaktionsTid"),
    FieldRow("MyndighedCVR", "DMIFordringHaverID", "derived",
             "Gældsstyrelsen's fordringshaver id configured for the authority "
             "(`creditor_ids`, else `creditor_id`); never the CVR itself"),
    FieldRow("MyndighedCVR", f"{_S}/DMIFordringHaverID", "derived",
             "repeated inside the structure, as real senders do"),
    FieldRow("FagsystemID", _NOTE, "note", f"`{NOTE_FAGSYSTEM_ID}: …` (from the account)"),
    FieldRow("DebitorkontoNummer", _NOTE, "note", f"`{NOTE_ACCOUNT}: …`"),
    FieldRow("Fordring/FagsystemFordringID", f"{_S}/DMIFordringFordringHaverRef", "derived",
             "the debtor system's claim id; the fagsystem's id when the claim has none yet"),
    FieldRow("Fordring/FagsystemFordringID", _NOTE, "note", f"`{NOTE_FAGSYSTEM_CLAIM_ID}: …`"),
    FieldRow("Fordring/FordringTypeKode", f"{_S}/DMIFordringTypeKode", "copy"),
    FieldRow("Fordring/FordringArt", f"{_S}/DMIFordringFordringArtKode", "derived",
             "explicit art > FordringArt > the claim type's default (INDR when allowed)"),
    FieldRow("Fordring/Beskrivelse", _NOTE, "note", f"`{NOTE_DESCRIPTION}: …`"),
    FieldRow("Fordring/ValutaKode", f"{_S}/FordringBeløbStruktur/ValutaKode", "derived",
             "DKK when absent; also in FordringOprindeligBeløbStruktur and every sub-claim"),
    FieldRow("Fordring/Hovedstol", f"{_S}/FordringBeløbStruktur/DMIFordringBeløb", "derived",
             "the remaining principal: what is handed over after payments and offsets"),
    FieldRow("Fordring/Hovedstol",
             f"{_S}/FordringOprindeligBeløbStruktur/EFIFordringOprindeligBeløb", "copy",
             "the original principal"),
    FieldRow("Fordring/PeriodeFra", f"{_S}/FordringPeriodeStruktur/DMIFordringPeriodeFraDato",
             "copy"),
    FieldRow("Fordring/PeriodeTil", f"{_S}/FordringPeriodeStruktur/DMIFordringPeriodeTilDato",
             "copy"),
    FieldRow("Fordring/StiftelsesDato", f"{_S}/DMIFordringStiftelseTidspunkt", "copy"),
    FieldRow("Fordring/ForfaldsDato", f"{_S}/DMIFordringForfaldDato", "copy"),
    FieldRow("Fordring/SidsteRettidigeBetalingsDato", f"{_S}/DMIFordringSRBDato", "copy"),
    FieldRow("Fordring/ForaeldelsesDato", f"{_H}/HæftelseForældelseDato", "derived",
             "on every hæftelse"),
    FieldRow("Fordring/DomsDato", f"{_H}/HæftelseDom", "derived",
             "`true` when there is a date, else `false`; on every hæftelse"),
    FieldRow("Fordring/DomsDato", f"{_H}/HæftelseDomDato", "derived", "on every hæftelse"),
    FieldRow("Fordring/ForligsDato", f"{_H}/HæftelseForlig", "derived",
             "`true` when there is a date, else `false`; on every hæftelse"),
    FieldRow("Fordring/ForligsDato", f"{_H}/HæftelseForligDato", "derived",
             "on every hæftelse"),
    FieldRow("Fordring/ModregningTilladt", _NOTE, "note",
             f"`{NOTE_OFFSETTING}: true` or `false`; governs the debtor system's own offsetting"),
    FieldRow("Debitorkonto/Debitor/Part/CPRNummer",
             f"{_H}[1]/MFKundeStruktur/Valg/PersonCPRNummer", "copy",
             "the account's debtor is the first hæftelse"),
    FieldRow("Debitorkonto/Debitor/Part/CVRNummer",
             f"{_H}[1]/MFKundeStruktur/Valg/VirksomhedCVRNummer", "copy",
             "the account's debtor is the first hæftelse"),
    FieldRow("Fordring/HaefterSamling/Haefter/Part/CPRNummer",
             f"{_H}[position()>1]/MFKundeStruktur/Valg/PersonCPRNummer", "copy",
             "after the debtor, each party once; without an account from the first"),
    FieldRow("Fordring/HaefterSamling/Haefter/Part/CVRNummer",
             f"{_H}[position()>1]/MFKundeStruktur/Valg/VirksomhedCVRNummer", "copy",
             "after the debtor, each party once; without an account from the first"),
    FieldRow("Fordring/HaefterSamling/Haefter/Navn", "—", "dropped",
             "PSRM takes names from the CPR and CVR registers"),
    FieldRow("Fordring/DelfordringSamling/Delfordring/DelfordringTypeKode",
             f"{_U}/DMIFordringTypeKode", "copy",
             "only sub-claims with a remainder are sent; each a full structure with the "
             "main claim's art, due date, SRB, fordringshaver id and hæftelser"),
    FieldRow("Fordring/DelfordringSamling/Delfordring", f"{_U}/DMIFordringFordringHaverRef",
             "derived", "`<claim ref>-<sub-claim id>`"),
    FieldRow("Fordring/DelfordringSamling/Delfordring/Beloeb",
             f"{_U}/FordringBeløbStruktur/DMIFordringBeløb", "derived",
             "the sub-claim's remainder"),
    FieldRow("Fordring/DelfordringSamling/Delfordring/Beloeb",
             f"{_U}/FordringOprindeligBeløbStruktur/EFIFordringOprindeligBeløb", "copy",
             "the sub-claim's original amount"),
    FieldRow("Fordring/DelfordringSamling/Delfordring/PeriodeFra",
             f"{_U}/FordringPeriodeStruktur/DMIFordringPeriodeFraDato", "copy",
             "a lone PeriodeTil fills both"),
    FieldRow("Fordring/DelfordringSamling/Delfordring/PeriodeTil",
             f"{_U}/FordringPeriodeStruktur/DMIFordringPeriodeTilDato", "copy",
             "a lone PeriodeFra fills both"),
    FieldRow("Fordring/DelfordringSamling/Delfordring/StiftelsesDato",
             f"{_U}/DMIFordringStiftelseTidspunkt", "copy",
             "the main claim's when the sub-claim has none"),
)

_RECEIPT = "MFAktionStruktur"
_UNDERRET = "MFUnderretStruktur"

#: PSRM receipts (``MFAktionStruktur``) and notifications (``MFUnderretStruktur``) → the
#: ØIR ``Haendelse`` of ``RegistrerDaekningAfskrivningRequest``.
EVENT_MAP: tuple[FieldRow, ...] = (
    FieldRow(f"{_RECEIPT}/MFAktionID + MFAktionStatusKode", "HaendelseID", "derived",
             "`PSRM-<MFAktionID>-<status>`: the same receipt twice gives the same event"),
    FieldRow(f"{_RECEIPT}/DMIFordringFordringHaverRef", "FordringID", "derived",
             "the claim the ref names; FagsystemFordringID and DebitorkontoNummer from it"),
    FieldRow(f"{_RECEIPT}/MFAktionStatusKode", "Status", "derived",
             "hand-over MODTAGET/SAGSBEHANDL/UDFOERT → OVERDRAGET (once); AFVIST → AFVIST; "
             "TILBAGEKALD UDFOERT → TILBAGEKALDT; HaendelseTypeKode TILSTAND"),
    FieldRow(f"{_RECEIPT}/MFAktionKode", "AarsagKode", "derived",
             "only when a NEDSKRIV or TILBAGEKALD was rejected (the state stays)"),
    FieldRow(f"{_RECEIPT}/AfvistÅrsagSamling/MFAktionAfvistStruktur/MFAktionAfvistNummer",
             "AfvistAarsagSamling/AfvistAarsag/AfvistNummer", "copy"),
    FieldRow(f"{_RECEIPT}/AfvistÅrsagSamling/MFAktionAfvistStruktur/MFAktionAfvistTekst",
             "AfvistAarsagSamling/AfvistAarsag/AfvistTekst", "copy"),
    FieldRow(f"{_RECEIPT}/MFAktionStatusÆndretDato", "Dato", "derived",
             "the day the debtor system registers the receipt (never back-dated)"),
    FieldRow(f"{_UNDERRET}/MFUnderretningNummer", "HaendelseID", "derived",
             "`PSRM-U<seq>` (and `PSRM-U<seq>-T` for the state change it causes)"),
    FieldRow(f"{_UNDERRET}/MFUnderretningNummer", "KildeID", "derived",
             "coverage only: `PSRM-U<seq>`"),
    FieldRow(f"{_UNDERRET}/DMIFordringFordringHaverRef", "FordringID", "derived",
             "the claim the ref names (a sub-claim ref counts for its claim)"),
    FieldRow(f"{_UNDERRET}/MFUnderretTypeKode", "HaendelseTypeKode", "derived",
             "DAEKNING → DAEKNING (Kilde PSRM); AFSKRIVNING → AFSKRIVNING; RETUR → TILSTAND"),
    FieldRow(f"{_UNDERRET}/MFDækningStruktur/FordringBeløbStruktur/DMIFordringBeløb",
             "Beloeb", "copy"),
    FieldRow(f"{_UNDERRET}/MFDækningStruktur/DækningKildeKode", "AarsagKode", "copy",
             "INDB collected by PSRM, MODR offset by PSRM"),
    FieldRow(f"{_UNDERRET}/MFDækningStruktur/DækningDato", "Dato", "copy"),
    FieldRow(f"{_UNDERRET}/MFAfskrivningStruktur/FordringBeløbStruktur/DMIFordringBeløb",
             "Beloeb", "copy"),
    FieldRow(f"{_UNDERRET}/MFAfskrivningStruktur/AfskrivningÅrsagKode", "AarsagKode", "copy"),
    FieldRow(f"{_UNDERRET}/MFUnderretningDatoTid", "Dato", "derived",
             "its day; write-offs and returns"),
    FieldRow(f"{_UNDERRET}/MFReturStruktur/HovedFordringReturAarsagKode", "AarsagKode", "copy",
             "with Status TILBAGEKALDT"),
    FieldRow(f"{_UNDERRET}/MFReturStruktur/ReturTekst", "—", "dropped",
             "ØIR's Haendelse has no free text"),
    FieldRow("(claim outstanding) − Beloeb", "Restbeloeb", "derived",
             "never below zero; reaching zero adds TILSTAND DAEKKET_PSRM or AFSKREVET"),
)

DOC_BEGIN = "<!-- BEGIN GENERATED: oir_adapter.mapping.field_map_markdown -->"
DOC_END = "<!-- END GENERATED -->"


#: How the tables abbreviate the two long PSRM prefixes (the legend says where they sit).
_ABBREVIATIONS = ((_U, "MFOpretRelateretFordringStruktur"), (_S, "MFOpretFordringStruktur"))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _table(rows: Sequence[FieldRow], left: str, right: str) -> list[str]:
    lines = [f"| {left} | {right} | rule | note |", "|---|---|---|---|"]
    for r in rows:
        target = r.target
        for long, short in _ABBREVIATIONS:
            target = target.replace(long, short)
        target = "—" if target == "—" else f"`{target}`"
        lines.append(f"| `{r.source}` | {_cell(target)} | {r.rule} | {_cell(r.note)} |")
    return lines


def field_map_markdown() -> str:
    """The two field tables as Markdown, between the markers docs/mapping.md keeps."""
    lines = [DOC_BEGIN, "", "### ØIR → PSRM (`OpretFordringRequest` → `FordringAktion`)", "",
             f"`MFOpretFordringStruktur` stands for `{_S}`, `MFOpretRelateretFordringStruktur` "
             f"for `{_U}`. `Debitorkonto/…` is the account the claim is registered on "
             "(from `OpretDebitorkonto`).", ""]
    lines += _table(FIELD_MAP, "ØIR (below `OpretFordringRequest`)",
                    "PSRM (below `FordringAktion`)")
    lines += ["", "### PSRM → ØIR (receipts and notifications → `Haendelse`)", ""]
    lines += _table(EVENT_MAP, "PSRM", "ØIR (below `Haendelse`)")
    lines += ["", DOC_END]
    return "\n".join(lines) + "\n"


def update_doc(path: Path) -> bool:
    """Rewrite the generated part of ``path``; True when it changed."""
    text = path.read_text(encoding="utf-8")
    start, end = text.index(DOC_BEGIN), text.index(DOC_END) + len(DOC_END) + 1
    new = text[:start] + field_map_markdown() + text[end:]
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":  # python -m oir_adapter.mapping --write-docs
    if sys.argv[1:] == ["--write-docs"]:
        doc = Path(__file__).resolve().parent.parent / "docs" / "mapping.md"
        print("updated" if update_doc(doc) else "up to date", doc)
    else:
        print("usage: python -m oir_adapter.mapping --write-docs", file=sys.stderr)
        raise SystemExit(2)
