"""Jepsen's textual logs of a single etcd register, as in Porcupine's `test_data/jepsen/`.

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
- `:info` leaves the call pending forever: it may take effect after its call, or never.

Lines without ` jepsen.util - ` are other log output and are skipped; a `jepsen.util` line
that cannot be read is an error naming its line. Fields are separated by tabs or runs of
spaces.
"""

from __future__ import annotations

import os
import re

from checkers.errors import InputError
from checkers.formats.pairing import Pairing
from checkers.history import COMPARE_FAILED, Operation, Value

_MARKER = " jepsen.util - "
_CAS_VALUE = re.compile(r"^\[\s*(nil|-?\d+)\s+(-?\d+)\s*\]$")


def read_jepsen_log(path: str | os.PathLike[str]) -> list[Operation]:
    """Read a Jepsen etcd register log into operations (key None)."""
    source = os.fspath(path)
    pairing = Pairing(source)
    try:
        with open(source, encoding="utf-8") as stream:
            for line_number, raw in enumerate(stream, start=1):
                if _MARKER in raw:
                    _feed(pairing, source, line_number, raw)
    except OSError as error:
        raise InputError(source, None, None, f"cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise InputError(source, None, None, f"not UTF-8 text: {error.reason}") from None
    return pairing.operations()


def _feed(pairing: Pairing, source: str, line: int, raw: str) -> None:
    parts = raw.split(_MARKER, 1)[1].split(None, 3)
    if len(parts) < 3:
        raise InputError(source, line, None, "expected: process, type, f and value")
    process_text, kind, f = parts[0], parts[1], parts[2]
    value = parts[3].strip() if len(parts) == 4 else ""
    if not re.fullmatch(r"\d+", process_text):
        return  # :nemesis and other non-client processes
    process = int(process_text)
    if kind not in (":invoke", ":ok", ":fail", ":info"):
        raise InputError(source, line, "type", f"unknown type {kind!r}")
    if f not in (":read", ":write", ":cas"):
        raise InputError(source, line, "f", f"unknown function {f!r}")
    position, name = line, f[1:]
    if kind == ":invoke":
        pairing.call(position, process, name, _argument(source, line, name, value), None, line)
    elif kind == ":info":
        pairing.complete(position, process, name, "info", None, None, line)
    elif kind == ":fail":
        outcome = COMPARE_FAILED if name == "cas" else "drop"
        pairing.complete(position, process, name, outcome, False, None, line)
    else:
        pairing.complete(position, process, name, "ok", _result(source, line, name, value),
                         None, line)


def _argument(source: str, line: int, f: str, value: str) -> Value:
    if f == "read":
        return None
    if f == "write":
        if not re.fullmatch(r"-?\d+", value):
            raise InputError(source, line, "value", f"a write carries an integer, got {value!r}")
        return int(value)
    match = _CAS_VALUE.match(value)
    if match is None:
        raise InputError(source, line, "value", f"a cas carries [expected new], got {value!r}")
    expected = None if match.group(1) == "nil" else int(match.group(1))
    return (expected, int(match.group(2)))


def _result(source: str, line: int, f: str, value: str) -> object:
    if f == "cas":
        return True
    if f == "write":
        return None
    if value == "nil":
        return None
    if not re.fullmatch(r"-?\d+", value):
        raise InputError(source, line, "value", f"a read returns an integer or nil, got "
                         f"{value!r}")
    return int(value)
