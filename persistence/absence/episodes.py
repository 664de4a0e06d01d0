"""What a scan found, written and read back: episodes (a case step per episode) and the
national-rule tasks for school leaders.

Episodes and tasks make a re-scan idempotent: unique keys turn a repeated or concurrent
write into nothing, and an episode is claimed before its case is opened.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Integer, and_, or_, select, text, type_coerce, update

from machines import WorkingCalendar
from machines.absence import (
    ABSENT_CODES,
    END_OF_DAY,
    HALF_DAY_GRADES,
    MORNING,
    TASK_TITLES,
    AbsenceRules,
    Detector,
    quarter_bounds,
)

from ..models import CaseRow
from .bulk import bulk_insert
from .detection import Detection, NewTask, aggregate_sql, offsets, school_calendars
from .tables import EPISODES, PUPILS, REGISTRATIONS, SCHOOLS, TASKS, SchoolRow, TeacherRow


@dataclass
class Recorded:
    episodes_new: int
    episodes_continued: int
    tasks_new: list[NewTask]


def _rule_names(rules: Iterable[str]) -> str:
    return ",".join(sorted(rules))


def record(conn: Connection, detection: Detection, now: datetime) -> Recorded:
    """Write what a scan found. Unique keys make a concurrent or repeated scan harmless."""
    bulk_insert(
        conn,
        EPISODES,
        ("pupil_id", "first_day", "last_day", "rules", "rule_names"),
        [
            (e.pupil_id, e.first_day, e.last_day, e.rules, _rule_names(e.rules))
            for e in detection.new_episodes
        ],
        {"status": "new", "created_at": now, "updated_at": now},
    )
    for change in detection.continued:
        # Few per day (the episodes still going on): read-modify-write is fine here.
        row = conn.execute(
            select(EPISODES.c.rules, EPISODES.c.last_day).where(EPISODES.c.id == change["id"])
        ).one()
        merged = {**row.rules, **change["added"]}
        conn.execute(
            update(EPISODES)
            .where(EPISODES.c.id == change["id"])
            .values(
                last_day=max(row.last_day, change["last_day"]),
                rules=merged,
                rule_names=_rule_names(merged),
                updated_at=now,
            )
        )
    bulk_insert(
        conn,
        TASKS,
        ("pupil_id", "school_id", "quarter", "kind", "u_halves", "school_days"),
        [
            (t.pupil_id, t.school_id, t.quarter, t.kind, t.u_halves, t.school_days)
            for t in detection.new_tasks
        ],
        {"created_at": now},
    )
    return Recorded(len(detection.new_episodes), len(detection.continued), detection.new_tasks)


def episode_concern(
    conn: Connection,
    episode: Mapping[str, Any],
    rules: AbsenceRules,
    working: WorkingCalendar | None = None,
) -> list[dict[str, Any]]:
    """The thresholds an episode met, each with the dates behind it, for the case file:
    read again from the registrations with the school's calendar."""
    first_hits = {r: date.fromisoformat(d) for r, d in (episode["rules"] or {}).items()}
    if not first_hits:
        return []
    working = working or WorkingCalendar.from_env()
    calendar = school_calendars(conn, [episode["code"]], working)[episode["code"]]
    last = max(first_hits.values())
    first = min(first_hits.values()) - timedelta(days=3 * rules.longest_window + 60)
    detector = Detector(rules, calendar, first, last)
    params = {
        "base": first.toordinal(),
        "lo": first.toordinal(),
        "hi": last.toordinal(),
        "pupil": episode["pupil_id"],
    }
    sql = text(aggregate_sql(conn.dialect.name, False, pupil_filter=True))
    row = conn.execute(sql, params).first()
    pupil = detector.read(offsets(row[1] if row else None))
    where = {day: i for i, day in enumerate(detector.days)}
    found = {r: where[d] for r, d in first_hits.items() if d in where}
    evidence = detector.evidence(pupil, found)
    return [
        {"rule": rule, **evidence.get(rule, {"first_hit": day.isoformat()})}
        for rule, day in first_hits.items()
    ]


#: A claim this old is taken to be from a scan that died while opening the case.
CLAIM_TIMEOUT = timedelta(minutes=10)


