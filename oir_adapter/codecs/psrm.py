"""PSRM messages → model: what a fordringshaver system delivers to ``MFFordringIndberet``.

One delivery carries many actions; each decodes on its own, so one bad action cannot hide
its neighbours: an action whose content cannot be read keeps ``claim=None`` and the reason
in ``problems`` for the indgangsfilter to turn into a rejection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from lxml import etree

from ..contracts import KONTEKST_NS, PSRM_NS
from ..model import (
    Claim,
    ClaimArt,
    CoLiable,
    Party,
    PartyKind,
    PsrmActionCode,
    SubClaim,
)
from .reading import DecodeError, Reader

#: Where each action kind keeps its structure below ``AktionValg``.
ACTION_ELEMENTS = {
    PsrmActionCode.CREATE: "OpretFordringAktion",
    PsrmActionCode.WRITE_DOWN: "NedskrivFordringAktion",
    PsrmActionCode.RECALL: "TilbagekaldFordringAktion",
    PsrmActionCode.RESUBMIT: "GenindsendFordringAktion",
}


@dataclass(slots=True)
class ActionRequest:
    """One ``FordringAktion`` of a delivery, decoded."""

    index: int  # 1-based position in the delivery
    code: PsrmActionCode
    creditor_id: str  # DMIFordringHaverID
    element: etree._Element
    choice: str | None  # local name of the element under AktionValg
    claim: Claim | None = None  # OPRETFORDRING / GENINDSEND
    efi_claim_id: str | None = None  # NEDSKRIV / TILBAGEKALD / GENINDSEND
    amount: Decimal | None = None  # NEDSKRIV
    currency: str | None = None  # NEDSKRIV
    reason: str | None = None  # NEDSKRIV / TILBAGEKALD
    effective_date: date | None = None
    problems: list[DecodeError] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"FordringAktionSamling/FordringAktion[{self.index}]"


@dataclass(slots=True)
class Delivery:
    """A decoded ``MFFordringIndberet_I``."""

    transaction_id: str
    transaction_time: datetime
    se_number: str
    delivery_id: str
    actions: list[ActionRequest]


def reader(element: etree._Element) -> Reader:
    return Reader(element, PSRM_NS)


def decode_kontekst(element: etree._Element) -> tuple[str, datetime]:
    """TransaktionsID and TransaktionsTid from ``Kontekst/HovedOplysninger``."""
    k = Reader(element, KONTEKST_NS)
    tid = k.text("Kontekst/HovedOplysninger/TransaktionsTid")
    return k.text("Kontekst/HovedOplysninger/TransaktionsID"), datetime.fromisoformat(
        tid.replace("Z", "+00:00"))


def decode_claim_structure(s: Reader, subs: Reader | None, *, creditor_id: str,
                           received: date) -> Claim:
    """An ``MFOpretFordringStruktur`` (and its ``OpretUnderfordringSamling``) as a claim.

    The first hæfter is the debtor; the others are co-liable. Limitation, judgment and
    settlement dates come from the hæftelser (the earliest that is given).
    """
    ref = s.text("DMIFordringFordringHaverRef")
    hæftelser = list(s.all("FordringHæftelseSamling/MFHæftelseStruktur"))
    parties: list[CoLiable] = []
    for h in hæftelser:
        cpr = h.opt_text("MFKundeStruktur/Valg/PersonCPRNummer")
        party = (Party(PartyKind.CPR, cpr) if cpr is not None
                 else Party(PartyKind.CVR, h.text("MFKundeStruktur/Valg/VirksomhedCVRNummer")))
        parties.append(CoLiable(party=party))

    def earliest(path: str) -> date | None:
        found = [d for h in hæftelser if (d := h.opt_date(path)) is not None]
        return min(found) if found else None

    sub_claims = []
    if subs is not None:
        for n, u in enumerate(subs.all("MFOpretUnderfordringStruktur"), start=1):
            amount = u.money("FordringBeløbStruktur/DMIFordringBeløb")
            sub_claims.append(SubClaim(
                id=u.opt_text("DMIFordringFordringHaverRef") or f"{ref}-{n}",
                type_code=u.text("DMIFordringTypeKode"), amount=amount, remaining=amount,
                founded=u.opt_date("DMIFordringStiftelseTidspunkt"),
                period_from=u.opt_date("FordringPeriodeStruktur/DMIFordringPeriodeFraDato"),
                period_to=u.opt_date("FordringPeriodeStruktur/DMIFordringPeriodeTilDato")))
    founded = s.date("DMIFordringStiftelseTidspunkt")
    period_from = s.opt_date("FordringPeriodeStruktur/DMIFordringPeriodeFraDato") or founded
    period_to = s.opt_date("FordringPeriodeStruktur/DMIFordringPeriodeTilDato") or period_from
    return Claim(
        id=ref,
        account_number=parties[0].party.number if parties else "",
        fagsystem_claim_id=ref,
        type_code=s.text("DMIFordringTypeKode"),
        art=ClaimArt(s.text("DMIFordringFordringArtKode")),
        currency=s.text("FordringBeløbStruktur/ValutaKode"),
        principal=s.money("FordringBeløbStruktur/DMIFordringBeløb"),
        period_from=period_from,
        period_to=period_to,
        founded=founded,
        due_date=s.date("DMIFordringForfaldDato"),
        srb=s.date("DMIFordringSRBDato"),
        received=received,
        limitation_date=earliest("HæftelseForældelseDato"),
        judgment_date=earliest("HæftelseDom"),
        settlement_date=earliest("HæftelseForlig"),
        creditor_cvr=s.opt_text("DMIFordringHaverID") or creditor_id,
        co_liable=parties,
        sub_claims=sub_claims,
    )


def decode_action(a: Reader, index: int, *, received: date) -> ActionRequest:
    code = PsrmActionCode(a.text("MFAktionKode"))
    valg = a.find("AktionValg")
    chosen = next(iter(valg.element), None) if valg is not None else None
    choice = etree.QName(chosen).localname if chosen is not None else None
    action = ActionRequest(index=index, code=code, creditor_id=a.text("DMIFordringHaverID"),
                           element=a.element, choice=choice)
    if chosen is None:
        return action
    c = Reader(chosen, PSRM_NS)
    try:
        if choice in ("OpretFordringAktion", "GenindsendFordringAktion"):
            action.efi_claim_id = c.opt_text("DMIFordringEFIFordringID")
            s = c.find("MFOpretFordringStruktur")
            if s is not None:
                action.claim = decode_claim_structure(
                    s, c.find("OpretUnderfordringSamling"), creditor_id=action.creditor_id,
                    received=received)
        elif choice == "NedskrivFordringAktion":
            n = c.find("MFNedskrivFordringStruktur")
            assert n is not None
            action.efi_claim_id = n.text("DMIFordringEFIFordringID")
            action.amount = n.money("FordringBeløbStruktur/DMIFordringBeløb")
            action.currency = n.text("FordringBeløbStruktur/ValutaKode")
            action.reason = n.text("DMIFordringNedskrivÅrsagKode")
            action.effective_date = n.opt_date("DMIFordringVirkningDato")
        elif choice == "TilbagekaldFordringAktion":
            t = c.find("MFTilbagekaldFordringStruktur")
            assert t is not None
            action.efi_claim_id = t.text("DMIFordringEFIFordringID")
            action.reason = t.text("DMIFordringTilbagekaldÅrsagKode")
            action.effective_date = t.opt_date("DMIFordringVirkningDato")
    except DecodeError as exc:
        action.problems.append(exc)
    return action


def decode_delivery(element: etree._Element, *, received: date) -> Delivery:
    """Decode an ``MFFordringIndberet_I`` body element, every action on its own."""
    r = reader(element)
    transaction_id, transaction_time = decode_kontekst(element)
    return Delivery(
        transaction_id=transaction_id,
        transaction_time=transaction_time,
        se_number=r.text("FordringhaverSystemIDStruktur/VirksomhedSENummer"),
        delivery_id=r.text("MFLeveranceID"),
        actions=[decode_action(a, n, received=received)
                 for n, a in enumerate(r.all("FordringAktionSamling/FordringAktion"), start=1)],
    )
