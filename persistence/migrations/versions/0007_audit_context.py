"""who really typed it, and which definition a case runs on

``staged_inputs.context``: what the CLI knows besides ``--by`` (the operating-system user,
whether the clock was simulated), copied into the history row the input causes.
``cases.definition_version``: the version of its process definition a case was opened on
(or last migrated to); NULL for cases opened before this revision.

Revision ID: 0007_audit_context
Revises: 0006_retention
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_audit_context"
down_revision = "0006_retention"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staged_inputs") as batch:
        batch.add_column(sa.Column("context", sa.JSON(), nullable=True))
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("definition_version", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("definition_version")
    with op.batch_alter_table("staged_inputs") as batch:
        batch.drop_column("context")
