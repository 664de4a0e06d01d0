"""*Mine sager*, a case, and the handover form: read only, each read in the access log."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from machines import (
    OPERATOR,
    PROCESSES,
    CaseSnapshot,
    ForloebError,
    Reader,
    form_for,
    get_process,
    may_read,
)
from persistence import access_log

from .. import views
from ..app import Desk, desk_of

router = APIRouter()


def reader_for(desk: Desk, email: str, case: CaseSnapshot | None = None) -> Reader:
    """A participant reads as themselves; an admin not on the case reads as the operator."""
    if case is not None and case.roles_of(email):
        return Reader(email)
    return OPERATOR if desk.is_admin(email) else Reader(email)


def readable_case(desk: Desk, email: str, case_id: int) -> tuple[CaseSnapshot, Reader]:
    """The case and how this person reads it; 404 when they may not (never 403)."""
    try:
        case = desk.store.snapshot(case_id)
    except ForloebError:
        raise HTTPException(404) from None
    reader = reader_for(desk, email, case)
    if not may_read(case, reader):
        raise HTTPException(404)
    return case, reader


@router.get("/sager")
def my_cases(
    request: Request,
    proces: str | None = None,
    tilstand: str | None = None,
    side: int = 1,
) -> Response:
    desk = desk_of(request)
    email = desk.user(request)
    reader = OPERATOR if desk.is_admin(email) else Reader(email)
    process = proces if proces in PROCESSES else None
    state = tilstand or None
    now = desk.now()
    lines = views.my_cases(desk.store.engine, reader, now, desk.calendar, process, state)
    access_log.record(desk.store.engine, email, None, "list", "desk", now)
    pages = max(1, -(-len(lines) // views.PAGE_SIZE))
    side = min(max(side, 1), pages)
    shown = lines[(side - 1) * views.PAGE_SIZE : side * views.PAGE_SIZE]
    groups = [
        (key, title, [line for line in shown if line.group == key]) for key, title in views.GROUPS
    ]
    states = sorted(
        {
            (s, p.state_title(s))
            for p in PROCESSES.values()
            for s in p.states
            if process is None or p.name == process
        },
        key=lambda item: item[1],
    )
    return desk.render(
        request,
        "cases.html",
        "Alle sager" if reader.is_operator else "Mine sager",
        operator=reader.is_operator,
        groups=groups,
        total=len(lines),
        page=side,
        pages=pages,
        processes=[(p.name, p.title) for p in PROCESSES.values()],
        states=states,
        chosen_process=process or "",
        chosen_state=state or "",
        event_title=lambda process, event: PROCESSES[process].event_title(event),
    )


@router.get("/sager/{case_id}")
def case_page(request: Request, case_id: int, udfoert: str | None = None) -> Response:
    desk = desk_of(request)
    email = desk.user(request)
    case, reader = readable_case(desk, email, case_id)
    now = desk.now()
    page = views.case_page(desk.store, case, reader, now, desk.calendar)
    access_log.record(desk.store.engine, email, case_id, "case", "desk", now)
    done = (
        page["process"].event_title(udfoert) if udfoert and page["process"].event(udfoert) else None
    )
    prefect_link = None
    if reader.is_operator and desk.settings.prefect_ui:
        prefect_link = f"{desk.settings.prefect_ui}/runs?tag=case:{case_id}"
    return desk.render(
        request,
        "case.html",
        f"Sag {case_id}",
        case=page,
        done=done,
        prefect_link=prefect_link,
    )


@router.get("/sager/{case_id}/skema")
def handover_form(request: Request, case_id: int) -> Response:
    desk = desk_of(request)
    email = desk.user(request)
    case, reader = readable_case(desk, email, case_id)
    spec = get_process(case.process)
    if spec.form_reader is None or reader.is_operator:
        raise HTTPException(404)
    access_log.record(desk.store.engine, email, case_id, "form", "desk", desk.now())
    # Each section under its Danish heading, as the parents chose them on the consent form.
    names = spec.choice_titles
    sections = {names.get(k, k): text for k, text in (form_for(case, reader) or {}).items()}
    return desk.render(
        request,
        "form_view.html",
        f"{spec.form_title}, sag {case_id}",
        case_id=case_id,
        form_title=spec.form_title,
        sections=sections,
    )
