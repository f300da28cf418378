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

from .codecs.writing import Writer
from .contracts import OIR_NS
from .model import Party, PartyKind

_W = Writer(OIR_NS, {"oir": OIR_NS})
_sub, _opt, _fill = _W.sub, _W.opt, _W.fill


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls: the municipality (CVR) and its fagsystem."""

    authority_cvr: str
    fagsystem_id: str


def _request(name: str, caller: Caller, transaction_id: str | None,
             when: datetime | None) -> etree._Element:
    root = _W.root(name)
    head = _sub(root, "Hovedoplysninger")
    _sub(head, "TransaktionsID", transaction_id or str(uuid.uuid4()))
    _sub(head, "TransaktionsTid", when or datetime.now())
    _sub(root, "MyndighedCVR", caller.authority_cvr)
    _sub(root, "FagsystemID", caller.fagsystem_id)
    return root


def _party(parent: etree._Element, name: str, party: Party) -> None:
    holder = _sub(parent, name)
    _sub(holder, "CPRNummer" if party.kind is PartyKind.CPR else "CVRNummer", party.number)


@dataclass(frozen=True, slots=True)
class RoleSpec:
    """A party in a role on an account (administrator, co-liable party, equal partner), as
    ``OpretDebitorkonto`` names it; ``channel``: its material subscription."""

    party: Party
    name: str
    street: str | None = None
    postcode: str | None = None
    city: str | None = None
    channel: str | None = None


def _address(parent: etree._Element, street: str | None, postcode: str | None,
             city: str | None) -> None:
    if street and postcode and city:
        adr = _sub(parent, "Adresse")
        _sub(adr, "Vejnavn", street)
        _sub(adr, "Postnummer", postcode)
        _sub(adr, "By", city)


def _subscription(parent: etree._Element, channel: str | None) -> None:
    if channel:
        _sub(_sub(parent, "Materialeabonnement"), "Kanal", channel)


def opret_debitorkonto(caller: Caller, *, reference: str, party: Party, name: str,
                       account_type: str = "PERSON", street: str | None = None,
                       postcode: str | None = None, city: str | None = None,
                       channel: str | None = None, administrators: Sequence[RoleSpec] = (),
                       co_liable: Sequence[RoleSpec] = (), partners: Sequence[RoleSpec] = (),
                       transaction_id: str | None = None,
                       when: datetime | None = None) -> etree._Element:
    """``channel``: the debtor's material subscription; ``administrators``, ``co_liable``
    and ``partners``: the account's other parties (each an object the end-date operations
    can end)."""
    root = _request("OpretDebitorkontoRequest", caller, transaction_id, when)
    _sub(root, "FagsystemReference", reference)
    debitor = _sub(root, "Debitor")
    _party(debitor, "Part", party)
    _sub(debitor, "Navn", name)
    _address(debitor, street, postcode, city)
    _sub(root, "Kontotype", account_type)
    _subscription(root, channel)
    for samling, item, roles in (("AdministratorSamling", "Administrator", administrators),
                                 ("JuridiskMedhaefterSamling", "JuridiskMedhaefter", co_liable),
                                 ("LigestillingspartnerSamling", "Ligestillingspartner",
                                  partners)):
        if roles:
            holder = _sub(root, samling)
            for r in roles:
                x = _sub(holder, item)
                _party(x, "Part", r.party)
                _sub(x, "Navn", r.name)
                _address(x, r.street, r.postcode, r.city)
                _subscription(x, r.channel)
    return root


#: The end-date operations (their wire names) that name a party, and the one that names a
#: claim too; the other two (…JuridiskAnsvarlig) name only the account.
BY_PARTY = frozenset({
    "AfslutGaeldendeAdresseAdministrator", "AfslutGaeldendeAdresseJuridiskMedhaefter",
    "AfslutHaeftelse", "AfslutLigestillingspartner", "AfslutAdministrator",
    "AfslutMaterialeabonnementAdministrator", "AfslutMaterialeabonnementJuridiskMedhaefter"})


def afslut(caller: Caller, operation: str, *, account_number: str, end: date,
           party: Party | None = None, claim_id: str | None = None,
           transaction_id: str | None = None, when: datetime | None = None) -> etree._Element:
    """A request of one of the nine end-date operations (``operation``: its wire name,
    e.g. ``AfslutHaeftelse``): end an object of the account on ``end``, its last day."""
    if (operation in BY_PARTY) != (party is not None) or \
            (operation == "AfslutHaeftelse") != (claim_id is not None):
        raise ValueError(f"{operation} takes "
                         + ("a claim id and a party" if operation == "AfslutHaeftelse" else
                            "a party" if operation in BY_PARTY else "neither party nor claim"))
    root = _request(f"{operation}Request", caller, transaction_id, when)
    _sub(root, "DebitorkontoNummer", account_number)
    _opt(root, "FordringID", claim_id)
    if party is not None:
        _party(root, "Part", party)
    _sub(root, "SlutDato", end)
    return root


def opret_debitorkonto_anmodning(caller: Caller, *, account_number: str, request_id: str,
                                 move_claim: tuple[str, str] | None = None,
                                 move_sub_claims: tuple[Sequence[str], str] | None = None,
                                 status: str | None = None, on: date | None = None,
                                 transaction_id: str | None = None,
                                 when: datetime | None = None) -> etree._Element:
    """An anmodning on an account: exactly one of ``move_claim`` (claim id, to account),
    ``move_sub_claims`` (sub-claim ids, to claim id) or ``status`` (``AKTIV``/``LUKKET``);
    ``on``: the day to perform it (``None``: at once)."""
    if sum(x is not None for x in (move_claim, move_sub_claims, status)) != 1:
        raise ValueError("give exactly one of move_claim, move_sub_claims, status")
    root = _request("OpretDebitorkontoAnmodningRequest", caller, transaction_id, when)
    _sub(root, "DebitorkontoNummer", account_number)
    _sub(root, "AnmodningID", request_id)
    if move_claim is not None:
        _fill(_sub(root, "FlytFordring"), FordringID=move_claim[0],
              TilDebitorkontoNummer=move_claim[1])
    elif move_sub_claims is not None:
        holder = _sub(root, "FlytDelfordring")
        for sub_id in move_sub_claims[0]:
            _sub(holder, "DelfordringID", sub_id)
        _sub(holder, "TilFordringID", move_sub_claims[1])
    else:
        _sub(_sub(root, "AendrKontostatus"), "KontoStatus", status)
    _opt(root, "UdfoerelsesDato", on)
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
    _fill(f, FagsystemFordringID=c.fagsystem_claim_id, FordringTypeKode=c.type_code,
          FordringArt=c.art, Beskrivelse=c.description, ValutaKode=c.currency,
          Hovedstol=c.principal, PeriodeFra=c.period_from, PeriodeTil=c.period_to,
          StiftelsesDato=c.founded, ForfaldsDato=c.due_date,
          SidsteRettidigeBetalingsDato=c.srb, ForaeldelsesDato=c.limitation_date,
          DomsDato=c.judgment_date, ForligsDato=c.settlement_date,
          ModregningTilladt=c.offsetting_allowed)
    if c.co_liable:
        samling = _sub(f, "HaefterSamling")
        for party, name in c.co_liable:
            h = _sub(samling, "Haefter")
            _party(h, "Part", party)
            _opt(h, "Navn", name)
    if c.sub_claims:
        samling = _sub(f, "DelfordringSamling")
        for s in c.sub_claims:
            _fill(_sub(samling, "Delfordring"), DelfordringTypeKode=s.type_code, Beloeb=s.amount,
                  PeriodeFra=s.period_from, PeriodeTil=s.period_to, StiftelsesDato=s.founded)
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
    i = _fill(_sub(root, "Indbetaling"), IndbetalingID=payment_id, Beloeb=amount,
              BetalingsDato=paid)
    if payer is not None:
        _party(i, "Indbetaler", payer)
    _fill(i, DebitorkontoNummer=account_number, BetalingsID=fik, FordringID=claim_id)
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
    _fill(y, YdelsesTypeKode=benefit_type, UdbetalingsDato=payout, Bruttobeloeb=gross,
          BeskyttetBeloeb=protected, UdbetalendeMyndighedCVR=paying_authority_cvr)
    _opt(root, "Simulering", simulate)
    return root


def party_of(values: Iterable[tuple[str, str]]) -> Party:
    """A party from ``("cpr", "…")`` or ``("cvr", "…")`` pairs (the first that is set)."""
    for key, value in values:
        if value:
            return Party(PartyKind.CPR if key.lower() == "cpr" else PartyKind.CVR, str(value))
    raise ValueError("cpr or cvr is required")
