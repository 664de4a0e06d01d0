"""The case repository: load a case as a snapshot, fire an event, store the decision.

One event is one transaction: the new state and data, the history row, the timers, the
meetings and the outbox rows commit together or not at all. The hot path is SQLAlchemy
Core on one connection (the ORM's unit of work cost 5x more per event than the rules
themselves): three indexed reads, then writes that are batched per table.

``cases.version`` is the optimistic lock. Every event raises it by one, and the UPDATE
that stores the event checks the old value, so a concurrent change becomes ``Conflict``.
Because of that the version is also the history's sequence number: history row n is
the change that made version n.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import (
    Connection,
    Dialect,
    Engine,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy import (
    case as sql_case,
)
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.sql.elements import ColumnElement

from machines import (
    COPENHAGEN,
    PROCESSES,
    SYSTEM,
    AddParticipant,
    CancelMeeting,
    CaseFile,
    CaseNotFound,
    CaseSnapshot,
    ChangeOccurrence,
    ChangeRole,
    ClearTimer,
    Conflict,
    Decision,
    Effect,
    EndSeries,
    Enrol,
    ForloebError,
    InvalidInput,
    MarkMeetingHeld,
    MoveMeeting,
    NotFound,
    Notify,
    Override,
    Refused,
    ScheduleMeeting,
    ScheduleSeries,
    Series,
    SetTimer,
    Unenrol,
    assign_keys,
    error_location,
    get_engine,
    get_process,
)

from . import loading, replies, staging
from .database import database_url, ensure_schema, is_postgres, make_engine, settle_erasure
from .loading import Loaded
from .models import (
    UNKNOWN_EVENT_FAILURE,
    Base,
    CaseRow,
    HistoryRow,
    MeetingRow,
    MembershipRow,
    OutboxRow,
    ParticipantRow,
    TimerRow,
)
from .prepared import Prepared, PreparedSet

UID_DOMAIN = "forloeb"

cases = Base.metadata.tables[CaseRow.__tablename__]
participants = Base.metadata.tables[ParticipantRow.__tablename__]
meetings = Base.metadata.tables[MeetingRow.__tablename__]
history = Base.metadata.tables[HistoryRow.__tablename__]
timers = Base.metadata.tables[TimerRow.__tablename__]
outbox = Base.metadata.tables[OutboxRow.__tablename__]
memberships = Base.metadata.tables[MembershipRow.__tablename__]

# A literal, not a bound parameter: only then can SQLite and PostgreSQL use the partial
# indexes "WHERE status = 'pending'" (the sweep's cost must follow what is due).
PENDING: ColumnElement[str] = literal_column("'pending'")

# The hot path's statements, built once: constructing a statement costs more than running
# it on SQLite. Bind names are prefixed with b_ where they would clash with column names.
_STORE_CASE = update(cases).where(
    cases.c.id == bindparam("b_case"), cases.c.version == bindparam("b_version")
)
_INSERT_HISTORY = insert(history)
_INSERT_TIMERS = insert(timers)
_INSERT_OUTBOX = insert(outbox)
_INSERT_PARTICIPANT = insert(participants).returning(participants.c.id)
_INSERT_MEETING = insert(meetings).returning(meetings.c.id)
_CHANGE_MEETING = update(meetings).where(meetings.c.id == bindparam("b_meeting"))
_MEMBER_OF = select(memberships.c.case_id).where(
    memberships.c.process == bindparam("b_process"), memberships.c.member == bindparam("b_member")
)
_ENROL = insert(memberships)
_UNENROL = delete(memberships).where(
    memberships.c.case_id == bindparam("b_case"),
    memberships.c.member.in_(bindparam("b_members", expanding=True)),
)
_CANCEL_TIMER = (
    update(timers)
    .where(
        timers.c.case_id == bindparam("b_case"),
        timers.c.status == PENDING,
        timers.c.event == bindparam("b_event"),
    )
    .values(status="cancelled")
)
_CLAIM_TIMER = (
    update(timers)
    .where(timers.c.id == bindparam("b_timer"), timers.c.status == PENDING)
    .values(status="fired", fired_at=bindparam("b_now"))
    .returning(timers.c.case_id, timers.c.event)
)
_HOLD_TIMER = (
    select(timers.c.id)
    .where(timers.c.id == bindparam("b_timer"), timers.c.status == PENDING)
    .with_for_update(skip_locked=True)
)


def new_reply_token() -> str:
    """80 random bits, lower-case hex: survives any mail system's case folding."""
    return secrets.token_hex(10)


def validate_case_file(process_name: str, raw: Mapping[str, Any]) -> CaseFile:
    process = get_process(process_name)
    try:
        case_file = process.case_file.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = error_location(first["loc"], process.case_file) or "case file"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise InvalidInput(f"case file: {where}: {message}") from None
    for p in case_file.participants:
        if p.role not in process.roles:
            # The value is not repeated: it may be a name typed in the wrong field.
            raise InvalidInput(
                f"case file: participants: an unknown role; roles of {process.name}: "
                f"{', '.join(process.roles)}"
            )
    return case_file


