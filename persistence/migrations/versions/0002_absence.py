"""absence registrations, school calendars and directory, episodes and tasks

Revision ID: 0002_absence
Revises: 0001_initial
Create Date: 2026-11-27

Days in ``absence_registrations`` and ``absence_pupils.last_day`` are date ordinals
(``date.toordinal()``), plain integers on purpose: see ``persistence/absence/tables.py``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_absence"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "absence_holiday_periods",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school", sa.String(length=40), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("school", "first_day", name="uq_absence_holiday_start"),
    )
    op.create_table(
        "absence_schools",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("leader_name", sa.String(length=200), nullable=True),
        sa.Column("leader_email", sa.String(length=320), nullable=True),
        sa.Column("coordinator_name", sa.String(length=200), nullable=True),
        sa.Column("coordinator_email", sa.String(length=320), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "absence_pupils",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pupil_ref", sa.String(length=40), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("grade", sa.SmallInteger(), nullable=False),
        sa.Column("last_day", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["school_id"], ["absence_schools.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pupil_ref"),
    )
    op.create_index("ix_absence_pupils_school", "absence_pupils", ["school_id"], unique=False)
    op.create_table(
        "absence_teachers",
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("grade", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.ForeignKeyConstraint(["school_id"], ["absence_schools.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("school_id", "grade"),
    )
    op.create_table(
        "absence_episodes",
        sa.Column("id", _ID, nullable=False),
        sa.Column("pupil_id", sa.Integer(), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("rule_names", sa.String(length=60), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("case_id", _ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["pupil_id"], ["absence_pupils.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pupil_id", "first_day", name="uq_absence_episode_start"),
    )
    op.create_index(
        "ix_absence_episodes_new",
        "absence_episodes",
        ["id"],
        unique=False,
        sqlite_where=sa.text("status = 'new'"),
        postgresql_where=sa.text("status = 'new'"),
    )
    op.create_index(
        "ix_absence_episodes_pupil_last",
        "absence_episodes",
        ["pupil_id", "last_day"],
        unique=False,
    )
    op.create_table(
        "absence_registrations",
        sa.Column("pupil_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("period", sa.SmallInteger(), nullable=False),
        sa.Column("code", sa.String(length=1), nullable=False),
        sa.Column("grade", sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(["pupil_id"], ["absence_pupils.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pupil_id", "day", "period"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "absence_tasks",
        sa.Column("id", _ID, nullable=False),
        sa.Column("pupil_id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("quarter", sa.String(length=6), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("u_halves", sa.Integer(), nullable=False),
        sa.Column("school_days", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mailed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["pupil_id"], ["absence_pupils.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["school_id"], ["absence_schools.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pupil_id", "quarter", "kind", name="uq_absence_task"),
    )
    op.create_index(
        "ix_absence_tasks_unmailed",
        "absence_tasks",
        ["id"],
        unique=False,
        sqlite_where=sa.text("mailed_at IS NULL"),
        postgresql_where=sa.text("mailed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_absence_tasks_unmailed",
        table_name="absence_tasks",
        sqlite_where=sa.text("mailed_at IS NULL"),
        postgresql_where=sa.text("mailed_at IS NULL"),
    )
    op.drop_table("absence_tasks")
    op.drop_table("absence_registrations")
    op.drop_index("ix_absence_episodes_pupil_last", table_name="absence_episodes")
    op.drop_index(
        "ix_absence_episodes_new",
        table_name="absence_episodes",
        sqlite_where=sa.text("status = 'new'"),
        postgresql_where=sa.text("status = 'new'"),
    )
    op.drop_table("absence_episodes")
    op.drop_table("absence_teachers")
    op.drop_index("ix_absence_pupils_school", table_name="absence_pupils")
    op.drop_table("absence_pupils")
    op.drop_table("absence_schools")
    op.drop_table("absence_holiday_periods")
