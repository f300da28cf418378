"""Reports of a run: JUnit XML (CI), JSON (tools, the dashboard) and one self-contained HTML
page (people).

The HTML page carries its CSS inline and references nothing outside itself — no fonts,
scripts, images or links to other hosts — so it can be mailed, archived or opened from a
CI artefact as it is. Failures come first, each with the requirement, the assertion that
broke (expected and got), a hint how to fix it, and every exchange the case made.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from html import escape
from pathlib import Path

from lxml import etree

from oir_adapter.conformance.model import Case, Evidence, Result, RunReport, Status
from oir_adapter.conformance.registry import AREAS
from oir_adapter.contracts import safe_parser

JUNIT_NAME = "junit.xml"
JSON_NAME = "report.json"
HTML_NAME = "report.html"


def write_reports(report: RunReport, folder: Path) -> dict[str, Path]:
    """Write the three reports into ``folder`` (made if missing); return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"junit": folder / JUNIT_NAME, "json": folder / JSON_NAME,
             "html": folder / HTML_NAME}
    paths["junit"].write_bytes(junit_xml(report))
    paths["json"].write_text(json_text(report), encoding="utf-8")
    paths["html"].write_text(html_page(report), encoding="utf-8")
    return paths


# ---------------------------------------------------------------- JSON

def json_text(report: RunReport) -> str:
    data = report.as_json()
    data["summary"] = data["counts"]  # the dashboard reads "summary"
    return json.dumps(data, ensure_ascii=False, indent=1) + "\n"


# ---------------------------------------------------------------- JUnit

def _evidence_text(evidence: list[Evidence]) -> str:
    parts = []
    for e in evidence:
        head = f"--- {e.label}: {e.method} {e.url}"
        if e.http_status is not None:
            head += f" -> HTTP {e.http_status}"
        if e.elapsed_ms is not None:
            head += f" in {e.elapsed_ms} ms"
        parts.append(head)
        if e.error:
            parts.append(f"error: {e.error}")
        if e.request:
            parts.append(f"request:\n{e.request}")
        if e.response:
            parts.append(f"response:\n{e.response}")
    return "\n".join(parts)


#: The control characters XML 1.0 cannot carry (below U+0020 but tab, line feed, return).
_XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xml_safe(text: str) -> str:
    """Text without the control characters XML 1.0 cannot carry (one regex pass: the
    evidence of a whole run is megabytes, which a loop over characters took ~0.1 s for)."""
    return _XML_UNSAFE.sub("", text)


