"""how an action was taken, beside what it said: ``history.context``

The operating-system user who ran a command and whether the clock was simulated were
merged into a history row's ``details``, so the event's own words and the audit of who
typed them were one mapping. They now have their own column; anonymisation clears it.

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


def downgrade() -> None:
    with op.batch_alter_table("history") as batch:
        batch.drop_column("context")
