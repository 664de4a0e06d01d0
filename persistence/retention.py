"""Retention: closed cases leave the database a configured period after their last event.

DOMAIN ("Data protection"): closed cases are purged or anonymised after a configurable
period. A case qualifies when it is in a final state of its process and its last event
(``cases.updated_at``) is older than the period of its process. Then, by setting:

- **anonymise** (default): what says who or what was said goes; what counts for statistics
  stays. Removed: participants' names and e-mail addresses (their keys become role keys),
  notes, forms, decisions, action plans and the case file (the case data keeps only its
  numbers, yes/no values, dates and one-word codes such as an outcome), the outbox's
  errors, server answers and message ids, staged inputs; the title and every location
  become a neutral text; history rows keep event, states and time, their ``details`` and
  ``context`` are emptied and their ``actor`` becomes the actor's role on the case; so do
  the reads of the case in the access log (``who`` becomes the reader's role, ``context``
  with the operating-system user is emptied). Kept: ids, process, states, dates, the
  history's events, meetings' times and statuses, timers, when and how the case was read.
- **purge**: the case and every row of it are deleted, the reads of it in the access log
  too (that table has no foreign key to cascade along: a list read has no case).
- **off**: nothing is deleted (an authority that must first deliver to the National
  Archives, Rigsarkivet).

Absence registrations have their own period (``FORLOEB_RETENTION_ABSENCE_YEARS``): older
registrations, episodes and tasks are deleted, and pupils with nothing newer.

Each run is recorded in ``retention_runs``: when, mode, counts per process — counts, never
names. Flow runs in Prefect are the flows' part (``flows.retention``); this module never
imports Prefect.

Settings (environment):
``FORLOEB_RETENTION_MODE`` anonymise | purge | off (default anonymise);
``FORLOEB_RETENTION_YEARS`` whole years after the last event (default 5: the municipal
deletion code "5 år efter sagsafslutning", KL's P1825D);
``FORLOEB_RETENTION_YEARS_<PROCESS>`` the same for one process (e.g. ``…_SAMRAAD``);
``FORLOEB_RETENTION_ABSENCE_YEARS`` for absence registrations (default 5).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    Engine,
    String,
    and_,
    delete,
    false,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from machines import COPENHAGEN, PROCESSES, SYSTEM, ConfigurationError

from . import absence, staging
from .access_log import OPERATOR_WHO, access_log
from .database import settle_erasure
from .models import (
    Base,
    CaseRow,
    HistoryRow,
    Id,
    MeetingRow,
    MembershipRow,
    OutboxRow,
    ParticipantRow,
    TimerRow,
)
from .replies import processed
from .replies import proposals as proposal_rows
from .replies import replies as reply_rows

MODES = ("anonymise", "purge", "off")
DEFAULT_MODE = "anonymise"
DEFAULT_YEARS = 5
DEFAULT_ABSENCE_YEARS = 5
MAX_YEARS = 100
#: What an anonymised title or location reads.
NEUTRAL = "anonymiseret"
#: The actor of an anonymised history row whose person had no role on the case.
UNKNOWN_ACTOR = "anonymiseret"
#: Cases per transaction: a run over years of closed cases never holds the database long.
CHUNK = 200


class RetentionRunRow(Base):
    """One retention run: when, how, and how many — counts, never names."""

    __tablename__ = "retention_runs"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime]
    mode: Mapped[str] = mapped_column(String(10))
    #: process -> cases anonymised or purged
    cases: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: registrations, episodes, tasks, pupils -> rows deleted
    absence: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: flow runs removed from Prefect, and for how many cases that failed (purge only)
    prefect: Mapped[dict[str, Any]] = mapped_column(JSON)


cases = Base.metadata.tables[CaseRow.__tablename__]
participants = Base.metadata.tables[ParticipantRow.__tablename__]
meetings = Base.metadata.tables[MeetingRow.__tablename__]
history = Base.metadata.tables[HistoryRow.__tablename__]
timers = Base.metadata.tables[TimerRow.__tablename__]
outbox = Base.metadata.tables[OutboxRow.__tablename__]
runs = Base.metadata.tables[RetentionRunRow.__tablename__]
registrations = Base.metadata.tables[absence.RegistrationRow.__tablename__]
episodes = Base.metadata.tables[absence.EpisodeRow.__tablename__]
tasks = Base.metadata.tables[absence.TaskRow.__tablename__]
pupils = Base.metadata.tables[absence.PupilRow.__tablename__]
staged = staging.staged_inputs
memberships = Base.metadata.tables[MembershipRow.__tablename__]


# ------------------------------------------------------------------ settings


@dataclass(frozen=True)
class RetentionSettings:
    mode: str = DEFAULT_MODE
    #: process -> whole years after the case's last event (a process not named: 5)
    years: Mapping[str, int] = field(default_factory=dict)
    absence_years: int = DEFAULT_ABSENCE_YEARS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RetentionSettings:
        """The settings, or ``ConfigurationError`` naming the one that is malformed."""
        env = os.environ if environ is None else environ
        mode = env.get("FORLOEB_RETENTION_MODE", "").strip() or DEFAULT_MODE
        if mode not in MODES:
            raise ConfigurationError(
                f"FORLOEB_RETENTION_MODE={mode!r} must be one of: {', '.join(MODES)}"
            )
        default = _years(env, "FORLOEB_RETENTION_YEARS", DEFAULT_YEARS)
        per_process = "FORLOEB_RETENTION_YEARS_"
        for name in env:
            # A misspelt process would silently get the default period: refuse it.
            if name.startswith(per_process) and name[len(per_process) :].lower() not in PROCESSES:
                raise ConfigurationError(
                    f"{name} names no process; use one of: "
                    + ", ".join(f"{per_process}{p.upper()}" for p in sorted(PROCESSES))
                )
        years = {p: _years(env, f"{per_process}{p.upper()}", default) for p in sorted(PROCESSES)}
        absence_years = _years(env, "FORLOEB_RETENTION_ABSENCE_YEARS", DEFAULT_ABSENCE_YEARS)
        return cls(mode, years, absence_years)

    def case_cutoffs(self, now: datetime) -> dict[str, datetime]:
        """Per process: a closed case whose last event is before this is due."""
        return {p: _years_before(now, self.years.get(p, DEFAULT_YEARS)) for p in sorted(PROCESSES)}

    def absence_cutoff(self, now: datetime) -> date:
        return _years_before(now, self.absence_years).astimezone(COPENHAGEN).date()


def _years(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= MAX_YEARS:
        raise ConfigurationError(
            f"{name}={raw!r} must be a whole number of years from 1 to {MAX_YEARS}"
        )
    return int(raw)


def _years_before(now: datetime, years: int) -> datetime:
    """Local midnight ``years`` calendar years before ``now``'s Copenhagen date (29 Feb
    counts as 28 Feb)."""
    today = now.astimezone(COPENHAGEN).date()
    try:
        day = today.replace(year=today.year - years)
    except ValueError:
        day = today.replace(year=today.year - years, day=28)
    return datetime.combine(day, time(), tzinfo=COPENHAGEN)


# ------------------------------------------------------------------ the run


@dataclass
class RetentionReport:
    mode: str
    dry_run: bool
    #: process -> cutoff (ISO date): cases whose last event is before it are due
    cutoffs: dict[str, str]
    #: process -> cases anonymised or purged (or, on a dry run, that would be)
    cases: dict[str, int] = field(default_factory=dict)
    absence_cutoff: str = ""
    #: registrations, episodes, tasks, pupils -> rows deleted (or that would be)
    absence: dict[str, int] = field(default_factory=dict)
    #: ids of the purged cases: their flow runs in Prefect go next (ids only)
    purged_case_ids: list[int] = field(default_factory=list)
    run_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "cutoffs": self.cutoffs,
            "cases": self.cases,
            "absence_cutoff": self.absence_cutoff,
            "absence": self.absence,
        }

    @property
    def total_cases(self) -> int:
        return sum(self.cases.values())


def run_retention(
    engine: Engine, now: datetime, settings: RetentionSettings, *, dry_run: bool = False
) -> RetentionReport:
    """Anonymise or purge the closed cases that are due, delete old absence data, record
    the run (unless ``dry_run``: then nothing is written and the counts say what would be).
    What it erased is out of SQLite's write-ahead log when it returns."""
    cutoffs = settings.case_cutoffs(now)
    absence_cutoff = settings.absence_cutoff(now)
    report = RetentionReport(
        mode=settings.mode,
        dry_run=dry_run,
        cutoffs={p: c.date().isoformat() for p, c in cutoffs.items()},
        cases={p: 0 for p in cutoffs},
        absence_cutoff=absence_cutoff.isoformat(),
    )
    if settings.mode == "off":
        return report
    if dry_run:
        with engine.connect() as conn:
            for process, count in conn.execute(
                select(cases.c.process, func.count())
                .where(_due(cutoffs, settings.mode))
                .group_by(cases.c.process)
            ):
                report.cases[process] = int(count)
            report.absence = _absence(conn, absence_cutoff, count_only=True)
        return report

    with engine.begin() as conn:
        report.run_id = conn.execute(
            insert(runs).returning(runs.c.id),
            {"at": now, "mode": settings.mode, "cases": {}, "absence": {}, "prefect": {}},
        ).scalar_one()
    for chunk in _due_chunks(engine, cutoffs, settings.mode):
        # One transaction per chunk, the run's counts with it: an interrupted run has
        # recorded exactly what it did, and the next run takes the rest.
        with engine.begin() as conn:
            if settings.mode == "purge":
                _purge(conn, [case_id for case_id, _ in chunk])
                report.purged_case_ids.extend(case_id for case_id, _ in chunk)
            else:
                _anonymise(conn, [case_id for case_id, _ in chunk], now)
            for _, process in chunk:
                report.cases[process] = report.cases.get(process, 0) + 1
            conn.execute(
                update(runs).where(runs.c.id == report.run_id).values(cases=dict(report.cases))
            )
    with engine.begin() as conn:
        report.absence = _absence(conn, absence_cutoff, count_only=False)
        conn.execute(
            update(runs).where(runs.c.id == report.run_id).values(absence=dict(report.absence))
        )
    if report.total_cases or sum(report.absence.values()):
        settle_erasure(engine)
    return report


