"""The desk's warm Prefect client: every action becomes a ``case-event`` flow run, every
case opened an ``open-case`` run.

Prefect is imported once, after ``flows.server.configure()``, and the flows run on one
event loop in a thread of their own, so an action pays for the flow run, not for starting
Prefect. Prefect sees what the CLI gives it: ids, event and state names, times, tags.

An action on the desk is decided and stored first, in the request (``CaseStore.fire``:
one decision in one transaction, as in the CLI's flow run; a new case: ``open_with``), and
its flow run is recorded after the person has their answer (``record``). A flow run costs
the Prefect server about 0.2 s of CPU; twenty people acting at once would each wait for the
others' runs on a small server, and nobody's decision should wait for, or fail with, the
orchestrator. If Prefect is down the decision stands, and the run that could not be
recorded is written to forloeb's own log (ids only).
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from concurrent.futures import wait as wait_for
from dataclasses import replace
from typing import Any

from flows import logs, server
from flows.actions import ActionOutcome, OpenOutcome

#: How long a stopping desk waits for the flow runs it still has to record.
DRAIN_SECONDS = 30.0
#: Flow runs recorded at once. One at a time: the Prefect server's CPU then stays out of
#: the way of people's requests, and its SQLite is not fought over (measured: 60 runs
#: recorded all at once took longer than one after the other).
RECORDING_AT_ONCE = 1
#: A run waits while people's requests are being answered, up to this long: recording is
#: for ops and can come a moment later; under steady traffic it still comes.
MOST_DEFERRED_SECONDS = 5.0


class FlowRunner:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self.api_url: str | None = None
        self._recording: set[Future[Any]] = set()  # under _recording_lock
        self._recording_lock = threading.Lock()
        self._one_at_a_time: asyncio.Semaphore | None = None  # made on the loop
        #: Requests the desk is answering now (``desk.app``'s middleware counts them, on
        #: the web server's one event loop).
        self.requests_in_flight = 0

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
        self.drain(DRAIN_SECONDS)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop = None

    def drain(self, timeout: float) -> bool:
        """Wait for the flow runs still being recorded; True when none is left."""
        with self._recording_lock:
            pending = list(self._recording)
        _, left = wait_for(pending, timeout=timeout)
        return not left

    def record(self, outcome: ActionOutcome | OpenOutcome, *tags: str) -> Future[Any] | None:
        """Record a stored decision as its ``case-event`` flow run (an opened case: its
        ``open-case`` run), without waiting for it. Never raises: the decision is stored,
        and the person gets their answer."""
        try:
            self.start()
        except Exception as exc:  # no Prefect server to be had
            logs.record_unexpected(exc, f"recording case {outcome.case_id}'s flow run")
            return None
        assert self._loop is not None and self.api_url is not None
        from prefect import tags as prefect_tags

        from flows import prefect_flows

        if isinstance(outcome, OpenOutcome):
            # The run's parameters stay in Prefect: a capacity warning's participant key
            # (typed by a person, so possibly a name) is left out; role and counts stay.
            outcome = replace(
                outcome,
                capacity_warnings=[
                    {k: v for k, v in w.items() if k != "key"} for w in outcome.capacity_warnings
                ],
            )

        async def go() -> None:
            if self._one_at_a_time is None:
                self._one_at_a_time = asyncio.Semaphore(RECORDING_AT_ONCE)
            try:
                async with self._one_at_a_time:
                    await self._after_the_rush()
                    with prefect_tags("forloeb", "desk", server.database_tag(), *tags):
                        if isinstance(outcome, OpenOutcome):
                            await prefect_flows.decided_open_case(outcome, return_state=True)
                        else:
                            await prefect_flows.decided_case_event(outcome, return_state=True)
            except Exception as exc:  # Prefect unreachable: the decision stands
                logs.record_unexpected(exc, f"recording case {outcome.case_id}'s flow run")

        future = asyncio.run_coroutine_threadsafe(go(), self._loop)
        with self._recording_lock:
            self._recording.add(future)
        future.add_done_callback(self._recorded)
        return future

    async def _after_the_rush(self) -> None:
        loop = asyncio.get_running_loop()
        latest = loop.time() + MOST_DEFERRED_SECONDS
        while self.requests_in_flight > 0 and loop.time() < latest:
            await asyncio.sleep(0.05)

    def _recorded(self, future: Future[Any]) -> None:
        with self._recording_lock:
            self._recording.discard(future)
