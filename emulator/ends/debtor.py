"""The ØIR debtor end: a working reference debtor system behind the ØIR services.

Each handler decodes its (schema-valid) request, checks it against the rule catalogue and
the ledger, and either answers with a ``FejlSamling`` leaving the store untouched, or
books the change and answers with the result. Outgoing work (fagsystem callbacks, PSRM
actions) is queued by :mod:`emulator.bookkeeping` in the same transaction.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal

from lxml import etree

from emulator import bookkeeping
from emulator.ends import anmodning, end_dates
from emulator.soap.pipeline import Call, OperationHandler, request_hash
from emulator.storage import ledger
from emulator.storage.ledger import AccountRole, Role
from emulator.storage.store import next_number
from oir_adapter import mapping
from oir_adapter.codecs import Reader
from oir_adapter.codecs.oir import decode_claim, decode_debtor, decode_header, decode_party
from oir_adapter.codecs.oir_replies import (
    Fejl,
    children,
    fill,
    opt,
    party,
    record,
    reply,
    sub,
    transaction_id_of,
)
from oir_adapter.contracts import OIR_NS
from oir_adapter.domain import lifecycle, rules
from oir_adapter.domain.bankdays import next_bank_day
from oir_adapter.domain.coverage import plan_coverage
from oir_adapter.domain.identifiers import is_valid_party, make_payment_id
from oir_adapter.domain.lifecycle import oir_psrm_status
from oir_adapter.domain.model import (
    LARGEST_AMOUNT,
    OPEN_STATES,
    ZERO,
    AccountStatus,
    AccountType,
    Address,
    BenefitPayment,
    Claim,
    ClaimArt,
    ClaimState,
    Coverage,
    CoverageSource,
    DebtorAccount,
    Invoice,
    Offset,
    OffsetStatus,
    PartyKind,
    RecallReason,
    WriteDownReason,
    WriteOff,
)
from oir_adapter.domain.offsetting import plan_offsets


def _r(element: etree._Element) -> Reader:
    return Reader(element, OIR_NS)


def _fejl(violations: Sequence[rules.Violation]) -> list[Fejl]:
    return [Fejl(*v.to_fejl()) for v in violations if v.severity == "error"]


def _v(rule_id: str, field: str | None = None, **values: object) -> rules.Violation:
    return rules.violation(rule_id, fmt="oir", field=field, **values)  # type: ignore[arg-type]


def _too_large(total: str, amount: Decimal, field: str) -> rules.Violation:
    """OIR-320: a sum the account's replies report would pass what they can carry."""
    return _v("OIR-320", field, total=total, amount=amount, limit=LARGEST_AMOUNT)


def _refuse(response: str) -> Callable[[Call, str], etree._Element]:
    def refuse(call: Call, transaction_id: str) -> etree._Element:
        return reply(response, transaction_id, call.now, _fejl([
            _v("PSRM-600", "transaction_id", action_id=transaction_id)]))
    return refuse


def _answer_errors(call: Call, response: str, errors: Sequence[rules.Violation | Fejl]
                   ) -> etree._Element:
    call.outcome = "rejected"
    lines = [e if isinstance(e, Fejl) else Fejl(*e.to_fejl()) for e in errors]
    call.summary = "; ".join(f"{f.code} {f.field or ''}".strip() for f in lines)[:400]
    return reply(response, call.transaction_id, call.now, lines)


# ================================================================ DebitorRegistrering


