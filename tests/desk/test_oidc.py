"""Sign-in through an OpenID Connect provider started in the test (oidc-provider-mock)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from oidc_provider_mock import run_server_in_thread

from flows import clock
from tests.conftest import LEADER, SAMRAAD_CASE

from .conftest import BROWSER_GROUP, DeskServer
from .helpers import accessible

pytestmark = BROWSER_GROUP


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with run_server_in_thread(require_nonce=True) as server:
        issuer = f"http://localhost:{server.server_port}"
        monkeypatch.setenv("FORLOEB_OIDC_ISSUER", issuer)
        monkeypatch.setenv("FORLOEB_OIDC_CLIENT_ID", "forloeb-desk")
        monkeypatch.setenv("FORLOEB_OIDC_CLIENT_SECRET", "a-client-secret")
        yield issuer


def sign_in_at_provider(page: Any, desk: DeskServer, email: str) -> None:
    page.goto(f"{desk.url}/log-ind")
    accessible(page)
    page.get_by_role("link", name="Log ind med kommunens login").click()
    page.locator('input[name="sub"]').fill(email)
    page.get_by_role("button", name="Authorize").click()


def test_a_participant_signs_in_through_the_identity_provider(
    provider: str, desk_server: DeskServer, new_page: Any
) -> None:
    desk = desk_server
    case_id = desk.store.open_case("samraad", SAMRAAD_CASE, clock.now())
    page = new_page()
    sign_in_at_provider(page, desk, LEADER)
    page.wait_for_url(f"{desk.url}/sager")
    assert page.get_by_role("link", name=f"Sag {case_id}").is_visible()


def test_someone_on_no_case_is_turned_away(
    provider: str, desk_server: DeskServer, new_page: Any
) -> None:
    desk = desk_server
    desk.store.open_case("samraad", SAMRAAD_CASE, clock.now())
    page = new_page()
    sign_in_at_provider(page, desk, "fremmed@example.dk")
    page.get_by_text("Din adresse står ikke på nogen sag").wait_for()
    assert page.goto(f"{desk.url}/sager").url.endswith("/log-ind")


def test_an_answer_without_the_sessions_state_is_refused(
    provider: str, desk_server: DeskServer, new_page: Any
) -> None:
    page = new_page()
    response = page.goto(f"{desk_server.url}/log-ind/oidc/svar?code=x&state=forged")
    assert response is not None and response.status == 400
    assert "Login blev ikke gennemført" in page.locator("main").inner_text()
