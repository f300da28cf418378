"""``MFKvitteringHent``: the receipts of a delivery, action by action."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree
from sqlalchemy import or_, select

from emulator.soap.pipeline import Call
from emulator.storage import schema as t
from emulator.storage.store import from_ore
from oir_adapter.codecs.psrm_replies import (
    action_structure,
    answer,
    sub,
)
from oir_adapter.codecs.reading import Reader
from oir_adapter.contracts import PSRM_NS
from oir_adapter.domain.model import (
    PsrmAction,
    PsrmStatus,
)

if TYPE_CHECKING:
    pass
from emulator.ends.psrm.intake import action_view, in_chunks


def answer_kvittering(call: Call) -> etree._Element:
    r = Reader(call.body, PSRM_NS)
    se = r.text("FordringhaverSystemIDStruktur/VirksomhedSENummer")
    delivery_id = r.opt_text("MFLeveranceID")
    ids = [i for i in dict.fromkeys((x.element.text or "").strip()
                                    for x in r.all("MFAktionIDSamling/MFAktionID")) if i]
    call.correlation.update({"VirksomhedSENummer": se, **(
        {"MFLeveranceID": delivery_id} if delivery_id else {})})
    if delivery_id is None and not ids:
        call.outcome = "rejected"
        call.summary = "neither MFLeveranceID nor MFAktionID given"
        return answer("MFKvitteringHent_O", transaction_id=call.transaction_id,
                      service_id="MFKvitteringHent", now=call.now,
                      errors=[("MFKvitteringHent", "Angiv MFLeveranceID eller MFAktionID")])
    conditions = []
    if delivery_id is not None:
        conditions.append(t.psrm_actions.c.delivery_id == delivery_id)
    if ids:
        conditions.append(t.psrm_actions.c.action_id.in_(ids))
    rows = call.conn.execute(select(t.psrm_actions).where(
        t.psrm_actions.c.se_number == se, or_(*conditions))).all()
    rows = sorted(rows, key=lambda row: (action_number(row.action_id), row.action_id))
    done = sorted({row.efi_claim_id for row in rows
                   if row.status == PsrmStatus.DONE.value and row.efi_claim_id})
    balances = {efi: remaining for chunk in in_chunks(done) for efi, remaining in call.conn.execute(
        select(t.psrm_claims.c.efi_claim_id, t.psrm_claims.c.remaining_ore)
        .where(t.psrm_claims.c.efi_claim_id.in_(chunk)))}
    el = answer("MFKvitteringHent_O", transaction_id=call.transaction_id,
                service_id="MFKvitteringHent", now=call.now)
    samling = sub(el, "KvitteringSamling")
    for row in rows:
        view = action_view(row)
        kvittering = sub(samling, "Kvittering")
        action_structure(kvittering, view)
        if view.status is PsrmStatus.DONE:
            executed_structure(kvittering, view, balances.get(row.efi_claim_id))
    call.summary = f"{len(rows)} receipts"
    return el


def executed_structure(parent: etree._Element, view: PsrmAction, remaining_ore: int | None
                       ) -> None:
    """``UdførtAktionValg`` of an executed action: the claim it created, or the balance it
    left on the claim it changed."""
    if view.efi_claim_id is None:
        return
    valg = sub(parent, "UdførtAktionValg")
    if view.code.creates_claim:
        s = sub(valg, "MFOpretFordringUdførtStruktur")
        sub(s, "DMIFordringEFIFordringID", view.efi_claim_id)
        sub(s, "DMIFordringEFIHovedFordringID", view.efi_main_claim_id or view.efi_claim_id)
    else:
        s = sub(valg, "MFFordringÆndretUdførtStruktur")
        sub(s, "DMIFordringEFIFordringID", view.efi_claim_id)
        b = sub(s, "FordringSaldoBeløbStruktur")
        sub(b, "ValutaKode", "DKK")
        sub(b, "DMIFordringBeløb", from_ore(remaining_ore or 0))


def action_number(action_id: str) -> int:
    digits = action_id.rpartition("-")[2]
    return int(digits) if digits.isdigit() else 1 << 62
