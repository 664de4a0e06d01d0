"""Absence import and scan, each beside a plain SQL baseline measured in the same run.

Figures (``run()`` returns them as (figure, value, baseline, baseline value)):
- import rate of a registrations CSV (rows/s) beside ``csv.reader`` alone over the file;
- a municipality's scan on SQLite (10,000 pupils × 200 school days × 2 registrations)
  beside ``SELECT pupil_id, count(*) … GROUP BY pupil_id`` over the same table, as a
  first scan (everything new) and a re-scan (the daily steady state: nothing new);
- 100,000 pupils × 60 school days × 2 registrations on PostgreSQL, likewise (only when
  FORLOEB_TEST_POSTGRES_URL is set; a database is created and dropped);
- opening samråd cases (``CaseStore.open_case``, once per new episode);
- peak memory of the process (MB) beside the 1 GB budget.

Each scan runs on two data sets of the same pupils, days and slots. "Every slot": all
4,000,000 (or 12,000,000) slots carry a code — the codes are S, L, U, F and T, there is
no "present" — so every pupil's series is dense and every pupil meets every threshold:
the worst case, far beyond any school. "Realistic": only absences are rows (a school
registers presence by registering nothing), see ``_propensity``. The scans are timed
without opening cases (``open_cases=False``); that cost is the case store's, measured
on its own. On a shared machine wall time includes waiting for a core; for SQLite the
CPU seconds of this process are printed too.
"""

from __future__ import annotations

import csv
import random
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, text

from bench.common import POSTGRES_URL, postgres_available
from flows import absence as flow
from flows.absence_csv import read_registrations
from machines import COPENHAGEN
from machines.absence import SchoolCalendar
from persistence import absence as repo
from persistence import ensure_schema, make_engine

Figure = tuple[str, float, str, float]

