"""``forloeb sweep``, ``forloeb server …``, ``forloeb serve``: what runs flows in Prefect."""

from __future__ import annotations

import sys

import click

from flows import clock, launch, server
from persistence import open_store

from ._io import emit_json


@click.command()
@click.option("--json", "as_json", is_flag=True)
@click.option("--batch-size", default=100, show_default=True, type=click.IntRange(1, 5000))
def sweep(as_json: bool, batch_size: int) -> None:
    """Fire every due timer (deadlines, reminders, escalations), then send due mail.

    One flow run in Prefect; the deployment in prefect.yaml runs it every five minutes.
    """
    open_store()  # a database problem is reported before Prefect is involved
    at = clock.now().isoformat()
    result = launch.run("sweep", {"at": at, "batch_size": batch_size})
    if as_json:
        emit_json(result)
        return
    fired = result["fired"]
    listed = ", ".join(f"{k}: {v}" for k, v in sorted(fired.items())) or "nothing due"
    click.echo(f"sweep: {sum(fired.values())} timer(s) fired ({listed})")
    for failed in result.get("failed") or ():
        click.echo(
            f"timer {failed['timer']} of case {failed['case']} ({failed['process']}) set aside, "
            f"not retried: {failed['reason']}"
        )
    if result["delivery"] is not None:
        from notifications import DeliveryReport

        click.echo(f"outbox: {DeliveryReport(**result['delivery']).summary()}")
    retained = result.get("retention")
    if retained and "error" in retained:
        click.echo(f"retention not run: {retained['error']}")
    elif retained and any(retained["cases"].values()):  # quiet on the days nothing was due
        done = ", ".join(f"{p} {n}" for p, n in sorted(retained["cases"].items()) if n)
        click.echo(f"retention ({retained['mode']}): {done} closed case(s)")
    for label in ("absence_scan", "absence_tasks"):
        if result[label]:
            click.echo(
                f"{label.replace('_', ' ')}: "
                + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in result[label].items())
            )


@click.group("server")
def server_group() -> None:
    """The embedded Prefect server (used when PREFECT_API_URL is not set)."""


@server_group.command("start")
def server_start() -> None:
    """Start it (the first flow-running command does this by itself)."""
    info = server.start()
    click.echo(f"Prefect server at {info.ui_url} (pid {info.pid}); logs in {info.home}/server.log")


@server_group.command("status")
def server_status() -> None:
    info = server.running()
    if info is None:
        click.echo("the embedded Prefect server is not running")
        sys.exit(1)
    click.echo(f"Prefect server at {info.ui_url} (pid {info.pid})")


@server_group.command("stop")
def server_stop() -> None:
    stopped = server.stop()
    click.echo("stopped the embedded Prefect server" if stopped else "it was not running")


@click.command()
@click.option(
    "--limit",
    default=4,
    show_default=True,
    type=click.IntRange(1, 64),
    help="flow runs at the same time",
)
@click.option(
    "--interval",
    default=300,
    show_default=True,
    type=click.IntRange(10),
    help="seconds between sweeps",
)
def serve(limit: int, interval: int) -> None:
    """Serve the deployments (sweep on a schedule, coordinator actions) from this process."""
    server.configure(quiet=False)
    from flows.serving import serve_all

    serve_all(limit=limit, interval=interval)
