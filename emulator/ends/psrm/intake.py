"""``MFFordringIndberet``: a delivery judged action by action (the indgangsfilter) and
booked; repeats answered as the first time."""

from __future__ import annotations

import copy
import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any

from lxml import etree
from sqlalchemy import Connection, Row, insert, select, update

from emulator.soap.pipeline import Call
from emulator.storage import schema as t
from emulator.storage.prepared import Prepared
from emulator.storage.store import from_ore, get_setting, next_number, to_ore
from oir_adapter.codecs.psrm import ActionRequest, decode_action
from oir_adapter.codecs.psrm_replies import (
    indberet_answer,
)
from oir_adapter.codecs.reading import DecodeError, Reader
from oir_adapter.contracts import PSRM_NS
from oir_adapter.domain.model import (
    Party,
    PsrmAction,
    PsrmActionCode,
    PsrmStatus,
    RejectionReason,
)
from oir_adapter.domain.rules import (
    ANNULMENTS,
    WRITE_DOWNS,
    WRITE_UPS,
    RuleContext,
    Violation,
    validate_action,
    violation,
)

if TYPE_CHECKING:
    pass
from emulator.ends.psrm.vocabulary import (
    ACTIVE,
    AGREEMENTS,
    ENDED_STATUSES,
    PAID,
    RECALLED,
    REJECT_TYPE_RULE,
    REJECT_TYPES,
    RESUBMITTABLE,
    RETURNED,
    UNKNOWN_DEBTORS,
    UNREADABLE,
    action_id,
    efi_id,
)


@dataclass(slots=True)
class _Judged:
    """One action after the indgangsfilter: its row values and reasons."""

    action: ActionRequest
    reasons: list[RejectionReason]
    claim_ref: str | None = None
    efi_claim_id: str | None = None
    efi_main_claim_id: str | None = None
    ref: dict[str, Any] | None = None  # the action an annulment reverses


def answer_indberet(call: Call) -> etree._Element:
    r = Reader(call.body, PSRM_NS)
    se = r.text("FordringhaverSystemIDStruktur/VirksomhedSENummer")
    delivery_id = r.text("MFLeveranceID")
    elements = [a.element for a in r.all("FordringAktionSamling/FordringAktion")]
    call.correlation.update({"MFLeveranceID": delivery_id, "VirksomhedSENummer": se})
    digest = _content_digest(call.body)
    known: str | None = call.conn.execute(select(t.psrm_delivery_digests.c.digest).where(
        t.psrm_delivery_digests.c.delivery_id == delivery_id,
        t.psrm_delivery_digests.c.se_number == se)).scalar()
    if known is None and call.conn.execute(select(t.psrm_deliveries.c.delivery_id).where(
            t.psrm_deliveries.c.delivery_id == delivery_id,
            t.psrm_deliveries.c.se_number == se)).first() is not None:
        known = ""  # stored without a digest (seeded): any body counts as different
    if known is not None:
        if known == digest:
            return _repeat(call, se, delivery_id)
        return _refuse_all(call, se, delivery_id, elements,
                           f"MFLeveranceID {delivery_id} er allerede modtaget fra SE-nummer "
                           f"{se} med et andet indhold")

    call.conn.execute(insert(t.psrm_deliveries).values(
        delivery_id=delivery_id, se_number=se, transaction_id=call.transaction_id or "",
        received_at=call.now, action_count=len(elements)))
    call.conn.execute(insert(t.psrm_delivery_digests).values(
        delivery_id=delivery_id, se_number=se, digest=digest))
    decoded = [_decode(element, index, call.today)
               for index, element in enumerate(elements, start=1)]
    batch = _Batch(call, se, delivery_id, decoded)
    views = [batch.store(batch.judge(action)) for action in decoded]
    batch.flush()
    return _delivery_answer(call, se, delivery_id, views)


