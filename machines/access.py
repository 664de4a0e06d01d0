"""Who may read what of a case: the one read rule the desk and the CLI share.

Pure: a case snapshot and the store's summary of the case (``CaseStore.show``) in, the
part a reader may see out. Need to know:

- a participant of the case sees the case, its notes (they are addressed to the
  participants), and the handover form only by the consent rules (``readable_form``);
- the operator (the CLI without ``--by``) and the desk's admins see ids, the process,
  states, times and deadlines, and people only by key and role: no name, address, title,
  place, note, form text, decision or action-plan text;
- anyone else sees nothing (the desk answers 404: not even that the case exists).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .case import CaseSnapshot
from .errors import ForloebError


@dataclass(frozen=True)
class Reader:
    """Who reads: a person by e-mail, or the operator (``email is None``)."""

    email: str | None

    @property
    def is_operator(self) -> bool:
        return self.email is None


OPERATOR = Reader(None)


def may_read(case: CaseSnapshot, reader: Reader) -> bool:
    """The operator reads every case (in its reduced form); a person only their own."""
    return reader.is_operator or bool(case.roles_of(reader.email or ""))


def form_for(case: CaseSnapshot, reader: Reader) -> dict[str, str] | None:
    """The form's sections this reader may see (the process's own rules, e.g. handover's
    consent); None when the process keeps no form or the rules say no."""
    from .registry import get_process

    read_form = get_process(case.process).form_reader
    if reader.is_operator or read_form is None:
        return None
    try:
        return read_form(case, reader.email or "")
    except ForloebError:
        return None


def case_view(case: CaseSnapshot, shown: Mapping[str, Any], reader: Reader) -> dict[str, Any]:
    """The part of ``shown`` (``CaseStore.show``) this reader may see.

    Call only when ``may_read`` holds. A participant gets the whole summary minus the form
    (see ``form_for``); the operator gets the summary without anything personal.
    """
    if not reader.is_operator:
        from .registry import get_process

        form_keys = get_process(case.process).form_keys
        data = {k: v for k, v in shown["data"].items() if k not in form_keys}
        history = [_without_form(h, form_keys) for h in shown["history"]]
        return {**shown, "data": data, "history": history}
    roles = {p["email"]: f"{p['role']}:{p['key']}" for p in shown["participants"] if p["email"]}
    keys = {p["email"]: p["key"] for p in shown["participants"] if p["email"]}
    return {
        "id": shown["id"],
        "process": shown["process"],
        "state": shown["state"],
        "version": shown["version"],
        "participants": [
            {"id": p["id"], "key": p["key"], "role": p["role"]} for p in shown["participants"]
        ],
        "meetings": [
            {k: m[k] for k in ("key", "sequence", "status", "start", "end", "participants")}
            for m in shown["meetings"]
        ],
        "timers": list(shown["timers"]),
        "history": [
            {
                "at": h["at"],
                "event": h["event"],
                "source": h["source"],
                "dest": h["dest"],
                "actor": roles.get(h["actor"], h["actor"] if h["actor"] == "system" else "?"),
            }
            for h in shown["history"]
        ],
        "outbox": [
            {"template": o["template"], "to": keys.get(o["to"], "?"), "status": o["status"]}
            for o in shown["outbox"]
        ],
    }


def _without_form(entry: Mapping[str, Any], form_keys: frozenset[str]) -> dict[str, Any]:
    details = entry.get("details")
    if not details or not form_keys & set(details):
        return dict(entry)
    return {**entry, "details": {k: v for k, v in details.items() if k not in form_keys}}
