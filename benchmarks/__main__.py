"""``python -m benchmarks [SECTION ...]``: run every benchmark section (or the named ones).

A section is a module of this package with a ``run() -> list[Figure]`` function. Each
figure carries its own baseline from the same run; the table prints both and the ratio.
"""

from __future__ import annotations

import importlib
import sys

from rich.console import Console
from rich.table import Table

from benchmarks.figures import Figure

SECTIONS = ("mapping", "coverage", "emulator")


def main(argv: list[str]) -> int:
    wanted = argv or list(SECTIONS)
    console = Console(width=None if sys.stdout.isatty() else 160)
    figures: list[Figure] = []
    for name in wanted:
        try:
            module = importlib.import_module(f"benchmarks.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"benchmarks.{name}":
                console.print(f"[yellow]section {name}: not present, skipped[/]")
                continue
            raise
        console.print(f"[bold]running {name}…[/]")
        figures.extend(module.run())
    table = Table(title="oir-adapter benchmarks (ratios against same-run baselines)")
    for column in ("section", "figure", "value", "baseline", "ratio", "target"):
        table.add_column(column)
    for f in figures:
        table.add_row(f.section, f.name, f.value_text, f.baseline_text, f.ratio_text, f.target)
    console.print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