def opret_debitorkonto(call: Call) -> etree._Element:
    r = _r(call.body)
    header = decode_header(r)
    reference = r.text("FagsystemReference")
    debitor = r.find("Debitor")
    assert debitor is not None
    debtor = decode_debtor(debitor)
    account_type = AccountType(r.text("Kontotype"))
    response = "OpretDebitorkontoResponse"
    errors: list[rules.Violation] = []
    if not is_valid_party(debtor.party, today=call.today):
        kind = "debtor.cpr" if debtor.party.kind is PartyKind.CPR else "debtor.cvr"
        errors.append(_v("OIR-311", kind, number=debtor.party))
    if errors:
        return _answer_errors(call, response, errors)
    existing = ledger.account_by_reference(call.conn, header.authority_cvr, header.fagsystem_id,
                                           reference)
    if existing is not None:
        if existing.debtor.party != debtor.party:
            return _answer_errors(call, response, [_v("OIR-312", reference=reference)])
        added = _add_roles(call, existing, r)
        el = reply(response, call.transaction_id, call.now)
        sub(el, "DebitorkontoNummer", existing.number)
        sub(el, "Oprettet", False)
        call.summary = f"account {existing.number} exists" + (f", {added} objects added"
                                                               if added else "")
        return el
    number = str(next_number(call.conn, "account", 100001))
    account = DebtorAccount(number=number, fagsystem_reference=reference, debtor=debtor,
                            account_type=account_type, authority_cvr=header.authority_cvr,
                            fagsystem_id=header.fagsystem_id)
    ledger.insert_account(call.conn, account, call.now)
    _add_roles(call, account, r)
    call.correlation = {"account": number}
    call.summary = f"account {number} created"
    el = reply(response, call.transaction_id, call.now)
    sub(el, "DebitorkontoNummer", number)
    sub(el, "Oprettet", True)
    return el


_ROLE_ELEMENTS = (("AdministratorSamling/Administrator", Role.ADMINISTRATOR),
                  ("JuridiskMedhaefterSamling/JuridiskMedhaefter", Role.CO_LIABLE),
                  ("LigestillingspartnerSamling/Ligestillingspartner", Role.PARTNER))


def _add_roles(call: Call, account: DebtorAccount, r: Reader) -> int:
    """Add the objects an OpretDebitorkonto names that the account does not hold yet (a
    party in a role that is still running, the debtor's running material subscription);
    return how many were added."""
    added = 0
    held = ledger.roles_of(call.conn, account.number)
    channel = r.opt_text("Materialeabonnement/Kanal")
    if channel is not None:
        mine = [x for x in held if x.role is Role.RESPONSIBLE and x.ended is None]
        if not any(x.channel is not None and x.subscription_ended is None for x in mine):
            d = account.debtor
            ledger.insert_role(call.conn, AccountRole(account.number, Role.RESPONSIBLE, d.party,
                                                      d.name, d.address, channel), call.now)
            added += 1
    for path, role in _ROLE_ELEMENTS:
        for x in r.all(path):
            who = decode_debtor(x)
            if any(h.role is role and h.party == who.party and h.ended is None for h in held):
                continue
            made = ledger.insert_role(call.conn, AccountRole(
                account.number, role, who.party, who.name, who.address,
                x.opt_text("Materialeabonnement/Kanal")), call.now)
            held.append(made)
            added += 1
    return added


def _own_account(call: Call, number: str) -> DebtorAccount | None:
    """The account if it exists and belongs to the calling authority and fagsystem."""
    r = _r(call.body)
    account = ledger.get_account(call.conn, number)
    if account is None or account.authority_cvr != r.text("MyndighedCVR"):
        return None
    return account


def _claim_signature(claim: Claim) -> tuple[object, ...]:
    """What makes two registrations of the same FagsystemFordringID the same claim."""
    return (claim.type_code, claim.principal, claim.period_from, claim.period_to, claim.founded,
            claim.due_date, claim.srb, tuple((s.type_code, s.amount) for s in claim.sub_claims))


