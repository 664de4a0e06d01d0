"""``forloeb outbox deliver|list|retry`` and ``forloeb mailbox``: the capture server writes
.eml and .ics files; errors are one line with exit code 2 (bad input) or 1 (the rest)."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from icalendar import Calendar

from flows.cli import cli as forloeb
from notifications import Mailbox, SmtpSettings, TLSMode, mailbox, run_mailbox
from persistence import CaseStore

from .conftest import INVITED, Server, open_case, schedule


@pytest.fixture
def db(tmp_path: Path, store: CaseStore) -> str:
    return str(store.engine.url)


def run(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(forloeb, ["outbox", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def base_env(db: str) -> dict[str, str]:
    return {
        "FORLOEB_DATABASE_URL": db,
        "FORLOEB_NOW": "2027-03-15T10:05:00+01:00",
        "FORLOEB_ORGANIZER": "samraad@kommune.example.dk",
        "FORLOEB_ORGANIZER_NAME": "Samråd, Søernes Kommune",
    }


def test_deliver_into_the_mailbox_writes_eml_and_ics(
    store: CaseStore, db: str, tmp_path: Path
) -> None:
    case_id = open_case(store)
    schedule(store, case_id)
    with mailbox(tmp_path / "mails", port=0) as box:
        code, out, err = run(["deliver"], {**base_env(db), **box.env()})
        assert (code, err) == (0, "")
        assert out.startswith(f"outbox: sent {len(INVITED)},")
        messages, calendars = box.messages(), box.calendars()
    assert len(messages) == len(calendars) == len(INVITED)
    assert messages[0].name == f"0001-case{case_id}-invitation.eml"
    parsed = email.message_from_bytes(messages[0].read_bytes(), policy=email.policy.default)
    assert parsed["X-Forloeb-Template"] == "invitation"
    assert Calendar.from_ical(calendars[0].read_bytes())["METHOD"] == "REQUEST"
    # No address or name in the file names.
    assert all("@" not in p.name and "Ida" not in p.name for p in messages)


def test_list_shows_pending_then_sent(store: CaseStore, db: str, tmp_path: Path) -> None:
    case_id = open_case(store)
    schedule(store, case_id)
    code, out, _ = run(["list"], base_env(db))
    assert code == 0
    assert out.splitlines()[0] == f"pending: {len(INVITED)}, sent: 0, failed: 0, superseded: 0"
    assert "invitation/meeting" in out and "mor (parent)" in out

    with mailbox(tmp_path / "mails", port=0) as box:
        run(["deliver"], {**base_env(db), **box.env()})
    code, out, _ = run(["list", "--json", "--status", "sent"], base_env(db))
    rows = json.loads(out)
    assert code == 0 and len(rows) == len(INVITED)
    assert {r["to"] for r in rows} == INVITED
    assert all(r["message_id"].endswith("@kommune.example.dk>") for r in rows)
    assert all(r["response"].startswith("250") for r in rows)


def test_deliver_without_starttls_exits_1_with_one_line(
    store: CaseStore, db: str, plain_server: Server
) -> None:
    schedule(store, open_case(store))
    env = {
        **base_env(db),
        "FORLOEB_SMTP_HOST": "localhost",
        "FORLOEB_SMTP_PORT": str(plain_server.port),
        "FORLOEB_SMTP_TLS": "starttls",
        "FORLOEB_SMTP_CA_FILE": str(plain_server.settings.ca_file),
    }
    code, out, err = run(["deliver"], env)
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert "does not offer STARTTLS" in err and "stay pending" in err
    assert "Traceback" not in out + err
    assert plain_server.recorder.received == []


def test_deliver_over_starttls_with_the_test_ca(
    store: CaseStore, db: str, smtp_server: Server
) -> None:
    schedule(store, open_case(store))
    env = {
        **base_env(db),
        "FORLOEB_SMTP_HOST": "localhost",
        "FORLOEB_SMTP_PORT": str(smtp_server.port),
        "FORLOEB_SMTP_CA_FILE": str(smtp_server.settings.ca_file),
    }
    code, out, err = run(["deliver", "--json"], env)
    assert code == 0, err
    assert json.loads(out)["sent"] == len(INVITED)
    assert len(smtp_server.recorder.received) == len(INVITED)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FORLOEB_SMTP_TLS": "none", "FORLOEB_SMTP_HOST": "smtp.kommune.example.dk"}, "refused"),
        ({"FORLOEB_SMTP_TLS": "ssl"}, "use starttls, tls, none"),
        ({"FORLOEB_SMTP_PORT": "smtp"}, "not a port number"),
        ({"FORLOEB_ORGANIZER": "samraad"}, "FORLOEB_ORGANIZER"),
        ({"FORLOEB_NOW": "2027-03-15T10:05"}, "no UTC offset"),
        ({"FORLOEB_OUTBOX_MAX_ATTEMPTS": "0"}, "positive whole number"),
    ],
)
def test_bad_configuration_exits_2_with_one_line(
    store: CaseStore, db: str, env: dict[str, str], message: str
) -> None:
    schedule(store, open_case(store))
    code, _, err = run(["deliver"], {**base_env(db), **env})
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err
    # Nothing claimed and kept: every row is still due at once.
    rows = json.loads(run(["list", "--json"], base_env(db))[1])
    assert {(r["status"], r["attempts"], r["next_attempt_at"]) for r in rows} == {
        ("pending", 0, "2027-03-15T09:00:00+00:00")
    }


def test_retry_requeues_failed_rows(store: CaseStore, db: str, smtp_server: Server) -> None:
    smtp_server.recorder.refuse["per@uu.example.dk"] = "550 5.1.1 User unknown"
    schedule(store, open_case(store))
    env = {
        **base_env(db),
        "FORLOEB_SMTP_HOST": "localhost",
        "FORLOEB_SMTP_PORT": str(smtp_server.port),
        "FORLOEB_SMTP_CA_FILE": str(smtp_server.settings.ca_file),
    }
    assert run(["deliver"], env)[0] == 0
    failed = json.loads(run(["list", "--json", "--status", "failed"], env)[1])
    assert [r["to"] for r in failed] == ["per@uu.example.dk"]

    assert run(["retry"], env)[0] == 2  # says which rows
    code, out, _ = run(["retry", str(failed[0]["id"])], env)
    assert (code, out) == (0, "outbox: 1 message(s) queued again\n")
    del smtp_server.recorder.refuse["per@uu.example.dk"]
    assert run(["deliver"], env)[0] == 0
    assert len(smtp_server.recorder.to("per@uu.example.dk")) == 1


def test_tls_none_only_for_loopback() -> None:
    assert SmtpSettings("127.0.0.1", 25, TLSMode.NONE).tls is TLSMode.NONE
    assert SmtpSettings("::1", 25, TLSMode.NONE).tls is TLSMode.NONE
    from machines import InvalidInput

    with pytest.raises(InvalidInput, match="refused"):
        SmtpSettings("10.0.0.5", 25, TLSMode.NONE)


def test_default_ports_follow_the_tls_mode() -> None:
    assert SmtpSettings.from_env({}).port == 587
    assert SmtpSettings.from_env({}).tls is TLSMode.STARTTLS
    assert SmtpSettings.from_env({"FORLOEB_SMTP_TLS": "tls"}).port == 465
    assert SmtpSettings.from_env({"FORLOEB_SMTP_TLS": "none"}).port == 25
    assert "password" not in repr(SmtpSettings.from_env({"FORLOEB_SMTP_PASSWORD": "hemmelig"}))
    assert "hemmelig" not in repr(SmtpSettings.from_env({"FORLOEB_SMTP_PASSWORD": "hemmelig"}))


def test_run_mailbox_serves_until_stopped(tmp_path: Path) -> None:
    stop = threading.Event()
    ready: list[int] = []

    def on_ready(box: Mailbox) -> None:
        ready.append(box.port)
        with socket.create_connection(("127.0.0.1", ready[0]), timeout=5) as conn:
            assert conn.recv(100).startswith(b"220")
        stop.set()

    run_mailbox(port=0, directory=tmp_path / "m", on_ready=on_ready, stop=stop)
    assert ready and (tmp_path / "m").is_dir()


def test_mailbox_on_a_busy_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            forloeb, ["mailbox", "--port", str(port), "--dir", str(tmp_path / "m")]
        )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot listen on") and result.stderr.count("\n") == 1
