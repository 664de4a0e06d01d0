"""Sending: SMTP settings from the environment and an aiosmtplib mailer.

TLS is the default and is enforced: with ``starttls`` the connection is upgraded or
nothing is sent (aiosmtplib's ``start_tls=True``; its default only *tries*). Plain SMTP
(``none``) is accepted only towards a loopback address, and is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import aiosmtplib
from aiosmtplib import (
    SMTPException,
    SMTPRecipientRefused,
    SMTPResponseException,
)

from .settings import SmtpSettings, TLSMode

log = logging.getLogger("forloeb.notifications")
_SAID_PLAINTEXT: set[str] = set()

T = TypeVar("T")


@dataclass(frozen=True)
class Outgoing:
    """One message for one SMTP transaction. ``key`` is the caller's (the outbox row id)."""

    key: int
    sender: str
    recipients: tuple[str, ...]
    data: bytes


@dataclass(frozen=True)
class SendResult:
    key: int
    #: recipient -> the server's answer to DATA ("250 ... queued as ...")
    accepted: Mapping[str, str] = field(default_factory=dict)
    #: recipient -> (code, the server's answer to RCPT)
    refused: Mapping[str, tuple[int, str]] = field(default_factory=dict)
    #: The whole message failed (MAIL FROM or DATA refused, connection lost during DATA).
    error: str | None = None
    code: int | None = None
    #: False when the message never reached the server: the connection was gone first.
    attempted: bool = True
    #: Retrying cannot help (an address the client itself refuses to put on the wire).
    permanent: bool = False

    @property
    def delivered(self) -> bool:
        return self.error is None and bool(self.accepted)


@dataclass(frozen=True)
class BatchResult:
    results: list[SendResult]
    #: Set when the server could not be used at all (connect, TLS, login) or went away
    #: for good: the messages not attempted are in ``results`` with ``attempted=False``.
    transport_error: str | None = None


class Mailer(Protocol):
    """What delivery needs from a mail transport. Tests of other packages may fake it."""

    def send_batch(self, messages: Sequence[Outgoing]) -> BatchResult: ...


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end from sync code, also when a loop already runs here.

    The Prefect flows are async; the CLI is not. Inside a running loop a private loop in
    a helper thread keeps ``deliver_outbox`` callable from both.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc

    thread = threading.Thread(target=target, name="forloeb-smtp")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def describe(exc: BaseException) -> str:
    """One line for an SMTP failure, without a traceback."""
    if isinstance(exc, SMTPResponseException):
        return f"{exc.code} {' '.join(exc.message.split())}"
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


