"""The contracts: where the WSDLs and XSDs live, their namespaces, services and operations,
and schema validation (lxml on the hot path, xmlschema to explain a failure with paths).

``wsdl/`` and ``xsd/`` at the repository root are the single source of truth. A wheel
carries them inside the package as ``oir_adapter/contracts/``; an editable install reads
them from the checkout.
"""

from __future__ import annotations

import re
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


_per_thread = threading.local()


def lxml_schema(namespace: str) -> etree.XMLSchema:
    """The compiled lxml schema for a message namespace (ØIR or PSRM), compiled once per
    thread (~5 ms): a schema keeps the errors of its last validation in its own
    ``error_log``, so threads validating at once with one schema read each other's."""
    compiled: dict[str, etree.XMLSchema] | None = getattr(_per_thread, "schemas", None)
    if compiled is None:
        compiled = _per_thread.schemas = {}
    schema = compiled.get(namespace)
    if schema is None:
        with _compile_lock:
            doc = etree.parse(str(xsd_path(_SCHEMA_FILES[namespace])))
            schema = compiled[namespace] = etree.XMLSchema(doc)
    return schema


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


#: A fault lists at most this many violations; the rest are counted as "more".
MAX_VIOLATIONS = 50
#: Up to this many elements, xmlschema explains a failure (paths with prefixes, every
#: violation): it walks the document in Python, ~40 µs an element.
EXPLAIN_ELEMENTS = 5_000
#: Up to this many elements, libxml2 validates the tree itself. Beyond, a document with
#: many violations costs quadratic time there (lxml records each violation's node path,
#: counting the node's preceding siblings: 66 000 bad siblings took 10 s), so a larger one
#: is first validated while being re-parsed, which records no paths and stays linear.
DIRECT_ELEMENTS = 20_000


class Violations(list[SchemaViolation]):
    """Schema violations in document order. ``complete`` is False when listing stopped at
    :data:`MAX_VIOLATIONS` and there are more."""

    complete: bool = True


def validate_element(element: etree._Element) -> Violations:
    """Validate a message body element against its schema; return its violations (at
    most :data:`MAX_VIOLATIONS`, see :class:`Violations`).

    The fast lxml check runs first; only when it fails does xmlschema walk a small
    document to name every error with its path. The work is bounded for any document
    under the request limits: linear in its size, never in the number of violations.
    """
    namespace = etree.QName(element).namespace
    if namespace not in _SCHEMA_FILES:
        return Violations([SchemaViolation(
            f"/{etree.QName(element).localname}",
            f"namespace {namespace!r} is not a known message namespace",
            getattr(element, "sourceline", None))])
    schema = lxml_schema(namespace)
    size = _count(element)
    if size > DIRECT_ELEMENTS:
        found = _streamed_violations(schema, element)
        if found is None:
            return Violations()
        if not found.complete:
            return found  # too many to locate each: libxml2's words, without paths
    if schema.validate(element):
        return Violations()
    if size <= EXPLAIN_ELEMENTS:
        return explain(element, fallback=schema.error_log)
    return _located(element, schema.error_log)


_COUNT = etree.XPath("count(descendant-or-self::*)")


def _count(element: etree._Element) -> int:
    """How many elements ``element`` holds, itself included (counted in C)."""
    found = _COUNT(element)
    return int(found) if isinstance(found, float) else 0


def _bounded(items: list[SchemaViolation], more: bool) -> Violations:
    out = Violations(items[:MAX_VIOLATIONS])
    out.complete = not more and len(items) <= MAX_VIOLATIONS
    return out


def _streamed_violations(schema: etree.XMLSchema, element: etree._Element
                         ) -> Violations | None:
    """Validate ``element`` while re-parsing it (linear: no node paths are recorded); None
    when it is valid, else libxml2's messages, at most :data:`MAX_VIOLATIONS`. (The
    parser's own log: the exception's is the thread's, which keeps earlier errors.)"""
    parser = etree.XMLParser(schema=schema, resolve_entities=False, no_network=True,
                             load_dtd=False)
    try:
        etree.fromstring(etree.tostring(element, encoding="UTF-8"), parser)
    except etree.XMLSyntaxError as exc:
        root = f"/{etree.QName(element).localname}"
        log: etree._ListErrorLog = parser.error_log
        entries = [SchemaViolation(root, e.message) for e in log[:MAX_VIOLATIONS + 1]]
        return _bounded(entries or [SchemaViolation(root, str(exc))], more=False)
    return None


def _located(element: etree._Element, log: etree._ListErrorLog) -> Violations:
    """libxml2's violations (a document too large for xmlschema), each with its line and
    the path of the element it names (prefix-free), at most :data:`MAX_VIOLATIONS`."""
    out: list[SchemaViolation] = []
    entries = list(log)
    for entry in entries[:MAX_VIOLATIONS]:
        path = f"/{etree.QName(element).localname}"
        # lxml validated ``element`` as the root of a document: the path's first step is
        # ``element`` itself (``/*/*[5]/*[15]/*[2]``)
        steps = _FIRST_STEP.match(entry.path or "")
        found = element.xpath("self::*" + steps.group(1)) if steps else []
        if found and isinstance(found, list) and isinstance(found[0], etree._Element):
            path = _local_path(element, found[0])
        out.append(SchemaViolation(path, entry.message, entry.line or None))
    return _bounded(out, more=len(entries) > MAX_VIOLATIONS)


_FIRST_STEP = re.compile(r"^/[^/]+((?:/[^/]+)*)$")
_STEP = re.compile(r"(?:\{[^}]*\})?([^/{}]+)")  # ``{uri}name[n]`` → ``name[n]``


def _local_path(top: etree._Element, node: etree._Element) -> str:
    """``/Request/Fordring/Delfordring[3]/Beloeb``: ``node`` from ``top`` on, local names."""
    if node is top:
        return f"/{etree.QName(top).localname}"
    below_root = _STEP.findall(top.getroottree().getelementpath(node))
    depth = sum(1 for _ in top.iterancestors())
    steps = [etree.QName(top).localname, *below_root] if depth == 0 else below_root[depth - 1:]
    return "/" + "/".join(steps)


def explain(element: etree._Element, fallback: object = None) -> Violations:
    """The schema violations of ``element`` with their paths, through xmlschema: at most
    :data:`MAX_VIOLATIONS` (xmlschema finds each path by walking the tree from its root,
    so listing every violation of a long document cost quadratic time)."""
    namespace = etree.QName(element).namespace or ""
    out: list[SchemaViolation] = []
    more = False
    try:
        for err in explaining_schema(namespace).iter_errors(element):
            if len(out) == MAX_VIOLATIONS:
                more = True
                break
            elem = err.elem
            line = getattr(elem, "sourceline", None) if elem is not None else None
            line = line if isinstance(line, int) else None
            out.append(SchemaViolation(err.path or "/", err.reason or str(err), line))
    except Exception as exc:  # xmlschema cannot walk it: fall back to lxml's log
        out.append(SchemaViolation("/", f"cannot explain schema errors: {exc}"))
    if not out and fallback is not None:
        for entry in fallback:  # type: ignore[attr-defined]
            out.append(SchemaViolation(entry.path or "/", entry.message, entry.line))
    return _bounded(out, more)
