"""Where a case IS: SQLAlchemy 2 models, the schema's migrations, the case repository.

The names load on first use (PEP 562): `forloeb case show` needs the store, and must not
pay for the absence import's tables, CSV and scan machinery. The schema comes from the
migrations, not from ``Base.metadata``, so a table module loaded late changes nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import MetaData

    from . import absence as absence
    from . import access_log as access_log
    from . import jobs as jobs
    from . import replies as replies
    from . import retention as retention
    from . import staging as staging
    from .database import HEAD as HEAD
    from .database import ensure_schema as ensure_schema
    from .database import is_postgres as is_postgres
    from .database import make_engine as make_engine
    from .database import upgrade as upgrade
    from .models import AccessRow as AccessRow
    from .models import Base as Base
    from .models import CaseRow as CaseRow
    from .models import HistoryRow as HistoryRow
    from .models import MeetingRow as MeetingRow
    from .models import OutboxRow as OutboxRow
    from .models import ParticipantRow as ParticipantRow
    from .models import SignInTokenRow as SignInTokenRow
    from .models import TimerRow as TimerRow
    from .store import CaseStore as CaseStore
    from .store import StoredDecision as StoredDecision
    from .store import SweepReport as SweepReport
    from .store import close_stores as close_stores
    from .store import open_store as open_store
    from .store import validate_case_file as validate_case_file

_SUBMODULES = {"absence", "access_log", "jobs", "replies", "retention", "staging"}

#: Public name -> the submodule that defines it.
_WHERE = {
    "HEAD": "database",
    "ensure_schema": "database",
    "is_postgres": "database",
    "make_engine": "database",
    "upgrade": "database",
    "AccessRow": "models",
    "Base": "models",
    "CaseRow": "models",
    "HistoryRow": "models",
    "MeetingRow": "models",
    "OutboxRow": "models",
    "ParticipantRow": "models",
    "SignInTokenRow": "models",
    "TimerRow": "models",
    "CaseStore": "store",
    "StoredDecision": "store",
    "SweepReport": "store",
    "close_stores": "store",
    "open_store": "store",
    "validate_case_file": "store",
}


#: The modules that declare tables besides ``models``.
_TABLE_MODULES = ("absence.tables", "jobs", "replies", "retention", "staging")


def schema_metadata() -> MetaData:
    """``Base.metadata`` with every table declared. The table modules load on first use,
    so whatever needs the whole schema (a migration comparison, a test's clean-up, a
    "nothing was written" check) asks for it here."""
    for module in _TABLE_MODULES:
        importlib.import_module(f".{module}", __name__)
    from .models import Base

    return Base.metadata


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'persistence' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # once: later lookups do not come here
    return value


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
    "schema_metadata",
    "upgrade",
    "validate_case_file",
]
