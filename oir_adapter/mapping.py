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

import itertools
import json
import re
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from lxml import etree

from .codecs.psrm import ACTION_ELEMENTS
from .codecs.writing import timestamp_text
from .contracts import (
    KONTEKST_NS,
    OIR_NS,
    PSRM_NS,
    SOAP11_ENV_NS,
    SOAP12_ENV_NS,
    safe_parser,
    validate_element,
)
from .model import (
    ZERO,
    AccountType,
    Claim,
    ClaimArt,
    ClaimState,
    CoverageSource,
    Debtor,
    DebtorAccount,
    MoneyError,
    Party,
    PartyKind,
    PsrmAction,
    PsrmActionCode,
    PsrmStatus,
    RecallReason,
    RejectionReason,
    SubClaim,
    WriteDownReason,
    money,
)
from .tables import ClaimTypeTable


class MappingError(ValueError):
    """A claim or message the mapping cannot express (e.g. a claim without any debtor)."""


# ---------------------------------------------------------------- qualified names
# Precomputed once: building a tree is then nothing but SubElement calls and string sets.

_M = "{" + PSRM_NS + "}"
_K = "{" + KONTEKST_NS + "}"
_O = "{" + OIR_NS + "}"

NSMAP: dict[str | None, str] = {None: PSRM_NS, "k": KONTEKST_NS}
_ACTION_NSMAP: dict[str | None, str] = {None: PSRM_NS}
_OIR_NSMAP: dict[str | None, str] = {None: OIR_NS}

Q_INDBERET_I = _M + "MFFordringIndberet_I"
Q_KONTEKST = _M + "Kontekst"  # begrebsmodel namespace; its content is kontekst's
Q_HOVEDOPLYSNINGER = _K + "HovedOplysninger"
Q_TRANSAKTIONS_ID = _K + "TransaktionsID"
Q_TRANSAKTIONS_TID = _K + "TransaktionsTid"
Q_SYSTEM_ID = _M + "FordringhaverSystemIDStruktur"
Q_SE = _M + "VirksomhedSENummer"
Q_LEVERANCE_ID = _M + "MFLeveranceID"
Q_AKTION_SAMLING = _M + "FordringAktionSamling"
Q_AKTION = _M + "FordringAktion"
Q_AKTION_KODE = _M + "MFAktionKode"
Q_HAVER_ID = _M + "DMIFordringHaverID"
Q_AKTION_VALG = _M + "AktionValg"
Q_OPRET_AKTION = _M + "OpretFordringAktion"
Q_GENINDSEND_STRUKTUR = _M + "MFGenindsendFordringStruktur"
Q_OPRET_STRUKTUR = _M + "MFOpretFordringStruktur"
Q_NEDSKRIV_STRUKTUR = _M + "MFNedskrivFordringStruktur"
Q_TILBAGEKALD_STRUKTUR = _M + "MFTilbagekaldFordringStruktur"
Q_ART = _M + "DMIFordringFordringArtKode"
Q_TYPE = _M + "DMIFordringTypeKode"
Q_REF = _M + "DMIFordringFordringHaverRef"
Q_STIFTELSE = _M + "DMIFordringStiftelseTidspunkt"
Q_FORFALD = _M + "DMIFordringForfaldDato"
Q_SRB = _M + "DMIFordringSRBDato"
Q_BELOEB_STRUKTUR = _M + "FordringBeløbStruktur"
Q_VALUTA = _M + "ValutaKode"
Q_BELOEB = _M + "DMIFordringBeløb"
Q_PERIODE = _M + "FordringPeriodeStruktur"
Q_PERIODE_FRA = _M + "DMIFordringPeriodeFraDato"
Q_PERIODE_TIL = _M + "DMIFordringPeriodeTilDato"
Q_OPRINDELIG_STRUKTUR = _M + "FordringOprindeligBeløbStruktur"
Q_OPRINDELIG = _M + "EFIFordringOprindeligBeløb"
Q_SAGSBEM_SAMLING = _M + "SagsbemærkningSamling"
Q_NOTE = _M + "MFNoteStruktur"
Q_NOTE_TEKST = _M + "MFNoteTekst"
Q_DOKUMENT_SAMLING = _M + "DokumentSamling"
Q_HAEFTELSE_SAMLING = _M + "FordringHæftelseSamling"
Q_HAEFTELSE = _M + "MFHæftelseStruktur"
Q_KUNDE = _M + "MFKundeStruktur"
Q_VALG = _M + "Valg"
Q_CPR = _M + "PersonCPRNummer"
Q_CVR = _M + "VirksomhedCVRNummer"
Q_FORAELDELSE = _M + "HæftelseForældelseDato"
Q_DOM = _M + "HæftelseDom"
Q_DOM_DATO = _M + "HæftelseDomDato"
Q_FORLIG = _M + "HæftelseForlig"
Q_FORLIG_DATO = _M + "HæftelseForligDato"
Q_UNDER_SAMLING = _M + "OpretUnderfordringSamling"
Q_UNDER = _M + "MFOpretRelateretFordringStruktur"
Q_EFI_ID = _M + "DMIFordringEFIFordringID"
Q_NEDSKRIV_VIRKNING = _M + "FordringNedskrivningVirkningFra"
Q_NEDSKRIV_AARSAG_STRUKTUR = _M + "NedskrivningÅrsagStruktur"
Q_NEDSKRIV_AARSAG = _M + "FordringNedskrivningÅrsagKode"
Q_NEDSKRIV_BELOEB_STRUKTUR = _M + "NedskrivningBeløbStruktur"
Q_NEDSKRIV_BELOEB = _M + "FordringNedskrivningBeløb"
Q_TILBAGEKALD_AARSAG_STRUKTUR = _M + "HovedFordringTilbagekaldÅrsagStruktur"
Q_TILBAGEKALD_AARSAG = _M + "HovedFordringTilbageÅrsagKode"
Q_VIRKNING = _M + "DMIFordringVirkningFra"

_PARTY_TAG = {PartyKind.CPR: Q_CPR, PartyKind.CVR: Q_CVR}


def _amount(value: Decimal) -> str:
    """An amount as PSRM's decimal text; øre-exact or refused, never rounded."""
    if value.as_tuple().exponent != -2:
        value = money(value)
    return str(value)


# ---------------------------------------------------------------- references

def claim_ref(claim: Claim) -> str:
    """``DMIFordringFordringHaverRef`` of a claim: the debtor system's id, else the
    fagsystem's (a claim mapped offline has no debtor-system id yet)."""
    return claim.id or claim.fagsystem_claim_id


def sub_claim_ref(main_ref: str, sub: SubClaim) -> str:
    """``<claim ref>-<sub-claim id>``; a sub-claim id that already carries the claim's ref
    as its prefix (the ØIR decoder's ``<claim id>-<n>``) is used as it is."""
    return sub.id if sub.id.startswith(main_ref + "-") else f"{main_ref}-{sub.id}"


def find_sub_claim(claim: Claim, ref: str) -> SubClaim | None:
    """The sub-claim of ``claim`` that PSRM names by ``ref`` (the reverse of
    :func:`sub_claim_ref`), or None."""
    main = claim_ref(claim)
    for sub in claim.sub_claims:
        if sub_claim_ref(main, sub) == ref:
            return sub
    return None


# Case-note keys: the ØIR facts PSRM has no field for, written as "Key: value".
NOTE_FAGSYSTEM_ID = "FagsystemID"
NOTE_ACCOUNT = "DebitorkontoNummer"
NOTE_FAGSYSTEM_CLAIM_ID = "FagsystemFordringID"
NOTE_OFFSETTING = "ModregningTilladt"
NOTE_DESCRIPTION = "Beskrivelse"
NOTE_KEYS = (NOTE_FAGSYSTEM_ID, NOTE_ACCOUNT, NOTE_FAGSYSTEM_CLAIM_ID, NOTE_OFFSETTING,
             NOTE_DESCRIPTION)


def trace_notes(claim: Claim, account: DebtorAccount | None) -> list[str]:
    """The ``Sagsbemærkning`` lines that trace a handed-over claim to its ØIR origin."""
    notes = []
    if account is not None:
        notes.append(f"{NOTE_FAGSYSTEM_ID}: {account.fagsystem_id}")
    if claim.account_number:
        notes.append(f"{NOTE_ACCOUNT}: {claim.account_number}")
    notes.append(f"{NOTE_FAGSYSTEM_CLAIM_ID}: {claim.fagsystem_claim_id}")
    notes.append(f"{NOTE_OFFSETTING}: {'true' if claim.offsetting_allowed else 'false'}")
    if claim.description:
        notes.append(f"{NOTE_DESCRIPTION}: {claim.description}")
    return notes


