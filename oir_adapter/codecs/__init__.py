"""XML ↔ model codecs for the ØIR and PSRM messages."""

from .oir import ClaimRequest, OirHeader, decode_opret_fordring
from .psrm import ActionRequest, Delivery, decode_delivery
from .reading import DecodeError, Reader, parse_date

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
