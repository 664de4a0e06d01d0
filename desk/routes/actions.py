"""Actions: one form per event the person may fire now, and opening a case.

A posted form is checked against the event's input model first, then fired on the case
store: one decision in one transaction, as the CLI's ``case-event`` flow makes it. A
refusal comes back on the same form, in Danish, with nothing written. The person gets
their answer when the decision is stored; its ``case-event`` flow run is recorded for ops
just after (``desk.runner``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from flows import logs
from flows.actions import open_with
from flows.actions import outcome as action_outcome
from machines import (
    PROCESSES,
    CaseSnapshot,
    ForloebError,
    InvalidInput,
    Process,
    get_process,
)
from persistence import access_log, validate_case_file

from .. import forms
from ..app import Desk, desk_of
from ..messages import input_error, refusal
from ..views import events_now
from .cases import readable_case

router = APIRouter()


def _form_data(raw: Any) -> forms.FormData:
    return {key: [str(v) for v in raw.getlist(key)] for key in raw}


def _errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors():
        path = ".".join(str(part) for part in error["loc"])
        errors.setdefault(path, input_error(error))
    return errors


def _check(model: type[BaseModel], payload: dict[str, Any]) -> dict[str, str]:
    try:
        model.model_validate(payload)
    except ValidationError as exc:
        return _errors(exc)
    return {}


#: A form's second button: the form again as filled in, with ``forms.BLANK_ROWS`` more
#: blank rows in each list (participants, an action plan), nothing stored; no script.
MORE_ROWS = "flere"


def _event_or_404(case: CaseSnapshot, email: str, event: str, *, sent: bool = False) -> Process:
    """The case's process, if this person may fire ``event`` on it now; 404 if not.

    A form ``sent`` was opened when the event was offered: if the case has moved on since
    (another person acted first), the rules refuse it in Danish on the same form, as they
    do a race; 404 only for an event this person may never fire."""
    process = get_process(case.process)
    roles = case.roles_of(email)
    spec = process.event(event)
    if sent and spec is not None and spec.roles & roles:
        return process
    if event not in events_now(process, case.state, roles):
        raise HTTPException(404)  # not an event this person may fire on this case now
    return process


def _render_action(
    desk: Desk,
    request: Request,
    case: CaseSnapshot,
    process: Process,
    event: str,
    form: forms.FormData,
    errors: dict[str, str] | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> Response:
    spec = process.event(event)
    assert spec is not None
    ctx = forms.Context(process, case)
    widgets = forms.expand(forms.build(spec.input, ctx), ctx, form)
    loose = forms.place_errors(widgets, errors or {})
    return desk.render(
        request,
        "action.html",
        f"{process.event_title(event)}, sag {case.id}",
        case_id=case.id,
        event=event,
        event_title=process.event_title(event),
        doc=spec.doc,
        state_title=process.state_title(case.state),
        widgets=widgets,
        problem=problem,
        loose=loose,
        invalid=[w for w in forms.flat(widgets) if w.error],
        more_rows=forms.has_rows(widgets),
        status_code=status_code,
    )


@router.get("/sager/{case_id}/handling/{event}")
def action_form(request: Request, case_id: int, event: str) -> Response:
    desk = desk_of(request)
    email = desk.user(request)
    case, _reader = readable_case(desk, email, case_id)
    process = _event_or_404(case, email, event)
    access_log.record(desk.store.engine, email, case_id, "case", "desk", desk.now())
    return _render_action(desk, request, case, process, event, {})


@router.post("/sager/{case_id}/handling/{event}")
async def fire(request: Request, case_id: int, event: str) -> Response:
    desk = desk_of(request)
    email = desk.user(request)
    form = _form_data(await request.form())
    case, _ = await asyncio.to_thread(readable_case, desk, email, case_id)
    process = _event_or_404(case, email, event, sent=True)
    spec = process.event(event)
    assert spec is not None
    ctx = forms.Context(process, case)
    if form.get(MORE_ROWS):  # the same form again, as filled in, with more blank rows
        return _render_action(desk, request, case, process, event, form)
    payload = forms.collect(forms.expand(forms.build(spec.input, ctx), ctx, form), form)

    def bad(errors: dict[str, str] | None, problem: str | None, status: int) -> Response:
        return _render_action(desk, request, case, process, event, form, errors, problem, status)

    errors = _check(spec.input, payload)
    if errors:
        return bad(errors, "Formularen har fejl. Ret felterne markeret herunder.", 422)
    now = desk.now()
    try:  # one decision in one transaction: stored, or refused with nothing written
        stored = await asyncio.to_thread(desk.store.fire, case_id, event, email, payload, now)
    except ForloebError as exc:  # a rule says no, another person acted first, the case changed
        return bad(None, refusal(exc, process), 422 if isinstance(exc, InvalidInput) else 409)
    except Exception as exc:  # its text may quote the input: forloeb's log only, as a flow
        logs.record_unexpected(exc, f"case {case_id} on the desk")
        return bad(None, refusal(ForloebError("unexpected"), process), 500)
    outcome = action_outcome(stored)
    tags = [f"process:{case.process}", f"case:{case_id}", f"state:{outcome.dest}"]
    desk.runner.record(outcome, *tags)  # ops' record of it, after the answer (desk.runner)
    return RedirectResponse(f"/sager/{case_id}?udfoert={event}", status_code=303)


# ------------------------------------------------------------------ open a case


@router.get("/ny")
def choose_process(request: Request) -> Response:
    desk = desk_of(request)
    desk.user(request)
    return desk.render(
        request,
        "open_choose.html",
        "Opret en sag",
        processes=[(p.name, p.title, p.doc) for p in PROCESSES.values()],
    )


def _open_widgets(process: Process, form: forms.FormData) -> list[forms.Widget]:
    ctx = forms.Context(process, None)
    return forms.expand(forms.build(process.case_file, ctx), ctx, form)


@router.get("/ny/{process_name}")
def open_form(request: Request, process_name: str) -> Response:
    desk = desk_of(request)
    desk.user(request)
    if process_name not in PROCESSES:
        raise HTTPException(404)
    process = PROCESSES[process_name]
    return desk.render(
        request,
        "open.html",
        f"Opret: {process.title}",
        process=process,
        widgets=_open_widgets(process, {}),
        problem=None,
        invalid=[],
    )


@router.post("/ny/{process_name}")
async def open_case(request: Request, process_name: str) -> Response:
    desk = desk_of(request)
    email = desk.user(request)
    if process_name not in PROCESSES:
        raise HTTPException(404)
    process = PROCESSES[process_name]
    form = _form_data(await request.form())
    widgets = _open_widgets(process, form)
    if form.get(MORE_ROWS):  # the same form again, as filled in, with more blank rows
        return desk.render(
            request,
            "open.html",
            f"Opret: {process.title}",
            process=process,
            widgets=widgets,
            problem=None,
            invalid=[],
        )
    payload = forms.collect(widgets, form)

    def bad(errors: dict[str, str], problem: str, status: int) -> Response:
        again = _open_widgets(process, form)
        forms.place_errors(again, errors)
        return desk.render(
            request,
            "open.html",
            f"Opret: {process.title}",
            status,
            process=process,
            widgets=again,
            problem=problem,
            invalid=[w for w in forms.flat(again) if w.error],
        )

    errors = _check(process.case_file, payload)
    if errors:
        return bad(errors, "Formularen har fejl. Ret felterne markeret herunder.", 422)
    try:
        validate_case_file(process_name, payload)
    except ForloebError as exc:
        return bad({}, refusal(exc, process), 422)
    if not any((p.get("email") or "").lower() == email for p in payload.get("participants", [])):
        return bad({}, "Du skal selv stå som deltager på sagen for at kunne se den bagefter.", 422)
    now = desk.now()
    try:  # opened in one transaction, or refused with nothing written
        opened = await asyncio.to_thread(
            open_with, desk.store, process_name, payload, now, actor=email
        )
    except ForloebError as exc:
        return bad({}, refusal(exc, process), 422)
    except Exception as exc:  # its text may quote the case file: forloeb's log only
        logs.record_unexpected(exc, f"opening a {process_name} case on the desk")
        return bad({}, refusal(ForloebError("unexpected"), process), 500)
    tags = [f"process:{process_name}", f"case:{opened.case_id}", f"state:{opened.state}"]
    desk.runner.record(opened, *tags)  # ops' record of it, after the answer (desk.runner)
    return RedirectResponse(f"/sager/{opened.case_id}", status_code=303)
