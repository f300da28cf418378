"""The comparison as Markdown (people) and JSON (tools), and ``oir contract diff``'s run."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from ..contracts import contracts_root
from .compare import compare
from .loading import load_folder
from .model import ContractError, ContractSet, Difference, DiffResult

EXIT_EQUAL, EXIT_DIFFERENT, EXIT_UNUSABLE = 0, 1, 2

TITLES = {
    "operation missing": "Operation missing in the bundled contracts",
    "operation extra": "Operation the official files do not have",
    "SOAPAction": "SOAPAction", "binding style": "Binding style", "body use": "Body use",
    "transport": "Transport", "message element": "Message element",
    "missing": "Element missing in the bundled contracts",
    "extra": "Element the official files do not have", "renamed": "Element renamed",
    "namespace": "Namespace", "order": "Element order", "model": "Content model",
    "type": "Type", "cardinality": "Cardinality", "facet": "Facet",
    "enumeration": "Enumeration values",
}
#: how many places a difference lists in Markdown (JSON lists them all)
SHOWN_PLACES = 12


@cache
def bundled_contracts() -> ContractSet:
    """The contracts this package ships (read once; comparing never changes them)."""
    return load_folder(contracts_root(), subfolders=("wsdl", "xsd"))


def diff_folder(official: Path) -> DiffResult:
    """Compare ``official`` with the bundled contracts (raises ``ContractError``)."""
    return compare(load_folder(official), bundled_contracts())


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{text}`" if text not in ("absent", "none") else text


def _counts(result: DiffResult) -> dict[str, int]:
    per: dict[str, int] = {}
    for d in result.differences:
        for op in {p.operation for p in d.places if p.operation}:
            per[op] = per.get(op, 0) + 1
    return per


def markdown(result: DiffResult) -> str:
    official, ours = result.official, result.ours
    lines = ["# Contract comparison", "",
             f"- official files: `{official.folder}` ({len(official.files)} files, "
             f"{len(official.operations)} operations, {len(official.elements)} global elements)",
             f"- bundled contracts: `{ours.folder}` ({len(ours.operations)} operations, "
             f"{len(ours.elements)} global elements)", ""]
    if result.equal:
        lines += ["**No differences**: the bundled contracts match the official files in "
                  "everything compared.", ""]
    else:
        lines += [f"**{len(result.differences)} difference"
                  f"{'s' if len(result.differences) != 1 else ''}.**", ""]
    per_op = _counts(result)
    names = sorted(set(official.operations) | set(result.compared_operations))
    if names:
        lines += ["## Operations", "",
                  "| operation | service | official | ours | SOAPAction | style | request | "
                  "response | differences |", "|---|---|---|---|---|---|---|---|---|"]
        for name in names:
            o = official.operations.get(name)
            b = ours.operations.get(name)
            ref = o or b
            assert ref is not None
            same_action = "same" if o and b and o.soap_action == b.soap_action else \
                _code(str(ref.soap_action))
            lines.append("| " + " | ".join(_cell(v) for v in (
                name, ref.service, "yes" if o else "no", "yes" if b else "no", same_action,
                str(ref.style), (ref.request or "").rpartition("}")[2],
                (ref.response or "").rpartition("}")[2], str(per_op.get(name, 0)))) + " |")
        lines.append("")
    if result.differences:
        lines += ["## Differences", ""]
        for n, d in enumerate(result.differences, start=1):
            lines += _difference(n, d)
    if result.not_compared:
        lines += ["## Not compared", "",
                  "The official files hold nothing of these bundled parts:", ""]
        lines += [f"- {item}" for item in result.not_compared]
        lines.append("")
    return "\n".join(lines)


def _difference(n: int, d: Difference) -> list[str]:
    out = [f"### {n}. {TITLES.get(d.kind, d.kind)}: {d.subject}", "",
           f"- official: {_code(d.official)}", f"- ours: {_code(d.ours)}"]
    if d.detail:
        out.append(f"- {d.detail}")
    places = [p.shown() for p in d.places]
    shown = places[:SHOWN_PLACES]
    more = len(places) - len(shown)
    out.append(f"- at: {'; '.join(shown)}" + (f"; and {more} more" if more else ""))
    out.append("")
    return out


def as_json(result: DiffResult) -> dict[str, Any]:
    return {
        "equal": result.equal,
        "official": {"folder": str(result.official.folder), "files": result.official.files},
        "bundled": {"folder": str(result.ours.folder)},
        "operations": [
            {"operation": name, "in_official": name in result.official.operations,
             "in_ours": name in result.ours.operations,
             "differences": _counts(result).get(name, 0)}
            for name in sorted(set(result.official.operations)
                               | set(result.compared_operations))],
        "differences": [d.as_json(n) for n, d in enumerate(result.differences, start=1)],
        "not_compared": result.not_compared,
    }


def run_contract_diff(official: Path, *, fmt: str, out: Path | None) -> int:
    """``oir contract diff``: print or write the comparison; the exit status."""
    import click

    try:
        result = diff_folder(official)
    except ContractError as exc:
        click.echo(f"oir contract diff: {exc}", err=True)
        return EXIT_UNUSABLE
    text = json.dumps(as_json(result), ensure_ascii=False, indent=1) + "\n" \
        if fmt == "json" else markdown(result)
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"{len(result.differences)} difference(s); written to {out}")
    return EXIT_EQUAL if result.equal else EXIT_DIFFERENT
