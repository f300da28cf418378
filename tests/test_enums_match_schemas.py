"""Every Python enumeration that goes on the wire has exactly the values of its XSD
enumeration: a value added on one side only is refused by the schema, or never produced."""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from pathlib import Path

import pytest
from lxml import etree

from oir_adapter.domain.actions import NotificationType
from oir_adapter.domain.lifecycle import EventType, oir_psrm_status
from oir_adapter.domain.model import (
    AccountStatus,
    AccountType,
    ClaimArt,
    ClaimState,
    CoverageSource,
    OffsetStatus,
    PsrmActionCode,
    PsrmStatus,
    RecallReason,
    WriteDownReason,
)

ROOT = Path(__file__).resolve().parent.parent
XS = "{http://www.w3.org/2001/XMLSchema}"

#: (enum, schema file, simple type): each pair must hold the same values.
PAIRS: list[tuple[type[StrEnum], str, str]] = [
    (AccountType, "xsd/oir/Debitor.xsd", "KontotypeType"),
    (AccountStatus, "xsd/oir/Debitor.xsd", "KontoStatusType"),
    (ClaimArt, "xsd/oir/Debitor.xsd", "FordringArtType"),
    (ClaimArt, "xsd/psrm/MF.xsd", "DMIFordringArtType"),
    (ClaimState, "xsd/oir/Debitor.xsd", "FordringStatusType"),
    (CoverageSource, "xsd/oir/Debitor.xsd", "DaekningKildeType"),
    (OffsetStatus, "xsd/oir/Debitor.xsd", "ModregningStatusType"),
    (EventType, "xsd/oir/Debitor.xsd", "HaendelseTypeType"),
    (WriteDownReason, "xsd/oir/Debitor.xsd", "NedskrivningAarsagType"),
    (WriteDownReason, "xsd/psrm/MF.xsd", "FordringNedskrivningÅrsagKodeType"),
    (RecallReason, "xsd/oir/Debitor.xsd", "TilbagekaldAarsagType"),
    (RecallReason, "xsd/psrm/MF.xsd", "HovedFordringTilbagekaldÅrsagKodeDomæneType"),
    (PsrmStatus, "xsd/psrm/MF.xsd", "MFAktionStatusKodeType"),
    (PsrmActionCode, "xsd/psrm/MF.xsd", "MFAktionKodeType"),
    (NotificationType, "xsd/psrm/MF.xsd", "MFUnderretTypeKodeType"),
]


@cache
def enumerations(schema: str) -> dict[str, list[str]]:
    tree = etree.parse(str(ROOT / schema))
    return {st.get("name"): [e.get("value") for e in st.iter(f"{XS}enumeration")]
            for st in tree.iter(f"{XS}simpleType") if st.get("name")}


@pytest.mark.parametrize(("enum", "schema", "type_name"), PAIRS,
                         ids=[f"{e.__name__}-{t}" for e, _s, t in PAIRS])
def test_enum_has_the_values_of_its_schema_type(enum: type[StrEnum], schema: str,
                                                type_name: str) -> None:
    in_schema = enumerations(schema)[type_name]
    assert sorted(in_schema) == sorted(m.value for m in enum)
    assert len(in_schema) == len(set(in_schema))


def test_the_oir_psrm_status_is_psrms_without_the_hearing() -> None:
    """The ØIR answers show PSRM's status of a hand-over; a claim in hearing (HOERING) is
    shown as received until PSRM decides, so the ØIR type leaves that one value out."""
    oir = enumerations("xsd/oir/Debitor.xsd")["PSRMStatusType"]
    assert sorted(oir) == sorted(m.value for m in PsrmStatus if m.value != "HOERING")


@pytest.mark.parametrize("status", list(PsrmStatus))
def test_every_psrm_status_has_a_value_the_oir_answer_may_carry(status: PsrmStatus) -> None:
    assert oir_psrm_status(status) in enumerations("xsd/oir/Debitor.xsd")["PSRMStatusType"]
