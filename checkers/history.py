"""Client histories: the `history.jsonl` events and the operations a checker judges.

Two layers, kept apart on purpose:

- `Event` is one line of `history.jsonl` exactly as the README's schema states it. The
  simulator builds events and writes them with `write_history_jsonl`; checkers read them
  back with `read_history_jsonl`, which validates every field and the rules between lines
  and names the file, line and field of the first mistake.
- `Operation` is what a linearizability checker needs: one call with its argument, its
  outcome and the interval in which it may take effect. It knows nothing of the file it came
  from, so readers of other formats (Knossos/Jepsen EDN, Porcupine logs) can produce the
  same list and reuse every model and search unchanged.

How events become operations (`operations_from_events`):

- `ok`: status `ok`, returned at the completion. It happened, with this result.
- `fail` of a `cas` with error `compare-failed`: status `compare-failed`, returned. It did
  not change the register, but it saw the register differ from `expected` at some point in
  its interval (Porcupine's `ok=false`), and that observation constrains the order.
- any other `fail`: dropped. It certainly had no effect and observed nothing.
- `info`: status `info`, `ret` None. The outcome is unknown: it may take effect at any
  point after its call, or never, so it stays pending forever.
- no completion at all (the history ended first): the same as `info`.

`call` and `ret` are positions in one global order of events (for `history.jsonl`, the
event's `index`); the only thing a search may use them for is "a returned before b was
called". Times are carried along for people reading counterexamples.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from checkers.errors import InputError

if TYPE_CHECKING:
    from checkers.budget import Budget

EVENT_TYPES = ("invoke", "ok", "fail", "info")
FUNCTIONS = ("read", "write", "cas")
"""The `f` values whose value shapes this schema defines. A reader is given the ones the
history's workload or model uses (`functions=`); all of them when it does not say."""
COMPARE_FAILED = "compare-failed"
FIELD_ORDER = (
    "index",
    "time",
    "process",
    "client",
    "type",
    "f",
    "key",
    "value",
    "revision",
    "node",
    "error",
)
"""The order of fields in a written line; `value` is always written, other absent fields
are left out."""
REQUIRED_FIELDS = ("index", "time", "process", "type", "f", "key", "value")

Value = int | None | tuple[int | None, int]
"""In `history.jsonl`: write: the value; read: null on invoke, the value read on ok (null =
key absent); cas: (expected, new), expected null meaning "only if the key is absent"."""

Argument = Any
"""An operation's input or output as a model sees it: `Value` for the registers; a string
for kv; a tuple of (f, key, value) micro-operations for a multi-register txn; None where
an operation carries nothing. Always hashable (tuples, never lists), because the search
groups operations by (f, input, output)."""

OPERATION_STATUSES = ("ok", "info", COMPARE_FAILED)


@dataclass(frozen=True, slots=True)
class Event:
    """One line of `history.jsonl` (see the README for each field's meaning)."""

    index: int
    time: int
    process: int
    type: str
    f: str
    key: str
    value: Value = None
    revision: int | None = None
    node: int | None = None
    error: str | None = None
    client: int | None = None

    def __post_init__(self) -> None:
        # JSON and callers hand a cas value over as a list; a tuple keeps the event hashable.
        if isinstance(self.value, list):
            object.__setattr__(self, "value", tuple(self.value))

    def to_json(self) -> dict[str, Any]:
        """The line's object, fields in `FIELD_ORDER`, absent optional fields left out."""
        record: dict[str, Any] = {}
        for name in FIELD_ORDER:
            field_value = getattr(self, name)
            if field_value is None and name != "value":
                continue
            record[name] = list(field_value) if isinstance(field_value, tuple) else field_value
        return record


