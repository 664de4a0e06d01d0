"""The desk's warm Prefect client: every action is the CLI's ``case-event`` flow run.

Prefect is imported once, after ``flows.server.configure()``, and the flows run on one
event loop in a thread of their own, so an action pays for the flow run, not for starting
Prefect. Prefect sees what the CLI gives it: ids, an event name, a time, tags.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from flows import launch, server
from flows.actions import CaseAction, OpenCase


class FlowRunner:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self.api_url: str | None = None

    def start(self) -> None:
        with self._lock:
            if self._loop is not None:
                return
            self.api_url = server.configure()
            from flows import prefect_flows  # noqa: F401  (Prefect imported here, once)

            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=loop.run_forever, name="forloeb-desk-flows", daemon=True
            )
            thread.start()
            self._loop = loop

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop = None

    def _run(self, call: Callable[[Any], Coroutine[Any, Any, Any]], *tags: str) -> Any:
        self.start()
        assert self._loop is not None and self.api_url is not None
        from prefect import tags as prefect_tags

        from flows import prefect_flows

        async def go() -> Any:
            with prefect_tags("forloeb", "desk", server.database_tag(), *tags):
                state = await call(prefect_flows)
            if state.is_completed():
                return await state.aresult()
            code = prefect_flows.EXIT_CODES.get(state.name, 1)
            raise launch.FlowRunFailed(state.message or f"the flow run ended {state.name}", code)

        with launch.reaching(self.api_url):
            return asyncio.run_coroutine_threadsafe(go(), self._loop).result()

    def case_event(self, action: CaseAction, *tags: str) -> dict[str, Any]:
        result: dict[str, Any] = self._run(lambda f: f.case_event(action, return_state=True), *tags)
        return result

    def open_case(self, request: OpenCase) -> dict[str, Any]:
        result: dict[str, Any] = self._run(
            lambda f: f.open_case_flow(request, return_state=True), f"process:{request.process}"
        )
        return result
