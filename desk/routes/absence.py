"""*Importér fravær*: a school's absence file, uploaded, checked whole, imported or refused.

The same file and the same checks as ``forloeb absence import FILE [--school S]``
(``flows.absence_csv`` reads it, ``persistence.absence.import_registrations`` writes it
in one transaction): a file with any bad row is refused whole, every bad row listed with
its line and what to fix, in Danish, and nothing is written. Like the CLI's import, this
does not scan: the sweep's daily absence scan opens the samråd cases.

The form is ``multipart/form-data``, so the middleware leaves its body to this handler
(``security.UPLOAD_PATHS``): the size is checked from ``Content-Length`` before anything
is read, then the CSRF token in the form before anything else is done.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException

from flows import absence_csv
from machines import InvalidInput
from persistence import absence as repo

from ..app import Desk, desk_of
from ..messages import (
    UPLOAD_NAME,
    absence_file_problem,
    absence_row_problem,
    absence_school_problem,
)
from ..rights import Rights
from ..security import csrf_ok, refused, session_of
from ..views import local_day, number

router = APIRouter()

#: The largest file the desk takes (larger ones: the CLI, or several files).
UPLOAD_LIMIT = 5 * 1024 * 1024
UPLOAD_LIMIT_TEXT = "5 MB"
#: The form around the file: the token, the school code, the multipart boundaries.
_FORM_SLACK = 64 * 1024
#: A larger upload is not read to its end (answered at once; the browser may show an error).
_DRAIN_LIMIT = 64 * 1024 * 1024

TITLE = "Importér fravær"


def _may_import(desk: Desk, request: Request) -> Rights:
    rights = desk.rights(desk.user(request))
    if not rights.absence_import:
        raise HTTPException(404)
    return rights


def _render(
    desk: Desk, request: Request, rights: Rights, status_code: int = 200, **context: Any
) -> Response:
    values: dict[str, Any] = {
        "schools": rights.schools,  # a leader chooses among their own; an admin types any
        "school": "",
        "problem": None,
        "rows": [],
        "more": 0,
        "school_error": None,
        "file_error": None,
        "report": None,
        "limit": UPLOAD_LIMIT_TEXT,
        **context,
    }
    return desk.render(request, "absence_import.html", TITLE, status_code, **values)


@router.get("/fravaer/import")
def import_form(request: Request) -> Response:
    desk = desk_of(request)
    return _render(desk, request, _may_import(desk, request))


async def _drain(request: Request) -> None:
    """Read the rest of a refused upload, so the browser shows the answer, not a reset."""
    read = 0
    async for chunk in request.stream():
        read += len(chunk)
        if read > _DRAIN_LIMIT:
            return


@router.post("/fravaer/import")
async def import_absence(request: Request) -> Response:
    desk = desk_of(request)
    rights = await asyncio.to_thread(_may_import, desk, request)
    length = request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > UPLOAD_LIMIT + _FORM_SLACK:
        # Nothing is done with it, so the token need not be read: one line, in Danish.
        if length.isdigit() and int(length) <= _DRAIN_LIMIT:
            await _drain(request)
        problem = (
            f"Filen er for stor: højst {UPLOAD_LIMIT_TEXT}. Del den op i flere filer, "
            "eller importér den med kommandoen forloeb absence import."
            if length.isdigit()
            else "Filen kunne ikke modtages. Prøv igen."
        )
        return _render(desk, request, rights, 413 if length.isdigit() else 400, problem=problem)
    try:
        form = await request.form(max_files=1, max_fields=5, max_part_size=_FORM_SLACK)
    except (MultiPartException, StarletteHTTPException):
        return refused()  # not a form this page made: no token to be found in it
    try:
        token = form.get("csrf")
        if not isinstance(token, str) or not csrf_ok(session_of(request), token):
            return refused()
        given = form.get("skole")
        school = given.strip() if isinstance(given, str) else ""
        if not school and len(rights.schools) == 1:
            school = rights.schools[0]
        if rights.schools and school not in rights.schools:
            # A school leader hands in their own school's absence, and only rows of it:
            # with the school given, a row naming another is refused with the file.
            text = "Vælg din egen skole. Du kan kun importere fravær for den skole, du leder."
            return _render(
                desk,
                request,
                rights,
                422,
                school=school,
                problem=f"Skole: {text} Intet er importeret.",
                school_error=text,
            )
        upload = form.get("fil")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return _render(
                desk,
                request,
                rights,
                422,
                school=school,
                problem="Vælg en fil.",
                file_error="Vælg fraværsfilen (CSV).",
            )
        data = await upload.read()
    finally:
        await form.close()

    def run() -> repo.ImportReport:
        # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark (as the CLI reads it).
        stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
        rows = absence_csv.read_registrations(stream, name=UPLOAD_NAME, school=school or None)
        return repo.import_registrations(desk.store.engine, rows)

    try:
        report = await asyncio.to_thread(run)
    except absence_csv.RefusedFile as exc:
        bad = "1 række" if exc.count == 1 else f"{number(exc.count)} rækker"
        return _render(
            desk,
            request,
            rights,
            422,
            school=school,
            problem=f"Filen har {bad} med fejl. Intet er importeret. Ret rækkerne herunder, "
            "og importér hele filen igen.",
            rows=[(p.line, absence_row_problem(p.reason)) for p in exc.problems],
            more=exc.count - len(exc.problems),
        )
    except absence_csv.InvalidGiven as exc:
        text = absence_school_problem(str(exc))
        return _render(
            desk,
            request,
            rights,
            422,
            school=school,
            problem=f"Skolekode: {text} Intet er importeret.",
            school_error=text,
        )
    except InvalidInput as exc:
        return _render(
            desk,
            request,
            rights,
            422,
            school=school,
            problem=f"{absence_file_problem(str(exc))} Intet er importeret.",
        )
    result = report.as_dict()
    return _render(
        desk,
        request,
        rights,
        school=school,
        report={
            "rows": number(report.rows),
            "changed": number(report.changed),
            "unchanged": number(result["unchanged"]),
            "pupils_new": number(report.pupils_new),
            "schools_new": ", ".join(report.schools_new),
            "first_day": local_day(report.first_day),
            "last_day": local_day(report.last_day),
        },
    )
