"""Worker processes that leave Ctrl-C to the command that started them."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


@contextlib.contextmanager
def ctrl_c_ignored() -> Iterator[None]:
    """Ctrl-C ignored while the block starts worker processes: they inherit the ignore
    across exec, so one pressed at the terminal, which reaches the whole process group,
    reaches only this process (which stops the campaign and prints one line), even while
    the workers are still importing. This process's own handler comes back after."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