def opret_fordring(call: Call) -> etree._Element:
    r = _r(call.body)
    response = "OpretFordringResponse"
    number = r.text("DebitorkontoNummer")
    account = _own_account(call, number)
    if account is None:
        return _answer_errors(call, response, [_v("OIR-301", account=number)])
    if account.status is AccountStatus.CLOSED:
        return _answer_errors(call, response, [_v("OIR-317", account=number)])
    f = r.find("Fordring")
    assert f is not None
    # A value the schema let through but no claim can hold (a date in the year 10000)
    # raises DecodeError: a Client fault naming the element (see endpoints).
    claim = decode_claim(f, account_number=number, received=call.today,
                         creditor_cvr=account.authority_cvr)
    existing = ledger.claim_by_reference(call.conn, number, claim.fagsystem_claim_id)
    if existing is not None:
        if _claim_signature(existing) != _claim_signature(claim):
            return _answer_errors(call, response, [_v("OIR-303", ref=claim.fagsystem_claim_id)])
        call.summary = f"claim {existing.id} exists"
        return _claim_created(call, existing)
    context = rules.RuleContext(claim_types=call.runtime.claim_types(call.conn),
                                creditor_id=account.authority_cvr)
    violations = rules.validate_claim(claim, today=call.today, context=context, fmt="oir")
    errors = _fejl(violations)
    if errors:
        return _answer_errors(call, response, errors)
    balance = ledger.account_balances(call.conn, [number])[number] + claim.total
    if balance > LARGEST_AMOUNT:
        return _answer_errors(call, response, [_too_large("Saldo", balance, "principal")])
    seq = next_number(call.conn, "claim")
    claim.id = f"F{seq:07d}"
    for n, s in enumerate(claim.sub_claims, start=1):
        s.id = f"{claim.id}-{n}"
    claim.invoice = Invoice(
        id=f"O{seq:07d}", payment_id=make_payment_id(seq),
        creditor_number=call.runtime.config.creditor_number, amount=claim.total,
        due_date=next_bank_day(claim.due_date), srb=next_bank_day(claim.srb))
    ledger.insert_claim(call.conn, claim)
    if bookkeeping.subscribes(call.conn, account.fagsystem_id, "FordringTilIndbetaling"):
        bookkeeping.queue_fordring_til_indbetaling(call.conn, account, claim, call.now)
        call.wake_outbox = True
    call.correlation = {"account": number, "claim": claim.id}
    call.summary = f"claim {claim.id} {claim.type_code} {claim.total} DKK"
    return _claim_created(call, claim)


def _claim_created(call: Call, claim: Claim) -> etree._Element:
    el = reply("OpretFordringResponse", call.transaction_id, call.now)
    sub(el, "FordringID", claim.id)
    assert claim.invoice is not None
    _invoice(el, claim.invoice)
    return el


def _invoice(parent: etree._Element, inv: Invoice) -> None:
    fill(sub(parent, "Opkraevning"), OpkraevningID=inv.id, FIKKortart=inv.card_type,
         BetalingsID=inv.payment_id, KreditorNummer=inv.creditor_number, Beloeb=inv.amount,
         ForfaldsDato=inv.due_date, SidsteRettidigeBetalingsDato=inv.srb,
         RykkerDato=inv.reminder_date)


