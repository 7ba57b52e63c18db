"""Jepsen's textual logs of one register, as Porcupine's `test_data/jepsen/` has them.

```
INFO  jepsen.util - 2	:invoke	:cas	[3 0]
INFO  jepsen.util - 2	:ok	:cas	[3 0]
INFO  jepsen.util - 4	:info	:write	:timed-out
```

There are no timestamps: the order of the lines is the only time. The records are read
the way Porcupine's parser reads them, whose verdicts these files come with:

- `:invoke` is a call; `:ok` a completion that happened; `:ok :read nil` read an absent key.
- `:fail :cas` is a completion whose compare failed (the register differed from
  `expected`); this is what makes most of these etcd runs non-linearizable.
- `:fail :read` (`:timed-out`) returned nothing usable: the read is dropped. Any other
  `:fail` certainly had no effect and is dropped too.
- `:info`, and an invoke that never completes, leave the call pending forever: it may take
  effect at any point after its invoke, or never.

An operation line is the text after ` jepsen.util - `, or a whole line of the same shape
without the log prefix (`3	:invoke	:read	nil`). Other log output is skipped: a line that
starts with a log level (`INFO`, `WARN`, ...) or a timestamp, and indented lines after
one (a stack trace). Any other line is an error naming it, and so is a file with no
operation line at all: a file of another format read as a log must not pass for an empty
history. Fields are separated by tabs or runs of spaces; the value is EDN (`nil`, `4`,
`[3 0]`). A process that is a keyword (`:nemesis`) is fault injection: ignored. The
file is read line by line.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from checkers.budget import Budget
from checkers.errors import InputError
from checkers.formats.edn import plain
from checkers.formats.edn_text import EdnError, parse_forms
from checkers.formats.text import no_operations, numbered_lines, significant
from checkers.history import COMPARE_FAILED, Argument, Operation, Pairing

if TYPE_CHECKING:
    from checkers.models import Model

MARKER = " jepsen.util - "
BARE_LINE = re.compile(r"^\s*(?:[0-9]+|:[\w-]+)\s+:(?:invoke|ok|fail|info)\s+:\S")
LOG_LINE = re.compile(r"^(?:INFO|WARN|DEBUG|ERROR|TRACE)\b|^[0-9]{4}-[0-9][0-9]-[0-9][0-9]")
_PROCESS = re.compile(r"[0-9]{1,4300}")
_F = re.compile(r":[A-Za-z][\w.*+!?<>=/-]*")
_INTEGER = re.compile(r"-?[0-9]{1,4000}")
_PAIR = re.compile(r"\[\s*(nil|-?[0-9]{1,4000})[\s,]+(nil|-?[0-9]{1,4000})\s*\]")
_EXPECTED = "expected a Jepsen log line such as 'INFO  jepsen.util - 0 :invoke :read nil'"
_TYPES = (":invoke", ":ok", ":fail", ":info")


def read_porcupine_log(
    path: str | os.PathLike[str], model: Model | None = None, budget: Budget | None = None
) -> list[Operation]:
    """Read a Jepsen register log into operations (key None)."""
    source = os.fspath(path)
    pairing = Pairing(source, model)
    operation_lines, first_log_line, in_message = 0, None, False
    for line_number, raw in numbered_lines(source, budget):
        if MARKER in raw or BARE_LINE.match(raw):
            text = raw.split(MARKER, 1)[1] if MARKER in raw else raw
            _feed(pairing, source, line_number, text, budget)
            operation_lines, in_message = operation_lines + 1, False
        elif LOG_LINE.match(raw):
            first_log_line, in_message = first_log_line or line_number, True
        elif not significant(raw) or (in_message and raw[:1] in " \t"):
            continue  # blank, a comment, or a log message's indented continuation
        else:
            raise InputError(source, line_number, None, f"{_EXPECTED}, got {raw.strip()[:40]!r}")
    if operation_lines == 0:
        if first_log_line is None:
            raise no_operations(source)
        raise InputError(source, first_log_line, None, f"no operation in the log: {_EXPECTED}")
    return pairing.operations()


def _feed(pairing: Pairing, source: str, line: int, text: str, budget: Budget | None) -> None:
    parts = text.split(None, 3)
    if len(parts) < 3:
        raise InputError(source, line, None, "expected: process, type, f and value")
    process_text, kind, f = parts[0], parts[1], parts[2]
    value_text = parts[3].strip() if len(parts) == 4 else ""
    if process_text.startswith(":") and len(process_text) > 1:
        return  # :nemesis and other non-client processes
    if _PROCESS.fullmatch(process_text) is None:
        raise InputError(source, line, "process", f"must be an integer or a keyword, got {process_text[:40]!r}")
    process = int(process_text)
    if kind not in _TYPES:
        raise InputError(source, line, "type", f"unknown type {kind!r} (known: {', '.join(_TYPES)})")
    if _F.fullmatch(f) is None:
        raise InputError(source, line, "f", f"must be a keyword such as :read, got {f!r}")
    name = f[1:]
    if kind == ":invoke":
        argument = None if name == "read" else _value(source, line, value_text, budget)
        pairing.call(line, process, name, None, argument, None, line)
    elif kind == ":info":
        pairing.complete(line, process, name, "info", None, None, line)
    elif kind == ":fail":
        outcome = COMPARE_FAILED if name == "cas" else "drop"
        pairing.complete(line, process, name, outcome, False, None, line)
    else:
        result = {"cas": True, "read": None}.get(name)
        if name == "read":
            result = _value(source, line, value_text, budget)
        pairing.complete(line, process, name, "ok", result, None, line)


def _value(source: str, line: int, text: str, budget: Budget | None) -> Argument:
    """The value's EDN text as the models see it; the common shapes without the parser."""
    if text == "nil":
        return None
    if _INTEGER.fullmatch(text):
        return int(text)
    pair = _PAIR.fullmatch(text)
    if pair is not None:
        return tuple(None if part == "nil" else int(part) for part in pair.groups())
    try:
        forms = parse_forms(text, budget)
    except EdnError as error:
        raise InputError(source, line, "value", f"not valid EDN: {error}") from None
    if len(forms) != 1:
        raise InputError(source, line, "value", f"expected one value, got {text[:60]!r}")
    return plain(forms[0])
