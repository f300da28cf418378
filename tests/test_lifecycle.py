"""The claim state machine, without a database: every step from every state, with
something left and with nothing left; receipts and notifications as the steps they are."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from oir_adapter.domain.lifecycle import (
    IllegalStep,
    Step,
    advance,
    oir_psrm_status,
    state_after_receipt,
    step_of_receipt,
)
from oir_adapter.domain.model import (
    CLOSED_STATES,
    OPEN_STATES,
    Claim,
    ClaimState,
    PsrmAction,
    PsrmActionCode,
    PsrmStatus,
)

S = ClaimState
OP, HO, RJ, RC = S.OPEN, S.HANDED_OVER, S.REJECTED, S.RECALLED
LEFT, NONE = Decimal("250.75"), Decimal("0.00")

#: step → {start state: (state when something is left, state when nothing is left)};
#: a start state not named is refused (IllegalStep).
EXPECTED: dict[Step, dict[ClaimState, tuple[ClaimState, ClaimState]]] = {
    Step.HAND_OVER: {OP: (HO, HO), RJ: (HO, HO), RC: (HO, HO), HO: (HO, HO)},
    Step.ACCEPTED: {OP: (HO, HO), RJ: (HO, HO), RC: (HO, HO), HO: (HO, HO)},
    Step.REJECTED: {OP: (RJ, RJ), RJ: (RJ, RJ), RC: (RJ, RJ), HO: (RJ, RJ)},
    Step.RECALL: {OP: (RC, RC), RJ: (RC, RC), RC: (RC, RC), HO: (RC, RC)},
    Step.RECALL_DONE: {OP: (RC, RC), RJ: (RC, RC), RC: (RC, RC), HO: (RC, RC)},
    Step.RETURNED: {OP: (RC, RC), RJ: (RC, RC), RC: (RC, RC), HO: (RC, RC)},
    Step.PSRM_COVERAGE: {OP: (OP, S.COVERED_BY_PSRM), RJ: (RJ, S.COVERED_BY_PSRM),
                         RC: (RC, S.COVERED_BY_PSRM), HO: (HO, S.COVERED_BY_PSRM)},
    Step.PSRM_WRITE_OFF: {OP: (OP, S.WRITTEN_OFF), RJ: (RJ, S.WRITTEN_OFF),
                          RC: (RC, S.WRITTEN_OFF), HO: (HO, S.WRITTEN_OFF)},
    Step.COVERAGE: {OP: (OP, S.PAID), RJ: (RJ, S.PAID), RC: (RC, S.PAID), HO: (HO, HO)},
    Step.COVERAGE_WITH_PSRM: {HO: (HO, S.PAID)},
    Step.WRITE_DOWN: {OP: (OP, S.WRITTEN_OFF), RJ: (RJ, S.WRITTEN_OFF), RC: (RC, S.WRITTEN_OFF),
                      HO: (HO, S.WRITTEN_OFF)},
    Step.CANCEL: {OP: (S.CANCELLED, S.CANCELLED), RJ: (S.CANCELLED, S.CANCELLED),
                  RC: (S.CANCELLED, S.CANCELLED), HO: (S.CANCELLED, S.CANCELLED)},
}

CASES = [(step, state) for step in Step for state in ClaimState]


def test_the_table_names_every_step() -> None:
    assert set(EXPECTED) == set(Step)


def test_every_state_is_open_or_closed_never_both() -> None:
    assert set(ClaimState) == OPEN_STATES | CLOSED_STATES
    assert not OPEN_STATES & CLOSED_STATES


@pytest.mark.parametrize(("step", "state"), CASES, ids=[f"{s}-{t}" for s, t in CASES])
def test_each_step_from_each_state(step: Step, state: ClaimState) -> None:
    expected = EXPECTED[step].get(state)
    if expected is None:
        with pytest.raises(IllegalStep):
            advance(state, step, outstanding=LEFT)
        return
    assert advance(state, step, outstanding=LEFT) is expected[0]
    assert advance(state, step, outstanding=NONE) is expected[1]


@pytest.mark.parametrize("state", sorted(CLOSED_STATES))
def test_a_closed_claim_never_moves(state: ClaimState) -> None:
    for step in Step:
        with pytest.raises(IllegalStep, match="closed"):
            advance(state, step, outstanding=NONE)


def _claim(state: ClaimState) -> Claim:
    return Claim(id="7001", account_number="900001", fagsystem_claim_id="FS-7001",
                 type_code="DAGINST", principal=Decimal("812.40"),
                 period_from=date(2026, 8, 1), period_to=date(2026, 8, 31),
                 founded=date(2026, 9, 1), due_date=date(2026, 9, 10),
                 srb=date(2026, 9, 24), received=date(2026, 9, 1), state=state)


def _action(code: PsrmActionCode, status: PsrmStatus) -> PsrmAction:
    return PsrmAction(action_id="4400000000017", code=code, creditor_id="1229", status=status,
                      status_changed=datetime(2026, 10, 3, 9, 15))


RECEIPTS = [
    (PsrmActionCode.CREATE, PsrmStatus.RECEIVED, Step.ACCEPTED, HO),
    (PsrmActionCode.CREATE, PsrmStatus.HEARING, Step.ACCEPTED, HO),
    (PsrmActionCode.CREATE, PsrmStatus.IN_PROCESS, Step.ACCEPTED, HO),
    (PsrmActionCode.CREATE, PsrmStatus.DONE, Step.ACCEPTED, HO),
    (PsrmActionCode.CREATE, PsrmStatus.REJECTED, Step.REJECTED, RJ),
    (PsrmActionCode.RESUBMIT, PsrmStatus.DONE, Step.ACCEPTED, HO),
    (PsrmActionCode.RESUBMIT, PsrmStatus.REJECTED, Step.REJECTED, RJ),
    (PsrmActionCode.RECALL, PsrmStatus.DONE, Step.RECALL_DONE, RC),
    (PsrmActionCode.RECALL, PsrmStatus.RECEIVED, None, HO),
    (PsrmActionCode.RECALL, PsrmStatus.REJECTED, None, HO),
    (PsrmActionCode.WRITE_DOWN, PsrmStatus.DONE, None, HO),
    (PsrmActionCode.WRITE_DOWN, PsrmStatus.REJECTED, None, HO),
]


@pytest.mark.parametrize(("code", "status", "step", "after"), RECEIPTS,
                         ids=[f"{c}-{s}" for c, s, _st, _a in RECEIPTS])
def test_a_receipt_is_the_step_it_stands_for(code: PsrmActionCode, status: PsrmStatus,
                                            step: Step | None, after: ClaimState) -> None:
    action = _action(code, status)
    assert step_of_receipt(action) is step
    assert state_after_receipt(_claim(HO), action) is after


def test_a_late_receipt_does_not_reopen_a_settled_claim() -> None:
    paid = _claim(S.PAID)
    assert state_after_receipt(paid, _action(PsrmActionCode.CREATE, PsrmStatus.DONE)) is S.PAID


def test_the_oir_answer_shows_a_hearing_as_received() -> None:
    assert oir_psrm_status(PsrmStatus.HEARING) == "MODTAGET"
    assert oir_psrm_status(None) == "MODTAGET"
    assert oir_psrm_status(PsrmStatus.IN_PROCESS) == "SAGSBEHANDL"
