"""The PSRM end: ``MFFordringIndberet``, ``MFKvitteringHent`` and ``MFUnderretSamlingHent``
as Gældsstyrelsen's fordringshaver interface answers them, plus what the virtual clock
and the admin API drive (status progression, payments in PSRM, scripted events,
behaviour switches).

A delivery is judged action by action: each ``FordringAktion`` is decoded on its own and
run through the indgangsfilter (the shared rule catalogue, :mod:`oir_adapter.rules`,
plus what only PSRM can know: its own claims and the behaviour switches), so one bad
action never touches its neighbours. Accepted actions take effect at once (a claim is
created, written down or recalled) and then progress ``MODTAGET`` → ``SAGSBEHANDL`` →
``UDFOERT`` on the virtual clock; rejected ones are ``AFVIST`` with every reason.
docs/psrm-end.md describes the behaviour for users.
"""

from __future__ import annotations

import copy
import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from lxml import etree
from sqlalchemy import Connection, Row, delete, func, insert, or_, select, update

from oir_adapter.codecs.psrm import ActionRequest, decode_action
from oir_adapter.codecs.reading import DecodeError, Reader
from oir_adapter.contracts import PSRM_NS
from oir_adapter.model import (
    MoneyError,
    Party,
    PsrmAction,
    PsrmActionCode,
    PsrmStatus,
    RecallReason,
    RejectionReason,
    mask_cpr,
    money,
)
from oir_adapter.rules import (
    ANNULMENTS,
    WRITE_DOWNS,
    WRITE_UPS,
    RuleContext,
    Violation,
    validate_action,
    violation,
)

from . import clock
from . import tables as t
from .endpoints import Call, OperationHandler
from .psrm_replies import (
    NotificationView,
    action_structure,
    answer,
    indberet_answer,
    notification_structure,
    sub,
    transaction_id_of,
)
from .soap import SoapFault
from .store import from_ore, get_setting, next_number, put_setting, to_ore

if TYPE_CHECKING:
    from .runtime import Runtime

# ---------------------------------------------------------------- vocabulary

END = "psrm"

#: psrm_claims.status values.
ACTIVE = "AKTIV"
PAID = "INDFRIET"
RECALLED = "TILBAGEKALDT"
RETURNED = "RETUR"
WRITTEN_OFF = "AFSKREVET"

#: Notification kinds (MFUnderretTypeKode).
COVERAGE = "DAEKNING"
WRITE_OFF = "AFSKRIVNING"
RETURN = "RETUR"

#: Scripted event kinds as scenarios and the admin API write them → notification kind.
SCRIPTED_KINDS = {"pay": COVERAGE, "write_off": WRITE_OFF, "return": RETURN}
COVERAGE_SOURCES = ("INDB", "MODR")
DEFAULT_WRITE_OFF_REASON = "FORAELDELSE"
DEFAULT_RETURN_REASON = "ANDET"

#: Behaviour switches (settings keys).
REJECT_TYPES = "psrm_reject_types"
UNKNOWN_DEBTORS = "psrm_unknown_debtors"
AGREEMENTS = "psrm_agreements"
_SWITCHES = {"reject_types": REJECT_TYPES, "unknown_debtors": UNKNOWN_DEBTORS,
             "agreements": AGREEMENTS}

#: The PSRM number for the behaviour switch ``psrm_reject_types``: "claim type inactive",
#: which is what PSRM answers when it has closed a type for new claims.
REJECT_TYPE_RULE = "PSRM-574"

#: PSRM's check of an action that cannot be read (catalogue context psrm.end).
UNREADABLE = "OIR-403"

#: PSRM's own ids are numbers: action ids and EFI claim ids count up from these.
ACTION_ID_BASE = 110_000_000_000
EFI_ID_BASE = 120_000_000_000
#: Recall reasons after which a claim may be sent again (GENINDSENDFORDRING; rule 539).
RESUBMITTABLE = frozenset(r.value for r in RecallReason if r.resubmittable)
_CLOSED = (RECALLED, RETURNED)


def action_id(number: int) -> str:
    return str(ACTION_ID_BASE + number)


def efi_id(number: int) -> str:
    return str(EFI_ID_BASE + number)


# ---------------------------------------------------------------- MFFordringIndberet

@dataclass(slots=True)
class _Judged:
    """One action after the indgangsfilter: its row values and reasons."""

    action: ActionRequest
    reasons: list[RejectionReason]
    claim_ref: str | None = None
    efi_claim_id: str | None = None
    efi_main_claim_id: str | None = None
    ref: dict[str, Any] | None = None  # the action an annulment reverses


