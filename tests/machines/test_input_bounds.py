"""Every time and day a person gives lies in the years forloeb knows, and every text fits
the column it lands in: refused by the input model, on SQLite and PostgreSQL alike, never
an OverflowError or a database error later."""

from __future__ import annotations

import typing
from datetime import date
from typing import Annotated, Any

import pytest
from pydantic import AwareDatetime, BaseModel, TypeAdapter, ValidationError
from sqlalchemy import String

from machines import PROCESSES
from machines.consultation import MonthlyRecordIn
from machines.inputs import _sane_day, _sane_time
from machines.learning_group import NoteIn
from machines.recurring import MoveOccurrenceIn, OccurrenceIn, PlanSeriesIn
from persistence import schema_metadata
from persistence.models import MeetingRow

LATE = "9999-12-31T23:59:00+14:00"
EARLY = "0001-01-01T00:00:00+14:00"
FINE = "2027-01-18T10:00:00+01:00"


def _models() -> list[type[BaseModel]]:
    """Every input model of every process: its case file, each event's input, and the models
    inside them (a follow-up meeting in a conclusion, a person added when convening)."""
    found: list[type[BaseModel]] = []
    todo: list[type[BaseModel]] = []
    for process in PROCESSES.values():
        todo.append(process.case_file)
        todo += [e.input for e in process.events if e.input is not None]
    while todo:
        model = todo.pop(0)
        if model in found:
            continue
        found.append(model)
        todo += [m for f in model.model_fields.values() for m in _models_in(f.annotation)]
    return found


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _has_bare_time(annotation: Any, metadata: list[Any]) -> bool:
    """A datetime or date without the bounded types' check (``AwareTime``, ``Day``)."""
    if typing.get_origin(annotation) is typing.Annotated:
        inner, *more = typing.get_args(annotation)
        return _has_bare_time(inner, list(more))
    timelike = annotation is AwareDatetime or (
        isinstance(annotation, type) and issubclass(annotation, date)
    )
    if timelike:  # datetime and pydantic's AwareDatetime too
        return not any(getattr(m, "func", None) in (_sane_time, _sane_day) for m in metadata)
    return any(_has_bare_time(arg, []) for arg in typing.get_args(annotation))


@pytest.mark.parametrize("model", _models(), ids=lambda m: m.__name__)
def test_no_input_model_takes_an_unbounded_time(model: type[BaseModel]) -> None:
    bare = [n for n, f in model.model_fields.items() if _has_bare_time(f.annotation, f.metadata)]
    assert bare == [], f"{model.__name__}: {bare} take any year; use AwareTime or Day"


@pytest.mark.parametrize("moment", [LATE, EARLY])
def test_session_times_outside_the_years_are_refused(moment: str) -> None:
    with pytest.raises(ValidationError, match="2000"):
        NoteIn.model_validate({"session": moment, "child": "barn-a1", "wheel": {}})
    for model in (OccurrenceIn, MonthlyRecordIn):
        with pytest.raises(ValidationError, match="2000"):
            model.model_validate({"session": moment})
    with pytest.raises(ValidationError, match="2000"):
        MoveOccurrenceIn.model_validate({"session": FINE, "start": moment})
    with pytest.raises(ValidationError, match="2000"):
        PlanSeriesIn.model_validate({"first": moment, "weeks": 4})


def test_a_series_ends_and_closes_within_the_years_and_its_place_fits_the_column() -> None:
    plan = {"first": FINE, "weeks": 4}
    with pytest.raises(ValidationError, match="2000"):
        PlanSeriesIn.model_validate({"first": FINE, "until": "9999-12-31"})
    with pytest.raises(ValidationError, match="2000"):
        PlanSeriesIn.model_validate({**plan, "closure_days": ["0001-01-01"]})
    column = MeetingRow.__table__.c.location.type.length
    with pytest.raises(ValidationError):
        PlanSeriesIn.model_validate({**plan, "location": "x" * (column + 1)})
    assert PlanSeriesIn.model_validate({**plan, "location": "x" * column}).location


# ---------------------------------------------------------------- lengths and columns

#: The tables an input's text lands in (persistence/store.py): the case, its people, its
#: meetings and its children's memberships. History, outbox and the rest hold JSON or what
#: forloeb makes itself.
CASE_TABLES = ("cases", "participants", "meetings", "memberships")
#: A field lands in the column of its own name; these by another name.
ALIASES = {"child": ("memberships", "member"), "children": ("memberships", "member")}


def _column_length(field: str) -> int | None:
    """The shortest length-limited column ``field`` lands in, if any."""
    tables = schema_metadata().tables
    columns = [tables[t].c[field] for t in CASE_TABLES if field in tables[t].c]
    if field in ALIASES:
        table, column = ALIASES[field]
        columns.append(tables[table].c[column])
    lengths = [c.type.length for c in columns if isinstance(c.type, String) and c.type.length]
    return min(lengths, default=None)


def _landing_fields() -> list[tuple[type[BaseModel], str, int]]:
    return [
        (model, name, length)
        for model in _models()
        for name in model.model_fields
        if (length := _column_length(name)) is not None
    ]


def _longer_than(name: str, length: int, annotation: Any) -> Any:
    """A value of the field's kind one character longer than the column."""
    text = "a" * (length + 1)
    if name == "email":
        text = "a" * (length + 1 - len("@example.dk")) + "@example.dk"
    is_list = any(typing.get_origin(a) is list for a in (annotation, *typing.get_args(annotation)))
    return [text] if is_list else text


@pytest.mark.parametrize(
    ("model", "name", "length"),
    _landing_fields(),
    ids=lambda v: v.__name__ if isinstance(v, type) else str(v),
)
def test_no_input_field_holds_more_than_its_column(
    model: type[BaseModel], name: str, length: int
) -> None:
    # SQLite stores a text of any length in a VARCHAR(200); PostgreSQL refuses it with a
    # DataError after the event was decided (exit 1, the SQL in Prefect). The model refuses.
    info = model.model_fields[name]
    annotation = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    with pytest.raises(ValidationError):
        adapter.validate_python(_longer_than(name, length, info.annotation))


def test_the_fields_that_land_in_columns_are_found() -> None:
    # The walk above maps fields to columns by name: the known ones must be among them.
    found = {(m.__name__, n) for m, n, _ in _landing_fields()}
    assert {
        ("PlanSeriesIn", "location"),
        ("MeetingAt", "location"),
        ("FollowUpIn", "location"),
        ("AddParticipantIn", "name"),
        ("ChangePedagogueIn", "email"),
        ("CoveringWorkerIn", "name"),
        ("LearningGroupCaseFile", "children"),
        ("NoteIn", "child"),
        ("SamraadCaseFile", "title"),
    } <= found
