"""The night batch: a fagsystem's claims through the whole chain, against the bare-lxml floor
of every message that chain exchanged.

On a fresh in-process emulator (SQLite on tmpfs where there is one; its PSRM end reached
in-process, as ``oir serve`` without a base URL does): accounts of ten claims each, then
one ``OpretFordring`` a claim into the app's WSGI entry; then the virtual clock is
advanced past the claims' SRB through the admin API, so every claim gets its reminder and
is handed over to the emulator's PSRM end (the day's hand-overs in deliveries of up to 500
actions), and the clock moves on until PSRM's receipts have come back (``UDFOERT``). The
figure is the wall time of all of it; the printed line also names the deliveries, the
actions in each and the fagsystem callbacks.

The baseline, in the same run: every message exchanged, parsed with lxml and its body
validated with lxml's ``XMLSchema`` (the least any implementation must do with the same
traffic). The messages are the requests and answers of the journal's incoming exchanges:
every call an end of the emulator received, the fagsystem's and the hand-overs and
receipt polls its debtor end made to its PSRM end (the caller's own record of those calls,
direction ``out``, is the same message and is not counted twice).

Size: ``OIR_BENCH_NIGHT_CLAIMS`` claims (default 1 000, which fits ``make bench``'s time
budget on two shared cores; the target names 10 000), ``--quick`` 60.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections import Counter
from typing import Any

from lxml import etree

from benchmarks.emulator import (
    CALLER_CVR,
    REGISTER_PATH,
    _claim_request,
    _envelope,
    _scratch_dir,
    _wsgi_post,
)
from benchmarks.figures import Figure, best_of, size

SECTION = "chain"
CLAIMS_PER_ACCOUNT = 10
START = "2026-03-02T09:00:00"
PAST_SRB_DAYS = 18  # the claims' SRB is 2026-03-16
RECEIPT_DAYS = 5  # PSRM's receipts go MODTAGET → SAGSBEHANDL → UDFOERT over the next days


def _claims() -> int:
    return int(os.environ.get("OIR_BENCH_NIGHT_CLAIMS", "0")) or size(1000, 60)


def _cpr(n: int) -> str:
    """A valid-looking CPR number per account (day 01–28, month 01–12, serial)."""
    return f"{n % 28 + 1:02d}{n // 28 % 12 + 1:02d}85{n % 10000:04d}"


def _floor(exchanges: list[dict[str, Any]]) -> tuple[float, int]:
    """Seconds for bare lxml to parse every message exchanged and validate its body, and how
    many messages that is."""
    from oir_adapter.contracts import lxml_schema, safe_parser

    parser = safe_parser()
    messages: list[tuple[bytes, etree.XMLSchema | None]] = []
    for row in exchanges:
        if row.get("direction") != "in":
            continue
        for key in ("request_xml", "response_xml"):
            text = row.get(key)
            if not text:
                continue
            data = text.encode("utf-8")
            root = etree.fromstring(data, parser)
            body = root[-1][0] if root.tag.endswith("}Envelope") and len(root) else root
            namespace = etree.QName(body).namespace or ""
            try:
                schema: etree.XMLSchema | None = lxml_schema(namespace)
            except (KeyError, ValueError):
                schema = None  # a fault or a namespace without a schema: parsed only
            messages.append((data, schema))

    def floor() -> None:
        for data, schema in messages:
            root = etree.fromstring(data, parser)
            if schema is not None:
                body = root[-1][0] if root.tag.endswith("}Envelope") and len(root) else root
                schema.validate(body)

    return best_of(floor, repeat=3), len(messages)


def run() -> list[Figure]:
    from emulator.app import create_app, runtime_of
    from oir_adapter.codecs import oir_requests as messages
    from oir_adapter.domain.model import Party

    claims = _claims()
    accounts = max(1, claims // CLAIMS_PER_ACCOUNT)
    caller = messages.Caller(CALLER_CVR, "DAGTILBUD")
    with tempfile.TemporaryDirectory(dir=_scratch_dir()) as tmp:
        app = create_app(db_url=f"sqlite:///{tmp}/night.sqlite3", start_worker=False,
                         base_url=None)
        try:
            admin = app.test_client()
            admin.put("/_admin/clock", json={"now": START})
            account_requests = [_envelope(messages.opret_debitorkonto(
                caller, reference=f"NIGHT-{a}", party=Party.cpr(_cpr(a)), name=f"Nat {a}"))
                for a in range(accounts)]
            started = time.perf_counter()
            numbers = []
            for data in account_requests:
                found = re.search(rb"DebitorkontoNummer>(\d+)<", _wsgi_post(app, REGISTER_PATH,
                                                                            data))
                assert found is not None
                numbers.append(found.group(1).decode())
            built = 0.0
            for i in range(claims):
                t0 = time.perf_counter()
                data = _claim_request(numbers[i % accounts], i)
                built += time.perf_counter() - t0  # building the request is the client's
                reply = _wsgi_post(app, REGISTER_PATH, data)
                if b">OK</" not in reply:
                    raise AssertionError(f"OpretFordring {i}: {reply[:600]!r}")
            submitted = time.perf_counter() - started - built
            events: Counter[str] = Counter()
            advances: list[float] = []
            for days in (PAST_SRB_DAYS, RECEIPT_DAYS):
                t0 = time.perf_counter()
                answer = admin.post("/_admin/clock/advance", json={"days": days})
                advances.append(time.perf_counter() - t0)
                assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
                events.update(f"{e['event']}:{e.get('outcome') or e.get('status') or ''}"
                              for e in answer.get_json()["events"])
            total = time.perf_counter() - started - built
            export = admin.get("/_admin/journal/export?cpr=show")
            exchanges = [json.loads(line) for line in export.get_data(as_text=True).splitlines()
                         if line.strip()]
        finally:
            runtime_of(app).close()
    handed = events["handover:handed_over"]
    if handed != claims:
        raise AssertionError(f"{handed} of {claims} claims handed over: {events}")
    deliveries = [x for x in exchanges if x.get("operation") == "MFFordringIndberet"
                  and x.get("direction") == "in"]
    callbacks = sum(1 for x in exchanges if x.get("operation") == "RegistrerDaekningAfskrivning"
                    and x.get("direction") == "in")
    floor, distinct = _floor(exchanges)
    handled: dict[str, float] = {}
    for x in exchanges:
        key = f"{x.get('operation')} {x.get('direction')}"
        handled[key] = handled.get(key, 0.0) + float(x.get("duration_ms") or 0)
    busiest = ", ".join(f"{k} {v / 1000:.1f} s" for k, v in sorted(
        handled.items(), key=lambda kv: -kv[1])[:4])
    actions = handed / len(deliveries) if deliveries else 0.0
    print(f"night batch: {accounts:,} accounts, {claims:,} OpretFordring in {submitted:.1f} s; "
          f"clock +{PAST_SRB_DAYS}+{RECEIPT_DAYS} days: {handed:,} claims handed over in "
          f"{len(deliveries):,} deliveries ({actions:,.1f} actions each), "
          f"{events['psrm_receipt:UDFOERT'] or '?'} receipts UDFOERT, {callbacks:,} fagsystem "
          f"callbacks; total {total:.1f} s; "
          f"{len(exchanges):,} journalled exchanges, {distinct:,} messages exchanged, bare-lxml "
          f"floor {floor:.2f} s; the clock advances took {advances[0]:.1f} s (hand-over) and "
          f"{advances[1]:.1f} s (receipts); journalled time by operation: {busiest}")
    return [Figure(SECTION, f"night batch: {claims:,} OpretFordring, clock past SRB, hand-over "
                            f"({actions:,.0f} actions a delivery), receipts back "
                            f"(baseline: lxml floor of every message)",
                   total, "s", floor, target="≤ 10×", id="chain.night_batch")]
