"""participants' answers: a reply token per meeting, replies, proposals, processed mail

Revision ID: 0008_replies
Revises: 0007_audit_context
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0008_replies"
down_revision = "0007_audit_context"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("meetings") as batch:
        batch.add_column(sa.Column("reply_token", sa.String(length=40), nullable=True))
        batch.create_unique_constraint("uq_meetings_reply_token", ["reply_token"])
    # Meetings made before replies were read get a token too: their next update carries it.
    meetings = sa.table("meetings", sa.column("id", _ID), sa.column("reply_token", sa.String))
    connection = op.get_bind()
    ids = connection.execute(sa.select(meetings.c.id)).scalars().all()
    for meeting_id in ids:
        connection.execute(
            sa.update(meetings)
            .where(meetings.c.id == meeting_id)
            .values(reply_token=secrets.token_hex(10))
        )

    op.create_table(
        "replies",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("meeting_id", _ID, nullable=False),
        sa.Column("participant_id", _ID, nullable=False),
        sa.Column("partstat", sa.String(length=20), nullable=True),
        sa.Column("sequence", sa.Integer(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_id", sa.String(length=300), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["meeting_id"], ["meetings.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("meeting_id", "participant_id", name="uq_replies_meeting_participant"),
    )
    op.create_table(
        "meeting_proposals",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("meeting_id", _ID, nullable=False),
        sa.Column("participant_id", _ID, nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_id", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(["meeting_id"], ["meetings.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["participant_id"], ["participants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_meeting_proposals_meeting", "meeting_proposals", ["meeting_id"])
    op.create_table(
        "processed_messages",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(length=300), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("case_id", _ID, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id", name="uq_processed_messages_message_id"),
    )


def downgrade() -> None:
    op.drop_table("processed_messages")
    op.drop_index("ix_meeting_proposals_meeting", table_name="meeting_proposals")
    op.drop_table("meeting_proposals")
    op.drop_table("replies")
    with op.batch_alter_table("meetings") as batch:
        batch.drop_constraint("uq_meetings_reply_token", type_="unique")
        batch.drop_column("reply_token")
