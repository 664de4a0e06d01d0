"""How people HEAR: iCalendar invites, MIME messages, SMTP delivery.

``deliver_outbox`` is what the CLI and the sweep call; the rest is exported for the demo,
the tests and other processes' invitations.

The names load on first use (PEP 562): `forloeb case show` imports `notifications.settings`
to check the mail settings, and must not pay for icalendar, Jinja2, aiosmtplib and aiosmtpd.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .capture import Mailbox as Mailbox
    from .capture import mailbox as mailbox
    from .capture import run_mailbox as run_mailbox
    from .delivery import DeliveryReport as DeliveryReport
    from .delivery import DeliverySettings as DeliverySettings
    from .delivery import deliver_outbox as deliver_outbox
    from .delivery import list_outbox as list_outbox
    from .delivery import outbox_counts as outbox_counts
    from .delivery import retry_failed as retry_failed
    from .invites import Attendee as Attendee
    from .invites import CalendarUser as CalendarUser
    from .invites import MeetingInvite as MeetingInvite
    from .invites import Method as Method
    from .invites import Recurrence as Recurrence
    from .invites import build_invite as build_invite
    from .invites import copenhagen_vtimezone as copenhagen_vtimezone
    from .invites import recurrence_of as recurrence_of
    from .messages import Composed as Composed
    from .messages import MeetingInfo as MeetingInfo
    from .messages import Notification as Notification
    from .messages import Organizer as Organizer
    from .messages import compose as compose
    from .settings import SmtpSettings as SmtpSettings
    from .settings import TLSMode as TLSMode
    from .smtp import AioSmtpMailer as AioSmtpMailer
    from .smtp import BatchResult as BatchResult
    from .smtp import Mailer as Mailer
    from .smtp import Outgoing as Outgoing
    from .smtp import SendResult as SendResult

#: Public name -> the submodule that defines it.
_WHERE = {
    "AioSmtpMailer": "smtp",
    "Attendee": "invites",
    "BatchResult": "smtp",
    "CalendarUser": "invites",
    "Composed": "messages",
    "DeliveryReport": "delivery",
    "DeliverySettings": "delivery",
    "Mailbox": "capture",
    "Mailer": "smtp",
    "MeetingInfo": "messages",
    "MeetingInvite": "invites",
    "Method": "invites",
    "Notification": "messages",
    "Organizer": "messages",
    "Outgoing": "smtp",
    "Recurrence": "invites",
    "SendResult": "smtp",
    "SmtpSettings": "settings",
    "TLSMode": "settings",
    "build_invite": "invites",
    "compose": "messages",
    "copenhagen_vtimezone": "invites",
    "deliver_outbox": "delivery",
    "list_outbox": "delivery",
    "mailbox": "capture",
    "outbox_counts": "delivery",
    "recurrence_of": "invites",
    "retry_failed": "delivery",
    "run_mailbox": "capture",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'notifications' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # once: later lookups do not come here
    return value


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
