"""What a person types as a key — a mapping's key, a participant's key, a child's reference,
a process name, a ``--set`` — is never repeated in a refusal: it may be a name or a CPR
number typed in the wrong place, and a refusal reaches the terminal, logs and Prefect's
state messages. A refusal counts what is wrong, or names what the definition or the case
itself holds. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from flows.cli._io import parse_sets
from machines import ForloebError, InvalidInput, get_engine, get_process
from machines.learning_group import NoteIn
from persistence import CaseStore, validate_case_file

from .cli_helpers import dump
from .conftest import LEADER, PPR, SAMRAAD_CASE, at, drive_to, notes, open_samraad
from .test_learning_group_rules import LEADER as GROUP_LEADER
from .test_learning_group_rules import PEDAGOGUE, open_group, running
from .test_room_meetings_rules import LEADER as ROOM_LEADER
from .test_room_meetings_rules import STAFF as ROOM_STAFF
from .test_room_meetings_rules import reading_room

#: Shaped like a key (lower-case, digits, '-'), so every model lets it through to the rules.
CPR = "010203-1234"
#: A child's name typed as a pseudonymous reference (a CPR number is refused before).
NAME = "ida-aeblegaard"
SESSION = "2027-01-18T10:00:00+01:00"
AFTER_SESSION = at("2027-01-18 11:00")


def _refusal(action: Callable[[], object]) -> str:
    with pytest.raises(ForloebError) as refused:
        action()
    return str(refused.value)


@pytest.mark.parametrize(
    ("event", "given"),
    [
        ("write_note", {"session": SESSION, "child": "barn-a1", "wheel": {CPR: ""}}),
        ("write_note", {"session": SESSION, "child": "barn-a1", "wheel": {"sprog": "x", CPR: 1}}),
    ],
)
def test_an_input_error_under_a_typed_mapping_key_does_not_name_the_key(
    event: str, given: dict[str, Any]
) -> None:
    said = _refusal(lambda: get_engine("learning_group").validate_input(event, given))
    assert "wheel." in said and CPR not in said


def test_an_input_error_names_the_fields_of_the_definition() -> None:
    given = {"notes": {"elev": ""}}
    said = _refusal(lambda: get_engine("samraad").validate_input("next_round", given))
    assert said.startswith("input for 'next_round': notes.(not repeated): ")
    case_file = {
        **SAMRAAD_CASE,
        "participants": [{"key": CPR, "role": "pupil", "name": "x", "email": "a@"}],
    }
    said = _refusal(lambda: validate_case_file("samraad", case_file))
    assert said.startswith("case file: participants.0.email: ") and CPR not in said


def test_a_wheel_area_is_a_key_so_a_name_or_a_sentence_is_refused_by_the_model() -> None:
    for typed in ("Ida Æblegaard", "x" * 100_000, "Sprog"):
        with pytest.raises(ValidationError):
            NoteIn.model_validate({"session": SESSION, "child": "barn-a1", "wheel": {typed: "x"}})
    assert NoteIn.model_validate({"session": SESSION, "child": "barn-a1", "wheel": {"sprog": "x"}})


def test_the_samraad_rules_count_the_keys_they_do_not_know(store: CaseStore, db_url: str) -> None:
    def case_in(state: str) -> int:
        case_id = open_samraad(store)
        drive_to(store, case_id, state)
        return case_id

    case_id = case_in("concern")
    before = dump(db_url)
    said = _refusal(
        lambda: store.fire(
            case_id,
            "add_participant",
            LEADER,
            {"key": "elev", "role": "teacher", "name": "Ny lærer"},
            at("2026-12-21 09:00"),
        )
    )
    assert "1 participant key(s) given already on the case" in said and "'elev'" not in said
    assert dump(db_url) == before

    case_id = case_in("scheduled")
    said = _refusal(
        lambda: store.fire(
            case_id, "start_meeting", PPR, {"present": ["elev", CPR]}, at("2027-01-04 09:00")
        )
    )
    assert said.endswith(
        "not invited to this meeting: 1 of the keys given; invited are: "
        "elev, laerer, leder, mor, ppr-i, ppr-r, soc"
    )

    case_id = case_in("round_1")
    said = _refusal(
        lambda: store.fire(
            case_id, "next_round", PPR, {"notes": {**notes(), CPR: "x"}}, at("2027-01-04 09:20")
        )
    )
    assert "notes for someone not present: 1 of the keys given; present are: elev" in said
    assert CPR not in said

    case_id = case_in("round_3")
    conclude = {
        "notes": notes(),
        "decisions": ["morning agreement"],
        "follow_up": {"start": "2027-02-01T09:00:00+01:00", "participants": ["elev", CPR]},
    }
    said = _refusal(
        lambda: store.fire(case_id, "conclude", LEADER, conclude, at("2027-01-04 10:20"))
    )
    assert said.endswith("follow-up participants not on the case: 1 of the keys given")

    case_id = case_in("concluded")
    plan = {"items": [{"owner": CPR, "action": "ring hjem", "due": "2027-01-08"}]}
    said = _refusal(
        lambda: store.fire(case_id, "send_action_plan", LEADER, plan, at("2027-01-05 12:00"))
    )
    assert said.endswith("action owners not on the case: 1 of the keys given")


def test_a_childs_reference_typed_is_not_repeated(store: CaseStore, db_url: str) -> None:
    group = running(store)
    room = reading_room(store)
    before = dump(db_url)
    refusals = [
        _refusal(
            lambda: store.fire(
                group,
                "write_note",
                PEDAGOGUE,
                {"session": SESSION, "child": NAME, "wheel": {"sprog": "x"}},
                AFTER_SESSION,
            )
        ),
        _refusal(
            lambda: store.fire(
                group,
                "remove_child",
                GROUP_LEADER,
                {"child": NAME, "reason": "flyttet"},
                AFTER_SESSION,
            )
        ),
        _refusal(
            lambda: store.fire(
                room, "remove_child", ROOM_LEADER, {"child": NAME}, at("2027-01-05 10:00")
            )
        ),
        _refusal(
            lambda: store.fire(
                room,
                "register_reading",
                ROOM_STAFF,
                {"children": ["barn-a1", NAME], "day": "2027-01-05"},
                at("2027-01-05 10:00"),
            )
        ),
        # In another group already (a database check, not a rule of the process).
        _refusal(lambda: open_group(store, children=["barn-a1", "barn-x1", "barn-x2"])),
    ]
    assert all("barn-a1" not in said.split(";")[0] for said in refusals), refusals
    assert all(NAME not in said for said in refusals), refusals
    assert f"a child given is already in case {group}" in refusals[-1]
    assert dump(db_url) == before


def test_a_process_name_a_set_and_a_case_files_key_typed_are_not_repeated() -> None:
    refusals = [
        _refusal(lambda: get_process(CPR)),
        _refusal(lambda: parse_sets(("child=barn-a1", CPR))),
        _refusal(lambda: parse_sets((f"{CPR}={'[' * 5000}",))),
        _refusal(lambda: parse_sets(("a=1", f"a.{CPR}=2"))),
        _refusal(
            lambda: validate_case_file(
                "samraad",
                {
                    **SAMRAAD_CASE,
                    "participants": [
                        {"key": CPR, "role": "pupil", "name": "x"},
                        {"key": CPR, "role": "parent", "name": "y"},
                    ],
                },
            )
        ),
    ]
    assert all(CPR not in said for said in refusals), refusals
    assert refusals[1] == "--set no. 2 is not key=value"
    assert "a participant key is used twice" in refusals[-1]
    with pytest.raises(InvalidInput, match="an unknown process; known processes: coaching"):
        get_process("bingo")


def test_a_time_or_month_typed_as_a_cpr_number_is_not_repeated() -> None:
    from flows.clock import parse_when
    from flows.rota import parse_month

    for refused in (
        _refusal(lambda: parse_when(CPR, "the time")),
        _refusal(lambda: parse_month(CPR)),
    ):
        assert CPR not in refused and "is not a" in refused
