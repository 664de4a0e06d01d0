"""Connecting: one URL (``FORLOEB_DATABASE_URL``), SQLite by default, PostgreSQL in production."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError, ProgrammingError

from machines import ConfigurationError, SchemaOutdated, Unavailable

DEFAULT_URL = "sqlite:///forloeb.db"
MIGRATIONS = Path(__file__).parent / "migrations"
#: The newest migration. A test checks it against Alembic's own idea of "head".
HEAD = "0012_occurrence_answers"


def database_url(url: str | None = None) -> str:
    url = url or os.environ.get("FORLOEB_DATABASE_URL") or DEFAULT_URL
    # "postgresql://" is what people write; psycopg 3 is the driver we ship.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the writer; NORMAL sync is durable across process
    # crashes (the WAL is synced at checkpoints), which is what an embedded default needs.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Erased personal data (a withdrawn consent's form) is overwritten on disk, not just
    # unlinked from the b-tree.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def make_engine(url: str | None = None) -> Engine:
    resolved = database_url(url)
    try:
        parsed = make_url(resolved)
    except ArgumentError:
        raise ConfigurationError(
            f"FORLOEB_DATABASE_URL {resolved!r} is not a database URL; "
            "use e.g. sqlite:///forloeb.db or postgresql://user@host/db"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in {"sqlite", "postgresql"}:
        raise ConfigurationError(
            f"FORLOEB_DATABASE_URL uses {backend!r}; forloeb runs on sqlite:// or postgresql://"
        )
    if backend == "sqlite":
        engine = create_engine(resolved, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # Statements are prepared on the server from their first use: the event path runs the
    # same dozen statements over and over. (No pool pre-ping: it costs a round trip per
    # transaction, and a dead connection already fails loudly.)
    return create_engine(resolved, connect_args={"prepare_threshold": 0})


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (``forloeb db upgrade``)."""
    from alembic import command
    from alembic.config import Config

    readable_revision(engine)  # a file that is no database is one clear line, not Alembic's
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def current_revision(engine: Engine) -> str | None:
    """The schema's Alembic revision; None for a database forloeb has never used.

    One statement on the common path (every command checks the schema first): only when
    it fails do we look whether the version table is there at all.
    """
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError):
        with engine.connect() as connection:
            if inspect(connection).has_table("alembic_version"):
                raise
        return None


def ensure_schema(engine: Engine) -> None:
    """A new database is created on first use; an old one must be upgraded on purpose."""
    revision = readable_revision(engine)
    if revision == HEAD:
        return
    if revision is None:
        upgrade(engine)
        return
    raise SchemaOutdated(f"the database schema is at {revision}, this forloeb needs {HEAD}")


def readable_revision(engine: Engine) -> str | None:
    """``current_revision``, with a database that cannot be opened or read as our errors."""
    try:
        return current_revision(engine)
    except OperationalError as exc:
        raise Unavailable(
            f"cannot open the database ({str(exc.orig).splitlines()[0]}); "
            "check FORLOEB_DATABASE_URL"
        ) from None
    except DatabaseError:
        # e.g. SQLite's "file is not a database": the driver's text may quote the file.
        raise ConfigurationError(
            "FORLOEB_DATABASE_URL names something that is not a database forloeb can read; "
            "point it at a forloeb database (a new file is created on first use)"
        ) from None


def settle_erasure(engine: Engine) -> bool:
    """Make erased text leave the database's files now, not at some later checkpoint.

    SQLite: ``secure_delete`` (on for every connection) overwrites what a transaction
    removes, but the write-ahead log still holds the pages as they were until a checkpoint
    copies them back; ``wal_checkpoint(TRUNCATE)`` does that at once and empties the log.
    Call it right after a transaction that erased personal data (a withdrawal, a retention
    run), never after every event: it writes the whole log back. PostgreSQL: nothing to do
    here; its dead row versions go at the next (auto)vacuum (see README).

    True when nothing is left in the log (on SQLite a reader can hold the checkpoint off
    past the busy timeout; the next checkpoint then finishes it).
    """
    if engine.dialect.name != "sqlite":
        return True
    with engine.connect() as conn:
        busy = conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)")).first()
    return busy is not None and busy[0] == 0
