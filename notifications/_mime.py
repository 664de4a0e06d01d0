"""A small MIME writer for the one shape of message we send.

The stdlib's ``EmailMessage`` parses every header it is given and refolds it when it
writes; for our messages that was 4 ms each, most of the time of a delivery run. The
shape here is fixed and simple, so it is written directly with the stdlib's encoders
(quoted-printable, base64). The tests parse every message back with
the stdlib parser.

Everything written is 7-bit ASCII with CRLF line ends and lines of at most 78 octets, so
no relay needs 8BITMIME or SMTPUTF8.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import quote

CRLF = b"\r\n"
_SPECIALS = set('()<>[]:;@\\,."')
#: 45 octets are 60 base64 characters: 72 with "=?utf-8?b?" and "?=" (RFC 2047: <= 75).
_MAX_WORD_OCTETS = 45


def _encoded_word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "?="


def _encoded_words(text: str) -> list[str]:
    """RFC 2047 encoded words for a run of words, each at most 72 characters."""
    if len(text.encode("utf-8")) <= _MAX_WORD_OCTETS:
        return [_encoded_word(text)]
    # Too long for one: split between words, the space kept inside the earlier word
    # (white space between two encoded words is dropped by RFC 2047 readers).
    words = text.split(" ")
    if len(words) == 1:
        middle = len(text) // 2
        return _encoded_words(text[:middle]) + _encoded_words(text[middle:])
    middle = len(words) // 2
    return _encoded_words(" ".join(words[:middle]) + " ") + _encoded_words(" ".join(words[middle:]))


def _words(text: str, phrase: bool) -> list[str]:
    """Header words: plain ASCII words as they are, runs of the others encoded together.

    A run of non-ASCII words becomes one encoded word, so that two encoded words are
    never neighbours: readers disagree about the space between those in a display name
    (the stdlib keeps it, RFC 2047 drops it), and agree about the space between an
    encoded word and a plain one. In a display name, a word with specials is quoted.
    """
    tokens: list[str] = []
    run: list[str] = []
    for word in text.split(" "):
        if not word:
            continue
        if word.isascii() and "=?" not in word and len(word) < 70:
            if run:
                tokens += _encoded_words(" ".join(run))
                run = []
            if phrase and any(ch in _SPECIALS for ch in word):
                word = f'"{quote(word)}"'
            tokens.append(word)
        else:
            run.append(word)
    if run:
        tokens += _encoded_words(" ".join(run))
    return tokens


def _fold(first: str, tokens: list[str]) -> str:
    lines = [first]
    for token in tokens:
        if len(lines[-1]) + 1 + len(token) > 78 and lines[-1].strip():
            lines.append(" " + token)
        else:
            lines[-1] += " " + token
    return "\r\n".join(lines)


def header(name: str, value: str) -> bytes:
    """``Name: value`` (unstructured, e.g. Subject), folded at 78, RFC 2047 where needed."""
    if any(ch in value for ch in "\r\n"):
        raise ValueError(f"the {name} header must be one line")
    return _fold(f"{name}:", _words(value, phrase=False)).encode("ascii") + CRLF


def address_header(name: str, display: str, addr: str) -> bytes:
    """``Name: Display Name <addr>``, the name quoted or RFC 2047 encoded as it needs."""
    display = " ".join(display.split())
    if any(ch in display + addr for ch in "\r\n") or not addr.isascii():
        raise ValueError(f"the {name} header must be one ASCII line")
    if not display:
        return f"{name}: {addr}".encode("ascii") + CRLF
    if display.isascii():
        tokens = [f'"{quote(display)}"' if any(ch in _SPECIALS for ch in display) else display]
    else:
        tokens = _words(display, phrase=True)
    return _fold(f"{name}:", [*tokens, f"<{addr}>"]).encode("ascii") + CRLF


def raw_header(name: str, value: str) -> bytes:
    """An ASCII header written as given (Content-Type parameters exactly as Outlook sends)."""
    if not value.isascii() or any(ch in value for ch in "\r\n"):
        raise ValueError(f"the {name} header must be one ASCII line")
    return f"{name}: {value}".encode("ascii") + CRLF


def quoted_printable(text: str) -> bytes:
    data = binascii.b2a_qp(text.replace("\r\n", "\n").encode("utf-8"), istext=True)
    return data.replace(b"\n", CRLF)


def base64_lines(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", CRLF)


@dataclass(frozen=True)
class Part:
    headers: bytes  # each header line ends in CRLF
    body: bytes  # encoded, CRLF line ends

    def bytes(self) -> bytes:
        body = self.body if self.body.endswith(CRLF) else self.body + CRLF
        return self.headers + CRLF + body


def text_part(subtype: str, text: str) -> Part:
    return Part(
        raw_header("Content-Type", f'text/{subtype}; charset="utf-8"')
        + raw_header("Content-Transfer-Encoding", "quoted-printable"),
        quoted_printable(text),
    )


def binary_part(content_type: str, data: bytes, filename: str | None = None) -> Part:
    headers = raw_header("Content-Type", content_type)
    if filename is not None:
        headers += raw_header("Content-Disposition", f'attachment; filename="{filename}"')
    headers += raw_header("Content-Transfer-Encoding", "base64")
    return Part(headers, base64_lines(data))


def multipart(subtype: str, parts: Sequence[Part], headers: bytes = b"") -> Part:
    # "=_" cannot occur in quoted-printable or base64 output, so no part can contain it.
    boundary = f"=_forloeb_{subtype}_{secrets.token_hex(10)}"
    body = b"".join(b"--" + boundary.encode("ascii") + CRLF + p.bytes() for p in parts)
    body += b"--" + boundary.encode("ascii") + b"--" + CRLF
    return Part(
        headers + raw_header("Content-Type", f'multipart/{subtype}; boundary="{boundary}"'),
        body,
    )
