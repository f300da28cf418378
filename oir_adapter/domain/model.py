"""Domain model: debtors, accounts, claims, payments, coverage, offsets, PSRM actions.

Plain dataclasses with no I/O, shared by the engines, the mapping, the codecs and the
emulator's store. Money is :class:`~decimal.Decimal` in DKK and always øre-exact: values
enter through :func:`money`, which refuses anything that would need rounding.
Wire codes (``AABEN``, ``INDR``, ``MODTAGET``…) are the enum *values*, so an enum member
can be written to XML as it is.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum

ØRE = Decimal("0.01")
ZERO = Decimal("0.00")


class DecodeError(ValueError):
    """A value the schema let through but the model cannot hold (e.g. bad money)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class MoneyError(ValueError):
    """An amount that is not a whole number of øre (or not a number at all)."""


#: The largest amount a reply can carry: ØIR's ``BeloebType`` and PSRM's ``BeløbType``
#: hold 15 digits, two of them decimals. Sums a reply reports (an account's balance, its
#: credit) must stay within it, so what would pass it is refused at the door (OIR-320).
LARGEST_AMOUNT = Decimal("9999999999999.99")


def money(value: Decimal | int | str) -> Decimal:
    """Return ``value`` as an øre-exact Decimal; refuse values that need rounding.

    Floats are refused outright: a binary float cannot carry an øre amount exactly.
    """
    if isinstance(value, float):
        raise MoneyError(f"float {value!r} is not an exact amount; pass a str or Decimal")
    try:
        amount = Decimal(value)
    except (InvalidOperation, ValueError) as exc:
        raise MoneyError(f"{value!r} is not an amount") from exc
    if not amount.is_finite():
        raise MoneyError(f"{value!r} is not a finite amount")
    exact = amount.quantize(ØRE)
    if exact != amount:
        raise MoneyError(f"{value!r} has more than two decimals (øre)")
    return exact


# ---------------------------------------------------------------- parties

class PartyKind(StrEnum):
    """Which register identifies a party."""

    CPR = "CPR"
    CVR = "CVR"


@dataclass(frozen=True, slots=True)
class Party:
    """A person (CPR, 10 digits) or a company (CVR, 8 digits)."""

    kind: PartyKind
    number: str

    @classmethod
    def cpr(cls, number: str) -> Party:
        return cls(PartyKind.CPR, number)

    @classmethod
    def cvr(cls, number: str) -> Party:
        return cls(PartyKind.CVR, number)

    def masked(self) -> str:
        """The number as logs and dashboards may show it: CPR keeps the birth date only."""
        if self.kind is PartyKind.CPR and len(self.number) == 10:
            return f"{self.number[:6]}-XXXX"
        return self.number

    def __str__(self) -> str:
        return f"{self.kind.value} {self.masked()}"


def mask_cpr(number: str) -> str:
    """Mask a 10-digit CPR number as ``DDMMYY-XXXX``; other strings pass unchanged."""
    return Party.cpr(number).masked() if len(number) == 10 and number.isdigit() else number


#: Ten digits (optionally ``DDMMYY-NNNN``) whose first six read as a day and month, not
#: part of a longer number: what a CPR number looks like inside free text.
CPR_IN_TEXT = re.compile(
    r"(?<![0-9])((?:0[1-9]|[12][0-9]|3[01])(?:0[1-9]|1[0-2])[0-9]{2})-?([0-9]{4})(?![0-9])")


def mask_cprs(text: str) -> str:
    """``text`` with every CPR-looking number masked as ``DDMMYY-XXXX`` (logs, fault
    texts, journal summaries: wherever a caller may have put one)."""
    return CPR_IN_TEXT.sub(lambda m: mask_cpr(m.group(1) + m.group(2)), text)


@dataclass(slots=True)
class Address:
    street: str
    postcode: str
    city: str
    house_number: str | None = None
    floor: str | None = None
    country: str | None = None


@dataclass(slots=True)
class Debtor:
    party: Party
    name: str
    address: Address | None = None


def fold_name(name: str) -> str:
    """A name as searches compare it: composed (NFC: an Å sent as A and a combining ring is
    the Å typed) and case-folded, Æ, Ø and Å included — which SQLite's ``lower()`` and
    ``LIKE`` leave alone, and PostgreSQL's only in a suitable locale."""
    return unicodedata.normalize("NFC", name).casefold()


