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
from emulator.ends.debtor.common import refuse_reused_id
from emulator.ends.debtor.offsetting import foretag_modregning
from emulator.ends.debtor.payments import foretag_indbetaling, soeg_delfordring_til_indbetaling
from emulator.ends.debtor.queries import hent_debitorkonto, soeg_debitorkonto
from emulator.ends.debtor.registration import (
    opret_debitorkonto,
    opret_fordring,
    ret_fordring_tilstand,
)
from emulator.soap.pipeline import Call, OperationHandler
from oir_adapter.codecs import Reader
from oir_adapter.codecs.oir_replies import (
    transaction_id_of,
)
from oir_adapter.contracts import OIR_NS

__all__ = ["HANDLERS"]


LockKeys = Callable[[etree._Element], tuple[str, ...] | None]


def _on_one_account(account_at: str, **unique: str) -> LockKeys:
    """The lock keys of an operation whose every read and write lies within the one
    account its request names at ``account_at`` (so requests on other accounts run beside
    it on PostgreSQL): that account, its TransaktionsID (two requests with one ID must
    take turns, so the second finds the first's answer to replay or refuse), and each
    ``unique`` id it books (name → path), unique across accounts. Values are read as the
    handler reads them (stripped), so both name the same account. A request that names
    no account (a payment found by its claim or payer) gets no keys: it waits for every
    writer."""
    def keys(body: etree._Element) -> tuple[str, ...] | None:
        r = Reader(body, OIR_NS)
        number = r.opt_text(account_at)
        if number is None:
            return None
        found = [f"account:{number}"]
        for name, path in unique.items():
            value = r.opt_text(path)
            if value is None:
                return None
            found.append(f"{name}:{value}")
        transaction_id = transaction_id_of(body)
        if transaction_id:
            found.append(f"tid:{transaction_id}")
        return tuple(found)
    return keys


def _handler(handle: Callable[[Call], etree._Element], response: str, *,
             read_only: bool = False, lock_keys: LockKeys | None = None) -> OperationHandler:
    return OperationHandler(handle, refuse_reused_id(response), transaction_id_of, read_only,
                            lock_keys)


# Footprints, checked against the handlers: OpretFordring reads and writes the account's
# claims, its balance and reference; its claim number comes from a counter (a row lock:
# numbers stay gap-free), its FIK id from that number. ForetagIndbetaling by account
# number reads and writes that account's claims, payments and pending write-downs; its
# IndbetalingID is unique across accounts (hence its key); a NEDSKRIV's delivery number
# comes from a counter. The end dates change the account's roles or one of its claims.
# Every one adds outbox, journal and idempotency rows (serial ids, the last under its
# TransaktionsID key). What they read beside that (settings, claim types, the clock and
# faults) only unkeyed writers change. The rest reaches other accounts (offsetting, a
# payment found by its payer, creating accounts, hand-over's offsets) and stays unkeyed.
_ACCOUNT = _on_one_account("DebitorkontoNummer")


HANDLERS: dict[str, OperationHandler] = {
    "OpretDebitorkonto": _handler(opret_debitorkonto, "OpretDebitorkontoResponse"),
    "OpretFordring": _handler(opret_fordring, "OpretFordringResponse", lock_keys=_ACCOUNT),
    "RetFordringTilstand": _handler(ret_fordring_tilstand, "RetFordringTilstandResponse"),
    "SoegDebitorkonto": _handler(soeg_debitorkonto, "SoegDebitorkontoResponse",
                                 read_only=True),
    "HentDebitorkonto": _handler(hent_debitorkonto, "HentDebitorkontoResponse",
                                 read_only=True),
    "ForetagIndbetaling": _handler(foretag_indbetaling, "ForetagIndbetalingResponse",
                                   lock_keys=_on_one_account(
                                       "Indbetaling/DebitorkontoNummer",
                                       payment="Indbetaling/IndbetalingID")),
    "SoegDelfordringTilIndbetaling": _handler(soeg_delfordring_til_indbetaling,
                                              "SoegDelfordringTilIndbetalingResponse",
                                              read_only=True),
    "ForetagModregning": _handler(foretag_modregning, "ForetagModregningResponse"),
    "OpretDebitorkontoAnmodning": _handler(anmodning.opret_debitorkonto_anmodning,
                                           "OpretDebitorkontoAnmodningResponse"),
    **{name: _handler(handle, f"{name}Response", lock_keys=_ACCOUNT)
       for name, handle in end_dates.handlers().items()},
}