def ret_fordring_tilstand(call: Call) -> etree._Element:
    r = _r(call.body)
    response = "RetFordringTilstandResponse"
    claim_id = r.text("FordringID")
    claim = ledger.get_claim(call.conn, claim_id)
    account = _own_account(call, claim.account_number) if claim else None
    if claim is None or account is None:
        return _answer_errors(call, response, [_v("OIR-302", claim_id=claim_id)])
    change = next(c for c in call.body if isinstance(c.tag, str)
                  and etree.QName(c).localname in ("Annuller", "Nedskriv", "Henstand", "Overdrag",
                                                   "Tilbagekald"))
    kind = etree.QName(change).localname
    c = _r(change)
    violations = rules.validate_state_change(
        claim, _state_change(kind, c), today=call.today,
        context=rules.RuleContext(claim_types=call.runtime.claim_types(call.conn),
                                  creditor_id=account.authority_cvr, handover=kind == "Overdrag"))
    errors = _fejl(violations)
    if errors:
        return _answer_errors(call, response, errors)
    rt = call.runtime
    events: list[mapping.FagsystemEvent] = []
    if kind == "Annuller":
        _write_off(call, account, claim, claim.outstanding, "ANNUL", ClaimState.CANCELLED)
    elif kind == "Nedskriv":
        amount = c.money("Beloeb")
        reason = WriteDownReason(c.text("AarsagKode"))
        in_psrm = claim.state is ClaimState.HANDED_OVER and claim.psrm is not None
        final = ClaimState.WRITTEN_OFF
        _write_off(call, account, claim, amount, reason.value, final)
        if in_psrm and claim.psrm is not None:
            part = min(amount, claim.psrm.amount)
            claim.psrm.amount -= part
            ledger.save_claim(call.conn, claim)
            effective = c.opt_date("VirkningsDato") or call.today
            if claim.psrm.efi_claim_id:
                bookkeeping.queue_psrm(call.conn, rt, [(mapping.nedskriv_action(
                    claim.psrm.efi_claim_id, part, reason,
                    creditor_id=rt.config.creditor_for(claim.creditor_cvr), effective=effective),
                    claim.id)], call.now)
            elif part > 0:  # PSRM has not answered yet: the NEDSKRIV goes when its id comes
                ledger.insert_pending_writedown(call.conn, claim.id, part, reason.value,
                                                effective, call.now)
    elif kind == "Henstand":
        claim.deferral_until = c.date("HenstandTilDato")
        if claim.state is ClaimState.HANDED_OVER and claim.psrm and claim.psrm.efi_claim_id:
            bookkeeping.queue_psrm(call.conn, rt, [(mapping.tilbagekald_action(
                claim.psrm.efi_claim_id, RecallReason.DEFERRAL,
                creditor_id=rt.config.creditor_for(claim.creditor_cvr), effective=call.today),
                claim.id)], call.now)
            claim.psrm.recall_reason = RecallReason.DEFERRAL
            claim.state = lifecycle.advance(claim.state, lifecycle.Step.RECALL, outstanding=claim.outstanding)
        ledger.save_claim(call.conn, claim)
    elif kind == "Overdrag":
        result = bookkeeping.hand_over(call.conn, rt, claim, account, ClaimArt(c.text("FordringArt")),
                                       call.today, call.now)
        call.summary = f"hand-over: {result.outcome}"
    elif kind == "Tilbagekald":
        recall = RecallReason(c.text("AarsagKode"))
        if claim.psrm is not None:
            claim.psrm.recall_reason = recall
        if claim.psrm is not None and claim.psrm.efi_claim_id:
            bookkeeping.queue_psrm(call.conn, rt, [(mapping.tilbagekald_action(
                claim.psrm.efi_claim_id, recall,
                creditor_id=rt.config.creditor_for(claim.creditor_cvr),
                effective=call.today), claim.id)], call.now)
        elif claim.state is ClaimState.HANDED_OVER and claim.psrm is not None:
            # PSRM has not answered yet: the TILBAGEKALD goes when its id comes
            ledger.put_pending_recall(call.conn, claim.id, recall.value, call.today, call.now)
        claim.state = lifecycle.advance(claim.state, lifecycle.Step.RECALL, outstanding=claim.outstanding)
        ledger.save_claim(call.conn, claim)
        events.append(mapping.FagsystemEvent(
            event_id=f"TILB-{call.transaction_id}-{claim.id}", type=mapping.EventType.STATE,
            account_number=account.number, claim_id=claim.id,
            fagsystem_claim_id=claim.fagsystem_claim_id, date=call.today,
            status=ClaimState.RECALLED, reason_code=recall.value, remaining=claim.outstanding))
    bookkeeping.queue_events(call.conn, rt, account, events, call.now)
    call.wake_outbox = True
    call.correlation = {"account": account.number, "claim": claim.id}
    call.summary = call.summary or f"{kind} on {claim.id}"
    el = reply(response, call.transaction_id, call.now)
    sub(el, "FordringID", claim.id)
    sub(el, "Status", claim.state.value)
    sub(el, "Restbeloeb", claim.outstanding)
    return el


def _state_change(kind: str, c: Reader) -> rules.StateChange:
    return rules.StateChange(
        kind=rules.StateChangeKind(kind), amount=c.opt_money("Beloeb"),
        deferral_until=c.opt_date("HenstandTilDato"),
        art=ClaimArt(art) if (art := c.opt_text("FordringArt")) else None,
        reason=c.opt_text("AarsagKode") or c.opt_text("Begrundelse"),
        effective_date=c.opt_date("VirkningsDato"))


def _write_off(call: Call, account: DebtorAccount, claim: Claim, amount: Decimal,
               reason: str, final: ClaimState) -> None:
    """Write ``amount`` off the claim (interest and fees first), report it."""
    bookkeeping.write_down(claim, amount)
    claim.state = lifecycle.advance(claim.state, lifecycle.Step.CANCEL if final is ClaimState.CANCELLED
                          else lifecycle.Step.WRITE_DOWN, outstanding=claim.outstanding)
    ledger.save_claim(call.conn, claim)
    if amount > 0:
        ledger.insert_write_off(call.conn, account.number, WriteOff(claim.id, amount, reason,
                                                                    call.today))
    bookkeeping.queue_events(call.conn, call.runtime, account, [mapping.FagsystemEvent(
        event_id=f"AFSK-{call.transaction_id}-{claim.id}", type=mapping.EventType.WRITE_OFF,
        account_number=account.number, claim_id=claim.id,
        fagsystem_claim_id=claim.fagsystem_claim_id, date=call.today, amount=amount,
        reason_code=reason, status=claim.state, remaining=claim.outstanding)], call.now)


