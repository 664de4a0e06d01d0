"""What a process IS: declarative definitions, the engine that fires events, working days.

Pure Python: no I/O, no database, no Prefect. ``__all__`` is the whole surface other
packages use; a process's own module (``samraad``, ...) is read through ``get_process``.
The absence rules (``machines.absence``) are the exception until they get their own surface.
"""

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
from .inputs import CaseFile, assign_keys, error_location
from .registry import PROCESSES, get_engine, get_process
from .workdays import COPENHAGEN, WorkingCalendar

__all__ = [
    "COPENHAGEN",
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
    "Participant",
    "Process",
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
    "check_definition",
    "error_location",
    "get_engine",
    "get_process",
    "mermaid",
]
