"""The processes this installation knows, each compiled once into its shared engine."""

from __future__ import annotations

from functools import cache

from .coaching import COACHING
from .consultation import CONSULTATION
from .definition import Process
from .engine import Engine
from .errors import InvalidInput
from .handover import HANDOVER
from .learning_group import LEARNING_GROUP
from .room_meetings import ROOM_MEETINGS
from .samraad import SAMRAAD
from .workdays import WorkingCalendar

PROCESSES: dict[str, Process] = {
    p.name: p for p in (SAMRAAD, HANDOVER, COACHING, LEARNING_GROUP, ROOM_MEETINGS, CONSULTATION)
}


def get_process(name: str) -> Process:
    try:
        return PROCESSES[name]
    except KeyError:
        # Not repeated: a process name is typed (``case open NAME``) and may hold anything.
        raise InvalidInput(
            f"an unknown process; known processes: {', '.join(sorted(PROCESSES))}"
        ) from None


@cache
def _engine(name: str, extra_days_off: tuple[tuple[int, int], ...]) -> Engine:
    return Engine(get_process(name), WorkingCalendar(extra_days_off))


def get_engine(name: str) -> Engine:
    calendar = WorkingCalendar.from_env()
    return _engine(name, calendar.extra_days_off)
