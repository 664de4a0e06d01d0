"""how a read was made, beside who made it: ``access_log.context``

The CLI's reads (``case show``, ``case form``) are audited like the desk's; ``--by`` is
whatever was typed, so the row also keeps the operating-system user who ran the command
and whether the clock was simulated. Anonymisation clears it.

Revision ID: 0011_access_context
Revises: 0010_history_context
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_access_context"
down_revision = "0010_history_context"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("access_log") as batch:
        batch.add_column(sa.Column("context", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("access_log") as batch:
        batch.drop_column("context")
