"""What a process IS: declarative definitions, the engine that fires events, working days.

Pure Python: no I/O, no database, no Prefect.
"""

from .access import OPERATOR, Reader, case_view, form_for, may_read
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
    Conflict,
    DefinitionError,
    ForloebError,
    GuardRejected,
    InvalidInput,
    NotPermitted,
    Refused,
    TransitionNotAllowed,
)
from .inputs import CaseFile, ParticipantIn, assign_keys
from .registry import PROCESSES, get_engine, get_process
from .workdays import COPENHAGEN, WorkingCalendar

__all__ = [
    "COPENHAGEN",
    "OPERATOR",
    "PROCESSES",
    "SYSTEM",
    "TEMPLATES",
    "AddParticipant",
    "CancelMeeting",
    "Capacity",
    "CaseFile",
    "CaseSnapshot",
    "ClearTimer",
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
    "NotPermitted",
    "Notify",
    "Participant",
    "ParticipantIn",
    "Process",
    "Reader",
    "Refused",
    "Role",
    "ScheduleMeeting",
    "SetTimer",
    "Timer",
    "Transition",
    "TransitionNotAllowed",
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