def _indberet(call: Call) -> etree._Element:
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
    answer_el = _delivery_answer(call, se, delivery_id, [_view(row) for row in rows])
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


def _refuse_indberet(call: Call, transaction_id: str) -> etree._Element:
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
    """A named counter (as :func:`emulator.store.next_number` keeps it) read once and
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


def _chunks(items: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
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
        self.closed_types: Mapping[str, str] = get_setting(call.conn, REJECT_TYPES) or {}
        refs = sorted({a.claim.fagsystem_claim_id for a in actions if a.claim is not None})
        efis = sorted({a.efi_claim_id for a in actions if a.efi_claim_id})
        c = t.psrm_claims.c
        #: (creditor id, claim ref) of this sender's active claims, for the refs sent.
        self.active: set[tuple[str, str]] = set()
        for chunk in _chunks(refs):
            self.active.update((row.creditor_id, row.claim_ref) for row in self.conn.execute(
                select(c.creditor_id, c.claim_ref).where(
                    c.se_number == se, c.status == ACTIVE, c.claim_ref.in_(chunk))))
        #: The claims the actions name by EFI id, as mutable dicts.
        self.claims: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(efis):
            for row in self.conn.execute(select(t.psrm_claims).where(c.efi_claim_id.in_(chunk))):
                self.claims[row.efi_claim_id] = dict(row._mapping)
        #: Earlier actions named by MFAktionID or MFAktionIDRef, as mutable dicts.
        named = sorted({i for a in actions for i in (a.action_id, a.action_id_ref) if i})
        self.actions: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(named):
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
        context = self.context
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
            if status in _CLOSED:
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
        if status in _CLOSED:
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
        if self.new_claims:
            self.conn.execute(insert(t.psrm_claims), self.new_claims)
        for efi in sorted(self.changed):
            claim = self.claims[efi]
            self.conn.execute(update(t.psrm_claims).where(t.psrm_claims.c.efi_claim_id == efi)
                              .values(remaining_ore=claim["remaining_ore"],
                                      amount_ore=claim["amount_ore"], status=claim["status"],
                                      closed_reason=claim["closed_reason"]))
        if self.new_actions:
            self.conn.execute(insert(t.psrm_actions), self.new_actions)
        for annulled in sorted(self.annulled):  # after the insert: it may be one of them
            self.conn.execute(update(t.psrm_actions).where(
                t.psrm_actions.c.action_id == annulled).values(
                    annulled_by=self.actions[annulled]["annulled_by"]))
        self.action_numbers.save()
        self.efi_numbers.save()


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


def _view(row: Row[Any]) -> PsrmAction:
    return PsrmAction(
        action_id=row.action_id, code=PsrmActionCode(row.code), creditor_id=row.creditor_id,
        status=PsrmStatus(row.status),
        status_changed=row.status_changed, efi_claim_id=row.efi_claim_id,
        efi_main_claim_id=row.efi_main_claim_id, claim_ref=row.claim_ref, received=row.received,
        reasons=[RejectionReason(str(r["number"]), str(r["text"]), path=r.get("path"))
                 for r in row.reasons or []])


# ---------------------------------------------------------------- PSRM's claims

def _claim_by_efi(conn: Connection, efi_claim_id: str) -> Row[Any] | None:
    return conn.execute(select(t.psrm_claims).where(
        t.psrm_claims.c.efi_claim_id == efi_claim_id)).first()


def _active_claim_by_ref(conn: Connection, se: str | None, creditor_id: str | None,
                         claim_ref: str) -> Row[Any] | None:
    q = select(t.psrm_claims).where(t.psrm_claims.c.claim_ref == claim_ref,
                                    t.psrm_claims.c.status == ACTIVE)
    if se is not None:
        q = q.where(t.psrm_claims.c.se_number == se)
    if creditor_id is not None:
        q = q.where(t.psrm_claims.c.creditor_id == creditor_id)
    return conn.execute(q.order_by(t.psrm_claims.c.received.desc(),
                                   t.psrm_claims.c.efi_claim_id.desc())).first()


def _reduce(conn: Connection, efi_claim_id: str, ore: int, closed_status: str) -> int:
    """Take ``ore`` off a claim's remaining; at zero it gets ``closed_status``. Returns
    what remains."""
    row = _claim_by_efi(conn, efi_claim_id)
    assert row is not None
    remaining = row.remaining_ore - ore
    conn.execute(update(t.psrm_claims).where(t.psrm_claims.c.efi_claim_id == efi_claim_id)
                 .values(remaining_ore=remaining,
                         status=closed_status if remaining == 0 else row.status))
    return int(remaining)


def _resolve(conn: Connection, claim_ref: str | None, efi_claim_id: str | None
             ) -> Row[Any] | None:
    if efi_claim_id:
        return _claim_by_efi(conn, efi_claim_id)
    if claim_ref:  # the active claim with that reference, else the latest one
        return _active_claim_by_ref(conn, None, None, claim_ref) or conn.execute(
            select(t.psrm_claims).where(t.psrm_claims.c.claim_ref == claim_ref).order_by(
                t.psrm_claims.c.received.desc(), t.psrm_claims.c.efi_claim_id.desc())).first()
    return None


def seed_claim(conn: Connection, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Put a claim into PSRM directly (scenarios: a claim handed over before the story
    starts). ``spec``: ``claim_ref``, ``party`` (CPR or CVR digits), ``amount``, and
    optionally ``efi_claim_id``, ``remaining``, ``se_number``, ``creditor_id``,
    ``type_code`` (CFFAKTU), ``art`` (INDR), ``status`` (AKTIV), ``received`` (ISO date).
    Raises ``ValueError`` naming the field."""
    claim_ref = _spec_text(spec, "claim_ref", required=True)
    party = _spec_text(spec, "party", required=True)
    assert claim_ref is not None and party is not None
    if not party.isdigit() or len(party) not in (8, 10):
        raise ValueError("party: a CPR (10 digits) or CVR (8 digits) number")
    amount = _spec_amount(spec, "amount", required=True)
    assert amount is not None
    remaining = _spec_amount(spec, "remaining", required=False)
    remaining = amount if remaining is None else remaining
    if remaining > amount:
        raise ValueError("remaining: larger than amount")
    status = _spec_text(spec, "status") or ACTIVE
    if status not in (ACTIVE, PAID, RECALLED, RETURNED, WRITTEN_OFF):
        raise ValueError(f"status: {status!r} is not one of AKTIV, INDFRIET, TILBAGEKALDT, "
                         "RETUR, AFSKREVET")
    art = _spec_text(spec, "art") or "INDR"
    if art not in ("INDR", "MODR"):
        raise ValueError(f"art: {art!r} is not INDR or MODR")
    received = _spec_date(spec, "received", required=False) or clock.today(conn)
    efi = _spec_text(spec, "efi_claim_id") or efi_id(next_number(conn, "psrm_efi_claim"))
    if _claim_by_efi(conn, efi) is not None:
        raise ValueError(f"efi_claim_id: {efi} exists already")
    se = _spec_text(spec, "se_number") or "29189846"
    values = dict(
        efi_claim_id=efi, se_number=se, creditor_id=_spec_text(spec, "creditor_id") or "1000",
        claim_ref=claim_ref, main_efi_claim_id=efi, type_code=_spec_text(spec, "type_code")
        or "CFFAKTU", art=art, party_kind="CPR" if len(party) == 10 else "CVR",
        party_number=party, amount_ore=to_ore(amount), remaining_ore=to_ore(remaining),
        status=status, received=received, closed_reason=None)
    conn.execute(insert(t.psrm_claims).values(**values))
    return _claim_json(values)


