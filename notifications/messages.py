"""Danish notification mails, rendered from Jinja2 templates, with the invitation inside.

Tree of a meeting message (RFC 6047, iMIP)::

    multipart/mixed
      multipart/alternative
        text/plain; charset=utf-8
        text/html; charset=utf-8
        text/calendar; charset="UTF-8"; method=REQUEST|CANCEL
      application/ics; name="invite.ics"   (the same calendar, as an attachment)

Mails without a meeting (escalation, deadline warning, action plan, a reminder of a task)
are ``multipart/alternative`` with the text and HTML parts only. The MIME is written by
``_mime`` (see there why not by ``EmailMessage``).

What lands in a shared calendar or on a lock screen (Subject, SUMMARY, DESCRIPTION,
LOCATION) is built from the process's neutral title and the case title (by contract the
school's name) and checked against the protected names before it is used.
"""

from __future__ import annotations

import email
import email.policy
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template

from machines import CaseSnapshot, InvalidInput, Participant, Series, get_process

from . import _mime
from ._safety import (
    PROTECTED_ROLES,
    Redactor,
    check_address,
    hide_addresses,
    neutral_title,
    one_line,
    param_text,
)
from .invites import (
    COPENHAGEN,
    Attendee,
    CalendarUser,
    MeetingInvite,
    Method,
    Recurrence,
    build_invite,
    recurrence_of,
)

TEMPLATES_DIR = Path(__file__).parent / "templates"

#: Templates that always carry the calendar; ``reminder`` does when it is about a meeting.
MEETING_TEMPLATES = frozenset({"invitation", "update", "cancellation"})
KNOWN_TEMPLATES = MEETING_TEMPLATES | {
    "reminder",
    "escalation",
    "action_plan",
    "deadline_warning",
    "reply_declined",
    "reply_counter",
}
#: Told to the convener about one participant's answer (the row's topic is their key).
ANSWER_TEMPLATES = frozenset({"reply_declined", "reply_counter"})
#: Mail that belongs to no case (``compose_letter``): tasks from the absence rules.
LETTER_TEMPLATES = frozenset({"absence_task"})

DEFAULT_ORGANIZER = "forloeb@kommune.example.dk"
DEFAULT_ORGANIZER_NAME = "Kommunens mødeplanlægning"
#: Between the organizer's local part and a meeting's token: forloeb+<token>@kommune.dk.
DEFAULT_TOKEN_SEPARATOR = "+"
#: What a separator may be: one character that mail systems use for sub-addressing.
_SEPARATORS = frozenset("+-_.=")

#: A VALARM in the invitation; the sweep's reminder mail is the one that counts.
ALARM_BEFORE = timedelta(hours=1)

_WEEKDAYS = ("mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag")
_MONTHS = (
    "januar",
    "februar",
    "marts",
    "april",
    "maj",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "december",
)
#: Danish names of the templates, as the coordinator reads them in an escalation.
_TEMPLATE_NAMES = {
    "invitation": "Invitation",
    "update": "Ændring af møde",
    "cancellation": "Aflysning",
    "reminder": "Påmindelse",
    "escalation": "Eskalering",
    "action_plan": "Handleplan",
    "deadline_warning": "Fristvarsel",
    "reply_declined": "Afbud",
    "reply_counter": "Forslag om nyt tidspunkt",
}


