"""The debtor end's bookings with side effects: coverage and offsets on claims, hand-over to
PSRM, and the outgoing work they cause (fagsystem callbacks, PSRM actions).

Used by the ØIR handlers and by the clock alike, so a payment booked through
``ForetagIndbetaling`` and an offset booked on a payout date end up the same way: lines
stored, claims saved, the fagsystem told, and PSRM written down when the claim is there.
Outgoing work is queued in the outbox inside the caller's transaction and sent after it
commits, so nothing is ever sent for a change that was rolled back.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from lxml import etree
from sqlalchemy import Connection, insert, select

from emulator.runtime import Runtime
from emulator.storage import ledger
from emulator.storage import schema as t
from emulator.storage.store import get_setting, next_number
from oir_adapter import mapping
from oir_adapter.domain import lifecycle
from oir_adapter.domain.coverage import apply_coverage, fill_claim, sum_per_claim
from oir_adapter.domain.model import (
    ZERO,
    Claim,
    ClaimArt,
    ClaimState,
    Coverage,
    CoverageSource,
    DebtorAccount,
    Offset,
    OffsetStatus,
    Party,
    PsrmHandover,
    RecallReason,
    WriteDownReason,
)
from oir_adapter.domain.offsetting import plan_offsets
from oir_adapter.domain.rules import LOWER_LIMIT
from oir_adapter.mapping import EventType, FagsystemEvent

# ---------------------------------------------------------------- the outbox


def queue(conn: Connection, *, target: str, operation: str, body: etree._Element,
          context: dict[str, Any], now: datetime) -> None:
    """Queue one outgoing SOAP call; the outbox worker sends it after commit."""
    conn.execute(insert(t.outbox).values(
        target=target, operation=operation,
        payload=etree.tostring(body, encoding="UTF-8"), context=context, status="PENDING",
        attempts=0, next_attempt=datetime.now(), created=now))


def queue_events(conn: Connection, runtime: Runtime, account: DebtorAccount,
                 events: Sequence[FagsystemEvent], now: datetime) -> None:
    """Tell the account's fagsystem about ``events`` (one callback)."""
    if not events:
        return
    body = mapping.callback_request(events, transaction_id=str(uuid.uuid4()),
                                    transaction_time=now, authority_cvr=account.authority_cvr,
                                    fagsystem_id=account.fagsystem_id)
    queue(conn, target="fagsystem", operation="RegistrerDaekningAfskrivning", body=body,
          context={"events": [e.event_id for e in events], "account": account.number,
                   "claims": sorted({e.claim_id for e in events})},
          now=now)


class AccountEvents:
    """Fagsystem events gathered over one batch of PSRM answers (a delivery's answer, a
    receipt poll), told in one callback per account when the batch is booked, not one per
    claim; each account is read once."""

    def __init__(self) -> None:
        self._accounts: dict[str, DebtorAccount] = {}
        self._events: dict[str, list[FagsystemEvent]] = {}

    def account(self, conn: Connection, number: str) -> DebtorAccount:
        """The account ``number`` (read at its first use in the batch)."""
        found = self._accounts.get(number)
        if found is None:
            found = ledger.get_account(conn, number)
            assert found is not None, number
            self._accounts[number] = found
        return found

    def add(self, account: DebtorAccount, events: Sequence[FagsystemEvent]) -> None:
        if events:
            self._accounts.setdefault(account.number, account)
            self._events.setdefault(account.number, []).extend(events)

    def queue(self, conn: Connection, runtime: Runtime, now: datetime) -> None:
        """Queue the callbacks (the caller's transaction), in the order the accounts came."""
        for number, events in self._events.items():
            queue_events(conn, runtime, self._accounts[number], events, now)
        self._events.clear()


#: The settings key holding who subscribes to which distributed message (see
#: :func:`subscribes`; set through ``PUT /_admin/subscriptions`` or a scenario).
SUBSCRIPTIONS = "subscriptions"
#: The messages distributed to subscribers.
DISTRIBUTED = ("FordringTilIndbetaling",)