@dataclass(frozen=True)
class StoredDecision(Decision):
    """A decision as stored: what the caller needs to say what happened, with no read more."""

    process: str = ""
    version: int = 0  # the case's version after the event
    next_timer: tuple[str, datetime] | None = None  # (event, due) of the earliest pending
    messages_queued: int = 0  # by this event
    messages_waiting: int = 0  # of the case, this event's included
    #: The event removed something from the case's data (a withdrawal erases the form):
    #: the store checkpoints it out of SQLite's log before it returns.
    erased: bool = False


@dataclass
class SweepReport:
    fired: dict[str, int] = field(default_factory=dict)  # "process/event" -> count
    voided: int = 0
    conflicts: int = 0
    #: (case id, process, topic) of every escalation a fired timer caused: ids only.
    escalations: list[tuple[int, str, str]] = field(default_factory=list)
    #: (timer id, case id, process, reason) of every timer set aside as ``failed``: one
    #: that could not fire (an event its definition lacks, an unexpected error). The
    #: reason names an exception type and an event, never anything personal.
    failed: list[tuple[int, int, str, str]] = field(default_factory=list)

    def merge(self, other: SweepReport) -> None:
        for key, count in other.fired.items():
            self.fired[key] = self.fired.get(key, 0) + count
        self.voided += other.voided
        self.conflicts += other.conflicts
        self.escalations.extend(other.escalations)
        self.failed.extend(other.failed)

    @property
    def total(self) -> int:
        return sum(self.fired.values())


class CaseStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        #: Details every history row this store writes carries (the flows set
        #: ``{"simulated_clock": True}`` on a simulated clock): an audit trail says so.
        self.stamp: dict[str, Any] = {}
        self._skip_locked = is_postgres(engine)
        self._statements = _EventStatements.for_dialect(engine.dialect)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as connection:
            yield connection

    # ------------------------------------------------------------ open

    def open_case(
        self,
        process_name: str,
        raw: Mapping[str, Any],
        now: datetime,
        actor: str = SYSTEM,
        details: Mapping[str, Any] | None = None,
        staged: int | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> int:
        """Open a case; ``details`` go into its first history row (e.g. a capacity warning),
        ``context`` beside them (who really typed it).

        ``staged``: the staged input holding this case file, deleted in the same transaction.
        """
        case_file = validate_case_file(process_name, raw)
        process = get_process(process_name)
        for check in process.open_checks:
            problem = check(case_file, now)
            if problem is not None:
                raise InvalidInput(f"case file: {problem}")
        extra = case_file.model_dump(exclude={"title", "location", "participants"}, mode="json")
        try:
            return self._open(process_name, case_file, extra, now, actor, details, staged, context)
        except IntegrityError as exc:
            # Only a membership can collide here (a new case has no other unique keys): a
            # member enrolled in another case between our check and our insert.
            if _unique_violation(exc):
                raise InvalidInput(
                    "a member of this case was enrolled in another case at the same moment; "
                    "look at that case, and open this one without the member"
                ) from None
            raise

    def _open(
        self,
        process_name: str,
        case_file: CaseFile,
        extra: dict[str, Any],
        now: datetime,
        actor: str,
        details: Mapping[str, Any] | None,
        staged: int | None,
        context: Mapping[str, Any] | None,
    ) -> int:
        process = get_process(process_name)
        with self.transaction() as conn:
            case_id = conn.execute(
                insert(cases).returning(cases.c.id),
                {
                    "process": process.name,
                    "state": process.initial,
                    "version": 1,
                    "title": case_file.title,
                    "location": case_file.location,
                    "data": {"case_file": extra} if extra else {},
                    "created_at": now,
                    "updated_at": now,
                    "definition_version": process.definition_version,
                },
            ).scalar_one()
            people = [
                {"case_id": case_id, "key": p.key, "role": p.role, "name": p.name, "email": p.email}
                for p in assign_keys(list(case_file.participants), set())
            ]
            if people:
                conn.execute(insert(participants), people)
            conn.execute(
                insert(history),
                {
                    "case_id": case_id,
                    "seq": 1,
                    "at": now,
                    "event": "open",
                    "source": None,
                    "dest": process.initial,
                    "actor": actor,
                    "details": dict(details or {}),
                    "context": {**self.stamp, **(context or {})} or None,
                },
            )
            loaded = self._load(conn, case_id)
            effects = get_engine(process.name).initial_effects(loaded.snapshot, now)
            if effects:
                _Writer(conn, loaded, now, self._statements).apply_effects(effects)
            if staged is not None:
                staging.take(conn, staged)
            return int(case_id)

    # ------------------------------------------------------------ fire

    def _load(self, conn: Connection, case_id: int) -> Loaded:
        row = self._statements.load.run(conn, {"b_case": case_id}).first()
        if row is None:
            raise CaseNotFound(case_id)
        return loading.parse(row)

    def people_in_role(self, process: str, role: str, since: datetime) -> list[dict[str, Any]]:
        """Per person (by e-mail) in ``role``: cases opened since ``since``, and open now."""
        finals = sorted(get_process(process).finals)
        started = func.sum(sql_case((cases.c.created_at >= since, 1), else_=0))
        active = func.sum(sql_case((cases.c.state.in_(finals), 0), else_=1))
        query = (
            select(
                participants.c.email,
                func.min(participants.c.name).label("name"),
                started.label("started"),
                active.label("active"),
            )
            .join(cases, cases.c.id == participants.c.case_id)
            .where(cases.c.process == process, participants.c.role == role)
            .where(participants.c.email.is_not(None))
            .group_by(participants.c.email)
            .order_by(participants.c.email)
        )
        with self.engine.connect() as conn:
            return [
                {
                    "email": r.email,
                    "name": r.name,
                    "started_12_months": int(r.started or 0),
                    "active": int(r.active or 0),
                }
                for r in conn.execute(query)
            ]

    def fire(
        self,
        case_id: int,
        event: str,
        actor: str,
        payload: Mapping[str, Any],
        now: datetime,
    ) -> StoredDecision:
        """Fire one event on one case in one transaction; what it stored comes back."""
        with self._writing(case_id) as conn:
            stored = self._fire(conn, self._load(conn, case_id), event, actor, payload, now)
        if stored.erased:
            settle_erasure(self.engine)
        return stored

    def fire_all(
        self,
        events: Sequence[tuple[int, str, str, Mapping[str, Any]]],
        now: datetime,
    ) -> list[StoredDecision]:
        """Several events (case id, event, actor, input), in order, in one transaction: all
        are stored, or none is (a refusal of any one rolls every one back)."""
        if not events:
            return []
        with self._writing(events[0][0]) as conn:
            stored = [
                self._fire(conn, self._load(conn, case_id), event, actor, payload, now)
                for case_id, event, actor, payload in events
            ]
        if any(s.erased for s in stored):
            settle_erasure(self.engine)
        return stored

    def fire_staged(self, case_id: int, event: str, input_id: int, now: datetime) -> StoredDecision:
        """Fire ``event`` with the input staged as ``input_id``, which says who acts.

        The staged row is taken (deleted) in the event's own transaction, so it causes at
        most one change; if the event is refused, it is deleted all the same: nothing of a
        refusal remains.
        """
        try:
            with self._writing(case_id) as conn:
                staged = staging.take_for_event(conn, input_id, case_id, event)
                loaded = self._load(conn, case_id)
                stored = self._fire(
                    conn, loaded, event, staged.actor, staged.payload, now, staged.context
                )
        except ForloebError:
            staging.discard(self.engine, input_id)
            raise
        if stored.erased:
            settle_erasure(self.engine)
        return stored

    @contextmanager
    def _writing(self, case_id: int) -> Iterator[Connection]:
        try:
            with self.transaction() as conn:
                yield conn
        except IntegrityError as exc:
            # The version check makes a lost update a Conflict before any insert; a unique
            # key can still collide when two writers add the same participant or meeting.
            if _unique_violation(exc):
                raise Conflict(case_id) from exc
            raise

    def _fire(
        self,
        conn: Connection,
        loaded: Loaded,
        event: str,
        actor: str,
        payload: Mapping[str, Any],
        now: datetime,
        context: Mapping[str, Any] | None = None,
    ) -> StoredDecision:
        if now < loaded.last_change:
            # History is in order: nothing happens to a case before what already happened.
            raise InvalidInput(
                f"the time {_local_iso(now)} lies before the case's last event "
                f"({_local_iso(loaded.last_change)}); give a later time"
            )
        decision = get_engine(loaded.snapshot.process).fire(
            loaded.snapshot, event, actor, payload, now
        )
        writer = self._apply(conn, loaded, decision, context)
        return StoredDecision(
            **{f.name: getattr(decision, f.name) for f in fields(Decision)},
            process=loaded.snapshot.process,
            version=loaded.snapshot.version + 1,
            next_timer=writer.next_timer(),
            messages_queued=len(writer.messages),
            messages_waiting=loaded.messages_waiting + len(writer.messages),
            erased=_erases(loaded.snapshot.data, decision.data),
        )

    def _apply(
        self,
        conn: Connection,
        loaded: Loaded,
        decision: Decision,
        context: Mapping[str, Any] | None = None,
    ) -> _Writer:
        """Store one decision; ``context`` (who really typed it) goes beside its history row's
        details."""
        case = loaded.snapshot
        new_version = case.version + 1
        statements = self._statements
        stored = statements.store_case.run(
            conn,
            {
                "b_case": case.id,
                "b_version": case.version,
                "state": decision.dest,
                "data": dict(decision.data),
                "version": new_version,
                "updated_at": decision.at,
            },
        )
        if stored.rowcount != 1:
            raise Conflict(case.id)
        statements.insert_history.run(
            conn,
            {
                "case_id": case.id,
                "seq": new_version,
                "at": decision.at,
                "event": decision.event,
                "source": decision.source,
                "dest": decision.dest,
                "actor": decision.actor,
                "details": dict(decision.details),
                "context": {**self.stamp, **(context or {})} or None,
            },
        )
        writer = _Writer(conn, loaded, decision.at, statements)
        writer.apply(decision)
        return writer

    # ------------------------------------------------------------ answers

    def record_reply(self, answer: replies.Answer, now: datetime) -> replies.Outcome:
        """A participant's answer (or proposal) on its meeting: the answer, a history row
        and a raised version in one transaction, or recorded as ignored with its reason."""
        return replies.record_answer(self.engine, answer, now)

    # ------------------------------------------------------------ sweep

    def count_due(self, now: datetime) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(timers)
                    .where(timers.c.status == PENDING, timers.c.due <= now)
                ).scalar_one()
            )

    def due_timer_batches(self, now: datetime, batch: int = 500) -> Iterator[list[int]]:
        """Ids of the timers due at ``now``, oldest first, ``batch`` at a time.

        Pages by (due, id), so a timer that stays pending (a conflict, or one another
        sweep holds) is not offered twice in one sweep: the next sweep takes it.
        """
        after: tuple[datetime, int] | None = None
        while True:
            query = (
                select(timers.c.id, timers.c.due)
                .where(timers.c.status == PENDING, timers.c.due <= now)
                .order_by(timers.c.due, timers.c.id)
                .limit(batch)
            )
            if after is not None:
                query = query.where(tuple_(timers.c.due, timers.c.id) > tuple_(*after))
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
            if not rows:
                return
            after = (rows[-1].due, rows[-1].id)
            yield [r.id for r in rows]

    def fire_timer(self, timer_id: int, now: datetime, report: SweepReport) -> None:
        """Fire one due timer in its own transaction; a timer fires at most once.

        One timer never stops the sweep: one that cannot fire for a reason of its own (an
        event its definition no longer has, any unexpected error) is set aside as
        ``failed`` with the reason, and the sweep goes on with the next.
        """
        event = None
        try:
            with self.transaction() as conn:
                # Several sweeps on PostgreSQL: each skips the timers another holds.
                if (
                    self._skip_locked
                    and conn.execute(_HOLD_TIMER, {"b_timer": timer_id}).first() is None
                ):
                    return
                claimed = conn.execute(_CLAIM_TIMER, {"b_timer": timer_id, "b_now": now}).first()
                if claimed is None:
                    return  # fired or cleared by someone else meanwhile
                event = claimed.event
                loaded = self._load(conn, claimed.case_id)
                engine = get_engine(loaded.snapshot.process)
                if engine.process.event(claimed.event) is None:
                    raise _UnknownTimerEvent(claimed.event)
                try:
                    decision = engine.fire(loaded.snapshot, claimed.event, SYSTEM, {}, now)
                except Refused:
                    # The state moved on without clearing the timer: record, never retry.
                    conn.execute(
                        update(timers).where(timers.c.id == timer_id).values(status="void")
                    )
                    report.voided += 1
                    return
                self._apply(conn, loaded, decision)
            if _erases(loaded.snapshot.data, decision.data):
                settle_erasure(self.engine)
            key = f"{loaded.snapshot.process}/{claimed.event}"
            report.fired[key] = report.fired.get(key, 0) + 1
            report.escalations.extend(
                (claimed.case_id, loaded.snapshot.process, effect.topic or claimed.event)
                for effect in decision.effects
                if isinstance(effect, Notify) and effect.template == "escalation"
            )
        except (Conflict, IntegrityError, OperationalError, InterfaceError):
            # Rolled back: the timer stays pending for the next sweep. A lost update, a
            # deadlock or a dropped connection says nothing about the timer itself.
            report.conflicts += 1
        except Exception as exc:
            self._set_aside(timer_id, _failure_reason(exc, event), report)

    def _set_aside(self, timer_id: int, reason: str, report: SweepReport) -> None:
        """Mark a timer that cannot fire ``failed``, in a transaction of its own (the one
        that tried to fire it rolled back), so no later sweep tries it again."""
        with self.transaction() as conn:
            row = conn.execute(
                update(timers)
                .where(timers.c.id == timer_id, timers.c.status == PENDING)
                .values(status="failed", failure=reason)
                .returning(timers.c.case_id)
            ).first()
            if row is None:
                return  # another sweep set it aside (or fired it) meanwhile
            process = conn.execute(
                select(cases.c.process).where(cases.c.id == row.case_id)
            ).scalar_one()
        report.failed.append((timer_id, int(row.case_id), str(process), reason))

    def fire_timers(self, timer_ids: Iterable[int], now: datetime) -> SweepReport:
        report = SweepReport()
        for timer_id in timer_ids:
            self.fire_timer(timer_id, now, report)
        return report

    def sweep(self, now: datetime, batch: int = 500) -> SweepReport:
        """Fire every timer due at ``now``, oldest first, in batches."""
        report = SweepReport()
        for timer_ids in self.due_timer_batches(now, batch):
            report.merge(self.fire_timers(timer_ids, now))
        return report

    def participant_email(self, case_id: int, participant_id: int) -> str:
        """Who a participant id on a case is, as the actor the engine checks roles for."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(cases.c.id, participants.c.email)
                .outerjoin(
                    participants,
                    (participants.c.case_id == cases.c.id) & (participants.c.id == participant_id),
                )
                .where(cases.c.id == case_id)
            ).first()
        if row is None:
            raise CaseNotFound(case_id)
        if row.email is None:
            raise NotFound(
                f"case {case_id} has no participant {participant_id} with an e-mail address"
            )
        return str(row.email)

    def process_of(self, case_id: int) -> str:
        with self.engine.connect() as conn:
            process = conn.execute(
                select(cases.c.process).where(cases.c.id == case_id)
            ).scalar_one_or_none()
        if process is None:
            raise CaseNotFound(case_id)
        return str(process)

    # ------------------------------------------------------------ read

    def snapshot(self, case_id: int) -> CaseSnapshot:
        with self.engine.connect() as conn:
            return self._load(conn, case_id).snapshot

    def show(self, case_id: int) -> dict[str, Any]:
        return self.read(case_id)[1]

    def read(self, case_id: int) -> tuple[CaseSnapshot, dict[str, Any]]:
        """The case and its summary (``show``) from one load: a reader's view needs both
        (``machines.access.case_view``), and loading the case twice would cost a command."""
        with self.engine.connect() as conn:
            loaded = self._load(conn, case_id)
            case = loaded.snapshot
            uids = dict(
                conn.execute(
                    select(meetings.c.key, meetings.c.uid).where(meetings.c.case_id == case_id)
                ).all()
            )
            answers = replies.answers_of_case(
                conn,
                case_id,
                case.process,
                {
                    m.key: (loaded.meeting_rows[m.key]["id"], m.sequence, m.attendees, m.series)
                    for m in case.meetings
                },
            )
            timer_rows = conn.execute(
                select(timers).where(timers.c.case_id == case_id).order_by(timers.c.id)
            ).all()
            history_rows = conn.execute(
                select(history).where(history.c.case_id == case_id).order_by(history.c.seq)
            ).all()
            outbox_rows = conn.execute(
                select(
                    outbox.c.template, outbox.c.status, outbox.c.meeting_id, participants.c.email
                )
                .join(participants, outbox.c.participant_id == participants.c.id)
                .where(outbox.c.case_id == case_id)
                .order_by(outbox.c.id)
            ).all()
        shown = {
            "id": case.id,
            "process": case.process,
            "state": case.state,
            "version": case.version,
            "title": case.title,
            "location": case.location,
            "participants": [
                {
                    "id": loaded.participant_ids[p.key][0],
                    "key": p.key,
                    "role": p.role,
                    "name": p.name,
                    "email": p.email,
                }
                for p in case.participants
            ],
            "meetings": [
                {
                    "key": m.key,
                    "uid": uids[m.key],
                    "sequence": m.sequence,
                    "status": m.status,
                    "start": _local_iso(m.start),
                    "end": _local_iso(m.end),
                    "location": m.location,
                    "participants": list(m.attendees),
                    **({"series": dict(m.series)} if m.series else {}),
                    "answers": answers[m.key].answers,
                    "tally": answers[m.key].tally,
                    "required_accepted": answers[m.key].accepted,
                    "required_invited": answers[m.key].required,
                    "proposals": answers[m.key].proposals,
                    **(
                        {"occurrence_answers": answers[m.key].occurrence_answers}
                        if m.series
                        else {}
                    ),
                }
                for m in case.meetings
            ],
            "timers": [
                {"event": t.event, "due": _local_iso(t.due), "status": t.status} for t in timer_rows
            ],
            "history": [
                {
                    "at": _local_iso(h.at),
                    "event": h.event,
                    "source": h.source,
                    "dest": h.dest,
                    "actor": h.actor,
                    **({"details": h.details} if h.details else {}),
                    **({"context": h.context} if h.context else {}),
                }
                for h in history_rows
            ],
            "outbox": [
                {
                    "template": o.template,
                    "to": o.email,
                    "status": o.status,
                    **({"meeting": o.meeting_id} if o.meeting_id else {}),
                }
                for o in outbox_rows
            ],
            "data": dict(case.data),
        }
        return case, shown

    def list_cases(
        self,
        now: datetime,
        process: str | None = None,
        state: str | None = None,
        overdue: bool = False,
    ) -> list[dict[str, Any]]:
        """Case summaries. Overdue: in an overdue state, or with a timer due and not yet fired."""
        return list(self.iter_cases(now, process, state, overdue))

    def iter_cases(
        self,
        now: datetime,
        process: str | None = None,
        state: str | None = None,
        overdue: bool = False,
        chunk: int = 2_000,
    ) -> Iterator[dict[str, Any]]:
        """``list_cases``, streamed: a municipality's 100,000 cases never sit in memory."""
        late = exists().where(
            timers.c.case_id == cases.c.id, timers.c.status == PENDING, timers.c.due <= now
        )
        next_due = (
            select(func.min(timers.c.due))
            .where(timers.c.case_id == cases.c.id, timers.c.status == PENDING)
            .scalar_subquery()
        )
        query = select(
            cases.c.id,
            cases.c.process,
            cases.c.state,
            cases.c.version,
            cases.c.title,
            cases.c.updated_at,
            next_due.label("next_due"),
            late.label("late"),
        ).order_by(cases.c.id)
        if process:
            get_process(process)
            query = query.where(cases.c.process == process)
        if state:
            query = query.where(cases.c.state == state)
        if overdue:
            query = query.where(or_(_in_overdue_state(), late))
        with self.engine.connect() as conn:
            overdue_states = _overdue_states()
            # Plain tuples: a named attribute per column and row was a third of the time.
            rows = conn.execution_options(yield_per=chunk).execute(query)
            for case_id, process_name, state_name, version, title, updated, due, late in rows:
                yield {
                    "id": case_id,
                    "process": process_name,
                    "state": state_name,
                    "version": version,
                    "title": title,
                    "updated_at": _local_iso(updated),
                    "next_timer_due": _aware(due),
                    "overdue": (process_name, state_name) in overdue_states or bool(late),
                }

    def count_overdue(self, now: datetime) -> dict[str, int]:
        """Per process: cases in an overdue state or with a timer due and not yet fired."""
        late = exists().where(
            timers.c.case_id == cases.c.id, timers.c.status == PENDING, timers.c.due <= now
        )
        query = (
            select(cases.c.process, func.count())
            .where(or_(_in_overdue_state(), late))
            .group_by(cases.c.process)
        )
        with self.engine.connect() as conn:
            return {process: int(count) for process, count in conn.execute(query)}