# ---------------------------------------------------------------- MFKvitteringHent

def _kvittering(call: Call) -> etree._Element:
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
    rows = sorted(rows, key=lambda row: (_action_number(row.action_id), row.action_id))
    done = sorted({row.efi_claim_id for row in rows
                   if row.status == PsrmStatus.DONE.value and row.efi_claim_id})
    balances = {efi: remaining for chunk in _chunks(done) for efi, remaining in call.conn.execute(
        select(t.psrm_claims.c.efi_claim_id, t.psrm_claims.c.remaining_ore)
        .where(t.psrm_claims.c.efi_claim_id.in_(chunk)))}
    el = answer("MFKvitteringHent_O", transaction_id=call.transaction_id,
                service_id="MFKvitteringHent", now=call.now)
    samling = sub(el, "KvitteringSamling")
    for row in rows:
        view = _view(row)
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


def _action_number(action_id: str) -> int:
    digits = action_id.rpartition("-")[2]
    return int(digits) if digits.isdigit() else 1 << 62


# ---------------------------------------------------------------- MFUnderretSamlingHent

DEFAULT_PAGE = 100
_MAX_SEQ = 1 << 62


@dataclass(frozen=True, slots=True)
class _Search:
    """What an ``MFUnderretSamlingHent_I`` asks for (empty values count as not given)."""

    creditors: tuple[str, ...]
    since: date | None
    first: int | None
    last: int | None


