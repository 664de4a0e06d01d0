"""Run a flow from the CLI, in this process, against the configured Prefect server.

The coordinator sees the same one line and exit code as before Prefect was in the path;
ops see one flow run per command in the Prefect UI. Prefect is imported only here (it
costs about a second), so commands that only read never pay for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from machines import ForloebError

from . import server


class FlowRunFailed(ForloebError):
    """A flow run ended Failed; its message is the one line, its state name the exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def run(call: Callable[[Any], Coroutine[Any, Any, Any]], *tags: str) -> Any:
    """``call(flows_module)`` returns the flow call's coroutine (with ``return_state=True``).

    Returns the flow's result; raises ``FlowRunFailed`` with its message when it failed.
    """
    api_url = server.configure()
    from prefect import tags as prefect_tags

    from . import prefect_flows

    async def go() -> Any:
        with prefect_tags("forloeb", *tags):
            state = await call(prefect_flows)
        if state.is_completed():
            return await state.aresult()
        code = prefect_flows.EXIT_CODES.get(state.name, 1)
        raise FlowRunFailed(state.message or f"the flow run ended {state.name}", code)

    with reaching(api_url):
        return asyncio.run(go())


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
