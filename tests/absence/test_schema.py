"""Migration 0002 creates exactly the tables the models describe, and goes back down."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from persistence import ensure_schema, make_engine, schema_metadata
from persistence.absence import TABLES
from persistence.database import MIGRATIONS


def test_the_migration_matches_the_models(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        ensure_schema(engine)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, schema_metadata()) == []
    finally:
        engine.dispose()


def test_downgrade_removes_the_absence_tables(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'down.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        ensure_schema(engine)
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0001_initial")
        names = set(inspect(engine).get_table_names())
        assert not names & {t.name for t in TABLES}
        assert "cases" in names
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        assert {t.name for t in TABLES} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
