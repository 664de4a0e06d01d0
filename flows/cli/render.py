"""How a case looks to a coordinator in a terminal. All times in Copenhagen time."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from functools import cache
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from machines import COPENHAGEN

from ._io import printable


@cache
def console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def local(value: str | datetime | None) -> str:
    if value is None:
        return "—"
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.astimezone(COPENHAGEN).strftime("%Y-%m-%d %H:%M")


def print_case(case: dict[str, Any]) -> None:
    """A case as ``machines.case_view`` cut it: a participant's view has names, title and
    places; the operator's has none of them, and the columns for them are left out."""
    out = console()
    personal = "title" in case  # the operator's view holds no title, name or place
    heading = (
        f"[bold]case {case['id']}[/bold]  {case['process']}  state [bold]{case['state']}[/bold]"
        f"  version {case['version']}"
    )
    if personal:
        heading += f"  —  {shown(case['title'])}, {shown(case['location'])}"
    out.print(heading)
    people_columns = ("key", "role", "name", "e-mail") if personal else ("key", "role")
    people = Table(*people_columns, title="participants", title_justify="left")
    for p in case["participants"]:
        cells = [shown(p["key"]), p["role"]]
        if personal:
            cells += [shown(p["name"]), shown(p["email"] or "—")]
        people.add_row(*cells)
    out.print(people)
    if case["meetings"]:
        meeting_columns = ["key", "status", "start", "end", "seq"]
        if personal:
            meeting_columns.append("location")
        meetings = Table(*meeting_columns, title="meetings", title_justify="left")
        for m in case["meetings"]:
            cells = [shown(m["key"]), m["status"], local(m["start"]), local(m["end"])]
            cells.append(str(m["sequence"]))
            if personal:
                cells.append(shown(m["location"]))
            meetings.add_row(*cells)
        out.print(meetings)
    pending = [t for t in case["timers"] if t["status"] == "pending"]
    if pending:
        timers = Table("event", "due", title="timers", title_justify="left")
        for t in pending:
            timers.add_row(t["event"], local(t["due"]))
        out.print(timers)
    history = Table("at", "event", "from", "to", "by", title="history", title_justify="left")
    for h in case["history"]:
        history.add_row(
            local(h["at"]), h["event"], h["source"] or "—", h["dest"], shown(h["actor"])
        )
    out.print(history)
    if case["outbox"]:
        counts: dict[tuple[str, str], int] = {}
        for o in case["outbox"]:
            counts[(o["template"], o["status"])] = counts.get((o["template"], o["status"]), 0) + 1
        outbox = Table("template", "status", "messages", title="outbox", title_justify="left")
        for (template, status), n in counts.items():
            outbox.add_row(template, status, str(n))
        out.print(outbox)


def print_case_list(cases: Iterable[dict[str, Any]]) -> None:
    """One line per case, as they come: a rich table would hold (and measure) every row
    first, which for a municipality's 100,000 cases took 39 s and 500 MB."""
    columns = (("id", 7), ("process", 9), ("state", 20), ("title", 32), ("next timer", 16))

    def lines() -> Iterator[str]:
        yield "  ".join(name.ljust(width) for name, width in columns) + "  overdue\n"
        for c in cases:
            due = c["next_timer_due"]
            cells = (
                str(c["id"]),
                c["process"],
                c["state"],
                printable(c["title"]),
                # The store gives Copenhagen ISO times: "2027-01-13T08:00:00+01:00".
                "—" if due is None else f"{due[:10]} {due[11:16]}",
            )
            line = "  ".join(cell.ljust(w) for cell, (_, w) in zip(cells, columns, strict=True))
            yield f"{line}  {'yes' if c['overdue'] else ''}".rstrip() + "\n"

    _write_batched(lines())


def stream_json(items: Iterable[Any]) -> None:
    """A JSON array written as it is produced (same text as ``json.dumps(list, indent=2)``)."""

    def parts() -> Iterator[str]:
        first = True
        for item in items:
            body = json.dumps(item, ensure_ascii=False, indent=2).replace("\n", "\n  ")
            yield ("[\n  " if first else ",\n  ") + body
            first = False
        yield "[]\n" if first else "\n]\n"

    _write_batched(parts())


def _write_batched(pieces: Iterable[str], batch: int = 2_000) -> None:
    """Text written a few thousand pieces at a time: one flushed write per line or item was
    a third of a 100,000-case listing."""
    buffer: list[str] = []
    for piece in pieces:
        buffer.append(piece)
        if len(buffer) >= batch:
            sys.stdout.write("".join(buffer))
            buffer.clear()
    sys.stdout.write("".join(buffer))
    sys.stdout.flush()


def shown(text: str) -> str:
    """Personal or free text for a rich table: ``printable``, and rich's markup escaped (a
    title "[blink]…" must not style the terminal)."""
    return escape(printable(text))
