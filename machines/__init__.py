"""What a process IS: declarative definitions, the engine that fires events, working days.

Pure Python: no I/O, no database, no Prefect. ``__all__`` is the whole surface other
packages use; a process's own module (``samraad``, ...) is read through ``get_process``.
The absence rules are read through ``machines.absence``'s own ``__all__``.
"""

from .access import OPERATOR, Reader, case_view, form_for, may_read
from .case import CaseSnapshot, Meeting, Participant
from .definition import (
    SYSTEM,
    Event,
    Process,
    Timer,
    Transition,
    check_definition,
    mermaid,
)
from .effects import (
    AddParticipant,
    CancelMeeting,
    ClearTimer,
    Effect,
    MarkMeetingHeld,
    MoveMeeting,
    Notify,
    ScheduleMeeting,
    SetTimer,
)
from .engine import Decision, Engine
from .errors import (
    CaseNotFound,
    ConfigurationError,
    Conflict,
    DefinitionError,
    ForloebError,
    GuardRejected,
    InvalidInput,
    NotFound,
    NotPermitted,
    Refused,
    SchemaOutdated,
    StagedInputMissing,
    TransitionNotAllowed,
    Unavailable,
)
from .inputs import CaseFile, Email, OneLine, ParticipantIn, assign_keys
from .registry import PROCESSES, get_engine, get_process
from .workdays import COPENHAGEN, WorkingCalendar

__all__ = [
    "COPENHAGEN",
    "OPERATOR",
    "PROCESSES",
    "SYSTEM",
    "AddParticipant",
    "CancelMeeting",
    "CaseFile",
    "CaseNotFound",
    "CaseSnapshot",
    "ClearTimer",
    "ConfigurationError",
    "Conflict",
    "Decision",
    "DefinitionError",
    "Effect",
    "Email",
    "Engine",
    "Event",
    "ForloebError",
    "GuardRejected",
    "InvalidInput",
    "MarkMeetingHeld",
    "Meeting",
    "MoveMeeting",
    "NotFound",
    "NotPermitted",
    "Notify",
    "OneLine",
    "Participant",
    "ParticipantIn",
    "Process",
    "Reader",
    "Refused",
    "ScheduleMeeting",
    "SchemaOutdated",
    "SetTimer",
    "StagedInputMissing",
    "Timer",
    "Transition",
    "TransitionNotAllowed",
    "Unavailable",
    "WorkingCalendar",
    "assign_keys",
    "case_view",
    "check_definition",
    "form_for",
    "get_engine",
    "get_process",
    "may_read",
    "mermaid",
]
