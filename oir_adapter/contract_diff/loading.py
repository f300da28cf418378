"""Reading a folder of WSDL and XSD files with ``xmlschema`` into what is compared.

Every ``.wsdl`` is read as a WSDL 1.1 document (its SOAP bindings give each operation's
SOAPAction, style, body use and message elements; its schemas are built with it) and every
``.xsd`` as a schema. Imports are followed on the local disk only — nothing is fetched
over the network. The global elements of the folder's own schemas become trees of
:class:`~.model.Node`: name, namespace, cardinality, the built-in type a simple type
restricts with its facets and enumeration, and the children of complex content in order.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import xmlschema
from lxml import etree
from xmlschema import XMLSchemaImportWarning
from xmlschema.extras.wsdl import Wsdl11Document
from xmlschema.validators import XsdElement

from .model import ContractError, ContractSet, Node, OperationSpec, Simple

XS = "http://www.w3.org/2001/XMLSchema"
_SUFFIXES = (".wsdl", ".xsd")
#: how deep a tree is expanded (a recursive type stops where it recurs)
MAX_DEPTH = 40


def _qname(name: str | None) -> str | None:
    return name if name else None


def _builtin(t: Any) -> Any:
    """The nearest built-in type a simple type derives from."""
    while t is not None and not (t.name and str(t.name).startswith(f"{{{XS}}}")):
        t = t.base_type
    return t


def simple_of(t: Any) -> Simple:
    """A simple type's base built-in type, facets (the most derived of each) and values."""
    name = t.local_name if t.name and not str(t.name).startswith(f"{{{XS}}}") else None
    if t.is_list():
        return Simple(f"list of {simple_of(t.item_type).base}", name=name)
    if t.is_union():
        return Simple("union of " + " ".join(simple_of(m).base for m in t.member_types),
                      name=name)
    facets: dict[str, str] = {}
    step = t
    while step is not None and not (step.name and str(step.name).startswith(f"{{{XS}}}")):
        for key, facet in (getattr(step, "facets", None) or {}).items():
            local = str(key).rpartition("}")[2]
            if local in ("enumeration", "assertion") or local in facets:
                continue
            regexps = getattr(facet, "regexps", None)
            facets[local] = " | ".join(regexps) if regexps is not None else str(facet.value)
        step = step.base_type
    builtin = _builtin(t)
    values = getattr(t, "enumeration", None)
    return Simple(builtin.local_name if builtin is not None else "anySimpleType",
                  tuple(sorted(facets.items())),
                  tuple(str(v) for v in values) if values is not None else None, name)


def tree(element: Any, *, owner: str, path: str, stack: tuple[int, ...] = ()) -> Node:
    """The declaration ``element`` as a :class:`Node`, children expanded."""
    t = element.type
    node = Node(name=element.local_name, namespace=etree.QName(element.name).namespace or "",
                min_occurs=int(element.min_occurs),
                max_occurs=None if element.max_occurs is None else int(element.max_occurs),
                owner=owner)
    parent = getattr(element, "parent", None)
    node.group = getattr(parent, "model", None) if parent is not None else None
    if t.is_simple():
        node.simple = simple_of(t)
        return node
    if t.has_simple_content():
        node.simple = simple_of(t.content)
        return node
    content = t.content
    node.model = getattr(content, "model", None)
    if id(t) in stack or len(stack) >= MAX_DEPTH:
        node.recursive = True
        return node
    inner = f"type {t.local_name}" if t.name else f"element {path}"
    for child in content.iter_elements():
        if isinstance(child, XsdElement):
            node.children.append(tree(child, owner=inner, path=f"{path}/{child.local_name}",
                                      stack=(*stack, id(t))))
    return node


def _roots(folder: Path, subfolders: tuple[str, ...]) -> list[Path]:
    return [folder / s for s in subfolders] if subfolders else [folder]


