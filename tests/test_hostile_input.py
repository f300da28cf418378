"""Hostile and broken input on every SOAP end: each gets, within a second (of CPU, when
the emulator runs in the test's thread), a clear SOAP 1.1 fault (HTTP 500) or a 413/415 —
never a traceback, never file contents, never a hung worker — and the store is untouched:
the only new row anywhere is the fault's journal entry."""

from __future__ import annotations

import codecs
import contextlib
import copy
import gzip
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from lxml import etree
from sqlalchemy import func, select

from emulator.soap.envelope import Limits
from emulator.storage import schema as t
from oir_adapter.contracts import SERVICES, SOAP11_ENV_NS, Service, service
from tests.conftest import EXAMPLES
from tests.emulator_inproc import InProcessEmulator, in_process
from tests.emulator_process import EmulatorProcess

ENV = f"{{{SOAP11_ENV_NS}}}"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


def example(svc: Service) -> bytes:
    """A valid request of the service's first operation, from docs/examples."""
    return (EXAMPLES / f"{svc.operations[0].name}.request.xml").read_bytes()


def envelope(inner: bytes, header: bytes = b"") -> bytes:
    return (b'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="' + SOAP.encode()
            + b'">' + header + b"<soap:Body>" + inner + b"</soap:Body></soap:Envelope>")


def swap_body_child(data: bytes, inner: bytes) -> bytes:
    """The example's envelope with its body element replaced by ``inner`` bytes."""
    root = etree.fromstring(data)
    body = root.find(f"{ENV}Body")
    assert body is not None
    for child in list(body):
        body.remove(child)
    etree.SubElement(body, "MARKER")
    text = etree.tostring(root)
    assert text.count(b"<MARKER/>") == 1
    return text.replace(b"<MARKER/>", inner)


def edit(data: bytes, fn: Callable[[etree._Element], None]) -> bytes:
    root = etree.fromstring(data)
    fn(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def drop_first_child(root: etree._Element) -> None:
    request = root.find(f"{ENV}Body")[0]  # type: ignore[index]
    request.remove(request[0])


def double_first_child(root: etree._Element) -> None:
    """Hovedoplysninger (ØIR) or Kontekst (PSRM) twice."""
    request = root.find(f"{ENV}Body")[0]  # type: ignore[index]
    request.insert(0, copy.deepcopy(request[0]))


def rename_namespace(data: bytes) -> bytes:
    return (data.replace(b"OIR/Debitor/1/", b"OIR/Debitor/9/")
            .replace(b"begrebsmodel/2009/01/15/", b"begrebsmodel/2009/01/16/"))


BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1
                                                             else b"&lol;") * 10)
                             for i in range(1, 10))
                  + b"]>" + envelope(b"<x>&lol9;</x>")[len(b'<?xml version="1.0" encoding="UTF-8"?>'):])
QUADRATIC = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "' + b"x" * 100_000 + b'">]>'
             + envelope(b"<x>" + b"&a;" * 5_000 + b"</x>")[38:])
XXE_FILE = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            + envelope(b"<x>&e;</x>")[38:])
XXE_NETWORK = (b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "http://127.0.0.1:9/evil.dtd">'
               + envelope(b"<x>&e;</x>")[38:])
PARAMETER_ENTITY = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY % p SYSTEM '
                    b'"file:///etc/passwd"> %p;]>' + envelope(b"<x/>")[38:])
DTD_ONLY = b'<?xml version="1.0"?><!DOCTYPE soap:Envelope [<!ELEMENT x ANY>]>' + envelope(
    b"<x/>")[38:]


def utf16_with_dtd(data: bytes) -> bytes:
    text = ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY e "boom">]>'
            + data.decode("utf-8").split("?>", 1)[1])
    return codecs.BOM_UTF16_LE + text.encode("utf-16-le")


def latin1(data: bytes) -> bytes:
    """The example, with some æøå for sure, re-encoded as Latin-1 (single bytes)."""
    marked = data.replace(b"<soap:Body>", "<soap:Body><!-- Søren Ærø -->".encode(), 1)
    return marked.decode("utf-8").encode("latin-1")


