"""Bulk mapping throughput: model claims → serialised ``MFFordringIndberet_I`` bytes.

The baseline, measured in the same run, builds and serialises the *identical* trees with
bare lxml from strings computed beforehand (no model, no decisions), so the ratio is the
price of the adapter itself. Both sides must produce byte-identical output, or the
benchmark refuses to report. Target: the adapter within 2× of bare lxml.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from lxml import etree

from benchmarks.figures import Figure, best_of
from oir_adapter import mapping as m
from oir_adapter.domain.model import (
    AccountType,
    Claim,
    CoLiable,
    Debtor,
    DebtorAccount,
    Party,
    SubClaim,
)
from oir_adapter.domain.tables import ClaimTypeTable

CLAIMS = 20_000
PER_DELIVERY = 500
SE = "29189846"
CREDITOR = "1229"
AUTHORITY = "29189846"
WHEN = datetime(2026, 3, 20, 8, 30, tzinfo=UTC)
PREFIX = "2026032008"


def _claims(n: int) -> list[tuple[Claim, DebtorAccount]]:
    """``n`` realistic claims: one debtor, one co-liable party, one or two sub-claims."""
    out = []
    base = date(2025, 1, 1)
    for i in range(n):
        founded = base + timedelta(days=i % 300)
        account = DebtorAccount(
            number=f"K{i:08d}", fagsystem_reference=f"R{i}",
            debtor=Debtor(Party.cpr(f"{(i % 28) + 1:02d}0185{i % 10000:04d}"), f"Debitor {i}"),
            account_type=AccountType.PERSON, authority_cvr=AUTHORITY, fagsystem_id="DAGTILBUD")
        subs = [SubClaim(f"{i}-1", "GEBYR", Decimal("100.00"), Decimal("100.00"),
                         founded=founded)]
        if i % 2:
            subs.append(SubClaim(f"{i}-2", "RENTE", Decimal("12.34"), Decimal("12.34"),
                                 period_from=founded, period_to=founded + timedelta(days=30)))
        claim = Claim(
            id=f"D{i:09d}", account_number=account.number, fagsystem_claim_id=f"FS-{i}",
            type_code="DAGINST", principal=Decimal(1000 + i % 5000).scaleb(0) + Decimal("0.50"),
            period_from=founded, period_to=founded + timedelta(days=29), founded=founded,
            due_date=founded + timedelta(days=14), srb=founded + timedelta(days=24),
            received=founded, description=f"Forældrebetaling {i}",
            limitation_date=founded + timedelta(days=3 * 365), creditor_cvr=AUTHORITY,
            co_liable=[CoLiable(Party.cvr("13585628"))], sub_claims=subs)
        claim.remaining_principal = claim.principal - Decimal("0.50")
        out.append((claim, account))
    return out


def _tx_ids() -> Iterator[str]:
    n = 0
    while True:
        n += 1
        yield f"00000000-0000-4000-8000-{n:012d}"


def adapter(claims: list[tuple[Claim, DebtorAccount]]) -> list[bytes]:
    ids = _tx_ids()
    types = ClaimTypeTable.default()
    return [m.serialize(d) for d in m.stream_deliveries(
        claims, max_actions=PER_DELIVERY, se_number=SE, creditor_id=CREDITOR,
        claim_types=types, transaction_time=WHEN, delivery_prefix=PREFIX,
        new_transaction_id=lambda: next(ids))]


# ---------------------------------------------------------------- bare lxml baseline

class Row(NamedTuple):
    """Every text one claim's action needs, computed before the clock starts."""

    art: str
    type_code: str
    ref: str
    founded: str
    due: str
    srb: str
    amount: str
    period_from: str
    period_to: str
    principal: str
    notes: tuple[str, ...]
    limitation: str | None
    parties: list[tuple[str, str]]
    subs: list[tuple[str, str, str | None, str, str | None, str | None]]


def precompute(claims: list[tuple[Claim, DebtorAccount]]) -> list[Row]:
    """Every text the tree needs, computed outside the timed part."""
    rows: list[Row] = []
    for claim, account in claims:
        assert claim.remaining_principal is not None
        ref = claim.id
        dates = (claim.limitation_date.isoformat() if claim.limitation_date else None,)
        parties = [(m.Q_CPR, account.debtor.party.number)] + [
            (m.Q_CPR if c.party.kind.value == "CPR" else m.Q_CVR, c.party.number)
            for c in claim.co_liable]
        subs = [(s.type_code, f"{ref}-{s.id}" if not s.id.startswith(ref + "-") else s.id,
                 s.founded.isoformat() if s.founded else None, str(s.remaining),
                 s.period_from.isoformat() if s.period_from else None,
                 s.period_to.isoformat() if s.period_to else None)
                for s in claim.sub_claims]
        rows.append(Row(
            "INDR", claim.type_code, ref, claim.founded.isoformat(), claim.due_date.isoformat(),
            claim.srb.isoformat(), str(claim.remaining_principal), claim.period_from.isoformat(),
            claim.period_to.isoformat(), str(claim.principal),
            (f"FagsystemID: {account.fagsystem_id}", f"DebitorkontoNummer: {claim.account_number}",
             f"FagsystemFordringID: {claim.fagsystem_claim_id}", "ModregningTilladt: true",
             f"Beskrivelse: {claim.description}"),
            dates[0], parties, subs))
    return rows


