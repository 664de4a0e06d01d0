"""retention: anonymised cases, a record of each retention run; timers the sweep set aside

Revision ID: 0006_retention
Revises: 0005_desk
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_retention"
down_revision = "0005_desk"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("anonymised_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("timers") as batch:
        batch.add_column(sa.Column("failure", sa.String(length=200), nullable=True))
    op.create_table(
        "retention_runs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("cases", sa.JSON(), nullable=False),
        sa.Column("absence", sa.JSON(), nullable=False),
        sa.Column("prefect", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("retention_runs")
    with op.batch_alter_table("timers") as batch:
        batch.drop_column("failure")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("anonymised_at")