def _overdue_states() -> frozenset[tuple[str, str]]:
    """(process, state) of every state that is overdue by itself (samråd: ``overdue``)."""
    return frozenset((p.name, s) for p in PROCESSES.values() for s in p.overdue_states)


def _in_overdue_state() -> ColumnElement[bool]:
    # A row-value IN over (process, state) uses ix_cases_process_state on both dialects.
    return tuple_(cases.c.process, cases.c.state).in_(sorted(_overdue_states()))


class _Writer:
    """Applies one decision's effects, batching the timer and outbox inserts."""

    def __init__(
        self, conn: Connection, loaded: Loaded, now: datetime, statements: _EventStatements
    ) -> None:
        self.conn, self.loaded, self.now = conn, loaded, now
        self.statements = statements
        self.case_id = loaded.snapshot.id
        self.cleared: set[str] = set()
        self.new_timers: dict[str, datetime] = {}
        self.messages: list[dict[str, Any]] = []
        self.unenrolled: list[str] = []

    def apply(self, decision: Decision) -> None:
        self.apply_effects(decision.effects)

    def apply_effects(self, effects: Iterable[Effect]) -> None:
        for effect in effects:
            match effect:
                case AddParticipant(key, role, name, email):
                    pid = self.statements.insert_participant.run(
                        self.conn,
                        {
                            "case_id": self.case_id,
                            "key": key,
                            "role": role,
                            "name": name,
                            "email": email,
                        },
                    ).scalar_one()
                    self.loaded.participant_ids[key] = (pid, email)
                case ScheduleMeeting(key, start, end, location, attendees):
                    mid = self.statements.insert_meeting.run(
                        self.conn,
                        {
                            "case_id": self.case_id,
                            "key": key,
                            "uid": f"{uuid.uuid4()}@{UID_DOMAIN}",
                            "reply_token": new_reply_token(),
                            "sequence": 0,
                            "status": "scheduled",
                            "start": start,
                            "end": end,
                            "location": location,
                            "attendees": list(attendees),
                        },
                    ).scalar_one()
                    meeting = {"id": mid, "sequence": 0, "attendees": list(attendees)}
                    self.loaded.meeting_rows[key] = meeting
                    self._queue("invitation", attendees, meeting, "meeting")
                case ScheduleSeries(key, series, location, attendees):
                    first = series.occurrences()
                    mid = self.statements.insert_meeting.run(
                        self.conn,
                        {
                            "case_id": self.case_id,
                            "key": key,
                            "uid": f"{uuid.uuid4()}@{UID_DOMAIN}",
                            "reply_token": new_reply_token(),
                            "sequence": 0,
                            "status": "scheduled",
                            "start": series.start,
                            "end": series.end,
                            "location": location,
                            "attendees": list(attendees),
                            "series": series.to_json(),
                        },
                    ).scalar_one()
                    assert first, "a series without occurrences is refused by the rules"
                    meeting = {
                        "id": mid,
                        "sequence": 0,
                        "attendees": list(attendees),
                        "series": series.to_json(),
                    }
                    self.loaded.meeting_rows[key] = meeting
                    self._queue("invitation", attendees, meeting, "meeting")
                case ChangeOccurrence(key, recurrence_id, start, end, cancelled, attendees):
                    meeting = self.loaded.meeting_rows[key]
                    series = Series.from_json(meeting["series"])
                    before = series.overrides.get(recurrence_id)
                    # Above the series' SEQUENCE and above this occurrence's last one.
                    sequence = max(meeting["sequence"], before.sequence if before else 0) + 1
                    had = before.attendees if before and before.attendees else None
                    own = attendees if attendees is not None else had
                    if own is not None and list(own) == list(meeting["attendees"]):
                        own = None  # the series' own attendees again
                    changed = series.with_override(
                        recurrence_id, Override(start, end, cancelled, sequence, own)
                    )
                    meeting["series"] = changed.to_json()
                    self.statements.change_meeting.run(
                        self.conn, {"b_meeting": meeting["id"], "series": meeting["series"]}
                    )
                    template = "cancellation" if cancelled else "update"
                    now_invited = list(own if own is not None else meeting["attendees"])
                    was_invited = list(had if had is not None else meeting["attendees"])
                    self._queue(template, now_invited, meeting, "meeting", recurrence_id, sequence)
                    # Left out of this occurrence (another covers it): it leaves their calendar.
                    left_out = [k for k in was_invited if k not in now_invited]
                    if left_out and not cancelled:
                        self._queue(
                            "cancellation", left_out, meeting, "meeting", recurrence_id, sequence
                        )
                case EndSeries(key, before_moment):
                    meeting = self.loaded.meeting_rows[key]
                    ended = Series.from_json(meeting["series"]).ended_before(before_moment)
                    meeting["series"] = ended.to_json()
                    meeting = self._change_meeting(key, series=meeting["series"])
                    self._queue("update", meeting["attendees"], meeting, "meeting")
                case ChangeRole(key, role):
                    pid = self.loaded.participant_ids[key][0]
                    self.conn.execute(
                        update(participants).where(participants.c.id == pid).values(role=role)
                    )
                case Enrol(member):
                    self._enrol(member)
                case Unenrol(member):
                    self.unenrolled.append(member)
                case MoveMeeting(key, start, end, location):
                    meeting = self._change_meeting(key, start=start, end=end, location=location)
                    self._queue("update", meeting["attendees"], meeting, "meeting")
                case CancelMeeting(key):
                    meeting = self._change_meeting(key, status="cancelled")
                    self._queue("cancellation", meeting["attendees"], meeting, "meeting")
                case MarkMeetingHeld(key):
                    meeting_id = self.loaded.meeting_rows[key]["id"]
                    self.statements.change_meeting.run(
                        self.conn, {"b_meeting": meeting_id, "status": "held"}
                    )
                case Notify(template, roles, keys, meeting_key, topic):
                    addressed = [
                        p.key for p in self.loaded.snapshot.participants if p.role in roles
                    ]
                    about = self.loaded.meeting_rows[meeting_key] if meeting_key else None
                    self._queue(template, [*addressed, *keys], about, topic)
                case SetTimer(event, due):
                    self.cleared.add(event)
                    self.new_timers[event] = due
                case ClearTimer(event):
                    self.cleared.add(event)
                    self.new_timers.pop(event, None)
        self._flush()

    def _change_meeting(self, key: str, **values: Any) -> dict[str, Any]:
        # Any change of time, place or status raises SEQUENCE (RFC 5546).
        meeting = self.loaded.meeting_rows[key]
        meeting["sequence"] += 1
        self.statements.change_meeting.run(
            self.conn, {"b_meeting": meeting["id"], "sequence": meeting["sequence"], **values}
        )
        return meeting

    def _enrol(self, member: str) -> None:
        process = self.loaded.snapshot.process
        holder = self.conn.execute(_MEMBER_OF, {"b_process": process, "b_member": member}).first()
        if holder is not None:
            if holder.case_id == self.case_id:
                return
            # The event is refused as a whole: the transaction rolls back, nothing is written.
            # The reference is not repeated: it was typed, and may be a name.
            raise InvalidInput(
                f"a child given is already in case {holder.case_id} "
                f"({get_process(process).title}), and can be in one at a time; take it out of "
                "that case first"
            )
        self.conn.execute(_ENROL, {"process": process, "member": member, "case_id": self.case_id})

    def _queue(
        self,
        template: str,
        keys: Any,
        meeting: dict[str, Any] | None,
        topic: str | None,
        recurrence_id: datetime | None = None,
        sequence: int | None = None,
    ) -> None:
        for key in dict.fromkeys(keys):  # de-duplicated, in order
            pid, email = self.loaded.participant_ids[key]
            if not email:
                continue  # on the case, but no address: no mail
            self.messages.append(
                {
                    "case_id": self.case_id,
                    "participant_id": pid,
                    "meeting_id": meeting["id"] if meeting else None,
                    "template": template,
                    "topic": topic,
                    "sequence": sequence
                    if sequence is not None
                    else (meeting["sequence"] if meeting else None),
                    "recurrence_id": recurrence_id,
                    "status": "pending",
                    "created_at": self.now,
                    "attempts": 0,
                    "next_attempt_at": self.now,
                }
            )

    def next_timer(self) -> tuple[str, datetime] | None:
        """The earliest timer pending once these effects are stored."""
        pending = {
            event: due
            for event, due in self.loaded.pending_timers.items()
            if event not in self.cleared
        }
        pending.update(self.new_timers)
        if not pending:
            return None
        event = min(pending, key=lambda e: (pending[e], e))
        return event, pending[event]

    def _flush(self) -> None:
        if self.unenrolled:
            self.conn.execute(_UNENROL, {"b_case": self.case_id, "b_members": self.unenrolled})
        # Only timers that are pending need cancelling (the load knows which).
        cancelled = self.cleared & self.loaded.pending_timers.keys()
        if cancelled:  # one statement, run for each event (usually one)
            self.statements.cancel_timer.run_many(
                self.conn, [{"b_case": self.case_id, "b_event": e} for e in sorted(cancelled)]
            )
        if self.new_timers:
            self.statements.insert_timers.run_many(
                self.conn,
                [
                    {"case_id": self.case_id, "event": event, "due": due, "status": "pending"}
                    for event, due in self.new_timers.items()
                ],
            )
        if self.messages:
            self.statements.insert_outbox.run_many(self.conn, self.messages)


