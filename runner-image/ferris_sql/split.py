"""A `.sql` step's text cut into its statements, as PostgreSQL's own `psql` would cut it: at each
`;` that is outside a quoted string ('...', E'...' with its backslash escapes, "..."), a
dollar-quoted body ($$...$$, $tag$...$tag$), a `--` comment or a `/* */` comment (which nest in
PostgreSQL). Pure: text in, statements out, each with the line it starts on."""

from __future__ import annotations

import re
from dataclasses import dataclass

DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


@dataclass(frozen=True)
class Statement:
    number: int  # 1 for the file's first statement
    line: int  # the line of the file it starts on (1-based)
    text: str  # without its terminating ';'

    def first_line(self, width: int = 120) -> str:
        """The statement's first line that holds code, cut to ``width``: how a message names it."""
        for line in self.text.splitlines():
            code = line.strip()
            if code and not code.startswith("--"):
                return code if len(code) <= width else code[: width - 1] + "…"
        return ""


class SplitError(ValueError):
    """The text ends inside a string or comment: the message names where that began."""


def _end_of_quoted(text: str, start: int, quote: str, backslashes: bool) -> int:
    """The index just past the quote closing the one at ``start`` (a doubled quote is one
    quote of the string), or -1."""
    i = start + 1
    while i < len(text):
        char = text[i]
        if backslashes and char == "\\":
            i += 2
            continue
        if char == quote:
            if i + 1 < len(text) and text[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return -1


def _end_of_block_comment(text: str, start: int) -> int:
    depth, i = 0, start
    while i < len(text) - 1:
        pair = text[i : i + 2]
        if pair == "/*":
            depth, i = depth + 1, i + 2
        elif pair == "*/":
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    return -1


def _code_start(piece: str) -> int:
    """The index of a piece's first character that is neither blank nor in a comment, or -1."""
    i = 0
    while i < len(piece):
        if piece[i].isspace():
            i += 1
        elif piece.startswith("--", i):
            end = piece.find("\n", i)
            i = len(piece) if end < 0 else end
        elif piece.startswith("/*", i):
            i = _end_of_block_comment(piece, i)  # closed: split() checked
        else:
            return i
    return -1


def split(text: str) -> list[Statement]:
    """The statements of ``text`` in order; blank ones (only whitespace and comments) dropped."""
    pieces: list[tuple[int, str]] = []
    start = i = 0

    def line_of(index: int) -> int:
        return text.count("\n", 0, index) + 1

    def fail(what: str, at: int) -> SplitError:
        return SplitError(f"line {line_of(at)}: {what} is never closed")

    while i < len(text):
        char = text[i]
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
        elif text.startswith("/*", i):
            end = _end_of_block_comment(text, i)
            if end < 0:
                raise fail("a /* comment", i)
            i = end
        elif char in "'\"":
            escaped = char == "'" and i > 0 and text[i - 1] in "eE" and (i < 2 or not _word(text[i - 2]))
            end = _end_of_quoted(text, i, char, escaped)
            if end < 0:
                raise fail("a quoted string" if char == "'" else "a quoted name", i)
            i = end
        elif char == "$" and (i == 0 or not _word(text[i - 1])) and (tag := DOLLAR_TAG.match(text, i)):
            close = text.find(tag.group(0), tag.end())
            if close < 0:
                raise fail(f"a {tag.group(0)} quoted body", i)
            i = close + len(tag.group(0))
        elif char == ";":
            pieces.append((start, text[start:i]))
            start = i = i + 1
        else:
            i += 1
    pieces.append((start, text[start:]))
    statements: list[Statement] = []
    for begin, piece in pieces:
        code = _code_start(piece)
        if code >= 0:
            statements.append(Statement(len(statements) + 1, line_of(begin + code), piece[code:].rstrip()))
    return statements


def _word(char: str) -> bool:
    return char.isalnum() or char == "_"
