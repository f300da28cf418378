"""The front-door rule catalogue (docs/design.md#front-door-rules): the rules as data, and the validators.

One catalogue serves the ØIR ``OpretFordring``/``RetFordringTilstand`` checks, the PSRM
emulator's indgangsfilter, ``oir validate`` and the generated ``docs/rules.md``, so a rule
is described once and every user reports it the same way.

Each :class:`Rule` names a *logical field* (``principal``, ``srb``…); :data:`FIELD_PATHS`
says where that field lives in each message format, so a :class:`Violation` points at the
element the sender must fix:

- ØIR paths are relative to the request body element (``Fordring/Hovedstol`` in an
  ``OpretFordringRequest``, ``Nedskriv/Beloeb`` in a ``RetFordringTilstandRequest``).
- PSRM paths are relative to the action structure under ``AktionValg``
  (``OpretFordringAktion``, ``GenindsendFordringAktion``, ``NedskrivFordringAktion``…),
  so ``../../DMIFordringHaverID`` is the action's own fordringshaver id;
  :func:`validate_action` returns them relative to the ``FordringAktion``.
- ``{n}`` in a path is the 1-based position of a sub-claim or a liable party.

A rule whose field has no place in a format (the reminder date is not part of a PSRM
delivery) cannot be judged from that format and is skipped there. A ``warning`` is
reported but must not refuse a message; every ``error`` refuses it.

Validators report **every** violation at once. Context the callers own (agreements,
known debtors, action ids already seen, whether this is a hand-over) comes in a
:class:`RuleContext`; rules that need context nobody gave (``agreements=None``,
``known_debtor=None``) do not fire.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import Literal

from oir_adapter.domain.actions import ActionRequest
from oir_adapter.domain.bankdays import next_bank_day
from oir_adapter.domain.identifiers import is_valid_cpr, is_valid_cvr
from oir_adapter.domain.model import (
    CLOSED_STATES,
    Claim,
    ClaimArt,
    ClaimKind,
    ClaimState,
    Party,
    PartyKind,
    PsrmActionCode,
)
from oir_adapter.domain.tables import BenefitTable, ClaimTypeTable

Severity = Literal["error", "warning"]
Format = Literal["oir", "psrm"]
Lang = Literal["da", "en"]

# ---------------------------------------------------------------- contexts

OIR_CREATE = "oir.OpretFordring"
OIR_STATE = "oir.RetFordringTilstand"
PSRM_FILTER = "psrm.indgangsfilter"
HANDOVER = "handover"
OIR_SERVICE = "oir.service"
PSRM_END = "psrm.end"

#: Where a rule applies, and what that means.
CONTEXTS: dict[str, str] = {
    OIR_CREATE: "ØIR OpretFordring: the debtor system's front door for a new claim",
    OIR_STATE: "ØIR RetFordringTilstand: cancel, write down, deferral, hand-over, recall",
    PSRM_FILTER: "PSRM indgangsfilter: every action of an MFFordringIndberet delivery",
    HANDOVER: ("hand-over to PSRM: RetFordringTilstand/Overdrag, the debtor system's "
               "automatic hand-over, and PSRM's check of a received claim"),
    OIR_SERVICE: ("every ØIR operation: the request's references (account, claim, payment, "
                  "payout) and idempotency keys checked against the debtor system's ledger"),
    PSRM_END: ("PSRM's checks of an action against its own state and the action's shape "
               "(the emulator's PSRM end)"),
}

#: Claims under this amount (with their sub-claims) may not be handed over (PSRM 215).
LOWER_LIMIT = Decimal("100.00")

_O, _S, _P, _H, _V, _E = OIR_CREATE, OIR_STATE, PSRM_FILTER, HANDOVER, OIR_SERVICE, PSRM_END


# ---------------------------------------------------------------- the catalogue

@dataclass(frozen=True, slots=True)
class Rule:
    """One front-door rule. ``text_da``/``text_en`` are ``str.format`` templates filled with
    the offending values; ``field`` is the logical field (a key of :data:`FIELD_PATHS`)."""

    id: str
    psrm_number: str | None
    severity: Severity
    text_da: str
    text_en: str
    field: str
    applies_to: frozenset[str]
    source: str
    #: PSRM's own rejection text, answered in ``MFAktionAfvistTekst`` as PSRM words it
    #: (``text_da`` then only serves ØIR answers and reports, with the offending values).
    psrm_text: str | None = None

    @property
    def code(self) -> str:
        """The number PSRM answers with: its published number, else our id."""
        return self.psrm_number or self.id


@dataclass(frozen=True, slots=True)
class FieldPaths:
    """Where one logical field lives in each message format (``None``: not carried)."""

    oir: str | None
    psrm: str | None

    def of(self, fmt: Format) -> str | None:
        return self.oir if fmt == "oir" else self.psrm


_F = "Fordring"
_S_ = "MFOpretFordringStruktur"
_H_ = f"{_S_}/FordringHæftelseSamling/MFHæftelseStruktur"
_U_ = "OpretUnderfordringSamling/MFOpretRelateretFordringStruktur[{n}]"
_D_ = f"{_F}/DelfordringSamling/Delfordring[{{n}}]"

#: Logical field → path per format (see the module docstring for what paths are relative to).
FIELD_PATHS: dict[str, FieldPaths] = {
    "claim": FieldPaths(_F, _S_),
    "claim_ref": FieldPaths(f"{_F}/FagsystemFordringID", f"{_S_}/DMIFordringFordringHaverRef"),
    "creditor": FieldPaths("MyndighedCVR", "../../DMIFordringHaverID"),
    "type_code": FieldPaths(f"{_F}/FordringTypeKode", f"{_S_}/DMIFordringTypeKode"),
    "art": FieldPaths(f"{_F}/FordringArt", f"{_S_}/DMIFordringFordringArtKode"),
    "currency": FieldPaths(f"{_F}/ValutaKode", f"{_S_}/FordringBeløbStruktur/ValutaKode"),
    "principal": FieldPaths(f"{_F}/Hovedstol", f"{_S_}/FordringBeløbStruktur/DMIFordringBeløb"),
    "period_from": FieldPaths(f"{_F}/PeriodeFra",
                              f"{_S_}/FordringPeriodeStruktur/DMIFordringPeriodeFraDato"),
    "period_to": FieldPaths(f"{_F}/PeriodeTil",
                            f"{_S_}/FordringPeriodeStruktur/DMIFordringPeriodeTilDato"),
    "founded": FieldPaths(f"{_F}/StiftelsesDato", f"{_S_}/DMIFordringStiftelseTidspunkt"),
    "due_date": FieldPaths(f"{_F}/ForfaldsDato", f"{_S_}/DMIFordringForfaldDato"),
    "srb": FieldPaths(f"{_F}/SidsteRettidigeBetalingsDato", f"{_S_}/DMIFordringSRBDato"),
    "limitation_date": FieldPaths(f"{_F}/ForaeldelsesDato", f"{_H_}/HæftelseForældelseDato"),
    "judgment_date": FieldPaths(f"{_F}/DomsDato", f"{_H_}[{{n}}]/HæftelseDomDato"),
    "settlement_date": FieldPaths(f"{_F}/ForligsDato", f"{_H_}[{{n}}]/HæftelseForligDato"),
    "judgment": FieldPaths(None, f"{_H_}[{{n}}]/HæftelseDom"),
    "notes": FieldPaths(None, "{structure}SagsbemærkningSamling/MFNoteStruktur[{n}]/MFNoteTekst"),
    "offsetting_allowed": FieldPaths(f"{_F}/ModregningTilladt", None),
    "co_liable": FieldPaths(f"{_F}/HaefterSamling", f"{_S_}/FordringHæftelseSamling"),
    "co_liable.cpr": FieldPaths(f"{_F}/HaefterSamling/Haefter[{{n}}]/Part/CPRNummer",
                                f"{_H_}[{{n}}]/MFKundeStruktur/Valg/PersonCPRNummer"),
    "co_liable.cvr": FieldPaths(f"{_F}/HaefterSamling/Haefter[{{n}}]/Part/CVRNummer",
                                f"{_H_}[{{n}}]/MFKundeStruktur/Valg/VirksomhedCVRNummer"),
    "sub_claims.type_code": FieldPaths(f"{_D_}/DelfordringTypeKode", f"{_U_}/DMIFordringTypeKode"),
    "sub_claims.amount": FieldPaths(f"{_D_}/Beloeb",
                                    f"{_U_}/FordringBeløbStruktur/DMIFordringBeløb"),
    "sub_claims.period_from": FieldPaths(
        f"{_D_}/PeriodeFra", f"{_U_}/FordringPeriodeStruktur/DMIFordringPeriodeFraDato"),
    # Known to the debtor system, not sent in a claim message:
    "reminder_date": FieldPaths("Opkraevning/RykkerDato", None),
    "deferral_until": FieldPaths("Henstand/HenstandTilDato", None),
    # State changes (RetFordringTilstandRequest) and PSRM's non-claim actions:
    "claim_id": FieldPaths("FordringID", "DMIFordringEFIFordringID"),
    "handover.art": FieldPaths("Overdrag/FordringArt", None),
    "write_down.amount": FieldPaths("Nedskriv/Beloeb", None),
    # the other actions' fields: {structure} is the element's path in its structure
    "change.amount": FieldPaths(None, "{structure}"),
    "change.currency": FieldPaths(None, "{structure}"),
    "change.reason": FieldPaths(None, "{structure}"),
    "change.ref": FieldPaths(None, "MFAktionIDRef"),
    "action_id": FieldPaths("Hovedoplysninger/TransaktionsID", "{structure}MFAktionID"),
    "effective_date": FieldPaths("Nedskriv/VirkningsDato", "{structure}"),
    # Service-level references of the other ØIR operations:
    "transaction_id": FieldPaths("Hovedoplysninger/TransaktionsID",
                                 "../../../Kontekst/HovedOplysninger/TransaktionsID"),
    "account_number": FieldPaths("DebitorkontoNummer", None),
    "account_reference": FieldPaths("FagsystemReference", None),
    "debtor.cpr": FieldPaths("Debitor/Part/CPRNummer", None),
    "debtor.cvr": FieldPaths("Debitor/Part/CVRNummer", None),
    "payment": FieldPaths("Indbetaling", None),
    "payment.id": FieldPaths("Indbetaling/IndbetalingID", None),
    "payment.amount": FieldPaths("Indbetaling/Beloeb", None),
    "payment.payment_id": FieldPaths("Indbetaling/BetalingsID", None),
    "payment.claim_id": FieldPaths("Indbetaling/FordringID", None),
    "benefit.id": FieldPaths("Ydelsesudbetaling/YdelsesudbetalingID", None),
    "benefit.type": FieldPaths("Ydelsesudbetaling/YdelsesTypeKode", None),
    "benefit.gross": FieldPaths("Ydelsesudbetaling/Bruttobeloeb", None),
    "benefit.protected": FieldPaths("Ydelsesudbetaling/BeskyttetBeloeb", None),
    "search.token": FieldPaths("FortsaettelsesToken", None),
    # The end-date operations (Afslut…) and the anmodninger (OpretDebitorkontoAnmodning):
    "end.party": FieldPaths("Part", None),
    "end.date": FieldPaths("SlutDato", None),
    "request.id": FieldPaths("AnmodningID", None),
    "move.account": FieldPaths("FlytFordring/TilDebitorkontoNummer", None),
    "move.claim": FieldPaths("FlytFordring/FordringID", None),
    "move.sub_claim": FieldPaths("FlytDelfordring/DelfordringID", None),
    "move.target_claim": FieldPaths("FlytDelfordring/TilFordringID", None),
    "account.status": FieldPaths("AendrKontostatus/KontoStatus", None),
    # PSRM's checks of an action's shape (paths relative to the structure under AktionValg):
    "action_code": FieldPaths(None, "../../MFAktionKode"),
    "action": FieldPaths(None, "."),
}

_PSRM_SRC = ("PSRM rejection no. {}; number and text as published in PSRM's rule classes "
             "(extracted in mfhens/opendebt, rules-dmn/fordring-rules-decision-table.csv)")
_PSRM_600_SRC = ("PSRM rejection no. 600; text as PSRM answers it (firasEFI/pocps, "
                 "ic-integration-tests …/receiveclaim/ReceiveClaimNegativeTest.java)")
_STRUCTURE = "; the action code and the structure under AktionValg disagree, or it is empty"


def _r(id: str, psrm: str | None, da: str, en: str, fld: str, applies: set[str], source: str,
       severity: Severity = "error", psrm_text: str | None = None) -> Rule:
    return Rule(id, psrm, severity, da, en, fld, frozenset(applies),
                source.format(psrm) if psrm else source, psrm_text)


def _missing(number: str, code: str, structure: str, text: str) -> Rule:
    return _r(f"PSRM-{number}", number, text, f"{code}: {structure} is missing", "action",
              {_P}, _PSRM_SRC + _STRUCTURE, psrm_text=text)


RULES: tuple[Rule, ...] = (
    # -------- PSRM's published rejection numbers
    _r("PSRM-2", "2", "Fordringshaver {creditor} har ingen fordringshaveraftale",
       "Creditor {creditor} has no creditor agreement (fordringshaveraftale)",
       "creditor", {_P}, _PSRM_SRC + "; fires only when agreements are installed "
       "(docs/design.md#agreements)", psrm_text="Fordringhaveraftale findes ikke"),
    _r("PSRM-5", "5", "Skyldner {party} er ukendt", "Debtor {party} is unknown",
       "co_liable.cpr", {_P}, _PSRM_SRC + "; checked only when the caller knows the debtors",
       psrm_text="Skyldner der er angivet findes ikke"),
    _r("PSRM-151", "151",
       "Fordringstype {type_code} er ikke tilladt i fordringshaveraftalen for {creditor}",
       "Claim type {type_code} is not allowed by the creditor agreement of {creditor}",
       "type_code", {_P}, _PSRM_SRC + "; fires only when agreements are installed "
       "(docs/design.md#agreements)",
       psrm_text="Der må ikke indberettes på denne DMIFordringTypeKode ifølge "
                 "fordringhaveraftale"),
    _r("PSRM-152", "152", "Valutakoden skal være DKK (modtaget: {currency})",
       "Currency must be DKK (got {currency})", "currency", {_O, _P}, _PSRM_SRC,
       psrm_text="Der må ikke indberettes på denne ValutaKode ifølge fordringhaveraftale"),
    _r("PSRM-215", "215",
       "Beløbet {amount} kr. er ikke større end den nedre grænse på {limit} kr. for "
       "overdragelse",
       "Amount {amount} DKK is not above the lower limit of {limit} DKK for hand-over",
       "principal", {_H}, _PSRM_SRC + "; the limit itself (100.00) is rejected",
       psrm_text="Fordringsbeløb ikke større end nedre grænse"),
    _r("PSRM-220", "220", "Sagsbemærkning nr. {n} har ikke noget indhold",
       "Case note no. {n} has no content", "notes", {_P}, _PSRM_SRC,
       psrm_text="Sagsbemærkninger på fordringen har ikke noget indhold"),
    _r("PSRM-227", "227", "En opskrivning på 0 kr. er ikke mulig",
       "A write-up of 0 DKK is not possible", "change.amount", {_P}, _PSRM_SRC,
       psrm_text="Korrektion på kr. 0 ikke muligt"),
    _missing("403", "GENINDSENDFORDRING", "MFGenindsendFordringStruktur",
             "AktionKode er GenindsendFordring men MFGenindsendFordringStruktur mangler"),
    _missing("404", "OPSKRIVNINGREGULERING", "MFOpskrivningReguleringStruktur",
             "AktionKode er OpskrivningRegulering men MFOpskrivningReguleringStruktur mangler"),
    _missing("406", "OPSKRIVNINGANNULLERETNEDSKRIVNINGINDBETALING",
             "MFOpskrivningAnnulleretNedskrivningIndbetalingStruktur",
             "AktionKode er OpskrivningAnnulleretNedskrivningIndbetaling men struktur mangler"),
    _missing("407", "OPSKRIVNINGOMGJORTNEDSKRIVNINGREGULERING",
             "MFOpskrivningOmgjortNedskrivningReguleringStruktur",
             "AktionKode er OpskrivningOmgjortNedskrivningRegulering men struktur mangler"),
    _r("PSRM-408", "408", "Nedskrivningsbeløbet skal være større end 0 (modtaget: {amount})",
       "The write-down amount must be above 0 (got {amount})", "change.amount", {_P},
       _PSRM_SRC, psrm_text="Nedskrivningsbeløb skal være større end 0"),
    _missing("412", "NEDSKRIVNINGANNULLERETOPSKRIVNINGREGULERING",
             "MFNedskrivningAnnulleretOpskrivningReguleringStruktur",
             "AktionKode er NedskrivningAnnulleretReguleringOpskrivning men struktur mangler"),
    _missing("444", "OPRETFORDRING", "MFOpretFordringStruktur",
             "AktionKode er MFOpretFordring men MFOpretFordringStruktur mangler"),
    _missing("447", "NEDSKRIV", "MFNedskrivFordringStruktur",
             "AktionKode er MFNedskrivFordring men MFNedskrivFordringStruktur mangler"),
    _missing("448", "TILBAGEKALD", "MFTilbagekaldFordringStruktur",
             "AktionKode er MFTilbagekaldFordring men MFTilbagekaldFordringStruktur mangler"),
    _missing("458", "AENDRFORDRING", "MFAendrFordringStruktur",
             "AktionKode er MFAendrFordring men MFAendrFordringStruktur mangler"),
    _r("PSRM-469", "469", "Opskrivningsbeløbet {amount} er forskelligt fra nedskrivningen "
       "{referenced} på aktion {ref}",
       "The write-up {amount} differs from the write-down {referenced} of action {ref}",
       "change.amount", {_E}, _PSRM_SRC,
       psrm_text="FordringOpskrivningBeløb må ikke være forskellig fra "
                 "FordringNedskrivningBeløb på MFAktionIDRef"),
    _r("PSRM-471", "471", "Nedskrivningen {ref} har årsagskode {reason}, ikke INDB",
       "Write-down {ref} has reason {reason}, not INDB", "change.ref", {_E}, _PSRM_SRC,
       psrm_text="For OpskrivningAnnulleretNedskrivningIndbetaling aktioner skal "
                 "FordringNedskrivningÅrsagKode være INDB"),
    _r("PSRM-473", "473", "Aktion {ref} er en {code}, ikke en nedskrivning",
       "Action {ref} is a {code}, not a write-down", "change.ref", {_E}, _PSRM_SRC,
       psrm_text="For OpskrivningAnnulleretNedskrivningIndbetaling aktioner skal "
                 "MFAktionIDRef pege på nedskriv aktion"),
    _r("PSRM-477", "477", "Nedskrivningen {ref} har årsagskode {reason}, ikke REGU",
       "Write-down {ref} has reason {reason}, not REGU", "change.ref", {_E}, _PSRM_SRC,
       psrm_text="For OpskrivningOmgjortNedskrivningRegulering aktioner må "
                 "FordringNedskrivningÅrsagKode være REGU"),
    _r("PSRM-486", "486", "Fordringshaverreferencen {ref} er allerede brugt",
       "The creditor's reference {ref} is already in use", "claim_ref", {_P}, _PSRM_SRC,
       psrm_text="FordringshaverRefID er ikke entydig"),
    _r("PSRM-494", "494", "Aktion {ref} vedrører fordring {referenced}, ikke {efi}",
       "Action {ref} is about claim {referenced}, not {efi}", "change.ref", {_E},
       _PSRM_SRC, psrm_text="Det angivne fordringsID på aktionen matcher ikke det "
                            "fordringsID på den refererede aktion"),
    _r("PSRM-496", "496", "Fordring {efi} er {state}; den kan ikke opskrives",
       "Claim {efi} is {state}; it cannot be written up", "claim_id", {_E}, _PSRM_SRC,
       psrm_text="Opskrivningen må ikke vedrøre en oprindelig fordring som er "
                 "tilbagesendt tilbagekaldt eller returneret"),
    _r("PSRM-498", "498", "Fordring {efi} er {state}; den kan ikke nedskrives",
       "Claim {efi} is {state}; it cannot be written down", "claim_id", {_E}, _PSRM_SRC,
       psrm_text="Nedskrivningen må ikke vedrøre et fordringsID som er tilbagesendt "
                 "tilbagekaldt eller returneret"),
    _r("PSRM-502", "502", "Aktion {ref} er en {code}, ikke en opskrivning (regulering)",
       "Action {ref} is a {code}, not a write-up (adjustment)", "change.ref", {_E},
       _PSRM_SRC, psrm_text="Den angivne ModtagFordringAktionIdentifikatorReference skal "
                            "være OpskrivningRegulering eller OONR"),
    _r("PSRM-503", "503", "Aktion {ref} er allerede annulleret af aktion {by}",
       "Action {ref} is already annulled by action {by}", "change.ref", {_E}, _PSRM_SRC,
       psrm_text="Systemet har allerede modtaget en annullering for nedskriv/opskriv "
                 "aktionen som ikke er AFVIST"),
    _r("PSRM-504", "504", "Nedskrivningsbeløbet {amount} er forskelligt fra opskrivningen "
       "{referenced} på aktion {ref}",
       "The write-down {amount} differs from the write-up {referenced} of action {ref}",
       "change.amount", {_E}, _PSRM_SRC,
       psrm_text="FordringNedskrivningBeløb skal være lig med FordringOpskrivningsBeløb i "
                 "ref aktion"),
    _missing("505", "NEDSKRIVNINGANNULLERETOPSKRIVNINGINDBETALING",
             "MFNedskrivningAnnulleretOpskrivningIndbetalingStruktur",
             "Aktionstype er NedskrivningAnnulleretOpskrivningIndbetaling men struktur er "
             "ikke udfyldt"),
    _r("PSRM-506", "506", "Aktion {ref} er en {code}, ikke en "
       "OPSKRIVNINGANNULLERETNEDSKRIVNINGINDBETALING",
       "Action {ref} is a {code}, not an OPSKRIVNINGANNULLERETNEDSKRIVNINGINDBETALING",
       "change.ref", {_E}, _PSRM_SRC,
       psrm_text="Den angivne ModtagFordringAktionIdentifikatorReference skal være af "
                 "typen OANI"),
    _r("PSRM-509", "509", "Fordringen {efi} er ukendt i PSRM for SE-nummer {se}",
       "Claim {efi} is unknown in PSRM for SE number {se}", "claim_id", {_E}, _PSRM_SRC,
       psrm_text="Den angivne FordringID er ikke kendt af systemet"),
    _r("PSRM-510", "510", "Den nye hovedstol {amount} er ikke højere end {previous}",
       "The new principal {amount} is not above {previous}", "change.amount", {_E},
       _PSRM_SRC, psrm_text="Den angivne hovedstol er lavere eller ens med den tidligere "
                            "angivne hovedstol"),
    _missing("517", "FEJLAGTIGHOVEDSTOLINDBERETNING",
             "MFFejlagtigHovedstolIndberetningStruktur",
             "AktionKode er MFAendrFordring men FejlagtigHovedstolIndberetningStruktur mangler"),
    _r("PSRM-519", "519", "En nedskrivning med årsagskode REGU må ikke have en virkningsdato",
       "A write-down with reason REGU must not carry an effective date", "effective_date",
       {_P}, _PSRM_SRC, psrm_text="Der må ikke medsendes en virkningsdato for nedskrivninger "
                                  "med årssagskode REGU"),
    _r("PSRM-526", "526", "Aktion {ref} findes ikke", "Action {ref} does not exist",
       "change.ref", {_E}, _PSRM_SRC, psrm_text="Aktion udpeget af AktionIDRef findes ikke"),
    _r("PSRM-527", "527", "MFAktionIDRef mangler: aktionen annullerer en tidligere aktion",
       "MFAktionIDRef is missing: the action annuls an earlier one", "change.ref", {_P},
       _PSRM_SRC, psrm_text="Systemet kender det angivne FordringID men MFAktionIDRef er "
                            "ikke udfyldt"),
    _r("PSRM-528", "528", "Hæfter nr. {n} ({party}) er angivet mere end én gang",
       "Liable party no. {n} ({party}) is given more than once", "co_liable", {_P},
       _PSRM_SRC, psrm_text="Der kan ikke indberettes en fordring med mere end en hæfter "
                            "hvor hæfteren er den samme"),
    _r("PSRM-531", "531", "Hæftelse nr. {n}: HæftelseDom er true, men HæftelseDomDato mangler",
       "Liability no. {n}: HæftelseDom is true but HæftelseDomDato is missing",
       "judgment", {_P}, _PSRM_SRC,
       psrm_text="Aktionen har et HaeftelseDomId men ingen HaeftelseDomDato"),
    _r("PSRM-532", "532", "Hæftelse nr. {n}: HæftelseDom er ikke true, men HæftelseDomDato "
       "er angivet",
       "Liability no. {n}: HæftelseDom is not true but HæftelseDomDato is given",
       "judgment_date", {_P}, _PSRM_SRC,
       psrm_text="Aktionen har ikke et HaeftelseDomId men har alligevel en HaeftelseDomDato"),
    _r("PSRM-533", "533", "Dato for dom eller forlig {date} ligger i fremtiden",
       "Judgment or settlement date {date} is in the future", "judgment_date", {_O, _P},
       _PSRM_SRC, psrm_text="Domsdato eller Forligsdato kan ikke være i fremtiden"),
    _r("PSRM-537", "537", "Fordring {efi} er en inddrivelsesfordring (INDR); den kan ikke "
       "ændres med AENDRFORDRING",
       "Claim {efi} is a recovery claim (INDR); AENDRFORDRING cannot change it",
       "claim_id", {_E}, _PSRM_SRC, psrm_text="Det må ikke indberettes FordringAendr "
                                              "aktioner på inddrivelsesfordringer"),
    _r("PSRM-539", "539", "Fordring {efi} er {state} med årsag {reason}; den kan ikke "
       "genindsendes",
       "Claim {efi} is {state} with reason {reason}; it cannot be resubmitted",
       "claim_id", {_E}, _PSRM_SRC,
       psrm_text="Aktionen kan ikke genindsendes da fordringen er returneret eller "
                 "tilbagekaldt med andet end HENS KLAG BORD eller HAFT"),
    _r("PSRM-540", "540", "Fordring {efi} er ikke tilbagekaldt (status {state})",
       "Claim {efi} is not recalled (status {state})", "claim_id", {_E}, _PSRM_SRC,
       psrm_text="Aktionen kan ikke genindsendes da fordringen ikke er tilbagekaldt"),
    _r("PSRM-546", "546", "En tilbagekaldelse med årsag FEJL må ikke have en virkningsdato",
       "A recall with reason FEJL must not carry an effective date", "effective_date",
       {_P}, _PSRM_SRC, psrm_text="Virkningsdato må ikke være udfyldt"),
    _r("PSRM-548", "548", "Virkningsdatoen {date} ligger i fremtiden",
       "Effective date {date} is in the future", "effective_date", {_S, _P}, _PSRM_SRC,
       psrm_text="Den angivne virkningsdato må ikke være fremtidig"),
    _r("PSRM-568", "568", "Datoen {date} ligger før år 1900",
       "The date {date} is before the year 1900", "founded", {_O, _P}, _PSRM_SRC,
       psrm_text="Der kan ikke indberettes datoer der ligger før år 1900"),
    _r("PSRM-569", "569", "Periode fra {period_from} ligger efter periode til {period_to}",
       "Period from {period_from} is after period to {period_to}", "period_from", {_O, _P},
       _PSRM_SRC, psrm_text="PeriodeFra må ikke være efter PeriodeTil"),
    _r("PSRM-571", "571", "Årsagskode FAST kan ikke bruges på fordring {efi} i PSRM",
       "Reason FAST cannot be used on claim {efi} in PSRM", "change.reason", {_E},
       _PSRM_SRC, psrm_text="Årsagskode FAST må ikke bruges til fordringer der er sendt "
                            "til inddrivelse i PSRM"),
    _r("PSRM-574", "574", "Fordringstype {type_code} er ikke aktiv",
       "Claim type {type_code} is inactive", "type_code", {_O, _P, _H},
       _PSRM_SRC + "; claim type table (docs/design.md#tables)",
       psrm_text="Fordringstypen er inaktiv i PSRM og afvises"),
    _r("PSRM-600", "600", "Aktions-ID {action_id} findes allerede",
       "Action id {action_id} already exists", "action_id", {_P},
       _PSRM_600_SRC + "; also a TransaktionsID reused with another body "
       "(docs/design.md#idempotency)",
       psrm_text="AktionId eksisterer allerede i PSRM"),
    _r("PSRM-602", "602", "Fordring {efi} er allerede {state}",
       "Claim {efi} is already {state}", "claim_id", {_E}, _PSRM_SRC,
       psrm_text="Fordringen er allerede tilbagekaldt/tilbagesend med årsagskode FEJL "
                 "eller returneret"),
    # -------- our own: claim content
    _r("OIR-101", None,
       "Sidste rettidige betalingsdato {srb} er ikke overskredet (betaling rettidig til og med "
       "{deadline}, vurderet {today})",
       "The last timely payment date (SRB) {srb} has not passed (payment on time up to "
       "{deadline}, judged {today})",
       "srb", {_H}, "docs/design.md#hand-over (hand-over after SRB); an SRB on a bank closing day moves "
                    "to the next bank day"),
    _r("OIR-102", None, "Stiftelsesdato {founded} ligger efter forfaldsdato {due_date}",
       "Founding date {founded} is after due date {due_date}", "founded", {_O, _P},
       "docs/design.md#front-door-rules (date consistency)"),
    _r("OIR-103", None,
       "Forfaldsdato {due_date} ligger efter sidste rettidige betalingsdato {srb}",
       "Due date {due_date} is after the last timely payment date (SRB) {srb}", "due_date",
       {_O, _P}, "docs/design.md#front-door-rules (date consistency)"),
    _r("OIR-104", None, "Fordringen er forældet (forældelsesdato {limitation_date})",
       "The claim is time-barred (limitation date {limitation_date})", "limitation_date",
       {_O, _P, _H}, "Forældelsesloven (lov nr. 522 af 6. juni 2007)"),
    _r("OIR-105", None, "CPR-nummer {number} er ugyldigt (format eller fødselsdato)",
       "CPR number {number} is not valid (format or birth date)", "co_liable.cpr", {_O, _P},
       "CPR: ten digits with a real birth date; modulus 11 not required since 2007 "
       "(python-stdnum dk.cpr)"),
    _r("OIR-106", None, "CVR-nummer {number} er ugyldigt (format eller modulus 11)",
       "CVR number {number} is not valid (format or modulus 11)", "co_liable.cvr", {_O, _P},
       "CVR: eight digits, modulus 11 (python-stdnum dk.cvr)"),
    _r("OIR-107", None,
       "Delfordring {n} har fordringstype {type_code}; delfordringer må kun være renter "
       "eller gebyrer",
       "Sub-claim {n} has claim type {type_code}; sub-claims may only carry interest or fees",
       "sub_claims.type_code", {_O, _P}, "docs/design.md#the-øir-services (interest/fee sub-claims); docs/design.md#tables"),
    _r("OIR-108", None, "Beløbet skal være positivt (modtaget: {amount})",
       "The amount must be positive (got {amount})", "principal", {_O, _P, _S},
       "docs/design.md#front-door-rules"),
    _r("OIR-109", None,
       "Rykkerproceduren er ikke gennemført før overdragelse (rykkerdato: {reminder_date}, "
       "SRB: {srb})",
       "The reminder procedure was not completed before hand-over (reminder date: "
       "{reminder_date}, SRB: {srb})",
       "reminder_date", {_H}, "docs/design.md#hand-over (hand-over after the reminder was sent)"),
    _r("OIR-110", None, "Modregning er ikke tilladt for fordringen (ModregningTilladt=false)",
       "Offsetting is not allowed for this claim (ModregningTilladt=false)",
       "offsetting_allowed", {_O, _H}, "docs/design.md#offsetting-order-and-limits (ModregningTilladt=false is never offset)"),
    _r("OIR-111", None, "Ydelsestype {benefit_type} må ikke modregnes i fordringstype {type_code}",
       "Benefit type {benefit_type} may not be offset against claim type {type_code}",
       "type_code", {_O, _P, _H}, "docs/design.md#tables (benefit-type × claim-type table)"),
    _r("OIR-112", None, "Fordringen har henstand til og med {deferral_until}",
       "The claim has a deferral until {deferral_until}", "deferral_until", {_H},
       "docs/design.md#offsetting-order-and-limits (a claim with deferral is neither offset nor handed over)"),
    _r("OIR-113", None, "Fordringstype {type_code} er ukendt", "Claim type {type_code} is unknown",
       "type_code", {_O, _P, _H}, "Claim type table (docs/design.md#tables)"),
    _r("OIR-114", None,
       "Fordringsart {art} er ikke tilladt for fordringstype {type_code} (tilladt: {allowed})",
       "Claim art {art} is not allowed for claim type {type_code} (allowed: {allowed})",
       "art", {_O, _P, _H}, "Claim type table, allowed art INDR/MODR (docs/design.md#tables, #hand-over)"),
    _r("OIR-115", None, "Perioden begynder i fremtiden ({period_from})",
       "The period starts in the future ({period_from})", "period_from", {_O, _P},
       "docs/design.md#front-door-rules; a warning, since e.g. day care is billed in advance", severity="warning"),
    _r("OIR-116", None, "Fordringen har ingen hæfter", "The claim has no liable party (hæfter)",
       "co_liable", {_P}, "docs/design.md#the-psrm-services (FordringHæftelseSamling)"),
    _r("OIR-117", None, "Hovedfordringens type {type_code} er en rente- eller gebyrtype",
       "Main claim type {type_code} is an interest or fee type", "type_code", {_O, _P},
       "Claim type table, kind (docs/design.md#tables)"),
    _r("OIR-118", None, "Stiftelsesdato {founded} ligger i fremtiden",
       "Founding date {founded} is in the future", "founded", {_O, _P}, "docs/design.md#front-door-rules"),
    # -------- our own: state changes (RetFordringTilstand)
    _r("OIR-201", None, "Fordringen er lukket (status {state}); {change} er ikke mulig",
       "The claim is closed (state {state}); {change} is not possible", "claim_id", {_S, _E},
       "ClaimState (model): BETALT, ANNULLERET, AFSKREVET and DAEKKET_PSRM are final"),
    _r("OIR-202", None,
       "Fordringen er overdraget til PSRM og skal tilbagekaldes før {change}",
       "The claim is with PSRM and must be recalled before {change}", "claim_id", {_S},
       "docs/design.md#the-øir-services (recall from PSRM); docs/design.md#the-psrm-services (TILBAGEKALD)"),
    _r("OIR-203", None, "Nedskrivningen {amount} er større end restbeløbet {outstanding}",
       "The write-down {amount} is larger than the outstanding amount {outstanding}",
       "write_down.amount", {_S, _E}, "docs/design.md#coverage-order (øre-exact; nothing is lost)"),
    _r("OIR-204", None, "Henstandsdatoen {deferral_until} ligger ikke i fremtiden",
       "The deferral date {deferral_until} is not in the future", "deferral_until", {_S},
       "docs/design.md#the-øir-services (deferral)"),
    _r("OIR-205", None, "Fordringen er allerede overdraget til PSRM",
       "The claim has already been handed over to PSRM", "claim_id", {_S},
       "docs/design.md#hand-over"),
    _r("OIR-206", None,
       "Fordringen er ikke overdraget til PSRM og kan ikke tilbagekaldes (status {state})",
       "The claim is not with PSRM and cannot be recalled (state {state})", "claim_id", {_S, _E},
       "docs/design.md#the-øir-services (recall from PSRM)"),
    # -------- our own: service-level checks of the ØIR operations
    _r("OIR-301", None, "Debitorkonto {account} findes ikke hos myndigheden",
       "Debtor account {account} does not exist for this authority", "account_number", {_V},
       "docs/design.md#the-øir-services; an account of another authority is reported as unknown"),
    _r("OIR-302", None, "Fordring {claim_id} findes ikke hos myndigheden",
       "Claim {claim_id} does not exist for this authority", "claim_id", {_V, _S},
       "docs/design.md#the-øir-services"),
    _r("OIR-303", None,
       "FagsystemFordringID {ref} er allerede registreret på kontoen med et andet indhold",
       "FagsystemFordringID {ref} is already registered on the account with other content",
       "claim_ref", {_V, _O}, "docs/design.md#the-øir-services (idempotent registration)"),
    _r("OIR-304", None, "IndbetalingID {payment} er allerede brugt med et andet indhold",
       "IndbetalingID {payment} was already used with other content", "payment.id", {_V},
       "docs/design.md#the-øir-services (ForetagIndbetaling is idempotent on IndbetalingID)"),
    _r("OIR-305", None, "YdelsesudbetalingID {benefit} er allerede brugt med et andet indhold",
       "YdelsesudbetalingID {benefit} was already used with other content", "benefit.id", {_V},
       "docs/design.md#the-øir-services (ForetagModregning is idempotent on YdelsesudbetalingID)"),
    _r("OIR-306", None,
       "Indbetalingen kan ikke placeres: angiv DebitorkontoNummer, BetalingsID, FordringID "
       "eller en kendt indbetaler",
       "The payment cannot be placed: give DebitorkontoNummer, BetalingsID, FordringID or a "
       "known payer", "payment", {_V}, "docs/design.md#the-øir-services (surplus is reported, never lost)"),
    _r("OIR-307", None, "BetalingsID {payment_id} er ukendt",
       "Payment id (FIK) {payment_id} is unknown", "payment.payment_id", {_V},
       "docs/design.md#the-øir-services (opkrævning with FIK/OCR payment id)"),
    _r("OIR-308", None, "Ydelsestype {benefit_type} er ukendt",
       "Benefit type {benefit_type} is unknown", "benefit.type", {_V},
       "Benefit-type table (docs/design.md#tables)"),
    _r("OIR-309", None,
       "Det beskyttede beløb {protected} skal ligge mellem 0 og bruttobeløbet {gross}",
       "The protected amount {protected} must lie between 0 and the gross amount {gross}",
       "benefit.protected", {_V}, "docs/design.md#offsetting-order-and-limits (never more than gross minus protected)"),
    _r("OIR-310", None, "Fortsættelsestokenet er ugyldigt",
       "The continuation token is not valid", "search.token", {_V},
       "docs/design.md#the-øir-services (paged search with a continuation token)"),
    _r("OIR-311", None, "Debitor {number} er ugyldig (CPR/CVR)",
       "Debtor {number} is not valid (CPR/CVR)", "debtor.cpr", {_V},
       "python-stdnum dk.cpr / dk.cvr, as OIR-105/OIR-106"),
    _r("OIR-312", None,
       "FagsystemReference {reference} er allerede brugt for en anden debitor",
       "FagsystemReference {reference} is already used for another debtor",
       "account_reference", {_V}, "docs/design.md#the-øir-services (OpretDebitorkonto is idempotent on the "
       "fagsystem's reference)"),
    _r("OIR-313", None, "Debitorkonto {account} har ingen {what_da} for {party}",
       "Debtor account {account} has no {what_en} for {party}", "end.party", {_V},
       "docs/contracts.md (end-date operations: only an object the account holds can end)"),
    _r("OIR-314", None, "{what_da} er allerede afsluttet pr. {ended}",
       "{what_en} was already ended on {ended}", "end.date", {_V},
       "docs/contracts.md (end-date operations: an end date, once given, stands)"),
    _r("OIR-315", None,
       "Hæftelsen for kontoens egen debitor på fordring {claim_id} afsluttes ikke med "
       "AfslutHæftelse; annullér eller nedskriv fordringen",
       "The liability of the account's own debtor for claim {claim_id} is not ended with "
       "AfslutHæftelse; cancel or write down the claim", "end.party", {_V},
       "docs/contracts.md (AfslutHæftelse ends a co-liable party's liability)"),
    _r("OIR-316", None, "AnmodningID {request_id} er allerede brugt med et andet indhold",
       "AnmodningID {request_id} was already used with other content", "request.id", {_V},
       "docs/contracts.md (OpretDebitorkontoAnmodning is idempotent on AnmodningID)"),
    _r("OIR-317", None, "Debitorkonto {account} er lukket",
       "Debtor account {account} is closed", "account_number", {_V},
       "docs/contracts.md (a closed account takes no new claims)"),
    _r("OIR-318", None,
       "Debitorkonto {account} kan ikke lukkes: der står {amount} åbent på den",
       "Debtor account {account} cannot be closed: {amount} is still open on it",
       "account.status", {_V}, "docs/contracts.md (AENDR_KONTOSTATUS closes a settled account)"),
    _r("OIR-319", None, "Delfordring {sub_claim_id} findes ikke på en anden fordring på kontoen",
       "Sub-claim {sub_claim_id} is not on another claim of the account", "move.sub_claim",
       {_V}, "docs/contracts.md (FLYT_DELFORDRING moves sub-claims between claims of one "
       "account)"),
    _r("OIR-320", None,
       "Kontoens {total} ville blive {amount} kr., mere end de {limit} kr. et ØIR-svar kan "
       "rumme",
       "The account's {total} would become {amount} DKK, more than the {limit} DKK an ØIR "
       "reply can hold", "principal", {_V},
       "ØIR's BeloebType (docs/contracts.md#conventions: 15 digits, 2 of them decimals): "
       "the account must stay readable by HentDebitorkonto and SoegDebitorkonto"),
    # -------- our own: PSRM's checks against its own state
    _r("OIR-403", None, "Feltet kan ikke læses: {message}",
       "The field cannot be read: {message}", "action", {_E},
       "docs/design.md#requests-and-faults (bad input gets a clear error naming the field)"),
)

RULES_BY_ID: dict[str, Rule] = {r.id: r for r in RULES}


def rule(rule_id: str) -> Rule:
    """The rule with this id (``KeyError`` if there is none)."""
    return RULES_BY_ID[rule_id]


# ---------------------------------------------------------------- violations

@dataclass(frozen=True, slots=True)
class Violation:
    """One rule broken by one message: which rule, where (path in the message format), and
    the rule's texts filled with the offending values."""

    rule: Rule
    path: str
    message_da: str
    message_en: str
    field: str

    @property
    def rule_id(self) -> str:
        return self.rule.id

    @property
    def psrm_number(self) -> str | None:
        return self.rule.psrm_number

    @property
    def severity(self) -> Severity:
        return self.rule.severity

    def to_fejl(self) -> tuple[str, str, str]:
        """``(FejlKode, FejlTekst, Felt)`` for an ØIR ``Fejl``: our id, Danish text (the
        schema allows 400 characters), path."""
        return self.rule.id, self.message_da[:400], self.path

    def to_afvist(self) -> tuple[str, str]:
        """``(MFAktionAfvistNummer, MFAktionAfvistTekst)`` for PSRM: the published number
        and PSRM's own text (else our id and Danish text), 1000 characters at most. The
        path is not part of the text: it goes to the journal beside it."""
        return self.rule.code, (self.rule.psrm_text or self.message_da)[:1000]

    def with_prefix(self, prefix: str) -> Violation:
        """The same violation with ``prefix`` put before its path (``..`` resolved)."""
        if not prefix or self.path.startswith("/"):
            return self
        joined = posixpath.normpath(f"{prefix.rstrip('/')}/{self.path}") if self.path else prefix
        return replace(self, path=joined)

    def __str__(self) -> str:
        return f"{self.rule.id} {self.path}: {self.message_en}"


