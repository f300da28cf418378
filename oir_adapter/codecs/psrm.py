"""PSRM messages → model: what a fordringshaver system delivers to ``MFFordringIndberet``.

One delivery carries many actions; each decodes on its own, so one bad action cannot hide
its neighbours: an action whose content cannot be read keeps ``claim=None`` and the reason
in ``problems`` for the indgangsfilter to turn into a rejection.

Each action code has its own structure directly under ``AktionValg``
(:data:`ACTION_ELEMENTS`); ``OPRETFORDRING`` wraps its claim in ``OpretFordringAktion``.
The non-claim structures share their field names (the claim id, the sender's action id,
the referenced action, the amount, the effective date, the reason), so one reader takes
whichever of them a structure has.
"""

from __future__ import annotations

from datetime import date, datetime

from lxml import etree

from oir_adapter.codecs.reading import DecodeError, Reader, parse_datetime
from oir_adapter.contracts import KONTEKST_NS, PSRM_NS
from oir_adapter.domain.actions import ActionRequest, Delivery, Liability
from oir_adapter.domain.model import (
    Claim,
    ClaimArt,
    CoLiable,
    Party,
    PartyKind,
    PsrmActionCode,
    SubClaim,
)

#: Where the claim structure sits below the element under ``AktionValg``.
CLAIM_STRUCTURE = "MFOpretFordringStruktur"
RELATED_CLAIMS = "OpretUnderfordringSamling/MFOpretRelateretFordringStruktur"

#: The amount of a non-claim action, by the element that carries it (first found wins).
_AMOUNTS = ("NedskrivningBeløbStruktur/FordringNedskrivningBeløb",
            "OpskrivningBeløbStruktur/FordringOpskrivningBeløb",
            "FordringOprindeligBeløbStruktur/EFIFordringOprindeligBeløb")
_EFFECTIVE = ("FordringNedskrivningVirkningFra", "FordringOpskrivningVirkningFra",
              "DMIFordringVirkningFra")
_REASON_CODES = ("NedskrivningÅrsagStruktur/FordringNedskrivningÅrsagKode",
                 "HovedFordringTilbagekaldÅrsagStruktur/HovedFordringTilbageÅrsagKode",
                 "OpskrivningÅrsagStruktur/FordringOpskrivningÅrsagKode")
_REASON_TEXTS = ("NedskrivningÅrsagStruktur/FordringNedskrivningÅrsagBegr",
                 "HovedFordringTilbagekaldÅrsagStruktur/HovedFordringTilbageÅrsagBegr",
                 "OpskrivningÅrsagStruktur/FordringOpskrivningÅrsagBegr",
                 "FordringNedskrivningÅrsagBegr")


def reader(element: etree._Element) -> Reader:
    return Reader(element, PSRM_NS)


_HEAD = f"{{{PSRM_NS}}}Kontekst/{{{KONTEKST_NS}}}HovedOplysninger/{{{KONTEKST_NS}}}"


def decode_kontekst(element: etree._Element) -> tuple[str | None, datetime | None]:
    """TransaktionsID and TransaktionsTid from ``Kontekst/HovedOplysninger`` (real senders
    may send an empty ``Kontekst``: then both are ``None``)."""
    found_id = element.find(_HEAD + "TransaktionsID")
    found_time = element.find(_HEAD + "TransaktionsTid")
    tid = None if found_time is None or not found_time.text else found_time.text.strip()
    return (None if found_id is None or not found_id.text else found_id.text.strip(),
            None if tid is None else parse_datetime(tid, "Kontekst/HovedOplysninger/"
                                                         "TransaktionsTid"))


def _party(valg: Reader, path: str) -> Party:
    cpr = valg.opt_text(f"{path}/PersonCPRNummer")
    if cpr is not None:
        return Party(PartyKind.CPR, cpr)
    return Party(PartyKind.CVR, valg.text(f"{path}/VirksomhedCVRNummer"))


def decode_notes(s: Reader) -> list[str]:
    """The texts of ``SagsbemærkningSamling/MFNoteStruktur/MFNoteTekst``."""
    return [n.element.text or "" for n in s.all("SagsbemærkningSamling/MFNoteStruktur/MFNoteTekst")]