@dataclass(frozen=True, slots=True)
class Operation:
    """One call as a checker sees it.

    `input` is the argument (write: the value, cas: (expected, new), read: None). `output`
    is the observed result: for a read the value read (None = absent), for a cas True when
    it applied and False when its compare failed, None otherwise and whenever the outcome is
    unknown. `ret` None means the call never returned: it may take effect at any point
    after `call`, or never. Other models carry other arguments (see `Argument`).

    `line` is where the call stands in its file (None for operations built in memory); it
    is there for people and error messages, so equality ignores it.
    """

    id: int
    process: int
    client: int | None
    f: str
    key: str | None
    input: Argument
    output: Argument
    call: int
    ret: int | None
    status: str
    call_time_us: int | None = None
    return_time_us: int | None = None
    line: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        assert self.status in OPERATION_STATUSES, self.status
        assert (self.ret is None) == (self.status == "info"), (self.ret, self.status)
        assert self.ret is None or self.call < self.ret, (self.call, self.ret)
        assert self.status != COMPARE_FAILED or self.f == "cas", self.f

    @property
    def pending(self) -> bool:
        """True when the outcome is unknown (an `info`, or no completion at all)."""
        return self.ret is None

    def to_json(self) -> dict[str, Any]:
        """Every field; `line` only when known, so that our own runs' verdicts stay as
        they were."""
        record: dict[str, Any] = {}
        for name in Operation.__slots__:
            field_value = getattr(self, name)
            if name == "line" and field_value is None:
                continue
            record[name] = list(field_value) if isinstance(field_value, tuple) else field_value
        return record


# ---------------------------------------------------------------------------------------
# Reading


def read_history_jsonl(
    path: str | os.PathLike[str], budget: Budget | None = None, *, functions: Collection[str] = FUNCTIONS
) -> list[Event]:
    """Read and validate a `history.jsonl`, one line at a time; `f` must be one of
    `functions`.

    Raises InputError naming the file, line and field of the first problem.
    """
    return [event for _, event in iter_history_jsonl(path, budget, functions=functions)]


def iter_history_jsonl(
    path: str | os.PathLike[str], budget: Budget | None = None, *, functions: Collection[str] = FUNCTIONS
) -> Iterator[tuple[int, Event]]:
    """Yield (line number, event) for each line of a `history.jsonl` once it has passed
    every check, holding nothing but the open invokes: a history of any size streams.
    Spends `budget` per line (see `checkers.formats.text.numbered_lines`).

    Raises InputError naming the file, line and field of the first problem, whatever the
    bytes (see `decode_json_line`).
    """
    from checkers.formats.text import numbered_lines  # the formats package imports this one

    allowed = _in_schema_order(functions)
    source = os.fspath(path)
    validator = HistoryValidator(source, keep=False)
    for line_number, record in _json_lines(numbered_lines(source, budget), source):
        event = _event_from_record(record, source, line_number, allowed)
        validator.feed(event, line_number)
        yield line_number, event


def _in_schema_order(functions: Collection[str]) -> tuple[str, ...]:
    """`functions` in a fixed order (messages list them; a set's order is not fixed)."""
    unknown = set(functions).difference(FUNCTIONS)
    assert not unknown, f"the history schema defines no value shape for {sorted(unknown)}"
    return tuple(f for f in FUNCTIONS if f in functions)


