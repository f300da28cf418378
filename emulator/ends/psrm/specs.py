"""Reading the admin API's JSON specs (scripted events, seeded claims): each value
checked, with an error naming the key."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from oir_adapter.domain.model import (
    MoneyError,
    money,
)

if TYPE_CHECKING:
    pass


def spec_text(spec: Mapping[str, Any], key: str, *, required: bool = False,
               max_len: int = 64) -> str | None:
    value = spec.get(key)
    if value is None or value == "":
        if required:
            raise ValueError(f"{key}: missing")
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError(f"{key}: expected text, got {type(value).__name__}")
    text = str(value).strip()
    if len(text) > max_len:
        raise ValueError(f"{key}: longer than {max_len} characters")
    return text


def spec_amount(spec: Mapping[str, Any], key: str, *, required: bool) -> Decimal | None:
    value = spec.get(key)
    if value is None:
        if required:
            raise ValueError(f"{key}: missing")
        return None
    if isinstance(value, bool):
        raise ValueError(f"{key}: expected an amount")
    try:
        amount = money(value if isinstance(value, Decimal | int) else str(value))
    except MoneyError as exc:
        raise ValueError(f"{key}: {exc}") from exc
    if amount <= 0:
        raise ValueError(f"{key}: must be positive (got {amount})")
    return amount


def spec_date(spec: Mapping[str, Any], key: str, *, required: bool) -> date | None:
    value = spec.get(key)
    if value is None:
        if required:
            raise ValueError(f"{key}: missing")
        return None
    if isinstance(value, datetime):  # YAML may hand over a timestamp
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise ValueError(f"{key}: {value!r} is not an ISO date") from exc
