"""The one exception every reader of the project raises on bad input.

A person fixing a broken file needs to know where to look, so the message always starts
with the file and, when known, the line and the field: `path:line: field: message`. The
command-line front door prints `str(error)` and exits with status 2.
"""

from __future__ import annotations

import os


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
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        if self.field is None:
            return f"{where}: {self.message}"
        return f"{where}: {self.field}: {self.message}"
