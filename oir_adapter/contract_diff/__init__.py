"""``oir contract diff DIR``: where the bundled contracts differ from official WSDL/XSD files.

The official ØIR and PSRM schemas are handed to vendors, not published; the bundled ones
are modelled on public material. A user holding the official files runs this to see, per
operation and element, what differs: presence, namespace, order, type, cardinality,
facets, enumeration values, SOAPAction and binding style. See ``docs/contract-diff.md``.
"""

from .compare import compare
from .loading import load_folder
from .model import ContractError, ContractSet, Difference, DiffResult, Node, Place
from .report import as_json, diff_folder, markdown, run_contract_diff

__all__ = [
    "ContractError",
    "ContractSet",
    "DiffResult",
    "Difference",
    "Node",
    "Place",
    "as_json",
    "compare",
    "diff_folder",
    "load_folder",
    "markdown",
    "run_contract_diff",
]
