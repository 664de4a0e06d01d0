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
def test_every_choice_is_offered_by_its_danish_name(process: str, what: str, model: type) -> None:
    ctx = forms.Context(PROCESSES[process], None)
    widgets = forms.flat(forms.expand(forms.build(model, ctx), ctx, {}))
    offered = [choice for w in widgets if w.kind in ("radio", "checkboxes") for choice in w.choices]
    # The value is posted as the key; what the user reads is the process's Danish name.
    raw = [value for value, text in offered if text == value or text == value.replace("_", " ")]
    assert not raw, f"{process} {what}: offered by their raw value: {raw}"
