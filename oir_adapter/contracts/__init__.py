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
from typing import TYPE_CHECKING

from lxml import etree

if TYPE_CHECKING:
    import xmlschema

OIR_NS = "http://serviceplatformen.dk/xml/schemas/OIR/Debitor/1/"
PSRM_NS = "http://skat.dk/begrebsmodel/2009/01/15/"
KONTEKST_NS = "http://skat.dk/begrebsmodel/xml/schemas/kontekst/2007/05/31/"
SOAP11_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV_NS = "http://www.w3.org/2003/05/soap-envelope"
#: The detail of every SOAP fault the services answer with (``Violations``), declared as
#: each operation's ``wsdl:fault`` and served under ``/xsd/``.
FAULT_NS = "urn:oir-adapter:fault:1"
FAULT_XSD = "fault/Fault.xsd"  # relative to xsd/
FAULT_ELEMENT = "Violations"


def contracts_root() -> Path:
    """The folder holding ``wsdl/`` and ``xsd/``: packaged copy first, else the checkout."""
    packaged = Path(__file__).resolve().parent
    if (packaged / "xsd").is_dir():
        return packaged
    return packaged.parent.parent


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
    def soap_actions(self) -> tuple[str, ...]:
        """Every SOAPAction the operation is known by: the WSDL's first, then the one each
        earlier name of the service gave it (a client generated from the earlier WSDL is
        still answered while the alias lasts)."""
        own = self.service.wsdl_namespace
        earlier = (own.replace(f"/{self.service.name}/", f"/{alias}/") + self.name
                   for alias in self.service.aliases)
        return tuple(dict.fromkeys((self.soap_action, *earlier)))

    @property
    def namespace(self) -> str:
        return self.service.types_namespace

    @property
    def published(self) -> str | None:
        """The published name of the operation, as its source spells it (with æ, ø, å), or
        ``None`` when the operation is this project's modelling."""
        return dict(self.service.published_operations).get(self.name)


@dataclass(frozen=True, slots=True)
class Service:
    """One WSDL service mounted at one path of one end (``oir``, ``fagsystem``, ``psrm``).

    ``source`` names where the service's name and path are published (``None``: the
    service is this project's modelling); ``published_operations`` maps each operation
    whose name is published to the name as published. ``aliases`` are earlier names and
    ``alias_paths`` earlier paths, still served for one release.
    """

    end: str
    name: str
    wsdl_namespace: str
    types_namespace: str
    xsd: str  # relative to xsd/
    path: str  # URL path where the service is mounted
    operation_rows: tuple[tuple[str, str, str], ...]
    source: str | None = None
    published_operations: tuple[tuple[str, str], ...] = ()  # (wire name, published name)
    aliases: tuple[str, ...] = ()
    alias_paths: tuple[str, ...] = ()

    @property
    def wsdl(self) -> str:
        """Path relative to ``wsdl/``."""
        return f"{self.end}/{self.name}.wsdl"

    @property
    def paths(self) -> tuple[str, ...]:
        """Every path the service answers at: its own first, then its aliases."""
        return (self.path, *self.alias_paths)

    @property
    def operations(self) -> tuple[Operation, ...]:
        return tuple(Operation(n, i, o, self) for n, i, o in self.operation_rows)

    def operation(self, name: str) -> Operation:
        for op in self.operations:
            if op.name == name:
                return op
        raise KeyError(f"{self.name} has no operation {name}")


def transliterate(name: str) -> str:
    """A published Danish name as it is spelled on the wire: æ → ae, ø → oe, å → aa.

    SOAPAction must be US-ASCII (a Serviceplatformen rule), and Serviceplatformen spells
    its own paths the same way (``DaekningAfskrivningRegistreringAfsend`` for
    ``DækningAfskrivningRegistreringAfsend``), so every ØIR wire name is spelled so."""
    table = str.maketrans({"æ": "ae", "ø": "oe", "å": "aa", "Æ": "Ae", "Ø": "Oe", "Å": "Aa"})
    return name.translate(table)