_STATE_CHANGE_LABELS: dict[str, tuple[str, str]] = {
    "Annuller": ("annullering", "cancellation"),
    "Nedskriv": ("nedskrivning", "write-down"),
    "Henstand": ("henstand", "deferral"),
    "Overdrag": ("overdragelse", "hand-over"),
    "Tilbagekald": ("tilbagekaldelse", "recall"),
}


def _show(value: object, lang: Lang) -> str:
    """A value as a message shows it: dates ISO, amounts øre-exact, CPR masked."""
    if value is None:
        return "ingen" if lang == "da" else "none"
    if isinstance(value, StateChangeKind):
        da, en = _STATE_CHANGE_LABELS[value.value]
        return da if lang == "da" else en
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        text = f"{value:.2f}"
        return text.replace(".", ",") if lang == "da" else text
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Party):
        return str(value)
    if isinstance(value, frozenset | set | tuple | list):
        return ", ".join(sorted(_show(v, lang) for v in value))
    return str(value)


class _Values(dict[str, str]):
    """Template values; a placeholder nobody filled shows as ``?`` instead of raising."""

    def __missing__(self, key: str) -> str:
        return "?"


def violation(rule_id: str, *, fmt: Format, field: str | None = None, n: int | None = None,
              structure: str | None = None, **values: object) -> Violation:
    """Build a violation of ``rule_id`` for a check made outside this module (e.g. PSRM 600
    on a repeated TransaktionsID): ``field`` defaults to the rule's, ``n``/``structure``
    fill the path template, ``values`` the texts."""
    return _violation(RULES_BY_ID[rule_id], fmt, field, n, structure, values)


