"""The one exception every reader of the project raises on bad input.

A person fixing a broken file needs to know where to look, so the message always starts
with the file and, when known, the line and the field: `path:line: field: message`. The
command-line front door prints `str(error)` and exits with status 2.

Whatever the input holds, `str(error)` is one printable line of bounded length: a file
may hand us a 50 MB value, a control character or half of a surrogate pair, and an error
message that quotes it must still fit on a terminal line and be encodable.
"""

from __future__ import annotations

import os
import re

MAX_MESSAGE_CHARS = 400
"""Longest message shown; values quoted beyond this are cut with an ellipsis."""

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029]")


def one_line(text: str, limit: int | None = None) -> str:
    """`text` with every control character, line separator and lone surrogate written as
    an escape, cut to `limit` characters."""
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return _UNPRINTABLE.sub(
        lambda match: f"\\x{ord(match.group()):02x}" if ord(match.group()) < 0x100 else f"\\u{ord(match.group()):04x}",
        text,
    )


class InputError(Exception):
    """A file (or an in-memory record standing for one) is not what its schema says.

    `line` counts from 1; `field` names the offending field as the schema spells it. Either
    may be unknown (None), in which case it is left out of the message.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        line: int | None = None,
        field: str | None = None,
        message: str = "",
    ) -> None:
        assert message, "an input error must say what is wrong"
        assert line is None or line >= 1, f"lines count from 1, got {line}"
        self.path = os.fspath(path)
        self.line = line
        self.field = field
        self.message = message
        # The arguments, in order, keep the error picklable across worker processes.
        super().__init__(self.path, line, field, message)

    def __str__(self) -> str:
        path = one_line(self.path)
        where = path if self.line is None else f"{path}:{self.line}"
        message = one_line(self.message, MAX_MESSAGE_CHARS)
        if self.field is None:
            return f"{where}: {message}"
        return f"{where}: {one_line(self.field, 80)}: {message}"