def subscribes(conn: Connection, fagsystem_id: str, message: str) -> bool:
    """Whether the fagsystem subscribes to ``message`` (``FordringTilIndbetaling``): its
    FagsystemID, or ``*`` for every fagsystem, is listed under the message's name."""
    listed = (get_setting(conn, SUBSCRIPTIONS) or {}).get(message) or []
    return "*" in listed or fagsystem_id in listed


def queue_fordring_til_indbetaling(conn: Connection, account: DebtorAccount, claim: Claim,
                                   now: datetime) -> None:
    """Distribute ``FordringTilIndbetaling`` for a claim open for payment to the account's
    fagsystem (through its callback endpoint)."""
    body = mapping.fordring_til_indbetaling_request(claim, account,
                                                    transaction_id=str(uuid.uuid4()),
                                                    transaction_time=now)
    queue(conn, target="fagsystem", operation="FordringTilIndbetaling", body=body,
          context={"account": account.number, "claims": [claim.id]}, now=now)


#: The most actions one ``MFFordringIndberet`` delivery of a day's run carries (the schema
#: sets no bound; PSRM's batch interface is used with deliveries of this size).
MAX_ACTIONS_PER_DELIVERY = 500


class DayDeliveries:
    """The PSRM actions a day's run gathers (hand-overs, and the write-downs of the day's
    offsets), queued when the day's bookings are done as deliveries of up to
    :data:`MAX_ACTIONS_PER_DELIVERY` actions per fordringshaver, in the order gathered.

    One delivery of many actions costs one SOAP round trip, one PSRM transaction and one
    outbox item instead of one per claim; PSRM judges each action of it on its own, so a
    rejected action leaves its neighbours as they are.
    """

    def __init__(self) -> None:
        self._by_creditor: dict[str, list[tuple[etree._Element, str]]] = {}

    def add(self, actions: Iterable[tuple[etree._Element, str]]) -> None:
        """Gather ``actions`` (each with the claim id it is about)."""
        for action, claim_id in actions:
            creditor = action.findtext(mapping.Q_HAVER_ID) or ""
            self._by_creditor.setdefault(creditor, []).append((action, claim_id))

    def queue(self, conn: Connection, runtime: Runtime, now: datetime) -> int:
        """Queue what was gathered in the outbox (the caller's transaction); how many
        deliveries that made. The gathering is empty afterwards."""
        deliveries = 0
        for creditor in sorted(self._by_creditor):
            actions = self._by_creditor[creditor]
            for start in range(0, len(actions), MAX_ACTIONS_PER_DELIVERY):
                queue_psrm(conn, runtime, actions[start:start + MAX_ACTIONS_PER_DELIVERY], now)
                deliveries += 1
        self._by_creditor.clear()
        return deliveries


def queue_psrm(conn: Connection, runtime: Runtime, actions: Sequence[tuple[etree._Element, str]],
               now: datetime, *, gather: DayDeliveries | None = None) -> None:
    """Send ``actions`` (each with the claim id it is about) to PSRM as one delivery, or,
    with ``gather`` (a day's run), add them to the day's deliveries."""
    if not actions:
        return
    if gather is not None:
        gather.add(actions)
        return
    config = runtime.config
    # MFLeveranceID is a number, as real senders send it: the SE number, then a counter
    delivery_id = f"{config.se_number}{next_number(conn, 'psrm_delivery'):08d}"
    body = mapping.delivery([a for a, _ in actions], se_number=config.se_number,
                            delivery_id=delivery_id, transaction_id=str(uuid.uuid4()),
                            transaction_time=now)
    queue(conn, target="psrm", operation="MFFordringIndberet", body=body,
          context={"delivery_id": delivery_id, "claims": [c for _, c in actions],
                   "codes": [a[0].text for a, _ in actions]}, now=now)


# ---------------------------------------------------------------- coverage and offsets