def parse_trace_notes(notes: Iterable[str]) -> dict[str, str]:
    """The reverse of :func:`trace_notes`; notes without a known key are ignored."""
    out: dict[str, str] = {}
    for note in notes:
        key, sep, value = note.partition(": ")
        if sep and key in NOTE_KEYS:
            out[key] = value
    return out


def liable_parties(claim: Claim, account: DebtorAccount | None) -> list[Party]:
    """Who is liable, in PSRM's order: the account's debtor first, then each co-liable
    party once. Without an account the co-liable parties stand alone (the first becomes
    PSRM's primary debtor)."""
    parties: list[Party] = []
    if account is not None:
        parties.append(account.debtor.party)
    for co in claim.co_liable:
        if co.party not in parties:
            parties.append(co.party)
    if not parties:
        raise MappingError(f"claim {claim_ref(claim)!r} names no debtor: pass its account "
                           "or a co-liable party (hæfter)")
    return parties


def resolve_art(claim: Claim, art: ClaimArt | None, claim_types: ClaimTypeTable) -> ClaimArt:
    """Explicit art, else the claim's own, else its type's default; an unknown type is
    handed over for recovery (PSRM's indgangsfilter then rejects the type itself)."""
    if art is not None:
        return art
    if claim.art is not None:
        return claim.art
    known = claim_types.get(claim.type_code)
    return known.default_art if known is not None else ClaimArt.RECOVERY


# ---------------------------------------------------------------- ØIR → PSRM builders

def _hæftelser(parent: etree._Element, claim: Claim, parties: Sequence[Party]) -> None:
    """``FordringHæftelseSamling``: one ``MFHæftelseStruktur`` per liable party, with the
    claim's limitation, judgment and settlement (both booleans always sent, their dates
    when there are any, as real senders do)."""
    sub = etree.SubElement
    h = sub(parent, Q_HAEFTELSE_SAMLING)
    limitation = claim.limitation_date.isoformat() if claim.limitation_date else None
    judgment = claim.judgment_date.isoformat() if claim.judgment_date else None
    settlement = claim.settlement_date.isoformat() if claim.settlement_date else None
    for party in parties:
        m = sub(h, Q_HAEFTELSE)
        sub(sub(sub(m, Q_KUNDE), Q_VALG), _PARTY_TAG[party.kind]).text = party.number
        if limitation is not None:
            sub(m, Q_FORAELDELSE).text = limitation
        sub(m, Q_DOM).text = "true" if judgment is not None else "false"
        if judgment is not None:
            sub(m, Q_DOM_DATO).text = judgment
        sub(m, Q_FORLIG).text = "true" if settlement is not None else "false"
        if settlement is not None:
            sub(m, Q_FORLIG_DATO).text = settlement


def _claim_fields(s: etree._Element, *, art: ClaimArt, type_code: str, ref: str,
                  founded: date, due: date, srb: date, currency: str, amount: Decimal,
                  period: tuple[date, date] | None, original: Decimal | None) -> None:
    """The claim fields a main and a related claim structure share, up to the amounts."""
    sub = etree.SubElement
    sub(s, Q_ART).text = art.value
    sub(s, Q_TYPE).text = type_code
    sub(s, Q_REF).text = ref
    sub(s, Q_STIFTELSE).text = founded.isoformat()
    sub(s, Q_FORFALD).text = due.isoformat()
    sub(s, Q_SRB).text = srb.isoformat()
    b = sub(s, Q_BELOEB_STRUKTUR)
    sub(b, Q_VALUTA).text = currency
    sub(b, Q_BELOEB).text = _amount(amount)
    if period is not None:
        p = sub(s, Q_PERIODE)
        sub(p, Q_PERIODE_FRA).text = period[0].isoformat()
        sub(p, Q_PERIODE_TIL).text = period[1].isoformat()
    if original is not None:
        o = sub(s, Q_OPRINDELIG_STRUKTUR)
        sub(o, Q_VALUTA).text = currency
        sub(o, Q_OPRINDELIG).text = _amount(original)


def _claim_structures(choice: etree._Element, claim: Claim, account: DebtorAccount | None,
                      creditor_id: str, art: ClaimArt) -> None:
    """Append ``MFOpretFordringStruktur`` and ``OpretUnderfordringSamling`` to ``choice``.

    Each sub-claim with a remainder goes as a full ``MFOpretRelateretFordringStruktur``:
    the main claim's art, dates and liable parties, its own type, reference and amount.
    """
    sub = etree.SubElement
    ref = claim_ref(claim)
    currency = claim.currency
    remaining = claim.remaining_principal
    assert remaining is not None
    parties = liable_parties(claim, account)
    s = sub(choice, Q_OPRET_STRUKTUR)
    _claim_fields(s, art=art, type_code=claim.type_code, ref=ref, founded=claim.founded,
                  due=claim.due_date, srb=claim.srb, currency=currency, amount=remaining,
                  period=(claim.period_from, claim.period_to), original=claim.principal)
    notes = sub(s, Q_SAGSBEM_SAMLING)
    for note in trace_notes(claim, account):
        sub(sub(notes, Q_NOTE), Q_NOTE_TEKST).text = note
    sub(s, Q_DOKUMENT_SAMLING)
    sub(s, Q_HAVER_ID).text = creditor_id
    _hæftelser(s, claim, parties)
    u_samling = sub(choice, Q_UNDER_SAMLING)
    for sc in claim.sub_claims:
        if sc.remaining <= ZERO:
            continue  # covered already: nothing of it to hand over
        u = sub(u_samling, Q_UNDER)
        start, end = sc.period_from or sc.period_to, sc.period_to or sc.period_from
        _claim_fields(u, art=art, type_code=sc.type_code, ref=sub_claim_ref(ref, sc),
                      founded=sc.founded or claim.founded, due=claim.due_date, srb=claim.srb,
                      currency=currency, amount=sc.remaining,
                      period=(start, end) if start is not None and end is not None else None,
                      original=sc.amount)
        sub(u, Q_SAGSBEM_SAMLING)
        sub(u, Q_DOKUMENT_SAMLING)
        sub(u, Q_HAVER_ID).text = creditor_id
        _hæftelser(u, claim, parties)


def _action_head(parent: etree._Element | None, code: PsrmActionCode,
                 creditor_id: str) -> tuple[etree._Element, etree._Element]:
    """A ``FordringAktion`` (under ``parent`` or standalone) and its ``AktionValg``."""
    if parent is None:
        action = etree.Element(Q_AKTION, nsmap=_ACTION_NSMAP)  # type: ignore[arg-type]
    else:
        action = etree.SubElement(parent, Q_AKTION)
    etree.SubElement(action, Q_AKTION_KODE).text = code.value
    etree.SubElement(action, Q_HAVER_ID).text = creditor_id
    return action, etree.SubElement(action, Q_AKTION_VALG)


def _opret_into(parent: etree._Element | None, claim: Claim, account: DebtorAccount | None,
                creditor_id: str, art: ClaimArt | None,
                claim_types: ClaimTypeTable) -> etree._Element:
    resolved = resolve_art(claim, art, claim_types)
    action, valg = _action_head(parent, PsrmActionCode.CREATE, creditor_id)
    _claim_structures(etree.SubElement(valg, Q_OPRET_AKTION), claim, account, creditor_id,
                      resolved)
    return action


def opret_fordring_action(claim: Claim, account: DebtorAccount | None, *, creditor_id: str,
                          art: ClaimArt | None = None,
                          claim_types: ClaimTypeTable | None = None) -> etree._Element:
    """An ``OPRETFORDRING`` action handing ``claim``'s remainder to PSRM.

    The amount is the remaining principal (what is still owed after payments and offsets,
    docs/design.md#hand-over); the original principal rides along in ``FordringOprindeligBeløbStruktur``.
    Sub-claims with nothing left are not sent.
    """
    return _opret_into(None, claim, account, creditor_id, art,
                       claim_types if claim_types is not None else _default_types())


def genindsend_action(claim: Claim, account: DebtorAccount | None, *, creditor_id: str,
                      efi_claim_id: str | None = None, art: ClaimArt | None = None,
                      claim_types: ClaimTypeTable | None = None) -> etree._Element:
    """A ``GENINDSENDFORDRING`` action: the corrected claim sent again after a recall
    (with PSRM's claim id when PSRM had given one)."""
    resolved = resolve_art(claim, art, claim_types if claim_types is not None
                           else _default_types())
    action, valg = _action_head(None, PsrmActionCode.RESUBMIT, creditor_id)
    choice = etree.SubElement(valg, Q_GENINDSEND_STRUKTUR)
    if efi_claim_id is not None:
        etree.SubElement(choice, Q_EFI_ID).text = efi_claim_id
    _claim_structures(choice, claim, account, creditor_id, resolved)
    return action


