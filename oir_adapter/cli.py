"""The ``oir`` command line: validate, map, serve, conformance, docs.

Each command is a thin shell around a library function, imported when the command runs
so that ``oir --help`` stays fast. User mistakes end in one clear line and a non-zero exit
(click's ``UsageError``/``ClickException``), never a traceback.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import __version__

if TYPE_CHECKING:
    from .conformance import RunReport


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
@click.option("--creditor-id", default=None, metavar="ID",
              help="DMIFordringHaverID: Gældsstyrelsen's number for the fordringshaver "
                   "(e.g. 1229), for claims of authorities --creditor-ids does not name.")
@click.option("--creditor-ids", default=None, metavar="CVR=ID,…",
              help="A fordringshaver id per authority CVR (MyndighedCVR).")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Date the hand-over is judged on (default: today).")
def map_(source: Path, out: Path | None, max_actions: int, se_number: str,
         creditor_id: str | None, creditor_ids: str | None, today: object) -> None:
    """Map ØIR OpretFordring requests to PSRM MFFordringIndberet_I deliveries.

    SOURCE is one request file, a folder of them, or a JSON lines file. Every claim needs
    a fordringshaver id: --creditor-id, or --creditor-ids for its authority.

    \b
    Example:
      oir map docs/examples/OpretFordring.request.xml --creditor-id 1229 --out delivery.xml
    """
    from .mapping import parse_creditor_ids, run_map

    try:
        ids = parse_creditor_ids(creditor_ids or "")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--creditor-ids") from None
    day = today.date() if today is not None else date.today()  # type: ignore[attr-defined]
    raise SystemExit(run_map(source, out=out, max_actions=max_actions, se_number=se_number,
                             today=day, creditor_id=creditor_id, creditor_ids=ids))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
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
@click.option("--strict-soapaction", is_flag=True,
              help="Refuse a request whose SOAPAction is missing or is not its operation's "
                   "(OIR_STRICT_SOAPACTION=1).")
@click.option("--replay", "replay", default=None, metavar="DIR",
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Answer every SOAP end from this recording (made by oir record).")
def serve(host: str, port: int, db: str | None, workers: int, scenario: Path | None, demo: bool,
          insecure: bool, psrm_url: str | None, callback_url: str | None,
          strict_soapaction: bool, replay: Path | None) -> None:
    """Run the emulator (ØIR debtor end, fagsystem end, PSRM end, dashboard).

    \b
    Example:
      oir serve --port 8080 --db sqlite:///var/oir.sqlite3
      oir serve --callback-url http://fagsystem.local/cb --psrm-url http://psrm-test.local
      oir serve --replay recordings/day1 --port 8080 --db sqlite:///var/replay.sqlite3
    """
    import os

    from emulator.serving import run_server

    replay_dir = None
    if replay is not None:
        from .recording import Recording, RecordingError

        try:
            Recording.open(replay)  # the banner says how many exchanges it holds
        except RecordingError as exc:
            raise click.UsageError(f"--replay: {exc}") from None
        replay_dir = str(replay.resolve())
    # EmulatorConfig.from_env reads these in every worker
    for name, value in (("OIR_PSRM_URL", psrm_url), ("OIR_CALLBACK_URL", callback_url),
                        ("OIR_STRICT_SOAPACTION", "1" if strict_soapaction else None),
                        ("OIR_REPLAY_DIR", replay_dir)):
        if value:
            os.environ[name] = value
    raise SystemExit(run_server(host=host, port=port, db=db, workers=workers, scenario=scenario,
                                demo=demo, insecure=insecure))


@main.command()
@click.option("--upstream", required=True, metavar="URL",
              help="Base URL of the real endpoint (a PSRM or KOMBIT test system, an emulator).")
@click.option("--port", default=8090, show_default=True, type=click.IntRange(1, 65535),
              help="Where the system under test calls instead.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Recording folder (new, empty, or a recording to add to).")
@click.option("--keep-cpr", is_flag=True, help="Keep CPR numbers as they are (masked by default).")
@click.option("--timeout", default=60.0, show_default=True, type=click.FloatRange(0.1, 3600),
              metavar="SECONDS", help="How long to wait for the upstream's answer.")
@click.option("--threads", default=16, show_default=True, type=click.IntRange(1, 256),
              help="Exchanges served at once.")
@click.option("--mask-header", "mask_headers", multiple=True, metavar="NAME",
              help="Also mask this HTTP header's value (Authorization, cookies, API keys and "
                   "token headers always are); repeatable.")
def record(upstream: str, port: int, host: str, out: Path, keep_cpr: bool, timeout: float,
           threads: int, mask_headers: tuple[str, ...]) -> None:
    """Record the SOAP traffic between a system under test and a real endpoint.

    Forwards every exchange unchanged and writes each to OUT (request, response, timing,
    upstream status) with an index; secrets and CPR numbers are masked in what is written.

    \b
    Example:
      oir record --upstream http://psrm-test.local:8080 --port 8090 --out recordings/day1
    """
    from .recording.proxy import run_recorder

    raise SystemExit(run_recorder(upstream=upstream, host=host, port=port, out=out,
                                  keep_cpr=keep_cpr, timeout=timeout, threads=threads,
                                  mask_headers=mask_headers))


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


@main.group()
def conformance() -> None:
    """Run the conformance suite and list its cases (docs/conformance.md)."""


_ROLES = ["debitor", "psrm-client", "fagsystem", "psrm"]
#: ``oir conformance run``: the target did not answer at all, so nothing was judged
#: (1 is a target that answered and failed; 2 is click's usage error).
EXIT_UNREACHABLE = 3


def _report_and_exit(report: RunReport, report_dir: Path) -> None:
    """Write a run's reports, print its counts and failures, exit 1 if anything failed."""
    from .conformance import Status
    from .conformance.report import write_reports

    paths = write_reports(report, report_dir)
    counts = report.counts()
    click.echo(" ".join(f"{s.value} {counts[s.value]}" for s in Status) + f" ({len(report.results)}"
               " cases)")
    for r in report.results:
        if r.status in (Status.FAIL, Status.ERROR):
            click.echo(f"  {r.status.value.upper():5} {r.case.id}: {r.reason.splitlines()[0]}")
    click.echo(f"reports: {paths['html']} {paths['json']} {paths['junit']}")
    raise SystemExit(0 if report.ok else 1)


