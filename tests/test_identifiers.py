"""CPR/CVR validity and FIK payment ids with their modulus-10 check digit."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oir_adapter.domain.identifiers import (
    cpr_birth_date,
    is_valid_cpr,
    is_valid_cvr,
    is_valid_party,
    is_valid_payment_id,
    make_payment_id,
    mod10_check_digit,
)
from oir_adapter.domain.model import Party

TODAY = date(2026, 11, 23)


# ---------------------------------------------------------------- CPR

def test_cpr_with_modulus_11_is_valid() -> None:
    assert is_valid_cpr("2110625629", today=TODAY)


def test_cpr_failing_modulus_11_is_still_valid() -> None:
    # 0107794321: a real date (1 July 1979), weighted sum 169 → 169 % 11 = 4, not 0.
    weights = (4, 3, 2, 7, 6, 5, 4, 3, 2, 1)
    assert sum(w * int(d) for w, d in zip(weights, "0107794321", strict=True)) % 11 != 0
    assert is_valid_cpr("0107794321", today=TODAY)


@pytest.mark.parametrize("number", [
    "3102851234",  # 31 February
    "0013851234",  # month 13 / day 0
    "211062-5629",  # separators are not the wire format
    "211062562",  # nine digits
    "21106256290",  # eleven digits
    "21106256a9",
    "２１１０６２５６２９",  # full-width digits
    "",
])
def test_cpr_invalid_format_or_date(number: str) -> None:
    assert not is_valid_cpr(number, today=TODAY)


def test_cpr_birth_date_after_today_is_invalid_until_that_day() -> None:
    # Seventh digit 4 with year 30 → born 2030.
    assert cpr_birth_date("0101304000") == date(2030, 1, 1)
    assert not is_valid_cpr("0101304000", today=TODAY)
    assert is_valid_cpr("0101304000", today=date(2030, 1, 1))


def test_cpr_century_comes_from_seventh_digit() -> None:
    assert cpr_birth_date("0101581000") == date(1958, 1, 1)
    assert cpr_birth_date("0101585000") == date(1858, 1, 1)
    assert cpr_birth_date("0101104000") == date(2010, 1, 1)


# ---------------------------------------------------------------- CVR

@pytest.mark.parametrize("number", ["13585628", "29189846", "83960310"])
def test_valid_cvr(number: str) -> None:
    assert is_valid_cvr(number)


@pytest.mark.parametrize("number", [
    "13585627",  # check digit off by one
    "12345678",  # modulus 11 fails
    "03585628",  # leading zero
    "DK13585628",  # prefix is not the wire format
    "1358562",
    "135856288",
])
def test_invalid_cvr(number: str) -> None:
    assert not is_valid_cvr(number)


def test_is_valid_party_dispatches_on_kind() -> None:
    assert is_valid_party(Party.cpr("2110625629"), today=TODAY)
    assert not is_valid_party(Party.cvr("2110625629"), today=TODAY)
    assert is_valid_party(Party.cvr("13585628"))
    assert not is_valid_party(Party.cpr("13585628"), today=TODAY)


# ---------------------------------------------------------------- payment ids

def test_mod10_known_check_digits() -> None:
    assert mod10_check_digit("7992739871") == "3"  # the classic Luhn example
    assert mod10_check_digit("411111111111111") == "1"  # Visa test card 4111 1111 1111 1111
    assert mod10_check_digit("0") == "0"
    assert mod10_check_digit("1") == "8"
    assert mod10_check_digit("5") == "9"  # 5·2 = 10 → digits 1+0


def test_mod10_refuses_non_digits() -> None:
    with pytest.raises(ValueError):
        mod10_check_digit("12a")
    with pytest.raises(ValueError):
        mod10_check_digit("")


def test_make_payment_id_from_numbers() -> None:
    assert make_payment_id(1) == "000000000000018"
    assert make_payment_id("7992739871") == "000079927398713"
    assert make_payment_id(0) == "000000000000000"
    assert make_payment_id("12345678901234") == "12345678901234" + mod10_check_digit(
        "12345678901234")


def test_make_payment_id_from_other_strings_is_stable_and_valid() -> None:
    a = make_payment_id("F-2025-17")
    assert a == make_payment_id("F-2025-17")
    assert len(a) == 15 and a.isdigit() and is_valid_payment_id(a)
    assert a != make_payment_id("F-2025-18")


@pytest.mark.parametrize("seed", [-1, 10**14, "123456789012345"])
def test_make_payment_id_refuses_out_of_range(seed: int | str) -> None:
    with pytest.raises(ValueError):
        make_payment_id(seed)


def test_make_payment_id_refuses_bool() -> None:
    with pytest.raises(TypeError):
        make_payment_id(True)


@pytest.mark.parametrize("value", [
    "000079927398713",
    "000000000000018",
])
def test_valid_payment_ids(value: str) -> None:
    assert is_valid_payment_id(value)


@pytest.mark.parametrize("value", [
    "000079927398714",  # wrong check digit
    "00007992739871",  # 14 digits
    "0000799273987130",  # 16 digits
    "00007992739871a",
    "",
])
def test_invalid_payment_ids(value: str) -> None:
    assert not is_valid_payment_id(value)


@settings(max_examples=60, deadline=None)
@given(payload=st.integers(min_value=0, max_value=10**14 - 1),
       position=st.integers(min_value=0, max_value=14),
       delta=st.integers(min_value=1, max_value=9))
def test_any_single_digit_error_is_detected(payload: int, position: int, delta: int) -> None:
    good = make_payment_id(payload)
    assert is_valid_payment_id(good)
    assert good[:-1] == str(payload).zfill(14)
    wrong = good[:position] + str((int(good[position]) + delta) % 10) + good[position + 1:]
    assert not is_valid_payment_id(wrong)