#: Where the published ØIR names come from: Serviceplatformen's service overview pages
#: (the digitaliseringskataloget.dk catalogue) and KOMBIT's ØIR pages (kombit.dk).
SF1590_B_01 = ("Serviceplatformen SF1590_B_01 DebitorRegistreringAfsend v1.1 (provider "
               "side ModtagDebitorregistreringStraksleverance v3.0)")
SF1590_B_02 = "Serviceplatformen SF1590_B_02 Afsend DebitorForespørgsel v3.10"
SF1590_B_03 = "Serviceplatformen SF1590_B_03 DebitorIndbetalingAfsend v1.0"
SF1590_B_04 = "Serviceplatformen SF1590_B_04 DebitorkontoAnmodningAfsend v1.0"
DAEKNING_AFSEND = "Serviceplatformen DækningAfskrivningRegistreringAfsend v1.1"

#: The nine end-date operations of SF1590_B_01, as published.
END_DATE_OPERATIONS: tuple[str, ...] = (
    "AfslutGældendeAdresseAdministrator", "AfslutGældendeAdresseJuridiskAnsvarlig",
    "AfslutGældendeAdresseJuridiskMedhæfter", "AfslutHæftelse", "AfslutLigestillingspartner",
    "AfslutAdministrator", "AfslutMaterialeabonnementAdministrator",
    "AfslutMaterialeabonnementJuridiskAnsvarlig",
    "AfslutMaterialeabonnementJuridiskMedhæfter",
)


def _oir(name: str, end: str, ops: tuple[tuple[str, str, str], ...], *, was: str | None,
         source: str | None, published: tuple[str, ...] = ()) -> Service:
    """An ØIR service at Serviceplatformen's path ``/service/OIR/<name>/1``; ``was``: the
    name it had before, whose path ``/<end>/<was>/1`` stays as an alias; ``published``:
    the operations whose names are published, as published."""
    return Service(end, name, f"http://serviceplatformen.dk/xml/wsdl/soap11/OIR/{name}/1/", OIR_NS,
                   "oir/Debitor.xsd", f"/service/OIR/{name}/1", ops, source,
                   tuple((transliterate(p), p) for p in published),
                   (was,) if was else (), (f"/{end}/{was}/1",) if was else ())


def _psrm(name: str) -> Service:
    return Service("psrm", name, f"http://skat.dk/psrm/wsdl/soap11/{name}/1/", PSRM_NS,
                   "psrm/MF.xsd", f"/psrm/{name}/1", ((name, f"{name}_I", f"{name}_O"),),
                   "PSRM fordringshaver system-to-system interface (NyMF)", ((name, name),))


def _req(op: str) -> tuple[str, str, str]:
    return (op, f"{op}Request", f"{op}Response")


SERVICES: tuple[Service, ...] = (
    _oir("DebitorRegistreringAfsend", "oir",
         (_req("OpretDebitorkonto"), _req("OpretFordring"), _req("RetFordringTilstand"),
          *(_req(transliterate(op)) for op in END_DATE_OPERATIONS)),
         was="DebitorRegistrering", source=SF1590_B_01,
         published=("OpretDebitorkonto", "RetFordringTilstand", *END_DATE_OPERATIONS)),
    _oir("DebitorForespoergselAfsend", "oir",
         (_req("SoegDebitorkonto"), _req("HentDebitorkonto")),
         was="DebitorForespoergsel", source=SF1590_B_02),
    _oir("DebitorIndbetalingAfsend", "oir",
         (_req("ForetagIndbetaling"), _req("SoegDelfordringTilIndbetaling")),
         was="DebitorIndbetaling", source=SF1590_B_03,
         published=("ForetagIndbetaling", "SøgDelfordringTilIndbetaling")),
    _oir("DebitorkontoAnmodningAfsend", "oir", (_req("OpretDebitorkontoAnmodning"),),
         was=None, source=SF1590_B_04),
    _oir("DebitorModregning", "oir", (_req("ForetagModregning"),),
         was="DebitorModregning", source=None),
    _oir("DaekningAfskrivningRegistreringAfsend", "fagsystem",
         (_req("RegistrerDaekningAfskrivning"), _req("RegistrerDebitorkontoStatus"),
          _req("FordringTilIndbetaling")),
         was="DaekningAfskrivningRegistrering", source=DAEKNING_AFSEND,
         published=("FordringTilIndbetaling",)),  # the message type, published with SF1590_B_03
    _psrm("MFFordringIndberet"),
    _psrm("MFKvitteringHent"),
    _psrm("MFUnderretSamlingHent"),
)


