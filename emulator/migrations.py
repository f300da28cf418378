"""Bring a database made by an earlier version up to the current tables.

``create_all`` makes missing tables but leaves existing ones as they are, so a column
added since a database file was made (a developer's ``var/oir.sqlite3``, a shared
PostgreSQL) is added here, and filled for the rows already there. Each step checks
first, so running them on every start is cheap and safe; the schema lock (PostgreSQL) or
the writers' lock (a SQLite file; see :meth:`emulator.store.Store.create_schema`) keeps
two processes from doing it at once.
"""

from __future__ import annotations

from sqlalchemy import Connection, inspect, select, update

from oir_adapter.model import fold_name

from . import tables as t


def upgrade(conn: Connection) -> list[str]:
    """Apply what is missing; the names of the steps applied."""
    done = []
    columns = {c["name"] for c in inspect(conn).get_columns("accounts")}
    if "name_fold" not in columns:
        conn.exec_driver_sql("ALTER TABLE accounts ADD COLUMN name_fold VARCHAR(200)")
        done.append("accounts.name_fold")
        _fill_name_fold(conn)  # this version sets it on every account it makes
    return done


def _fill_name_fold(conn: Connection) -> None:
    """The search key of every account that has none (made before the column was)."""
    rows = conn.execute(select(t.accounts.c.number, t.accounts.c.name).where(
        t.accounts.c.name_fold.is_(None))).all()
    for number, name in rows:
        conn.execute(update(t.accounts).where(t.accounts.c.number == number)
                     .values(name_fold=fold_name(name)))
