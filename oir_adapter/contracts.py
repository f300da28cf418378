"""The contracts: where the WSDLs and XSDs live, their namespaces, services and operations,
and schema validation (lxml on the hot path, xmlschema to explain a failure with paths).

``wsdl/`` and ``xsd/`` at the repository root are the single source of truth. A wheel
carries them inside the package as ``oir_adapter/contracts/``; an editable install reads
them from the checkout.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import xmlschema
from lxml import etree

OIR_NS = "http://serviceplatformen.dk/xml/schemas/OIR/Debitor/1/"
PSRM_NS = "http://skat.dk/begrebsmodel/2009/01/15/"
KONTEKST_NS = "http://skat.dk/begrebsmodel/xml/schemas/kontekst/2007/05/31/"
SOAP11_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV_NS = "http://www.w3.org/2003/05/soap-envelope"


def contracts_root() -> Path:
    """The folder holding ``wsdl/`` and ``xsd/``: packaged copy first, else the checkout."""
    packaged = Path(__file__).resolve().parent / "contracts"
    if (packaged / "xsd").is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent


def xsd_path(relative: str) -> Path:
    return contracts_root() / "xsd" / relative


def wsdl_path(relative: str) -> Path:
    return contracts_root() / "wsdl" / relative


@dataclass(frozen=True, slots=True)
class Operation:
    """One SOAP operation: its name, request and response element names, SOAPAction."""

    name: str
    request: str
    response: str
    service: Service

    @property
    def soap_action(self) -> str:
        return f"{self.service.wsdl_namespace}{self.name}"

    @property
    def namespace(self) -> str:
        return self.service.types_namespace


@dataclass(frozen=True, slots=True)
class Service:
    """One WSDL service mounted at one path of one end (``oir``, ``fagsystem``, ``psrm``)."""

    end: str
    name: str
    wsdl_namespace: str
    types_namespace: str
    xsd: str  # relative to xsd/
    path: str  # URL path where the service is mounted
    operation_rows: tuple[tuple[str, str, str], ...]

    @property
    def wsdl(self) -> str:
        """Path relative to ``wsdl/``."""
        return f"{self.end}/{self.name}.wsdl"

    @property
    def operations(self) -> tuple[Operation, ...]:
        return tuple(Operation(n, i, o, self) for n, i, o in self.operation_rows)

    def operation(self, name: str) -> Operation:
        for op in self.operations:
            if op.name == name:
                return op
        raise KeyError(f"{self.name} has no operation {name}")


def _oir(name: str, end: str, ops: tuple[tuple[str, str, str], ...]) -> Service:
    return Service(end, name, f"http://serviceplatformen.dk/xml/wsdl/soap11/OIR/{name}/1/", OIR_NS,
                   "oir/Debitor.xsd", f"/{end}/{name}/1", ops)


def _psrm(name: str) -> Service:
    return Service("psrm", name, f"http://skat.dk/psrm/wsdl/soap11/{name}/1/", PSRM_NS,
                   "psrm/MF.xsd", f"/psrm/{name}/1", ((name, f"{name}_I", f"{name}_O"),))


def _req(op: str) -> tuple[str, str, str]:
    return (op, f"{op}Request", f"{op}Response")


SERVICES: tuple[Service, ...] = (
    _oir("DebitorRegistrering", "oir",
         (_req("OpretDebitorkonto"), _req("OpretFordring"), _req("RetFordringTilstand"))),
    _oir("DebitorForespoergsel", "oir", (_req("SoegDebitorkonto"), _req("HentDebitorkonto"))),
    _oir("DebitorIndbetaling", "oir",
         (_req("ForetagIndbetaling"), _req("SoegDelfordringTilIndbetaling"))),
    _oir("DebitorModregning", "oir", (_req("ForetagModregning"),)),
    _oir("DaekningAfskrivningRegistrering", "fagsystem", (_req("RegistrerDaekningAfskrivning"),)),
    _psrm("MFFordringIndberet"),
    _psrm("MFKvitteringHent"),
    _psrm("MFUnderretSamlingHent"),
)


def service(name: str) -> Service:
    for s in SERVICES:
        if s.name == name:
            return s
    raise KeyError(f"no service {name}")


def operations() -> Iterator[Operation]:
    for s in SERVICES:
        yield from s.operations


def operation_for_element(qname: str) -> tuple[Operation, bool] | None:
    """Find the operation whose request (``True``) or response (``False``) is ``{ns}name``."""
    for op in operations():
        if qname == f"{{{op.namespace}}}{op.request}":
            return op, True
        if qname == f"{{{op.namespace}}}{op.response}":
            return op, False
    return None


# ---------------------------------------------------------------- parsing and validation

def safe_parser(*, huge_tree: bool = False, keep_comments: bool = False) -> etree.XMLParser:
    """A parser for anything that crosses a trust boundary: no DTDs, no entities, no
    network.

    Comments and processing instructions are dropped while parsing, so a value split by
    one (``<Beloeb>1<!-- -->00.00</Beloeb>``) reads as the one text the schema validates
    (``100.00``): an element's ``.text`` is then all of its text, and what is checked is
    what is booked. ``keep_comments`` keeps both, for showing a message as it was sent.
    """
    return etree.XMLParser(resolve_entities=False, no_network=True, dtd_validation=False,
                           load_dtd=False, huge_tree=huge_tree, remove_blank_text=False,
                           remove_comments=not keep_comments, remove_pis=not keep_comments)


_SCHEMA_FILES = {OIR_NS: "oir/Debitor.xsd", PSRM_NS: "psrm/MF.xsd"}


#: Compiling is serialised: libxml2 fails (XMLSchemaParseError) when several threads
#: compile the same schema at once, as the threads of a fresh server worker would.
_compile_lock = threading.Lock()


@cache
def _lxml_schema(namespace: str) -> etree.XMLSchema:
    doc = etree.parse(str(xsd_path(_SCHEMA_FILES[namespace])))
    return etree.XMLSchema(doc)


def lxml_schema(namespace: str) -> etree.XMLSchema:
    """The compiled lxml schema for a message namespace (ØIR or PSRM), compiled once."""
    with _compile_lock:
        return _lxml_schema(namespace)


@cache
def _explaining_schema(namespace: str) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(xsd_path(_SCHEMA_FILES[namespace])))


def explaining_schema(namespace: str) -> xmlschema.XMLSchema:
    """The xmlschema schema for the same namespace: slower, but names each error's path."""
    with _compile_lock:
        return _explaining_schema(namespace)


