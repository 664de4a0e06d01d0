"""The Prefect flows: what moves a case, and what ops watch in the Prefect UI.

- ``case-event``: one coordinator action on one case (one flow run per action);
- ``open-case``: a new case from a staged case file;
- ``sweep``: every due timer, the absence scan, reminders, escalations and the outbox, in
  one flow run with a task per batch of timers (never a flow run per case);
- ``deliver-outbox``: the outbox alone, with Prefect task retries on SMTP failure.

Prefect sees ids, not people: parameters are ids, event names and times; names, tags,
artifacts, events and state messages carry case ids, process and state names, counts and
dates. A refusal ends the run ``Failed`` with the CLI's one-line message, *returned*, not
raised: a raised exception would be pickled into Prefect's result storage. Results are
never persisted.

Whatever fails, nothing personal reaches Prefect: an unexpected exception's text may quote
personal data (a database error carries its SQL parameters), so every flow and task body
catches it, writes it with its traceback to forloeb's own log (``flows.logs``) and tells
Prefect only its type and the ids involved (``Failed`` named ``Unexpected``). No exception
but ours (``ForloebError``, whose messages name no person) ever leaves a body, so Prefect's
engine never logs a foreign exception's text or traceback.

Import this module only after ``flows.server.configure()`` (Prefect reads its settings
once, at import).
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, ParamSpec, TypeVar, cast
from uuid import UUID

from prefect import flow, get_client, get_run_logger, runtime, task
from prefect.artifacts import (
    acreate_markdown_artifact,
    acreate_progress_artifact,
    acreate_table_artifact,
    aupdate_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import State
from prefect.context import FlowRunContext
from prefect.events import emit_event
from prefect.states import Failed
from pydantic import Field

from machines import COPENHAGEN, Conflict, ForloebError, InvalidInput, Refused, mermaid
from machines import get_process as _get_process
from notifications import DeliveryReport, deliver_outbox
from persistence import CaseStore, SweepReport, open_store, staging

from . import clock, logs, server
from .absence import daily_scan, mail_tasks
from .actions import (
    COORDINATOR_EVENTS,
    ActionOutcome,
    CaseAction,
    Moment,
    OpenCase,
    OpenOutcome,
    apply_action,
    id_only,
    open_case,
    when,
)
from .replies import counts as reply_counts
from .replies import read_replies
from .retention import daily_retention
from .sweep import absence_scan_claimed, mail_configured, retention_claimed


class UnexpectedError(ForloebError):
    """An unexpected error, already written to forloeb's log. Its message names the original
    exception's type and ids only (``logs.record_unexpected``)."""


#: A state name per kind of refusal, so ops can filter and the CLI can keep its exit codes.
FAILURE_NAMES: dict[type[ForloebError], str] = {
    InvalidInput: "Invalid input",
    Refused: "Refused",
    Conflict: "Conflict",
    UnexpectedError: "Unexpected",
}
EXIT_CODES = {name: cls.exit_code for cls, name in FAILURE_NAMES.items()}
_OUR_TAGS = ("process:", "case:", "state:", "db:")


def store() -> CaseStore:
    """The case store of this process: one engine per database URL, kept between runs.

    On a simulated clock every history row it writes says so."""
    case_store = open_store()
    case_store.stamp = {"simulated_clock": True} if clock.simulated() else {}
    return case_store


def failed(exc: ForloebError) -> State[Any]:
    name = next((n for cls, n in FAILURE_NAMES.items() if isinstance(exc, cls)), "Failed")
    return Failed(message=id_only(str(exc)), name=name)


def unexpected(exc: Exception, where: str) -> State[Any]:
    """The end of a flow run that met an unexpected error: its type and ``where`` (ids)
    for Prefect; its text and traceback in forloeb's log only."""
    if isinstance(exc, ForloebError):
        return failed(exc)
    return failed(UnexpectedError(logs.record_unexpected(exc, where)))


_P = ParamSpec("_P")
_R = TypeVar("_R")


