"""``GET <endpoint>?wsdl`` on every service: the WSDL with its address (and schema
locations) rewritten to the host called, loadable by zeep straight from the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import zeep
from lxml import etree

from oir_adapter.contracts import SERVICES, Service

from .emulator_inproc import InProcessEmulator, live_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, InProcessEmulator]]:
    with live_server(tmp_path_factory.mktemp("wsdl"),
                     allowed_hosts=("debitor.example.test",)) as pair:
        yield pair


@pytest.mark.parametrize("svc", SERVICES, ids=lambda s: s.name)
def test_wsdl_is_served_with_the_callers_address(server: tuple[str, InProcessEmulator],
                                                 svc: Service) -> None:
    url, _emu = server
    client = zeep.Client(f"{url}{svc.path}?wsdl")  # zeep fetches WSDL and XSD over HTTP
    port = next(iter(next(iter(client.wsdl.services.values())).ports.values()))
    assert port.binding_options["address"] == f"{url}{svc.path}"
    assert sorted(port.binding._operations) == sorted(op.name for op in svc.operations)


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

    text = wsdl_path("oir/DebitorRegistrering.wsdl").read_text(encoding="utf-8")
    assert "http://localhost:8080/oir/DebitorRegistrering/1" in text