def _search(r: Reader) -> _Search:
    """Read the search and refuse the combinations PSRM refuses, with its messages."""
    since_text = r.opt_text("SøgeDatoFra/MFUnderretningDatoTid") or None
    first_text = r.opt_text("UnderretNummerFra/MFUnderretningNummer") or None
    last_text = r.opt_text("UnderretNummerTil/MFUnderretningNummer") or None
    problems = []
    if since_text and (first_text or last_text):
        problems.append("If SøgeDatoFra has a value, the UnderretNummerFra and "
                        "UnderretNummerTil must not have a value")
    if first_text and since_text:
        problems.append("If UnderretNummerFra has a value, SøgeDatoFra must not have a value")
    if last_text and not first_text:
        problems.append("If UnderretNummerTil has a value, UnderretNummerFra must have a "
                        "value too")
    first = None if first_text is None else min(int(first_text), _MAX_SEQ)
    last = None if last_text is None else min(int(last_text), _MAX_SEQ)
    if first is not None and last is not None and last < first:
        problems.append("UnderretNummerTil must not be less than UnderretNummerFra")
    if problems:
        raise SoapFault("Client", "Request validation messages: " + " / ".join(problems))
    creditors = tuple(dict.fromkeys(
        (c.element.text or "").strip() for c in r.all("FordringHaverSamling/DMIFordringHaverID")
        if (c.element.text or "").strip()))
    return _Search(creditors, None if since_text is None else r.date(
        "SøgeDatoFra/MFUnderretningDatoTid"), first, last)


def _underret(call: Call) -> etree._Element:
    r = Reader(call.body, PSRM_NS)
    se = r.text("FordringhaverSystemIDStruktur/VirksomhedSENummer")
    search = _search(r)
    call.correlation.update({"VirksomhedSENummer": se})
    n = t.psrm_notifications.c
    query = select(t.psrm_notifications).where(n.se_number == se)
    if search.creditors:
        query = query.where(n.creditor_id.in_(search.creditors))
    if search.since is not None:
        query = query.where(n.date >= search.since)
    if search.first is not None:
        query = query.where(n.seq >= search.first)
    if search.last is not None:
        query = query.where(n.seq <= search.last)
    rows = call.conn.execute(query.order_by(n.seq).limit(DEFAULT_PAGE + 1)).all()
    more = len(rows) > DEFAULT_PAGE
    rows = rows[:DEFAULT_PAGE]
    el = answer("MFUnderretSamlingHent_O", transaction_id=call.transaction_id,
                service_id="MFUnderretSamlingHent", now=call.now)
    samling = sub(el, "MFUnderretSamling")
    for row in rows:
        notification_structure(samling, _notification_view(row))
    sub(el, "MFFlereUnderretninger", "true" if more else "false")
    after = (search.first or 1) - 1
    sub(el, "MFSidsteUnderretningNummer", rows[-1].seq if rows else after)
    call.summary = f"{len(rows)} notifications" + (" (more)" if more else "")
    return el


def _notification_view(row: Row[Any]) -> NotificationView:
    return NotificationView(
        seq=row.seq, kind=row.kind, efi_claim_id=row.efi_claim_id, day=row.date,
        claim_ref=row.claim_ref, creditor_id=row.creditor_id,
        amount=None if row.amount_ore is None else from_ore(row.amount_ore),
        source=row.source, reason=row.reason, text=row.text)


def _refuse_read(service_id: str) -> Any:
    def refuse(call: Call, transaction_id: str) -> etree._Element:
        call.summary = f"TransaktionsID {transaction_id} reused with another body"
        v = violation("PSRM-600", fmt="psrm", field="transaction_id", action_id=transaction_id)
        return answer(f"{service_id}_O", transaction_id=transaction_id, service_id=service_id,
                      now=call.now, errors=[v.to_afvist()])
    return refuse


HANDLERS: dict[str, OperationHandler] = {
    "MFFordringIndberet": OperationHandler(_indberet, _refuse_indberet, transaction_id_of),
    "MFKvitteringHent": OperationHandler(_kvittering, _refuse_read("MFKvitteringHent"),
                                         transaction_id_of, read_only=True),
    "MFUnderretSamlingHent": OperationHandler(_underret, _refuse_read("MFUnderretSamlingHent"),
                                              transaction_id_of, read_only=True),
}


# ---------------------------------------------------------------- notifications

