"""``forloeb retention run [--dry-run] [--json]`` and ``forloeb retention runs``: closed
cases anonymised or purged after the configured period, old absence data deleted, each run
recorded (counts, never names). The settings are in ``persistence.retention`` and the
README ("Retention"); the sweep runs the same once a day."""

from __future__ import annotations

import click

from flows import clock
from persistence import open_store
from persistence.retention import (
    RetentionReport,
    RetentionSettings,
    run_retention,
    runs_recorded,
)

from ._io import emit_json

__all__ = ["retention"]


@click.group("retention")
def retention() -> None:
    """Closed cases anonymised or purged after the period the municipality configures."""


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="count what would go; change nothing")
@click.option("--json", "as_json", is_flag=True)
def run(dry_run: bool, as_json: bool) -> None:
    """Anonymise or purge (FORLOEB_RETENTION_MODE) the closed cases whose last event is older
    than FORLOEB_RETENTION_YEARS[_PROCESS]; delete absence data older than
    FORLOEB_RETENTION_ABSENCE_YEARS."""
    from flows.retention import finish, forget_flow_runs_now

    settings = RetentionSettings.from_env()  # a malformed setting: one line, nothing written
    store = open_store()
    report = run_retention(store.engine, clock.now(), settings, dry_run=dry_run)
    prefect = None
    if report.purged_case_ids:
        prefect = forget_flow_runs_now(report.purged_case_ids)
        finish(store.engine, report, prefect)
    if as_json:
        emit_json({**report.as_dict(), "prefect": prefect})
        return
    for line in _lines(report, prefect):
        click.echo(line)


@retention.command("runs")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True)
def runs(limit: int, as_json: bool) -> None:
    """The recorded retention runs, newest first."""
    recorded = runs_recorded(open_store().engine, limit)
    if as_json:
        emit_json(recorded)
        return
    if not recorded:
        click.echo("no retention run has been recorded")
    for r in recorded:
        cases = ", ".join(f"{p} {n}" for p, n in sorted(r["cases"].items()) if n) or "no cases"
        click.echo(f"run {r['id']} at {r['at'][:16]} ({r['mode']}): {cases}")


def _lines(report: RetentionReport, prefect: dict[str, object] | None) -> list[str]:
    if report.mode == "off":
        return ["retention is off (FORLOEB_RETENTION_MODE=off): nothing was changed"]
    done = {"anonymise": "anonymised", "purge": "purged"}[report.mode]
    verb = f"would be {done}" if report.dry_run else done
    lines = [
        f"{process}: {count} closed case(s) {verb} (last event before {report.cutoffs[process]})"
        for process, count in sorted(report.cases.items())
    ]
    absence = ", ".join(f"{what} {n}" for what, n in report.absence.items())
    lines.append(
        f"absence data before {report.absence_cutoff} "
        f"{'that would be deleted' if report.dry_run else 'deleted'}: {absence}"
    )
    if prefect is not None:
        skipped = prefect.get("skipped")
        lines.append(
            f"prefect: {prefect['flow_runs_deleted']} flow run(s) of purged cases deleted"
            + (f"; not removed ({skipped})" if skipped else "")
        )
        left = prefect.get("cases_not_removed")
        if left and not skipped:
            lines.append(f"prefect: the flow runs of case(s) {left} could not be removed")
    if report.run_id is not None:
        lines.append(f"recorded as retention run {report.run_id}")
    return lines
