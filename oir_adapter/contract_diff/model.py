"""What ``oir contract diff`` compares and what it finds: operations, element trees,
differences with the places they occur."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ContractError(Exception):
    """A folder whose WSDL/XSD files cannot be used (exit status 2)."""


@dataclass(frozen=True, slots=True)
class Simple:
    """A simple type as the wire sees it: the built-in type it restricts and its facets."""

    base: str  # built-in type's local name (string, decimal, date…), or list/union
    facets: tuple[tuple[str, str], ...] = ()  # (facet, value), e.g. ("maxLength", "64")
    enumeration: tuple[str, ...] | None = None
    name: str | None = None  # the named simple type, if the element uses one


@dataclass(slots=True)
class Node:
    """One element declaration in a message tree."""

    name: str  # local name
    namespace: str
    min_occurs: int
    max_occurs: int | None  # None: unbounded
    owner: str  # where it is declared: "type X" (a named complex type) or an element path
    simple: Simple | None = None  # None: complex content
    model: str | None = None  # sequence | choice | all (of its children)
    group: str | None = None  # the model of the group it stands in (sequence, choice, all)
    children: list[Node] = field(default_factory=list)
    recursive: bool = False  # the type recurs here: children not expanded again

    @property
    def occurs(self) -> str:
        return f"{self.min_occurs}..{'n' if self.max_occurs is None else self.max_occurs}"

    @property
    def type_shown(self) -> str:
        return f"xs:{self.simple.base}" if self.simple else "complex content"


@dataclass(frozen=True, slots=True)
class OperationSpec:
    """One WSDL operation as a SOAP binding exposes it."""

    name: str
    service: str  # the portType's local name
    file: str  # the WSDL it came from, relative to its folder
    soap_action: str | None
    style: str | None  # document | rpc
    use: str | None  # literal | encoded
    transport: str | None
    request: str | None  # {namespace}local name of the input message element
    response: str | None


@dataclass(slots=True)
class ContractSet:
    """One side of the comparison: a folder's operations and global elements."""

    folder: Path
    files: list[str]
    operations: dict[str, OperationSpec]
    elements: dict[str, Node]  # {namespace}local → tree

    def element(self, qname: str | None) -> Node | None:
        return self.elements.get(qname or "")


@dataclass(frozen=True, slots=True)
class Place:
    """Where a difference shows: an operation's message and the path in it."""

    operation: str | None
    message: str  # request | response | element (a global element no operation carries)
    path: str

    def shown(self) -> str:
        where = f"{self.operation} {self.message}" if self.operation else "global element"
        return f"{where}: {self.path}"


@dataclass(slots=True)
class Difference:
    """One difference, found once however many messages share the declaration."""

    kind: str
    subject: str  # what it is about, in the bundled contract's terms
    official: str
    ours: str
    detail: str = ""  # e.g. which enumeration values only one side has
    places: list[Place] = field(default_factory=list)

    def as_json(self, number: int) -> dict[str, Any]:
        return {"id": number, "kind": self.kind, "subject": self.subject,
                "official": self.official, "ours": self.ours, "detail": self.detail,
                "places": [{"operation": p.operation, "message": p.message, "path": p.path}
                           for p in self.places]}


@dataclass(slots=True)
class DiffResult:
    official: ContractSet
    ours: ContractSet
    differences: list[Difference]
    compared_operations: list[str]
    not_compared: list[str]  # bundled services/namespaces the official files do not cover

    @property
    def equal(self) -> bool:
        return not self.differences
