"""How people HEAR: iCalendar invites, MIME messages, SMTP delivery.

``deliver_outbox`` is what the CLI and the sweep call; the rest is exported for the demo,
the tests and other processes' invitations.
"""

from .delivery import (
    DeliveryReport,
    DeliverySettings,
    deliver_outbox,
    list_outbox,
    outbox_counts,
    retry_failed,
)
from .invites import (
    Attendee,
    CalendarUser,
    MeetingInvite,
    Method,
    Recurrence,
    build_invite,
    copenhagen_vtimezone,
    recurrence_of,
)
from .mailbox import Mailbox, mailbox, run_mailbox
from .messages import (
    Composed,
    MeetingInfo,
    Notification,
    Organizer,
    compose,
)
from .smtp import (
    AioSmtpMailer,
    BatchResult,
    Mailer,
    Outgoing,
    SendResult,
    SmtpSettings,
    TLSMode,
)

__all__ = [
    "AioSmtpMailer",
    "Attendee",
    "BatchResult",
    "CalendarUser",
    "Composed",
    "DeliveryReport",
    "DeliverySettings",
    "Mailbox",
    "Mailer",
    "MeetingInfo",
    "MeetingInvite",
    "Method",
    "Notification",
    "Organizer",
    "Outgoing",
    "Recurrence",
    "SendResult",
    "SmtpSettings",
    "TLSMode",
    "build_invite",
    "compose",
    "copenhagen_vtimezone",
    "deliver_outbox",
    "list_outbox",
    "mailbox",
    "outbox_counts",
    "recurrence_of",
    "retry_failed",
    "run_mailbox",
]
