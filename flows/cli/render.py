"""How a case looks to a coordinator in a terminal. All times in Copenhagen time."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from rich.console import Console
from rich.table import Table

from machines import COPENHAGEN


@cache
def console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def local(value: str | datetime | None) -> str:
    if value is None:
        return "—"
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.astimezone(COPENHAGEN).strftime("%Y-%m-%d %H:%M")


def print_case(case: dict[str, Any]) -> None:
    out = console()
    out.print(
        f"[bold]case {case['id']}[/bold]  {case['process']}  state [bold]{case['state']}[/bold]"
        f"  version {case['version']}  —  {case['title']}, {case['location']}"
    )
    people = Table("key", "role", "name", "e-mail", title="participants", title_justify="left")
    for p in case["participants"]:
        people.add_row(p["key"], p["role"], p["name"], p["email"] or "—")
    out.print(people)
    if case["meetings"]:
        meetings = Table(
            "key",
            "status",
            "start",
            "end",
            "seq",
            "location",
            title="meetings",
            title_justify="left",
        )
        for m in case["meetings"]:
            meetings.add_row(
                m["key"],
                m["status"],
                local(m["start"]),
                local(m["end"]),
                str(m["sequence"]),
                m["location"],
            )
        out.print(meetings)
    pending = [t for t in case["timers"] if t["status"] == "pending"]
    if pending:
        timers = Table("event", "due", title="timers", title_justify="left")
        for t in pending:
            timers.add_row(t["event"], local(t["due"]))
        out.print(timers)
    history = Table("at", "event", "from", "to", "by", title="history", title_justify="left")
    for h in case["history"]:
        history.add_row(local(h["at"]), h["event"], h["source"] or "—", h["dest"], h["actor"])
    out.print(history)
    if case["outbox"]:
        counts: dict[tuple[str, str], int] = {}
        for o in case["outbox"]:
            counts[(o["template"], o["status"])] = counts.get((o["template"], o["status"]), 0) + 1
        outbox = Table("template", "status", "messages", title="outbox", title_justify="left")
        for (template, status), n in counts.items():
            outbox.add_row(template, status, str(n))
        out.print(outbox)


def print_case_list(cases: list[dict[str, Any]]) -> None:
    out = console()
    table = Table("id", "process", "state", "title", "next timer", "overdue")
    for c in cases:
        table.add_row(
            str(c["id"]),
            c["process"],
            c["state"],
            c["title"],
            local(c["next_timer_due"]),
            "yes" if c["overdue"] else "",
        )
    out.print(table)