@dataclass(frozen=True)
class Organizer:
    """The organizer mailbox: ``From:`` of every mail and ORGANIZER of every invitation."""

    email: str = DEFAULT_ORGANIZER
    name: str = DEFAULT_ORGANIZER_NAME
    #: Sub-addressing separator (FORLOEB_REPLY_TOKEN_SEPARATOR): "+" for most servers,
    #: "-" for e.g. qmail/Postfix set up with recipient_delimiter = -.
    separator: str = DEFAULT_TOKEN_SEPARATOR

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Organizer:
        env = os.environ if env is None else env
        address = env.get("FORLOEB_ORGANIZER") or DEFAULT_ORGANIZER
        try:
            check_address(address)
        except InvalidInput:
            raise InvalidInput(
                f"FORLOEB_ORGANIZER {address!r} is not an e-mail address; "
                "set it to the organizer mailbox, e.g. samraad@kommune.example.dk"
            ) from None
        separator = env.get("FORLOEB_REPLY_TOKEN_SEPARATOR") or DEFAULT_TOKEN_SEPARATOR
        if separator not in _SEPARATORS:
            raise InvalidInput(
                f"FORLOEB_REPLY_TOKEN_SEPARATOR {separator!r} is not a sub-address separator; "
                "use one of + - _ . = (the one your mail server splits addresses at)"
            )
        name = param_text(env.get("FORLOEB_ORGANIZER_NAME") or DEFAULT_ORGANIZER_NAME)
        return cls(address, name, separator)

    @property
    def domain(self) -> str:
        return self.email.rsplit("@", 1)[1]

    @property
    def local_part(self) -> str:
        return self.email.rsplit("@", 1)[0]

    def reply_address(self, token: str) -> str:
        """The ORGANIZER of one meeting: replies land in our mailbox carrying its token."""
        if not token:
            return self.email
        return f"{self.local_part}{self.separator}{token}@{self.domain}"

    def stand_in(self, token: str, number: int) -> str:
        """The calendar address of a citizen in a professional's copy: our own mailbox.

        An ATTENDEE must have an address (RFC 5545 cal-address), and calendars tell people
        apart by it; a numbered sub-address of ours shows nothing of the person, and
        whatever a client sends there (a "reply all") comes back to us, not to the family.
        """
        return f"{self.local_part}{self.separator}{token or 'deltager'}-{number}@{self.domain}"

    def token_of(self, address: str) -> str | None:
        """The meeting token in an address we issued (ORGANIZER or stand-in), else None."""
        local, at, domain = address.strip().strip("<>").rpartition("@")
        if not at or domain.lower() != self.domain.lower():
            return None
        prefix = self.local_part + self.separator
        if not local.lower().startswith(prefix.lower()):
            return None
        token = local[len(prefix) :].lower()
        return token if token and token.isalnum() else None


@dataclass(frozen=True)
class MeetingInfo:
    """A meeting as stored (``MeetingRow``), with the UID the machine never sees."""

    key: str
    uid: str
    sequence: int
    status: str
    start: datetime
    end: datetime
    location: str
    attendees: tuple[str, ...]
    #: The meeting's reply token (the ORGANIZER's sub-address); "" before it had one.
    reply_token: str = ""
    #: A recurring meeting's rule, EXDATEs and overrides (``machines.Series`` as JSON).
    series: Mapping[str, Any] | None = None
    #: Set when a message is about one occurrence of the series alone (its RECURRENCE-ID).
    recurrence_id: datetime | None = None

    def occurrence(self, recurrence_id: datetime) -> MeetingInfo:
        """This series' occurrence ``recurrence_id`` as it stands: time and own SEQUENCE
        (one never changed on its own, e.g. one a participant declined, has the series'
        SEQUENCE and attendees)."""
        if self.series is None:
            raise InvalidInput(f"meeting {self.key!r} is not a series")
        series = Series.from_json(self.series)
        found = series.occurrence(recurrence_id)
        if found is None:
            raise InvalidInput(f"meeting {self.key!r} has no occurrence at that time")
        change = series.overrides.get(recurrence_id)
        if change is None:
            return replace(
                self, start=found.start, end=found.end, recurrence_id=found.recurrence_id
            )
        return replace(
            self,
            start=found.start,
            end=found.end,
            status="cancelled" if change.cancelled else self.status,
            sequence=change.sequence,
            recurrence_id=found.recurrence_id,
            attendees=change.attendees if change.attendees is not None else self.attendees,
        )

    def left_out_of(self, recurrence_id: datetime) -> MeetingInfo:
        """The occurrence as a CANCEL to the series' attendees it leaves out (another
        covers it): RFC 5546 names the attendees a CANCEL removes."""
        found = self.occurrence(recurrence_id)
        removed = tuple(k for k in self.attendees if k not in found.attendees)
        return replace(found, attendees=removed or found.attendees)


@dataclass(frozen=True)
class FailedMessage:
    """One undeliverable message, as an escalation reports it: ids and roles, no addresses."""

    outbox_id: int
    template: str
    participant_key: str
    role: str
    attempts: int
    error: str


@dataclass(frozen=True)
class Notification:
    """Everything one outbox row needs to become a mail."""

    outbox_id: int
    template: str
    topic: str | None
    case: CaseSnapshot
    recipient: Participant
    created_at: datetime
    meeting: MeetingInfo | None = None
    failures: tuple[FailedMessage, ...] = ()
    #: reply_counter: the time the participant proposed (start, end).
    proposal: tuple[datetime, datetime] | None = None


