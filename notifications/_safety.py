"""Keeping text that others can see free of injection and of what identifies a child.

Two concerns meet here. Names and places come from people: a line break in one would
start a new mail header or iCalendar property, a ``"`` would end a parameter early. And
anything that can land in a shared calendar or on a lock screen (subject, SUMMARY,
DESCRIPTION, LOCATION) must not name the child nor the situation (DOMAIN.md, "Data
protection").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from machines import InvalidInput

#: Roles whose name must never appear in what we write: the child the case is about.
PROTECTED_ROLES = frozenset({"pupil", "child", "youth"})

#: Word stems that say what the case is about. Matched inside compounds too
#: ("skolefravær", "Fraværssamråd"), because Danish glues words together.
SENSITIVE_STEMS = (
    "fravær",
    "bekymr",
    "underretning",
    "mistrivsel",
    "omsorgssvigt",
    "misbrug",
    "anbring",
)

_SENSITIVE = re.compile(r"\w*(?:" + "|".join(SENSITIVE_STEMS) + r")\w*", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
# Conservative on purpose: the addresses were validated (email-validator, ASCII only) when
# the case was opened; this only has to stop what would break a header, a mailto: URI or
# an SMTP command line. ``\Z``, not ``$``: ``$`` also matches before a final line break.
_ADDRESS = re.compile(r"^[^\s\"<>()\[\]\\,;:@]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\Z")
_EMAILISH = re.compile(r"<?[^\s<>\"@]+@[A-Za-z0-9.-]+>?")


def one_line(text: str) -> str:
    """Control characters (CR, LF, NUL, U+2028 ...) become spaces; runs of space collapse."""
    # isprintable() is False for every control and line/paragraph separator: the usual
    # clean text needs no look at each character.
    if text.isprintable() and "  " not in text and text == text.strip():
        return text
    cleaned = "".join(
        " " if unicodedata.category(ch)[0] == "C" or ch in "\u2028\u2029" else ch for ch in text
    )
    return _SPACES.sub(" ", cleaned).strip()


def param_text(text: str) -> str:
    """Text for an iCalendar parameter (CN) or a display name.

    RFC 5545 forbids DQUOTE inside parameter values. icalendar 7 would write RFC 6868's
    ``^'`` instead, which vobject, ics and several mail clients show literally; a plain
    apostrophe reads the same to people and parses the same everywhere.
    """
    return one_line(text).replace('"', "'")


def check_address(address: str) -> str:
    if not _ADDRESS.match(address):
        raise InvalidInput(
            f"{address!r} cannot be used as an e-mail address; correct the participant's address"
        )
    return address


def hide_addresses(text: str) -> str:
    """SMTP errors quote the refused address; escalations and reports name the role instead."""
    return _EMAILISH.sub("<adresse>", text)


def neutral_title(title: str) -> str:
    """A process title without the words for the situation: "Fraværssamråd" -> "Samråd"."""
    words = []
    for word in one_line(title).split(" "):
        stripped = re.sub(
            r"(?i)^(?:skole)?(?:" + "|".join(SENSITIVE_STEMS) + r")\w*?s(?=\w{3,})", "", word
        )
        if _SENSITIVE.fullmatch(stripped):
            continue
        words.append(stripped)
    neutral = " ".join(w for w in words if w)
    return (neutral[:1].upper() + neutral[1:]) if neutral else "Møde"


class Redactor:
    """Finds and hides protected names and sensitive words in free text."""

    def __init__(self, protected_names: Iterable[str] = ()) -> None:
        parts: set[str] = set()
        for name in protected_names:
            name = one_line(name)
            if name:
                parts.add(name)
                parts.update(p for p in re.split(r"[\s\-']+", name) if len(p) >= 2)
        alternatives = [_SENSITIVE.pattern]
        alternatives += [
            r"(?<!\w)" + re.escape(p) + r"(?!\w)" for p in sorted(parts, key=len, reverse=True)
        ]
        self._pattern = re.compile("|".join(alternatives), re.IGNORECASE)

    def found(self, text: str) -> bool:
        return self._pattern.search(text) is not None

    def redact(self, text: str) -> str:
        return self._pattern.sub("…", text)
