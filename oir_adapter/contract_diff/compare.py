"""Comparing the official contract files with the bundled ones, operation by operation and
element by element.

Operations are paired by name: each one's presence, SOAPAction, binding style, body use,
transport and the element each message carries. The element trees of paired messages —
and the global elements no operation carries, paired by name within namespaces that
share names — are walked side by side; siblings are paired by name, and an element that
is missing on one side where the other has a new name at the same place (or the only one
left over) is taken as **renamed** and compared further under its new name. Per element:
namespace, cardinality, the built-in type, each facet, enumeration values; per parent:
the order of the children both have and the content model.

A declaration shared by many messages (a named type used everywhere) differs in one
place, so each difference is reported **once**, keyed by what it is about in the bundled
contract's terms (``type FejlType``, ``element OpretDebitorkontoRequest``), with every
place it shows. Type names themselves are not compared: they rarely match and callers
never see them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from lxml import etree

from .model import ContractSet, Difference, DiffResult, Node, OperationSpec, Place

_LABELS = {"soap_action": "SOAPAction", "style": "binding style", "use": "body use",
           "transport": "transport"}


def _local(qname: str | None) -> str:
    return etree.QName(qname).localname if qname else "none"


def _namespace(qname: str) -> str:
    return etree.QName(qname).namespace or ""


def _shown(node: Node) -> str:
    return f"{node.name} [{node.occurs}] {node.type_shown}"


class _Findings:
    """Differences collected once each, with every place they show."""

    def __init__(self) -> None:
        self.found: dict[tuple[str, str, str, str], Difference] = {}

    def add(self, kind: str, subject: str, official: str, ours: str, place: Place,
            detail: str = "") -> None:
        key = (kind, subject, official, ours)
        d = self.found.get(key)
        if d is None:
            d = self.found[key] = Difference(kind, subject, official, ours, detail)
        if place not in d.places:
            d.places.append(place)

    def nodes(self, o: Node, b: Node, place: Place) -> None:
        """Compare one official element declaration with its bundled counterpart."""
        what = f"{b.owner}: {b.name}"
        if o.namespace != b.namespace:
            self.add("namespace", "namespace", o.namespace or "none", b.namespace or "none",
                     place)
        if o.occurs != b.occurs:
            self.add("cardinality", what, o.occurs, b.occurs, place)
        if o.group != b.group and o.group and b.group:
            self.add("model", what, f"in a {o.group}", f"in a {b.group}", place)
        if (o.simple is None) != (b.simple is None) or (
                o.simple and b.simple and o.simple.base != b.simple.base):
            self.add("type", what, o.type_shown, b.type_shown, place)
        if o.simple and b.simple:
            self._simple(o, b, place)
        if o.simple is None and b.simple is None and not (o.recursive or b.recursive):
            self._children(o, b, place)

    def _simple(self, o: Node, b: Node, place: Place) -> None:
        assert o.simple is not None and b.simple is not None
        subject = f"type {b.simple.name}" if b.simple.name else f"{b.owner}: {b.name}"
        mine, theirs = dict(b.simple.facets), dict(o.simple.facets)
        for facet in sorted(set(mine) | set(theirs)):
            if mine.get(facet) != theirs.get(facet):
                self.add("facet", f"{subject} {facet}", theirs.get(facet, "none"),
                         mine.get(facet, "none"), place)
        values_o, values_b = o.simple.enumeration, b.simple.enumeration
        if values_o != values_b and (set(values_o or ()) != set(values_b or ())):
            only_b = [v for v in values_b or () if v not in set(values_o or ())]
            only_o = [v for v in values_o or () if v not in set(values_b or ())]
            detail = "; ".join(part for part in (
                f"only in ours: {', '.join(only_b)}" if only_b else "",
                f"only in the official: {', '.join(only_o)}" if only_o else "") if part)
            self.add("enumeration", subject, ", ".join(values_o or ("no list",)),
                     ", ".join(values_b or ("no list",)), place, detail)

    def _children(self, o: Node, b: Node, place: Place) -> None:
        owner = (b.children[0].owner if b.children else f"element {place.path}")
        theirs = {c.name: c for c in o.children}
        mine = {c.name: c for c in b.children}
        only_o = [c for c in o.children if c.name not in mine]
        only_b = [c for c in b.children if c.name not in theirs]
        renamed: list[tuple[Node, Node]] = []
        for bc in list(only_b):
            index = b.children.index(bc)
            same_place = [oc for oc in only_o if o.children.index(oc) == index]
            if len(same_place) == 1 or (len(only_o) == 1 and len(only_b) == 1):
                oc = same_place[0] if same_place else only_o[0]
                renamed.append((oc, bc))
                only_o.remove(oc)
                only_b.remove(bc)

        def at(child: Node) -> Place:
            return Place(place.operation, place.message, f"{place.path}/{child.name}")

        for oc, bc in renamed:
            self.add("renamed", f"{owner}: {bc.name}", oc.name, bc.name, at(bc))
        for oc in only_o:
            self.add("missing", f"{owner}: {oc.name}", _shown(oc), "absent", at(oc))
        for bc in only_b:
            self.add("extra", f"{owner}: {bc.name}", "absent", _shown(bc), at(bc))
        if o.model != b.model:
            self.add("model", f"{owner} (children of {b.name})", o.model or "none",
                     b.model or "none", place)
        elif b.model == "sequence":
            as_ours = {oc.name: bc.name for oc, bc in renamed}
            official_order = [as_ours.get(c.name, c.name) for c in o.children
                              if c.name in mine or c.name in as_ours]
            paired = set(official_order)
            our_order = [c.name for c in b.children if c.name in paired]
            if official_order != our_order:
                self.add("order", f"{owner} (children of {b.name})", " ".join(official_order),
                         " ".join(our_order), place)
        for name in (c.name for c in b.children if c.name in theirs):
            self.nodes(theirs[name], mine[name], at(mine[name]))
        for oc, bc in renamed:
            self.nodes(oc, bc, at(bc))


def _pair_services(official: ContractSet, ours: ContractSet) -> dict[str, str]:
    """Official portType → bundled portType with most operation names in common."""
    mine: dict[str, set[str]] = defaultdict(set)
    for op in ours.operations.values():
        mine[op.service].add(op.name)
    theirs: dict[str, set[str]] = defaultdict(set)
    for op in official.operations.values():
        theirs[op.service].add(op.name)
    pairs = {}
    for service, names in theirs.items():
        best = max(mine, key=lambda s: (len(mine[s] & names), s == service), default=None)
        if best is not None and mine[best] & names:
            pairs[service] = best
    return pairs


def _pair_namespaces(official: Iterable[str], ours: Iterable[str]) -> dict[str, str]:
    """Bundled namespace → official namespace sharing most global element names."""
    theirs: dict[str, set[str]] = defaultdict(set)
    for q in official:
        theirs[_namespace(q)].add(_local(q))
    mine: dict[str, set[str]] = defaultdict(set)
    for q in ours:
        mine[_namespace(q)].add(_local(q))
    pairs = {}
    for ns, names in mine.items():
        best = max(theirs, key=lambda t: (len(theirs[t] & names), t == ns), default=None)
        if best is not None and theirs[best] & names:
            pairs[ns] = best
    return pairs


def _operation(found: _Findings, o: OperationSpec, b: OperationSpec) -> None:
    place = Place(o.name, "binding", o.name)
    for attr, label in _LABELS.items():
        theirs, mine = getattr(o, attr), getattr(b, attr)
        if theirs != mine:
            found.add(label, f"operation {o.name}", str(theirs), str(mine), place)


def compare(official: ContractSet, ours: ContractSet) -> DiffResult:
    """Every difference between the official files and the bundled contracts."""
    found = _Findings()
    services = _pair_services(official, ours)
    covered_o: set[str] = set()
    covered_b: set[str] = set()
    compared: list[str] = []
    for name, o in sorted(official.operations.items()):
        b = ours.operations.get(name)
        if b is None:
            found.add("operation missing", f"operation {name}", f"{o.service} ({o.file})",
                      "absent", Place(name, "binding", name))
            continue
        compared.append(name)
        _operation(found, o, b)
        for message, theirs, mine in (("request", o.request, b.request),
                                      ("response", o.response, b.response)):
            o_node, b_node = official.element(theirs), ours.element(mine)
            covered_o.add(theirs or "")
            covered_b.add(mine or "")
            if o_node is None or b_node is None or _local(theirs) != _local(mine):
                found.add("message element", f"operation {name} {message}",
                          _local(theirs), _local(mine), Place(name, message, _local(mine)))
            if o_node is not None and b_node is not None:
                found.nodes(o_node, b_node, Place(name, message, b_node.name))
    paired_services = set(services.values())
    for name, b in sorted(ours.operations.items()):
        if name not in official.operations and b.service in paired_services:
            found.add("operation extra", f"operation {name}", "absent",
                      f"{b.service} ({b.file})", Place(name, "binding", name))
    namespaces = _pair_namespaces(official.elements, ours.elements)
    by_local = {(namespaces.get(_namespace(q)), _local(q)): q for q in ours.elements}
    for q, o_node in sorted(official.elements.items()):
        if q in covered_o:
            continue
        mine_q = by_local.get((_namespace(q), _local(q)))
        if mine_q is None:
            found.add("missing", f"global element {_local(q)}", _shown(o_node), "absent",
                      Place(None, "element", _local(q)))
            continue
        covered_b.add(mine_q)
        found.nodes(o_node, ours.elements[mine_q], Place(None, "element", _local(q)))
    official_names = {(_namespace(q), _local(q)) for q in official.elements}
    for q, b_node in sorted(ours.elements.items()):
        ns = namespaces.get(_namespace(q))
        if q in covered_b or ns is None or (ns, _local(q)) in official_names:
            continue
        found.add("extra", f"global element {_local(q)}", "absent", _shown(b_node),
                  Place(None, "element", _local(q)))
    not_compared = sorted({f"service {b.service}" for b in ours.operations.values()
                           if official.operations and b.service not in paired_services}
                          | {f"namespace {ns}" for ns in {_namespace(q) for q in ours.elements}
                             if ns not in namespaces})
    return DiffResult(official, ours, list(found.found.values()), compared, not_compared)