def nedskriv_action(efi_claim_id: str, amount: Decimal, reason: WriteDownReason, *,
                    creditor_id: str, effective: date | None = None,
                    currency: str = "DKK") -> etree._Element:
    """A ``NEDSKRIV`` action: write a claim in PSRM down by ``amount`` (e.g. ``INDB`` when
    the debtor system collected a payment or an offset itself). A ``REGU`` write-down
    carries no effective date (PSRM rejects one with 519), so ``effective`` is left out."""
    action, valg = _action_head(None, PsrmActionCode.WRITE_DOWN, creditor_id)
    n = etree.SubElement(valg, _M + "MFNedskrivFordringStruktur")
    etree.SubElement(n, Q_EFI_ID).text = efi_claim_id
    reason = WriteDownReason(reason)
    if effective is not None and reason is not WriteDownReason.ADJUSTMENT:
        etree.SubElement(n, Q_NEDSKRIV_VIRKNING).text = effective.isoformat()
    etree.SubElement(etree.SubElement(n, Q_NEDSKRIV_AARSAG_STRUKTUR),
                     Q_NEDSKRIV_AARSAG).text = reason.value
    b = etree.SubElement(n, Q_NEDSKRIV_BELOEB_STRUKTUR)
    etree.SubElement(b, Q_VALUTA).text = currency
    etree.SubElement(b, Q_NEDSKRIV_BELOEB).text = _amount(amount)
    return action


def tilbagekald_action(efi_claim_id: str, reason: RecallReason, *, creditor_id: str,
                       effective: date | None = None) -> etree._Element:
    """A ``TILBAGEKALD`` action: take a claim back from PSRM (deferral, complaint, …). A
    recall for ``FEJL`` carries no effective date (PSRM rejects one with 546)."""
    action, valg = _action_head(None, PsrmActionCode.RECALL, creditor_id)
    t = etree.SubElement(valg, _M + "MFTilbagekaldFordringStruktur")
    etree.SubElement(t, Q_EFI_ID).text = efi_claim_id
    reason = RecallReason(reason)
    etree.SubElement(etree.SubElement(t, Q_TILBAGEKALD_AARSAG_STRUKTUR),
                     Q_TILBAGEKALD_AARSAG).text = reason.value
    if effective is not None and reason is not RecallReason.ERROR:
        etree.SubElement(t, Q_VIRKNING).text = effective.isoformat()
    return action


def opskrivning_action(efi_claim_id: str, amount: Decimal, *, creditor_id: str,
                       code: PsrmActionCode = PsrmActionCode.WRITE_UP,
                       ref_action_id: str | None = None, effective: date | None = None,
                       reason_text: str | None = None, currency: str = "DKK"
                       ) -> etree._Element:
    """A write-up: ``OPSKRIVNINGREGULERING`` raises a claim in PSRM by ``amount``;
    ``OPSKRIVNINGANNULLERETNEDSKRIVNINGINDBETALING`` and
    ``OPSKRIVNINGOMGJORTNEDSKRIVNINGREGULERING`` reverse the write-down ``ref_action_id``
    (an INDB payment that bounced, a REGU adjustment undone), for its exact amount."""
    if code not in (PsrmActionCode.WRITE_UP, PsrmActionCode.WRITE_UP_ANNULLED_PAYMENT,
                    PsrmActionCode.WRITE_UP_REVERSED_ADJUSTMENT):
        raise MappingError(f"{code.value} is not a write-up")
    if code is not PsrmActionCode.WRITE_UP and ref_action_id is None:
        raise MappingError(f"{code.value} names the write-down it reverses: ref_action_id")
    action, valg = _action_head(None, code, creditor_id)
    s = etree.SubElement(valg, _M + ACTION_ELEMENTS[code])
    etree.SubElement(s, Q_EFI_ID).text = efi_claim_id
    virkning = None if effective is None else effective.isoformat()
    # the reversal of a REGU write-down has its date before the reference (real order)
    if code is PsrmActionCode.WRITE_UP_ANNULLED_PAYMENT:
        etree.SubElement(s, _M + "MFAktionIDRef").text = ref_action_id
    if virkning is not None:
        etree.SubElement(s, _M + "FordringOpskrivningVirkningFra").text = virkning
    if code is PsrmActionCode.WRITE_UP_REVERSED_ADJUSTMENT:
        etree.SubElement(s, _M + "MFAktionIDRef").text = ref_action_id
    if reason_text is not None:
        etree.SubElement(etree.SubElement(s, _M + "OpskrivningÅrsagStruktur"),
                         _M + "FordringOpskrivningÅrsagBegr").text = reason_text
    b = etree.SubElement(s, _M + "OpskrivningBeløbStruktur")
    etree.SubElement(b, Q_VALUTA).text = currency
    etree.SubElement(b, _M + "FordringOpskrivningBeløb").text = _amount(amount)
    return action


def nedskrivning_annulleret_action(efi_claim_id: str, amount: Decimal, ref_action_id: str, *,
                                   creditor_id: str,
                                   code: PsrmActionCode =
                                   PsrmActionCode.WRITE_DOWN_ANNULLED_WRITE_UP,
                                   effective: date | None = None,
                                   reason_text: str | None = None,
                                   currency: str = "DKK") -> etree._Element:
    """A write-down reversing the write-up ``ref_action_id``:
    ``NEDSKRIVNINGANNULLERETOPSKRIVNINGREGULERING`` (an adjustment) or
    ``NEDSKRIVNINGANNULLERETOPSKRIVNINGINDBETALING`` (a reversed payment write-down)."""
    if code not in (PsrmActionCode.WRITE_DOWN_ANNULLED_WRITE_UP,
                    PsrmActionCode.WRITE_DOWN_ANNULLED_PAYMENT_WRITE_UP):
        raise MappingError(f"{code.value} is not a write-down annulling a write-up")
    action, valg = _action_head(None, code, creditor_id)
    s = etree.SubElement(valg, _M + ACTION_ELEMENTS[code])
    etree.SubElement(s, Q_EFI_ID).text = efi_claim_id
    etree.SubElement(s, _M + "MFAktionIDRef").text = ref_action_id
    if effective is not None:
        etree.SubElement(s, Q_NEDSKRIV_VIRKNING).text = effective.isoformat()
    if reason_text is not None:
        etree.SubElement(s, _M + "FordringNedskrivningÅrsagBegr").text = reason_text
    b = etree.SubElement(s, Q_NEDSKRIV_BELOEB_STRUKTUR)
    etree.SubElement(b, Q_VALUTA).text = currency
    etree.SubElement(b, Q_NEDSKRIV_BELOEB).text = _amount(amount)
    return action


def fejlagtig_hovedstol_action(efi_claim_id: str, principal: Decimal, *, creditor_id: str,
                               reason_text: str | None = None,
                               currency: str = "DKK") -> etree._Element:
    """``FEJLAGTIGHOVEDSTOLINDBERETNING``: the principal was reported too low; this is the
    right (higher) original amount."""
    action, valg = _action_head(None, PsrmActionCode.WRONG_PRINCIPAL, creditor_id)
    s = etree.SubElement(valg, _M + "MFFejlagtigHovedstolIndberetningStruktur")
    etree.SubElement(s, Q_EFI_ID).text = efi_claim_id
    if reason_text is not None:
        etree.SubElement(etree.SubElement(s, _M + "OpskrivningÅrsagStruktur"),
                         _M + "FordringOpskrivningÅrsagBegr").text = reason_text
    o = etree.SubElement(s, Q_OPRINDELIG_STRUKTUR)
    etree.SubElement(o, Q_VALUTA).text = currency
    etree.SubElement(o, Q_OPRINDELIG).text = _amount(principal)
    return action


def aendr_fordring_action(efi_claim_id: str, *, creditor_id: str, due: date | None = None,
                          srb: date | None = None, notes: Iterable[str] = ()
                          ) -> etree._Element:
    """``AENDRFORDRING``: new master data (due date, SRB, case notes) for an offsetting
    (MODR) claim; PSRM refuses it for recovery claims (537)."""
    action, valg = _action_head(None, PsrmActionCode.CHANGE, creditor_id)
    s = etree.SubElement(valg, _M + "MFAendrFordringStruktur")
    etree.SubElement(s, Q_EFI_ID).text = efi_claim_id
    if due is not None:
        etree.SubElement(s, Q_FORFALD).text = due.isoformat()
    if srb is not None:
        etree.SubElement(s, Q_SRB).text = srb.isoformat()
    texts = list(notes)
    if texts:
        holder = etree.SubElement(s, Q_SAGSBEM_SAMLING)
        for text in texts:
            etree.SubElement(etree.SubElement(holder, Q_NOTE), Q_NOTE_TEKST).text = text
    return action