@conformance.command(name="run")
@click.option("--target", default=None, metavar="URL",
              help="Base URL of the system under test (debitor, psrm, fagsystem: where its "
                   "services or the emulator's journal are; psrm-client: where the suite's "
                   "PSRM end listens).")
@click.option("--role", type=click.Choice(_ROLES), default="debitor", show_default=True,
              help="What the target plays; the suite plays the other ends.")
@click.option("--report", "report_dir", default=None, type=click.Path(path_type=Path),
              help="Folder for junit.xml, report.json and report.html "
                   "[default: var/reports/ROLE, where the dashboard looks].")
@click.option("--psrm", default=None, metavar="URL",
              help="debitor: the capture point (an emulator) the target sends PSRM deliveries "
                   "and callbacks to; started here if it is a free loopback address. "
                   "psrm-client: where the suite's PSRM end listens.")
@click.option("--wait", default=10.0, show_default=True, type=click.FloatRange(0, 3600),
              metavar="SECONDS",
              help="How long to wait for asynchronous effects (psrm-client: for deliveries).")
@click.option("--case", "cases", multiple=True, metavar="ID",
              help="Run only these cases (ids or patterns like 'OIR-HND-*'); repeatable.")
@click.option("--authority-cvr", default="29189846", show_default=True,
              help="MyndighedCVR the suite calls the target with.")
@click.option("--fagsystem-id", default=None,
              help="FagsystemID the suite calls the target with (default OIRKONF); role "
                   "fagsystem: judge only this fagsystem's requests.")
@click.option("--username", default=None, help="WS-Security UsernameToken user for SOAP calls.")
@click.option("--password", default=None, envvar="OIR_CONFORMANCE_PASSWORD",
              help="Its password (or set OIR_CONFORMANCE_PASSWORD).")
@click.option("--header", "headers", multiple=True, metavar="'NAME: VALUE'",
              help="Extra HTTP header on every call, e.g. 'X-API-Key: …'; repeatable.")
@click.option("--admin-token", default=None, envvar="OIR_ADMIN_TOKEN",
              help="Bearer token for the emulator's admin API (or set OIR_ADMIN_TOKEN).")
@click.option("--leave-changes", is_flag=True,
              help="Against an emulator: keep what the run changed (clock, accounts, PSRM) "
                   "instead of putting its saved state back afterwards.")
