"""Readers that turn histories recorded elsewhere into the same `Operation` list as ours.

| suffix | format | reader |
| --- | --- | --- |
| `.jsonl` | raftsim `history.jsonl` | `checkers.history` |
| `.edn` | Knossos / Jepsen EDN, one register | `read_edn_history` |
| `.log` | Jepsen etcd log lines (Porcupine's test data) | `read_jepsen_log` |

Each reader documents how its format's conventions map onto operations, so that the models
and the search stay free of any one tool's quirks.
"""

from __future__ import annotations

import os
from pathlib import Path

from checkers.formats.jepsen_log import read_jepsen_log
from checkers.history import Operation, operations_from_events, read_history_jsonl

FORMATS = ("jsonl", "edn", "jepsen-log")


def read_edn_history(path: str | os.PathLike[str], **options: str) -> list[Operation]:
    """See `checkers.formats.edn.read_edn_history`; imported on first use so that checking
    our own histories does not need the EDN package."""
    from checkers.formats import edn

    return edn.read_edn_history(path, **options)


def detect_format(path: str | os.PathLike[str]) -> str:
    """The format a file's suffix names ("jsonl" when the suffix says nothing)."""
    suffix = Path(path).suffix.lower()
    return {".edn": "edn", ".log": "jepsen-log"}.get(suffix, "jsonl")


def read_operations(path: str | os.PathLike[str], history_format: str | None = None) -> (
        list[Operation]):
    """Read any supported history file into operations, by suffix unless told the format."""
    chosen = history_format or detect_format(path)
    if chosen == "edn":
        return read_edn_history(path)
    if chosen == "jepsen-log":
        return read_jepsen_log(path)
    if chosen == "jsonl":
        return operations_from_events(read_history_jsonl(path))
    raise ValueError(f"unknown history format {chosen!r}; known formats: {', '.join(FORMATS)}")


__all__ = ["FORMATS", "detect_format", "read_edn_history", "read_jepsen_log",
           "read_operations"]