# ================================================================ DebitorForespoergsel

_PAGE_DEFAULT = 50


def soeg_debitorkonto(call: Call) -> etree._Element:
    r = _r(call.body)
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
            return _answer_errors(call, response, [_v("OIR-310")])
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
    r = _r(call.body)
    response = "HentDebitorkontoResponse"
    number = r.text("DebitorkontoNummer")
    account = _own_account(call, number)
    if account is None:
        return _answer_errors(call, response, [_v("OIR-301", account=number)])
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
             (_coverage_element(c) for c in ledger.coverage_for_account(conn, number)))
    children(d, "ModregningSamling",
             (_offset_element(o) for o in ledger.offsets_for_account(conn, number)))
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
    _invoice(f, c.invoice)
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


def _coverage_element(c: Coverage) -> etree._Element:
    return record("Daekning", Kilde=c.source.value, KildeID=c.source_id, FordringID=c.claim_id,
                  DelfordringID=c.sub_claim_id, Beloeb=c.amount, Dato=c.date)


def _offset_element(o: Offset) -> etree._Element:
    return record("Modregning", YdelsesudbetalingID=o.benefit_payment_id, FordringID=o.claim_id,
                  DelfordringID=o.sub_claim_id, Beloeb=o.amount, Dato=o.date,
                  Status=o.status.value)


def _payment_element(p: ledger.PaymentRecord, lines: Sequence[Coverage]) -> etree._Element:
    i = record("Indbetaling", IndbetalingID=p.id, DebitorkontoNummer=p.account_number,
               Beloeb=p.amount, BetalingsDato=p.date)
    children(i, "DaekningSamling", (_coverage_element(c) for c in lines))
    sub(i, "Overskud", p.surplus)
    return i


# ================================================================ DebitorIndbetaling


def _locate_payment(call: Call) -> tuple[DebtorAccount | None, list[rules.Violation], Reader]:
    """Check a payment and find the account it goes to: the account number, else the FIK
    id's claim, else the claim id's, else the payer's account with this authority."""
    i = _r(call.body).find("Indbetaling")
    assert i is not None
    account, errors = _payment_account(call, i)
    amount = i.money("Beloeb")
    if amount <= 0:
        errors.append(_v("OIR-108", "payment.amount", amount=amount))
    return account, errors, i


def _payment_account(call: Call, i: Reader) -> tuple[DebtorAccount | None, list[rules.Violation]]:
    number = i.opt_text("DebitorkontoNummer")
    fik = i.opt_text("BetalingsID")
    claim_id = i.opt_text("FordringID")
    payer = i.find("Indbetaler")
    if number is not None:
        account = _own_account(call, number)
        return account, ([] if account else [_v("OIR-301", account=number)])
    if fik is not None:
        claim = ledger.claim_by_payment_id(call.conn, fik)
        account = _own_account(call, claim.account_number) if claim else None
        return account, ([] if account else [_v("OIR-307", payment_id=fik)])
    if claim_id is not None:
        claim = ledger.get_claim(call.conn, claim_id)
        account = _own_account(call, claim.account_number) if claim else None
        return account, ([] if account else [_v("OIR-302", "payment.claim_id",
                                                claim_id=claim_id)])
    if payer is not None:
        authority = _r(call.body).text("MyndighedCVR")
        accounts = [a for a in ledger.accounts_for_party(call.conn, decode_party(payer))
                    if a.authority_cvr == authority]
        if accounts:
            return accounts[0], []
    return None, [_v("OIR-306")]


def _plan_payment(call: Call, account: DebtorAccount, i: Reader
                  ) -> tuple[list[Claim], list[Coverage], Decimal]:
    claims = ledger.claims_for_accounts(call.conn, [account.number])
    plan = plan_coverage(
        claims, i.money("Beloeb"), source=CoverageSource.PAYMENT, source_id=i.text("IndbetalingID"),
        on=i.date("BetalingsDato"), claim_types=call.runtime.claim_types(call.conn),
        target_claim_id=i.opt_text("FordringID"), target_payment_id=i.opt_text("BetalingsID"))
    return claims, plan.lines, plan.surplus


