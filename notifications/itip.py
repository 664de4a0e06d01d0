"""Reading the iTIP answers that come back (RFC 5546 ``REPLY`` and ``COUNTER``): only the
lines the checks in ``persistence.replies`` need, with icalendar's own parser.

``Calendar.from_ical`` builds every property of every component into objects: half a
millisecond an answer, most of the time it took to read one. An answer needs a few of
its lines: ``METHOD``, and in each ``VEVENT`` its ``UID``, ``SEQUENCE``, ``DTSTAMP``,
``RECURRENCE-ID``, ``DTSTART``/``DTEND`` (a COUNTER's proposed time) and the
``ATTENDEE``s. Every line is still unfolded and checked for a name and a place in the
``BEGIN``/``END`` structure; a line we do not use is not parsed further, because nothing
it says can change an answer.

What is read is read as icalendar reads it: unfolding and line splitting
(``icalendar.parser.content_line``), parameters with their quoting and RFC 6868 escapes
(``Contentline.parts``), values by icalendar's own types (``vDDDTypes`` with the TZID,
``vInt``, ``vCalAddress``). A TZID is what icalendar makes of it (an Olson name, a Windows
name as Outlook sends, a vendor-prefixed one); failing that, the message's own
``VTIMEZONE`` of that TZID. The zone is kept to this message, never cached for the next
one: a stranger's VTIMEZONE must not change how another mail's times read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any

from icalendar import Timezone
from icalendar.parser import Contentline, Parameters, unescape_backslash
from icalendar.parser.content_line import NEWLINE, UFOLD
from icalendar.parser_tools import to_unicode
from icalendar.prop import TypesFactory
from icalendar.timezone import tzp

#: The lines read in a VEVENT; a calendar's own line read is METHOD.
EVENT_NAMES = frozenset(
    {"UID", "SEQUENCE", "DTSTAMP", "DTSTART", "DTEND", "RECURRENCE-ID", "ATTENDEE"}
)
#: The date-time lines whose TZID parameter names their zone (as icalendar's parser).
_ZONED = frozenset({"DTSTART", "DTEND", "RECURRENCE-ID"})
#: The lines read outside a VEVENT.
_STRUCTURE = frozenset({"BEGIN", "END", "METHOD"})
#: A property name is a token (RFC 5545 3.1: letters, digits, "-"), ended by ";" or ":".
#: A line this does not match (blanks in the name, no colon) goes to icalendar's parser.
_NAME = re.compile(r"[A-Za-z0-9-]+(?=[;:])")
_TYPES = TypesFactory.instance()


class Malformed(ValueError):
    """Not an iCalendar object one can read an answer from."""


class Prop:
    """One content line we read: split into parameters and value when first asked (a
    REPLY's DTSTART is never asked for)."""

    __slots__ = ("_parts", "name", "text")

    def __init__(self, name: str, text: str) -> None:
        self.name, self.text = name, text
        self._parts: tuple[Parameters | None, str] | None = None

    @property
    def params(self) -> Parameters:
        return self._split()[0] or Parameters()

    @property
    def value(self) -> str:
        return self._split()[1]

    def param(self, name: str) -> Any:
        """One parameter's value (a list for a multi-valued one), None without it."""
        params = self._split()[0]
        return params.get(name) if params is not None else None

    @property
    def value_type(self) -> str | None:
        """The VALUE parameter, upper-case (``Parameters.value``)."""
        params = self._split()[0]
        return params.value if params is not None else None

    def _split(self) -> tuple[Parameters | None, str]:
        """``ValueError`` if icalendar cannot split the line."""
        if self._parts is None:
            self._parts = _split(self.text)
        return self._parts


def _line(text: str) -> Contentline:
    return Contentline(text)  # type: ignore[no-untyped-call]


def _split(text: str) -> tuple[Parameters | None, str]:
    """``_line(text).parts()`` less the name; None for no parameters at all.

    A line without parameters (``NAME:value``) is split here directly: its name is a
    token, so its first colon ends it, and parts() would give no parameters and
    ``unescape_backslash`` of the rest; only after walking over every character in
    Python, and making an empty ``Parameters`` (a test compares the two). Every other line
    goes to icalendar.
    """
    match = _NAME.match(text)
    if match is not None and text[match.end()] == ":":
        value = text[match.end() + 1 :]
        return None, unescape_backslash(value) if "\\" in value else value
    _, params, value = _line(text).parts()
    return params, value


def split(text: str) -> tuple[str, Parameters, str]:
    """As ``_line(text).parts()`` (name, parameters, unescaped value)."""
    match = _NAME.match(text)
    name = match.group() if match is not None else _line(text).parts()[0]
    params, value = _split(text)
    return name, params if params is not None else Parameters(), value


@dataclass
class ItipEvent:
    """One VEVENT's lines by name (ATTENDEE can come many times, the others once)."""

    props: dict[str, list[Prop]] = field(default_factory=dict)

    def all(self, name: str) -> list[Prop]:
        return self.props.get(name, [])

    def one(self, name: str) -> Prop | None:
        found = self.props.get(name)
        return found[0] if found else None


@dataclass
class ItipMessage:
    method: str
    events: list[ItipEvent]
    #: The message's VTIMEZONEs as their unfolded lines, by TZID; made into a zone only
    #: when a TZID icalendar does not know is used.
    timezones: dict[str, list[str]]
    _zones: dict[str, tzinfo | None] = field(default_factory=dict)

    def zone(self, tzid: str) -> tzinfo | None:
        if tzid not in self._zones:
            self._zones[tzid] = _zone(tzid, self.timezones.get(tzid))
        return self._zones[tzid]

    def when(self, prop: Prop | None) -> datetime | date | None:
        """A date-time line's value as icalendar types it (``vDDDTypes``): aware if it
        is in UTC or has a TZID we can resolve, naive if floating, a ``date`` for an all-day
        value. None if it is missing or does not parse."""
        if prop is None:
            return None
        tzid = prop.param("TZID") if prop.name in _ZONED else None
        try:
            if tzid:
                zone = self.zone(str(tzid))
                if zone is None:
                    return None  # a zone we cannot know: no time we could trust
                value = typed(prop, zone)
            else:
                value = typed(prop)
        except (ValueError, TypeError):
            return None
        found = getattr(value, "dt", value)
        return found if isinstance(found, date) else None


def typed(prop: Prop, *zone: tzinfo) -> Any:
    """The value as icalendar's parser makes it (``ComponentIcalParser.handle_property``):
    the type for the name and VALUE parameter, the raw line for types that must not be
    unescaped."""
    factory: Any = _TYPES.for_property(prop.name, prop.value_type)
    raw = getattr(factory, "get_value_from_content_line", None)
    value = raw(_line(prop.text)) if raw is not None else prop.value
    return factory.from_ical(value, *zone)


def _zone(tzid: str, lines: list[str] | None) -> tzinfo | None:
    known = tzp.timezone(tzid)
    if known is not None or lines is None:
        return known
    # icalendar's parser keeps every VTIMEZONE it parsed for all later calendars
    # (tzp.cache_timezone_component), but only one with a TZID: it is parsed without its
    # TZID line (only the VTIMEZONE itself has one) and given its name after.
    own = [line for line in lines if _name(line) != "TZID"]
    try:
        component: Any = Timezone.from_ical("\r\n".join(own) + "\r\n")
        component.add("TZID", tzid)
        zone: tzinfo = tzp.create_timezone(component)
    except Exception:  # a VTIMEZONE icalendar cannot build a zone from
        return None
    return zone


def _name(line: str) -> str | None:
    match = _NAME.match(line)
    return match.group().upper() if match is not None else None


def _keep_zone(lines: list[str], timezones: dict[str, list[str]]) -> None:
    for line in lines:
        if _name(line) == "TZID":
            try:
                timezones.setdefault(_split(line)[1], lines)
            except ValueError as exc:
                raise Malformed(str(exc)) from exc
            return


def read_itip(data: bytes | str) -> ItipMessage:
    """The METHOD, VEVENTs and VTIMEZONEs of one VCALENDAR; ``Malformed`` if its lines or
    its ``BEGIN``/``END`` structure do not parse."""
    stack: list[str] = []
    in_event = False  # in a VEVENT of the VCALENDAR (not in a component inside it)
    method: str | None = None
    events: list[ItipEvent] = []
    timezones: dict[str, list[str]] = {}
    zone_lines: list[str] | None = None
    closed = False
    # icalendar's own unfolding and line splitting (as Contentlines.from_ical), without
    # making a Contentline of every line: most are only looked at for their name.
    for text in NEWLINE.split(UFOLD.sub("", to_unicode(data))):
        if not text:
            continue
        if closed:
            raise Malformed("lines after the calendar's END")
        if zone_lines is not None:
            zone_lines.append(text)
        match = _NAME.match(text)
        try:
            # A line without a plain name: icalendar's lenient parser finds it (it allows
            # blanks around a name) or finds none.
            name = (match.group() if match is not None else _line(text).parts()[0]).upper()
        except ValueError as exc:
            if stack and stack[-1] == "VEVENT":
                continue  # as icalendar, which skips a broken line in a VEVENT
            raise Malformed(str(exc)) from exc
        if name in EVENT_NAMES:
            if in_event:
                props = events[-1].props.setdefault(name, [])
                if props and name != "ATTENDEE":
                    raise Malformed(f"{name} twice in a VEVENT")
                props.append(Prop(name, text))
            elif not stack:
                raise Malformed("a line outside the calendar")
            continue
        if name not in _STRUCTURE:
            if not stack:
                raise Malformed("a line outside the calendar")
            continue  # nothing an answer is read from
        try:
            value = _split(text)[1]
        except ValueError as exc:
            raise Malformed(str(exc)) from exc
        if name == "BEGIN":
            component = value.strip().upper()
            if not stack and component != "VCALENDAR":
                raise Malformed(f"{component or 'nothing'} instead of a VCALENDAR")
            if len(stack) == 1:
                if component == "VTIMEZONE":
                    zone_lines = [text]
                elif component == "VEVENT":
                    events.append(ItipEvent())
            stack.append(component)
            in_event = len(stack) == 2 and component == "VEVENT"
        elif not stack:
            raise Malformed("a line outside the calendar")
        elif name == "END":
            if stack[-1] != value.strip().upper():
                raise Malformed("END without its BEGIN")
            if stack.pop() == "VTIMEZONE" and zone_lines is not None:
                _keep_zone(zone_lines, timezones)
                zone_lines = None
            in_event = len(stack) == 2 and stack[1] == "VEVENT"
            closed = not stack
        elif len(stack) == 1:  # the calendar's METHOD
            if method is not None:
                raise Malformed("METHOD twice")
            method = value
    if not closed:
        raise Malformed("the calendar is not closed")
    return ItipMessage((method or "").strip().upper(), events, timezones)


__all__ = ["EVENT_NAMES", "ItipEvent", "ItipMessage", "Malformed", "Prop", "read_itip", "typed"]
