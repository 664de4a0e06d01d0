"""Every process's case file and every event with an input get a desk form: a new process
needs no desk code, so its forms are checked here (built, expanded, read back empty)."""

from __future__ import annotations

import typing
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from desk import forms
from machines import PROCESSES, required_by_rule

MODELS = [
    (process.name, "case file", process.case_file)
    for process in PROCESSES.values()
    if process.case_file is not None
] + [
    (process.name, event.name, event.input)
    for process in PROCESSES.values()
    for event in process.events
    if not event.is_timer and event.input is not None
]


@pytest.mark.parametrize(
    ("process", "what", "model"), MODELS, ids=[f"{p}-{w}" for p, w, _ in MODELS]
)
def test_the_form_builds_and_reads_back(process: str, what: str, model: type) -> None:
    ctx = forms.Context(PROCESSES[process], None)
    widgets = forms.expand(forms.build(model, ctx), ctx, {})
    # Every field is labelled (an event without input is a form with only its button).
    assert all(w.label for w in forms.flat(widgets)), f"{process} {what}"
    collected = forms.collect(widgets, {})
    assert isinstance(collected, dict)


@pytest.mark.parametrize(
    ("process", "what", "model"), MODELS, ids=[f"{p}-{w}" for p, w, _ in MODELS]
)
def test_every_required_field_has_a_place_on_the_form(process: str, what: str, model: type) -> None:
    # A field the desk cannot offer is left out of the form: if the model requires it, the
    # event could never be fired from the desk (the consultation's proposed slots once).
    ctx = forms.Context(PROCESSES[process], None)
    offered = {w.name for w in forms.build(model, ctx)}
    required = {name for name, info in model.model_fields.items() if info.is_required()}
    assert required - offered == set(), f"{process} {what}"


@pytest.mark.parametrize(
    ("process", "what", "model"), MODELS, ids=[f"{p}-{w}" for p, w, _ in MODELS]
)
def test_every_choice_is_offered_by_its_danish_name(process: str, what: str, model: type) -> None:
    ctx = forms.Context(PROCESSES[process], None)
    widgets = forms.flat(forms.expand(forms.build(model, ctx), ctx, {}))
    offered = [choice for w in widgets if w.kind in ("radio", "checkboxes") for choice in w.choices]
    # The value is posted as the key; what the user reads is the process's Danish name.
    raw = [value for value, text in offered if text == value or text == value.replace("_", " ")]
    assert not raw, f"{process} {what}: offered by their raw value: {raw}"


#: Lists whose least number of rows a validator checks, not the type (so the desk cannot
#: mark the rows required): a learning group's 3–4 children (SETTINGS, with its message).
VALIDATED_ROWS = {("learning_group", "LearningGroupCaseFile.children")}


def _needed(model: type[BaseModel]) -> set[str]:
    """The fields pydantic cannot validate the model without: its answer to nothing."""
    try:
        model.model_validate({})
    except ValidationError as exc:
        return {str(e["loc"][0]) for e in exc.errors() if e["type"] == "missing"}
    return set()


def _least_rows(model: type[BaseModel], field: str) -> int | None:
    """How many rows a list field needs, as pydantic answers an empty list; None when a
    validator (not the type) refuses it."""
    try:
        model.model_validate({field: []})
    except ValidationError as exc:
        for e in exc.errors():
            if e["loc"] == (field,):
                return int(e["ctx"]["min_length"]) if e["type"] == "too_short" else None
    return 0


def _nested(annotation: Any) -> Any:
    """The model of a group, or of a list's rows; else the bare type."""
    bare = forms._unwrap(annotation)[0]
    if typing.get_origin(bare) is list:
        return forms._unwrap(typing.get_args(bare)[0])[0]
    return bare


def _misjudged(
    model: type[BaseModel], widgets: list[forms.Widget], validated: set[str]
) -> list[str]:
    """Widgets whose "required" differs from the model's (nested models and rows too)."""
    needed, wrong = _needed(model), []
    for w in widgets:
        field = w.name.rsplit(".", 1)[-1]
        info = model.model_fields[field]
        where = f"{model.__name__}.{field}"
        # A checkbox always posts a value (unticked: False), so it is never "to fill in".
        # A field a rule refuses empty is to be filled in, whatever the model lets pass.
        asked = field in needed or required_by_rule(info.metadata)
        expected = asked and w.kind != "checkbox"
        if w.required != expected:
            wrong.append(f"{w.name}: required={w.required}, the model: {expected}")
        inner = _nested(info.annotation)
        rows = [c for c in w.children if c.name.rsplit(".", 1)[-1].isdigit()]
        if rows:
            least = _least_rows(model, field)
            if least is None:
                validated.add(where)
                continue
            marked = [c.required for c in rows]
            if marked != [i < least for i in range(len(rows))] or len(rows) < least:
                wrong.append(f"{w.name}: rows required {marked}, the model needs {least}")
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                for row in rows:
                    wrong += _misjudged(inner, row.children, validated)
        elif w.kind == "group" and isinstance(inner, type) and issubclass(inner, BaseModel):
            wrong += _misjudged(inner, w.children, validated)
    return wrong


def test_a_field_is_marked_required_exactly_when_the_model_cannot_do_without_it() -> None:
    wrong: list[str] = []
    validated: set[tuple[str, str]] = set()
    for process, what, model in MODELS:
        ctx = forms.Context(PROCESSES[process], None)
        widgets = forms.expand(forms.build(model, ctx), ctx, {})
        found: set[str] = set()
        wrong += [f"{process} {what}: {w}" for w in _misjudged(model, widgets, found)]
        validated |= {(process, where) for where in found}
    assert not wrong
    assert validated == VALIDATED_ROWS
