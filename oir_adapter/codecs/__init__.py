"""XML ↔ model codecs for the ØIR and PSRM messages."""

from oir_adapter.codecs.oir import ClaimRequest, OirHeader, decode_opret_fordring
from oir_adapter.codecs.psrm import ActionRequest, Delivery, decode_delivery
from oir_adapter.codecs.reading import DecodeError, Reader, parse_date

__all__ = [
    "ActionRequest",
    "ClaimRequest",
    "DecodeError",
    "Delivery",
    "OirHeader",
    "Reader",
    "decode_delivery",
    "decode_opret_fordring",
    "parse_date",
]