def service(name: str) -> Service:
    """The service by its name, or by a name it had before (``DebitorRegistrering``)."""
    for s in SERVICES:
        if s.name == name:
            return s
    for s in SERVICES:
        if name in s.aliases:
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
    # imported on the first failure it explains: xmlschema and elementpath are ~11 MB in
    # each server worker, which valid messages never need
    import xmlschema

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


def thread_xpath(expression: str) -> etree.XPath:
    """``expression`` compiled once per thread: lxml locks an XPath evaluator around every
    evaluation, so one shared by a server's threads made them queue on every request."""
    compiled: dict[str, etree.XPath] | None = getattr(_per_thread, "xpaths", None)
    if compiled is None:
        compiled = _per_thread.xpaths = {}
    found = compiled.get(expression)
    if found is None:
        found = compiled[expression] = etree.XPath(expression)
    return found


def _count(element: etree._Element) -> int:
    """How many elements ``element`` holds, itself included (counted in C)."""
    found = thread_xpath("count(descendant-or-self::*)")(element)
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
        root = _indexed_path(element, element)
        log: etree._ListErrorLog = parser.error_log
        entries = [SchemaViolation(root, e.message) for e in log[:MAX_VIOLATIONS + 1]]
        return _bounded(entries or [SchemaViolation(root, str(exc))], more=False)
    return None


def _located(element: etree._Element, log: etree._ListErrorLog) -> Violations:
    """libxml2's violations (a document too large for xmlschema), each with its line and
    the path of the element it names (see :func:`_indexed_path`), at most
    :data:`MAX_VIOLATIONS`."""
    out: list[SchemaViolation] = []
    entries = list(log)
    for entry in entries[:MAX_VIOLATIONS]:
        path = _indexed_path(element, element)
        # lxml validated ``element`` as the root of a document: the path's first step is
        # ``element`` itself (``/*/*[5]/*[15]/*[2]``)
        steps = _FIRST_STEP.match(entry.path or "")
        found = element.xpath("self::*" + steps.group(1)) if steps else []
        if found and isinstance(found, list) and isinstance(found[0], etree._Element):
            path = _indexed_path(element, found[0])
        out.append(SchemaViolation(path, entry.message, entry.line or None))
    return _bounded(out, more=len(entries) > MAX_VIOLATIONS)


_FIRST_STEP = re.compile(r"^/[^/]+((?:/[^/]+)*)$")
_STEP = re.compile(r"(?:\{([^}]*)\})?([^/{}]+)")  # ``{uri}name[n]`` → uri, ``name[n]``


def _indexed_path(top: etree._Element, node: etree._Element) -> str:
    """``/oir:OpretFordringRequest/oir:Fordring/oir:DelfordringSamling/oir:Delfordring[3]/
    oir:Beloeb``: ``node`` from ``top`` on with the schema's own prefixes, as
    :func:`schema_path` writes them, and, where an element has siblings of its name, its
    position among them (libxml2 counts them in C: a large document has many)."""
    by_uri = {uri: prefix for prefix, uri in
              own_prefixes(etree.QName(top).namespace or "").items()}
    first = etree.QName(top)
    if node is top:
        return "/" + _step(first.namespace, first.localname, by_uri)
    below_root = [_step(uri, name, by_uri)
                  for uri, name in _STEP.findall(top.getroottree().getelementpath(node))]
    depth = sum(1 for _ in top.iterancestors())
    steps = ([_step(first.namespace, first.localname, by_uri), *below_root] if depth == 0
             else below_root[depth - 1:])
    return "/" + "/".join(steps)


