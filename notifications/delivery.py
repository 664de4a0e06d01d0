"""Delivering the outbox: claim due rows, render them, send them, record every outcome.

The outbox row was committed with the transition that caused it (persistence), so a
message is never lost between "decided" and "sent". Here each row ends as exactly one of:

- ``sent``: the server took it (``sent_at``, its ``response``, our ``message_id``);
- ``pending`` again, with ``attempts`` + 1, ``last_error`` and a later ``next_attempt_at``
  (exponential backoff), after a temporary failure;
- ``pending`` untouched but for ``last_error``, when the server could not be reached at
  all: no attempt was made, so none is counted, and the run reports the error loudly;
- ``failed``, after the last attempt or a permanent refusal (5xx): the coordinator(s) of
  the case get one ``escalation`` (topic ``delivery_failed``) per case and run;
- ``superseded``: an invitation, update or reminder for a meeting that was cancelled
  before it went out; the cancellation itself is still sent.

Claiming: rows are taken oldest first; on PostgreSQL with ``FOR UPDATE SKIP LOCKED`` so
that concurrent workers skip each other's rows. The claim moves ``next_attempt_at`` a
lease ahead and commits, so no transaction stays open while we talk to SMTP; a worker
that dies mid-batch leaves its rows to be sent again after the lease, with the same
Message-ID (at least once, recognisably the same message).

The report carries counts, ids and the transport error only: it may go to Prefect.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, func, select, tuple_, update
from sqlalchemy.orm import Session, sessionmaker

from machines import PROCESSES, CaseSnapshot, InvalidInput, Meeting, Participant
from persistence import Base, CaseRow, MeetingRow, OutboxRow, ParticipantRow, is_postgres
from persistence.replies import latest_proposal

from .messages import (
    Composed,
    FailedMessage,
    MeetingInfo,
    Notification,
    Organizer,
    RenderCache,
    compose,
)
from .smtp import AioSmtpMailer, BatchResult, Mailer, Outgoing, SendResult

log = logging.getLogger("forloeb.notifications")

STATUSES = ("pending", "sent", "failed", "superseded")
#: Templates whose calendar part (METHOD:REQUEST) would bring a cancelled meeting back.
_REQUESTS = frozenset({"invitation", "update", "reminder"})


@dataclass(frozen=True)
class DeliverySettings:
    max_attempts: int = 5
    #: First retry after this long; each further one waits twice as long, up to the cap.
    retry_after: timedelta = timedelta(minutes=5)
    retry_cap: timedelta = timedelta(hours=6)
    #: How long a claimed row is kept from other workers while its batch is sent.
    lease: timedelta = timedelta(minutes=10)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DeliverySettings:
        env = os.environ if env is None else env
        return cls(
            max_attempts=_positive_int(env, "FORLOEB_OUTBOX_MAX_ATTEMPTS", 5),
            retry_after=timedelta(seconds=_positive_int(env, "FORLOEB_OUTBOX_RETRY_SECONDS", 300)),
        )

    def backoff(self, attempts: int) -> timedelta:
        wait: timedelta = self.retry_after * 2 ** max(0, attempts - 1)
        return min(self.retry_cap, wait)


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise InvalidInput(f"{name}={raw!r} must be a positive whole number")
    return value


@dataclass
class DeliveryReport:
    """What one delivery run did. Ids and counts only: safe for Prefect logs."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    superseded: int = 0
    #: Not attempted: the server could not be reached; still pending, due at once.
    deferred: int = 0
    #: Escalation rows enqueued about failed rows.
    escalations: int = 0
    #: Failed rows about which no coordinator could be told (none with an address).
    unescalated: list[int] = field(default_factory=list)
    failed_ids: list[int] = field(default_factory=list)
    transport_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.transport_error is None and not self.unescalated

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        text = (
            f"sent {self.sent}, retrying {self.retrying}, failed {self.failed}, "
            f"superseded {self.superseded}, deferred {self.deferred}, "
            f"escalations queued {self.escalations}"
        )
        if self.unescalated:
            text += f"; no coordinator to tell about outbox rows {self.unescalated}"
        return text


@dataclass
class _Work:
    row_id: int
    case_id: int
    participant_id: int
    template: str
    topic: str | None
    composed: Composed | None = None
    error: str | None = None  # could not be rendered
    permanent: bool = False
    superseded: str | None = None


# ------------------------------------------------------------------ the run


