"""``python -m benchmarks [--quick] [--json PATH] [SECTION ...]``: run every benchmark section
(or the named ones).

A section is a module of this package with a ``run() -> list[Figure]`` function. Each
figure carries its own baseline from the same run; the table prints both and the ratio.
``--json PATH`` also writes the figures that have a stable id as a JSON list of
``{id, section, name, value, unit, baseline, ratio, target}``. ``--quick`` (or
``OIR_BENCH_QUICK=1``) runs small sizes and short loads: a smoke run, not figures to compare.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks import figures as figures_module
from benchmarks.figures import Figure

SECTIONS = ("mapping", "coverage", "emulator", "psrm", "chain", "conformance")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("sections", nargs="*", metavar="SECTION",
                        help=f"sections to run (default: all of {', '.join(SECTIONS)})")
    parser.add_argument("--json", type=Path, metavar="PATH",
                        help="also write the figures with a stable id as JSON to PATH")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and short loads (a smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        figures_module.QUICK = True
    wanted = args.sections or list(SECTIONS)
    console = Console(width=None if sys.stdout.isatty() else 160)
    if figures_module.QUICK:
        console.print("[yellow]quick run: small sizes, figures not to be compared[/]")
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
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        exported = [f.as_json() for f in figures if f.id]
        args.json.write_text(json.dumps(exported, ensure_ascii=False, indent=2) + "\n",
                             encoding="utf-8")
        console.print(f"{len(exported)} figures written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
