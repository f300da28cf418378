"""Plain-value views of ØIR answers, so cases compare data rather than walk XML.

Only what the cases assert on is read; everything is read leniently (a missing element is
``None``), because the reply has already been schema-checked by the client and a case
should fail on its own assertion, not on a parsing accident.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from lxml import etree

from oir_adapter.contracts import OIR_NS

_N = "{" + OIR_NS + "}"


def _path(path: str) -> str:
    return "/".join(_N + p for p in path.split("/"))


def text(el: etree._Element | None, path: str) -> str | None:
    """Text at a prefix-free ØIR path below ``el`` (stripped), or ``None``."""
    if el is None:
        return None
    found = el.find(_path(path))
    return None if found is None or found.text is None else found.text.strip()


def amount(el: etree._Element | None, path: str) -> Decimal | None:
    value = text(el, path)
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


def day(el: etree._Element | None, path: str) -> date | None:
    value = text(el, path)
    if value is None:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def all_of(el: etree._Element | None, path: str) -> list[etree._Element]:
    return [] if el is None else list(el.iterfind(_path(path)))


@dataclass(frozen=True, slots=True)
class Line:
    """A coverage (``Daekning``) or offset (``Modregning``) line."""

    claim_id: str
    sub_claim_id: str | None
    amount: Decimal
    source: str | None = None  # Kilde of a coverage line
    source_id: str | None = None  # KildeID, or the YdelsesudbetalingID of an offset
    status: str | None = None  # Status of an offset line

    def short(self) -> str:
        where = f"{self.claim_id}/{self.sub_claim_id}" if self.sub_claim_id else self.claim_id
        return f"{where} {self.amount}"


def coverage_lines(el: etree._Element | None, path: str = "DaekningSamling/Daekning"
                   ) -> list[Line]:
    return [Line(text(d, "FordringID") or "", text(d, "DelfordringID"),
                 amount(d, "Beloeb") or Decimal(0), text(d, "Kilde"), text(d, "KildeID"))
            for d in all_of(el, path)]


def offset_lines(el: etree._Element | None, path: str = "ModregningSamling/Modregning"
                 ) -> list[Line]:
    return [Line(text(m, "FordringID") or "", text(m, "DelfordringID"),
                 amount(m, "Beloeb") or Decimal(0), None, text(m, "YdelsesudbetalingID"),
                 text(m, "Status"))
            for m in all_of(el, path)]


@dataclass(slots=True)
class SubClaimView:
    id: str
    type_code: str
    amount: Decimal | None
    remaining: Decimal | None


@dataclass(slots=True)
class ClaimView:
    """One ``Fordring`` of a ``HentDebitorkonto`` answer."""

    id: str
    fagsystem_claim_id: str | None
    type_code: str | None
    status: str | None
    principal: Decimal | None
    outstanding: Decimal | None
    period_from: date | None
    period_to: date | None
    founded: date | None
    due_date: date | None
    srb: date | None
    deferral_until: date | None
    invoice_amount: Decimal | None
    payment_id: str | None
    reminder_date: date | None
    psrm_status: str | None
    psrm_efi_claim_id: str | None
    psrm_amount: Decimal | None
    psrm_reasons: list[tuple[str, str]]
    sub_claims: list[SubClaimView]


@dataclass(slots=True)
class AccountView:
    """A ``HentDebitorkonto`` answer's ``Debitorkonto``."""

    number: str
    balance: Decimal | None
    credit: Decimal | None
    claims: dict[str, ClaimView] = field(default_factory=dict)
    payments: list[tuple[str, Decimal | None, Decimal | None]] = field(default_factory=list)
    coverage: list[Line] = field(default_factory=list)
    offsets: list[Line] = field(default_factory=list)
    write_offs: list[Line] = field(default_factory=list)


def claim_view(f: etree._Element) -> ClaimView:
    return ClaimView(
        id=text(f, "FordringID") or "",
        fagsystem_claim_id=text(f, "FagsystemFordringID"),
        type_code=text(f, "FordringTypeKode"),
        status=text(f, "Status"),
        principal=amount(f, "Hovedstol"),
        outstanding=amount(f, "Restbeloeb"),
        period_from=day(f, "PeriodeFra"),
        period_to=day(f, "PeriodeTil"),
        founded=day(f, "StiftelsesDato"),
        due_date=day(f, "ForfaldsDato"),
        srb=day(f, "SidsteRettidigeBetalingsDato"),
        deferral_until=day(f, "HenstandTilDato"),
        invoice_amount=amount(f, "Opkraevning/Beloeb"),
        payment_id=text(f, "Opkraevning/BetalingsID"),
        reminder_date=day(f, "Opkraevning/RykkerDato"),
        psrm_status=text(f, "PSRM/Status"),
        psrm_efi_claim_id=text(f, "PSRM/EFIFordringID"),
        psrm_amount=amount(f, "PSRM/OverdragetBeloeb"),
        psrm_reasons=[(text(a, "AfvistNummer") or "", text(a, "AfvistTekst") or "")
                      for a in all_of(f, "PSRM/AfvistAarsagSamling/AfvistAarsag")],
        sub_claims=[SubClaimView(text(d, "DelfordringID") or "", text(d, "DelfordringTypeKode")
                                 or "", amount(d, "Beloeb"), amount(d, "Restbeloeb"))
                    for d in all_of(f, "DelfordringSamling/Delfordring")],
    )


def account_view(response: etree._Element) -> AccountView:
    """The account of a ``HentDebitorkontoResponse`` element."""
    d = response.find(_path("Debitorkonto"))
    view = AccountView(number=text(d, "DebitorkontoNummer") or "",
                       balance=amount(d, "Saldo"), credit=amount(d, "Tilgodehavende"))
    for f in all_of(d, "FordringSamling/Fordring"):
        c = claim_view(f)
        view.claims[c.id] = c
    view.payments = [(text(i, "IndbetalingID") or "", amount(i, "Beloeb"), amount(i, "Overskud"))
                     for i in all_of(d, "IndbetalingSamling/Indbetaling")]
    view.coverage = coverage_lines(d)
    view.offsets = offset_lines(d)
    view.write_offs = [Line(text(a, "FordringID") or "", None, amount(a, "Beloeb") or Decimal(0),
                            text(a, "AarsagKode"))
                       for a in all_of(d, "AfskrivningSamling/Afskrivning")]
    return view