def _delivery_answer(call: Call, se: str, delivery_id: str,
                     views: Sequence[PsrmAction]) -> etree._Element:
    counts = Counter(v.status for v in views)
    if counts.get(PsrmStatus.REJECTED, 0):
        call.outcome = "rejected"
    call.summary = (f"{delivery_id}: {len(views)} actions, "
                    + ", ".join(f"{n} {s.value}" for s, n in sorted(counts.items())))
    reasons = [f"{v.action_id} {r.number} {r.path or ''}".rstrip()
               for v in views for r in v.reasons][:20]
    if reasons:  # where each rejection points: the journal's, not PSRM's text
        call.summary += "; " + "; ".join(reasons)
    return indberet_answer(transaction_id=call.transaction_id, now=call.now, se_number=se,
                           delivery_id=delivery_id, actions=views)


def _repeat(call: Call, se: str, delivery_id: str) -> etree._Element:
    """The same delivery sent again under a new TransaktionsID: its actions as they are
    now, nothing stored twice."""
    rows = call.conn.execute(select(t.psrm_actions).where(
        t.psrm_actions.c.delivery_id == delivery_id, t.psrm_actions.c.se_number == se)
        .order_by(t.psrm_actions.c.position)).all()
    answer_el = _delivery_answer(call, se, delivery_id, [action_view(row) for row in rows])
    call.summary = f"repeat of {call.summary}"
    return answer_el


def _refuse_all(call: Call, se: str, delivery_id: str, elements: Sequence[etree._Element],
                why: str) -> etree._Element:
    """Every action of a refused delivery ``AFVIST`` 600; no action or claim is stored: the
    refused actions get action ids of their own (never reused) so a sender can log them, but
    they belong to no delivery, so receipts for the original delivery stay as they were."""
    v = violation("PSRM-600", fmt="psrm", field="transaction_id", action_id=delivery_id)
    number, text = v.to_afvist()
    reason = RejectionReason(number, text, path=v.path)
    views = []
    for element in elements:
        a = Reader(element, PSRM_NS)
        code = _code_of(a.opt_text("MFAktionKode"))
        view = PsrmAction(action_id=action_id(next_number(call.conn, "psrm_action")),
                          code=code, creditor_id=a.opt_text("DMIFordringHaverID") or "0",
                          status=PsrmStatus.REJECTED, status_changed=call.now,
                          received=call.now, reasons=[reason])
        views.append(view)
    call.outcome = "rejected"
    call.summary = f"{delivery_id}: refused (600): {why}"
    return indberet_answer(transaction_id=call.transaction_id, now=call.now, se_number=se,
                           delivery_id=delivery_id, actions=views)


def refuse_indberet(call: Call, transaction_id: str) -> etree._Element:
    r = Reader(call.body, PSRM_NS)
    se = r.text("FordringhaverSystemIDStruktur/VirksomhedSENummer")
    delivery_id = r.text("MFLeveranceID")
    elements = [a.element for a in r.all("FordringAktionSamling/FordringAktion")]
    return _refuse_all(call, se, delivery_id, elements,
                       f"TransaktionsID {transaction_id} er allerede brugt med et andet indhold")


def _code_of(text: str | None) -> PsrmActionCode:
    return PsrmActionCode(text) if text in _CODES else PsrmActionCode.CREATE


_CODES = frozenset(c.value for c in PsrmActionCode)


def _content_digest(body: etree._Element) -> str:
    """SHA-256 of the delivery without its Kontekst (TransaktionsID/-Tid change on resend)."""
    clone = copy.deepcopy(body)
    for k in clone.findall(f"{{{PSRM_NS}}}Kontekst"):
        clone.remove(k)
    return hashlib.sha256(etree.tostring(clone, method="c14n")).hexdigest()


def _decode(element: etree._Element, index: int, today: date) -> ActionRequest:
    """Decode one action; whatever cannot be read becomes a problem of that action only."""
    try:
        return decode_action(Reader(element, PSRM_NS), index, received=today)
    except (DecodeError, ValueError) as exc:
        a = Reader(element, PSRM_NS)
        action = ActionRequest(
            index=index, code=_code_of(a.opt_text("MFAktionKode")),
            creditor_id=a.opt_text("DMIFordringHaverID") or "", element=element, choice=None)
        action.problems.append(exc if isinstance(exc, DecodeError)
                               else DecodeError(a.path_of(), str(exc)))
        return action