def contained(
    where: str,
) -> Callable[[Callable[_P, Coroutine[Any, Any, _R]]], Callable[_P, Coroutine[Any, Any, _R]]]:
    """A task body that lets no foreign exception reach Prefect: the task engine would log
    its text and traceback to the API and put its text in the task run's state message.
    Ours pass (their messages name no person); any other is logged locally and becomes an
    ``UnexpectedError`` naming its type and ``where``."""

    def wrap(
        body: Callable[_P, Coroutine[Any, Any, _R]],
    ) -> Callable[_P, Coroutine[Any, Any, _R]]:
        @functools.wraps(body)
        async def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                return await body(*args, **kwargs)
            except (ForloebError, SmtpUnavailable):
                raise
            except Exception as exc:
                # "from None": the original, with its text, is not chained into the traceback.
                raise UnexpectedError(logs.record_unexpected(exc, where)) from None

        return guarded

    return wrap


def _local(value: datetime | str) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(COPENHAGEN).strftime("%Y-%m-%d %H:%M")


async def _tag_run(*ours: str, name: str | None = None) -> None:
    """Give the running flow run our tags, and its final name, in one call (after the fact:
    the state, and the process of a case, are known only once the case is loaded)."""
    run_id = runtime.flow_run.id
    if not run_id:
        return
    # Also runs started from a deployment get the database's tag: a purge finds them by it.
    ours = (*ours, server.database_tag()) if ours else ours
    tags = runtime.flow_run.tags
    if set(ours) == {t for t in tags if t.startswith(_OUR_TAGS)} and name is None:
        return  # given at creation: no call needed
    kept = [t for t in tags if not t.startswith(_OUR_TAGS)]
    changes: dict[str, Any] = {"tags": [*kept, *ours]}
    if name is not None and name != runtime.flow_run.name:
        changes["name"] = name
    context = FlowRunContext.get()
    if context is not None and isinstance(context.client, PrefectClient):
        # The run's own client: a new one would cost a connection set-up per action.
        await context.client.update_flow_run(UUID(run_id), **changes)
        return
    async with get_client() as client:
        await client.update_flow_run(UUID(run_id), **changes)


# ------------------------------------------------------------------ case-event


def _case_event_run_name() -> str:
    """``convene/case-42`` while it runs; ``samraad/convene/case-42`` once the case is
    loaded (``_tag_run``): the process costs no query of its own. Ids and names only."""
    raw = runtime.flow_run.parameters.get("action") or {}
    action = raw if isinstance(raw, dict) else raw.model_dump()
    case_id, event = action.get("case_id"), _known_event(action.get("event"))
    if not isinstance(case_id, int):
        return f"no-such-case/{event}/case-invalid"
    return f"{event}/case-{case_id}"


def _known_event(event: Any) -> str:
    # Free text typed by someone never becomes part of a name.
    return event if event in COORDINATOR_EVENTS else "unknown-event"


def _final_run_name(process: str, event: Any, case_id: int) -> str:
    return f"{process}/{_known_event(event)}/case-{case_id}"


def case_markdown(outcome: ActionOutcome) -> str:
    timer = (
        f"`{outcome.next_timer['event']}` due {_local(outcome.next_timer['due'])} (Copenhagen)"
        if outcome.next_timer
        else "none"
    )
    diagram = mermaid(_get_process(outcome.process), current=outcome.dest)
    return (
        f"### {outcome.process} case {outcome.case_id}: `{outcome.event}`\n\n"
        f"| | |\n|---|---|\n"
        f"| case | {outcome.case_id} |\n"
        f"| event | `{outcome.event}` |\n"
        f"| from → to | `{outcome.source}` → `{outcome.dest}` |\n"
        f"| next timer | {timer} |\n"
        f"| messages waiting | {outcome.pending_messages} |\n"
        f"| version | {outcome.version} |\n\n"
        f"```mermaid\n{diagram}```\n"
    )


def _emit_case_events(outcome: ActionOutcome | OpenOutcome, event: str, source: str | None) -> None:
    state = outcome.dest if isinstance(outcome, ActionOutcome) else outcome.state
    resource = {
        "prefect.resource.id": f"forloeb.case.{outcome.case_id}",
        "forloeb.process": outcome.process,
        "forloeb.state": state,
    }
    emit_event(
        event="forloeb.case.transitioned",
        resource=resource,
        payload={"event": event, "from": source, "to": state},
    )
    for topic in outcome.escalations if isinstance(outcome, ActionOutcome) else ():
        emit_event(event="forloeb.case.escalated", resource=resource, payload={"topic": topic})


