"""What every command reads and writes: JSON files, ``--set`` pairs, ``--by``, JSON output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from machines import InvalidInput


def printable(text: str) -> str:
    """Text from the database as a terminal may show it: control characters (escape, bell,
    text-direction overrides, half characters) escaped as ``\\x1b``, ``\\u202e``."""
    if text.isprintable():  # nearly always: no character to look at one by one
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def read_json(path: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not UTF-8 text; save it as UTF-8") from None
    try:
        return _storable(json.loads(text), path)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except (RecursionError, ValueError):
        # Nested thousands deep, or a number of thousands of digits: no input looks so.
        raise InvalidInput(f"{path} is nested too deeply or holds a number too long") from None


def _storable(value: Any, where: str) -> Any:
    """Refuse what no database column can hold: a lone surrogate (half a character)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{where} holds an invalid character (half of a pair)") from None
    except RecursionError:
        raise InvalidInput(f"{where} is nested too deeply") from None
    return value


def parse_sets(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``--set a.b=value``: nested keys by dots; a value is JSON when it parses, else text.

    A ``--set`` is named by its place on the line, never by its text: a key may be a name or
    a CPR number typed in the wrong place, and the message reaches the terminal and logs.
    """
    result: dict[str, Any] = {}
    for number, pair in enumerate(pairs, start=1):
        which = f"--set no. {number}"
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"{which} is not key=value")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        except (RecursionError, ValueError):
            raise InvalidInput(f"{which}: nested too deeply or a number too long") from None
        _storable(value, which)
        target = result
        *parents, leaf = key.split(".")
        for part in parents:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise InvalidInput(f"{which} conflicts with another --set")
        target[leaf] = value
    return result


def actor(email: str) -> str:
    """``--by``: an e-mail address, normalised as the case stores it."""
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        # Not echoed: what was typed may be a name (or worse), and errors end up in logs.
        raise InvalidInput(
            "--by is not an e-mail address; give your e-mail address as it is on the case"
        ) from None


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


#: A case id as the database can hold it (64-bit): a longer number is bad input, not a crash.
CASE_ID = click.IntRange(1, 2**63 - 1)


class EventName(click.ParamType[str, str]):
    """An event some process knows, checked before anything is staged or sent to Prefect
    (whose server refuses a NUL in a parameter with an error that reads like an outage).
    Which events the case's own process allows, the flow says."""

    name = "event"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from machines import PROCESSES

        if not any(value in {e.name for e in p.events} for p in PROCESSES.values()):
            # Not echoed: it may hold anything, control characters included.
            self.fail(
                "is not an event of any process; list a process's events with: "
                "forloeb process show PROCESS",
                param,
                ctx,
            )
        return str(value)


EVENT = EventName()
