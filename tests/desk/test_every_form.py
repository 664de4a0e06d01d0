"""Every process's case file and every event with an input get a desk form: a new process
needs no desk code, so its forms are checked here (built, expanded, read back empty)."""

from __future__ import annotations

import pytest

from desk import forms
from machines import PROCESSES

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
