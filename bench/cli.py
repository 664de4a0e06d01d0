"""Commands as a person starts them: whole-process wall time and peak memory.

Each figure is the median of several runs of the real ``forloeb`` console script, beside
``python -c pass`` and ``python -c "import prefect"`` measured in the same run (what a
command costs before it does anything, and what importing Prefect alone would cost).
Peak memory is the command's own (``wait4``'s rusage of that child), never this process's.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from persistence import CaseStore, ensure_schema, make_engine

from .common import Row, scratch_database
from .foundation import populate_open_cases
from .workload import CASE_FILE, START

RUNS = 5
FORLOEB = str(Path(sys.executable).with_name("forloeb"))


def _run_once(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak resident MB) of one run of ``command``."""
    started = time.perf_counter()
    child = subprocess.Popen(
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        assert child.stderr is not None
        raise RuntimeError(f"{command[1:3]} failed: {child.stderr.read().decode()[:300]}")
    child.returncode = 0  # reaped by wait4 above
    return elapsed, usage.ru_maxrss / 1024  # Linux: KiB


def measure(command: list[str], env: dict[str, str], runs: int = RUNS) -> tuple[float, float]:
    """Median wall seconds and median peak MB over ``runs`` runs, after one warm-up."""
    _run_once(command, env)
    results = [_run_once(command, env) for _ in range(runs)]
    return (
        statistics.median(r[0] for r in results),
        statistics.median(r[1] for r in results),
    )


def run() -> list[Row]:
    env = {**os.environ}
    env.pop("FORLOEB_DEBUG", None)
    bare, bare_mb = measure([sys.executable, "-c", "pass"], env)
    prefect, _ = measure([sys.executable, "-c", "import prefect"], env)
    rows: list[Row] = []
    with scratch_database("sqlite") as url:
        engine = make_engine(url)
        ensure_schema(engine)
        case_id = CaseStore(engine).open_case("samraad", CASE_FILE, START)
        engine.dispose()
        env["FORLOEB_DATABASE_URL"] = url
        show, _ = measure([FORLOEB, "case", "show", str(case_id)], env)
        rows.append(("forloeb case show (whole process)", show, "s", "python -c pass", bare))
        rows.append(
            ("forloeb case show (whole process)", show, "s", 'python -c "import prefect"', prefect)
        )
    with scratch_database("sqlite") as url:
        populate_open_cases(url, 100_000, 1_000)
        env["FORLOEB_DATABASE_URL"] = url
        listed, listed_mb = measure([FORLOEB, "case", "list"], env, runs=3)
        rows.append(("forloeb case list, 100,000 cases", listed, "s", "python -c pass", bare))
        rows.append(
            (
                "forloeb case list, 100,000 cases: peak memory",
                listed_mb,
                "MB",
                "python -c pass",
                bare_mb,
            )
        )
        as_json, json_mb = measure([FORLOEB, "case", "list", "--json"], env, runs=3)
        rows.append(
            ("forloeb case list --json, 100,000 cases", as_json, "s", "python -c pass", bare)
        )
        rows.append(
            (
                "forloeb case list --json, 100,000: peak memory",
                json_mb,
                "MB",
                "python -c pass",
                bare_mb,
            )
        )
    return rows
