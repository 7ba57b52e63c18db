"""Client histories: the `history.jsonl` events and the operations a checker judges.

Kept apart on purpose:

- `Event` is one line of `history.jsonl` exactly as the README's schema states it. The
  simulator builds events and writes them with `write_history_jsonl`; checkers read them
  back with `read_history_jsonl`, which validates every field and the rules between lines
  and names the file, line and field of the first mistake.
- `FaultLine` is a fault or heal line of `history.jsonl` (`"process": "nemesis"`): a fault
  as it happened, on the operations' sequence and clock. The readers check it and keep it
  apart (`faults=`, `read_history_faults`): it is never an event a checker pairs or judges.
- `Operation` is what a linearizability checker needs: one call with its argument, its
  outcome and the interval in which it may take effect. It knows nothing of the file it came
  from, so readers of other formats (Knossos/Jepsen EDN, Porcupine logs) can produce the
  same list and reuse every model and search unchanged.

How events become operations (`pair_event` gives each its meaning, `Pairing` pairs
them by the rules every format shares (`Pairing`); `operations_from_events` for events in memory):

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
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final, Protocol

from checkers.errors import InputError
from checkers.etcd_requests import (
    ALL_KEYS_END,
    ETCD_FUNCTIONS,
    OBSERVED_ERRORS,
    OBSERVING_FUNCTIONS,
    ErrorResult,
    ShapeError,
)
from checkers.etcd_requests import parse_value as parse_etcd_value
from checkers.etcd_requests import value_json as etcd_value_json

if TYPE_CHECKING:
    from checkers.budget import Budget

EVENT_TYPES = ("invoke", "ok", "fail", "info")
FUNCTIONS = ("read", "write", "cas")
"""The `f` values whose value shapes this schema defines. A reader is given the ones the
history's workload or model uses (`functions=`); these three when it does not say. Any
other `f` a reader is given carries any JSON value but an object (arrays are read as
tuples): its shape is the model's to judge (`call_problem`, `result_problem`, asked
through the reader's `model=`), its invoke's value is the call's argument and its ok's
value the result."""
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
    "serializable",
)
"""The order of fields in a written line; `value` is always written, other absent fields
are left out."""
REQUIRED_FIELDS = ("index", "time", "process", "type", "f", "key", "value")

Value = int | None | tuple[int | None, int]
"""In `history.jsonl`: write: the value; read: null on invoke, the value read on ok (null =
key absent); cas: (expected, new), expected null meaning "only if the key is absent".
An `f` outside `FUNCTIONS` carries any JSON value but an object, arrays as tuples."""

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
    serializable: bool | None = None
    """True on the invoke of a read the client asked to be served from its member's own
    state (etcd's serializable reads); the history is still judged for linearizability,
    so such a read that was stale is flagged."""

    def __post_init__(self) -> None:
        # JSON and callers hand a cas value over as a list; a tuple keeps the event hashable.
        if isinstance(self.value, dict) and self.f in ETCD_FUNCTIONS:
            object.__setattr__(self, "value", parse_etcd_value(self.f, self.type, self.value))
        elif isinstance(self.value, list):
            object.__setattr__(self, "value", tuple(self.value))

    def to_json(self) -> dict[str, Any]:
        """The line's object, fields in `FIELD_ORDER`, absent optional fields left out."""
        record: dict[str, Any] = {}
        for name in FIELD_ORDER:
            field_value = getattr(self, name)
            if field_value is None and name != "value":
                continue
            record[name] = list(field_value) if isinstance(field_value, tuple) else etcd_value_json(field_value)
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
            record[name] = list(field_value) if isinstance(field_value, tuple) else etcd_value_json(field_value)
        return record


FAULT_TYPES = ("fault", "heal")
NEMESIS = "nemesis"
"""The `process` of every fault and heal line: faults are no client's."""
FAULT_FIELDS = ("index", "time", "process", "type", "fault")
"""The fields of a fault or heal line that place it (in the order written); every other
field is one of the fault's settings, kept as written."""


@dataclass(frozen=True, slots=True)
class FaultLine:
    """A fault, or its heal, as a history recorded it: on the same sequence (`index`) and
    clock (`time`) as the operations, so that every view can draw the fault where the
    clients met it, with no simulator trace at hand.

    `fault` is the fault's number, pairing a `fault` line with its `heal`; a fault never
    healed lasts until the history's end. `settings_json` holds the line's other fields
    (`kind`, `nodes`, `shape`, `sides`, `cut`, `one_way`, `loss`, `delay_ms`, ... as the
    simulator's trace carries them) as one JSON object in file order: text keeps the line
    frozen and hashable and writes back exactly. `time` is None only for a fault read from
    a history without times (some Jepsen EDN files). `line` is for people and errors, so
    equality ignores it.
    """

    index: int
    time: int | None
    type: str
    fault: int
    settings_json: str = "{}"
    line: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        assert self.type in FAULT_TYPES, self.type

    def settings(self) -> dict[str, Any]:
        """The fault's settings, decoded afresh (the caller may change its copy)."""
        settings: dict[str, Any] = json.loads(self.settings_json)
        return settings

    @property
    def kind(self) -> str | None:
        kind = self.settings().get("kind")
        return kind if isinstance(kind, str) else None

    def to_json(self) -> dict[str, Any]:
        """The line's object: the placing fields first, then the settings as written."""
        record: dict[str, Any] = {"index": self.index, "time": self.time, "process": NEMESIS, "type": self.type}
        record["fault"] = self.fault
        record.update(self.settings())
        return record


def settings_text(settings: dict[str, Any]) -> str:
    """`FaultLine.settings_json` of a settings object: compact, in the object's order."""
    return json.dumps(settings, separators=(",", ":"), ensure_ascii=False)


def is_fault_record(record: dict[str, Any]) -> bool:
    """Whether a line's object means to be a fault or heal line: its type says so, or its
    process is the nemesis (so that either, got wrong, is told as a fault line's mistake)."""
    kind, process = record.get("type"), record.get("process")
    return (isinstance(kind, str) and kind in FAULT_TYPES) or (isinstance(process, str) and process == NEMESIS)


def fault_line_from_record(record: dict[str, Any], source: str, line: int) -> FaultLine:
    """Check a fault or heal line's own fields and build it (the rules between lines are
    `HistoryValidator`'s and `FaultBook`'s)."""
    # What the line is first (its type, then its process), so that an operation given the
    # nemesis's process is told so rather than told what a fault line lacks.
    for name in ("type", "process"):
        if name not in record:
            raise InputError(source, line, name, "missing")
    kind = record["type"]
    if not (isinstance(kind, str) and kind in FAULT_TYPES):
        raise InputError(source, line, "type", f'a "{NEMESIS}" line is a fault or a heal, got {kind!r}')
    if record["process"] != NEMESIS or not isinstance(record["process"], str):
        raise InputError(source, line, "process", f'a {kind} line\'s process is "{NEMESIS}", got {record["process"]!r}')
    for name in FAULT_FIELDS:
        if name not in record:
            raise InputError(source, line, name, "missing")
    for name in ("index", "time"):
        if not _is_int(record[name]) or record[name] < 0:
            raise InputError(source, line, name, f"must be an integer >= 0, got {record[name]!r}")
    if not _is_int(record["fault"]) or record["fault"] < 0:
        raise InputError(source, line, "fault", f"must be the fault's number, an integer >= 0, got {record['fault']!r}")
    settings = {name: value for name, value in record.items() if name not in FAULT_FIELDS}
    if kind == "fault" and "kind" not in settings:
        raise InputError(source, line, "kind", "missing: a fault says what it is (partition, crash, pause, ...)")
    if "kind" in settings and (not isinstance(settings["kind"], str) or not settings["kind"]):
        raise InputError(source, line, "kind", f"must be a non-empty string, got {settings['kind']!r}")
    return FaultLine(record["index"], record["time"], kind, record["fault"], settings_text(settings), line)


class FaultBook:
    """The rules between fault lines: a fault's number starts one fault only, and a heal
    heals a fault a line before started, once. Holds two small maps, whatever the
    history's length."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.started: dict[int, int | None] = {}
        self.healed: dict[int, int | None] = {}

    def feed(self, fault: FaultLine, line: int | None) -> None:
        number = fault.fault
        if fault.type == "fault":
            if number in self.started:
                started = _at(self.started[number])
                raise InputError(self.source, line, "fault", f"fault {number} was already started{started}")
            self.started[number] = line
            return
        if number not in self.started:
            raise InputError(self.source, line, "fault", f"heals fault {number}, which no fault line before started")
        if number in self.healed:
            raise InputError(self.source, line, "fault", f"fault {number} was already healed{_at(self.healed[number])}")
        self.healed[number] = line


def place_problem(index: int, time: int | None, next_index: int, last_time: int | None) -> tuple[str, str] | None:
    """(field, why) when a line is out of the history's sequence or clock, which the
    operations and the faults share; else None."""
    if index != next_index:
        return "index", f"expected {next_index}, got {index}"
    if time is not None and last_time is not None and time < last_time:
        return "time", f"went back from {last_time} to {time}"
    return None


# ---------------------------------------------------------------------------------------
# Reading


def read_history_jsonl(
    path: str | os.PathLike[str],
    budget: Budget | None = None,
    *,
    functions: Collection[str] = FUNCTIONS,
    model: ShapeChecks | None = None,
    faults: list[FaultLine] | None = None,
) -> list[Event]:
    """Read and validate a `history.jsonl`, one line at a time; `f` must be one of
    `functions`, and each call and result is put to `model` when one is given. Fault and
    heal lines are checked and left out of the events; `faults`, when given, receives
    them in history order.

    Raises InputError naming the file, line and field of the first problem.
    """
    pairing = None if model is None else Pairing(os.fspath(path), model, wording=JSONL_WORDING, collect=False)
    return [event for _, event in iter_history_jsonl(path, budget, pairing, functions=functions, faults=faults)]


def iter_history_jsonl(
    path: str | os.PathLike[str],
    budget: Budget | None = None,
    pairing: Pairing | None = None,
    *,
    functions: Collection[str] = FUNCTIONS,
    faults: list[FaultLine] | None = None,
) -> Iterator[tuple[int, Event]]:
    """Yield (line number, event) for each line of a `history.jsonl` once it has passed
    every check, holding nothing but the open invokes: a history of any size streams.
    Spends `budget` per line (see `checkers.formats.text.numbered_lines`). Each event is
    paired in `pairing` when one is given (a reader collecting operations), else in one
    that only checks. Fault and heal lines are checked, never yielded (they are no
    operation), and appended to `faults` when it is given.

    Raises InputError naming the file, line and field of the first problem, whatever the
    bytes (see `decode_json_line`).
    """
    from checkers.formats.text import numbered_lines  # the formats package imports this one

    allowed = _in_schema_order(functions)
    source = os.fspath(path)
    validator = HistoryValidator(source, keep=False, pairing=pairing, faults=faults)
    for line_number, event in _events(numbered_lines(source, budget), source, allowed):
        validator.feed(event, line_number)
        if isinstance(event, Event):
            yield line_number, event


def _in_schema_order(functions: Collection[str]) -> tuple[str, ...]:
    """`functions` in a fixed order (messages list them; a set's order is not fixed): the
    schema's own first, then the others by name."""
    others = sorted(set(functions).difference(FUNCTIONS))
    return (*(f for f in FUNCTIONS if f in functions), *others)


def _events(
    lines: Iterable[tuple[int, str]], source: str, functions: tuple[str, ...]
) -> Iterator[tuple[int, Event | FaultLine]]:
    """Yield (line number, event or fault line) for each non-blank line; blank lines only
    at the end (see `_line_event`)."""
    blank_line: int | None = None
    for line_number, raw in lines:
        event = _line_event(raw, source, line_number, functions, blank_line)
        if event is None:
            blank_line = blank_line or line_number
            continue
        yield line_number, event


def _line_event(
    raw: str, source: str, line_number: int, functions: tuple[str, ...], blank_line: int | None
) -> Event | FaultLine | None:
    """The event (or fault line) of one line, None for a blank line; `blank_line` is the
    first blank line before it, if any (a line after it is an error: blank lines only at
    the end).

    A line written as `event_line` writes one (fields in their order, no spaces, no
    escapes) whose every field is valid on its own is read by one regular expression
    (`_fast_event`); any other line, valid or not, by the JSON decoder and the checks of
    `_event_from_record`, which name what is wrong. Both give the same event for a line
    both read."""
    event = _fast_event(raw, functions)
    if event is None:
        if not raw.strip():
            return None
        if blank_line is not None:
            raise InputError(source, blank_line, None, "blank line inside the history")
        record = decode_json_line(raw, source, line_number, _DECODER)
        if not isinstance(record, dict):
            raise InputError(source, line_number, None, "a line must be one JSON object")
        problem = text_problem(raw, record)
        if problem is not None:
            raise InputError(source, line_number, *problem)
        if is_fault_record(record):
            return fault_line_from_record(record, source, line_number)
        event = _event_from_record(record, source, line_number, functions)
    elif blank_line is not None:
        raise InputError(source, blank_line, None, "blank line inside the history")
    return event


def pair_history_jsonl(
    path: str | os.PathLike[str],
    budget: Budget | None,
    pairing: Pairing,
    *,
    functions: Collection[str] = FUNCTIONS,
    faults: list[FaultLine] | None = None,
) -> int:
    """Read a `history.jsonl` into `pairing` as `iter_history_jsonl` does, every check
    the same, without building its events; the number of events (fault and heal lines
    not counted: they go to `faults` when it is given).

    A line in the simulator's form (`_CANONICAL_LINE`) whose every field is valid, that
    keeps every rule between lines and whose call or result the model takes is paired
    here at once; any other line, and one of those that breaks a rule, is handed to the
    full reading (`_line_event`, `HistoryValidator.feed`), which takes it the same way or
    names its mistake. Nothing is changed before a line is known to pass, so the full
    reading starts from the state the line found."""
    from checkers.formats.text import numbered_lines  # the formats package imports this one

    allowed = _in_schema_order(functions)
    source = os.fspath(path)
    validator = HistoryValidator(source, keep=False, pairing=pairing, faults=faults)
    fast_functions = frozenset(allowed).intersection(FUNCTIONS)
    opens, crashed, done, collect = pairing._open, pairing._crashed, pairing._done, pairing.collect
    model = pairing.model
    call_problem = None if model is None else model.call_problem
    result_problem = None if model is None else model.result_problem
    fullmatch = _CANONICAL_LINE.fullmatch
    next_index, last_time = 0, -1
    events = 0
    blank_line: int | None = None
    for line_number, raw in numbered_lines(source, budget):
        match = fullmatch(raw)
        if match is not None and blank_line is None:
            (
                index,
                time_us,
                process,
                client,
                kind,
                f,
                key,
                null,
                number,
                pair_null,
                expected,
                new,
                revision,
                node,
                error,
            ) = match.groups()
            if (
                f in fast_functions
                and (error is None or (error and (kind == "fail" or kind == "info")))
                and (kind != "invoke" or (revision is None and node is None))
                and (
                    (number is not None or null is not None)
                    if f == "read" and kind == "ok"
                    else null is not None
                    if f == "read"
                    else number is not None
                    if f == "write"
                    else null is None and number is None  # cas: [expected, new]
                )
                and int(index) == next_index
                and int(time_us) >= last_time
            ):
                value: Value = (
                    None
                    if null is not None
                    else int(number)
                    if number is not None
                    else (None if pair_null is not None else int(expected), int(new))
                )
                time_us, process = int(time_us), int(process)
                if client is not None:
                    client = int(client)
                taken = False
                if kind == "invoke":
                    argument = None if f == "read" else value
                    if (
                        process not in opens
                        and process not in crashed
                        and (call_problem is None or call_problem(f, key, argument) is None)
                    ):
                        opens[process] = OpenCall(next_index, f, key, argument, time_us, line_number, client)
                        taken = True
                else:
                    opened = opens.get(process)
                    if (
                        opened is not None
                        and opened.f == f
                        and (opened.key is None or opened.key == key)
                        and (f == "read" or value == opened.input)
                        and (client is None or opened.client is None or client == opened.client)
                    ):
                        if kind == "ok":
                            output = value if f == "read" else True if f == "cas" else None
                            if result_problem is None or result_problem(f, output) is None:
                                del opens[process]
                                if collect:
                                    done.append((opened.position, process, opened, output, next_index, "ok", time_us))
                                taken = True
                        elif kind == "fail":  # read, write and cas observe nothing when they fail
                            del opens[process]
                            if collect and f == "cas" and error == COMPARE_FAILED:
                                done.append(
                                    (opened.position, process, opened, False, next_index, COMPARE_FAILED, time_us)
                                )
                            taken = True
                        else:
                            del opens[process]
                            crashed[process] = line_number
                            if collect:
                                done.append((opened.position, process, opened, None, None, "info", None))
                            taken = True
                if taken:
                    next_index += 1
                    last_time = time_us
                    events += 1
                    continue
        event = _line_event(raw, source, line_number, allowed, blank_line)
        if event is None:
            blank_line = blank_line or line_number
            continue
        validator.next_index, validator.last_time = next_index, None if last_time < 0 else last_time
        validator.feed(event, line_number)
        next_index = validator.next_index
        last_time = -1 if validator.last_time is None else validator.last_time
        events += isinstance(event, Event)
    return events


assert not set(FUNCTIONS).intersection(OBSERVING_FUNCTIONS), "pair_history_jsonl's fail is one that observes nothing"


_PLACE = re.compile(
    r'\{"index":(0|[1-9][0-9]{0,99}),"time":(0|[1-9][0-9]{0,99}),"process":[0-9]{1,100}'
    r'(?:,"client":[0-9]{1,100})?,"type":"(?:invoke|ok|fail|info)"'
)
"""The start of an operation line as the simulator writes it (a client's process, an
operation's type: no fault line): its place, read without decoding the line."""


def read_history_faults(path: str | os.PathLike[str], budget: Budget | None = None) -> list[FaultLine]:
    """The fault and heal lines of a `history.jsonl`, in history order, each checked as
    the full reading checks it: its own fields, `FaultBook`'s rules, and its place in the
    index and clock the operations share. Operation lines are read for their `index` and
    `time` only, whatever their `f`: this is how a report finds the faults of a history
    whose operations were read (and judged) already, with their workload's vocabulary,
    without knowing that vocabulary. Lines the simulator wrote are not even decoded.

    Raises InputError naming the file, line and field of the first problem it sees.
    """
    from checkers.formats.text import numbered_lines  # the formats package imports this one

    source = os.fspath(path)
    book = FaultBook(source)
    faults: list[FaultLine] = []
    next_index, last_time = 0, None
    for line_number, raw in numbered_lines(source, budget):
        match = _PLACE.match(raw)
        fault: FaultLine | None = None
        if match is not None:
            index, time_us = int(match.group(1)), int(match.group(2))
        elif not raw.strip():
            continue
        else:
            record = decode_json_line(raw, source, line_number, _DECODER)
            if not isinstance(record, dict):
                raise InputError(source, line_number, None, "a line must be one JSON object")
            if is_fault_record(record):
                problem = text_problem(raw, record)
                if problem is not None:
                    raise InputError(source, line_number, *problem)
                fault = fault_line_from_record(record, source, line_number)
            for name in ("index", "time"):
                if name not in record:
                    raise InputError(source, line_number, name, "missing")
                if not _is_int(record[name]) or record[name] < 0:
                    raise InputError(source, line_number, name, f"must be an integer >= 0, got {record[name]!r}")
            index, time_us = record["index"], record["time"]
        place = place_problem(index, time_us, next_index, last_time)
        if place is not None:
            raise InputError(source, line_number, *place)
        if fault is not None:
            book.feed(fault, line_number)
            faults.append(fault)
        next_index, last_time = index + 1, time_us
    return faults


_NATURAL = r"(0|[1-9][0-9]{0,99})"
_INTEGER = r"(-?(?:0|[1-9][0-9]{0,99}))"
_PLAIN_TEXT = r'([^"\\\x00-\x1f\x7f-\x9f]*)'  # no escape, quote or control character
_CANONICAL_LINE = re.compile(
    rf'\{{"index":{_NATURAL},"time":{_NATURAL},"process":{_NATURAL}(?:,"client":{_NATURAL})?,'
    rf'"type":"(invoke|ok|fail|info)","f":"(read|write|cas)","key":"{_PLAIN_TEXT}",'
    rf'"value":(?:(null)|{_INTEGER}|\[(?:(null)|{_INTEGER}),{_INTEGER}\])'
    rf'(?:,"revision":{_NATURAL})?(?:,"node":([1-9][0-9]{{0,99}}))?(?:,"error":"{_PLAIN_TEXT}")?\}}\r?\n?'
)


def _fast_event(raw: str, functions: tuple[str, ...]) -> Event | None:
    """The event of a line in the form `event_line` writes, when every field is valid
    on its own (as `_event_from_record` would find it); None for any other line, which
    the full reading then accepts or refuses with its reason."""
    match = _CANONICAL_LINE.fullmatch(raw)
    if match is None:
        return None
    (index, time_us, process, client, kind, f, key, null, number, pair_null, expected, new, revision, node, error) = (
        match.groups()
    )
    if f not in functions:
        return None
    value: Value
    if null is not None:
        value = None
    elif number is not None:
        value = int(number)
    else:
        value = (None if pair_null is not None else int(expected), int(new))
    if _value_problem(f, kind, list(value) if isinstance(value, tuple) else value) is not None:
        return None
    invoke = kind == "invoke"
    if (invoke and (revision is not None or node is not None)) or (error is not None and kind not in ("fail", "info")):
        return None
    if error == "":
        return None
    return Event(
        int(index),
        int(time_us),
        int(process),
        kind,
        f,
        key,
        value,
        None if revision is None else int(revision),
        None if node is None else int(node),
        error,
        None if client is None else int(client),
    )


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
    """How deep arrays and objects nest in `value` (0 for a scalar), without recursion;
    one past `MAX_DEPTH` at most. Level by level, containers only: a line of many small
    objects (an etcd page of kvs) costs one look at each of them."""
    depth, level = 0, [value] if isinstance(value, (dict, list)) else []
    while level and depth <= MAX_DEPTH:
        depth += 1
        below: list[Any] = []
        for item in level:
            below.extend(
                child
                for child in (item.values() if isinstance(item, dict) else item)
                if isinstance(child, (dict, list))
            )
        level = below
    return depth


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
    line costs one regular expression scan. Inside an etcd request or response, NUL
    (`"\\u0000"`) is allowed: etcd's keys are bytes, its `range_end` `"\\u0000"` means
    "every key from `key` on", and a client pages on with the last key plus NUL."""
    if ("\\" not in raw and "\x7f" not in raw and raw.isascii()) or _ESCAPED_TEXT.search(raw) is None:
        return None  # the first test is `_ESCAPED_TEXT`'s, without a scan of the line per character
    etcd = record.get("f") in ETCD_FUNCTIONS
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
            if etcd and name == "value":
                item = item.replace(ALL_KEYS_END, "")  # etcd's keys are bytes: see the docstring
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


def without_serializable_reads(events: Iterable[Event]) -> list[Event]:
    """`events` less the serializable reads (their invokes and completions): for judging a
    history whose serializable reads may be stale by the linearizability of the rest."""
    kept: list[Event] = []
    skipping: set[int] = set()
    for event in events:
        if event.type == "invoke":
            if event.serializable or getattr(event.value, "serializable", False):
                skipping.add(event.process)
                continue
        elif event.process in skipping:
            skipping.discard(event.process)
            continue
        kept.append(event)
    return kept


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
    if record["f"] in FUNCTIONS:
        problem = _value_problem(record["f"], record["type"], record["value"])
    elif record["f"] in ETCD_FUNCTIONS and isinstance(record["value"], dict):
        try:
            record = {**record, "value": parse_etcd_value(record["f"], record["type"], record["value"])}
        except ShapeError as error:
            name = "value" if error.field_path is None else f"value.{error.field_path}"
            raise InputError(source, line, name, error.message) from None
        problem = None
    else:
        value = record["value"]
        frozen: object
        if type(value) is list and _ATOMS.issuperset(map(type, value)):
            problem, frozen = None, tuple(value)  # flat, as a read-list's: one pass over it
        else:
            problem, frozen = _object_inside(value), _frozen(value)
        record = {**record, "value": frozen}
    if problem is not None:
        raise InputError(source, line, "value", problem)
    return Event(**record)


_ATOMS: Final = frozenset({int, str, float, bool, type(None)})
"""The types of JSON's scalars: a list of nothing else holds no object and freezes whole."""


def _object_inside(value: object) -> str | None:
    """Why a value of an `f` outside the schema cannot be held: an object has no order a
    model could rely on and no hashable form that writes back the same."""
    if isinstance(value, dict):
        return f"a JSON object is not an operation's value here; use an array, got {value!r}"
    if isinstance(value, list):
        return next((problem for item in value if (problem := _object_inside(item)) is not None), None)
    return None


def _frozen(value: object) -> object:
    """Arrays as tuples, at every depth: an operation's argument is hashable."""
    return tuple(_frozen(item) for item in value) if isinstance(value, list) else value


def _check_optional_fields(record: dict[str, Any], source: str, line: int) -> None:
    """revision and node come only with a node's answer; error only with fail or info."""
    is_invoke = record["type"] == "invoke"
    for name in ("revision", "node"):
        if is_invoke and name in record:
            raise InputError(source, line, name, "an invoke has no answer to carry it")
    if "serializable" in record:
        if not is_invoke:
            raise InputError(source, line, "serializable", "only an invoke says how it asks to be served")
        if record["serializable"] is not True:
            raise InputError(source, line, "serializable", f"must be true when present, got {record['serializable']!r}")
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
# Pairing calls with completions: the rules every format shares
#
# Every reader decides what each of its records *means* (a call; a completion that
# happened, that failed, or whose outcome is unknown); `Pairing` then pairs calls with
# completions per process and holds the rules all formats share:
#
# - a process runs one operation at a time: a call while its previous call is open is bad
#   input, and so is a completion when no call of its process is open;
# - a completion answers the open call of its process: the same `f`, the same key when
#   both name one, the same client when both name one, and, where the format repeats the
#   call's argument in the completion (`history.jsonl` does), the same argument;
# - a completion `info` means the outcome is unknown: the operation stays pending forever,
#   and its process never calls again (a client carries on under a new process id, as
#   Jepsen's do); after `ok` or `fail` the process may call again;
# - a call still open when the history ends is pending forever, like an `info`.
#
# Given a model, each call and result is also put to it (`ShapeChecks`), so that a string
# written to a register is reported where it stands. Every mistake is an InputError naming
# the file, the line and the field. The rules are one; the words are two (`Wording`):
# `history.jsonl` speaks of invokes and always knows its lines, the other formats speak of
# calls. Both are kept because people and scripts read those messages. The pairing lives
# here, beside `Operation`, because every reader and this module's own validation use it
# (a module of its own would import this one and be imported by it).


class ShapeChecks(Protocol):
    """What a pairing asks a model about each call and result (see `checkers.models`):
    (field, what is wrong) when the model cannot judge it, else None."""

    def call_problem(self, f: str, key: str | None, argument: Argument) -> tuple[str, str] | None: ...

    def result_problem(self, f: str, result: Argument) -> tuple[str, str] | None: ...


OUTCOMES = ("ok", COMPARE_FAILED, "info", "drop")
"""What a completion means: it happened (`ok`); a cas whose compare failed; the outcome is
unknown (`info`: pending forever); or it tells the checker nothing (`drop`: a definite
failure, or a result the format marks as unknown on a read)."""


@dataclass(frozen=True, slots=True)
class Wording:
    """How a format's mistakes are told: templates for `str.format`.

    Each template may use `process`, `kind` (the completion's own word for its type),
    `given` and `expected` (the completion's value of a field and the call's),
    `open_line` / `open_at` (the line of the open call: bare, or " on line N" and empty
    when unknown) and `info_line` / `info_at` (the same for the `info` that ended the
    process).
    """

    calls_again: str
    after_info: str
    no_open_call: str
    other_f: str
    other_key: str
    other_argument: str
    other_client: str


CALL_WORDING: Final = Wording(
    calls_again="process {process} calls again before its call{open_at} completed",
    after_info="process {process} ended with info{info_at} and cannot call again",
    no_open_call="completion without an open call of process {process}",
    other_f="{given} answers a {expected} call{open_at}",
    other_key="{given!r} answers a call on {expected!r}{open_at}",
    other_argument="{given!r} does not repeat the argument {expected!r} of its call{open_at}",
    other_client="client {given} answers a call of client {expected}{open_at}",
)
"""The words of the formats from elsewhere (Knossos/Jepsen EDN, Porcupine's logs and kv)."""

JSONL_WORDING: Final = Wording(
    calls_again="process {process} already has an invoke outstanding (line {open_line})",
    after_info="process {process} ended with info on line {info_line}; a client continues under a new id",
    no_open_call="{kind} without an outstanding invoke of process {process}",
    other_f="{given!r} does not match the invoke on line {open_line} ({expected!r})",
    other_key="{given!r} does not match the invoke on line {open_line} ({expected!r})",
    other_argument="{given!r} does not repeat the invoke's {expected!r} (line {open_line})",
    other_client="{given} differs from the invoke's {expected} (line {open_line})",
)
"""The words of our `history.jsonl` (see the README's schema), whose lines are all known."""


def _at(line: int | None) -> str:
    return "" if line is None else f" on line {line}"


@dataclass(slots=True)
class OpenCall:
    """A call waiting for its completion. `position` orders events (each reader's own
    counter: an index, a line, a record number)."""

    position: int
    f: str
    key: str | None
    input: Argument
    time_us: int | None
    line: int | None
    client: int | None


_Done = tuple[int, int, OpenCall, Argument, int | None, str, int | None]
"""(call position, process, the call, output, return position, status, return time)"""


@dataclass(slots=True)
class Pairing:
    """Collects calls and completions in history order; `operations()` gives the result.

    `field_prefix` spells field names the format's way (":value" in EDN). With `collect`
    False only the open calls are held (a reader that only validates a history of any
    size); `operations()` is then not available.
    """

    source: str
    model: ShapeChecks | None = None
    field_prefix: str = ""
    wording: Wording = CALL_WORDING
    collect: bool = True
    _open: dict[int, OpenCall] = field(default_factory=dict)
    _crashed: dict[int, int | None] = field(default_factory=dict)
    _done: list[_Done] = field(default_factory=list)

    def fail(self, line: int | None, name: str | None, message: str) -> InputError:
        return InputError(self.source, line, None if name is None else self.field_prefix + name, message)

    def call(
        self,
        position: int,
        process: int,
        f: str,
        key: str | None,
        argument: Argument,
        time_us: int | None,
        line: int | None,
        client: int | None = None,
    ) -> None:
        """A call of `process`; raises InputError when the process cannot call now, or
        when the model cannot judge the call."""
        if process in self._open:
            open_line = self._open[process].line
            raise self.fail(line, "process", self._words("calls_again", process, open_line=open_line))
        if process in self._crashed:
            info_line = self._crashed[process]
            raise self.fail(line, "process", self._words("after_info", process, info_line=info_line))
        if self.model is not None:
            problem = self.model.call_problem(f, key, argument)
            if problem is not None:
                raise self.fail(line, *problem)
        self._open[process] = OpenCall(position, f, key, argument, time_us, line, client)

    def complete(
        self,
        position: int,
        process: int,
        f: str,
        outcome: str,
        output: Argument,
        time_us: int | None,
        line: int | None,
        key: str | None = None,
        *,
        kind: str | None = None,
        client: int | None = None,
        repeated: Argument = None,
    ) -> OpenCall:
        """A completion of `process` meaning `outcome` (see `OUTCOMES`); returns the call
        it completes. `kind` is the format's word for the record's type, for messages;
        `key`, `client` and `repeated` (the call's argument as the completion repeats it)
        are None where the format's completions do not say them. Raises InputError when
        it answers no open call of its process, or when the model cannot judge its
        result."""
        assert outcome in OUTCOMES, outcome
        if process not in self._open:
            raise self.fail(line, "process", self._words("no_open_call", process, kind=kind or outcome))
        opened = self._open.pop(process)
        assert position > opened.position, (position, opened.position)  # see `_build_operations`
        self._check_answer(opened, process, f, line, key, client, repeated)
        assert outcome != COMPARE_FAILED or f == "cas", f  # see `_build_operations`
        if outcome == "info":
            self._crashed[process] = line
            if self.collect:
                self._done.append((opened.position, process, opened, None, None, "info", None))
            return opened
        if outcome == "drop":
            return opened
        if outcome == "ok" and self.model is not None:
            problem = self.model.result_problem(f, output)
            if problem is not None:
                raise self.fail(line, *problem)
        if self.collect:
            self._done.append((opened.position, process, opened, output, position, outcome, time_us))
        return opened

    def _check_answer(
        self,
        opened: OpenCall,
        process: int,
        f: str,
        line: int | None,
        key: str | None,
        client: int | None,
        repeated: Argument,
    ) -> None:
        """That a completion answers `opened`: the same f, and the same key, argument and
        client where both the call and the completion say them."""
        mismatch: tuple[str, str, object, object] | None = None
        if f != opened.f:
            mismatch = ("f", "other_f", f, opened.f)
        elif key is not None and opened.key is not None and key != opened.key:
            mismatch = ("key", "other_key", key, opened.key)
        elif repeated is not None and repeated != opened.input:
            mismatch = ("value", "other_argument", repeated, opened.input)
        elif client is not None and opened.client is not None and client != opened.client:
            mismatch = ("client", "other_client", client, opened.client)
        if mismatch is not None:
            name, template, given, expected = mismatch
            words = self._words(template, process, open_line=opened.line, given=given, expected=expected)
            raise self.fail(line, name, words)

    def _words(
        self,
        template: str,
        process: int,
        *,
        kind: str | None = None,
        open_line: int | None = None,
        info_line: int | None = None,
        given: object = None,
        expected: object = None,
    ) -> str:
        return str(getattr(self.wording, template)).format(
            process=process,
            kind=kind,
            given=given,
            expected=expected,
            open_line=open_line,
            open_at=_at(open_line),
            info_line=info_line,
            info_at=_at(info_line),
        )

    def operations(self) -> list[Operation]:
        """The operations, ordered by call, `id` being the position in that order. Calls
        still open at the end are pending forever, like an `info`."""
        assert self.collect, "a pairing that does not collect has no operations"
        for process, opened in sorted(self._open.items()):
            self._done.append((opened.position, process, opened, None, None, "info", None))
        self._open.clear()
        self._done.sort(key=itemgetter(0))
        operations = _build_operations(self._done)
        self._done.clear()
        return operations


_SETTERS: Final = tuple(getattr(Operation, name).__set__ for name in Operation.__slots__)
assert Operation.__slots__ == (
    *("id", "process", "client", "f", "key", "input", "output"),
    *("call", "ret", "status", "call_time_us", "return_time_us", "line"),
), "the order `_build_operations` sets them in"


def _build_operations(done: list[_Done]) -> list[Operation]:
    """An `Operation` for each of `done` (in that order, `id` its position), as
    `Operation(...)` would build it, but with its fields' own setters: a frozen
    dataclass's `__init__` sets each of its 13 fields through `object.__setattr__`, which
    took most of the time a reader of hundreds of thousands of operations spent after its
    lines (this takes about a third of it). The invariants `Operation.__post_init__`
    asserts are the pairing's own (a status of `OPERATION_STATUSES`, ret None exactly
    for `info`, a completion after its call, compare-failed only for a cas: see
    `Pairing.complete`), so they are not asserted again."""
    set_id, set_process, set_client, set_f, set_key, set_input, set_output = _SETTERS[:7]
    set_call, set_ret, set_status, set_call_time, set_return_time, set_line = _SETTERS[7:]
    new = object.__new__
    operations: list[Operation] = []
    append = operations.append
    for number, (call, process, opened, output, ret, status, return_time_us) in enumerate(done):
        operation = new(Operation)
        set_id(operation, number)
        set_process(operation, process)
        set_client(operation, opened.client)
        set_f(operation, opened.f)
        set_key(operation, opened.key)
        set_input(operation, opened.input)
        set_output(operation, output)
        set_call(operation, call)
        set_ret(operation, ret)
        set_status(operation, status)
        set_call_time(operation, opened.time_us)
        set_return_time(operation, return_time_us)
        set_line(operation, opened.line)
        append(operation)
    return operations


# ---------------------------------------------------------------------------------------
# Rules between lines


class HistoryValidator:
    """Checks the rules that span lines, one event at a time.

    Rules: `index` counts from 0 without gaps and `time` never decreases, over operation
    and fault lines alike; fault lines keep `FaultBook`'s rules; and the pairing of
    invokes with completions (`Pairing`, in the words of this schema): a process
    has at most one invoke outstanding; a completion answers the open invoke of its process
    with the same f and key (and, for write and cas, the same value; the same client when
    both name one); a process that ended with `info` never invokes again, because the
    client carries on under a new process id and the pending operation keeps the old one
    forever.
    """

    def __init__(
        self,
        source: str,
        keep: bool = True,
        pairing: Pairing | None = None,
        faults: list[FaultLine] | None = None,
    ) -> None:
        self.source = source
        self.keep = keep
        self.events: list[Event] = []
        """Every event fed, when `keep`; a streaming reader passes keep=False and holds
        only the open invokes."""
        self.next_index = 0
        self.last_time: int | None = None
        """The index the next event must have, and the time of the last one (None before
        the first): all the rules between lines need of the events before."""
        self.pairing = pairing if pairing is not None else Pairing(source, wording=JSONL_WORDING, collect=False)
        self.fault_book = FaultBook(source)
        self.faults = faults
        """Where fault and heal lines go once checked, when given; they never reach the
        pairing, so no checker of operations sees them."""

    def feed(self, event: Event | FaultLine, line: int) -> None:
        problem = place_problem(event.index, event.time, self.next_index, self.last_time)
        if problem is not None:
            raise InputError(self.source, line, *problem)
        if isinstance(event, FaultLine):
            self.fault_book.feed(event, line)
            if self.faults is not None:
                self.faults.append(event)
        else:
            pair_event(self.pairing, event, line)
            if self.keep:
                self.events.append(event)
        self.next_index, self.last_time = event.index + 1, event.time


def pair_event(pairing: Pairing, event: Event, line: int | None) -> OpenCall | None:
    """Hand one event to `pairing` with its meaning (see the module docstring); for a
    completion, return the invoke it completes. Raises InputError for an event that breaks
    the pairing's rules."""
    if event.type == "invoke":
        argument = None if event.f == "read" else event.value
        pairing.call(event.index, event.process, event.f, event.key, argument, event.time, line, event.client)
        return None
    outcome: str
    output: Argument
    if event.type == "ok":
        outcome, output = "ok", _ok_output(event)
    elif event.type == "fail" and event.f in OBSERVING_FUNCTIONS and event.error in OBSERVED_ERRORS:
        outcome, output = "ok", ErrorResult(OBSERVED_ERRORS[event.error], event.error)
    elif event.type == "fail":
        outcome, output = (COMPARE_FAILED if event.f == "cas" and event.error == COMPARE_FAILED else "drop"), False
    else:
        outcome, output = "info", None
    return pairing.complete(
        event.index,
        event.process,
        event.f,
        outcome,
        output,
        event.time,
        line,
        event.key,
        kind=event.type,
        client=event.client,
        repeated=event.value if event.f in ("write", "cas") else None,
    )


def _ok_output(event: Event) -> Argument:
    """What an ok returns to the model: a read its value, a cas that it applied, a write
    nothing; an `f` outside the schema returns the value its ok carries."""
    if event.f not in FUNCTIONS:
        return event.value
    return {"read": event.value, "cas": True}.get(event.f)


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

    Expects events that passed validation (an InputError otherwise). Operations come out
    ordered by call, `id` being the position in that order; their `line` is None, as
    events in memory have none.
    """
    pairing = Pairing("<events>")
    for event in events:
        pair_event(pairing, event, None)
    return pairing.operations()


def invoke_lines(history: Iterable[Event]) -> dict[str, int]:
    """Request id -> the history line of its invoke. A client names its requests
    `c<slot>-<n>`, n counting the operations it invoked from 1: the n-th invoke of that
    `client` in the history (line = index + 1)."""
    counts: dict[int, int] = {}
    lines: dict[str, int] = {}
    for event in history:
        if event.type != "invoke" or event.client is None:
            continue
        counts[event.client] = counts.get(event.client, 0) + 1
        lines[f"c{event.client}-{counts[event.client]}"] = event.index + 1
    return lines
