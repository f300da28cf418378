"""The nine end-date operations of ``DebitorRegistreringAfsend`` (SF1590_B_01): each ends
one object of an account on ``SlutDato``, the last day it is in force.

The operation names are published; what the messages carry is modelled (see
docs/contracts.md). An ended object stays on the account with its end date, so
``HentDebitorkonto`` shows the history; what follows from it is decided elsewhere: an ended
liability (``AfslutHaeftelse``) is not handed over to PSRM (:func:`emulator.bookkeeping.hand_over`
leaves it out of the claim it hands over).

Ending the same object again with the same date answers as the first time; with another
date it is refused (OIR-314), since the first end date has been acted on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Literal

from lxml import etree

from emulator.ends.debtor.common import answer_errors, oir_violation, own_account
from emulator.soap.pipeline import Call
from emulator.storage import ledger
from emulator.storage.ledger import AccountRole, Role
from oir_adapter.codecs import Reader
from oir_adapter.codecs.oir import decode_party
from oir_adapter.codecs.oir_replies import reply, sub
from oir_adapter.contracts import OIR_NS
from oir_adapter.domain.model import DebtorAccount, Party

Part = Literal["role", "address", "subscription"]


@dataclass(frozen=True, slots=True)
class EndDate:
    """What one end-date operation ends: a role, or the current address or material
    subscription of a role; ``by_party``: the request names the party (``Part``)."""

    operation: str
    role: Role
    part: Part
    what_da: str
    what_en: str

    @property
    def by_party(self) -> bool:
        return self.role is not Role.RESPONSIBLE


_A, _J, _M, _L = Role.ADMINISTRATOR, Role.RESPONSIBLE, Role.CO_LIABLE, Role.PARTNER

#: Every end-date operation but AfslutHaeftelse (which ends a claim's liability).
END_DATES: dict[str, EndDate] = {e.operation: e for e in (
    EndDate("AfslutGaeldendeAdresseAdministrator", _A, "address",
            "gældende adresse for administrator", "current address of administrator"),
    EndDate("AfslutGaeldendeAdresseJuridiskAnsvarlig", _J, "address",
            "gældende adresse for den juridisk ansvarlige",
            "current address of the legally responsible"),
    EndDate("AfslutGaeldendeAdresseJuridiskMedhaefter", _M, "address",
            "gældende adresse for juridisk medhæfter", "current address of co-liable party"),
    EndDate("AfslutLigestillingspartner", _L, "role", "ligestillingspartner", "equal partner"),
    EndDate("AfslutAdministrator", _A, "role", "administrator", "administrator"),
    EndDate("AfslutMaterialeabonnementAdministrator", _A, "subscription",
            "materialeabonnement for administrator", "material subscription of administrator"),
    EndDate("AfslutMaterialeabonnementJuridiskAnsvarlig", _J, "subscription",
            "materialeabonnement for den juridisk ansvarlige",
            "material subscription of the legally responsible"),
    EndDate("AfslutMaterialeabonnementJuridiskMedhaefter", _M, "subscription",
            "materialeabonnement for juridisk medhæfter",
            "material subscription of co-liable party"),
)}


def _ended(call: Call, response: str, account: DebtorAccount, day: date,
           summary: str) -> etree._Element:
    call.correlation = {"account": account.number}
    call.summary = summary
    el = reply(response, call.transaction_id, call.now)
    sub(el, "DebitorkontoNummer", account.number)
    sub(el, "SlutDato", day)
    return el


def _responsible(call: Call, account: DebtorAccount) -> AccountRole:
    """The account's own debtor as a role (stored the first time something of it ends)."""
    found = ledger.role_of(call.conn, account.number, Role.RESPONSIBLE)
    if found is not None:
        return found
    d = account.debtor
    return AccountRole(account.number, Role.RESPONSIBLE, d.party, d.name, d.address)


def _current(role: AccountRole, part: Part) -> tuple[bool, date | None]:
    """Whether ``role`` holds ``part`` at all, and its end date so far."""
    if part == "role":
        return True, role.ended
    if part == "address":
        return role.address is not None, role.address_ended
    return role.channel is not None, role.subscription_ended