def record_prefect(engine: Engine, run_id: int, outcome: Mapping[str, Any]) -> None:
    """Add what the Prefect clean-up did (counts and case ids) to the run's record."""
    with engine.begin() as conn:
        conn.execute(update(runs).where(runs.c.id == run_id).values(prefect=dict(outcome)))


def runs_recorded(engine: Engine, limit: int = 20) -> list[dict[str, Any]]:
    """The latest retention runs, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(runs).order_by(runs.c.id.desc()).limit(limit)).all()
    return [
        {
            "id": r.id,
            "at": r.at.astimezone(COPENHAGEN).isoformat(),
            "mode": r.mode,
            "cases": r.cases,
            "absence": r.absence,
            "prefect": r.prefect,
        }
        for r in rows
    ]


def _due(cutoffs: Mapping[str, datetime], mode: str) -> Any:
    """Cases in a final state of their process, last event before the process's cutoff;
    for anonymising, not anonymised already (a purge also takes anonymised cases)."""
    per_process = [
        and_(
            cases.c.process == process,
            cases.c.state.in_(sorted(PROCESSES[process].finals)),
            cases.c.updated_at < cutoff,
        )
        for process, cutoff in cutoffs.items()
    ]
    condition = or_(false(), *per_process)
    if mode == "anonymise":
        condition = and_(condition, cases.c.anonymised_at.is_(None))
    return condition


def _due_chunks(
    engine: Engine, cutoffs: Mapping[str, datetime], mode: str
) -> Iterator[list[tuple[int, str]]]:
    after = 0
    while True:
        with engine.connect() as conn:
            chunk = [
                (int(r.id), str(r.process))
                for r in conn.execute(
                    select(cases.c.id, cases.c.process)
                    .where(_due(cutoffs, mode), cases.c.id > after)
                    .order_by(cases.c.id)
                    .limit(CHUNK)
                )
            ]
        if not chunk:
            return
        yield chunk
        after = chunk[-1][0]


def _purge(conn: Connection, case_ids: Sequence[int]) -> None:
    # Children first, explicitly: the foreign keys' cascades would do it on PostgreSQL and
    # on SQLite with foreign_keys on, but a purge must not depend on a connection pragma.
    _forget_mail(conn, case_ids)
    of_the_cases = select(meetings.c.id).where(meetings.c.case_id.in_(case_ids))
    conn.execute(delete(reply_rows).where(reply_rows.c.meeting_id.in_(of_the_cases)))
    for table in (outbox, timers, history, meetings, participants, access_log, memberships):
        conn.execute(delete(table).where(table.c.case_id.in_(case_ids)))
    conn.execute(delete(staged).where(staged.c.case_id.in_(case_ids)))
    conn.execute(update(episodes).where(episodes.c.case_id.in_(case_ids)).values(case_id=None))
    conn.execute(delete(cases).where(cases.c.id.in_(case_ids)))


def _anonymise(conn: Connection, case_ids: Sequence[int], now: datetime) -> None:
    people: dict[int, list[Any]] = {}
    for p in conn.execute(
        select(participants.c.id, participants.c.case_id, participants.c.key,
               participants.c.role, participants.c.email)
        .where(participants.c.case_id.in_(case_ids))
        .order_by(participants.c.id)
    ):  # fmt: skip
        people.setdefault(p.case_id, []).append(p)
    case_rows = conn.execute(select(cases.c.id, cases.c.data).where(cases.c.id.in_(case_ids))).all()
    for case in case_rows:
        new_keys = _role_keys(people.get(case.id, []))
        # Keys may be names ("ida"); give every person a key made of their role, and move
        # them there in two steps so the unique (case, key) never collides on the way.
        for p in people.get(case.id, []):
            conn.execute(
                update(participants)
                .where(participants.c.id == p.id)
                .values(key=f"~{p.id}", name="", email=None)
            )
        for p in people.get(case.id, []):
            conn.execute(
                update(participants).where(participants.c.id == p.id).values(key=new_keys[p.key])
            )
        for m in conn.execute(
            select(meetings.c.id, meetings.c.attendees).where(meetings.c.case_id == case.id)
        ):
            conn.execute(
                update(meetings)
                .where(meetings.c.id == m.id)
                .values(
                    location=NEUTRAL,
                    attendees=[new_keys.get(k, UNKNOWN_ACTOR) for k in m.attendees or []],
                )
            )
        conn.execute(
            update(cases)
            .where(cases.c.id == case.id)
            .values(
                title=NEUTRAL,
                location=NEUTRAL,
                data=_statistics(case.data or {}),
                anonymised_at=now,
            )
        )
        roles: dict[str, str] = {}
        for p in people.get(case.id, []):
            if p.email:
                roles.setdefault(p.email.lower(), p.role)
        for h in conn.execute(
            select(history.c.id, history.c.actor).where(history.c.case_id == case.id)
        ):
            conn.execute(
                update(history)
                .where(history.c.id == h.id)
                .values(details={}, context=None, actor=_actor_role(h.actor, roles))
            )
        for read in conn.execute(
            select(access_log.c.id, access_log.c.who).where(access_log.c.case_id == case.id)
        ):
            conn.execute(
                update(access_log)
                .where(access_log.c.id == read.id)
                .values(who=_reader_role(read.who, roles), context=None)
            )
    conn.execute(
        update(outbox)
        .where(outbox.c.case_id.in_(case_ids), outbox.c.status == "pending")
        .values(status="failed", last_error="the case was anonymised before this was sent")
    )
    conn.execute(
        update(outbox)
        .where(outbox.c.case_id.in_(case_ids), outbox.c.status != "failed")
        .values(last_error=None)
    )
    conn.execute(
        update(outbox).where(outbox.c.case_id.in_(case_ids)).values(response=None, message_id=None)
    )
    conn.execute(delete(staged).where(staged.c.case_id.in_(case_ids)))
    # Answers stay (who in which role accepted: statistics); what tied them to a mail goes,
    # and so do proposed times and the child references a group or room held.
    _forget_mail(conn, case_ids)
    of_the_cases = select(meetings.c.id).where(meetings.c.case_id.in_(case_ids))
    conn.execute(
        update(reply_rows).where(reply_rows.c.meeting_id.in_(of_the_cases)).values(message_id=None)
    )
    conn.execute(delete(memberships).where(memberships.c.case_id.in_(case_ids)))


def _forget_mail(conn: Connection, case_ids: Sequence[int]) -> None:
    """The mail read for these cases: proposed times and the processed messages' ids."""
    of_the_cases = select(meetings.c.id).where(meetings.c.case_id.in_(case_ids))
    conn.execute(delete(proposal_rows).where(proposal_rows.c.meeting_id.in_(of_the_cases)))
    conn.execute(delete(processed).where(processed.c.case_id.in_(case_ids)))


