"""Fixtures for the flow tests: the STARTTLS SMTP server of the notification tests."""

from tests.notifications.conftest import certs, smtp_server

__all__ = ["certs", "smtp_server"]
