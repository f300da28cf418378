"""``GET <endpoint>?wsdl`` on every service: the WSDL with its address (and schema
locations) rewritten to the host called, loadable by zeep straight from the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import zeep
from lxml import etree

from oir_adapter.contracts import SERVICES, Service
from tests.emulator_inproc import InProcessEmulator, live_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, InProcessEmulator]]:
    with live_server(tmp_path_factory.mktemp("wsdl"),
                     allowed_hosts=("debitor.example.test", "oir.kommune.example")) as pair:
        yield pair


PATHS = [(svc, path) for svc in SERVICES for path in svc.paths]


@pytest.mark.parametrize(("svc", "path"), PATHS, ids=[p for _, p in PATHS])
def test_wsdl_is_served_with_the_callers_address(server: tuple[str, InProcessEmulator],
                                                 svc: Service, path: str) -> None:
    """On the service's own path and on each earlier path kept as an alias: the address
    is the path that was called, so a client keeps talking where it found the WSDL."""
    url, _emu = server
    client = zeep.Client(f"{url}{path}?wsdl")  # zeep fetches WSDL and XSD over HTTP
    (wsdl_service,) = client.wsdl.services.values()
    assert wsdl_service.name == f"{svc.name}Service"
    (port,) = wsdl_service.ports.values()
    assert port.name == f"{svc.name}Port"
    assert port.binding_options["address"] == f"{url}{path}"
    assert sorted(port.binding._operations) == sorted(op.name for op in svc.operations)


def test_oir_services_answer_at_serviceplatformen_paths_and_the_earlier_ones() -> None:
    oir = {s.name: s.paths for s in SERVICES if s.end != "psrm"}
    assert oir == {
        "DebitorRegistreringAfsend": ("/service/OIR/DebitorRegistreringAfsend/1",
                                      "/oir/DebitorRegistrering/1"),
        "DebitorForespoergselAfsend": ("/service/OIR/DebitorForespoergselAfsend/1",
                                       "/oir/DebitorForespoergsel/1"),
        "DebitorIndbetalingAfsend": ("/service/OIR/DebitorIndbetalingAfsend/1",
                                     "/oir/DebitorIndbetaling/1"),
        "DebitorkontoAnmodningAfsend": ("/service/OIR/DebitorkontoAnmodningAfsend/1",),
        "DebitorModregning": ("/service/OIR/DebitorModregning/1", "/oir/DebitorModregning/1"),
        "DaekningAfskrivningRegistreringAfsend": (
            "/service/OIR/DaekningAfskrivningRegistreringAfsend/1",
            "/fagsystem/DaekningAfskrivningRegistrering/1"),
    }


def test_wsdl_address_follows_the_host_header(server: tuple[str, InProcessEmulator]) -> None:
    """For a name the emulator serves (OIR_ALLOWED_HOSTS); any other is refused
    (tests/test_web_guard.py)."""
    _url, emu = server
    response = emu.http.get("/oir/DebitorRegistrering/1?wsdl",
                            headers={"Host": "debitor.example.test:9443"})
    doc = etree.fromstring(response.data)
    address = doc.find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address is not None
    assert address.get("location") == "http://debitor.example.test:9443/oir/DebitorRegistrering/1"


def test_xsd_paths_cannot_escape_the_contract_folder(server: tuple[str, InProcessEmulator]
                                                     ) -> None:
    _url, emu = server
    assert emu.http.get("/xsd/oir/Debitor.xsd").status_code == 200
    for bad in ("/xsd/../pyproject.toml", "/xsd/%2e%2e/%2e%2e/etc/passwd", "/xsd/oir/x.py"):
        assert emu.http.get(bad).status_code == 404


def test_wsdl_files_on_disk_are_untouched(tmp_path: Path) -> None:
    from oir_adapter.contracts import wsdl_path

    text = wsdl_path("oir/DebitorRegistreringAfsend.wsdl").read_text(encoding="utf-8")
    assert "http://localhost:8080/service/OIR/DebitorRegistreringAfsend/1" in text


# ---------------------------------------------------------------- behind a reverse proxy

REG = "/service/OIR/DebitorRegistreringAfsend/1"


def _location(emu: InProcessEmulator, peer: str, headers: dict[str, str], path: str = REG
              ) -> str | None:
    response = emu.http.get(f"{path}?wsdl", headers=headers, environ_base={"REMOTE_ADDR": peer})
    doc = etree.fromstring(response.data)
    address = doc.find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address is not None
    for imp in doc.iter("{http://www.w3.org/2001/XMLSchema}import"):
        # the schemas are fetched through the same proxy
        assert str(imp.get("schemaLocation")).startswith(
            str(address.get("location")).removesuffix(path))
    return address.get("location")


PROXIED = {"Host": "10.1.2.3:8080", "X-Forwarded-Proto": "https",
           "X-Forwarded-Host": "oir.kommune.example, inner.example", "X-Forwarded-Port": "8443"}


def test_wsdl_honours_forwarded_host_and_port_from_a_trusted_proxy(
        server: tuple[str, InProcessEmulator]) -> None:
    _url, emu = server
    assert _location(emu, "127.0.0.1", PROXIED) == \
        f"https://oir.kommune.example:8443{REG}"
    # on an earlier path kept as an alias too
    assert _location(emu, "127.0.0.1", PROXIED, "/oir/DebitorRegistrering/1") == \
        "https://oir.kommune.example:8443/oir/DebitorRegistrering/1"
    # the scheme's own port is left out; no X-Forwarded-Port keeps the forwarded host's
    assert _location(emu, "::1", {**PROXIED, "X-Forwarded-Port": "443"}) == \
        f"https://oir.kommune.example{REG}"
    assert _location(emu, "127.0.0.1", {"Host": "10.1.2.3:8080",
                                        "X-Forwarded-Host": "oir.kommune.example:9000"}) == \
        f"http://oir.kommune.example:9000{REG}"
    # a forwarded host that is no host name is not believed
    assert _location(emu, "127.0.0.1", {"Host": "10.1.2.3:8080",
                                        "X-Forwarded-Host": "evil.example/x?"}) == \
        f"http://10.1.2.3:8080{REG}"
    # one the emulator does not serve is refused, as Host would be (OIR_ALLOWED_HOSTS)
    refused = emu.http.get(f"{REG}?wsdl",
                           headers={**PROXIED, "X-Forwarded-Host": "evil.example"},
                           environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert refused.status_code == 400 and b"evil.example" in refused.data


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(
        server: tuple[str, InProcessEmulator]) -> None:
    _url, emu = server
    assert _location(emu, "192.0.2.7", PROXIED) == f"http://10.1.2.3:8080{REG}"


def test_trusted_proxies_are_configurable(tmp_path: Path) -> None:
    from emulator.config import EmulatorConfig
    from tests.emulator_inproc import in_process

    config = EmulatorConfig.from_env({"OIR_TRUSTED_PROXIES": "10.0.0.0/8"})
    assert config.trusted_proxies == ("10.0.0.0/8",)
    with in_process(tmp_path, trusted_proxies=config.trusted_proxies,
                    allowed_hosts=("oir.kommune.example",)) as emu:
        assert _location(emu, "10.20.30.40", PROXIED) == \
            f"https://oir.kommune.example:8443{REG}"
        assert _location(emu, "127.0.0.1", PROXIED) == \
            f"http://10.1.2.3:8080{REG}"
    assert EmulatorConfig.from_env({"OIR_TRUSTED_PROXIES": "none"}).trusted_proxies == ()
    with pytest.raises(ValueError, match="OIR_TRUSTED_PROXIES: 'proxy.local' is not"):
        EmulatorConfig.from_env({"OIR_TRUSTED_PROXIES": "127.0.0.1, proxy.local"})