def _role_keys(people: Sequence[Any]) -> dict[str, str]:
    """Old key -> a key made of the role (parent, parent-2, ...), as ``assign_keys`` makes."""
    taken: set[str] = set()
    result: dict[str, str] = {}
    for p in people:
        base = str(p.role).replace("_", "-")
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}-{n}"
        taken.add(candidate)
        result[p.key] = candidate
    return result


def _actor_role(actor: str, roles: Mapping[str, str]) -> str:
    if actor == SYSTEM:
        return SYSTEM
    return roles.get(actor.strip().lower(), UNKNOWN_ACTOR)


def _reader_role(who: str, roles: Mapping[str, str]) -> str:
    """A read's ``who`` as ``_actor_role`` does an actor; the operator (the CLI without
    ``--by``) is a function, not a person, and stays."""
    return who if who == OPERATOR_WHO else _actor_role(who, roles)


#: A one-word code (an outcome, a meeting key): lower-case letters, digits, _ and -.
_CODE = re.compile(r"[a-z][a-z0-9_-]{0,39}")


def _statistics(data: Mapping[str, Any]) -> dict[str, Any]:
    """What of a case's data may stay: top-level numbers, yes/no values, dates and
    one-word codes. Text, lists and nested records (forms, notes, decisions, action plans,
    the case file, consent) go."""
    return {key: value for key, value in data.items() if _statistical(value)}


