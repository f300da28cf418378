"""The browser side, as an outside probe found it: cross-site and DNS-rebinding requests in
the default setup (loopback, no token), CPR masking after decoding, the open redirect, the
admin token in every page, the Host in the WSDL, NUL and huge ids in URLs, and the journal
export. Over a real socket (werkzeug, threaded) where the wire matters: ``requests`` sends
the Host, Origin and Content-Type a hostile page would."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from lxml import etree
from lxml import html as lxml_html

from emulator.app import create_app, runtime_of
from emulator.scenario import load_scenario
from emulator.web import guard as web_guard
from tests.conftest import EXAMPLES
from tests.emulator_inproc import InProcessEmulator, in_process, live_server

CPR = "0405871270"
MASKED = "040587-XXXX"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, InProcessEmulator]]:
    """The default setup: loopback, no token, nothing configured."""
    with live_server(tmp_path_factory.mktemp("guard")) as pair:
        url, emu = pair
        emu.admin("PUT", "/clock", now="2026-03-02T10:00:00")
        yield pair


def clock(emu: InProcessEmulator) -> str:
    return str(emu.admin("GET", "/clock")["now"])


# ---------------------------------------------------------------- 8: cross-site, rebinding


def test_a_cross_site_post_cannot_reset_or_move_the_clock(
        served: tuple[str, InProcessEmulator]) -> None:
    """A text/plain POST from another site (a form, or fetch without a preflight) reset
    the emulator and moved its clock a year."""
    url, emu = served
    emu.admin("POST", "/faults", operation="OpretFordring", kind="http_503", count=1)
    before = clock(emu)
    evil = {"Origin": "https://evil.example", "Content-Type": "text/plain"}
    r = requests.post(f"{url}/_admin/reset", data="{}", headers=evil, timeout=10)
    assert r.status_code == 403 and "cross-site" in r.json()["error"]
    r = requests.post(f"{url}/_admin/clock/advance", data='{"days": 365}', headers=evil,
                      timeout=10)
    assert r.status_code == 403
    # the same without an Origin but marked by the browser as cross-site
    r = requests.post(f"{url}/_admin/clock/advance", data='{"days": 365}', timeout=10,
                      headers={"Sec-Fetch-Site": "cross-site",
                               "Content-Type": "application/json"})
    assert r.status_code == 403
    # the same origin but not JSON (what a form can send): refused too
    r = requests.post(f"{url}/_admin/clock/advance", data='{"days": 365}', timeout=10,
                      headers={"Origin": url, "Content-Type": "text/plain"})
    assert r.status_code == 415 and "application/json" in r.json()["error"]
    r = requests.post(f"{url}/_admin/reset", timeout=10)  # no body, no type
    assert r.status_code == 415
    # an opaque origin (a sandboxed frame, a no-referrer page): only as the browser's own
    for site, status in (("", 403), ("cross-site", 403)):
        r = requests.post(f"{url}/_admin/clock/advance", json={"days": 365}, timeout=10,
                          headers={"Origin": "null", "Sec-Fetch-Site": site})
        assert r.status_code == status, site
    assert clock(emu) == before
    assert [f["operation"] for f in emu.admin("GET", "/faults")] == ["OpretFordring"]
    # this site's own page, and scripts (no Origin), with JSON: accepted
    r = requests.post(f"{url}/_admin/clock/advance", json={"days": 1}, timeout=30,
                      headers={"Origin": url, "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200, r.text
    assert requests.delete(f"{url}/_admin/faults", json={}, timeout=10).status_code == 200


def test_a_rebound_host_name_is_refused(served: tuple[str, InProcessEmulator]) -> None:
    """A page on rebind.evil.example, its name re-pointed at 127.0.0.1, read the whole
    journal with unmasked CPR numbers."""
    url, emu = served
    emu.post_raw("/oir/DebitorRegistrering/1",
                 (EXAMPLES / "OpretDebitorkonto.request.xml").read_bytes())
    for path in ("/_admin/journal/export", "/_admin/journal?full=1", "/", "/journal",
                 "/oir/DebitorRegistrering/1?wsdl"):
        r = requests.get(url + path, headers={"Host": "rebind.evil.example"}, timeout=10)
        assert r.status_code == 400, path
        assert CPR not in r.text and "unknown host" in r.text
    r = requests.post(url + "/oir/DebitorForespoergsel/1",
                      data=(EXAMPLES / "HentDebitorkonto.request.xml").read_bytes(),
                      headers={"Host": "rebind.evil.example:80", "Content-Type": "text/xml"},
                      timeout=10)
    assert r.status_code == 400
    for host in ("localhost", "127.0.0.1", "[::1]", "app.localhost:8080", "10.1.2.3:9"):
        assert requests.get(url + "/_admin/health", headers={"Host": host},
                            timeout=10).status_code == 200, host


def test_host_names_and_origins() -> None:
    names = ("localhost", ".localhost", ".invalid", "emu.example", ".corp.example")
    for good in ("localhost", "LOCALHOST:80", "a.localhost", "127.0.0.1:8080", "[::1]:1",
                 "emu.example", "emu.example.", "x.corp.example", "corp.example",
                 "emulator.invalid", "192.168.1.9"):
        assert web_guard.host_allowed(good, names), good
    for bad in ("evil.example", "emu.example.evil.example", "localhost.evil.example",
                "emu.example:x", "", "xcorp.example"):
        assert not web_guard.host_allowed(bad, names), bad
    assert web_guard.host_allowed("anything.example", ("*",))


# ---------------------------------------------------------------- 12: Host in the WSDL


def test_the_wsdl_names_only_a_served_host(tmp_path: Path) -> None:
    """``Host: evil.example`` was written into soap:address and schemaLocation. A trusted
    proxy's forwarded name counts instead of ``Host``, and must be served as well."""
    def locations(r: requests.Response) -> list[str]:
        doc = etree.fromstring(r.content)
        return [str(a.get("location")) for a in doc.iter("{*}address")] + [
            str(i.get("schemaLocation"))
            for i in doc.iter("{http://www.w3.org/2001/XMLSchema}import")]

    # no proxy trusted: X-Forwarded-* are ignored, whoever sends them
    with live_server(tmp_path, allowed_hosts=("emu.example",), trusted_proxies=()
                     ) as (url, _emu):
        wsdl = url + "/oir/DebitorRegistrering/1?wsdl"
        assert requests.get(wsdl, headers={"Host": "evil.example"}, timeout=10
                            ).status_code == 400
        r = requests.get(wsdl, headers={"Host": "emu.example:8443",
                                        "X-Forwarded-Host": "evil.example"}, timeout=10)
        found = locations(r)
        assert found and all(x.startswith("http://emu.example:8443/") for x in found), found
    # behind a trusted proxy (loopback, the default) its forwarded name counts, and must
    # be served too: a page cannot smuggle evil.example in through the header either
    with live_server(tmp_path / "proxied", allowed_hosts=("emu.example",)) as (url, _emu):
        wsdl = url + "/oir/DebitorRegistrering/1?wsdl"
        r = requests.get(wsdl, headers={"X-Forwarded-Host": "emu.example",
                                        "X-Forwarded-Proto": "https"}, timeout=10)
        assert b'location="https://emu.example/oir/DebitorRegistrering/1"' in r.content
        for headers in ({"X-Forwarded-Host": "evil.example"},
                        {"Host": "emu.example", "X-Forwarded-Host": "evil.example"}):
            refused = requests.get(wsdl, headers=headers, timeout=10)
            assert refused.status_code == 400, headers
            assert "forwarded by a trusted proxy" in refused.text
        # the Origin of a state change is compared with the forwarded name
        admin = {"Content-Type": "application/json", "X-Forwarded-Host": "emu.example",
                 "X-Forwarded-Proto": "https"}
        assert requests.post(url + "/_admin/reset", headers={
            **admin, "Origin": "https://emu.example"}, timeout=10).status_code == 200
        assert requests.post(url + "/_admin/reset", headers={
            **admin, "Origin": url}, timeout=10).status_code == 403


