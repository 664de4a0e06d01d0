"""Run the real ``forloeb`` console script in a subprocess, as a coordinator would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from persistence import make_engine, schema_metadata

from . import prefect_harness

FORLOEB = str(Path(sys.executable).with_name("forloeb"))


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


#: Commands that run a flow need the session's Prefect server.
_FLOW_COMMANDS = {("case", "open"), ("case", "fire")}


def run(db_url: str, *args: str, now: str | None = None, **env: str) -> Result:
    if tuple(args[:2]) in _FLOW_COMMANDS or args[:1] in (("sweep",), ("demo",)):
        prefect_harness.ensure()
    environment = {
        **os.environ,
        "FORLOEB_DATABASE_URL": db_url,
        "COLUMNS": "200",
        **env,
    }
    environment.pop("FORLOEB_DEBUG", None)
    if now is not None:
        environment["FORLOEB_NOW"] = now
    done = subprocess.run(
        [FORLOEB, *args], capture_output=True, text=True, env=environment, timeout=120
    )
    return Result(done.returncode, done.stdout, done.stderr)


def ok(db_url: str, *args: str, now: str) -> str:
    """Run a command that must succeed; its standard output."""
    result = run(db_url, *args, now=now)
    assert result.code == 0, (args, result.err)
    return result.out


def write_json(directory: Path, name: str, content: Any) -> str:
    """A file for ``--file``: JSON, or the text as given (for malformed-input tests)."""
    path = directory / name
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    path.write_text(text, encoding="utf-8")
    return str(path)


def dump(db_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: 'nothing written' means this is unchanged."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return {
                table.name: [
                    tuple(r) for r in conn.execute(select(table).order_by(*table.primary_key))
                ]
                for table in schema_metadata().sorted_tables
            }
    finally:
        engine.dispose()