def _violation(r: Rule, fmt: Format, field: str | None, n: int | None, structure: str | None,
               values: Mapping[str, object]) -> Violation:
    fld = field or r.field
    template = FIELD_PATHS[fld].of(fmt) or ""
    path = template.format(n=n if n is not None else "", structure=structure or "")
    path = path.replace("[]", "")  # a per-item path judged for the claim as a whole
    filled = {"n": n, **values}
    return Violation(
        rule=r,
        path=path,
        message_da=r.text_da.format_map(_Values({k: _show(v, "da") for k, v in filled.items()})),
        message_en=r.text_en.format_map(_Values({k: _show(v, "en") for k, v in filled.items()})),
        field=fld,
    )


# ---------------------------------------------------------------- context

@dataclass(frozen=True)
class RuleContext:
    """What a check needs beyond the claim itself; the caller (emulator, CLI) owns it.

    ``agreements``: fordringshaver id → allowed type codes; ``None`` = none installed, so
    rules 2 and 151 never fire. ``creditor_id``: the fordringshaver being judged (default:
    the claim's ``creditor_cvr``). ``known_debtor``: ``None`` = rule 5 is not checked.
    ``handover``: also run the hand-over rules (SRB passed, reminder sent, lower limit…).
    ``benefit_type``: judge offsetting against this benefit type. ``seen_refs``: the
    fordringshaver references already in use (rule 486); ``seen_action_ids``: the
    MFAktionIDs already in use (rule 600).
    """

    claim_types: ClaimTypeTable = field(default_factory=ClaimTypeTable.default)
    agreements: Mapping[str, frozenset[str]] | None = None
    creditor_id: str | None = None
    known_debtor: Callable[[Party], bool] | None = None
    handover: bool = False
    benefit_type: str | None = None
    benefit_table: BenefitTable = field(default_factory=BenefitTable.default)
    seen_refs: Collection[str] = frozenset()
    seen_action_ids: Collection[str] = frozenset()
    lower_limit: Decimal = LOWER_LIMIT


