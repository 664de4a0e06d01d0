"""How people HEAR: iCalendar invites, MIME messages, SMTP delivery."""
