"""Sign-in requests: limited per address and per client; unknown addresses get no mail
but the same answer; the session cookie's flags."""

from __future__ import annotations

import re

import httpx

from flows import clock
from tests.conftest import LEADER, SAMRAAD_CASE

from .conftest import BROWSER_GROUP, DeskServer

pytestmark = BROWSER_GROUP


def request_link(client: httpx.Client, email: str) -> httpx.Response:
    page = client.get("/log-ind")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return client.post("/log-ind", data={"csrf": found.group(1), "email": email})


def test_sign_in_links_are_limited_and_say_nothing_about_who_is_known(
    desk_server: DeskServer,
) -> None:
    desk = desk_server
    desk.store.open_case("samraad", SAMRAAD_CASE, clock.now())
    with httpx.Client(base_url=desk.url) as client:
        answers = [request_link(client, LEADER) for _ in range(4)]
        unknown = request_link(client, "fremmed@example.dk")
        cookie = client.get("/log-ind").headers["set-cookie"]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert "Vent 15 minutter" in answers[-1].text
    assert len(desk.mailbox.to(LEADER)) == 3
    # An unknown address gets the same page, and no mail.
    assert unknown.status_code == 200 and "Tjek din mail" in unknown.text
    assert not desk.mailbox.to("fremmed@example.dk")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Secure" not in cookie  # plain http on loopback; https makes it Secure
    # The subject names no case and no child.
    subject = desk.mailbox.to(LEADER)[0].message["Subject"]
    assert subject == "Dit link til at logge ind på forløb"

    # Per client: ten requests from one client, whatever the addresses.
    with httpx.Client(base_url=desk.url) as client:
        statuses = [request_link(client, f"person{i}@example.dk").status_code for i in range(7)]
    assert statuses == [200] * 6 + [429]  # 4 recorded above + these 6 make ten
