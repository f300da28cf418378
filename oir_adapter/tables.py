"""Tables the engines read: claim types and benefit-type × claim-type offsetting rules.

Shipped with defaults (docs/design.md#tables) and replaceable by configuration: both tables load
from plain mappings, so a YAML or JSON file (or a scenario) can install its own.
The default figures are modelled, not official: they exercise every coverage category
and every offsetting limit, and a user holding the real tables replaces them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .model import ClaimArt, ClaimKind, CoverageCategory

ANY_CLAIM_TYPE = "*"


@dataclass(frozen=True, slots=True)
class ClaimType:
    """One claim type code (DMIFordringTypeKode) and how the engines treat it."""

    code: str
    description: str
    category: CoverageCategory
    kind: ClaimKind = ClaimKind.PRINCIPAL
    interest_bearing: bool = False
    allowed_arts: frozenset[ClaimArt] = frozenset({ClaimArt.RECOVERY, ClaimArt.OFFSETTING_ONLY})
    active: bool = True

    @property
    def default_art(self) -> ClaimArt:
        """Recovery when allowed, else offsetting only."""
        return ClaimArt.RECOVERY if ClaimArt.RECOVERY in self.allowed_arts else ClaimArt.OFFSETTING_ONLY


class ClaimTypeTable:
    """Claim types by code."""

    def __init__(self, types: Iterable[ClaimType]) -> None:
        self._types = {t.code: t for t in types}

    def get(self, code: str) -> ClaimType | None:
        return self._types.get(code)

    def __contains__(self, code: object) -> bool:
        return code in self._types

    def __iter__(self) -> Iterator[ClaimType]:
        return iter(self._types.values())

    def __len__(self) -> int:
        return len(self._types)

    def category_of(self, code: str) -> CoverageCategory:
        """Coverage category of a code; unknown codes count as 'other claims'."""
        known = self._types.get(code)
        return known.category if known else CoverageCategory.OTHER

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]]) -> ClaimTypeTable:
        """Build from config rows: ``{code, description, category, kind?, interest_bearing?,
        allowed_arts?: [INDR, MODR], active?}``."""
        return cls(
            ClaimType(
                code=str(r["code"]),
                description=str(r.get("description", r["code"])),
                category=CoverageCategory(r.get("category", CoverageCategory.OTHER.value)),
                kind=ClaimKind(r.get("kind", ClaimKind.PRINCIPAL.value)),
                interest_bearing=bool(r.get("interest_bearing", False)),
                allowed_arts=frozenset(ClaimArt(a) for a in r.get("allowed_arts", ["INDR", "MODR"])),
                active=bool(r.get("active", True)),
            )
            for r in rows
        )

    @classmethod
    def default(cls) -> ClaimTypeTable:
        return cls(DEFAULT_CLAIM_TYPES)


_BOTH = frozenset({ClaimArt.RECOVERY, ClaimArt.OFFSETTING_ONLY})
_INDR = frozenset({ClaimArt.RECOVERY})
_CAT = CoverageCategory

DEFAULT_CLAIM_TYPES: tuple[ClaimType, ...] = (
    ClaimType("LIMEDIE", "Medielicens", _CAT.OTHER, allowed_arts=_BOTH),
    ClaimType("KTCIVIL", "Kontrolafgift, civilretlig", _CAT.OTHER, allowed_arts=_BOTH),
    ClaimType("CFFAKTU", "Faktura, civilretlig fordring", _CAT.OTHER, interest_bearing=True,
              allowed_arts=_BOTH),
    ClaimType("DAGINST", "Betaling for dagtilbud (daginstitution)", _CAT.OTHER, allowed_arts=_BOTH),
    ClaimType("SFOBETL", "Betaling for fritidshjem/SFO", _CAT.OTHER, allowed_arts=_BOTH),
    ClaimType("KONTHJ", "Tilbagebetaling af kontanthjælp", _CAT.OTHER, allowed_arts=_BOTH),
    ClaimType("BOEDE", "Bøde", _CAT.FINE, allowed_arts=_INDR),
    ClaimType("BIDRAGP", "Børnebidrag, privat underholdsbidrag", _CAT.PRIVATE_MAINTENANCE,
              allowed_arts=_INDR),
    ClaimType("BIDRAGO", "Underholdsbidrag forskudt af det offentlige", _CAT.PUBLIC_MAINTENANCE,
              allowed_arts=_INDR),
    ClaimType("PROCREN", "Procesrente", _CAT.OTHER, kind=ClaimKind.INTEREST),
    ClaimType("RENTE", "Morarente", _CAT.OTHER, kind=ClaimKind.INTEREST),
    ClaimType("GEBYR", "Rykkergebyr", _CAT.OTHER, kind=ClaimKind.FEE),
    ClaimType("UDGAAET", "Udgået fordringstype (inaktiv)", _CAT.OTHER, active=False),
)


# ---------------------------------------------------------------- benefits

@dataclass(frozen=True, slots=True)
class BenefitRule:
    """Whether a benefit type may be offset for a claim type, and the maximum share of
    the gross payout that offsets for claims of that type may take together."""

    benefit_type: str
    claim_type: str  # a code, or ANY_CLAIM_TYPE
    allowed: bool
    max_share: Decimal = Decimal("1")


NOT_ALLOWED = BenefitRule(benefit_type="", claim_type=ANY_CLAIM_TYPE, allowed=False,
                          max_share=Decimal("0"))


class BenefitTable:
    """Benefit-type × claim-type offsetting rules; a specific claim type beats ``*``."""

    def __init__(self, rules: Iterable[BenefitRule], descriptions: Mapping[str, str] | None = None):
        self._rules = {(r.benefit_type, r.claim_type): r for r in rules}
        self.descriptions = dict(descriptions or {})

    def rule_for(self, benefit_type: str, claim_type: str) -> BenefitRule:
        """The rule that decides; an unknown benefit type allows nothing."""
        return (self._rules.get((benefit_type, claim_type))
                or self._rules.get((benefit_type, ANY_CLAIM_TYPE))
                or NOT_ALLOWED)

    def knows(self, benefit_type: str) -> bool:
        return any(b == benefit_type for b, _ in self._rules)

    def __iter__(self) -> Iterator[BenefitRule]:
        return iter(self._rules.values())

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]]) -> BenefitTable:
        """Build from config rows: ``{benefit_type, claim_type?: '*', allowed, max_share?}``."""
        return cls(
            BenefitRule(
                benefit_type=str(r["benefit_type"]),
                claim_type=str(r.get("claim_type", ANY_CLAIM_TYPE)),
                allowed=bool(r["allowed"]),
                max_share=Decimal(str(r.get("max_share", "1"))),
            )
            for r in rows
        )

    @classmethod
    def default(cls) -> BenefitTable:
        return cls(DEFAULT_BENEFIT_RULES, DEFAULT_BENEFIT_TYPES)


DEFAULT_BENEFIT_TYPES: dict[str, str] = {
    "KONTHJ": "Kontanthjælp",
    "UDDHJ": "Uddannelseshjælp",
    "FOLKEPEN": "Folkepension",
    "BOLIGST": "Boligstøtte",
    "SYGEDP": "Sygedagpenge",
}

DEFAULT_BENEFIT_RULES: tuple[BenefitRule, ...] = (
    # Cash-assistance-type benefits: closed, opened only for day care and after-school debt.
    BenefitRule("KONTHJ", ANY_CLAIM_TYPE, allowed=False, max_share=Decimal("0")),
    BenefitRule("KONTHJ", "DAGINST", allowed=True, max_share=Decimal("0.10")),
    BenefitRule("KONTHJ", "SFOBETL", allowed=True, max_share=Decimal("0.10")),
    BenefitRule("UDDHJ", ANY_CLAIM_TYPE, allowed=False, max_share=Decimal("0")),
    BenefitRule("UDDHJ", "DAGINST", allowed=True, max_share=Decimal("0.10")),
    BenefitRule("UDDHJ", "SFOBETL", allowed=True, max_share=Decimal("0.10")),
    # Pensions, housing support and sickness benefit carry their own limits.
    BenefitRule("FOLKEPEN", ANY_CLAIM_TYPE, allowed=True, max_share=Decimal("0.20")),
    BenefitRule("BOLIGST", ANY_CLAIM_TYPE, allowed=True, max_share=Decimal("0.50")),
    BenefitRule("SYGEDP", ANY_CLAIM_TYPE, allowed=True, max_share=Decimal("0.30")),
)
