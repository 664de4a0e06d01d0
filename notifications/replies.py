"""Reading the organizer mailbox: participants' answers (iTIP REPLY), proposed times
(COUNTER) and bounces (delivery-status notifications), over IMAP with TLS enforced.

Outlook, Gmail and Apple Calendar send an answer to the ORGANIZER address, which carries
the meeting's token (``forloeb+<token>@...``); ``persistence.replies`` matches it to the
meeting and checks UID, SEQUENCE, ATTENDEE and sender. Everything else in the mailbox is
recorded as ignored with its reason: nothing a stranger sends can crash a fetch or change
an answer.

Exactly once: every mail becomes one ``processed_messages`` row (by Message-ID) in the
transaction that applies it, then it is moved to the processed folder. A mail processed
before (a second reader at the same moment, or a move that failed) is only moved.

The report holds counts and one error line: it may go to Prefect.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import imaplib
import itertools
import logging
import ssl
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.utils import getaddresses, parseaddr
from typing import Any

from imap_tools import MailMessage
from imap_tools.errors import (
    MailboxCopyError,
    MailboxFetchError,
    MailboxFolderCreateError,
    MailboxMoveError,
)
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from persistence import OutboxRow, ParticipantRow
from persistence.replies import (
    BOUNCE,
    DUPLICATE,
    IGNORED,
    KEPT_CHANGING,
    PROPOSAL,
    Answer,
    Outcome,
    ProcessedMessageRow,
    already_processed,
    message_key,
    record_answer,
    record_answers,
    record_ignored,
)

from .delivery import DeliveryReport, _escalate
from .itip import Malformed, read_itip, typed
from .messages import Organizer
from .settings import ImapSettings, ImapTLS

log = logging.getLogger("forloeb.notifications")

#: Mail larger than this is not read (an answer is a few kilobytes).
DEFAULT_MAX_BYTES = 1_000_000
#: Mails fetched per IMAP command: a few hundred small mails per round trip.
FETCH_CHUNK = 200
#: Mails moved to the processed folder per IMAP command.
MOVE_EVERY = 2_000
#: Chunks downloaded ahead of the one being processed (each at most FETCH_CHUNK mails
#: of at most ``max_bytes``).
DOWNLOAD_AHEAD = 3


@dataclass
class FetchReport:
    """What one fetch did: counts and one error line (no address, no name)."""

    processed: int = 0  # answers and proposals applied, bounces recorded
    ignored: int = 0
    declines: int = 0  # required participants who declined (their convener was told)
    proposals: int = 0
    bounces: int = 0
    duplicates: int = 0  # processed before (another reader, or an earlier fetch)
    #: Why mails were ignored: reason -> count.
    reasons: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def add(self, outcome: Outcome) -> None:
        if outcome.outcome == DUPLICATE:
            self.duplicates += 1
        elif outcome.outcome == IGNORED:
            self.ignored += 1
            reason = outcome.reason or "ignored"
            self.reasons[reason] = self.reasons.get(reason, 0) + 1
        else:
            self.processed += 1
            self.proposals += outcome.outcome == PROPOSAL
            self.bounces += outcome.outcome == BOUNCE
            self.declines += outcome.declined

    def summary(self) -> str:
        text = (
            f"processed {self.processed} (declines {self.declines}, proposals "
            f"{self.proposals}, bounces {self.bounces}), ignored {self.ignored}, "
            f"already processed {self.duplicates}"
        )
        return text + (f"; {self.error}" if self.error else "")


# ------------------------------------------------------------------ one mail


@dataclass(frozen=True)
class Bounce:
    message_key: str
    original_id: str  # the Message-ID of our message that bounced
    recipient: str  # Final-Recipient
    status: str
    diagnostic: str


@dataclass(frozen=True)
class Unusable:
    message_key: str
    reason: str


Incoming = Answer | Bounce | Unusable


def read_mail(raw: bytes, organizer: Organizer) -> Incoming:
    """What one mail is: an answer, a proposal, a bounce, or unusable (and why)."""
    try:
        # compat32, not policy.default: the modern policy builds a header object on every
        # access (4 ms a mail, most of the work); we need the structure, a few ASCII
        # headers and one decoded part, which the classic parser gives in 0.13 ms.
        parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
    except Exception:  # the parser is lenient; this is the last guard
        return Unusable(message_key(None, _head(raw)), "not a readable mail")
    key = message_key(_header(parsed, "Message-ID"), _head(raw))
    try:
        if parsed.get_content_type() == "multipart/report":
            return _bounce(parsed, key)
        return _answer(parsed, key, organizer)
    except Exception as exc:  # a header or part no parser expected: ignored, never a crash
        return Unusable(key, f"unreadable mail ({type(exc).__name__})")


def _head(raw: bytes) -> bytes:
    """The header block: what a mail without a Message-ID is known by (also when only the
    headers were fetched)."""
    end = raw.find(b"\r\n\r\n")
    end = raw.find(b"\n\n") if end < 0 else end
    return raw if end < 0 else raw[:end]


def _header(message: Message, name: str) -> str | None:
    try:
        value = message.get(name)
    except Exception:
        return None
    return str(value).strip() if value is not None else None


def _calendar_part(message: Message) -> bytes | None:
    for part in message.walk():
        if part.get_content_type() in {"text/calendar", "application/ics"}:
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes) and payload:
                return payload
    return None


def _address(value: Any) -> str:
    text = str(value or "").strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    return text.strip().lower()


def _token(message: Message, organizer: Organizer) -> str | None:
    # The envelope recipient first (what the server delivered to), then the headers.
    # Only a header that holds our sub-address can name a token: the others are not
    # parsed (an address list is the costliest header to read).
    ours = (organizer.local_part + organizer.separator).lower()
    for name in ("Delivered-To", "X-Original-To", "To", "Cc"):
        values = [str(v) for v in message.get_all(name) or [] if ours in str(v).lower()]
        for _, address in getaddresses(values):
            token = organizer.token_of(address)
            if token:
                return token
    return None


def _answer(message: Message, key: str, organizer: Organizer) -> Incoming:
    data = _calendar_part(message)
    if data is None:
        return Unusable(key, "no calendar part (text or HTML only)")
    try:
        calendar = read_itip(data)
    except Malformed:
        return Unusable(key, "malformed iCalendar")
    method = calendar.method
    if method not in {"REPLY", "COUNTER"}:
        return Unusable(key, f"METHOD {method or 'missing'} is not an answer")
    if len(calendar.events) != 1:
        return Unusable(key, "not exactly one VEVENT")
    event = calendar.events[0]
    # An answer to one occurrence of a series names it by its RECURRENCE-ID (the start
    # the rule gives it); persistence.replies finds it in the series.
    recurrence_id = None
    occurrence = event.one("RECURRENCE-ID")
    if occurrence is not None:
        if str(occurrence.param("RANGE") or "").upper() == "THISANDFUTURE":
            return Unusable(key, "an answer for an occurrence and all after it")
        recurrence_id = _when(calendar.when(occurrence))
        if recurrence_id is None:
            return Unusable(key, "RECURRENCE-ID is not a time with a zone")
    uid_line = event.one("UID")
    uid = str(typed(uid_line)).strip() if uid_line is not None else ""
    if not uid:
        return Unusable(key, "no UID")
    sequence_line = event.one("SEQUENCE")
    try:
        sequence = int(typed(sequence_line)) if sequence_line is not None else 0
    except (TypeError, ValueError):
        return Unusable(key, "SEQUENCE is not a number")
    attendees = event.all("ATTENDEE")
    sender = parseaddr(_header(message, "From") or "")[1].lower()
    if method == "REPLY":
        if len(attendees) != 1:
            return Unusable(key, "a REPLY must name exactly one ATTENDEE")
        attendee = attendees[0]
    else:
        # A COUNTER may carry the whole list (Outlook does): the sender's is theirs.
        found = next((a for a in attendees if _address(typed(a)) == sender), None)
        if found is None:
            return Unusable(key, "the COUNTER names no ATTENDEE with the sender's address")
        attendee = found
    partstat = str(attendee.param("PARTSTAT") or "").upper()
    stamp = _when(calendar.when(event.one("DTSTAMP"))) or datetime.now(UTC)
    counter = method == "COUNTER"
    return Answer(
        message_key=key,
        token=_token(message, organizer),
        sender=sender,
        method=method,
        uid=uid,
        sequence=sequence,
        attendee=_address(typed(attendee)),
        partstat="" if counter else partstat,
        stamp=stamp,
        start=_when(calendar.when(event.one("DTSTART"))) if counter else None,
        end=_when(calendar.when(event.one("DTEND"))) if counter else None,
        recurrence_id=recurrence_id,
    )


def _when(value: Any) -> datetime | None:
    """Only an aware date-time is a moment (a floating or all-day one is no answer's)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    return None


def _bounce(message: Message, key: str) -> Incoming:
    if str(message.get_param("report-type") or "").lower() != "delivery-status":
        return Unusable(key, "a report that is not a delivery-status notification")
    fields: dict[str, str] = {}
    original: str | None = None
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            for block in part.get_payload():
                if isinstance(block, Message):
                    for name, value in block.items():
                        fields.setdefault(name.lower(), str(value).strip())
        elif kind == "message/rfc822" and original is None:
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            if isinstance(inner, Message):
                original = _header(inner, "Message-ID")
        elif kind == "text/rfc822-headers" and original is None:
            headers = part.get_payload(decode=True)
            text = headers.decode("utf-8", "replace") if isinstance(headers, bytes) else ""
            original = _header(email.message_from_string(text), "Message-ID")
    action = fields.get("action", "").lower()
    if action != "failed":
        return Unusable(key, f"a delivery report with action {action or 'missing'}")
    recipient = fields.get("final-recipient", "").split(";", 1)[-1].strip().lower()
    if not original or not recipient:
        return Unusable(key, "a bounce that names no message or recipient of ours")
    return Bounce(
        key, original, recipient, fields.get("status", ""), fields.get("diagnostic-code", "")
    )


def apply_incoming(engine: Engine, incoming: Incoming, now: datetime) -> Outcome:
    match incoming:
        case Answer():
            return record_answer(engine, incoming, now)
        case Bounce():
            return record_bounce(engine, incoming, now)
        case Unusable(key, reason):
            return record_ignored(engine, key, reason, now)
    raise AssertionError(incoming)


def record_bounce(engine: Engine, bounce: Bounce, now: datetime) -> Outcome:
    """The bounced message's row becomes ``failed`` and the coordinator is told, as for an
    address the SMTP server refused (``delivery``); in one transaction with the mail's row."""
    try:
        with Session(engine) as session, session.begin():
            row = session.scalars(
                select(OutboxRow)
                .join(ParticipantRow, ParticipantRow.id == OutboxRow.participant_id)
                .where(
                    OutboxRow.message_id == bounce.original_id,
                    func.lower(ParticipantRow.email) == bounce.recipient.lower(),
                )
            ).first()
            if row is None:
                return record_ignored(
                    engine, bounce.message_key, "a bounce for no message of ours", now
                )
            outcome = Outcome(BOUNCE, None, row.case_id)
            if row.status == "sent":
                row.status = "failed"
                row.last_error = f"bounced after delivery: {bounce.status}".strip()
                row.response = bounce.diagnostic[:1000] or row.response
                row.next_attempt_at = now  # how the escalation finds the rows it is about
                _escalate(session, [row], now, DeliveryReport())
            session.add(
                ProcessedMessageRow(
                    message_id=bounce.message_key,
                    processed_at=now,
                    outcome=BOUNCE,
                    reason=None,
                    case_id=row.case_id,
                )
            )
    except IntegrityError:
        return Outcome(DUPLICATE)
    return outcome


# ------------------------------------------------------------------ the mailbox


class _Fetched(MailMessage):
    """A fetched mail as bytes: we parse it ourselves (once, with the modern policy)."""

    def __init__(self, fetch_data: list[Any]) -> None:
        raw, uid, flags = self._get_message_data_parts(fetch_data)
        self._raw_uid_data, self._raw_flag_data, self.raw = uid, flags, raw


def fetch_replies(
    engine: Engine,
    now: datetime,
    settings: ImapSettings | None = None,
    organizer: Organizer | None = None,
) -> FetchReport:
    """Read every mail in the folder once, apply it, move it to the processed folder.

    A server that cannot be reached or refuses TLS is one ``error`` line in the report;
    nothing is changed then.
    """
    report = FetchReport()
    settings = settings or ImapSettings.from_env()
    if settings is None:
        report.error = "FORLOEB_IMAP_HOST is not set; replies are not read"
        return report
    organizer = organizer or Organizer.from_env()
    try:
        with settings.mailbox().login(
            settings.user, settings.password, initial_folder=settings.folder
        ) as mailbox:
            _ensure_folder(mailbox, settings.processed_folder)
            _read_folder(mailbox, engine, now, settings, organizer, report)
    except (TimeoutError, OSError, ssl.SSLError, imaplib.IMAP4.error) as exc:
        report.error = f"cannot read the organizer mailbox at {settings.where}: {_why(exc)}"
    except Exception as exc:  # imap_tools' own errors (login refused, a command refused)
        if type(exc).__module__.startswith("imap_tools"):
            report.error = f"the organizer mailbox at {settings.where} refused: {_why(exc)}"
        else:
            raise
    if report.error:
        log.warning("%s", report.error)
    return report


def _why(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def _ensure_folder(mailbox: Any, folder: str) -> None:
    if not mailbox.folder.exists(folder):
        with contextlib.suppress(MailboxFolderCreateError):  # another reader made it meanwhile
            mailbox.folder.create(folder)


def _move(mailbox: Any, uids: Sequence[str], folder: str) -> None:
    if not uids:
        return
    try:
        mailbox.move(uid_set(uids), folder)
    except (MailboxMoveError, MailboxCopyError):
        # Another reader moved them first (a server without MOVE copies, then deletes);
        # they are processed either way.
        log.info("%d mail(s) already moved by another reader", len(uids))


def uid_set(uids: Iterable[str]) -> str:
    """An IMAP UID set with runs as ranges (``3:7,9``): a few bytes for a fetch's worth of
    UIDs. A run of consecutive numbers holds no other mail (UIDs are unique), so the
    ranges name exactly these mails."""
    numbers = sorted({int(u) for u in uids})
    parts: list[str] = []
    start = 0
    for i in range(1, len(numbers) + 1):
        if i == len(numbers) or numbers[i] != numbers[i - 1] + 1:
            first, last = numbers[start], numbers[i - 1]
            parts.append(str(first) if first == last else f"{first}:{last}")
            start = i
    return ",".join(parts)


def _read_folder(
    mailbox: Any,
    engine: Engine,
    now: datetime,
    settings: ImapSettings,
    organizer: Organizer,
    report: FetchReport,
) -> None:
    """Every mail of the folder, a chunk at a time, each moved once it is processed.

    The IMAP commands run in a thread of their own (one at a time, in the order given:
    the connection is not shared), so the server sends the next chunk, and moves the
    last ones, while this thread reads and writes the chunk it has: waiting for the
    server was half the time. A mail is only ever moved after the transaction that
    processed it.
    """
    mailbox.email_message_class = _Fetched
    uids = list(mailbox.uids("ALL"))
    # The server tells which mails are too large to be an answer, once for the folder
    # (a mail's size never changes): those are never downloaded, the rest is fetched
    # whole in one command per chunk.
    too_large = set(mailbox.uids(f"LARGER {settings.max_bytes}")) if uids else set()
    chunks = [uids[i : i + FETCH_CHUNK] for i in range(0, len(uids), FETCH_CHUNK)]
    # Moved a few thousand at a time, not per chunk: a MOVE costs the server about as
    # much as the mails the folder has left (Dovecot rewrites its index), so a MOVE per
    # 200 mails was more of the time than reading them. A mail processed but not yet
    # moved when something fails is only moved by the next fetch.
    pending: list[str] = []
    moves: list[Future[None]] = []
    folder = settings.processed_folder
    with ThreadPoolExecutor(1, thread_name_prefix="forloeb-imap") as imap:
        downloads = iter(chunks)
        ahead: deque[Future[tuple[list[_Fetched], list[_Fetched]]]] = deque()
        try:
            while True:
                # A few chunks ahead: a MOVE of a few thousand mails takes the server
                # longer than this thread takes for one chunk, and the downloads queued
                # behind it would wait.
                for chunk in itertools.islice(downloads, DOWNLOAD_AHEAD - len(ahead)):
                    ahead.append(imap.submit(_download, mailbox, chunk, too_large))
                if not ahead:
                    break
                try:
                    heads, mails = ahead.popleft().result()
                except MailboxFetchError as exc:
                    if "EXPUNGEISSUED" not in str(exc):
                        raise
                    # Another reader moved some of these mails while we read: it is ahead
                    # of us and processes the rest; what is left waits for the next fetch.
                    log.info("another reader is processing the organizer mailbox; stopping")
                    break
                pending.extend(_process_chunk(heads, mails, engine, now, organizer, report))
                if len(pending) >= MOVE_EVERY:
                    moves.append(imap.submit(_move, mailbox, pending, folder))
                    pending = []
        finally:
            for download in ahead:
                download.cancel()  # not begun: nothing to wait for
            moves.append(imap.submit(_move, mailbox, pending, folder))
    for move in moves:
        move.result()  # a connection lost while moving is the report's error


def _download(
    mailbox: Any, chunk: list[str], too_large: set[str]
) -> tuple[list[_Fetched], list[_Fetched]]:
    """A chunk's mails: only the headers of the ones too large to be an answer (what
    such a mail is known by), the others whole."""
    large = [uid for uid in chunk if uid in too_large]
    wanted = [uid for uid in chunk if uid not in too_large]
    heads = (
        list(mailbox.fetch(uid_list=large, headers_only=True, mark_seen=False, bulk=True))
        if large
        else []
    )
    mails = list(mailbox.fetch(uid_list=wanted, mark_seen=False, bulk=True)) if wanted else []
    # A mail another reader moved between our search and this fetch comes back without a
    # UID (the server answers for it with flags only): it is that reader's to process.
    return [m for m in heads if m.uid], [m for m in mails if m.uid]


def _process_chunk(
    heads: list[_Fetched],
    whole: list[_Fetched],
    engine: Engine,
    now: datetime,
    organizer: Organizer,
    report: FetchReport,
) -> list[str]:
    """The UIDs of the chunk that are done (to be moved)."""
    done: list[str] = []
    if heads:
        keys = {
            str(m.uid): message_key(_header(_headers(m.raw), "Message-ID"), _head(m.raw))
            for m in heads
        }
        seen = already_processed(engine, keys.values())
        for uid, key in keys.items():
            if key in seen:
                report.duplicates += 1
            else:
                report.add(record_ignored(engine, key, "larger than an answer can be", now))
            done.append(uid)
    if not whole:
        return done
    mails = [(str(m.uid), read_mail(m.raw, organizer)) for m in whole]
    # Processed before (another reader, or a move that failed): only moved. Asked once
    # for the chunk, after the download: such a mail is rare, a second command per chunk
    # to find it before would not be.
    seen = already_processed(engine, (incoming.message_key for _, incoming in mails))
    answers: list[tuple[str, Answer]] = []
    for uid, incoming in mails:
        if incoming.message_key in seen:
            report.duplicates += 1
            done.append(uid)
        elif isinstance(incoming, Answer):
            answers.append((uid, incoming))  # applied together below, in one transaction
        else:
            outcome = apply_incoming(engine, incoming, now)
            report.add(outcome)
            done.append(uid)
    outcomes = record_answers(engine, [answer for _, answer in answers], now)
    for (uid, _), outcome in zip(answers, outcomes, strict=True):
        report.add(outcome)
        if outcome.reason != KEPT_CHANGING:  # not processed: it stays for the next fetch
            done.append(uid)
    return done


def _headers(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=email.policy.compat32)


__all__ = [
    "Bounce",
    "FetchReport",
    "ImapSettings",
    "ImapTLS",
    "Unusable",
    "apply_incoming",
    "fetch_replies",
    "read_mail",
    "record_bounce",
]
