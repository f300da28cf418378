"""Restart: stop the emulator process and start it on the same SQLite file; every account,
claim, receipt, journal entry and the clock survive."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D
from pathlib import Path

import requests

from oir_adapter.clients import clients_for
from oir_adapter.codecs import oir_requests as messages
from oir_adapter.domain.model import Party
from tests.emulator_process import EmulatorProcess
from tests.test_debtor_end import CALLER, CPR


def snapshot(url: str, account: str) -> dict[str, object]:
    clients = clients_for(url)
    try:
        konto = clients.debitor_forespoergsel.call("HentDebitorkonto", messages.hent_debitorkonto(
            CALLER, account_number=account))
        from lxml import etree

        body = etree.tostring(konto.element.find("{*}Debitorkonto"), method="c14n")
    finally:
        clients.close()
    get = lambda path: requests.get(f"{url}/_admin{path}", timeout=30).json()  # noqa: E731
    journal = get("/journal?limit=10000")
    return {
        "account": body,
        "clock": get("/clock")["now"],
        "journal": [(j["id"], j["end"], j["operation"], j["status"]) for j in journal],
        "psrm": get("/psrm"),
        "fagsystem": get("/fagsystem/events"),
    }


def test_state_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "restart.sqlite3"
    emu = EmulatorProcess(db).start()
    try:
        url = emu.url
        requests.put(f"{url}/_admin/clock", json={"now": "2026-03-02T10:00:00"}, timeout=30)
        clients = clients_for(url)
        number = clients.debitor_registrering.call("OpretDebitorkonto", messages.opret_debitorkonto(
            CALLER, reference="R", party=Party.cpr(CPR), name="M")).findtext("DebitorkontoNummer")
        assert number
        clients.debitor_registrering.call("OpretFordring", messages.opret_fordring(
            CALLER, account_number=number, claim=messages.ClaimSpec(
                "C", "DAGINST", D("800.00"), date(2026, 2, 1), date(2026, 2, 28),
                date(2026, 2, 1), date(2026, 3, 3), date(2026, 3, 4))))
        clients.debitor_indbetaling.call("ForetagIndbetaling", messages.foretag_indbetaling(
            CALLER, payment_id="P", amount=D("100.00"), paid=date(2026, 3, 2),
            account_number=number))
        clients.close()
        requests.post(f"{url}/_admin/clock/advance", json={"days": 5}, timeout=60)
        before = snapshot(url, number)
        assert before["clock"] == "2026-03-07T10:00:00"
        assert before["psrm"]["claims"], "the claim was handed over before the restart"
    finally:
        emu.stop()
    again = EmulatorProcess(db, port=emu.port).start()
    try:
        after = snapshot(again.url, number)
    finally:
        again.stop()
    assert after["clock"] == before["clock"]
    assert after["account"] == before["account"]
    assert after["psrm"] == before["psrm"]
    assert after["fagsystem"] == before["fagsystem"]
    # the journal kept every exchange; reading it back added only our own snapshot reads
    assert after["journal"][-len(before["journal"]):] == before["journal"]
