"""recurring meetings (a series rule on the meeting row, the occurrence a message is about)
and memberships (a member in one live case of a process at a time)

Revision ID: 0009_series
Revises: 0008_replies
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_series"
down_revision = "0008_replies"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("meetings") as batch:
        batch.add_column(sa.Column("series", sa.JSON(), nullable=True))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("recurrence_id", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "memberships",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("process", sa.String(length=40), nullable=False),
        sa.Column("member", sa.String(length=40), nullable=False),
        sa.Column("case_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("process", "member", name="uq_memberships_process_member"),
    )
    op.create_index("ix_memberships_case", "memberships", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_memberships_case", table_name="memberships")
    op.drop_table("memberships")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("recurrence_id")
    with op.batch_alter_table("meetings") as batch:
        batch.drop_column("series")
