"""The case catalogue: every case registers here when its module is imported.

Cases are data (:class:`~.model.Case`) plus a function; :func:`case` turns a function
into a registered case. :func:`all_cases` imports the case modules and returns the
catalogue in run order, and :func:`catalogue_markdown` renders it for ``docs/``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..rules import markdown_cell
from .model import Case, Role, Severity

if TYPE_CHECKING:
    from ..rules import Rule
    from .context import CaseContext

_CATALOGUE: dict[str, Case] = {}
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")

#: Requirement areas, in the order reports and docs show them.
AREAS: dict[str, str] = {
    "REG": "Registration (DebitorRegistreringAfsend)",
    "END": "End-date operations (DebitorRegistreringAfsend, Afslut…)",
    "ANM": "Anmodninger (DebitorkontoAnmodningAfsend)",
    "QRY": "Queries (DebitorForespoergselAfsend)",
    "PAY": "Payments and coverage order (§ 4)",
    "OFF": "Offsetting in benefit payments (§ 7)",
    "HND": "Hand-over to PSRM",
    "CBK": "Callbacks to the fagsystem",
    "IDM": "Idempotency",
    "ERR": "Faults and error paths",
    "RUL": "Rule catalogue",
    "PSR": "What reaches PSRM",
    "DLV": "Deliveries to PSRM",
    "RCP": "Receipts and notifications",
    "TRF": "Fagsystem traffic",
}


def rule_title(rule: Rule) -> str:
    """A case title for a rule: its id and English text with the value slots left out."""
    return f"Rule {rule.id}: {_PLACEHOLDER.sub('…', rule.text_en)}"


def register(c: Case) -> Case:
    if c.id in _CATALOGUE:
        raise ValueError(f"case id {c.id} registered twice")
    if c.area not in AREAS:
        raise ValueError(f"case {c.id}: unknown area {c.area}")
    _CATALOGUE[c.id] = c
    return c


def case(id: str, title: str, *, requirement: str, source: str, area: str,
         steps: Iterable[str], assertions: Iterable[str], severity: Severity = "major",
         role: Role = Role.DEBITOR, hint: str = "", needs: Iterable[str] = (), phase: int = 1,
         rule_id: str | None = None, modelled: str | None = None
         ) -> Callable[[Callable[[CaseContext], None]],
                                                 Callable[[CaseContext], None]]:
    """Register the decorated function as a case."""
    def deco(fn: Callable[[CaseContext], None]) -> Callable[[CaseContext], None]:
        register(Case(id=id, title=title, requirement=requirement, source=source, role=role,
                      area=area, steps=tuple(steps), assertions=tuple(assertions),
                      severity=severity, run=fn, hint=hint, needs=frozenset(needs),
                      phase=phase, rule_id=rule_id, modelled=modelled))
        return fn
    return deco


def all_cases() -> list[Case]:
    """Every case of every role, in run order (role, phase, id)."""
    from . import debitor, fagsystem, psrm_client, psrm_end, recorded, rule_cases  # noqa: F401

    return sorted(_CATALOGUE.values(), key=lambda c: (list(Role).index(c.role), c.phase, c.id))


def cases_for(role: Role, patterns: Iterable[str] = ()) -> list[Case]:
    """The cases of ``role``, narrowed to ids matching any of ``patterns`` (fnmatch, case
    insensitive) when given. An unknown pattern raises ``KeyError``."""
    chosen = [c for c in all_cases() if c.role is role]
    wanted = [p.upper() for p in patterns]
    if not wanted:
        return chosen
    for p in wanted:
        if not any(fnmatch.fnmatchcase(c.id, p) for c in chosen):
            raise KeyError(f"no {role.value} case matches {p!r}")
    return [c for c in chosen if any(fnmatch.fnmatchcase(c.id, p) for p in wanted)]


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
