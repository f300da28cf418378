"""The night batch hands a day's claims to PSRM in deliveries of up to
``MAX_ACTIONS_PER_DELIVERY`` actions, not one delivery per claim: each claim still goes
through its lifecycle and gets its own receipt, one unacceptable claim is rejected alone,
and a delivery sent again after a crash is answered as the first time."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from emulator import bookkeeping, outbox
from emulator.storage import ledger
from emulator.storage import schema as t
from oir_adapter.domain.model import ClaimState, PsrmStatus
from tests.emulator_inproc import InProcessEmulator, in_process
from tests.test_debtor_end import account, claim, spec

CLAIMS_PER_ACCOUNT = 10
PAST_SRB = 20  # days from 2026-03-02: reminders, the hand-over, PSRM's receipts UDFOERT


def _principal(n: int) -> D:
    """A different amount per claim, down to the øre, so a mix-up would show."""
    return D("150.00") + D(n) / 100


def _claims(emu: InProcessEmulator, count: int, *, closed_type_at: int | None = None
            ) -> list[str]:
    """``count`` claims on accounts of ten (dealt out in turn, so an account's claims are
    not registered side by side), all falling due on the same day; the one at
    ``closed_type_at`` has the type PSRM's switch closes (SFOBETL)."""
    emu.admin("PUT", "/clock", now="2026-03-02T10:00:00")
    numbers = [account(emu, ref=f"A-{a}") for a in range(-(-count // CLAIMS_PER_ACCOUNT))]
    ids = []
    for n in range(count):
        kind = "SFOBETL" if n == closed_type_at else "DAGINST"
        r = claim(emu, numbers[n % len(numbers)],
                  spec(ref=f"C-{n}", principal=str(_principal(n)), type_code=kind))
        assert r.ok, r.errors
        claim_id = r.findtext("FordringID")
        assert claim_id
        ids.append(claim_id)
    return ids


def _psrm_items(emu: InProcessEmulator) -> list[Any]:
    with emu.runtime.store.transaction() as conn:
        return list(conn.execute(select(t.outbox).where(t.outbox.c.target == "psrm")
                                 .order_by(t.outbox.c.id)))


def _held_by_psrm(emu: InProcessEmulator) -> dict[str, D]:
    """``{claim ref: amount}`` of every claim the PSRM end holds (its own table)."""
    with emu.runtime.store.transaction() as conn:
        return {row.claim_ref: D(row.amount_ore) / 100 for row in conn.execute(
            select(t.psrm_claims.c.claim_ref, t.psrm_claims.c.amount_ore))}


def _journal(emu: InProcessEmulator, end: str, operation: str) -> list[dict[str, Any]]:
    return list(reversed(emu.admin(
        "GET", f"/journal?end={end}&operation={operation}&limit=10000&full=1")))


def test_a_day_of_1203_claims_goes_in_three_deliveries_and_every_claim_is_handed_over(
        tmp_path: Path) -> None:
    assert bookkeeping.MAX_ACTIONS_PER_DELIVERY == 500
    with in_process(tmp_path) as emu:
        ids = _claims(emu, 1203)
        events = emu.admin("POST", "/clock/advance", days=PAST_SRB)["events"]

        handed = Counter(e["claim_id"] for e in events
                         if e["event"] == "handover" and e["outcome"] == "handed_over")
        assert handed == Counter(ids)
        items = _psrm_items(emu)
        assert [len(i.context["claims"]) for i in items] == [500, 500, 203]
        assert [i.status for i in items] == ["SENT"] * 3
        # every claim in exactly one delivery, an account's claims side by side
        delivered = [c for i in items for c in i.context["claims"]]
        assert Counter(delivered) == Counter(ids)
        with emu.runtime.store.transaction() as conn:
            account_of = {row.id: row.account_number for row in conn.execute(
                select(t.claims.c.id, t.claims.c.account_number))}
            callbacks = conn.execute(select(func.count(t.fagsystem_events.c.transaction_id
                                                       .distinct())).where(
                t.fagsystem_events.c.status == "OVERDRAGET")).scalar_one()
        assert [account_of[c] for c in delivered] == sorted(account_of[c] for c in delivered)
        # so the answers told each account's fagsystem of its hand-overs in one callback
        # (two where an account straddles two deliveries), not one a claim
        accounts = len(set(account_of.values()))
        assert accounts == 121 and callbacks <= accounts + len(items) - 1
        out = _journal(emu, "oir", "MFFordringIndberet")
        assert [r["direction"] for r in out] == ["out"] * 3
        assert [int(r["summary"].split(": ")[1].split(" ")[0]) for r in out] == [500, 500, 203]
        inbound = _journal(emu, "psrm", "MFFordringIndberet")
        assert [r["status"] for r in inbound] == ["ok"] * 3

        # each claim's own receipt came back, and PSRM holds each claim's amount to the øre
        with emu.runtime.store.transaction() as conn:
            claims = ledger.claims_by_ids(conn, ids)
        assert {c.state for c in claims.values()} == {ClaimState.HANDED_OVER}
        assert {c.psrm.status for c in claims.values() if c.psrm} == {PsrmStatus.DONE}
        assert all(c.psrm is not None and c.psrm.amount == c.outstanding == _principal(n)
                   for n, c in enumerate(claims[i] for i in ids))
        assert len({c.psrm.efi_claim_id for c in claims.values() if c.psrm}) == 1203
        assert _held_by_psrm(emu) == {i: _principal(n) for n, i in enumerate(ids)}
        # the fagsystem heard of each hand-over once, with the amount handed over
        told = [e for e in emu.admin("GET", "/fagsystem/events?limit=5000")
                if e["type"] == "TILSTAND" and e["status"] == "OVERDRAGET"]
        assert Counter(e["claim_id"] for e in told) == Counter(ids)
        assert {e["claim_id"]: D(e["amount"]) for e in told} == {
            i: _principal(n) for n, i in enumerate(ids)}


def test_one_unacceptable_claim_in_a_delivery_is_rejected_alone(tmp_path: Path) -> None:
    with in_process(tmp_path) as emu:
        emu.admin("POST", "/psrm/behaviour", reject_types={"SFOBETL": "Typen er lukket"})
        ids = _claims(emu, 7, closed_type_at=3)
        emu.admin("POST", "/clock/advance", days=PAST_SRB)

        items = _psrm_items(emu)
        assert [len(i.context["claims"]) for i in items] == [7]
        (answer,) = _journal(emu, "psrm", "MFFordringIndberet")
        assert answer["summary"].startswith(f"{items[0].context['delivery_id']}: 7 actions, "
                                            "1 AFVIST, 6 MODTAGET; ")
        with emu.runtime.store.transaction() as conn:
            claims = ledger.claims_by_ids(conn, ids)
        states = [claims[i].state for i in ids]
        assert states == [ClaimState.HANDED_OVER] * 3 + [ClaimState.REJECTED] + \
            [ClaimState.HANDED_OVER] * 3
        rejected = claims[ids[3]]
        assert rejected.psrm is not None and [r.number for r in rejected.psrm.reasons] == ["574"]
        assert rejected.outstanding == _principal(3)  # back with the debtor system, whole
        assert _held_by_psrm(emu) == {ids[n]: _principal(n) for n in (0, 1, 2, 4, 5, 6)}
        told = {(e["claim_id"], e["status"]) for e in emu.admin("GET", "/fagsystem/events")
                if e["type"] == "TILSTAND"}
        assert told == {(i, "AFVIST" if i == ids[3] else "OVERDRAGET") for i in ids}


def test_a_delivery_sent_again_after_a_crash_is_answered_as_the_first_time(
        tmp_path: Path) -> None:
    """The sender died after PSRM took the delivery but before it booked the answer: the
    item is still SENDING when its lease runs out, so it goes again with the same
    TransaktionsID and MFLeveranceID, and PSRM answers it as before, storing nothing twice."""
    with in_process(tmp_path) as emu:
        ids = _claims(emu, 12)
        emu.admin("POST", "/clock/advance", days=PAST_SRB)
        (item,) = _psrm_items(emu)
        with emu.runtime.store.transaction() as conn:
            before = ledger.claims_by_ids(conn, ids)
            conn.execute(update(t.outbox).where(t.outbox.c.id == item.id).values(
                status="SENDING", next_attempt=datetime.now() - timedelta(seconds=1)))
        assert outbox.drain(emu.runtime) == 1

        first, again = _journal(emu, "psrm", "MFFordringIndberet")
        assert again["transaction_id"] == first["transaction_id"]
        assert again["status"] == "replayed"
        assert again["response_xml"] == first["response_xml"]
        with emu.runtime.store.transaction() as conn:
            assert conn.execute(select(func.count()).select_from(t.psrm_claims)).scalar() == 12
            assert conn.execute(select(func.count()).select_from(t.psrm_actions)).scalar() == 12
            assert ledger.claims_by_ids(conn, ids) == before  # nothing moved back
        assert [i.status for i in _psrm_items(emu)] == ["SENT"]
        told = [e for e in emu.admin("GET", "/fagsystem/events") if e["type"] == "TILSTAND"]
        assert Counter(e["claim_id"] for e in told) == Counter(ids)  # each told once


def _poll_answer(*receipts: tuple[str, str, PsrmStatus]) -> Any:
    """An ``MFKvitteringHent_O`` with a hand-over receipt ``(action id, EFI id, status)``
    each, as a poll of PSRM brings them back."""
    from oir_adapter.codecs.psrm_replies import action_structure, answer, sub
    from oir_adapter.domain.model import PsrmAction, PsrmActionCode

    when = datetime(2026, 3, 18, 7)
    element = answer("MFKvitteringHent_O", transaction_id="T-1", service_id="MFKvitteringHent",
                     now=when)
    samling = sub(element, "KvitteringSamling")
    for action_id, efi, status in receipts:
        action_structure(sub(samling, "Kvittering"), PsrmAction(
            action_id=action_id, code=PsrmActionCode.CREATE, creditor_id="1229", status=status,
            status_changed=when, efi_claim_id=efi, received=when))
    return element


def test_a_poll_moves_a_claim_forward_only_and_takes_a_hearing(tmp_path: Path) -> None:
    """Receipts that tell nothing new are passed over without reading their claims, an
    older one never takes a claim back, and HOERING (a real PSRM's hearing) counts as under
    way, as SAGSBEHANDL does."""
    with in_process(tmp_path) as emu:
        (claim_id,) = _claims(emu, 1)
        emu.admin("POST", "/clock/advance", days=PAST_SRB)
        with emu.runtime.store.transaction() as conn:
            handed = ledger.claims_by_ids(conn, [claim_id])[claim_id]
        assert handed.psrm is not None and handed.psrm.status is PsrmStatus.DONE
        action_id, efi = handed.psrm.action_id, handed.psrm.efi_claim_id
        assert action_id and efi

        def poll(status: PsrmStatus) -> list[dict[str, Any]]:
            with emu.runtime.store.transaction() as conn:
                return outbox.take_receipts(conn, emu.runtime, _poll_answer(
                    (action_id, efi, status)), {"positional": False})

        assert poll(PsrmStatus.RECEIVED) == [] and poll(PsrmStatus.DONE) == []
        with emu.runtime.store.transaction() as conn:
            conn.execute(update(t.claims).where(t.claims.c.id == claim_id).values(
                psrm_status=PsrmStatus.RECEIVED.value))
        assert [e["status"] for e in poll(PsrmStatus.HEARING)] == ["HOERING"]
        assert poll(PsrmStatus.RECEIVED) == [] and poll(PsrmStatus.HEARING) == []
        assert [e["status"] for e in poll(PsrmStatus.DONE)] == ["UDFOERT"]
        with emu.runtime.store.transaction() as conn:
            after = ledger.claims_by_ids(conn, [claim_id])[claim_id]
        assert after.psrm is not None and after.psrm.status is PsrmStatus.DONE
        assert after.state is ClaimState.HANDED_OVER and after.outstanding == _principal(0)
