"""The conformance suite's vocabulary: cases, results and the evidence they carry.

A :class:`Case` is data (id, requirement, steps, assertions, severity…) plus the code that
runs it; a :class:`Result` says how one run of it went and keeps every exchange it made,
so a report can show a vendor exactly what was sent, what came back and which assertion
it broke.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .context import CaseContext


class Role(StrEnum):
    """Which part the system under test plays (the suite plays the others)."""

    DEBITOR = "debitor"  # a debtor system: the suite is the fagsystem and PSRM
    PSRM_CLIENT = "psrm-client"  # a fordringshaver system sending to PSRM: the suite is PSRM
    FAGSYSTEM = "fagsystem"  # a fagsystem: judged from the emulator's journal
    PSRM = "psrm"  # a PSRM end (the emulator's, or a test system): the suite is the sender
    #: a debtor system judged from a recording of its real traffic (oir conformance judge)
    RECORDED = "recorded"


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"  # the target did not do what the requirement says
    SKIP = "skip"  # the case could not apply (no admin API, nothing to judge…), with why
    ERROR = "error"  # the suite could not finish the case (transport trouble, a bug)


Severity = Literal["critical", "major", "minor"]

#: Capabilities a case may need; missing ones turn the case into a skip with the reason.
NEEDS_CLOCK = "clock"  # the target's virtual clock (admin API on the target)
NEEDS_CAPTURE = "capture"  # a PSRM/fagsystem end with an admin API that sees the target's calls
NEEDS_ADMIN = "admin"  # the target's own admin API (journal, switches)


@dataclass(frozen=True)
class Case:
    """One requirement-tagged check.

    ``source`` names where the requirement comes from (a section of docs/design.md, a rule id, a law section);
    ``steps`` and ``assertions`` are what a reader of the report needs to reproduce it by
    hand; ``hint`` says how a failing implementation is usually fixed. ``phase`` orders
    the run: cases that judge what the whole run produced (PSRM deliveries) go last.
    """

    id: str
    title: str
    requirement: str
    source: str
    role: Role
    area: str
    steps: tuple[str, ...]
    assertions: tuple[str, ...]
    severity: Severity
    run: Callable[[CaseContext], None] = field(repr=False, compare=False)
    hint: str = ""
    needs: frozenset[str] = frozenset()
    phase: int = 1
    rule_id: str | None = None
    #: What the case rests on that is this project's modelling rather than a published
    #: contract ("" when it rests on published content only; ``None``: derived, see
    #: :attr:`basis`). The published/modelled split per service and operation is in
    #: docs/contracts.md.
    modelled: str | None = None

    @property
    def basis(self) -> str:
        """Why the case rests on modelled content, or "" when it does not.

        ØIR publishes service and operation names but no message schema, so every case
        that speaks ØIR (roles ``debitor`` and ``fagsystem``) rests on modelled message
        content; PSRM's messages and numbered rules are public (real samples), so a
        ``psrm``/``psrm-client`` case does only when it judges one of this project's own
        rules (``OIR-…``)."""
        if self.modelled is not None:
            return self.modelled
        if self.role in (Role.DEBITOR, Role.FAGSYSTEM):
            return MODELLED_OIR
        if self.rule_id is not None and self.rule_id.startswith("OIR-"):
            return "the rule is this project's own, not a published PSRM rule"
        return ""

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "requirement": self.requirement,
                "source": self.source, "role": self.role.value, "area": self.area,
                "steps": list(self.steps), "assertions": list(self.assertions),
                "severity": self.severity, **({"hint": self.hint} if self.hint else {}),
                "needs": sorted(self.needs), "rule_id": self.rule_id,
                "modelled": self.basis or None}


#: The basis of a case that speaks ØIR and says nothing more precise.
MODELLED_OIR = "ØIR message content is modelled (no ØIR schema is public)"


@dataclass(slots=True)
class Evidence:
    """One exchange a case made (or read from a journal): enough to replay it by hand."""

    label: str  # what the exchange was for, e.g. "OpretFordring (claim with period reversed)"
    kind: str  # soap | admin | journal | http
    url: str
    method: str = "POST"
    operation: str | None = None
    request: str | None = None  # request XML or JSON text
    response: str | None = None  # response XML or JSON text
    http_status: int | None = None
    elapsed_ms: float | None = None
    error: str | None = None  # what went wrong at transport or SOAP level, if anything

    def as_json(self) -> dict[str, Any]:
        return {"label": self.label, "kind": self.kind, "url": self.url, "method": self.method,
                "operation": self.operation, "request": self.request,
                "response": self.response, "http_status": self.http_status,
                "elapsed_ms": self.elapsed_ms, "error": self.error}


@dataclass(slots=True)
class Check:
    """One assertion as it was judged."""

    assertion: str
    passed: bool
    expected: str | None = None
    got: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"assertion": self.assertion, "passed": self.passed, "expected": self.expected,
                "got": self.got}


@dataclass(slots=True)
class Result:
    """How one case went."""

    case: Case
    status: Status
    reason: str = ""
    checks: list[Check] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    duration: float = 0.0  # seconds
    hint: str = ""

    @property
    def failed_check(self) -> Check | None:
        return next((c for c in self.checks if not c.passed), None)

    def as_json(self) -> dict[str, Any]:
        hint = self.hint or self.case.hint
        return {**self.case.as_json(), "status": self.status.value, "reason": self.reason,
                **({"hint": hint} if hint else {}),
                "duration_s": round(self.duration, 4),
                "checks": [c.as_json() for c in self.checks],
                "evidence": [e.as_json() for e in self.evidence]}


@dataclass(slots=True)
class RunReport:
    """A whole run: where it ran, with what, and every result in run order."""

    target: str
    role: Role
    started: str  # ISO timestamps, real time
    finished: str
    results: list[Result]
    environment: dict[str, Any] = field(default_factory=dict)
    suite_version: str = ""

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in Status}
        for r in self.results:
            out[r.status.value] += 1
        return out

    @property
    def ok(self) -> bool:
        """No failures and no errors (skips are allowed)."""
        return not any(r.status in (Status.FAIL, Status.ERROR) for r in self.results)

    def by_status(self, status: Status) -> list[Result]:
        return [r for r in self.results if r.status is status]

    def as_json(self) -> dict[str, Any]:
        return {"suite_version": self.suite_version, "target": self.target,
                "role": self.role.value, "started": self.started, "finished": self.finished,
                "environment": self.environment, "counts": self.counts(), "ok": self.ok,
                "results": [r.as_json() for r in self.results]}