def _notify(conn: Connection, claim: Row[Any], *, kind: str, day: date,
            amount_ore: int | None = None, source: str | None = None,
            reason: str | None = None, text: str | None = None) -> int:
    result = conn.execute(insert(t.psrm_notifications).values(
        se_number=claim.se_number, kind=kind, efi_claim_id=claim.efi_claim_id,
        claim_ref=claim.claim_ref, creditor_id=claim.creditor_id, date=day,
        amount_ore=amount_ore, source=source, reason=reason, text=text))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _apply_event(conn: Connection, claim: Row[Any], *, kind: str, day: date,
                 amount_ore: int | None, source: str | None, reason: str | None
                 ) -> dict[str, Any]:
    """Coverage, write-off or return of an active claim, with its notification."""
    event: dict[str, Any] = {"end": END, "event": kind, "efi_claim_id": claim.efi_claim_id,
                             "claim_ref": claim.claim_ref, "date": day.isoformat()}
    if kind == RETURN:
        code = reason or DEFAULT_RETURN_REASON
        conn.execute(update(t.psrm_claims).where(
            t.psrm_claims.c.efi_claim_id == claim.efi_claim_id).values(status=RETURNED,
                                                                      closed_reason=code))
        event["seq"] = _notify(conn, claim, kind=RETURN, day=day, reason=code,
                               text=f"Fordringen returneres til fordringshaver ({code})")
        event["reason"] = code
        return event
    ore = claim.remaining_ore if amount_ore is None else amount_ore
    if kind == COVERAGE:
        src = source or "INDB"
        event["seq"] = _notify(conn, claim, kind=COVERAGE, day=day, amount_ore=ore, source=src)
        event["source"] = src
        remaining = _reduce(conn, claim.efi_claim_id, ore, PAID)
    else:
        code = reason or DEFAULT_WRITE_OFF_REASON
        event["seq"] = _notify(conn, claim, kind=WRITE_OFF, day=day, amount_ore=ore, reason=code)
        event["reason"] = code
        remaining = _reduce(conn, claim.efi_claim_id, ore, WRITTEN_OFF)
    event["amount"] = str(from_ore(ore))
    event["remaining"] = str(from_ore(remaining))
    return event


def record_payment(conn: Connection, *, claim_ref: str | None = None,
                   efi_claim_id: str | None = None, amount: Decimal | None = None,
                   day: date, source: str = "INDB") -> dict[str, Any]:
    """A debtor pays PSRM now (or PSRM offsets, ``source="MODR"``): a DAEKNING
    notification and the claim's remaining reduced; ``amount=None`` pays it in full.
    Raises ``ValueError`` naming the field when the claim or amount will not do."""
    if source not in COVERAGE_SOURCES:
        raise ValueError(f"source: {source!r} is not INDB or MODR")
    if not claim_ref and not efi_claim_id:
        raise ValueError("claim_ref: give claim_ref or efi_claim_id")
    claim = _resolve(conn, claim_ref, efi_claim_id)
    field = "efi_claim_id" if efi_claim_id else "claim_ref"
    if claim is None:
        raise ValueError(f"{field}: no PSRM claim {efi_claim_id or claim_ref!r}")
    if claim.status != ACTIVE or claim.remaining_ore <= 0:
        raise ValueError(f"{field}: PSRM claim {claim.efi_claim_id} is {claim.status} "
                         f"with {from_ore(claim.remaining_ore)} remaining")
    ore = None
    if amount is not None:
        try:
            ore = to_ore(money(amount))
        except (MoneyError, ValueError) as exc:
            raise ValueError(f"amount: {exc}") from exc
        if ore <= 0:
            raise ValueError(f"amount: must be positive (got {amount})")
        if ore > claim.remaining_ore:
            raise ValueError(f"amount: {from_ore(ore)} is more than the remaining "
                             f"{from_ore(claim.remaining_ore)}")
    return _apply_event(conn, claim, kind=COVERAGE, day=day, amount_ore=ore, source=source,
                        reason=None)


# ---------------------------------------------------------------- scripted events

def _spec_text(spec: Mapping[str, Any], key: str, *, required: bool = False,
               max_len: int = 64) -> str | None:
    value = spec.get(key)
    if value is None or value == "":
        if required:
            raise ValueError(f"{key}: missing")
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError(f"{key}: expected text, got {type(value).__name__}")
    text = str(value).strip()
    if len(text) > max_len:
        raise ValueError(f"{key}: longer than {max_len} characters")
    return text


