"""``oir validate FILE...``: check message files against the XSDs and the rule catalogue.

Each file is a SOAP 1.1 envelope or a bare body element, of any operation, request or
response. The body element is validated against its schema (every error, with line and
path); a claim-carrying request is then decoded and judged by the rule catalogue the way
the debtor end (``OpretFordringRequest``) or PSRM's indgangsfilter (``MFFordringIndberet_I``,
each OPRETFORDRING/GENINDSENDFORDRING as a hand-over) would, and a ``RetFordringTilstandRequest``
as far as the request shows on its own. A file reports *everything* wrong with it at once.

Exit status: 0 when every file is clean (warnings allowed), 1 when any has a schema error
or an error-severity rule violation, 2 when any file is unusable (not XML, no body,
not a known message element).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from lxml import etree
from rich.console import Console
from rich.text import Text

from .codecs import decode_delivery, decode_opret_fordring
from .codecs.reading import DecodeError
from .contracts import (
    SOAP11_ENV_NS,
    SOAP12_ENV_NS,
    operation_for_element,
    safe_parser,
    validate_element,
)
from .rules import (
    RuleContext,
    Violation,
    decode_state_change,
    validate_action,
    validate_claim,
    validate_state_change,
)

EXIT_OK, EXIT_INVALID, EXIT_UNUSABLE = 0, 1, 2

_PREFIX_STEP = re.compile(r"(?<=/)[^/:\[\]]+:")


@dataclass(frozen=True, slots=True)
class Problem:
    """A schema error or a message the decoder could not read: where and what."""

    path: str
    message: str
    line: int | None = None


@dataclass(slots=True)
class FileReport:
    """What ``oir validate`` found in one file."""

    file: str
    operation: str | None = None
    element: str | None = None
    kind: Literal["request", "response"] | None = None
    schema_errors: list[Problem] = field(default_factory=list)
    rule_violations: list[Violation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unusable: str | None = None

    @property
    def ok(self) -> bool:
        return (self.unusable is None and not self.schema_errors
                and not any(v.severity == "error" for v in self.rule_violations))

    @property
    def exit_code(self) -> int:
        if self.unusable is not None:
            return EXIT_UNUSABLE
        return EXIT_OK if self.ok else EXIT_INVALID

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "operation": self.operation,
            "element": self.element,
            "kind": self.kind,
            "schema_errors": [{"path": p.path, "line": p.line, "message": p.message}
                              for p in self.schema_errors],
            "rule_violations": [{"rule": v.rule_id, "psrm_number": v.psrm_number,
                                 "severity": v.severity, "path": v.path,
                                 "message_en": v.message_en, "message_da": v.message_da}
                                for v in self.rule_violations],
            "notes": list(self.notes),
            "error": self.unusable,
            "ok": self.ok,
        }


def _strip_prefixes(path: str) -> str:
    """``/o:OpretFordringRequest/o:Fordring`` → ``/OpretFordringRequest/Fordring``."""
    return _PREFIX_STEP.sub("", path)


def _body_element(root: etree._Element) -> etree._Element | str:
    """The message element: the SOAP Body's first child, or the root itself; else why not."""
    qname = etree.QName(root)
    if qname.localname != "Envelope" or qname.namespace not in (SOAP11_ENV_NS, SOAP12_ENV_NS):
        return root
    body = root.find(f"{{{qname.namespace}}}Body")
    if body is None:
        return "SOAP envelope without a Body"
    children = [c for c in body if isinstance(c.tag, str)]
    if not children:
        return "SOAP Body is empty"
    return children[0]


def check_file(path: Path, *, today: date) -> FileReport:
    """Validate one file; never raises for bad input, it reports it."""
    report = FileReport(file=str(path))
    try:
        root = etree.parse(str(path), safe_parser()).getroot()
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (None, None)
        report.unusable = f"not well-formed XML (line {line}, column {column}): {exc.msg}"
        return report
    except OSError as exc:
        report.unusable = f"cannot read: {exc}"
        return report
    element = _body_element(root)
    if isinstance(element, str):
        report.unusable = element
        return report
    qname = etree.QName(element)
    report.element = qname.localname
    found = operation_for_element(qname.text)
    if found is None:
        report.unusable = f"unknown message element {{{qname.namespace}}}{qname.localname}"
        return report
    op, is_request = found
    report.operation = f"{op.service.name}.{op.name}"
    report.kind = "request" if is_request else "response"
    report.schema_errors = [Problem(_strip_prefixes(v.path), v.message, v.line)
                            for v in validate_element(element)]
    if is_request:
        _check_rules(report, element, op.name, today=today)
    return report


