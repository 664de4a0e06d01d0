"""Helpers shared by the benchmarks: scratch databases and the result row type."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

#: (figure, value, unit, baseline, baseline value). The table prints value / baseline.
Row = tuple[str, float, str, str, float]

POSTGRES_URL = os.environ.get(
    "FORLOEB_BENCH_POSTGRES_URL",
    os.environ.get("FORLOEB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
)


def postgres_available() -> bool:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@contextmanager
def scratch_database(backend: str) -> Iterator[str]:
    """A fresh, empty database URL on ``sqlite`` (a file) or ``postgresql``; removed after."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="forloeb-bench-") as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    name = f"forloeb_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