def book_lines(conn: Connection, runtime: Runtime, account: DebtorAccount, claims: list[Claim],
               lines: Sequence[Coverage | Offset], *, source: CoverageSource, source_id: str,
               day: date, now: datetime, gather: DayDeliveries | None = None
               ) -> list[FagsystemEvent]:
    """Apply coverage or offset lines to ``claims`` (of ``account``) and do what follows.

    Stores the coverage lines, saves the claims, reports DAEKNING (and a state change when
    a claim ends paid) to the fagsystem, and writes claims in PSRM down with ``NEDSKRIV
    INDB`` for the part PSRM holds (one delivery, or into the day's ``gather``). Returns
    the events reported.
    """
    if not lines:
        return []
    by_id = {c.id: c for c in claims}
    before = {c.id: (c.outstanding, c.psrm.amount if c.psrm else None) for c in claims}
    apply_coverage(claims, lines)
    ledger.insert_coverage(conn, account.number, [
        Coverage(source=source, source_id=source_id, claim_id=line.claim_id, amount=line.amount,
                 date=day, sub_claim_id=line.sub_claim_id) for line in lines])
    events: list[FagsystemEvent] = []
    nedskriv: list[tuple[etree._Element, str]] = []
    for claim_id, amount in sum_per_claim(lines).items():
        claim = by_id[claim_id]
        outstanding_before, psrm_amount = before[claim_id]
        if claim.state is ClaimState.HANDED_OVER and claim.psrm is not None and psrm_amount:
            retained = outstanding_before - psrm_amount  # kept back for planned offsets
            psrm_part = min(psrm_amount, max(ZERO, amount - retained))
            if psrm_part > 0:
                claim.psrm.amount = psrm_amount - psrm_part
                if claim.psrm.efi_claim_id:
                    nedskriv.append((mapping.nedskriv_action(
                        claim.psrm.efi_claim_id, psrm_part, WriteDownReason.PAYMENT,
                        creditor_id=runtime.config.creditor_for(account.authority_cvr),
                        effective=day), claim.id))
                else:  # PSRM has not answered yet: the NEDSKRIV goes when its id comes
                    ledger.insert_pending_writedown(conn, claim.id, psrm_part,
                                                    WriteDownReason.PAYMENT.value, day, now)
            claim.state = lifecycle.advance(claim.state, lifecycle.Step.COVERAGE_WITH_PSRM,
                                            outstanding=claim.outstanding)
        ledger.save_claim(conn, claim)
        event_id = f"{source.value[:4]}-{source_id}-{claim.id}"
        events.append(FagsystemEvent(
            event_id=event_id, type=EventType.COVERAGE, account_number=account.number,
            claim_id=claim.id, fagsystem_claim_id=claim.fagsystem_claim_id, date=day,
            amount=amount, source=source, source_id=source_id, remaining=claim.outstanding))
        if claim.outstanding == 0:
            events.append(FagsystemEvent(
                event_id=f"{event_id}-T", type=EventType.STATE, account_number=account.number,
                claim_id=claim.id, fagsystem_claim_id=claim.fagsystem_claim_id, date=day,
                status=claim.state, remaining=ZERO))
    queue_events(conn, runtime, account, events, now)
    queue_psrm(conn, runtime, nedskriv, now, gather=gather)
    return events


def release_pending_writedowns(conn: Connection, runtime: Runtime, claim: Claim, *,
                               send: bool, now: datetime) -> int:
    """Settle the write-downs kept for ``claim`` while PSRM's EFI id was unknown.

    ``send``: PSRM has taken the hand-over and its id is known now, so each one goes as a
    ``NEDSKRIV`` (one delivery); otherwise (the hand-over was rejected, the claim is back
    with its remainder already reduced) they are dropped. Returns how many were sent.
    """
    pending = ledger.pending_writedowns(conn, claim.id)
    if not pending:
        return 0
    ledger.delete_pending_writedowns(conn, claim.id)
    efi_claim_id = claim.psrm.efi_claim_id if claim.psrm is not None else None
    if not send or not efi_claim_id:
        return 0
    queue_psrm(conn, runtime, [(mapping.nedskriv_action(
        efi_claim_id, p.amount, WriteDownReason(p.reason),
        creditor_id=runtime.config.creditor_for(claim.creditor_cvr), effective=p.effective), claim.id) for p in pending], now)
    return len(pending)


