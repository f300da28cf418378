"""Fuzzing every SOAP end with mutated valid envelopes (the examples in docs/examples):
byte-level damage (flips, cuts, insertions of XML's special characters) and tree-level
edits (elements dropped, doubled, emptied, given odd values). Whatever arrives, the
answer is a SOAP 1.1 fault the caller is blamed for, a 413/415, or a response that is
valid against its schema — never a server error — and the server stays up."""

from __future__ import annotations

import copy
import re
import tempfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lxml import etree

from oir_adapter.contracts import SOAP11_ENV_NS, operation_for_element, validate_element
from tests.conftest import EXAMPLES
from tests.emulator_inproc import InProcessEmulator, in_process

ENV = f"{{{SOAP11_ENV_NS}}}"
SEEDS = sorted(p for p in EXAMPLES.glob("*.request*.xml"))
VALID_SEEDS = [p for p in SEEDS if ".invalid" not in p.name]
CLIENT_CODES = {"soap:Client", "soap:VersionMismatch", "soap:MustUnderstand"}
TOKENS = [b"<", b">", b"&", b"&amp;", b"&#0;", b"&#xD800;", b"]]>", b"<![CDATA[", b"<!--",
          b"<!DOCTYPE x>", b"<?xml version='1.0'?>", b"</", b"<a>", b"\x00", b"\xff\xfe",
          "æøå".encode(), "æøå".encode("latin-1"), b'"', b"'", b" xmlns:x='urn:x'",
          b" xmlns=''", b"soap:", b"\r\n", b"\t" * 50]
VALUES = ["", " ", "0", "-1", "0.001", "-100.00", "99999999999999999999.99", "1e3", "NaN",
          "2026-02-30", "0000-01-01", "9999-12-31", "2026-03-02T25:00:00", "true", "yes",
          "x" * 5000, "ÆØÅ" * 10, "0405871270", "1203852815", "00000000", "DAGINST",
          "INDR", "MODR", "00000000-0000-0000-0000-000000000000", "<", "&", "\u200b"]


def service_path(seed: Path) -> str:
    root = etree.parse(str(seed)).getroot()
    body = root.find(f"{ENV}Body")
    assert body is not None
    found = operation_for_element(body[0].tag)
    assert found is not None
    return found[0].service.path


PATHS = {seed: service_path(seed) for seed in SEEDS}


# ---------------------------------------------------------------- mutations


@st.composite
def byte_mutation(draw: st.DrawFn, data: bytes) -> bytes:
    at = draw(st.integers(0, len(data)))
    kind = draw(st.sampled_from(["flip", "cut", "insert", "token", "double", "truncate"]))
    if kind == "flip" and at < len(data):
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]
    if kind == "cut":
        return data[:at] + data[at + draw(st.integers(1, 200)):]
    if kind == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
    if kind == "token":
        return data[:at] + draw(st.sampled_from(TOKENS)) + data[at:]
    if kind == "double":
        end = min(len(data), at + draw(st.integers(1, 400)))
        return data[:end] + data[at:end] + data[end:]
    return data[:at]


