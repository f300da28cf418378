"""PSRM actions and notifications as values: one ``FordringAktion`` of a delivery
(:class:`ActionRequest`), the delivery (:class:`Delivery`), and what PSRM tells afterwards
(:class:`PsrmNotification`). The codecs read and write them; the rules and the PSRM end
judge them. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from oir_adapter.domain.model import Claim, DecodeError, Party, PsrmActionCode

#: The element each action code carries directly under ``AktionValg``.
ACTION_ELEMENTS: dict[PsrmActionCode, str] = {
    PsrmActionCode.CREATE: "OpretFordringAktion",
    PsrmActionCode.WRITE_DOWN: "MFNedskrivFordringStruktur",
    PsrmActionCode.RECALL: "MFTilbagekaldFordringStruktur",
    PsrmActionCode.RESUBMIT: "MFGenindsendFordringStruktur",
    PsrmActionCode.WRITE_UP: "MFOpskrivningReguleringStruktur",
    PsrmActionCode.WRITE_UP_ANNULLED_PAYMENT:
        "MFOpskrivningAnnulleretNedskrivningIndbetalingStruktur",
    PsrmActionCode.WRITE_UP_REVERSED_ADJUSTMENT:
        "MFOpskrivningOmgjortNedskrivningReguleringStruktur",
    PsrmActionCode.WRITE_DOWN_ANNULLED_WRITE_UP:
        "MFNedskrivningAnnulleretOpskrivningReguleringStruktur",
    PsrmActionCode.WRITE_DOWN_ANNULLED_PAYMENT_WRITE_UP:
        "MFNedskrivningAnnulleretOpskrivningIndbetalingStruktur",
    PsrmActionCode.WRONG_PRINCIPAL: "MFFejlagtigHovedstolIndberetningStruktur",
    PsrmActionCode.CHANGE: "MFAendrFordringStruktur",
}


@dataclass(frozen=True, slots=True)
class Liability:
    """What one ``MFHæftelseStruktur`` says about judgment and settlement (rules 531–533
    read the booleans and the dates together)."""

    index: int  # 1-based
    judgment: bool | None
    judgment_date: date | None
    settlement: bool | None
    settlement_date: date | None


@dataclass(slots=True)
class ActionRequest:
    """One ``FordringAktion`` of a delivery, decoded."""

    index: int  # 1-based position in the delivery
    code: PsrmActionCode
    creditor_id: str  # DMIFordringHaverID
    element: Any  # the action's XML element, for the PSRM end's own messages
    choice: str | None  # local name of the element under AktionValg
    claim: Claim | None = None  # OPRETFORDRING / GENINDSENDFORDRING
    liabilities: list[Liability] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # MFNoteStruktur/MFNoteTekst
    action_id: str | None = None  # MFAktionID, when the sender gives one
    action_id_ref: str | None = None  # MFAktionIDRef: the action an annulment reverses
    efi_claim_id: str | None = None  # the PSRM claim the action is about
    amount: Decimal | None = None  # write-down/-up amount, corrected principal
    amount_path: str | None = None  # where that amount sits in the structure
    currency: str | None = None
    reason: str | None = None  # write-down reason (INDB…), recall reason (HENS…)
    reason_path: str | None = None
    reason_text: str | None = None  # …ÅrsagBegr
    effective_date: date | None = None  # …VirkningFra
    effective_path: str | None = None
    debtor: Party | None = None  # EFIKundeIdentStruktur
    problems: list[DecodeError] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"FordringAktionSamling/FordringAktion[{self.index}]"

    @property
    def expected_choice(self) -> str:
        return ACTION_ELEMENTS[self.code]


@dataclass(slots=True)
class Delivery:
    """A decoded ``MFFordringIndberet_I``."""

    transaction_id: str | None
    transaction_time: datetime | None
    se_number: str
    delivery_id: str
    actions: list[ActionRequest]


class NotificationType(StrEnum):
    """``MFUnderretTypeKode``."""

    COVERAGE = "DAEKNING"
    WRITE_OFF = "AFSKRIVNING"
    RETURN = "RETUR"


@dataclass(frozen=True, slots=True)
class PsrmNotification:
    """One ``MFUnderretStruktur``: something PSRM did to a handed-over claim.

    ``date`` is when it took effect (``DækningDato`` for coverage, else the day of
    ``MFUnderretningDatoTid``); ``notified`` is always that day.
    """

    seq_no: int
    type: NotificationType
    efi_claim_id: str
    notified: date
    date: date
    claim_ref: str | None = None
    creditor_id: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    source: str | None = None  # DækningKildeKode: INDB (collected) | MODR (PSRM's offsetting)
    reason_code: str | None = None  # AfskrivningÅrsagKode | HovedFordringReturAarsagKode
    text: str | None = None  # ReturTekst