AS_OF = date(2026, 6, 19)  # the last Friday before the default summer holiday
NOW = datetime(2026, 6, 19, 18, 0, tzinfo=COPENHAGEN)
SCHOOLS = 20


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _clocked(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall seconds, this process's CPU seconds (all threads; SQLite runs in-process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def _school_days(n: int) -> list[date]:
    days = SchoolCalendar().school_days(AS_OF - timedelta(days=3 * n), AS_OF)
    return days[-n:]


def _codes(seed: int) -> Iterator[str]:
    rnd = random.Random(seed)
    while True:
        yield from rnd.choices("SLUFT", k=65536)


def _prepare_pupils(engine: Engine, pupils: int, first_day: date) -> None:
    with engine.begin() as conn:
        conn.execute(
            repo.SCHOOLS.insert(),
            [{"code": f"s{i:02d}", "name": f"Skole {i:02d}"} for i in range(SCHOOLS)],
        )
        ids = {
            code: id_ for code, id_ in conn.execute(text("SELECT code, id FROM absence_schools"))
        }
        conn.execute(
            repo.PUPILS.insert(),
            [
                {
                    "pupil_ref": f"p{i:06d}",
                    "school_id": ids[f"s{i % SCHOOLS:02d}"],
                    "grade": i % 11,
                    "last_day": AS_OF,
                }
                for i in range(pupils)
            ],
        )


def _fill_sqlite(engine: Engine, pupils: int, days: list[date]) -> int:
    _prepare_pupils(engine, pupils, days[0])
    codes = _codes(1)
    ordinals = [d.toordinal() for d in days]
    with engine.begin() as conn:
        pids = [r[0] for r in conn.execute(text("SELECT id FROM absence_pupils ORDER BY id"))]
        grade = {pid: i % 11 for i, pid in enumerate(pids)}
        rows = (
            (pid, day, period, next(codes), grade[pid])
            for pid in pids
            for day in ordinals
            for period in (0, 100)
        )
        # In chunks: the bench's own data must not dominate the peak memory it reports.
        while chunk := list(islice(rows, 200_000)):
            conn.exec_driver_sql(
                "INSERT INTO absence_registrations (pupil_id, day, period, code, grade) "
                "VALUES (?, ?, ?, ?, ?)",
                chunk,
            )
    return len(pids) * len(days) * 2


#: The realistic model: every 20th pupil is often absent (a quarter of the days), two in
#: 20 sometimes (8 %), the rest rarely (3 %); an absent morning is S 60 %, L 25 %, U 15 %,
#: registered again at the end of the day; 1.5 % of mornings are late (F), and 1 % of the
#: days a pupil present in the morning is U at the end. Only registrations are rows.
REALISTIC_SQL_PROPENSITY = (
    "CASE WHEN p.id % 20 = 0 THEN 0.25 WHEN p.id % 20 < 3 THEN 0.08 ELSE 0.03 END"
)


def _propensity(pid: int) -> float:
    return 0.25 if pid % 20 == 0 else 0.08 if pid % 20 < 3 else 0.03


def _fill_sqlite_realistic(engine: Engine, pupils: int, days: list[date]) -> int:
    _prepare_pupils(engine, pupils, days[0])
    rnd = random.Random(3)
    ordinals = [d.toordinal() for d in days]
    rows: list[tuple[int, int, int, str, int]] = []
    with engine.begin() as conn:
        pids = [r[0] for r in conn.execute(text("SELECT id FROM absence_pupils ORDER BY id"))]
        for i, pid in enumerate(pids):
            grade, absent = i % 11, _propensity(pid)
            for day in ordinals:
                r = rnd.random()
                if r < absent:
                    c = rnd.random()
                    code = "S" if c < 0.6 else "L" if c < 0.85 else "U"
                    rows += [(pid, day, 0, code, grade), (pid, day, 100, code, grade)]
                elif r < absent + 0.015:
                    rows.append((pid, day, 0, "F", grade))
                elif r > 0.99:
                    rows.append((pid, day, 100, "U", grade))
        conn.exec_driver_sql(
            "INSERT INTO absence_registrations (pupil_id, day, period, code, grade) "
            "VALUES (?, ?, ?, ?, ?)",
            rows,
        )
    return len(rows)


def _fill_postgres_realistic(engine: Engine, pupils: int, days: list[date]) -> int:
    _prepare_pupils(engine, pupils, days[0])
    with engine.begin() as conn:
        conn.exec_driver_sql("SELECT setseed(0.3)")
        # The same model as _fill_sqlite_realistic, drawn in the server.
        result = conn.execute(
            text(
                "INSERT INTO absence_registrations (pupil_id, day, period, code, grade) "
                "SELECT s.id, s.day, x.period, x.code, s.grade FROM ("
                "  SELECT p.id, p.grade, d.day, random() AS r, random() AS c, "
                f"  {REALISTIC_SQL_PROPENSITY} AS absent "
                "  FROM absence_pupils p CROSS JOIN unnest(CAST(:days AS int[])) AS d(day)"
                ") AS s CROSS JOIN LATERAL (VALUES "
                "  (0, CASE WHEN s.r < s.absent THEN CASE WHEN s.c < 0.6 THEN 'S' "
                "       WHEN s.c < 0.85 THEN 'L' ELSE 'U' END "
                "     WHEN s.r < s.absent + 0.015 THEN 'F' END), "
                "  (100, CASE WHEN s.r < s.absent THEN CASE WHEN s.c < 0.6 THEN 'S' "
                "       WHEN s.c < 0.85 THEN 'L' ELSE 'U' END "
                "     WHEN s.r > 0.99 THEN 'U' END)"
                ") AS x(period, code) WHERE x.code IS NOT NULL"
            ),
            {"days": [d.toordinal() for d in days]},
        )
        conn.exec_driver_sql("ANALYZE absence_registrations")
    return max(result.rowcount, 0)


def _fill_postgres(engine: Engine, pupils: int, days: list[date]) -> int:
    _prepare_pupils(engine, pupils, days[0])
    with engine.begin() as conn:
        # A pseudo-random code per slot, computed in the server: 12M rows without Python.
        conn.execute(
            text(
                "INSERT INTO absence_registrations (pupil_id, day, period, code, grade) "
                "SELECT p.id, d.day, per.period, "
                "substr('SLUFT', 1 + (abs(hashtext(p.id || ':' || d.day || ':' || per.period)) "
                "% 5), 1), p.grade "
                "FROM absence_pupils p CROSS JOIN unnest(CAST(:days AS int[])) AS d(day) "
                "CROSS JOIN (VALUES (0), (100)) AS per(period)"
            ),
            {"days": [d.toordinal() for d in days]},
        )
        conn.exec_driver_sql("ANALYZE absence_registrations")
    return pupils * len(days) * 2


def _group_by(engine: Engine) -> tuple[float, float]:
    def query() -> int:
        with engine.connect() as conn:
            return len(
                conn.execute(
                    text("SELECT pupil_id, count(*) FROM absence_registrations GROUP BY pupil_id")
                ).all()
            )

    wall, cpu, _ = _clocked(query)
    return wall, cpu


def _scan_figures(engine: Engine, label: str, first_day: date, cpu: bool) -> list[Figure]:
    """The first scan (everything new: episodes and tasks written) and a re-scan (the
    steady state: nothing new), each beside a GROUP BY just before it. On a shared
    machine wall time includes waiting for a core; the CPU figures do not (for SQLite,
    whose work is all in this process)."""
    base_wall, base_cpu = _group_by(engine)
    wall, used, report = _clocked(lambda: flow.scan(engine, NOW, since=first_day, open_cases=False))
    again_base_wall, again_base_cpu = _group_by(engine)
    again_wall, again_used, _ = _clocked(
        lambda: flow.scan(engine, NOW, since=first_day, open_cases=False)
    )
    tasks = len(report.new_tasks)
    first = f"{label}: first scan ({report.episodes_new:,} episodes, {tasks:,} tasks)"
    figures: list[Figure] = [
        (f"{first}, s", wall, "plain GROUP BY, s", base_wall),
        (f"{label}: re-scan, s", again_wall, "plain GROUP BY, s", again_base_wall),
    ]
    if cpu:
        figures += [
            (f"{first}, CPU s", used, "plain GROUP BY, CPU s", base_cpu),
            (f"{label}: re-scan, CPU s", again_used, "plain GROUP BY, CPU s", again_base_cpu),
        ]
    else:
        figures += [
            (f"{first}, client CPU s", used, "plain GROUP BY, s", base_wall),
            (f"{label}: re-scan, client CPU s", again_used, "plain GROUP BY, s", again_base_wall),
        ]
    return figures


def _write_csv(path: Path, rows: int) -> None:
    days = _school_days(200)
    codes = _codes(2)
    pupils = rows // (len(days) * 2) + 1
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("pupil_ref,school,grade,date,period,code\n")
        written = 0
        for p in range(pupils):
            for day in days:
                iso = day.isoformat()
                for period in ("morning", "end_of_day"):
                    f.write(f"q{p:06d},s{p % SCHOOLS:02d},{p % 11},{iso},{period},{next(codes)}\n")
                    written += 1
                    if written == rows:
                        return


def _import_figure(engine: Engine, path: Path, rows: int, label: str) -> Figure:
    def read_only() -> int:
        with path.open(encoding="utf-8", newline="") as f:
            return sum(1 for _ in csv.reader(f))

    raw, _ = _timed(read_only)
    with path.open(encoding="utf-8-sig", newline="") as f:
        # As the command does it: read and check the file, write the rows chunk by chunk.
        seconds, _ = _timed(
            lambda: repo.import_registrations(engine, read_registrations(f, name=path.name))
        )
    return (f"{label}: import, rows/s", rows / seconds, "csv.reader alone, rows/s", rows / raw)


def _open_cases_figure(engine: Engine) -> Figure:
    """Opening samråd cases for 1,000 episodes beside a plain INSERT of 1,000 case rows."""
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE absence_episodes SET status = 'done' WHERE id NOT IN "
            "(SELECT id FROM absence_episodes ORDER BY id LIMIT 1000)"
        )
    seconds, cases = _timed(lambda: flow.open_concern_cases(engine, NOW))

    def plain() -> None:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO cases (process, state, version, title, location, data, "
                    "created_at, updated_at) VALUES ('bench', 'concern', 1, 't', 'l', '{}', "
                    ":now, :now)"
                ),
                [{"now": NOW}] * len(cases),
            )

    baseline, _ = _timed(plain)
    return (
        f"open {len(cases):,} samråd cases, cases/s",
        len(cases) / seconds,
        "plain INSERT into cases, rows/s",
        len(cases) / baseline,
    )


