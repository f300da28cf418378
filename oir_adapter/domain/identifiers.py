"""Identifier checks: CPR and CVR numbers, and FIK/OCR payment ids with their check digit.

CPR: since 2007 the CPR office issues numbers that do **not** satisfy the old modulus-11
check (the sequence numbers ran out), and immigrants born earlier get such numbers too, so
a modulus-11 failure says nothing. A CPR number is therefore valid here when it is ten
digits whose first six and seventh digit form a real birth date (century from the seventh
digit, via ``stdnum.dk.cpr``) that is not after ``today``. ``python-stdnum`` does the same
but judges "not born yet" against the wall clock; we take ``today`` so the emulator's
virtual clock decides.

CVR: eight digits, no leading zero, modulus 11 with weights 2-7-6-5-4-3-2-1
(``stdnum.dk.cvr``). On the wire both are bare digits (the XSDs say so), so separators,
spaces and a ``DK`` prefix are refused rather than cleaned away.

Payment id (betalings-id, FIK card type 71): fifteen digits, the last a modulus-10 check
digit computed as Luhn does, with weights 2-1-2-1… from the right of the payload.
"""

from __future__ import annotations

import hashlib
from datetime import date

from stdnum.dk import cpr as _cpr
from stdnum.dk import cvr as _cvr
from stdnum.exceptions import ValidationError

from oir_adapter.domain.model import Party, PartyKind

PAYMENT_ID_LENGTH = 15
_PAYLOAD_LENGTH = PAYMENT_ID_LENGTH - 1


def cpr_birth_date(number: str) -> date | None:
    """The birth date a CPR number encodes, or ``None`` if it is not ten digits or no date."""
    if len(number) != 10 or not number.isascii() or not number.isdigit():
        return None
    try:
        return _cpr.get_birth_date(number)
    except ValidationError:
        return None


def is_valid_cpr(number: str, *, today: date | None = None) -> bool:
    """Ten digits encoding a real birth date not after ``today``; modulus 11 is not required."""
    born = cpr_birth_date(number)
    if born is None:
        return False
    return born <= (today or date.today())


def is_valid_cvr(number: str) -> bool:
    """Eight digits, no leading zero, modulus-11 check (weights 2-7-6-5-4-3-2-1)."""
    if len(number) != 8 or not number.isascii() or not number.isdigit():
        return False
    return bool(_cvr.is_valid(number))


def is_valid_party(party: Party, *, today: date | None = None) -> bool:
    """Whether a party's number is a valid CPR or CVR number for its kind."""
    if party.kind is PartyKind.CPR:
        return is_valid_cpr(party.number, today=today)
    return is_valid_cvr(party.number)


# ---------------------------------------------------------------- payment ids

def mod10_check_digit(payload: str) -> str:
    """The modulus-10 (Luhn) check digit for ``payload``: weights 2, 1, 2… from the right,
    digits of each product summed, check digit = what brings the sum to a multiple of 10."""
    if not payload or not payload.isascii() or not payload.isdigit():
        raise ValueError(f"{payload!r} is not a string of digits")
    total = 0
    for position, char in enumerate(reversed(payload)):
        product = int(char) * (2 if position % 2 == 0 else 1)
        total += product // 10 + product % 10
    return str((10 - total % 10) % 10)


def make_payment_id(seed: str | int) -> str:
    """A 15-digit payment id for FIK card type 71 whose last digit is the check digit.

    An ``int`` or a string of digits is the payload itself, zero-padded to 14 digits (so a
    numeric claim id reads back from the payment id). Any other string (e.g. ``"F-2025-17"``)
    is hashed to a stable 14-digit payload, so the same claim always gets the same id.
    """
    if isinstance(seed, bool):
        raise TypeError("seed must be a str or int, not bool")
    if isinstance(seed, int):
        if seed < 0:
            raise ValueError(f"seed {seed} is negative")
        payload = str(seed)
    elif seed.isascii() and seed.isdigit():
        payload = seed
    else:
        digest = hashlib.sha256(seed.encode("utf-8")).digest()
        payload = str(int.from_bytes(digest[:8], "big") % 10**_PAYLOAD_LENGTH)
    if len(payload) > _PAYLOAD_LENGTH:
        raise ValueError(f"seed {seed!r} has more than {_PAYLOAD_LENGTH} digits")
    payload = payload.zfill(_PAYLOAD_LENGTH)
    return payload + mod10_check_digit(payload)


def is_valid_payment_id(value: str) -> bool:
    """Fifteen digits whose last digit is the modulus-10 check digit of the first fourteen."""
    if len(value) != PAYMENT_ID_LENGTH or not value.isascii() or not value.isdigit():
        return False
    return mod10_check_digit(value[:-1]) == value[-1]
