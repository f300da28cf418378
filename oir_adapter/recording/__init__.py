"""Recordings of real test traffic: ``oir record`` writes them (a recording proxy),
``oir serve --replay`` answers from them, ``oir conformance judge`` judges them.

See ``docs/record.md`` for the folder layout and what is masked.
"""

from .folder import Draft, RecordedExchange, Recording, RecordingError, RecordingWriter
from .masking import BodyMasker, mask_body, mask_header

__all__ = [
    "BodyMasker",
    "Draft",
    "RecordedExchange",
    "Recording",
    "RecordingError",
    "RecordingWriter",
    "mask_body",
    "mask_header",
]
