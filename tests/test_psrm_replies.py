"""PSRM's answers are built from copied ``MFAktionStruktur`` templates: the bytes must be
those of the answer built element by element, for every shape an action can take."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from lxml import etree

from emulator.soap.envelope import envelope_bytes
from oir_adapter.codecs.psrm_replies import _MAX_TEXT, indberet_answer, sub
from oir_adapter.codecs.writing import text_of
from oir_adapter.contracts import validate_element
from oir_adapter.domain.model import (
    PsrmAction,
    PsrmActionCode,
    PsrmStatus,
    RejectionReason,
)

NOW = datetime(2026, 3, 17, 9, 30)
LONG = "R" * 65  # longer than the schema allows an id: left out


def _by_hand(samling: etree._Element, a: PsrmAction) -> None:
    """One ``MFAktionStruktur`` built element by element (how it was built before)."""
    s = sub(samling, "MFAktionStruktur")
    for name, value in (("DMIFordringEFIFordringID", a.efi_claim_id),
                        ("DMIFordringEFIHovedFordringID", a.efi_main_claim_id),
                        ("DMIFordringFordringHaverRef", a.claim_ref)):
        if value and len(value) <= 64:
            sub(s, name, value)
    sub(s, "MFAktionID", a.action_id)
    sub(s, "MFAktionKode", a.code.value)
    sub(s, "DMIFordringHaverID", a.creditor_id)
    sub(s, "MFAktionStatusKode", a.status.value)
    for name, when in (("MFAktionStatusÆndretDato", a.status_changed),
                       ("DMIFordringModtagelseDato", a.received)):
        if when is not None:
            if not isinstance(when, datetime):
                when = datetime.combine(when, datetime.min.time())
            sub(s, name, when.isoformat(timespec="milliseconds"))
    reasons = sub(s, "AfvistÅrsagSamling")
    for r in a.reasons:
        afvist = sub(reasons, "MFAktionAfvistStruktur")
        sub(afvist, "MFAktionAfvistNummer", r.number)
        sub(afvist, "MFAktionAfvistTekst", text_of(r.text[:_MAX_TEXT]))


def _actions() -> list[PsrmAction]:
    accepted = PsrmAction(action_id="A-1", code=PsrmActionCode.CREATE, creditor_id="4711",
                          status=PsrmStatus.RECEIVED, status_changed=NOW, received=NOW,
                          claim_ref="REF-1", efi_claim_id="1001", efi_main_claim_id="1001")
    rejected = PsrmAction(
        action_id="A-2", code=PsrmActionCode.CREATE, creditor_id="4711",
        status=PsrmStatus.REJECTED, status_changed=NOW, received=NOW, claim_ref="REF-2",
        reasons=[RejectionReason("486", "Fordringen findes allerede", path="x"),
                 RejectionReason("152", "Æ" * 1200)])
    return [
        accepted, rejected,
        PsrmAction(action_id="A-3", code=PsrmActionCode.WRITE_DOWN, creditor_id="0",
                   status=PsrmStatus.DONE, status_changed=NOW + timedelta(days=2),
                   efi_claim_id="1003", efi_main_claim_id="1001"),  # no ref, never received
        PsrmAction(action_id="A-4", code=PsrmActionCode.CREATE, creditor_id="4711",
                   status=PsrmStatus.REJECTED, status_changed=date(2026, 3, 16),
                   received=date(2026, 3, 16), claim_ref=LONG, efi_claim_id="9" * 65,
                   reasons=[RejectionReason("600", "Dublet")]),
        # the same instant in two zones: each written in its own
        PsrmAction(action_id="A-5", code=PsrmActionCode.RECALL, creditor_id="4711",
                   status=PsrmStatus.RECEIVED, status_changed=datetime(2026, 3, 17, 8, tzinfo=UTC),
                   received=datetime(2026, 3, 17, 9, tzinfo=timezone(timedelta(hours=1))),
                   efi_claim_id="1005", efi_main_claim_id="1005"),
        accepted,
    ]


def test_an_answer_from_templates_is_the_answer_built_element_by_element() -> None:
    actions = _actions()
    built = indberet_answer(transaction_id="T-1", now=NOW, se_number="29189846",
                            delivery_id="D-1", actions=actions)
    expected = indberet_answer(transaction_id="T-1", now=NOW, se_number="29189846",
                               delivery_id="D-1", actions=[])
    samling = expected.find(".//{*}FordringAktionStatusSamling")
    assert samling is not None
    for a in actions:
        _by_hand(samling, a)
    assert envelope_bytes(built) == envelope_bytes(expected)
    assert b"+01:00" in envelope_bytes(built) and b"+00:00" in envelope_bytes(built)
    assert not validate_element(built)
