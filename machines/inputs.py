"""Input models shared by every process: the case file and its participants.

Pydantic models give the CLI its validation, the Prefect UI its forms and
``forloeb process show --json`` its JSON Schemas.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

#: ``\Z``, not ``$``: ``$`` also matches before a final line break, so "elev\n" was a key.
_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}\Z")
#: Characters that reverse how the rest of a line is shown (U+202A–U+202E, U+2066–U+2069):
#: "Trojan source" in a name or a title makes a terminal or a mail show another text.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: The years a person's date or time may lie in; outside them it is a typing error (and
#: 9999-12-31 overflows the date arithmetic of every deadline).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
#: What the database's columns hold (persistence/models.py): longer input is refused here,
#: so SQLite (which would store it) and PostgreSQL (which would fail) refuse the same.
NAME_LENGTH, EMAIL_LENGTH, PLACE_LENGTH, ROLE_LENGTH = 200, 320, 200, 40


def _whole_characters(text: str) -> None:
    # A lone surrogate is half a character: no database, file or mail can store it.
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        raise ValueError("holds an invalid character (half of a pair); type it again")


def _text(text: str) -> str:
    _whole_characters(text)
    if "\x00" in text:
        raise ValueError("holds a NUL character; remove it")
    return text


def _one_line(text: str) -> str:
    _whole_characters(text)
    # CR/LF in a name would let it inject a mail header or an iCalendar property.
    if any(ch in text for ch in "\r\n"):
        raise ValueError("must be a single line (no line breaks)")
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        raise ValueError("holds a control character; remove it")
    if any(ch in BIDI_CONTROLS for ch in text):
        raise ValueError("holds a text-direction control character (U+202A–U+202E, U+2066–U+2069)")
    return text.strip()


def _sane_time(value: datetime) -> datetime:
    try:
        within = EARLIEST <= value < LATEST
    except OverflowError:
        within = False
    if not within:
        raise ValueError("must lie between the years 2000 and 2099")
    return value


def _sane_day(value: date) -> date:
    if not EARLIEST.year <= value.year < LATEST.year:
        raise ValueError("must lie between the years 2000 and 2099")
    return value


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


#: One line of text: no line break, control character, direction override or half character;
#: at most 1,000 characters unless the field says less.
OneLine = Annotated[str, Field(max_length=1_000), AfterValidator(_one_line)]
#: A place (a meeting's location): what the column holds.
Place = Annotated[OneLine, Field(min_length=1, max_length=PLACE_LENGTH)]
Pseudonym = Annotated[str, AfterValidator(_pseudonym)]
#: Free text (notes, decisions): lines allowed, no NUL and no half character.
Text = Annotated[str, Field(min_length=1, max_length=10_000), AfterValidator(_text)]
#: Free text that may be empty (e.g. a session's homework).
OptionalText = Annotated[str, Field(max_length=10_000), AfterValidator(_text)]
#: A form section: longer free text.
FormText = Annotated[str, Field(min_length=1, max_length=20_000), AfterValidator(_text)]
Email = Annotated[str, Field(max_length=EMAIL_LENGTH), AfterValidator(_address)]
Key = Annotated[str, AfterValidator(_key)]
#: A time with its UTC offset (a naive time is ambiguous across daylight saving), 2000–2099.
AwareTime = Annotated[AwareDatetime, AfterValidator(_sane_time)]
#: A calendar day, 2000–2099.
Day = Annotated[date, AfterValidator(_sane_day)]


@dataclass(frozen=True, eq=False)
class Choices:
    """The Danish names of a choice's values, as users read them (the value stays the key):
    ``Annotated[Literal["phone", "home_visit"], Choices({"phone": "Telefon", ...})]``.

    Every ``Literal`` in an input model carries one (``check_definition`` says so), because
    the desk offers the values by these names.
    """

    names: Mapping[str, str]


@dataclass(frozen=True, eq=False)
class SettingChoices:
    """A key whose values are those one of the process's settings lists (configuration,
    as municipalities differ: the development wheel's areas, a monthly record's topics),
    and their Danish names, by which the desk offers them:
    ``Annotated[Key, SettingChoices("wheel_areas", {"sprog": "Sprog", ...})]``. The rules
    check the values against the setting; ``check_definition`` that each has a name."""

    setting: str
    names: Mapping[str, str]

    def offered(self, settings: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(value, Danish name) of each value the setting lists now."""
        return [(str(v), self.names.get(str(v), str(v))) for v in settings.get(self.setting, ())]


def setting_choices(annotation: Any, metadata: Iterable[Any] = ()) -> list[SettingChoices]:
    """Every ``SettingChoices`` in a type, nested ones too (``list[Topic]``)."""
    found = [m for m in metadata if isinstance(m, SettingChoices)]
    if get_origin(annotation) is Annotated:
        inner, *more = get_args(annotation)
        return found + setting_choices(inner, more)
    return found + [c for arg in get_args(annotation) for c in setting_choices(arg)]