def episodes_without_case(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    """Episodes waiting for the case step (new, or claimed by a scan that died), with
    what a case file needs."""
    e, p, s = EPISODES, PUPILS, SCHOOLS
    rows = conn.execute(
        select(
            e.c.id,
            e.c.pupil_id,
            e.c.first_day,
            e.c.last_day,
            e.c.rules,
            e.c.created_at,
            p.c.pupil_ref,
            p.c.grade,
            p.c.school_id,
            s.c.code,
            s.c.name,
            s.c.leader_name,
            s.c.leader_email,
            s.c.coordinator_name,
            s.c.coordinator_email,
        )
        .join(p, p.c.id == e.c.pupil_id)
        .join(s, s.c.id == p.c.school_id)
        .where(_claimable(now))
        .order_by(e.c.id)
    ).mappings()
    return [dict(r) for r in rows]


def _claimable(now: datetime) -> Any:
    stale = and_(EPISODES.c.status == "opening", EPISODES.c.updated_at < now - CLAIM_TIMEOUT)
    return or_(EPISODES.c.status == "new", stale)


def claim_episode(conn: Connection, episode_id: int, now: datetime) -> bool:
    """Take an episode for the case step; False when another scan has it. Two scans at
    once (the sweep and a coordinator) must not open two cases for one episode."""
    result = conn.execute(
        update(EPISODES)
        .where(EPISODES.c.id == episode_id, _claimable(now))
        .values(status="opening", updated_at=now)
    )
    return result.rowcount == 1


def teacher_of(conn: Connection, school_id: int, grade: int) -> tuple[str, str | None] | None:
    row = conn.execute(
        select(TeacherRow.name, TeacherRow.email).where(
            TeacherRow.school_id == school_id, TeacherRow.grade == grade
        )
    ).first()
    return (row[0], row[1]) if row else None


def open_case_of(conn: Connection, pupil_id: int, finals: Iterable[str]) -> int | None:
    """The pupil's open case (not in one of ``finals``) linked to an earlier episode."""
    return conn.execute(
        select(CaseRow.id)
        .join(EPISODES, EPISODES.c.case_id == CaseRow.id)
        .where(EPISODES.c.pupil_id == pupil_id, CaseRow.state.not_in(list(finals)))
        .order_by(CaseRow.id.desc())
        .limit(1)
    ).scalar()


def cases_for_episodes(conn: Connection, process: str, since: datetime) -> dict[int, int]:
    """Episode id → case, for cases of ``process`` a scan opened since ``since``: finds a
    case whose link to its episode was not written (a crash between the two transactions)."""
    episode = CaseRow.data[("case_file", "concern", "episode_id")].as_integer()
    rows = conn.execute(
        select(episode, CaseRow.id).where(
            CaseRow.process == process, CaseRow.created_at >= since, episode.is_not(None)
        )
    )
    return {e: c for e, c in rows}


def schools_without_leader(conn: Connection, codes: Sequence[str]) -> list[str]:
    return list(
        conn.execute(
            select(SchoolRow.code)
            .where(SchoolRow.code.in_(list(codes)))
            .where(or_(SchoolRow.leader_email.is_(None), SchoolRow.leader_name.is_(None)))
            .order_by(SchoolRow.code)
        ).scalars()
    )


def link_episode(
    conn: Connection, episode_id: int, case_id: int, status: str, now: datetime
) -> None:
    conn.execute(
        update(EPISODES)
        .where(EPISODES.c.id == episode_id)
        .values(case_id=case_id, status=status, updated_at=now)
    )


@dataclass(frozen=True)
class PendingTask:
    """A national-rule task not yet mailed, with what its letter to the school leader
    needs (the letter's wording is ``notifications``' template ``absence_task``)."""

    id: int
    kind: str
    title: str
    quarter: str
    pupil_ref: str
    u_days: float
    school_days: int
    share: float
    u_dates: tuple[str, ...]
    school: str
    school_name: str
    leader_name: str | None
    leader_email: str | None
    created_at: datetime


def u_dates(conn: Connection, pupil_id: int, quarter: str) -> list[str]:
    """The pupil's ``U`` days in a quarter, half days marked, read from the registrations
    (not stored with the task: the registrations are the one place they live)."""
    first, last = quarter_bounds(quarter)
    whole: set[int] = set()
    half: set[int] = set()
    absent: set[int] = set()
    for day, period, code, grade in conn.execute(
        select(
            type_coerce(REGISTRATIONS.c.day, Integer),
            REGISTRATIONS.c.period,
            REGISTRATIONS.c.code,
            REGISTRATIONS.c.grade,
        ).where(
            REGISTRATIONS.c.pupil_id == pupil_id,
            REGISTRATIONS.c.day.between(first, last),
            REGISTRATIONS.c.period.in_([MORNING, END_OF_DAY]),
        )
    ):
        if period == MORNING and code in ABSENT_CODES:
            absent.add(day)
            if code == "U":
                whole.add(day)
        elif period == END_OF_DAY and code == "U" and grade in HALF_DAY_GRADES:
            half.add(day)
    return [
        date.fromordinal(d).isoformat() + ("" if d in whole else " (half day)")
        for d in sorted(whole | (half - absent))
    ]


def pending_tasks(conn: Connection, limit: int | None = None) -> list[PendingTask]:
    t, p, s = TASKS, PUPILS, SCHOOLS
    query = (
        select(
            t.c.id,
            t.c.pupil_id,
            t.c.kind,
            t.c.quarter,
            t.c.u_halves,
            t.c.school_days,
            t.c.created_at,
            p.c.pupil_ref,
            s.c.code,
            s.c.name,
            s.c.leader_name,
            s.c.leader_email,
        )
        .join(p, p.c.id == t.c.pupil_id)
        .join(s, s.c.id == t.c.school_id)
        .where(t.c.mailed_at.is_(None))
        .order_by(t.c.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return [
        PendingTask(
            id=r.id,
            kind=r.kind,
            title=TASK_TITLES[r.kind],
            quarter=r.quarter,
            pupil_ref=r.pupil_ref,
            u_days=r.u_halves / 2,
            school_days=r.school_days,
            share=r.u_halves / (2 * r.school_days) if r.school_days else 0.0,
            u_dates=tuple(u_dates(conn, r.pupil_id, r.quarter)),
            school=r.code,
            school_name=r.name,
            leader_name=r.leader_name,
            leader_email=r.leader_email,
            created_at=r.created_at,
        )
        for r in conn.execute(query).all()
    ]


def mark_tasks_mailed(conn: Connection, task_ids: Sequence[int], now: datetime) -> int:
    if not task_ids:
        return 0
    result = conn.execute(
        update(TASKS)
        .where(TASKS.c.id.in_(list(task_ids)), TASKS.c.mailed_at.is_(None))
        .values(mailed_at=now)
    )
    return max(result.rowcount, 0)


__all__ = [
    "CLAIM_TIMEOUT",
    "PendingTask",
    "Recorded",
    "cases_for_episodes",
    "claim_episode",
    "episode_concern",
    "episodes_without_case",
    "link_episode",
    "mark_tasks_mailed",
    "open_case_of",
    "pending_tasks",
    "record",
    "schools_without_leader",
    "teacher_of",
    "u_dates",
]
