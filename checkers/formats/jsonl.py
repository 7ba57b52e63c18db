"""Our own `history.jsonl` (schema in the README), read line by line into operations.

The mapping is `checkers.history.operations_from_events`'s: `ok` happened; a `fail` of a
cas with error `compare-failed` observed that the register differed from `expected`; any
other `fail` certainly had no effect and is dropped; `info`, and an invoke that never
completes, stay pending forever (they may take effect at any point after the invoke, or
never). Here the events are not kept: each line is validated, paired and let go.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from checkers.budget import Budget
from checkers.formats.pairing import Pairing
from checkers.formats.text import no_operations
from checkers.history import COMPARE_FAILED, Operation, iter_history_jsonl

if TYPE_CHECKING:
    from checkers.models import Model


def read_jsonl_operations(
    path: str | os.PathLike[str], model: Model | None = None, budget: Budget | None = None
) -> list[Operation]:
    """Read a `history.jsonl` into operations, streaming; a file without one event is an
    error."""
    pairing = Pairing(os.fspath(path), model)
    events = 0
    for line, event in iter_history_jsonl(path, budget):
        events += 1
        if event.type == "invoke":
            argument = None if event.f == "read" else event.value
            pairing.call(event.index, event.process, event.f, event.key, argument, event.time, line, event.client)
        elif event.type == "ok":
            result = {"read": event.value, "cas": True}.get(event.f)
            pairing.complete(event.index, event.process, event.f, "ok", result, event.time, line, event.key)
        elif event.type == "fail":
            observed = event.f == "cas" and event.error == COMPARE_FAILED
            pairing.complete(
                event.index,
                event.process,
                event.f,
                COMPARE_FAILED if observed else "drop",
                False,
                event.time,
                line,
                event.key,
            )
        else:
            pairing.complete(event.index, event.process, event.f, "info", None, event.time, line, event.key)
    if not events:
        raise no_operations(os.fspath(path))
    return pairing.operations()