def _base_context(call: Call) -> RuleContext:
    """The rule context a delivery is judged in: hand-over rules on, the installed claim
    types, and the behaviour switches (agreements, unknown debtors) when set."""
    agreements_raw = get_setting(call.conn, AGREEMENTS)
    agreements = None if agreements_raw is None else {
        str(k): frozenset(str(c) for c in v) for k, v in agreements_raw.items()}
    unknown = frozenset(str(n) for n in (get_setting(call.conn, UNKNOWN_DEBTORS) or []))
    known_debtor = None
    if unknown:
        def known_debtor(party: Party) -> bool:
            return party.number not in unknown
    return RuleContext(claim_types=call.runtime.claim_types(call.conn), agreements=agreements,
                       known_debtor=known_debtor, handover=True)


def _reason(v: Violation, prefix: str = "") -> RejectionReason:
    """A violation as PSRM answers it: its number and PSRM's own text; the path travels
    beside the text (journal, dashboard), never inside it."""
    number, text = v.to_afvist()
    v = v.with_prefix(prefix)
    return RejectionReason(number, text, path=v.path or None)


class _Counter:
    """A named counter (as :func:`emulator.storage.store.next_number` keeps it) read once and
    written once per delivery; the row lock keeps the numbers gap-free and unique."""

    def __init__(self, conn: Connection, name: str) -> None:
        self.conn, self.name = conn, name
        row = conn.execute(select(t.counters.c.value).where(t.counters.c.name == name)
                           .with_for_update()).first()
        self.exists = row is not None
        self.value = self.first = int(row[0]) if row is not None else 0

    def next(self) -> int:
        self.value += 1
        return self.value

    def save(self) -> None:
        if self.value == self.first:
            return
        if self.exists:
            self.conn.execute(update(t.counters).where(t.counters.c.name == self.name)
                              .values(value=self.value))
        else:
            self.conn.execute(insert(t.counters).values(name=self.name, value=self.value))


