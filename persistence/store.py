"""The case repository: load a case as a snapshot, fire an event, store the decision.

One event is one transaction: the new state and data, the history row, the timers, the
meetings and the outbox rows commit together or not at all. ``cases.version`` turns a
concurrent change into ``Conflict`` instead of a lost update.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from machines import (
    COPENHAGEN,
    SYSTEM,
    AddParticipant,
    CancelMeeting,
    CaseFile,
    CaseSnapshot,
    ClearTimer,
    Conflict,
    Decision,
    Effect,
    InvalidInput,
    MarkMeetingHeld,
    Meeting,
    MoveMeeting,
    Notify,
    Participant,
    Refused,
    ScheduleMeeting,
    SetTimer,
    assign_keys,
    get_engine,
    get_process,
)

from .database import is_postgres
from .models import CaseRow, HistoryRow, MeetingRow, OutboxRow, ParticipantRow, TimerRow

UID_DOMAIN = "forloeb"


def snapshot(row: CaseRow) -> CaseSnapshot:
    return CaseSnapshot(
        id=row.id,
        process=row.process,
        state=row.state,
        version=row.version,
        title=row.title,
        location=row.location,
        data=row.data or {},
        participants=tuple(Participant(p.key, p.role, p.name, p.email) for p in row.participants),
        meetings=tuple(
            Meeting(m.key, m.status, m.start, m.end, m.location, tuple(m.attendees), m.sequence)
            for m in row.meetings
        ),
    )


def validate_case_file(process_name: str, raw: Mapping[str, Any]) -> CaseFile:
    process = get_process(process_name)
    try:
        case_file = process.case_file.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "case file"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise InvalidInput(f"case file: {where}: {message}") from None
    for p in case_file.participants:
        if p.role not in process.roles:
            raise InvalidInput(
                f"case file: unknown role {p.role!r}; roles of {process.name}: "
                f"{', '.join(process.roles)}"
            )
    return case_file


@dataclass
class SweepReport:
    fired: dict[str, int] = field(default_factory=dict)  # "process/event" -> count
    voided: int = 0
    conflicts: int = 0

    @property
    def total(self) -> int:
        return sum(self.fired.values())


class CaseStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._skip_locked = is_postgres(engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    # ------------------------------------------------------------ open

    def open_case(
        self, process_name: str, raw: Mapping[str, Any], now: datetime, actor: str = SYSTEM
    ) -> int:
        case_file = validate_case_file(process_name, raw)
        process = get_process(process_name)
        extra = case_file.model_dump(exclude={"title", "location", "participants"}, mode="json")
        with self.transaction() as session:
            row = CaseRow(
                version=1,
                process=process.name,
                state=process.initial,
                title=case_file.title,
                location=case_file.location,
                data={"case_file": extra} if extra else {},
                created_at=now,
                updated_at=now,
            )
            for p in assign_keys(list(case_file.participants), set()):
                assert p.key is not None
                row.participants.append(
                    ParticipantRow(key=p.key, role=p.role, name=p.name, email=p.email)
                )
            session.add(row)
            session.flush()
            session.add(
                HistoryRow(
                    case_id=row.id,
                    seq=1,
                    at=now,
                    event="open",
                    source=None,
                    dest=process.initial,
                    actor=actor,
                    details={},
                )
            )
            return row.id

    # ------------------------------------------------------------ fire

    def _load(self, session: Session, case_id: int) -> CaseRow:
        row = session.get(
            CaseRow,
            case_id,
            options=[selectinload(CaseRow.participants), selectinload(CaseRow.meetings)],
        )
        if row is None:
            raise InvalidInput(f"there is no case {case_id}; list cases with: forloeb case list")
        return row

    def fire(
        self,
        case_id: int,
        event: str,
        actor: str,
        payload: Mapping[str, Any],
        now: datetime,
    ) -> Decision:
        """Fire one event on one case in one transaction."""
        try:
            with self.transaction() as session:
                row = self._load(session, case_id)
                decision = get_engine(row.process).fire(snapshot(row), event, actor, payload, now)
                self._apply(session, row, decision)
                return decision
        except (StaleDataError, IntegrityError) as exc:
            if isinstance(exc, IntegrityError) and "history" not in str(exc.orig):
                raise
            raise Conflict(case_id) from None

    def _apply(self, session: Session, row: CaseRow, decision: Decision) -> None:
        last_seq = session.scalar(
            select(func.max(HistoryRow.seq)).where(HistoryRow.case_id == row.id)
        )
        row.version += 1
        row.state = decision.dest
        row.data = dict(decision.data)
        row.updated_at = decision.at
        session.add(
            HistoryRow(
                case_id=row.id,
                seq=(last_seq or 0) + 1,
                at=decision.at,
                event=decision.event,
                source=decision.source,
                dest=decision.dest,
                actor=decision.actor,
                details=dict(decision.details),
            )
        )
        for effect in decision.effects:
            self._apply_effect(session, row, effect, decision.at)
        # The version check (UPDATE ... WHERE version = :old) happens in this flush.
        session.flush()

    def _apply_effect(self, session: Session, row: CaseRow, effect: Effect, now: datetime) -> None:
        match effect:
            case AddParticipant(key, role, name, email):
                row.participants.append(ParticipantRow(key=key, role=role, name=name, email=email))
            case ScheduleMeeting(key, start, end, location, attendees):
                meeting = MeetingRow(
                    key=key,
                    uid=f"{uuid.uuid4()}@{UID_DOMAIN}",
                    sequence=0,
                    status="scheduled",
                    start=start,
                    end=end,
                    location=location,
                    attendees=list(attendees),
                )
                row.meetings.append(meeting)
                session.flush()
                self._enqueue(session, row, "invitation", attendees, now, meeting, "meeting")
            case MoveMeeting(key, start, end, location):
                meeting = self._meeting(row, key)
                meeting.start, meeting.end, meeting.location = start, end, location
                meeting.sequence += 1
                self._enqueue(session, row, "update", meeting.attendees, now, meeting, "meeting")
            case CancelMeeting(key):
                meeting = self._meeting(row, key)
                meeting.status = "cancelled"
                meeting.sequence += 1
                self._enqueue(
                    session, row, "cancellation", meeting.attendees, now, meeting, "meeting"
                )
            case MarkMeetingHeld(key):
                self._meeting(row, key).status = "held"
            case Notify(template, roles, keys, meeting_key, topic):
                addressed = [p.key for p in row.participants if p.role in roles] + list(keys)
                about = self._meeting(row, meeting_key) if meeting_key else None
                self._enqueue(session, row, template, addressed, now, about, topic)
            case SetTimer(event, due):
                self._cancel_pending_timer(session, row.id, event)
                session.add(
                    TimerRow(case_id=row.id, event=event, due=due, status="pending", fired_at=None)
                )
            case ClearTimer(event):
                self._cancel_pending_timer(session, row.id, event)

    @staticmethod
    def _meeting(row: CaseRow, key: str) -> MeetingRow:
        return next(m for m in row.meetings if m.key == key)

    @staticmethod
    def _cancel_pending_timer(session: Session, case_id: int, event: str) -> None:
        session.flush()  # a timer added earlier in this decision must be seen by the UPDATE
        session.execute(
            update(TimerRow)
            .where(TimerRow.case_id == case_id, TimerRow.event == event)
            .where(TimerRow.status == "pending")
            .values(status="cancelled")
        )

    @staticmethod
    def _enqueue(
        session: Session,
        row: CaseRow,
        template: str,
        keys: Sequence[str],
        now: datetime,
        meeting: MeetingRow | None,
        topic: str | None,
    ) -> None:
        session.flush()  # participants added by this decision need their ids
        wanted = dict.fromkeys(keys)  # de-duplicated, in order
        for p in row.participants:
            # A participant without an address stays on the case but gets no mail.
            if p.key in wanted and p.email:
                session.add(
                    OutboxRow(
                        case_id=row.id,
                        participant_id=p.id,
                        meeting_id=meeting.id if meeting else None,
                        template=template,
                        topic=topic,
                        sequence=meeting.sequence if meeting else None,
                        status="pending",
                        created_at=now,
                        attempts=0,
                        next_attempt_at=now,
                    )
                )

    # ------------------------------------------------------------ sweep

    def due_timers(self, now: datetime, limit: int) -> list[tuple[int, int, str]]:
        with self._sessions() as session:
            rows = session.execute(
                select(TimerRow.id, TimerRow.case_id, TimerRow.event)
                .where(TimerRow.status == "pending", TimerRow.due <= now)
                .order_by(TimerRow.due, TimerRow.id)
                .limit(limit)
            ).all()
        return [(r.id, r.case_id, r.event) for r in rows]

    def fire_timer(self, timer_id: int, now: datetime, report: SweepReport) -> None:
        """Fire one due timer in its own transaction; a timer fires at most once."""
        try:
            with self.transaction() as session:
                claim = select(TimerRow).where(
                    TimerRow.id == timer_id, TimerRow.status == "pending"
                )
                if self._skip_locked:
                    # Two sweeps on PostgreSQL: the second skips what the first holds.
                    claim = claim.with_for_update(skip_locked=True)
                timer = session.scalars(claim).first()
                if timer is None:
                    return  # fired or cleared by someone else meanwhile
                row = self._load(session, timer.case_id)
                try:
                    decision = get_engine(row.process).fire(
                        snapshot(row), timer.event, SYSTEM, {}, now
                    )
                except Refused:
                    # The state moved on without clearing the timer: record, do not retry.
                    timer.status, timer.fired_at = "void", now
                    report.voided += 1
                    return
                timer.status, timer.fired_at = "fired", now
                self._apply(session, row, decision)
                key = f"{row.process}/{timer.event}"
                report.fired[key] = report.fired.get(key, 0) + 1
        except (StaleDataError, IntegrityError):
            report.conflicts += 1  # the timer stays pending; the next sweep takes it

    def sweep(self, now: datetime, batch: int = 500) -> SweepReport:
        """Fire every timer due at ``now``, oldest first, in batches."""
        report = SweepReport()
        seen: set[int] = set()
        while True:
            due = [t for t in self.due_timers(now, batch) if t[0] not in seen]
            if not due:
                return report
            for timer_id, _case_id, _event in due:
                seen.add(timer_id)
                self.fire_timer(timer_id, now, report)

    # ------------------------------------------------------------ read

    def snapshot(self, case_id: int) -> CaseSnapshot:
        with self._sessions() as session:
            return snapshot(self._load(session, case_id))

    def show(self, case_id: int) -> dict[str, Any]:
        with self._sessions() as session:
            row = self._load(session, case_id)
            timers = session.scalars(
                select(TimerRow).where(TimerRow.case_id == case_id).order_by(TimerRow.id)
            ).all()
            history = session.scalars(
                select(HistoryRow).where(HistoryRow.case_id == case_id).order_by(HistoryRow.seq)
            ).all()
            outbox = session.execute(
                select(OutboxRow, ParticipantRow.email)
                .join(ParticipantRow, OutboxRow.participant_id == ParticipantRow.id)
                .where(OutboxRow.case_id == case_id)
                .order_by(OutboxRow.id)
            ).all()
            return {
                "id": row.id,
                "process": row.process,
                "state": row.state,
                "version": row.version,
                "title": row.title,
                "location": row.location,
                "participants": [
                    {"key": p.key, "role": p.role, "name": p.name, "email": p.email}
                    for p in row.participants
                ],
                "meetings": [
                    {
                        "key": m.key,
                        "uid": m.uid,
                        "sequence": m.sequence,
                        "status": m.status,
                        "start": _local_iso(m.start),
                        "end": _local_iso(m.end),
                        "location": m.location,
                        "participants": list(m.attendees),
                    }
                    for m in row.meetings
                ],
                "timers": [
                    {"event": t.event, "due": _local_iso(t.due), "status": t.status} for t in timers
                ],
                "history": [
                    {
                        "at": _local_iso(h.at),
                        "event": h.event,
                        "source": h.source,
                        "dest": h.dest,
                        "actor": h.actor,
                        **({"details": h.details} if h.details else {}),
                    }
                    for h in history
                ],
                "outbox": [
                    {
                        "template": o.template,
                        "to": email,
                        "status": o.status,
                        **({"meeting": o.meeting_id} if o.meeting_id else {}),
                    }
                    for o, email in outbox
                ],
                "data": row.data,
            }

    def list_cases(
        self,
        now: datetime,
        process: str | None = None,
        state: str | None = None,
        overdue: bool = False,
    ) -> list[dict[str, Any]]:
        """Case summaries. Overdue: in state ``overdue``, or with a timer due and not yet fired."""
        late = exists().where(
            TimerRow.case_id == CaseRow.id, TimerRow.status == "pending", TimerRow.due <= now
        )
        next_due = (
            select(func.min(TimerRow.due))
            .where(TimerRow.case_id == CaseRow.id, TimerRow.status == "pending")
            .scalar_subquery()
        )
        query = select(
            CaseRow.id,
            CaseRow.process,
            CaseRow.state,
            CaseRow.version,
            CaseRow.title,
            CaseRow.updated_at,
            next_due.label("next_due"),
            late.label("late"),
        ).order_by(CaseRow.id)
        if process:
            get_process(process)
            query = query.where(CaseRow.process == process)
        if state:
            query = query.where(CaseRow.state == state)
        if overdue:
            query = query.where(or_(CaseRow.state == "overdue", late))
        with self._sessions() as session:
            rows = session.execute(query).all()
        return [
            {
                "id": r.id,
                "process": r.process,
                "state": r.state,
                "version": r.version,
                "title": r.title,
                "updated_at": _local_iso(r.updated_at),
                "next_timer_due": _aware(r.next_due),
                "overdue": r.state == "overdue" or bool(r.late),
            }
            for r in rows
        ]


def _local_iso(value: datetime) -> str:
    """Times leave the store in Copenhagen time: that is what every reader means."""
    return value.astimezone(COPENHAGEN).isoformat()


def _aware(value: Any) -> str | None:
    # A scalar subquery bypasses the column type, so SQLite hands back a naive UTC string.
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return _local_iso(value)
