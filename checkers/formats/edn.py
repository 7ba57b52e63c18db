"""Knossos / Jepsen histories in EDN: a vector (or list) of op maps, one register.

```
[{:process 4, :type :invoke, :f :write, :value 2}
 {:process 4, :type :ok, :f :write, :value 2}
 {:process :nemesis, :type :info, :f :start, :value nil}]
```

How the records are read, following Knossos (whose verdicts these files come with):

- `:process` that is not an integer (`:nemesis`) marks fault injection: ignored.
- `:invoke` is a call; `:ok` a completion that happened; `:info` leaves the call pending
  forever (it may take effect after its call, or never).
- `:fail` certainly did not happen and Knossos drops it, a `:cas` included. With
  `fail_cas="compare-failed"` a failed cas is read as Porcupine reads it instead: the
  compare failed, which constrains the order.
- A read completing `:ok` with `nil` means "unknown" in Knossos's register models (it is
  always legal there). With `nil_read="unknown"` (the default for this format) such a read
  is dropped, which is exactly "always legal" without teaching the model that quirk; with
  `nil_read="absent"` it means the register was empty, as in our own histories.
- `:time` (nanoseconds) becomes microseconds for display; order alone decides real time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import edn_format

from checkers.errors import InputError
from checkers.formats.pairing import Pairing
from checkers.history import COMPARE_FAILED, Operation, Value

_TYPES = ("invoke", "ok", "fail", "info")
_FUNCTIONS = ("read", "write", "cas")


def read_edn_history(
    path: str | os.PathLike[str], *, nil_read: str = "unknown", fail_cas: str = "drop",
) -> list[Operation]:
    """Read a Knossos-style EDN history of one register into operations (key None)."""
    assert nil_read in ("unknown", "absent"), nil_read
    assert fail_cas in ("drop", COMPARE_FAILED), fail_cas
    source = os.fspath(path)
    text = _read_text(source)
    records = _parse(text, source)
    reader = _Reader(source, text, nil_read, fail_cas)
    for position, record in enumerate(records):
        reader.feed(position, record)
    return reader.pairing.operations()


def _read_text(source: str) -> str:
    try:
        with open(source, encoding="utf-8") as stream:
            return stream.read()
    except OSError as error:
        raise InputError(source, None, None, f"cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise InputError(source, None, None, f"not UTF-8 text: {error.reason}") from None


def _parse(text: str, source: str) -> list[Any]:
    try:
        forms = edn_format.loads_all(text)
    except (edn_format.EDNDecodeError, ValueError, TypeError) as error:
        raise InputError(source, None, None, f"not valid EDN: {error}") from None
    if len(forms) == 1 and _is_vector(forms[0]):
        return list(forms[0])
    return list(forms)  # one map per line, without an enclosing vector


class _Reader:
    def __init__(self, source: str, text: str, nil_read: str, fail_cas: str) -> None:
        self.source = source
        self.text = text
        self.nil_read = nil_read
        self.fail_cas = fail_cas
        self.pairing = Pairing(source)
        self._lines: list[int] | None = None

    def line_of(self, position: int) -> int | None:
        """The line where the position-th record starts; worked out only for errors."""
        if self._lines is None:
            self._lines = _record_lines(self.text)
        return self._lines[position] if position < len(self._lines) else None

    def fail(self, position: int, field: str | None, message: str) -> InputError:
        return InputError(self.source, self.line_of(position), field, message)

    def feed(self, position: int, record: Any) -> None:
        if not isinstance(record, Mapping):
            raise self.fail(position, None, f"expected an op map, got {record!r}")
        fields = {getattr(key, "name", key): value for key, value in record.items()}
        process = fields.get("process")
        if isinstance(process, edn_format.Keyword):
            return  # :nemesis and other non-client processes
        if type(process) is not int:
            raise self.fail(position, ":process", f"must be an integer, got {process!r}")
        kind = self.keyword(position, fields, "type", _TYPES)
        f = self.keyword(position, fields, "f", _FUNCTIONS)
        time_ns = fields.get("time")
        time_us = time_ns // 1000 if type(time_ns) is int else None
        value = fields.get("value")
        line = None  # resolved lazily by the pairing's errors through `line_of`
        try:
            if kind == "invoke":
                self.pairing.call(position, process, f, self.argument(position, f, value),
                                  time_us, line)
            else:
                outcome, output = self.meaning(position, kind, f, value)
                self.pairing.complete(position, process, f, outcome, output, time_us, line)
        except InputError as error:
            raise self.fail(position, error.field, error.message) from None

    def keyword(self, position: int, fields: dict[str, Any], name: str,
                allowed: tuple[str, ...]) -> str:
        value = fields.get(name)
        word = value.name if isinstance(value, edn_format.Keyword) else None
        if word not in allowed:
            raise self.fail(position, f":{name}", f"must be one of "
                            f"{', '.join(':' + a for a in allowed)}, got {value!r}")
        return word  # type: ignore[return-value]

    def argument(self, position: int, f: str, value: Any) -> Value:
        if f == "read":
            return None  # Knossos may copy the result into the invoke; it is not an input
        if f == "write":
            if type(value) is not int:
                raise self.fail(position, ":value", f"a write carries an integer, got {value!r}")
            return value
        if (_is_vector(value) and len(value) == 2
                and all(v is None or type(v) is int for v in value) and value[1] is not None):
            return (value[0], value[1])
        raise self.fail(position, ":value", f"a cas carries [expected new], got {value!r}")

    def meaning(self, position: int, kind: str, f: str, value: Any) -> tuple[str, object]:
        if kind == "info":
            return "info", None
        if kind == "fail":
            keep = f == "cas" and self.fail_cas == COMPARE_FAILED
            return (COMPARE_FAILED, False) if keep else ("drop", None)
        if f != "read":
            return "ok", (True if f == "cas" else None)
        if value is None:
            return ("drop", None) if self.nil_read == "unknown" else ("ok", None)
        if type(value) is not int:
            raise self.fail(position, ":value", f"a read returns an integer or nil, got "
                            f"{value!r}")
        return "ok", value


def _is_vector(value: object) -> bool:
    """EDN vectors and lists (edn_format gives ImmutableList and tuple), not strings."""
    return isinstance(value, Sequence) and not isinstance(value, str)


def _record_lines(text: str) -> list[int]:
    """Line (from 1) where each top-level record starts, by a small bracket scanner that
    skips strings, comments and character literals."""
    lines: list[int] = []
    depth, line, index = 0, 1, 0
    record_depth: int | None = None
    while index < len(text):
        char = text[index]
        if char == "\n":
            line += 1
        elif char == ";":
            while index + 1 < len(text) and text[index + 1] != "\n":
                index += 1
        elif char == '"':
            index += 1
            while index < len(text) and text[index] != '"':
                line += text[index] == "\n"
                index += 1 + (text[index] == "\\")
        elif char == "\\":
            index += 1
        elif char in "([{":
            if record_depth is None:
                record_depth = 1 if char in "([" else 0
            if depth == record_depth:
                lines.append(line)
            depth += 1
        elif char in ")]}":
            depth -= 1
        index += 1
    return lines