@dataclass(frozen=True)
class Composed:
    data: bytes  # as sent: CRLF, 7-bit clean
    sender: str
    recipient: str
    message_id: str
    subject: str
    calendar: bytes | None = None
    method: Method | None = None

    @property
    def message(self) -> EmailMessage:
        """The mail parsed back (for looking at it; sending uses ``data``)."""
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class RenderCache:
    """What one delivery run has rendered, shared by the recipients of one message.

    Every attendee of a meeting gets the same VEVENT and the same text; rendering them once
    per run instead of once per recipient is most of the time of an invitation batch.
    """

    calendars: MutableMapping[tuple[str, int, str, datetime | None, str], bytes] = field(
        default_factory=dict
    )
    bodies: MutableMapping[tuple[object, ...], _Body] = field(default_factory=dict)


def message_id(outbox_id: int, case_id: int, created_at: datetime, domain: str) -> str:
    """Stable per outbox row, so a retry is recognisably the same message.

    The creation time keeps two databases (test and production) that number their rows
    alike from minting the same id under one organizer domain.
    """
    stamp = created_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
    return f"<forloeb.{outbox_id}.{case_id}.{stamp}@{domain}>"


# ------------------------------------------------------------------ Danish dates


def _local(value: datetime | date | str) -> datetime | date:
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        return value.astimezone(COPENHAGEN)
    return value


def da_day(value: datetime | date | str) -> str:
    """``29. marts 2027``"""
    d = _local(value)
    return f"{d.day}. {_MONTHS[d.month - 1]} {d.year}"


def da_date(value: datetime | date | str) -> str:
    """``mandag den 29. marts 2027``"""
    d = _local(value)
    return f"{_WEEKDAYS[d.weekday()]} den {da_day(d)}"


def da_time(value: datetime | str) -> str:
    """``9.00`` (Danish writes the hour without a leading zero, with a full stop)."""
    d = _local(value)
    assert isinstance(d, datetime)
    return f"{d.hour}.{d.minute:02d}"


def da_datetime(value: datetime | str) -> str:
    """``mandag den 29. marts 2027 kl. 9.00``"""
    return f"{da_date(value)} kl. {da_time(value)}"


# ------------------------------------------------------------------ templates