def decode_claim_structure(s: Reader, related: list[Reader], *, creditor_id: str,
                           received: date) -> tuple[Claim, list[Liability]]:
    """An ``MFOpretFordringStruktur`` (and its related claims) as a claim.

    The first hæfter is the debtor; the others are co-liable. Limitation, judgment and
    settlement dates come from the hæftelser (the earliest that is given).
    """
    ref = s.text("DMIFordringFordringHaverRef")
    hæftelser = list(s.all("FordringHæftelseSamling/MFHæftelseStruktur"))
    parties = [CoLiable(party=_party(h, "MFKundeStruktur/Valg")) for h in hæftelser]
    liabilities = [Liability(n, h.opt_bool("HæftelseDom"), h.opt_date("HæftelseDomDato"),
                             h.opt_bool("HæftelseForlig"), h.opt_date("HæftelseForligDato"))
                   for n, h in enumerate(hæftelser, start=1)]

    def earliest(values: list[date | None]) -> date | None:
        found = [d for d in values if d is not None]
        return min(found) if found else None

    sub_claims = []
    for n, u in enumerate(related, start=1):
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
    claim = Claim(
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
        limitation_date=earliest([h.opt_date("HæftelseForældelseDato") for h in hæftelser]),
        judgment_date=earliest([h.judgment_date for h in liabilities]),
        settlement_date=earliest([h.settlement_date for h in liabilities]),
        creditor_cvr=s.opt_text("DMIFordringHaverID") or creditor_id,
        co_liable=parties,
        sub_claims=sub_claims,
    )
    return claim, liabilities


def _first(c: Reader, paths: tuple[str, ...]) -> str | None:
    return next((p for p in paths if c.has(p)), None)


def _read_claim(action: ActionRequest, c: Reader, received: date) -> None:
    """OPRETFORDRING / GENINDSENDFORDRING: the claim, its liabilities and notes."""
    s = c.find(CLAIM_STRUCTURE)
    if s is None:
        return
    action.action_id = action.action_id or s.opt_text("MFAktionID")
    action.claim, action.liabilities = decode_claim_structure(
        s, list(c.all(RELATED_CLAIMS)), creditor_id=action.creditor_id, received=received)
    action.notes = decode_notes(s)


def _read_change(action: ActionRequest, c: Reader) -> None:
    """Every other action: whichever of the shared fields its structure has."""
    action.efi_claim_id = c.text("DMIFordringEFIFordringID")
    action.action_id_ref = c.opt_text("MFAktionIDRef")
    if c.has("EFIKundeIdentStruktur/IdentValg"):
        action.debtor = _party(c, "EFIKundeIdentStruktur/IdentValg")
    amount_path = _first(c, _AMOUNTS)
    if amount_path is not None:
        action.amount_path = amount_path
        action.amount = c.money(amount_path)
        action.currency = c.text(amount_path.rsplit("/", 1)[0] + "/ValutaKode")
    effective_path = _first(c, _EFFECTIVE)
    if effective_path is not None:
        action.effective_path = effective_path
        action.effective_date = c.date(effective_path)
    reason_path = _first(c, _REASON_CODES)
    action.reason_path = reason_path
    action.reason = None if reason_path is None else c.text(reason_path)
    text_path = _first(c, _REASON_TEXTS)
    action.reason_text = None if text_path is None else c.opt_text(text_path)
    action.notes = decode_notes(c)


def decode_action(a: Reader, index: int, *, received: date) -> ActionRequest:
    code = PsrmActionCode(a.text("MFAktionKode"))
    valg = a.find("AktionValg")
    chosen = next(iter(valg.element), None) if valg is not None else None
    choice = etree.QName(chosen).localname if chosen is not None else None
    action = ActionRequest(index=index, code=code, creditor_id=a.text("DMIFordringHaverID"),
                           element=a.element, choice=choice)
    if chosen is None or choice != action.expected_choice:
        return action  # the indgangsfilter names the missing structure
    c = Reader(chosen, PSRM_NS)
    try:
        action.action_id = c.opt_text("MFAktionID")
        if code is PsrmActionCode.CREATE:
            _read_claim(action, c, received)
        elif code is PsrmActionCode.RESUBMIT:
            action.efi_claim_id = c.opt_text("DMIFordringEFIFordringID")
            _read_claim(action, c, received)
        else:
            _read_change(action, c)
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