# ---------------------------------------------------------------- claim checks

@dataclass(frozen=True, slots=True)
class _Env:
    today: date
    context: RuleContext
    art: ClaimArt | None  # the art being judged: the claim's, or the one Overdrag asks for


@dataclass(frozen=True, slots=True)
class _Hit:
    field: str
    values: Mapping[str, object]
    n: int | None = None


_Check = Callable[[Claim, _Env], Iterator[_Hit]]


def _party_field(party: Party) -> str:
    return "co_liable.cpr" if party.kind is PartyKind.CPR else "co_liable.cvr"


def _creditor(claim: Claim, env: _Env) -> str:
    return env.context.creditor_id or claim.creditor_cvr or ""


def _no_agreement(claim: Claim, env: _Env) -> Iterator[_Hit]:
    agreements = env.context.agreements
    creditor = _creditor(claim, env)
    if agreements is not None and creditor not in agreements:
        yield _Hit("creditor", {"creditor": creditor})


def _type_not_agreed(claim: Claim, env: _Env) -> Iterator[_Hit]:
    agreements = env.context.agreements
    creditor = _creditor(claim, env)
    if agreements is not None and creditor in agreements \
            and claim.type_code not in agreements[creditor]:
        yield _Hit("type_code", {"type_code": claim.type_code, "creditor": creditor})


