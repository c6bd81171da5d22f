"""Java .properties syntax, as java.util.Properties.load reads it.

Kafka's server.properties is read this way, so the same file must mean the same to us:
`#` and `!` comment lines, `key=value`, `key: value` or `key value`, a trailing odd
backslash continues the line (the next line's leading blanks dropped), escapes
(\\t \\n \\r \\f \\uXXXX, any other \\c is c, so `\\=` and `\\ ` can sit inside a key), and
the last of duplicate keys wins. Values keep trailing blanks; typed parsing trims them.

Pure functions over text; reading the file is the caller's business.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["PropertiesSyntaxError", "decode_properties", "parse_properties"]

_BLANKS = " \t\f"
_NEWLINE = re.compile(r"\r\n|\r|\n")
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
_HEX = frozenset("0123456789abcdefABCDEF")


class PropertiesSyntaxError(ValueError):
    """Text Java would also refuse (a malformed \\uXXXX escape)."""


def decode_properties(data: bytes) -> str:
    """UTF-8, falling back to ISO-8859-1 (what Java's Properties.load(InputStream) assumes),
    so both a modern file and a Java-era one with Latin-1 bytes load."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("iso-8859-1")


def parse_properties(text: str) -> dict[str, str]:
    props: dict[str, str] = {}
    for line in _logical_lines(text):
        key, value = _split(line)
        props[_unescape(key)] = _unescape(value)
    return props


def _logical_lines(text: str) -> Iterator[str]:
    natural = _NEWLINE.split(text)
    i = 0
    while i < len(natural):
        line = natural[i].lstrip(_BLANKS)
        i += 1
        if not line or line[0] in "#!":
            continue  # a comment line is never continued, even if it ends in a backslash
        parts = []
        while _odd_trailing_backslashes(line):
            parts.append(line[:-1])
            if i >= len(natural):
                line = ""  # a backslash at the end of the file is dropped
                break
            line = natural[i].lstrip(_BLANKS)
            i += 1
        parts.append(line)
        yield "".join(parts)


def _odd_trailing_backslashes(line: str) -> bool:
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


def _split(line: str) -> tuple[str, str]:
    """The key ends at the first unescaped '=', ':' or blank; then blanks, at most one
    '=' or ':', and blanks again separate it from the value."""
    n = len(line)
    i = 0
    while i < n:
        c = line[i]
        if c == "\\":
            i += 2
            continue
        if c in "=:" or c in _BLANKS:
            break
        i += 1
    key = line[: min(i, n)]
    j = i
    while j < n and line[j] in _BLANKS:
        j += 1
    if j < n and line[j] in "=:":
        j += 1
    while j < n and line[j] in _BLANKS:
        j += 1
    return key, line[j:]


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        i += 1
        if c != "\\":
            out.append(c)
            continue
        if i >= n:
            break
        c = text[i]
        i += 1
        if c == "u":
            digits = text[i : i + 4]
            if len(digits) != 4 or not _HEX.issuperset(digits):
                raise PropertiesSyntaxError(f"Malformed \\uxxxx encoding in {text[: i + 4]!r}")
            out.append(chr(int(digits, 16)))
            i += 4
        else:
            out.append(_ESCAPES.get(c, c))
    joined = "".join(out)
    # \uD83D\uDE00 (a UTF-16 surrogate pair, as Java writes non-BMP characters) -> one character
    return joined.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
