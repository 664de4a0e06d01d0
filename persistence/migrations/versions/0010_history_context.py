"""how an action was taken, beside what it said: ``history.context``; staged ids unique

The operating-system user who ran a command and whether the clock was simulated were
merged into a history row's ``details``, so the event's own words and the audit of who
typed them were one mapping. They now have their own column; anonymisation clears it.

``staged_inputs`` ids are never reused on SQLite (AUTOINCREMENT): SQLite gave a new row
the id of the highest one just taken, so the desk's clean-up after one action discarded
another action's staged input when two people acted at once.

Revision ID: 0010_history_context
Revises: 0009_series
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_history_context"
down_revision = "0009_series"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("history") as batch:
        batch.add_column(sa.Column("context", sa.JSON(), nullable=True))
    if op.get_bind().dialect.name == "sqlite":  # PostgreSQL's sequences never reuse an id
        with op.batch_alter_table(
            "staged_inputs", recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(
            "staged_inputs", recreate="always", table_kwargs={"sqlite_autoincrement": False}
        ):
            pass
    with op.batch_alter_table("history") as batch:
        batch.drop_column("context")
