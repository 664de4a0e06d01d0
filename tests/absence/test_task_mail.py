"""National-rule tasks reach the school leader by mail — through a real SMTP server."""

from __future__ import annotations

import email
from datetime import date
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import Engine

from flows import absence as flow
from notifications import AioSmtpMailer, SmtpSettings, TLSMode, mailbox

from .conftest import LEADER, at, directory, load, registrations

D = date.fromisoformat


@pytest.fixture
def tasks(engine: Engine) -> Engine:
    directory(engine)
    load(engine, registrations("p-17", [D("2026-03-02")], code="U"))
    flow.scan(engine, at("2026-03-02"))
    assert len(flow.pending_tasks(engine)) == 1
    return engine


def test_a_task_is_mailed_once_to_the_leader_with_nothing_telling_in_the_subject(
    tasks: Engine, tmp_path: Path
) -> None:
    with mailbox(tmp_path / "mail", port=0) as box:
        mailer = AioSmtpMailer(SmtpSettings(box.host, box.port, TLSMode.NONE))
        assert flow.mail_tasks(tasks, at("2026-03-03", 8), mailer) == {
            "mailed": 1,
            "failed": 0,
            "no_leader_address": 0,
        }
        assert flow.mail_tasks(tasks, at("2026-03-03", 9), mailer)["mailed"] == 0
        (raw,) = box.messages()
    message = email.message_from_bytes(raw.read_bytes(), policy=policy.default)
    assert message["To"].addresses[0].addr_spec == LEADER
    # A subject shows on lock screens and in shared mailboxes: the school only, no pupil
    # and no word for the situation.
    assert message["Subject"] == "Opgave til skolelederen – Vestskolen"
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "p-17" in body and "2026-03-02" in body
    assert flow.pending_tasks(tasks) == []


def test_when_the_server_is_down_the_task_stays_pending(tasks: Engine) -> None:
    with mailbox(Path("/tmp") / "unused-mailbox", port=0) as box:
        port = box.port  # a port nobody listens on once the box is closed
    mailer = AioSmtpMailer(SmtpSettings("127.0.0.1", port, TLSMode.NONE, timeout=2))
    counts = flow.mail_tasks(tasks, at("2026-03-03", 8), mailer)
    assert counts["mailed"] == 0 and counts["failed"] == 1
    assert len(flow.pending_tasks(tasks)) == 1
