"""Dialect-specific bulk work shared by the import and the scan: many rows without
SQLAlchemy's per-row processing, and the database's work overlapped with ours."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import JSON, Connection, Table, bindparam, text

_T = TypeVar("_T")


def dialect_insert(conn: Connection) -> Any:
    # Both dialects spell ON CONFLICT the same way; the constructs live in each dialect.
    # Imported here: a command that imports nothing pays 0.1 s for the PostgreSQL dialect.
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert


def bulk_insert(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    constants: Mapping[str, Any],
) -> None:
    """``INSERT … ON CONFLICT DO NOTHING`` of many rows without SQLAlchemy's per-row
    parameter processing: ``executemany`` on SQLite; on PostgreSQL ``COPY`` into a
    temporary table (psycopg formats COPY rows in C) and one ``INSERT … SELECT``.
    ``constants`` are the same for every row and bound once."""
    if not rows:
        return
    dialect = conn.dialect
    names = [*columns, *constants]
    if dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        assert raw is not None
        stage = f"bulk_{table.name}"
        json_columns = {k for k, c in enumerate(columns) if isinstance(table.c[c].type, JSON)}
        conn.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {stage} ON COMMIT DROP AS "
            f"SELECT {', '.join(columns)} FROM {table.name} WITH NO DATA"
        )
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {stage} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                if json_columns:
                    row = tuple(
                        json.dumps(v) if k in json_columns else v for k, v in enumerate(row)
                    )
                copy.write_row(row)
        binds = [bindparam(f"k_{n}", v, type_=table.c[n].type) for n, v in constants.items()]
        selected = [*columns, *(f":k_{n}" for n in constants)]
        conn.execute(
            text(
                f"INSERT INTO {table.name} ({', '.join(names)}) "
                f"SELECT {', '.join(selected)} FROM {stage} ON CONFLICT DO NOTHING"
            ).bindparams(*binds)
        )
        conn.exec_driver_sql(f"DROP TABLE {stage}")
        return

    def processor(column: str) -> Callable[[Any], Any] | None:
        type_ = table.c[column].type
        return type_.dialect_impl(dialect).bind_processor(dialect)

    processors = [processor(c) for c in columns]
    fixed = tuple(
        p(v) if (p := processor(name)) is not None else v for name, v in constants.items()
    )
    if any(processors):
        rows = [
            tuple(p(v) if p is not None else v for p, v in zip(processors, row, strict=True))
            for row in rows
        ]
    placeholders = ", ".join("?" * len(names))
    conn.exec_driver_sql(
        f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({placeholders}) "
        "ON CONFLICT DO NOTHING",
        [(*row, *fixed) for row in rows],
    )


def raw_rows(conn: Connection, sql: str) -> list[tuple[Any, ...]]:
    raw = conn.connection.driver_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        cursor.execute(sql)
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        cursor.close()


def overlapped(batches: Iterator[_T], work: Callable[[_T], None]) -> None:
    """Fetch batches here and ``work`` on them in a second thread. psycopg releases the
    GIL while it waits for the server, so PostgreSQL's work (aggregating, upserting) and
    ours (parsing, counting) run side by side instead of one after the other."""
    pending: queue.Queue[_T | None] = queue.Queue(maxsize=8)
    failure: list[BaseException] = []

    def worker() -> None:
        while (batch := pending.get()) is not None:
            if not failure:
                try:
                    work(batch)
                except BaseException as exc:  # re-raised in the fetching thread
                    failure.append(exc)

    thread = threading.Thread(target=worker, name="absence-overlap", daemon=True)
    thread.start()
    try:
        for batch in batches:
            if failure:
                break
            pending.put(batch)
    finally:
        pending.put(None)
        thread.join()
    if failure:
        raise failure[0]


__all__ = ["bulk_insert", "dialect_insert", "overlapped", "raw_rows"]
