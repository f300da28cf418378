"""A write-down that falls due between a claim's hand-over and PSRM's first answer.

PSRM names its claim (the EFI claim id) in its receipt for the ``OPRETFORDRING``, and a
``NEDSKRIV`` needs that id. A payment (or an ØIR ``Nedskriv``) booked in between is kept
as a pending write-down and sent as ``NEDSKRIV`` once the receipt brings the id, so PSRM
never collects what the debtor system already collected; a rejected hand-over drops it.

The gap is made real through the SOAP ends: PSRM's ``MFFordringIndberet`` answers HTTP 503
while the clock hands the claim over, so the ``OPRETFORDRING`` waits in the outbox; the
payment arrives; then PSRM comes back and the outbox is drained by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select, update

from emulator import outbox
from emulator import tables as t
from emulator.store import from_ore
from oir_adapter import messages
from oir_adapter.contracts import OIR_NS
from oir_adapter.model import Party

from .emulator_inproc import InProcessEmulator, in_process

CALLER = messages.Caller("29189846", "DAGTILBUD")
CPR = "0405871270"
Q = f"{{{OIR_NS}}}"
HANDED_OVER = D("1000.00")


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[InProcessEmulator]:
    with in_process(tmp_path) as e:
        e.admin("PUT", "/clock", now="2026-03-02T10:00:00")
        yield e


def handed_over_unanswered(emu: InProcessEmulator) -> tuple[str, str]:
    """A 1000.00 claim handed over on 2026-03-05 whose OPRETFORDRING PSRM has not taken
    yet (PSRM answers 503). Returns (account number, claim id)."""
    reg = emu.soap.debitor_registrering
    number = reg.call("OpretDebitorkonto", messages.opret_debitorkonto(
        CALLER, reference="A-1", party=Party.cpr(CPR), name="Mette Hansen"
    )).findtext("DebitorkontoNummer")
    assert number
    r = reg.call("OpretFordring", messages.opret_fordring(
        CALLER, account_number=number, claim=messages.ClaimSpec(
            "C-1", "DAGINST", HANDED_OVER, date(2026, 2, 1), date(2026, 2, 28),
            date(2026, 2, 1), date(2026, 3, 3), date(2026, 3, 4))))
    claim_id = r.findtext("FordringID")
    assert r.ok and claim_id
    emu.admin("POST", "/faults", operation="MFFordringIndberet", kind="http_503", count=1000)
    events = emu.admin("POST", "/clock/advance", days=3)["events"]
    assert [e["outcome"] for e in events if e["event"] == "handover"] == ["handed_over"]
    psrm_items = [i for i in emu.admin("GET", "/outbox") if i["target"] == "psrm"]
    assert [i["status"] for i in psrm_items] == ["PENDING"]
    psrm = claim_view(emu, number).find(f"{Q}PSRM")
    assert psrm is not None and psrm.findtext(f"{Q}EFIFordringID") is None
    return number, claim_id


def claim_view(emu: InProcessEmulator, number: str) -> etree._Element:
    h = emu.soap.debitor_forespoergsel.call("HentDebitorkonto", messages.hent_debitorkonto(
        CALLER, account_number=number))
    claim = h.element.find(f".//{Q}FordringSamling/{Q}Fordring")
    assert claim is not None
    return claim


def pay(emu: InProcessEmulator, claim_id: str, amount: D, payment_id: str = "P-1") -> None:
    r = emu.soap.debitor_indbetaling.call("ForetagIndbetaling", messages.foretag_indbetaling(
        CALLER, payment_id=payment_id, amount=amount, paid=date(2026, 3, 5), claim_id=claim_id))
    assert r.ok, r.errors


def psrm_back(emu: InProcessEmulator) -> None:
    """PSRM answers again: the waiting deliveries go now (and what they cause after)."""
    emu.admin("DELETE", "/faults")
    with emu.runtime.store.transaction() as conn:
        conn.execute(update(t.outbox).where(t.outbox.c.status == "PENDING").values(
            next_attempt=datetime.now() - timedelta(seconds=1)))
    outbox.drain(emu.runtime)


def pending(emu: InProcessEmulator) -> list[tuple[str, D, str]]:
    with emu.runtime.store.transaction() as conn:
        rows = conn.execute(select(t.psrm_pending_writedowns)
                            .order_by(t.psrm_pending_writedowns.c.id)).all()
    return [(r.claim_id, from_ore(r.amount_ore), r.reason) for r in rows]


def _actions(emu: InProcessEmulator, code: str) -> Iterator[etree._Element]:
    """Every action with ``code`` that reached PSRM's MFFordringIndberet and was answered,
    taken or rejected (a repeated delivery, answered again from PSRM's record, counts once
    more)."""
    for exchange in emu.admin("GET", "/journal?end=psrm&operation=MFFordringIndberet"
                                     "&full=1&limit=1000"):
        if exchange["status"] not in ("ok", "rejected", "replayed"):
            continue
        root = etree.fromstring(exchange["request_xml"].encode())
        for action in root.iter("{*}FordringAktion"):
            if action.findtext("{*}MFAktionKode") == code:
                yield action


def _fields(action: etree._Element, **paths: str) -> dict[str, str | None]:
    return {name: action.findtext(f".//{{*}}{element}") for name, element in paths.items()}


def received(emu: InProcessEmulator, code: str) -> list[dict[str, str | None]]:
    """The EFI id, amount, write-down reason and date of each ``code`` action PSRM got."""
    amount = "FordringNedskrivningBeløb" if code == "NEDSKRIV" else "DMIFordringBeløb"
    return [_fields(a, efi="DMIFordringEFIFordringID", amount=amount,
                    reason="FordringNedskrivningÅrsagKode",
                    effective="FordringNedskrivningVirkningFra")
            for a in _actions(emu, code)]


def resend_first_delivery(emu: InProcessEmulator) -> None:
    """The first delivery to PSRM goes once more (a sender that died after PSRM took it):
    PSRM replays its first answer."""
    with emu.runtime.store.transaction() as conn:
        first = conn.execute(select(t.outbox.c.id).where(t.outbox.c.target == "psrm")
                             .order_by(t.outbox.c.id).limit(1)).scalar_one()
        conn.execute(update(t.outbox).where(t.outbox.c.id == first).values(
            status="PENDING", next_attempt=datetime.now() - timedelta(seconds=1)))
    assert outbox.drain(emu.runtime) >= 1


def psrm_claim(emu: InProcessEmulator, efi: str) -> dict[str, str]:
    claims = {c["efi_claim_id"]: c for c in emu.admin("GET", "/psrm")["claims"]}
    return claims[efi]  # type: ignore[no-any-return]


# ---------------------------------------------------------------- tests


def test_payment_before_the_efi_id_is_written_down_in_psrm_once_it_is_known(
        emu: InProcessEmulator) -> None:
    number, claim_id = handed_over_unanswered(emu)
    pay(emu, claim_id, D("312.34"))
    assert pending(emu) == [(claim_id, D("312.34"), "INDB")]
    assert received(emu, "NEDSKRIV") == []

    psrm_back(emu)

    view = claim_view(emu, number)
    efi = view.findtext(f"{Q}PSRM/{Q}EFIFordringID")
    assert efi
    assert [D(a["amount"] or "") for a in received(emu, "NEDSKRIV")] == [D("312.34")]
    assert received(emu, "NEDSKRIV") == [
        {"efi": efi, "amount": "312.34", "reason": "INDB", "effective": "2026-03-05"}]
    assert D(psrm_claim(emu, efi)["amount"]) == HANDED_OVER
    assert D(psrm_claim(emu, efi)["remaining"]) == HANDED_OVER - D("312.34")
    assert D(view.findtext(f"{Q}PSRM/{Q}OverdragetBeloeb") or "") == D("687.66")
    assert D(view.findtext(f"{Q}Restbeloeb") or "") == D("687.66")
    assert pending(emu) == []


def test_a_repeated_receipt_sends_nothing_twice(emu: InProcessEmulator) -> None:
    number, claim_id = handed_over_unanswered(emu)
    pay(emu, claim_id, D("250.05"))
    psrm_back(emu)
    efi = claim_view(emu, number).findtext(f"{Q}PSRM/{Q}EFIFordringID")
    assert efi
    # PSRM moves on (receipts SAGSBEHANDL, UDFOERT come through MFKvitteringHent) …
    emu.admin("POST", "/clock/advance", days=3)
    assert claim_view(emu, number).findtext(f"{Q}PSRM/{Q}Status") == "UDFOERT"
    # … then the first delivery is sent once more (a sender died after PSRM took it):
    # PSRM replays its first answer, MODTAGET with the same EFI id
    resend_first_delivery(emu)
    # PSRM's replayed MODTAGET does not take the claim back from UDFOERT
    assert claim_view(emu, number).findtext(f"{Q}PSRM/{Q}Status") == "UDFOERT"
    emu.admin("POST", "/poll")
    assert len(received(emu, "OPRETFORDRING")) == 2  # the repeat did reach PSRM
    assert received(emu, "NEDSKRIV") == [
        {"efi": efi, "amount": "250.05", "reason": "INDB", "effective": "2026-03-05"}]
    assert D(psrm_claim(emu, efi)["remaining"]) == HANDED_OVER - D("250.05")
    assert pending(emu) == []


def test_a_rejected_hand_over_sends_nothing_and_drops_the_pending_write_down(
        emu: InProcessEmulator) -> None:
    number, claim_id = handed_over_unanswered(emu)
    pay(emu, claim_id, D("400.00"))
    assert pending(emu) == [(claim_id, D("400.00"), "INDB")]
    emu.admin("POST", "/psrm/behaviour", reject_types={"DAGINST": "Typen er lukket"})

    psrm_back(emu)
    emu.admin("POST", "/poll")

    view = claim_view(emu, number)
    assert view.findtext(f"{Q}Status") == "AFVIST"
    assert [a["amount"] for a in received(emu, "OPRETFORDRING")] == ["1000.00"]
    assert received(emu, "NEDSKRIV") == []
    assert pending(emu) == []
    assert emu.admin("GET", "/psrm")["claims"] == []
    assert D(view.findtext(f"{Q}Restbeloeb") or "") == D("600.00")


def test_oir_nedskriv_before_the_efi_id_reduces_the_psrm_part_and_is_sent_later(
        emu: InProcessEmulator) -> None:
    number, claim_id = handed_over_unanswered(emu)
    r = emu.soap.debitor_registrering.call("RetFordringTilstand", messages.ret_fordring_tilstand(
        CALLER, claim_id=claim_id, change="Nedskriv", amount=D("99.99"), reason="REGU",
        effective=date(2026, 3, 4)))
    assert r.ok, r.errors
    assert D(r.findtext("Restbeloeb") or "") == D("900.01")
    view = claim_view(emu, number)
    assert D(view.findtext(f"{Q}PSRM/{Q}OverdragetBeloeb") or "") == D("900.01")
    assert pending(emu) == [(claim_id, D("99.99"), "REGU")]

    psrm_back(emu)

    efi = claim_view(emu, number).findtext(f"{Q}PSRM/{Q}EFIFordringID")
    assert efi
    assert received(emu, "NEDSKRIV") == [
        # a REGU write-down carries no effective date (PSRM rejects one: 519)
        {"efi": efi, "amount": "99.99", "reason": "REGU", "effective": None}]
    assert D(psrm_claim(emu, efi)["remaining"]) == D("900.01")
    assert pending(emu) == []


def test_a_claim_paid_in_full_before_psrm_answers_stays_paid(emu: InProcessEmulator) -> None:
    number, claim_id = handed_over_unanswered(emu)
    pay(emu, claim_id, HANDED_OVER)
    assert claim_view(emu, number).findtext(f"{Q}Status") == "BETALT"
    before = [e["status"] for e in emu.admin("GET", f"/fagsystem/events?claim_id={claim_id}")]

    psrm_back(emu)
    emu.admin("POST", "/poll")

    view = claim_view(emu, number)
    efi = view.findtext(f"{Q}PSRM/{Q}EFIFordringID")
    assert efi
    assert view.findtext(f"{Q}Status") == "BETALT"  # not OVERDRAGET with nothing left
    assert D(view.findtext(f"{Q}Restbeloeb") or "") == D("0.00")
    assert received(emu, "NEDSKRIV") == [
        {"efi": efi, "amount": "1000.00", "reason": "INDB", "effective": "2026-03-05"}]
    assert D(psrm_claim(emu, efi)["remaining"]) == D("0.00")
    after = [e["status"] for e in emu.admin("GET", f"/fagsystem/events?claim_id={claim_id}")]
    assert "OVERDRAGET" not in after[len(before):]  # the fagsystem hears of no hand-over
    assert pending(emu) == []


# ---------------------------------------------------------------- recalls before the EFI id


def pending_recalls(emu: InProcessEmulator) -> list[tuple[str, str, date]]:
    with emu.runtime.store.transaction() as conn:
        rows = conn.execute(select(t.psrm_pending_recalls)
                            .order_by(t.psrm_pending_recalls.c.id)).all()
    return [(r.claim_id, r.reason, r.effective) for r in rows]


def recalls(emu: InProcessEmulator) -> list[dict[str, str | None]]:
    """Every TILBAGEKALD that reached PSRM and was answered (see :func:`_actions`)."""
    return [_fields(a, efi="DMIFordringEFIFordringID",
                    reason="HovedFordringTilbageÅrsagKode", effective="DMIFordringVirkningFra")
            for a in _actions(emu, "TILBAGEKALD")]


def recall(emu: InProcessEmulator, claim_id: str, reason: str = "KLAG") -> None:
    r = emu.soap.debitor_registrering.call("RetFordringTilstand", messages.ret_fordring_tilstand(
        CALLER, claim_id=claim_id, change="Tilbagekald", reason=reason))
    assert r.ok, r.errors
    assert r.findtext("Status") == "TILBAGEKALDT"


def test_a_recall_before_the_efi_id_reaches_psrm_once_it_is_known(
        emu: InProcessEmulator) -> None:
    number, claim_id = handed_over_unanswered(emu)
    pay(emu, claim_id, D("100.00"))  # kept as a pending write-down
    recall(emu, claim_id)
    assert pending_recalls(emu) == [(claim_id, "KLAG", date(2026, 3, 5))]
    assert recalls(emu) == []

    psrm_back(emu)
    emu.admin("POST", "/clock/advance", days=3)  # PSRM finishes the OPRETFORDRING

    view = claim_view(emu, number)
    efi = view.findtext(f"{Q}PSRM/{Q}EFIFordringID")
    assert efi
    assert recalls(emu) == [{"efi": efi, "reason": "KLAG", "effective": "2026-03-05"}]
    assert received(emu, "NEDSKRIV") == []  # a recalled claim comes back whole
    assert psrm_claim(emu, efi)["status"] == "TILBAGEKALDT"
    assert view.findtext(f"{Q}Status") == "TILBAGEKALDT"
    assert D(view.findtext(f"{Q}Restbeloeb") or "") == D("900.00")
    events = [e["status"] for e in emu.admin("GET", f"/fagsystem/events?claim_id={claim_id}")]
    assert "OVERDRAGET" not in events  # the fagsystem hears of the recall, no hand-over
    assert events.count("TILBAGEKALDT") == 1
    assert pending_recalls(emu) == []
    assert pending(emu) == []


def test_a_recall_before_the_efi_id_is_sent_once_when_the_receipt_comes_again(
        emu: InProcessEmulator) -> None:
    number, claim_id = handed_over_unanswered(emu)
    recall(emu, claim_id, "FEJL")
    psrm_back(emu)
    efi = claim_view(emu, number).findtext(f"{Q}PSRM/{Q}EFIFordringID")
    assert efi
    # the OPRETFORDRING is delivered once more: PSRM replays its first answer
    resend_first_delivery(emu)
    emu.admin("POST", "/poll")
    emu.admin("POST", "/clock/advance", days=3)

    assert len(received(emu, "OPRETFORDRING")) == 2  # the repeat did reach PSRM
    # a recall for FEJL carries no effective date (PSRM rejects one: 546)
    assert recalls(emu) == [{"efi": efi, "reason": "FEJL", "effective": None}]
    assert psrm_claim(emu, efi)["status"] == "TILBAGEKALDT"
    assert claim_view(emu, number).findtext(f"{Q}Status") == "TILBAGEKALDT"
    assert pending_recalls(emu) == []


def test_a_rejected_hand_over_drops_the_pending_recall_and_the_claim_stays_recalled(
        emu: InProcessEmulator) -> None:
    number, claim_id = handed_over_unanswered(emu)
    pay(emu, claim_id, D("100.00"))
    recall(emu, claim_id)
    emu.admin("POST", "/psrm/behaviour", reject_types={"DAGINST": "Typen er lukket"})

    psrm_back(emu)
    emu.admin("POST", "/poll")

    view = claim_view(emu, number)
    assert view.findtext(f"{Q}Status") == "TILBAGEKALDT"  # what the municipality asked for
    assert recalls(emu) == [] and received(emu, "NEDSKRIV") == []
    assert emu.admin("GET", "/psrm")["claims"] == []
    assert pending_recalls(emu) == [] and pending(emu) == []
    assert D(view.findtext(f"{Q}Restbeloeb") or "") == D("900.00")


def test_a_fresh_hand_over_drops_a_leftover_pending_recall(emu: InProcessEmulator) -> None:
    number, claim_id = handed_over_unanswered(emu)
    recall(emu, claim_id)
    assert len(pending_recalls(emu)) == 1
    # the OPRETFORDRING never got through; the municipality hands the claim over again
    with emu.runtime.store.transaction() as conn:
        conn.execute(update(t.outbox).where(t.outbox.c.status == "PENDING").values(
            status="FAILED"))
    r = emu.soap.debitor_registrering.call("RetFordringTilstand", messages.ret_fordring_tilstand(
        CALLER, claim_id=claim_id, change="Overdrag", art="INDR"))
    assert r.ok, r.errors
    assert pending_recalls(emu) == []

    psrm_back(emu)

    view = claim_view(emu, number)
    assert view.findtext(f"{Q}Status") == "OVERDRAGET"
    assert recalls(emu) == []


def test_a_deferral_of_a_claim_waiting_for_psrm_is_refused_like_any_handed_over_claim(
        emu: InProcessEmulator) -> None:
    """Henstand on an OVERDRAGET claim is OIR-202 (recall it first), EFI id or not: no gap."""
    number, claim_id = handed_over_unanswered(emu)
    r = emu.soap.debitor_registrering.call("RetFordringTilstand", messages.ret_fordring_tilstand(
        CALLER, claim_id=claim_id, change="Henstand", deferral_until=date(2026, 6, 1)))
    assert not r.ok
    assert [e.code for e in r.errors] == ["OIR-202"]
    assert pending_recalls(emu) == []
    assert claim_view(emu, number).findtext(f"{Q}Status") == "OVERDRAGET"



def hand_over_again(emu: InProcessEmulator, claim_id: str) -> None:
    r = emu.soap.debitor_registrering.call("RetFordringTilstand", messages.ret_fordring_tilstand(
        CALLER, claim_id=claim_id, change="Overdrag", art="INDR"))
    assert r.ok, r.errors
    assert r.findtext("Status") == "OVERDRAGET"


def resubmissions(emu: InProcessEmulator) -> list[dict[str, str | None]]:
    return [_fields(a, efi="DMIFordringEFIFordringID", amount="DMIFordringBeløb")
            for a in _actions(emu, "GENINDSENDFORDRING")]


def test_a_claim_handed_over_again_while_its_recall_waits_is_recalled_then_resubmitted(
        emu: InProcessEmulator) -> None:
    """Recalled and handed over again while the first OPRETFORDRING still waits in the
    outbox: sent at once, the second hand-over would reach PSRM beside the first (PSRM
    refuses it as a duplicate and collects the first, while the debtor system says AFVIST).
    It waits with the recall instead: PSRM gets OPRETFORDRING, TILBAGEKALD (KLAG),
    GENINDSENDFORDRING, as
    if it had answered in time, and holds the claim once."""
    number, claim_id = handed_over_unanswered(emu)
    pay(emu, claim_id, D("100.00"))
    recall(emu, claim_id)
    hand_over_again(emu, claim_id)
    assert pending_recalls(emu) == [(claim_id, "KLAG", date(2026, 3, 5))]
    assert [i["operation"] for i in emu.admin("GET", "/outbox") if i["target"] == "psrm"] == [
        "MFFordringIndberet"]  # only the first hand-over: nothing races it

    psrm_back(emu)
    emu.admin("POST", "/clock/advance", days=3)

    first = recalls(emu)
    assert [r["reason"] for r in first] == ["KLAG"] and first[0]["effective"] == "2026-03-05"
    old = first[0]["efi"]
    assert old and psrm_claim(emu, old)["status"] == "TILBAGEKALDT"
    assert resubmissions(emu) == [{"efi": old, "amount": "900.00"}]  # what is open today
    assert received(emu, "NEDSKRIV") == []  # the payment is in the resubmitted amount
    view = claim_view(emu, number)
    new = view.findtext(f"{Q}PSRM/{Q}EFIFordringID")
    assert new and new != old
    assert psrm_claim(emu, new)["status"] == "AKTIV"
    assert D(psrm_claim(emu, new)["remaining"]) == D("900.00")
    active = [c for c in emu.admin("GET", "/psrm")["claims"] if c["status"] == "AKTIV"]
    assert [c["efi_claim_id"] for c in active] == [new]  # PSRM collects it once
    assert view.findtext(f"{Q}Status") == "OVERDRAGET"
    assert D(view.findtext(f"{Q}Restbeloeb") or "") == D("900.00")
    events = [e["status"] for e in emu.admin("GET", f"/fagsystem/events?claim_id={claim_id}")]
    assert "AFVIST" not in events and events.count("TILBAGEKALDT") == 1
    assert pending_recalls(emu) == [] and pending(emu) == []


def test_a_claim_handed_over_again_after_a_rejected_first_hand_over_is_resubmitted_alone(
        emu: InProcessEmulator) -> None:
    """PSRM rejects the first hand-over: nothing to recall; the second goes as a new
    OPRETFORDRING (PSRM never held the claim), and the fagsystem hears only its outcome."""
    number, claim_id = handed_over_unanswered(emu)
    recall(emu, claim_id)
    hand_over_again(emu, claim_id)
    emu.admin("POST", "/psrm/behaviour", reject_types={"DAGINST": "Typen er lukket"})

    psrm_back(emu)
    emu.admin("POST", "/poll")

    assert recalls(emu) == []
    assert resubmissions(emu) == []
    assert [a["amount"] for a in received(emu, "OPRETFORDRING")] == ["1000.00", "1000.00"]
    assert emu.admin("GET", "/psrm")["claims"] == []
    assert claim_view(emu, number).findtext(f"{Q}Status") == "AFVIST"  # the resubmission's
    events = [e["status"] for e in emu.admin("GET", f"/fagsystem/events?claim_id={claim_id}")]
    assert events.count("AFVIST") == 1
    assert pending_recalls(emu) == []