class AccountType(StrEnum):
    PERSON = "PERSON"
    COMPANY = "VIRKSOMHED"
    ESTATE = "DOEDSBO"


class AccountStatus(StrEnum):
    ACTIVE = "AKTIV"
    CLOSED = "LUKKET"


# ---------------------------------------------------------------- claims

class ClaimArt(StrEnum):
    """How PSRM is to handle a handed-over claim."""

    RECOVERY = "INDR"  # inddrivelse
    OFFSETTING_ONLY = "MODR"  # modregning only


class ClaimState(StrEnum):
    """Life of a claim in the debtor system."""

    OPEN = "AABEN"
    PAID = "BETALT"
    CANCELLED = "ANNULLERET"
    WRITTEN_OFF = "AFSKREVET"
    HANDED_OVER = "OVERDRAGET"
    REJECTED = "AFVIST"
    RECALLED = "TILBAGEKALDT"
    COVERED_BY_PSRM = "DAEKKET_PSRM"


#: Open states: the claim counts on the debtor's balance and can still be covered by
#: payments and offsets. The one definition; every balance, search and rule uses it.
OPEN_STATES = frozenset({ClaimState.OPEN, ClaimState.HANDED_OVER, ClaimState.REJECTED,
                         ClaimState.RECALLED})
#: Closed states: settled, nothing moves any more (no payment, change, recall or answer
#: from PSRM takes the claim out of them). Every state is open or closed, never both.
CLOSED_STATES = frozenset({ClaimState.PAID, ClaimState.CANCELLED, ClaimState.WRITTEN_OFF,
                           ClaimState.COVERED_BY_PSRM})


class CoverageCategory(StrEnum):
    """Coverage classes of gældsinddrivelsesloven § 4, in order of precedence."""

    FINE = "BOEDE"
    PRIVATE_MAINTENANCE = "UNDERHOLD_PRIVAT"
    PUBLIC_MAINTENANCE = "UNDERHOLD_OFFENTLIG"
    OTHER = "ANDEN"

    @property
    def rank(self) -> int:
        return _CATEGORY_RANK[self]


_CATEGORY_RANK = {
    CoverageCategory.FINE: 1,
    CoverageCategory.PRIVATE_MAINTENANCE: 2,
    CoverageCategory.PUBLIC_MAINTENANCE: 3,
    CoverageCategory.OTHER: 4,
}


class ClaimKind(StrEnum):
    """Whether a type code is a principal claim or a sub-claim (interest, fee)."""

    PRINCIPAL = "HOVEDFORDRING"
    INTEREST = "RENTE"
    FEE = "GEBYR"


@dataclass(slots=True)
class CoLiable:
    """A co-liable party (hæfter) on a claim; ``ended`` is the last day of the liability
    (ØIR ``AfslutHæftelse``), ``None`` while it runs."""

    party: Party
    name: str | None = None
    ended: date | None = None

    def in_force(self, day: date) -> bool:
        return self.ended is None or day <= self.ended


@dataclass(slots=True)
class SubClaim:
    """An interest or fee sub-claim (delfordring); covered before its principal."""

    id: str
    type_code: str
    amount: Decimal
    remaining: Decimal
    period_from: date | None = None
    period_to: date | None = None
    founded: date | None = None


@dataclass(slots=True)
class Invoice:
    """The opkrævning issued for a claim, payable by FIK card type 71 with a payment id."""

    id: str
    payment_id: str  # 15 digits, modulus-10 check digit last
    creditor_number: str
    amount: Decimal
    due_date: date
    srb: date
    card_type: str = "71"
    reminder_date: date | None = None


@dataclass(slots=True)
class RejectionReason:
    """One numbered reason PSRM gave for rejecting an action. ``path`` says which element
    of the action it is about: the emulator keeps it in its journal and dashboard, but it
    is not part of PSRM's text."""

    number: str
    text: str
    path: str | None = field(default=None, compare=False)


