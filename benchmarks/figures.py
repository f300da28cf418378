"""One benchmark figure: a measured value, its same-run baseline and the ratio."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Figure:
    section: str
    name: str
    value: float
    unit: str
    baseline: float | None = None  # same unit, measured in the same run
    target: str = ""
    higher_is_better: bool = False

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        assert self.baseline is not None
        return self.value / self.baseline

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
