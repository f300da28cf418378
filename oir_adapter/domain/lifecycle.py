"""The claim's life after registration, as a state machine: which step takes a claim
from which state to which (:func:`advance`, one table, :data:`TRANSITIONS`), what a PSRM
receipt or notification does to it, and what the fagsystem hears of it. No I/O: the
emulator asks this module for the new state and only persists it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from oir_adapter.domain.actions import NotificationType, PsrmNotification
from oir_adapter.domain.handover import MappingError, claim_ref, find_sub_claim
from oir_adapter.domain.model import (
    CLOSED_STATES,
    OPEN_STATES,
    ZERO,
    Claim,
    ClaimState,
    CoverageSource,
    PsrmAction,
    PsrmActionCode,
    PsrmStatus,
    RejectionReason,
)


class EventType(StrEnum):
    """``HaendelseTypeKode``."""

    COVERAGE = "DAEKNING"
    WRITE_OFF = "AFSKRIVNING"
    STATE = "TILSTAND"


class Step(StrEnum):
    """What can happen to a registered claim."""

    HAND_OVER = "hand-over"  # OPRETFORDRING or GENINDSENDFORDRING goes to PSRM
    ACCEPTED = "accepted"  # PSRM's receipt of a hand-over: received, in hearing, in process, done
    REJECTED = "rejected"  # PSRM's receipt of a hand-over: AFVIST
    RECALL = "recall"  # the municipality recalls (Tilbagekald, or a deferral while with PSRM)
    RECALL_DONE = "recall-done"  # PSRM's receipt of a TILBAGEKALD: UDFOERT
    RETURNED = "returned"  # PSRM's notification RETUR: PSRM sends the claim back
    PSRM_COVERAGE = "psrm-coverage"  # PSRM's notification DAEKNING
    PSRM_WRITE_OFF = "psrm-write-off"  # PSRM's notification AFSKRIVNING
    COVERAGE = "coverage"  # a payment or an offset in the debtor system
    # a payment in the debtor system on a claim with PSRM (PSRM gets a NEDSKRIV INDB)
    COVERAGE_WITH_PSRM = "coverage-with-psrm"
    WRITE_DOWN = "write-down"  # the municipality writes down (Nedskriv)
    CANCEL = "cancel"  # the municipality cancels (Annuller)


class IllegalStep(ValueError):
    """A step the claim's state does not allow (a bug in the caller: the rules refuse such
    requests before anything is booked)."""


_WITH_PSRM = frozenset({ClaimState.HANDED_OVER})

#: step → (the states it may start from, the state it leads to when something is left,
#: the state it leads to when nothing is left; ``None``: the state stays).
TRANSITIONS: dict[Step, tuple[frozenset[ClaimState], ClaimState | None, ClaimState | None]] = {
    Step.HAND_OVER: (OPEN_STATES, ClaimState.HANDED_OVER, ClaimState.HANDED_OVER),
    Step.ACCEPTED: (OPEN_STATES, ClaimState.HANDED_OVER, ClaimState.HANDED_OVER),
    Step.REJECTED: (OPEN_STATES, ClaimState.REJECTED, ClaimState.REJECTED),
    Step.RECALL: (OPEN_STATES, ClaimState.RECALLED, ClaimState.RECALLED),
    Step.RECALL_DONE: (OPEN_STATES, ClaimState.RECALLED, ClaimState.RECALLED),
    Step.RETURNED: (OPEN_STATES, ClaimState.RECALLED, ClaimState.RECALLED),
    Step.PSRM_COVERAGE: (OPEN_STATES, None, ClaimState.COVERED_BY_PSRM),
    Step.PSRM_WRITE_OFF: (OPEN_STATES, None, ClaimState.WRITTEN_OFF),
    Step.COVERAGE: (OPEN_STATES, None, ClaimState.PAID),
    Step.COVERAGE_WITH_PSRM: (_WITH_PSRM, None, ClaimState.PAID),
    Step.WRITE_DOWN: (OPEN_STATES, None, ClaimState.WRITTEN_OFF),
    Step.CANCEL: (OPEN_STATES, ClaimState.CANCELLED, ClaimState.CANCELLED),
}


def advance(state: ClaimState, step: Step, *, outstanding: Decimal) -> ClaimState:
    """The claim's state after ``step``, given what is still owed after it.

    A closed state never moves. :attr:`Step.COVERAGE` settles a claim only while it is with
    the debtor system; on a claim with PSRM the caller books the payment as
    :attr:`Step.COVERAGE_WITH_PSRM`, once it has told PSRM of it.
    """
    if state in CLOSED_STATES:
        raise IllegalStep(f"a claim in {state} is closed; {step} is not possible")
    allowed, left, settled = TRANSITIONS[step]
    if state not in allowed:
        raise IllegalStep(f"{step} is not possible for a claim in {state}")
    if step is Step.COVERAGE and state in _WITH_PSRM:
        return state
    after = settled if outstanding <= 0 else left
    return state if after is None else after


@dataclass(frozen=True, slots=True)
class FagsystemEvent:
    """One ØIR ``Haendelse`` of ``RegistrerDaekningAfskrivningRequest``.

    ``event_id`` is derived from PSRM's own ids, so reporting the same receipt or
    notification twice gives the same ``HaendelseID`` and the fagsystem can ignore it.
    """

    event_id: str
    type: EventType
    account_number: str
    claim_id: str
    fagsystem_claim_id: str
    date: date
    amount: Decimal | None = None
    source: CoverageSource | None = None
    source_id: str | None = None
    reason_code: str | None = None
    status: ClaimState | None = None
    remaining: Decimal | None = None
    rejection_reasons: tuple[RejectionReason, ...] = field(default=())


def _event(claim: Claim, event_id: str, kind: EventType, day: date,
           **values: Any) -> FagsystemEvent:
    return FagsystemEvent(event_id=event_id, type=kind, account_number=claim.account_number,
                          claim_id=claim.id or claim_ref(claim),
                          fagsystem_claim_id=claim.fagsystem_claim_id, date=day, **values)


def oir_psrm_status(status: PsrmStatus | None) -> str:
    """PSRM's status of a hand-over as the ØIR answers show it: not answered yet, or in
    hearing (HOERING, PSRM asks the creditor and decides later), is received (MODTAGET)."""
    if status is None or status is PsrmStatus.HEARING:
        return PsrmStatus.RECEIVED.value
    return status.value


def step_of_receipt(action: PsrmAction) -> Step | None:
    """The step a receipt is for the claim, or ``None`` when it moves nothing (the answer to
    a write-down or write-up, a refused recall, a recall not done yet)."""
    creates = action.code in (PsrmActionCode.CREATE, PsrmActionCode.RESUBMIT)
    if creates:
        return Step.REJECTED if action.status is PsrmStatus.REJECTED else Step.ACCEPTED
    if action.code is PsrmActionCode.RECALL and action.status is PsrmStatus.DONE:
        return Step.RECALL_DONE
    return None


def state_after_receipt(claim: Claim, action: PsrmAction) -> ClaimState:
    """The claim's state once the debtor system has taken in ``action``'s receipt."""
    step = step_of_receipt(action)
    if step is None or claim.state in CLOSED_STATES:
        return claim.state
    return advance(claim.state, step, outstanding=claim.outstanding)


def events_from_receipt(claim: Claim, action: PsrmAction, *, on: date) -> list[FagsystemEvent]:
    """What the fagsystem hears of a receipt, given the claim as it was before it.

    - OPRETFORDRING/GENINDSENDFORDRING ``MODTAGET``, ``SAGSBEHANDL`` or ``UDFOERT``: one TILSTAND
      ``OVERDRAGET`` event the first time (when the claim was not handed over yet), nothing
      after — PSRM's internal progress is not the fagsystem's business;
    - ``AFVIST`` of a hand-over: TILSTAND ``AFVIST`` with PSRM's numbered reasons, every
      time (a resubmission can be rejected again for new reasons);
    - TILBAGEKALD ``UDFOERT``: TILSTAND ``TILBAGEKALDT``;
    - ``AFVIST`` of a NEDSKRIV/TILBAGEKALD: TILSTAND with the unchanged state, the action
      code as ``AarsagKode`` and the reasons (the fagsystem must know the change failed).

    ``on`` is the day the debtor system registers the change; it dates the event, since
    PSRM's status date can lie in a period the fagsystem has closed already.
    """
    after = state_after_receipt(claim, action)
    event_id = f"PSRM-{action.action_id}-{action.status.value}"
    outstanding = claim.outstanding
    if action.status is PsrmStatus.REJECTED:
        creates = action.code in (PsrmActionCode.CREATE, PsrmActionCode.RESUBMIT)
        return [_event(claim, event_id, EventType.STATE, on, status=after,
                       reason_code=None if creates else action.code.value,
                       remaining=outstanding, rejection_reasons=tuple(action.reasons))]
    if after is claim.state:
        return []
    if after is ClaimState.HANDED_OVER:
        handed = claim.psrm.amount if claim.psrm is not None else outstanding
        return [_event(claim, event_id, EventType.STATE, on, status=after, amount=handed,
                       remaining=outstanding)]
    return [_event(claim, event_id, EventType.STATE, on, status=after, remaining=outstanding)]


def events_from_notification(claim: Claim, notification: PsrmNotification
                             ) -> list[FagsystemEvent]:
    """What the fagsystem hears of a PSRM notification about ``claim`` (as it was before).

    - ``DAEKNING``: a DAEKNING event with ``Kilde=PSRM``, ``AarsagKode`` INDB (collected)
      or MODR (PSRM's own offsetting); when it covers the rest, also TILSTAND
      ``DAEKKET_PSRM``;
    - ``AFSKRIVNING``: an AFSKRIVNING event; when nothing is left, also TILSTAND
      ``AFSKREVET``;
    - ``RETUR`` (``HovedFordringReturAarsagKode``): TILSTAND ``TILBAGEKALDT`` with the code.

    ``Restbeloeb`` never goes below zero: PSRM may collect its own interest on top.
    """
    n = notification
    if n.claim_ref is not None and n.claim_ref != claim_ref(claim) \
            and find_sub_claim(claim, n.claim_ref) is None:
        raise MappingError(f"notification {n.seq_no} is about {n.claim_ref!r}, "
                           f"not claim {claim_ref(claim)!r}")
    event_id = f"PSRM-U{n.seq_no}"
    outstanding = claim.outstanding
    if n.type is NotificationType.RETURN:
        return [_event(claim, event_id, EventType.STATE, n.date, status=ClaimState.RECALLED,
                       reason_code=n.reason_code, remaining=outstanding)]
    amount = n.amount if n.amount is not None else ZERO
    remaining = max(outstanding - amount, ZERO)
    if n.type is NotificationType.COVERAGE:
        events = [_event(claim, event_id, EventType.COVERAGE, n.date, amount=amount,
                         source=CoverageSource.PSRM, source_id=event_id,
                         reason_code=n.source, remaining=remaining)]
        final = ClaimState.COVERED_BY_PSRM
    else:
        events = [_event(claim, event_id, EventType.WRITE_OFF, n.date, amount=amount,
                         reason_code=n.reason_code, remaining=remaining)]
        final = ClaimState.WRITTEN_OFF
    if remaining == ZERO and claim.state is not final:
        events.append(_event(claim, f"{event_id}-T", EventType.STATE, n.date, status=final,
                             remaining=ZERO))
    return events