class PsrmActionCode(StrEnum):
    """``MFAktionKode``: every action a fordringshaver may send in a delivery."""

    CREATE = "OPRETFORDRING"
    WRITE_DOWN = "NEDSKRIV"
    RECALL = "TILBAGEKALD"
    RESUBMIT = "GENINDSENDFORDRING"
    WRITE_UP = "OPSKRIVNINGREGULERING"
    #: write-up annulling an INDB write-down (the payment bounced)
    WRITE_UP_ANNULLED_PAYMENT = "OPSKRIVNINGANNULLERETNEDSKRIVNINGINDBETALING"
    #: write-up reversing a REGU write-down
    WRITE_UP_REVERSED_ADJUSTMENT = "OPSKRIVNINGOMGJORTNEDSKRIVNINGREGULERING"
    #: write-down annulling an OPSKRIVNINGREGULERING (or its reversal)
    WRITE_DOWN_ANNULLED_WRITE_UP = "NEDSKRIVNINGANNULLERETOPSKRIVNINGREGULERING"
    #: write-down annulling an OPSKRIVNINGANNULLERETNEDSKRIVNINGINDBETALING
    WRITE_DOWN_ANNULLED_PAYMENT_WRITE_UP = "NEDSKRIVNINGANNULLERETOPSKRIVNINGINDBETALING"
    WRONG_PRINCIPAL = "FEJLAGTIGHOVEDSTOLINDBERETNING"
    CHANGE = "AENDRFORDRING"

    @property
    def creates_claim(self) -> bool:
        """OPRETFORDRING and GENINDSENDFORDRING carry a whole claim."""
        return self in (PsrmActionCode.CREATE, PsrmActionCode.RESUBMIT)


class PsrmStatus(StrEnum):
    """``MFAktionStatusKode``."""

    RECEIVED = "MODTAGET"
    HEARING = "HOERING"  # PSRM has put the action in hearing (høring) with the sender
    IN_PROCESS = "SAGSBEHANDL"
    DONE = "UDFOERT"
    REJECTED = "AFVIST"


class WriteDownReason(StrEnum):
    PAYMENT = "INDB"
    ADJUSTMENT = "REGU"
    FIXED = "FAST"


class RecallReason(StrEnum):
    DEFERRAL = "HENS"
    COMPLAINT = "KLAG"
    ESTATE = "BORD"
    LIABILITY = "HAFT"
    ERROR = "FEJL"
    WAIVED = "BORT"

    @property
    def resubmittable(self) -> bool:
        """A claim recalled for this reason may be sent again with GENINDSENDFORDRING;
        after FEJL or BORT it is a new claim (PSRM rejects a resubmission: 539)."""
        return self in (RecallReason.DEFERRAL, RecallReason.COMPLAINT, RecallReason.ESTATE,
                        RecallReason.LIABILITY)


@dataclass(slots=True)
class PsrmHandover:
    """What the debtor system knows about a claim it handed to PSRM."""

    art: ClaimArt
    status: PsrmStatus | None  # None: delivery sent, PSRM has not answered yet
    status_date: date
    amount: Decimal  # the part handed over (what is not reserved for planned offsets)
    action_id: str | None = None
    efi_claim_id: str | None = None
    reasons: list[RejectionReason] = field(default_factory=list)
    recall_reason: RecallReason | None = None  # why the municipality recalled it, if it did

    @property
    def resubmittable(self) -> bool:
        """PSRM holds the claim as recalled for a reason that allows GENINDSENDFORDRING."""
        return bool(self.efi_claim_id) and self.recall_reason is not None \
            and self.recall_reason.resubmittable