def _payment_reply(call: Call, response: str, account_number: str, i: Reader,
                   lines: Sequence[Coverage], surplus: Decimal) -> etree._Element:
    el = reply(response, call.transaction_id, call.now)
    p = fill(sub(el, "Indbetaling"), IndbetalingID=i.text("IndbetalingID"),
             DebitorkontoNummer=account_number, Beloeb=i.money("Beloeb"),
             BetalingsDato=i.date("BetalingsDato"))
    children(p, "DaekningSamling", (_coverage_element(c) for c in lines))
    sub(p, "Overskud", surplus)
    return el


def foretag_indbetaling(call: Call) -> etree._Element:
    response = "ForetagIndbetalingResponse"
    account, errors, i = _locate_payment(call)
    if errors or account is None:
        return _answer_errors(call, response, errors)
    amount = i.money("Beloeb")
    payment_id = i.text("IndbetalingID")
    digest = request_hash(i.element)
    known = ledger.get_payment(call.conn, payment_id)
    if known is not None:
        if ledger.get_payment_hash(call.conn, payment_id) != digest:
            return _answer_errors(call, response, [_v("OIR-304", payment=payment_id)])
        call.summary = f"payment {payment_id} already booked"
        return _payment_reply(call, response, known.account_number, i, ledger.coverage_for_source(
            call.conn, CoverageSource.PAYMENT, payment_id), known.surplus)
    claims, lines, surplus = _plan_payment(call, account, i)
    if surplus:
        credit = sum((p.surplus for p in ledger.payments_for_account(call.conn, account.number)),
                     surplus)
        if credit > LARGEST_AMOUNT:
            return _answer_errors(call, response, [
                _too_large("Tilgodehavende", credit, "payment.amount")])
    bookkeeping.book_lines(call.conn, call.runtime, account, claims, lines,
                           source=CoverageSource.PAYMENT, source_id=payment_id,
                           day=i.date("BetalingsDato"), now=call.now)
    payer = i.find("Indbetaler")
    ledger.insert_payment(call.conn, id=payment_id, account_number=account.number, amount=amount,
                          day=i.date("BetalingsDato"),
                          payer=decode_party(payer) if payer is not None else None,
                          payment_id=i.opt_text("BetalingsID"), claim_id=i.opt_text("FordringID"),
                          surplus=surplus, request_hash=digest)
    call.wake_outbox = True
    call.correlation = {"account": account.number, "payment": payment_id}
    call.summary = f"payment {payment_id} {amount} DKK: {len(lines)} lines, surplus {surplus}"
    return _payment_reply(call, response, account.number, i, lines, surplus)


def soeg_delfordring_til_indbetaling(call: Call) -> etree._Element:
    response = "SoegDelfordringTilIndbetalingResponse"
    account, errors, i = _locate_payment(call)
    if errors or account is None:
        return _answer_errors(call, response, errors)
    _claims, lines, surplus = _plan_payment(call, account, i)
    call.summary = f"preview {i.money('Beloeb')} DKK: {len(lines)} lines"
    return _payment_reply(call, response, account.number, i, lines, surplus)


# ================================================================ DebitorModregning


