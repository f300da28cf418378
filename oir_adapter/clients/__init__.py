"""SOAP clients for the eight services of the contracts (ØIR, fagsystem callback, PSRM).

See ``docs/clients.md``. Everything a caller needs is importable from here.
"""

from typing import TYPE_CHECKING, Any

from oir_adapter.clients.errors import (
    BusinessFault,
    ClientError,
    ClientTimeoutError,
    HttpError,
    MalformedReplyError,
    SchemaError,
    ServiceUnavailableError,
    SoapFaultError,
    TransportError,
)
from oir_adapter.clients.reply import (
    ActionOutcome,
    BusinessError,
    Reply,
    build_reply,
    read_action,
    read_oir_outcome,
    read_psrm_outcome,
)
from oir_adapter.clients.soap import build_envelope, fault_violations, read_reply

# The clients themselves (zeep, requests) load on first use: a process that only reads
# replies or raises these errors (the emulator's workers, until an end calls out) does not
# carry zeep's ~8 MB.
if TYPE_CHECKING:
    from oir_adapter.clients.service import (
        CLIENT_CLASSES,
        ClientOptions,
        Clients,
        ContractTransport,
        DaekningAfskrivningRegistreringClient,
        DebitorForespoergselClient,
        DebitorIndbetalingClient,
        DebitorkontoAnmodningClient,
        DebitorModregningClient,
        DebitorRegistreringClient,
        KeywordService,
        MFFordringIndberetClient,
        MFKvitteringHentClient,
        MFUnderretSamlingHentClient,
        ServiceClient,
        clients_for,
    )

__all__ = [
    "CLIENT_CLASSES",
    "ActionOutcome",
    "BusinessError",
    "BusinessFault",
    "ClientError",
    "ClientOptions",
    "ClientTimeoutError",
    "Clients",
    "ContractTransport",
    "DaekningAfskrivningRegistreringClient",
    "DebitorForespoergselClient",
    "DebitorIndbetalingClient",
    "DebitorkontoAnmodningClient",
    "DebitorModregningClient",
    "DebitorRegistreringClient",
    "HttpError",
    "KeywordService",
    "MFFordringIndberetClient",
    "MFKvitteringHentClient",
    "MFUnderretSamlingHentClient",
    "MalformedReplyError",
    "Reply",
    "SchemaError",
    "ServiceClient",
    "ServiceUnavailableError",
    "SoapFaultError",
    "TransportError",
    "build_envelope",
    "build_reply",
    "clients_for",
    "fault_violations",
    "read_action",
    "read_oir_outcome",
    "read_psrm_outcome",
    "read_reply",
]


def __getattr__(name: str) -> Any:
    """The names of ``__all__`` not imported above: the clients, from ``.service``."""
    if name in __all__:
        from oir_adapter.clients import service

        value = getattr(service, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