@dataclass(frozen=True, slots=True)
class SchemaViolation:
    """One schema error: where (XPath-like path, line) and what."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path} (line {self.line})" if self.line else self.path
        return f"{where}: {self.message}"


def validate_element(element: etree._Element) -> list[SchemaViolation]:
    """Validate a message body element against its schema; return every violation.

    The fast lxml check runs first; only when it fails does xmlschema walk the document
    to name every error with its path.
    """
    namespace = etree.QName(element).namespace
    if namespace not in _SCHEMA_FILES:
        return [SchemaViolation(f"/{etree.QName(element).localname}",
                                f"namespace {namespace!r} is not a known message namespace",
                                getattr(element, "sourceline", None))]
    schema = lxml_schema(namespace)
    if schema.validate(element):
        return []
    return explain(element, fallback=schema.error_log)


def explain(element: etree._Element, fallback: object = None) -> list[SchemaViolation]:
    """All schema violations of ``element`` with their paths, through xmlschema."""
    namespace = etree.QName(element).namespace or ""
    out: list[SchemaViolation] = []
    try:
        for err in explaining_schema(namespace).iter_errors(element):
            elem = err.elem
            line = getattr(elem, "sourceline", None) if elem is not None else None
            line = line if isinstance(line, int) else None
            out.append(SchemaViolation(err.path or "/", err.reason or str(err), line))
    except Exception as exc:  # xmlschema cannot walk it: fall back to lxml's log
        out.append(SchemaViolation("/", f"cannot explain schema errors: {exc}"))
    if not out and fallback is not None:
        for entry in fallback:  # type: ignore[attr-defined]
            out.append(SchemaViolation(entry.path or "/", entry.message, entry.line))
    return out