def bare(rows: list[Row]) -> list[bytes]:
    """The same deliveries with nothing but SubElement calls on precomputed strings."""
    sub = etree.SubElement
    out = []
    ids = _tx_ids()
    for number, start in enumerate(range(0, len(rows), PER_DELIVERY), start=1):
        root = etree.Element(m.Q_INDBERET_I, nsmap=m.NSMAP)  # type: ignore[arg-type]
        head = sub(sub(root, m.Q_KONTEKST), m.Q_HOVEDOPLYSNINGER)
        sub(head, m.Q_TRANSAKTIONS_ID).text = next(ids)
        sub(head, m.Q_TRANSAKTIONS_TID).text = WHEN.isoformat()
        sub(sub(root, m.Q_SYSTEM_ID), m.Q_SE).text = SE
        sub(root, m.Q_LEVERANCE_ID).text = f"{PREFIX}{number:04d}"
        samling = sub(root, m.Q_AKTION_SAMLING)
        for row in rows[start:start + PER_DELIVERY]:
            (art, type_code, ref, founded, due, srb, amount, pfrom, pto, principal, notes,
             limitation, parties, subs) = row
            a = sub(samling, m.Q_AKTION)
            sub(a, m.Q_AKTION_KODE).text = "OPRETFORDRING"
            sub(a, m.Q_HAVER_ID).text = CREDITOR
            choice = sub(sub(a, m.Q_AKTION_VALG), m.Q_OPRET_AKTION)
            s = sub(choice, m.Q_OPRET_STRUKTUR)
            sub(s, m.Q_ART).text = art
            sub(s, m.Q_TYPE).text = type_code
            sub(s, m.Q_REF).text = ref
            sub(s, m.Q_STIFTELSE).text = founded
            sub(s, m.Q_FORFALD).text = due
            sub(s, m.Q_SRB).text = srb
            b = sub(s, m.Q_BELOEB_STRUKTUR)
            sub(b, m.Q_VALUTA).text = "DKK"
            sub(b, m.Q_BELOEB).text = amount
            p = sub(s, m.Q_PERIODE)
            sub(p, m.Q_PERIODE_FRA).text = pfrom
            sub(p, m.Q_PERIODE_TIL).text = pto
            o = sub(s, m.Q_OPRINDELIG_STRUKTUR)
            sub(o, m.Q_VALUTA).text = "DKK"
            sub(o, m.Q_OPRINDELIG).text = principal
            ns = sub(s, m.Q_SAGSBEM_SAMLING)
            for note in notes:
                sub(sub(ns, m.Q_NOTE), m.Q_NOTE_TEKST).text = note
            sub(s, m.Q_DOKUMENT_SAMLING)
            sub(s, m.Q_HAVER_ID).text = CREDITOR

            def liable(parent: etree._Element, parties: list[tuple[str, str]] = parties,
                       limitation: str | None = limitation) -> None:
                h = sub(parent, m.Q_HAEFTELSE_SAMLING)
                for tag, number_text in parties:
                    hs = sub(h, m.Q_HAEFTELSE)
                    sub(sub(sub(hs, m.Q_KUNDE), m.Q_VALG), tag).text = number_text
                    if limitation is not None:
                        sub(hs, m.Q_FORAELDELSE).text = limitation
                    sub(hs, m.Q_DOM).text = "false"
                    sub(hs, m.Q_FORLIG).text = "false"

            liable(s)
            us = sub(choice, m.Q_UNDER_SAMLING)
            for code, sref, sfounded, samount, sfrom, sto in subs:
                u = sub(us, m.Q_UNDER)
                sub(u, m.Q_ART).text = art
                sub(u, m.Q_TYPE).text = code
                sub(u, m.Q_REF).text = sref
                sub(u, m.Q_STIFTELSE).text = sfounded if sfounded is not None else founded
                sub(u, m.Q_FORFALD).text = due
                sub(u, m.Q_SRB).text = srb
                ub = sub(u, m.Q_BELOEB_STRUKTUR)
                sub(ub, m.Q_VALUTA).text = "DKK"
                sub(ub, m.Q_BELOEB).text = samount
                if sfrom is not None:
                    up = sub(u, m.Q_PERIODE)
                    sub(up, m.Q_PERIODE_FRA).text = sfrom
                    sub(up, m.Q_PERIODE_TIL).text = sto
                uo = sub(u, m.Q_OPRINDELIG_STRUKTUR)
                sub(uo, m.Q_VALUTA).text = "DKK"
                sub(uo, m.Q_OPRINDELIG).text = samount
                sub(u, m.Q_SAGSBEM_SAMLING)
                sub(u, m.Q_DOKUMENT_SAMLING)
                sub(u, m.Q_HAVER_ID).text = CREDITOR
                liable(u)
        out.append(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    return out


def run() -> list[Figure]:
    claims = _claims(CLAIMS)
    rows = precompute(claims)
    produced, expected = adapter(claims), bare(rows)
    if produced != expected:
        raise AssertionError("adapter and bare-lxml baseline built different deliveries")
    mapped = best_of(lambda: adapter(claims), repeat=3)
    baseline = best_of(lambda: bare(rows), repeat=3)
    figure = Figure(
        section="mapping",
        name=f"bulk mapping {CLAIMS:,} claims → MFFordringIndberet_I bytes "
             f"({PER_DELIVERY}/delivery)",
        value=CLAIMS / mapped, unit="claims/s", baseline=CLAIMS / baseline,
        target="≥ 0.50× (adapter within 2× of bare lxml)", higher_is_better=True,
        id="mapping.bulk")
    print(f"mapping: adapter {mapped:.2f} s, bare lxml {baseline:.2f} s for {CLAIMS:,} claims "
          f"→ adapter takes {mapped / baseline:.2f}× the bare time")
    return [figure]


if __name__ == "__main__":
    for f in run():
        print(f.name, f.value_text, f.baseline_text, f.ratio_text)
