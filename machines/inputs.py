"""Input models shared by every process: the case file and its participants.

Pydantic models give the CLI its validation, the Prefect UI its forms and
``forloeb process show --json`` its JSON Schemas.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def _one_line(text: str) -> str:
    # CR/LF in a name would let it inject a mail header or an iCalendar property.
    if any(ch in text for ch in "\r\n\x00"):
        raise ValueError("must be a single line (no line breaks)")
    return text.strip()


def _address(text: str) -> str:
    # Imported here: it costs 50 ms at start-up, and most commands validate no address.
    from email_validator import EmailNotValidError, validate_email

    try:
        # No SMTPUTF8: many municipal relays refuse it, so a non-ASCII address would bounce.
        result = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        # The value is not repeated: a message may reach a log or Prefect.
        raise ValueError(f"not a usable e-mail address ({exc})") from None
    return result.normalized


def _key(text: str) -> str:
    if not _KEY.match(text):
        raise ValueError("not a valid key (lower-case letters, digits, '-' and '_', max 40)")
    return text


_CPR = re.compile(r"\d{6}-?\d{4}")


def _pseudonym(text: str) -> str:
    # A reference to a child must be pseudonymous: a CPR number would put the child's
    # identity (and birth date) into every table and log that sees the reference.
    if _CPR.search(text):
        raise ValueError("looks like a CPR number; use a pseudonymous reference instead")
    return _key(text)


OneLine = Annotated[str, AfterValidator(_one_line)]
Pseudonym = Annotated[str, AfterValidator(_pseudonym)]
Text = Annotated[str, Field(min_length=1, max_length=10_000)]
Email = Annotated[str, AfterValidator(_address)]
Key = Annotated[str, AfterValidator(_key)]
AwareTime = AwareDatetime  # a naive time is ambiguous across daylight saving; an offset is required


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParticipantIn(StrictModel):
    key: Key | None = Field(None, title="Nøgle")
    role: str = Field(title="Rolle")
    name: Annotated[OneLine, Field(min_length=1, max_length=200)] = Field(title="Navn")
    email: Email | None = Field(None, title="E-mail")


class CaseFile(StrictModel):
    """The JSON a coordinator gives to ``forloeb case open``. Processes extend it."""

    title: Annotated[OneLine, Field(min_length=1, max_length=200)] = Field(title="Titel")
    location: Annotated[OneLine, Field(min_length=1, max_length=200)] = Field(title="Mødested")
    participants: list[ParticipantIn] = Field(default_factory=list, title="Deltagere")

    @model_validator(mode="after")
    def _unique_keys(self) -> CaseFile:
        seen: set[str] = set()
        for p in self.participants:
            if p.key is not None:
                if p.key in seen:
                    raise ValueError(f"participant key {p.key!r} is used twice")
                seen.add(p.key)
        return self


def assign_keys(participants: list[ParticipantIn], taken: set[str]) -> list[ParticipantIn]:
    """Give every participant without a key one derived from its role: parent, parent-2, ..."""
    used = set(taken) | {p.key for p in participants if p.key}
    result = []
    for p in participants:
        if p.key is None:
            candidate, n = p.role.replace("_", "-"), 1
            while candidate in used:
                n += 1
                candidate = f"{p.role.replace('_', '-')}-{n}"
            used.add(candidate)
            p = p.model_copy(update={"key": candidate})
        result.append(p)
    return result


def input_schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


class NoInput(StrictModel):
    """An event that takes no input."""


class ReasonIn(StrictModel):
    reason: Annotated[OneLine, Field(min_length=1, max_length=1000)] = Field(title="Begrundelse")


class MeetingAt(StrictModel):
    """A meeting's time (with its UTC offset) and, if not the case's usual place, its place."""

    start: AwareTime = Field(title="Tidspunkt")
    location: OneLine | None = Field(None, title="Mødested")

    def meeting_starts(self) -> tuple[datetime, ...]:
        """Every meeting time this input sets (see ``common.meeting_in_future``)."""
        return (self.start,)
