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
    ChangeOccurrence,
    ChangeRole,
    ClearTimer,
    Effect,
    EndSeries,
    Enrol,
    MarkMeetingHeld,
    MoveMeeting,
    Notify,
    ScheduleMeeting,
    ScheduleSeries,
    SetTimer,
    Unenrol,
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
from .inputs import CaseFile, assign_keys
from .registry import PROCESSES, get_engine, get_process
from .series import Occurrence, Override, Series, SeriesRule, closure_exdates
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
    "ChangeOccurrence",
    "ChangeRole",
    "ClearTimer",
    "ConfigurationError",
    "Conflict",
    "Decision",
    "DefinitionError",
    "Effect",
    "EndSeries",
    "Engine",
    "Enrol",
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
    "Occurrence",
    "Override",
    "Participant",
    "Process",
    "Refused",
    "ScheduleMeeting",
    "ScheduleSeries",
    "SchemaOutdated",
    "Series",
    "SeriesRule",
    "SetTimer",
    "StagedInputMissing",
    "Timer",
    "Transition",
    "TransitionNotAllowed",
    "Unavailable",
    "Unenrol",
    "WorkingCalendar",
    "assign_keys",
    "check_definition",
    "closure_exdates",
    "get_engine",
    "get_process",
    "mermaid",
]
