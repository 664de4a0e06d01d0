"""The desk's words: Danish messages for every refusal and input error, and a few labels.

The CLI speaks English (its one line is for operators); the desk's users read Danish.
Labels of states, events, roles and fields come from the process definitions; what is
here is what the definitions do not say: how a refusal reads, and pydantic's error types.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from machines import (
    Conflict,
    ForloebError,
    GuardRejected,
    InvalidInput,
    NotPermitted,
    Process,
    TransitionNotAllowed,
)

#: pydantic error type -> Danish text (``{ctx}`` keys filled from the error's context).
_INPUT_ERRORS: dict[str, str] = {
    "missing": "Skal udfyldes.",
    "string_too_short": "Skal udfyldes.",
    "string_too_long": "Må højst være {max_length} tegn.",
    "too_short": "Vælg eller udfyld mindst {min_length}.",
    "too_long": "Højst {max_length}.",
    "int_parsing": "Skriv et helt tal.",
    "int_type": "Skriv et helt tal.",
    "greater_than_equal": "Skal være mindst {ge}.",
    "less_than_equal": "Må højst være {le}.",
    "literal_error": "Vælg en af mulighederne.",
    "bool_parsing": "Vælg ja eller nej.",
    "date_parsing": "Skriv en gyldig dato.",
    "date_from_datetime_parsing": "Skriv en gyldig dato.",
    "datetime_parsing": "Skriv en gyldig dato og et klokkeslæt.",
    "datetime_from_date_parsing": "Skriv både dato og klokkeslæt.",
    "timezone_aware": "Skriv både dato og klokkeslæt.",
    "extra_forbidden": "Dette felt hører ikke til formularen.",
    "dict_type": "Udfyld felterne.",
    "list_type": "Vælg fra listen.",
}

#: The value errors of machines/inputs.py, by a fragment of their English text.
_VALUE_ERRORS: tuple[tuple[str, str], ...] = (
    ("not a usable e-mail address", "Skriv en gyldig e-mailadresse, fx navn@kommune.dk."),
    ("looks like a CPR number", "Det ligner et CPR-nummer. Brug en pseudonym reference."),
    ("not a valid key", "Brug kun små bogstaver, tal, - og _ (højst 40 tegn)."),
    ("single line", "Skal stå på én linje."),
    ("is used twice", "Den samme nøgle er brugt to gange."),
)


def input_error(error: Mapping[str, Any]) -> str:
    """One pydantic error (``ValidationError.errors()`` item) in Danish."""
    kind = str(error.get("type", ""))
    if kind == "value_error":
        text = str(error.get("msg", ""))
        for fragment, danish in _VALUE_ERRORS:
            if fragment in text:
                return danish
        return "Værdien kan ikke bruges."
    template = _INPUT_ERRORS.get(kind)
    if template is None:
        return "Værdien kan ikke bruges."
    try:
        return template.format(**(error.get("ctx") or {}))
    except (KeyError, IndexError):
        return template.split("{")[0].strip() or "Værdien kan ikke bruges."


#: The guards' reasons (machines/*.py), by pattern; the groups fill the Danish text.
_GUARD_REASONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), danish)
    for pattern, danish in (
        (
            r"the meeting time .* is in the past",
            "Mødetidspunktet ligger i fortiden. Vælg et senere.",
        ),
        (
            r"the meeting must start by (\S+) \(7 working days",
            "Mødet skal holdes senest {0} (7 arbejdsdage efter indkaldelsen). "
            "Skriv en begrundelse for at holde det senere.",
        ),
        (r"not invited to this meeting", "Nogle af de valgte er ikke inviteret til mødet."),
        (r"nobody is present", "Ingen er til stede. Vælg hvem der er til stede, eller aflys."),
        (r"notes for someone not present", "Der er noter til nogen, der ikke er til stede."),
        (
            r"round (\d+) is not finished",
            "Runde {0} er ikke færdig: alle tilstedeværende skal have et notat.",
        ),
        (r"at least one decision", "Mødet skal slutte med mindst én beslutning."),
        (r"follow-up meeting is a fixed agenda item", "Angiv dato og tid for opfølgningsmødet."),
        (
            r"follow-up participants not on the case",
            "Deltagerne i opfølgningen skal være på sagen.",
        ),
        (r"action plan needs at least one action", "Handleplanen skal have mindst én handling."),
        (r"action owners not on the case", "Den ansvarlige for en handling skal være på sagen."),
        (r"to continue, give 'next_follow_up'", "For at fortsætte: angiv næste opfølgningsmøde."),
        (r"home visit must lie before the start date", "Hjemmebesøget skal ligge før startdatoen."),
        (
            r"the home visit should lie between (\S+) and (\S+) \((\d+) to (\d+) weeks",
            "Hjemmebesøget skal ligge mellem {0} og {1} ({2} til {3} uger før starten). "
            "Skriv en begrundelse for at holde det uden for perioden.",
        ),
        (r"the form has no sections", "Skemaet har ingen udfyldte afsnit."),
        (
            r"not complete without homework",
            "En session er ikke holdt uden en hjemmeopgave: den unge går altid fra sessionen "
            "med en opgave.",
        ),
        (
            r"the coach has another session from (\S+) (\S+) to (\S+);",
            "Coachen har en anden session {0} kl. {1}–{2}. Vælg et andet tidspunkt.",
        ),
        (
            r"session 1 frames the course",
            "Første session rammesætter forløbet: udfyld forventninger.",
        ),
        (
            r"no session has been held",
            "Der er ikke holdt nogen session. Brug «Afbryd forløbet» i stedet.",
        ),
        (r"required role", "Sagen mangler en deltager i en påkrævet rolle."),
        (r"is not in the future", "Datoen skal ligge i fremtiden."),
    )
)


def refusal(exc: ForloebError, process: Process | None = None) -> str:
    """A refusal of the rules (machines/errors.py) in Danish, with what to do."""

    def event(name: str) -> str:
        return f"«{process.event_title(name)}»" if process else f"«{name}»"

    def state(name: str) -> str:
        return process.state_title(name) if process else name

    def role(name: str) -> str:
        spec = process.roles.get(name) if process else None
        return spec.title if spec else name

    if isinstance(exc, TransitionNotAllowed):
        allowed = ", ".join(event(e) for e in exc.allowed)
        hint = f"Det kan gøres nu: {allowed}." if allowed else "Sagen er afsluttet."
        return f"{event(exc.event)} kan ikke udføres, når sagen er {state(exc.state)}. {hint}"
    if isinstance(exc, NotPermitted):
        roles = " eller ".join(role(r) for r in exc.roles)
        return f"Kun {roles} må udføre {event(exc.event)}. Du har ingen af de roller på sagen."
    if isinstance(exc, GuardRejected):
        for pattern, danish in _GUARD_REASONS:
            found = pattern.search(exc.reason)
            if found:
                return danish.format(*found.groups())
        return f"{event(exc.event)} blev afvist af reglerne. Ret oplysningerne og prøv igen."
    if isinstance(exc, Conflict):
        return "Sagen blev ændret af en anden i samme øjeblik. Se sagen igen, og prøv igen."
    if isinstance(exc, InvalidInput):
        return "Oplysningerne kan ikke bruges. Ret felterne og prøv igen."
    return "Handlingen kunne ikke gennemføres. Prøv igen, eller kontakt driften."


#: Outbox templates and statuses.
TEMPLATE_TITLES: dict[str, str] = {
    "invitation": "Invitation",
    "update": "Ændret mødetidspunkt",
    "cancellation": "Aflysning",
    "reminder": "Påmindelse",
    "escalation": "Eskalering",
    "action_plan": "Handleplan",
    "notice": "Besked",
    "deadline_warning": "Fristvarsel",
    "reply_declined": "Afbud videregivet",
    "reply_counter": "Forslag om nyt tidspunkt videregivet",
}
#: A participant's answer to an invitation (iTIP PARTSTAT).
ANSWER_TITLES: dict[str, str] = {
    "ACCEPTED": "har accepteret",
    "TENTATIVE": "har svaret måske",
    "DECLINED": "har meldt afbud",
}
STATUS_TITLES: dict[str, str] = {
    "pending": "venter",
    "sent": "leveret",
    "failed": "fejlet",
    "superseded": "erstattet",
    "scheduled": "planlagt",
    "held": "holdt",
    "cancelled": "aflyst",
    "fired": "udløst",
    "void": "bortfaldet",
}


def titled(table: Mapping[str, str]) -> Callable[[str], str]:
    return lambda key: table.get(key, key.replace("_", " "))


# ---------------------------------------------------------------- absence import
#
# ``flows.absence_csv`` checks a school's absence file for the CLI and the desk alike; its
# reasons are English. The desk reads a file as ``UPLOAD_NAME`` (never the file's own
# name, which is the user's and may be anything), so a whole-file reason can be matched.

#: The name the desk gives an uploaded file when reading it.
UPLOAD_NAME = "upload"

_COLUMNS_DA = "pupil_ref, school, grade, date, period, code"

#: A bad row's reason (``RowProblem.reason``), by pattern; the groups fill the Danish text.
_ROW_REASONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), danish)
    for pattern, danish in (
        (
            r"^(\d+) fields, expected (\d+) or more$",
            "Rækken har {0} felter, men skal have mindst {1}.",
        ),
        (
            r"^pupil_ref looks like a CPR number",
            "pupil_ref ligner et CPR-nummer. Brug elevens pseudonyme reference.",
        ),
        (
            r"^pupil_ref is not a reference",
            "pupil_ref er ikke en reference (små bogstaver, tal, - og _, højst 40 tegn). "
            "Brug elevens pseudonyme reference.",
        ),
        (
            r"^school (.*) is not a school code",
            "Skolekoden {0} kan ikke bruges (bogstaver, tal, ., - og _, højst 40 tegn).",
        ),
        (
            r"^school (.*) is not (.*)$",
            "Skolen er {0}, men du har angivet skolen {1} i feltet Skolekode.",
        ),
        (
            r"^school is empty$",
            "Kolonnen school er tom. Udfyld den, eller angiv skolen i feltet Skolekode.",
        ),
        (r"^grade (.*) is not 0–10$", "Klassetrinnet {0} er ikke et tal fra 0 til 10."),
        (r"^date (.*) is not a date", "Datoen {0} er ikke en dato. Skriv den som ÅÅÅÅ-MM-DD."),
        (
            r"^period (.*) is not morning, end_of_day or lesson:N \(N 1–(\d+)\)$",
            "Perioden {0} skal være morning, end_of_day eller lesson:N (N fra 1 til {1}).",
        ),
        (
            r"^code (.*) is not one of S, L, U, F, T$",
            "Koden {0} skal være S, L, U, F eller T.",
        ),
    )
)

_FILE_REASONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), danish)
    for pattern, danish in (
        (
            rf"^{UPLOAD_NAME} is not UTF-8 text \(near line (\d+)\)",
            "Filen er ikke UTF-8-tekst (omkring linje {0}). Gem den som «CSV UTF-8», "
            "og importér den igen.",
        ),
        (
            rf"^{UPLOAD_NAME} is not UTF-8 text",
            "Filen er ikke UTF-8-tekst. Gem den som «CSV UTF-8», og importér den igen.",
        ),
        (
            rf"^{UPLOAD_NAME} is empty",
            f"Filen er tom. Første linje skal være overskriften med kolonnerne {_COLUMNS_DA}.",
        ),
        (
            rf"^{UPLOAD_NAME}: the header lacks ([^;]*);",
            "Overskriften (første linje) mangler: {0}. Første linje skal nævne "
            f"kolonnerne {_COLUMNS_DA}.",
        ),
        (
            rf"^{UPLOAD_NAME}: line (\d+): ",
            "Linje {0} er ikke gyldig CSV (fx et anførselstegn, der ikke er lukket). "
            "Ret filen, og importér den igen.",
        ),
    )
)


def absence_row_problem(reason: str) -> str:
    """One bad row's reason (``flows.absence_csv.RowProblem.reason``) in Danish."""
    for pattern, danish in _ROW_REASONS:
        found = pattern.search(reason)
        if found:
            return danish.format(*found.groups())
    return "Rækken kan ikke bruges. Ret den, og importér filen igen."


def absence_file_problem(reason: str) -> str:
    """A reason the whole file was refused for (its header, its encoding) in Danish."""
    for pattern, danish in _FILE_REASONS:
        found = pattern.search(reason)
        if found:
            return danish.format(*found.groups())
    return "Filen kan ikke importeres. Tjek at den er en CSV-fil med fravær, og prøv igen."


def absence_school_problem(reason: str) -> str:
    """The school code given in the form (``InvalidGiven('school', …)``) in Danish."""
    if "is not a school code" in reason:
        return "Skriv en skolekode: bogstaver, tal, ., - og _ (højst 40 tegn)."
    return "Skolekoden kan ikke bruges."
