"""What a process IS: declarative definitions, the engine that fires events, working days.

Pure Python: no I/O, no database, no Prefect.
"""

from .case import CaseSnapshot, Meeting, Participant
from .definition import (
    SYSTEM,
    Capacity,
    Event,
    Process,
    Role,
    Timer,
    Transition,
    check_definition,
    mermaid,
)
from .effects import (
    TEMPLATES,
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
from .engine import Context, Decision, Engine
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
from .inputs import CaseFile, ParticipantIn, assign_keys
from .registry import PROCESSES, get_engine, get_process
from .workdays import COPENHAGEN, WorkingCalendar

__all__ = [
    "COPENHAGEN",
    "PROCESSES",
    "SYSTEM",
    "TEMPLATES",
    "AddParticipant",
    "CancelMeeting",
    "Capacity",
    "CaseFile",
    "CaseNotFound",
    "CaseSnapshot",
    "ClearTimer",
    "ConfigurationError",
    "Conflict",
    "Context",
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
    "ParticipantIn",
    "Process",
    "Refused",
    "Role",
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
    "get_engine",
    "get_process",
    "mermaid",
]
