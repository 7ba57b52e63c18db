"""Knossos / Jepsen histories in EDN: a vector (or list) of op maps.

```
[{:process 4, :type :invoke, :f :write, :value 2}
 {:process 4, :type :ok, :f :write, :value 2}
 {:process 7, :type :invoke, :f :txn, :value [[:read :x nil] [:write :y 2]]}
 {:process :nemesis, :type :info, :f :start, :value nil}]
```

How the records are read, following Knossos (whose verdicts these files come with):

- `:process` that is not an integer (`:nemesis`) marks fault injection: ignored.
- `:invoke` is a call. `:ok` is a completion that happened, with the result in `:value`.
- `:fail` certainly did not happen: dropped, a `:cas` included (Knossos drops both halves).
  With `fail_cas="compare-failed"` a failed cas is read as Porcupine reads it instead: the
  compare failed, which constrains the order. A failed `:release` (`:not-held`) is dropped
  like any other failure.
- `:info`, and an invoke that never completes, leave the call pending forever: it may take
  effect at any point after its invoke, or never.
- A `:read` (or a `:read` inside a `:txn`) completing `:ok` with `nil` means "unknown" in
  Knossos's register models (always legal there). With `nil_read="unknown"` (the default
  for this format) such a read is dropped, which is exactly "always legal" without
  teaching the models that quirk; with `nil_read="absent"` it means the key was empty, as
  in our own histories.
- The value of a call's `:read` is not an argument (Knossos copies results into invokes):
  it is ignored, and so is a `:txn` call's read values. `:key` (Porcupine's kv maps) names
  the key; without it the history is one register.
- Keywords become their names (`:x` is "x"), vectors and lists become tuples.
- `:time` (nanoseconds) becomes microseconds for display; the order of the records alone
  decides real time (Jepsen's clocks may disagree with it by a little). `:index` is
  ignored for the same reason.

Which `:f` values are allowed and what their values must look like is the model's
business: given one, the reader asks it about every call and result (see
`checkers.history.Pairing`). The file is read streaming (see `checkers.formats.edn_text`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from checkers.budget import Budget
from checkers.errors import InputError
from checkers.formats.edn_text import (
    KEYWORD_TYPES,
    EdnError,
    FormScanner,
    Keyword,
    Symbol,
    parse_forms,
)
from checkers.formats.text import no_operations, numbered_lines
from checkers.history import COMPARE_FAILED, Argument, Operation, Pairing

if TYPE_CHECKING:
    from checkers.models import Model

TYPES = ("invoke", "ok", "fail", "info")
_WITHOUT_ARGUMENT = frozenset({"read", "get", "acquire", "release"})


def read_edn_history(
    path: str | os.PathLike[str],
    *,
    nil_read: str = "unknown",
    fail_cas: str = "drop",
    model: Model | None = None,
    budget: Budget | None = None,
) -> list[Operation]:
    """Read a Knossos-style EDN history into operations (see the module docstring). A
    file with no vector and no map at all is an error; `[]` is an empty history."""
    source = os.fspath(path)
    reader = RecordReader(source, model, nil_read=nil_read, fail_cas=fail_cas, budget=budget)
    scanner = FormScanner(source)
    for line, text in scanner.forms(numbered_lines(source, budget)):
        reader.feed_text(line, text)
    if scanner.base is None:
        raise no_operations(source)
    return reader.pairing.operations()


def plain(value: Any) -> Argument:
    """An EDN value as the models see it: keywords and symbols by name, vectors and lists
    as tuples, sets as frozensets, maps as tuples of (key, value) pairs in file order;
    everything else as it is. All hashable, as the search needs; no model takes a set or a
    map, so those only ever appear in error messages."""
    if isinstance(value, (*KEYWORD_TYPES, Symbol)):
        return str(value.name)
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, Mapping):
        return tuple((plain(key), plain(item)) for key, item in value.items())
    if isinstance(value, frozenset | set):
        return frozenset(plain(item) for item in value)
    if isinstance(value, Sequence):
        return tuple(plain(item) for item in value)
    return value


class RecordReader:
    """Gives each EDN op map its meaning and hands it to a `Pairing`."""

    def __init__(
        self, source: str, model: Model | None, *, nil_read: str, fail_cas: str, budget: Budget | None = None
    ) -> None:
        assert nil_read in ("unknown", "absent"), nil_read
        assert fail_cas in ("drop", COMPARE_FAILED), fail_cas
        self.source = source
        self.budget = budget
        self.nil_read = nil_read
        self.fail_cas = fail_cas
        self.pairing = Pairing(source, model, field_prefix=":")
        self.position = 0

    def fail(self, line: int, name: str | None, message: str) -> InputError:
        return self.pairing.fail(line, name, message)

    def feed_text(self, line: int, text: str) -> None:
        try:
            forms = parse_forms(text, self.budget)
        except EdnError as error:
            where = line + text.count("\n", 0, error.offset)
            raise InputError(self.source, where, error.field, f"not valid EDN: {error}") from None
        if len(forms) != 1:
            raise self.fail(line, None, f"expected one op map, got {len(forms)} forms")
        self.feed(line, forms[0])

    def feed(self, line: int, record: Any) -> None:
        if not isinstance(record, Mapping):
            raise self.fail(line, None, f"expected an op map, got {record!r}")
        for name in record:
            if type(name) is not Keyword:
                raise self.fail(line, None, f"op map keys are keywords (:process), got {name!r}")
        fields = record  # a Keyword is the str of its name: `fields["f"]` finds `:f`
        process = fields.get("process")
        if isinstance(process, KEYWORD_TYPES):
            return  # :nemesis and other non-client processes
        if type(process) is not int:
            raise self.fail(line, "process", f"must be an integer, got {process!r}")
        kind = self.keyword(line, fields, "type", TYPES)
        f = self.keyword(line, fields, "f", None)
        key = self.key(line, fields)
        time_ns = fields.get("time")
        time_us = time_ns // 1000 if type(time_ns) is int else None
        value = plain(fields.get("value"))
        self.position += 1
        if kind == "invoke":
            self.pairing.call(self.position, process, f, key, self.argument(f, value), time_us, line)
            return
        outcome, output = self.meaning(kind, f, value)
        self.pairing.complete(self.position, process, f, outcome, output, time_us, line, key)

    def keyword(self, line: int, fields: Mapping[str, Any], name: str, allowed: Iterable[str] | None) -> str:
        value = fields.get(name)
        word = str(value.name) if isinstance(value, KEYWORD_TYPES) else None
        if word is None or (allowed is not None and word not in allowed):
            choices = "a keyword" if allowed is None else "one of " + ", ".join(":" + choice for choice in allowed)
            raise self.fail(line, name, f"must be {choices}, got {value!r}")
        return word

    def key(self, line: int, fields: Mapping[str, Any]) -> str | None:
        if "key" not in fields:
            return None
        key = plain(fields["key"])
        if type(key) is int:
            return str(key)
        if not isinstance(key, str):
            raise self.fail(line, "key", f"must be a string, keyword or integer, got {key!r}")
        return key

    def argument(self, f: str, value: Argument) -> Argument:
        if f in _WITHOUT_ARGUMENT:
            return None
        if f == "txn" and isinstance(value, tuple):
            return tuple(_without_read_value(micro) for micro in value)
        return value

    def meaning(self, kind: str, f: str, value: Argument) -> tuple[str, Argument]:
        if kind == "info":
            return "info", None
        if kind == "fail":
            keep = f == "cas" and self.fail_cas == COMPARE_FAILED
            return (COMPARE_FAILED, False) if keep else ("drop", None)
        if f == "cas":
            return "ok", True
        if f == "read":
            unknown = value is None and self.nil_read == "unknown"
            return ("drop", None) if unknown else ("ok", value)
        if f == "get":
            return "ok", value
        if f == "txn" and isinstance(value, tuple) and self.nil_read == "unknown":
            return "ok", tuple(micro for micro in value if not _is_nil_read(micro))
        return "ok", (value if f == "txn" else None)


def _without_read_value(micro: Argument) -> Argument:
    """A call's read carries no value (Knossos may have copied the result into it)."""
    if isinstance(micro, tuple) and len(micro) == 3 and micro[0] == "read":
        return (micro[0], micro[1], None)
    return micro


def _is_nil_read(micro: Argument) -> bool:
    return isinstance(micro, tuple) and len(micro) == 3 and micro[0] == "read" and micro[2] is None
