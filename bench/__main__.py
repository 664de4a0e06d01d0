"""``make bench``: every figure beside its baseline, measured in the same run."""

from __future__ import annotations

import importlib
import os
import sys
import traceback

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
    "bench.replies",
]


def main() -> int:
    # The workloads act at fixed times in 2027: a simulated clock, as the demo and tests use.
    os.environ["FORLOEB_SIMULATED_CLOCK"] = "1"
    failed: list[str] = []
    # Piped into a file or CI log, a terminal's 80 columns would wrap every figure's name.
    console = Console() if sys.stdout.isatty() else Console(width=170)
    table = Table("figure", "value", "baseline (same run)", "baseline value", "ratio")
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # that capability has not landed yet
            raise
        console.print(f"[dim]running {name} …[/dim]")
        try:
            rows: list[Row] = [
                # A row is (figure, value, unit, baseline, baseline value); the unit may be
                # left out.
                row if len(row) == 5 else (row[0], row[1], "", row[2], row[3])
                for row in module.run()
            ]
        except Exception:
            # One broken workload must not lose the others' figures: say which, go on.
            traceback.print_exc()
            failed.append(name)
            table.add_row(f"{name}: FAILED (traceback above)", "–", "", "", "")
            continue
        for figure, value, unit, baseline, base_value in rows:
            ratio = value / base_value if base_value else float("nan")
            # Also as it comes: a run stopped halfway still shows what it measured.
            console.print(
                f"[dim]  {figure}: {value:,.3f} {unit} ({baseline}: {base_value:,.3f})[/dim]"
            )
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
    sys.exit(main())
