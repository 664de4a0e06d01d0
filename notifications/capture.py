"""A local capture mail server: every message becomes an ``.eml`` and its calendar an ``.ics``.

For trying forloeb out (``forloeb mailbox``, ``make demo``): point delivery at it with
``FORLOEB_SMTP_HOST=127.0.0.1 FORLOEB_SMTP_PORT=8025 FORLOEB_SMTP_TLS=none`` (plain SMTP
is allowed because it never leaves this machine) and open the files it writes.
It listens on the loopback address only: it stores everything it is sent.
"""

from __future__ import annotations

import email
import email.policy
import re
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from machines import ForloebError

DEFAULT_PORT = 8025
DEFAULT_HOST = "127.0.0.1"
_UNSAFE = re.compile(r"[^a-z0-9_-]+")


def free_port(host: str = DEFAULT_HOST) -> int:
    """A port the OS considers free right now (aiosmtpd cannot listen on port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class CaptureHandler:
    """aiosmtpd handler writing ``0001-case42-invitation.eml`` (+ ``.ics``) per message.

    File names carry ids and the template only, never an address or a name.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        numbers = [int(p.name[:4]) for p in directory.glob("[0-9][0-9][0-9][0-9]-*.eml")]
        self._next = max(numbers, default=0) + 1

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content or envelope.content
        raw = data if isinstance(data, bytes) else str(data).encode("utf-8")
        message = email.message_from_bytes(raw, policy=email.policy.default)
        case = _UNSAFE.sub("", str(message.get("X-Forloeb-Case", "")).lower())
        template = _UNSAFE.sub("", str(message.get("X-Forloeb-Template", "message")).lower())
        with self._lock:
            number, self._next = self._next, self._next + 1
        stem = f"{number:04d}" + (f"-case{case}" if case else "") + f"-{template or 'message'}"
        (self.directory / f"{stem}.eml").write_bytes(raw)
        for part in message.walk():
            if part.get_content_type() == "text/calendar":
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    (self.directory / f"{stem}.ics").write_bytes(payload)
                break
        return "250 Message accepted for delivery"


@dataclass(frozen=True)
class Mailbox:
    host: str
    port: int
    directory: Path

    def messages(self) -> list[Path]:
        return sorted(self.directory.glob("*.eml"))

    def calendars(self) -> list[Path]:
        return sorted(self.directory.glob("*.ics"))

    def env(self) -> dict[str, str]:
        """The settings that send forloeb's mail here."""
        return {
            "FORLOEB_SMTP_HOST": self.host,
            "FORLOEB_SMTP_PORT": str(self.port),
            "FORLOEB_SMTP_TLS": "none",
        }


@contextmanager
def mailbox(
    directory: str | Path = "mailbox", port: int = DEFAULT_PORT, host: str = DEFAULT_HOST
) -> Iterator[Mailbox]:
    """Run the capture server in a background thread for the duration of a ``with``.

    ``port=0`` picks a free port (see ``Mailbox.port``).
    """
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    if port == 0:
        port = free_port(host)
    # aiosmtpd reports a busy port only after its 5 s start timeout; asking first is instant.
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's server does
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ForloebError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
                "choose another port with --port"
            ) from None
    controller = Controller(
        CaptureHandler(target), hostname=host, port=port, server_hostname="localhost"
    )
    controller.start()
    try:
        yield Mailbox(host, port, target)
    finally:
        controller.stop()


def run_mailbox(
    port: int = DEFAULT_PORT,
    directory: str | Path = "mailbox",
    host: str = DEFAULT_HOST,
    on_ready: Callable[[Mailbox], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Serve until Ctrl-C (or until ``stop`` is set)."""
    stop = stop or threading.Event()
    with mailbox(directory, port, host) as box:
        if on_ready is not None:
            on_ready(box)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
