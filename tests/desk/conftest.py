"""The desk in a real browser: uvicorn in a thread, Debian's Chromium through Playwright,
aiosmtpd with STARTTLS catching the sign-in mails, the session's real Prefect server.

Never ``playwright install``: it downloads browsers, which fails here; CI installs
Debian's ``chromium`` (.ci/run).
"""

from __future__ import annotations

import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
import uvicorn

from persistence import CaseStore, ensure_schema, make_engine
from tests.notifications.conftest import Recorder, serve

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADMIN = "drift@kommune.example.dk"

#: Every browser test module is in this xdist group: two Chromiums at once would fight
#: for 2 cores (each module sets ``pytestmark = BROWSER_GROUP``).
BROWSER_GROUP = pytest.mark.xdist_group("desk-browser")


@pytest.fixture(scope="session")
def smtp_tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return context, ca_file


@pytest.fixture
def mailbox(
    smtp_tls: tuple[ssl.SSLContext, Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Recorder]:
    """aiosmtpd requiring STARTTLS; the desk's sign-in mails go there."""
    context, ca_file = smtp_tls
    recorder = Recorder()
    with serve(recorder, context) as port:
        monkeypatch.setenv("FORLOEB_SMTP_HOST", "localhost")
        monkeypatch.setenv("FORLOEB_SMTP_PORT", str(port))
        monkeypatch.setenv("FORLOEB_SMTP_TLS", "starttls")
        monkeypatch.setenv("FORLOEB_SMTP_CA_FILE", str(ca_file))
        yield recorder


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def runner(prefect_api: str) -> Any:
    """One warm Prefect client for the session, as one desk process keeps one."""
    from desk.runner import FlowRunner

    flow_runner = FlowRunner()
    flow_runner.start()
    yield flow_runner
    flow_runner.stop()


@dataclass
class DeskServer:
    url: str
    store: CaseStore
    mailbox: Recorder

    def link_for(self, email: str) -> str:
        """The sign-in link in the newest mail to ``email``."""
        mails = self.mailbox.to(email)
        assert mails, f"no sign-in mail reached {email}"
        body = mails[-1].message.get_body(("plain",))
        assert body is not None
        found = re.search(r"http://\S+/log-ind/link/\S+", body.get_content())
        assert found is not None
        return found.group(0)


@pytest.fixture
def desk_server(
    tmp_path: Path,
    mailbox: Recorder,
    runner: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[DeskServer]:
    from desk.app import create_app
    from desk.settings import DeskSettings

    url = f"sqlite:///{tmp_path / 'desk.db'}"
    monkeypatch.setenv("FORLOEB_DATABASE_URL", url)  # the flows' store, in this process
    monkeypatch.setenv("FORLOEB_HOME", str(tmp_path / "home"))
    engine = make_engine(url)
    ensure_schema(engine)
    store = CaseStore(engine)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("FORLOEB_DESK_URL", base)
    monkeypatch.setenv("FORLOEB_DESK_ADMINS", ADMIN)
    app = create_app(DeskSettings.from_env(), store=store, runner=runner)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the desk did not start"
        time.sleep(0.05)
    yield DeskServer(base, store, mailbox)
    # The runner is the session's: the flow runs this test's actions left to record are
    # recorded now, under this test's database (its tag is read from the environment).
    runner.drain(120)
    server.should_exit = True
    thread.join(10)
    engine.dispose()


# Per module, not per session: while Playwright's sync API is open it marks an event loop as
# running on this thread, so every later test on the same worker that calls asyncio.run()
# (the sweep, the Prefect read-back) would fail. A module's tests run together; launching
# Chromium once per module costs about a second.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    """A page in a fresh browser context (its own cookies): one per person."""
    contexts: list[Any] = []

    def make() -> Any:
        context = browser.new_context(locale="da-DK", timezone_id="Europe/Copenhagen")
        # A wait bound, not a timing assertion: opening a case is a flow run, and a busy CI
        # machine can take longer than Playwright's default 30 s to answer it.
        context.set_default_timeout(120_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