def deliver_outbox(
    engine: Engine,
    now: datetime,
    mailer: Mailer | None = None,
    batch: int = 100,
    *,
    organizer: Organizer | None = None,
    settings: DeliverySettings | None = None,
) -> DeliveryReport:
    """Send every outbox row due at ``now``, ``batch`` rows per SMTP connection.

    ``mailer`` defaults to an aiosmtplib mailer configured from ``FORLOEB_SMTP_*``; it is
    made only when there is something to send, so an empty outbox needs no SMTP settings.
    Stops at the first batch that could not reach the server (``transport_error``).
    """
    if now.tzinfo is None:
        raise InvalidInput("the time 'now' has no UTC offset; give e.g. 2026-12-21T09:00+01:00")
    if batch < 1:
        raise InvalidInput("the batch size must be at least 1")
    organizer = organizer or Organizer.from_env()
    settings = settings or DeliverySettings.from_env()
    sessions = sessionmaker(engine, expire_on_commit=False)
    report = DeliveryReport()
    cache = RenderCache()
    while True:
        claimed = _claim(engine, sessions, now, batch, settings.lease)
        if not claimed:
            return report
        try:
            work = _prepare(sessions, list(claimed), now, organizer, cache)
            outgoing = [
                Outgoing(w.row_id, w.composed.sender, (w.composed.recipient,), w.composed.data)
                for w in work
                if w.composed is not None
            ]
            if outgoing and mailer is None:
                mailer = AioSmtpMailer()  # FORLOEB_SMTP_* read only when there is mail
            sent = mailer.send_batch(outgoing) if mailer and outgoing else BatchResult([])
        except BaseException:
            # A bad setting, a bug: nothing was recorded as sent, so hand the rows back
            # now instead of leaving them to wait out the lease.
            _release(sessions, claimed)
            raise
        deferred = report.deferred
        _record(sessions, claimed, work, sent, now, settings, report)
        if sent.transport_error is not None or report.deferred > deferred:
            # Rows handed back unsent are due again at once: stop rather than spin.
            report.transport_error = sent.transport_error or "the mailer left messages unsent"
            return report


def _release(sessions: sessionmaker[Session], claimed: Mapping[int, datetime]) -> None:
    with sessions() as session, session.begin():
        for row_id, due in claimed.items():
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == row_id, OutboxRow.status == "pending")
                .values(next_attempt_at=due)
                .execution_options(synchronize_session=False)
            )


def _claim(
    engine: Engine, sessions: sessionmaker[Session], now: datetime, batch: int, lease: timedelta
) -> dict[int, datetime]:
    """Take up to ``batch`` due rows: {row id: its next_attempt_at before the claim}."""
    with sessions() as session, session.begin():
        query = (
            select(OutboxRow.id, OutboxRow.next_attempt_at)
            .where(OutboxRow.status == "pending", OutboxRow.next_attempt_at <= now)
            .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
            .limit(batch)
        )
        if is_postgres(engine):
            query = query.with_for_update(skip_locked=True)
        due = {r.id: r.next_attempt_at for r in session.execute(query)}
        if not due:
            return {}
        # The conditions again: on SQLite (no row locks) another process may have taken
        # some of them between our SELECT and this UPDATE; RETURNING says which are ours.
        taken = session.scalars(
            update(OutboxRow)
            .where(
                OutboxRow.id.in_(due),
                OutboxRow.status == "pending",
                OutboxRow.next_attempt_at <= now,
            )
            .values(next_attempt_at=now + lease)
            .returning(OutboxRow.id)
            .execution_options(synchronize_session=False)
        ).all()
    return {row_id: due[row_id] for row_id in sorted(taken)}


@dataclass(frozen=True)
class _Case:
    snapshot: CaseSnapshot
    people: Mapping[int, Participant]  # participant row id -> participant
    meetings: Mapping[int, MeetingInfo]  # meeting row id -> meeting


