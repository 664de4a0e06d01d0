"""The event path's statements, compiled once per database and run as the driver's SQL.

On SQLite the database's own work for one event (a load, three or four writes, a commit)
is about half of what the event costs; most of the rest was SQLAlchemy's work per
statement: the compiled-cache lookup, building an execution context, processing each
parameter and each result value through generic machinery (measured: an UPDATE of a case
14 µs through ``Connection.execute``, 8 µs as driver SQL; the case load 111 µs against
87 µs). A ``Prepared`` statement is compiled by SQLAlchemy once, for one dialect and one
set of columns, and each run converts the parameters with the same type processors
SQLAlchemy would use (aware UTC times, JSON) before handing them to
``Connection.exec_driver_sql``. That is still SQLAlchemy's connection: its events fire
(the statement-count test sees every statement), its transaction holds, and driver errors
arrive as SQLAlchemy's exception classes (a unique key is still an ``IntegrityError``).

Rows come back as the driver gives them, without result processing: a reader of them
converts what it needs itself (``loading.parse``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

_Processor = Callable[[Any], Any] | None


class Prepared:
    """One statement for one dialect; ``columns``: the keys an INSERT or UPDATE sets (a
    statement's SQL depends on them), left out for a SELECT or a fixed statement."""

    def __init__(
        self, statement: ClauseElement, dialect: Dialect, columns: Sequence[str] | None = None
    ) -> None:
        compiled = cast(
            SQLCompiler,
            statement.compile(
                dialect=dialect, column_keys=list(columns) if columns is not None else None
            ),
        )
        self.sql = str(compiled)
        if compiled.insert_prefetch or compiled.update_prefetch:
            # Python-side column defaults are computed by SQLAlchemy's execution, not here.
            missing = [c.name for c in (*compiled.insert_prefetch, *compiled.update_prefetch)]
            raise ValueError(f"give every column a value; these have Python defaults: {missing}")
        # Values written into the statement (e.g. 'pending') are parameters too: kept here.
        # Only those: a parameter the caller must give and does not is an error, not NULL.
        # (By the name each parameter has in the SQL: an anonymous one's key is a template.)
        names = compiled.bind_names
        given = compiled.construct_params(_check=False)
        self._fixed: dict[str, Any] = {
            names[bind]: given[names[bind]] for bind in names if not bind.required
        }
        # The type's processor for this dialect, a TypeDecorator's process_bind_param
        # included: what SQLAlchemy's own execution applies.
        self._processors: dict[str, _Processor] = {
            names[bind]: bind.type.dialect_impl(dialect).bind_processor(dialect) for bind in names
        }
        self._order: tuple[str, ...] | None = (
            tuple(compiled.positiontup) if compiled.positiontup is not None else None
        )

    def _params(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        merged = {**self._fixed, **values}
        processors = self._processors
        if self._order is not None:
            return tuple(
                processor(merged[name]) if (processor := processors.get(name)) else merged[name]
                for name in self._order
            )
        return {
            name: processor(value) if (processor := processors.get(name)) else value
            for name, value in merged.items()
        }

    def run(self, conn: Connection, values: Mapping[str, Any]) -> CursorResult[Any]:
        return conn.exec_driver_sql(self.sql, self._params(values))

    def run_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        conn.exec_driver_sql(self.sql, [self._params(row) for row in rows])


class PreparedSet:
    """The prepared forms of one statement, by the columns each use of it sets."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        self.statement, self.dialect = statement, dialect
        self._by_columns: dict[tuple[str, ...], Prepared] = {}

    def for_columns(self, columns: Sequence[str]) -> Prepared:
        key = tuple(columns)
        prepared = self._by_columns.get(key)
        if prepared is None:
            prepared = self._by_columns[key] = Prepared(self.statement, self.dialect, key)
        return prepared

    def run(self, conn: Connection, values: Mapping[str, Any]) -> CursorResult[Any]:
        return self.for_columns(list(values)).run(conn, values)

    def run_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        self.for_columns(list(rows[0])).run_many(conn, rows)


__all__ = ["Prepared", "PreparedSet"]
