"""Erasure is on disk at once: right after a withdrawal (which erases the handover form),
the form's text is in no file of the SQLite database's directory — not in the database,
not in its write-ahead log, not in the shared-memory index."""

from __future__ import annotations

import json
from pathlib import Path

from persistence import CaseStore, ensure_schema, make_engine
from tests.cli_helpers import run
from tests.conftest import at
from tests.test_handover_rules import MOTHER, drive, open_handover

#: A text that appears nowhere else: the form's one section, as the nurse wrote it.
FORM_TEXT = "Mor sover kun fire timer; zebra-kvartet-7731 æøå"


def files_holding(directory: Path, needle: str) -> list[str]:
    """The files in ``directory`` whose bytes hold ``needle``: as UTF-8 or UTF-16 text (SQLite
    stores either), or as JSON writes it inside a string (non-ASCII escaped)."""
    escaped = json.dumps(needle)[1:-1]
    wanted = {needle.encode("utf-8"), needle.encode("utf-16-le"), escaped.encode("ascii")}
    return sorted(
        f.name
        for f in directory.iterdir()
        if f.is_file() and any(w in f.read_bytes() for w in wanted)
    )


def test_a_withdrawn_consents_form_is_in_no_file_of_the_database_right_after(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "db"
    directory.mkdir()
    engine = make_engine(f"sqlite:///{directory / 'forloeb.db'}")
    ensure_schema(engine)
    store = CaseStore(engine)
    case_id = open_handover(store)
    drive(store, case_id, "form_completed",
          complete_form={"sections": {"health": FORM_TEXT, "wishes": "Ro"}})  # fmt: skip
    assert files_holding(directory, FORM_TEXT)  # the search finds it while it is there

    store.fire(case_id, "withdraw", MOTHER, {}, at("2027-03-03 09:00"))

    # The engine stays open, as the CLI's and the flows' does: nothing waits for a close.
    assert files_holding(directory, FORM_TEXT) == []
    assert store.snapshot(case_id).state == "withdrawn"
    engine.dispose()


def test_right_after_the_withdraw_command_the_form_is_in_no_file_of_the_database(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "db"
    directory.mkdir()
    url = f"sqlite:///{directory / 'forloeb.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    store = CaseStore(engine)
    case_id = open_handover(store)
    drive(store, case_id, "form_completed",
          complete_form={"sections": {"health": FORM_TEXT, "wishes": "Ro"}})  # fmt: skip
    engine.dispose()
    assert files_holding(directory, FORM_TEXT)

    result = run(url, "case", "fire", str(case_id), "withdraw", "--by", MOTHER,
                 now="2027-03-03T09:00:00+01:00")  # fmt: skip

    assert result.code == 0, result.err
    assert files_holding(directory, FORM_TEXT) == []
