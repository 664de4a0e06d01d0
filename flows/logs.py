"""forloeb's own log: where an unexpected error's full text goes, instead of Prefect.

An exception's text may quote personal data (a database error carries the SQL and its
parameters: a name, an address, a note). Prefect must see ids, not people, so a flow that
meets an unexpected error tells Prefect only the exception's type and the case id, and
writes the whole text and traceback here, for the operator: ``$FORLOEB_HOME/log/forloeb.log``
(default ``~/.forloeb/log/forloeb.log``), mode 0600 in a 0700 directory, rotated at
10 MB with 5 old files kept. The logger does not propagate: no handler of Prefect's (or
anyone's on the root logger) ever sees these records.

No Prefect in this module.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import threading
from io import TextIOWrapper
from pathlib import Path

__all__ = ["LOGGER_NAME", "log_path", "record_unexpected"]

LOGGER_NAME = "forloeb.local"
MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5

_lock = threading.Lock()


def log_path() -> Path:
    """The local log file (its directory made on first use)."""
    home = Path(os.environ.get("FORLOEB_HOME") or "~/.forloeb").expanduser()
    return home / "log" / "forloeb.log"


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating file whose every generation is created readable by its owner only."""

    def _open(self) -> TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.chmod(self.baseFilename, 0o600)  # a file made before with a looser umask
        return open(fd, "a", encoding=self.encoding, errors=self.errors)


def _logger() -> logging.Logger:
    """The local logger, its handler attached to the current ``log_path()`` (a test or a
    process may change ``FORLOEB_HOME``; a handler per path, never two for one)."""
    path = log_path()
    logger = logging.getLogger(LOGGER_NAME)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    with _lock:
        current = [h for h in logger.handlers if isinstance(h, _PrivateRotatingFileHandler)]
        if current and current[0].baseFilename == str(path.absolute()):
            return logger
        for handler in current:
            logger.removeHandler(handler)
            handler.close()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handler = _PrivateRotatingFileHandler(
            path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True
        )
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
    return logger


def record_unexpected(exc: BaseException, where: str) -> str:
    """Write ``exc`` with its traceback to the local log; return the one line for Prefect.

    ``where`` names ids only ("case 5", "the sweep"); the line returned holds the
    exception's type and ``where``, never its text.
    """
    name = type(exc).__name__
    try:
        _logger().error("unexpected %s in %s", name, where, exc_info=exc)
        # The variable, not the path: a home directory may carry a person's name.
        told = "see forloeb's log ($FORLOEB_HOME/log/forloeb.log)"
    except OSError:
        # The log cannot be written (a read-only home): the text is lost rather than leaked.
        told = "forloeb's log could not be written; set FORLOEB_HOME to a writable directory"
    return f"unexpected {name} in {where}; {told}"
