"""the desk: one-time sign-in tokens (hashed) and the access log of reads

Revision ID: 0005_desk
Revises: 0004_staged_inputs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_desk"
down_revision = "0004_staged_inputs"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sign_in_tokens",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_sign_in_tokens_created", "sign_in_tokens", ["created_at"])
    op.create_table(
        "access_log",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("who", sa.String(length=320), nullable=False),
        sa.Column("case_id", _ID, nullable=True),
        sa.Column("what", sa.String(length=20), nullable=False),
        sa.Column("via", sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_access_log_case", "access_log", ["case_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_access_log_case", table_name="access_log")
    op.drop_table("access_log")
    op.drop_index("ix_sign_in_tokens_created", table_name="sign_in_tokens")
    op.drop_table("sign_in_tokens")
