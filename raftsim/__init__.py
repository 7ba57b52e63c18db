"""raftsim: deterministic simulation testing for a Raft key-value store."""

from __future__ import annotations

import signal
from importlib import metadata


def _version() -> str:
    try:
        return metadata.version("raftsim")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


__version__ = _version()


def ignore_interrupts() -> None:
    """Initializer for worker processes: Ctrl-C reaches the whole process group, and only the
    parent should answer it (with one line); workers are stopped by the parent's pool."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
