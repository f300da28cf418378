"""Access control: API key and WS-Security UsernameToken (text and digest, nonce and
created checked) on the SOAP ends, bearer token on /_admin, Serviceplatformen headers on
the ØIR ends, a SAML 1.1 sender-vouches assertion on the PSRM end — all off by default,
and the emulator's own calls (outbox, PSRM polling, scenarios) still get through when on.
``oir serve`` refuses a non-loopback bind without them."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from lxml import etree
from sqlalchemy import select
from zeep.wsse.username import UsernameToken

from emulator.config import EmulatorConfig
from emulator.soap import security
from emulator.storage import schema as t
from oir_adapter.clients import Clients, ServiceClient, SoapFaultError, clients_for
from oir_adapter.clients.soap import build_envelope
from oir_adapter.codecs import oir_requests as messages
from oir_adapter.contracts import SOAP11_ENV_NS
from oir_adapter.domain.model import Party
from tests.conftest import EXAMPLES
from tests.emulator_inproc import BASE, InProcessEmulator, in_process
from tests.emulator_process import OIR, EmulatorProcess, free_port
from tests.test_debtor_end import CALLER, CPR, spec

REG = "/oir/DebitorRegistrering/1"
SEARCH = "/oir/DebitorForespoergsel/1"
PSRM = "/psrm/MFKvitteringHent/1"
ISSUER = "https://sts.kommune.example/"
SUBJECT = "29189846"


def search_body() -> etree._Element:
    return messages.soeg_debitorkonto(CALLER, party=Party.cpr(CPR))


def fault(response: Any) -> tuple[int, str, str]:
    root = etree.fromstring(response.get_data())
    f = root.find(f"{{{SOAP11_ENV_NS}}}Body/{{{SOAP11_ENV_NS}}}Fault")
    assert f is not None, response.get_data(as_text=True)[:400]
    return response.status_code, f.findtext("faultcode") or "", f.findtext("faultstring") or ""


def envelope(body: etree._Element, *headers: etree._Element) -> bytes:
    return etree.tostring(build_envelope(body, headers), xml_declaration=True,
                          encoding="UTF-8")


def username_token(user: str, password: str, *, digest: bool,
                   created: datetime | None = None, nonce: str | None = None
                   ) -> etree._Element:
    """A wsse:Security header with a UsernameToken, exactly as zeep would send it."""
    env = build_envelope(search_body())
    UsernameToken(user, password, use_digest=digest, created=created, nonce=nonce).apply(
        env, {})
    sec = env.find(f"{{{SOAP11_ENV_NS}}}Header/{{{security.WSSE_NS}}}Security")
    assert sec is not None
    return sec


def journal_texts(emu: InProcessEmulator) -> str:
    with emu.runtime.store.transaction() as conn:
        rows = conn.execute(select(t.journal.c.request_xml)).all()
    return "\n".join(r.request_xml or "" for r in rows)


# ---------------------------------------------------------------- off by default


def test_everything_is_open_by_default(tmp_path: Path) -> None:
    config = EmulatorConfig.from_env({})
    assert not security.soap_auth_enabled(config) and config.admin_token is None
    with in_process(tmp_path) as emu:
        assert emu.post_raw(SEARCH, envelope(search_body())).status_code == 200
        assert emu.http.get("/_admin/health").status_code == 200


# ---------------------------------------------------------------- API key


def test_api_key_is_required_on_every_soap_end(tmp_path: Path) -> None:
    with in_process(tmp_path, api_key="k-123") as emu:
        status, code, text = fault(emu.post_raw(SEARCH, envelope(search_body())))
        assert (status, code) == (401, "soap:Client") and "API key required" in text
        status, code, text = fault(emu.post_raw(SEARCH, envelope(search_body()),
                                                headers={"X-API-Key": "wrong"}))
        assert status == 401 and "wrong API key" in text
        for path in ("/psrm/MFFordringIndberet/1", "/fagsystem/DaekningAfskrivningRegistrering/1"):
            assert emu.post_raw(path, b"<x/>").status_code == 401
        ok = emu.post_raw(SEARCH, envelope(search_body()), headers={"X-API-Key": "k-123"})
        assert ok.status_code == 200
        # a zeep client passes it as an extra HTTP header
        client = ServiceClient("DebitorForespoergsel", f"{BASE}{SEARCH}", session=emu.session,
                               http_headers={"X-API-Key": "k-123"})
        assert client.call("SoegDebitorkonto", search_body()).ok


def test_api_key_header_name_is_configurable() -> None:
    config = EmulatorConfig.from_env({"OIR_API_KEY": "abc", "OIR_API_KEY_HEADER": "X-Kommune"})
    assert security.check_api_key(config, {"X-Kommune": "abc"}) is True
    assert security.check_api_key(config, {"X-API-Key": "abc"}) is None
    assert security.check_api_key(config, {"X-Kommune": "abd"}) is False


# ---------------------------------------------------------------- UsernameToken

USERS = {"kommune": "hemmeligt-1", "leverandoer": "andet-2"}


@pytest.fixture
def wsse_emu(tmp_path: Path) -> Iterator[InProcessEmulator]:
    with in_process(tmp_path, wsse_users=USERS) as emu:
        yield emu


@pytest.mark.parametrize("digest", [False, True], ids=["text", "digest"])
def test_username_token_admits_through_zeep(wsse_emu: InProcessEmulator, digest: bool) -> None:
    client = ServiceClient("DebitorForespoergsel", f"{BASE}{SEARCH}", session=wsse_emu.session,
                           username="kommune", password="hemmeligt-1", digest=digest)
    assert client.call("SoegDebitorkonto", search_body()).ok
    wrong = ServiceClient("DebitorForespoergsel", f"{BASE}{SEARCH}", session=wsse_emu.session,
                          username="kommune", password="forkert", digest=digest)
    with pytest.raises(SoapFaultError) as info:
        wrong.call("SoegDebitorkonto", search_body())
    assert info.value.faultcode == "wsse:FailedAuthentication"
    # the journal keeps the request, but never a password in clear
    assert "hemmeligt-1" not in journal_texts(wsse_emu)
    assert "forkert" not in journal_texts(wsse_emu)


def test_username_token_refusals(wsse_emu: InProcessEmulator) -> None:
    def post(*headers: etree._Element) -> tuple[int, str, str]:
        return fault(wsse_emu.post_raw(SEARCH, envelope(search_body(), *headers)))

    assert post()[1:] == ("wsse:FailedAuthentication",
                          "a WS-Security UsernameToken is required")
    assert post(username_token("nobody", "x", digest=False))[1] == "wsse:FailedAuthentication"
    assert post(username_token("nobody", "x", digest=True))[1] == "wsse:FailedAuthentication"
    old = datetime.now(UTC) - timedelta(minutes=10)
    assert post(username_token("kommune", "hemmeligt-1", digest=True, created=old))[1:] == (
        "wsse:MessageExpired", "wsu:Created is older than 300 seconds")
    future = datetime.now(UTC) + timedelta(minutes=10)
    assert post(username_token("kommune", "hemmeligt-1", digest=True, created=future))[2] == \
        "wsu:Created lies in the future"
    no_nonce = username_token("kommune", "hemmeligt-1", digest=True)
    token = no_nonce.find(f"{{{security.WSSE_NS}}}UsernameToken")
    assert token is not None
    token.remove(token.find(f"{{{security.WSSE_NS}}}Nonce"))  # type: ignore[arg-type]
    assert post(no_nonce)[1:] == ("wsse:InvalidSecurity",
                                  "PasswordDigest needs a Nonce and a wsu:Created timestamp")
    status, code, _ = post(username_token("kommune", "hemmeligt-1", digest=False),
                           username_token("kommune", "hemmeligt-1", digest=False))
    assert (status, code) == (500, "wsse:InvalidSecurity")


def test_a_nonce_is_accepted_once(wsse_emu: InProcessEmulator) -> None:
    data = envelope(search_body(), username_token("kommune", "hemmeligt-1", digest=True))
    assert wsse_emu.post_raw(SEARCH, data).status_code == 200
    status, code, text = fault(wsse_emu.post_raw(SEARCH, data))
    assert (status, code) == (500, "wsse:FailedAuthentication") and "replayed" in text


def test_api_key_or_username_token_either_admits(tmp_path: Path) -> None:
    with in_process(tmp_path, wsse_users=USERS, api_key="k-9") as emu:
        assert emu.post_raw(SEARCH, envelope(search_body()),
                            headers={"X-API-Key": "k-9"}).status_code == 200
        token = username_token("leverandoer", "andet-2", digest=False)
        assert emu.post_raw(SEARCH, envelope(search_body(), token)).status_code == 200
        status, code, text = fault(emu.post_raw(SEARCH, envelope(search_body())))
        assert code == "wsse:FailedAuthentication" and "X-API-Key" in text


def test_users_come_from_the_environment() -> None:
    config = EmulatorConfig.from_env({"OIR_WSSE_USERS": "a:1, b:x:y"})
    assert config.wsse_users == {"a": "1", "b": "x:y"}
    with pytest.raises(ValueError, match="OIR_WSSE_USERS"):
        EmulatorConfig.from_env({"OIR_WSSE_USERS": "nopassword"})


# ---------------------------------------------------------------- admin token


def test_admin_api_wants_the_bearer_token_from_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from emulator.app import create_app, runtime_of

    monkeypatch.setenv("OIR_ADMIN_TOKEN", "adm-1")
    app = create_app(db_url=f"sqlite:///{tmp_path / 'a.sqlite3'}", start_worker=False)
    try:
        http = app.test_client()
        assert http.get("/_admin/health").status_code == 401
        assert http.get("/_admin/health", headers={"Authorization": "Bearer nope"}
                        ).status_code == 401
        assert http.get("/_admin/health", headers={"Authorization": "Bearer adm-1"}
                        ).status_code == 200
        # SOAP ends are a separate matter: still open
        assert http.post(SEARCH, data=envelope(search_body()),
                         content_type="text/xml").status_code == 200
    finally:
        runtime_of(app).close()


# ---------------------------------------------------------------- Serviceplatformen headers


def test_serviceplatform_headers_are_checked_when_switched_on(tmp_path: Path) -> None:
    with in_process(tmp_path, check_serviceplatform=True) as emu:
        status, code, text = fault(emu.post_raw(SEARCH, envelope(search_body())))
        assert code == "soap:Client" and "InvocationContext or AuthorityContext" in text
        bad = security.invocation_context(user="not-a-uuid")
        assert "InvocationContext/UserUUID must be a UUID" in fault(
            emu.post_raw(SEARCH, envelope(search_body(), bad)))[2]
        assert emu.post_raw(SEARCH, envelope(search_body(), security.invocation_context())
                            ).status_code == 200
        assert emu.post_raw(SEARCH, envelope(search_body(), security.authority_context(
            CALLER.authority_cvr))).status_code == 200
        assert "does not match MyndighedCVR" in fault(emu.post_raw(
            SEARCH, envelope(search_body(), security.authority_context("11111111"))))[2]
        # the PSRM end does not want them
        psrm = (EXAMPLES / "MFKvitteringHent.request.xml").read_bytes()
        assert emu.post_raw(PSRM, psrm).status_code == 200


def test_serviceplatform_headers_are_accepted_but_not_checked_by_default(
        tmp_path: Path) -> None:
    with in_process(tmp_path) as emu:
        bad = security.authority_context("11111111")
        assert emu.post_raw(SEARCH, envelope(search_body(), bad)).status_code == 200


# ---------------------------------------------------------------- SAML on the PSRM end


def psrm_request() -> etree._Element:
    root = etree.fromstring((EXAMPLES / "MFKvitteringHent.request.xml").read_bytes())
    body = root.find(f"{{{SOAP11_ENV_NS}}}Body")
    assert body is not None
    return body[0]


def test_psrm_end_checks_a_saml_sender_vouches_assertion(tmp_path: Path) -> None:
    with in_process(tmp_path, saml_issuer=ISSUER, saml_subject=SUBJECT) as emu:
        def post(*headers: etree._Element) -> Any:
            return emu.post_raw(PSRM, envelope(psrm_request(), *headers))

        assert "SAML 1.1 assertion is required" in fault(post())[2]
        good = security.saml_assertion(ISSUER, SUBJECT)
        assert post(security.security_header(good)).status_code == 200
        other = security.saml_assertion("https://evil.example/", SUBJECT)
        assert "is not trusted" in fault(post(security.security_header(other)))[2]
        stranger = security.saml_assertion(ISSUER, "12345678")
        assert "is not about" in fault(post(security.security_header(stranger)))[2]
        stale = security.saml_assertion(ISSUER, SUBJECT,
                                        now=datetime.now(UTC) - timedelta(hours=2))
        assert fault(post(security.security_header(stale)))[1] == "wsse:MessageExpired"
        bearer = security.saml_assertion(ISSUER, SUBJECT)
        method = bearer.find(f".//{{{security.SAML1_NS}}}ConfirmationMethod")
        assert method is not None
        method.text = "urn:oasis:names:tc:SAML:1.0:cm:bearer"
        assert "sender-vouches" in fault(post(security.security_header(bearer)))[2]
        saml2 = security.saml_assertion(ISSUER, SUBJECT)
        saml2.set("MinorVersion", "0")
        assert "SAML 1.1" in fault(post(security.security_header(saml2)))[2]
        # the ØIR ends do not want it
        assert emu.post_raw(SEARCH, envelope(search_body())).status_code == 200


# ---------------------------------------------------------------- the emulator's own calls


def admin(emu: InProcessEmulator, method: str, path: str, token: str, **body: Any) -> Any:
    response = emu.http.open(f"/_admin{path}", method=method,
                             json=body if body or method != "GET" else None,
                             headers={"Authorization": f"Bearer {token}"})
    assert response.status_code in (200, 201), response.get_data(as_text=True)
    return response.get_json()


@pytest.mark.parametrize("creds", ["api_key", "wsse"])
def test_own_calls_get_through_every_check(tmp_path: Path, creds: str) -> None:
    """With every check on, the hand-over reaches the PSRM end, PSRM's receipts come back
    and the fagsystem hears of it — all through the emulator's own authenticated calls —
    and a scenario loads."""
    auth: dict[str, Any] = ({"api_key": "k-1"} if creds == "api_key"
                            else {"wsse_users": {"emulator": "pw-1"}})
    with in_process(tmp_path, admin_token="adm", saml_issuer=ISSUER, saml_subject=SUBJECT,
                    check_serviceplatform=True, **auth) as emu:
        options: dict[str, Any] = ({"http_headers": {"X-API-Key": "k-1"}} if creds == "api_key"
                                   else {"username": "emulator", "password": "pw-1",
                                         "digest": True})
        soap: Clients = clients_for(BASE, session=emu.session,
                                    headers=lambda: [security.invocation_context()], **options)
        admin(emu, "PUT", "/clock", "adm", now="2026-03-02T10:00:00")
        number = soap.debitor_registrering.call("OpretDebitorkonto", messages.opret_debitorkonto(
            CALLER, reference="A-1", party=Party.cpr(CPR), name="Mette")).findtext(
            "DebitorkontoNummer")
        assert number
        r = soap.debitor_registrering.call("OpretFordring", messages.opret_fordring(
            CALLER, account_number=number, claim=spec(due_date=date(2026, 3, 3),
                                                      srb=date(2026, 3, 4))))
        assert r.ok, r.errors
        admin(emu, "POST", "/clock/advance", "adm", days=6)
        konto = soap.debitor_forespoergsel.call("HentDebitorkonto", messages.hent_debitorkonto(
            CALLER, account_number=number))
        assert konto.findtext("Debitorkonto/FordringSamling/Fordring/Status") == "OVERDRAGET"
        assert konto.findtext("Debitorkonto/FordringSamling/Fordring/PSRM/Status") == "UDFOERT"
        journal = admin(emu, "GET", "/journal?limit=1000", "adm")
        faults = [(j["end"], j["operation"], j["summary"]) for j in journal
                  if j["status"] == "fault"]
        assert faults == []
        inbound = {(j["end"], j["operation"]) for j in journal if j["direction"] == "in"}
        assert {("psrm", "MFFordringIndberet"), ("psrm", "MFKvitteringHent"),
                ("fagsystem", "RegistrerDaekningAfskrivning")} <= inbound
        summary = admin(emu, "POST", "/scenario", "adm", accounts=[
            {"reference": "S-1", "cpr": "0101801234", "name": "Scenarie"}])
        assert summary["accounts"]
        soap.close()


# ---------------------------------------------------------------- oir serve beyond loopback


def test_check_bind() -> None:
    open_config = EmulatorConfig.from_env({})
    assert security.check_bind("127.0.0.1", open_config, insecure=False) is None
    assert security.check_bind("::1", open_config, insecure=False) is None
    assert security.check_bind("localhost", open_config, insecure=False) is None
    refusal = security.check_bind("0.0.0.0", open_config, insecure=False)
    assert refusal and "OIR_API_KEY or OIR_WSSE_USERS" in refusal and "OIR_ADMIN_TOKEN" in refusal
    assert security.check_bind("0.0.0.0", open_config, insecure=True) is None
    half = EmulatorConfig.from_env({"OIR_API_KEY": "k"})
    refusal = security.check_bind("10.0.0.5", half, insecure=False)
    assert refusal and "OIR_ADMIN_TOKEN" in refusal and "OIR_API_KEY" not in refusal
    weak = EmulatorConfig.from_env({"OIR_WSSE_USERS": "a:b", "OIR_ADMIN_TOKEN": "t"})
    refusal = security.check_bind("0.0.0.0", weak, insecure=False)
    assert refusal and "a strong OIR_ADMIN_TOKEN (at least 16 characters" in refusal
    assert "OIR_WSSE_USERS" not in refusal
    assert security.check_bind("127.0.0.1", weak, insecure=False) is None  # loopback: any
    full = EmulatorConfig.from_env({"OIR_WSSE_USERS": "a:b",
                                    "OIR_ADMIN_TOKEN": "0123456789abcdef"})
    assert security.check_bind("0.0.0.0", full, insecure=False) is None


def test_oir_serve_refuses_a_public_bind_without_auth(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OIR_")}
    done = subprocess.run([str(OIR), "serve", "--host", "0.0.0.0", "--port", str(port),
                           "--db", f"sqlite:///{tmp_path / 'x.sqlite3'}"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2
    assert "refusing to listen on 0.0.0.0" in done.stderr and "--insecure" in done.stderr
    assert not (tmp_path / "x.sqlite3").exists()


def test_a_served_emulator_with_auth_on_hands_over_through_its_own_checks(
        tmp_path: Path) -> None:
    """The real process (gunicorn, real sockets): own calls carry a digest token and a
    SAML assertion; callers without credentials are turned away."""
    env = {"OIR_WSSE_USERS": "emulator:pw-2", "OIR_ADMIN_TOKEN": "adm-2",
           "OIR_SAML_ISSUER": ISSUER, "OIR_SAML_SUBJECT": SUBJECT}
    with EmulatorProcess(tmp_path / "auth.sqlite3", env=env) as proc:
        bare = requests.post(f"{proc.url}{SEARCH}", data=envelope(search_body()),
                             headers={"Content-Type": "text/xml"}, timeout=30)
        assert bare.status_code == 500 and b"wsse:FailedAuthentication" in bare.content
        assert requests.get(f"{proc.url}/_admin/health", timeout=30).status_code == 401

        def admin_call(method: str, path: str, **body: Any) -> Any:
            r = requests.request(method, f"{proc.url}/_admin{path}",
                                 json=body if body or method != "GET" else None,
                                 headers=proc.admin_headers, timeout=60)
            assert r.status_code in (200, 201), r.text
            return r.json()

        soap = clients_for(proc.url, username="emulator", password="pw-2", digest=True)
        try:
            admin_call("PUT", "/clock", now="2026-03-02T10:00:00")
            number = soap.debitor_registrering.call(
                "OpretDebitorkonto", messages.opret_debitorkonto(
                    CALLER, reference="A-1", party=Party.cpr(CPR), name="M")).findtext(
                "DebitorkontoNummer")
            assert number
            assert soap.debitor_registrering.call("OpretFordring", messages.opret_fordring(
                CALLER, account_number=number, claim=spec(
                    principal="700.00", due_date=date(2026, 3, 3), srb=date(2026, 3, 4)))).ok
            admin_call("POST", "/clock/advance", days=6)
            konto = soap.debitor_forespoergsel.call("HentDebitorkonto",
                                                    messages.hent_debitorkonto(
                                                        CALLER, account_number=number))
            assert konto.findtext("Debitorkonto/FordringSamling/Fordring/PSRM/Status") == "UDFOERT"
            assert konto.findtext("Debitorkonto/FordringSamling/Fordring/PSRM/OverdragetBeloeb") == "700.00"
        finally:
            soap.close()


def test_a_saml_header_is_accepted_unchecked_by_default(tmp_path: Path) -> None:
    """Real PSRM senders put a SAML assertion in a mandatory wsse:Security header; with no
    issuer configured the PSRM end takes it without judging it."""
    header = security.security_header(security.saml_assertion("https://any.example/", "x"))
    header.set(f"{{{SOAP11_ENV_NS}}}mustUnderstand", "1")
    with in_process(tmp_path) as emu:
        assert emu.post_raw(PSRM, envelope(psrm_request(), header)).status_code == 200
