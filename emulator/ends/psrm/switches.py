"""Behaviour switches: claim types PSRM rejects, debtors it does not know, creditor
agreements."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete

from emulator.storage import schema as t
from emulator.storage.store import get_setting, put_setting

if TYPE_CHECKING:
    pass
from emulator.ends.psrm.vocabulary import AGREEMENTS, REJECT_TYPES, SWITCHES, UNKNOWN_DEBTORS


def behaviour(conn: Connection) -> dict[str, Any]:
    """The switches as they stand: ``reject_types`` {type: text}, ``unknown_debtors``
    [numbers], ``agreements`` {fordringshaver id: [types]} or None (none installed)."""
    return {"reject_types": get_setting(conn, REJECT_TYPES) or {},
            "unknown_debtors": get_setting(conn, UNKNOWN_DEBTORS) or [],
            "agreements": get_setting(conn, AGREEMENTS)}


def set_behaviour(conn: Connection, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Set the switches named in ``spec`` (``reject_types``, ``unknown_debtors``,
    ``agreements``; the ``psrm_``-prefixed setting names work too); ``None`` clears one.
    Switches not named stay as they are. Returns :func:`behaviour`. Raises ``ValueError``
    naming the field; nothing is changed then."""
    staged: dict[str, Any] = {}
    for raw_key, value in spec.items():
        key = raw_key.removeprefix("psrm_")
        if key not in SWITCHES:
            raise ValueError(f"{raw_key}: unknown switch (reject_types, unknown_debtors, "
                             "agreements)")
        staged[SWITCHES[key]] = None if value is None else _check_switch(key, value)
    for setting, value in staged.items():
        if value is None:
            conn.execute(delete(t.settings).where(t.settings.c.key == setting))
        else:
            put_setting(conn, setting, value)
    return behaviour(conn)


def _check_switch(key: str, value: Any) -> Any:
    if key == "reject_types":
        if isinstance(value, list):
            value = {str(code): "" for code in value}
        if not isinstance(value, Mapping):
            raise ValueError("reject_types: expected {type code: reason text} or [type codes]")
        out = {}
        for code, text in value.items():
            if not str(code).strip() or len(str(code)) > 20:
                raise ValueError(f"reject_types: {code!r} is not a type code")
            if text is not None and not isinstance(text, str):
                raise ValueError(f"reject_types.{code}: reason text must be text")
            out[str(code).strip()] = (text or "").strip()[:1000]
        return out
    if key == "unknown_debtors":
        if not isinstance(value, list):
            raise ValueError("unknown_debtors: expected a list of CPR/CVR numbers")
        numbers = [str(n).strip() for n in value]
        for n in numbers:
            if not n.isdigit() or len(n) not in (8, 10):
                raise ValueError(f"unknown_debtors: {n!r} is not a CPR or CVR number")
        return sorted(set(numbers))
    if not isinstance(value, Mapping):
        raise ValueError("agreements: expected {DMIFordringHaverID: [type codes]}")
    agreements = {}
    for creditor, types in value.items():
        if not isinstance(types, list) or not all(isinstance(c, str) and c for c in types):
            raise ValueError(f"agreements.{creditor}: expected a list of type codes")
        agreements[str(creditor)] = sorted(set(types))
    return agreements