def _load_cases(session: Session, case_ids: Iterable[int]) -> dict[int, _Case]:
    """The cases a batch is about, three queries for the whole batch."""
    ids = sorted(set(case_ids))
    people: dict[int, dict[int, Participant]] = {i: {} for i in ids}
    for p in session.execute(
        select(
            ParticipantRow.id,
            ParticipantRow.case_id,
            ParticipantRow.key,
            ParticipantRow.role,
            ParticipantRow.name,
            ParticipantRow.email,
        )
        .where(ParticipantRow.case_id.in_(ids))
        .order_by(ParticipantRow.id)
    ):
        people[p.case_id][p.id] = Participant(p.key, p.role, p.name, p.email)
    meetings: dict[int, dict[int, MeetingInfo]] = {i: {} for i in ids}
    for m in session.execute(
        select(
            MeetingRow.id,
            MeetingRow.case_id,
            MeetingRow.key,
            MeetingRow.uid,
            MeetingRow.sequence,
            MeetingRow.status,
            MeetingRow.start,
            MeetingRow.end,
            MeetingRow.location,
            MeetingRow.attendees,
            MeetingRow.series,
            MeetingRow.reply_token,
        )
        .where(MeetingRow.case_id.in_(ids))
        .order_by(MeetingRow.id)
    ):
        meetings[m.case_id][m.id] = MeetingInfo(
            m.key,
            m.uid,
            m.sequence,
            m.status,
            m.start,
            m.end,
            m.location,
            tuple(m.attendees),
            series=m.series,
            reply_token=m.reply_token or "",
        )
    loaded = {}
    for c in session.execute(
        select(
            CaseRow.id,
            CaseRow.process,
            CaseRow.state,
            CaseRow.version,
            CaseRow.title,
            CaseRow.location,
            CaseRow.data,
        ).where(CaseRow.id.in_(ids))
    ):
        snapshot = CaseSnapshot(
            id=c.id,
            process=c.process,
            state=c.state,
            version=c.version,
            title=c.title,
            location=c.location,
            data=c.data or {},
            participants=tuple(people[c.id].values()),
            meetings=tuple(
                Meeting(
                    m.key, m.status, m.start, m.end, m.location, m.attendees, m.sequence, m.series
                )
                for m in meetings[c.id].values()
            ),
        )
        loaded[c.id] = _Case(snapshot, people[c.id], meetings[c.id])
    return loaded


def _prepare(
    sessions: sessionmaker[Session],
    ids: Sequence[int],
    now: datetime,
    organizer: Organizer,
    cache: RenderCache,
) -> list[_Work]:
    with sessions() as session:
        rows = session.execute(
            select(
                OutboxRow.id,
                OutboxRow.case_id,
                OutboxRow.participant_id,
                OutboxRow.meeting_id,
                OutboxRow.template,
                OutboxRow.topic,
                OutboxRow.created_at,
                OutboxRow.recurrence_id,
            )
            .where(OutboxRow.id.in_(ids))
            .order_by(OutboxRow.id)
        ).all()
        cases = _load_cases(session, (r.case_id for r in rows))
        work = []
        for row in rows:
            item = _Work(row.id, row.case_id, row.participant_id, row.template, row.topic)
            work.append(item)
            case = cases[row.case_id]
            person = case.people.get(row.participant_id)
            meeting = case.meetings.get(row.meeting_id) if row.meeting_id else None
            if person is None or not person.email:
                item.error, item.permanent = "the participant has no e-mail address", True
                continue
            if meeting is not None and row.recurrence_id is not None:
                try:
                    # One occurrence alone, as it stands now (a later change supersedes
                    # this one's time, as for a single meeting).
                    whole = meeting
                    meeting = meeting.occurrence(row.recurrence_id)
                    if row.template == "cancellation" and meeting.status != "cancelled":
                        # The occurrence takes place without this person (another covers it).
                        meeting = whole.left_out_of(row.recurrence_id)
                except InvalidInput as exc:
                    item.error, item.permanent = f"cannot compose the message: {exc}", True
                    continue
            if meeting is not None and meeting.status == "cancelled" and row.template in _REQUESTS:
                item.superseded = (
                    f"not sent: the meeting was cancelled (SEQUENCE {meeting.sequence}) "
                    "before this message went out; the cancellation is sent instead"
                )
                continue
            failures: tuple[FailedMessage, ...] = ()
            if row.template == "escalation" and row.topic == "delivery_failed":
                failures = _failures(session, row.id, row.case_id, row.created_at)
            proposal = None
            if row.template == "reply_counter" and row.meeting_id and row.topic:
                proposal = latest_proposal(session.connection(), row.meeting_id, row.topic)
            notification = Notification(
                outbox_id=row.id,
                template=row.template,
                topic=row.topic,
                case=case.snapshot,
                recipient=person,
                created_at=row.created_at,
                meeting=meeting,
                failures=failures,
                proposal=proposal,
            )
            try:
                item.composed = compose(notification, organizer, now, cache)
            except InvalidInput as exc:
                item.error, item.permanent = f"cannot compose the message: {exc}", True
            except Exception as exc:
                # A template fault must not hold back the rest of the batch; the row is
                # retried (a fix may be deployed) and escalated like any other failure.
                item.error = f"cannot compose the message: {type(exc).__name__}: {exc}"
        return work


