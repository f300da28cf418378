"""The PSRM end: ``MFFordringIndberet``, ``MFKvitteringHent`` and ``MFUnderretSamlingHent``
as Gældsstyrelsen's fordringshaver interface answers them, plus what the virtual clock
and the admin API drive (status progression, payments in PSRM, scripted events,
behaviour switches).

A delivery is judged action by action: each ``FordringAktion`` is decoded on its own and
run through the indgangsfilter (the shared rule catalogue, :mod:`oir_adapter.domain.rules`,
plus what only PSRM can know: its own claims and the behaviour switches), so one bad
action never touches its neighbours. Accepted actions take effect at once (a claim is
created, written down or recalled) and then progress ``MODTAGET`` → ``SAGSBEHANDL`` →
``UDFOERT`` on the virtual clock; rejected ones are ``AFVIST`` with every reason.
docs/psrm-end.md describes the behaviour for users.
"""

from __future__ import annotations

from emulator.ends.psrm.claim_store import (
    seed_claim,
)
from emulator.ends.psrm.intake import (
    answer_indberet,
    refuse_indberet,
)
from emulator.ends.psrm.notifications import (
    DEFAULT_PAGE,
    answer_underret,
    record_payment,
    refuse_read,
)
from emulator.ends.psrm.receipts import (
    answer_kvittering,
    executed_structure,
)
from emulator.ends.psrm.scripted import (
    progress,
    script_event,
)
from emulator.ends.psrm.switches import (
    behaviour,
    set_behaviour,
)
from emulator.ends.psrm.views import (
    actions,
    claims,
    snapshot,
)
from emulator.ends.psrm.vocabulary import (
    ACTION_ID_BASE,
    ACTIVE,
    AGREEMENTS,
    COVERAGE,
    COVERAGE_SOURCES,
    DEFAULT_RETURN_REASON,
    DEFAULT_WRITE_OFF_REASON,
    EFI_ID_BASE,
    END,
    PAID,
    RECALLED,
    REJECT_TYPE_RULE,
    REJECT_TYPES,
    RESUBMITTABLE,
    RETURN,
    RETURNED,
    SCRIPTED_KINDS,
    UNKNOWN_DEBTORS,
    UNREADABLE,
    WRITE_OFF,
    WRITTEN_OFF,
    action_id,
    efi_id,
)
from emulator.soap.pipeline import OperationHandler
from oir_adapter.codecs.psrm_replies import transaction_id_of

__all__ = ["ACTION_ID_BASE", "ACTIVE", "AGREEMENTS", "COVERAGE", "COVERAGE_SOURCES", "DEFAULT_PAGE", "DEFAULT_RETURN_REASON", "DEFAULT_WRITE_OFF_REASON", "EFI_ID_BASE", "END", "PAID", "RECALLED", "REJECT_TYPES", "REJECT_TYPE_RULE", "RESUBMITTABLE", "RETURN", "RETURNED", "SCRIPTED_KINDS", "UNKNOWN_DEBTORS", "UNREADABLE", "WRITE_OFF", "WRITTEN_OFF", "action_id", "actions", "behaviour", "claims", "efi_id", "executed_structure", "progress", "record_payment", "script_event", "seed_claim", "set_behaviour", "snapshot", "HANDLERS"]

HANDLERS: dict[str, OperationHandler] = {
    "MFFordringIndberet": OperationHandler(answer_indberet, refuse_indberet, transaction_id_of),
    "MFKvitteringHent": OperationHandler(answer_kvittering, refuse_read("MFKvitteringHent"),
                                         transaction_id_of, read_only=True),
    "MFUnderretSamlingHent": OperationHandler(answer_underret, refuse_read("MFUnderretSamlingHent"),
                                              transaction_id_of, read_only=True),
}
