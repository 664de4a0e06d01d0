"""A case as the machine sees it: an immutable snapshot, no database in sight."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Participant:
    key: str
    role: str
    name: str
    email: str | None


@dataclass(frozen=True)
class Meeting:
    key: str
    status: str  # "scheduled", "held" or "cancelled"
    start: datetime
    end: datetime
    location: str
    attendees: tuple[str, ...]
    sequence: int = 0
    #: A recurring meeting's rule, exdates and overrides (``Series.to_json``); None: single.
    series: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class CaseSnapshot:
    id: int
    process: str
    state: str
    version: int
    title: str
    location: str
    data: Mapping[str, Any] = field(default_factory=dict)
    participants: tuple[Participant, ...] = ()
    meetings: tuple[Meeting, ...] = ()
    #: Other cases' scheduled meetings (start, end) of the people in the process's
    #: ``busy_role`` — loaded only for processes that declare one (coaching: the coach).
    busy: tuple[tuple[datetime, datetime], ...] = ()

    def participant(self, key: str) -> Participant | None:
        return next((p for p in self.participants if p.key == key), None)

    def with_role(self, role: str) -> tuple[Participant, ...]:
        return tuple(p for p in self.participants if p.role == role)

    def roles_of(self, email: str) -> frozenset[str]:
        wanted = email.strip().lower()
        return frozenset(p.role for p in self.participants if (p.email or "").lower() == wanted)

    def meeting(self, key: str) -> Meeting | None:
        return next((m for m in self.meetings if m.key == key), None)
