"""ØIR ↔ PSRM adapter: domain model, rule catalogue, mapping, coverage and offsetting,
XML codecs, SOAP clients and the ``oir`` command line."""

from oir_adapter.domain.model import (
    BenefitPayment,
    Claim,
    ClaimArt,
    ClaimState,
    Coverage,
    CoverageSource,
    DebtorAccount,
    Offset,
    Party,
    Payment,
    SubClaim,
    money,
)

__version__ = "0.1.0"

__all__ = [
    "BenefitPayment",
    "Claim",
    "ClaimArt",
    "ClaimState",
    "Coverage",
    "CoverageSource",
    "DebtorAccount",
    "Offset",
    "Party",
    "Payment",
    "SubClaim",
    "__version__",
    "money",
]