def _step(uri: str | None, name: str, by_uri: dict[str, str]) -> str:
    """One step of a path: ``prefix:name`` with the schema's own prefix, ``{uri}name`` in
    a namespace the schema does not name, ``name`` in none."""
    if not uri:
        return name
    return f"{by_uri[uri]}:{name}" if uri in by_uri else f"{{{uri}}}{name}"


def explain(element: etree._Element, fallback: object = None) -> Violations:
    """The schema violations of ``element`` with their paths, through xmlschema: at most
    :data:`MAX_VIOLATIONS` (listing every violation of a long document cost quadratic
    time).

    Paths and messages do not depend on the prefixes the sender chose: the element is
    explained as a copy written with the schema's own prefixes (see :func:`schema_path`),
    and each violation keeps the line of the sender's element it points at."""
    namespace = etree.QName(element).namespace or ""
    out: list[SchemaViolation] = []
    more = False
    try:
        schema = explaining_schema(namespace)
        prefixes = own_prefixes(namespace)
        copy, origin = _with_prefixes(element, prefixes)
        for err in schema.iter_errors(copy, namespaces=prefixes):
            if len(out) == MAX_VIOLATIONS:
                more = True
                break
            elem = err.elem
            if isinstance(elem, etree._Element):
                path = schema_path(elem, prefixes)
                line = getattr(origin.get(elem), "sourceline", None)
            else:
                path, line = err.path or "/", None
            out.append(SchemaViolation(path, err.reason or str(err),
                                       line if isinstance(line, int) else None))
    except Exception as exc:  # xmlschema cannot walk it: fall back to lxml's log
        out.append(SchemaViolation("/", f"cannot explain schema errors: {exc}"))
    if not out and fallback is not None:
        for entry in fallback:  # type: ignore[attr-defined]
            out.append(SchemaViolation(entry.path or "/", entry.message, entry.line))
    return _bounded(out, more)


@cache
def _own_prefixes(namespace: str) -> tuple[tuple[str, str], ...]:
    declared = explaining_schema(namespace).namespaces
    return tuple((p, uri) for p, uri in declared.items() if p and uri and p not in ("xml", "xs"))


def own_prefixes(namespace: str) -> dict[str, str]:
    """The prefixes the schema of a message namespace declares for itself and its imports
    (``oir`` for ØIR; ``mf`` and ``k`` for PSRM): prefix → namespace."""
    return dict(_own_prefixes(namespace))


def schema_path(element: etree._Element, prefixes: dict[str, str]) -> str:
    """``/oir:OpretFordringRequest/oir:Fordring/oir:Hovedstol``: the element's path from
    the message element, each step with the schema's own prefix; an element of another
    namespace in Clark notation (``{urn:x}Name``), one in no namespace by its bare name."""
    by_uri = {uri: prefix for prefix, uri in prefixes.items()}
    steps: list[str] = []
    node: etree._Element | None = element
    while node is not None and isinstance(node.tag, str):
        qname = etree.QName(node)
        steps.append(_step(qname.namespace, qname.localname, by_uri))
        node = node.getparent()
    return "/" + "/".join(reversed(steps))


def _with_prefixes(element: etree._Element, prefixes: dict[str, str]
                   ) -> tuple[etree._Element, dict[etree._Element, etree._Element]]:
    """A copy of ``element`` (elements, attributes, text) declaring ``prefixes`` at its
    root, and a map from each copied element back to its original."""
    origin: dict[etree._Element, etree._Element] = {}

    def copy(source: etree._Element, parent: etree._Element | None) -> None:
        made = (etree.Element(source.tag, nsmap=prefixes) if parent is None
                else etree.SubElement(parent, source.tag))
        for key, value in source.attrib.items():
            made.set(key, value)
        made.text = source.text
        made.tail = source.tail if parent is not None else None
        origin[made] = source
        for child in source:
            if isinstance(child.tag, str):
                copy(child, made)
        if parent is None:
            roots.append(made)

    roots: list[etree._Element] = []
    copy(element, None)
    return roots[0], origin