def _request_head(tag: str, *, se_number: str, transaction_id: str,
                  transaction_time: datetime) -> etree._Element:
    """A PSRM request element up to its ``FordringhaverSystemIDStruktur``."""
    sub = etree.SubElement
    root = etree.Element(tag, nsmap=NSMAP)  # type: ignore[arg-type]
    head = sub(sub(root, Q_KONTEKST), Q_HOVEDOPLYSNINGER)
    sub(head, Q_TRANSAKTIONS_ID).text = transaction_id
    sub(head, Q_TRANSAKTIONS_TID).text = timestamp_text(transaction_time)
    sub(sub(root, Q_SYSTEM_ID), Q_SE).text = se_number
    return root


def _delivery_root(*, se_number: str, delivery_id: str, transaction_id: str,
                   transaction_time: datetime) -> tuple[etree._Element, etree._Element]:
    """An ``MFFordringIndberet_I`` up to its (empty) ``FordringAktionSamling``."""
    root = _request_head(Q_INDBERET_I, se_number=se_number, transaction_id=transaction_id,
                         transaction_time=transaction_time)
    etree.SubElement(root, Q_LEVERANCE_ID).text = delivery_id
    return root, etree.SubElement(root, Q_AKTION_SAMLING)


def kvittering_request(*, se_number: str, action_ids: Iterable[str] = (),
                       delivery_id: str | None = None, transaction_id: str | None = None,
                       transaction_time: datetime | None = None) -> etree._Element:
    """An ``MFKvitteringHent_I`` asking for the receipts of a delivery and/or actions."""
    root = _request_head(_M + "MFKvitteringHent_I", se_number=se_number,
                         transaction_id=transaction_id or _new_uuid(),
                         transaction_time=transaction_time or datetime.now(UTC))
    if delivery_id is not None:
        etree.SubElement(root, Q_LEVERANCE_ID).text = delivery_id
    ids = list(action_ids)
    if ids:
        holder = etree.SubElement(root, _M + "MFAktionIDSamling")
        for action_id in ids:
            etree.SubElement(holder, _M + "MFAktionID").text = action_id
    return root


def underret_request(*, se_number: str, after: int = 0, until: int | None = None,
                     creditor_ids: Iterable[str] = (), transaction_id: str | None = None,
                     transaction_time: datetime | None = None) -> etree._Element:
    """An ``MFUnderretSamlingHent_I`` asking for the notifications numbered after
    ``after`` (``UnderretNummerFra`` = ``after + 1``; ``UnderretNummerTil`` = ``until``),
    for the fordringshaver ids ``creditor_ids`` (all of the sender's when none)."""
    root = _request_head(_M + "MFUnderretSamlingHent_I", se_number=se_number,
                         transaction_id=transaction_id or _new_uuid(),
                         transaction_time=transaction_time or datetime.now(UTC))
    ids = list(creditor_ids)
    if ids:
        holder = etree.SubElement(root, _M + "FordringHaverSamling")
        for creditor in ids:
            etree.SubElement(holder, Q_HAVER_ID).text = creditor
    etree.SubElement(etree.SubElement(root, _M + "UnderretNummerFra"),
                     _M + "MFUnderretningNummer").text = str(after + 1)
    if until is not None:
        etree.SubElement(etree.SubElement(root, _M + "UnderretNummerTil"),
                         _M + "MFUnderretningNummer").text = str(until)
    return root


def delivery(actions: Iterable[etree._Element], *, se_number: str, delivery_id: str,
             transaction_id: str, transaction_time: datetime) -> etree._Element:
    """An ``MFFordringIndberet_I`` carrying ``actions`` (moved into it, in order)."""
    root, samling = _delivery_root(se_number=se_number, delivery_id=delivery_id,
                                   transaction_id=transaction_id,
                                   transaction_time=transaction_time)
    for action in actions:
        samling.append(action)
    if len(samling) == 0:
        raise MappingError("a delivery needs at least one action")
    return root


def _new_uuid() -> str:
    return str(uuid.uuid4())


def creditor_for(claim: Claim, creditor_ids: Mapping[str, str], default: str | None) -> str:
    """The fordringshaver id (``DMIFordringHaverID``: Gældsstyrelsen's number for the
    creditor, not its CVR) configured for the authority that owns ``claim``."""
    creditor = creditor_ids.get(claim.creditor_cvr or "") or default
    if not creditor:
        raise MappingError(
            f"claim {claim_ref(claim)!r}: no fordringshaver id (DMIFordringHaverID) is "
            f"configured for authority CVR {claim.creditor_cvr or '(none)'}: pass "
            "creditor_id or creditor_ids")
    if not CREDITOR_ID.fullmatch(creditor):
        raise MappingError(f"fordringshaver id {creditor!r} must be a number of 1 to 10 digits")
    return creditor


#: A DMIFordringHaverID: Gældsstyrelsen's number for a fordringshaver (e.g. 1229).
CREDITOR_ID = re.compile(r"[0-9]{1,10}")


def parse_creditor_ids(text: str) -> dict[str, str]:
    """``"29189846=1229,55133018=1230"`` → ``{CVR: fordringshaver id}``; ``ValueError``
    naming the item that is not ``<8-digit CVR>=<number>``."""
    out: dict[str, str] = {}
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        cvr, sep, creditor = (part.strip() for part in item.partition("="))
        if not sep or not re.fullmatch(r"[0-9]{8}", cvr) or not CREDITOR_ID.fullmatch(creditor):
            raise ValueError(f"{item!r} is not CVR=ID (8 digits = a number of 1 to 10 digits)")
        out[cvr] = creditor
    return out


def stream_deliveries(claims: Iterable[tuple[Claim, DebtorAccount | None]], *,
                      max_actions: int, se_number: str, creditor_id: str | None = None,
                      creditor_ids: Mapping[str, str] | None = None,
                      claim_types: ClaimTypeTable | None = None,
                      transaction_time: datetime | None = None,
                      delivery_prefix: str | None = None,
                      new_transaction_id: Callable[[], str] = _new_uuid,
                      ) -> Iterator[etree._Element]:
    """Yield ``MFFordringIndberet_I`` deliveries of at most ``max_actions`` OPRETFORDRING
    actions each, consuming ``claims`` only as far as the delivery being built needs.

    Each claim's ``DMIFordringHaverID`` is ``creditor_ids[claim.creditor_cvr]`` (the ØIR
    ``MyndighedCVR``), else ``creditor_id``. Deliveries are numbered ``<prefix>0001``…
    (``MFLeveranceID`` is a number, as real senders send it); the prefix defaults to the
    transaction time to the second, so two runs never reuse an MFLeveranceID.
    """
    if max_actions < 1:
        raise ValueError("max_actions must be at least 1")
    types = claim_types if claim_types is not None else _default_types()
    when = transaction_time or datetime.now(UTC)
    prefix = delivery_prefix or f"{when:%Y%m%d%H%M%S}"
    ids = creditor_ids or {}
    it = iter(claims)
    for number in itertools.count(1):
        root: etree._Element | None = None
        samling: etree._Element | None = None
        for claim, account in itertools.islice(it, max_actions):
            if root is None:
                root, samling = _delivery_root(
                    se_number=se_number, delivery_id=f"{prefix}{number:04d}",
                    transaction_id=new_transaction_id(), transaction_time=when)
            creditor = creditor_for(claim, ids, creditor_id)
            _opret_into(samling, claim, account, creditor, None, types)
        if root is None:
            return
        yield root


def serialize(element: etree._Element) -> bytes:
    """UTF-8 bytes with an XML declaration, as a delivery file or SOAP body part."""
    return etree.tostring(element, xml_declaration=True, encoding="UTF-8")


_DEFAULT_TYPES: list[ClaimTypeTable] = []


def _default_types() -> ClaimTypeTable:
    if not _DEFAULT_TYPES:
        _DEFAULT_TYPES.append(ClaimTypeTable.default())
    return _DEFAULT_TYPES[0]


# ---------------------------------------------------------------- PSRM → model

class NotificationType(StrEnum):
    """``MFUnderretTypeKode``."""

    COVERAGE = "DAEKNING"
    WRITE_OFF = "AFSKRIVNING"
    RETURN = "RETUR"


@dataclass(frozen=True, slots=True)
class PsrmNotification:
    """One ``MFUnderretStruktur``: something PSRM did to a handed-over claim.

    ``date`` is when it took effect (``DækningDato`` for coverage, else the day of
    ``MFUnderretningDatoTid``); ``notified`` is always that day.
    """

    seq_no: int
    type: NotificationType
    efi_claim_id: str
    notified: date
    date: date
    claim_ref: str | None = None
    creditor_id: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    source: str | None = None  # DækningKildeKode: INDB (collected) | MODR (PSRM's offsetting)
    reason_code: str | None = None  # AfskrivningÅrsagKode | HovedFordringReturAarsagKode
    text: str | None = None  # ReturTekst


