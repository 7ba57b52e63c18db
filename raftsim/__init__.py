"""raftsim: deterministic simulation testing for a Raft key-value store."""

from __future__ import annotations

from importlib import metadata


def _version() -> str:
    try:
        return metadata.version("raftsim")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


__version__ = _version()
