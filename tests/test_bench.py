"""``python -m benchmarks --quick --json PATH``: every stable figure is written, with its
value, same-run baseline and ratio as numbers, in the documented shape."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.figures import Figure

ROOT = Path(__file__).resolve().parent.parent

STABLE_IDS = {
    "emulator.inprocess.read", "emulator.inprocess.write", "emulator.http.read",
    "emulator.http.write", "emulator.http.read.p99_4conn", "emulator.http.write.p99_4conn",
    "emulator.cpu_per_read", "psrm.delivery500.per_action", "chain.night_batch",
    "conformance.debitor.overhead", "emulator.rss_per_worker",
}
KEYS = {"id", "section", "name", "value", "unit", "baseline", "ratio", "target"}


def test_figure_as_json_carries_the_ratio() -> None:
    f = Figure("s", "n …", 30.0, "µs", 10.0, target="≤ 5×", id="s.n")
    assert f.as_json() == {"id": "s.n", "section": "s", "name": "n", "value": 30.0,
                           "unit": "µs", "baseline": 10.0, "ratio": 3.0, "target": "≤ 5×"}
    assert Figure("s", "n", 1.0, "s").as_json()["ratio"] is None


def test_quick_run_writes_every_stable_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json", str(out),
         "emulator", "psrm", "chain", "conformance"],
        cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert isinstance(figures, list)
    by_id = {f["id"]: f for f in figures}
    assert len(by_id) == len(figures), "an id appears twice"
    assert set(by_id) >= STABLE_IDS, STABLE_IDS - set(by_id)
    for f in figures:
        assert set(f) == KEYS, f
        for key in ("value", "baseline", "ratio"):
            assert isinstance(f[key], int | float) and math.isfinite(f[key]), (f["id"], key, f)
        assert f["value"] > 0 and f["baseline"] > 0, f
        assert f["ratio"] == pytest.approx(f["value"] / f["baseline"]), f
        assert f["unit"] and f["name"] and f["section"] == f["id"].split(".")[0], f
    assert all(by_id[i]["target"] for i in STABLE_IDS)
    assert "oir-adapter benchmarks" in done.stdout  # the table is still printed
