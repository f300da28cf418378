"""Recordings of real test traffic: ``oir record`` writes them (a recording proxy),
``oir serve --replay`` answers from them, ``oir conformance judge`` judges them.

See ``docs/record.md`` for the folder layout and what is masked.
"""

from oir_adapter.recording.folder import (
    Draft,
    RecordedExchange,
    Recording,
    RecordingError,
    RecordingWriter,
)
from oir_adapter.recording.masking import BodyMasker, mask_body, mask_header

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