@flow(
    name="case-event",
    flow_run_name=_case_event_run_name,
    persist_result=False,
    description="One coordinator action on one case: load, fire, store, enqueue.",
)
async def case_event(action: CaseAction) -> dict[str, Any] | State[Any]:
    try:
        return await _case_event(action)
    except Exception as exc:
        return unexpected(exc, f"case {action.case_id}")


async def _case_event(action: CaseAction) -> dict[str, Any] | State[Any]:
    try:
        outcome = apply_action(store(), action, clock.now())
    except ForloebError as exc:
        try:  # ops can still filter a refusal by process and case
            process = store().process_of(action.case_id)
            ours: tuple[str, ...] = (f"process:{process}", f"case:{action.case_id}")
        except InvalidInput:
            process, ours = "no-such-case", ()
        await _tag_run(*ours, name=_final_run_name(process, action.event, action.case_id))
        return failed(exc)
    await _report(outcome)
    return outcome.as_dict()


async def _report(outcome: ActionOutcome) -> None:
    """What ops see of a stored decision: its artifact, its events, its tags and name."""
    await acreate_markdown_artifact(
        key=f"case-{outcome.case_id}",
        markdown=case_markdown(outcome),
        description=f"{outcome.process} case {outcome.case_id}: {outcome.event}",
    )
    _emit_case_events(outcome, outcome.event, outcome.source)
    await _tag_run(
        f"process:{outcome.process}",
        f"case:{outcome.case_id}",
        f"state:{outcome.dest}",
        name=_final_run_name(outcome.process, outcome.event, outcome.case_id),
    )


def _decided_run_name() -> str:
    raw = runtime.flow_run.parameters.get("outcome") or {}
    decided = raw if isinstance(raw, dict) else asdict(raw)
    process, case_id = decided.get("process"), decided.get("case_id")
    if not isinstance(process, str) or process not in _PROCESS_NAMES:
        process = "unknown-process"  # never text from outside as part of a name
    if not isinstance(case_id, int):
        return f"{process}/{_known_event(decided.get('event'))}/case-invalid"
    return _final_run_name(process, decided.get("event"), case_id)


@flow(
    name="case-event",
    flow_run_name=_decided_run_name,
    persist_result=False,
    description="One coordinator action on one case, decided and stored by the desk before "
    "this run: the run records it for ops (artifact, events, tags) and changes nothing.",
)
async def decided_case_event(outcome: ActionOutcome) -> dict[str, Any] | State[Any]:
    """The desk's flow run of an action it has already stored (``desk.runner``): the same
    flow, name, tags, artifact and events as the CLI's, recorded after the person has their
    answer. Its parameters are the outcome's ids, state and event names, counts and times."""
    try:
        await _report(outcome)
    except Exception as exc:
        return unexpected(exc, f"case {outcome.case_id}")
    return outcome.as_dict()


def _open_case_run_name() -> str:
    raw = runtime.flow_run.parameters.get("request") or {}
    request = raw if isinstance(raw, dict) else raw.model_dump()
    process = request.get("process")
    return f"{process if process in _PROCESS_NAMES else 'unknown-process'}/open"


_PROCESS_NAMES = frozenset(OpenCase.model_json_schema()["properties"]["process"]["enum"])


@flow(
    name="open-case",
    flow_run_name=_open_case_run_name,
    persist_result=False,
    description="Open a case from a staged case file.",
)
async def open_case_flow(request: OpenCase) -> dict[str, Any] | State[Any]:
    try:
        return await _open_case(request)
    except Exception as exc:
        # No case id yet: the staged input's id says which attempt it was.
        return unexpected(exc, f"opening a case from staged input {request.input_id}")


async def _open_case(request: OpenCase) -> dict[str, Any] | State[Any]:
    try:
        outcome = open_case(store(), request, clock.now())
    except ForloebError as exc:
        return failed(exc)
    await _report_opened(outcome)
    return outcome.as_dict()


