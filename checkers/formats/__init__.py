"""Readers that turn histories recorded anywhere into the same `Operation` list as ours.

| format | what it is | reader |
| --- | --- | --- |
| `jsonl` | raftsim `history.jsonl` | `checkers.formats.jsonl` |
| `edn` | Knossos / Jepsen EDN: a vector or list of op maps | `checkers.formats.edn` |
| `porcupine-log` | Jepsen log lines of one register (Porcupine's etcd data) | `checkers.formats.porcupine_log` |
| `porcupine-kv` | EDN op maps one per line (Porcupine's kv data) | `checkers.formats.porcupine_kv` |

`auto` (the default) tells them apart by content, never by file name: see
`detect_format`. Each reader documents how its format's conventions (`:fail`, `:info`,
calls that never complete, nil reads) map onto operations, so that the models and the
search stay free of any one tool's quirks. Every reader streams: it holds the operations,
not the file.

`read_history` gives the faults a history recorded too, apart from its operations: our
fault and heal lines (`checkers.history.FaultLine`), and the nemesis's records of a Jepsen
EDN history made into such lines (`checkers.formats.edn.NemesisReader`). Porcupine's files
record no fault. No checker of operations sees a fault; the reports draw them.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from checkers.budget import Budget
from checkers.errors import InputError
from checkers.formats.porcupine_log import BARE_LINE, LOG_LINE, MARKER
from checkers.formats.text import no_operations, numbered_lines, significant
from checkers.history import FaultLine, Operation

if TYPE_CHECKING:
    from checkers.models import Model

FORMATS = ("auto", "jsonl", "edn", "porcupine-log", "porcupine-kv")


def detect_format(path: str | os.PathLike[str], budget: Budget | None = None) -> str:
    """The format of a history file, from its first significant text (blank lines and
    `;` comment lines skipped):

    - `{"` (a JSON object per line): `jsonl`;
    - `[` or `(` (an EDN vector or list): `edn`;
    - `{:` (EDN maps, one per line): `porcupine-kv`;
    - a log line (`INFO ...`, a timestamp, ` jepsen.util - `, or `3 :invoke :read nil`):
      `porcupine-log`.

    Raises InputError naming the file (and line) when none fits, when the file holds
    nothing but blanks and comments, and when the path is not a readable regular file.
    """
    source = os.fspath(path)
    for line_number, line in numbered_lines(source, budget):
        if not significant(line):
            continue
        text = line.strip().lstrip(",")
        chosen = _format_of(line, text) if text else None
        if chosen is None:
            raise InputError(
                source,
                line_number,
                None,
                f"cannot tell the history's format from {text[:30]!r}; give --format ({', '.join(FORMATS[1:])})",
            )
        return chosen
    raise no_operations(source)


def _format_of(line: str, text: str) -> str | None:
    if text.startswith("{"):
        after = text[1:].lstrip()
        if after.startswith('"'):
            return "jsonl"
        if after.startswith(":") or not after:
            return "porcupine-kv"
        return None
    if text[0] in "[(":
        return "edn"
    if MARKER in line or BARE_LINE.match(line) or LOG_LINE.match(text):
        return "porcupine-log"
    return None


@dataclass(frozen=True, slots=True)
class History:
    """A history as read: its operations (what every checker judges) and, kept apart, the
    faults it recorded, in history order (what the reports draw)."""

    operations: list[Operation]
    faults: tuple[FaultLine, ...] = ()


def read_history(
    path: str | os.PathLike[str],
    history_format: str | None = None,
    model: Model | None = None,
    budget: Budget | None = None,
) -> History:
    """`read_operations`, and the faults the history recorded, from one pass over the file."""
    chosen = history_format or "auto"
    if chosen not in FORMATS:
        raise ValueError(f"unknown history format {chosen!r}; known formats: {', '.join(FORMATS)}")
    if chosen == "auto":
        chosen = detect_format(path, budget)
    with collector_paused():
        return _read(path, chosen, model, budget)


def read_operations(
    path: str | os.PathLike[str],
    history_format: str | None = None,
    model: Model | None = None,
    budget: Budget | None = None,
) -> list[Operation]:
    """Read any supported history file into operations.

    `history_format` None or "auto" detects the format by content. Given a `model`, every
    call and result is checked against it as it is read, and a value of the wrong shape is
    an InputError naming the file, line and field. A file that is not a readable regular
    file, that is not UTF-8, or in which the format finds no record (blank lines and
    comments only, or lines of another format) is an InputError too. Each reader spends
    `budget` per record and per chunk of a long line; `OutOfBudget` propagates. Raises
    ValueError for an unknown format name.
    """
    return read_history(path, history_format, model, budget).operations


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a history is read (and, as a decorator
    of `check_operations`, searched): both build hundreds of thousands of objects that form
    no cycle (operations; the search's states, steps and memo), and the collector, started
    again and again by their count, would walk every one still alive each time to free
    nothing (a tenth of the time of reading a 100 MB history, half of that of searching
    it). Objects are still freed as they are let go, and the budget's memory guard still
    reads the resident memory; the collector runs again, as it was, once the work ends or
    fails. `tests/test_formats.py` holds reading and searching to leaving no cycle."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read(path: str | os.PathLike[str], chosen: str, model: Model | None, budget: Budget | None) -> History:
    if chosen == "jsonl":
        from checkers.formats.jsonl import read_jsonl_history

        operations, faults = read_jsonl_history(path, model, budget)
        return History(operations, tuple(faults))
    if chosen == "porcupine-log":
        from checkers.formats.porcupine_log import read_porcupine_log

        return History(read_porcupine_log(path, model, budget))
    if chosen == "porcupine-kv":
        from checkers.formats.porcupine_kv import read_porcupine_kv

        return History(read_porcupine_kv(path, model, budget))
    from checkers.formats.edn import read_edn_history_and_faults

    operations, faults = read_edn_history_and_faults(path, model=model, budget=budget)
    return History(operations, tuple(faults))


__all__ = ["FORMATS", "History", "detect_format", "read_history", "read_operations"]
