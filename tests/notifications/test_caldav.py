"""Round trip through a real CalDAV server: Radicale in-process (temporary storage, no
auth), driven with the ``caldav`` client. The invite is stored, found by UID, and the
update replaces it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import caldav
import pytest
import radicale
from radicale import config

from machines import COPENHAGEN
from notifications import Attendee, CalendarUser, MeetingInvite, Method, build_invite

from .conftest import at


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def radicale_url(tmp_path: Path) -> Iterator[str]:
    configuration = config.load()
    configuration.update(
        {
            "storage": {"filesystem_folder": str(tmp_path / "collections")},
            "auth": {"type": "none"},
            "rights": {"type": "owner_only"},
            "logging": {"level": "warning"},
        },
        "test",
        privileged=True,
    )
    logging.getLogger("radicale").setLevel(logging.ERROR)
    server: WSGIServer = make_server(
        "127.0.0.1", 0, radicale.Application(configuration), handler_class=_Quiet
    )
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


def _invite(start: datetime, sequence: int, location: str) -> MeetingInvite:
    return MeetingInvite(
        uid="caldav-roundtrip-1@forloeb",
        sequence=sequence,
        start=start.astimezone(UTC),  # as it comes from the database
        end=(start + timedelta(minutes=90)).astimezone(UTC),
        summary="Samråd – Skolen ved Søerne",
        location=location,
        organizer=CalendarUser("samraad@kommune.example.dk", "Samråd, Søernes Kommune"),
        attendees=(Attendee("aase@example.dk", "Åse Æblegaard"),),
        method=Method.REQUEST,
        alarm_before=timedelta(hours=1),
    )


def _as_resource(raw: bytes) -> str:
    # A stored calendar object must not carry METHOD (RFC 4791 4.1); a calendar client
    # drops it when it files an iTIP message, and so do we before the PUT.
    return "".join(
        line
        for line in raw.decode("utf-8").splitlines(keepends=True)
        if not line.startswith("METHOD:")
    )


def test_invite_round_trips_through_radicale_and_the_update_replaces_it(radicale_url: str) -> None:
    client = caldav.DAVClient(url=radicale_url, username="koordinator", password="x")
    calendar = client.principal().make_calendar(name="forloeb")
    first = _invite(at("2027-03-29 09:00"), 0, "Skolen ved Søerne, lokale 2")
    url = f"{str(calendar.url).rstrip('/')}/{first.uid}.ics"

    response = client.put(
        url, _as_resource(build_invite(first)), {"Content-Type": "text/calendar; charset=utf-8"}
    )
    assert response.status in (201, 204)

    stored = calendar.event_by_uid(first.uid).icalendar_component
    assert stored["UID"] == first.uid
    assert stored.start == at("2027-03-29 09:00")
    assert stored.start.astimezone(COPENHAGEN).hour == 9
    assert stored.end == at("2027-03-29 10:30")
    assert stored["SUMMARY"] == first.summary
    assert stored["SEQUENCE"] == 0

    moved = _invite(at("2027-11-01 09:00"), 1, "PPR, lokale 4")
    response = client.put(
        url, _as_resource(build_invite(moved)), {"Content-Type": "text/calendar; charset=utf-8"}
    )
    assert response.status in (201, 204)

    events = calendar.events()
    assert len(events) == 1  # replaced, not added beside it
    stored = calendar.event_by_uid(first.uid).icalendar_component
    assert stored["SEQUENCE"] == 1
    assert stored.start == at("2027-11-01 09:00")
    assert stored.start.utcoffset() == timedelta(hours=1)
    assert stored["LOCATION"] == "PPR, lokale 4"
    assert stored["SUMMARY"] == first.summary
