"""The mail servers' settings (SMTP out, IMAP in), read from ``FORLOEB_SMTP_*`` and
``FORLOEB_IMAP_*``.

Standard library only: ``forloeb`` checks every setting before any command runs, and a
command that sends no mail must not pay for importing the mail libraries to do so.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

from machines import InvalidInput

if TYPE_CHECKING:
    from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted

#: Mail larger than this is not read (an answer is a few kilobytes).
DEFAULT_MAX_BYTES = 1_000_000
DEFAULT_PROCESSED_FOLDER = "Behandlet"

Mode = TypeVar("Mode", bound=StrEnum)


def is_loopback(host: str) -> bool:
    if host.lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _tls_mode(env: Mapping[str, str], name: str, modes: type[Mode], default: Mode) -> Mode:
    raw = (env.get(name) or default.value).strip().lower()
    try:
        return modes(raw)
    except ValueError:
        known = ", ".join(m.value for m in modes)
        raise InvalidInput(f"{name}={raw!r} is not known; use {known}") from None


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    try:
        port = int(raw) if raw else default
    except ValueError:
        raise InvalidInput(f"{name}={raw!r} is not a port number") from None
    if not 0 < port < 65536:
        raise InvalidInput(f"{name}={port} is not a port number")
    return port


def _ca_file(env: Mapping[str, str], name: str) -> str | None:
    ca_file = env.get(name) or None
    if ca_file is not None and not os.path.isfile(ca_file):
        raise InvalidInput(f"{name}={ca_file!r}: no such file")
    return ca_file


# ------------------------------------------------------------------ SMTP


class TLSMode(StrEnum):
    STARTTLS = "starttls"
    TLS = "tls"
    NONE = "none"


_SMTP_PORTS = {TLSMode.STARTTLS: 587, TLSMode.TLS: 465, TLSMode.NONE: 25}


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "localhost"
    port: int = 587
    tls: TLSMode = TLSMode.STARTTLS
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    #: Extra CA certificates to trust (a test server's, a municipal relay's private CA).
    ca_file: str | None = None
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.tls is TLSMode.NONE and not is_loopback(self.host):
            raise InvalidInput(
                f"FORLOEB_SMTP_TLS=none is refused for {self.host}: mail to citizens must go "
                "over TLS; use starttls or tls (none is only for a server on this machine)"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SmtpSettings:
        env = os.environ if env is None else env
        tls = _tls_mode(env, "FORLOEB_SMTP_TLS", TLSMode, TLSMode.STARTTLS)
        return cls(
            host=env.get("FORLOEB_SMTP_HOST") or "localhost",
            port=_port(env, "FORLOEB_SMTP_PORT", _SMTP_PORTS[tls]),
            tls=tls,
            username=env.get("FORLOEB_SMTP_USERNAME") or None,
            password=env.get("FORLOEB_SMTP_PASSWORD") or None,
            ca_file=_ca_file(env, "FORLOEB_SMTP_CA_FILE"),
        )

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


# ------------------------------------------------------------------ IMAP


class ImapTLS(StrEnum):
    TLS = "tls"
    STARTTLS = "starttls"
    NONE = "none"  # only towards this machine, as for SMTP


_IMAP_PORTS = {ImapTLS.TLS: 993, ImapTLS.STARTTLS: 143, ImapTLS.NONE: 143}


@dataclass(frozen=True)
class ImapSettings:
    host: str
    user: str
    password: str = field(repr=False)
    port: int = 993
    tls: ImapTLS = ImapTLS.TLS
    folder: str = "INBOX"
    processed_folder: str = DEFAULT_PROCESSED_FOLDER
    ca_file: str | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.tls is ImapTLS.NONE and not is_loopback(self.host):
            raise InvalidInput(
                f"FORLOEB_IMAP_TLS=none is refused for {self.host}: the organizer mailbox "
                "holds citizens' mail; use tls or starttls (none is only for this machine)"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ImapSettings | None:
        """The settings, or None when FORLOEB_IMAP_HOST is not set (replies not read)."""
        env = os.environ if env is None else env
        host = env.get("FORLOEB_IMAP_HOST")
        if not host:
            return None
        tls = _tls_mode(env, "FORLOEB_IMAP_TLS", ImapTLS, ImapTLS.TLS)
        port = _port(env, "FORLOEB_IMAP_PORT", _IMAP_PORTS[tls])
        user, password = env.get("FORLOEB_IMAP_USER"), env.get("FORLOEB_IMAP_PASSWORD")
        if not user or not password:
            raise InvalidInput(
                "FORLOEB_IMAP_HOST is set but FORLOEB_IMAP_USER or FORLOEB_IMAP_PASSWORD is "
                "not; set the organizer mailbox's login"
            )
        ca_file = _ca_file(env, "FORLOEB_IMAP_CA_FILE")
        folder = env.get("FORLOEB_IMAP_FOLDER") or "INBOX"
        done = env.get("FORLOEB_IMAP_PROCESSED_FOLDER") or DEFAULT_PROCESSED_FOLDER
        if folder == done:
            raise InvalidInput("FORLOEB_IMAP_PROCESSED_FOLDER must differ from FORLOEB_IMAP_FOLDER")
        return cls(host, user, password, port, tls, folder, done, ca_file)

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def mailbox(self) -> MailBox | MailBoxStartTls | MailBoxUnencrypted:
        from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted

        if self.tls is ImapTLS.TLS:
            return MailBox(self.host, self.port, self.timeout, ssl_context=self.ssl_context())
        if self.tls is ImapTLS.STARTTLS:
            # imaplib's starttls refuses a server that does not offer it: no silent plain.
            return MailBoxStartTls(self.host, self.port, self.timeout, self.ssl_context())
        import logging

        logging.getLogger("forloeb.notifications").warning(
            "reading the organizer mailbox at %s without TLS (loopback)", self.where
        )
        return MailBoxUnencrypted(self.host, self.port, self.timeout)
