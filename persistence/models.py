"""The case store's tables (SQLAlchemy 2, typed). SQLite embedded; PostgreSQL in production.

Every table hangs off ``cases``; ``history`` is append-only (nothing updates or deletes
it); ``cases.version`` is the optimistic lock that turns a lost update into a Conflict.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# SQLite has no 64-bit autoincrement alias for BIGINT; Integer there is 64-bit anyway.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware (UTC) datetimes out, on every backend.

    SQLite stores DateTime without its offset, so a naive value coming back would be
    ambiguous; we store UTC and say so on the way out. Naive input is a programming error.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; times must carry an offset")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # SQLite: the text SQLAlchemy's DATETIME writes ("2027-02-03 08:00:00.000000", which
        # sorts as time does), in one step: on the event path every row has a time or two,
        # and the generic two-step conversion was a tenth of an event's Python work.
        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is None:
                raise ValueError("naive datetime given to the database; times must carry an offset")
            return value.astimezone(UTC).isoformat(" ", "microseconds")[:26]

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    # SQLAlchemy reads this as a class attribute.
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}  # noqa: RUF012


class CaseRow(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    process: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    title: Mapped[str] = mapped_column(String(200))
    location: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    #: When retention anonymised the closed case (its names, notes and forms removed).
    anonymised_at: Mapped[datetime | None]
    #: The version of its process definition the case was opened on or migrated to
    #: (``Process.definition_version``); NULL: opened before versions were recorded.
    definition_version: Mapped[str | None] = mapped_column(String(16))

    participants: Mapped[list[ParticipantRow]] = relationship(
        back_populates="case", order_by="ParticipantRow.id", cascade="all, delete-orphan"
    )
    meetings: Mapped[list[MeetingRow]] = relationship(
        back_populates="case", order_by="MeetingRow.id", cascade="all, delete-orphan"
    )

    # We set the version ourselves: every event raises it by one, even one that changes
    # no column of the case row (an internal transition), and the UPDATE checks the old one.
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}  # noqa: RUF012
    __table_args__ = (Index("ix_cases_process_state", "process", "state"),)


class ParticipantRow(Base):
    __tablename__ = "participants"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(40))
    role: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))

    case: Mapped[CaseRow] = relationship(back_populates="participants")
    __table_args__ = (UniqueConstraint("case_id", "key", name="uq_participants_case_key"),)


class MeetingRow(Base):
    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(40))
    uid: Mapped[str] = mapped_column(String(100), unique=True)  # iCalendar UID, made once
    sequence: Mapped[int] = mapped_column(Integer, default=0)  # rises on every change
    status: Mapped[str] = mapped_column(String(20))  # scheduled | held | cancelled
    start: Mapped[datetime]
    end: Mapped[datetime]
    location: Mapped[str] = mapped_column(String(200))
    attendees: Mapped[list[Any]] = mapped_column(default=list)  # participant keys
    #: A recurring meeting: its rule, EXDATEs and per-occurrence overrides (machines.Series
    #: as JSON). start/end are then its first occurrence's (DTSTART/DTEND). None: single.
    series: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: Random, made once: the ORGANIZER's sub-address (forloeb+<token>@...), by which a
    #: reply finds its meeting without trusting anything the reply says.
    reply_token: Mapped[str | None] = mapped_column(String(40), unique=True)

    case: Mapped[CaseRow] = relationship(back_populates="meetings")
    __table_args__ = (UniqueConstraint("case_id", "key", name="uq_meetings_case_key"),)


class HistoryRow(Base):
    """Append-only audit trail: who did what, when, from which state to which."""

    __tablename__ = "history"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)  # 1, 2, 3 ... per case: a gap is a bug
    at: Mapped[datetime]
    event: Mapped[str] = mapped_column(String(40))
    source: Mapped[str | None] = mapped_column(String(40))
    dest: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(320))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # How it was done, not what was said: the operating-system user behind a typed ``--by``,
    # a simulated clock. Kept apart from ``details`` so each reads as what it is.
    context: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_history_case_seq"),)


#: How a timer's ``failure`` begins when the sweep set it aside because the definition lacks
#: its event (a release renamed it): ``process migrate`` gives such a timer back under the
#: new name; one that failed for another reason stays aside for the operator.
UNKNOWN_EVENT_FAILURE = "the process definition has no event"


class TimerRow(Base):
    __tablename__ = "timers"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(40))
    due: Mapped[datetime]
    # pending | fired | cancelled | void (the state moved on) | failed (set aside by the sweep)
    status: Mapped[str] = mapped_column(String(20))
    fired_at: Mapped[datetime | None]
    #: Why the sweep set a timer aside (exception type and event name, never personal text).
    failure: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        # The sweep reads only pending timers by due time: its cost follows the number
        # due, not the number of open cases.
        Index(
            "ix_timers_pending_due",
            "due",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        # At most one pending timer per event and case.
        Index(
            "uq_timers_pending_case_event",
            "case_id",
            "event",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_timers_case", "case_id"),
    )


class OutboxRow(Base):
    """A message to send, committed with the transition that caused it."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    template: Mapped[str] = mapped_column(String(40))
    topic: Mapped[str | None] = mapped_column(String(40))
    sequence: Mapped[int | None] = mapped_column(Integer)  # the meeting's SEQUENCE when queued
    # pending | sent | failed | superseded (a meeting message whose meeting was cancelled
    # before it went out; the cancellation itself is still sent)
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    #: The occurrence of a series this message is about alone (its RECURRENCE-ID).
    recurrence_id: Mapped[datetime | None]
    # Stable across retries, so a resent message is recognisably the same message.
    message_id: Mapped[str | None] = mapped_column(String(200))
    # The SMTP server's answer for this recipient (each row is one recipient).
    response: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index(
            "ix_outbox_pending",
            "next_attempt_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_outbox_case", "case_id"),
    )


class SignInTokenRow(Base):
    """A one-time sign-in link for the desk: only its SHA-256 is stored, used at most once."""

    __tablename__ = "sign_in_tokens"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    #: A keyed hash of the requesting client's address: enough to rate-limit, not to trace.
    client: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_sign_in_tokens_created", "created_at"),)


class AccessRow(Base):
    """An audit row per read of a case, a form or a list: who, what, when, through what.

    No foreign key to ``cases``: a list read has no case. Retention treats a case's rows
    with the case (``persistence.retention``): anonymising turns ``who`` into the reader's
    role and clears ``context``, a purge deletes them.
    """

    __tablename__ = "access_log"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime]
    who: Mapped[str] = mapped_column(String(320))
    case_id: Mapped[int | None] = mapped_column(Id)
    what: Mapped[str] = mapped_column(String(20))  # "case" | "form" | "list"
    via: Mapped[str] = mapped_column(String(10))  # "desk" | "cli"
    #: How the read was made, beside ``who``: the CLI's operating-system user (``--by`` is
    #: typed, the login is not) and whether the clock was simulated. None from the desk.
    context: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    __table_args__ = (Index("ix_access_log_case", "case_id", "at"),)


class MembershipRow(Base):
    """A member (a child's pseudonymous reference) in one live case of a process at a time.

    The unique key is the rule across cases: two groups cannot both hold one child, even
    when two coordinators enrol it at once (the second transaction fails on the key).
    """

    __tablename__ = "memberships"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    process: Mapped[str] = mapped_column(String(40))
    member: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))

    __table_args__ = (
        UniqueConstraint("process", "member", name="uq_memberships_process_member"),
        Index("ix_memberships_case", "case_id"),
    )