def foretag_modregning(call: Call) -> etree._Element:
    r = _r(call.body)
    response = "ForetagModregningResponse"
    header = decode_header(r)
    y = r.find("Ydelsesudbetaling")
    assert y is not None
    modtager = y.find("Modtager")
    assert modtager is not None
    benefit = BenefitPayment(
        id=y.text("YdelsesudbetalingID"), recipient=decode_party(modtager),
        benefit_type=y.text("YdelsesTypeKode"), payout_date=y.date("UdbetalingsDato"),
        gross=y.money("Bruttobeloeb"), protected=y.money("BeskyttetBeloeb"),
        paying_authority_cvr=y.opt_text("UdbetalendeMyndighedCVR") or header.authority_cvr)
    simulate = bool(r.opt_bool("Simulering"))
    table = call.runtime.benefit_table(call.conn)
    errors: list[rules.Violation] = []
    if not table.knows(benefit.benefit_type):
        errors.append(_v("OIR-308", benefit_type=benefit.benefit_type))
    if benefit.gross < 0:
        errors.append(_v("OIR-108", "benefit.gross", amount=benefit.gross))
    if benefit.protected < 0 or benefit.protected > benefit.gross:
        errors.append(_v("OIR-309", protected=benefit.protected, gross=benefit.gross))
    if errors:
        return _answer_errors(call, response, errors)
    digest = request_hash(y.element)
    known = ledger.get_benefit(call.conn, benefit.id)
    if known is not None and not simulate:
        if known.request_hash != digest:
            return _answer_errors(call, response, [_v("OIR-305", benefit=benefit.id)])
        lines = ledger.offsets_for_benefit(call.conn, benefit.id)
        call.summary = f"payout {benefit.id} already {known.status.value}"
        return _offset_reply(call, benefit, known.status, lines)
    claims = ledger.claims_for_party(call.conn, benefit.recipient)
    types = call.runtime.claim_types(call.conn)
    if simulate:
        plan = plan_offsets(benefit, claims, on=call.today, claim_types=types, benefits=table,
                            status=OffsetStatus.SIMULATED)
        call.summary = f"simulated payout {benefit.id}: offsets {plan.total}"
        return _offset_reply(call, benefit, OffsetStatus.SIMULATED, plan.lines)
    ledger.insert_benefit(call.conn, benefit, authority_cvr=header.authority_cvr,
                          fagsystem_id=header.fagsystem_id, status=OffsetStatus.PLANNED,
                          request_hash=digest)
    record = ledger.get_benefit(call.conn, benefit.id)
    assert record is not None
    call.correlation = {"benefit_payment": benefit.id}
    if benefit.payout_date <= call.today:
        lines, _net = bookkeeping.book_benefit(call.conn, call.runtime, record, call.today,
                                               call.now)
        call.wake_outbox = True
        call.summary = f"payout {benefit.id} booked: offsets {sum((o.amount for o in lines), ZERO)}"
        return _offset_reply(call, benefit, OffsetStatus.BOOKED, lines)
    planned = bookkeeping.replan_benefit(call.conn, call.runtime, record, call.today)
    call.summary = f"payout {benefit.id} announced for {benefit.payout_date}"
    return _offset_reply(call, benefit, OffsetStatus.PLANNED, planned)


def _offset_reply(call: Call, benefit: BenefitPayment, status: OffsetStatus,
                  lines: Sequence[Offset]) -> etree._Element:
    total = sum((o.amount for o in lines), ZERO)
    el = reply("ForetagModregningResponse", call.transaction_id, call.now)
    m = fill(sub(el, "ModregningResultat"), YdelsesudbetalingID=benefit.id, Status=status.value,
             Bruttobeloeb=benefit.gross)
    children(m, "ModregningSamling", (_offset_element(o) for o in lines))
    sub(m, "ModregnetIAlt", total)
    sub(m, "Nettoudbetaling", benefit.gross - total)
    return el


# ================================================================ registration


def _handler(handle: Callable[[Call], etree._Element], response: str, *,
             read_only: bool = False) -> OperationHandler:
    return OperationHandler(handle, _refuse(response), transaction_id_of, read_only)


HANDLERS: dict[str, OperationHandler] = {
    "OpretDebitorkonto": _handler(opret_debitorkonto, "OpretDebitorkontoResponse"),
    "OpretFordring": _handler(opret_fordring, "OpretFordringResponse"),
    "RetFordringTilstand": _handler(ret_fordring_tilstand, "RetFordringTilstandResponse"),
    "SoegDebitorkonto": _handler(soeg_debitorkonto, "SoegDebitorkontoResponse",
                                 read_only=True),
    "HentDebitorkonto": _handler(hent_debitorkonto, "HentDebitorkontoResponse",
                                 read_only=True),
    "ForetagIndbetaling": _handler(foretag_indbetaling, "ForetagIndbetalingResponse"),
    "SoegDelfordringTilIndbetaling": _handler(soeg_delfordring_til_indbetaling,
                                              "SoegDelfordringTilIndbetalingResponse",
                                              read_only=True),
    "ForetagModregning": _handler(foretag_modregning, "ForetagModregningResponse"),
    "OpretDebitorkontoAnmodning": _handler(anmodning.opret_debitorkonto_anmodning,
                                           "OpretDebitorkontoAnmodningResponse"),
    **{name: _handler(handle, f"{name}Response")
       for name, handle in end_dates.handlers().items()},
}
