"""The dashboard's settings: languages, cookies, page sizes, where reports are."""

from __future__ import annotations

from pathlib import Path

LANGS = ("da", "en")
DEFAULT_LANG = "da"
LANG_COOKIE = "oir_lang"
CPR_COOKIE = "oir_cpr"
DEFAULT_REPORT_DIR = Path("var") / "reports"
#: Above this many characters an exchange's XML is shown plain, not pretty-printed.
ACCOUNTS_PER_PAGE = 50
JOURNAL_PER_PAGE = 50
