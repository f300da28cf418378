"""Idempotency on every state-changing operation: a repeated TransaktionsID with the same
body replays the same answer and changes nothing; with another body it is refused (600)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import func, select

from emulator.storage import schema as t
from oir_adapter import mapping
from oir_adapter.codecs import oir_requests as messages
from oir_adapter.domain.model import Claim, Party
from tests.emulator_inproc import InProcessEmulator, in_process
from tests.test_debtor_end import CALLER, CPR, account, claim, counts, spec

TID = "5d0c9c39-4e57-4a8e-9d3a-2a6f0f5b6c01"
WHEN = datetime(2026, 3, 2, 10, 0, 0)


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[InProcessEmulator]:
    with in_process(tmp_path) as e:
        e.admin("PUT", "/clock", now="2026-03-02T10:00:00")
        yield e


def _claim_id(emu: InProcessEmulator) -> str:
    found = claim(emu, account(emu)).findtext("FordringID")
    assert found
    return found


# operation → (service, builder(emu, variant) → body); variant 0 and 1 differ in content
Builder = Callable[[InProcessEmulator, int], etree._Element]


def b_account(emu: InProcessEmulator, v: int) -> etree._Element:
    return messages.opret_debitorkonto(CALLER, reference=f"R-{v}", party=Party.cpr(CPR),
                                       name="Mette", transaction_id=TID, when=WHEN)


def b_claim(emu: InProcessEmulator, v: int) -> etree._Element:
    number = getattr(emu, "_number", None) or account(emu)
    emu._number = number  # type: ignore[attr-defined]
    return messages.opret_fordring(CALLER, account_number=number, claim=spec(
        ref=f"C-{v}"), transaction_id=TID, when=WHEN)


def b_state(emu: InProcessEmulator, v: int) -> etree._Element:
    cid = getattr(emu, "_cid", None) or _claim_id(emu)
    emu._cid = cid  # type: ignore[attr-defined]
    return messages.ret_fordring_tilstand(CALLER, claim_id=cid, change="Nedskriv",
                                          amount=D("10.00") + v, reason="REGU",
                                          transaction_id=TID, when=WHEN)


def b_payment(emu: InProcessEmulator, v: int) -> etree._Element:
    number = getattr(emu, "_number", None) or account(emu)
    if not getattr(emu, "_claimed", False):
        claim(emu, number)
        emu._claimed = True  # type: ignore[attr-defined]
    emu._number = number  # type: ignore[attr-defined]
    return messages.foretag_indbetaling(CALLER, payment_id=f"P-{v}", amount=D("100.00"),
                                        paid=date(2026, 3, 2), account_number=number,
                                        transaction_id=TID, when=WHEN)


def b_offset(emu: InProcessEmulator, v: int) -> etree._Element:
    if not getattr(emu, "_claimed", False):
        claim(emu, account(emu), spec(due_date=date(2026, 3, 1)))
        emu._claimed = True  # type: ignore[attr-defined]
    return messages.foretag_modregning(CALLER, benefit_id=f"Y-{v}", recipient=Party.cpr(CPR),
                                       benefit_type="FOLKEPEN", payout=date(2026, 3, 2),
                                       gross=D("1000.00"), protected=D("700.00"),
                                       transaction_id=TID, when=WHEN)


def b_callback(emu: InProcessEmulator, v: int) -> etree._Element:
    event = mapping.FagsystemEvent(
        event_id=f"E-{v}", type=mapping.EventType.COVERAGE, account_number="100001",
        claim_id="F0000001", fagsystem_claim_id="C-1", date=date(2026, 3, 2),
        amount=D("10.00"))
    return mapping.callback_request([event], transaction_id=TID, transaction_time=WHEN,
                                    authority_cvr="29189846", fagsystem_id="DAGTILBUD")


def b_delivery(emu: InProcessEmulator, v: int) -> etree._Element:
    c = Claim(id=f"REF-{v}", account_number="", fagsystem_claim_id=f"REF-{v}",
              type_code="CFFAKTU", principal=D("500.00"), period_from=date(2025, 1, 1),
              period_to=date(2025, 1, 31), founded=date(2025, 1, 1), due_date=date(2025, 2, 1),
              srb=date(2025, 2, 10), received=date(2026, 3, 2), creditor_cvr="29189846")
    from oir_adapter.domain.model import CoLiable

    c.co_liable.append(CoLiable(Party.cpr(CPR)))
    action = mapping.opret_fordring_action(c, None, creditor_id="29189846")
    return mapping.delivery([action], se_number="29189846", delivery_id=f"L-{v}",
                            transaction_id=TID, transaction_time=WHEN)


CASES: dict[str, tuple[str, str, Builder]] = {
    "OpretDebitorkonto": ("debitor_registrering", "OpretDebitorkonto", b_account),
    "OpretFordring": ("debitor_registrering", "OpretFordring", b_claim),
    "RetFordringTilstand": ("debitor_registrering", "RetFordringTilstand", b_state),
    "ForetagIndbetaling": ("debitor_indbetaling", "ForetagIndbetaling", b_payment),
    "ForetagModregning": ("debitor_modregning", "ForetagModregning", b_offset),
    "RegistrerDaekningAfskrivning": ("daekning_afskrivning_registrering",
                                     "RegistrerDaekningAfskrivning", b_callback),
    "MFFordringIndberet": ("mf_fordring_indberet", "MFFordringIndberet", b_delivery),
}


def psrm_rows(emu: InProcessEmulator) -> dict[str, int]:
    with emu.runtime.store.transaction() as conn:
        return {tb.name: int(conn.execute(select(func.count()).select_from(tb)).scalar_one())
                for tb in (t.psrm_actions, t.psrm_claims, t.fagsystem_events)}


def call_once(emu: InProcessEmulator, operation: str) -> tuple[etree._Element, Any, Any]:
    """``operation``'s variant-0 request, sent and accepted: its body, its answer, and the
    state after it (what a repeat must leave as it is)."""
    attr, op, build = CASES[operation]
    body = build(emu, 0)
    first = getattr(emu.soap, attr).call(op, body)
    assert first.ok, (first.errors, first.actions)
    return body, first, (counts(emu), psrm_rows(emu))


@pytest.mark.parametrize("operation", sorted(CASES))
def test_same_transaction_id_same_body_replays(emu: InProcessEmulator, operation: str) -> None:
    attr, op, build = CASES[operation]
    _body, first, state = call_once(emu, operation)
    again = getattr(emu.soap, attr).call(op, build(emu, 0))
    assert etree.tostring(again.element, method="c14n") == \
        etree.tostring(first.element, method="c14n")
    assert (counts(emu), psrm_rows(emu)) == state


@pytest.mark.parametrize("operation", sorted(CASES))
def test_same_transaction_id_other_body_is_refused(emu: InProcessEmulator,
                                                   operation: str) -> None:
    attr, op, build = CASES[operation]
    client = getattr(emu.soap, attr)
    assert client.call(op, build(emu, 0)).ok
    state = (counts(emu), psrm_rows(emu))
    refused = client.call(op, build(emu, 1))
    assert (counts(emu), psrm_rows(emu)) == state
    if refused.actions:  # PSRM: every action rejected with 600
        assert all(a.status == "AFVIST" for a in refused.actions)
        assert all("600" in [n for n, _ in a.reasons] for a in refused.actions)
    else:
        assert refused.reaction == "FEJL"
        assert [(e.code, e.field) for e in refused.errors] == [
            ("PSRM-600", "Hovedoplysninger/TransaktionsID")]


def test_same_payment_id_under_a_new_transaction_books_once(emu: InProcessEmulator) -> None:
    number = account(emu)
    claim(emu, number)
    pay = emu.soap.debitor_indbetaling

    def send() -> str | None:
        return pay.call("ForetagIndbetaling", messages.foretag_indbetaling(
            CALLER, payment_id="BANK-1", amount=D("300.00"), paid=date(2026, 3, 2),
            account_number=number)).findtext("Indbetaling/Overskud")

    assert send() == send() == "0.00"
    assert counts(emu)["payments"] == 1 and counts(emu)["coverage"] == 1
    h = emu.soap.debitor_forespoergsel.call("HentDebitorkonto", messages.hent_debitorkonto(
        CALLER, account_number=number))
    assert h.findtext("Debitorkonto/Saldo") == "700.00"


def test_same_payout_id_under_a_new_transaction_books_once(emu: InProcessEmulator) -> None:
    number = account(emu)
    claim(emu, number, spec(due_date=date(2026, 3, 1)))
    for _ in range(2):
        r = emu.soap.debitor_modregning.call("ForetagModregning", messages.foretag_modregning(
            CALLER, benefit_id="Y-9", recipient=Party.cpr(CPR), benefit_type="FOLKEPEN",
            payout=date(2026, 3, 2), gross=D("1000.00"), protected=D("700.00")))
        assert r.findtext("ModregningResultat/ModregnetIAlt") == "200.00"
    h = emu.soap.debitor_forespoergsel.call("HentDebitorkonto", messages.hent_debitorkonto(
        CALLER, account_number=number))
    assert h.findtext("Debitorkonto/Saldo") == "800.00"


def same_request_in_another_form(body: etree._Element) -> bytes:
    """``body`` as another SOAP stack might resend it: other namespace prefixes (and the
    default namespace), indented, comments between and inside values, another
    TransaktionsTid — the same business content."""
    import copy

    def rebuilt(element: etree._Element) -> etree._Element:
        ns = etree.QName(element).namespace
        out = etree.Element(element.tag, dict(element.attrib), nsmap={"zz": ns} if ns else {})
        out.text = element.text
        for child in element:
            if isinstance(child.tag, str):
                out.append(rebuilt(child))
        return out

    copied = rebuilt(copy.deepcopy(body))
    for when in copied.iter("{*}TransaktionsTid"):
        when.text = "2031-01-02T03:04:05+01:00"
    for leaf in copied.iter(etree.Element):  # an amount: xs:decimal collapses whitespace
        if len(leaf) == 0 and re.fullmatch(r"\d+\.\d\d", leaf.text or ""):
            leaf.text = f"  {leaf.text}\n  "  # surrounding whitespace
            break
    etree.indent(copied, space="    ")
    inner = etree.tostring(copied, encoding="unicode")
    inner = inner.replace(">\n", "><!-- resent -->\n", 3)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<S:Envelope xmlns:S="http://schemas.'
            'xmlsoap.org/soap/envelope/">\n  <S:Header/>\n  <S:Body>\n' + inner
            + "\n  </S:Body>\n</S:Envelope>\n").encode("utf-8")


@pytest.mark.parametrize("operation", sorted(CASES))
def test_a_resend_in_another_form_replays_the_answer(emu: InProcessEmulator,
                                                    operation: str) -> None:
    """A resend that differed only in whitespace, a namespace prefix or TransaktionsTid was
    refused (600) instead of getting its original answer: the request's business content
    is what is compared (docs/operations.md, "the same request")."""
    from oir_adapter.contracts import SERVICES

    _attr, op, _build = CASES[operation]
    body, first, state = call_once(emu, operation)
    path = next(s.path for s in SERVICES for o in s.operations if o.name == op)
    resent = same_request_in_another_form(body)
    assert b"<!-- resent -->" in resent and b"2031-01-02" in resent
    response = emu.post_raw(path, resent)
    assert response.status_code == 200, response.get_data(as_text=True)
    answer = etree.fromstring(response.get_data()).find("{*}Body")
    assert answer is not None
    assert etree.tostring(answer[0], method="c14n") == etree.tostring(first.element,
                                                                      method="c14n")
    assert (counts(emu), psrm_rows(emu)) == state
    emu.runtime.store.settle()
    statuses = [j["status"] for j in emu.admin("GET", f"/journal?operation={op}&limit=5")]
    assert statuses[0] == "replayed"


def test_a_payment_resent_in_another_form_under_a_new_transaction_books_once(
        emu: InProcessEmulator) -> None:
    """Idempotency on IndbetalingID compares the same business content (not OIR-304)."""
    number = account(emu)
    claim(emu, number)
    body = messages.foretag_indbetaling(CALLER, payment_id="BANK-7", amount=D("300.00"),
                                        paid=date(2026, 3, 2), account_number=number)
    assert emu.soap.debitor_indbetaling.call("ForetagIndbetaling", body).ok
    resent = same_request_in_another_form(body)
    old_tid = body.findtext("{*}Hovedoplysninger/{*}TransaktionsID") or ""
    resent = resent.replace(old_tid.encode(), b"6d0c9c39-4e57-4a8e-9d3a-2a6f0f5b6c02")
    response = emu.post_raw("/oir/DebitorIndbetaling/1", resent)
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and "SvarReaktion>OK<" in text, text
    assert counts(emu)["payments"] == 1 and counts(emu)["coverage"] == 1


def test_the_request_hash_of_a_body_stays_what_it_was() -> None:
    """Kept idempotency records hold the hash: a faster walk must hash every body as the
    first one did, or a resend after an upgrade would be refused as another request."""
    from emulator.soap.pipeline import request_hash

    body = etree.fromstring("""<o:Req xmlns:o="urn:oio" xmlns:k="urn:k" xmlns:x="urn:x">
      <k:Kontekst><k:TransaktionsID> T-1 </k:TransaktionsID>
        <k:TransaktionsTid>2026-01-01T00:00:00</k:TransaktionsTid></k:Kontekst>
      <o:Fordring x:art="A" nr="1&amp;'2"> <o:Beloeb>  100.00 </o:Beloeb><o:Tom/></o:Fordring>
      <Plain>æ tekst</Plain>
    </o:Req>""".encode())
    # by the walk of 2026-12-02 (before the speed work on the PSRM end)
    assert request_hash(body) == "8327335d3094dad1f4f0da9c1be50cee4d9463ae7305502376dffb3cefcc9b87"
