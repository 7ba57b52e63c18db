"""Opening a history file and reading its lines, with the one-line errors every reader shares.

Whatever the path names and whatever bytes the file holds, a reader gets numbered lines of
valid text or an InputError naming the file (and the line):

- only a regular file is read: a folder, a named pipe, a device or a socket is refused by
  what it is, without ever waiting on it (a pipe is opened non-blocking, then looked at);
- each line is decoded on its own, so that bytes that are not UTF-8 are reported with
  their line and column; a UTF-8 byte order mark at the start of the file is skipped;
  line ends may be `\\n` or `\\r\\n` (readers strip them);
- a long line is read in chunks of `CHUNK_BYTES`, each spent from the check's `Budget`, so
  that a file of one endless line runs into the deadline or the memory guard, or past
  `MAX_LINE_BYTES` (an error), instead of taking the machine's memory.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from typing import BinaryIO

from checkers.budget import Budget
from checkers.errors import InputError

CHUNK_BYTES = 1 << 20
BLOCK_BYTES = 1 << 16
"""What one read takes: whole lines are split from it, a line it cuts is read on as a long line."""
MAX_LINE_BYTES = 256 << 20
"""Longest line read: far beyond any record of a real history (a 50 MB value reads),
short of what would crowd the memory guard; a longer line is an error naming it."""
BOM = "\ufeff"

_KINDS = (
    (stat.S_ISDIR, "is a directory, not a file"),
    (stat.S_ISFIFO, "is a named pipe, not a file"),
    (stat.S_ISCHR, "is a character device, not a file"),
    (stat.S_ISBLK, "is a block device, not a file"),
    (stat.S_ISSOCK, "is a socket, not a file"),
)


def not_a_file(source: str, mode: int) -> InputError | None:
    """The error for a path that exists but is not a regular file, or None."""
    if stat.S_ISREG(mode):
        return None
    for test, words in _KINDS:
        if test(mode):
            return InputError(source, None, None, words)
    return InputError(source, None, None, "is not a regular file")


def check_file(source: str) -> None:
    """Raise the InputError a reader would for `source` (missing, unreadable, not a regular
    file) without opening it: what a caller uses before committing to work."""
    try:
        mode = os.stat(source).st_mode
    except OSError as error:
        raise _cannot_open(source, error) from None
    problem = not_a_file(source, mode)
    if problem is not None:
        raise problem


def _cannot_open(source: str, error: OSError) -> InputError:
    if isinstance(error, FileNotFoundError):
        return InputError(source, None, None, "no such file")
    if isinstance(error, NotADirectoryError):
        return InputError(source, None, None, "no such file (a part of the path is not a folder)")
    return InputError(source, None, None, f"cannot read: {error.strerror or error}")


@contextlib.contextmanager
def open_binary(source: str) -> Iterator[BinaryIO]:
    """The regular file `source`, opened for reading bytes. What is not a regular file is
    refused before any open (opening a named pipe would disturb its writer); should the
    path change in between, the open does not block (O_NONBLOCK) and what was opened is
    looked at again."""
    check_file(source)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(source, flags)
    except OSError as error:
        raise _cannot_open(source, error) from None
    try:
        problem = not_a_file(source, os.fstat(descriptor).st_mode)
    except OSError as error:
        os.close(descriptor)
        raise _cannot_open(source, error) from None
    if problem is not None:
        os.close(descriptor)
        raise problem
    with os.fdopen(descriptor, "rb") as stream:
        yield stream


def numbered_lines(source: str, budget: Budget | None = None) -> Iterator[tuple[int, str]]:
    """Yield (line number, text) for every line of the file, line ends kept; see the
    module docstring for what is refused. Spends one unit of `budget` per line and the
    bytes of every chunk of a long line.

    The file is read in blocks of `BLOCK_BYTES`, each decoded and split at once, the
    budget spent per block (its lines as units, its bytes as stored: the operations read
    from them are kept); a line the block cuts is finished as a long line is. A block that
    is not UTF-8 is decoded again line by line, so that the error names the first bad line
    after every good one before it was yielded."""
    spent = budget if budget is not None else Budget()
    with open_binary(source) as stream:
        number = 0
        while True:
            try:
                block = stream.read(BLOCK_BYTES)
            except OSError as error:
                raise InputError(source, number + 1, None, f"cannot read: {error.strerror or error}") from None
            if not block:
                return
            end = block.rfind(b"\n") + 1
            if end < len(block):  # the block cuts its last line: finish it
                tail = _read_line(stream, source, number + block.count(b"\n", 0, end) + 1, spent, block[end:])
                block = block[:end] + tail if end else tail
            lines = _split(block)
            spent.spend(stored_bytes=len(block), work=len(lines) if lines is not None else 1)
            if lines is None:  # not UTF-8: line by line, the good ones first
                for piece in _byte_lines(block):
                    number += 1
                    text = decode_line(piece, source, number)
                    yield number, text[1:] if number == 1 and text.startswith(BOM) else text
                continue
            if number == 0 and lines and lines[0].startswith(BOM):
                lines[0] = lines[0][1:]
            for text in lines:
                number += 1
                yield number, text


def _split(block: bytes) -> list[str] | None:
    """The lines of a block of whole lines (the last may lack its newline), ends kept,
    split at newlines only; None when the block is not UTF-8."""
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = text.splitlines(keepends=True)
    # `splitlines` also splits at \r, \x0b, \x1c, \u2028 and others (not inside \r\n): when it
    # made no more lines than there are newlines, it split at nothing else but the end.
    if len(lines) == text.count("\n") + (not text.endswith("\n")):
        return lines
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


def _byte_lines(block: bytes) -> list[bytes]:
    """The lines of a block of whole lines, ends kept, split at newlines only."""
    if b"\r" not in block:
        return block.splitlines(keepends=True)  # bytes split at \n and \r only
    pieces = [piece + b"\n" for piece in block.split(b"\n")]
    pieces[-1] = pieces[-1][:-1]
    return pieces if pieces[-1] else pieces[:-1]


def _read_line(stream: BinaryIO, source: str, number: int, budget: Budget, head: bytes = b"") -> bytes:
    """The rest of line `number`, of which `head` (shorter than `CHUNK_BYTES`) was read."""
    try:
        piece = head + stream.readline(CHUNK_BYTES - len(head))
        if len(piece) < CHUNK_BYTES or piece.endswith(b"\n"):
            return piece
        pieces, size = [piece], len(piece)
        while True:
            budget.spend(stored_bytes=len(piece), work=64)
            if size >= MAX_LINE_BYTES:
                raise InputError(source, number, None, f"a line longer than {MAX_LINE_BYTES >> 20} MiB: not a history")
            piece = stream.readline(CHUNK_BYTES)
            pieces.append(piece)
            size += len(piece)
            if len(piece) < CHUNK_BYTES or piece.endswith(b"\n"):
                return b"".join(pieces)
    except OSError as error:
        raise InputError(source, number, None, f"cannot read: {error.strerror or error}") from None


def decode_line(raw: bytes, source: str, number: int) -> str:
    """One line's bytes as text; bytes that are not UTF-8 are an error naming the line and
    the column (in characters) where they start."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        column = len(raw[: error.start].decode("utf-8", "replace")) + 1
        raise InputError(
            source, number, None, f"not UTF-8 text: byte 0x{raw[error.start]:02x} at column {column} ({error.reason})"
        ) from None


def significant(text: str) -> bool:
    """Whether a line holds more than blanks or a `;` comment."""
    stripped = text.strip()
    return bool(stripped) and not stripped.startswith(";")


def no_operations(source: str) -> InputError:
    """The error for a history with nothing in it."""
    return InputError(source, None, None, "no operations: the file holds only blank lines and comments")