def release_pending_recall(conn: Connection, runtime: Runtime, claim: Claim, *, send: bool,
                           now: datetime) -> bool:
    """Settle the recall kept for ``claim`` while PSRM's EFI id was unknown.

    ``send``: PSRM has taken the hand-over and its id is known now, so the recall goes as
    one ``TILBAGEKALD`` (the reason and effective date asked for); otherwise (the hand-over
    was rejected) it is dropped. Either way the claim's pending write-downs go too, unsent:
    a recalled claim comes back from PSRM whole. Returns whether there was a recall.
    """
    pending = ledger.pending_recall(conn, claim.id)
    if pending is None:
        return False
    ledger.delete_pending_recall(conn, claim.id)
    ledger.delete_pending_writedowns(conn, claim.id)
    efi_claim_id = claim.psrm.efi_claim_id if claim.psrm is not None else None
    if send and efi_claim_id:
        queue_psrm(conn, runtime, [(mapping.tilbagekald_action(
            efi_claim_id, RecallReason(pending.reason),
            creditor_id=runtime.config.creditor_for(claim.creditor_cvr),
            effective=pending.effective), claim.id)], now)
    return True


def replan_benefit(conn: Connection, runtime: Runtime, benefit: ledger.BenefitRecord,
                   day: date) -> list[Offset]:
    """Plan (again) the offsets of an announced payout against what is open now."""
    ledger.delete_planned_offsets(conn, benefit.payment.id)
    claims = ledger.claims_for_party(conn, benefit.payment.recipient)
    plan = plan_offsets(benefit.payment, claims, on=day, claim_types=runtime.claim_types(conn),
                        benefits=runtime.benefit_table(conn), status=OffsetStatus.PLANNED)
    ledger.insert_offsets(conn, {c.id: c.account_number for c in claims}, plan.lines)
    return plan.lines


def book_benefit(conn: Connection, runtime: Runtime, benefit: ledger.BenefitRecord, day: date,
                 now: datetime, gather: DayDeliveries | None = None
                 ) -> tuple[list[Offset], Decimal]:
    """On the payout date: offset against what is due then, book it, report it (the
    write-downs it sends PSRM go into the day's ``gather``)."""
    ledger.delete_planned_offsets(conn, benefit.payment.id)
    claims = ledger.claims_for_party(conn, benefit.payment.recipient)
    plan = plan_offsets(benefit.payment, claims, on=day, claim_types=runtime.claim_types(conn),
                        benefits=runtime.benefit_table(conn), status=OffsetStatus.BOOKED)
    book_offset_plan(conn, runtime, claims, plan.lines, benefit.payment.id, day, now, gather)
    ledger.set_benefit_status(conn, benefit.payment.id, OffsetStatus.BOOKED)
    return plan.lines, plan.net_payout


def book_offset_plan(conn: Connection, runtime: Runtime, claims: list[Claim],
                     lines: Sequence[Offset], benefit_id: str, day: date, now: datetime,
                     gather: DayDeliveries | None = None) -> None:
    """Store booked offset lines and book them as coverage, account by account."""
    account_of = {c.id: c.account_number for c in claims}
    ledger.insert_offsets(conn, account_of, lines)
    for number in dict.fromkeys(account_of[line.claim_id] for line in lines):
        account = ledger.get_account(conn, number)
        assert account is not None
        mine = [c for c in claims if c.account_number == number]
        book_lines(conn, runtime, account, mine,
                   [line for line in lines if account_of[line.claim_id] == number],
                   source=CoverageSource.OFFSET, source_id=benefit_id, day=day, now=now,
                   gather=gather)


def write_down(claim: Claim, amount: Decimal) -> Decimal:
    """Take up to ``amount`` off the claim's remainders, interest and fees first (the same
    order coverage uses); return what was taken. Used for write-offs and write-downs."""
    taken = ZERO
    for sub_id, part in fill_claim(claim, amount):
        claim.take(sub_id, part)
        taken += part
    return taken


# ---------------------------------------------------------------- hand-over


