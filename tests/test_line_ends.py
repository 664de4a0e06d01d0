"""A key, a school code and a mail address end where the text ends. Their patterns said
``$``, which also matches before a final line break: "elev\\n" was a participant's key,
"barn-a1\\n" a child, "sprog\\n" a wheel area, "a@b.dk\\n" an address fit for a header."""

from __future__ import annotations

import io
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from flows.absence_csv import InvalidGiven, read_registrations
from machines import InvalidInput
from machines.inputs import ParticipantIn
from machines.learning_group import NoteIn
from notifications._safety import check_address

SESSION = "2027-01-18T10:00:00+01:00"


PARTICIPANT = {"key": "elev", "role": "pupil", "name": "Ida"}
NOTE = {"session": SESSION, "child": "barn-a1", "wheel": {"sprog": "x"}}


@pytest.mark.parametrize(
    ("model", "fine", "broken"),
    [
        (ParticipantIn, PARTICIPANT, {"key": "elev\n"}),
        (NoteIn, NOTE, {"child": "barn-a1\n"}),
        (NoteIn, NOTE, {"wheel": {"sprog\n": "x"}}),
    ],
)
def test_a_key_with_a_final_line_break_is_refused(
    model: type[BaseModel], fine: dict[str, Any], broken: dict[str, Any]
) -> None:
    assert model.model_validate(fine)
    with pytest.raises(ValidationError, match="not a valid key"):
        model.model_validate({**fine, **broken})


def test_an_address_with_a_final_line_break_is_not_put_in_a_header() -> None:
    assert check_address("a@b.dk") == "a@b.dk"
    with pytest.raises(InvalidInput):
        check_address("a@b.dk\n")


def test_a_school_code_with_a_final_line_break_is_refused() -> None:
    with pytest.raises(InvalidGiven):
        read_registrations(io.StringIO("pupil_ref,grade,date,period,code\n"), school="s-1\n")
