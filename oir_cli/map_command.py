"""``oir map``: ØIR OpretFordring requests (XML files, folders, JSON lines) →
validated ``MFFordringIndberet_I`` delivery files.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree

from oir_adapter.codecs.psrm_actions import new_uuid, serialize, stream_deliveries
from oir_adapter.codecs.psrm_answers import message_body
from oir_adapter.contracts import (
    OIR_NS,
    safe_parser,
    validate_element,
)
from oir_adapter.domain.handover import MappingError
from oir_adapter.domain.model import (
    ZERO,
    AccountType,
    Claim,
    Debtor,
    DebtorAccount,
    MoneyError,
    Party,
    PartyKind,
    money,
)
from oir_adapter.domain.tables import ClaimTypeTable

_O = "{" + OIR_NS + "}"
_OIR_NSMAP: dict[str | None, str] = {None: OIR_NS}


class MapInputError(ValueError):
    """An input the mapper cannot take, with where it is (``file:line``)."""


#: Show a progress bar (on a terminal) from this many input items on.
PROGRESS_MIN_ITEMS = 200

_Q_OPRET_REQUEST = _O + "OpretFordringRequest"

#: JSON lines: keys of the ``Fordring`` structure, in XSD order.
_JSON_CLAIM_KEYS = ("FagsystemFordringID", "FordringTypeKode", "FordringArt", "Beskrivelse",
                    "ValutaKode", "Hovedstol", "PeriodeFra", "PeriodeTil", "StiftelsesDato",
                    "ForfaldsDato", "SidsteRettidigeBetalingsDato", "ForaeldelsesDato",
                    "DomsDato", "ForligsDato", "ModregningTilladt")
_JSON_SUB_KEYS = ("DelfordringTypeKode", "Beloeb", "PeriodeFra", "PeriodeTil", "StiftelsesDato")
_JSON_KEYS = frozenset(("TransaktionsID", "TransaktionsTid", "MyndighedCVR", "FagsystemID",
                        "DebitorkontoNummer", "Debitor", "FordringID", "Restbeloeb",
                        "HaefterSamling", "DelfordringSamling") + _JSON_CLAIM_KEYS)

Item = tuple[Claim, DebtorAccount | None, str]  # claim, account, where it came from


def _json_text(value: object, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        raise MapInputError(f"{where}: {value!r} is a float; write amounts as strings "
                            "(\"12.50\") so they stay øre-exact")
    if isinstance(value, int | str):
        return str(value)
    raise MapInputError(f"{where}: expected a string, got {type(value).__name__}")


def _json_party(parent: etree._Element, obj: object, where: str) -> None:
    if not isinstance(obj, dict):
        raise MapInputError(f"{where}: expected an object with CPRNummer or CVRNummer")
    part = etree.SubElement(parent, _O + "Part")
    for key in ("CPRNummer", "CVRNummer"):
        if key in obj:
            etree.SubElement(part, _O + key).text = _json_text(obj[key], f"{where}.{key}")
            return
    raise MapInputError(f"{where}: needs CPRNummer or CVRNummer")


def request_from_json(obj: dict[str, Any], *, where: str = "",
                      default_time: datetime | None = None) -> etree._Element:
    """An ``OpretFordringRequest`` element from one JSON lines object (ØIR field names,
    the ``Fordring`` fields flattened to the top level; see docs/mapping.md)."""
    unknown = sorted(set(obj) - _JSON_KEYS)
    if unknown:
        raise MapInputError(f"{where}: unknown field(s) {', '.join(unknown)}")
    sub = etree.SubElement
    root = etree.Element(_Q_OPRET_REQUEST, nsmap=_OIR_NSMAP)  # type: ignore[arg-type]
    head = sub(root, _O + "Hovedoplysninger")
    sub(head, _O + "TransaktionsID").text = _json_text(obj.get("TransaktionsID") or new_uuid(),
                                                       f"{where}.TransaktionsID")
    when = obj.get("TransaktionsTid") or (default_time or datetime.now(UTC)).isoformat()
    sub(head, _O + "TransaktionsTid").text = _json_text(when, f"{where}.TransaktionsTid")
    for key in ("MyndighedCVR", "FagsystemID", "DebitorkontoNummer"):
        if key in obj:
            sub(root, _O + key).text = _json_text(obj[key], f"{where}.{key}")
    f = sub(root, _O + "Fordring")
    for key in _JSON_CLAIM_KEYS:
        if obj.get(key) is not None:
            sub(f, _O + key).text = _json_text(obj[key], f"{where}.{key}")
    haeftere = obj.get("HaefterSamling") or []
    subs = obj.get("DelfordringSamling") or []
    if not isinstance(haeftere, list) or not isinstance(subs, list):
        raise MapInputError(f"{where}: HaefterSamling and DelfordringSamling must be lists")
    if haeftere:
        hs = sub(f, _O + "HaefterSamling")
        for n, h in enumerate(haeftere, start=1):
            he = sub(hs, _O + "Haefter")
            _json_party(he, h, f"{where}.HaefterSamling[{n}]")
            if h.get("Navn"):
                sub(he, _O + "Navn").text = _json_text(h["Navn"], f"{where}.HaefterSamling[{n}]")
    if subs:
        ds = sub(f, _O + "DelfordringSamling")
        for n, d in enumerate(subs, start=1):
            w = f"{where}.DelfordringSamling[{n}]"
            if not isinstance(d, dict):
                raise MapInputError(f"{w}: expected an object")
            extra = sorted(set(d) - set(_JSON_SUB_KEYS) - {"Restbeloeb"})
            if extra:
                raise MapInputError(f"{w}: unknown field(s) {', '.join(extra)}")
            de = sub(ds, _O + "Delfordring")
            for key in _JSON_SUB_KEYS:
                if d.get(key) is not None:
                    sub(de, _O + key).text = _json_text(d[key], f"{w}.{key}")
    return root


def _remaining(value: object, total: Decimal, where: str) -> Decimal:
    try:
        amount = money(_json_text(value, where))
    except MoneyError as exc:
        raise MapInputError(f"{where}: {exc}") from exc
    if not ZERO <= amount <= total:
        raise MapInputError(f"{where}: {amount} is not between 0.00 and {total}")
    return amount


def _account_from_json(obj: dict[str, Any], where: str) -> DebtorAccount | None:
    debitor = obj.get("Debitor")
    if debitor is None:
        return None
    if not isinstance(debitor, dict):
        raise MapInputError(f"{where}.Debitor: expected an object")
    if "CPRNummer" in debitor:
        party = Party.cpr(_json_text(debitor["CPRNummer"], f"{where}.Debitor.CPRNummer"))
    elif "CVRNummer" in debitor:
        party = Party.cvr(_json_text(debitor["CVRNummer"], f"{where}.Debitor.CVRNummer"))
    else:
        raise MapInputError(f"{where}.Debitor: needs CPRNummer or CVRNummer")
    if not re.fullmatch(r"[0-9]{10}" if party.kind is PartyKind.CPR else r"[0-9]{8}",
                        party.number):
        raise MapInputError(f"{where}.Debitor: {party.kind.value} number must be "
                            f"{10 if party.kind is PartyKind.CPR else 8} digits")
    number = str(obj.get("DebitorkontoNummer", ""))
    return DebtorAccount(
        number=number, fagsystem_reference=number,
        debtor=Debtor(party=party, name=str(debitor.get("Navn", ""))),
        account_type=AccountType.PERSON if party.kind is PartyKind.CPR else AccountType.COMPANY,
        authority_cvr=str(obj.get("MyndighedCVR", "")), fagsystem_id=str(obj.get("FagsystemID", "")))


def _decode_request(element: etree._Element, where: str, today: date,
                    claim_id: str = "") -> Claim:
    from oir_adapter.codecs import DecodeError, decode_opret_fordring

    violations = validate_element(element)
    if violations:
        more = f" (+{len(violations) - 1} more)" if len(violations) > 1 else ""
        raise MapInputError(f"{where}: {violations[0]}{more}")
    try:
        return decode_opret_fordring(element, received=today, claim_id=claim_id).claim
    except (DecodeError, MoneyError) as exc:
        raise MapInputError(f"{where}: {exc}") from exc


def _json_items(path: Path, today: date) -> Iterator[Item]:
    with path.open(encoding="utf-8") as lines:
        for line_no, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_no}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise MapInputError(f"{where}: invalid JSON: {exc.msg}") from exc
            if not isinstance(obj, dict):
                raise MapInputError(f"{where}: expected one JSON object per line")
            element = request_from_json(obj, where=where,
                                        default_time=datetime.combine(today, datetime.min.time()))
            claim = _decode_request(element, where, today, str(obj.get("FordringID") or ""))
            if obj.get("Restbeloeb") is not None:
                claim.remaining_principal = _remaining(obj["Restbeloeb"], claim.principal,
                                                       f"{where}.Restbeloeb")
            for n, (sc, d) in enumerate(zip(claim.sub_claims, obj.get("DelfordringSamling") or [],
                                            strict=True), start=1):
                if d.get("Restbeloeb") is not None:
                    sc.remaining = _remaining(d["Restbeloeb"], sc.amount,
                                              f"{where}.DelfordringSamling[{n}].Restbeloeb")
            yield claim, _account_from_json(obj, where), where


def _xml_item(path: Path, today: date) -> Item:
    where = str(path)
    try:
        root = etree.parse(str(path), safe_parser()).getroot()
    except etree.XMLSyntaxError as exc:
        raise MapInputError(f"{where}:{exc.lineno}: not well-formed XML: {exc.msg}") from exc
    try:
        element = message_body(root)
    except MappingError as exc:
        raise MapInputError(f"{where}: {exc}") from exc
    if element.tag != _Q_OPRET_REQUEST:
        raise MapInputError(f"{where}: expected an ØIR OpretFordringRequest, found "
                            f"{etree.QName(element).localname}")
    return _decode_request(element, where, today), None, where


def _is_json_lines(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(512).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"{")


def _source_files(source: Path) -> list[Path]:
    if not source.is_dir():
        return [source]
    files = sorted(p for p in source.rglob("*")
                   if p.is_file() and p.suffix.lower() in (".xml", ".jsonl", ".ndjson", ".json"))
    if not files:
        raise MapInputError(f"{source}: no .xml or .jsonl files in this folder")
    return files


def read_source(source: Path, *, today: date) -> Iterator[Item]:
    """Claims from one request file (SOAP envelope or bare element), a JSON lines file, or
    a folder of either, lazily and in file order."""
    for path in _source_files(source):
        if _is_json_lines(path):
            yield from _json_items(path, today)
        else:
            yield _xml_item(path, today)


def _count_items(files: list[Path]) -> int:
    total = 0
    for path in files:
        if _is_json_lines(path):
            with path.open("rb") as f:
                total += sum(1 for line in f if line.strip())
        else:
            total += 1
    return total


def run_map(source: Path, *, out: Path | None, max_actions: int, se_number: str, today: date,
            creditor_id: str | None = None, creditor_ids: Mapping[str, str] | None = None,
            claim_types: ClaimTypeTable | None = None) -> int:
    """``oir map``: ØIR OpretFordring requests → validated ``MFFordringIndberet_I`` files.

    One delivery goes to ``out`` (a ``.xml`` file) or stdout; several need a folder and are
    written as ``delivery-0001.xml``…. Every delivery is checked against the PSRM XSD
    before it is written; on any error nothing of this run is left behind and the exit
    code is 1.
    """
    import click
    from rich.console import Console
    from rich.progress import Progress

    def fail(message: str) -> int:
        click.echo(f"error: {message}", err=True)
        return 1

    if not re.fullmatch(r"[0-9]{8}", se_number):
        return fail(f"--se-number {se_number!r} must be 8 digits")
    folder_mode = out is not None and (out.is_dir() or out.suffix.lower() != ".xml")
    if folder_mode:
        assert out is not None
        if out.exists() and any(out.glob("delivery-*.xml")):
            return fail(f"{out} already holds delivery files; choose an empty folder")
    written: list[Path] = []
    pending: bytes | None = None
    counted = 0
    deliveries = 0
    current = ["(start)"]
    try:
        files = _source_files(source)
        total = _count_items(files)
        console = Console(stderr=True)
        show = console.is_terminal and total >= PROGRESS_MIN_ITEMS
        with Progress(console=console, disable=not show, transient=True) as progress:
            task = progress.add_task("mapping", total=total)

            def claims() -> Iterator[tuple[Claim, DebtorAccount | None]]:
                nonlocal counted
                for claim, account, where in read_source(source, today=today):
                    current[0] = where
                    counted += 1
                    progress.advance(task)
                    yield claim, account

            stream = stream_deliveries(
                claims(), max_actions=max_actions, se_number=se_number,
                creditor_id=creditor_id, creditor_ids=creditor_ids, claim_types=claim_types,
                transaction_time=datetime.combine(today, datetime.now(UTC).time(), UTC))
            for element in stream:
                deliveries += 1
                violations = validate_element(element)
                if violations:
                    more = f" (+{len(violations) - 1} more)" if len(violations) > 1 else ""
                    raise MapInputError(f"delivery {deliveries} fails the PSRM schema: "
                                        f"{violations[0]}{more}")
                data = serialize(element)
                if folder_mode:
                    assert out is not None
                    out.mkdir(parents=True, exist_ok=True)
                    target = out / f"delivery-{deliveries:04d}.xml"
                    target.write_bytes(data)
                    written.append(target)
                elif pending is not None:
                    raise MapInputError(
                        f"more than {max_actions} claims make several deliveries; "
                        "pass --out FOLDER (or a larger --max-actions)")
                else:
                    pending = data
    except MapInputError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        return fail(str(exc))
    except MappingError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        return fail(f"{current[0]}: {exc}")
    if counted == 0:
        return fail(f"{source}: no claims")
    if pending is not None:
        if out is None:
            sys.stdout.flush()
            sys.stdout.buffer.write(pending)
            sys.stdout.buffer.flush()
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(pending)
    target_text = "stdout" if out is None else str(out)
    click.echo(f"mapped {counted} claim(s) into {deliveries} deliver"
               f"{'y' if deliveries == 1 else 'ies'} → {target_text}", err=True)
    return 0