@dataclasses.dataclass(frozen=True, slots=True)
class HandoverFacts:
    """What a day's run reads once for all its hand-overs instead of once a claim: whose
    payouts are announced, which claims have money reserved from one, and which have a
    recall or write-downs kept for PSRM. A claim outside all three needs none of those
    look-ups (a payout plans offsets only on its recipient's own accounts)."""

    benefit_recipients: set[Party]
    planned_offsets: set[str]
    pending_psrm: set[str]

    @classmethod
    def load(cls, conn: Connection, day: date, claim_ids: Iterable[str]) -> HandoverFacts:
        return cls(ledger.upcoming_benefit_recipients(conn, day),
                   ledger.claims_with_planned_offsets(conn),
                   ledger.claims_with_pending_psrm(conn, claim_ids))


@dataclasses.dataclass(frozen=True, slots=True)
class HandoverResult:
    claim_id: str
    handed_over: Decimal
    reserved: Decimal
    outcome: str  # handed_over | reserved_for_offsetting | below_lower_limit

    def as_json(self) -> dict[str, Any]:
        return {"end": "oir", "event": "handover", "claim_id": self.claim_id,
                "outcome": self.outcome, "handed_over": str(self.handed_over),
                "reserved_for_offsetting": str(self.reserved)}


def hand_over(conn: Connection, runtime: Runtime, claim: Claim, account: DebtorAccount,
              art: ClaimArt | None, day: date, now: datetime,
              gather: DayDeliveries | None = None, facts: HandoverFacts | None = None
              ) -> HandoverResult:
    """Hand ``claim`` to PSRM: offset in known upcoming payouts first, then the rest.

    Every announced payout of the debtor is planned again, so money it will bring is
    reserved for this claim; only what is left is sent as ``OPRETFORDRING`` (INDR or MODR
    per claim type), and only when it reaches PSRM's lower limit. The action goes in a
    delivery of its own (a fagsystem's ``Overdrag``), or into the day's ``gather``; the
    day's ``facts`` spare the look-ups that would find nothing.
    """
    payouts = facts is None or account.debtor.party in facts.benefit_recipients
    if payouts:
        for benefit in ledger.upcoming_benefits(conn, account.debtor.party, day):
            replan_benefit(conn, runtime, benefit, day)
    planned: list[Offset] = []
    if payouts or (facts is not None and claim.id in facts.planned_offsets):
        planned = [o for o in ledger.offsets_for_account(conn, account.number)
                   if o.claim_id == claim.id and o.status is OffsetStatus.PLANNED]
    reserved = sum((o.amount for o in planned), ZERO)
    remainder = claim.outstanding - reserved
    if remainder <= 0:
        return HandoverResult(claim.id, ZERO, reserved, "reserved_for_offsetting")
    if remainder <= LOWER_LIMIT:  # PSRM 215: the amount must be above the limit
        return HandoverResult(claim.id, ZERO, reserved, "below_lower_limit")
    types = runtime.claim_types(conn)
    resolved = mapping.resolve_art(claim, art, types)
    view = _without(claim, planned)
    # only the liabilities in force on the day go to PSRM: one ended (AfslutHæftelse) is not
    # handed over
    view.co_liable = [c for c in claim.co_liable if c.in_force(day)]
    if claim.state is ClaimState.RECALLED and claim.psrm is not None \
            and claim.psrm.resubmittable:
        # recalled for a reason PSRM lets a claim come back after (HENS, KLAG, BORD, HAFT):
        # PSRM gets it again under its own id (GENINDSENDFORDRING); after a rejection, or a
        # recall for FEJL or BORT, it is a new claim (OPRETFORDRING)
        action = mapping.genindsend_action(
            view, account, creditor_id=runtime.config.creditor_for(account.authority_cvr),
            efi_claim_id=claim.psrm.efi_claim_id if claim.psrm else None, art=resolved,
            claim_types=types)
    else:
        action = mapping.opret_fordring_action(
            view, account, creditor_id=runtime.config.creditor_for(account.authority_cvr),
            art=resolved, claim_types=types)
    if claim.state is ClaimState.RECALLED and ledger.pending_recall(conn, claim.id) and \
            psrm_delivery_on_its_way(conn, claim.id):
        # Recalled before PSRM named the claim, and the first hand-over may still reach
        # PSRM: sent now, this one would race it (PSRM would refuse it as a duplicate while
        # collecting the first). So it waits with the recall: when the receipt brings the
        # id, the TILBAGEKALD goes and this hand-over right after it (see
        # resubmit_after_recall), as if PSRM had answered in time.
        claim.art = resolved
        claim.state = lifecycle.advance(claim.state, lifecycle.Step.HAND_OVER, outstanding=remainder)
        assert claim.psrm is not None  # a pending recall means an earlier hand-over
        claim.psrm.amount = remainder
        ledger.save_claim(conn, claim)
        return HandoverResult(claim.id, remainder, reserved, "handed_over")
    claim.art = resolved
    claim.state = lifecycle.advance(claim.state, lifecycle.Step.HAND_OVER, outstanding=remainder)
    claim.psrm = PsrmHandover(art=resolved, status=None, status_date=day, amount=remainder)
    # the action carries what is left now: write-downs kept from an earlier hand-over that
    # never got its EFI id are in that amount already
    if facts is None or claim.id in facts.pending_psrm:
        ledger.delete_pending_writedowns(conn, claim.id)
        ledger.delete_pending_recall(conn, claim.id)  # this hand-over is what was asked for
    ledger.save_claim(conn, claim)
    queue_psrm(conn, runtime, [(action, claim.id)], now, gather=gather)
    return HandoverResult(claim.id, remainder, reserved, "handed_over")


