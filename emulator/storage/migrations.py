"""Bring a database made by an earlier version up to the current tables.

``create_all`` makes missing tables but leaves existing ones as they are, so a column
added since a database file was made (a developer's ``var/oir.sqlite3``, a shared
PostgreSQL) is added here, and filled for the rows already there. Each step checks
first, so running them on every start is cheap and safe; the schema lock (PostgreSQL) or
the writers' lock (a SQLite file; see :meth:`emulator.storage.store.Store.create_schema`) keeps
two processes from doing it at once.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, inspect, select, update

from emulator.storage import schema as t
from oir_adapter.domain.model import fold_name

#: Columns added since the first release: (table, column, SQL type).
_ADDED = (
    ("psrm_actions", "amount_ore", "BIGINT"),
    ("psrm_actions", "reason", "VARCHAR(4)"),
    ("psrm_actions", "effective", "DATE"),
    ("psrm_actions", "ref_action_id", "VARCHAR(64)"),
    ("psrm_actions", "annulled_by", "VARCHAR(64)"),
    ("psrm_claims", "closed_reason", "VARCHAR(20)"),
    ("claims", "psrm_recall_reason", "VARCHAR(4)"),
)
#: Columns whose type has widened (PostgreSQL enforces the old one; SQLite does not).
_WIDENED = (
    ("psrm_actions", "code", "VARCHAR(64)"),
    ("psrm_actions", "status_changed", "TIMESTAMP"),
    ("psrm_actions", "received", "TIMESTAMP"),
)


def upgrade(conn: Connection) -> list[str]:
    """Apply what is missing; the names of the steps applied."""
    done = []
    inspector = inspect(conn)
    columns = {c["name"] for c in inspector.get_columns("accounts")}
    if "name_fold" not in columns:
        conn.exec_driver_sql("ALTER TABLE accounts ADD COLUMN name_fold VARCHAR(200)")
        done.append("accounts.name_fold")
        _fill_name_fold(conn)  # this version sets it on every account it makes
    present = {table: {c["name"]: c for c in inspector.get_columns(table)}
               for table in {t for t, _, _ in _ADDED + _WIDENED}}
    for table, column, sql_type in _ADDED:
        if column not in present[table]:
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}")
            done.append(f"{table}.{column}")
    if "booked_ore" not in columns:
        conn.exec_driver_sql("ALTER TABLE accounts ADD COLUMN booked_ore BIGINT")
        recompute_bounds(conn)  # the accounts already there, from their claims
        done.append("accounts.booked_ore")
    if conn.dialect.name == "postgresql":
        for table, column, sql_type in _WIDENED:
            if str(present[table][column]["type"]).upper() != sql_type.split("(")[0] and \
                    str(present[table][column]["type"]).upper() != sql_type:
                conn.exec_driver_sql(
                    f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {sql_type}")
                done.append(f"{table}.{column} {sql_type}")
    return done


def _fill_name_fold(conn: Connection) -> None:
    """The search key of every account that has none (made before the column was)."""
    rows = conn.execute(select(t.accounts.c.number, t.accounts.c.name).where(
        t.accounts.c.name_fold.is_(None))).all()
    for number, name in rows:
        conn.execute(update(t.accounts).where(t.accounts.c.number == number)
                     .values(name_fold=fold_name(name)))


def recompute_bounds(conn: Connection) -> None:
    """Every account's bound from what it holds now: every remainder, of every state
    (after a restore or an upgrade, when nothing else is known)."""
    c, s, a = t.claims.c, t.sub_claims.c, t.accounts.c
    principal = (select(func.coalesce(func.sum(c.remaining_principal_ore), 0))
                 .where(c.account_number == a.number).scalar_subquery())
    subs = (select(func.coalesce(func.sum(s.remaining_ore), 0))
            .join_from(t.sub_claims, t.claims, s.claim_id == c.id)
            .where(c.account_number == a.number).scalar_subquery())
    conn.execute(update(t.accounts).values(booked_ore=principal + subs))