def _json_lines(lines: Iterable[tuple[int, str]], source: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; blank lines only at the end."""
    blank_line: int | None = None
    for line_number, raw in lines:
        if not raw.strip():
            blank_line = blank_line or line_number
            continue
        if blank_line is not None:
            raise InputError(source, blank_line, None, "blank line inside the history")
        record = decode_json_line(raw, source, line_number, _DECODER)
        if not isinstance(record, dict):
            raise InputError(source, line_number, None, "a line must be one JSON object")
        problem = text_problem(raw, record)
        if problem is not None:
            raise InputError(source, line_number, *problem)
        yield line_number, record


MAX_DEPTH = 100
"""Deepest nesting of arrays and objects in one line (the line's object counts as one)."""
MAX_INT_DIGITS = 4300
"""Longest integer read: Python's own limit for converting text to an integer."""
_LONG_INTEGER = re.compile(f"[0-9]{{{MAX_INT_DIGITS + 1},}}")
_NAME_BEFORE = re.compile(r'"((?:[^"\\]|\\.){1,64})"\s*:')
_ESCAPED_TEXT = re.compile(r"\\[ubf]|[\x7f-\x9f]")  # what may hide a control character
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class _Constant(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _refuse_constant(name: str) -> Any:
    raise _Constant(name)


def decode_json_line(
    raw: str, source: str, line_number: int, decoder: json.JSONDecoder | None = None, *, from_file: bool = True
) -> Any:
    """One line of JSON, or an InputError naming the line (and the field, when one can be
    told) for anything the schema's JSON must not hold: text that is not JSON, `NaN` and
    `Infinity`, a field given twice (with the history's decoder), an integer of more than
    `MAX_INT_DIGITS` digits, nesting deeper than `MAX_DEPTH`. `from_file`: the line was
    read with its line end, so bad JSON without one is a file cut short."""
    try:
        value = (decoder or _PLAIN_DECODER).decode(raw)
    except _DuplicateField as duplicate:
        raise InputError(source, line_number, duplicate.name, "given twice") from None
    except _Constant as constant:
        raise InputError(source, line_number, None, f"not valid JSON: {constant.name} is not a number") from None
    except json.JSONDecodeError as error:
        truncated = from_file and not raw.endswith("\n")
        reason = (
            "truncated line (no newline and not valid JSON)"
            if truncated
            else (f"not valid JSON: {error.msg} at column {error.colno}")
        )
        raise InputError(source, line_number, None, reason) from None
    except RecursionError:
        raise InputError(source, line_number, _field_too_deep(raw), f"nested more than {MAX_DEPTH} deep") from None
    except ValueError:  # Python's limit on the digits of an integer read from text
        raise InputError(
            source,
            line_number,
            _field_before(raw, _LONG_INTEGER.search(raw)),
            f"an integer of more than {MAX_INT_DIGITS} digits",
        ) from None
    if raw.count("[") + raw.count("{") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise InputError(source, line_number, _deep_field(value), f"nested more than {MAX_DEPTH} deep")
    return value


def _field_before(raw: str, match: re.Match[str] | None) -> str | None:
    if match is None:
        return None
    names = _NAME_BEFORE.findall(raw, 0, match.start())
    return names[-1] if names else None


_JSON_SYNTAX = re.compile(r'"(?:[^"\\]++|\\.)*+"|[\[\]{}:]')


def _field_too_deep(raw: str) -> str | None:
    """The field of the line's object whose value nests past `MAX_DEPTH`, read from the
    text (the decoder gave up before building anything)."""
    depth, field_name, last_string = 0, None, None
    for match in _JSON_SYNTAX.finditer(raw):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return field_name
        elif token in "]}":
            depth -= 1
        elif token == ":":
            if depth == 1 and last_string is not None:
                field_name = last_string
        else:
            last_string = token[1:-1]
    return None


def _depth(value: Any) -> int:
    """How deep arrays and objects nest in `value` (0 for a scalar), without recursion."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if depth <= MAX_DEPTH:
            pending.extend((child, depth + 1) for child in children)
    return deepest


def _deep_field(value: Any) -> str | None:
    if isinstance(value, dict):
        for name, item in value.items():
            if _depth(item) >= MAX_DEPTH:
                return name
    return None


def text_problem(raw: str, record: dict[str, Any]) -> tuple[str | None, str] | None:
    """(field, why) when a field name or a string in the line is not valid Unicode (half
    of a surrogate pair, which JSON's `\\u` escapes allow) or holds a control character
    other than tab, newline and carriage return; else None. Only lines with such escapes
    (or a raw DEL or C1 character, which JSON lets through) are searched, so the common
    line costs one regular expression scan."""
    if _ESCAPED_TEXT.search(raw) is None:
        return None
    pending: list[tuple[str | None, Any]] = [(None, record)]
    while pending:
        name, item = pending.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                field_name = name if name is not None else key
                pending.append((field_name, key))
                pending.append((field_name, child))
        elif isinstance(item, list):
            pending.extend((name, child) for child in item)
        elif isinstance(item, str):
            why = _string_problem(item)
            if why is not None:
                return name, why
    return None


def _string_problem(text: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "half of a surrogate pair (\\ud800-\\udfff): not Unicode text"
    control = _CONTROL.search(text)
    if control is not None:
        return f"control character U+{ord(control.group()):04X} in a string"
    return None


class _DuplicateField(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _no_duplicate_fields(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for name, field_value in pairs:
        if name in record:
            raise _DuplicateField(name)
        record[name] = field_value
    return record


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicate_fields, parse_constant=_refuse_constant)
_PLAIN_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
_KNOWN_FIELDS = frozenset(FIELD_ORDER)


def _is_int(candidate: object) -> bool:
    # bool is a subclass of int in Python; JSON true/false are not numbers here.
    return type(candidate) is int


def _event_from_record(record: dict[str, Any], source: str, line: int, functions: tuple[str, ...] = FUNCTIONS) -> Event:
    """Check each field's type and allowed values on its own and build the Event."""
    if not _KNOWN_FIELDS.issuperset(record):
        name = next(name for name in record if name not in _KNOWN_FIELDS)
        raise InputError(source, line, name, f"unknown field (known: {', '.join(FIELD_ORDER)})")
    for name in REQUIRED_FIELDS:
        if name not in record:
            raise InputError(source, line, name, "missing")
    for name in ("index", "time", "process"):
        if not _is_int(record[name]) or record[name] < 0:
            raise InputError(source, line, name, f"must be an integer >= 0, got {record[name]!r}")
    for name, minimum in (("client", 0), ("revision", 0), ("node", 1)):
        if name in record and (not _is_int(record[name]) or record[name] < minimum):
            raise InputError(source, line, name, f"must be an integer >= {minimum}, got {record[name]!r}")
    if record["type"] not in EVENT_TYPES:
        raise InputError(source, line, "type", f"must be one of {', '.join(EVENT_TYPES)}, got {record['type']!r}")
    if record["f"] not in functions:
        raise InputError(source, line, "f", f"must be one of {', '.join(functions)}, got {record['f']!r}")
    if not isinstance(record["key"], str):
        raise InputError(source, line, "key", f"must be a string, got {record['key']!r}")
    _check_optional_fields(record, source, line)
    problem = _value_problem(record["f"], record["type"], record["value"])
    if problem is not None:
        raise InputError(source, line, "value", problem)
    return Event(**record)


def _check_optional_fields(record: dict[str, Any], source: str, line: int) -> None:
    """revision and node come only with a node's answer; error only with fail or info."""
    is_invoke = record["type"] == "invoke"
    for name in ("revision", "node"):
        if is_invoke and name in record:
            raise InputError(source, line, name, "an invoke has no answer to carry it")
    if "error" in record:
        if record["type"] not in ("fail", "info"):
            raise InputError(source, line, "error", "only fail and info events carry an error")
        if not isinstance(record["error"], str) or not record["error"]:
            raise InputError(source, line, "error", f"must be a non-empty string, got {record['error']!r}")


def _value_problem(f: str, event_type: str, value: object) -> str | None:
    """Why `value` is not allowed for this f and type, or None when it is."""
    if f == "read":
        if event_type == "ok":
            return (
                None
                if value is None or _is_int(value)
                else (f"a read's result must be an integer or null, got {value!r}")
            )
        return None if value is None else f"a read {event_type} carries null, got {value!r}"
    if f == "write":
        return None if _is_int(value) else f"a write carries an integer, got {value!r}"
    well_formed = (
        isinstance(value, list) and len(value) == 2 and (value[0] is None or _is_int(value[0])) and _is_int(value[1])
    )
    return None if well_formed else f"a cas carries [expected, new], got {value!r}"


# ---------------------------------------------------------------------------------------
# Rules between lines


class HistoryValidator:
    """Checks the rules that span lines, one event at a time.

    Rules: `index` counts from 0 without gaps; `time` never decreases; a process has at most
    one invoke outstanding; a completion answers the open invoke of its process with the
    same f and key (and, for write and cas, the same value; the same client when both name
    one); a process that ended with `info` never invokes again, because the client carries on
    under a new process id and the pending operation keeps the old one forever.
    """

    def __init__(self, source: str, keep: bool = True) -> None:
        self.source = source
        self.keep = keep
        self.events: list[Event] = []
        """Every event fed, when `keep`; a streaming reader passes keep=False and holds
        only the open invokes."""
        self._previous: Event | None = None
        self._open: dict[int, tuple[Event, int]] = {}
        self._crashed: dict[int, int] = {}

    def feed(self, event: Event, line: int) -> None:
        previous = self._previous
        expected_index = 0 if previous is None else previous.index + 1
        if event.index != expected_index:
            self._fail(line, "index", f"expected {expected_index}, got {event.index}")
        if previous is not None and event.time < previous.time:
            self._fail(line, "time", f"went back from {previous.time} to {event.time}")
        if event.type == "invoke":
            self._feed_invoke(event, line)
        else:
            self._feed_completion(event, line)
        self._previous = event
        if self.keep:
            self.events.append(event)

    def _feed_invoke(self, event: Event, line: int) -> None:
        if event.process in self._open:
            self._fail(
                line,
                "process",
                f"process {event.process} already has an invoke outstanding (line {self._open[event.process][1]})",
            )
        if event.process in self._crashed:
            self._fail(
                line,
                "process",
                f"process {event.process} ended with info on line "
                f"{self._crashed[event.process]}; a client continues under a new id",
            )
        self._open[event.process] = (event, line)

    def _feed_completion(self, event: Event, line: int) -> None:
        if event.process not in self._open:
            self._fail(line, "process", f"{event.type} without an outstanding invoke of process {event.process}")
        invoke, invoke_line = self._open.pop(event.process)
        for name in ("f", "key"):
            if getattr(event, name) != getattr(invoke, name):
                self._fail(
                    line,
                    name,
                    f"{getattr(event, name)!r} does not match the invoke on "
                    f"line {invoke_line} ({getattr(invoke, name)!r})",
                )
        if event.f != "read" and event.value != invoke.value:
            self._fail(
                line, "value", f"{event.value!r} does not repeat the invoke's {invoke.value!r} (line {invoke_line})"
            )
        both_named = event.client is not None and invoke.client is not None
        if both_named and event.client != invoke.client:
            self._fail(line, "client", f"{event.client} differs from the invoke's {invoke.client} (line {invoke_line})")
        if event.type == "info":
            self._crashed[event.process] = line

    def _fail(self, line: int, field: str, message: str) -> None:
        raise InputError(self.source, line, field, message)


def validate_events(
    events: Iterable[Event], source: str = "<events>", *, functions: Collection[str] = FUNCTIONS
) -> None:
    """Apply every rule of `read_history_jsonl` to events held in memory.

    Line numbers in errors count events from 1, as the written file would.
    """
    allowed = _in_schema_order(functions)
    validator = HistoryValidator(source)
    for line_number, event in enumerate(events, start=1):
        record = event.to_json()
        validator.feed(_event_from_record(record, source, line_number, allowed), line_number)


# ---------------------------------------------------------------------------------------
# Writing


def event_line(event: Event) -> str:
    """The event as one compact JSON line (with its newline), byte-stable across runs."""
    return json.dumps(event.to_json(), separators=(",", ":"), ensure_ascii=False) + "\n"


def write_history_jsonl(path: str | os.PathLike[str], events: Iterable[Event]) -> None:
    """Write events as `history.jsonl`; refuses (InputError) events that would not read back.

    The events are validated before the file is opened, so a refused history leaves no
    half-written file behind.
    """
    materialised = list(events)
    validate_events(materialised, os.fspath(path))
    with open(path, "w", encoding="utf-8", newline="\n") as stream:
        for event in materialised:
            stream.write(event_line(event))


# ---------------------------------------------------------------------------------------
# Events to operations


def operations_from_events(events: Iterable[Event]) -> list[Operation]:
    """Pair invokes with completions per process (see the module docstring for the mapping).

    Expects events that passed validation. Operations come out ordered by call, `id` being
    the position in that order.
    """
    open_invokes: dict[int, Event] = {}
    paired: list[tuple[Event, Event | None]] = []
    for event in events:
        if event.type == "invoke":
            assert event.process not in open_invokes, f"unvalidated history: {event}"
            open_invokes[event.process] = event
            continue
        invoke = open_invokes.pop(event.process)
        if event.type == "fail" and not (event.f == "cas" and event.error == COMPARE_FAILED):
            continue
        paired.append((invoke, None if event.type == "info" else event))
    paired.extend((invoke, None) for invoke in open_invokes.values())
    paired.sort(key=lambda pair: pair[0].index)
    return [_operation(number, invoke, completion) for number, (invoke, completion) in enumerate(paired)]


def _operation(number: int, invoke: Event, completion: Event | None) -> Operation:
    output: Argument
    if completion is None:
        status, output = "info", None
    elif completion.type == "fail":
        status, output = COMPARE_FAILED, False
    else:
        status = "ok"
        output = {"read": completion.value, "write": None, "cas": True}[invoke.f]
    return Operation(
        id=number,
        process=invoke.process,
        client=invoke.client,
        f=invoke.f,
        key=invoke.key,
        input=None if invoke.f == "read" else invoke.value,
        output=output,
        call=invoke.index,
        ret=None if completion is None else completion.index,
        status=status,
        call_time_us=invoke.time,
        return_time_us=None if completion is None else completion.time,
    )
