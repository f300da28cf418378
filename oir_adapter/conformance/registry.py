"""The case registry: the ``@case`` decorator and ``register`` the case modules use, the
requirement areas, and the registered cases. It imports no case module, so the case
modules and the catalogue that collects them import it without a cycle.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from oir_adapter.conformance.model import Case, Role, Severity

if TYPE_CHECKING:
    from oir_adapter.conformance.context import CaseContext
    from oir_adapter.domain.rules import Rule

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
         ) -> Callable[[Callable[[CaseContext], None]], Callable[[CaseContext], None]]:
    """Register the decorated function as a case."""
    def deco(fn: Callable[[CaseContext], None]) -> Callable[[CaseContext], None]:
        register(Case(id=id, title=title, requirement=requirement, source=source, role=role,
                      area=area, steps=tuple(steps), assertions=tuple(assertions),
                      severity=severity, run=fn, hint=hint, needs=frozenset(needs),
                      phase=phase, rule_id=rule_id, modelled=modelled))
        return fn
    return deco


def registered() -> list[Case]:
    return list(_CATALOGUE.values())
