"""Opening a history file as text, with the one-line errors every reader shares."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TextIO

from checkers.errors import InputError


@contextlib.contextmanager
def open_text(source: str) -> Iterator[TextIO]:
    """The file as UTF-8 text, read lazily; a missing, unreadable or non-UTF-8 file is an
    InputError naming it (a decoding error found mid-file names the file, not the line:
    the decoder works in blocks)."""
    try:
        with open(source, encoding="utf-8", newline="") as stream:
            yield stream
    except OSError as error:
        raise InputError(source, None, None, f"cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise InputError(source, None, None, f"not UTF-8 text: {error.reason}") from None
