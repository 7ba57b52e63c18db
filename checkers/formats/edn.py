"""Knossos / Jepsen histories in EDN: a vector (or list) of op maps.

```
[{:process 4, :type :invoke, :f :write, :value 2}
 {:process 4, :type :ok, :f :write, :value 2}
 {:process 7, :type :invoke, :f :txn, :value [[:read :x nil] [:write :y 2]]}
 {:process :nemesis, :type :info, :f :start, :value nil}]
```

How the records are read, following Knossos (whose verdicts these files come with):

- `:process` that is not an integer (`:nemesis`) marks fault injection: never an
  operation. The `:nemesis` process's records become fault spans (`NemesisReader`, whose
  docstring has the mapping); any other such process is ignored.
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

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

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
from checkers.history import COMPARE_FAILED, NEMESIS, Argument, FaultLine, Operation, Pairing, settings_text

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
    return read_edn_history_and_faults(path, nil_read=nil_read, fail_cas=fail_cas, model=model, budget=budget)[0]


def read_edn_history_and_faults(
    path: str | os.PathLike[str],
    *,
    nil_read: str = "unknown",
    fail_cas: str = "drop",
    model: Model | None = None,
    budget: Budget | None = None,
) -> tuple[list[Operation], list[FaultLine]]:
    """`read_edn_history`, and the nemesis's faults as fault and heal lines (see
    `NemesisReader`), from one pass over the file."""
    source = os.fspath(path)
    reader = RecordReader(source, model, nil_read=nil_read, fail_cas=fail_cas, budget=budget)
    scanner = FormScanner(source)
    for line, text in scanner.forms(numbered_lines(source, budget)):
        reader.feed_text(line, text)
    if scanner.base is None:
        raise no_operations(source)
    return reader.pairing.operations(), reader.nemesis.faults()


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
        self.nemesis = NemesisReader()

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
            if str(process.name) == NEMESIS:
                self.nemesis.feed(line, self.position, fields)
            return  # never an operation
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


_OPENS: Final = {"start": ("start", "nemesis"), "kill": ("kill", "crash"), "pause": ("pause", "pause")}
"""A start-like `:f` without a `start-` prefix: (stem, kind)."""
_CLOSES: Final = {"stop": "start", "resume": "pause"}
"""A stop-like `:f` without a `stop-` prefix: the stem it closes."""
_KINDS: Final = {"partition": "partition", "kill": "crash", "crash": "crash", "pause": "pause", "clock": "clock"}
"""The kind of `:start-X` by its stem X, in the simulator's words (so the report colours it
as its own faults); a stem not here is its own kind."""


class NemesisReader:
    """Turns the `:nemesis` process's records of a Jepsen history into fault and heal
    lines, so that a report draws Jepsen's faults as it draws ours. Never an error: a
    nemesis record this does not understand is skipped, as every one was before.

    Mapping, by `:f` (whatever the `:type`):

    | opens (kind) | closed by |
    | --- | --- |
    | `:start` (`nemesis`: Jepsen's one-fault nemesis, most often a partition) | `:stop` |
    | `:start-X` (X, `partition`, `crash` for `kill`, `clock` ...) | `:stop-X` |
    | `:kill` (`crash`) | `:start` while a kill is open |
    | `:pause` (`pause`) | `:resume` |

    A start and a stop pair by their stem (`start-partition` and `stop-partition` by
    `partition`). Jepsen logs each nemesis operation twice, its invocation and then its
    completion, with the same `:f`: a record with the `:f` of the invocation just before
    it is that completion, whose `:value` (what the nemesis did, such as the partition's
    grudge) is kept as the fault's `result` and opens or closes nothing. A stop whose
    stem has no open fault (Jepsen stops everything at a test's end), a start whose stem
    is open already, and any other `:f` (`:isolate`, `:recover`, ...) are skipped. A fault
    never closed lasts until the history's end.

    Each fault's `index` is the number of operation records before it, which is where it
    falls among the operations' positions, and its `time` is `:time` in microseconds
    (None without one); its settings are `kind`, `f` and `value` (and `result`) in JSON.
    """

    def __init__(self) -> None:
        self._records: list[tuple[int, int | None, str, int, dict[str, Any], int]] = []
        self._open: dict[str, int] = {}  # stem -> fault number
        self._invoked: tuple[str, int | None] | None = None  # the last invocation's f and its record
        self._numbers = 0

    def feed(self, line: int, position: int, fields: Mapping[str, Any]) -> None:
        f_value = fields.get("f")
        if not isinstance(f_value, KEYWORD_TYPES):
            self._invoked = None
            return
        f = str(f_value.name)
        value = _json_value(plain(fields.get("value")))
        if self._invoked is not None and self._invoked[0] == f:
            record = self._invoked[1]
            self._invoked = None
            if record is not None and value is not None:
                self._records[record][4]["result"] = value
            return
        time_ns = fields.get("time")
        time_us = time_ns // 1000 if type(time_ns) is int and time_ns >= 0 else None
        meaning = self._meaning(f)
        self._invoked = (f, None if meaning is None else len(self._records))
        if meaning is None:
            return
        kind_of_line, stem, kind = meaning
        if kind_of_line == "fault":
            number = self._numbers
            self._numbers += 1
            self._open[stem] = number
        else:
            number = self._open.pop(stem)
        settings: dict[str, Any] = {"kind": kind, "f": f}
        if value is not None:
            settings["value"] = value
        self._records.append((position, time_us, kind_of_line, number, settings, line))

    def _meaning(self, f: str) -> tuple[str, str, str] | None:
        """("fault", stem, kind), ("heal", stem, kind) or None: see the class docstring."""
        if f == "start" and "kill" in self._open:
            return "heal", "kill", "crash"
        stem = _CLOSES.get(f) or (f.removeprefix("stop-") if f.startswith("stop-") and len(f) > 5 else None)
        if stem is not None:
            return ("heal", stem, self._kind(stem)) if stem in self._open else None
        opened = _OPENS.get(f)
        if opened is None and f.startswith("start-") and len(f) > 6:
            opened = (f.removeprefix("start-"), self._kind(f.removeprefix("start-")))
        if opened is None or opened[0] in self._open:
            return None
        return "fault", opened[0], opened[1]

    @staticmethod
    def _kind(stem: str) -> str:
        if stem in _OPENS:
            return _OPENS[stem][1]
        return _KINDS.get(stem, _KINDS.get(stem.split("-")[0], stem))

    def faults(self) -> list[FaultLine]:
        """The fault and heal lines, in history order."""
        return [
            FaultLine(position, time_us, kind_of_line, number, settings_text(settings), line)
            for position, time_us, kind_of_line, number, settings, line in self._records
        ]


def _json_value(value: Argument) -> Any:
    """An EDN value (as `plain` gives it) as JSON can hold it: tuples as arrays, a set's
    members sorted by their JSON text (a set has no order of its own to keep, and the
    output must not depend on one), a map as its [key, value] pairs in file order, numbers
    that JSON has no form for as text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, frozenset):
        return sorted((_json_value(item) for item in value), key=lambda item: json.dumps(item, sort_keys=True))
    if isinstance(value, tuple):
        return [_json_value(item) for item in value]
    return str(value)


def _without_read_value(micro: Argument) -> Argument:
    """A call's read carries no value (Knossos may have copied the result into it)."""
    if isinstance(micro, tuple) and len(micro) == 3 and micro[0] == "read":
        return (micro[0], micro[1], None)
    return micro


def _is_nil_read(micro: Argument) -> bool:
    return isinstance(micro, tuple) and len(micro) == 3 and micro[0] == "read" and micro[2] is None
