"""Run a flow for the CLI against the configured Prefect server, and map its end to the CLI's.

The coordinator sees the same one line and exit code as before Prefect was in the path;
ops see one flow run per command in the Prefect UI. With the embedded server the flow runs
in the warm runner (``flows.runner``), so the command never imports prefect (about a
second, and half a second more at exit); otherwise, or when no runner can start, in this
process. Prefect is imported only inside the functions here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

from machines import ForloebError

from . import runner, server
from .runner import Outcome

__all__ = ["FlowRunFailed", "drain", "one_client", "reaching", "run", "run_flow"]


class FlowRunFailed(ForloebError):
    """A flow run ended Failed; its message is the one line, its state name the exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def run(flow: str, parameters: dict[str, Any], *tags: str) -> Any:
    """Run the flow ``flow`` (a name in ``prefect_flows``, one of ``runner.FLOWS``) with
    JSON parameters (ids, event names, times); the run gets ``tags`` besides ``forloeb``.

    Returns the flow's result; raises ``FlowRunFailed`` with its message when it failed.
    """
    outcome = None
    if runner.enabled():
        info = server.start()
        outcome = runner.call(info.home, info.api_url, flow, parameters, tags)
    if outcome is None:
        api_url = server.configure()
        from . import prefect_flows

        async def in_process() -> Outcome:
            async with one_client():
                return await run_flow(getattr(prefect_flows, flow), parameters, tags)

        with reaching(api_url):
            outcome = asyncio.run(in_process())
    if outcome.completed:
        return outcome.result
    raise FlowRunFailed(outcome.message or f"the flow run ended {outcome.state}", outcome.exit_code)


async def run_flow(flow: Any, parameters: dict[str, Any], tags: tuple[str, ...] = ()) -> Outcome:
    """Call a flow of ``prefect_flows`` in this process; its final state as an ``Outcome``."""
    from prefect import tags as prefect_tags

    from . import prefect_flows

    with prefect_tags("forloeb", server.database_tag(), *tags):
        state = await flow(**parameters, return_state=True)
    if state.is_completed():
        return Outcome(True, state.name, state.message, 0, await state.aresult())
    code = prefect_flows.EXIT_CODES.get(state.name, 1)
    return Outcome(False, state.name, state.message, code, None)


@contextlib.asynccontextmanager
async def one_client() -> AsyncIterator[None]:
    """Every flow run inside uses this process's one Prefect client (one sync, one async).

    Without it, Prefect creates clients per flow run (two, plus a sync one twice to read
    the default result storage) and each loads the CA bundle, even for plain http.
    """
    from prefect.context import AsyncClientContext, SyncClientContext

    with SyncClientContext():
        async with AsyncClientContext():
            yield


def drain(timeout: float = 30.0) -> None:
    """Send the events and logs still queued, before the process exits."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    EventsWorker.drain_all(timeout=timeout)
    APILogWorker.drain_all(timeout=timeout)


@contextlib.contextmanager
def reaching(api_url: str) -> Iterator[None]:
    """A Prefect server that does not answer is one line, not a traceback."""
    import httpx

    try:
        yield
    except (httpx.HTTPError, RuntimeError) as exc:
        if isinstance(exc, RuntimeError) and "reach API" not in str(exc):
            raise
        raise ForloebError(
            f"cannot reach the Prefect server at {api_url}; check PREFECT_API_URL, or unset "
            "it to use the embedded server"
        ) from None
