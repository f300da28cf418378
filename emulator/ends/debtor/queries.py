"""``DebitorForespoergselAfsend``: accounts found and shown whole."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import date

from lxml import etree

from emulator.ends.debtor.common import answer_errors, oir_violation, own_account, read_oir
from emulator.ends.debtor.registration import invoice_element
from emulator.soap.pipeline import Call
from emulator.storage import ledger
from emulator.storage.ledger import AccountRole, Role
from oir_adapter.codecs.oir import decode_party
from oir_adapter.codecs.oir_replies import (
    children,
    fill,
    opt,
    party,
    record,
    reply,
    sub,
)
from oir_adapter.domain.lifecycle import oir_psrm_status
from oir_adapter.domain.model import (
    OPEN_STATES,
    ZERO,
    Address,
    Claim,
    Coverage,
    CoverageSource,
    DebtorAccount,
    Offset,
)

_PAGE_DEFAULT = 50


def soeg_debitorkonto(call: Call) -> etree._Element:
    r = read_oir(call.body)
    response = "SoegDebitorkontoResponse"
    k = r.find("Soegekriterier")
    assert k is not None
    part = k.find("Part")
    criteria = ledger.AccountCriteria(
        party=decode_party(part) if part is not None else None,
        number=k.opt_text("DebitorkontoNummer"), reference=k.opt_text("FagsystemReference"),
        name_prefix=k.opt_text("NavnPrefix"), status=k.opt_text("Status"))
    limit = r.opt_int("MaksAntal") or _PAGE_DEFAULT
    after = None
    token = r.opt_text("FortsaettelsesToken")
    if token:
        after = _decode_token(token)
        if after is None:
            return answer_errors(call, response, [oir_violation("OIR-310")])
    authority = r.text("MyndighedCVR")
    found = [a for a in ledger.search_accounts(call.conn, criteria, after=after, limit=limit + 1,
                                               authority_cvr=authority)]
    more = len(found) > limit
    page = found[:limit]
    balances = ledger.account_balances(call.conn, [a.number for a in page])
    el = reply(response, call.transaction_id, call.now)
    items = []
    for a in page:
        d = record("Debitorkonto", DebitorkontoNummer=a.number,
                   FagsystemReference=a.fagsystem_reference)
        party(d, "Part", a.debtor.party)
        fill(d, Navn=a.debtor.name, Kontotype=a.account_type.value, Status=a.status.value,
                Saldo=balances[a.number])
        items.append(d)
    children(el, "DebitorkontoSamling", items)
    if more:
        sub(el, "FortsaettelsesToken", _encode_token(page[-1].number))
    call.summary = f"{len(page)} accounts{' (more)' if more else ''}"
    return el


def _encode_token(after: str) -> str:
    return base64.urlsafe_b64encode(f"v1:{after}".encode()).decode()


def _decode_token(token: str) -> str | None:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return text[3:] if text.startswith("v1:") and len(text) > 3 else None


def hent_debitorkonto(call: Call) -> etree._Element:
    r = read_oir(call.body)
    response = "HentDebitorkontoResponse"
    number = r.text("DebitorkontoNummer")
    account = own_account(call, number)
    if account is None:
        return answer_errors(call, response, [oir_violation("OIR-301", account=number)])
    claims = ledger.claims_for_accounts(call.conn, [number])
    el = reply(response, call.transaction_id, call.now)
    el.append(account_element(call, account, claims))
    call.summary = f"account {number}: {len(claims)} claims"
    return el


def account_element(call: Call, account: DebtorAccount, claims: list[Claim]) -> etree._Element:
    conn = call.conn
    number = account.number
    d = record("Debitorkonto", DebitorkontoNummer=number,
               FagsystemReference=account.fagsystem_reference)
    debitor = sub(d, "Debitor")
    party(debitor, "Part", account.debtor.party)
    sub(debitor, "Navn", account.debtor.name)
    roles = ledger.roles_of(conn, number)
    responsible = [x for x in roles if x.role is Role.RESPONSIBLE]
    if account.debtor.address is not None:
        ended = next((x.address_ended for x in reversed(responsible) if x.address_ended), None)
        _address(debitor, account.debtor.address, ended)
    payments = ledger.payments_for_account(conn, number)
    fill(d, Kontotype=account.account_type.value, Status=account.status.value,
         Saldo=sum((c.outstanding for c in claims if c.state in OPEN_STATES), ZERO),
         Tilgodehavende=sum((p.surplus for p in payments), ZERO))
    children(d, "FordringSamling", (_claim_element(c) for c in claims))
    children(d, "IndbetalingSamling", (_payment_element(
        p, ledger.coverage_for_source(conn, CoverageSource.PAYMENT, p.id)) for p in payments))
    children(d, "DaekningSamling",
             (coverage_element(c) for c in ledger.coverage_for_account(conn, number)))
    children(d, "ModregningSamling",
             (offset_element(o) for o in ledger.offsets_for_account(conn, number)))
    children(d, "AfskrivningSamling", (
        record("Afskrivning", FordringID=w.claim_id, Beloeb=w.amount, AarsagKode=w.reason,
               Dato=w.date) for w in ledger.write_offs_for_account(conn, number)))
    subscription = next((x for x in reversed(responsible) if x.channel is not None), None)
    if subscription is not None:
        _subscription(d, subscription)
    for samling, item, role in (("AdministratorSamling", "Administrator", Role.ADMINISTRATOR),
                                ("JuridiskMedhaefterSamling", "JuridiskMedhaefter",
                                 Role.CO_LIABLE),
                                ("LigestillingspartnerSamling", "Ligestillingspartner",
                                 Role.PARTNER)):
        children(d, samling, (_role_element(item, x) for x in roles if x.role is role))
    return d


def _address(parent: etree._Element, a: Address, ended: date | None) -> None:
    fill(sub(parent, "Adresse"), Vejnavn=a.street, Husnummer=a.house_number, Etage=a.floor,
         Postnummer=a.postcode, By=a.city, Landekode=a.country, SlutDato=ended)


def _subscription(parent: etree._Element, role: AccountRole) -> None:
    fill(sub(parent, "Materialeabonnement"), Kanal=role.channel, SlutDato=role.subscription_ended)


def _role_element(name: str, role: AccountRole) -> etree._Element:
    x = record(name)
    party(x, "Part", role.party)
    sub(x, "Navn", role.name)
    if role.address is not None:
        _address(x, role.address, role.address_ended)
    if role.channel is not None:
        _subscription(x, role)
    opt(x, "SlutDato", role.ended)
    return x




def _claim_element(c: Claim) -> etree._Element:
    f = record("Fordring", FordringID=c.id, FagsystemFordringID=c.fagsystem_claim_id,
               FordringTypeKode=c.type_code, Status=c.state.value, Hovedstol=c.principal,
               Restbeloeb=c.outstanding, PeriodeFra=c.period_from, PeriodeTil=c.period_to,
               StiftelsesDato=c.founded, ForfaldsDato=c.due_date,
               SidsteRettidigeBetalingsDato=c.srb, ModtagelsesDato=c.received,
               ModregningTilladt=c.offsetting_allowed, HenstandTilDato=c.deferral_until)
    assert c.invoice is not None
    invoice_element(f, c.invoice)
    if c.psrm is not None:
        p = fill(sub(f, "PSRM"), FordringArt=c.psrm.art.value,
                 EFIFordringID=c.psrm.efi_claim_id, MFAktionID=c.psrm.action_id,
                 Status=oir_psrm_status(c.psrm.status),
                 StatusDato=c.psrm.status_date, OverdragetBeloeb=c.psrm.amount)
        children(p, "AfvistAarsagSamling", (
            record("AfvistAarsag", AfvistNummer=r.number, AfvistTekst=r.text[:400])
            for r in c.psrm.reasons))
    haeftere = []
    for h in c.co_liable:
        x = record("Haefter")
        party(x, "Part", h.party)
        opt(x, "Navn", h.name)
        opt(x, "SlutDato", h.ended)
        haeftere.append(x)
    children(f, "HaefterSamling", haeftere)
    children(f, "DelfordringSamling", (
        record("Delfordring", DelfordringID=s.id, DelfordringTypeKode=s.type_code,
               Beloeb=s.amount, Restbeloeb=s.remaining) for s in c.sub_claims))
    return f


def coverage_element(c: Coverage) -> etree._Element:
    return record("Daekning", Kilde=c.source.value, KildeID=c.source_id, FordringID=c.claim_id,
                  DelfordringID=c.sub_claim_id, Beloeb=c.amount, Dato=c.date)


def offset_element(o: Offset) -> etree._Element:
    return record("Modregning", YdelsesudbetalingID=o.benefit_payment_id, FordringID=o.claim_id,
                  DelfordringID=o.sub_claim_id, Beloeb=o.amount, Dato=o.date,
                  Status=o.status.value)


def _payment_element(p: ledger.PaymentRecord, lines: Sequence[Coverage]) -> etree._Element:
    i = record("Indbetaling", IndbetalingID=p.id, DebitorkontoNummer=p.account_number,
               Beloeb=p.amount, BetalingsDato=p.date)
    children(i, "DaekningSamling", (coverage_element(c) for c in lines))
    sub(i, "Overskud", p.surplus)
    return i
