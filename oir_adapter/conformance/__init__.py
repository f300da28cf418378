"""The conformance suite (docs/design.md#the-conformance-suite): requirement-tagged cases run against a debtor
system's ØIR services, a PSRM end, a PSRM client or a fagsystem's recorded traffic, with
JUnit XML, JSON and HTML reports. See ``docs/conformance.md``.
"""

from .catalogue import AREAS, all_cases, cases_for, catalogue_markdown
from .context import CaseContext, SuiteOptions, TargetUnreachable
from .model import Case, Check, Evidence, Result, Role, RunReport, Status
from .runner import run_case, run_suite

__all__ = [
    "AREAS",
    "Case",
    "CaseContext",
    "Check",
    "Evidence",
    "Result",
    "Role",
    "RunReport",
    "Status",
    "SuiteOptions",
    "TargetUnreachable",
    "all_cases",
    "catalogue_markdown",
    "cases_for",
    "run_case",
    "run_suite",
]