def _debtor_unknown(claim: Claim, env: _Env) -> Iterator[_Hit]:
    known = env.context.known_debtor
    if known is None:
        return
    for n, liable in enumerate(claim.co_liable, start=1):
        if not known(liable.party):
            yield _Hit(_party_field(liable.party), {"party": liable.party}, n)


def _currency(claim: Claim, env: _Env) -> Iterator[_Hit]:
    if claim.currency != "DKK":
        yield _Hit("currency", {"currency": claim.currency})


def _below_limit(claim: Claim, env: _Env) -> Iterator[_Hit]:
    if claim.outstanding <= env.context.lower_limit:  # "not above": the limit itself fails
        yield _Hit("principal", {"amount": claim.outstanding, "limit": env.context.lower_limit})


def _period_reversed(claim: Claim, env: _Env) -> Iterator[_Hit]:
    if claim.period_from > claim.period_to:
        yield _Hit("period_from", {"period_from": claim.period_from, "period_to": claim.period_to})
    for n, sub in enumerate(claim.sub_claims, start=1):
        if sub.period_from and sub.period_to and sub.period_from > sub.period_to:
            yield _Hit("sub_claims.period_from",
                       {"period_from": sub.period_from, "period_to": sub.period_to}, n)


def _judgment_future(claim: Claim, env: _Env) -> Iterator[_Hit]:
    for fld, day in (("judgment_date", claim.judgment_date),
                     ("settlement_date", claim.settlement_date)):
        if day is not None and day > env.today:
            yield _Hit(fld, {"date": day})