# ---------------------------------------------------------------- 9: masking after decoding


def split_cpr_account(emu: InProcessEmulator) -> None:
    """An account whose debtor's CPR is written as character references, whose name and
    reference hold a CPR, and a claim whose co-liable CPR is in CDATA."""
    data = (EXAMPLES / "OpretDebitorkonto.request.xml").read_bytes()
    data = data.replace(CPR.encode(), b"&#48;405871270")
    data = data.replace(b"<Navn>Mette Kj\xc3\xa6r Jensen</Navn>", b"<Navn>Mette 0405871270</Navn>")
    data = data.replace(b"<FagsystemReference>", b"<FagsystemReference>0405871270-")
    r = emu.post_raw("/oir/DebitorRegistrering/1", data)
    assert r.status_code == 200 and b"OK" in r.get_data(), r.get_data()
    claim = (EXAMPLES / "OpretFordring.request.xml").read_bytes().replace(
        b"100004711", b"100001").replace(b"1203852815", b"<![CDATA[0405871270]]>").replace(
        b"<Beskrivelse>", b"<Beskrivelse>CPR 0405871270, ")
    r = emu.post_raw("/oir/DebitorRegistrering/1", claim)
    assert r.status_code == 200 and b"FordringID>F0000001<" in r.get_data(), r.get_data()


