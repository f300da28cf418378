"""ØIR messages → model: the requests the fagsystem sends to the debtor system.

Decoders take the body element (already schema-valid) and return model objects plus the
header facts every ØIR request carries. Encoders of responses live with the emulator's
debtor end, which is the only side that writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from lxml import etree

from oir_adapter.codecs.reading import DecodeError, Reader
from oir_adapter.contracts import OIR_NS
from oir_adapter.domain.model import (
    Address,
    Claim,
    ClaimArt,
    CoLiable,
    Debtor,
    Party,
    PartyKind,
    SubClaim,
)
from oir_adapter.domain.rules import StateChange, StateChangeKind


@dataclass(frozen=True, slots=True)
class OirHeader:
    """What every ØIR request carries: Hovedoplysninger plus the calling authority."""

    transaction_id: str
    transaction_time: datetime
    authority_cvr: str
    fagsystem_id: str


@dataclass(slots=True)
class ClaimRequest:
    """A decoded ``OpretFordringRequest``: the claim to register on an account."""

    header: OirHeader
    account_number: str
    claim: Claim


def reader(element: etree._Element) -> Reader:
    return Reader(element, OIR_NS)


def decode_header(r: Reader) -> OirHeader:
    return OirHeader(
        transaction_id=r.text("Hovedoplysninger/TransaktionsID"),
        transaction_time=r.datetime("Hovedoplysninger/TransaktionsTid"),
        authority_cvr=r.text("MyndighedCVR"),
        fagsystem_id=r.text("FagsystemID"),
    )


def decode_party(r: Reader) -> Party:
    cpr = r.opt_text("CPRNummer")
    return Party(PartyKind.CPR, cpr) if cpr is not None else Party(PartyKind.CVR, r.text("CVRNummer"))


def decode_debtor(r: Reader) -> Debtor:
    party_r = r.find("Part")
    assert party_r is not None
    address = None
    a = r.find("Adresse")
    if a is not None:
        address = Address(street=a.text("Vejnavn"), postcode=a.text("Postnummer"), city=a.text("By"),
                          house_number=a.opt_text("Husnummer"), floor=a.opt_text("Etage"),
                          country=a.opt_text("Landekode"))
    return Debtor(party=decode_party(party_r), name=r.text("Navn"), address=address)


def decode_claim(f: Reader, *, account_number: str, received: date,
                 creditor_cvr: str | None = None, claim_id: str = "") -> Claim:
    """The ``Fordring`` structure as a model claim (ids of sub-claims are positional)."""
    art = f.opt_text("FordringArt")
    subs = [
        SubClaim(id=f"{claim_id}-{n}" if claim_id else str(n), type_code=d.text("DelfordringTypeKode"),
                 amount=d.money("Beloeb"), remaining=d.money("Beloeb"),
                 period_from=d.opt_date("PeriodeFra"), period_to=d.opt_date("PeriodeTil"),
                 founded=d.opt_date("StiftelsesDato"))
        for n, d in enumerate(f.all("DelfordringSamling/Delfordring"), start=1)
    ]
    co_liable = []
    for h in f.all("HaefterSamling/Haefter"):
        p = h.find("Part")
        assert p is not None
        co_liable.append(CoLiable(party=decode_party(p), name=h.opt_text("Navn")))
    return Claim(
        id=claim_id,
        account_number=account_number,
        fagsystem_claim_id=f.text("FagsystemFordringID"),
        type_code=f.text("FordringTypeKode"),
        art=ClaimArt(art) if art else None,
        description=f.opt_text("Beskrivelse"),
        currency=f.opt_text("ValutaKode") or "DKK",
        principal=f.money("Hovedstol"),
        period_from=f.date("PeriodeFra"),
        period_to=f.date("PeriodeTil"),
        founded=f.date("StiftelsesDato"),
        due_date=f.date("ForfaldsDato"),
        srb=f.date("SidsteRettidigeBetalingsDato"),
        limitation_date=f.opt_date("ForaeldelsesDato"),
        judgment_date=f.opt_date("DomsDato"),
        settlement_date=f.opt_date("ForligsDato"),
        offsetting_allowed=bool(f.opt_bool("ModregningTilladt")),
        received=received,
        creditor_cvr=creditor_cvr,
        co_liable=co_liable,
        sub_claims=subs,
    )


def decode_opret_fordring(element: etree._Element, *, received: date, claim_id: str = "") -> ClaimRequest:
    """Decode an ``OpretFordringRequest`` body element."""
    r = reader(element)
    header = decode_header(r)
    account = r.text("DebitorkontoNummer")
    f = r.find("Fordring")
    assert f is not None
    claim = decode_claim(f, account_number=account, received=received,
                         creditor_cvr=header.authority_cvr, claim_id=claim_id)
    return ClaimRequest(header=header, account_number=account, claim=claim)


def decode_state_change(element: etree._Element) -> tuple[str, StateChange]:
    """``(FordringID, change)`` from a schema-valid ``RetFordringTilstandRequest``."""
    r = Reader(element, OIR_NS)
    claim_id = r.text("FordringID")
    for kind in StateChangeKind:
        c = r.find(kind.value)
        if c is None:
            continue
        if kind is StateChangeKind.CANCEL:
            return claim_id, StateChange(kind, reason=c.opt_text("Begrundelse"))
        if kind is StateChangeKind.WRITE_DOWN:
            return claim_id, StateChange(kind, amount=c.money("Beloeb"),
                                         reason=c.text("AarsagKode"),
                                         effective_date=c.opt_date("VirkningsDato"))
        if kind is StateChangeKind.DEFERRAL:
            return claim_id, StateChange(kind, deferral_until=c.date("HenstandTilDato"))
        if kind is StateChangeKind.HAND_OVER:
            return claim_id, StateChange(kind, art=ClaimArt(c.text("FordringArt")))
        return claim_id, StateChange(kind, reason=c.text("AarsagKode"))
    raise DecodeError(r.path_of(), "no Annuller, Nedskriv, Henstand, Overdrag or Tilbagekald")
