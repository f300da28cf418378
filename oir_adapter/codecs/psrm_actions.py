"""ØIR claims → PSRM ``FordringAktion`` trees and ``MF*_I`` requests, in exactly the
element order of ``xsd/psrm/MF.xsd`` (the order real fordringshaver systems send).
Deliveries stream lazily: a bulk hand-over never holds more than one in memory.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal

from lxml import etree

from oir_adapter.codecs.writing import timestamp_text
from oir_adapter.contracts import (
    KONTEKST_NS,
    OIR_NS,
    PSRM_NS,
)
from oir_adapter.domain.actions import ACTION_ELEMENTS
from oir_adapter.domain.handover import (
    MappingError,
    claim_ref,
    creditor_for,
    default_claim_types,
    liable_parties,
    resolve_art,
    sub_claim_ref,
    trace_notes,
)
from oir_adapter.domain.model import (
    ZERO,
    Claim,
    ClaimArt,
    DebtorAccount,
    Party,
    PartyKind,
    PsrmActionCode,
    RecallReason,
    WriteDownReason,
    money,
)
from oir_adapter.domain.tables import ClaimTypeTable

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


def amount_text(value: Decimal) -> str:
    """An amount as PSRM's decimal text; øre-exact or refused, never rounded."""
    if value.as_tuple().exponent != -2:
        value = money(value)
    return str(value)



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
    sub(b, Q_BELOEB).text = amount_text(amount)
    if period is not None:
        p = sub(s, Q_PERIODE)
        sub(p, Q_PERIODE_FRA).text = period[0].isoformat()
        sub(p, Q_PERIODE_TIL).text = period[1].isoformat()
    if original is not None:
        o = sub(s, Q_OPRINDELIG_STRUKTUR)
        sub(o, Q_VALUTA).text = currency
        sub(o, Q_OPRINDELIG).text = amount_text(original)


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
                       claim_types if claim_types is not None else default_claim_types())


def genindsend_action(claim: Claim, account: DebtorAccount | None, *, creditor_id: str,
                      efi_claim_id: str | None = None, art: ClaimArt | None = None,
                      claim_types: ClaimTypeTable | None = None) -> etree._Element:
    """A ``GENINDSENDFORDRING`` action: the corrected claim sent again after a recall
    (with PSRM's claim id when PSRM had given one)."""
    resolved = resolve_art(claim, art, claim_types if claim_types is not None
                           else default_claim_types())
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
    etree.SubElement(b, Q_NEDSKRIV_BELOEB).text = amount_text(amount)
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
    etree.SubElement(b, _M + "FordringOpskrivningBeløb").text = amount_text(amount)
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
    etree.SubElement(b, Q_NEDSKRIV_BELOEB).text = amount_text(amount)
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
    etree.SubElement(o, Q_OPRINDELIG).text = amount_text(principal)
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
                         transaction_id=transaction_id or new_uuid(),
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
                         transaction_id=transaction_id or new_uuid(),
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


def new_uuid() -> str:
    return str(uuid.uuid4())


def stream_deliveries(claims: Iterable[tuple[Claim, DebtorAccount | None]], *,
                      max_actions: int, se_number: str, creditor_id: str | None = None,
                      creditor_ids: Mapping[str, str] | None = None,
                      claim_types: ClaimTypeTable | None = None,
                      transaction_time: datetime | None = None,
                      delivery_prefix: str | None = None,
                      new_transaction_id: Callable[[], str] = new_uuid,
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
    types = claim_types if claim_types is not None else default_claim_types()
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
