"""The emulator's SQL schema (SQLAlchemy Core), one table per stored concept.

Amounts are stored as integer øre (``BigInteger``): SQLite has no exact decimal type, and
an integer is exact everywhere. Dates are ``Date``; free-form lists (co-liable parties,
rejection reasons, addresses) are JSON.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# ---------------------------------------------------------------- debtor end (ØIR)

accounts = Table(
    "accounts", metadata,
    Column("number", String(32), primary_key=True),
    Column("authority_cvr", String(8), nullable=False),
    Column("fagsystem_id", String(64), nullable=False),
    Column("fagsystem_reference", String(64), nullable=False),
    Column("party_kind", String(3), nullable=False),
    Column("party_number", String(10), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    # fold_name(name): what a name-prefix search compares (see emulator.storage.migrations)
    Column("name_fold", String(200), nullable=True),
    Column("address", JSON, nullable=True),
    Column("account_type", String(16), nullable=False),
    Column("status", String(8), nullable=False),
    Column("created", DateTime, nullable=False),
    # At least the account's balance: every amount booked onto it since it was made (a
    # remainder only goes down), so a new claim is checked against the largest balance
    # without summing every claim; NULL when unknown (see emulator.storage.ledger).
    Column("booked_ore", BigInteger, nullable=True),
    UniqueConstraint("authority_cvr", "fagsystem_id", "fagsystem_reference",
                     name="uq_account_reference"),
)

claims = Table(
    "claims", metadata,
    Column("id", String(32), primary_key=True),
    Column("account_number", String(32), nullable=False, index=True),
    Column("fagsystem_claim_id", String(64), nullable=False),
    Column("type_code", String(20), nullable=False),
    Column("art", String(4), nullable=True),
    Column("description", String(400), nullable=True),
    Column("currency", String(3), nullable=False),
    Column("principal_ore", BigInteger, nullable=False),
    Column("remaining_principal_ore", BigInteger, nullable=False),
    Column("period_from", Date, nullable=False),
    Column("period_to", Date, nullable=False),
    Column("founded", Date, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("srb", Date, nullable=False, index=True),
    Column("received", Date, nullable=False),
    Column("limitation_date", Date, nullable=True),
    Column("judgment_date", Date, nullable=True),
    Column("settlement_date", Date, nullable=True),
    Column("offsetting_allowed", Boolean, nullable=False),
    Column("creditor_cvr", String(8), nullable=True),
    Column("co_liable", JSON, nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("deferral_until", Date, nullable=True),
    # invoice (opkrævning)
    Column("invoice_id", String(32), nullable=False),
    Column("payment_id", String(15), nullable=False, unique=True),
    Column("creditor_number", String(16), nullable=False),
    Column("invoice_amount_ore", BigInteger, nullable=False),
    Column("reminder_date", Date, nullable=True),
    # PSRM hand-over
    Column("psrm_art", String(4), nullable=True),
    Column("psrm_status", String(12), nullable=True),
    Column("psrm_status_date", Date, nullable=True),
    Column("psrm_amount_ore", BigInteger, nullable=True),
    Column("psrm_action_id", String(64), nullable=True),
    Column("psrm_efi_claim_id", String(64), nullable=True, index=True),
    Column("psrm_reasons", JSON, nullable=True),
    Column("psrm_recall_reason", String(4), nullable=True),  # RecallReason, when recalled
    UniqueConstraint("account_number", "fagsystem_claim_id", name="uq_claim_reference"),
)

sub_claims = Table(
    "sub_claims", metadata,
    Column("id", String(40), primary_key=True),
    Column("claim_id", String(32), nullable=False, index=True),
    Column("position", Integer, nullable=False),
    Column("type_code", String(20), nullable=False),
    Column("amount_ore", BigInteger, nullable=False),
    Column("remaining_ore", BigInteger, nullable=False),
    Column("period_from", Date, nullable=True),
    Column("period_to", Date, nullable=True),
    Column("founded", Date, nullable=True),
)

payments = Table(
    "payments", metadata,
    Column("id", String(64), primary_key=True),  # IndbetalingID
    Column("account_number", String(32), nullable=False, index=True),
    Column("amount_ore", BigInteger, nullable=False),
    Column("date", Date, nullable=False),
    Column("payer", JSON, nullable=True),
    Column("payment_id", String(15), nullable=True),
    Column("claim_id", String(32), nullable=True),
    Column("surplus_ore", BigInteger, nullable=False),
    Column("request_hash", String(64), nullable=False),
)

coverage = Table(
    "coverage", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("account_number", String(32), nullable=False, index=True),
    Column("source", String(16), nullable=False),
    Column("source_id", String(64), nullable=False),
    Column("claim_id", String(32), nullable=False, index=True),
    Column("sub_claim_id", String(40), nullable=True),
    Column("amount_ore", BigInteger, nullable=False),
    Column("date", Date, nullable=False),
)

benefit_payments = Table(
    "benefit_payments", metadata,
    Column("id", String(64), primary_key=True),  # YdelsesudbetalingID
    Column("party_kind", String(3), nullable=False),
    Column("party_number", String(10), nullable=False, index=True),
    Column("benefit_type", String(20), nullable=False),
    Column("payout_date", Date, nullable=False, index=True),
    Column("gross_ore", BigInteger, nullable=False),
    Column("protected_ore", BigInteger, nullable=False),
    Column("paying_authority_cvr", String(8), nullable=True),
    Column("authority_cvr", String(8), nullable=False),
    Column("fagsystem_id", String(64), nullable=False),
    Column("status", String(12), nullable=False),  # PLANLAGT until the payout date, then BOOKET
    Column("request_hash", String(64), nullable=False),
)

offsets = Table(
    "offsets", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("benefit_payment_id", String(64), nullable=False, index=True),
    Column("account_number", String(32), nullable=False, index=True),
    Column("claim_id", String(32), nullable=False, index=True),
    Column("sub_claim_id", String(40), nullable=True),
    Column("amount_ore", BigInteger, nullable=False),
    Column("date", Date, nullable=False),
    Column("status", String(12), nullable=False),
)

write_offs = Table(
    "write_offs", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("account_number", String(32), nullable=False, index=True),
    Column("claim_id", String(32), nullable=False, index=True),
    Column("amount_ore", BigInteger, nullable=False),
    Column("reason", String(20), nullable=False),
    Column("date", Date, nullable=False),
)

# Write-downs of a handed-over claim's PSRM part that fell due before PSRM had answered
# with its EFI claim id (a NEDSKRIV needs it): kept here and sent as NEDSKRIV when the
# receipt brings the id, or dropped when PSRM rejects the hand-over. A table of its own
# (not columns on ``claims``), so an existing database file gets it from ``create_all``.
psrm_pending_writedowns = Table(
    "psrm_pending_writedowns", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("claim_id", String(32), nullable=False, index=True),
    Column("amount_ore", BigInteger, nullable=False),
    Column("reason", String(20), nullable=False),  # WriteDownReason: INDB | REGU | FAST
    Column("effective", Date, nullable=False),
    Column("created", DateTime, nullable=False),
)

# A recall (ØIR Tilbagekald) of a handed-over claim made before PSRM had answered with its
# EFI claim id (a TILBAGEKALD needs it): kept here and sent as TILBAGEKALD when the receipt
# brings the id, or dropped when PSRM rejects the hand-over or the claim is handed over
# afresh. At most one per claim (the ØIR end refuses a recall of a claim not OVERDRAGET).
# A table of its own (not columns on ``claims``), so an existing database gets it from
# ``create_all``.
psrm_pending_recalls = Table(
    "psrm_pending_recalls", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("claim_id", String(32), nullable=False, index=True),
    Column("reason", String(20), nullable=False),  # RecallReason: HENS | KLAG | BORD | …
    Column("effective", Date, nullable=False),
    Column("created", DateTime, nullable=False),
)

# The objects of an account other than its claims (published as what OpretDebitorkonto
# creates and the end-date operations end): the legally responsible debtor (JURIDISK_ANSVARLIG,
# whose name and address stay in ``accounts``; this row holds their end dates and material
# subscription), administrators, co-liable parties (JURIDISK_MEDHAEFTER) and equal partners.
# ``ended``: the last day the role is in force; ``address_ended``/``subscription_ended`` the
# same for its current address and material subscription. A table of its own, so an
# existing database gets it from ``create_all``.
account_roles = Table(
    "account_roles", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_number", String(32), nullable=False, index=True),
    Column("role", String(24), nullable=False),
    Column("party_kind", String(3), nullable=False),
    Column("party_number", String(10), nullable=False),
    Column("name", String(200), nullable=False),
    Column("address", JSON, nullable=True),
    Column("address_ended", Date, nullable=True),
    Column("channel", String(16), nullable=True),  # MaterialeKanal: DIGITALPOST | BREV | EMAIL
    Column("subscription_ended", Date, nullable=True),
    Column("ended", Date, nullable=True),
    Column("created", DateTime, nullable=False),
)

# Anmodninger (DebitorkontoAnmodningAfsend): what the fagsystem asked the debtor system to do
# on an account, when, and how it went. MODTAGET until its day comes, then UDFOERT or AFVIST
# (with the reasons, as ØIR Fejl). Idempotent on (account, AnmodningID).
account_requests = Table(
    "account_requests", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_number", String(32), nullable=False, index=True),
    Column("request_id", String(64), nullable=False),
    Column("kind", String(24), nullable=False),  # FLYT_FORDRING | FLYT_DELFORDRING | AENDR_KONTOSTATUS
    Column("payload", JSON, nullable=False),
    Column("due", Date, nullable=False, index=True),
    Column("status", String(12), nullable=False, index=True),
    Column("reasons", JSON, nullable=True),
    Column("request_hash", String(64), nullable=False),
    Column("created", DateTime, nullable=False),
    UniqueConstraint("account_number", "request_id", name="uq_account_request"),
)

# Work the debtor end owes other ends (callbacks, PSRM deliveries), sent after commit.
outbox = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("target", String(16), nullable=False),  # fagsystem | psrm
    Column("operation", String(64), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("context", JSON, nullable=False),
    Column("status", String(12), nullable=False, index=True),  # PENDING | SENDING | SENT | FAILED
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt", DateTime, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created", DateTime, nullable=False),
)

# ---------------------------------------------------------------- fagsystem end

fagsystem_events = Table(
    "fagsystem_events", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("received_at", DateTime, nullable=False),
    Column("transaction_id", String(64), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(16), nullable=False),
    Column("account_number", String(32), nullable=False),
    Column("claim_id", String(32), nullable=False, index=True),
    Column("fagsystem_claim_id", String(64), nullable=False),
    Column("date", Date, nullable=False),
    Column("amount_ore", BigInteger, nullable=True),
    Column("source", String(16), nullable=True),
    Column("source_id", String(64), nullable=True),
    Column("reason", String(20), nullable=True),
    Column("status", String(16), nullable=True),
    Column("remaining_ore", BigInteger, nullable=True),
    Column("reasons", JSON, nullable=True),
    UniqueConstraint("event_id", name="uq_fagsystem_event"),
)

# ---------------------------------------------------------------- PSRM end

psrm_deliveries = Table(
    "psrm_deliveries", metadata,
    Column("delivery_id", String(64), primary_key=True),
    Column("se_number", String(8), primary_key=True),
    Column("transaction_id", String(64), nullable=False),
    Column("received_at", DateTime, nullable=False),
    Column("action_count", Integer, nullable=False),
)

psrm_actions = Table(
    "psrm_actions", metadata,
    Column("action_id", String(64), primary_key=True),
    Column("delivery_id", String(64), nullable=False, index=True),
    Column("se_number", String(8), nullable=False),
    Column("position", Integer, nullable=False),
    Column("code", String(64), nullable=False),  # MFAktionKode (up to 44 characters)
    Column("creditor_id", String(64), nullable=False),
    Column("claim_ref", String(64), nullable=True),
    Column("efi_claim_id", String(64), nullable=True),
    Column("efi_main_claim_id", String(64), nullable=True),
    Column("status", String(12), nullable=False, index=True),
    Column("status_changed", DateTime, nullable=False),
    Column("received", DateTime, nullable=True),
    Column("reasons", JSON, nullable=False),
    # what an accepted change did, so a later annulment can be checked against it
    Column("amount_ore", BigInteger, nullable=True),
    Column("reason", String(4), nullable=True),  # write-down or recall reason code
    Column("effective", Date, nullable=True),
    Column("ref_action_id", String(64), nullable=True),  # MFAktionIDRef
    Column("annulled_by", String(64), nullable=True),  # the action that annulled this one
)

psrm_claims = Table(
    "psrm_claims", metadata,
    Column("efi_claim_id", String(64), primary_key=True),
    Column("se_number", String(8), nullable=False),
    Column("creditor_id", String(64), nullable=False),
    Column("claim_ref", String(64), nullable=False, index=True),
    Column("main_efi_claim_id", String(64), nullable=True),
    Column("type_code", String(20), nullable=False),
    Column("art", String(4), nullable=False),
    Column("party_kind", String(3), nullable=False),
    Column("party_number", String(10), nullable=False, index=True),
    Column("amount_ore", BigInteger, nullable=False),
    Column("remaining_ore", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # AKTIV | INDFRIET | TILBAGEKALDT | RETUR
    Column("received", Date, nullable=False),
    # why it was recalled (HENS, KLAG, … FEJL) or returned: rules 539 and 602 read it
    Column("closed_reason", String(20), nullable=True),
)

psrm_notifications = Table(
    "psrm_notifications", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("se_number", String(8), nullable=False, index=True),
    Column("kind", String(12), nullable=False),  # DAEKNING | AFSKRIVNING | RETUR
    Column("efi_claim_id", String(64), nullable=False),
    Column("claim_ref", String(64), nullable=True),
    Column("creditor_id", String(64), nullable=True),
    Column("date", Date, nullable=False),
    Column("amount_ore", BigInteger, nullable=True),
    Column("source", String(4), nullable=True),  # INDB | MODR
    Column("reason", String(20), nullable=True),
    Column("text", String(400), nullable=True),
)

# Scripted PSRM events that fire on the virtual clock (a debtor pays in PSRM…).
psrm_scripted = Table(
    "psrm_scripted", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("due", Date, nullable=False, index=True),
    Column("kind", String(12), nullable=False),
    Column("claim_ref", String(64), nullable=True),
    Column("efi_claim_id", String(64), nullable=True),
    Column("amount_ore", BigInteger, nullable=True),
    Column("source", String(4), nullable=True),
    Column("reason", String(20), nullable=True),
    Column("done", Boolean, nullable=False, default=False),
)

# ---------------------------------------------------------------- shared machinery

journal = Table(
    "journal", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("virtual_at", DateTime, nullable=False),
    Column("end", String(16), nullable=False),
    Column("direction", String(3), nullable=False),  # in | out
    Column("service", String(64), nullable=True),
    Column("operation", String(64), nullable=True),
    Column("status", String(16), nullable=False),  # ok | rejected | fault | http_error | error
    Column("http_status", Integer, nullable=True),
    Column("transaction_id", String(64), nullable=True, index=True),
    Column("correlation", JSON, nullable=True),
    Column("duration_ms", Float, nullable=False),
    Column("request_xml", Text, nullable=True),
    Column("response_xml", Text, nullable=True),
    Column("summary", String(400), nullable=True),
    Index("ix_journal_end_op", "end", "operation"),
)

idempotency = Table(
    "idempotency", metadata,
    Column("end", String(16), primary_key=True),
    Column("transaction_id", String(64), primary_key=True),
    Column("operation", String(64), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("response_xml", LargeBinary, nullable=False),
    Column("http_status", Integer, nullable=False),
)

faults = Table(
    "faults", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("operation", String(64), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("remaining", Integer, nullable=False),
    Column("delay_ms", Integer, nullable=False, default=0),
)

settings = Table(
    "settings", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", JSON, nullable=False),
)

counters = Table(
    "counters", metadata,
    Column("name", String(32), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

# ---------------------------------------------------------------- PSRM end (additions)

# Content digest of each PSRM delivery without its Kontekst: a repeated MFLeveranceID with
# the same content is answered again, with another content refused (PSRM 600).
psrm_delivery_digests = Table(
    "psrm_delivery_digests", metadata,
    Column("delivery_id", String(64), primary_key=True),
    Column("se_number", String(8), primary_key=True),
    Column("digest", String(64), nullable=False),
)
