"""The case catalogue: every case module, collected and ordered.

Cases are data (:class:`~.model.Case`) plus a function; the case modules register them
through :mod:`.registry`. Importing this module imports every case module, so
:func:`all_cases` returns the whole catalogue in run order, and
:func:`catalogue_markdown` renders it for ``docs/``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from pathlib import Path

from oir_adapter.conformance import (  # noqa: F401
    debitor,
    fagsystem,
    psrm_client,
    psrm_end,
    recorded,
    rule_cases,
)
from oir_adapter.conformance.model import Case, Role
from oir_adapter.conformance.registry import AREAS, case, register, registered, rule_title
from oir_adapter.domain.rules import markdown_cell

__all__ = ["AREAS", "BEGIN", "END", "all_cases", "case", "cases_for", "catalogue_markdown",
           "register", "rule_title", "update_markdown"]


def all_cases() -> list[Case]:
    """Every case of every role, in run order (role, phase, id)."""
    return sorted(registered(), key=lambda c: (list(Role).index(c.role), c.phase, c.id))


def cases_for(role: Role, patterns: Iterable[str] = ()) -> list[Case]:
    """The cases of ``role``, narrowed to ids matching any of ``patterns`` (fnmatch, case
    insensitive) when given. An unknown pattern raises ``KeyError``."""
    chosen = [c for c in all_cases() if c.role is role]
    wanted = [p.upper() for p in patterns]
    if not wanted:
        return chosen
    # A plain id matches only itself: a set lookup, not fnmatch against every case (a run
    # naming all 115 cases by id made 26 000 fnmatch calls).
    ids = {c.id for c in chosen}
    exact = {p for p in wanted if not _GLOB.search(p)}
    globs = [p for p in wanted if p not in exact]
    for p in wanted:
        matched = p in ids if p in exact else any(fnmatch.fnmatchcase(i, p) for i in ids)
        if not matched:
            raise KeyError(f"no {role.value} case matches {p!r}")
    return [c for c in chosen
            if c.id in exact or any(fnmatch.fnmatchcase(c.id, p) for p in globs)]


#: What makes a case pattern more than a plain id (fnmatch's special characters).
_GLOB = re.compile(r"[*?\[]")


def catalogue_markdown() -> str:
    """The case list as Markdown (``oir conformance list --markdown``)."""
    lines: list[str] = []
    for role in Role:
        cases = [c for c in all_cases() if c.role is role]
        if not cases:
            continue
        lines += [f"### Role `{role.value}` ({len(cases)} cases)", "",
                  "| id | title | area | severity | source | rests on modelled content | needs |",
                  "|---|---|---|---|---|---|---|"]
        for c in cases:
            needs = ", ".join(sorted(c.needs)) or "—"
            lines.append(f"| {c.id} | {markdown_cell(c.title)} | {AREAS[c.area]} | {c.severity} | "
                         f"{markdown_cell(c.source)} | {markdown_cell(c.basis) or 'no'} | "
                         f"{needs} |")
        lines.append("")
    return "\n".join(lines)


BEGIN, END = "<!-- cases:begin -->", "<!-- cases:end -->"


def update_markdown(path: Path) -> bool:
    """Rewrite the case list between the markers of ``path``; ``False`` if it has none."""
    text = path.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        return False
    head, rest = text.split(BEGIN, 1)
    _old, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n{catalogue_markdown()}{END}{tail}", encoding="utf-8")
    return True
