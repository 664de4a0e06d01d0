"""Commands import only what they use: reading a case loads no Prefect, no mail and no
calendar library (the lean-core issue: ``case show`` must start fast)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from persistence import CaseStore, ensure_schema, make_engine
from tests.conftest import LEADER, open_samraad

HEAVY = (
    "prefect",
    "icalendar",
    "aiosmtplib",
    "aiosmtpd",
    "jinja2",
    "imap_tools",
    "httpx",
    "persistence.absence",  # the absence import's tables, CSV reading and scan
)

PROBE = """
import json, sys
from flows.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
heavy = sorted(m for m in {heavy} if m in sys.modules)
print(json.dumps({{"code": code, "heavy": heavy}}))
"""


def test_case_show_audit_and_list_load_no_prefect_mail_or_calendar_library(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'forloeb.db'}"
    engine = make_engine(db_url)
    ensure_schema(engine)
    case_id = open_samraad(CaseStore(engine))
    engine.dispose()
    env = {
        **os.environ,
        "FORLOEB_DATABASE_URL": db_url,
        # Mail configured, as in production: checking these settings must stay light too.
        "FORLOEB_SMTP_HOST": "smtp.kommune.example.dk",
        "FORLOEB_IMAP_HOST": "imap.kommune.example.dk",
        "FORLOEB_IMAP_USER": "forloeb",
        "FORLOEB_IMAP_PASSWORD": "x",
    }
    reads = (
        ["case", "show", str(case_id), "--json"],  # the operator's view, and its access row
        ["case", "show", str(case_id), "--by", LEADER, "--json"],  # a participant's
        ["audit", str(case_id)],
        ["case", "list"],
    )
    for args in reads:
        probe = PROBE.format(heavy=HEAVY)
        done = subprocess.run(
            [sys.executable, "-c", probe, *args], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result == {"code": 0, "heavy": []}, (args, result, done.stderr)


def test_a_malformed_imap_setting_is_one_line_for_every_command(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "FORLOEB_DATABASE_URL": f"sqlite:///{tmp_path / 'forloeb.db'}",
        "FORLOEB_IMAP_HOST": "imap.kommune.example.dk",
        "FORLOEB_IMAP_TLS": "ssl3",
    }
    done = subprocess.run(
        [str(Path(sys.executable).parent / "forloeb"), "case", "list"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        "error: FORLOEB_IMAP_TLS='ssl3' is not known; use tls, starttls, none"
    ]
    assert not (tmp_path / "forloeb.db").exists()  # refused before anything was opened