def waits_for_recall(conn: Connection, claim: Claim) -> bool:
    """Whether ``claim`` was handed over again while its recall still waits for PSRM's id
    (see :func:`hand_over`): only then is a claim OVERDRAGET with a recall pending."""
    return claim.state is ClaimState.HANDED_OVER and \
        ledger.pending_recall(conn, claim.id) is not None


def resubmit_after_recall(conn: Connection, runtime: Runtime, claim: Claim, *,
                          rejected: bool, day: date, now: datetime) -> HandoverResult:
    """PSRM has answered the hand-over that was recalled and then handed over again:
    release the recall (sent as ``TILBAGEKALD`` now that the id is known, dropped when
    PSRM rejected the first hand-over) and hand the claim over again with what is open
    today: ``GENINDSENDFORDRING`` with PSRM's id when the recall's reason allows it, else
    ``OPRETFORDRING``."""
    pending = ledger.pending_recall(conn, claim.id)
    if pending is not None and claim.psrm is not None:
        claim.psrm.recall_reason = RecallReason(pending.reason)
    release_pending_recall(conn, runtime, claim, send=not rejected, now=now)
    claim.state = lifecycle.advance(claim.state, lifecycle.Step.REJECTED if rejected else lifecycle.Step.RECALL,
                          outstanding=claim.outstanding)
    account = ledger.get_account(conn, claim.account_number)
    assert account is not None
    result = hand_over(conn, runtime, claim, account, claim.art, day, now)
    if result.outcome != "handed_over":  # kept back (offsetting, lower limit): as asked
        ledger.save_claim(conn, claim)
    return result


def psrm_delivery_on_its_way(conn: Connection, claim_id: str) -> bool:
    """Whether a delivery to PSRM about ``claim_id`` is queued or being sent (it may yet
    reach PSRM; one given up on never will)."""
    rows = conn.execute(select(t.outbox.c.context).where(
        t.outbox.c.target == "psrm", t.outbox.c.status.in_(("PENDING", "SENDING")))).all()
    return any(claim_id in (row.context or {}).get("claims", ()) for row in rows)


def _without(claim: Claim, lines: Iterable[Offset]) -> Claim:
    """A copy of ``claim`` with the reserved offset lines taken off its remainders."""
    subs = [dataclasses.replace(s) for s in claim.sub_claims]
    view = dataclasses.replace(claim, sub_claims=subs)
    for line in lines:
        view.take(line.sub_claim_id, line.amount)
    return view