def _environment(html: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        # Each template file holds the subject, text and HTML of one kind. The HTML block
        # is rendered from a second, autoescaping environment over the same files.
        autoescape=html,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(da_day=da_day, da_date=da_date, da_time=da_time, da_datetime=da_datetime)
    return env


@cache
def _template(name: str, html: bool) -> Template:
    if name not in KNOWN_TEMPLATES | LETTER_TEMPLATES:
        raise InvalidInput(f"unknown notification template {name!r}")
    return _environment(html).get_template(f"{name}.j2")


def _block(name: str, block: str, context: Mapping[str, Any]) -> str:
    template = _template(name, block == "html")
    return "".join(template.blocks[block](template.new_context(dict(context))))


def _tidy(text: str) -> str:
    # Templates are written for people to read; collapse the blank lines they leave.
    lines = [line.rstrip() for line in text.strip().splitlines()]
    tidy: list[str] = []
    for line in lines:
        if line or (tidy and tidy[-1]):
            tidy.append(line)
    return "\n".join(tidy) + "\n"


# ------------------------------------------------------------------ context


class _Facts:
    """Neutral, checked text about one case: what may be seen on a calendar or lock screen."""

    def __init__(self, case: CaseSnapshot) -> None:
        self.case = case
        self.process = get_process(case.process)
        protected = [p.name for p in case.participants if p.role in PROTECTED_ROLES]
        self.redactor = Redactor(protected)
        self.process_title = neutral_title(self.process.title)
        title = one_line(case.title)
        # The case title is the school's name by contract; if a child's name or a word for
        # the situation slipped in, the process title alone is still a usable subject.
        self.case_title = "" if self.redactor.found(title) else title
        self.title_line = (
            f"{self.process_title} – {self.case_title}" if self.case_title else self.process_title
        )

    def place(self, text: str) -> str:
        return self.redactor.redact(one_line(text))

    def meeting_kind(self, key: str) -> tuple[str, str]:
        """(summary prefix, "the meeting" in Danish) for a meeting key ("startup-2")."""
        kind = self.process.meeting_kind(key)
        return neutral_title(kind.title), kind.definite

    def summary(self, meeting: MeetingInfo | None) -> str:
        if meeting is None:
            return self.title_line
        prefix, _ = self.meeting_kind(meeting.key)
        return f"{prefix} – {self.case_title}" if self.case_title else prefix

    def who(self, participant: Participant | None, key: str = "") -> str:
        """A participant as others read them: role, and the name unless it is the child's."""
        if participant is None:
            return key
        spec = self.process.roles.get(participant.role)
        title = spec.title if spec else participant.role
        if participant.role in PROTECTED_ROLES:
            return title[:1].upper() + title[1:]
        return f"{param_text(participant.name)} ({title})"

    def role_of(self, role: str, key: str) -> str:
        """How an escalation names a person, without the name: "klasselærer (laerer)"."""
        spec = self.process.roles.get(role)
        return f"{spec.title if spec else role} ({key})"

    def required(self, role: str) -> bool:
        spec = self.process.roles.get(role)
        return spec is not None and spec.attends == "required"

    def citizen(self, role: str) -> bool:
        spec = self.process.roles.get(role)
        return spec is not None and spec.citizen

    def role_title(self, role: str) -> str:
        spec = self.process.roles.get(role)
        title = spec.title if spec else role
        return title[:1].upper() + title[1:]


def _meeting_view(facts: _Facts, meeting: MeetingInfo) -> dict[str, Any]:
    _, label = facts.meeting_kind(meeting.key)
    return {
        "start": meeting.start,
        "end": meeting.end,
        "location": facts.place(meeting.location),
        "label": label,
        "label_title": label[:1].upper() + label[1:],
    }


def _context(n: Notification, organizer: Organizer, facts: _Facts) -> dict[str, Any]:
    case = n.case
    process_facts = facts.process.message_facts(case, n.template, n.topic)
    by_key = {p.key: p for p in case.participants}
    attendees = []
    if n.meeting is not None:
        for key in n.meeting.attendees:
            p = by_key.get(key)
            if p is not None:
                attendees.append({"label": facts.who(p), "required": facts.required(p.role)})
    items = [
        {"who": facts.who(by_key.get(item.owner), item.owner), "what": item.action, "due": item.due}
        for item in process_facts.action_items
    ]
    failures = [
        {
            "what": _TEMPLATE_NAMES.get(f.template, f.template),
            "who": facts.role_of(f.role, f.participant_key),
            "attempts": f.attempts,
            "error": hide_addresses(one_line(f.error))[:300],
        }
        for f in n.failures
    ]
    return {
        "case_id": case.id,
        "topic": n.topic,
        "organizer": organizer,
        "summary": facts.summary(n.meeting),
        "title_line": facts.title_line,
        "process_title": facts.process_title,
        "meeting": _meeting_view(facts, n.meeting) if n.meeting else None,
        "attendees": attendees,
        "decisions": list(process_facts.decisions),
        "items": items,
        "follow_up": process_facts.follow_up_start if n.template == "action_plan" else None,
        "deadline": process_facts.deadline,
        "references": list(process_facts.references),
        "failures": failures,
        "show_command": f"forloeb case show {case.id}",
        # reply_declined / reply_counter: who answered (the row's topic is their key).
        "declined_by": facts.who(by_key.get(n.topic or ""), n.topic or "")
        if n.template in ANSWER_TEMPLATES
        else "",
        "proposal": {"start": n.proposal[0], "end": n.proposal[1]} if n.proposal else None,
    }


# ------------------------------------------------------------------ calendar


#: Who a calendar copy is for: every professional alike, or one citizen (by key).
PROFESSIONALS = ""


def audience(n: Notification) -> str:
    """The copy a recipient gets: professionals share one, each citizen has their own."""
    spec = get_process(n.case.process).roles.get(n.recipient.role)
    return n.recipient.key if spec is not None and spec.citizen else PROFESSIONALS


def _invite(
    meeting: MeetingInfo, facts: _Facts, organizer: Organizer, method: Method, copy_for: str
) -> MeetingInvite:
    """The calendar one audience gets.

    Professionals appear by name and role everywhere. Citizens appear by role only, at a
    stand-in address of ours, except the citizen the copy is for: a client answers only
    for the ATTENDEE whose address is its user's, so that one must be the real one.
    """
    by_key = {p.key: p for p in facts.case.participants}
    attendees = []
    stand_ins = 0
    for key in meeting.attendees:
        p = by_key.get(key)
        if p is None or not p.email:
            continue
        required = facts.required(p.role)
        if not facts.citizen(p.role):
            name = f"{p.name} ({facts.process.roles[p.role].title})" if p.name else p.name
            attendees.append(Attendee(p.email, name, required))
        elif p.key == copy_for:
            attendees.append(Attendee(p.email, p.name, required))
        else:
            stand_ins += 1
            address = organizer.stand_in(meeting.reply_token, stand_ins)
            attendees.append(Attendee(address, facts.role_title(p.role), required, rsvp=False))
    series = Series.from_json(meeting.series) if meeting.series else None
    recurrence: Recurrence | None = None
    exdates: tuple[datetime, ...] = ()
    overrides: tuple[MeetingInvite, ...] = ()
    if series is not None and meeting.recurrence_id is None:
        # The whole series: its cancelled occurrences as EXDATEs, its moved ones beside it.
        recurrence = recurrence_of(series)
        cancelled = {o.recurrence_id for o in series.occurrences() if o.cancelled}
        exdates = tuple(sorted(series.exdates | cancelled))
        overrides = tuple(
            _invite(meeting.occurrence(o.recurrence_id), facts, organizer, method, copy_for)
            for o in series.occurrences()
            if o.moved
        )
    return MeetingInvite(
        uid=meeting.uid,
        recurrence=recurrence,
        exdates=exdates,
        overrides=overrides,
        recurrence_id=meeting.recurrence_id,
        sequence=meeting.sequence,
        start=meeting.start,
        end=meeting.end,
        summary=facts.summary(meeting),
        location=facts.place(meeting.location),
        organizer=CalendarUser(organizer.reply_address(meeting.reply_token), organizer.name),
        attendees=attendees,
        description=f"Indkaldt af {organizer.name}. Se mailen for detaljer.",
        method=method,
        alarm_before=ALARM_BEFORE,
    )


def calendar_method(n: Notification) -> Method | None:
    """REQUEST for an invitation or update, CANCEL for a cancellation, else no calendar.

    A reminder is plain mail: a REQUEST again (same UID and SEQUENCE, RSVP=TRUE) would
    make every calendar ask for an answer once more.
    """
    if n.template == "cancellation":
        return Method.CANCEL
    if n.template in MEETING_TEMPLATES:
        return Method.REQUEST
    return None


# ------------------------------------------------------------------ the message


@dataclass(frozen=True)
class _Body:
    """What every recipient of one message gets alike: all but From/To/Date/Message-ID."""

    subject: str
    head: bytes  # Subject and the other headers that do not depend on the recipient
    part: _mime.Part  # the multipart body, with its Content-Type header
    calendar: bytes | None
    method: Method | None


def _render(
    n: Notification, organizer: Organizer, now: datetime, cache: RenderCache, facts: _Facts
) -> _Body:
    context = _context(n, organizer, facts)
    subject = one_line(_block(n.template, "subject", context))
    text = _tidy(_block(n.template, "text", context))
    html = _tidy(_block(n.template, "html", context))

    method = calendar_method(n)
    ics: bytes | None = None
    if method is not None:
        assert n.meeting is not None
        copy_for = audience(n)
        key = (n.meeting.uid, n.meeting.sequence, method.value, n.meeting.recurrence_id, copy_for)
        ics = cache.calendars.get(key)
        if ics is None:
            invite = _invite(n.meeting, facts, organizer, method, copy_for)
            ics = build_invite(invite, stamp=now)
            cache.calendars[key] = ics

    head = (
        _mime.header("Subject", subject)
        + _mime.raw_header("MIME-Version", "1.0")
        + _mime.raw_header("Content-Language", "da")
        # RFC 3834: no out-of-office replies to a machine.
        + _mime.raw_header("Auto-Submitted", "auto-generated")
        # Ids only: lets a mailbox or a support person find the case without reading it.
        + _mime.raw_header("X-Forloeb-Case", str(n.case.id))
        + _mime.raw_header("X-Forloeb-Template", n.template)
    )
    bodies = [_mime.text_part("plain", text), _mime.text_part("html", html)]
    if ics is not None and method is not None:
        # The form Outlook itself sends, and is known to recognise: method unquoted.
        calendar = f'text/calendar; charset="UTF-8"; method={method.value}'
        alternative = _mime.multipart("alternative", [*bodies, _mime.binary_part(calendar, ics)])
        attachment = _mime.binary_part('application/ics; name="invite.ics"', ics, "invite.ics")
        part = _mime.multipart("mixed", [alternative, attachment])
    else:
        part = _mime.multipart("alternative", bodies)
    return _Body(subject, head, part, ics, method)


def _body_key(n: Notification) -> tuple[object, ...] | None:
    # The text never names the recipient ("Hej"), so everyone addressed by one decision
    # gets the same body, and the professionals the same calendar. An escalation lists
    # its own failures: not shared.
    if n.failures:
        return None
    # One occurrence of a series is told apart by its RECURRENCE-ID: two occurrences can
    # share a SEQUENCE (each changed once), and their texts give different times.
    meeting = (
        (n.meeting.uid, n.meeting.sequence, n.meeting.status, n.meeting.recurrence_id)
        if n.meeting
        else None
    )
    return (n.template, n.topic, n.case.id, n.case.version, meeting, n.proposal, audience(n))


def _envelope(organizer: Organizer, name: str, address: str, now: datetime, msg_id: str) -> bytes:
    """The headers that differ per recipient: From, To, Date, Message-ID."""
    return (
        _mime.address_header("From", organizer.name, organizer.email)
        + _mime.address_header("To", param_text(name), address)
        + _mime.raw_header("Date", format_datetime(now.astimezone(COPENHAGEN)))
        + _mime.raw_header("Message-ID", msg_id)
    )


def compose_letter(
    template: str,
    context: Mapping[str, Any],
    recipient: CalendarUser,
    organizer: Organizer,
    now: datetime,
    msg_id: str,
) -> bytes:
    """A plain Danish mail (text and HTML) that belongs to no case, e.g. an absence task.

    The subject comes from the template's ``subject`` block; ``msg_id`` must be stable for
    the thing the mail is about, so a resend is recognisably the same message.
    """
    if template not in LETTER_TEMPLATES:
        raise InvalidInput(f"unknown letter template {template!r}")
    full = {**context, "organizer": organizer}
    subject = one_line(_block(template, "subject", full))
    bodies = [
        _mime.text_part("plain", _tidy(_block(template, "text", full))),
        _mime.text_part("html", _tidy(_block(template, "html", full))),
    ]
    head = (
        _envelope(organizer, recipient.name or "", check_address(recipient.email), now, msg_id)
        + _mime.header("Subject", subject)
        + _mime.raw_header("MIME-Version", "1.0")
        + _mime.raw_header("Content-Language", "da")
        + _mime.raw_header("Auto-Submitted", "auto-generated")
        + _mime.raw_header("X-Forloeb-Template", template)
    )
    return head + _mime.multipart("alternative", bodies).bytes()


def compose(
    n: Notification,
    organizer: Organizer,
    now: datetime,
    cache: RenderCache | None = None,
) -> Composed:
    """Render one outbox row into a mail (and its calendar, when it is about a meeting).

    ``cache`` (one per delivery run) shares the rendering between the recipients of one
    message; without it every call renders afresh.
    """
    if n.template not in KNOWN_TEMPLATES:
        raise InvalidInput(f"unknown notification template {n.template!r}")
    if (n.template in MEETING_TEMPLATES or n.template in ANSWER_TEMPLATES) and n.meeting is None:
        raise InvalidInput(f"the {n.template} message of outbox row {n.outbox_id} has no meeting")
    if n.template == "reply_counter" and n.proposal is None:
        raise InvalidInput(f"the proposal of outbox row {n.outbox_id} is no longer recorded")
    if not n.recipient.email:
        raise InvalidInput(f"participant {n.recipient.key!r} has no e-mail address")
    recipient = check_address(n.recipient.email)

    cache = cache if cache is not None else RenderCache()
    key = _body_key(n)
    body = cache.bodies.get(key) if key is not None else None
    if body is None:
        body = _render(n, organizer, now, cache, _Facts(n.case))
        if key is not None:
            cache.bodies[key] = body

    msg_id = message_id(n.outbox_id, n.case.id, n.created_at, organizer.domain)
    head = _envelope(organizer, n.recipient.name, recipient, now, msg_id) + body.head
    return Composed(
        data=head + body.part.bytes(),
        sender=organizer.email,
        recipient=recipient,
        message_id=msg_id,
        subject=body.subject,
        calendar=body.calendar,
        method=body.method,
    )
