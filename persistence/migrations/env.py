"""Alembic environment: runs on the connection ``persistence.database.upgrade`` hands it."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from persistence import schema_metadata
from persistence.database import make_engine

target_metadata = schema_metadata()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by copying
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # plain `alembic` command line: use FORLOEB_DATABASE_URL
    with make_engine().begin() as own:
        _run(own)