def end_object(call: Call, spec: EndDate) -> etree._Element:
    r = Reader(call.body, OIR_NS)
    response = f"{spec.operation}Response"
    account = own_account(call, r.text("DebitorkontoNummer"))
    if account is None:
        return answer_errors(call, response, [
            oir_violation("OIR-301", account=r.text("DebitorkontoNummer"))])
    day = r.date("SlutDato")
    party: Party | None = None
    if spec.by_party:
        p = r.find("Part")
        assert p is not None
        party = decode_party(p)
        role = ledger.role_of(call.conn, account.number, spec.role, party)
    else:
        role = _responsible(call, account)
    holds, ended = _current(role, spec.part) if role is not None else (False, None)
    if role is None or not holds or (spec.part != "role" and role.ended is not None
                                     and role.ended < day):
        who = party.number if party is not None else account.debtor.party.number
        return answer_errors(call, response, [oir_violation("OIR-313", account=account.number,
                                           what_da=spec.what_da, what_en=spec.what_en,
                                           party=who)])
    assert role is not None
    if ended is not None:
        if ended != day:
            return answer_errors(call, response, [oir_violation("OIR-314", what_da=spec.what_da,
                                               what_en=spec.what_en, ended=ended)])
        return _ended(call, response, account, day, f"{spec.what_en} already ended {day}")
    if spec.part == "role":
        role.ended = day
    elif spec.part == "address":
        role.address_ended = day
    else:
        role.subscription_ended = day
    if role.id is None:
        ledger.insert_role(call.conn, role, call.now)
    else:
        ledger.save_role(call.conn, role)
    return _ended(call, response, account, day, f"{spec.what_en} ended {day}")


def afslut_haeftelse(call: Call) -> etree._Element:
    """End a co-liable party's liability (hæftelse) for one claim of the account."""
    r = Reader(call.body, OIR_NS)
    response = "AfslutHaeftelseResponse"
    account = own_account(call, r.text("DebitorkontoNummer"))
    if account is None:
        return answer_errors(call, response, [
            oir_violation("OIR-301", account=r.text("DebitorkontoNummer"))])
    claim_id = r.text("FordringID")
    claim = ledger.get_claim(call.conn, claim_id)
    if claim is None or claim.account_number != account.number:
        return answer_errors(call, response, [oir_violation("OIR-302", claim_id=claim_id)])
    p = r.find("Part")
    assert p is not None
    party = decode_party(p)
    day = r.date("SlutDato")
    if party == account.debtor.party:
        return answer_errors(call, response, [oir_violation("OIR-315", claim_id=claim_id)])
    liable = next((c for c in claim.co_liable if c.party == party), None)
    if liable is None:
        return answer_errors(call, response, [oir_violation("OIR-313", account=account.number,
                                           what_da=f"hæftelse på fordring {claim_id}",
                                           what_en=f"liability on claim {claim_id}",
                                           party=party.number)])
    if liable.ended is not None:
        if liable.ended != day:
            return answer_errors(call, response, [oir_violation("OIR-314", what_da="hæftelsen",
                                               what_en="the liability", ended=liable.ended)])
        return _ended(call, response, account, day, f"liability on {claim_id} already ended")
    liable.ended = day
    ledger.save_claim(call.conn, claim)
    call.correlation = {"account": account.number, "claim": claim_id}
    return _ended(call, response, account, day, f"liability on {claim_id} ended {day}")


def handlers() -> dict[str, Callable[[Call], etree._Element]]:
    """Operation name → handler, for the nine end-date operations."""
    out: dict[str, Callable[[Call], etree._Element]] = {"AfslutHaeftelse": afslut_haeftelse}
    for name, spec in END_DATES.items():
        out[name] = _bound(spec)
    return out


def _bound(spec: EndDate) -> Callable[[Call], etree._Element]:
    def handle(call: Call) -> etree._Element:
        return end_object(call, spec)
    return handle