def in_chunks(items: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class _Batch:
    """One delivery being judged and stored. The PSRM claims and earlier actions its
    actions name are loaded once and kept current in memory (so action 3 sees what action
    2 did), and the new rows are written together at the end: a delivery of a thousand
    actions costs a handful of statements, not thousands."""

    def __init__(self, call: Call, se: str, delivery_id: str,
                 actions: Sequence[ActionRequest]) -> None:
        self.conn, self.se, self.delivery_id = call.conn, se, delivery_id
        self.today, self.now = call.today, call.now
        self.context = _base_context(call)
        self.contexts: dict[str, RuleContext] = {}
        self.closed_types: Mapping[str, str] = get_setting(call.conn, REJECT_TYPES) or {}
        refs = sorted({a.claim.fagsystem_claim_id for a in actions if a.claim is not None})
        efis = sorted({a.efi_claim_id for a in actions if a.efi_claim_id})
        c = t.psrm_claims.c
        #: (creditor id, claim ref) of this sender's active claims, for the refs sent.
        self.active: set[tuple[str, str]] = set()
        for chunk in in_chunks(refs):
            self.active.update((row.creditor_id, row.claim_ref) for row in self.conn.execute(
                select(c.creditor_id, c.claim_ref).where(
                    c.se_number == se, c.status == ACTIVE, c.claim_ref.in_(chunk))))
        #: The claims the actions name by EFI id, as mutable dicts.
        self.claims: dict[str, dict[str, Any]] = {}
        for chunk in in_chunks(efis):
            for row in self.conn.execute(select(t.psrm_claims).where(c.efi_claim_id.in_(chunk))):
                self.claims[row.efi_claim_id] = dict(row._mapping)
        #: Earlier actions named by MFAktionID or MFAktionIDRef, as mutable dicts.
        named = sorted({i for a in actions for i in (a.action_id, a.action_id_ref) if i})
        self.actions: dict[str, dict[str, Any]] = {}
        for chunk in in_chunks(named):
            for row in self.conn.execute(select(t.psrm_actions).where(
                    t.psrm_actions.c.action_id.in_(chunk))):
                self.actions[row.action_id] = dict(row._mapping)
        self.changed: set[str] = set()
        self.annulled: set[str] = set()
        self.new_claims: list[dict[str, Any]] = []
        self.new_actions: list[dict[str, Any]] = []
        self.action_numbers = _Counter(self.conn, "psrm_action")
        self.efi_numbers = _Counter(self.conn, "psrm_efi_claim")
        # ids a sender chose may lie where the counter will go: those numbers are skipped
        first = action_id(self.action_numbers.value + 1)
        last = action_id(self.action_numbers.value + len(actions))
        self.taken = set(self.conn.execute(select(t.psrm_actions.c.action_id).where(
            t.psrm_actions.c.action_id.between(first, last))).scalars())

    # ------------------------------------------------------------ the indgangsfilter

    def judge(self, action: ActionRequest) -> _Judged:
        """Every reason one action is rejected for (none: accepted)."""
        judged = _Judged(action, [])
        reasons = judged.reasons
        prefix = f"AktionValg/{action.choice or action.expected_choice}"
        for problem in action.problems:
            v = violation(UNREADABLE, fmt="psrm", message=problem.message)
            reasons.append(RejectionReason(v.rule.code, v.message_da,
                                           path=_relative(problem.path, prefix)))
        context = self._context_of(action.creditor_id)
        claim = action.claim
        if claim is not None:
            ref = claim.fagsystem_claim_id
            judged.claim_ref = ref
            if (action.creditor_id, ref) in self.active:  # PSRM holds it already: 486
                context = replace(context, seen_refs=frozenset({ref}))
        if action.action_id is not None and action.action_id in self.actions:
            context = replace(context, seen_action_ids=frozenset({action.action_id}))
        violations = [v for v in validate_action(action, today=self.today, context=context)
                      if v.severity == "error"]
        reasons.extend(_reason(v) for v in violations)
        if claim is not None and self.closed_types:
            reasons.extend(self._closed_types(action, violations))
        if action.efi_claim_id is not None and not action.problems \
                and action.choice == action.expected_choice:
            self._judge_target(judged, prefix)
        return judged

    def _context_of(self, creditor_id: str) -> RuleContext:
        """The delivery's rule context for one fordringshaver (as :func:`validate_action`
        would make it from the action's ``DMIFordringHaverID``), made once per sender."""
        if not creditor_id or self.context.creditor_id:
            return self.context
        context = self.contexts.get(creditor_id)
        if context is None:
            context = self.contexts[creditor_id] = replace(self.context,
                                                           creditor_id=creditor_id)
        return context

    def _closed_types(self, action: ActionRequest, already: Sequence[Violation]
                      ) -> list[RejectionReason]:
        """The ``psrm_reject_types`` switch: 574 for a closed type, with the scenario's text
        when it gives one (else PSRM's own)."""
        claim = action.claim
        assert claim is not None
        prefix = f"AktionValg/{action.choice}"
        seen = {(v.rule.id, v.path) for v in already}
        out = []
        targets: list[tuple[str, str, int | None]] = [(claim.type_code, "type_code", None)]
        targets += [(s.type_code, "sub_claims.type_code", n)
                    for n, s in enumerate(claim.sub_claims, start=1)]
        for code, fld, n in targets:
            if code not in self.closed_types:
                continue
            v = violation(REJECT_TYPE_RULE, fmt="psrm", field=fld, n=n, type_code=code
                          ).with_prefix(prefix)
            if (v.rule.id, v.path) in seen:
                continue
            reason = _reason(v)
            text = str(self.closed_types[code] or "").strip()
            if text:  # the scenario's own words for why the type is closed
                reason = replace(reason, text=text[:1000])
            out.append(reason)
        return out

    def _judge_target(self, judged: _Judged, prefix: str) -> None:
        """Every action but OPRETFORDRING names a PSRM claim: it must be this sender's, and
        in a state the action makes sense in; an annulment's MFAktionIDRef must name the
        right kind of earlier action on that claim, not annulled yet, for the same amount."""
        action = judged.action
        efi = action.efi_claim_id
        assert efi is not None
        judged.efi_claim_id = efi
        claim = self.claims.get(efi)
        if claim is None or claim["se_number"] != self.se:
            judged.reasons.append(_reason(violation("PSRM-509", fmt="psrm", efi=efi,
                                                    se=self.se), prefix))
            return
        judged.efi_main_claim_id = claim["main_efi_claim_id"] or efi
        if judged.claim_ref is None:
            judged.claim_ref = claim["claim_ref"]
        hits = list(self._target_checks(judged, claim))
        judged.reasons.extend(_reason(v, prefix) for v in hits)

    def _target_checks(self, judged: _Judged, claim: dict[str, Any]) -> Iterator[Violation]:
        action, code = judged.action, judged.action.code
        efi, status, remaining = claim["efi_claim_id"], claim["status"], claim["remaining_ore"]
        amount = None if action.amount is None else to_ore(action.amount)
        at = action.amount_path or ""

        fields: dict[str, tuple[str, str | None]] = {
            "PSRM-571": ("change.reason", action.reason_path), "OIR-203": ("change.amount", at),
            "PSRM-510": ("change.amount", at)}

        def v(rule_id: str, **values: object) -> Violation:
            fld, structure = fields.get(rule_id, (None, None))
            return violation(rule_id, fmt="psrm", field=fld, structure=structure,
                             **{"efi": efi, "state": status, **values})

        if code is PsrmActionCode.RESUBMIT:
            if status == RETURNED or (status == RECALLED
                                      and claim["closed_reason"] not in RESUBMITTABLE):
                yield v("PSRM-539", reason=claim["closed_reason"])
            elif status != RECALLED:
                yield v("PSRM-540")
            return
        if code is PsrmActionCode.RECALL:
            if status in ENDED_STATUSES:
                yield v("PSRM-602")
            elif status != ACTIVE:
                yield v("OIR-206")
            return
        if code is PsrmActionCode.CHANGE:
            if claim["art"] == "INDR":
                yield v("PSRM-537")
            elif status != ACTIVE:
                yield v("OIR-201", change="AENDRFORDRING")
            return
        if status in ENDED_STATUSES:
            yield v("PSRM-496" if code in WRITE_UPS or code is PsrmActionCode.WRONG_PRINCIPAL
                    else "PSRM-498")
            return
        if code is PsrmActionCode.WRONG_PRINCIPAL:
            if amount is not None and amount <= claim["amount_ore"]:
                yield v("PSRM-510", amount=action.amount, previous=from_ore(claim["amount_ore"]))
            return
        if code in WRITE_DOWNS and status != ACTIVE:
            yield v("OIR-201", change=code.value)
        if code is PsrmActionCode.WRITE_DOWN and action.reason == "FAST":
            yield v("PSRM-571")
        if code in WRITE_DOWNS and amount is not None and amount > remaining:
            yield v("OIR-203", amount=action.amount, outstanding=from_ore(remaining))
        if code in ANNULMENTS and action.action_id_ref is not None:
            yield from self._reference_checks(judged, efi)

    def _reference_checks(self, judged: _Judged, efi: str) -> Iterator[Violation]:
        action, code = judged.action, judged.action.code
        ref_id = action.action_id_ref
        ref = self.actions.get(ref_id or "")
        if ref is None or ref["status"] == PsrmStatus.REJECTED.value:
            yield violation("PSRM-526", fmt="psrm", ref=ref_id)
            return
        judged.ref = ref
        expected = {
            PsrmActionCode.WRITE_UP_ANNULLED_PAYMENT: ("PSRM-473", {"NEDSKRIV"}),
            PsrmActionCode.WRITE_UP_REVERSED_ADJUSTMENT: ("PSRM-473", {"NEDSKRIV"}),
            PsrmActionCode.WRITE_DOWN_ANNULLED_WRITE_UP: (
                "PSRM-502", {PsrmActionCode.WRITE_UP.value,
                             PsrmActionCode.WRITE_UP_REVERSED_ADJUSTMENT.value}),
            PsrmActionCode.WRITE_DOWN_ANNULLED_PAYMENT_WRITE_UP: (
                "PSRM-506", {PsrmActionCode.WRITE_UP_ANNULLED_PAYMENT.value}),
        }[code]
        if ref["code"] not in expected[1]:
            yield violation(expected[0], fmt="psrm", ref=ref_id, code=ref["code"])
            return
        if ref["efi_claim_id"] != efi:
            yield violation("PSRM-494", fmt="psrm", ref=ref_id, referenced=ref["efi_claim_id"],
                            efi=efi)
        if code is PsrmActionCode.WRITE_UP_ANNULLED_PAYMENT and ref["reason"] != "INDB":
            yield violation("PSRM-471", fmt="psrm", ref=ref_id, reason=ref["reason"])
        if code is PsrmActionCode.WRITE_UP_REVERSED_ADJUSTMENT and ref["reason"] != "REGU":
            yield violation("PSRM-477", fmt="psrm", ref=ref_id, reason=ref["reason"])
        if ref["annulled_by"]:
            yield violation("PSRM-503", fmt="psrm", ref=ref_id, by=ref["annulled_by"])
        if action.amount is not None and ref["amount_ore"] is not None \
                and to_ore(action.amount) != ref["amount_ore"]:
            rule_id = "PSRM-469" if code in WRITE_UPS else "PSRM-504"
            yield violation(rule_id, fmt="psrm", field="change.amount",
                            structure=action.amount_path, ref=ref_id, amount=action.amount,
                            referenced=from_ore(ref["amount_ore"]))

    # ------------------------------------------------------------ effects

    def _new_action_id(self, wanted: str | None) -> str:
        if wanted is not None and wanted not in self.actions and len(wanted) <= 64:
            return wanted
        while True:
            candidate = action_id(self.action_numbers.next())
            if candidate not in self.taken and candidate not in self.actions:
                return candidate

    def store(self, judged: _Judged) -> PsrmAction:
        """Record one judged action and apply an accepted one's effect on PSRM's claims."""
        action = judged.action
        now = self.now
        view = PsrmAction(action_id=self._new_action_id(action.action_id),
                          code=action.code, creditor_id=action.creditor_id or "0",
                          status=PsrmStatus.RECEIVED, status_changed=now,
                          received=now, claim_ref=judged.claim_ref,
                          efi_claim_id=judged.efi_claim_id,
                          efi_main_claim_id=judged.efi_main_claim_id, reasons=judged.reasons)
        creates = action.code.creates_claim
        if judged.reasons:
            view.status = PsrmStatus.REJECTED
            if creates:
                view.efi_claim_id = view.efi_main_claim_id = None  # nothing was created
        elif creates:
            self._create(action, view)
        else:
            self._change(judged, view)
        row = _action_row(view, se=self.se, delivery_id=self.delivery_id,
                          position=action.index)
        if view.status is not PsrmStatus.REJECTED:
            row.update(amount_ore=None if action.amount is None else to_ore(action.amount),
                       reason=action.reason, effective=action.effective_date,
                       ref_action_id=action.action_id_ref)
        self.new_actions.append(row)
        self.actions[view.action_id] = {**row, "annulled_by": None}
        return view

    def _create(self, action: ActionRequest, view: PsrmAction) -> None:
        claim = action.claim
        assert claim is not None
        efi = efi_id(self.efi_numbers.next())
        total = to_ore(claim.principal) + sum(to_ore(s.amount) for s in claim.sub_claims)
        party = claim.co_liable[0].party
        self.new_claims.append(dict(
            efi_claim_id=efi, se_number=self.se, creditor_id=action.creditor_id,
            claim_ref=claim.fagsystem_claim_id, main_efi_claim_id=efi,
            type_code=claim.type_code, art=claim.art.value if claim.art else "INDR",
            party_kind=party.kind.value, party_number=party.number, amount_ore=total,
            remaining_ore=total, status=ACTIVE, received=self.today, closed_reason=None))
        self.active.add((action.creditor_id, claim.fagsystem_claim_id))
        view.efi_claim_id = view.efi_main_claim_id = efi

    def _change(self, judged: _Judged, view: PsrmAction) -> None:
        """What an accepted non-claim action does to the claim it names."""
        action, code = judged.action, judged.action.code
        assert action.efi_claim_id is not None
        target = self.claims[action.efi_claim_id]
        ore = 0 if action.amount is None else to_ore(action.amount)
        if code in WRITE_DOWNS:
            target["remaining_ore"] -= ore
            if target["remaining_ore"] == 0:
                target["status"] = PAID
        elif code in WRITE_UPS:
            target["remaining_ore"] += ore
            target["amount_ore"] += ore
            if target["status"] == PAID:
                target["status"] = ACTIVE  # owed again
        elif code is PsrmActionCode.WRONG_PRINCIPAL:
            raised = ore - target["amount_ore"]
            target["amount_ore"] = ore
            target["remaining_ore"] += raised
        elif code is PsrmActionCode.RECALL:
            target["status"] = RECALLED
            target["closed_reason"] = action.reason
        if judged.ref is not None:
            judged.ref["annulled_by"] = view.action_id
            self.annulled.add(judged.ref["action_id"])
        if target["status"] != ACTIVE:
            self.active.discard((target["creditor_id"], target["claim_ref"]))
        self.changed.add(action.efi_claim_id)

    def flush(self) -> None:
        """Write what the delivery did: new claims, changed claims, every action."""
        _NEW_CLAIMS.run_many(self.conn, self.new_claims)
        for efi in sorted(self.changed):
            claim = self.claims[efi]
            self.conn.execute(update(t.psrm_claims).where(t.psrm_claims.c.efi_claim_id == efi)
                              .values(remaining_ore=claim["remaining_ore"],
                                      amount_ore=claim["amount_ore"], status=claim["status"],
                                      closed_reason=claim["closed_reason"]))
        _NEW_ACTIONS.run_many(self.conn, self.new_actions)
        for annulled in sorted(self.annulled):  # after the insert: it may be one of them
            self.conn.execute(update(t.psrm_actions).where(
                t.psrm_actions.c.action_id == annulled).values(
                    annulled_by=self.actions[annulled]["annulled_by"]))
        self.action_numbers.save()
        self.efi_numbers.save()


# a delivery's new rows, one executemany each, straight on the driver (see prepared.py)
_NEW_CLAIMS = Prepared(insert(t.psrm_claims))
_NEW_ACTIONS = Prepared(insert(t.psrm_actions))


def _relative(path: str, prefix: str) -> str:
    """A decode path (from the message root) relative to the ``FordringAktion``."""
    marker = "FordringAktion/"
    return path.split(marker, 1)[1] if marker in path else f"{prefix}/{path}".rstrip("/")


def _action_row(view: PsrmAction, *, se: str, delivery_id: str, position: int
                ) -> dict[str, Any]:
    return dict(
        action_id=view.action_id, delivery_id=delivery_id, se_number=se, position=position,
        code=view.code.value, creditor_id=view.creditor_id,
        claim_ref=view.claim_ref if view.claim_ref and len(view.claim_ref) <= 64 else None,
        efi_claim_id=view.efi_claim_id, efi_main_claim_id=view.efi_main_claim_id,
        status=view.status.value, status_changed=view.status_changed, received=view.received,
        reasons=[{"number": r.number, "text": r.text, "path": r.path} for r in view.reasons],
        amount_ore=None, reason=None, effective=None, ref_action_id=None)


def action_view(row: Row[Any]) -> PsrmAction:
    return PsrmAction(
        action_id=row.action_id, code=PsrmActionCode(row.code), creditor_id=row.creditor_id,
        status=PsrmStatus(row.status),
        status_changed=row.status_changed, efi_claim_id=row.efi_claim_id,
        efi_main_claim_id=row.efi_main_claim_id, claim_ref=row.claim_ref, received=row.received,
        reasons=[RejectionReason(str(r["number"]), str(r["text"]), path=r.get("path"))
                 for r in row.reasons or []])
