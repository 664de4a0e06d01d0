"""One error tree, two families.

Definition errors are the programmer's: a process table that does not hold together.
Refusals are the user's: the process said no, and the message says what to do instead.
Every message is one line, because the CLI prints exactly that line. Messages say what
is wrong in the process's own words (events, fields), never a command line: the CLI adds
its hints from the structured fields (``Conflict.case_id``, ``NotPermitted.roles``, ...).
"""

from __future__ import annotations

from collections.abc import Iterable


class ForloebError(Exception):
    """Base of everything forloeb raises on purpose. ``exit_code`` is the CLI's."""

    exit_code = 1


class DefinitionError(ForloebError):
    """A process definition is inconsistent (found when it is loaded)."""

    exit_code = 1


class InvalidInput(ForloebError):
    """The input does not fit: schema, unknown role, bad e-mail, unknown case id, ..."""

    exit_code = 2


class Refused(ForloebError):
    """The process refused the event (base of the runtime refusals)."""

    exit_code = 3


class TransitionNotAllowed(Refused):
    def __init__(self, event: str, state: str, allowed: Iterable[str]) -> None:
        self.event, self.state, self.allowed = event, state, sorted(allowed)
        hint = (
            f"events allowed now: {', '.join(self.allowed)}"
            if self.allowed
            else "the case is finished; no events are allowed"
        )
        super().__init__(f"'{event}' is not allowed in state '{state}'; {hint}")


class GuardRejected(Refused):
    def __init__(self, event: str, reason: str) -> None:
        self.event, self.reason = event, reason
        super().__init__(f"'{event}' refused: {reason}")


class NotPermitted(Refused):
    def __init__(self, event: str, actor: str, roles: Iterable[str]) -> None:
        self.event, self.roles = event, sorted(roles)
        # The actor's address is not repeated in the message: messages may reach logs.
        super().__init__(
            f"'{event}' may only be fired by {' or '.join(self.roles)}; "
            f"the given actor has none of these roles on this case"
        )
        self.actor = actor


class Conflict(ForloebError):
    """The case changed between load and store (optimistic locking)."""

    exit_code = 4

    def __init__(self, case_id: int) -> None:
        self.case_id = case_id
        super().__init__(
            f"case {case_id} was changed by someone else at the same time; "
            "look at it again and retry"
        )
