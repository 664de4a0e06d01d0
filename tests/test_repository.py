"""The repository itself: no file carries an unresolved merge (a README did, for a day)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^(<{7} |={7}$|>{7} )", re.MULTILINE)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_no_tracked_file_holds_merge_conflict_markers() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    conflicted = []
    for name in filter(None, listed):
        path = ROOT / name.decode()
        if path.suffix in {".png", ".woff", ".woff2", ".ico"} or not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", "replace")
        if MARKER.search(text):
            conflicted.append(str(path.relative_to(ROOT)))
    assert conflicted == []
