"""``DebitorRegistreringAfsend``: accounts, claims and their state changes."""

from __future__ import annotations

from decimal import Decimal

from lxml import etree

from emulator import bookkeeping
from emulator.ends.debtor.common import (
    answer_errors,
    fejl_of,
    oir_violation,
    own_account,
    read_oir,
    too_large,
)
from emulator.soap.pipeline import Call
from emulator.storage import ledger
from emulator.storage.ledger import AccountRole, Role
from emulator.storage.store import next_number
from oir_adapter import mapping
from oir_adapter.codecs import Reader
from oir_adapter.codecs.oir import decode_claim, decode_debtor, decode_header
from oir_adapter.codecs.oir_replies import (
    fill,
    reply,
    sub,
)
from oir_adapter.domain import lifecycle, rules
from oir_adapter.domain.bankdays import next_bank_day
from oir_adapter.domain.identifiers import is_valid_party, make_payment_id
from oir_adapter.domain.model import (
    LARGEST_AMOUNT,
    AccountStatus,
    AccountType,
    Claim,
    ClaimArt,
    ClaimState,
    DebtorAccount,
    Invoice,
    PartyKind,
    RecallReason,
    WriteDownReason,
    WriteOff,
)


def opret_debitorkonto(call: Call) -> etree._Element:
    r = read_oir(call.body)
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
        errors.append(oir_violation("OIR-311", kind, number=debtor.party))
    if errors:
        return answer_errors(call, response, errors)
    existing = ledger.account_by_reference(call.conn, header.authority_cvr, header.fagsystem_id,
                                           reference)
    if existing is not None:
        if existing.debtor.party != debtor.party:
            return answer_errors(call, response, [oir_violation("OIR-312", reference=reference)])
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


def _claim_signature(claim: Claim) -> tuple[object, ...]:
    """What makes two registrations of the same FagsystemFordringID the same claim."""
    return (claim.type_code, claim.principal, claim.period_from, claim.period_to, claim.founded,
            claim.due_date, claim.srb, tuple((s.type_code, s.amount) for s in claim.sub_claims))


def opret_fordring(call: Call) -> etree._Element:
    r = read_oir(call.body)
    response = "OpretFordringResponse"
    number = r.text("DebitorkontoNummer")
    account = own_account(call, number)
    if account is None:
        return answer_errors(call, response, [oir_violation("OIR-301", account=number)])
    if account.status is AccountStatus.CLOSED:
        return answer_errors(call, response, [oir_violation("OIR-317", account=number)])
    f = r.find("Fordring")
    assert f is not None
    # A value the schema let through but no claim can hold (a date in the year 10000)
    # raises DecodeError: a Client fault naming the element (see endpoints).
    claim = decode_claim(f, account_number=number, received=call.today,
                         creditor_cvr=account.authority_cvr)
    existing = ledger.claim_by_reference(call.conn, number, claim.fagsystem_claim_id)
    if existing is not None:
        if _claim_signature(existing) != _claim_signature(claim):
            return answer_errors(call, response, [
                oir_violation("OIR-303", ref=claim.fagsystem_claim_id)])
        call.summary = f"claim {existing.id} exists"
        return _claim_created(call, existing)
    context = rules.RuleContext(claim_types=call.runtime.claim_types(call.conn),
                                creditor_id=account.authority_cvr)
    violations = rules.validate_claim(claim, today=call.today, context=context, fmt="oir")
    errors = fejl_of(violations)
    if errors:
        return answer_errors(call, response, errors)
    bound = ledger.balance_bound(call.conn, number)
    if bound is None or bound + claim.total > LARGEST_AMOUNT:  # else it cannot be
        balance = ledger.account_balances(call.conn, [number])[number] + claim.total
        if balance > LARGEST_AMOUNT:
            return answer_errors(call, response, [too_large("Saldo", balance, "principal")])
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
    invoice_element(el, claim.invoice)
    return el


def invoice_element(parent: etree._Element, inv: Invoice) -> None:
    fill(sub(parent, "Opkraevning"), OpkraevningID=inv.id, FIKKortart=inv.card_type,
         BetalingsID=inv.payment_id, KreditorNummer=inv.creditor_number, Beloeb=inv.amount,
         ForfaldsDato=inv.due_date, SidsteRettidigeBetalingsDato=inv.srb,
         RykkerDato=inv.reminder_date)


def ret_fordring_tilstand(call: Call) -> etree._Element:
    r = read_oir(call.body)
    response = "RetFordringTilstandResponse"
    claim_id = r.text("FordringID")
    claim = ledger.get_claim(call.conn, claim_id)
    account = own_account(call, claim.account_number) if claim else None
    if claim is None or account is None:
        return answer_errors(call, response, [oir_violation("OIR-302", claim_id=claim_id)])
    change = next(c for c in call.body if isinstance(c.tag, str)
                  and etree.QName(c).localname in ("Annuller", "Nedskriv", "Henstand", "Overdrag",
                                                   "Tilbagekald"))
    kind = etree.QName(change).localname
    c = read_oir(change)
    violations = rules.validate_state_change(
        claim, _state_change(kind, c), today=call.today,
        context=rules.RuleContext(claim_types=call.runtime.claim_types(call.conn),
                                  creditor_id=account.authority_cvr, handover=kind == "Overdrag"))
    errors = fejl_of(violations)
    if errors:
        return answer_errors(call, response, errors)
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
