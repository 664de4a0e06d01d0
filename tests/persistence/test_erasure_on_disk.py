"""Erasure is on disk at once: right after a withdrawal (which erases the handover form),
the form's text is in no file of the SQLite database's directory — not in the database,
not in its write-ahead log, not in the shared-memory index."""

from __future__ import annotations

from pathlib import Path

from persistence import CaseStore, make_engine
from tests.conftest import at
from tests.test_handover_rules import MOTHER, drive, open_handover

#: A text that appears nowhere else: the form's one section, as the nurse wrote it.
FORM_TEXT = "Mor sover kun fire timer; zebra-kvartet-7731"


def files_holding(directory: Path, needle: str) -> list[str]:
    """The files in ``directory`` whose bytes hold ``needle`` (UTF-8 or UTF-16, as SQLite
    may store text either way; JSON may escape non-ASCII, so an ASCII part is searched)."""
    wanted = [needle.encode("utf-8"), needle.encode("utf-16-le"), b"zebra-kvartet-7731"]
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
    from persistence import ensure_schema

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
