"""Regenerate the dashboard screenshots in docs/img/ (``make screenshots``).

Starts the emulator on a loopback port with a fresh SQLite file, loads the demo scenario
(plus one PSRM switch, so a rejection with its numbered reasons shows), moves the virtual
clock so claims are reminded, offset, handed over and received, and has headless Chromium
(Debian's ``/usr/bin/chromium``) photograph the pages the docs show.

    .venv/bin/python scripts/screenshots.py [--out docs/img] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from emulator import days as chain  # noqa: E402
from emulator.app import create_app, runtime_of  # noqa: E402
from emulator.scenario import load_scenario  # noqa: E402
from emulator.serving.server import on_loopback  # noqa: E402

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                  "--force-device-scale-factor=1", "--lang=da")

#: (file name, path on the dashboard, window height in pixels)
PAGES: tuple[tuple[str, str, int], ...] = (
    ("overview.png", "/?lang=en", 1500),
    ("account.png", "/accounts/100002?lang=en", 1700),
    ("claim-timeline.png", "/claims/F0000004?lang=en", 1350),
    ("rejection.png", "/claims/F0000005?lang=da", 1150),
    ("journal.png", "/journal?lang=en", 1000),
    ("journal-entry.png", "/journal/{entry}?lang=en", 1300),
)


def demo_state(runtime: Any) -> dict[str, Any]:
    """The demo scenario on 2026-11-23, with KTCIVIL closed at PSRM, three days on."""
    data = yaml.safe_load((ROOT / "emulator" / "scenarios" / "demo.yaml").read_text("utf-8"))
    data["clock"] = "2026-11-23T09:00:00"
    data["psrm"] = {"reject_types": {"KTCIVIL": "Fordringstypen er lukket for indberetning"}}
    summary = load_scenario(runtime, data)
    chain.advance(runtime, days=3)
    return summary


@contextmanager
def serving(db_url: str) -> Iterator[tuple[str, Any]]:
    """The emulator on 127.0.0.1 (threaded, so its ends can call each other over HTTP)."""
    app = create_app(db_url=db_url, start_worker=False)
    runtime = runtime_of(app)
    try:
        with on_loopback(app) as base:
            runtime.config.base_url = base
            yield base, runtime
    finally:
        runtime.close()


def shoot(chromium: str, url: str, out: Path, height: int, profile: Path) -> None:
    subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                    f"--window-size=1280,{height}", f"--screenshot={out}", url],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=120)


def first_delivery_entry(runtime: Any) -> int:
    """The journal entry of the first PSRM delivery the debtor end sent (a good example)."""
    from emulator.storage import journal

    with runtime.store.transaction() as conn:
        rows = journal.query(conn, end="oir", operation="MFFordringIndberet", limit=1000)
    return int(rows[-1]["id"]) if rows else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    if not Path(args.chromium).exists():
        print(f"screenshots: {args.chromium} is missing; run `make browser` first",
              file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp, \
            serving(f"sqlite:///{tmp}/screens.sqlite3") as (base, runtime):
        demo_state(runtime)
        entry = first_delivery_entry(runtime)
        for name, path, height in PAGES:
            target = args.out / name
            shoot(args.chromium, base + path.format(entry=entry), target, height,
                  Path(tmp) / "profile")
            print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