class _EventStatements:
    """The event path's writes and its load, prepared for one dialect (``prepared``)."""

    _BY_DIALECT: dict[str, _EventStatements] = {}  # noqa: RUF012 — one per dialect

    def __init__(self, dialect: Dialect) -> None:
        self.load = Prepared(loading.load_statement(dialect.name), dialect)
        self.store_case = PreparedSet(_STORE_CASE, dialect)
        self.insert_history = PreparedSet(_INSERT_HISTORY, dialect)
        self.insert_timers = PreparedSet(_INSERT_TIMERS, dialect)
        self.insert_outbox = PreparedSet(_INSERT_OUTBOX, dialect)
        self.insert_participant = PreparedSet(_INSERT_PARTICIPANT, dialect)
        self.insert_meeting = PreparedSet(_INSERT_MEETING, dialect)
        self.change_meeting = PreparedSet(_CHANGE_MEETING, dialect)
        self.cancel_timer = Prepared(_CANCEL_TIMER, dialect)

    @classmethod
    def for_dialect(cls, dialect: Dialect) -> _EventStatements:
        statements = cls._BY_DIALECT.get(dialect.name)
        if statements is None:
            statements = cls._BY_DIALECT[dialect.name] = cls(dialect)
        return statements


def _erases(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """An event that drops a key of the case data erased it (a withdrawal drops the form);
    a comparison of a dozen keys, so no event pays for a checkpoint it does not need."""
    return not before.keys() <= after.keys()


class _UnknownTimerEvent(Exception):
    """A pending timer names an event its process's definition does not have (e.g. one a
    new release renamed)."""


#: What may appear of an event name in a failure reason: a name as the definitions write it.
_EVENT_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def _failure_reason(exc: Exception, event: str | None) -> str:
    """Why a timer was set aside, in words that hold nothing personal: the exception's
    type and the event's name. An exception's own text may quote case data, so it is
    never part of the reason."""
    name = f"'{event}'" if event is not None and _EVENT_NAME.fullmatch(event) else "its event"
    if isinstance(exc, _UnknownTimerEvent):
        return f"{UNKNOWN_EVENT_FAILURE} {name}"
    return f"{type(exc).__name__} while firing {name}"


def _unique_violation(exc: IntegrityError) -> bool:
    """A unique key collided (by the driver's error class or code, not its words)."""
    original = exc.orig
    if type(original).__name__ == "UniqueViolation":  # psycopg.errors.UniqueViolation
        return True
    # sqlite3 (Python ≥ 3.11) names the extended result code: SQLITE_CONSTRAINT_UNIQUE.
    return getattr(original, "sqlite_errorname", None) in {
        "SQLITE_CONSTRAINT_UNIQUE",
        "SQLITE_CONSTRAINT_PRIMARYKEY",
    }


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


def open_store(url: str | None = None) -> CaseStore:
    """The case store at ``url`` (default ``FORLOEB_DATABASE_URL``), its schema checked.

    One per database and process: the CLI, the flows it runs in-process and the demo share
    one engine, so a command checks the schema and opens connections once.
    """
    return _store_at(database_url(url))


def close_stores() -> None:
    """Dispose of every store ``open_store`` holds (a test, or a process that changes database)."""
    for store in _STORES.values():
        store.engine.dispose()
    _STORES.clear()


_STORES: dict[str, CaseStore] = {}


def _store_at(url: str) -> CaseStore:
    if url in _STORES:
        return _STORES[url]
    store = _STORES[url] = _new_store(url)
    return store


def _new_store(url: str) -> CaseStore:
    engine = make_engine(url)
    ensure_schema(engine)
    return CaseStore(engine)