def _type_inactive(claim: Claim, env: _Env) -> Iterator[_Hit]:
    types = env.context.claim_types
    known = types.get(claim.type_code)
    if known is not None and not known.active:
        yield _Hit("type_code", {"type_code": claim.type_code})
    for n, sub in enumerate(claim.sub_claims, start=1):
        t = types.get(sub.type_code)
        if t is not None and not t.active:
            yield _Hit("sub_claims.type_code", {"type_code": sub.type_code}, n)


def _ref_seen(claim: Claim, env: _Env) -> Iterator[_Hit]:
    if claim.fagsystem_claim_id in env.context.seen_refs:
        yield _Hit("claim_ref", {"ref": claim.fagsystem_claim_id})


#: PSRM takes no date before this (rule 568).
PSRM_EARLIEST_DATE = date(1900, 1, 1)


def _before_1900(claim: Claim, env: _Env) -> Iterator[_Hit]:
    for fld in ("founded", "due_date", "srb", "period_from", "period_to", "limitation_date",
                "judgment_date", "settlement_date"):
        day = getattr(claim, fld)
        if day is not None and day < PSRM_EARLIEST_DATE:
            yield _Hit(fld, {"date": day})
    for n, sub in enumerate(claim.sub_claims, start=1):
        if sub.period_from is not None and sub.period_from < PSRM_EARLIEST_DATE:
            yield _Hit("sub_claims.period_from", {"date": sub.period_from}, n)


def _same_liable(claim: Claim, env: _Env) -> Iterator[_Hit]:
    seen: set[Party] = set()
    for n, liable in enumerate(claim.co_liable, start=1):
        if liable.party in seen:
            yield _Hit(_party_field(liable.party), {"party": liable.party}, n)
        seen.add(liable.party)


def _srb_not_passed(claim: Claim, env: _Env) -> Iterator[_Hit]:
    deadline = next_bank_day(claim.srb)
    if env.today <= deadline:
        yield _Hit("srb", {"srb": claim.srb, "deadline": deadline, "today": env.today})


def _founded_after_due(claim: Claim, env: _Env) -> Iterator[_Hit]:
    if claim.founded > claim.due_date:
        yield _Hit("founded", {"founded": claim.founded, "due_date": claim.due_date})


def _due_after_srb(claim: Claim, env: _Env) -> Iterator[_Hit]:
    if claim.due_date > claim.srb:
        yield _Hit("due_date", {"due_date": claim.due_date, "srb": claim.srb})


def _time_barred(claim: Claim, env: _Env) -> Iterator[_Hit]:
    if claim.limitation_date is not None and claim.limitation_date < env.today:
        yield _Hit("limitation_date", {"limitation_date": claim.limitation_date})


def _bad_cpr(claim: Claim, env: _Env) -> Iterator[_Hit]:
    for n, liable in enumerate(claim.co_liable, start=1):
        p = liable.party
        if p.kind is PartyKind.CPR and not is_valid_cpr(p.number, today=env.today):
            yield _Hit("co_liable.cpr", {"number": p.masked()}, n)


def _bad_cvr(claim: Claim, env: _Env) -> Iterator[_Hit]:
    for n, liable in enumerate(claim.co_liable, start=1):
        p = liable.party
        if p.kind is PartyKind.CVR and not is_valid_cvr(p.number):
            yield _Hit("co_liable.cvr", {"number": p.number}, n)


def _sub_claim_principal(claim: Claim, env: _Env) -> Iterator[_Hit]:
    for n, sub in enumerate(claim.sub_claims, start=1):
        t = env.context.claim_types.get(sub.type_code)
        if t is not None and t.kind is ClaimKind.PRINCIPAL:
            yield _Hit("sub_claims.type_code", {"type_code": sub.type_code}, n)


def _not_positive(claim: Claim, env: _Env) -> Iterator[_Hit]:
    if claim.principal <= 0:
        yield _Hit("principal", {"amount": claim.principal})
    for n, sub in enumerate(claim.sub_claims, start=1):
        if sub.amount <= 0:
            yield _Hit("sub_claims.amount", {"amount": sub.amount}, n)


def _no_reminder(claim: Claim, env: _Env) -> Iterator[_Hit]:
    reminder = claim.invoice.reminder_date if claim.invoice is not None else None
    if reminder is None or reminder > env.today or reminder <= claim.srb:
        yield _Hit("reminder_date", {"reminder_date": reminder, "srb": claim.srb})


def _offsetting_refused(claim: Claim, env: _Env) -> Iterator[_Hit]:
    wants_offsetting = env.art is ClaimArt.OFFSETTING_ONLY or env.context.benefit_type is not None
    if wants_offsetting and not claim.offsetting_allowed:
        yield _Hit("offsetting_allowed", {})


def _benefit_refused(claim: Claim, env: _Env) -> Iterator[_Hit]:
    benefit = env.context.benefit_type
    if benefit is not None and not env.context.benefit_table.rule_for(benefit,
                                                                      claim.type_code).allowed:
        yield _Hit("type_code", {"benefit_type": benefit, "type_code": claim.type_code})


def _deferred(claim: Claim, env: _Env) -> Iterator[_Hit]:
    if claim.deferred_on(env.today):
        yield _Hit("deferral_until", {"deferral_until": claim.deferral_until})


