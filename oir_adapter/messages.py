"""Builders of ØIR request messages, as a fagsystem sends them.

Plain values in, a schema-valid request body element out. The emulator's scenario
loader, the conformance suite and the tests all speak to a debtor system through these,
so what they send is what the contract says, in the contract's element order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from lxml import etree

from .contracts import OIR_NS
from .model import Party, PartyKind, money

_NSMAP = {"oir": OIR_NS}


def _q(name: str) -> str:
    return f"{{{OIR_NS}}}{name}"


def _sub(parent: etree._Element, name: str, value: object = None) -> etree._Element:
    el = etree.SubElement(parent, _q(name))
    if value is not None:
        el.text = _text(value)
    return el


def _opt(parent: etree._Element, name: str, value: object) -> None:
    if value is not None:
        _sub(parent, name, value)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{money(value):.2f}"
    return str(value)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls: the municipality (CVR) and its fagsystem."""

    authority_cvr: str
    fagsystem_id: str


def _request(name: str, caller: Caller, transaction_id: str | None,
             when: datetime | None) -> etree._Element:
    root = etree.Element(_q(name), nsmap=_NSMAP)
    head = _sub(root, "Hovedoplysninger")
    _sub(head, "TransaktionsID", transaction_id or str(uuid.uuid4()))
    _sub(head, "TransaktionsTid", when or datetime.now())
    _sub(root, "MyndighedCVR", caller.authority_cvr)
    _sub(root, "FagsystemID", caller.fagsystem_id)
    return root


def _party(parent: etree._Element, name: str, party: Party) -> None:
    holder = _sub(parent, name)
    _sub(holder, "CPRNummer" if party.kind is PartyKind.CPR else "CVRNummer", party.number)


def opret_debitorkonto(caller: Caller, *, reference: str, party: Party, name: str,
                       account_type: str = "PERSON", street: str | None = None,
                       postcode: str | None = None, city: str | None = None,
                       transaction_id: str | None = None,
                       when: datetime | None = None) -> etree._Element:
    root = _request("OpretDebitorkontoRequest", caller, transaction_id, when)
    _sub(root, "FagsystemReference", reference)
    debitor = _sub(root, "Debitor")
    _party(debitor, "Part", party)
    _sub(debitor, "Navn", name)
    if street and postcode and city:
        adr = _sub(debitor, "Adresse")
        _sub(adr, "Vejnavn", street)
        _sub(adr, "Postnummer", postcode)
        _sub(adr, "By", city)
    _sub(root, "Kontotype", account_type)
    return root


@dataclass(frozen=True, slots=True)
class SubClaimSpec:
    type_code: str
    amount: Decimal
    period_from: date | None = None
    period_to: date | None = None
    founded: date | None = None


@dataclass(frozen=True, slots=True)
class ClaimSpec:
    """The ``Fordring`` structure of ``OpretFordringRequest`` as values."""

    fagsystem_claim_id: str
    type_code: str
    principal: Decimal
    period_from: date
    period_to: date
    founded: date
    due_date: date
    srb: date
    offsetting_allowed: bool = True
    art: str | None = None
    description: str | None = None
    currency: str | None = None
    limitation_date: date | None = None
    judgment_date: date | None = None
    settlement_date: date | None = None
    co_liable: Sequence[tuple[Party, str | None]] = ()
    sub_claims: Sequence[SubClaimSpec] = field(default_factory=tuple)


def opret_fordring(caller: Caller, *, account_number: str, claim: ClaimSpec,
                   transaction_id: str | None = None,
                   when: datetime | None = None) -> etree._Element:
    root = _request("OpretFordringRequest", caller, transaction_id, when)
    _sub(root, "DebitorkontoNummer", account_number)
    f = _sub(root, "Fordring")
    c = claim
    _sub(f, "FagsystemFordringID", c.fagsystem_claim_id)
    _sub(f, "FordringTypeKode", c.type_code)
    _opt(f, "FordringArt", c.art)
    _opt(f, "Beskrivelse", c.description)
    _opt(f, "ValutaKode", c.currency)
    _sub(f, "Hovedstol", c.principal)
    _sub(f, "PeriodeFra", c.period_from)
    _sub(f, "PeriodeTil", c.period_to)
    _sub(f, "StiftelsesDato", c.founded)
    _sub(f, "ForfaldsDato", c.due_date)
    _sub(f, "SidsteRettidigeBetalingsDato", c.srb)
    _opt(f, "ForaeldelsesDato", c.limitation_date)
    _opt(f, "DomsDato", c.judgment_date)
    _opt(f, "ForligsDato", c.settlement_date)
    _sub(f, "ModregningTilladt", c.offsetting_allowed)
    if c.co_liable:
        samling = _sub(f, "HaefterSamling")
        for party, name in c.co_liable:
            h = _sub(samling, "Haefter")
            _party(h, "Part", party)
            _opt(h, "Navn", name)
    if c.sub_claims:
        samling = _sub(f, "DelfordringSamling")
        for s in c.sub_claims:
            d = _sub(samling, "Delfordring")
            _sub(d, "DelfordringTypeKode", s.type_code)
            _sub(d, "Beloeb", s.amount)
            _opt(d, "PeriodeFra", s.period_from)
            _opt(d, "PeriodeTil", s.period_to)
            _opt(d, "StiftelsesDato", s.founded)
    return root