def junit_xml(report: RunReport) -> bytes:
    counts = report.counts()
    suites = etree.Element("testsuites", name="oir-conformance",
                           tests=str(len(report.results)), failures=str(counts["fail"]),
                           errors=str(counts["error"]), skipped=str(counts["skip"]),
                           time=f"{sum(r.duration for r in report.results):.3f}")
    suite = etree.SubElement(
        suites, "testsuite", name=f"oir-conformance.{report.role.value}",
        tests=str(len(report.results)), failures=str(counts["fail"]),
        errors=str(counts["error"]), skipped=str(counts["skip"]), timestamp=report.started,
        time=f"{sum(r.duration for r in report.results):.3f}")
    props = etree.SubElement(suite, "properties")
    for key, value in [("target", report.target), ("role", report.role.value),
                       ("suite_version", report.suite_version),
                       *((k, str(v)) for k, v in report.environment.items())]:
        etree.SubElement(props, "property", name=key, value=_xml_safe(value))
    for r in report.results:
        c = r.case
        tc = etree.SubElement(suite, "testcase", classname=f"oir.conformance.{c.role.value}."
                              f"{c.area}", name=f"{c.id} {c.title}", time=f"{r.duration:.3f}")
        detail = _xml_safe(f"{c.requirement}\nsource: {c.source}\n"
                           + (f"modelled: {c.basis}\n" if c.basis else "")
                           + (f"hint: {r.hint or c.hint}\n" if r.hint or c.hint else ""))
        if c.basis:  # the case rests on modelled content: say so where CI tools show it
            tc_props = etree.SubElement(tc, "properties")
            etree.SubElement(tc_props, "property", name="modelled", value=_xml_safe(c.basis))
        if r.status is Status.FAIL:
            etree.SubElement(tc, "failure", message=_xml_safe(r.reason[:1000]),
                             type="AssertionError").text = detail
        elif r.status is Status.ERROR:
            etree.SubElement(tc, "error", message=_xml_safe(r.reason[:1000]),
                             type="SuiteError").text = detail + _xml_safe(r.reason)
        elif r.status is Status.SKIP:
            etree.SubElement(tc, "skipped", message=_xml_safe(r.reason[:1000]))
        if r.evidence:
            etree.SubElement(tc, "system-out").text = _xml_safe(_evidence_text(r.evidence))
    return etree.tostring(suites, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# ---------------------------------------------------------------- HTML

_CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2430;
background:#f5f6f8}
header{background:#1d2a44;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:22px}
header .meta{opacity:.85;font-size:13px}
main{padding:20px 28px;max-width:1400px}
h2{font-size:18px;margin:28px 0 10px;border-bottom:2px solid #d8dce3;padding-bottom:4px}
h3{font-size:15px;margin:0 0 6px}
table{border-collapse:collapse;width:100%;background:#fff;margin:6px 0 14px}
th,td{border:1px solid #dde1e7;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#eef0f4;font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;border-radius:10px;padding:1px 9px;font-size:12px;font-weight:600;
color:#fff}
.pass{background:#1f8a4c}.fail{background:#c62828}.skip{background:#8a8f98}.error{background:#e07b00}
.modelled{background:#6a4fb3}
.verdict{font-size:16px;font-weight:700;margin:8px 0}
.counts span{margin-right:10px}
.case{background:#fff;border:1px solid #dde1e7;border-left:5px solid #8a8f98;border-radius:4px;
padding:12px 14px;margin:12px 0}
.case.st-fail{border-left-color:#c62828}.case.st-error{border-left-color:#e07b00}
.case.st-pass{border-left-color:#1f8a4c}
.kv{display:grid;grid-template-columns:140px 1fr;gap:2px 10px;margin:6px 0}
.kv div:nth-child(odd){color:#5a6270}
.assertion{background:#fdecea;border:1px solid #f5c2c0;padding:8px 10px;border-radius:4px;margin:8px 0}
.hint{background:#eef6ee;border:1px solid #c5e1c5;padding:8px 10px;border-radius:4px;margin:8px 0}
pre{background:#0f1623;color:#e6e9ef;padding:10px;border-radius:4px;overflow:auto;max-height:480px;
font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;
word-break:break-word}
details{margin:6px 0}
summary{cursor:pointer;font-weight:600}
.ev{border-top:1px dashed #dde1e7;padding-top:6px;margin-top:6px}
.ev .line{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;color:#39414d}
ul.checks{margin:4px 0 4px 18px;padding:0}
ul.checks li.ok::marker{content:"✓  ";color:#1f8a4c}
ul.checks li.bad::marker{content:"✗  ";color:#c62828}
.small{font-size:12px;color:#5a6270}
a{color:#1b5fb0}
"""


def _pretty(text: str | None) -> str:
    """XML pretty-printed when it parses (JSON too); otherwise the text as it came."""
    if not text:
        return ""
    stripped = text.lstrip()
    if stripped.startswith("<"):
        try:
            root = etree.fromstring(stripped.encode("utf-8"), safe_parser(huge_tree=True))
        except (etree.XMLSyntaxError, ValueError):
            return text
        for el in root.iter():
            if isinstance(el.tag, str) and el.text is not None and not el.text.strip():
                el.text = None
            if el.tail is not None and not el.tail.strip():
                el.tail = None
        return etree.tostring(root, pretty_print=True, encoding="unicode")
    if stripped.startswith(("{", "[")):
        try:
            return json.dumps(json.loads(stripped), ensure_ascii=False, indent=1)
        except ValueError:
            return text
    return text


def _badge(status: Status) -> str:
    return f'<span class="badge {status.value}">{status.value.upper()}</span>'


def _modelled(c: Case) -> str:
    """The MODELLED mark of a case that rests on modelled content ("" otherwise)."""
    if not c.basis:
        return ""
    return f' <span class="badge modelled" title="{escape(c.basis)}">MODELLED</span>'


def _evidence_html(evidence: list[Evidence], open_: bool) -> str:
    if not evidence:
        return '<p class="small">No exchanges.</p>'
    out = [f"<details{' open' if open_ else ''}><summary>Evidence: {len(evidence)} "
           f"exchange{'s' if len(evidence) != 1 else ''}</summary>"]
    for n, e in enumerate(evidence, start=1):
        status = f" → HTTP {e.http_status}" if e.http_status is not None else ""
        timing = f" in {e.elapsed_ms} ms" if e.elapsed_ms is not None else ""
        out.append('<div class="ev">')
        out.append(f"<div><b>{n}. {escape(e.label)}</b> <span class=\"small\">({escape(e.kind)}"
                   f"{', ' + escape(e.operation) if e.operation else ''})</span></div>")
        out.append(f'<div class="line">{escape(e.method)} {escape(e.url)}{escape(status)}'
                   f"{escape(timing)}</div>")
        if e.error:
            out.append(f'<div class="assertion">{escape(e.error)}</div>')
        if e.request:
            out.append(f"<details open><summary>Request</summary><pre>{escape(_pretty(e.request))}"
                       "</pre></details>")
        if e.response:
            out.append(f"<details open><summary>Response</summary><pre>"
                       f"{escape(_pretty(e.response))}</pre></details>")
        out.append("</div>")
    out.append("</details>")
    return "\n".join(out)


def _case_html(r: Result, *, expanded: bool) -> str:
    c = r.case
    failed = r.failed_check
    parts = [f'<section class="case st-{r.status.value}" id="{escape(c.id)}">',
             f"<h3>{_badge(r.status)} {escape(c.id)} — {escape(c.title)}{_modelled(c)}</h3>",
             '<div class="kv">',
             f"<div>Requirement</div><div>{escape(c.requirement)}</div>",
             f"<div>Source</div><div>{escape(c.source)}</div>",
             f"<div>Rests on</div><div>{escape('modelled content: ' + c.basis if c.basis else 'published content only')}</div>",
             f"<div>Area</div><div>{escape(AREAS.get(c.area, c.area))}</div>",
             f"<div>Severity</div><div>{escape(c.severity)}</div>",
             f"<div>Duration</div><div>{r.duration:.3f} s</div>",
             "</div>"]
    if r.status is not Status.PASS:
        label = {"fail": "Failed assertion", "error": "Error", "skip": "Skipped"}[r.status.value]
        body = escape(failed.assertion) if failed else escape(r.reason)
        if failed is not None:
            if failed.expected is not None:
                body += f"<br><b>Expected:</b> {escape(failed.expected)}"
            if failed.got is not None:
                body += f"<br><b>Got:</b> {escape(failed.got)}"
        elif r.status is Status.ERROR and "\n" in r.reason:
            body = f"<pre>{escape(r.reason)}</pre>"
        parts.append(f'<div class="assertion"><b>{label}:</b> {body}</div>')
    hint = r.hint or c.hint
    if r.status is Status.FAIL and hint:
        parts.append(f'<div class="hint"><b>How to fix:</b> {escape(hint)}</div>')
    parts.append("<details><summary>Steps and assertions</summary><ol>"
                 + "".join(f"<li>{escape(s)}</li>" for s in c.steps) + "</ol><ul>"
                 + "".join(f"<li>{escape(a)}</li>" for a in c.assertions) + "</ul></details>")
    if r.checks:
        items = "".join(
            f'<li class="{"ok" if ch.passed else "bad"}">{escape(ch.assertion)}'
            + (f' <span class="small">(got {escape(ch.got)})</span>'
               if ch.got is not None and ch.passed else "") + "</li>" for ch in r.checks)
        parts.append(f"<details{' open' if expanded else ''}><summary>Assertions judged "
                     f"({len(r.checks)})</summary><ul class=\"checks\">{items}</ul></details>")
    parts.append(_evidence_html(r.evidence, expanded))
    parts.append("</section>")
    return "\n".join(parts)


def _badge_count(report: RunReport) -> int:
    return sum(1 for r in report.results if r.case.basis)


def html_page(report: RunReport) -> str:
    counts = report.counts()
    verdict = ("All cases passed" if report.ok and not counts["skip"] else
               "Passed (some cases skipped)" if report.ok else
               f"{counts['fail']} failed, {counts['error']} errors")
    title = f"ØIR conformance report — {report.role.value} — {report.target}"
    by_area: dict[str, Counter[str]] = {}
    for r in report.results:
        by_area.setdefault(r.case.area, Counter())[r.status.value] += 1
    area_rows = "".join(
        f"<tr><td>{escape(AREAS.get(a, a))}</td>"
        + "".join(f'<td class="n">{by_area[a][s.value] or ""}</td>' for s in Status)
        + f'<td class="n">{sum(by_area[a].values())}</td></tr>'
        for a in AREAS if a in by_area)
    env_rows = "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>"
                       for k, v in report.environment.items())
    problems = [r for r in report.results if r.status in (Status.FAIL, Status.ERROR)]
    listing = "".join(
        f'<tr><td><a href="#{escape(r.case.id)}">{escape(r.case.id)}</a></td>'
        f"<td>{escape(r.case.title)}{_modelled(r.case)}</td>"
        f"<td>{escape(AREAS.get(r.case.area, r.case.area))}</td>"
        f"<td>{escape(r.case.severity)}</td><td>{_badge(r.status)}</td>"
        f'<td class="n">{r.duration:.2f}</td>'
        f"<td>{escape(r.reason if r.status is not Status.PASS else '')[:300]}</td></tr>"
        for r in report.results)
    sections = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>ØIR/PSRM conformance report</h1><div class=\"meta\">role "
        f"<b>{escape(report.role.value)}</b> · target <b>{escape(report.target)}</b> · "
        f"{escape(report.started)} – {escape(report.finished)} · suite "
        f"{escape(report.suite_version)}</div></header><main>",
        f'<div class="verdict">{escape(verdict)}</div><div class="counts">'
        + "".join(f"<span>{_badge(s)} {counts[s.value]}</span>" for s in Status) + "</div>",
        "<h2>Summary by requirement area</h2><table><tr><th>area</th>"
        + "".join(f"<th>{s.value}</th>" for s in Status) + f"<th>total</th></tr>{area_rows}"
        "</table>",
        f"<h2>Run</h2><table>{env_rows}</table>",
        f"<p class=\"small\">{_badge_count(report)} of {len(report.results)} cases rest on "
        "modelled content (marked <span class=\"badge modelled\">MODELLED</span>): ØIR "
        "publishes its service and operation names, not its message schemas, so what those "
        "cases check of a message is this project's modelling (docs/contracts.md says which "
        "names are published, with their sources).</p>",
    ]
    sections.append(f"<h2>Failures and errors ({len(problems)})</h2>")
    if problems:
        sections.extend(_case_html(r, expanded=True) for r in problems)
    else:
        sections.append("<p>None.</p>")
    sections.append("<h2>All cases</h2><table><tr><th>id</th><th>title</th><th>area</th>"
                    "<th>severity</th><th>status</th><th>s</th><th>reason</th></tr>"
                    f"{listing}</table>")
    others = [r for r in report.results if r.status not in (Status.FAIL, Status.ERROR)]
    sections.append(f"<h2>Passed and skipped cases ({len(others)})</h2>")
    sections.extend(_case_html(r, expanded=False) for r in others)
    sections.append("</main></body></html>")
    return "\n".join(sections) + "\n"