async def _report_opened(outcome: OpenOutcome) -> None:
    """What ops see of an opened case: its event, its tags, a warning of capacity."""
    _emit_case_events(outcome, "open", None)
    await _tag_run(
        f"process:{outcome.process}", f"case:{outcome.case_id}", f"state:{outcome.state}"
    )
    if outcome.capacity_warnings:
        get_run_logger().warning(
            "case %s: %d participant(s) at or over capacity",
            outcome.case_id,
            len(outcome.capacity_warnings),
        )


def _opened_run_name() -> str:
    raw = runtime.flow_run.parameters.get("outcome") or {}
    opened = raw if isinstance(raw, dict) else asdict(raw)
    process = opened.get("process")
    return f"{process if process in _PROCESS_NAMES else 'unknown-process'}/open"


@flow(
    name="open-case",
    flow_run_name=_opened_run_name,
    persist_result=False,
    description="A case opened on the desk before this run: the run records it for ops "
    "(events, tags, a capacity warning) and changes nothing.",
)
async def decided_open_case(outcome: OpenOutcome) -> dict[str, Any] | State[Any]:
    """The desk's flow run of a case it has already opened (``desk.runner``): the same flow,
    name, tags and events as the CLI's ``open-case`` run, recorded after the person has
    their answer. Its parameters are ids, the process and state, and counts by key."""
    try:
        await _report_opened(outcome)
    except Exception as exc:
        return unexpected(exc, f"case {outcome.case_id}")
    return outcome.as_dict()


# ------------------------------------------------------------------ sweep and delivery


class SmtpUnavailable(Exception):
    """The SMTP server could not be reached. Its message names the server, never a person."""


def _delivery_settings() -> tuple[int, float]:
    def number(name: str, default: float) -> float:
        raw = os.environ.get(name)
        try:
            value = float(raw) if raw else default
        except ValueError:
            value = -1
        if value < 0:
            raise InvalidInput(f"{name}={raw!r} must be a number of 0 or more")
        return value

    return int(number("FORLOEB_DELIVERY_RETRIES", 3)), number("FORLOEB_DELIVERY_RETRY_SECONDS", 30)


@task(name="fire-timers", persist_result=False, cache_policy=NO_CACHE)
@contained("the sweep's fire-timers task")
async def fire_timers(timer_ids: list[int], at: datetime) -> SweepReport:
    return store().fire_timers(timer_ids, at)


@task(name="absence-scan", persist_result=False, cache_policy=NO_CACHE)
@contained("the sweep's absence-scan task")
async def absence_scan(at: datetime) -> dict[str, Any]:
    return await asyncio.to_thread(daily_scan, store().engine, at)


@task(name="retention", persist_result=False, cache_policy=NO_CACHE)
@contained("the sweep's retention task")
async def retention(at: datetime) -> dict[str, Any]:
    return await daily_retention(store().engine, at)


@task(name="deliver-outbox", persist_result=False, cache_policy=NO_CACHE)
@contained("the deliver-outbox task")
async def deliver_due(at: datetime) -> DeliveryReport:
    """Send what is due. Rows already sent stay sent, so a retry never sends them twice."""
    report = await asyncio.to_thread(deliver_outbox, store().engine, at)
    if report.transport_error:
        raise SmtpUnavailable(id_only(report.transport_error))
    return report


@task(name="read-replies", persist_result=False, cache_policy=NO_CACHE)
@contained("the sweep's read-replies task")
async def read_replies_task(at: datetime) -> dict[str, Any]:
    """Answers from the organizer mailbox, and reminders to who has not answered: counts only."""
    report, reminders = await asyncio.to_thread(read_replies, store().engine, at)
    if report is not None and report.error:
        get_run_logger().warning("%s", id_only(report.error))
    return reply_counts(report, reminders)


@task(name="mail-absence-tasks", persist_result=False, cache_policy=NO_CACHE)
@contained("the sweep's mail-absence-tasks task")
async def mail_absence_tasks(at: datetime) -> dict[str, int]:
    return await asyncio.to_thread(mail_tasks, store().engine, at)


async def _deliver(at: datetime) -> tuple[DeliveryReport | None, str | None]:
    """Deliver with Prefect retries; (report, None) or (None, why it could not)."""
    retries, delay = _delivery_settings()
    retrying = deliver_due.with_options(retries=retries, retry_delay_seconds=delay)
    # An async task called with return_state=True gives an awaitable; the stubs say State.
    state = await cast(Awaitable[State[DeliveryReport]], retrying(at, return_state=True))
    if state.is_completed():
        return await state.aresult(), None
    return None, id_only(state.message or "the outbox could not be delivered")