def _body(element: etree._Element) -> etree._Element:
    """The message element itself, or the first child of a SOAP envelope's Body."""
    if element.tag in (f"{{{SOAP11_ENV_NS}}}Envelope", f"{{{SOAP12_ENV_NS}}}Envelope"):
        for ns in (SOAP11_ENV_NS, SOAP12_ENV_NS):
            body = element.find(f"{{{ns}}}Body")
            if body is not None and len(body):
                return body[0]
        raise MappingError("SOAP envelope without a body element")
    return element


def _t(e: etree._Element, tag: str) -> str | None:
    found = e.find(tag)
    return None if found is None or found.text is None else found.text.strip()


def _req(e: etree._Element, tag: str) -> str:
    value = _t(e, tag)
    if value is None:
        raise MappingError(f"{etree.QName(e).localname}: {etree.QName(tag).localname} missing")
    return value


def _opt_date(e: etree._Element, tag: str) -> date | None:
    value = _t(e, tag)
    return None if value is None else date.fromisoformat(value[:10])


def _datetime(value: str) -> datetime:
    """An ``xs:dateTime`` (or a bare date, as midnight) as PSRM writes it; the zone, when
    there is one, is kept."""
    text = value.strip().replace("Z", "+00:00")
    if "T" not in text:
        return datetime.combine(date.fromisoformat(text[:10]), datetime.min.time())
    return datetime.fromisoformat(text)


def _reasons(e: etree._Element, samling: str, item: str, number: str,
             text: str) -> list[RejectionReason]:
    return [RejectionReason(_req(r, number), _t(r, text) or "")
            for r in e.iterfind(f"{samling}/{item}")]


def decode_receipts(element: etree._Element) -> list[PsrmAction]:
    """Each ``MFAktionStruktur`` of an ``MFFordringIndberet_O`` or ``MFKvitteringHent_O``
    (or a SOAP envelope holding one) as a :class:`PsrmAction`."""
    body = _body(element)
    name = etree.QName(body).localname
    if name == "MFFordringIndberet_O":
        path = f"{_M}FordringInfo/{_M}FordringAktionStatusSamling/{_M}MFAktionStruktur"
    elif name == "MFKvitteringHent_O":
        path = f"{_M}KvitteringSamling/{_M}Kvittering/{_M}MFAktionStruktur"
    else:
        raise MappingError(f"{name} is not a PSRM receipt (MFFordringIndberet_O, "
                           "MFKvitteringHent_O)")
    out = []
    for a in body.iterfind(path):
        changed = _datetime(_req(a, _M + "MFAktionStatusÆndretDato"))
        received = _t(a, _M + "DMIFordringModtagelseDato")
        out.append(PsrmAction(
            action_id=_req(a, _M + "MFAktionID"),
            code=PsrmActionCode(_req(a, _M + "MFAktionKode")),
            creditor_id=_req(a, Q_HAVER_ID),
            status=PsrmStatus(_req(a, _M + "MFAktionStatusKode")),
            status_changed=changed,
            claim_ref=_t(a, Q_REF),
            efi_claim_id=_t(a, Q_EFI_ID),
            efi_main_claim_id=_t(a, _M + "DMIFordringEFIHovedFordringID"),
            received=None if received is None else _datetime(received),
            reasons=_reasons(a, _M + "AfvistÅrsagSamling", _M + "MFAktionAfvistStruktur",
                             _M + "MFAktionAfvistNummer", _M + "MFAktionAfvistTekst"),
        ))
    return out


def decode_notifications(element: etree._Element) -> list[PsrmNotification]:
    """Each ``MFUnderretStruktur`` of an ``MFUnderretSamlingHent_O`` (or its envelope)."""
    body = _body(element)
    if etree.QName(body).localname != "MFUnderretSamlingHent_O":
        raise MappingError(f"{etree.QName(body).localname} is not MFUnderretSamlingHent_O")
    out = []
    for u in body.iterfind(f"{_M}MFUnderretSamling/{_M}MFUnderretStruktur"):
        notified_at = _t(u, _M + "MFUnderretningDatoTid")
        if notified_at is None:
            raise MappingError("MFUnderretStruktur: MFUnderretningDatoTid missing")
        notified = _datetime(notified_at).date()
        kind = NotificationType(_req(u, _M + "MFUnderretTypeKode"))
        common: dict[str, Any] = dict(
            seq_no=int(_req(u, _M + "MFUnderretningNummer")), type=kind,
            efi_claim_id=_req(u, Q_EFI_ID), notified=notified, claim_ref=_t(u, Q_REF),
            creditor_id=_t(u, Q_HAVER_ID))
        d = u.find(_M + "MFDækningStruktur")
        a = u.find(_M + "MFAfskrivningStruktur")
        r = u.find(_M + "MFReturStruktur")
        if d is not None:
            out.append(PsrmNotification(
                **common, date=_opt_date(d, _M + "DækningDato") or notified,
                amount=money(_req(d, f"{Q_BELOEB_STRUKTUR}/{Q_BELOEB}")),
                currency=_t(d, f"{Q_BELOEB_STRUKTUR}/{Q_VALUTA}"),
                source=_t(d, _M + "DækningKildeKode")))
        elif a is not None:
            out.append(PsrmNotification(
                **common, date=notified,
                amount=money(_req(a, f"{Q_BELOEB_STRUKTUR}/{Q_BELOEB}")),
                currency=_t(a, f"{Q_BELOEB_STRUKTUR}/{Q_VALUTA}"),
                reason_code=_t(a, _M + "AfskrivningÅrsagKode")))
        elif r is not None:
            out.append(PsrmNotification(
                **common, date=notified, reason_code=_t(r, _M + "HovedFordringReturAarsagKode"),
                text=_t(r, _M + "ReturTekst")))
        else:
            raise MappingError(f"notification {common['seq_no']} carries no structure")
    return out


# ---------------------------------------------------------------- PSRM → ØIR events

class EventType(StrEnum):
    """``HaendelseTypeKode``."""

    COVERAGE = "DAEKNING"
    WRITE_OFF = "AFSKRIVNING"
    STATE = "TILSTAND"


@dataclass(frozen=True, slots=True)
class FagsystemEvent:
    """One ØIR ``Haendelse`` of ``RegistrerDaekningAfskrivningRequest``.

    ``event_id`` is derived from PSRM's own ids, so reporting the same receipt or
    notification twice gives the same ``HaendelseID`` and the fagsystem can ignore it.
    """

    event_id: str
    type: EventType
    account_number: str
    claim_id: str
    fagsystem_claim_id: str
    date: date
    amount: Decimal | None = None
    source: CoverageSource | None = None
    source_id: str | None = None
    reason_code: str | None = None
    status: ClaimState | None = None
    remaining: Decimal | None = None
    rejection_reasons: tuple[RejectionReason, ...] = field(default=())


def _event(claim: Claim, event_id: str, kind: EventType, day: date,
           **values: Any) -> FagsystemEvent:
    return FagsystemEvent(event_id=event_id, type=kind, account_number=claim.account_number,
                          claim_id=claim.id or claim_ref(claim),
                          fagsystem_claim_id=claim.fagsystem_claim_id, date=day, **values)


def state_after_receipt(claim: Claim, action: PsrmAction) -> ClaimState:
    """The claim's state once the debtor system has taken in ``action``'s receipt."""
    creates = action.code in (PsrmActionCode.CREATE, PsrmActionCode.RESUBMIT)
    if action.status is PsrmStatus.REJECTED:
        return ClaimState.REJECTED if creates else claim.state
    if creates:
        return ClaimState.HANDED_OVER
    if action.code is PsrmActionCode.RECALL and action.status is PsrmStatus.DONE:
        return ClaimState.RECALLED
    return claim.state


