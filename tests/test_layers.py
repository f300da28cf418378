"""The one-way layers: who may import whom, checked on the source with ``ast``.

- ``oir_cli`` → ``emulator`` → ``oir_adapter``: the library never imports the emulator or
  the CLI, and the emulator never imports the CLI.
- Inside the library: ``conformance`` → ``clients`` → ``codecs`` → ``domain``;
  ``contracts`` (namespaces, schemas) under the codecs; ``mapping`` on top of the codecs;
  ``recording`` (recorded traffic, read by the judge) and ``contract_diff`` beside them,
  on ``contracts``.
- ``domain`` does no I/O: it imports no database, web, HTTP, CLI or XML library.
- No import cycle between modules, counting imports inside functions too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("oir_adapter", "emulator", "oir_cli")

#: Library layer → the library layers it may import (its own included).
LIBRARY = {
    "oir_adapter.domain": {"oir_adapter.domain"},
    "oir_adapter.contracts": {"oir_adapter.contracts"},
    "oir_adapter.codecs": {"oir_adapter.codecs", "oir_adapter.domain", "oir_adapter.contracts"},
    "oir_adapter.mapping": {"oir_adapter.mapping", "oir_adapter.codecs", "oir_adapter.domain",
                            "oir_adapter.contracts"},
    "oir_adapter.clients": {"oir_adapter.clients", "oir_adapter.codecs", "oir_adapter.domain",
                            "oir_adapter.contracts", "oir_adapter"},
    "oir_adapter.conformance": {"oir_adapter.conformance", "oir_adapter.clients",
                                "oir_adapter.codecs", "oir_adapter.domain",
                                "oir_adapter.contracts", "oir_adapter.mapping",
                                "oir_adapter.recording", "oir_adapter"},
    "oir_adapter.recording": {"oir_adapter.recording", "oir_adapter.contracts",
                              "oir_adapter.domain"},
    "oir_adapter.contract_diff": {"oir_adapter.contract_diff", "oir_adapter.contracts"},
    "oir_adapter": {"oir_adapter.domain", "oir_adapter"},
}
#: What the domain must never import: it does no I/O and knows no wire format.
NO_IO = ("sqlalchemy", "flask", "werkzeug", "requests", "click", "rich", "lxml", "zeep",
         "xmlschema", "gunicorn", "psycopg", "socket", "urllib", "http", "sqlite3", "os",
         "pathlib", "subprocess", "threading")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = modules()


def _type_only(tree: ast.Module) -> set[int]:
    """Lines of the imports under ``if TYPE_CHECKING:`` (for annotations only: they never
    run, so they make no cycle)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                for inner in ast.walk(sub):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)):
                        lines.add(inner.lineno)
    return lines