@pytest.fixture
def masked_emu(tmp_path: Path) -> Iterator[InProcessEmulator]:
    with in_process(tmp_path) as emu:
        emu.admin("PUT", "/clock", now="2025-08-20T10:00:00")
        split_cpr_account(emu)
        emu.runtime.store.settle()
        yield emu


def test_cpr_numbers_are_masked_after_decoding_on_every_page(
        masked_emu: InProcessEmulator) -> None:
    """``&#48;405871270`` or CDATA got past the masking (it ran before the XML was
    decoded), and a CPR in a name or a reference was shown on the pages."""
    emu = masked_emu
    entries = emu.admin("GET", "/journal?full=1&limit=10")
    assert any("&#48;405871270" in (e["request_xml"] or "") for e in entries)
    pages = ["/", "/?lang=en", "/accounts/100001", "/claims/F0000001", "/journal", "/psrm"]
    pages += [f"/journal/{e['id']}" for e in entries]
    pages += [f"/journal/{e['id']}/{which}.xml" for e in entries
              for which in ("request", "response")]
    for path in pages:
        r = emu.http.get(path)
        assert r.status_code == 200, path
        body = r.get_data(as_text=True)
        text = lxml_html.fromstring(body).text_content() if "html" in r.content_type else body
        assert CPR not in text and CPR not in body, path
        assert "&#48;405871270" not in body and "&amp;#48;405871270" not in body, path
    entry = next(e for e in entries if "&#48;" in (e["request_xml"] or ""))
    assert MASKED in emu.http.get(f"/journal/{entry['id']}/request.xml").get_data(as_text=True)
    # asked for, CPR numbers are shown, and a download is what was sent
    shown = emu.http.get(f"/journal/{entry['id']}/request.xml?cpr=show")
    assert shown.get_data(as_text=True) == entry["request_xml"]
    assert "Mette 0405871270" in emu.http.get("/accounts/100001?cpr=show").get_data(as_text=True)


def test_the_admin_account_list_masks_names_and_references(
        masked_emu: InProcessEmulator) -> None:
    [account] = masked_emu.admin("GET", "/accounts")
    assert CPR not in json.dumps(account)
    assert account["name"] == f"Mette {MASKED}" and account["party"] == MASKED
    [shown] = masked_emu.admin("GET", "/accounts?cpr=show")
    assert shown["name"] == f"Mette {CPR}" and shown["party"] == CPR


# ---------------------------------------------------------------- 5: the journal export


def export(http: Any, query: str = "", **headers: str) -> tuple[list[dict[str, Any]], Any]:
    r = http.get(f"/_admin/journal/export{query}", headers=headers)
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    lines = r.get_data(as_text=True).splitlines()
    return [json.loads(line) for line in lines], r


def check_the_export_holds_every_exchange(emu: InProcessEmulator, count: int = 10_050) -> None:
    """More entries than one page of 10 000: the export had the newest 10 000, silently.
    (Shared by the SQLite test here and the PostgreSQL one.)"""
    from emulator.storage import journal

    with emu.runtime.store.transaction() as conn:
        for n in range(count):
            journal.record(conn, journal.Exchange(
                end="oir", direction="in", service="S", operation="Op", status="ok",
                http_status=200, started=0.0, request_xml=f"<a>{CPR} {n}</a>".encode(),
                response_xml=b"<b/>", summary=f"debtor {CPR}"), virtual_at=_now())
    rows, response = export(emu.http)
    assert len(rows) == count
    ids = [r["id"] for r in rows]
    assert ids == sorted(ids) and len(set(ids)) == count  # oldest first, each once
    assert rows[-1]["request_xml"] == f"<a>{MASKED} {count - 1}</a>"
    assert CPR not in response.get_data(as_text=True)  # masked unless asked
    assert response.headers["X-CPR-Numbers"] == "masked"
    shown, response = export(emu.http, "?cpr=show")
    assert len(shown) == count and shown[0]["request_xml"] == f"<a>{CPR} 0</a>"
    assert response.headers["X-CPR-Numbers"] == "shown"


