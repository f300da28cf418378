"""One benchmark figure: a measured value, its same-run baseline and the ratio."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: ``OIR_BENCH_QUICK=1`` (or ``python -m benchmarks --quick``): small sizes and short loads,
#: for a smoke run (the test suite's); the figures are then noisier and not to be compared.
QUICK = os.environ.get("OIR_BENCH_QUICK", "") not in ("", "0")


def size(default: int, quick: int) -> int:
    """A workload size: ``OIR_BENCH_QUICK`` picks ``quick``."""
    return quick if QUICK else default


@dataclass(frozen=True, slots=True)
class Figure:
    section: str
    name: str
    value: float
    unit: str
    baseline: float | None = None  # same unit, measured in the same run
    target: str = ""
    higher_is_better: bool = False
    id: str = ""  # a stable id for the JSON output (``emulator.http.read``); "" = not exported

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        assert self.baseline is not None
        return self.value / self.baseline

    def as_json(self) -> dict[str, Any]:
        """The figure as ``{id, section, name, value, unit, baseline, ratio, target}``."""
        return {"id": self.id, "section": self.section, "name": self.name.strip(" …"),
                "value": self.value, "unit": self.unit, "baseline": self.baseline,
                "ratio": self.ratio, "target": self.target}

    @property
    def value_text(self) -> str:
        return f"{self.value:,.2f} {self.unit}"

    @property
    def baseline_text(self) -> str:
        return "—" if self.baseline is None else f"{self.baseline:,.2f} {self.unit}"

    @property
    def ratio_text(self) -> str:
        r = self.ratio
        return "—" if r is None else f"{r:.2f}×"


def best_of(fn: Callable[[], object], *, repeat: int = 5, number: int = 1) -> float:
    """Best wall time in seconds of ``number`` calls, over ``repeat`` rounds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best
