"""answers to one occurrence of a series: ``replies.recurrence_id``

A reply with a RECURRENCE-ID answers that occurrence alone. It gets a row of its own
beside the series' answer; the series' answer (``recurrence_id`` NULL) stays one per
participant by a partial unique index, since NULLs are distinct in a unique constraint.

Revision ID: 0012_occurrence_answers
Revises: 0011_access_context
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_occurrence_answers"
down_revision = "0011_access_context"
branch_labels = None
depends_on = None

_SERIES_ANSWER = sa.text("recurrence_id IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("replies") as batch:
        batch.add_column(sa.Column("recurrence_id", sa.DateTime(timezone=True), nullable=True))
        batch.drop_constraint("uq_replies_meeting_participant", type_="unique")
        batch.create_unique_constraint(
            "uq_replies_occurrence", ["meeting_id", "participant_id", "recurrence_id"]
        )
    op.create_index(
        "uq_replies_meeting_participant",
        "replies",
        ["meeting_id", "participant_id"],
        unique=True,
        sqlite_where=_SERIES_ANSWER,
        postgresql_where=_SERIES_ANSWER,
    )


def downgrade() -> None:
    op.drop_index("uq_replies_meeting_participant", table_name="replies")
    # The answers to single occurrences have no place in the older schema.
    op.execute("DELETE FROM replies WHERE recurrence_id IS NOT NULL")
    with op.batch_alter_table("replies") as batch:
        batch.drop_constraint("uq_replies_occurrence", type_="unique")
        batch.drop_column("recurrence_id")
        batch.create_unique_constraint(
            "uq_replies_meeting_participant", ["meeting_id", "participant_id"]
        )
