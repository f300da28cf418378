"""The latest conformance report the dashboard links to."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from emulator.runtime import Runtime
from emulator.web.dashboard.settings import DEFAULT_REPORT_DIR


@dataclass(slots=True)
class Report:
    """The latest conformance report found in the report folder."""

    folder: Path
    json_path: Path | None
    html_path: Path | None
    data: dict[str, Any]
    modified: datetime

    @property
    def counts(self) -> dict[str, int]:
        """Outcome → number of cases (from the report's summary, else counted)."""
        summary = self.data.get("summary") or self.data.get("totals")
        if isinstance(summary, Mapping):
            return {str(k): int(v) for k, v in summary.items()
                    if isinstance(v, int) and not isinstance(v, bool)}
        out: dict[str, int] = {}
        for case in self.cases:
            out[case["outcome"]] = out.get(case["outcome"], 0) + 1
        return out

    @property
    def cases(self) -> list[dict[str, str]]:
        raw = self.data.get("cases") or self.data.get("results") or []
        out = []
        for c in raw if isinstance(raw, list) else []:
            if not isinstance(c, Mapping):
                continue
            outcome = c.get("outcome") or c.get("status") or c.get("result") or ""
            reason = c.get("reason") or c.get("message") or c.get("detail") or ""
            title = str(c.get("title") or "")
            requirement = str(c.get("requirement") or "")
            out.append({"id": str(c.get("id") or c.get("case_id") or ""),
                        "requirement": " — ".join(x for x in (title, requirement) if x),
                        "outcome": str(outcome).lower(), "reason": str(reason)})
        return out

    @property
    def failing(self) -> list[dict[str, str]]:
        return [c for c in self.cases if c["outcome"] not in ("pass", "passed", "skip",
                                                              "skipped")]


def report_dir(runtime: Runtime) -> Path:
    """Where conformance reports are looked for: config, ``OIR_REPORT_DIR``, or var/reports."""
    configured = getattr(runtime.config, "report_dir", None)
    return Path(configured or os.environ.get("OIR_REPORT_DIR") or DEFAULT_REPORT_DIR)


def latest_report(folder: Path) -> Report | None:
    """The newest report in ``folder`` or in any of its sub-folders (one per run)."""
    candidates: list[Path] = []
    if folder.is_dir():
        for d in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
            if (d / "report.json").is_file() or (d / "report.html").is_file():
                candidates.append(d)
    if not candidates:
        return None

    def mtime(d: Path) -> float:
        return max(p.stat().st_mtime for p in (d / "report.json", d / "report.html")
                   if p.is_file())

    best = max(candidates, key=mtime)
    json_path = best / "report.json"
    html_path = best / "report.html"
    data: dict[str, Any] = {}
    if json_path.is_file():
        try:
            loaded = json.loads(json_path.read_text(encoding="utf-8"))
        except (ValueError, OSError):
            loaded = {}
        data = loaded if isinstance(loaded, dict) else {}
    return Report(folder=best, json_path=json_path if json_path.is_file() else None,
                  html_path=html_path if html_path.is_file() else None, data=data,
                  modified=datetime.fromtimestamp(mtime(best)).replace(microsecond=0))
