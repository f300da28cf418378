"""The ``oir`` command line: validate, map, serve, conformance, docs.

Each command is a thin shell around a library function, imported when the command runs
so that ``oir --help`` stays fast. User mistakes end in one clear line and a non-zero exit
(click's ``UsageError``/``ClickException``), never a traceback.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from . import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="oir")
def main() -> None:
    """ØIR ↔ PSRM adapter and emulator."""


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Judge date rules as of this day (default: today).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def validate(files: tuple[Path, ...], today: object, as_json: bool) -> None:
    """Check message files against the XSD and the rule catalogue.

    \b
    Example:
      oir validate docs/examples/OpretFordring.request.xml --today 2026-11-23
    """
    from .validation import run_validate

    day = today.date() if today is not None else date.today()  # type: ignore[attr-defined]
    raise SystemExit(run_validate(list(files), today=day, as_json=as_json))


@main.command(name="map")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output file (one delivery) or folder (several); default: stdout.")
@click.option("--max-actions", type=click.IntRange(1, 10000), default=500, show_default=True,
              help="Actions per delivery (MFLeveranceID).")
@click.option("--se-number", default="12345678", show_default=True,
              help="The fordringshaver system's SE number.")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Date the hand-over is judged on (default: today).")
def map_(source: Path, out: Path | None, max_actions: int, se_number: str, today: object) -> None:
    """Map ØIR OpretFordring requests to PSRM MFFordringIndberet_I deliveries.

    SOURCE is one request file, a folder of them, or a JSON lines file.

    \b
    Example:
      oir map docs/examples/OpretFordring.request.xml --out delivery.xml
    """
    from .mapping import run_map

    day = today.date() if today is not None else date.today()  # type: ignore[attr-defined]
    raise SystemExit(run_map(source, out=out, max_actions=max_actions, se_number=se_number,
                             today=day))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--db", default=None, help="SQLAlchemy URL (default: SQLite file var/oir.sqlite3).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--scenario", type=click.Path(exists=True, path_type=Path), default=None,
              help="YAML/JSON scenario to load at start.")
@click.option("--demo", is_flag=True, help="Load the small demo scenario at start.")
@click.option("--insecure", is_flag=True, help="Allow a non-loopback bind without auth.")
@click.option("--psrm-url", default=None, metavar="URL",
              help="Hand claims to this PSRM (base URL) instead of the emulator's own end.")
@click.option("--callback-url", default=None, metavar="URL",
              help="Send fagsystem callbacks here instead of the emulator's own end.")
def serve(host: str, port: int, db: str | None, workers: int, scenario: Path | None, demo: bool,
          insecure: bool, psrm_url: str | None, callback_url: str | None) -> None:
    """Run the emulator (ØIR debtor end, fagsystem end, PSRM end, dashboard).

    \b
    Example:
      oir serve --port 8080 --db sqlite:///var/oir.sqlite3
      oir serve --callback-url http://fagsystem.local/cb --psrm-url http://psrm-test.local
    """
    import os

    from emulator.serving import run_server

    # EmulatorConfig.from_env reads these in every worker
    for name, value in (("OIR_PSRM_URL", psrm_url), ("OIR_CALLBACK_URL", callback_url)):
        if value:
            os.environ[name] = value
    raise SystemExit(run_server(host=host, port=port, db=db, workers=workers, scenario=scenario,
                                demo=demo, insecure=insecure))


@main.group()
def docs() -> None:
    """Generate documentation from the code."""


@docs.command(name="rules")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Write here instead of stdout.")
def docs_rules(out: Path | None) -> None:
    """Write the rule catalogue as Markdown.

    \b
    Example:
      oir docs rules --out docs/rules.md
    """
    from .rules import catalogue_markdown

    text = catalogue_markdown()
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
