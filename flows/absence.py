"""Absence → samråd: the daily scan that turns registrations into concern cases and tasks.

One scan: count (``persistence.absence.detect``), record episodes and national tasks in
one transaction, then give every new episode a case of ``ABSENCE_PROCESS`` (samråd) in
``concern`` — unless the pupil already has an open one (the episode joins it). A crash
between opening a case and linking its episode is repaired by the next scan: the case
file names its episode.

What may leave this module for Prefect is ``ScanReport.counts()``: dates and counts only.
The full report (``as_json``) carries pupil references and is for the coordinator's
terminal, never for a flow-run name, parameter, log or artifact.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, text

from machines import COPENHAGEN, ForloebError, InvalidInput, WorkingCalendar, get_process
from machines.absence import AbsenceRules
from notifications import AioSmtpMailer, CalendarUser, Mailer, Organizer, Outgoing, SmtpSettings
from notifications.messages import compose_letter
from persistence import CaseStore, is_postgres
from persistence import absence as repo
from persistence.absence import NewTask, PendingTask

__all__ = [
    "ABSENCE_PROCESS",
    "ScanReport",
    "concern_case_file",
    "daily_scan",
    "mark_tasks_mailed",
    "open_concern_cases",
    "pending_tasks",
    "scan",
]

#: The process an absence episode opens a case of: the one place that names it.
ABSENCE_PROCESS = "samraad"

#: pg_advisory_lock key: "forloeb absence scan" (any constant will do; this one is ours).
_SCAN_LOCK = 0x0F0E_AB5C


@dataclass
class ScanReport:
    as_of: date
    since: date
    pupils: int = 0
    episodes_new: int = 0
    episodes_continued: int = 0
    cases: list[dict[str, Any]] = field(default_factory=list)
    new_tasks: list[NewTask] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def tasks(self) -> list[dict[str, Any]]:
        """The new tasks for the coordinator's report (a first scan may find 100,000s:
        made on demand, not for every scan the sweep runs)."""
        return [
            {
                "kind": t.kind,
                "quarter": t.quarter,
                "pupil_ref": t.pupil_ref,
                "school": t.school,
                "u_days": t.u_halves / 2,
                "school_days": t.school_days,
                "share": round(t.u_halves / (2 * t.school_days), 4) if t.school_days else 0.0,
            }
            for t in self.new_tasks
        ]

    def counts(self) -> dict[str, Any]:
        """Safe for Prefect and logs: dates and counts, no pupil, no school, no reason."""
        kinds: dict[str, int] = {}
        for task in self.new_tasks:
            kinds[f"tasks_{task.kind}"] = kinds.get(f"tasks_{task.kind}", 0) + 1
        return {
            "as_of": self.as_of.isoformat(),
            "since": self.since.isoformat(),
            "pupils": self.pupils,
            "episodes_new": self.episodes_new,
            "episodes_continued": self.episodes_continued,
            "cases_opened": sum(1 for c in self.cases if c["status"] == "case_opened"),
            "cases_joined": sum(1 for c in self.cases if c["status"] == "joined"),
            "tasks_new": len(self.new_tasks),
            **kinds,
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "since": self.since.isoformat(),
            "pupils": self.pupils,
            "episodes": {"new": self.episodes_new, "continued": self.episodes_continued},
            "cases": self.cases,
            "tasks": self.tasks,
            "warnings": self.warnings,
        }


@contextmanager
def _scan_lock(engine: Engine) -> Iterator[None]:
    """One scan at a time on PostgreSQL (the sweep and a coordinator may both start one).
    SQLite serialises writers by itself and is a one-machine setup."""
    if not is_postgres(engine):
        yield
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _SCAN_LOCK}).scalar():
            raise ForloebError("another absence scan is running; try again when it has finished")
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _SCAN_LOCK})


def scan(
    engine: Engine,
    now: datetime,
    *,
    rules: AbsenceRules | None = None,
    school: str | None = None,
    since: date | None = None,
    open_cases: bool = True,
    working: WorkingCalendar | None = None,
) -> ScanReport:
    """Scan the registrations as of ``now``'s date in Copenhagen. Idempotent: a second
    scan over the same registrations records, opens and tasks nothing new."""
    if now.tzinfo is None:
        raise InvalidInput("the scan's time has no UTC offset; give e.g. 2026-12-21T18:00+01:00")
    rules = rules or AbsenceRules.from_env()
    as_of = now.astimezone(COPENHAGEN).date()
    with _scan_lock(engine):
        # Count in a read transaction, write in a short one of its own: on SQLite a read
        # snapshot cannot become a write once an import has committed meanwhile (it fails
        # at once instead of waiting). The unique keys make a late write harmless.
        with engine.connect() as conn:
            detection = repo.detect(conn, as_of, rules, since=since, school=school, working=working)
        with engine.begin() as conn:
            recorded = repo.record(conn, detection, now)
        report = ScanReport(
            as_of=as_of,
            since=detection.since,
            pupils=detection.pupils,
            episodes_new=recorded.episodes_new,
            episodes_continued=recorded.episodes_continued,
        )
        report.new_tasks = recorded.tasks_new
        if open_cases:
            report.cases = open_concern_cases(engine, now, rules, working)
        with engine.connect() as conn:
            report.warnings = _directory_warnings(conn, report)
    return report


def daily_scan(engine: Engine, now: datetime) -> dict[str, Any]:
    """For the sweep deployment: scan every school; return counts only (Prefect-safe)."""
    return scan(engine, now).counts()


def concern_case_file(
    episode: dict[str, Any],
    teacher: tuple[str, str | None] | None,
    thresholds: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The samråd case file for an episode: the school's people, the pupil reference and
    the reason. Title and location are the school's name (they may be shown in a shared
    calendar); the reason stays in the case file."""
    participants: list[dict[str, Any]] = []
    if episode["leader_name"] and episode["leader_email"]:
        participants.append(
            {
                "role": "school_leader",
                "name": episode["leader_name"],
                "email": episode["leader_email"],
            }
        )
    if teacher is not None:
        participants.append({"role": "teacher", "name": teacher[0], "email": teacher[1]})
    if episode["coordinator_email"]:
        participants.append(
            {
                "role": "coordinator",
                "name": episode["coordinator_name"] or repo.DEFAULT_COORDINATOR_NAME,
                "email": episode["coordinator_email"],
            }
        )
    if thresholds is None:
        thresholds = [{"rule": r, "first_hit": d} for r, d in (episode["rules"] or {}).items()]
    return {
        "title": episode["name"],
        "location": episode["name"],
        "participants": participants,
        "pupil_ref": episode["pupil_ref"],
        "concern": {
            "source": "absence scan",
            "episode_id": episode["id"],
            "school": episode["code"],
            "grade": episode["grade"],
            "first_day": episode["first_day"].isoformat(),
            "thresholds": thresholds,
        },
    }