@st.composite
def alike(draw: st.DrawFn, text: str) -> str:
    """Another value of the same lexical shape (digits, amount, date, UUID, word)."""
    if re.fullmatch(r"\d+", text):
        return "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=len(text),
                                     max_size=len(text))))
    if re.fullmatch(r"-?\d+\.\d{2}", text):
        return f"{draw(st.integers(-1000, 10**9)) / 100:.2f}"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return draw(st.dates(date(1990, 1, 1), date(2040, 12, 31))).isoformat()
    if re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text):
        return str(draw(st.uuids()))
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T[0-9:.]+([+-]\d{2}:\d{2}|Z)?", text):
        return draw(st.datetimes(datetime(1990, 1, 1), datetime(2040, 12, 31))).replace(
            microsecond=0).isoformat()
    if text in ("true", "false"):
        return draw(st.sampled_from(["true", "false"]))
    return draw(st.sampled_from([text, text.lower(), text[: max(1, len(text) // 2)]]))


@st.composite
def look_alike(draw: st.DrawFn, data: bytes) -> bytes:
    root = etree.fromstring(data)
    leaves = [e for e in root.iter() if isinstance(e.tag, str) and len(e) == 0 and e.text
              and e.text.strip()]
    if not leaves:
        return data
    for leaf in draw(st.lists(st.sampled_from(leaves), min_size=1, max_size=4, unique=True)):
        leaf.text = draw(alike(leaf.text or ""))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@st.composite
def tree_mutation(draw: st.DrawFn, data: bytes) -> bytes:
    root = etree.fromstring(data)
    body = root.find(f"{ENV}Body")
    if body is None or len(body) == 0 or not isinstance(body[0].tag, str):
        return draw(byte_mutation(data))  # earlier damage left no tree to edit
    elements = [e for e in body[0].iter() if isinstance(e.tag, str)]
    target = elements[draw(st.integers(0, len(elements) - 1))]
    parent = target.getparent()
    kind = draw(st.sampled_from(["drop", "double", "value", "empty", "rename", "attribute"]))
    if kind == "drop" and parent is not None and parent is not body:
        parent.remove(target)
    elif kind == "double" and parent is not None and parent is not body:
        target.addnext(copy.deepcopy(target))
    elif kind == "value" and len(target) == 0:
        target.text = draw(st.sampled_from(VALUES))
    elif kind == "empty":
        for child in list(target):
            target.remove(child)
        target.text = None
    elif kind == "rename":
        q = etree.QName(target)
        target.tag = f"{{{q.namespace}}}{q.localname}X" if q.namespace else q.localname + "X"
    else:
        target.set(draw(st.sampled_from(["id", "nil", "{http://www.w3.org/2001/XMLSchema-"
                                         "instance}nil", "{urn:x}y"])), draw(
            st.sampled_from(VALUES[:6])))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A seed damaged at the byte level, edited as a tree, or given look-alike values
    (the last mostly stays schema-valid, so the handlers themselves get fuzzed)."""
    mode = draw(st.sampled_from(["bytes", "bytes", "tree", "tree", "alike", "alike"]))
    seed = draw(st.sampled_from(VALID_SEEDS if mode == "alike" else SEEDS))
    data = seed.read_bytes()
    for _ in range(draw(st.integers(1, 3))):
        if mode == "bytes":
            data = draw(byte_mutation(data))
        elif mode == "tree":
            data = draw(tree_mutation(data))
        else:
            data = draw(look_alike(data))
    return PATHS[seed], data


# ---------------------------------------------------------------- the test


@pytest.fixture(scope="module")
def emu() -> Iterator[InProcessEmulator]:
    # on tmpfs where there is one: hundreds of commits, each an fsync on a disk
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as tmp, \
            in_process(Path(tmp)) as e:
        e.admin("PUT", "/clock", now="2025-09-15T10:00:00")
        for name in ("OpretDebitorkonto", "OpretFordring"):  # something to find and change
            r = e.post_raw("/oir/DebitorRegistrering/1",
                           (EXAMPLES / f"{name}.request.xml").read_bytes())
            assert r.status_code == 200
        yield e


def judge(status: int, body: bytes) -> str:
    """What the answer was; fails the test if it is not one of the allowed kinds."""
    assert status in (200, 413, 415, 500), status
    assert b"Traceback" not in body
    root = etree.fromstring(body)
    assert root.tag == f"{ENV}Envelope"
    element = [c for c in root.find(f"{ENV}Body") if isinstance(c.tag, str)][0]  # type: ignore[union-attr]
    if element.tag == f"{ENV}Fault":
        code = element.findtext("faultcode")
        assert status != 200
        assert code in CLIENT_CODES, (code, element.findtext("faultstring"))
        return "fault"
    assert status == 200
    found = operation_for_element(element.tag)
    assert found is not None and not found[1], element.tag  # a response element
    assert validate_element(element) == []
    return "response"


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=mutated())
def test_mutated_envelopes_get_a_fault_or_a_valid_answer(emu: InProcessEmulator,
                                                         case: tuple[str, bytes]) -> None:
    path, data = case
    response = emu.post_raw(path, data)
    event(judge(response.status_code, response.get_data()))


def test_the_server_is_still_up_after_the_fuzzing(emu: InProcessEmulator) -> None:
    for seed in VALID_SEEDS:
        response = emu.post_raw(PATHS[seed], seed.read_bytes())
        assert judge(response.status_code, response.get_data()) == "response", seed.name

