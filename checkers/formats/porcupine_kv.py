"""Porcupine's key-value histories: one EDN op map per line (`test_data/kv/*.txt`).

```
{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}
{:process 0, :type :ok, :f :append, :key "0", :value "x 0 0 y"}
{:process 1, :type :invoke, :f :get, :key "7", :value nil}
{:process 1, :type :ok, :f :get, :key "7", :value "x 0 0 y"}
```

Each line is parsed on its own (by `checkers.formats.edn_text`), so the file streams and
every error names its line. The maps mean what they mean in the EDN reader (`checkers.formats.edn`), with
Porcupine's conventions where Knossos's differ:

- `:invoke` is a call and `:ok` a completion that happened; a get's result is the key's
  whole string (`""` when the key was never written). Porcupine's files hold nothing else.
- `:fail` certainly did not happen and is dropped, except a failed `:cas`, which observed
  that the register differed from its expected value (Porcupine's ok=false).
- `:info`, and an invoke that never completes, leave the call pending forever: it may take
  effect at any point after its invoke, or never.
- A `:read` that returns `nil` read an absent key (Porcupine's reading, not Knossos's).

Blank lines and `;` comment lines are skipped.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from checkers.budget import Budget
from checkers.errors import InputError
from checkers.formats.edn import RecordReader
from checkers.formats.text import no_operations, numbered_lines, significant
from checkers.history import COMPARE_FAILED, Operation

if TYPE_CHECKING:
    from checkers.models import Model


def read_porcupine_kv(
    path: str | os.PathLike[str], model: Model | None = None, budget: Budget | None = None
) -> list[Operation]:
    """Read a file of EDN op maps, one per line, into operations; a file without one map
    is an error."""
    source = os.fspath(path)
    reader = RecordReader(source, model, nil_read="absent", fail_cas=COMPARE_FAILED, budget=budget)
    records = 0
    for line_number, line in numbered_lines(source, budget):
        if significant(line):
            _feed(reader, line_number, line.strip())
            records += 1
    if not records:
        raise no_operations(source)
    return reader.pairing.operations()


def _feed(reader: RecordReader, line_number: int, text: str) -> None:
    try:
        reader.feed_text(line_number, text)
    except InputError as error:
        if not error.message.startswith("not valid EDN"):
            raise
        raise InputError(
            error.path,
            error.line,
            error.field,
            f"{error.message} (this format "
            "wants one op map per line; maps spread over several lines read "
            "with --format edn)",
        ) from None
