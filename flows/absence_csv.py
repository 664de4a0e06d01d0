"""Reading what a school sends as CSV into the checked rows ``persistence.absence`` writes.

Every file is UTF-8 (a byte-order mark is skipped by opening it as ``utf-8-sig``) with a
header line, ``;`` or ``,`` separated (whichever the header uses), columns in any order.
A file is taken whole or not at all: every bad row is collected with its line number
and the file is refused with :class:`RefusedFile`, which lists the first ``ERROR_LIMIT``.

Nothing here names a command or an option. A value the caller gave (the school a file
is from) is checked as :class:`InvalidGiven`, and a row that contradicts it is marked
with what it contradicts (``RowProblem.given``): the CLI adds its option's name, the
desk would add its own words.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TextIO

from pydantic import TypeAdapter, ValidationError

from machines import Email, InvalidInput, OneLine
from machines.absence import END_OF_DAY, MORNING, HolidayPeriod, parse_period
from persistence.absence import (
    ALL_SCHOOLS,
    DEFAULT_COORDINATOR_NAME,
    Registration,
    SchoolEntry,
    TeacherEntry,
)

__all__ = [
    "CALENDAR_COLUMNS",
    "ERROR_LIMIT",
    "REGISTRATION_COLUMNS",
    "SCHOOL_COLUMNS",
    "SCHOOL_OPTIONAL",
    "InvalidGiven",
    "RefusedFile",
    "RowProblem",
    "read_calendar",
    "read_registrations",
    "read_schools",
]

REGISTRATION_COLUMNS = ("pupil_ref", "school", "grade", "date", "period", "code")
CALENDAR_COLUMNS = ("school", "first_day", "last_day")
SCHOOL_COLUMNS = ("school", "name", "leader_name", "leader_email", "coordinator_email")
SCHOOL_OPTIONAL = ("coordinator_name", "grade", "teacher_name", "teacher_email")

#: How many bad rows a refusal lists before "and N more".
ERROR_LIMIT = 20
#: Registrations are handed on in chunks of this many rows: persistence writes one while
#: the next is read, and a file of millions is never in memory at once.
CHUNK = 50_000

# ``\Z``, not ``$`` (here and below): ``$`` also matches before a final line break.
_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}\Z")
# As strict as the case file's Pseudonym: ten digits anywhere may be a CPR number.
_CPR = re.compile(r"\d{6}-?\d{4}")
_SCHOOL = re.compile(r"^[A-Za-z0-9æøåÆØÅ][A-Za-z0-9æøåÆØÅ_.-]{0,39}\Z")
_GRADES = {str(g): g for g in range(0, 11)}
_EMAIL: TypeAdapter[str] = TypeAdapter(Email)
_LINE: TypeAdapter[str] = TypeAdapter(OneLine)


# ---------------------------------------------------------------- errors


@dataclass(frozen=True)
class RowProblem:
    """Why the row on ``line`` of a file is bad. ``given`` names the caller's value the
    row contradicts (``"school"``), so the caller can say where that value came from."""

    line: int
    reason: str
    given: str | None = None


class RefusedFile(InvalidInput):
    """A file with bad rows: nothing of it is imported. ``problems`` are the first
    ``ERROR_LIMIT`` of ``count`` bad rows, in file order."""

    def __init__(self, name: str, problems: Sequence[RowProblem], count: int) -> None:
        self.name, self.problems, self.count = name, tuple(problems), count
        super().__init__(self.describe())

    def describe(self, given: Mapping[str, str] | None = None) -> str:
        """The one-line refusal; ``given`` maps a given value's name to the words that
        say where it came from (the CLI: ``{"school": "--school"}``)."""
        labels = given or {}

        def said(p: RowProblem) -> str:
            label = labels.get(p.given) if p.given is not None else None
            return f"line {p.line}: {p.reason}" + (f" ({label})" if label else "")

        listed = "; ".join(said(p) for p in self.problems)
        more = self.count - len(self.problems)
        listed += f"; and {more} more" if more else ""
        rows = "1 bad row" if self.count == 1 else f"{self.count} bad rows"
        return (
            f"{self.name}: {rows}, nothing imported — {listed}; "
            "correct the file and import it again"
        )


class InvalidGiven(InvalidInput):
    """A value the caller gave with the file (not one in it) is bad; ``given`` names it."""

    def __init__(self, given: str, reason: str) -> None:
        self.given = given
        super().__init__(reason)


class _Problems:
    def __init__(self, name: str) -> None:
        self.name = name
        self.listed: list[RowProblem] = []
        self.count = 0

    def add(self, line: int, reason: str, given: str | None = None) -> None:
        self.count += 1
        if len(self.listed) < ERROR_LIMIT:
            self.listed.append(RowProblem(line, reason, given))

    def raise_if_any(self) -> None:
        if self.count:
            raise RefusedFile(self.name, self.listed, self.count)


# ---------------------------------------------------------------- reading


class _Counted:
    """Feeds lines to ``csv.reader`` and counts the characters read, for a progress bar."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.chars = 0

    def __iter__(self) -> Iterator[str]:
        for line in self.stream:
            self.chars += len(line)
            yield line