def open_concern_cases(
    engine: Engine,
    now: datetime,
    rules: AbsenceRules | None = None,
    working: WorkingCalendar | None = None,
) -> list[dict[str, Any]]:
    """Give every episode without a case one: the pupil's open case if there is one,
    otherwise a new samråd in ``concern``. Each case opens in its own transaction."""
    rules = rules or AbsenceRules.from_env()
    finals = get_process(ABSENCE_PROCESS).finals
    store = CaseStore(engine)
    with engine.connect() as conn:
        waiting = repo.episodes_without_case(conn, now)
        if not waiting:
            return []
        since = min(e["created_at"] for e in waiting)
        orphans = repo.cases_for_episodes(conn, ABSENCE_PROCESS, since)
    done: list[dict[str, Any]] = []
    for episode in waiting:
        with engine.begin() as conn:
            if not repo.claim_episode(conn, episode["id"], now):
                continue  # another scan is on it
        teacher = None
        thresholds: list[dict[str, Any]] = []
        with engine.begin() as conn:
            case_id = orphans.get(episode["id"])
            status = "case_opened"
            if case_id is None:
                case_id = repo.open_case_of(conn, episode["pupil_id"], finals)
                status = "joined"
            if case_id is not None:
                repo.link_episode(conn, episode["id"], case_id, status, now)
            else:
                teacher = repo.teacher_of(conn, episode["school_id"], episode["grade"])
                thresholds = repo.episode_concern(conn, episode, rules, working)
        if case_id is None:
            status = "case_opened"
            case_file = concern_case_file(episode, teacher, thresholds)
            case_id = store.open_case(ABSENCE_PROCESS, case_file, now)
            with engine.begin() as conn:
                repo.link_episode(conn, episode["id"], case_id, status, now)
        done.append(
            {
                "case_id": case_id,
                "status": status,
                "pupil_ref": episode["pupil_ref"],
                "school": episode["code"],
                "first_day": episode["first_day"].isoformat(),
                "thresholds": sorted((episode["rules"] or {}).keys()),
            }
        )
    return done