def _check_rules(report: FileReport, element: etree._Element, operation: str, *,
                 today: date) -> None:
    """Run the rule catalogue on a request that carries something it judges."""
    if operation not in ("OpretFordring", "RetFordringTilstand", "MFFordringIndberet"):
        return
    root = f"/{etree.QName(element).localname}"
    try:
        if operation == "OpretFordring":
            claim = decode_opret_fordring(element, received=today).claim
            found = validate_claim(claim, today=today, context=RuleContext(), fmt="oir")
            report.rule_violations += [v.with_prefix(root) for v in found]
        elif operation == "RetFordringTilstand":
            _, change = decode_state_change(element)
            found = validate_state_change(None, change, today=today, context=RuleContext())
            report.rule_violations += [v.with_prefix(root) for v in found]
            report.notes.append("the claim's stored state is not known here: only the "
                                "request itself was judged")
        else:
            _check_delivery(report, element, root, today=today)
    except Exception as exc:
        if report.schema_errors:
            # The schema already said what is wrong; the decoder tripping over the same
            # fault adds nothing but noise.
            report.notes.append(f"rules not checked: the message could not be decoded ({exc})")
        elif isinstance(exc, DecodeError):  # schema-valid, yet no model can hold it
            report.schema_errors.append(Problem(f"/{exc.path}", exc.message))
        else:
            raise


def _check_delivery(report: FileReport, element: etree._Element, root: str, *,
                    today: date) -> None:
    """Every action of a delivery, as PSRM's indgangsfilter judges a hand-over."""
    delivery = decode_delivery(element, received=today)
    refs: set[str] = set()
    action_ids: set[str] = set()
    for action in delivery.actions:
        prefix = f"{root}/{action.path}"
        if not report.schema_errors:  # else the schema errors already cover them
            for problem in action.problems:
                report.schema_errors.append(Problem(f"/{problem.path}", problem.message))
        # A claim reference repeated within the delivery is PSRM 486; an MFAktionID, 600.
        context = RuleContext(handover=True, creditor_id=action.creditor_id,
                              seen_refs=frozenset(refs), seen_action_ids=frozenset(action_ids))
        if action.claim is not None:
            refs.add(action.claim.fagsystem_claim_id)
        if action.action_id is not None:
            action_ids.add(action.action_id)
        report.rule_violations += [v.with_prefix(prefix)
                                   for v in validate_action(action, today=today, context=context)]


# ---------------------------------------------------------------- output

def _print_text(reports: list[FileReport], console: Console) -> None:
    for report in reports:
        if report.unusable is not None:
            console.print(Text.assemble((report.file, "bold"), ": ",
                                        ("UNUSABLE", "bold red"), f" — {report.unusable}"),
                          soft_wrap=True)
            continue
        status = ("OK", "bold green") if report.ok else ("FAILED", "bold red")
        console.print(Text.assemble((report.file, "bold"), ": ", status,
                                    f" — {report.element} ({report.operation}, {report.kind})"),
                      soft_wrap=True)
        for p in report.schema_errors:
            where = f"{p.path} (line {p.line})" if p.line else p.path
            console.print(Text.assemble("  ", ("schema ", "red"), f"{where}: {p.message}"),
                          soft_wrap=True)
        for v in report.rule_violations:
            style = "red" if v.severity == "error" else "yellow"
            number = f" [PSRM {v.psrm_number}]" if v.psrm_number else ""
            console.print(Text.assemble("  ", (f"{v.severity:<7}", style),
                                        (f"{v.rule_id}{number}", "bold"), f" {v.path}: ",
                                        v.message_en), soft_wrap=True)
        for note in report.notes:
            console.print(Text.assemble("  ", ("note   ", "dim"), note), soft_wrap=True)
    clean = sum(r.ok for r in reports)
    console.print(f"{len(reports)} file(s): {clean} ok, {len(reports) - clean} with problems",
                  soft_wrap=True, highlight=False)


def run_validate(files: list[Path], *, today: date, as_json: bool) -> int:
    """Validate ``files`` as of ``today``, print the report, return the exit status."""
    reports = [check_file(f, today=today) for f in files]
    if as_json:
        sys.stdout.write(json.dumps([r.as_json() for r in reports], ensure_ascii=False,
                                    indent=2) + "\n")
    else:
        _print_text(reports, Console(highlight=False))
    return max((r.exit_code for r in reports), default=EXIT_OK)