def _statistical(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float):
        return True
    return isinstance(value, str) and bool(_CODE.fullmatch(value) or _is_moment(value))


def _is_moment(value: str) -> bool:
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9:.+\-Z]*)?", value):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _absence(conn: Connection, cutoff: date, *, count_only: bool) -> dict[str, int]:
    """Absence data older than ``cutoff``: registrations, episodes and tasks, and pupils
    with nothing newer (their pseudonymous reference goes with them)."""
    cutoff_moment = datetime.combine(cutoff, time(), tzinfo=COPENHAGEN)
    targets = {
        "registrations": (registrations, registrations.c.day < cutoff),
        "episodes": (episodes, episodes.c.last_day < cutoff),
        "tasks": (tasks, tasks.c.created_at < cutoff_moment),
        "pupils": (pupils, pupils.c.last_day < cutoff),
    }
    counts: dict[str, int] = {}
    for what, (table, condition) in targets.items():
        if count_only:
            counts[what] = int(
                conn.execute(select(func.count()).select_from(table).where(condition)).scalar_one()
            )
        else:
            counts[what] = max(conn.execute(delete(table).where(condition)).rowcount, 0)
    return counts


__all__ = [
    "DEFAULT_ABSENCE_YEARS",
    "DEFAULT_YEARS",
    "MODES",
    "NEUTRAL",
    "RetentionReport",
    "RetentionRunRow",
    "RetentionSettings",
    "record_prefect",
    "run_retention",
    "runs_recorded",
    "settle_erasure",
]