# name → (make body from the service's valid example, content type, status, fault words)
Case = tuple[Callable[[bytes], bytes], str, int, str]
XML = "text/xml; charset=utf-8"
CASES: dict[str, Case] = {
    "xxe_file": (lambda d: XXE_FILE, XML, 500, "DTDs and entity declarations"),
    "xxe_network": (lambda d: XXE_NETWORK, XML, 500, "DTDs and entity declarations"),
    "parameter_entity": (lambda d: PARAMETER_ENTITY, XML, 500, "DTDs and entity"),
    "billion_laughs": (lambda d: BILLION_LAUGHS, XML, 500, "DTDs and entity declarations"),
    "quadratic_blowup": (lambda d: QUADRATIC, XML, 500, "DTDs and entity declarations"),
    "dtd": (lambda d: DTD_ONLY, XML, 500, "DTDs and entity declarations"),
    "utf16_dtd": (utf16_with_dtd, "text/xml", 500, "DTDs and entity declarations"),
    "20mb_body": (lambda d: envelope(b"<x>" + b"A" * (20 * 1024 * 1024) + b"</x>"), XML, 413,
                  "larger than"),
    "deep_20000": (lambda d: swap_body_child(d, b"<a>" * 20_000 + b"</a>" * 20_000), XML, 500,
                   "nesting deeper than 64 levels"),
    "deep_100": (lambda d: swap_body_child(d, b"<a>" * 100 + b"</a>" * 100), XML, 500,
                 "nesting deeper than 64 levels"),
    "element_flood": (lambda d: swap_body_child(d, b"<a>" + b"<b/>" * 300_000 + b"</a>"), XML,
                      500, "more than 200000 elements"),
    "binary": (lambda d: bytes(range(256)) * 40, XML, 500, "malformed XML"),
    "text": (lambda d: b"hello, is this SOAP?", XML, 500, "malformed XML"),
    "json": (lambda d: b'{"OpretFordring": {}}', "application/json", 415, "text/xml"),
    "form": (lambda d: b"a=1&b=2", "application/x-www-form-urlencoded", 415, "text/xml"),
    "no_content_type": (lambda d: d, "", 415, "text/xml"),
    "empty": (lambda d: b"", XML, 500, "empty request body"),
    "whitespace": (lambda d: b" \r\n\t " * 10, XML, 500, "empty request body"),
    "truncated": (lambda d: d[: len(d) // 2], XML, 500, "malformed XML"),
    "cut_at_end": (lambda d: d[:-20], XML, 500, "malformed XML"),
    "utf16_declared_latin1_bytes": (
        lambda d: latin1(d.replace(b'encoding="UTF-8"', b'encoding="UTF-16"')), XML, 500,
        "the XML declaration says UTF-16 but the bytes are in a single-byte encoding"),
    "latin1_bytes_declared_utf8": (latin1, XML, 500, "not valid UTF-8"),
    "unknown_encoding": (lambda d: d.replace(b'encoding="UTF-8"', b'encoding="KLINGON-8"'),
                         XML, 500, "malformed XML"),
    "soap12_content_type": (lambda d: d, "application/soap+xml; charset=utf-8", 415,
                            "SOAP 1.2"),
    "soap12_envelope": (lambda d: d.replace(SOAP.encode(),
                                            b"http://www.w3.org/2003/05/soap-envelope"),
                        XML, 500, "SOAP 1.2 envelope"),
    "not_an_envelope": (lambda d: b"<Envelope><Body/></Envelope>", XML, 500,
                        "root element must be"),
    "no_body": (lambda d: envelope(b"")[: -len(b"<soap:Body></soap:Body></soap:Envelope>")]
                + b"</soap:Envelope>", XML, 500, "exactly one soap:Body"),
    "two_bodies": (lambda d: d.replace(b"</soap:Body>", b"</soap:Body><soap:Body/>"), XML, 500,
                   "more than one soap:Body"),
    "empty_body": (lambda d: envelope(b""), XML, 500, "exactly one element, found 0"),
    "two_body_elements": (lambda d: swap_body_child(d, b"<a/><b/>"), XML, 500,
                          "exactly one element, found 2"),
    "header_twice": (lambda d: d.replace(b"<soap:Body>",
                                         b"<soap:Header/><soap:Header/><soap:Body>"), XML, 500,
                     "more than one soap:Header"),
    "header_after_body": (lambda d: d.replace(b"</soap:Body>", b"</soap:Body><soap:Header/>"),
                          XML, 500, "soap:Header must come before soap:Body"),
    "must_understand": (lambda d: d.replace(
        b"<soap:Body>", b'<soap:Header><z:Secret xmlns:z="urn:zz" soap:mustUnderstand="1"/>'
                        b"</soap:Header><soap:Body>"), XML, 500, "mustUnderstand"),
    "unknown_operation": (lambda d: swap_body_child(
        d, b'<SletAltRequest xmlns="http://serviceplatformen.dk/xml/schemas/OIR/Debitor/1/"/>'),
        XML, 500, "unknown operation"),
    "wrong_namespace": (rename_namespace, XML, 500, "unknown operation"),
    "no_namespace": (lambda d: swap_body_child(d, b"<OpretFordringRequest/>"), XML, 500,
                     "unknown operation"),
    "missing_first_header_element": (lambda d: edit(d, drop_first_child), XML, 500,
                                     "does not validate against its schema"),
    "doubled_first_header_element": (lambda d: edit(d, double_first_child), XML, 500,
                                     "does not validate against its schema"),
}


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessEmulator]:
    with in_process(tmp_path_factory.mktemp("hostile")) as e:
        e.admin("PUT", "/clock", now="2026-03-02T10:00:00")
        # some state to leave untouched: an account with a claim, a PSRM delivery
        for name in ("OpretDebitorkonto", "MFFordringIndberet"):
            r = e.post_raw(f"/{'psrm' if name.startswith('MF') else 'oir'}/"
                           f"{'MFFordringIndberet' if name.startswith('MF') else 'DebitorRegistrering'}/1",
                           (EXAMPLES / f"{name}.request.xml").read_bytes(),
                           headers={"SOAPAction": '""'})
            assert r.status_code == 200, r.get_data(as_text=True)
        yield e


def table_counts(emu: InProcessEmulator) -> dict[str, int]:
    with emu.runtime.store.transaction() as conn:
        return {table.name: int(conn.execute(select(func.count()).select_from(table))
                                .scalar_one()) for table in t.metadata.sorted_tables}


def journal_since(emu: InProcessEmulator, last_id: int) -> list[tuple[str, int | None]]:
    with emu.runtime.store.transaction() as conn:
        rows = conn.execute(select(t.journal.c.status, t.journal.c.http_status)
                            .where(t.journal.c.id > last_id)).all()
    return [(r.status, r.http_status) for r in rows]


def last_journal_id(emu: InProcessEmulator) -> int:
    with emu.runtime.store.transaction() as conn:
        return int(conn.execute(select(func.coalesce(func.max(t.journal.c.id), 0))).scalar_one())


def fault_of(body: bytes) -> tuple[str, str]:
    root = etree.fromstring(body)
    assert root.tag == f"{ENV}Envelope", body[:300]
    fault = root.find(f"{ENV}Body/{ENV}Fault")
    assert fault is not None, body[:300]
    return fault.findtext("faultcode") or "", fault.findtext("faultstring") or ""


def assert_clean(body: bytes) -> None:
    """Nothing a caller must never see: Python tracebacks, our source paths, file contents."""
    for bad in (b"Traceback", b'File "/', b"root:x:0:0", b"/work/", b"site-packages", b"lol"):
        assert bad not in body, (bad, body[:500])


@pytest.mark.parametrize("svc", SERVICES, ids=lambda s: s.name)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_hostile_input_gets_a_clear_fault_and_changes_nothing(
        emu: InProcessEmulator, svc: Service, case: str) -> None:
    check_hostile_case(emu, svc, case)


def check_hostile_case(emu: InProcessEmulator, svc: Service, case: str) -> None:
    """One hostile input: its fault, in time, clean, and one journal row (status fault)
    as the only change. (On PostgreSQL too: tests/test_postgres.py.)"""
    make, content_type, status, words = CASES[case]
    data = make(example(svc))
    before, last = table_counts(emu), last_journal_id(emu)
    started = time.thread_time()  # CPU of this thread, which the emulator answers on
    response = emu.http.post(svc.path, data=data, headers={
        "SOAPAction": '""', **({"Content-Type": content_type} if content_type else {})})
    elapsed = time.thread_time() - started
    body = response.get_data()
    assert elapsed < 1.0, f"{case} took {elapsed:.2f} s of CPU"
    assert response.status_code == status, body[:500]
    assert response.content_type.startswith("text/xml")
    code, text = fault_of(body)
    if status == 500:
        expected = {"soap12_envelope": "soap:VersionMismatch",
                    "must_understand": "soap:MustUnderstand"}.get(case, "soap:Client")
        assert code == expected, text
    assert words in text, text
    assert_clean(body)
    after = table_counts(emu)
    added = journal_since(emu, last)
    assert added == [("fault", status)]
    assert {k: v for k, v in after.items() if k != "journal"} == \
        {k: v for k, v in before.items() if k != "journal"}


def check_other_encodings(emu: InProcessEmulator) -> None:
    """A valid request in UTF-16 or UTF-32 (with a byte-order mark, big- or little-endian)
    is answered as in UTF-8, and journaled readable. Read as UTF-8 it was half NUL bytes,
    which PostgreSQL text cannot hold: a Server fault there."""
    svc = service("DebitorForespoergsel")
    text = example(svc).decode("utf-8")
    for codec in ("utf-16", "utf-16-be", "utf-32", "utf-32-le"):
        declared = "UTF-32" if "32" in codec else "UTF-16"
        data = text.replace('encoding="UTF-8"', f'encoding="{declared}"').encode(codec)
        if codec.endswith(("-be", "-le")):
            data = {"utf-16-be": codecs.BOM_UTF16_BE, "utf-32-le": codecs.BOM_UTF32_LE}[
                codec] + data
        last = last_journal_id(emu)
        response = emu.post_raw(svc.path, data, content_type="text/xml")
        assert response.status_code == 200, (codec, response.get_data(as_text=True)[-300:])
        assert b"<oir:SvarReaktion>OK</oir:SvarReaktion>" in response.get_data()
        emu.runtime.store.settle()
        with emu.runtime.store.transaction() as conn:
            kept = conn.execute(select(t.journal.c.request_xml).where(t.journal.c.id > last)
                                ).scalar_one()
        assert "SoegDebitorkontoRequest" in kept and "\x00" not in kept, codec


def test_utf16_and_utf32_requests_are_answered_and_journaled(emu: InProcessEmulator) -> None:
    check_other_encodings(emu)


def test_schema_fault_lists_each_violation_with_its_path(emu: InProcessEmulator) -> None:
    svc = service("DebitorRegistrering")
    data = swap_body_child(example(svc), b'<o:OpretDebitorkontoRequest xmlns:o='
                           b'"http://serviceplatformen.dk/xml/schemas/OIR/Debitor/1/">'
                           b"<o:MyndighedCVR>1</o:MyndighedCVR></o:OpretDebitorkontoRequest>")
    response = emu.post_raw(svc.path, data)
    assert response.status_code == 500
    root = etree.fromstring(response.get_data())
    paths = [p.text for p in root.iter("{urn:oir-adapter:fault:1}Path")]
    assert paths and all(p and p.startswith("/") for p in paths)
    assert "Hovedoplysninger" in response.get_data(as_text=True)


def test_soap_action_that_names_another_operation_is_refused(emu: InProcessEmulator) -> None:
    svc = service("DebitorRegistrering")
    response = emu.post_raw(svc.path, example(svc), headers={
        "SOAPAction": f'"{svc.operation("OpretFordring").soap_action}"'})
    code, text = fault_of(response.get_data())
    assert response.status_code == 500 and code == "soap:Client"
    assert "names another operation" in text


def test_a_request_of_another_service_is_an_unknown_operation(emu: InProcessEmulator) -> None:
    psrm = service("MFKvitteringHent")
    oir = service("DebitorRegistrering")
    response = emu.post_raw(psrm.path, example(oir))
    code, text = fault_of(response.get_data())
    assert code == "soap:Client" and "unknown operation" in text


def test_known_harmless_headers_are_accepted(emu: InProcessEmulator) -> None:
    """Serviceplatformen's headers and WS-Addressing, even marked mustUnderstand, pass."""
    svc = service("DebitorForespoergsel")
    header = (b'<soap:Header><ic:InvocationContext soap:mustUnderstand="1" xmlns:ic='
              b'"http://serviceplatformen.dk/xml/schemas/InvocationContext/1/"/>'
              b'<wsa:Action soap:mustUnderstand="1" xmlns:wsa="http://www.w3.org/2005/08/'
              b'addressing">x</wsa:Action></soap:Header>')
    data = example(svc).replace(b"<soap:Body>", header + b"<soap:Body>")
    response = emu.post_raw(svc.path, data)
    assert response.status_code == 200, response.get_data(as_text=True)


# ---------------------------------------------------------------- many schema violations

BAD_SUB_CLAIM = (b"<Delfordring><DelfordringTypeKode>GEBYR</DelfordringTypeKode>"
                 b"<Beloeb>x</Beloeb></Delfordring>")


def many_violations(count: int) -> bytes:
    """An OpretFordring with ``count`` sub-claims, each with an amount that is not one."""
    data = (EXAMPLES / "OpretFordring.request.xml").read_bytes()
    return data.replace(b"<DelfordringSamling>", b"<DelfordringSamling>" + BAD_SUB_CLAIM * count)


@pytest.mark.parametrize("count", [1_000, 5_000, 20_000, 60_000])
def test_many_schema_violations_are_a_bounded_fault_within_a_second(
        emu: InProcessEmulator, count: int) -> None:
    """Each violation cost time in proportion to the document (xmlschema walked the tree
    from the root to find each path; lxml counted each node's preceding siblings): 0.4 s
    at 1 000, 7 s at 5 000, minutes at 20 000. The fault lists the first 50, says there
    are more, and comes within a second however many there are (60 000 is 5.6 MB)."""
    from oir_adapter.contracts import MAX_VIOLATIONS

    data = many_violations(count)
    assert len(data) < Limits().max_body_bytes
    # the CPU time of this thread (the in-process emulator answers on it): what the
    # work costs, whatever else the machine is doing meanwhile (wall time is not)
    started = time.thread_time()
    response = emu.post_raw("/oir/DebitorRegistrering/1", data)
    elapsed = time.thread_time() - started
    assert elapsed < 1.0, f"{count} violations took {elapsed:.2f} s of CPU"
    code, text = fault_of(response.get_data())
    assert code == "soap:Client"
    assert f"more than {MAX_VIOLATIONS} violations: listing stops at the first " \
           f"{MAX_VIOLATIONS}" in text, text
    root = etree.fromstring(response.get_data())
    messages = [m.text or "" for m in root.iter("{urn:oir-adapter:fault:1}Message")]
    assert len(messages) == MAX_VIOLATIONS
    assert all("Beloeb" in m or "'x'" in m for m in messages), messages[:3]


def test_a_few_violations_in_a_large_document_are_each_located(emu: InProcessEmulator) -> None:
    """Beyond xmlschema's reach (over 5 000 elements) a violation still names its element's
    path, with the schema's own prefixes as a smaller document's fault has them, and its
    line."""
    good = (b"<Delfordring><DelfordringTypeKode>GEBYR</DelfordringTypeKode>"
            b"<Beloeb>1.00</Beloeb></Delfordring>\n")
    for count in (3_000, 9_000):  # libxml2 on the tree; re-parsed first
        data = (EXAMPLES / "OpretFordring.request.xml").read_bytes().replace(
            b"<DelfordringSamling>", b"<DelfordringSamling>" + good * count + BAD_SUB_CLAIM)
        response = emu.post_raw("/oir/DebitorRegistrering/1", data)
        code, text = fault_of(response.get_data())
        assert code == "soap:Client" and "(1 violation)" in text, text
        root = etree.fromstring(response.get_data())
        assert [p.text for p in root.iter("{urn:oir-adapter:fault:1}Path")] == [
            "/oir:OpretFordringRequest/oir:Fordring/oir:DelfordringSamling/"
            f"oir:Delfordring[{count + 1}]/oir:Beloeb"]
        assert [int(p.text or 0) for p in root.iter("{urn:oir-adapter:fault:1}Line")] == [
            34 + count]


# ---------------------------------------------------------------- compressed bodies

SEARCH_SVC = service("DebitorForespoergsel")


def raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize("coding, pack", [
    ("gzip", gzip.compress), ("x-gzip", gzip.compress), ("deflate", zlib.compress),
    ("deflate", raw_deflate), ("identity", lambda d: d), ("GZip", gzip.compress)],
    ids=["gzip", "x-gzip", "deflate-zlib", "deflate-raw", "identity", "case"])
def test_a_compressed_request_is_answered_as_if_sent_plain(
        emu: InProcessEmulator, coding: str, pack: Callable[[bytes], bytes]) -> None:
    plain = example(SEARCH_SVC)
    last = last_journal_id(emu)
    response = emu.post_raw(SEARCH_SVC.path, pack(plain), headers={"Content-Encoding": coding})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert b"<oir:SvarReaktion>OK</oir:SvarReaktion>" in response.get_data()
    emu.runtime.store.settle()
    with emu.runtime.store.transaction() as conn:  # the journal keeps what was meant
        kept = conn.execute(select(t.journal.c.request_xml).where(t.journal.c.id > last)
                            ).scalar_one()
    assert kept == plain.decode("utf-8")


TRUNCATED_GZIP = gzip.compress(bytes(range(256)) * 64, 0)[:5000]  # stored blocks: no end
GZIP_BOMB = gzip.compress(envelope(b"<x>" + b"A" * (64 * 1024 * 1024) + b"</x>"), 9)

# name → (body, Content-Encoding, status, fault words)
COMPRESSED_CASES: dict[str, tuple[bytes, str, int, str]] = {
    "gzip_bomb": (GZIP_BOMB, "gzip", 413, "larger than 10485760 bytes once inflated (gzip)"),
    "not_gzip": (b"<soap:Envelope/>", "gzip", 500, "not valid gzip data"),
    "not_deflate": (b"\xff" * 64, "deflate", 500, "not valid deflate data"),
    "truncated_gzip": (TRUNCATED_GZIP, "gzip", 500, "truncated"),
    "gzip_then_junk": (gzip.compress(b"<a/>") + b"junk", "gzip", 500, "follow the end"),
    "brotli": (b"\x8b\x02\x80<a/>\x03", "br", 415, "Content-Encoding 'br' is not supported"),
    "two_codings": (b"<a/>", "gzip, gzip", 415, "'gzip, gzip' is not supported"),
}


@pytest.mark.parametrize("case", COMPRESSED_CASES, ids=str)
def test_a_bad_compressed_body_gets_a_clear_answer_and_changes_nothing(
        emu: InProcessEmulator, case: str) -> None:
    """A zip bomb inflates no further than the body limit; a body that is not what its
    Content-Encoding says, or a coding we do not know, is refused by name."""
    data, coding, status, words = COMPRESSED_CASES[case]
    assert len(GZIP_BOMB) < 100_000  # small on the wire: the limit must hold after inflating
    before, last = table_counts(emu), last_journal_id(emu)
    started = time.thread_time()  # CPU of this thread, which the emulator answers on
    response = emu.post_raw(SEARCH_SVC.path, data, headers={"Content-Encoding": coding})
    assert time.thread_time() - started < 1.0
    assert response.status_code == status, response.get_data(as_text=True)
    code, text = fault_of(response.get_data())
    assert code == "soap:Client" and words in text, text
    assert journal_since(emu, last) == [("fault", status)]
    after = table_counts(emu)
    assert {k: v for k, v in after.items() if k != "journal"} == \
        {k: v for k, v in before.items() if k != "journal"}


def test_limits_are_configurable(tmp_path: Path) -> None:
    svc = service("DebitorForespoergsel")
    data = example(svc)
    padded = data.replace(b"<soap:Body>", b"<soap:Body>" + b" " * 2000, 1)
    with in_process(tmp_path, limits=Limits(max_body_bytes=2048)) as small:
        assert small.post_raw(svc.path, data).status_code == 200
        response = small.post_raw(svc.path, padded)
        assert response.status_code == 413
    with in_process(tmp_path / "d", limits=Limits(max_depth=8)) as shallow:
        assert shallow.post_raw(svc.path, data).status_code == 200
        response = shallow.post_raw(svc.path, swap_body_child(data, b"<a>" * 7 + b"</a>" * 7))
        assert "nesting deeper than 8 levels" in fault_of(response.get_data())[1]
    with in_process(tmp_path / "e", limits=Limits(max_elements=100)) as few:
        flood = swap_body_child(data, b"<a>" + b"<b/>" * 150 + b"</a>")
        response = few.post_raw(svc.path, flood)
        assert "more than 100 elements" in fault_of(response.get_data())[1]


def test_limits_come_from_the_environment() -> None:
    from emulator.config import EmulatorConfig

    config = EmulatorConfig.from_env({"OIR_MAX_BODY_BYTES": "2048", "OIR_MAX_DEPTH": "20",
                                      "OIR_MAX_ELEMENTS": "500"})
    assert config.limits == Limits(max_body_bytes=2048, max_depth=20, max_elements=500)
    assert EmulatorConfig.from_env({}).limits == Limits()
    with pytest.raises(ValueError, match="OIR_MAX_DEPTH"):
        EmulatorConfig.from_env({"OIR_MAX_DEPTH": "deep"})
    with pytest.raises(ValueError, match="OIR_MAX_"):
        EmulatorConfig.from_env({"OIR_MAX_DEPTH": "1000"})


# ---------------------------------------------------------------- over a real socket


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    db = tmp_path_factory.mktemp("hostile-served") / "served.sqlite3"
    with EmulatorProcess(db, env={"OIR_BODY_TIMEOUT_SECONDS": "1",
                                  "OIR_HEADER_TIMEOUT_SECONDS": "1"}) as proc:
        yield proc


SEARCH = "/oir/DebitorForespoergsel/1"


def raw_exchange(port: int, head: bytes, body: bytes, *, shut: bool) -> tuple[bytes, float]:
    """Send a request by hand; return what came back and how long it took."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head + body)
        if shut:
            s.shutdown(socket.SHUT_WR)
        started = time.perf_counter()
        received = b""
        while b"</soap:Envelope>" not in received:
            chunk = s.recv(65536)
            if not chunk:
                break
            received += chunk
        return received, time.perf_counter() - started


def test_served_20mb_bodies_get_413_not_a_reset(served: EmulatorProcess) -> None:
    big = envelope(b"<x>" + b"A" * (20 * 1024 * 1024) + b"</x>")

    def chunks() -> Iterator[bytes]:
        for offset in range(0, len(big), 1024 * 1024):
            yield big[offset:offset + 1024 * 1024]

    for data in (big, chunks()):  # with a Content-Length, and chunked without one
        started = time.perf_counter()
        r = requests.post(served.url + SEARCH, data=data, timeout=30,
                          headers={"Content-Type": "text/xml"})
        assert time.perf_counter() - started < 1.0
        assert r.status_code == 413
        assert fault_of(r.content)[1] == "request body larger than 10485760 bytes"


def test_a_body_that_stops_arriving_gets_408_and_frees_the_thread(
        served: EmulatorProcess) -> None:
    head = (b"POST " + SEARCH.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
            b"Content-Length: 5000\r\n\r\n")
    body = (EXAMPLES / "SoegDebitorkonto.request.xml").read_bytes()[:100]
    received, took = raw_exchange(served.port, head, body, shut=False)
    assert received.startswith(b"HTTP/1.1 408")
    assert b"request body not received within 1 s" in received
    assert 0.9 < took < 2.0
    # the caller gives up half-way: what did arrive is judged, and found wanting
    received, took = raw_exchange(served.port, head, body, shut=True)
    assert received.startswith(b"HTTP/1.1 500") and b"malformed XML" in received
    assert took < 1.0


class Trickle:
    """Connections that send a request's first line, then one more header line every
    ``every`` seconds (slowloris) until stopped — bounded by ``seconds`` in any case."""

    def __init__(self, port: int, count: int, *, every: float = 0.25, seconds: float = 8.0
                 ) -> None:
        self.socks = [socket.create_connection(("127.0.0.1", port), timeout=10)
                      for _ in range(count)]
        for s in self.socks:
            s.sendall(b"POST " + SEARCH.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        self.stop = threading.Event()
        self.every, self.seconds = every, seconds
        self.thread = threading.Thread(target=self._drip, daemon=True)
        self.thread.start()

    def _drip(self) -> None:
        until = time.monotonic() + self.seconds
        while not self.stop.wait(self.every) and time.monotonic() < until:
            for s in self.socks:
                with contextlib.suppress(OSError):
                    s.sendall(b"X-Drip: 1\r\n")

    def answers(self) -> list[bytes]:
        out = []
        for s in self.socks:
            s.settimeout(0.5)
            try:
                out.append(s.recv(4096))
            except OSError:
                out.append(b"")
        return out

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for s in self.socks:
            s.close()


def test_headers_that_trickle_in_get_408_within_the_header_limit(
        served: EmulatorProcess) -> None:
    trickle = Trickle(served.port, 1)
    try:
        s = trickle.socks[0]
        s.settimeout(5)
        started = time.perf_counter()
        received = s.recv(4096)
        took = time.perf_counter() - started
    finally:
        trickle.close()
    assert received.startswith(b"HTTP/1.1 408"), received
    assert b"request headers not received within 1 s" in received
    assert 0.8 < took < 2.0  # each line came in time; the request as a whole did not


def test_trickling_clients_do_not_starve_the_others(served: EmulatorProcess) -> None:
    """Three times as many trickling connections as the worker has threads: each holds a
    thread for at most the header limit (1 s here), so a valid request waits seconds,
    not for as long as the trickle lasts (8 s)."""
    svc = next(s for s in SERVICES if SEARCH in s.paths)
    trickle = Trickle(served.port, 24)
    try:
        time.sleep(0.2)
        started = time.perf_counter()
        r = requests.post(served.url + SEARCH, data=example(svc), timeout=15,
                          headers={"Content-Type": "text/xml"})
        waited = time.perf_counter() - started
        assert r.status_code == 200
        assert waited < 5.0, f"a valid request waited {waited:.1f}s behind trickling clients"
        assert all(a == b"" or a.startswith(b"HTTP/1.1 408") for a in trickle.answers())
    finally:
        trickle.close()
    assert "Traceback" not in served.log()


def test_a_body_that_trickles_in_gets_408_within_the_body_limit(
        served: EmulatorProcess) -> None:
    """Each byte in time, the body as a whole too late: a total limit, not one per read."""
    data = example(next(s for s in SERVICES if SEARCH in s.paths))
    head = (b"POST " + SEARCH.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml"
            b"\r\nContent-Length: %d\r\n\r\n" % len(data))
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as s:
        s.sendall(head)
        started = time.perf_counter()
        received = b""
        s.settimeout(0.2)
        for byte in data[:40]:
            with contextlib.suppress(OSError):
                s.sendall(bytes([byte]))
            try:
                received += s.recv(65536)
            except TimeoutError:
                continue
            if b"</soap:Envelope>" in received:
                break
        took = time.perf_counter() - started
    assert received.startswith(b"HTTP/1.1 408"), received[:200]
    assert b"request body not received within 1 s" in received
    assert took < 2.0


def test_clients_that_keep_a_closed_connection_open_do_not_stall_the_others(
        served: EmulatorProcess) -> None:
    """Three clients ask for ``Connection: close``, read their answer and keep the socket
    open. gunicorn closed such a connection on the worker's main thread, waiting up to
    2 s for the client to close too, and no other connection was served meanwhile."""
    svc = next(s for s in SERVICES if SEARCH in s.paths)
    data = example(svc)
    request = (b"POST " + SEARCH.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
               b"text/xml\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(data)
               + data)
    idle = [socket.create_connection(("127.0.0.1", served.port), timeout=5) for _ in range(3)]
    try:
        for s in idle:
            s.sendall(request)
        for s in idle:
            received = b""
            while b"</soap:Envelope>" not in received:
                chunk = s.recv(65536)
                assert chunk, received[:200]
                received += chunk
            assert received.startswith(b"HTTP/1.1 200")  # the whole answer arrived
        started = time.perf_counter()
        r = requests.post(served.url + SEARCH, data=data, timeout=10,
                          headers={"Content-Type": "text/xml"})
        assert r.status_code == 200
        assert time.perf_counter() - started < 0.5
    finally:
        for s in idle:
            s.close()


def test_silent_connections_hold_no_thread(served: EmulatorProcess) -> None:
    """Twenty connections opened and left silent (a browser's preconnects, a client that
    connects early): gunicorn 27 held a thread 5 s for each, and a valid request waited
    ~10 s behind them. They wait on the poller now; one that speaks up after a second is
    answered as usual."""
    svc = next(s for s in SERVICES if SEARCH in s.paths)
    data = example(svc)
    silent = [socket.create_connection(("127.0.0.1", served.port), timeout=5)
              for _ in range(20)]
    try:
        time.sleep(0.3)
        started = time.perf_counter()
        r = requests.post(served.url + SEARCH, data=data, timeout=15,
                          headers={"Content-Type": "text/xml"})
        assert r.status_code == 200
        assert time.perf_counter() - started < 0.5
        time.sleep(0.7)
        late = silent[0]
        late.sendall(b"POST " + SEARCH.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                     b"text/xml\r\nContent-Length: %d\r\n\r\n" % len(data) + data)
        assert late.recv(100).startswith(b"HTTP/1.1 200")
    finally:
        for s in silent:
            s.close()


def test_a_burst_of_hostile_requests_leaves_every_worker_answering(
        served: EmulatorProcess) -> None:
    svc = next(s for s in SERVICES if SEARCH in s.paths)
    payloads = [make(example(svc)) for name, (make, ctype, _status, _w) in CASES.items()
                if ctype == XML and name != "20mb_body"]

    def send(data: bytes) -> int:
        r = requests.post(served.url + SEARCH, data=data, timeout=10,
                          headers={"Content-Type": "text/xml"})
        fault_of(r.content)
        assert_clean(r.content)
        return r.status_code

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(send, payloads * 3))
    assert set(statuses) <= {500, 413}
    assert time.perf_counter() - started < 10
    for _ in range(4):  # every thread still serves: valid requests are answered at once
        started = time.perf_counter()
        r = requests.post(served.url + SEARCH, data=example(svc), timeout=5,
                          headers={"Content-Type": "text/xml"})
        assert r.status_code == 200 and time.perf_counter() - started < 1.0
    assert "Traceback" not in served.log()


def test_eight_requests_full_of_violations_do_not_stall_the_worker(
        served: EmulatorProcess) -> None:
    """Eight requests of 20 000 violations each (1.9 MB) at once, one per worker thread:
    each took minutes, and an unrelated read waited 55 s behind them. Each is a bounded
    fault now, and a read meanwhile is answered at once."""
    svc = next(s for s in SERVICES if SEARCH in s.paths)
    data = many_violations(20_000)

    def send(_: int) -> tuple[int, float]:
        started = time.perf_counter()
        r = requests.post(served.url + "/oir/DebitorRegistrering/1", data=data, timeout=60,
                          headers={"Content-Type": "text/xml"})
        return r.status_code, time.perf_counter() - started

    with ThreadPoolExecutor(max_workers=8) as pool:
        burst = [pool.submit(send, n) for n in range(8)]
        time.sleep(0.2)
        started = time.perf_counter()
        r = requests.post(served.url + SEARCH, data=example(svc), timeout=60,
                          headers={"Content-Type": "text/xml"})
        waited = time.perf_counter() - started
        answers = [f.result() for f in burst]
    assert r.status_code == 200
    assert waited < 5.0, f"a read waited {waited:.1f} s behind the violations"
    assert {status for status, _ in answers} == {500}
    assert max(took for _, took in answers) < 10.0, answers
