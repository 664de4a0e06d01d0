"""``make bench``: every figure beside its baseline, measured in the same run.

Each workload runs in a process of its own (``python -m bench MODULE``): one module's
Prefect server, settings and imports cannot leak into the next one's figures, and one
broken workload is reported while the others are still measured.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

from rich.console import Console
from rich.table import Table

from .common import Row

MODULES = [
    "bench.cli",
    "bench.foundation",
    "bench.notifications",
    "bench.absence",
    "bench.prefect",
    "bench.desk",
    "bench.series",
    "bench.rota",
    "bench.replies",
]
#: The last line a workload's process prints: its rows as JSON.
_ROWS = "BENCH-ROWS "


def run_one(name: str) -> int:
    """Run one workload here and print its rows (the parent reads them)."""
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            print(_ROWS + "[]")  # that capability has not landed yet
            return 0
        raise
    rows: list[Row] = [
        # A row is (figure, value, unit, baseline, baseline value); the unit may be left out.
        row if len(row) == 5 else (row[0], row[1], "", row[2], row[3])
        for row in module.run()
    ]
    print(_ROWS + json.dumps(rows), flush=True)
    return 0


def main() -> int:
    # The workloads act at fixed times in 2027: a simulated clock, as the demo and tests use.
    env = {**os.environ, "FORLOEB_SIMULATED_CLOCK": "1"}
    failed: list[str] = []
    # Piped into a file or CI log, a terminal's 80 columns would wrap every figure's name.
    console = Console() if sys.stdout.isatty() else Console(width=170)
    table = Table("figure", "value", "baseline (same run)", "baseline value", "ratio")
    for name in MODULES:
        console.print(f"[dim]running {name} …[/dim]")
        done = subprocess.run(
            [sys.executable, "-m", "bench", name], env=env, stdout=subprocess.PIPE, text=True
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith(_ROWS)]
        if done.returncode != 0 or not lines:
            failed.append(name)  # its traceback went to stderr, above
            table.add_row(f"{name}: FAILED (see above)", "–", "", "", "")
            continue
        for figure, value, unit, baseline, base_value in json.loads(lines[-1][len(_ROWS) :]):
            # Also as it comes: a run stopped halfway still shows what it measured.
            console.print(f"[dim]  {figure}: {value:,.3f} {unit} ({baseline}: {base_value:,.3f})")
            ratio = value / base_value if base_value else float("nan")
            table.add_row(
                figure,
                f"{value:,.3f} {unit}" if value < 100 else f"{value:,.0f} {unit}",
                baseline,
                f"{base_value:,.3f}" if base_value < 100 else f"{base_value:,.0f}",
                f"{ratio:.2f}×",
            )
    console.print(table)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run_one(sys.argv[1]) if len(sys.argv) > 1 else main())