def conformance_run(target: str | None, role: str, report_dir: Path | None, psrm: str | None,
                    wait: float, cases: tuple[str, ...], authority_cvr: str,
                    fagsystem_id: str | None, username: str | None, password: str | None,
                    headers: tuple[str, ...], admin_token: str | None,
                    leave_changes: bool) -> None:
    """Run the suite against TARGET and write the reports.

    Against an emulator the run saves its state first and puts it back afterwards
    (GET/PUT /_admin/state), so a shared emulator is left as the run found it.

    \b
    Exit status:
      0  every case passed (skips allowed)
      1  a case failed, or could not be finished (error)
      2  the command line is wrong
      3  the target does not answer at all (nothing was run)

    \b
    Example:
      oir conformance run --target http://127.0.0.1:8080 --role debitor
      oir conformance run --role psrm-client --target http://127.0.0.1:9090 --wait 120 \\
          --report var/reports/my-psrm-client
    """
    from .conformance import Role, SuiteOptions, TargetUnreachable, run_suite

    if target is None and not (role == "psrm-client" and psrm):
        raise click.UsageError("--target URL is required")
    for name, url in (("--target", target), ("--psrm", psrm)):
        if url is not None and not url.lower().startswith(("http://", "https://")):
            raise click.UsageError(f"{name} {url!r}: give a URL, e.g. http://127.0.0.1:8080")
    pairs = []
    for header in headers:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            raise click.UsageError(f"--header {header!r}: write it as 'Name: value'")
        pairs.append((name.strip(), value.strip()))
    options = SuiteOptions(target=target or psrm or "", role=Role(role), psrm=psrm, wait=wait,
                           cases=cases, authority_cvr=authority_cvr,
                           fagsystem_id=fagsystem_id or "OIRKONF",
                           fagsystem_filter=fagsystem_id if role == "fagsystem" else None,
                           username=username, password=password, http_headers=tuple(pairs),
                           admin_token=admin_token, restore_state=not leave_changes)
    report_dir = report_dir or Path("var") / "reports" / role
    try:
        report = run_suite(options)
    except TargetUnreachable as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(EXIT_UNREACHABLE) from None
    except KeyError as exc:
        raise click.UsageError(str(exc.args[0])) from None
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    _report_and_exit(report, report_dir)


@conformance.command(name="judge")
@click.argument("recording", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--report", "report_dir", required=True, type=click.Path(path_type=Path),
              help="Folder for junit.xml, report.json and report.html.")
@click.option("--judge", "judged", type=click.Choice(["debitor", "fagsystem", "psrm-client"]),
              default="debitor", show_default=True,
              help="Who is under test: the debtor system (its answers, deliveries and "
                   "callbacks), the fagsystem (its requests) or a PSRM client (its deliveries).")
@click.option("--case", "cases", multiple=True, metavar="ID",
              help="Judge only with these cases (ids or patterns like 'REC-*'); repeatable.")
@click.option("--fagsystem-id", default=None,
              help="--judge fagsystem: only this fagsystem's requests.")
def conformance_judge(recording: Path, report_dir: Path, judged: str, cases: tuple[str, ...],
                      fagsystem_id: str | None) -> None:
    """Judge a recording (made by oir record) with the suite's checks; exit 1 if one failed.

    \b
    Example:
      oir conformance judge recordings/day1 --report reports/day1
      oir conformance judge recordings/day1 --judge fagsystem --report reports/fag
    """
    from .conformance.judge import judge_recording
    from .recording import RecordingError

    try:
        report = judge_recording(recording, judged=judged, cases=cases,
                                 fagsystem_id=fagsystem_id)
    except RecordingError as exc:
        raise click.UsageError(str(exc)) from None
    except KeyError as exc:
        raise click.UsageError(str(exc.args[0])) from None
    _report_and_exit(report, report_dir)


@conformance.command(name="list")
@click.option("--role", type=click.Choice([*_ROLES, "recorded"]), default=None,
              help="Only the cases of this role.")
@click.option("--markdown", is_flag=True, help="Print the catalogue as Markdown tables.")
@click.option("--update", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="With --markdown: rewrite the list between the "
                                 "<!-- cases:begin/end --> markers of this file.")
def conformance_list(role: str | None, markdown: bool, update: Path | None) -> None:
    """List the suite's cases: id, role, area, title.

    \b
    Example:
      oir conformance list --role debitor
      oir conformance list --markdown --update docs/conformance.md
    """
    from .conformance import AREAS, Role, all_cases, catalogue_markdown
    from .conformance.catalogue import update_markdown

    if markdown:
        if update is None:
            click.echo(catalogue_markdown(), nl=False)
        elif not update_markdown(update):
            raise click.ClickException(f"{update} has no <!-- cases:begin --> … "
                                       "<!-- cases:end --> markers")
        return
    for c in all_cases():
        if role is None or c.role is Role(role):
            click.echo(f"{c.id:24} {c.role.value:12} {AREAS[c.area][:34]:34} {c.title}")


@main.group()
def contract() -> None:
    """Compare the bundled WSDL/XSD contracts with official ones."""


@contract.command(name="diff")
@click.argument("official", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown",
              show_default=True, help="Report format.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the report here instead of stdout.")
def contract_diff(official: Path, fmt: str, out: Path | None) -> None:
    """Compare a folder of official WSDL/XSD files with the bundled contracts.

    Per operation and element: present or missing, namespace, order, type, cardinality,
    facets, enumeration values; SOAPAction and binding style. Exit 0 when they match, 1
    when they differ, 2 when the folder cannot be used.

    \b
    Example:
      oir contract diff ~/official/oir --out diff.md
      oir contract diff ~/official/psrm --format json
    """
    from .contract_diff import run_contract_diff

    raise SystemExit(run_contract_diff(official, fmt=fmt, out=out))


if __name__ == "__main__":
    main()