def _files(roots: list[Path]) -> list[Path]:
    return sorted(p for root in roots if root.is_dir() for p in root.rglob("*")
                  if p.is_file() and p.suffix.lower() in _SUFFIXES)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


#: Namespaces of the languages themselves (their meta-schemas come along with every load).
_META = frozenset({XS, "http://www.w3.org/2001/XMLSchema-instance",
                   "http://www.w3.org/XML/1998/namespace", "http://schemas.xmlsoap.org/wsdl/",
                   "http://schemas.xmlsoap.org/wsdl/soap/",
                   "http://schemas.xmlsoap.org/wsdl/soap12/",
                   "http://schemas.xmlsoap.org/wsdl/http/",
                   "http://schemas.xmlsoap.org/wsdl/mime/",
                   "http://schemas.xmlsoap.org/soap/encoding/",
                   "http://schemas.xmlsoap.org/soap/envelope/"})


def _ours(schema: Any, roots: list[Path]) -> bool:
    """A schema of the compared files (not a meta-schema xmlschema brings along)."""
    if schema.target_namespace in _META:
        return False
    if schema.url is None:
        return True  # a schema inside a WSDL's types
    path = Path(str(schema.url).removeprefix("file://")).resolve()
    return any(path.is_relative_to(root.resolve()) for root in roots)


def _operations(doc: Wsdl11Document, rel: str) -> dict[str, OperationSpec]:
    out: dict[str, OperationSpec] = {}
    for binding in doc.maps.bindings.values():
        port_type = binding.port_type
        service = port_type.local_name if port_type is not None else binding.local_name
        for op in binding.operations.values():
            def element(io: Any) -> str | None:
                message = getattr(io, "message", None) if io is not None else None
                parts = list(message.parts.values()) if message is not None else []
                if not parts:
                    return None
                part = parts[0]
                return _qname(getattr(part, "name", None)) if isinstance(part, XsdElement) \
                    else None
            body = getattr(op.input, "soap_body", None) if op.input is not None else None
            out[op.local_name] = OperationSpec(
                name=op.local_name, service=service, file=rel,
                soap_action=op.soap_action, style=op.soap_style or binding.soap_style,
                use=getattr(body, "use", None), transport=binding.soap_transport,
                request=element(op.input), response=element(op.output))
    return out


def load_folder(folder: Path, *, subfolders: tuple[str, ...] = ()) -> ContractSet:
    """Read every WSDL and XSD below ``folder`` (or below its ``subfolders``)."""
    if not folder.is_dir():
        raise ContractError(f"{folder} is not a folder")
    roots = _roots(folder, subfolders)
    files = _files(roots)
    if not files:
        raise ContractError(f"{folder} holds no .wsdl or .xsd file")
    schemas: list[Any] = []
    operations: dict[str, OperationSpec] = {}
    for path in files:
        rel = str(path.relative_to(folder))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                if path.suffix.lower() == ".wsdl":
                    doc = Wsdl11Document(str(path), allow="local")
                    operations.update(_operations(doc, rel))
                    if doc.schema is not None:
                        schemas.append(doc.schema)
                else:
                    schemas.append(xmlschema.XMLSchema(str(path), allow="local"))
            except Exception as exc:  # whatever stops a file being read makes it unusable
                raise ContractError(f"{rel} cannot be read: {_reason(exc)}") from None
        failed = [w for w in caught if issubclass(w.category, XMLSchemaImportWarning)]
        if failed:
            raise ContractError(f"{rel} cannot be read: {str(failed[0].message)[:300]}")
    elements: dict[str, Node] = {}
    for schema in schemas:
        for one in schema.maps.iter_schemas():
            if not _ours(one, roots):
                continue
            for element in one.elements.values():
                if element.name not in elements:
                    elements[element.name] = tree(element, owner="the schema",
                                                  path=element.local_name)
    return ContractSet(folder, [str(p.relative_to(folder)) for p in files], operations,
                       elements)