@dataclass
class _Table:
    """A CSV file after its header: the rows, the column positions, the characters read."""

    name: str
    reader: Any  # csv.reader: an iterator of field lists with a line_num
    positions: dict[str, int]
    counted: _Counted

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(file line number, fields) for every non-blank row; decoding problems and
        broken quoting end the file with one error."""
        reader, name = self.reader, self.name
        try:
            for fields in reader:
                if fields and any(f.strip() for f in fields):
                    yield reader.line_num + 1, fields  # + 1: the header was read separately
        except UnicodeDecodeError:
            raise InvalidInput(
                f"{name} is not UTF-8 text (near line {reader.line_num + 2}); "
                "save it as CSV UTF-8 and import again"
            ) from None
        except csv.Error as exc:
            raise InvalidInput(
                f"{name}: line {reader.line_num + 1}: {exc}; correct the file and import it again"
            ) from None


def _open(
    stream: TextIO, name: str, required: Sequence[str], optional: Sequence[str] = ()
) -> _Table:
    """Read and check the header (``;`` or ``,`` separated, whichever the header uses)."""
    try:
        header = stream.readline()
    except UnicodeDecodeError:
        raise InvalidInput(
            f"{name} is not UTF-8 text; save it as CSV UTF-8 and import again"
        ) from None
    header = header.removeprefix("\ufeff")  # a byte-order mark read as text
    if not header.strip():
        raise InvalidInput(
            f"{name} is empty; the first line must be the header: {','.join(required)}"
        )
    delimiter = ";" if header.count(";") > header.count(",") else ","
    columns = [c.strip().lower() for c in next(csv.reader([header], delimiter=delimiter))]
    missing = [c for c in required if c not in columns]
    if missing:
        raise InvalidInput(
            f"{name}: the header lacks {', '.join(missing)}; the first line must name the "
            f"columns {','.join(required)}"
            + (f" (optional: {','.join(optional)})" if optional else "")
        )
    positions = {c: columns.index(c) for c in (*required, *optional) if c in columns}
    counted = _Counted(stream)
    counted.chars = len(header)
    return _Table(name, csv.reader(counted, delimiter=delimiter, strict=True), positions, counted)


def _parse_day(text: str) -> date:
    if len(text) != 10 or text[4] != "-" or text[7] != "-":
        raise ValueError
    day = date.fromisoformat(text)
    if not 2000 <= day.year <= 2100:
        raise ValueError
    return day


def _check_ref(ref: str) -> str | None:
    if _CPR.search(ref):
        # Not a digit of it is repeated: the message goes to a terminal and maybe a log.
        return "pupil_ref looks like a CPR number; use the pseudonymous pupil reference"
    if not _KEY.match(ref):
        return (
            # Not echoed either: what is there instead of a reference may be a name.
            "pupil_ref is not a reference (lower-case letters, digits, '-' and '_', at most "
            "40); use the pseudonymous pupil reference"
        )
    return None


def _check_school(code: str) -> str | None:
    if not _SCHOOL.match(code):
        return (
            f"school {code!r} is not a school code (letters, digits, '.', '-' and '_', at most 40)"
        )
    return None


# ---------------------------------------------------------------- registrations


def read_registrations(
    stream: TextIO,
    *,
    name: str = "the file",
    school: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Iterator[list[Registration]]:
    """``pupil_ref,school,grade,date,period,code`` as chunks of checked registrations.

    ``school`` (given by the caller) is the school the file is from: the ``school``
    column may then be left out or empty, and a row naming another school is bad. The
    header is read now (a bad one raises here); the rows as the chunks are taken. Once a
    bad row is found no further chunk is given, and when the file has been read the
    iterator raises :class:`RefusedFile` listing every bad row — so a writer consuming
    it in a transaction rolls back. ``progress`` gets the characters read so far.
    """
    if school is not None and (problem := _check_school(school)):
        raise InvalidGiven("school", problem)
    required = [c for c in REGISTRATION_COLUMNS if not (c == "school" and school)]
    table = _open(stream, name, required, ["school"] if school else [])
    return _registrations(table, school, progress)


def _registrations(
    table: _Table, school: str | None, progress: Callable[[int], None] | None
) -> Iterator[list[Registration]]:
    pos = table.positions
    i_ref, i_grade, i_date, i_period, i_code = (
        pos["pupil_ref"],
        pos["grade"],
        pos["date"],
        pos["period"],
        pos["code"],
    )
    i_school = pos.get("school")
    width = max(pos.values()) + 1
    problems = _Problems(table.name)
    # Caches of what was checked already: a file repeats its pupils, days and periods.
    days: dict[str, int] = {}
    periods: dict[str, int] = {"morning": MORNING, "end_of_day": END_OF_DAY}
    refs: set[str] = set()
    codes_ok: set[str] = set()
    chunk: list[Registration] = []
    for line, fields in table.rows():
        if len(fields) < width:
            problems.add(line, f"{len(fields)} fields, expected {len(pos)} or more")
            continue
        ref = fields[i_ref].strip()
        if ref not in refs:
            problem = _check_ref(ref)
            if problem:
                problems.add(line, problem)
                continue
            refs.add(ref)
        code_of_school = fields[i_school].strip() if i_school is not None else ""
        if school:
            if not code_of_school:
                code_of_school = school
            elif code_of_school != school:
                problems.add(line, f"school {code_of_school!r} is not {school!r}", "school")
                continue
        if code_of_school not in codes_ok:
            problem = _check_school(code_of_school) if code_of_school else "school is empty"
            if problem:
                problems.add(line, problem)
                continue
            codes_ok.add(code_of_school)
        grade = _GRADES.get(fields[i_grade].strip())
        if grade is None:
            problems.add(line, f"grade {fields[i_grade].strip()!r} is not 0–10")
            continue
        raw_day = fields[i_date].strip()
        day = days.get(raw_day)
        if day is None:
            try:
                day = _parse_day(raw_day).toordinal()
            except ValueError:
                problems.add(line, f"date {raw_day!r} is not a date (YYYY-MM-DD)")
                continue
            days[raw_day] = day
        raw_period = fields[i_period].strip()
        period = periods.get(raw_period)
        if period is None:
            try:
                period = parse_period(raw_period)
            except ValueError as exc:
                problems.add(line, str(exc))
                continue
            periods[raw_period] = period
        code = fields[i_code].strip().upper()
        if len(code) != 1 or code not in "SLUFT":
            problems.add(line, f"code {fields[i_code].strip()!r} is not one of S, L, U, F, T")
            continue
        if problems.count:
            continue  # keep reading to report every bad row, but hand on no more
        chunk.append((ref, code_of_school, grade, day, period, code))
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
            if progress is not None:
                progress(table.counted.chars)
    problems.raise_if_any()
    if chunk:
        yield chunk
    if progress is not None:
        progress(table.counted.chars)


# ---------------------------------------------------------------- holiday periods


def read_calendar(stream: TextIO, *, name: str = "the file") -> dict[str, list[HolidayPeriod]]:
    """``school,first_day,last_day[,name]``: each school's holiday periods, both days
    included; school ``*`` for every school. Raises :class:`RefusedFile` for bad rows."""
    table = _open(stream, name, CALENDAR_COLUMNS, ["name"])
    pos = table.positions
    problems = _Problems(name)
    periods: dict[str, list[HolidayPeriod]] = {}
    width = max(pos.values()) + 1
    for line, fields in table.rows():
        if len(fields) < width:
            problems.add(line, f"{len(fields)} fields, expected {len(pos)}")
            continue
        school = fields[pos["school"]].strip()
        if school != ALL_SCHOOLS and (problem := _check_school(school)):
            problems.add(line, problem)
            continue
        try:
            first = _parse_day(fields[pos["first_day"]].strip())
            last = _parse_day(fields[pos["last_day"]].strip())
        except ValueError:
            problems.add(line, "first_day and last_day must be dates (YYYY-MM-DD)")
            continue
        if last < first:
            problems.add(line, f"last_day {last} is before first_day {first}")
            continue
        if (last - first).days > 366:
            problems.add(line, "a holiday period longer than a year is not a holiday period")
            continue
        label = fields[pos["name"]].strip() if "name" in pos and len(fields) > pos["name"] else ""
        if any(ch in label for ch in "\r\n\x00") or len(label) > 200:
            problems.add(line, "name must be one line of at most 200 characters")
            continue
        periods.setdefault(school, []).append(HolidayPeriod(first, last, label))
    problems.raise_if_any()
    return periods


# ---------------------------------------------------------------- school directory


def _valid(adapter: TypeAdapter[str], value: str, what: str, limit: int = 200) -> str:
    try:
        result = adapter.validate_python(value)
    except ValidationError as exc:
        raise ValueError(
            f"{what}: {str(exc.errors()[0]['msg']).removeprefix('Value error, ')}"
        ) from None
    if not result or len(result) > limit:
        raise ValueError(f"{what} must be 1–{limit} characters")
    return result


def read_schools(stream: TextIO, *, name: str = "the file") -> list[SchoolEntry]:
    """``school,name,leader_name,leader_email,coordinator_email``, optionally
    ``coordinator_name`` and a teacher per grade (``grade,teacher_name,teacher_email``;
    one row per grade, the school's columns repeated). Raises :class:`RefusedFile`."""
    table = _open(stream, name, SCHOOL_COLUMNS, SCHOOL_OPTIONAL)
    pos = table.positions
    problems = _Problems(name)
    schools: dict[str, dict[str, str]] = {}
    teachers: dict[str, dict[int, TeacherEntry]] = {}

    def cell(fields: list[str], column: str) -> str:
        i = pos.get(column)
        return fields[i].strip() if i is not None and i < len(fields) else ""

    for line, fields in table.rows():
        code = cell(fields, "school")
        try:
            if problem := _check_school(code):
                raise ValueError(problem)
            school = {
                "name": _valid(_LINE, cell(fields, "name"), "name"),
                "leader_name": _valid(_LINE, cell(fields, "leader_name"), "leader_name"),
                "leader_email": _valid(_EMAIL, cell(fields, "leader_email"), "leader_email", 320),
                "coordinator_name": _valid(
                    _LINE,
                    cell(fields, "coordinator_name") or DEFAULT_COORDINATOR_NAME,
                    "coordinator_name",
                ),
                "coordinator_email": _valid(
                    _EMAIL, cell(fields, "coordinator_email"), "coordinator_email", 320
                ),
            }
            if code in schools and schools[code] != school:
                raise ValueError(f"school {code!r} is described differently on an earlier line")
            raw_grade = cell(fields, "grade")
            if raw_grade:
                grade = _GRADES.get(raw_grade)
                if grade is None:
                    raise ValueError(f"grade {raw_grade!r} is not 0–10")
                if grade in teachers.get(code, {}):
                    raise ValueError(f"grade {grade} of {code!r} has a teacher on an earlier line")
                teacher_email = cell(fields, "teacher_email")
                teachers.setdefault(code, {})[grade] = TeacherEntry(
                    grade=grade,
                    name=_valid(_LINE, cell(fields, "teacher_name"), "teacher_name"),
                    email=_valid(_EMAIL, teacher_email, "teacher_email", 320)
                    if teacher_email
                    else None,
                )
            elif cell(fields, "teacher_name") or cell(fields, "teacher_email"):
                raise ValueError("a teacher needs the grade they teach (column grade)")
        except ValueError as exc:
            problems.add(line, str(exc))
            continue
        schools[code] = school
    problems.raise_if_any()
    return [
        SchoolEntry(code=code, **values, teachers=tuple(teachers.get(code, {}).values()))
        for code, values in schools.items()
    ]
