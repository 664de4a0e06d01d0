"""A real IMAP server for the tests: Dovecot on a free loopback port, TLS from trustme.

Everything Dovecot writes (sockets, state, log, the mailbox) lives in one temporary
directory; ``doveadm -c CONF stop`` stops it. Used by the reply tests and the bench.
"""

from __future__ import annotations

import imaplib
import os
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import trustme

from notifications.capture import free_port
from notifications.replies import ImapSettings, ImapTLS

USER, PASSWORD = "forloeb", "hemmeligt-test"


def available() -> bool:
    return shutil.which("dovecot") is not None and shutil.which("doveadm") is not None


@dataclass(frozen=True)
class Dovecot:
    port: int
    plain_port: int  # the same mailbox without TLS (to show that it is refused)
    ca_file: Path
    home: Path

    def settings(self, **changes: object) -> ImapSettings:
        values: dict[str, object] = {
            "host": "127.0.0.1",
            "user": USER,
            "password": PASSWORD,
            "port": self.port,
            "tls": ImapTLS.TLS,
            "ca_file": str(self.ca_file),
        }
        values.update(changes)
        return ImapSettings(**values)  # type: ignore[arg-type]

    @contextmanager
    def client(self) -> Iterator[imaplib.IMAP4_SSL]:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        imap = imaplib.IMAP4_SSL("127.0.0.1", self.port, ssl_context=context, timeout=10)
        imap.login(USER, PASSWORD)
        try:
            yield imap
        finally:
            imap.logout()

    def append(self, *mails: bytes, folder: str = "INBOX") -> None:
        with self.client() as imap:
            for mail in mails:
                status, _ = imap.append(folder, "", None, mail)
                assert status == "OK"

    def count(self, folder: str) -> int:
        with self.client() as imap:
            status, data = imap.select(f'"{folder}"', readonly=True)
            if status != "OK":
                return 0
            return int(data[0] or 0)

    def clear(self, folders: tuple[str, ...] = ("INBOX", "Behandlet")) -> None:
        with self.client() as imap:
            for name in folders:
                status, data = imap.select(f'"{name}"')
                if status == "OK" and int(data[0] or 0):
                    imap.store("1:*", "+FLAGS", r"(\Deleted)")
                    imap.expunge()

    def maildir(self, folder: str = "INBOX") -> Path:
        """Where Dovecot keeps a folder's files (for writing many mails fast)."""
        base = self.home / "Maildir"
        return base if folder == "INBOX" else base / f".{folder}"


CONFIG = """\
base_dir = {tmp}/run
state_dir = {tmp}/state
log_path = {tmp}/dovecot.log
info_log_path = {tmp}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{tmp}/cert.pem
ssl_key = <{tmp}/key.pem
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
first_valid_uid = 1
{users}mail_location = maildir:~/Maildir
auth_mechanisms = plain
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {tmp}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={tmp}/home
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {plain_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""


@contextmanager
def dovecot(tmp: Path) -> Iterator[Dovecot]:
    import grp
    import pwd

    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    leaf.private_key_pem.write_to_path(str(tmp / "key.pem"))
    leaf.cert_chain_pems[0].write_to_path(str(tmp / "cert.pem"))
    ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
    (tmp / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    (tmp / "home").mkdir()
    port, plain_port = free_port(), free_port()
    uid, gid = os.getuid(), os.getgid()
    users = ""
    if uid == 0:
        # Dovecot will not run its login and mail processes as root: they run as the
        # package's own users, and the mailbox belongs to "dovecot".
        owner = pwd.getpwnam("dovecot")
        uid, gid = owner.pw_uid, owner.pw_gid
        for path in (tmp, tmp / "home"):
            os.chown(path, uid, gid)
        os.chmod(tmp, 0o755)
    else:
        user, group = pwd.getpwuid(uid).pw_name, grp.getgrgid(gid).gr_name
        users = (
            f"default_internal_user = {user}\ndefault_login_user = {user}\n"
            f"default_internal_group = {group}\n"
        )
    config = tmp / "dovecot.conf"
    config.write_text(
        CONFIG.format(
            tmp=tmp,
            port=port,
            plain_port=plain_port,
            uid=uid,
            gid=gid,
            users=users,
        )
    )
    # Dovecot forks into the background; a captured pipe would stay open (and block) as
    # long as it runs, so its output goes to its log file only.
    subprocess.run(
        ["dovecot", "-c", str(config)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = Dovecot(port, plain_port, tmp / "ca.pem", tmp / "home")
    try:
        for _ in range(200):  # it forks and listens within a moment; no timing asserted
            try:
                with server.client():
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("dovecot did not start: " + (tmp / "dovecot.log").read_text())
        yield server
    finally:
        subprocess.run(
            ["doveadm", "-c", str(config), "stop"],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