@dataclass(slots=True)
class Claim:
    """A main claim (hovedfordring) with its sub-claims, invoice and state."""

    id: str
    account_number: str
    fagsystem_claim_id: str
    type_code: str
    principal: Decimal
    period_from: date
    period_to: date
    founded: date  # stiftelsesdato
    due_date: date  # forfaldsdato
    srb: date  # sidste rettidige betalingsdato
    received: date  # modtagelsesdato: when the debtor system registered it
    offsetting_allowed: bool = True
    art: ClaimArt | None = None
    description: str | None = None
    currency: str = "DKK"
    limitation_date: date | None = None  # forældelsesdato
    judgment_date: date | None = None
    settlement_date: date | None = None
    creditor_cvr: str | None = None  # the municipality that owns the claim
    co_liable: list[CoLiable] = field(default_factory=list)
    sub_claims: list[SubClaim] = field(default_factory=list)
    remaining_principal: Decimal | None = None
    invoice: Invoice | None = None
    state: ClaimState = ClaimState.OPEN
    deferral_until: date | None = None
    psrm: PsrmHandover | None = None

    def __post_init__(self) -> None:
        if self.remaining_principal is None:
            self.remaining_principal = self.principal

    @property
    def outstanding(self) -> Decimal:
        """What is still owed: remaining principal plus every sub-claim's remainder."""
        assert self.remaining_principal is not None
        return self.remaining_principal + sum((s.remaining for s in self.sub_claims), ZERO)

    @property
    def total(self) -> Decimal:
        """Principal plus every sub-claim as originally registered."""
        return self.principal + sum((s.amount for s in self.sub_claims), ZERO)

    def deferred_on(self, day: date) -> bool:
        return self.deferral_until is not None and day <= self.deferral_until

    def take(self, sub_claim_id: str | None, amount: Decimal) -> None:
        """Take ``amount`` off the remaining principal (``sub_claim_id`` None) or off that
        sub-claim's remainder: the one place a remainder goes down (payments, offsets,
        write-downs, reservations). An unknown sub-claim raises ``KeyError``."""
        if sub_claim_id is None:
            assert self.remaining_principal is not None
            self.remaining_principal -= amount
            return
        for sub in self.sub_claims:
            if sub.id == sub_claim_id:
                sub.remaining -= amount
                return
        raise KeyError(f"claim {self.id} has no sub-claim {sub_claim_id}")


@dataclass(slots=True)
class DebtorAccount:
    """A debitorkonto: one debtor as seen by one fagsystem of one municipality."""

    number: str
    fagsystem_reference: str
    debtor: Debtor
    account_type: AccountType
    authority_cvr: str
    fagsystem_id: str
    status: AccountStatus = AccountStatus.ACTIVE
    claims: list[Claim] = field(default_factory=list)


# ---------------------------------------------------------------- money movements

class CoverageSource(StrEnum):
    PAYMENT = "INDBETALING"
    OFFSET = "MODREGNING"
    PSRM = "PSRM"


@dataclass(frozen=True, slots=True)
class Payment:
    """An incoming payment (indbetaling), identified by the payer side's id."""

    id: str
    amount: Decimal
    date: date
    payer: Party | None = None
    account_number: str | None = None
    payment_id: str | None = None  # FIK/OCR id, targets one claim
    claim_id: str | None = None  # targets one claim


@dataclass(frozen=True, slots=True)
class Coverage:
    """One coverage line: ``amount`` of a source paid a claim (or one of its sub-claims)."""

    source: CoverageSource
    source_id: str
    claim_id: str
    amount: Decimal
    date: date
    sub_claim_id: str | None = None


@dataclass(frozen=True, slots=True)
class BenefitPayment:
    """An upcoming benefit payout (ydelsesudbetaling) that may be offset against."""

    id: str
    recipient: Party
    benefit_type: str
    payout_date: date
    gross: Decimal
    protected: Decimal  # never offset: the part the citizen must keep
    paying_authority_cvr: str | None = None


class OffsetStatus(StrEnum):
    SIMULATED = "SIMULERET"
    PLANNED = "PLANLAGT"
    BOOKED = "BOOKET"


@dataclass(frozen=True, slots=True)
class Offset:
    """One offset line: ``amount`` of a benefit payout kept to cover a (sub-)claim."""

    benefit_payment_id: str
    claim_id: str
    amount: Decimal
    date: date
    status: OffsetStatus = OffsetStatus.PLANNED
    sub_claim_id: str | None = None


@dataclass(frozen=True, slots=True)
class WriteOff:
    """A write-off (afskrivning) or write-down of a claim."""

    claim_id: str
    amount: Decimal
    reason: str
    date: date


# ---------------------------------------------------------------- PSRM

@dataclass(slots=True)
class PsrmAction:
    """One action of a delivery as PSRM tracks it; its receipt is this object's state."""

    action_id: str
    code: PsrmActionCode
    creditor_id: str  # DMIFordringHaverID
    status: PsrmStatus
    status_changed: datetime  # MFAktionStatusÆndretDato
    claim_ref: str | None = None  # DMIFordringFordringHaverRef
    efi_claim_id: str | None = None
    efi_main_claim_id: str | None = None
    received: datetime | None = None  # DMIFordringModtagelseDato
    reasons: list[RejectionReason] = field(default_factory=list)