@dataclass(frozen=True)
class ChildOfCase:
    """On a pseudonymous reference that names a child already in the case (a learning
    group's, a room's children): the desk offers the case's children to choose from."""


#: A child already in the case, by its pseudonymous reference.
CaseChild = Annotated[Pseudonym, ChildOfCase()]


@dataclass(frozen=True)
class SeriesSession:
    """On a time that names one session of the case's series by the time its rule planned
    it (its recurrence id, also once it is moved): the desk offers the series' sessions to
    choose from instead of a date and time to type."""


#: One session of the case's series, by the time its rule planned it.
Session = Annotated[AwareTime, SeriesSession()]


@dataclass(frozen=True)
class RequiredByRule:
    """On a field the model lets be empty and a rule of the process refuses empty, saying
    why in the process's own words (coaching's homework: "the young person always leaves
    with a task"): ``Annotated[OptionalText, RequiredByRule()]``. A form marks it as one
    to fill in; the rule, not the model, answers when it is left empty."""


def required_by_rule(metadata: Iterable[Any]) -> bool:
    return any(isinstance(m, RequiredByRule) for m in metadata)


def choice_names(annotation: Any, metadata: tuple[Any, ...] = ()) -> dict[str, str]:
    """The names of every choice value in a type, nested ones too (``list[Section]``)."""
    found: dict[str, str] = {}
    for values, names in _choices(annotation, metadata):
        found.update({v: names[v] for v in values if names.get(v)})
    return found


def unnamed_choices(annotation: Any, metadata: tuple[Any, ...] = ()) -> list[str]:
    """Choice values in a type that have no Danish name."""
    return [
        v for values, names in _choices(annotation, metadata) for v in values if not names.get(v)
    ]


def _choices(
    annotation: Any, metadata: tuple[Any, ...]
) -> list[tuple[list[str], Mapping[str, str]]]:
    """Each ``Literal`` in a type: (its values, the names its ``Choices`` give)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *more = get_args(annotation)
        return _choices(inner, (*metadata, *more))
    if origin is Literal:
        named = next((m.names for m in metadata if isinstance(m, Choices)), {})
        return [([str(v) for v in get_args(annotation)], named)]
    if origin in (Union, UnionType):  # ``Annotated[Literal[...] | None, Choices(...)]``
        return [found for arg in get_args(annotation) for found in _choices(arg, metadata)]
    return [found for arg in get_args(annotation) for found in _choices(arg, ())]


class StrictModel(BaseModel):
    # defer_build: a command builds the validators of the inputs it uses, not of all 40.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class ParticipantIn(StrictModel):
    key: Key | None = Field(None, title="Nøgle")
    role: Annotated[str, Field(max_length=ROLE_LENGTH)] = Field(title="Rolle")
    name: Annotated[OneLine, Field(min_length=1, max_length=NAME_LENGTH)] = Field(title="Navn")
    email: Email | None = Field(None, title="E-mail")


class CaseFile(StrictModel):
    """The JSON a coordinator gives to ``forloeb case open``. Processes extend it."""

    title: Annotated[OneLine, Field(min_length=1, max_length=PLACE_LENGTH)] = Field(title="Titel")
    location: Place = Field(title="Mødested")
    participants: list[ParticipantIn] = Field(default_factory=list, title="Deltagere")

    @model_validator(mode="after")
    def _unique_keys(self) -> CaseFile:
        seen: set[str] = set()
        for p in self.participants:
            if p.key is not None:
                if p.key in seen:
                    # Not repeated: a key is typed, and may be a name or a CPR number.
                    raise ValueError("a participant key is used twice; give each its own")
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
    location: Place | None = Field(None, title="Mødested")

    def meeting_starts(self) -> tuple[datetime, ...]:
        """Every meeting time this input sets (see ``common.meeting_in_future``)."""
        return (self.start,)


def error_location(loc: tuple[int | str, ...], model: type[BaseModel]) -> str:
    """Where in the input a validation error is, as a message may say it: the field names of
    ``model`` (and of the models inside it) and list indexes. Anything else on the path was
    typed by someone — a mapping's key (a handover section, a wheel area, a participant's
    note) given as a name or a CPR number, say — and is not repeated, since messages reach
    the terminal, logs and Prefect's state messages. A key shaped like a key is no
    exception: ``010203-1234`` is one."""
    names = _field_names(model)
    parts = [
        str(part) if isinstance(part, int) or part in names else "(not repeated)" for part in loc
    ]
    return ".".join(parts)


@cache
def _field_names(model: type[BaseModel]) -> frozenset[str]:
    """The field names of ``model`` and of every model its fields hold (lists, unions)."""
    names: set[str] = set()
    seen: set[type[BaseModel]] = set()
    todo = [model]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for name, info in current.model_fields.items():
            names.add(name)
            todo += _models_in(info.annotation)
    return frozenset(names)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]