def _failures(
    session: Session, escalation_id: int, case_id: int, created_at: datetime
) -> tuple[FailedMessage, ...]:
    """The failed rows an escalation is about: those failed in the run that queued it.

    A failed row keeps the time it failed in ``next_attempt_at``, and the escalation was
    created at that same time; older failures are listed only if that finds none (e.g.
    after ``forloeb outbox retry``).
    """
    query = (
        select(OutboxRow, ParticipantRow.key, ParticipantRow.role)
        .join(ParticipantRow, OutboxRow.participant_id == ParticipantRow.id)
        .where(
            OutboxRow.case_id == case_id,
            OutboxRow.status == "failed",
            OutboxRow.id < escalation_id,
        )
        .order_by(OutboxRow.id)
    )
    rows = (
        session.execute(query.where(OutboxRow.next_attempt_at == created_at)).all()
        or session.execute(query).all()
    )
    return tuple(
        # The server's own answer when there is one: it reads the same in any language.
        FailedMessage(o.id, o.template, key, role, o.attempts, o.response or o.last_error or "")
        for o, key, role in rows
    )


# ------------------------------------------------------------------ recording


def _record(
    sessions: sessionmaker[Session],
    claimed: Mapping[int, datetime],
    work: Sequence[_Work],
    sent: BatchResult,
    now: datetime,
    settings: DeliverySettings,
    report: DeliveryReport,
) -> None:
    results = {r.key: r for r in sent.results}
    delivered: list[dict[str, Any]] = []
    failed: list[OutboxRow] = []
    with sessions() as session, session.begin():
        for item in work:
            result = results.get(item.row_id)
            if result is not None and result.attempted and result.delivered:
                assert item.composed is not None
                delivered.append(
                    {
                        "b_id": item.row_id,
                        "b_response": next(iter(result.accepted.values())),
                        "b_message_id": item.composed.message_id,
                    }
                )
                continue
            # Everything but success is rare: those rows are loaded one by one.
            row = session.get(OutboxRow, item.row_id)
            if row is None:
                continue  # the case was purged meanwhile (retention), and its outbox with it
            if item.composed is not None:
                row.message_id = item.composed.message_id
            if item.superseded is not None:
                row.status, row.last_error = "superseded", item.superseded
                row.next_attempt_at = now
                report.superseded += 1
                continue
            if item.error is not None:
                error, permanent, response = item.error, item.permanent, None
            elif result is None or not result.attempted:
                # Never reached the server: no attempt to count, due again at once.
                row.next_attempt_at = claimed[item.row_id]
                row.last_error = (result.error if result else None) or sent.transport_error
                report.deferred += 1
                continue
            else:
                error, permanent, response = _explain(result)
            if _failed_attempt(row, error, permanent, response, now, settings):
                failed.append(row)
            else:
                report.retrying += 1
        if delivered:
            # One executemany for the whole batch: the common case, kept cheap.
            table = Base.metadata.tables[OutboxRow.__tablename__]
            session.execute(
                update(table)
                .where(table.c.id == bindparam("b_id"))
                .values(
                    status="sent",
                    sent_at=now,
                    attempts=table.c.attempts + 1,
                    response=bindparam("b_response"),
                    message_id=bindparam("b_message_id"),
                    last_error=None,
                ),
                delivered,
            )
            report.sent += len(delivered)
        report.failed += len(failed)
        report.failed_ids += [row.id for row in failed]
        _escalate(session, failed, now, report)


def _explain(result: SendResult) -> tuple[str, bool, str | None]:
    """(last_error, permanent?, the server's answer for this recipient)."""
    if result.refused and not result.accepted:
        codes = [code for code, _ in result.refused.values()]
        answer = "; ".join(f"{code} {text}" for code, text in result.refused.values())
        return f"refused by the server: {answer}", all(c >= 500 for c in codes), answer
    # An answer from the server carries its code; a lost connection is no answer.
    reply: str | None = result.error if result.code is not None else None
    permanent = result.permanent or (result.code is not None and result.code >= 500)
    return result.error or "not delivered", permanent, reply


