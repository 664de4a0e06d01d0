"""The mails: MIME part tree (RFC 6047), Danish templates, RFC 2047 headers, stable
Message-IDs, and data minimisation in everything a calendar or a lock screen shows."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from icalendar import Calendar

from machines import CaseSnapshot, Participant
from notifications import MeetingInfo, Notification, compose
from notifications._safety import neutral_title
from notifications.messages import (
    ANSWER_TEMPLATES,
    KNOWN_TEMPLATES,
    MEETING_TEMPLATES,
    message_id,
)

from .conftest import ORGANIZER, PUPIL_NAME, at

NOW = datetime(2027, 3, 15, 10, 0, tzinfo=UTC)
PEOPLE = (
    Participant("elev", "pupil", PUPIL_NAME, "ida@example.dk"),
    Participant("mor", "parent", "Åse Æblegaard", "aase@example.dk"),
    Participant("far", "parent", "Ole Æblegaard", None),
    Participant("leder", "school_leader", "Birgitte Holm", "leder@skole.example.dk"),
    Participant("uu", "uu_counselor", "Per Vang", "per@uu.example.dk"),
    Participant("tov", "coordinator", "Karen Lund", "tovholder@kommune.example.dk"),
)
MEETING = MeetingInfo(
    key="samraad-1",
    uid="a1b2@forloeb",
    sequence=0,
    status="scheduled",
    start=at("2027-03-22 09:00").astimezone(UTC),
    end=at("2027-03-22 10:30").astimezone(UTC),
    location="Skolen ved Søerne, lokale 2",
    attendees=("elev", "mor", "far", "leder", "uu"),
)
DATA: dict[str, Any] = {
    "meeting_deadline": "2027-03-24T23:59:59+01:00",
    "action_plan_deadline": "2027-03-24T23:59:59+01:00",
    "decisions": ["Morgenaftale med skolen"],
    "action_plan": [
        {"owner": "elev", "action": "Møder kl. 8.00 hver dag", "due": "2027-04-09"},
        {"owner": "mor", "action": "Ringer til skolen ved sygdom", "due": "2027-04-09"},
        {"owner": "leder", "action": "Følger op med klasselæreren", "due": "2027-04-02"},
    ],
    "follow_up": {"meeting": "follow-up-1", "start": "2027-04-26T09:00:00+02:00"},
}
FORBIDDEN = ("Ida", "Æblegaard", "fravær", "Fravær", "bekymring", "Bekymring")


def case(**changes: Any) -> CaseSnapshot:
    fields: dict[str, Any] = {
        "id": 42,
        "process": "samraad",
        "state": "scheduled",
        "version": 3,
        "title": "Skolen ved Søerne",
        "location": "Skolen ved Søerne, lokale 2",
        "data": DATA,
        "participants": PEOPLE,
    }
    fields.update(changes)
    return CaseSnapshot(**fields)


def notification(
    template: str,
    topic: str | None = "meeting",
    meeting: MeetingInfo | None = MEETING,
    recipient: Participant = PEOPLE[1],
    **changes: Any,
) -> Notification:
    return Notification(
        outbox_id=changes.pop("outbox_id", 7),
        template=template,
        topic=topic,
        case=changes.pop("case", case()),
        recipient=recipient,
        created_at=NOW,
        meeting=meeting,
        **changes,
    )


def parse(data: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def tree(message: EmailMessage) -> list[str]:
    return [part.get_content_type() for part in message.walk()]


def texts(message: EmailMessage) -> list[str]:
    return [
        part.get_content().replace("\r\n", "\n")
        for part in message.walk()
        if part.get_content_type() in {"text/plain", "text/html"}
    ]


# ------------------------------------------------------------------ part tree


@pytest.mark.parametrize(
    ("template", "method"),
    [("invitation", "REQUEST"), ("update", "REQUEST"), ("cancellation", "CANCEL")],
)
def test_meeting_mail_part_tree_and_method_match(template: str, method: str) -> None:
    meeting = (
        MEETING
        if template != "cancellation"
        else MeetingInfo(**{**MEETING.__dict__, "status": "cancelled", "sequence": 1})
    )
    composed = compose(notification(template, meeting=meeting), ORGANIZER, NOW)
    message = parse(composed.data)
    assert tree(message) == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "text/calendar",
        "application/ics",
    ]
    calendar_part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    attachment = next(p for p in message.walk() if p.get_content_type() == "application/ics")
    assert calendar_part.get_param("method") == method
    assert calendar_part.get_content_charset() == "utf-8"
    # Unquoted, as Outlook itself sends it.
    assert f'charset="UTF-8"; method={method}\r\n'.encode() in composed.data
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_content_disposition() == "attachment"
    ics = calendar_part.get_payload(decode=True)
    assert ics == attachment.get_payload(decode=True) == composed.calendar
    assert Calendar.from_ical(ics)["METHOD"] == method == composed.method


@pytest.mark.parametrize(
    ("template", "topic"),
    [
        ("escalation", "meeting_deadline"),
        ("escalation", "action_plan"),
        ("deadline_warning", "meeting_deadline"),
        ("action_plan", "action_plan"),
        ("reminder", "action_plan"),
    ],
)
def test_mails_without_a_meeting_have_no_calendar(template: str, topic: str) -> None:
    composed = compose(notification(template, topic=topic, meeting=None), ORGANIZER, NOW)
    message = parse(composed.data)
    assert tree(message) == ["multipart/alternative", "text/plain", "text/html"]
    assert composed.calendar is None and composed.method is None


def test_meeting_reminder_is_plain_mail_that_asks_nothing_again() -> None:
    # A REQUEST again (same UID and SEQUENCE, RSVP=TRUE) made calendars ask once more.
    composed = compose(notification("reminder"), ORGANIZER, NOW)
    assert tree(parse(composed.data)) == ["multipart/alternative", "text/plain", "text/html"]
    assert composed.calendar is None and composed.method is None
    assert composed.subject.startswith("Påmindelse: Samråd – Skolen ved Søerne")
    assert b"METHOD:REQUEST" not in composed.data


def test_reply_reminder_asks_for_the_answer_in_plain_text() -> None:
    composed = compose(notification("reminder", topic="reply"), ORGANIZER, NOW)
    text = texts(parse(composed.data))[0]
    assert "Vi har ikke fået dit svar" in text
    assert composed.calendar is None


TOKENED = MeetingInfo(**{**MEETING.__dict__, "reply_token": "0123456789abcdef0123"})


def attendees_of(ics: bytes) -> dict[str, dict[str, str]]:
    event = next(iter(Calendar.from_ical(ics).walk("VEVENT")))
    found = event.get("ATTENDEE")
    found = found if isinstance(found, list) else [found]
    return {str(a).removeprefix("mailto:"): dict(a.params) for a in found}


def test_a_professionals_copy_shows_citizens_by_role_at_our_own_addresses() -> None:
    leader = PEOPLE[3]
    composed = compose(
        notification("invitation", meeting=TOKENED, recipient=leader), ORGANIZER, NOW
    )
    assert composed.calendar is not None
    found = attendees_of(composed.calendar)
    # The professionals by name and role, at their own addresses, asked to answer.
    assert found["leder@skole.example.dk"]["CN"] == "Birgitte Holm (skoleleder)"
    assert found["leder@skole.example.dk"]["RSVP"] == "TRUE"
    assert found["per@uu.example.dk"]["ROLE"] == "OPT-PARTICIPANT"
    # The pupil and the mother: role only, at numbered sub-addresses of the organizer.
    stand_ins = {a: p for a, p in found.items() if a.startswith("samraad+")}
    assert sorted(p["CN"] for p in stand_ins.values()) == ["Elev", "Forælder"]
    assert all(a.endswith("@kommune.example.dk") for a in stand_ins)
    assert all(p["RSVP"] == "FALSE" for p in stand_ins.values())
    calendar = composed.calendar.decode()
    for private in ("ida@example.dk", "aase@example.dk", "Æblegaard", PUPIL_NAME):
        assert private not in calendar
    organizer = next(iter(Calendar.from_ical(composed.calendar).walk("VEVENT")))["ORGANIZER"]
    assert str(organizer) == "mailto:samraad+0123456789abcdef0123@kommune.example.dk"


def test_a_citizens_copy_has_their_own_address_and_the_professionals_by_name() -> None:
    mother = PEOPLE[1]
    composed = compose(
        notification("invitation", meeting=TOKENED, recipient=mother), ORGANIZER, NOW
    )
    assert composed.calendar is not None
    found = attendees_of(composed.calendar)
    # Her client answers for the ATTENDEE with her address: it must be there.
    assert found["aase@example.dk"]["RSVP"] == "TRUE"
    assert found["leder@skole.example.dk"]["CN"] == "Birgitte Holm (skoleleder)"
    # Her child is shown by role, as in every copy.
    assert "ida@example.dk" not in found
    assert any(p["CN"] == "Elev" for p in found.values())


def test_professionals_share_one_calendar_and_each_citizen_has_their_own() -> None:
    from notifications.messages import RenderCache

    cache = RenderCache()
    for person in (PEOPLE[0], PEOPLE[1], PEOPLE[3], PEOPLE[4]):
        compose(
            notification("invitation", meeting=TOKENED, recipient=person), ORGANIZER, NOW, cache
        )
    assert len(cache.calendars) == 3  # the professionals', the pupil's, the mother's


# ------------------------------------------------------------------ headers


def test_headers_are_rfc2047_encoded_and_decode_to_danish() -> None:
    composed = compose(notification("invitation"), ORGANIZER, NOW)
    head = composed.data.split(b"\r\n\r\n", 1)[0]
    head.decode("ascii")  # 7-bit clean: no SMTPUTF8 or 8BITMIME needed
    assert b"=?utf-8?" in head
    message = parse(composed.data)
    assert message["Subject"] == "Invitation: Samråd – Skolen ved Søerne, 22. marts 2027 kl. 9.00"
    assert message["From"].addresses[0].display_name == "Samråd, Søernes Kommune"
    assert message["From"].addresses[0].addr_spec == "samraad@kommune.example.dk"
    assert message["To"].addresses[0].display_name == "Åse Æblegaard"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["MIME-Version"] == "1.0"


def test_message_id_is_stable_per_outbox_row() -> None:
    first = compose(notification("invitation"), ORGANIZER, NOW)
    retry = compose(notification("invitation"), ORGANIZER, NOW + timedelta(hours=1))
    other = compose(notification("invitation", outbox_id=8), ORGANIZER, NOW)
    assert first.message_id == retry.message_id != other.message_id
    assert parse(first.data)["Message-ID"] == first.message_id
    assert first.message_id == message_id(7, 42, NOW, "kommune.example.dk")


@pytest.mark.parametrize("name", ["Åse\r\nBcc: evil@example.org", 'Åse "the mum"\nX-Evil: 1'])
def test_a_name_cannot_inject_a_header(name: str) -> None:
    recipient = Participant("mor", "parent", name, "aase@example.dk")
    composed = compose(notification("invitation", recipient=recipient), ORGANIZER, NOW)
    message = parse(composed.data)
    assert message["Bcc"] is None and message["X-Evil"] is None
    assert len(message.get_all("To")) == 1
    assert message["To"].addresses[0].addr_spec == "aase@example.dk"


# ------------------------------------------------------------------ data minimisation


def _visible(composed: Any) -> list[str]:
    """What a shared calendar or a lock screen shows."""
    message = parse(composed.data)
    shown = [str(message["Subject"])]
    if composed.calendar is not None:
        event = Calendar.from_ical(composed.calendar).events[0]
        shown += [str(event.get(k, "")) for k in ("SUMMARY", "DESCRIPTION", "LOCATION")]
        shown += [str(a["DESCRIPTION"]) for a in event.walk("VALARM")]
    return shown


def _any(template: str) -> Notification:
    """A notification of ``template`` with what that template needs."""
    about_meeting = {*MEETING_TEMPLATES, *ANSWER_TEMPLATES, "reminder"}
    proposal = (MEETING.start + timedelta(days=2), MEETING.end + timedelta(days=2))
    return notification(
        template,
        meeting=MEETING if template in about_meeting else None,
        proposal=proposal if template == "reply_counter" else None,
    )


@pytest.mark.parametrize("template", sorted(KNOWN_TEMPLATES))
def test_no_child_name_nor_situation_in_subject_or_calendar(template: str) -> None:
    composed = compose(_any(template), ORGANIZER, NOW)
    for text in _visible(composed):
        for word in FORBIDDEN:
            assert word not in text, (template, text)


def test_the_process_title_is_neutralised() -> None:
    assert neutral_title("Fraværssamråd") == "Samråd"
    assert neutral_title("Skolefravær") == "Møde"


def test_a_case_title_with_the_childs_name_or_the_situation_is_not_used() -> None:
    for title in (f"Samråd om {PUPIL_NAME}", "Skolefravær 7.B", "Bekymring for Ida"):
        leaky = case(title=title)
        composed = compose(notification("invitation", case=leaky), ORGANIZER, NOW)
        for text in _visible(composed):
            for word in FORBIDDEN:
                assert word not in text
        assert composed.subject.startswith("Invitation: Samråd, ")


def test_a_location_naming_the_child_is_redacted() -> None:
    meeting = MeetingInfo(**{**MEETING.__dict__, "location": "Hjemme hos Ida Æblegaard"})
    composed = compose(notification("invitation", meeting=meeting), ORGANIZER, NOW)
    event = Calendar.from_ical(composed.calendar).events[0]
    assert "Ida" not in event["LOCATION"] and "Æblegaard" not in event["LOCATION"]


@pytest.mark.parametrize("template", sorted(KNOWN_TEMPLATES))
def test_bodies_never_name_the_child(template: str) -> None:
    # The action plan's own free text may; this test data keeps the child's name out of it.
    composed = compose(_any(template), ORGANIZER, NOW)
    for body in texts(parse(composed.data)):
        assert PUPIL_NAME not in body and "Ida" not in body


# ------------------------------------------------------------------ the templates


def test_invitation_text_in_danish() -> None:
    text = texts(parse(compose(notification("invitation"), ORGANIZER, NOW).data))[0]
    assert "Du er inviteret til samrådet." in text
    assert "mandag den 22. marts 2027 kl. 9.00–10.30" in text
    assert "Skolen ved Søerne, lokale 2" in text
    assert "- Åse Æblegaard (forælder)" in text
    assert "- Per Vang (UU-vejleder) (valgfri)" in text
    assert "- Elev\n" in text  # the child: by role only


def test_follow_up_meetings_are_named_as_such() -> None:
    follow_up = MeetingInfo(**{**MEETING.__dict__, "key": "follow-up-1"})
    composed = compose(notification("invitation", meeting=follow_up), ORGANIZER, NOW)
    assert composed.subject.startswith("Invitation: Opfølgning på samråd – Skolen ved Søerne")
    assert "Du er inviteret til opfølgningsmødet." in texts(parse(composed.data))[0]


def test_action_plan_lists_who_what_by_when_in_the_body_only() -> None:
    composed = compose(
        notification("action_plan", topic="action_plan", meeting=None), ORGANIZER, NOW
    )
    assert composed.subject == "Handleplan: Samråd – Skolen ved Søerne"
    text, html = texts(parse(composed.data))
    assert "- Elev: Møder kl. 8.00 hver dag – senest fredag den 9. april 2027" in text
    assert "- Åse Æblegaard (forælder): Ringer til skolen ved sygdom" in text
    assert "- Morgenaftale med skolen" in text
    assert "Opfølgningsmøde: mandag den 26. april 2027 kl. 9.00" in text
    assert "<td style" in html and "Følger op med klasselæreren" in html


def test_escalation_names_case_what_is_late_and_how_to_look() -> None:
    composed = compose(
        notification("escalation", topic="meeting_deadline", meeting=None, recipient=PEOPLE[5]),
        ORGANIZER,
        NOW,
    )
    assert composed.subject == "Eskalering: sag 42 – fristen for mødet er overskredet"
    text = texts(parse(composed.data))[0]
    assert "onsdag den 24. marts 2027" in text
    assert "forloeb case show 42" in text


def test_html_is_escaped() -> None:
    plan = dict(
        DATA, action_plan=[{"owner": "leder", "action": "<script>x</script>", "due": "2027-04-02"}]
    )
    composed = compose(
        notification("action_plan", topic="action_plan", meeting=None, case=case(data=plan)),
        ORGANIZER,
        NOW,
    )
    text, html = texts(parse(composed.data))
    assert "<script>x</script>" in text
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_a_recipient_without_address_cannot_be_composed() -> None:
    from machines import InvalidInput

    with pytest.raises(InvalidInput, match="no e-mail address"):
        compose(notification("invitation", recipient=PEOPLE[2]), ORGANIZER, NOW)


# ------------------------------------------------------------------ the other processes

YOUTH = Participant("ung", "youth", "Malte Østergård", "malte@example.dk")
COACHING = case(
    process="coaching",
    title="Ungecentret",
    data={},
    participants=(
        YOUTH,
        Participant("coach", "coach", "Lene Coach", "lene@ungecenter.example.dk"),
        Participant("sb", "caseworker", "Sune Sag", "sune@kommune.example.dk"),
    ),
)
HANDOVER = case(
    process="handover",
    title="Børnehuset Solsikken",
    data={},
    participants=(
        Participant("mor", "parent", "Åse Æblegaard", "aase@example.dk"),
        Participant("sp", "health_nurse", "Hanne Sundhed", "hanne@kommune.example.dk"),
        Participant("dl", "daycare_leader", "Dorte Leder", "dorte@solsikken.example.dk"),
    ),
)


@pytest.mark.parametrize(
    ("snapshot", "template", "topic", "expected"),
    [
        (HANDOVER, "reminder", "offer_form", "tilbudt overgangsskemaet"),
        (HANDOVER, "reminder", "parents_answer", "endnu ikke svaret"),
        (HANDOVER, "reminder", "startup", "Opstartssamtalen i sag 42"),
        (HANDOVER, "escalation", "startup", "opstartssamtalen er ikke holdt inden fristen"),
        (
            COACHING,
            "reminder",
            "sessions_remaining",
            "afsluttet, før alle planlagte sessioner blev holdt",
        ),
        (COACHING, "reminder", "schedule_session", "Aftal den næste session"),
        (COACHING, "reminder", "follow_up", "tid til opfølgningssamtalen"),
        (COACHING, "escalation", "no_shows", "aftalte sessioner er ikke holdt"),
        (COACHING, "reminder", "something_new", "venter på en handling fra dig"),
    ],
)
def test_reminders_and_escalations_of_the_other_processes(
    snapshot: CaseSnapshot, template: str, topic: str, expected: str
) -> None:
    recipient = snapshot.participants[1]
    composed = compose(
        notification(template, topic=topic, meeting=None, case=snapshot, recipient=recipient),
        ORGANIZER,
        NOW,
    )
    text, html = texts(parse(composed.data))
    assert expected in text and "forloeb case show 42" in text
    assert "Malte" not in composed.subject + text + html
    assert "fravær" not in composed.subject.lower() and "udebl" not in composed.subject.lower()


@pytest.mark.parametrize(
    ("snapshot", "key", "summary", "label"),
    [
        (HANDOVER, "home-visit-1", "Hjemmebesøg – Børnehuset Solsikken", "hjemmebesøget"),
        (HANDOVER, "startup-1", "Opstartssamtale – Børnehuset Solsikken", "opstartssamtalen"),
        (COACHING, "intro-1", "Introduktionsmøde – Ungecentret", "introduktionsmødet"),
        (COACHING, "session-3", "Coachingsession – Ungecentret", "sessionen"),
        (COACHING, "follow-up-1", "Opfølgning på coachingforløb – Ungecentret", "opfølgningsmødet"),
    ],
)
def test_meetings_of_the_other_processes_are_named_for_what_they_are(
    snapshot: CaseSnapshot, key: str, summary: str, label: str
) -> None:
    attendees = tuple(p.key for p in snapshot.participants)
    meeting = MeetingInfo(**{**MEETING.__dict__, "key": key, "attendees": attendees})
    composed = compose(
        notification(
            "invitation", meeting=meeting, case=snapshot, recipient=snapshot.participants[1]
        ),
        ORGANIZER,
        NOW,
    )
    assert composed.calendar is not None
    event = Calendar.from_ical(composed.calendar).events[0]
    assert event["SUMMARY"] == summary
    assert f"Du er inviteret til {label}." in texts(parse(composed.data))[0]
    assert "Malte" not in str(event["SUMMARY"]) + composed.subject
