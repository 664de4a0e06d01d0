"""Every time and day a person gives lies in the years forloeb knows, and every text fits
the column it lands in: refused by the input model, on SQLite and PostgreSQL alike, never
an OverflowError or a database error later."""

from __future__ import annotations

import typing
from datetime import date
from typing import Any

import pytest
from pydantic import AwareDatetime, BaseModel, ValidationError

from machines import PROCESSES
from machines.consultation import MonthlyRecordIn
from machines.inputs import _sane_day, _sane_time
from machines.learning_group import NoteIn
from machines.recurring import MoveOccurrenceIn, OccurrenceIn, PlanSeriesIn
from persistence.models import MeetingRow

LATE = "9999-12-31T23:59:00+14:00"
EARLY = "0001-01-01T00:00:00+14:00"
FINE = "2027-01-18T10:00:00+01:00"


def _models() -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    for process in PROCESSES.values():
        found.append(process.case_file)
        found += [e.input for e in process.events if e.input is not None]
    return found


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