def events_from_receipt(claim: Claim, action: PsrmAction, *, on: date) -> list[FagsystemEvent]:
    """What the fagsystem hears of a receipt, given the claim as it was before it.

    - OPRETFORDRING/GENINDSENDFORDRING ``MODTAGET``, ``SAGSBEHANDL`` or ``UDFOERT``: one TILSTAND
      ``OVERDRAGET`` event the first time (when the claim was not handed over yet), nothing
      after — PSRM's internal progress is not the fagsystem's business;
    - ``AFVIST`` of a hand-over: TILSTAND ``AFVIST`` with PSRM's numbered reasons, every
      time (a resubmission can be rejected again for new reasons);
    - TILBAGEKALD ``UDFOERT``: TILSTAND ``TILBAGEKALDT``;
    - ``AFVIST`` of a NEDSKRIV/TILBAGEKALD: TILSTAND with the unchanged state, the action
      code as ``AarsagKode`` and the reasons (the fagsystem must know the change failed).

    ``on`` is the day the debtor system registers the change; it dates the event, since
    PSRM's status date can lie in a period the fagsystem has closed already.
    """
    after = state_after_receipt(claim, action)
    event_id = f"PSRM-{action.action_id}-{action.status.value}"
    outstanding = claim.outstanding
    if action.status is PsrmStatus.REJECTED:
        creates = action.code in (PsrmActionCode.CREATE, PsrmActionCode.RESUBMIT)
        return [_event(claim, event_id, EventType.STATE, on, status=after,
                       reason_code=None if creates else action.code.value,
                       remaining=outstanding, rejection_reasons=tuple(action.reasons))]
    if after is claim.state:
        return []
    if after is ClaimState.HANDED_OVER:
        handed = claim.psrm.amount if claim.psrm is not None else outstanding
        return [_event(claim, event_id, EventType.STATE, on, status=after, amount=handed,
                       remaining=outstanding)]
    return [_event(claim, event_id, EventType.STATE, on, status=after, remaining=outstanding)]


def events_from_notification(claim: Claim, notification: PsrmNotification
                             ) -> list[FagsystemEvent]:
    """What the fagsystem hears of a PSRM notification about ``claim`` (as it was before).

    - ``DAEKNING``: a DAEKNING event with ``Kilde=PSRM``, ``AarsagKode`` INDB (collected)
      or MODR (PSRM's own offsetting); when it covers the rest, also TILSTAND
      ``DAEKKET_PSRM``;
    - ``AFSKRIVNING``: an AFSKRIVNING event; when nothing is left, also TILSTAND
      ``AFSKREVET``;
    - ``RETUR`` (``HovedFordringReturAarsagKode``): TILSTAND ``TILBAGEKALDT`` with the code.

    ``Restbeloeb`` never goes below zero: PSRM may collect its own interest on top.
    """
    n = notification
    if n.claim_ref is not None and n.claim_ref != claim_ref(claim) \
            and find_sub_claim(claim, n.claim_ref) is None:
        raise MappingError(f"notification {n.seq_no} is about {n.claim_ref!r}, "
                           f"not claim {claim_ref(claim)!r}")
    event_id = f"PSRM-U{n.seq_no}"
    outstanding = claim.outstanding
    if n.type is NotificationType.RETURN:
        return [_event(claim, event_id, EventType.STATE, n.date, status=ClaimState.RECALLED,
                       reason_code=n.reason_code, remaining=outstanding)]
    amount = n.amount if n.amount is not None else ZERO
    remaining = max(outstanding - amount, ZERO)
    if n.type is NotificationType.COVERAGE:
        events = [_event(claim, event_id, EventType.COVERAGE, n.date, amount=amount,
                         source=CoverageSource.PSRM, source_id=event_id,
                         reason_code=n.source, remaining=remaining)]
        final = ClaimState.COVERED_BY_PSRM
    else:
        events = [_event(claim, event_id, EventType.WRITE_OFF, n.date, amount=amount,
                         reason_code=n.reason_code, remaining=remaining)]
        final = ClaimState.WRITTEN_OFF
    if remaining == ZERO and claim.state is not final:
        events.append(_event(claim, f"{event_id}-T", EventType.STATE, n.date, status=final,
                             remaining=ZERO))
    return events


def _oir_head(tag: str, *, transaction_id: str, transaction_time: datetime, authority_cvr: str,
              fagsystem_id: str) -> etree._Element:
    """An ØIR request ``tag`` headed as the debtor system's callbacks are."""
    sub = etree.SubElement
    root = etree.Element(_O + tag, nsmap=_OIR_NSMAP)  # type: ignore[arg-type]
    head = sub(root, _O + "Hovedoplysninger")
    sub(head, _O + "TransaktionsID").text = transaction_id
    sub(head, _O + "TransaktionsTid").text = timestamp_text(transaction_time)
    sub(root, _O + "MyndighedCVR").text = authority_cvr
    sub(root, _O + "FagsystemID").text = fagsystem_id
    return root


def callback_request(events: Iterable[FagsystemEvent], *, transaction_id: str,
                     transaction_time: datetime, authority_cvr: str,
                     fagsystem_id: str) -> etree._Element:
    """A ``RegistrerDaekningAfskrivningRequest`` reporting ``events`` to a fagsystem."""
    sub = etree.SubElement
    root = _oir_head("RegistrerDaekningAfskrivningRequest", transaction_id=transaction_id,
                     transaction_time=transaction_time, authority_cvr=authority_cvr,
                     fagsystem_id=fagsystem_id)
    samling = sub(root, _O + "HaendelseSamling")
    for e in events:
        h = sub(samling, _O + "Haendelse")
        sub(h, _O + "HaendelseID").text = e.event_id
        sub(h, _O + "HaendelseTypeKode").text = e.type.value
        sub(h, _O + "DebitorkontoNummer").text = e.account_number
        sub(h, _O + "FordringID").text = e.claim_id
        sub(h, _O + "FagsystemFordringID").text = e.fagsystem_claim_id
        sub(h, _O + "Dato").text = e.date.isoformat()
        if e.amount is not None:
            sub(h, _O + "Beloeb").text = _amount(e.amount)
        if e.source is not None:
            sub(h, _O + "Kilde").text = e.source.value
        if e.source_id is not None:
            sub(h, _O + "KildeID").text = e.source_id
        if e.reason_code is not None:
            sub(h, _O + "AarsagKode").text = e.reason_code
        if e.status is not None:
            sub(h, _O + "Status").text = e.status.value
        if e.remaining is not None:
            sub(h, _O + "Restbeloeb").text = _amount(e.remaining)
        if e.rejection_reasons:
            rs = sub(h, _O + "AfvistAarsagSamling")
            for r in e.rejection_reasons:
                a = sub(rs, _O + "AfvistAarsag")
                sub(a, _O + "AfvistNummer").text = r.number
                sub(a, _O + "AfvistTekst").text = r.text
    if len(samling) == 0:
        raise MappingError("a callback needs at least one event")
    return root


@dataclass(frozen=True, slots=True)
class StatusAdvice:
    """One ``StatusAdvisering`` of ``RegistrerDebitorkontoStatusRequest``: an account's status
    changed (``KONTOSTATUS``), or an anmodning performed on a later day has its result
    (``ANMODNING``, with the reasons when it was refused)."""

    advice_id: str
    kind: str  # KONTOSTATUS | ANMODNING
    account_number: str
    date: date
    account_status: str | None = None
    request_id: str | None = None
    request_kind: str | None = None
    request_status: str | None = None
    errors: tuple[tuple[str, str, str | None], ...] = ()  # (FejlKode, FejlTekst, Felt)


def status_advice_request(advice: Iterable[StatusAdvice], *, transaction_id: str,
                          transaction_time: datetime, authority_cvr: str,
                          fagsystem_id: str) -> etree._Element:
    """A ``RegistrerDebitorkontoStatusRequest``: status advice on accounts to a fagsystem."""
    sub = etree.SubElement
    root = _oir_head("RegistrerDebitorkontoStatusRequest", transaction_id=transaction_id,
                     transaction_time=transaction_time, authority_cvr=authority_cvr,
                     fagsystem_id=fagsystem_id)
    samling = sub(root, _O + "StatusAdviseringSamling")
    for a in advice:
        s = sub(samling, _O + "StatusAdvisering")
        for tag, value in (("AdviseringID", a.advice_id), ("AdviseringTypeKode", a.kind),
                           ("DebitorkontoNummer", a.account_number),
                           ("Dato", a.date.isoformat()), ("KontoStatus", a.account_status),
                           ("AnmodningID", a.request_id), ("AnmodningTypeKode", a.request_kind),
                           ("AnmodningStatus", a.request_status)):
            if value is not None:
                sub(s, _O + tag).text = value
        if a.errors:
            fs = sub(s, _O + "FejlSamling")
            for code, text, where in a.errors:
                f = sub(fs, _O + "Fejl")
                sub(f, _O + "FejlKode").text = code
                sub(f, _O + "FejlTekst").text = text[:400]
                if where:
                    sub(f, _O + "Felt").text = where
    if len(samling) == 0:
        raise MappingError("status advice needs at least one StatusAdvisering")
    return root