class AioSmtpMailer:
    """Sends a batch over one connection, reconnecting if the server drops it.

    A message is one MAIL/RCPT/DATA transaction, driven step by step so that we know
    what the server has seen when a connection breaks: before DATA nothing was taken
    and the message is retried on a fresh connection at once; during DATA it may have
    been taken, so it is reported as a failed attempt and retried later with the same
    Message-ID (receivers can tell the copies apart).
    """

    #: Fresh connections tried after a drop before the rest of the batch is left pending.
    max_reconnects = 2

    def __init__(self, settings: SmtpSettings | None = None) -> None:
        self.settings = settings or SmtpSettings.from_env()
        if self.settings.tls is TLSMode.NONE and self.settings.where not in _SAID_PLAINTEXT:
            # Said once per process and server: a sweep makes a mailer per delivery.
            _SAID_PLAINTEXT.add(self.settings.where)
            log.warning("sending without TLS to %s (FORLOEB_SMTP_TLS=none)", self.settings.where)

    def send_batch(self, messages: Sequence[Outgoing]) -> BatchResult:
        return _run(self.asend_batch(messages))

    def _client(self) -> aiosmtplib.SMTP:
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            username=s.username,
            password=s.password,
            timeout=s.timeout,
            use_tls=s.tls is TLSMode.TLS,
            # True, not None: None means "upgrade if offered" and would fall back to
            # plaintext when a man in the middle strips STARTTLS from the EHLO answer.
            start_tls=s.tls is TLSMode.STARTTLS,
            cert_bundle=s.ca_file,
        )

    async def _connect(self) -> aiosmtplib.SMTP:
        client = self._client()
        try:
            await client.connect()
        except SMTPException as exc:
            client.close()
            if self.settings.tls is TLSMode.STARTTLS and "starttls" in str(exc).lower():
                raise ConnectionError(
                    f"the SMTP server {self.settings.where} does not offer STARTTLS; "
                    "nothing was sent (FORLOEB_SMTP_TLS=starttls never falls back to plaintext)"
                ) from None
            raise ConnectionError(
                f"cannot use the SMTP server {self.settings.where}: {describe(exc)}"
            ) from None
        except (OSError, TimeoutError) as exc:
            client.close()
            raise ConnectionError(
                f"cannot connect to the SMTP server {self.settings.where}: {describe(exc)}"
            ) from None
        return client

    async def asend_batch(self, messages: Sequence[Outgoing]) -> BatchResult:
        results: list[SendResult] = []
        client: aiosmtplib.SMTP | None = None
        transport_error: str | None = None
        reconnects = 0
        pending = list(messages)
        try:
            while pending:
                if client is None:
                    try:
                        client = await self._connect()
                    except ConnectionError as exc:
                        transport_error = str(exc)
                        break
                message = pending[0]
                try:
                    result = await self._send_one(client, message)
                except _Dropped as dropped:
                    client.close()
                    client = None
                    reconnects += 1
                    if dropped.during_data:
                        results.append(dropped.result)
                        pending.pop(0)
                    if reconnects > self.max_reconnects:
                        transport_error = (
                            f"the SMTP server {self.settings.where} keeps closing the "
                            f"connection: {dropped.result.error}"
                        )
                        break
                    continue
                results.append(result)
                pending.pop(0)
        finally:
            if client is not None:
                await _shutdown(client)
        reason = transport_error or "not attempted"
        results += [SendResult(m.key, error=reason, attempted=False) for m in pending]
        return BatchResult(results, transport_error)

    async def _send_one(self, client: aiosmtplib.SMTP, message: Outgoing) -> SendResult:
        in_data = False
        try:
            try:
                await client.mail(message.sender)
            except SMTPResponseException as exc:
                await _reset(client)
                return SendResult(message.key, error=describe(exc), code=exc.code)
            accepted: list[str] = []
            refused: dict[str, tuple[int, str]] = {}
            for recipient in message.recipients:
                try:
                    await client.rcpt(recipient)
                    accepted.append(recipient)
                except SMTPRecipientRefused as exc:
                    # Per recipient: a refusal of one must not hide the others' success.
                    refused[recipient] = (exc.code, " ".join(exc.message.split()))
            if not accepted:
                await _reset(client)
                return SendResult(message.key, refused=refused)
            in_data = True
            try:
                response = await client.data(message.data)
            except SMTPResponseException as exc:
                await _reset(client)
                return SendResult(message.key, refused=refused, error=describe(exc), code=exc.code)
        except (ConnectionError, TimeoutError, OSError) as exc:
            # A vanished server shows as a disconnect (a 421 answer as a 4xx error, and
            # the disconnect on the next command); aiosmtplib's disconnect and timeout
            # errors are ConnectionError and TimeoutError too.
            raise _Dropped(
                SendResult(
                    message.key,
                    error=f"connection lost while sending: {describe(exc)}",
                    attempted=in_data,
                ),
                in_data,
            ) from None
        except ValueError as exc:
            # aiosmtplib refuses an address it cannot put on a command line safely.
            await _reset(client)
            return SendResult(message.key, error=describe(exc), permanent=True)
        except SMTPException as exc:
            await _reset(client)
            return SendResult(message.key, error=describe(exc))
        answer = f"{response.code} {' '.join(response.message.split())}"
        return SendResult(message.key, accepted=dict.fromkeys(accepted, answer), refused=refused)


class _Dropped(Exception):
    def __init__(self, result: SendResult, during_data: bool) -> None:
        super().__init__(result.error)
        self.result = result
        self.during_data = during_data


async def _shutdown(client: aiosmtplib.SMTP) -> None:
    protocol = client.protocol
    try:
        await client.quit()
    except (SMTPException, OSError):
        client.close()
    # Closing a TLS connection is itself an exchange with the server: give it the loop
    # until the socket is released, or the loop ends first and the socket leaks.
    for turn in range(210):  # at most about a second
        if protocol is None or protocol.transport is None:
            return
        await asyncio.sleep(0 if turn < 10 else 0.005)


async def _reset(client: aiosmtplib.SMTP) -> None:
    with contextlib.suppress(SMTPException, OSError):
        await client.rset()
