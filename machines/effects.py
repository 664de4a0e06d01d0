"""What the machine asks the world to do: frozen data that ``persistence`` acts on.

The machine never sends, writes or sleeps: a decision is a new state, new case data and a
tuple of these effects. Notifications name a template, never carry text: rendering is the
notifications package's job, and personal details stay in the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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


Effect = (
    ScheduleMeeting
    | MoveMeeting
    | CancelMeeting
    | MarkMeetingHeld
    | Notify
    | SetTimer
    | ClearTimer
    | AddParticipant
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