def _failed_attempt(
    row: OutboxRow,
    error: str,
    permanent: bool,
    response: str | None,
    now: datetime,
    settings: DeliverySettings,
) -> bool:
    """Count a failed attempt; True when the row has now failed for good."""
    row.attempts += 1
    row.last_error = error
    if response is not None:
        row.response = response
    if permanent or row.attempts >= settings.max_attempts:
        row.status = "failed"
        # The time of failure: the escalation queued now is created at the same time,
        # which is how it finds the rows it is about (see _failures).
        row.next_attempt_at = now
        return True
    row.next_attempt_at = now + settings.backoff(row.attempts)
    return False


def _escalate(
    session: Session, failed: Iterable[OutboxRow], now: datetime, report: DeliveryReport
) -> None:
    by_case: dict[int, list[OutboxRow]] = {}
    for row in failed:
        if row.template == "escalation" and row.topic == "delivery_failed":
            # Telling about a failed report of a failure would loop; it stays visible
            # as failed in `forloeb outbox list`.
            report.unescalated.append(row.id)
            log.warning(
                "outbox row %d (case %d): escalation could not be delivered", row.id, row.case_id
            )
            continue
        by_case.setdefault(row.case_id, []).append(row)
    # Who hears of it is the process's choice (its escalation role, as a rule the coordinator).
    escalation_roles = [(p.name, p.escalation_role) for p in PROCESSES.values()]
    for case_id, rows in by_case.items():
        broken = {r.participant_id for r in rows}
        coordinators = session.scalars(
            select(ParticipantRow.id)
            .join(CaseRow, CaseRow.id == ParticipantRow.case_id)
            .where(
                ParticipantRow.case_id == case_id,
                tuple_(CaseRow.process, ParticipantRow.role).in_(escalation_roles),
                ParticipantRow.email.is_not(None),
                ParticipantRow.email != "",
            )
        ).all()
        targets = [pid for pid in coordinators if pid not in broken]
        if not targets:
            report.unescalated += [r.id for r in rows]
            log.warning(
                "case %d: %d message(s) failed and the case has no coordinator to tell",
                case_id,
                len(rows),
            )
            continue
        for pid in targets:
            session.add(
                OutboxRow(
                    case_id=case_id,
                    participant_id=pid,
                    meeting_id=None,
                    template="escalation",
                    topic="delivery_failed",
                    sequence=None,
                    status="pending",
                    created_at=now,
                    attempts=0,
                    next_attempt_at=now,
                )
            )
            report.escalations += 1


# ------------------------------------------------------------------ looking and retrying


def list_outbox(
    engine: Engine,
    status: str | None = None,
    case_id: int | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Outbox rows, newest first, for ``forloeb outbox list``."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"unknown status {status!r}; use one of: {', '.join(STATUSES)}")
    query = (
        select(OutboxRow, ParticipantRow.key, ParticipantRow.role, ParticipantRow.email)
        .join(ParticipantRow, OutboxRow.participant_id == ParticipantRow.id)
        .order_by(OutboxRow.id.desc())
    )
    if status is not None:
        query = query.where(OutboxRow.status == status)
    if case_id is not None:
        query = query.where(OutboxRow.case_id == case_id)
    if limit is not None:
        query = query.limit(limit)
    with Session(engine) as session:
        rows = session.execute(query).all()
    return [
        {
            "id": o.id,
            "case": o.case_id,
            "template": o.template,
            "topic": o.topic,
            "participant": key,
            "role": role,
            "to": email,
            "status": o.status,
            "attempts": o.attempts,
            "created_at": o.created_at.isoformat(),
            "next_attempt_at": o.next_attempt_at.isoformat() if o.status == "pending" else None,
            "sent_at": o.sent_at.isoformat() if o.sent_at else None,
            "message_id": o.message_id,
            "response": o.response,
            "last_error": o.last_error,
        }
        for o, key, role, email in rows
    ]


def outbox_counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        rows = session.execute(
            select(OutboxRow.status, func.count()).group_by(OutboxRow.status)
        ).all()
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({status: count for status, count in rows})
    return counts


def retry_failed(
    engine: Engine, now: datetime, ids: Sequence[int] = (), case_id: int | None = None
) -> int:
    """Put failed rows back in the queue (after the address or the server was fixed)."""
    query = update(OutboxRow).where(OutboxRow.status == "failed")
    if ids:
        query = query.where(OutboxRow.id.in_(ids))
    if case_id is not None:
        query = query.where(OutboxRow.case_id == case_id)
    with Session(engine) as session, session.begin():
        result = session.execute(
            query.values(status="pending", attempts=0, next_attempt_at=now),
            execution_options={"synchronize_session": False},
        )
        return int(getattr(result, "rowcount", 0) or 0)