def _type_unknown(claim: Claim, env: _Env) -> Iterator[_Hit]:
    types = env.context.claim_types
    if claim.type_code not in types:
        yield _Hit("type_code", {"type_code": claim.type_code})
    for n, sub in enumerate(claim.sub_claims, start=1):
        if sub.type_code not in types:
            yield _Hit("sub_claims.type_code", {"type_code": sub.type_code}, n)


def _art_not_allowed(claim: Claim, env: _Env) -> Iterator[_Hit]:
    t = env.context.claim_types.get(claim.type_code)
    if env.art is not None and t is not None and env.art not in t.allowed_arts:
        yield _Hit("art", {"art": env.art, "type_code": claim.type_code,
                           "allowed": t.allowed_arts})


def _period_future(claim: Claim, env: _Env) -> Iterator[_Hit]:
    if claim.period_from > env.today:
        yield _Hit("period_from", {"period_from": claim.period_from})


def _no_liable(claim: Claim, env: _Env) -> Iterator[_Hit]:
    if not claim.co_liable:
        yield _Hit("co_liable", {})


def _main_is_sub_type(claim: Claim, env: _Env) -> Iterator[_Hit]:
    t = env.context.claim_types.get(claim.type_code)
    if t is not None and t.kind is not ClaimKind.PRINCIPAL:
        yield _Hit("type_code", {"type_code": claim.type_code})


def _founded_future(claim: Claim, env: _Env) -> Iterator[_Hit]:
    if claim.founded > env.today:
        yield _Hit("founded", {"founded": claim.founded})


#: The claim-content checks, by rule id. Rules not listed here (444, 548, the OIR-2xx
#: state-change rules) are judged by :func:`validate_action` / :func:`validate_state_change`.
CLAIM_CHECKS: dict[str, _Check] = {
    "PSRM-2": _no_agreement,
    "PSRM-5": _debtor_unknown,
    "PSRM-151": _type_not_agreed,
    "PSRM-152": _currency,
    "PSRM-215": _below_limit,
    "PSRM-569": _period_reversed,
    "PSRM-533": _judgment_future,
    "PSRM-574": _type_inactive,
    "PSRM-486": _ref_seen,
    "PSRM-528": _same_liable,
    "PSRM-568": _before_1900,
    "OIR-101": _srb_not_passed,
    "OIR-102": _founded_after_due,
    "OIR-103": _due_after_srb,
    "OIR-104": _time_barred,
    "OIR-105": _bad_cpr,
    "OIR-106": _bad_cvr,
    "OIR-107": _sub_claim_principal,
    "OIR-108": _not_positive,
    "OIR-109": _no_reminder,
    "OIR-110": _offsetting_refused,
    "OIR-111": _benefit_refused,
    "OIR-112": _deferred,
    "OIR-113": _type_unknown,
    "OIR-114": _art_not_allowed,
    "OIR-115": _period_future,
    "OIR-116": _no_liable,
    "OIR-117": _main_is_sub_type,
    "OIR-118": _founded_future,
}


@cache
def _claim_checks_for(active: frozenset[str]) -> tuple[tuple[Rule, _Check], ...]:
    """The claim checks of the rules that apply to ``active``, in catalogue order: worked
    out once per rule set rather than once per claim (a delivery judges hundreds)."""
    return tuple((r, CLAIM_CHECKS[r.id]) for r in RULES
                 if r.id in CLAIM_CHECKS and r.applies_to & active)


def _run_claim_checks(claim: Claim, *, active: frozenset[str], fmt: Format, env: _Env
                      ) -> list[Violation]:
    out: list[Violation] = []
    for r, check in _claim_checks_for(active):
        for hit in check(claim, env):
            if FIELD_PATHS[hit.field].of(fmt) is None:
                continue  # the format does not carry the field: not judged from it
            out.append(_violation(r, fmt, hit.field, hit.n, None, hit.values))
    return out


def validate_claim(claim: Claim, *, today: date, context: RuleContext, fmt: Format
                   ) -> list[Violation]:
    """Every violation of a claim as ØIR ``OpretFordring`` (``fmt="oir"``) or PSRM's
    indgangsfilter (``fmt="psrm"``) sees it; with ``context.handover`` also the hand-over
    rules. Paths are in ``fmt``'s message (see the module docstring)."""
    active = {OIR_CREATE if fmt == "oir" else PSRM_FILTER}
    if context.handover:
        active.add(HANDOVER)
    env = _Env(today=today, context=context, art=claim.art)
    return _run_claim_checks(claim, active=frozenset(active), fmt=fmt, env=env)


# ---------------------------------------------------------------- PSRM actions

#: The rule that names each action code's missing structure.
MISSING_STRUCTURE: dict[PsrmActionCode, str] = {
    PsrmActionCode.CREATE: "PSRM-444",
    PsrmActionCode.WRITE_DOWN: "PSRM-447",
    PsrmActionCode.RECALL: "PSRM-448",
    PsrmActionCode.RESUBMIT: "PSRM-403",
    PsrmActionCode.WRITE_UP: "PSRM-404",
    PsrmActionCode.WRITE_UP_ANNULLED_PAYMENT: "PSRM-406",
    PsrmActionCode.WRITE_UP_REVERSED_ADJUSTMENT: "PSRM-407",
    PsrmActionCode.WRITE_DOWN_ANNULLED_WRITE_UP: "PSRM-412",
    PsrmActionCode.WRITE_DOWN_ANNULLED_PAYMENT_WRITE_UP: "PSRM-505",
    PsrmActionCode.WRONG_PRINCIPAL: "PSRM-517",
    PsrmActionCode.CHANGE: "PSRM-458",
}

#: Actions that reverse an earlier action named by ``MFAktionIDRef``.
ANNULMENTS = frozenset({
    PsrmActionCode.WRITE_UP_ANNULLED_PAYMENT, PsrmActionCode.WRITE_UP_REVERSED_ADJUSTMENT,
    PsrmActionCode.WRITE_DOWN_ANNULLED_WRITE_UP,
    PsrmActionCode.WRITE_DOWN_ANNULLED_PAYMENT_WRITE_UP})
#: Actions that raise a claim's balance.
WRITE_UPS = frozenset({
    PsrmActionCode.WRITE_UP, PsrmActionCode.WRITE_UP_ANNULLED_PAYMENT,
    PsrmActionCode.WRITE_UP_REVERSED_ADJUSTMENT})
#: Actions that lower a claim's balance.
WRITE_DOWNS = frozenset({
    PsrmActionCode.WRITE_DOWN, PsrmActionCode.WRITE_DOWN_ANNULLED_WRITE_UP,
    PsrmActionCode.WRITE_DOWN_ANNULLED_PAYMENT_WRITE_UP})

_PER_LIABILITY = frozenset({"judgment_date", "settlement_date"})


def _liability_checks(action: ActionRequest, today: date) -> Iterator[Violation]:
    """Rules 531, 532, 533 and 568 on each hæftelse's judgment and settlement."""
    for h in action.liabilities:
        if h.judgment is True and h.judgment_date is None:
            yield violation("PSRM-531", fmt="psrm", n=h.index)
        if h.judgment is not True and h.judgment_date is not None:
            yield violation("PSRM-532", fmt="psrm", n=h.index)
        for fld, day in (("judgment_date", h.judgment_date),
                         ("settlement_date", h.settlement_date)):
            if day is not None and day > today:
                yield violation("PSRM-533", fmt="psrm", field=fld, n=h.index, date=day)
            if day is not None and day < PSRM_EARLIEST_DATE:
                yield violation("PSRM-568", fmt="psrm", field=fld, n=h.index, date=day)


def _change_checks(action: ActionRequest, today: date) -> Iterator[Violation]:
    """The checks of a non-claim action that need nothing but the action itself."""
    code, amount = action.code, action.amount
    at = action.amount_path or ""
    if amount is not None:
        if code in WRITE_DOWNS and amount <= 0:
            yield violation("PSRM-408", fmt="psrm", field="change.amount", structure=at,
                            amount=amount)
        elif code in WRITE_UPS and amount == 0:
            yield violation("PSRM-227", fmt="psrm", field="change.amount", structure=at)
        elif amount < 0:
            yield violation("OIR-108", fmt="psrm", field="change.amount", structure=at,
                            amount=amount)
    if action.currency is not None and action.currency != "DKK":
        yield violation("PSRM-152", fmt="psrm", field="change.currency",
                        structure=at.rsplit("/", 1)[0] + "/ValutaKode",
                        currency=action.currency)
    day, where = action.effective_date, action.effective_path or ""
    if day is not None:
        if code is PsrmActionCode.WRITE_DOWN and action.reason == "REGU":
            yield violation("PSRM-519", fmt="psrm", structure=where)
        if code is PsrmActionCode.RECALL and action.reason == "FEJL":
            yield violation("PSRM-546", fmt="psrm", structure=where)
        if day > today:
            yield violation("PSRM-548", fmt="psrm", structure=where, date=day)
        if day < PSRM_EARLIEST_DATE:
            yield violation("PSRM-568", fmt="psrm", field="effective_date", structure=where,
                            date=day)
    if code in ANNULMENTS and action.action_id_ref is None:
        yield violation("PSRM-527", fmt="psrm")