def _emit_delivery_events(report: DeliveryReport) -> None:
    if report.failed:
        emit_event(
            event="forloeb.delivery.failed",
            resource={"prefect.resource.id": "forloeb.outbox"},
            payload={
                "failed": report.failed,
                "outbox_ids": report.failed_ids,
                "escalations": report.escalations,
                "unescalated_outbox_ids": report.unescalated,
            },
        )


#: Case ids in one aggregate event at most: a Prefect event is limited in size (1.5 MB).
MAX_EVENT_CASE_IDS = 10_000


def _emit_sweep_escalations(report: SweepReport) -> None:
    """One ``forloeb.case.escalated`` event per sweep, not one per case: a sweep with 1,000
    escalations cost the Prefect server 1.7 s of CPU as single events, 0.45 s as one."""
    if not report.escalations:
        return
    counts = Counter(f"{process}/{topic}" for _, process, topic in report.escalations)
    case_ids = sorted({case_id for case_id, _, _ in report.escalations})
    emit_event(
        event="forloeb.case.escalated",
        resource={"prefect.resource.id": "forloeb.sweep.escalations"},
        payload={
            "escalations": len(report.escalations),
            "by_process_topic": dict(sorted(counts.items())),
            "case_ids": case_ids[:MAX_EVENT_CASE_IDS],
            "case_ids_left_out": max(0, len(case_ids) - MAX_EVENT_CASE_IDS),
        },
    )


def _emit_failed_timers(report: SweepReport) -> None:
    """One event per sweep for the timers it set aside: ids and counts, no reasons."""
    emit_event(
        event="forloeb.timers.failed",
        resource={"prefect.resource.id": "forloeb.timers"},
        payload={
            "failed": len(report.failed),
            "timer_ids": [timer for timer, _, _, _ in report.failed],
            "case_ids": sorted({case for _, case, _, _ in report.failed}),
        },
    )


def _sweep_run_name() -> str:
    at = runtime.flow_run.parameters.get("at")
    try:
        moment = when(at, clock.now())
    except InvalidInput:
        return "sweep/bad-time"
    return f"sweep/{_local(moment)}"


def sweep_table(
    report: SweepReport,
    delivery: DeliveryReport | None,
    overdue: dict[str, int],
) -> list[dict[str, Any]]:
    """One row per (process, what): timers fired by kind, messages, cases overdue."""
    rows: list[dict[str, Any]] = []
    for key, count in sorted(report.fired.items()):
        process, kind = key.split("/", 1)
        rows.append({"process": process, "what": f"timer fired: {kind}", "count": count})
    for what, count in (("timers voided", report.voided), ("conflicts", report.conflicts)):
        if count:
            rows.append({"process": "all", "what": what, "count": count})
    set_aside: dict[str, int] = {}
    for _, _, process, _ in report.failed:
        set_aside[process] = set_aside.get(process, 0) + 1
    for process, count in sorted(set_aside.items()):
        rows.append({"process": process, "what": "timers failed (set aside)", "count": count})
    if delivery is not None:
        for what in ("sent", "failed", "retrying", "superseded", "deferred", "escalations"):
            rows.append(
                {"process": "all", "what": f"messages {what}", "count": getattr(delivery, what)}
            )
    for process, count in sorted(overdue.items()):
        rows.append({"process": process, "what": "cases overdue", "count": count})
    return rows


