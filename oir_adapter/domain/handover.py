"""What the debtor system decides when it hands a claim to PSRM, before any XML: the
reference PSRM knows the claim by, the case notes that trace it to its ØIR origin,
who is liable, the art, and the fordringshaver id (DMIFordringHaverID). No I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from oir_adapter.domain.model import (
    Claim,
    ClaimArt,
    DebtorAccount,
    Party,
    SubClaim,
)
from oir_adapter.domain.tables import ClaimTypeTable


class MappingError(ValueError):
    """A claim or message the mapping cannot express (e.g. a claim without any debtor)."""



def claim_ref(claim: Claim) -> str:
    """``DMIFordringFordringHaverRef`` of a claim: the debtor system's id, else the
    fagsystem's (a claim mapped offline has no debtor-system id yet)."""
    return claim.id or claim.fagsystem_claim_id


def sub_claim_ref(main_ref: str, sub: SubClaim) -> str:
    """``<claim ref>-<sub-claim id>``; a sub-claim id that already carries the claim's ref
    as its prefix (the ØIR decoder's ``<claim id>-<n>``) is used as it is."""
    return sub.id if sub.id.startswith(main_ref + "-") else f"{main_ref}-{sub.id}"


def find_sub_claim(claim: Claim, ref: str) -> SubClaim | None:
    """The sub-claim of ``claim`` that PSRM names by ``ref`` (the reverse of
    :func:`sub_claim_ref`), or None."""
    main = claim_ref(claim)
    for sub in claim.sub_claims:
        if sub_claim_ref(main, sub) == ref:
            return sub
    return None


# Case-note keys: the ØIR facts PSRM has no field for, written as "Key: value".
NOTE_FAGSYSTEM_ID = "FagsystemID"
NOTE_ACCOUNT = "DebitorkontoNummer"
NOTE_FAGSYSTEM_CLAIM_ID = "FagsystemFordringID"
NOTE_OFFSETTING = "ModregningTilladt"
NOTE_DESCRIPTION = "Beskrivelse"
NOTE_KEYS = (NOTE_FAGSYSTEM_ID, NOTE_ACCOUNT, NOTE_FAGSYSTEM_CLAIM_ID, NOTE_OFFSETTING,
             NOTE_DESCRIPTION)


def trace_notes(claim: Claim, account: DebtorAccount | None) -> list[str]:
    """The ``Sagsbemærkning`` lines that trace a handed-over claim to its ØIR origin."""
    notes = []
    if account is not None:
        notes.append(f"{NOTE_FAGSYSTEM_ID}: {account.fagsystem_id}")
    if claim.account_number:
        notes.append(f"{NOTE_ACCOUNT}: {claim.account_number}")
    notes.append(f"{NOTE_FAGSYSTEM_CLAIM_ID}: {claim.fagsystem_claim_id}")
    notes.append(f"{NOTE_OFFSETTING}: {'true' if claim.offsetting_allowed else 'false'}")
    if claim.description:
        notes.append(f"{NOTE_DESCRIPTION}: {claim.description}")
    return notes


def parse_trace_notes(notes: Iterable[str]) -> dict[str, str]:
    """The reverse of :func:`trace_notes`; notes without a known key are ignored."""
    out: dict[str, str] = {}
    for note in notes:
        key, sep, value = note.partition(": ")
        if sep and key in NOTE_KEYS:
            out[key] = value
    return out


def liable_parties(claim: Claim, account: DebtorAccount | None) -> list[Party]:
    """Who is liable, in PSRM's order: the account's debtor first, then each co-liable
    party once. Without an account the co-liable parties stand alone (the first becomes
    PSRM's primary debtor)."""
    parties: list[Party] = []
    if account is not None:
        parties.append(account.debtor.party)
    for co in claim.co_liable:
        if co.party not in parties:
            parties.append(co.party)
    if not parties:
        raise MappingError(f"claim {claim_ref(claim)!r} names no debtor: pass its account "
                           "or a co-liable party (hæfter)")
    return parties


def resolve_art(claim: Claim, art: ClaimArt | None, claim_types: ClaimTypeTable) -> ClaimArt:
    """Explicit art, else the claim's own, else its type's default; an unknown type is
    handed over for recovery (PSRM's indgangsfilter then rejects the type itself)."""
    if art is not None:
        return art
    if claim.art is not None:
        return claim.art
    known = claim_types.get(claim.type_code)
    return known.default_art if known is not None else ClaimArt.RECOVERY


def creditor_for(claim: Claim, creditor_ids: Mapping[str, str], default: str | None) -> str:
    """The fordringshaver id (``DMIFordringHaverID``: Gældsstyrelsen's number for the
    creditor, not its CVR) configured for the authority that owns ``claim``."""
    creditor = creditor_ids.get(claim.creditor_cvr or "") or default
    if not creditor:
        raise MappingError(
            f"claim {claim_ref(claim)!r}: no fordringshaver id (DMIFordringHaverID) is "
            f"configured for authority CVR {claim.creditor_cvr or '(none)'}: pass "
            "creditor_id or creditor_ids")
    if not CREDITOR_ID.fullmatch(creditor):
        raise MappingError(f"fordringshaver id {creditor!r} must be a number of 1 to 10 digits")
    return creditor


#: A DMIFordringHaverID: Gældsstyrelsen's number for a fordringshaver (e.g. 1229).
CREDITOR_ID = re.compile(r"[0-9]{1,10}")


def parse_creditor_ids(text: str) -> dict[str, str]:
    """``"29189846=1229,55133018=1230"`` → ``{CVR: fordringshaver id}``; ``ValueError``
    naming the item that is not ``<8-digit CVR>=<number>``."""
    out: dict[str, str] = {}
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        cvr, sep, creditor = (part.strip() for part in item.partition("="))
        if not sep or not re.fullmatch(r"[0-9]{8}", cvr) or not CREDITOR_ID.fullmatch(creditor):
            raise ValueError(f"{item!r} is not CVR=ID (8 digits = a number of 1 to 10 digits)")
        out[cvr] = creditor
    return out


_DEFAULT_TYPES: list[ClaimTypeTable] = []


def default_claim_types() -> ClaimTypeTable:
    if not _DEFAULT_TYPES:
        _DEFAULT_TYPES.append(ClaimTypeTable.default())
    return _DEFAULT_TYPES[0]
