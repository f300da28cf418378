"""The help a person gets: ``oir --help`` names every command with its purpose, every
command's ``--help`` runs and shows a working example, and the user documentation's links
lead somewhere.

The commands are found by walking the click tree, so a command added without a one-line
purpose or an example fails here without anyone editing this file.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from oir_cli import main

ROOT = Path(__file__).resolve().parent.parent
USER_DOCS = ("docs/README.md", "docs/quickstart.md", "docs/operations.md",
             "docs/admin-api.md", "docs/deployment.md", "docs/dashboard.md")


def walk(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...],
                                                                            click.Command]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from walk(command, (*path, name))


COMMANDS = list(walk(main))
LEAVES = [(p, c) for p, c in COMMANDS if not isinstance(c, click.Group)]
GROUPS = [((), main)] + [(p, c) for p, c in COMMANDS if isinstance(c, click.Group)]


def help_of(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(main, [*path, "--help"], prog_name="oir")
    assert result.exit_code == 0, result.output
    return result.output


def examples(text: str) -> list[str]:
    """The command lines under an ``Example:``/``Examples:`` heading (``\\`` continues)."""
    lines = text.splitlines()
    out: list[str] = []
    for n, line in enumerate(lines):
        if line.strip().rstrip(":") not in ("Example", "Examples"):
            continue
        pending = ""
        for follow in lines[n + 1:]:
            stripped = follow.strip()
            if not stripped and not pending:
                break
            if pending:
                pending += " " + stripped
            elif stripped.startswith("oir "):
                pending = stripped
            else:
                break
            if pending.endswith("\\"):
                pending = pending[:-1].rstrip()
                continue
            out.append(pending)
            pending = ""
    return out


def test_the_tree_has_the_commands_the_design_names() -> None:
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"validate", "map", "serve", "docs", "docs rules"} <= names


@pytest.mark.parametrize(("path", "group"), GROUPS, ids=[" ".join(p) or "oir" for p, _ in GROUPS])
def test_a_groups_help_lists_every_command_with_a_purpose(path: tuple[str, ...],
                                                          group: click.Group) -> None:
    text = help_of(path)
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        purpose = command.get_short_help_str(limit=200).strip()
        assert purpose, f"`oir {' '.join((*path, name))}` has no one-line purpose"
        listed = re.search(rf"^  {re.escape(name)}\s+(\S.*)$", text, re.M)
        assert listed, f"`oir {' '.join(path)} --help` does not list {name}:\n{text}"


@pytest.mark.parametrize(("path", "command"), LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_every_command_shows_an_example_that_fits_it(path: tuple[str, ...],
                                                     command: click.Command) -> None:
    text = help_of(path)
    found = examples(text)
    assert found, f"`oir {' '.join(path)} --help` shows no example:\n{text}"
    known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    for line in found:
        words = shlex.split(line)
        assert words[:1 + len(path)] == ["oir", *path], f"example is for another command: {line}"
        rest = words[1 + len(path):]
        for word in rest:
            if word.startswith("--"):
                assert word.split("=", 1)[0] in known, f"{line}: {word} is not an option"
        if any(a.required for a in arguments):
            assert any(not w.startswith("-") for w in rest), f"{line}: no argument given"


def test_examples_parse_without_usage_errors() -> None:
    """Each example's words are accepted by click (checked with --help appended, so
    nothing runs): catches a missing value or a bad choice such as --role nobody."""
    for path, _command in LEAVES:
        for line in examples(help_of(path)):
            words = shlex.split(line)[1:]
            result = CliRunner().invoke(main, [*words, "--help"], prog_name="oir")
            assert result.exit_code == 0, f"{line}: {result.output}"


def test_help_does_not_load_the_heavy_parts() -> None:
    """``oir --help`` is what a new user types first: it must not import the emulator,
    zeep, SQLAlchemy or lxml (checked in a fresh interpreter)."""
    code = ("import sys\n"
            "from click.testing import CliRunner\n"
            "from oir_cli import main\n"
            "paths = [[]] + [p.split() for p in sys.argv[1:]]\n"
            "for path in paths:\n"
            "    assert CliRunner().invoke(main, [*path, '--help']).exit_code == 0\n"
            "heavy = {'emulator', 'zeep', 'sqlalchemy', 'lxml', 'flask', 'xmlschema'}\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))\n")
    groups = [" ".join(p) for p, _ in GROUPS if p]
    done = subprocess.run([sys.executable, "-c", code, *groups], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# ---------------------------------------------------------------- user documentation


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("doc", USER_DOCS)
def test_user_docs_exist_and_their_links_resolve(doc: str) -> None:
    path = ROOT / doc
    assert path.is_file(), f"{doc} is missing"
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue  # external (http:, mailto:) or an anchor on the same page
        file_part = target.split("#", 1)[0]
        assert (path.parent / file_part).exists(), f"{doc}: broken link {target}"


def test_the_docs_index_links_every_user_doc() -> None:
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    for doc in USER_DOCS[1:]:
        assert f"({Path(doc).name})" in index, f"docs/README.md does not link {doc}"
    assert "docs/README.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_operations_doc_covers_every_operation_with_its_examples() -> None:
    from oir_adapter.contracts import SERVICES

    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    for svc in SERVICES:
        for op in svc.operations:
            assert re.search(rf"^##+ .*\b{re.escape(op.name)}\b", text, re.M), \
                f"docs/operations.md has no section for {op.name}"
            for kind in ("request", "response"):
                example = f"examples/{op.name}.{kind}.xml"
                if (ROOT / "docs" / example).exists():
                    assert example in text, f"docs/operations.md does not link {example}"


def test_dashboard_doc_shows_the_screenshots() -> None:
    text = (ROOT / "docs" / "dashboard.md").read_text(encoding="utf-8")
    images = re.findall(r"!\[[^\]]*\]\((img/[^)]+\.png)\)", text)
    assert {"img/overview.png", "img/account.png", "img/claim-timeline.png",
            "img/journal-entry.png"} <= set(images)
    for image in images:
        assert (ROOT / "docs" / image).stat().st_size > 10_000, image


@pytest.mark.parametrize(("args", "words"), [
    (["--db", "foo://bar"], "cannot open the database foo://bar: Can't load plugin"),
    (["--db", "postgresql+psycopg://u:secret@127.0.0.1:1/db"],
     "cannot open the database postgresql+psycopg://u:***@127.0.0.1:1/db: connection failed"),
    (["--db", "sqlite:////proc/no-such-dir/x.sqlite3"], "No such file or directory"),
    (["--db", "not a url"], "Could not parse SQLAlchemy URL"),
    (["--port", "99999"], "99999 is not in the range 1<=x<=65535"),
])
def test_serve_refuses_a_bad_database_or_port_in_one_line(args: list[str], words: str) -> None:
    """Before any worker starts, and without a traceback or the password."""
    result = CliRunner().invoke(main, ["serve", "--port", "18999", *args])
    assert result.exit_code in (1, 2)
    assert words in result.output, result.output
    assert "Traceback" not in result.output and "secret" not in result.output