def imports(name: str, *, typing: bool = True) -> Iterator[tuple[str, int]]:
    """Every module ``name`` imports (absolute), anywhere in the file — inside functions
    too — with its line; ``typing=False`` leaves out the ``TYPE_CHECKING`` ones."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = set() if typing else _type_only(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if node.level > 1:
                    base = base[: -(node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target, node.lineno
            for alias in node.names:  # ``from pkg import module``
                if f"{target}.{alias.name}" in MODULES:
                    yield f"{target}.{alias.name}", node.lineno


def layer(name: str) -> str | None:
    best = None
    for key in LIBRARY:
        if (name == key or name.startswith(key + ".")) and (best is None or len(key) > len(best)):
            best = key
    return best


def test_the_library_never_imports_the_emulator_or_the_cli() -> None:
    bad = [f"{m}:{line} imports {target}" for m in MODULES if m.startswith("oir_adapter")
           for target, line in imports(m) if target.split(".")[0] in ("emulator", "oir_cli")]
    bad += [f"{m}:{line} imports {target}" for m in MODULES if m.startswith("emulator")
            for target, line in imports(m) if target.split(".")[0] == "oir_cli"]
    assert bad == []


def test_library_layers_import_only_downwards() -> None:
    bad = []
    for m in MODULES:
        own = layer(m)
        if own is None:
            continue
        for target, line in imports(m):
            if not target.startswith("oir_adapter"):
                continue
            theirs = layer(target)
            if theirs is not None and theirs not in LIBRARY[own]:
                bad.append(f"{m}:{line} ({own}) imports {target} ({theirs})")
    assert bad == []


def test_the_domain_does_no_io() -> None:
    bad = [f"{m}:{line} imports {target}" for m in MODULES if m.startswith("oir_adapter.domain")
           for target, line in imports(m) if target.split(".")[0] in NO_IO]
    assert bad == []
    doc = ast.get_docstring(ast.parse(MODULES["oir_adapter.domain"].read_text(encoding="utf-8")))
    assert doc and "No I/O" in doc


def test_no_import_cycles() -> None:
    graph = {m: sorted({t for t, _ in imports(m, typing=False) if t in MODULES and t != m})
             for m in MODULES}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in graph[m]:
            if n.startswith(m + "."):  # a package importing its own modules is no cycle
                continue
            if state.get(n) == 1:
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert cycles == []


@pytest.mark.parametrize("package", ["oir_adapter", "oir_adapter.codecs", "oir_adapter.clients",
                                     "oir_adapter.conformance", "oir_adapter.recording",
                                     "oir_adapter.contract_diff"])
def test_public_surface_is_pinned(package: str) -> None:
    import importlib

    mod = importlib.import_module(package)
    exported = getattr(mod, "__all__", None)
    assert exported is not None, f"{package} has no __all__"
    assert sorted(exported) == sorted(set(exported))
    assert all(hasattr(mod, name) for name in exported)
    assert sorted(exported) == sorted(PUBLIC[package]), f"{package}.__all__ changed"


#: The public surface of each package: a change here is a change of the API, made on
#: purpose (and named in the changelog), never by accident.
PUBLIC: dict[str, list[str]] = {
    "oir_adapter": [
        "BenefitPayment", "Claim", "ClaimArt", "ClaimState", "Coverage", "CoverageSource",
        "DebtorAccount", "Offset", "Party", "Payment", "SubClaim", "__version__", "money"
    ],
    "oir_adapter.codecs": [
        "ActionRequest", "ClaimRequest", "DecodeError", "Delivery", "OirHeader", "Reader",
        "decode_delivery", "decode_opret_fordring", "parse_date"
    ],
    "oir_adapter.clients": [
        "ActionOutcome", "BusinessError", "BusinessFault", "CLIENT_CLASSES", "ClientError",
        "ClientOptions", "ClientTimeoutError", "Clients", "ContractTransport",
        "DaekningAfskrivningRegistreringClient", "DebitorForespoergselClient",
        "DebitorIndbetalingClient", "DebitorModregningClient", "DebitorRegistreringClient",
        "DebitorkontoAnmodningClient", "HttpError", "KeywordService",
        "MFFordringIndberetClient", "MFKvitteringHentClient", "MFUnderretSamlingHentClient",
        "MalformedReplyError", "Reply", "SchemaError", "ServiceClient",
        "ServiceUnavailableError", "SoapFaultError", "TransportError", "build_envelope",
        "build_reply", "clients_for", "fault_violations", "read_action", "read_oir_outcome",
        "read_psrm_outcome", "read_reply"
    ],
    "oir_adapter.conformance": [
        "AREAS", "Case", "CaseContext", "Check", "Evidence", "Result", "Role", "RunReport",
        "Status", "SuiteOptions", "TargetUnreachable", "all_cases", "cases_for",
        "catalogue_markdown", "run_case", "run_suite"
    ],
    "oir_adapter.recording": [
        "BodyMasker", "Draft", "RecordedExchange", "Recording", "RecordingError",
        "RecordingWriter", "mask_body", "mask_header"
    ],
    "oir_adapter.contract_diff": [
        "ContractError", "ContractSet", "DiffResult", "Difference", "Node", "Place",
        "as_json", "compare", "diff_folder", "load_folder", "markdown", "run_contract_diff"
    ],
}