def _sqlite(tmp: Path) -> list[Figure]:
    figures: list[Figure] = []
    csv_path = tmp / "registrations.csv"
    rows = 1_000_000
    _write_csv(csv_path, rows)
    engine = make_engine(f"sqlite:///{tmp / 'import.db'}")
    ensure_schema(engine)
    figures.append(_import_figure(engine, csv_path, rows, "SQLite"))
    engine.dispose()
    csv_path.unlink()

    engine = make_engine(f"sqlite:///{tmp / 'scan.db'}")
    ensure_schema(engine)
    days = _school_days(200)
    _fill_sqlite(engine, 10_000, days)
    figures += _scan_figures(
        engine, "SQLite 10k pupils × 200 days × 2, every slot", days[0], cpu=True
    )
    figures.append(_open_cases_figure(engine))
    engine.dispose()

    engine = make_engine(f"sqlite:///{tmp / 'realistic.db'}")
    ensure_schema(engine)
    rows = _fill_sqlite_realistic(engine, 10_000, days)
    label = f"SQLite 10k pupils × 200 days × 2, realistic ({rows:,} rows)"
    figures += _scan_figures(engine, label, days[0], cpu=True)
    engine.dispose()
    return figures


def _postgres(url: str, tmp: Path) -> list[Figure]:
    name = f"forloeb_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    bench_url = url.rsplit("/", 1)[0] + f"/{name}"
    figures: list[Figure] = []
    try:
        engine = make_engine(bench_url)
        ensure_schema(engine)
        csv_path = tmp / "registrations.csv"
        rows = 1_000_000
        _write_csv(csv_path, rows)
        figures.append(_import_figure(engine, csv_path, rows, "PostgreSQL"))
        csv_path.unlink()
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "TRUNCATE absence_registrations, absence_pupils, absence_schools CASCADE"
            )
        days = _school_days(60)
        _fill_postgres(engine, 100_000, days)
        figures += _scan_figures(
            engine, "PostgreSQL 100k pupils × 60 days × 2, every slot", days[0], cpu=False
        )
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "TRUNCATE absence_registrations, absence_pupils, absence_schools CASCADE"
            )
        rows = _fill_postgres_realistic(engine, 100_000, days)
        label = f"PostgreSQL 100k pupils × 60 days × 2, realistic ({rows:,} rows)"
        figures += _scan_figures(engine, label, days[0], cpu=False)
        engine.dispose()
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return figures


def run() -> list[Figure]:
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="forloeb-bench-") as tmp:
        figures += _sqlite(Path(tmp))
        if postgres_available():
            figures += _postgres(POSTGRES_URL, Path(tmp))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    figures.append(("peak memory, MB", peak, "budget, MB", 1024.0))
    return figures


def main() -> None:
    for name, value, base_name, base in run():
        ratio = value / base if base else float("nan")
        print(f"{name:72} {value:12,.3f}   {base_name:32} {base:12,.3f}   ×{ratio:.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
