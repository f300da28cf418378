"""The claim's life after registration, as a state machine: what a PSRM receipt or
notification does to a claim and what the fagsystem hears of it. No I/O.
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


def state_after_receipt(claim: Claim, action: PsrmAction) -> ClaimState:
    """The claim's state once the debtor system has taken in ``action``'s receipt."""
    creates = action.code in (PsrmActionCode.CREATE, PsrmActionCode.RESUBMIT)
    if action.status is PsrmStatus.REJECTED:
        return ClaimState.REJECTED if creates else claim.state
    if creates:
        return ClaimState.HANDED_OVER
    if action.code is PsrmActionCode.RECALL and action.status is PsrmStatus.DONE:
        return ClaimState.RECALLED
    return claim.state


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
