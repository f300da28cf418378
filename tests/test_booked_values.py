"""What is validated is what is booked: a value split by a comment or a processing
instruction (``<Beloeb>1<!-- -->00.00</Beloeb>``) is one value to the schema, so it must be
the same one value to every decoder — on the ØIR debtor end, the fagsystem callback end,
the PSRM end, and in ``oir validate`` and ``oir map``. Character references and CDATA are
part of the value too.

Over the real SOAP pipeline (Flask's test client: parse, validate, handle, journal)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from oir_cli import main
from tests.conftest import EXAMPLES
from tests.emulator_inproc import InProcessEmulator, in_process

REGISTRATION = "/oir/DebitorRegistrering/1"
SEARCH = "/oir/DebitorForespoergsel/1"
PAYMENT = "/oir/DebitorIndbetaling/1"
CALLBACK = "/fagsystem/DaekningAfskrivningRegistrering/1"
DELIVERY = "/psrm/MFFordringIndberet/1"


def example(name: str) -> bytes:
    return (EXAMPLES / f"{name}.request.xml").read_bytes()


def post(emu: InProcessEmulator, path: str, data: bytes, *, ok: bool = True) -> str:
    """Send ``data``; the answer (200), which must say OK (``ok``) or FEJL."""
    response = emu.post_raw(path, data, headers={"SOAPAction": '""'})
    text = response.get_data(as_text=True)
    assert response.status_code == 200, text
    assert f"<oir:SvarReaktion>{'OK' if ok else 'FEJL'}</oir:SvarReaktion>" in text, text
    return text


def found(text: str, element: str) -> list[str]:
    return re.findall(rf"<(?:\w+:)?{element}>([^<]*)</", text)


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[InProcessEmulator]:
    with in_process(tmp_path) as e:
        e.admin("PUT", "/clock", now="2025-08-20T10:00:00")
        yield e


def open_account(emu: InProcessEmulator, cpr: bytes = b"0405871270") -> str:
    """An account for a debtor whose CPR is split by a comment and a PI."""
    split = cpr[:4] + b"<!-- split -->" + cpr[4:7] + b"<?pi x?>" + cpr[7:]
    data = example("OpretDebitorkonto").replace(b"0405871270", split)
    assert split in data
    [number] = found(post(emu, REGISTRATION, data), "DebitorkontoNummer")
    return number


def account_view(emu: InProcessEmulator, number: str) -> str:
    return post(emu, SEARCH, example("HentDebitorkonto").replace(b"100004711", number.encode()))


def test_a_split_principal_and_cpr_are_booked_whole_on_the_debtor_end(
        emu: InProcessEmulator) -> None:
    number = open_account(emu)
    with emu.runtime.store.transaction() as conn:
        from emulator.storage import ledger

        account = ledger.get_account(conn, number)
    assert account is not None and account.debtor.party.number == "0405871270"
    data = (example("OpretFordring").replace(b"100004711", number.encode())
            .replace(b"<Hovedstol>1845.00", b"<Hovedstol>1<!-- -->845.00")
            .replace(b"<Beloeb>100.00", b"<Beloeb>&#49;0<![CDATA[0]]>.<?x y?>00"))
    answer = post(emu, REGISTRATION, data)
    assert found(answer, "Beloeb") == ["1945.00"]  # the invoice: principal + fee
    view = account_view(emu, number)
    assert found(view, "Hovedstol") == ["1845.00"]
    assert found(view, "Saldo") == ["1945.00"]


def test_a_split_payment_and_account_number_are_booked_whole(emu: InProcessEmulator) -> None:
    number = open_account(emu)
    post(emu, REGISTRATION, example("OpretFordring").replace(b"100004711", number.encode()))
    split_number = number[:3].encode() + b"<!---->" + number[3:].encode()
    data = (example("ForetagIndbetaling")
            .replace(b"<BetalingsID>001000047110241</BetalingsID>", b"")
            .replace(b"100004711", split_number)
            .replace(b"<Beloeb>1800.00", b"<Beloeb>9<?pi x?>99.00"))
    answer = post(emu, PAYMENT, data)
    assert found(answer, "DebitorkontoNummer") == [number]
    assert found(answer, "Beloeb")[0] == "999.00"
    view = account_view(emu, number)
    assert found(view, "Saldo") == ["946.00"]  # 1945.00 - 999.00


def test_a_split_amount_reaches_the_fagsystem_end_whole(emu: InProcessEmulator) -> None:
    data = example("RegistrerDaekningAfskrivning").replace(
        b"<Beloeb>45.00</Beloeb>", b"<Beloeb>4<!-- -->5.00</Beloeb>").replace(
        b"<Restbeloeb>1800.00</Restbeloeb>", b"<Restbeloeb>1<?pi?>800.00</Restbeloeb>")
    post(emu, CALLBACK, data)
    events = emu.admin("GET", "/fagsystem/events")
    first = next(e for e in events if e["event_id"] == "HAE-2025-0004461")
    assert (first["amount"], first["remaining"]) == ("45.00", "1800.00")


def psrm_claims_after(tmp_path: Path, delivery: bytes) -> list[dict[str, object]]:
    with in_process(tmp_path) as emu:
        emu.admin("PUT", "/clock", now="2025-12-01T10:00:00")
        response = emu.post_raw(DELIVERY, delivery, headers={"SOAPAction": '""'})
        assert response.status_code == 200, response.get_data(as_text=True)
        return list(emu.admin("GET", "/psrm")["claims"])


def test_a_split_amount_and_cpr_reach_the_psrm_end_whole(tmp_path: Path) -> None:
    """PSRM end, through its public wire only: a delivery whose amount and CPR number are
    split by a comment and a PI leaves PSRM holding exactly what the plain one does (the
    message bodies follow the PSRM contract: compare, do not spell out)."""
    plain = example("MFFordringIndberet")
    split = plain.replace("<DMIFordringBeløb>4250.00".encode(),
                          "<DMIFordringBeløb>4<!-- -->250.00".encode(), 1).replace(
        b">1702642201<", b">17026<?pi x?>42201<", 1)
    assert split.count(b"<!-- -->") == 1 and split.count(b"<?pi x?>") == 1
    expected = psrm_claims_after(tmp_path / "plain", plain)
    got = psrm_claims_after(tmp_path / "split", split)
    assert got == expected
    [ours] = [c for c in got if c.get("claim_ref") == "CF-2025-0311"]
    # 4250.00 and its related claims (interest 187.63, fee 100.00); the CPR as PSRM masks it
    assert (Decimal(str(ours["amount"])), ours["party"]) == (Decimal("4537.63"), "170264-XXXX")


# ---------------------------------------------------------------- the command line


def opret_fordring_file(tmp_path: Path, principal: bytes) -> Path:
    data = example("OpretFordring").replace(b"<Hovedstol>1845.00", b"<Hovedstol>" + principal)
    path = tmp_path / "split.xml"
    path.write_bytes(data)
    return path


def test_oir_validate_judges_the_whole_value(tmp_path: Path) -> None:
    """``-<!-- -->1.00`` is -1.00 to the schema: the rules must see -1.00 (OIR-108), not
    an unreadable ``-``; a due date ``2025-09-1<?pi x?>5`` is the 15th, after the SRB
    (OIR-103)."""
    runner = CliRunner()
    result = runner.invoke(main, ["validate", "--today", "2025-08-20", "--json",
                                  str(opret_fordring_file(tmp_path, b"-<!-- -->1.00"))])
    assert result.exit_code == 1, result.output
    assert '"OIR-108"' in result.output and "-1" in result.output
    assert "schema_errors\": []" in result.output, result.output
    path = opret_fordring_file(tmp_path, b"1845.00")
    path.write_bytes(path.read_bytes().replace(b"<ForfaldsDato>2025-09-01",
                                               b"<ForfaldsDato>2025-09-1<?pi x?>5"))
    result = runner.invoke(main, ["validate", "--today", "2025-08-20", "--json", str(path)])
    assert '"OIR-103"' in result.output and "2025-09-15" in result.output, result.output
    assert "schema_errors\": []" in result.output, result.output


def test_oir_map_maps_the_whole_value(tmp_path: Path) -> None:
    src = opret_fordring_file(tmp_path, b"1<!-- -->845.00")
    result = CliRunner().invoke(main, ["map", str(src), "--today", "2025-09-20",
                                       "--creditor-id", "1229"])
    assert result.exit_code == 0, result.stderr
    out = etree.fromstring(result.stdout_bytes)
    amounts = [Decimal(e.text or "") for e in out.iter("{*}DMIFordringBeløb")]
    assert amounts == [Decimal("1845.00"), Decimal("100.00")], amounts  # claim, fee


# ---------------------------------------------------------------- dates at the edges

DATE = re.compile(rb"^-?\d{4,}-\d\d-\d\d(?:Z|[+-]\d\d:\d\d)?$")
DATETIME = re.compile(rb"^-?\d{4,}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?$")
EDGE_DATES = (b"9999-12-31", b"0001-01-01", b"-2026-01-01", b"10000-01-01", b"1899-12-31",
              b"1800-01-01", b"1799-12-31")
EDGE_TIMES = (b"9999-12-31T23:59:59Z", b"10000-01-01T00:00:00", b"-2026-01-01T00:00:00",
              b"2025-08-20T24:00:00")


def service_path(operation: str) -> str:
    from oir_adapter.contracts import SERVICES

    return next(s.path for s in SERVICES for op in s.operations if op.name == operation)


def edge_date_variants(data: bytes) -> Iterator[tuple[str, bytes]]:
    """``data`` with one date or dateTime at a time set to each edge value, and a fresh
    TransaktionsID (else a reused one is refused before any date is read)."""
    import uuid

    tree = etree.fromstring(data)
    elements = [e for e in tree.iter() if isinstance(e.tag, str) and len(e) == 0 and e.text]
    for n, element in enumerate(elements):
        text = (element.text or "").strip().encode()
        edges = EDGE_DATES if DATE.match(text) else EDGE_TIMES if DATETIME.match(text) else ()
        for edge in edges:
            element.text = edge.decode()
            for tid in tree.iter("{*}TransaktionsID"):
                tid.text = str(uuid.uuid4())
            yield (f"{etree.QName(element).localname}[{n}]={edge.decode()}",
                   etree.tostring(tree, encoding="UTF-8", xml_declaration=True))
        element.text = text.decode()


def assert_never_a_server_fault(emu: InProcessEmulator, name: str, data: bytes,
                                replace: dict[bytes, bytes]) -> int:
    """Every edge-date variant of ``name``'s example: a 200 or a Client fault that names
    the element, never a Server fault; how many were sent."""
    for old, new in replace.items():
        data = data.replace(old, new)
    sent = 0
    for what, variant in edge_date_variants(data):
        response = emu.post_raw(service_path(name), variant, headers={"SOAPAction": '""'})
        text = response.get_data(as_text=True)
        assert "soap:Server" not in text, (name, what, text[-600:])
        assert response.status_code in (200, 500), (name, what, text[-600:])
        if response.status_code == 500:
            assert "<faultcode>soap:Client</faultcode>" in text, (name, what, text[-600:])
            assert what.split("[")[0] in text, (name, what, text[-600:])
        sent += 1
    return sent


def oir_examples() -> tuple[str, ...]:
    """Every operation of the ØIR and fagsystem ends, each with its example request."""
    from oir_adapter.contracts import SERVICES

    return tuple(op.name for s in SERVICES if s.end != "psrm" for op in s.operations)


OIR_EXAMPLES = oir_examples()


def test_dates_at_the_edges_get_a_client_fault_on_the_oir_and_fagsystem_ends(
        emu: InProcessEmulator) -> None:
    """9999-12-31 in ForfaldsDato overflowed (Server fault), a BetalingsDato of -2026-01-01
    or 10000-01-01 could not be read (Server fault), and OpretFordring named the amount
    rule OIR-108 for them. Every date and dateTime of every example, at each edge."""
    number = open_account(emu)
    answer = post(emu, REGISTRATION, example("OpretFordring").replace(
        b"100004711", number.encode()))
    [claim_id] = found(answer, "FordringID")
    replace = {b">100004711<": f">{number}<".encode(), b">2025000183<": f">{claim_id}<".encode(),
               b">2025000241<": f">{claim_id}<".encode()}
    # a payment without its FIK id (the example's names another account's claim)
    no_fik = {b"<BetalingsID>001000047110241</BetalingsID>": b""}
    sent = sum(assert_never_a_server_fault(
        emu, name, example(name),
        {**no_fik, **replace} if name == "ForetagIndbetaling" else replace)
        for name in OIR_EXAMPLES)
    assert sent >= 100
    emu.runtime.store.settle()
    journal = emu.admin("GET", "/journal?status=fault&limit=1000")
    assert not [j for j in journal if "Server" in (j["summary"] or "")]


def test_dates_at_the_edges_never_get_a_server_fault_on_the_psrm_end(
        emu: InProcessEmulator) -> None:
    """The PSRM end, through its public wire (its message bodies follow its contract)."""
    sent = sum(assert_never_a_server_fault(emu, name, example(name), {})
               for name in ("MFFordringIndberet", "MFKvitteringHent", "MFUnderretSamlingHent"))
    assert sent >= 20


def test_the_virtual_clock_stays_inside_the_calendar(emu: InProcessEmulator) -> None:
    for when in ("9999-12-31", "0001-01-01T00:00:00", "2950-01-01"):
        response = emu.http.put("/_admin/clock", json={"now": when})
        assert response.status_code == 400 and response.get_json()["field"] == "now"
    from datetime import datetime

    from emulator import clock

    with emu.runtime.store.transaction() as conn:  # (stepping there day by day takes long)
        clock.set_now(conn, datetime(2899, 12, 30, 10))
    response = emu.http.post("/_admin/clock/advance", json={"days": 3})
    assert response.status_code == 400 and response.get_json()["field"] == "days"


# ---------------------------------------------------------------- amounts the replies can carry


def test_an_account_never_holds_more_than_its_replies_can_report(
        emu: InProcessEmulator) -> None:
    """Two claims of 9,999,999,999,999.99 on one account made HentDebitorkonto and every
    search page holding it a Server fault (the balance had 16 digits). The second claim,
    and a payment whose surplus would pass the limit, are refused with OIR-320; the
    account stays readable. (On PostgreSQL too: tests/test_postgres.py.)"""
    check_account_limits(emu)


def check_account_limits(emu: InProcessEmulator) -> None:
    number = open_account(emu)
    largest = b"9999999999999.99"
    big = (example("OpretFordring").replace(b"100004711", number.encode())
           .replace(b"<Hovedstol>1845.00", b"<Hovedstol>" + largest)
           .replace(b"<DelfordringSamling>", b"<!--").replace(b"</DelfordringSamling>", b"-->"))
    assert found(post(emu, REGISTRATION, big), "Beloeb") == [largest.decode()]
    again = big.replace(b"1250aef4", b"2250aef4").replace(b"DT-2025-09", b"DT-2025-10")
    refused = post(emu, REGISTRATION, again, ok=False)
    assert found(refused, "FejlKode") == ["OIR-320"]
    assert found(refused, "Felt") == ["Fordring/Hovedstol"]
    assert "19999999999999,98" in refused
    one_more = again.replace(b"<Hovedstol>" + largest, b"<Hovedstol>0.01").replace(
        b"2250aef4", b"3250aef4")
    assert found(post(emu, REGISTRATION, one_more, ok=False), "FejlKode") == ["OIR-320"]
    # a payment of everything: no surplus; then one whose surplus would pass the limit
    pay = (example("ForetagIndbetaling").replace(b"<BetalingsID>001000047110241</BetalingsID>", b"")
           .replace(b"100004711", number.encode()).replace(b"<Beloeb>1800.00", b"<Beloeb>" + largest))
    assert found(post(emu, PAYMENT, pay), "Overskud") == ["0.00"]
    surplus = pay.replace(b"2c0ed7b9", b"3c0ed7b9").replace(b"NETS-20251103-000817", b"NETS-2")
    assert found(post(emu, PAYMENT, surplus), "Overskud") == [largest.decode()]
    third = surplus.replace(b"3c0ed7b9", b"4c0ed7b9").replace(b"NETS-2<", b"NETS-3<")
    text = post(emu, PAYMENT, third, ok=False)
    assert (found(text, "FejlKode"), found(text, "Felt")) == (["OIR-320"], ["Indbetaling/Beloeb"])
    view = account_view(emu, number)
    assert (found(view, "Saldo"), found(view, "Tilgodehavende")) == (["0.00"], [largest.decode()])
    listed = post(emu, SEARCH, example("SoegDebitorkonto"))  # by name: finds the account
    assert found(listed, "DebitorkontoNummer") == [number]


def check_the_overview_sums_past_64_bits(emu: InProcessEmulator) -> None:
    """Totals over many accounts pass 2^63 øre (about 9 300 accounts at the largest
    balance): SQLite's SUM raised "integer overflow" and the overview answered 500."""
    from datetime import date

    from lxml import html

    from emulator.storage import schema as t

    def surplus_total() -> Decimal:
        response = emu.http.get("/?lang=en")
        assert response.status_code == 200
        [cell] = html.fromstring(response.get_data()).xpath(
            "//table[@id='totals']//tr[@data-total='surplus']/td")
        return Decimal(cell.text_content().strip().replace(",", ""))

    before = surplus_total()
    each = 10**18  # øre, more than any one account holds: ten of them pass 2^63
    with emu.runtime.store.transaction() as conn:
        conn.execute(t.payments.insert(), [dict(
            id=f"P-{n}", account_number=f"{n}", amount_ore=each, date=date(2026, 1, 1),
            surplus_ore=each, request_hash="x") for n in range(10)])
    assert surplus_total() - before == Decimal(10**17)  # 10^19 øre, exactly


def test_the_overview_sums_past_64_bits(emu: InProcessEmulator) -> None:
    check_the_overview_sums_past_64_bits(emu)