def retention_rows(retained: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The daily retention run in the sweep summary: counts per process, or its one line."""
    if retained is None:
        return []
    if "error" in retained:
        return [{"process": "all", "what": f"retention not run: {retained['error']}", "count": 0}]
    done = {"anonymise": "cases anonymised", "purge": "cases purged"}.get(retained["mode"])
    rows = [
        {"process": process, "what": done, "count": count}
        for process, count in sorted(retained["cases"].items())
        if done and count
    ]
    prefect = retained.get("prefect") or {}
    if prefect.get("cases_not_removed"):
        rows.append(
            {
                "process": "all",
                "what": "purged cases whose flow runs were not removed",
                "count": len(prefect["cases_not_removed"]),
            }
        )
    return rows


@flow(
    name="sweep",
    flow_run_name=_sweep_run_name,
    persist_result=False,
    description="Fire every due timer, run the daily absence scan, deliver the outbox.",
)
async def sweep(
    at: Annotated[
        Moment | None, Field(description="Sweep as of this time (UTC offset); empty: now.")
    ] = None,
    batch_size: Annotated[int, Field(ge=1, le=5000, description="Timers per task.")] = 100,
) -> dict[str, Any] | State[Any]:
    try:
        return await _sweep(at, batch_size)
    except Exception as exc:
        return unexpected(exc, "the sweep")


async def _sweep(at: Moment | None, batch_size: int) -> dict[str, Any] | State[Any]:
    try:
        now = when(at, clock.now())
        case_store = store()
        purged = staging.purge_stale(case_store.engine, now)
        scanned = None
        if absence_scan_claimed(case_store, now):
            scanned = await absence_scan(now)  # may open cases; their timers fire below
        retained = await retention(now) if retention_claimed(case_store, now) else None
        total = case_store.count_due(now)
        progress = await acreate_progress_artifact(
            progress=0.0, description=f"sweep: {total} due timer(s) fired so far"
        )
        report, done = SweepReport(), 0
        for timer_ids in case_store.due_timer_batches(now, batch_size):
            report.merge(await fire_timers(timer_ids, now))
            done += len(timer_ids)
            await aupdate_progress_artifact(
                artifact_id=progress, progress=min(100.0, 100.0 * done / max(total, 1))
            )
        if not total:
            await aupdate_progress_artifact(artifact_id=progress, progress=100.0)
        replies = await read_replies_task(now)  # declines and reminders go out below
        delivery, delivery_error, tasks = None, None, None
        if mail_configured():
            delivery, delivery_error = await _deliver(now)
            if delivery is not None:
                tasks = await mail_absence_tasks(now)
        overdue = case_store.count_overdue(now)
    except ForloebError as exc:
        return failed(exc)
    await acreate_table_artifact(
        key="sweep-summary",
        table=sweep_table(report, delivery, overdue) + retention_rows(retained),
        description=f"sweep as of {_local(now)} (Copenhagen)",
    )
    _emit_sweep_escalations(report)
    if delivery is not None:
        _emit_delivery_events(delivery)
    if report.failed:
        _emit_failed_timers(report)
    result = {
        "fired": report.fired,
        "voided": report.voided,
        "conflicts": report.conflicts,
        "failed": [
            {"timer": timer, "case": case, "process": process, "reason": reason}
            for timer, case, process, reason in report.failed
        ],
        "escalations": len(report.escalations),
        "delivery": delivery.as_dict() if delivery else None,
        "absence_tasks": tasks,
        "absence_scan": scanned,
        "overdue": overdue,
        "staged_inputs_purged": purged,
        "retention": retained,
        "replies": replies,
    }
    if delivery_error:
        return Failed(message=f"{delivery_error}; the messages stay pending", data=None)
    return result


@flow(
    name="deliver-outbox",
    flow_run_name="deliver-outbox",
    persist_result=False,
    description="Send what is due in the outbox; SMTP failures are retried as task retries.",
)
async def deliver_outbox_flow(
    at: Annotated[
        Moment | None, Field(description="Deliver as of this time (UTC offset); empty: now.")
    ] = None,
) -> dict[str, Any] | State[Any]:
    try:
        return await _deliver_outbox(at)
    except Exception as exc:
        return unexpected(exc, "the outbox delivery")


async def _deliver_outbox(at: Moment | None) -> dict[str, Any] | State[Any]:
    try:
        now = when(at, clock.now())
        store()  # a database error is our one line, before any SMTP work
    except ForloebError as exc:
        return failed(exc)
    delivery, error = await _deliver(now)
    if delivery is None:
        return Failed(message=f"{error}; the messages stay pending")
    _emit_delivery_events(delivery)
    await acreate_table_artifact(
        key="outbox-delivery",
        table=sweep_table(SweepReport(), delivery, {}),
        description=f"outbox delivery as of {_local(now)} (Copenhagen)",
    )
    return delivery.as_dict()
