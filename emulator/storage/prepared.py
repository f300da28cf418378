"""Statements every request runs, compiled once and run straight on the driver.

SQLAlchemy Core costs ~25 µs a statement in its execution machinery (execution context,
events, result metadata) even when the statement is cached, while the ``sqlite3`` driver
answers a lookup by key in ~4 µs. A request runs a dozen such statements, so on SQLite
the hot ones — idempotency, journal, faults, settings, counters, the ledger's lookups and
inserts — go through :class:`Prepared`: the Core statement is still the one definition
(the same on every database), compiled for the connection's dialect once per set of
parameter names, with SQLAlchemy's own type processors applied to what goes in and
comes out. On any other database, or outside a transaction begun through SQLAlchemy, it
is an ordinary ``conn.execute``.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Insert, Update
from sqlalchemy.sql.expression import Executable

_Processor = Callable[[Any], Any] | None


class _Compiled:
    """One statement compiled for SQLite with one set of parameter names."""

    __slots__ = ("sql", "sources", "row_type", "results")

    def __init__(self, statement: Executable, dialect: Any, keys: frozenset[str]) -> None:
        is_insert = isinstance(statement, Insert)
        defaults: dict[str, Any] = {}
        if is_insert:
            for column in statement.table.columns:  # type: ignore[attr-defined]
                default = column.default
                if column.key in keys or default is None:
                    continue
                if not default.is_scalar:
                    raise _Unsupported(f"{column} has a computed default")
                defaults[column.key] = default.arg
        writes = is_insert or isinstance(statement, Update)
        compiled: Any = statement.compile(  # type: ignore[attr-defined]
            dialect=dialect, column_keys=sorted(keys | defaults.keys()) if writes else None)
        if not dialect.positional or compiled.positiontup is None:
            raise _Unsupported("not a positional statement")
        if "__[POSTCOMPILE_" in compiled.string:
            raise _Unsupported("an expanding IN (its length changes per call)")
        self.sql: str = compiled.string
        # Where each ``?`` takes its value from: a parameter of the call, or a value fixed
        # in the statement (a literal or a column default); with the type's bind processor.
        unescaped = {v: k for k, v in (compiled.escaped_bind_names or {}).items()}
        sources: list[tuple[str | None, Any, _Processor]] = []
        for name in compiled.positiontup:
            bind = compiled.binds[unescaped.get(name, name)]
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if bind.key in keys:
                sources.append((bind.key, None, process))
            elif bind.key in defaults:
                value = defaults[bind.key]
                sources.append((None, value if process is None else process(value), None))
            elif bind.callable is None and not bind.required:
                value = bind.value
                sources.append((None, value if process is None else process(value), None))
            else:  # this call lacks a parameter: SQLAlchemy says which
                raise _Unsupported(f"no value for bind parameter {bind.key!r}",
                                   permanent=False)
        self.sources = tuple(sources)
        columns = getattr(statement, "selected_columns", None)
        if columns is not None and not is_insert:
            keys_out = [c.key for c in columns]
            self.row_type: Any = namedtuple("Row", keys_out, rename=True)  # type: ignore[misc]
            self.results: tuple[_Processor, ...] = tuple(
                c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
        else:
            self.row_type = None
            self.results = ()

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        out = []
        for key, fixed, process in self.sources:
            if key is None:
                out.append(fixed)
                continue
            value = params[key]
            # None too: SQLAlchemy's JSON stores None as the JSON text 'null', as here
            out.append(value if process is None else process(value))
        return out

    def row(self, raw: Sequence[Any]) -> Any:
        return self.row_type._make(
            value if process is None or value is None else process(value)
            for value, process in zip(raw, self.results, strict=True))


class _Unsupported(Exception):
    """A statement (``permanent``) or one call of it the fast path does not handle; it
    runs through SQLAlchemy instead."""

    def __init__(self, reason: str, *, permanent: bool = True) -> None:
        super().__init__(reason)
        self.permanent = permanent


class Prepared:
    """A Core statement run through the driver on SQLite (see the module docstring).

    Rows come back as named tuples (``row.column`` and ``row[i]``, like SQLAlchemy's)."""

    __slots__ = ("statement", "_forms", "_slow")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._forms: dict[frozenset[str], _Compiled] = {}
        self._slow = False

    def _form(self, conn: Connection, params: Mapping[str, Any]) -> _Compiled | None:
        if self._slow or conn.dialect.name != "sqlite" or not conn.in_transaction():
            return None
        keys = frozenset(params)
        form = self._forms.get(keys)
        if form is None:
            try:
                form = _Compiled(self.statement, conn.dialect, keys)
            except _Unsupported as exc:
                self._slow = exc.permanent
                return None
            self._forms[keys] = form
        return form

    def rows(self, conn: Connection, params: Mapping[str, Any] | None = None) -> list[Any]:
        params = params or {}
        form = self._form(conn, params)
        if form is None:
            return list(conn.execute(self.statement, params).all())
        raw = _driver(conn).execute(form.sql, form.arguments(params)).fetchall()
        return [form.row(r) for r in raw]

    def first(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Any:
        params = params or {}
        form = self._form(conn, params)
        if form is None:
            return conn.execute(self.statement, params).first()
        found = _driver(conn).execute(form.sql, form.arguments(params)).fetchone()
        return None if found is None else form.row(found)

    def run(self, conn: Connection, params: Mapping[str, Any] | None = None) -> int:
        """Execute; the number of rows changed."""
        params = params or {}
        form = self._form(conn, params)
        if form is None:
            return int(conn.execute(self.statement, params).rowcount or 0)
        return int(_driver(conn).execute(form.sql, form.arguments(params)).rowcount)

    def insert(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Insert one row; its integer primary key."""
        form = self._form(conn, params)
        if form is None:
            result: Any = conn.execute(self.statement, params)
            return int(result.inserted_primary_key[0])
        return int(_driver(conn).execute(form.sql, form.arguments(params)).lastrowid)

    def run_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute once per parameter set (all with the same names)."""
        if not rows:
            return
        form = self._form(conn, rows[0])
        if form is None:
            conn.execute(self.statement, list(rows))
            return
        _driver(conn).executemany(form.sql, [form.arguments(r) for r in rows])


def _driver(conn: Connection) -> Any:
    return conn.connection.driver_connection