def _directory_warnings(conn: Connection, report: ScanReport) -> list[str]:
    schools = {c["school"] for c in report.cases} | {t.school for t in report.new_tasks}
    if not schools:
        return []
    return [
        f"school {code!r} has no leader in the directory: its cases have no one to notify "
        "and its tasks cannot be mailed; run: forloeb schools import FILE"
        for code in repo.schools_without_leader(conn, sorted(schools))
    ]


def pending_tasks(engine: Engine, limit: int | None = None) -> list[PendingTask]:
    """National-rule tasks not yet mailed, oldest first, each with the school leader's
    address. Mail them (:func:`mail_tasks` does, with the ``absence_task`` letter, whose
    subject names the school only), then call :func:`mark_tasks_mailed`."""
    with engine.connect() as conn:
        return repo.pending_tasks(conn, limit)


def mark_tasks_mailed(engine: Engine, task_ids: Sequence[int], now: datetime) -> int:
    with engine.begin() as conn:
        return repo.mark_tasks_mailed(conn, task_ids, now)


def mail_tasks(engine: Engine, now: datetime, mailer: Mailer | None = None) -> dict[str, int]:
    """Mail every pending national-rule task to its school leader; counts only.

    The task row is the durable record: it stays pending until its mail was accepted, so
    a task whose mail failed (or whose school has no leader address yet) is simply tried
    again on the next run. One mail per task, with a Message-ID stable per task.
    """
    organizer = Organizer.from_env()
    waiting = pending_tasks(engine)
    ready = [t for t in waiting if t.leader_email]
    counts = {"mailed": 0, "failed": 0, "no_leader_address": len(waiting) - len(ready)}
    if not ready:
        return counts
    outgoing = [
        Outgoing(
            key=task.id,
            sender=organizer.email,
            recipients=(str(task.leader_email),),
            data=compose_letter(
                "absence_task",
                {
                    "school": task.school,
                    "school_name": task.school_name,
                    "leader_name": task.leader_name,
                    "pupil_ref": task.pupil_ref,
                    "quarter": task.quarter,
                    "title": task.title,
                    "u_days": f"{task.u_days:g}",
                    "school_days": task.school_days,
                    "share": f"{task.share * 100:.1f}".replace(".", ","),
                    "u_dates": list(task.u_dates),
                },
                CalendarUser(str(task.leader_email), task.leader_name or ""),
                organizer,
                now,
                f"<absence-task-{task.id}@{organizer.domain}>",
            ),
        )
        for task in ready
    ]
    batch = (mailer or AioSmtpMailer(SmtpSettings.from_env())).send_batch(outgoing)
    delivered = [r.key for r in batch.results if r.delivered]
    mark_tasks_mailed(engine, delivered, now)
    counts["mailed"] = len(delivered)
    counts["failed"] = len(ready) - len(delivered)
    return counts
