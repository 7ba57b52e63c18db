"""Our own `history.jsonl` (schema in the README), read line by line into operations.

The mapping is `checkers.history.pair_event`'s: `ok` happened; a `fail` of a cas with
error `compare-failed` observed that the register differed from `expected`; any other
`fail` certainly had no effect and is dropped; `info`, and an invoke that never completes,
stay pending forever (they may take effect at any point after the invoke, or never). Here
the events are not kept: each line is validated, paired and let go, in one pass. Fault and
heal lines (`checkers.history.FaultLine`) are validated in the same pass and kept apart:
they are no operation.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from checkers.budget import Budget
from checkers.formats.text import no_operations
from checkers.history import FUNCTIONS, JSONL_WORDING, FaultLine, Operation, Pairing, pair_history_jsonl

if TYPE_CHECKING:
    from checkers.models import Model


def read_jsonl_operations(
    path: str | os.PathLike[str], model: Model | None = None, budget: Budget | None = None
) -> list[Operation]:
    """Read a `history.jsonl` into operations, streaming; a file without one event is an
    error. Besides the schema's `f` values, those of `model` are read (a workload's own,
    such as list-append's), their shapes judged by the model."""
    return read_jsonl_history(path, model, budget)[0]


def read_jsonl_history(
    path: str | os.PathLike[str], model: Model | None = None, budget: Budget | None = None
) -> tuple[list[Operation], list[FaultLine]]:
    """`read_jsonl_operations`, and the history's fault and heal lines in order, from one
    pass over the file."""
    pairing = Pairing(os.fspath(path), model, wording=JSONL_WORDING)
    functions = FUNCTIONS if model is None else frozenset(FUNCTIONS) | model.functions
    faults: list[FaultLine] = []
    if not pair_history_jsonl(path, budget, pairing, functions=functions, faults=faults):
        raise no_operations(os.fspath(path))
    return pairing.operations(), faults