def _now() -> Any:
    from datetime import datetime

    return datetime(2026, 3, 2, 10)


def test_the_export_streams_every_exchange_masked(tmp_path: Path) -> None:
    with in_process(tmp_path) as emu:
        check_the_export_holds_every_exchange(emu)


def test_the_dashboards_export_link_works_with_an_admin_token(tmp_path: Path) -> None:
    """With OIR_ADMIN_TOKEN set the dashboard's export link answered 401."""
    token = "a-long-admin-token-0123456789"
    with in_process(tmp_path, admin_token=token) as emu:
        http = emu.app.test_client()
        http.post("/login", data={"token": token})
        emu.post_raw("/oir/DebitorRegistrering/1",
                     (EXAMPLES / "OpretDebitorkonto.request.xml").read_bytes())
        doc = lxml_html.fromstring(http.get("/journal").data)
        [link] = doc.xpath("//a[@id='journal-export']/@href")
        rows, _ = export(http, link.removeprefix("/_admin/journal/export"))
        assert rows and CPR not in json.dumps(rows)
        doc = lxml_html.fromstring(http.get("/journal?cpr=show").data)
        [link] = doc.xpath("//a[@id='journal-export']/@href")
        rows, _ = export(http, link.removeprefix("/_admin/journal/export"))
        assert CPR in json.dumps(rows)
        assert emu.app.test_client().get("/_admin/journal/export").status_code == 401


# ---------------------------------------------------------------- 10, 11: login and session

TOKEN = "s3cret-admin-token-0123456789"


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[tuple[str, InProcessEmulator]]:
    with live_server(tmp_path, admin_token=TOKEN) as pair:
        yield pair


def test_login_redirects_only_to_this_site(guarded: tuple[str, InProcessEmulator]) -> None:
    """``next=/%09/evil.example`` redirected to ``//evil.example`` (a browser drops the
    tab); ``%0D``/``%0A`` answered 500."""
    url, _emu = guarded
    for target, expected in (("/%09/evil.example", "/"), ("//evil.example", "/"),
                             ("/%5Cevil.example", "/"), ("https://evil.example", "/"),
                             ("/%0D%0ASet-Cookie:x=1", "/"), ("/%0A/evil.example", "/"),
                             ("/%20/evil.example", "/"), ("/journal?end=oir", "/journal?end=oir"),
                             ("/accounts/100001", "/accounts/100001")):
        r = requests.post(f"{url}/login?next={target}", data={"token": TOKEN},
                          allow_redirects=False, timeout=10, headers={"Origin": url})
        assert r.status_code == 302, (target, r.status_code, r.text[:200])
        assert r.headers["Location"] == expected, target