def validate_action(action: ActionRequest, *, today: date, context: RuleContext
                    ) -> list[Violation]:
    """Every violation of one ``FordringAktion`` of a delivery, paths relative to that
    ``FordringAktion``. ``context.creditor_id`` defaults to the action's
    ``DMIFordringHaverID``. Decode problems (``action.problems``) are the caller's to
    report: they are not rules. Checks against PSRM's own state (the claim an action
    names, the action an annulment reverses) are the PSRM end's."""
    if action.choice != action.expected_choice:  # a missing (or another) structure
        if action.problems:
            return []
        return [violation(MISSING_STRUCTURE[action.code], fmt="psrm").with_prefix("AktionValg")]
    prefix = f"AktionValg/{action.choice}"
    out: list[Violation] = []
    notes_at = ""
    if action.code.creates_claim:
        notes_at = "MFOpretFordringStruktur/"
        if action.claim is None:
            if not action.problems:
                out.append(violation("PSRM-444", fmt="psrm", field="claim"))
        else:
            ctx = context if context.creditor_id else replace(context,
                                                               creditor_id=action.creditor_id)
            out.extend(v for v in validate_claim(action.claim, today=today, context=ctx,
                                                 fmt="psrm")
                       if v.field not in _PER_LIABILITY)
            out.extend(_liability_checks(action, today))
    else:
        out.extend(_change_checks(action, today))
    for n, note in enumerate(action.notes, start=1):
        if not note.strip():
            out.append(violation("PSRM-220", fmt="psrm", n=n, structure=notes_at))
    if action.action_id is not None and action.action_id in context.seen_action_ids:
        at = notes_at if action.code is PsrmActionCode.CREATE else ""
        out.append(violation("PSRM-600", fmt="psrm", structure=at, action_id=action.action_id))
    return [v.with_prefix(prefix) for v in out]


# ---------------------------------------------------------------- ØIR state changes

class StateChangeKind(StrEnum):
    """The choice of a ``RetFordringTilstandRequest`` (its element name)."""

    CANCEL = "Annuller"
    WRITE_DOWN = "Nedskriv"
    DEFERRAL = "Henstand"
    HAND_OVER = "Overdrag"
    RECALL = "Tilbagekald"


@dataclass(frozen=True, slots=True)
class StateChange:
    """One requested change of a claim; only the fields of its kind are set."""

    kind: StateChangeKind
    amount: Decimal | None = None  # Nedskriv
    reason: str | None = None  # Nedskriv, Tilbagekald, Annuller (Begrundelse)
    effective_date: date | None = None  # Nedskriv
    deferral_until: date | None = None  # Henstand
    art: ClaimArt | None = None  # Overdrag




def validate_state_change(claim: Claim | None, change: StateChange, *, today: date,
                          context: RuleContext) -> list[Violation]:
    """Every violation of a ``RetFordringTilstand`` request, paths in that request.

    With ``claim=None`` only what the request shows on its own is judged (``oir validate``
    has no store). ``Overdrag`` runs every hand-over rule on the stored claim with the art
    the request asks for — the way to judge a hand-over, automatic ones included.
    """
    out: list[Violation] = []
    kind = change.kind
    if kind is StateChangeKind.WRITE_DOWN:
        if change.amount is not None and change.amount <= 0:
            out.append(violation("OIR-108", fmt="oir", field="write_down.amount",
                                 amount=change.amount))
        if change.effective_date is not None and change.effective_date > today:
            out.append(violation("PSRM-548", fmt="oir", date=change.effective_date))
    if kind is StateChangeKind.DEFERRAL and change.deferral_until is not None \
            and change.deferral_until <= today:
        out.append(violation("OIR-204", fmt="oir", deferral_until=change.deferral_until))
    if claim is None:
        return out
    state = claim.state
    if state in CLOSED_STATES:
        out.append(violation("OIR-201", fmt="oir", state=state, change=kind))
        return out
    if kind in (StateChangeKind.CANCEL, StateChangeKind.DEFERRAL) \
            and state is ClaimState.HANDED_OVER:
        out.append(violation("OIR-202", fmt="oir", change=kind))
    if kind is StateChangeKind.WRITE_DOWN and change.amount is not None \
            and change.amount > claim.outstanding:
        out.append(violation("OIR-203", fmt="oir", amount=change.amount,
                             outstanding=claim.outstanding))
    if kind is StateChangeKind.RECALL and state is not ClaimState.HANDED_OVER:
        out.append(violation("OIR-206", fmt="oir", state=state))
    if kind is StateChangeKind.HAND_OVER:
        if state is ClaimState.HANDED_OVER:
            out.append(violation("OIR-205", fmt="oir"))
        else:
            env = _Env(today=today, context=context, art=change.art or claim.art)
            for v in _run_claim_checks(claim, active=frozenset({HANDOVER}), fmt="oir", env=env):
                if v.field == "art":  # the art judged is the one this request asks for
                    v = replace(v, field="handover.art", path=FIELD_PATHS["handover.art"].oir or "")
                out.append(v)
    return out


# ---------------------------------------------------------------- documentation

_DOC_CITATION = re.compile(r"docs/([a-z-]+\.md(?:#[\w-]+)?)")


def markdown_cell(text: str) -> str:
    """``text`` for a Markdown table cell of a page in ``docs/``, a citation of another page
    (``docs/design.md#coverage-order``) made a link."""
    text = text.replace("|", "\\|").replace("\n", " ")
    return _DOC_CITATION.sub(lambda m: f"[{m.group(1)}]({m.group(1)})", text)


def _code(path: str | None) -> str:
    return f"`{path}`" if path else "—"


def catalogue_markdown() -> str:
    """The catalogue as Markdown (``oir docs rules``; ``docs/rules.md`` is its output)."""
    lines = [
        "# Rule catalogue",
        "",
        "<!-- Generated by `oir docs rules --out docs/rules.md` from `oir_adapter/rules.py`."
        " Do not edit by hand: a test fails when this file is stale. -->",
        "",
        "The front-door rules ([design.md](design.md#front-door-rules)) as the ØIR debtor end,",
        "the PSRM emulator's indgangsfilter and `oir validate` apply them. Every violation of a",
        "message is reported at once, each pointing at its field. The PSRM numbers are PSRM's",
        "published rejection numbers; `OIR-…` rules have no published number and are this",
        "project's own. Texts and sources are modelled (the official rule texts are not public).",
        "",
        "- ØIR answers carry a `Fejl` per violation: `FejlKode` = rule id, `FejlTekst` =",
        "  Danish text, `Felt` = path in the request.",
        "- PSRM answers carry an `MFAktionAfvistStruktur` per violation:",
        "  `MFAktionAfvistNummer` = PSRM number (else the rule id), `MFAktionAfvistTekst` =",
        "  Danish text.",
        "- `{placeholders}` in the texts are filled with the offending values (dates ISO,",
        "  amounts øre-exact, CPR numbers masked).",
        "- ØIR paths are relative to the request element; PSRM paths to the action structure",
        "  under `AktionValg` (`{structure}` names it, `{n}` is a 1-based position). A rule",
        "  whose field a format does not carry is not judged from that format.",
        "- Severity `warning` is reported but never refuses a message (`oir validate` exits 0",
        "  on warnings alone); every `error` refuses it.",
        "",
        "## Dates and identifiers",
        "",
        "- **Bank days** (`oir_adapter.domain.bankdays`): Danish banks are closed on weekends, the",
        "  public holidays (New Year's Day, Maundy Thursday, Good Friday, Easter Monday, Great",
        "  Prayer Day until 2023, Ascension Day, Whit Monday, Christmas Day, Boxing Day) and",
        "  also on the Friday after Ascension Day, Constitution Day (5 June), Christmas Eve and",
        "  New Year's Eve. 1 May is a bank day. A due date or SRB on a closing day moves to the",
        "  next bank day; a claim may be handed over only after that day (OIR-101).",
        "- **CPR** (OIR-105): ten digits encoding a real birth date (century from the seventh",
        "  digit) not after today. Modulus 11 is *not* required: the CPR office has issued",
        "  numbers without it since 2007.",
        "- **CVR** (OIR-106): eight digits, no leading zero, modulus 11.",
        "- **Payment id** (FIK card type 71, `oir_adapter.domain.identifiers`): fifteen digits, the",
        "  last a modulus-10 (Luhn) check digit, weights 2-1-2-… from the right.",
        "",
        "## Where rules apply",
        "",
        "| context | meaning |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | {markdown_cell(text)} |" for name, text in CONTEXTS.items()]
    lines += [
        "",
        "## Rules",
        "",
        "| id | PSRM no. | severity | Danish | English | field | ØIR path | PSRM path "
        "| applies to | source |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in RULES:
        paths = FIELD_PATHS[r.field]
        applies = ", ".join(f"`{c}`" for c in CONTEXTS if c in r.applies_to)
        lines.append(
            f"| {r.id} | {r.psrm_number or '—'} | {r.severity} | {markdown_cell(r.text_da)} | "
            f"{markdown_cell(r.text_en)} | `{r.field}` | {_code(paths.oir)} | {_code(paths.psrm)} | "
            f"{applies} | {markdown_cell(r.source)} |")
    lines += [
        "",
        "## Fields",
        "",
        "A violation may point at a field related to its rule's (a sub-claim's period,",
        "a write-down's amount); these are all the fields and where they live.",
        "",
        "| field | ØIR path | PSRM path |",
        "|---|---|---|",
    ]
    lines += [f"| `{name}` | {_code(p.oir)} | {_code(p.psrm)} |" for name, p in FIELD_PATHS.items()]
    return "\n".join(lines) + "\n"
