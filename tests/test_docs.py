"""The documentation stands alone: no product file cites a document outside the repository,
every citation of a page of ``docs/`` names a heading that exists, and the licence that
``pyproject.toml`` declares is there."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

from oir_adapter.conformance import all_cases
from oir_adapter.rules import RULES

from .conftest import ROOT

#: An internal brief named as a document ("DESIGN", "DESIGN §3.1", "the design card"); a
#: word like ``DESIGN_ORDER`` or "design.md" is not one.
_BRIEF = re.compile(r"\bDESIGN\b|(?i:\bdesign card\b)")
_CITATION = re.compile(r"docs/([a-z-]+\.md)#([\w-]+)")
_LINK = re.compile(r"\]\(([a-z-]+\.md)#([\w-]+)\)")


def tracked_files() -> list[Path]:
    """The files git tracks (a checkout without git: every file outside the caches)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True, timeout=30).stdout
        names = [n for n in out.decode().split("\0") if n]
    except (OSError, subprocess.SubprocessError):
        skip = {".git", ".venv", "var", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
        names = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
                 if p.is_file() and not skip & set(p.relative_to(ROOT).parts)]
    return [ROOT / n for n in names if (ROOT / n).is_file()]


def _text(path: Path) -> str | None:
    data = path.read_bytes()
    if b"\0" in data[:4096]:
        return None  # images and other binaries
    return data.decode("utf-8", errors="replace")


def test_no_product_file_cites_the_internal_brief() -> None:
    this = Path(__file__).resolve()
    offenders = []
    for path in tracked_files():
        text = _text(path) if path.resolve() != this else None
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if _BRIEF.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert offenders == [], "\n".join(offenders)


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown page."""
    anchors: set[str] = set()
    in_fence = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        if in_fence or not line.startswith("#"):
            continue
        title = line.lstrip("#").strip().lower().replace("`", "")
        slug = re.sub(r"[^\w\- ]", "", title).replace(" ", "-")
        anchor, n = slug, 0
        while anchor in anchors:
            n += 1
            anchor = f"{slug}-{n}"
        anchors.add(anchor)
    return anchors


def _citations() -> list[tuple[str, str, str]]:
    """(where, page, anchor) for every ``docs/page.md#anchor`` in product text and every
    ``[…](page.md#anchor)`` link between the docs."""
    found: list[tuple[str, str, str]] = []
    for path in tracked_files():
        if path.suffix not in (".py", ".md", ".xml", ".html", ".yaml") or "tests" in \
                path.relative_to(ROOT).parts:
            continue
        text = _text(path) or ""
        where = str(path.relative_to(ROOT))
        found += [(where, m.group(1), m.group(2)) for m in _CITATION.finditer(text)]
        if path.parent == ROOT / "docs":
            found += [(where, m.group(1), m.group(2)) for m in _LINK.finditer(text)]
    return found


def test_every_cited_heading_exists() -> None:
    citations = _citations()
    assert any(page == "design.md" for _, page, _ in citations)
    anchors = {p.name: github_anchors(p.read_text(encoding="utf-8"))
               for p in (ROOT / "docs").glob("*.md")}
    broken = [f"{where}: {page}#{anchor}" for where, page, anchor in citations
              if anchor not in anchors.get(page, set())]
    assert broken == [], "\n".join(sorted(set(broken)))


def test_rule_and_case_sources_name_a_real_source() -> None:
    """A source is this project's docs, a rule, a law, PSRM's numbers or a named library."""
    real = re.compile(r"docs/|rule|PSRM|lov|§|python-stdnum|ClaimState|table", re.IGNORECASE)
    sources = {r.source for r in RULES} | {c.source for c in all_cases()}
    assert sorted(s for s in sources if _BRIEF.search(s) or not real.search(s)) == []


def test_the_declared_licence_is_shipped() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    assert declared == "MIT"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 The oir-adapter contributors" in text
    assert "WITHOUT WARRANTY OF ANY KIND" in text