def fordring_til_indbetaling_request(claim: Claim, account: DebtorAccount, *,
                                     transaction_id: str, transaction_time: datetime
                                     ) -> etree._Element:
    """A ``FordringTilIndbetalingRequest``: the claim open for payment, with its invoice."""
    sub = etree.SubElement
    assert claim.id is not None and claim.invoice is not None
    root = _oir_head("FordringTilIndbetalingRequest", transaction_id=transaction_id,
                     transaction_time=transaction_time, authority_cvr=account.authority_cvr,
                     fagsystem_id=account.fagsystem_id)
    sub(root, _O + "DebitorkontoNummer").text = account.number
    party = sub(root, _O + "Debitor")
    d = account.debtor.party
    sub(party, _O + ("CPRNummer" if d.kind is PartyKind.CPR else "CVRNummer")).text = d.number
    for tag, value in (("FordringID", claim.id),
                       ("FagsystemFordringID", claim.fagsystem_claim_id),
                       ("FordringTypeKode", claim.type_code),
                       ("Restbeloeb", _amount(claim.outstanding))):
        sub(root, _O + tag).text = value
    inv = claim.invoice
    o = sub(root, _O + "Opkraevning")
    for tag, value in (("OpkraevningID", inv.id), ("FIKKortart", inv.card_type),
                       ("BetalingsID", inv.payment_id), ("KreditorNummer", inv.creditor_number),
                       ("Beloeb", _amount(inv.amount)), ("ForfaldsDato", inv.due_date.isoformat()),
                       ("SidsteRettidigeBetalingsDato", inv.srb.isoformat())):
        sub(o, _O + tag).text = value
    if inv.reminder_date is not None:
        sub(o, _O + "RykkerDato").text = inv.reminder_date.isoformat()
    if claim.sub_claims:
        ds = sub(root, _O + "DelfordringSamling")
        for s in claim.sub_claims:
            x = sub(ds, _O + "Delfordring")
            sub(x, _O + "DelfordringID").text = s.id
            sub(x, _O + "DelfordringTypeKode").text = s.type_code
            sub(x, _O + "Beloeb").text = _amount(s.amount)
            sub(x, _O + "Restbeloeb").text = _amount(s.remaining)
    return root


def decode_callback_request(element: etree._Element) -> list[FagsystemEvent]:
    """The events of a ``RegistrerDaekningAfskrivningRequest`` (the fagsystem's side)."""
    body = _body(element)
    out = []
    for h in body.iterfind(f"{_O}HaendelseSamling/{_O}Haendelse"):
        amount, source, status, remaining = (_t(h, _O + n) for n in
                                             ("Beloeb", "Kilde", "Status", "Restbeloeb"))
        day = _opt_date(h, _O + "Dato")
        assert day is not None
        out.append(FagsystemEvent(
            event_id=_req(h, _O + "HaendelseID"),
            type=EventType(_req(h, _O + "HaendelseTypeKode")),
            account_number=_req(h, _O + "DebitorkontoNummer"),
            claim_id=_req(h, _O + "FordringID"),
            fagsystem_claim_id=_req(h, _O + "FagsystemFordringID"),
            date=day,
            amount=money(amount) if amount is not None else None,
            source=CoverageSource(source) if source is not None else None,
            source_id=_t(h, _O + "KildeID"),
            reason_code=_t(h, _O + "AarsagKode"),
            status=ClaimState(status) if status is not None else None,
            remaining=money(remaining) if remaining is not None else None,
            rejection_reasons=tuple(_reasons(h, _O + "AfvistAarsagSamling", _O + "AfvistAarsag",
                                             _O + "AfvistNummer", _O + "AfvistTekst")),
        ))
    return out


# ---------------------------------------------------------------- the field map

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


# ---------------------------------------------------------------- `oir map`

class MapInputError(ValueError):
    """An input the mapper cannot take, with where it is (``file:line``)."""


#: Show a progress bar (on a terminal) from this many input items on.
PROGRESS_MIN_ITEMS = 200

_Q_OPRET_REQUEST = _O + "OpretFordringRequest"

#: JSON lines: keys of the ``Fordring`` structure, in XSD order.
_JSON_CLAIM_KEYS = ("FagsystemFordringID", "FordringTypeKode", "FordringArt", "Beskrivelse",
                    "ValutaKode", "Hovedstol", "PeriodeFra", "PeriodeTil", "StiftelsesDato",
                    "ForfaldsDato", "SidsteRettidigeBetalingsDato", "ForaeldelsesDato",
                    "DomsDato", "ForligsDato", "ModregningTilladt")
_JSON_SUB_KEYS = ("DelfordringTypeKode", "Beloeb", "PeriodeFra", "PeriodeTil", "StiftelsesDato")
_JSON_KEYS = frozenset(("TransaktionsID", "TransaktionsTid", "MyndighedCVR", "FagsystemID",
                        "DebitorkontoNummer", "Debitor", "FordringID", "Restbeloeb",
                        "HaefterSamling", "DelfordringSamling") + _JSON_CLAIM_KEYS)

Item = tuple[Claim, DebtorAccount | None, str]  # claim, account, where it came from


def _json_text(value: object, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        raise MapInputError(f"{where}: {value!r} is a float; write amounts as strings "
                            "(\"12.50\") so they stay øre-exact")
    if isinstance(value, int | str):
        return str(value)
    raise MapInputError(f"{where}: expected a string, got {type(value).__name__}")


def _json_party(parent: etree._Element, obj: object, where: str) -> None:
    if not isinstance(obj, dict):
        raise MapInputError(f"{where}: expected an object with CPRNummer or CVRNummer")
    part = etree.SubElement(parent, _O + "Part")
    for key in ("CPRNummer", "CVRNummer"):
        if key in obj:
            etree.SubElement(part, _O + key).text = _json_text(obj[key], f"{where}.{key}")
            return
    raise MapInputError(f"{where}: needs CPRNummer or CVRNummer")


def request_from_json(obj: dict[str, Any], *, where: str = "",
                      default_time: datetime | None = None) -> etree._Element:
    """An ``OpretFordringRequest`` element from one JSON lines object (ØIR field names,
    the ``Fordring`` fields flattened to the top level; see docs/mapping.md)."""
    unknown = sorted(set(obj) - _JSON_KEYS)
    if unknown:
        raise MapInputError(f"{where}: unknown field(s) {', '.join(unknown)}")
    sub = etree.SubElement
    root = etree.Element(_Q_OPRET_REQUEST, nsmap=_OIR_NSMAP)  # type: ignore[arg-type]
    head = sub(root, _O + "Hovedoplysninger")
    sub(head, _O + "TransaktionsID").text = _json_text(obj.get("TransaktionsID") or _new_uuid(),
                                                       f"{where}.TransaktionsID")
    when = obj.get("TransaktionsTid") or (default_time or datetime.now(UTC)).isoformat()
    sub(head, _O + "TransaktionsTid").text = _json_text(when, f"{where}.TransaktionsTid")
    for key in ("MyndighedCVR", "FagsystemID", "DebitorkontoNummer"):
        if key in obj:
            sub(root, _O + key).text = _json_text(obj[key], f"{where}.{key}")
    f = sub(root, _O + "Fordring")
    for key in _JSON_CLAIM_KEYS:
        if obj.get(key) is not None:
            sub(f, _O + key).text = _json_text(obj[key], f"{where}.{key}")
    haeftere = obj.get("HaefterSamling") or []
    subs = obj.get("DelfordringSamling") or []
    if not isinstance(haeftere, list) or not isinstance(subs, list):
        raise MapInputError(f"{where}: HaefterSamling and DelfordringSamling must be lists")
    if haeftere:
        hs = sub(f, _O + "HaefterSamling")
        for n, h in enumerate(haeftere, start=1):
            he = sub(hs, _O + "Haefter")
            _json_party(he, h, f"{where}.HaefterSamling[{n}]")
            if h.get("Navn"):
                sub(he, _O + "Navn").text = _json_text(h["Navn"], f"{where}.HaefterSamling[{n}]")
    if subs:
        ds = sub(f, _O + "DelfordringSamling")
        for n, d in enumerate(subs, start=1):
            w = f"{where}.DelfordringSamling[{n}]"
            if not isinstance(d, dict):
                raise MapInputError(f"{w}: expected an object")
            extra = sorted(set(d) - set(_JSON_SUB_KEYS) - {"Restbeloeb"})
            if extra:
                raise MapInputError(f"{w}: unknown field(s) {', '.join(extra)}")
            de = sub(ds, _O + "Delfordring")
            for key in _JSON_SUB_KEYS:
                if d.get(key) is not None:
                    sub(de, _O + key).text = _json_text(d[key], f"{w}.{key}")
    return root


def _remaining(value: object, total: Decimal, where: str) -> Decimal:
    try:
        amount = money(_json_text(value, where))
    except MoneyError as exc:
        raise MapInputError(f"{where}: {exc}") from exc
    if not ZERO <= amount <= total:
        raise MapInputError(f"{where}: {amount} is not between 0.00 and {total}")
    return amount


def _account_from_json(obj: dict[str, Any], where: str) -> DebtorAccount | None:
    debitor = obj.get("Debitor")
    if debitor is None:
        return None
    if not isinstance(debitor, dict):
        raise MapInputError(f"{where}.Debitor: expected an object")
    if "CPRNummer" in debitor:
        party = Party.cpr(_json_text(debitor["CPRNummer"], f"{where}.Debitor.CPRNummer"))
    elif "CVRNummer" in debitor:
        party = Party.cvr(_json_text(debitor["CVRNummer"], f"{where}.Debitor.CVRNummer"))
    else:
        raise MapInputError(f"{where}.Debitor: needs CPRNummer or CVRNummer")
    if not re.fullmatch(r"[0-9]{10}" if party.kind is PartyKind.CPR else r"[0-9]{8}",
                        party.number):
        raise MapInputError(f"{where}.Debitor: {party.kind.value} number must be "
                            f"{10 if party.kind is PartyKind.CPR else 8} digits")
    number = str(obj.get("DebitorkontoNummer", ""))
    return DebtorAccount(
        number=number, fagsystem_reference=number,
        debtor=Debtor(party=party, name=str(debitor.get("Navn", ""))),
        account_type=AccountType.PERSON if party.kind is PartyKind.CPR else AccountType.COMPANY,
        authority_cvr=str(obj.get("MyndighedCVR", "")), fagsystem_id=str(obj.get("FagsystemID", "")))


def _decode_request(element: etree._Element, where: str, today: date,
                    claim_id: str = "") -> Claim:
    from .codecs import DecodeError, decode_opret_fordring

    violations = validate_element(element)
    if violations:
        more = f" (+{len(violations) - 1} more)" if len(violations) > 1 else ""
        raise MapInputError(f"{where}: {violations[0]}{more}")
    try:
        return decode_opret_fordring(element, received=today, claim_id=claim_id).claim
    except (DecodeError, MoneyError) as exc:
        raise MapInputError(f"{where}: {exc}") from exc


def _json_items(path: Path, today: date) -> Iterator[Item]:
    with path.open(encoding="utf-8") as lines:
        for line_no, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_no}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise MapInputError(f"{where}: invalid JSON: {exc.msg}") from exc
            if not isinstance(obj, dict):
                raise MapInputError(f"{where}: expected one JSON object per line")
            element = request_from_json(obj, where=where,
                                        default_time=datetime.combine(today, datetime.min.time()))
            claim = _decode_request(element, where, today, str(obj.get("FordringID") or ""))
            if obj.get("Restbeloeb") is not None:
                claim.remaining_principal = _remaining(obj["Restbeloeb"], claim.principal,
                                                       f"{where}.Restbeloeb")
            for n, (sc, d) in enumerate(zip(claim.sub_claims, obj.get("DelfordringSamling") or [],
                                            strict=True), start=1):
                if d.get("Restbeloeb") is not None:
                    sc.remaining = _remaining(d["Restbeloeb"], sc.amount,
                                              f"{where}.DelfordringSamling[{n}].Restbeloeb")
            yield claim, _account_from_json(obj, where), where


