"""The PSRM end's words: claim statuses, notification kinds, behaviour switches, rule
numbers, and PSRM's numeric ids."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oir_adapter.domain.model import (
    RecallReason,
)

if TYPE_CHECKING:
    pass


END = "psrm"

#: psrm_claims.status values.
ACTIVE = "AKTIV"
PAID = "INDFRIET"
RECALLED = "TILBAGEKALDT"
RETURNED = "RETUR"
WRITTEN_OFF = "AFSKREVET"

#: Notification kinds (MFUnderretTypeKode).
COVERAGE = "DAEKNING"
WRITE_OFF = "AFSKRIVNING"
RETURN = "RETUR"

#: Scripted event kinds as scenarios and the admin API write them → notification kind.
SCRIPTED_KINDS = {"pay": COVERAGE, "write_off": WRITE_OFF, "return": RETURN}
COVERAGE_SOURCES = ("INDB", "MODR")
DEFAULT_WRITE_OFF_REASON = "FORAELDELSE"
DEFAULT_RETURN_REASON = "ANDET"

#: Behaviour switches (settings keys).
REJECT_TYPES = "psrm_reject_types"
UNKNOWN_DEBTORS = "psrm_unknown_debtors"
AGREEMENTS = "psrm_agreements"
SWITCHES = {"reject_types": REJECT_TYPES, "unknown_debtors": UNKNOWN_DEBTORS,
            "agreements": AGREEMENTS}

#: The PSRM number for the behaviour switch ``psrm_reject_types``: "claim type inactive",
#: which is what PSRM answers when it has closed a type for new claims.
REJECT_TYPE_RULE = "PSRM-574"

#: PSRM's check of an action that cannot be read (catalogue context psrm.end).
UNREADABLE = "OIR-403"

#: PSRM's own ids are numbers: action ids and EFI claim ids count up from these.
ACTION_ID_BASE = 110_000_000_000
EFI_ID_BASE = 120_000_000_000
#: Recall reasons after which a claim may be sent again (GENINDSENDFORDRING; rule 539).
RESUBMITTABLE = frozenset(r.value for r in RecallReason if r.resubmittable)
#: Statuses of a claim PSRM no longer holds: recalled by its fordringshaver, or returned.
ENDED_STATUSES = (RECALLED, RETURNED)


def action_id(number: int) -> str:
    return str(ACTION_ID_BASE + number)


def efi_id(number: int) -> str:
    return str(EFI_ID_BASE + number)
