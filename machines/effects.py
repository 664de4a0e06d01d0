"""What the machine asks the world to do: frozen data that ``persistence`` acts on.

The machine never sends, writes or sleeps: a decision is a new state, new case data and a
tuple of these effects. Notifications name a template, never carry text: rendering is the
notifications package's job, and personal details stay in the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .series import Series


@dataclass(frozen=True)
class ScheduleMeeting:
    """Create a meeting (UID made once) and invite its attendees (template ``invitation``)."""

    meeting: str
    start: datetime
    end: datetime
    location: str
    attendees: tuple[str, ...]


@dataclass(frozen=True)
class MoveMeeting:
    """Change time/place of a meeting: SEQUENCE rises, attendees get ``update``."""

    meeting: str
    start: datetime
    end: datetime
    location: str


@dataclass(frozen=True)
class CancelMeeting:
    """Cancel a meeting: SEQUENCE rises, attendees get ``cancellation``."""

    meeting: str


@dataclass(frozen=True)
class ScheduleSeries:
    """Create a recurring meeting: one row, one UID, one invitation with RRULE and EXDATEs."""

    meeting: str
    series: Series
    location: str
    attendees: tuple[str, ...]


@dataclass(frozen=True)
class ChangeOccurrence:
    """Move or cancel one occurrence of a series on its own (``recurrence_id``: its start
    as the rule gives it). The occurrence's own SEQUENCE rises; attendees get a message
    holding just that occurrence (``update``, or ``cancellation`` with its RECURRENCE-ID).

    ``attendees``: the occurrence's own attendees (another social worker covers it): they
    get the update, and an attendee of the series left out of it gets a ``cancellation``
    of that occurrence alone. None keeps the attendees it had."""

    meeting: str
    recurrence_id: datetime
    start: datetime
    end: datetime
    cancelled: bool = False
    attendees: tuple[str, ...] | None = None


@dataclass(frozen=True)
class EndSeries:
    """End a series early: its RRULE gets an UNTIL before ``before``, SEQUENCE rises,
    attendees get ``update`` of the whole series."""

    meeting: str
    before: datetime


@dataclass(frozen=True)
class Enrol:
    """``member`` (a pseudonymous reference) belongs to this case, and to no other live
    case of the same process: the store refuses the event if another case holds it."""

    member: str


@dataclass(frozen=True)
class Unenrol:
    member: str


@dataclass(frozen=True)
class MarkMeetingHeld:
    meeting: str


@dataclass(frozen=True)
class Notify:
    """Put one message per addressed participant in the outbox.

    Addressed by role (everyone on the case with that role) and/or by participant key.
    ``topic`` says which deadline or case matter it is about, e.g. ``meeting_deadline``.
    """

    template: str
    roles: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    meeting: str | None = None
    topic: str | None = None


@dataclass(frozen=True)
class SetTimer:
    """Arm (or re-arm: at most one pending timer per event and case) a timer."""

    event: str
    due: datetime


@dataclass(frozen=True)
class ClearTimer:
    event: str


@dataclass(frozen=True)
class AddParticipant:
    key: str
    role: str
    name: str
    email: str | None


@dataclass(frozen=True)
class ChangeRole:
    """A participant's role changes (a replaced pedagogue becomes a former one): kept on
    the case, as the history says who did what, but no longer acting in the role."""

    key: str
    role: str


Effect = (
    ScheduleMeeting
    | ScheduleSeries
    | ChangeOccurrence
    | EndSeries
    | Enrol
    | Unenrol
    | MoveMeeting
    | CancelMeeting
    | MarkMeetingHeld
    | Notify
    | SetTimer
    | ClearTimer
    | AddParticipant
    | ChangeRole
)

#: The notification templates a process may name (rendered by ``notifications``).
TEMPLATES = frozenset(
    {
        "invitation",
        "update",
        "cancellation",
        "reminder",
        "escalation",
        "action_plan",
        "deadline_warning",
    }
)