def ret_fordring_tilstand(caller: Caller, *, claim_id: str, change: str,
                          amount: Decimal | None = None, reason: str | None = None,
                          deferral_until: date | None = None, art: str | None = None,
                          effective: date | None = None, transaction_id: str | None = None,
                          when: datetime | None = None) -> etree._Element:
    """``change`` is one of Annuller, Nedskriv, Henstand, Overdrag, Tilbagekald."""
    root = _request("RetFordringTilstandRequest", caller, transaction_id, when)
    _sub(root, "FordringID", claim_id)
    c = _sub(root, change)
    if change == "Annuller":
        _opt(c, "Begrundelse", reason)
    elif change == "Nedskriv":
        _sub(c, "Beloeb", amount)
        _sub(c, "AarsagKode", reason or "REGU")
        _opt(c, "VirkningsDato", effective)
    elif change == "Henstand":
        _sub(c, "HenstandTilDato", deferral_until)
    elif change == "Overdrag":
        _sub(c, "FordringArt", art or "INDR")
    elif change == "Tilbagekald":
        _sub(c, "AarsagKode", reason or "FEJL")
    else:
        raise ValueError(f"unknown change {change!r}")
    return root


def soeg_debitorkonto(caller: Caller, *, party: Party | None = None,
                      account_number: str | None = None, reference: str | None = None,
                      name_prefix: str | None = None, status: str | None = None,
                      max_count: int | None = None, token: str | None = None,
                      transaction_id: str | None = None,
                      when: datetime | None = None) -> etree._Element:
    root = _request("SoegDebitorkontoRequest", caller, transaction_id, when)
    k = _sub(root, "Soegekriterier")
    if party is not None:
        _party(k, "Part", party)
    _opt(k, "DebitorkontoNummer", account_number)
    _opt(k, "FagsystemReference", reference)
    _opt(k, "NavnPrefix", name_prefix)
    _opt(k, "Status", status)
    _opt(root, "MaksAntal", max_count)
    _opt(root, "FortsaettelsesToken", token)
    return root


def hent_debitorkonto(caller: Caller, *, account_number: str, transaction_id: str | None = None,
                      when: datetime | None = None) -> etree._Element:
    root = _request("HentDebitorkontoRequest", caller, transaction_id, when)
    _sub(root, "DebitorkontoNummer", account_number)
    return root


def _payment(name: str, caller: Caller, *, payment_id: str, amount: Decimal, paid: date,
             payer: Party | None, account_number: str | None, fik: str | None,
             claim_id: str | None, transaction_id: str | None,
             when: datetime | None) -> etree._Element:
    root = _request(name, caller, transaction_id, when)
    i = _sub(root, "Indbetaling")
    _sub(i, "IndbetalingID", payment_id)
    _sub(i, "Beloeb", amount)
    _sub(i, "BetalingsDato", paid)
    if payer is not None:
        _party(i, "Indbetaler", payer)
    _opt(i, "DebitorkontoNummer", account_number)
    _opt(i, "BetalingsID", fik)
    _opt(i, "FordringID", claim_id)
    return root


def foretag_indbetaling(caller: Caller, *, payment_id: str, amount: Decimal, paid: date,
                        payer: Party | None = None, account_number: str | None = None,
                        fik: str | None = None, claim_id: str | None = None,
                        transaction_id: str | None = None,
                        when: datetime | None = None) -> etree._Element:
    return _payment("ForetagIndbetalingRequest", caller, payment_id=payment_id, amount=amount,
                    paid=paid, payer=payer, account_number=account_number, fik=fik,
                    claim_id=claim_id, transaction_id=transaction_id, when=when)


def soeg_delfordring_til_indbetaling(caller: Caller, *, payment_id: str, amount: Decimal,
                                     paid: date, payer: Party | None = None,
                                     account_number: str | None = None, fik: str | None = None,
                                     claim_id: str | None = None,
                                     transaction_id: str | None = None,
                                     when: datetime | None = None) -> etree._Element:
    return _payment("SoegDelfordringTilIndbetalingRequest", caller, payment_id=payment_id,
                    amount=amount, paid=paid, payer=payer, account_number=account_number,
                    fik=fik, claim_id=claim_id, transaction_id=transaction_id, when=when)


def foretag_modregning(caller: Caller, *, benefit_id: str, recipient: Party, benefit_type: str,
                       payout: date, gross: Decimal, protected: Decimal,
                       paying_authority_cvr: str | None = None, simulate: bool | None = None,
                       transaction_id: str | None = None,
                       when: datetime | None = None) -> etree._Element:
    root = _request("ForetagModregningRequest", caller, transaction_id, when)
    y = _sub(root, "Ydelsesudbetaling")
    _sub(y, "YdelsesudbetalingID", benefit_id)
    _party(y, "Modtager", recipient)
    _sub(y, "YdelsesTypeKode", benefit_type)
    _sub(y, "UdbetalingsDato", payout)
    _sub(y, "Bruttobeloeb", gross)
    _sub(y, "BeskyttetBeloeb", protected)
    _opt(y, "UdbetalendeMyndighedCVR", paying_authority_cvr)
    _opt(root, "Simulering", simulate)
    return root


def party_of(values: Iterable[tuple[str, str]]) -> Party:
    """A party from ``("cpr", "…")`` or ``("cvr", "…")`` pairs (the first that is set)."""
    for key, value in values:
        if value:
            return Party(PartyKind.CPR if key.lower() == "cpr" else PartyKind.CVR, str(value))
    raise ValueError("cpr or cvr is required")