def _xml_item(path: Path, today: date) -> Item:
    where = str(path)
    try:
        root = etree.parse(str(path), safe_parser()).getroot()
    except etree.XMLSyntaxError as exc:
        raise MapInputError(f"{where}:{exc.lineno}: not well-formed XML: {exc.msg}") from exc
    try:
        element = _body(root)
    except MappingError as exc:
        raise MapInputError(f"{where}: {exc}") from exc
    if element.tag != _Q_OPRET_REQUEST:
        raise MapInputError(f"{where}: expected an ØIR OpretFordringRequest, found "
                            f"{etree.QName(element).localname}")
    return _decode_request(element, where, today), None, where


def _is_json_lines(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(512).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"{")


def _source_files(source: Path) -> list[Path]:
    if not source.is_dir():
        return [source]
    files = sorted(p for p in source.rglob("*")
                   if p.is_file() and p.suffix.lower() in (".xml", ".jsonl", ".ndjson", ".json"))
    if not files:
        raise MapInputError(f"{source}: no .xml or .jsonl files in this folder")
    return files


def read_source(source: Path, *, today: date) -> Iterator[Item]:
    """Claims from one request file (SOAP envelope or bare element), a JSON lines file, or
    a folder of either, lazily and in file order."""
    for path in _source_files(source):
        if _is_json_lines(path):
            yield from _json_items(path, today)
        else:
            yield _xml_item(path, today)


def _count_items(files: list[Path]) -> int:
    total = 0
    for path in files:
        if _is_json_lines(path):
            with path.open("rb") as f:
                total += sum(1 for line in f if line.strip())
        else:
            total += 1
    return total


def run_map(source: Path, *, out: Path | None, max_actions: int, se_number: str, today: date,
            creditor_id: str | None = None, creditor_ids: Mapping[str, str] | None = None,
            claim_types: ClaimTypeTable | None = None) -> int:
    """``oir map``: ØIR OpretFordring requests → validated ``MFFordringIndberet_I`` files.

    One delivery goes to ``out`` (a ``.xml`` file) or stdout; several need a folder and are
    written as ``delivery-0001.xml``…. Every delivery is checked against the PSRM XSD
    before it is written; on any error nothing of this run is left behind and the exit
    code is 1.
    """
    import click
    from rich.console import Console
    from rich.progress import Progress

    def fail(message: str) -> int:
        click.echo(f"error: {message}", err=True)
        return 1

    if not re.fullmatch(r"[0-9]{8}", se_number):
        return fail(f"--se-number {se_number!r} must be 8 digits")
    folder_mode = out is not None and (out.is_dir() or out.suffix.lower() != ".xml")
    if folder_mode:
        assert out is not None
        if out.exists() and any(out.glob("delivery-*.xml")):
            return fail(f"{out} already holds delivery files; choose an empty folder")
    written: list[Path] = []
    pending: bytes | None = None
    counted = 0
    deliveries = 0
    current = ["(start)"]
    try:
        files = _source_files(source)
        total = _count_items(files)
        console = Console(stderr=True)
        show = console.is_terminal and total >= PROGRESS_MIN_ITEMS
        with Progress(console=console, disable=not show, transient=True) as progress:
            task = progress.add_task("mapping", total=total)

            def claims() -> Iterator[tuple[Claim, DebtorAccount | None]]:
                nonlocal counted
                for claim, account, where in read_source(source, today=today):
                    current[0] = where
                    counted += 1
                    progress.advance(task)
                    yield claim, account

            stream = stream_deliveries(
                claims(), max_actions=max_actions, se_number=se_number,
                creditor_id=creditor_id, creditor_ids=creditor_ids, claim_types=claim_types,
                transaction_time=datetime.combine(today, datetime.now(UTC).time(), UTC))
            for element in stream:
                deliveries += 1
                violations = validate_element(element)
                if violations:
                    more = f" (+{len(violations) - 1} more)" if len(violations) > 1 else ""
                    raise MapInputError(f"delivery {deliveries} fails the PSRM schema: "
                                        f"{violations[0]}{more}")
                data = serialize(element)
                if folder_mode:
                    assert out is not None
                    out.mkdir(parents=True, exist_ok=True)
                    target = out / f"delivery-{deliveries:04d}.xml"
                    target.write_bytes(data)
                    written.append(target)
                elif pending is not None:
                    raise MapInputError(
                        f"more than {max_actions} claims make several deliveries; "
                        "pass --out FOLDER (or a larger --max-actions)")
                else:
                    pending = data
    except MapInputError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        return fail(str(exc))
    except MappingError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        return fail(f"{current[0]}: {exc}")
    if counted == 0:
        return fail(f"{source}: no claims")
    if pending is not None:
        if out is None:
            sys.stdout.flush()
            sys.stdout.buffer.write(pending)
            sys.stdout.buffer.flush()
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(pending)
    target_text = "stdout" if out is None else str(out)
    click.echo(f"mapped {counted} claim(s) into {deliveries} deliver"
               f"{'y' if deliveries == 1 else 'ies'} → {target_text}", err=True)
    return 0


if __name__ == "__main__":  # python -m oir_adapter.mapping --write-docs
    if sys.argv[1:] == ["--write-docs"]:
        doc = Path(__file__).resolve().parent.parent / "docs" / "mapping.md"
        print("updated" if update_doc(doc) else "up to date", doc)
    else:
        print("usage: python -m oir_adapter.mapping --write-docs", file=sys.stderr)
        raise SystemExit(2)