def test_the_token_is_never_written_into_a_page(guarded: tuple[str, InProcessEmulator]) -> None:
    """The admin token was in every page as <meta name="oir-admin-token">, defeating the
    HttpOnly cookie; pages had no Cache-Control. A session and a CSRF token bound to it."""
    url, emu = guarded
    browser = requests.Session()
    r = browser.post(f"{url}/login", data={"token": TOKEN}, timeout=10,
                     headers={"Origin": url})
    assert r.status_code == 200 and TOKEN not in r.text
    cookie = browser.cookies[web_guard.SESSION_COOKIE]
    assert TOKEN not in cookie and web_guard.session_valid(TOKEN, cookie)
    for path in ("/", "/journal", "/accounts/100001", "/faults", "/scenario", "/psrm"):
        r = browser.get(url + path, timeout=10)
        assert TOKEN not in r.text, path
        assert r.headers["Cache-Control"] == "no-store", path
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"], path
    page = lxml_html.fromstring(browser.get(url + "/", timeout=10).content)
    [csrf] = page.xpath("//meta[@name='oir-csrf-token']/@content")
    # the page's script: the session cookie and the CSRF token move the clock
    r = browser.post(f"{url}/_admin/clock/advance", json={"days": 1}, timeout=30,
                     headers={"X-CSRF-Token": csrf, "Origin": url})
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    # the cookie alone (what another site's form would carry) does not
    r = browser.post(f"{url}/_admin/clock/advance", json={"days": 1}, timeout=10)
    assert r.status_code == 403 and "CSRF" in r.json()["error"]
    r = browser.post(f"{url}/_admin/clock/advance", json={"days": 1}, timeout=10,
                     headers={"X-CSRF-Token": web_guard.csrf_token(TOKEN, "1.other.x")})
    assert r.status_code == 403
    # a read with the cookie works (the export link); none without it
    assert browser.get(f"{url}/_admin/health", timeout=10).status_code == 200
    assert requests.get(f"{url}/_admin/health", timeout=10).status_code == 401
    # another token, or an old session, is no session
    assert not web_guard.session_valid("another-token-0123456789", cookie)
    old = web_guard.new_session(TOKEN, now=0)
    assert not web_guard.session_valid(TOKEN, old)
    assert not web_guard.session_valid(TOKEN, "x.y.z")


# ---------------------------------------------------------------- 4, 13: URLs that broke


def check_urls_with_nul_and_huge_ids(http: Any) -> None:
    """A 400 or 404, the same on both stores, never a 500. (PostgreSQL text cannot hold
    NUL; SQLite cannot hold an integer above 2^63 - 1.)"""
    huge = "99999999999999999999"
    cases = {"/?q=%00": 400, "/accounts/%00": 400, "/claims/%00": 400,
             "/_admin/journal?transaktions_id=%00": 400, "/journal?transaktions_id=%00": 400,
             "/_admin/fagsystem/events?claim_id=%00": 400, "/xsd/x%00": 400,
             f"/journal/{huge}": 404, f"/journal/{huge}/request.xml": 404,
             f"/_admin/journal/{huge}": 404, f"/journal?before={huge}": 200,
             "/journal/9223372036854775807": 404, "/journal/2147483648": 404,
             "/_admin/journal/2147483647": 404}
    for path, status in cases.items():
        r = http.get(path)
        assert r.status_code == status, (path, r.status_code)
    r = http.post("/_admin/psrm/pay", json={"claim_ref": "F\x00", "amount": "1.00"})
    assert r.status_code == 400 and r.get_json()["field"] == "claim_ref"
    r = http.post("/_admin/faults", json={"operation": "Opret\x00", "kind": "drop"})
    assert r.status_code == 400


def test_urls_with_nul_and_huge_ids_are_refused_not_500(tmp_path: Path) -> None:
    with in_process(tmp_path) as emu:
        check_urls_with_nul_and_huge_ids(emu.http)


def test_a_404_page_carries_the_security_headers(
        served: tuple[str, InProcessEmulator]) -> None:
    url, _emu = served
    r = requests.get(url + "/no/such/page", timeout=10)
    assert r.status_code == 404
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_a_name_of_only_spaces_is_refused(tmp_path: Path) -> None:
    with in_process(tmp_path) as emu:
        data = (EXAMPLES / "OpretDebitorkonto.request.xml").read_bytes().replace(
            "<Navn>Mette Kjær Jensen</Navn>".encode(), b"<Navn> \t </Navn>")
        assert b"<Navn> \t </Navn>" in data
        r = emu.post_raw("/oir/DebitorRegistrering/1", data)
        assert r.status_code == 500 and b"soap:Client" in r.get_data()
        assert b"/oir:Debitor/oir:Navn" in r.get_data()
        assert emu.admin("GET", "/accounts") == []


def test_loading_a_scenario_checks_the_same(tmp_path: Path) -> None:
    """The demo scenario still loads through the guarded app (in-process calls use an
    .invalid name)."""
    app = create_app(db_url=f"sqlite:///{tmp_path}/s.sqlite3", start_worker=False)
    try:
        summary = load_scenario(runtime_of(app), {"clock": "2026-03-02", "accounts": [
            {"reference": "X-1", "cpr": CPR, "name": "Navn"}]})
        assert summary["accounts"]
    finally:
        runtime_of(app).close()
