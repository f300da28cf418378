"""``DebitorModregning``: offsetting in benefit payments (§ 7)."""

from __future__ import annotations

from collections.abc import Sequence

from lxml import etree

from emulator import bookkeeping
from emulator.ends.debtor.common import answer_errors, oir_violation, read_oir
from emulator.ends.debtor.queries import offset_element
from emulator.soap.pipeline import Call, request_hash
from emulator.storage import ledger
from oir_adapter.codecs.oir import decode_header, decode_party
from oir_adapter.codecs.oir_replies import (
    children,
    fill,
    reply,
    sub,
)
from oir_adapter.domain import rules
from oir_adapter.domain.model import (
    ZERO,
    BenefitPayment,
    Offset,
    OffsetStatus,
)
from oir_adapter.domain.offsetting import plan_offsets


def foretag_modregning(call: Call) -> etree._Element:
    r = read_oir(call.body)
    response = "ForetagModregningResponse"
    header = decode_header(r)
    y = r.find("Ydelsesudbetaling")
    assert y is not None
    modtager = y.find("Modtager")
    assert modtager is not None
    benefit = BenefitPayment(
        id=y.text("YdelsesudbetalingID"), recipient=decode_party(modtager),
        benefit_type=y.text("YdelsesTypeKode"), payout_date=y.date("UdbetalingsDato"),
        gross=y.money("Bruttobeloeb"), protected=y.money("BeskyttetBeloeb"),
        paying_authority_cvr=y.opt_text("UdbetalendeMyndighedCVR") or header.authority_cvr)
    simulate = bool(r.opt_bool("Simulering"))
    table = call.runtime.benefit_table(call.conn)
    errors: list[rules.Violation] = []
    if not table.knows(benefit.benefit_type):
        errors.append(oir_violation("OIR-308", benefit_type=benefit.benefit_type))
    if benefit.gross < 0:
        errors.append(oir_violation("OIR-108", "benefit.gross", amount=benefit.gross))
    if benefit.protected < 0 or benefit.protected > benefit.gross:
        errors.append(oir_violation("OIR-309", protected=benefit.protected, gross=benefit.gross))
    if errors:
        return answer_errors(call, response, errors)
    digest = request_hash(y.element)
    known = ledger.get_benefit(call.conn, benefit.id)
    if known is not None and not simulate:
        if known.request_hash != digest:
            return answer_errors(call, response, [oir_violation("OIR-305", benefit=benefit.id)])
        lines = ledger.offsets_for_benefit(call.conn, benefit.id)
        call.summary = f"payout {benefit.id} already {known.status.value}"
        return _offset_reply(call, benefit, known.status, lines)
    claims = ledger.claims_for_party(call.conn, benefit.recipient)
    types = call.runtime.claim_types(call.conn)
    if simulate:
        plan = plan_offsets(benefit, claims, on=call.today, claim_types=types, benefits=table,
                            status=OffsetStatus.SIMULATED)
        call.summary = f"simulated payout {benefit.id}: offsets {plan.total}"
        return _offset_reply(call, benefit, OffsetStatus.SIMULATED, plan.lines)
    ledger.insert_benefit(call.conn, benefit, authority_cvr=header.authority_cvr,
                          fagsystem_id=header.fagsystem_id, status=OffsetStatus.PLANNED,
                          request_hash=digest)
    record = ledger.get_benefit(call.conn, benefit.id)
    assert record is not None
    call.correlation = {"benefit_payment": benefit.id}
    if benefit.payout_date <= call.today:
        lines, _net = bookkeeping.book_benefit(call.conn, call.runtime, record, call.today,
                                               call.now)
        call.wake_outbox = True
        call.summary = f"payout {benefit.id} booked: offsets {sum((o.amount for o in lines), ZERO)}"
        return _offset_reply(call, benefit, OffsetStatus.BOOKED, lines)
    planned = bookkeeping.replan_benefit(call.conn, call.runtime, record, call.today)
    call.summary = f"payout {benefit.id} announced for {benefit.payout_date}"
    return _offset_reply(call, benefit, OffsetStatus.PLANNED, planned)


def _offset_reply(call: Call, benefit: BenefitPayment, status: OffsetStatus,
                  lines: Sequence[Offset]) -> etree._Element:
    total = sum((o.amount for o in lines), ZERO)
    el = reply("ForetagModregningResponse", call.transaction_id, call.now)
    m = fill(sub(el, "ModregningResultat"), YdelsesudbetalingID=benefit.id, Status=status.value,
             Bruttobeloeb=benefit.gross)
    children(m, "ModregningSamling", (offset_element(o) for o in lines))
    sub(m, "ModregnetIAlt", total)
    sub(m, "Nettoudbetaling", benefit.gross - total)
    return el
