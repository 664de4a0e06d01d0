"""Absence registrations, school calendars, the school directory, episodes and tasks.

One module per concern:

- ``tables``: the tables (integers only where there are millions of rows);
- ``importing``: bulk writes of checked rows (registrations, holiday periods, the
  directory), one transaction each, dialect-specific where speed needs it;
- ``detection``: the scan that counts every pupil's absence (writes nothing);
- ``episodes``: what a scan found, written and read back — episodes, their cases'
  links, and the national-rule tasks for school leaders;
- ``bulk``: the dialect-specific bulk helpers the others share.

Reading a file is not done here: ``flows.absence_csv`` reads and checks a CSV file into
the typed rows ``importing`` writes. No message here names a command or an option.
"""

from .detection import Detection, NewEpisode, NewTask, detect, scan_range, school_calendars
from .episodes import (
    CLAIM_TIMEOUT,
    PendingTask,
    Recorded,
    cases_for_episodes,
    claim_episode,
    episode_concern,
    episodes_without_case,
    link_episode,
    mark_tasks_mailed,
    open_case_of,
    pending_tasks,
    record,
    schools_without_leader,
    teacher_of,
    u_dates,
)
from .importing import (
    CalendarImportReport,
    ImportReport,
    Registration,
    SchoolEntry,
    SchoolsImportReport,
    TeacherEntry,
    import_calendar,
    import_registrations,
    import_schools,
)
from .tables import (
    ALL_SCHOOLS,
    DEFAULT_COORDINATOR_NAME,
    EPISODES,
    HOLIDAY_PERIODS,
    PUPILS,
    REGISTRATIONS,
    SCHOOLS,
    TABLES,
    TASKS,
    TEACHERS,
    EpisodeRow,
    HolidayPeriodRow,
    PupilRow,
    RegistrationRow,
    SchoolRow,
    TaskRow,
    TeacherRow,
)

__all__ = [
    "ALL_SCHOOLS",
    "CLAIM_TIMEOUT",
    "DEFAULT_COORDINATOR_NAME",
    "EPISODES",
    "HOLIDAY_PERIODS",
    "PUPILS",
    "REGISTRATIONS",
    "SCHOOLS",
    "TABLES",
    "TASKS",
    "TEACHERS",
    "CalendarImportReport",
    "Detection",
    "EpisodeRow",
    "HolidayPeriodRow",
    "ImportReport",
    "NewEpisode",
    "NewTask",
    "PendingTask",
    "PupilRow",
    "Recorded",
    "Registration",
    "RegistrationRow",
    "SchoolEntry",
    "SchoolRow",
    "SchoolsImportReport",
    "TaskRow",
    "TeacherEntry",
    "TeacherRow",
    "cases_for_episodes",
    "claim_episode",
    "detect",
    "episode_concern",
    "episodes_without_case",
    "import_calendar",
    "import_registrations",
    "import_schools",
    "link_episode",
    "mark_tasks_mailed",
    "open_case_of",
    "pending_tasks",
    "record",
    "scan_range",
    "school_calendars",
    "schools_without_leader",
    "teacher_of",
    "u_dates",
]
