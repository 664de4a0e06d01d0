"""Participants' answers to invitations: stored per meeting and participant, on the case.

An answer (iTIP ``REPLY``) comes from the organizer mailbox, already parsed
(``notifications.replies``). It is matched here to a meeting by the token of the address it
was sent to, never by what the mail says; then its UID, SEQUENCE and ATTENDEE must fit that
meeting and its sender must be that attendee (CalConnect's iMIP practice against spoofing).

Every mail read is one row in ``processed_messages`` (by Message-ID), written in the same
transaction as what the mail changed: a mail is applied at most once, also when two
readers take it at the same moment (the second one's insert collides and changes nothing).

An answer is one history row (event ``reply``, the state unchanged) and raises the case's
version like every event, so a concurrent change becomes a retry, not a lost update.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from machines import COPENHAGEN, Series, WorkingCalendar, get_process

from .models import Base, CaseRow, HistoryRow, Id, MeetingRow, OutboxRow, ParticipantRow

#: What an attendee may answer (RFC 5545 PARTSTAT for a VEVENT, less DELEGATED).
PARTSTATS = frozenset({"ACCEPTED", "DECLINED", "TENTATIVE"})
#: How a message ended; ``duplicate`` is never stored (it is the one stored before).
APPLIED, IGNORED, PROPOSAL, BOUNCE, DUPLICATE = "applied", "ignored", "proposal", "bounce", "dup"
MESSAGE_ID_LENGTH = 300


class ReplyRow(Base):
    """The latest answer of one participant to one meeting, or to one occurrence of a
    series (and whether we reminded them).

    A series is one meeting row; its occurrences are computed from its rule
    (``machines.Series``) and have no rows of their own. An answer to one occurrence
    (a reply with ``RECURRENCE-ID``) is a row of its own, keyed by that RECURRENCE-ID
    beside the meeting: it stands for that occurrence only, and the series' answer (the
    row without one) for every other occurrence.
    """

    __tablename__ = "replies"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    #: ACCEPTED | DECLINED | TENTATIVE; None: no answer yet (a row made by a reminder).
    partstat: Mapped[str | None] = mapped_column(String(20))
    #: The SEQUENCE the answer was given to: an answer to an older one never wins.
    sequence: Mapped[int | None] = mapped_column(Integer)
    answered_at: Mapped[datetime | None]  # the reply's DTSTAMP
    received_at: Mapped[datetime | None]
    message_id: Mapped[str | None] = mapped_column(String(MESSAGE_ID_LENGTH))
    #: When the "we miss your answer" reminder was queued: at most once per meeting.
    reminded_at: Mapped[datetime | None]
    #: The occurrence of a series this answer is for (its RECURRENCE-ID: its start as the
    #: rule gives it, before any move); None: the meeting, or the whole series.
    recurrence_id: Mapped[datetime | None]

    __table_args__ = (
        # One row per participant and occurrence, and (NULLs being distinct in a unique
        # constraint on both backends) one per participant for the whole meeting.
        UniqueConstraint(
            "meeting_id", "participant_id", "recurrence_id", name="uq_replies_occurrence"
        ),
        Index(
            "uq_replies_meeting_participant",
            "meeting_id",
            "participant_id",
            unique=True,
            sqlite_where=text("recurrence_id IS NULL"),
            postgresql_where=text("recurrence_id IS NULL"),
        ),
    )


class ProposalRow(Base):
    """A new time an attendee proposed (iTIP ``COUNTER``): the convener may take it."""

    __tablename__ = "meeting_proposals"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    sequence: Mapped[int] = mapped_column(Integer)
    start: Mapped[datetime]
    end: Mapped[datetime]
    received_at: Mapped[datetime]
    message_id: Mapped[str] = mapped_column(String(MESSAGE_ID_LENGTH))

    __table_args__ = (Index("ix_meeting_proposals_meeting", "meeting_id"),)


class ProcessedMessageRow(Base):
    """Each mail read from the organizer mailbox, once: what became of it, and why."""

    __tablename__ = "processed_messages"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(MESSAGE_ID_LENGTH))
    processed_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(20))  # applied | ignored | proposal | bounce
    reason: Mapped[str | None] = mapped_column(Text)  # why ignored: no address, no name
    case_id: Mapped[int | None] = mapped_column(Id)

    __table_args__ = (UniqueConstraint("message_id", name="uq_processed_messages_message_id"),)


replies = Base.metadata.tables[ReplyRow.__tablename__]
proposals = Base.metadata.tables[ProposalRow.__tablename__]
processed = Base.metadata.tables[ProcessedMessageRow.__tablename__]
_cases = Base.metadata.tables[CaseRow.__tablename__]
_meetings = Base.metadata.tables[MeetingRow.__tablename__]
_participants = Base.metadata.tables[ParticipantRow.__tablename__]
_history = Base.metadata.tables[HistoryRow.__tablename__]
_outbox = Base.metadata.tables[OutboxRow.__tablename__]


def message_key(message_id: str | None, raw: bytes) -> str:
    """The key a mail is processed once by: its Message-ID, or a digest when it has none
    (or one too long to store)."""
    cleaned = (message_id or "").strip()
    if cleaned and len(cleaned) <= MESSAGE_ID_LENGTH:
        return cleaned
    return "sha256:" + hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Answer:
    """An iTIP REPLY or COUNTER as the mail gave it; nothing here is trusted yet."""

    message_key: str
    token: str | None  # from the address the mail was sent to
    sender: str  # the From address
    method: str  # REPLY | COUNTER
    uid: str
    sequence: int
    attendee: str  # the one ATTENDEE's address, without "mailto:"
    partstat: str  # REPLY: the answer; COUNTER: ""
    stamp: datetime  # DTSTAMP
    start: datetime | None = None  # COUNTER: the proposed time
    end: datetime | None = None
    #: RECURRENCE-ID: the answer is for this occurrence of a series alone.
    recurrence_id: datetime | None = None


@dataclass(frozen=True)
class Outcome:
    outcome: str  # applied | ignored | proposal | bounce | dup
    reason: str | None = None
    case_id: int | None = None
    #: A required participant declined and the convener was told.
    declined: bool = False


def already_processed(engine: Engine, keys: Iterable[str]) -> set[str]:
    """Which of these mails were processed before (by anyone)."""
    wanted = sorted(set(keys))
    found: set[str] = set()
    with engine.connect() as conn:
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            found.update(
                conn.execute(
                    select(processed.c.message_id).where(processed.c.message_id.in_(chunk))
                ).scalars()
            )
    return found


def record_ignored(
    engine: Engine, key: str, reason: str, now: datetime, case_id: int | None = None
) -> Outcome:
    """A mail that changes nothing, kept with its reason; DUPLICATE if it was seen before."""
    try:
        with engine.begin() as conn:
            _mark(conn, key, IGNORED, reason, case_id, now)
    except IntegrityError:
        return Outcome(DUPLICATE)
    return Outcome(IGNORED, reason, case_id)


def _mark(
    conn: Connection, key: str, outcome: str, reason: str | None, case_id: int | None, now: datetime
) -> None:
    conn.execute(
        insert(processed),
        {
            "message_id": key,
            "processed_at": now,
            "outcome": outcome,
            "reason": reason,
            "case_id": case_id,
        },
    )


class _Ignore(Exception):
    def __init__(self, reason: str, case_id: int | None = None) -> None:
        super().__init__(reason)
        self.reason, self.case_id = reason, case_id


class _VersionMoved(Exception):
    """A case changed between our read and our write: read again."""


#: What ``record_answer`` says when it gave up: the mail is not marked processed, so it
#: stays in the mailbox for the next fetch.
KEPT_CHANGING = "the case kept changing; the mail stays for the next fetch"


def record_answer(engine: Engine, answer: Answer, now: datetime, attempts: int = 5) -> Outcome:
    """Apply one REPLY or COUNTER: the answer, a history row and (for a required
    participant's decline) a mail to the convener, in one transaction with the mail's
    processed row. A mail that does not fit is recorded as ignored with its reason."""
    for _ in range(attempts):
        try:
            with engine.begin() as conn:
                batch = _Batch(conn, [answer], now)
                outcome = batch.apply(answer)
                batch.write()
                return outcome
        except _VersionMoved:
            continue
        except IntegrityError:
            # Another reader processed this mail (or answered for this participant) at
            # the same moment; read again: a processed mail is then a duplicate.
            if already_processed(engine, [answer.message_key]):
                return Outcome(DUPLICATE)
            continue
    return Outcome(IGNORED, KEPT_CHANGING)


def record_answers(engine: Engine, answers: Sequence[Answer], now: datetime) -> list[Outcome]:
    """Many answers (a fetch chunk) in one transaction, read and written in a few
    statements: a commit per mail, and then a dozen statements per mail, were most of
    the time. Every answer is checked before anything is written, so an ignored mail
    leaves nothing but its processed row. If anything collides (another reader, a case
    changed meanwhile), the chunk is rolled back and each answer is applied on its own,
    as ``record_answer`` does."""
    if not answers:
        return []
    try:
        with engine.begin() as conn:
            batch = _Batch(conn, answers, now)
            outcomes = [batch.apply(answer) for answer in answers]
            batch.write()
    except (_VersionMoved, IntegrityError):
        return [record_answer(engine, answer, now) for answer in answers]
    return outcomes


@dataclass
class _Meeting:
    """A meeting as the batch sees it, with its case's version as it will be written."""

    id: int
    case_id: int
    key: str
    uid: str
    sequence: int
    status: str
    attendees: list[str]
    process: str
    state: str
    version: int  # as read: the bump is conditional on it
    new_version: int  # after the events of this batch
    series: Mapping[str, Any] | None  # a recurring meeting's rule (machines.Series as JSON)
    _parsed: Series | None = None

    def occurrence(self, recurrence_id: datetime) -> tuple[datetime, int, list[str]]:
        """The occurrence a RECURRENCE-ID names, as it stands: its RECURRENCE-ID in UTC
        (how its answer is stored), its SEQUENCE and its attendees. ``_Ignore`` if the
        meeting is no series, or that occurrence is not one of it, or is cancelled."""
        if self.series is None:
            raise _Ignore("a RECURRENCE-ID, but the meeting is not a series", self.case_id)
        if self._parsed is None:
            self._parsed = Series.from_json(self.series)
        found = self._parsed.occurrence(recurrence_id)
        if found is None:
            raise _Ignore("the RECURRENCE-ID is no occurrence of the series", self.case_id)
        if found.cancelled:
            raise _Ignore("the occurrence is cancelled", self.case_id)
        # An occurrence changed on its own has its own SEQUENCE and maybe its own
        # attendees (another social worker covers it); the others are the series'.
        change = self._parsed.overrides.get(found.recurrence_id)
        if change is None:
            return found.recurrence_id.astimezone(UTC), self.sequence, self.attendees
        attendees = list(change.attendees) if change.attendees is not None else self.attendees
        return found.recurrence_id.astimezone(UTC), change.sequence, attendees


@dataclass
class _Earlier:
    """A participant's answer row as it stands (or will stand after this batch)."""

    id: int | None  # None: no row yet (it will be inserted)
    partstat: str | None
    sequence: int | None
    answered_at: datetime | None
    changed: dict[str, Any] | None = None  # the values this batch writes


#: An answer row's key: meeting, participant, and the occurrence (None: the whole).
_AnswerKey = tuple[int, int, datetime | None]


class _Batch:
    """Answers checked against what three queries read, written in one statement per
    table (``write``). The checks are those of one answer at a time: an answer sees the
    ones before it in the batch (a second answer of the same attendee, a decline after
    an acceptance), because each updates what the batch holds in memory."""

    def __init__(self, conn: Connection, answers: Sequence[Answer], now: datetime) -> None:
        self.conn, self.now = conn, now
        tokens = sorted({a.token for a in answers if a.token})
        self.meetings: dict[str, _Meeting] = {}
        if tokens:
            for m in conn.execute(_MEETINGS_OF_TOKENS, {"b_tokens": tokens}):
                self.meetings[m.reply_token] = _Meeting(
                    m.id, m.case_id, m.key, m.uid, m.sequence, m.status, list(m.attendees),
                    m.process, m.state, m.version, m.version, m.series,
                )  # fmt: skip
        cases = sorted({m.case_id for m in self.meetings.values()})
        #: Per case: its participants with an address, by the address in lower case.
        self.people: dict[int, dict[str, Any]] = {c: {} for c in cases}
        self.with_address: dict[int, list[Any]] = {c: [] for c in cases}
        if cases:
            for p in conn.execute(_PEOPLE_OF_CASES, {"b_cases": cases}):
                # Equal ignoring case, compared here rather than with ILIKE: "_" and "%"
                # in an address are no wildcards (an attacker's j_ns@ must not answer for
                # jens@).
                self.people[p.case_id].setdefault(p.email.lower(), p)
                self.with_address[p.case_id].append(p)
        self.earlier: dict[_AnswerKey, _Earlier] = {}
        meeting_ids = sorted({m.id for m in self.meetings.values()})
        if meeting_ids:
            for r in conn.execute(_ANSWERS_OF_MEETINGS, {"b_meetings": meeting_ids}):
                self.earlier[(r.meeting_id, r.participant_id, r.recurrence_id)] = _Earlier(
                    r.id, r.partstat, r.sequence, r.answered_at
                )
        self.keys: set[str] = set()
        self.history: list[dict[str, Any]] = []
        self.processed: list[dict[str, Any]] = []
        self.proposals: list[dict[str, Any]] = []
        self.outbox: list[dict[str, Any]] = []

    def apply(self, a: Answer) -> Outcome:
        if a.message_key in self.keys:
            return Outcome(DUPLICATE)  # the same mail twice in one fetch
        self.keys.add(a.message_key)
        try:
            outcome = self._check_and_apply(a)
        except _Ignore as ignored:
            outcome = Outcome(IGNORED, ignored.reason, ignored.case_id)
        self.processed.append(
            {
                "message_id": a.message_key,
                "processed_at": self.now,
                "outcome": outcome.outcome,
                "reason": outcome.reason,
                "case_id": outcome.case_id,
            }
        )
        return outcome

    def _check_and_apply(self, a: Answer) -> Outcome:
        """Every check comes before the first change to what the batch holds, so an
        ``_Ignore`` leaves it as it was."""
        if not a.token:
            raise _Ignore("not sent to a meeting's reply address (no token)")
        meeting = self.meetings.get(a.token)
        if meeting is None:
            raise _Ignore("the token matches no meeting")
        case_id = meeting.case_id
        if a.uid != meeting.uid:
            raise _Ignore("the UID is not the meeting's of this token", case_id)
        if meeting.status == "cancelled":
            raise _Ignore("the meeting is cancelled", case_id)
        # What is answered: the meeting (or the whole series), or one occurrence of it
        # with its own SEQUENCE and attendees.
        occurrence, sequence, attendees = None, meeting.sequence, meeting.attendees
        what = "meeting"
        if a.recurrence_id is not None:
            if a.method == "COUNTER":
                raise _Ignore("a proposed time for one occurrence of a series", case_id)
            occurrence, sequence, attendees = meeting.occurrence(a.recurrence_id)
            what = "occurrence"
        if a.sequence > sequence:
            raise _Ignore(f"SEQUENCE {a.sequence} is newer than the {what}'s", case_id)
        person = self.people[case_id].get(a.attendee.lower())
        if person is None or person.key not in attendees:
            raise _Ignore(f"the ATTENDEE is not invited to this {what}", case_id)
        if a.sender.lower() != a.attendee.lower():
            raise _Ignore("the mail is not from the ATTENDEE it answers for", case_id)

        details: dict[str, Any] = {"meeting": meeting.key, "sequence": a.sequence}
        if occurrence is not None:
            details["occurrence"] = _iso(occurrence)
        declined = False
        if a.method == "COUNTER":
            if a.start is None or a.end is None or a.end <= a.start:
                raise _Ignore("the proposal has no usable DTSTART and DTEND", case_id)
            self.proposals.append(
                {
                    "meeting_id": meeting.id,
                    "participant_id": person.id,
                    "sequence": a.sequence,
                    "start": a.start,
                    "end": a.end,
                    "received_at": self.now,
                    "message_id": a.message_key,
                }
            )
            event, outcome = "counter", PROPOSAL
            details.update(start=_iso(a.start), end=_iso(a.end))
            # Only the convener can move the meeting: they hear of the proposal at once.
            self._tell_convener(meeting, person, "reply_counter", None, meeting.sequence)
        else:
            if a.partstat not in PARTSTATS:
                raise _Ignore(f"PARTSTAT {a.partstat or 'missing'} is not an answer", case_id)
            key = (meeting.id, person.id, occurrence)
            before = self.earlier.get(key)
            if (
                before is not None
                and before.partstat is not None
                and (before.sequence, before.answered_at) > (a.sequence, a.stamp)
            ):
                raise _Ignore("a newer answer of this attendee is already recorded", case_id)
            # What the convener knew for this occurrence: its own answer, else the series'.
            whole = self.earlier.get((meeting.id, person.id, None))
            known = before if before is not None and before.partstat is not None else whole
            was_declined = known is not None and known.partstat == "DECLINED"
            if before is None:
                before = self.earlier[key] = _Earlier(None, None, None, None)
            before.partstat, before.sequence, before.answered_at = a.partstat, a.sequence, a.stamp
            before.changed = {
                "partstat": a.partstat,
                "sequence": a.sequence,
                "answered_at": a.stamp,
                "received_at": self.now,
                "message_id": a.message_key,
            }
            event, outcome = "reply", APPLIED
            details["partstat"] = a.partstat
            spec = get_process(meeting.process).roles.get(person.role)
            required = spec is not None and spec.attends == "required"
            current = a.sequence == sequence
            if a.partstat == "DECLINED" and required and current and not was_declined:
                declined = self._tell_convener(
                    meeting, person, "reply_declined", occurrence, sequence
                )

        meeting.new_version += 1
        self.history.append(
            {
                "case_id": case_id,
                "seq": meeting.new_version,
                "at": self.now,
                "event": event,
                "source": meeting.state,
                "dest": meeting.state,
                "actor": a.attendee.lower(),
                "details": details,
            }
        )
        return Outcome(outcome, None, case_id, declined)

    def _tell_convener(
        self,
        meeting: _Meeting,
        person: Any,
        template: str,
        occurrence: datetime | None,
        sequence: int,
    ) -> bool:
        """Queue ``template`` (``reply_declined``, ``reply_counter``) about ``person``'s
        answer to the case's conveners (else its escalation role); about ``occurrence``
        alone when the answer was (the message then gives that occurrence's time)."""
        process = get_process(meeting.process)
        people = [p for p in self.with_address[meeting.case_id] if p.id != person.id]
        targets = [p.id for p in people if p.role in process.convener_roles]
        if not targets:
            targets = [p.id for p in people if p.role == process.escalation_role]
        for pid in targets:
            self.outbox.append(
                _message(
                    meeting.case_id, pid, meeting.id, sequence, template, person.key, self.now,
                    occurrence,
                )
            )  # fmt: skip
        return bool(targets)

    def write(self) -> None:
        """Everything the batch decided, one statement per table. The cases first, each
        only if no one else moved its version since we read it (in case order, so that
        two readers on PostgreSQL lock them in the same order)."""
        touched = sorted(
            (m for m in self.meetings.values() if m.new_version != m.version),
            key=lambda m: m.case_id,
        )
        for m in touched:
            stored = self.conn.execute(
                _BUMP_CASE,
                {
                    "b_case": m.case_id,
                    "b_version": m.version,
                    "b_new_version": m.new_version,
                    "b_now": self.now,
                },
            )
            if stored.rowcount != 1:
                raise _VersionMoved()
        new, changed = [], []
        for (meeting_id, participant_id, occurrence), answer in self.earlier.items():
            if answer.changed is None:
                continue
            if answer.id is None:
                new.append(
                    {
                        "meeting_id": meeting_id,
                        "participant_id": participant_id,
                        "recurrence_id": occurrence,
                        **answer.changed,
                    }
                )
            else:
                changed.append({"b_reply": answer.id, **answer.changed})
        for statement, rows in (
            (insert(replies), new),
            (_CHANGE_ANSWER, changed),
            (insert(proposals), self.proposals),
            (insert(_history), self.history),
            (insert(_outbox), self.outbox),
            (insert(processed), self.processed),
        ):
            if rows:
                self.conn.execute(statement, rows)


_MEETINGS_OF_TOKENS = (
    select(
        _meetings.c.id,
        _meetings.c.reply_token,
        _meetings.c.case_id,
        _meetings.c.key,
        _meetings.c.uid,
        _meetings.c.sequence,
        _meetings.c.status,
        _meetings.c.attendees,
        _meetings.c.series,
        _cases.c.process,
        _cases.c.state,
        _cases.c.version,
    )
    .join(_cases, _cases.c.id == _meetings.c.case_id)
    .where(_meetings.c.reply_token.in_(bindparam("b_tokens", expanding=True)))
)
_PEOPLE_OF_CASES = (
    select(
        _participants.c.id,
        _participants.c.case_id,
        _participants.c.key,
        _participants.c.role,
        _participants.c.email,
    )
    .where(
        _participants.c.case_id.in_(bindparam("b_cases", expanding=True)),
        _participants.c.email.is_not(None),
        _participants.c.email != "",
    )
    .order_by(_participants.c.id)
)
# Without FOR UPDATE: every change to an answer raises its case's version, which the
# write checks; the reminders touch only ``reminded_at``, which no answer writes, and a
# row a reminder inserted meanwhile makes our insert collide (the chunk is then redone
# one answer at a time).
_ANSWERS_OF_MEETINGS = select(
    replies.c.id,
    replies.c.meeting_id,
    replies.c.participant_id,
    replies.c.partstat,
    replies.c.sequence,
    replies.c.answered_at,
    replies.c.recurrence_id,
).where(replies.c.meeting_id.in_(bindparam("b_meetings", expanding=True)))
_CHANGE_ANSWER = update(replies).where(replies.c.id == bindparam("b_reply"))
_BUMP_CASE = (
    update(_cases)
    .where(_cases.c.id == bindparam("b_case"), _cases.c.version == bindparam("b_version"))
    .values(version=bindparam("b_new_version"), updated_at=bindparam("b_now"))
)


def latest_proposal(
    conn: Connection, meeting_id: int, participant_key: str
) -> tuple[datetime, datetime] | None:
    """The last time ``participant_key`` proposed for the meeting (for ``reply_counter``)."""
    row = conn.execute(
        select(proposals.c.start, proposals.c.end)
        .join(_participants, _participants.c.id == proposals.c.participant_id)
        .where(proposals.c.meeting_id == meeting_id, _participants.c.key == participant_key)
        .order_by(proposals.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else (row.start, row.end)


def _message(
    case_id: int,
    participant_id: int,
    meeting_id: int,
    sequence: int,
    template: str,
    topic: str,
    now: datetime,
    recurrence_id: datetime | None = None,
) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "participant_id": participant_id,
        "meeting_id": meeting_id,
        "template": template,
        "topic": topic,
        "sequence": sequence,
        "recurrence_id": recurrence_id,  # about that occurrence of a series alone
        "status": "pending",
        "created_at": now,
        "attempts": 0,
        "next_attempt_at": now,
    }


# ------------------------------------------------------------------ reminders


@dataclass
class ReminderReport:
    queued: int = 0
    meetings: int = 0


def queue_reply_reminders(
    engine: Engine, now: datetime, working_days: int, calendar: WorkingCalendar | None = None
) -> ReminderReport:
    """A required participant who has not answered the meeting as it is now, ``working_days``
    working days before it: one reminder (plain mail) to them alone, once per meeting.

    A missing answer is not a decline (Outlook can accept without sending a reply): it
    only earns the reminder.
    """
    calendar = calendar or WorkingCalendar.from_env()
    report = ReminderReport()
    # The reminder falls due at most ``working_days`` working days before: never more than
    # two calendar days per working day plus the holidays of Easter and Christmas.
    horizon = now + timedelta(days=2 * working_days + 7)
    with engine.connect() as conn:
        upcoming = conn.execute(
            select(
                _meetings.c.id,
                _meetings.c.case_id,
                _meetings.c.sequence,
                _meetings.c.start,
                _meetings.c.attendees,
                _cases.c.process,
            )
            .join(_cases, _cases.c.id == _meetings.c.case_id)
            .where(
                _meetings.c.status == "scheduled",
                _meetings.c.start > now,
                _meetings.c.start <= horizon,
            )
            .order_by(_meetings.c.start, _meetings.c.id)
        ).all()
    for m in upcoming:
        day = calendar.subtract_working_days(m.start.astimezone(COPENHAGEN).date(), working_days)
        if now < datetime.combine(day, time(0), tzinfo=COPENHAGEN):
            continue
        report.meetings += 1
        report.queued += _remind(engine, m, now)
    return report


def _remind(engine: Engine, m: Any, now: datetime) -> int:
    process = get_process(m.process)
    required = set(process.required_roles())
    queued = 0
    with engine.begin() as conn:
        people = conn.execute(
            select(_participants.c.id, _participants.c.key, _participants.c.role).where(
                _participants.c.case_id == m.case_id,
                _participants.c.email.is_not(None),
                _participants.c.email != "",
            )
        ).all()
        answers = {
            r.participant_id: r
            for r in conn.execute(
                select(
                    replies.c.id,
                    replies.c.participant_id,
                    replies.c.partstat,
                    replies.c.sequence,
                    replies.c.reminded_at,
                )
                # The reminder is about the meeting (a series: as a whole); an answer to
                # one occurrence neither earns nor spares it.
                .where(replies.c.meeting_id == m.id, replies.c.recurrence_id.is_(None))
            )
        }
        for p in people:
            if p.role not in required or p.key not in m.attendees:
                continue
            answer = answers.get(p.id)
            if answer is not None and (
                answer.reminded_at is not None
                or (answer.partstat is not None and answer.sequence == m.sequence)
            ):
                continue
            if answer is None:
                conn.execute(
                    insert(replies),
                    {"meeting_id": m.id, "participant_id": p.id, "reminded_at": now},
                )
            else:
                # Only if no other sweep reminded them meanwhile: the row is the claim.
                claimed = conn.execute(
                    update(replies)
                    .where(replies.c.id == answer.id, replies.c.reminded_at.is_(None))
                    .values(reminded_at=now)
                )
                if claimed.rowcount != 1:
                    continue
            conn.execute(
                insert(_outbox),
                _message(m.case_id, p.id, m.id, m.sequence, "reminder", "reply", now),
            )
            queued += 1
    return queued


# ------------------------------------------------------------------ reading


@dataclass(frozen=True)
class MeetingAnswers:
    answers: list[dict[str, Any]] = field(default_factory=list)
    accepted: int = 0  # required attendees who accepted the meeting as it is now
    required: int = 0  # required attendees
    proposals: list[dict[str, Any]] = field(default_factory=list)
    #: A series: the answers given to one occurrence alone (each stands for that
    #: occurrence instead of the series' answer).
    occurrence_answers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def tally(self) -> str:
        return f"required: accepted {self.accepted} of {self.required}"


def answers_of_case(
    conn: Connection, case_id: int, process_name: str, meetings: Mapping[str, Any]
) -> dict[str, MeetingAnswers]:
    """Per meeting key: each participant's answer, the tally of the required, proposals;
    for a series also the answers to single occurrences.

    ``meetings``: key -> (row id, sequence, attendee keys, series JSON or None). The tally
    is of the answers to the meeting (a series: as a whole).
    """
    process = get_process(process_name)
    required_roles = set(process.required_roles())
    people = {
        p.id: p
        for p in conn.execute(
            select(_participants.c.id, _participants.c.key, _participants.c.role).where(
                _participants.c.case_id == case_id
            )
        )
    }
    by_key = {p.key: p for p in people.values()}
    ids = [m[0] for m in meetings.values()]
    rows = conn.execute(
        select(replies).where(replies.c.meeting_id.in_(ids)).order_by(replies.c.id)
    ).all()
    offers = conn.execute(
        select(proposals).where(proposals.c.meeting_id.in_(ids)).order_by(proposals.c.id)
    ).all()
    result: dict[str, MeetingAnswers] = {}
    for key, (meeting_id, sequence, attendees, series) in meetings.items():
        answers = []
        accepted: set[str] = set()
        mine = [r for r in rows if r.meeting_id == meeting_id and r.partstat is not None]
        for r in mine:
            if r.recurrence_id is not None:
                continue
            person = people[r.participant_id]
            current = r.sequence == sequence
            answers.append(
                {
                    "participant": person.key,
                    "answer": r.partstat,
                    "sequence": r.sequence,
                    "current": current,
                    "at": _iso(r.answered_at),
                    "message_id": r.message_id,
                }
            )
            if current and r.partstat == "ACCEPTED":
                accepted.add(person.key)
        required = [k for k in attendees if k in by_key and by_key[k].role in required_roles]
        result[key] = MeetingAnswers(
            answers=answers,
            accepted=len(accepted.intersection(required)),
            required=len(required),
            proposals=[
                {
                    "participant": people[o.participant_id].key,
                    "start": _iso(o.start),
                    "end": _iso(o.end),
                    "sequence": o.sequence,
                    "received_at": _iso(o.received_at),
                }
                for o in offers
                if o.meeting_id == meeting_id
            ],
            occurrence_answers=_occurrence_answers(
                [r for r in mine if r.recurrence_id is not None], people, sequence, series
            ),
        )
    return result


def _occurrence_answers(
    rows: Sequence[Any], people: Mapping[int, Any], sequence: int, data: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """Each answer to one occurrence, with the occurrence's time as it stands now; it is
    ``current`` if given to the occurrence as it is now (its own SEQUENCE once changed on
    its own, else the series') and the occurrence still takes place."""
    if not rows or data is None:
        return []
    series = Series.from_json(data)
    shown = []
    for r in rows:
        found = series.occurrence(r.recurrence_id)
        change = series.overrides.get(r.recurrence_id)
        now = change.sequence if change is not None else sequence
        shown.append(
            {
                "participant": people[r.participant_id].key,
                "occurrence": _iso(r.recurrence_id),
                "start": _iso(found.start) if found is not None else None,
                "answer": r.partstat,
                "sequence": r.sequence,
                "current": found is not None and not found.cancelled and r.sequence == now,
                "at": _iso(r.answered_at),
                "message_id": r.message_id,
            }
        )
    return shown


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(COPENHAGEN).isoformat() if value is not None else None


__all__ = [
    "APPLIED",
    "BOUNCE",
    "DUPLICATE",
    "IGNORED",
    "KEPT_CHANGING",
    "PARTSTATS",
    "PROPOSAL",
    "Answer",
    "MeetingAnswers",
    "Outcome",
    "ProcessedMessageRow",
    "ProposalRow",
    "ReminderReport",
    "ReplyRow",
    "already_processed",
    "answers_of_case",
    "latest_proposal",
    "message_key",
    "queue_reply_reminders",
    "record_answer",
    "record_answers",
    "record_ignored",
]
