"""The ØIR debtor end: a working reference debtor system behind the ØIR services.

Each handler decodes its (schema-valid) request, checks it against the rule catalogue and
the ledger, and either answers with a ``FejlSamling`` leaving the store untouched, or
books the change and answers with the result. Outgoing work (fagsystem callbacks, PSRM
actions) is queued by :mod:`emulator.bookkeeping` in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from emulator.ends.debtor import anmodning, end_dates
from emulator.ends.debtor.common import _refuse
from emulator.ends.debtor.offsetting import foretag_modregning
from emulator.ends.debtor.payments import foretag_indbetaling, soeg_delfordring_til_indbetaling
from emulator.ends.debtor.queries import hent_debitorkonto, soeg_debitorkonto
from emulator.ends.debtor.registration import (
    opret_debitorkonto,
    opret_fordring,
    ret_fordring_tilstand,
)
from emulator.soap.pipeline import Call, OperationHandler
from oir_adapter.codecs.oir_replies import (
    transaction_id_of,
)

__all__ = ["HANDLERS"]


def _handler(handle: Callable[[Call], etree._Element], response: str, *,
             read_only: bool = False) -> OperationHandler:
    return OperationHandler(handle, _refuse(response), transaction_id_of, read_only)


HANDLERS: dict[str, OperationHandler] = {
    "OpretDebitorkonto": _handler(opret_debitorkonto, "OpretDebitorkontoResponse"),
    "OpretFordring": _handler(opret_fordring, "OpretFordringResponse"),
    "RetFordringTilstand": _handler(ret_fordring_tilstand, "RetFordringTilstandResponse"),
    "SoegDebitorkonto": _handler(soeg_debitorkonto, "SoegDebitorkontoResponse",
                                 read_only=True),
    "HentDebitorkonto": _handler(hent_debitorkonto, "HentDebitorkontoResponse",
                                 read_only=True),
    "ForetagIndbetaling": _handler(foretag_indbetaling, "ForetagIndbetalingResponse"),
    "SoegDelfordringTilIndbetaling": _handler(soeg_delfordring_til_indbetaling,
                                              "SoegDelfordringTilIndbetalingResponse",
                                              read_only=True),
    "ForetagModregning": _handler(foretag_modregning, "ForetagModregningResponse"),
    "OpretDebitorkontoAnmodning": _handler(anmodning.opret_debitorkonto_anmodning,
                                           "OpretDebitorkontoAnmodningResponse"),
    **{name: _handler(handle, f"{name}Response")
       for name, handle in end_dates.handlers().items()},
}
