"""The emulator's PSRM end: one ``MFFordringIndberet`` delivery of 500 ``OPRETFORDRING``
actions, per action, against the bare-lxml floor of one action.

The delivery is built with the adapter's own builders (``oir_adapter.mapping``): distinct
claims with one co-liable party and a fee sub-claim, every one of them acceptable, so each
action is judged, stored and answered ``MODTAGET``. It goes into the app's WSGI entry (the
path every SOAP POST takes) on a fresh emulator with SQLite on tmpfs where there is one.

The floor, measured in the same run on the same bytes: parse the 500-action request with
lxml, validate its body with lxml's ``XMLSchema``, build and serialise the same reply;
divided by the number of actions.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from datetime import date, datetime
from decimal import Decimal

from lxml import etree

from benchmarks.emulator import _floor, _scratch_dir, _wsgi_post
from benchmarks.figures import Figure, size

SECTION = "psrm"
SE = "29189846"
CREDITOR = "4711"
PATH = "/psrm/MFFordringIndberet/1"
WHEN = datetime(2025, 11, 24, 9)


def _action(ref: str) -> etree._Element:
    from oir_adapter import mapping
    from oir_adapter.domain.model import Claim, ClaimArt, CoLiable, Party, SubClaim

    claim = Claim(
        id=ref, account_number="", fagsystem_claim_id=ref, type_code="CFFAKTU",
        principal=Decimal("1500.00"), period_from=date(2025, 1, 1), period_to=date(2025, 3, 31),
        founded=date(2025, 3, 1), due_date=date(2025, 3, 31), srb=date(2025, 4, 10),
        received=date(2025, 3, 1), art=ClaimArt.RECOVERY,
        co_liable=[CoLiable(Party.cpr("1702642201"))],
        sub_claims=[SubClaim(f"{ref}-G", "GEBYR", Decimal("100.00"), Decimal("100.00"),
                             founded=date(2025, 3, 1))])
    return mapping.opret_fordring_action(claim, None, creditor_id=CREDITOR)


def delivery_bytes(prefix: str, actions: int) -> bytes:
    """One ``MFFordringIndberet`` SOAP request of ``actions`` distinct, acceptable claims."""
    from emulator.soap.envelope import envelope_bytes
    from oir_adapter import mapping

    body = mapping.delivery([_action(f"{prefix}-{i:05d}") for i in range(actions)],
                            se_number=SE, delivery_id=f"{prefix}-{uuid.uuid4()}",
                            transaction_id=str(uuid.uuid4()), transaction_time=WHEN)
    return envelope_bytes(body)


def _accepted(reply: bytes) -> int:
    return reply.count(b"MODTAGET</")


def run() -> list[Figure]:
    from emulator.app import create_app, runtime_of
    from oir_adapter.contracts import PSRM_NS

    actions = size(500, 50)
    rounds = size(3, 1)
    with tempfile.TemporaryDirectory(dir=_scratch_dir()) as tmp:
        app = create_app(db_url=f"sqlite:///{tmp}/psrm.sqlite3", start_worker=False,
                         base_url=None)
        try:
            app.test_client().put("/_admin/clock", json={"now": WHEN.isoformat()})
            _wsgi_post(app, PATH, delivery_bytes("WARM", 20))  # schema, statements, pages
            best = float("inf")
            request = reply = b""
            for r in range(rounds):
                request = delivery_bytes(f"B{r}", actions)
                started = time.perf_counter()
                reply = _wsgi_post(app, PATH, request)
                best = min(best, time.perf_counter() - started)
                if _accepted(reply) != actions:
                    raise AssertionError(f"PSRM end accepted {_accepted(reply)} of {actions} "
                                         f"actions: {reply[:1500]!r}")
        finally:
            runtime_of(app).close()
    floor = _floor(request, reply, PSRM_NS, number=size(5, 2))
    per_action, floor_per_action = best / actions, floor / actions
    print(f"PSRM end: one {actions}-action MFFordringIndberet delivery in {best * 1000:,.0f} ms "
          f"(best of {rounds}), {per_action * 1e6:,.0f} µs an action; bare-lxml floor "
          f"{floor * 1000:,.1f} ms, {floor_per_action * 1e6:,.1f} µs an action")
    return [Figure(SECTION, f"one {actions}-action MFFordringIndberet delivery, per action "
                            f"(baseline: bare-lxml parse, validate, reply, per action)",
                   per_action * 1e6, "µs", floor_per_action * 1e6, target="≤ 4×",
                   id="psrm.delivery500.per_action")]
