"""Where a case IS: SQLAlchemy 2 models, the schema's migrations, the case repository."""

from . import absence as absence  # its tables join Base.metadata
from . import access_log as access_log
from . import jobs as jobs
from . import replies as replies  # its tables join Base.metadata
from . import retention as retention  # its table joins Base.metadata
from . import staging as staging
from .database import HEAD, ensure_schema, is_postgres, make_engine, upgrade
from .models import (
    AccessRow,
    Base,
    CaseRow,
    HistoryRow,
    MeetingRow,
    OutboxRow,
    ParticipantRow,
    SignInTokenRow,
    TimerRow,
)
from .store import (
    CaseStore,
    StoredDecision,
    SweepReport,
    close_stores,
    open_store,
    validate_case_file,
)

__all__ = [
    "HEAD",
    "AccessRow",
    "Base",
    "CaseRow",
    "CaseStore",
    "HistoryRow",
    "MeetingRow",
    "OutboxRow",
    "ParticipantRow",
    "SignInTokenRow",
    "StoredDecision",
    "SweepReport",
    "TimerRow",
    "close_stores",
    "ensure_schema",
    "is_postgres",
    "make_engine",
    "open_store",
    "upgrade",
    "validate_case_file",
]