def _spec_amount(spec: Mapping[str, Any], key: str, *, required: bool) -> Decimal | None:
    value = spec.get(key)
    if value is None:
        if required:
            raise ValueError(f"{key}: missing")
        return None
    if isinstance(value, bool):
        raise ValueError(f"{key}: expected an amount")
    try:
        amount = money(value if isinstance(value, Decimal | int) else str(value))
    except MoneyError as exc:
        raise ValueError(f"{key}: {exc}") from exc
    if amount <= 0:
        raise ValueError(f"{key}: must be positive (got {amount})")
    return amount


def _spec_date(spec: Mapping[str, Any], key: str, *, required: bool) -> date | None:
    value = spec.get(key)
    if value is None:
        if required:
            raise ValueError(f"{key}: missing")
        return None
    if isinstance(value, datetime):  # YAML may hand over a timestamp
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise ValueError(f"{key}: {value!r} is not an ISO date") from exc


def script_event(conn: Connection, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Schedule a PSRM event for the virtual clock: ``{"due": "2026-12-01", "kind":
    "pay"|"write_off"|"return", "claim_ref"|"efi_claim_id": …, "amount": "150.00",
    "source": "INDB"|"MODR" (pay), "reason": "…" (write_off, return)}``. ``amount``
    defaults to what remains when the event fires. Raises ``ValueError`` naming the field.
    The claim is looked up when the event fires, so it may be scripted before hand-over."""
    unknown = set(spec) - {"due", "kind", "claim_ref", "efi_claim_id", "amount", "source",
                           "reason"}
    if unknown:
        raise ValueError(f"{sorted(unknown)[0]}: unknown field")
    due = _spec_date(spec, "due", required=True)
    kind = _spec_text(spec, "kind", required=True)
    if kind not in SCRIPTED_KINDS:
        raise ValueError(f"kind: {kind!r} is not one of {', '.join(SCRIPTED_KINDS)}")
    claim_ref = _spec_text(spec, "claim_ref")
    efi_claim_id = _spec_text(spec, "efi_claim_id")
    if not claim_ref and not efi_claim_id:
        raise ValueError("claim_ref: give claim_ref or efi_claim_id")
    amount = _spec_amount(spec, "amount", required=False)
    if amount is not None and kind == "return":
        raise ValueError("amount: a return carries no amount")
    source = _spec_text(spec, "source")
    if source is not None and (kind != "pay" or source not in COVERAGE_SOURCES):
        raise ValueError(f"source: {source!r} is not INDB or MODR on a pay event")
    reason = _spec_text(spec, "reason", max_len=20)
    if reason is not None and kind == "pay":
        raise ValueError("reason: a pay event carries a source, not a reason")
    result = conn.execute(insert(t.psrm_scripted).values(
        due=due, kind=kind, claim_ref=claim_ref, efi_claim_id=efi_claim_id,
        amount_ore=None if amount is None else to_ore(amount),
        source=(source or "INDB") if kind == "pay" else None, reason=reason, done=False))
    key = result.inserted_primary_key
    assert key is not None and due is not None
    return {"id": int(key[0]), "due": due.isoformat(), "kind": kind, "claim_ref": claim_ref,
            "efi_claim_id": efi_claim_id, "amount": None if amount is None else str(amount),
            "source": (source or "INDB") if kind == "pay" else None, "reason": reason}


def _fire(conn: Connection, row: Row[Any]) -> dict[str, Any]:
    claim = _resolve(conn, row.claim_ref, row.efi_claim_id)
    skipped: dict[str, Any] = {"end": END, "event": "scripted_skipped", "scripted_id": row.id,
                               "kind": row.kind, "claim_ref": row.claim_ref,
                               "efi_claim_id": row.efi_claim_id, "date": row.due.isoformat()}
    if claim is None:
        return {**skipped, "reason": "no such claim in PSRM"}
    if claim.status != ACTIVE or (row.kind != "return" and claim.remaining_ore <= 0):
        return {**skipped, "reason": f"claim {claim.efi_claim_id} is {claim.status}"}
    ore = None if row.amount_ore is None else min(int(row.amount_ore), claim.remaining_ore)
    event = _apply_event(conn, claim, kind=SCRIPTED_KINDS[row.kind], day=row.due,
                         amount_ore=ore, source=row.source, reason=row.reason)
    return {**event, "scripted_id": row.id}


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def progress(conn: Connection, runtime: Runtime, day: date) -> list[dict[str, Any]]:
    """Run the PSRM end up to ``day``: accepted actions move ``MODTAGET`` → ``SAGSBEHANDL``
    (``psrm_days_to_process`` days after receipt) → ``UDFOERT`` (``psrm_days_to_done``),
    dated the day the change fell due; scripted events due on or before ``day`` fire.
    Safe to call for a day already run (nothing happens twice)."""
    cfg = runtime.config
    to_process = timedelta(days=cfg.psrm_days_to_process)
    to_done = timedelta(days=cfg.psrm_days_to_done)
    events: list[dict[str, Any]] = []
    open_statuses = (PsrmStatus.RECEIVED.value, PsrmStatus.IN_PROCESS.value)
    latest = datetime.combine(day - min(to_process, to_done), datetime.max.time())
    rows = conn.execute(select(t.psrm_actions).where(
        t.psrm_actions.c.status.in_(open_statuses), t.psrm_actions.c.received.is_not(None),
        t.psrm_actions.c.received <= latest)).all()
    for row in sorted(rows, key=lambda r: (_action_number(r.action_id), r.action_id)):
        new_status, changed = None, None
        received = _day(row.received)
        if day >= received + to_done:
            new_status, changed = PsrmStatus.DONE.value, received + to_done
        elif day >= received + to_process and row.status == PsrmStatus.RECEIVED.value:
            new_status, changed = PsrmStatus.IN_PROCESS.value, received + to_process
        if new_status is None or changed is None:
            continue
        changed = datetime.combine(changed, datetime.min.time())  # the day it fell due
        conn.execute(update(t.psrm_actions).where(t.psrm_actions.c.action_id == row.action_id)
                     .values(status=new_status, status_changed=changed))
        events.append({"end": END, "event": "action_status", "action_id": row.action_id,
                       "delivery_id": row.delivery_id, "code": row.code, "status": new_status,
                       "date": changed.date().isoformat(),
                       "claim_ref": row.claim_ref, "efi_claim_id": row.efi_claim_id})
    due = conn.execute(select(t.psrm_scripted).where(
        t.psrm_scripted.c.done.is_(False), t.psrm_scripted.c.due <= day)
        .order_by(t.psrm_scripted.c.due, t.psrm_scripted.c.id)).all()
    for row in due:
        events.append(_fire(conn, row))
        conn.execute(update(t.psrm_scripted).where(t.psrm_scripted.c.id == row.id)
                     .values(done=True))
    return events


# ---------------------------------------------------------------- behaviour switches

def behaviour(conn: Connection) -> dict[str, Any]:
    """The switches as they stand: ``reject_types`` {type: text}, ``unknown_debtors``
    [numbers], ``agreements`` {fordringshaver id: [types]} or None (none installed)."""
    return {"reject_types": get_setting(conn, REJECT_TYPES) or {},
            "unknown_debtors": get_setting(conn, UNKNOWN_DEBTORS) or [],
            "agreements": get_setting(conn, AGREEMENTS)}


def set_behaviour(conn: Connection, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Set the switches named in ``spec`` (``reject_types``, ``unknown_debtors``,
    ``agreements``; the ``psrm_``-prefixed setting names work too); ``None`` clears one.
    Switches not named stay as they are. Returns :func:`behaviour`. Raises ``ValueError``
    naming the field; nothing is changed then."""
    staged: dict[str, Any] = {}
    for raw_key, value in spec.items():
        key = raw_key.removeprefix("psrm_")
        if key not in _SWITCHES:
            raise ValueError(f"{raw_key}: unknown switch (reject_types, unknown_debtors, "
                             "agreements)")
        staged[_SWITCHES[key]] = None if value is None else _check_switch(key, value)
    for setting, value in staged.items():
        if value is None:
            conn.execute(delete(t.settings).where(t.settings.c.key == setting))
        else:
            put_setting(conn, setting, value)
    return behaviour(conn)


def _check_switch(key: str, value: Any) -> Any:
    if key == "reject_types":
        if isinstance(value, list):
            value = {str(code): "" for code in value}
        if not isinstance(value, Mapping):
            raise ValueError("reject_types: expected {type code: reason text} or [type codes]")
        out = {}
        for code, text in value.items():
            if not str(code).strip() or len(str(code)) > 20:
                raise ValueError(f"reject_types: {code!r} is not a type code")
            if text is not None and not isinstance(text, str):
                raise ValueError(f"reject_types.{code}: reason text must be text")
            out[str(code).strip()] = (text or "").strip()[:1000]
        return out
    if key == "unknown_debtors":
        if not isinstance(value, list):
            raise ValueError("unknown_debtors: expected a list of CPR/CVR numbers")
        numbers = [str(n).strip() for n in value]
        for n in numbers:
            if not n.isdigit() or len(n) not in (8, 10):
                raise ValueError(f"unknown_debtors: {n!r} is not a CPR or CVR number")
        return sorted(set(numbers))
    if not isinstance(value, Mapping):
        raise ValueError("agreements: expected {DMIFordringHaverID: [type codes]}")
    agreements = {}
    for creditor, types in value.items():
        if not isinstance(types, list) or not all(isinstance(c, str) and c for c in types):
            raise ValueError(f"agreements.{creditor}: expected a list of type codes")
        agreements[str(creditor)] = sorted(set(types))
    return agreements


# ---------------------------------------------------------------- dashboard

def _claim_json(values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "efi_claim_id": values["efi_claim_id"], "claim_ref": values["claim_ref"],
        "se_number": values["se_number"], "creditor_id": values["creditor_id"],
        "type_code": values["type_code"], "art": values["art"],
        "party": mask_cpr(values["party_number"]),
        "amount": str(from_ore(values["amount_ore"])),
        "remaining": str(from_ore(values["remaining_ore"])), "status": values["status"],
        "received": values["received"].isoformat(),
    }


def snapshot(conn: Connection, *, limit: int = 200) -> dict[str, Any]:
    """A JSON-ready summary for the dashboard: counts by status, the latest claims and
    actions (CPR numbers masked), notification and scripted-event counts, the switches."""
    claims = conn.execute(select(t.psrm_claims).order_by(t.psrm_claims.c.received.desc(),
                                                         t.psrm_claims.c.efi_claim_id.desc())
                          .limit(limit)).all()
    actions = conn.execute(select(t.psrm_actions)).all()
    actions = sorted(actions, key=lambda r: (_action_number(r.action_id), r.action_id))[-limit:]
    by_claim_status: dict[Any, Any] = dict(conn.execute(select(t.psrm_claims.c.status, func.count())
                                        .group_by(t.psrm_claims.c.status)).all())
    by_action_status: dict[Any, Any] = dict(conn.execute(select(t.psrm_actions.c.status, func.count())
                                         .group_by(t.psrm_actions.c.status)).all())
    notifications = conn.execute(select(func.count()).select_from(t.psrm_notifications)
                                 ).scalar_one()
    pending = conn.execute(select(func.count()).select_from(t.psrm_scripted)
                           .where(t.psrm_scripted.c.done.is_(False))).scalar_one()
    deliveries = conn.execute(select(func.count()).select_from(t.psrm_deliveries)).scalar_one()
    return {
        "claims_by_status": {str(k): int(v) for k, v in by_claim_status.items()},
        "actions_by_status": {str(k): int(v) for k, v in by_action_status.items()},
        "deliveries": int(deliveries),
        "notifications": int(notifications),
        "scripted_pending": int(pending),
        "claims": [_claim_json(dict(r._mapping)) for r in claims],
        "actions": [_action_json(r) for r in reversed(actions)],
        "behaviour": behaviour(conn),
    }


def _action_json(row: Row[Any]) -> dict[str, Any]:
    return {"action_id": row.action_id, "delivery_id": row.delivery_id,
            "se_number": row.se_number, "position": row.position, "code": row.code,
            "creditor_id": row.creditor_id, "claim_ref": row.claim_ref,
            "efi_claim_id": row.efi_claim_id, "status": row.status,
            "status_changed": row.status_changed.isoformat(),
            "received": row.received.isoformat() if row.received else None,
            "reasons": list(row.reasons or [])}


def actions(conn: Connection, *, delivery_id: str | None = None,
            action_ids: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Stored actions as JSON (tests, admin): of one delivery and/or by id."""
    conditions = []
    if delivery_id is not None:
        conditions.append(t.psrm_actions.c.delivery_id == delivery_id)
    ids = list(action_ids)
    if ids:
        conditions.append(t.psrm_actions.c.action_id.in_(ids))
    q = select(t.psrm_actions)
    if conditions:
        q = q.where(or_(*conditions))
    rows = sorted(conn.execute(q).all(), key=lambda r: (_action_number(r.action_id),
                                                         r.action_id))
    return [_action_json(r) for r in rows]


def claims(conn: Connection) -> list[dict[str, Any]]:
    """Every PSRM claim as JSON, oldest first."""
    rows = conn.execute(select(t.psrm_claims).order_by(t.psrm_claims.c.received,
                                                       t.psrm_claims.c.efi_claim_id)).all()
    return [_claim_json(dict(r._mapping)) for r in rows]
