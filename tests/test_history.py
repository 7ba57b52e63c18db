"""history.jsonl: reading, validation errors that point at file/line/field, writing, and the
mapping from events to operations."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkers.errors import InputError
from checkers.history import (
    _DECODER,
    COMPARE_FAILED,
    FUNCTIONS,
    Event,
    _event_from_record,
    _fast_event,
    decode_json_line,
    event_line,
    operations_from_events,
    read_history_jsonl,
    validate_events,
    write_history_jsonl,
)


def line(index: int, process: int, type_: str, f: str, value=None, **extra) -> dict:
    record = {"index": index, "time": 10 * index, "process": process, "type": type_, "f": f, "key": "x", "value": value}
    record.update(extra)
    return record


GOOD = [
    line(0, 1, "invoke", "write", 3, client=0),
    line(1, 2, "invoke", "read", None, client=1),
    line(2, 1, "ok", "write", 3, client=0, revision=2, node=1),
    line(3, 2, "ok", "read", 3, client=1, revision=2, node=2),
    line(4, 1, "invoke", "cas", [3, 4], client=0),
    line(5, 1, "fail", "cas", [3, 4], client=0, error="compare-failed", revision=3, node=1),
    line(6, 2, "invoke", "write", 5, client=1),
    line(7, 2, "info", "write", 5, client=1, error="timeout"),
    line(8, 3, "invoke", "read", None, client=1),
]


def write_lines(path: Path, records: list, *, tail: str = "\n") -> Path:
    text = "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records)
    path.write_text(text + tail, encoding="utf-8")
    return path


def test_reads_a_good_history(tmp_path: Path) -> None:
    events = read_history_jsonl(write_lines(tmp_path / "h.jsonl", GOOD))
    assert len(events) == len(GOOD)
    assert events[5] == Event(
        5, 50, 1, "fail", "cas", "x", (3, 4), revision=3, node=1, error="compare-failed", client=0
    )
    assert events[3].value == 3 and events[1].value is None


def test_blank_trailing_lines_and_missing_final_newline_are_fine(tmp_path: Path) -> None:
    assert len(read_history_jsonl(write_lines(tmp_path / "a", GOOD, tail="\n\n  \n"))) == 9
    assert len(read_history_jsonl(write_lines(tmp_path / "b", GOOD, tail=""))) == 9


def test_empty_file_is_an_empty_history(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("")
    assert read_history_jsonl(tmp_path / "empty") == []


def replace(position: int, /, **changes) -> list:
    records = [dict(record) for record in GOOD]
    for name, new_value in changes.items():
        if new_value is _DROP:
            del records[position][name]
        else:
            records[position][name] = new_value
    return records


_DROP = object()

BAD_CASES = [
    # (records, line, field, words in the message)
    (replace(0, index=1), 1, "index", "expected 0"),
    (replace(3, index=4), 4, "index", "expected 3"),
    (replace(3, time=5), 4, "time", "went back"),
    (replace(0, time=-1), 1, "time", ">= 0"),
    (replace(0, time=1.5), 1, "time", "integer"),
    (replace(0, process=True), 1, "process", "integer"),
    (replace(0, type="done"), 1, "type", "invoke, ok, fail, info"),
    (replace(0, f="append"), 1, "f", "read, write, cas"),
    (replace(0, key=7), 1, "key", "string"),
    (replace(0, key=_DROP), 1, "key", "missing"),
    (replace(0, value=_DROP), 1, "value", "missing"),
    (replace(0, colour="red"), 1, "colour", "unknown field"),
    (replace(0, client=-1), 1, "client", ">= 0"),
    (replace(2, node=0), 3, "node", ">= 1"),
    (replace(2, revision="2"), 3, "revision", "integer"),
    (replace(0, revision=1), 1, "revision", "invoke"),
    (replace(2, error="oops"), 3, "error", "only fail and info"),
    (replace(7, error=""), 8, "error", "non-empty"),
    (replace(0, value="3"), 1, "value", "integer"),
    (replace(1, value=0), 2, "value", "null"),
    (replace(3, value=[3]), 4, "value", "integer or null"),
    (replace(4, value=[3, 4, 5]), 5, "value", "[expected, new]"),
    (replace(4, value=[3, None]), 5, "value", "[expected, new]"),
    (replace(2, value=4), 3, "value", "does not repeat"),
    (replace(2, f="read", value=None), 3, "f", "does not match"),
    (replace(2, key="y"), 3, "key", "does not match"),
    (replace(2, client=5), 3, "client", "differs"),
    (replace(1, process=1), 2, "process", "already has an invoke outstanding (line 1)"),
    (replace(2, process=9), 3, "process", "without an outstanding invoke"),
    (replace(8, process=2), 9, "process", "ended with info on line 8"),
]


@pytest.mark.parametrize(("records", "line_number", "field", "words"), BAD_CASES)
def test_each_mistake_names_file_line_and_field(
    tmp_path: Path,
    records: list,
    line_number: int,
    field: str,
    words: str,
) -> None:
    path = write_lines(tmp_path / "bad.jsonl", records)
    with pytest.raises(InputError) as caught:
        read_history_jsonl(path)
    error = caught.value
    assert (error.path, error.line, error.field) == (str(path), line_number, field)
    assert words in error.message
    assert str(error).startswith(f"{path}:{line_number}: {field}: ")
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    ("text", "line_number", "words"),
    [
        ('{"index": 0,\n', 1, "not valid JSON"),
        ("[1, 2]\n", 1, "one JSON object"),
        (json.dumps(GOOD[0]) + "\n\n" + json.dumps(GOOD[1]) + "\n", 2, "blank line"),
        (json.dumps(GOOD[0]) + '\n{"index": 1, "ti', 2, "truncated"),
        ('{"index": 0, "index": 0}\n', 1, "given twice"),
    ],
)
def test_broken_lines(tmp_path: Path, text: str, line_number: int, words: str) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_history_jsonl(path)
    assert caught.value.line == line_number
    assert words in str(caught.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_history_jsonl(tmp_path / "missing.jsonl")
    (tmp_path / "latin1").write_bytes(b'{"key": "\xe9"}\n')
    with pytest.raises(InputError, match="UTF-8"):
        read_history_jsonl(tmp_path / "latin1")


def test_input_error_message_shapes() -> None:
    assert str(InputError("f.jsonl", 3, "time", "went back")) == "f.jsonl:3: time: went back"
    assert str(InputError("f.jsonl", None, "f", "bad")) == "f.jsonl: f: bad"
    assert str(InputError("f.jsonl", 2, None, "bad")) == "f.jsonl:2: bad"
    assert str(InputError(Path("d") / "f", message="gone")) == str(Path("d") / "f") + ": gone"
    copy = pickle.loads(pickle.dumps(InputError("f", 1, "x", "y")))
    assert (copy.path, copy.line, copy.field, copy.message) == ("f", 1, "x", "y")


def test_write_is_compact_ordered_and_round_trips(tmp_path: Path) -> None:
    events = read_history_jsonl(write_lines(tmp_path / "in.jsonl", GOOD))
    out = tmp_path / "out.jsonl"
    write_history_jsonl(out, events)
    assert read_history_jsonl(out) == events
    first = out.read_text().splitlines()[5]
    assert first == (
        '{"index":5,"time":50,"process":1,"client":0,"type":"fail","f":"cas",'
        '"key":"x","value":[3,4],"revision":3,"node":1,"error":"compare-failed"}'
    )
    # A null value is an observation ("absent"), so it is written, unlike absent fields.
    assert event_line(Event(0, 0, 1, "invoke", "read", "k")) == (
        '{"index":0,"time":0,"process":1,"type":"invoke","f":"read","key":"k","value":null}\n'
    )
    again = tmp_path / "again.jsonl"
    write_history_jsonl(again, read_history_jsonl(out))
    assert again.read_bytes() == out.read_bytes()


def test_write_refuses_what_would_not_read_back(tmp_path: Path) -> None:
    events = [Event(0, 0, 1, "invoke", "write", "x", 1), Event(2, 1, 1, "ok", "write", "x", 1)]
    with pytest.raises(InputError) as caught:
        write_history_jsonl(tmp_path / "h.jsonl", events)
    assert (caught.value.line, caught.value.field) == (2, "index")
    assert not (tmp_path / "h.jsonl").exists()
    with pytest.raises(InputError, match="value"):
        validate_events([Event(0, 0, 1, "invoke", "write", "x", None)])


def test_event_accepts_a_list_for_a_cas_value() -> None:
    event = Event(0, 0, 1, "invoke", "cas", "x", [1, 2])  # type: ignore[arg-type]
    assert event.value == (1, 2)
    assert hash(event) == hash(Event(0, 0, 1, "invoke", "cas", "x", (1, 2)))


def test_operations_from_events_mapping(tmp_path: Path) -> None:
    records = [
        *GOOD,
        line(9, 1, "invoke", "write", 6),
        line(10, 1, "fail", "write", 6, error="not-leader"),
        line(11, 1, "invoke", "cas", [None, 1]),
        line(12, 1, "fail", "cas", [None, 1], error="timeout-before-send"),
    ]
    events = read_history_jsonl(write_lines(tmp_path / "h.jsonl", records))
    ops = operations_from_events(events)
    summary = [(o.id, o.process, o.f, o.input, o.output, o.call, o.ret, o.status) for o in ops]
    assert summary == [
        (0, 1, "write", 3, None, 0, 2, "ok"),
        (1, 2, "read", None, 3, 1, 3, "ok"),
        (2, 1, "cas", (3, 4), False, 4, 5, COMPARE_FAILED),
        (3, 2, "write", 5, None, 6, None, "info"),
        # Never completed: pending forever, like an info.
        (4, 3, "read", None, None, 8, None, "info"),
    ]
    # Plain failures are gone: they certainly had no effect and observed nothing.
    assert all(o.call not in (9, 11) for o in ops)
    assert ops[0].call_time_us == 0 and ops[0].return_time_us == 20
    assert ops[3].pending and ops[3].return_time_us is None
    assert ops[0].client == 0 and ops[3].client == 1
    assert ops[2].to_json()["input"] == [3, 4]


def test_operation_invariants_are_asserted() -> None:
    from checkers.history import Operation

    with pytest.raises(AssertionError):
        Operation(0, 1, None, "read", "x", None, 1, call=5, ret=3, status="ok")
    with pytest.raises(AssertionError):
        Operation(0, 1, None, "write", "x", 1, None, call=1, ret=None, status="ok")
    with pytest.raises(AssertionError):
        Operation(0, 1, None, "write", "x", 1, None, call=1, ret=2, status=COMPARE_FAILED)


def test_streaming_reader_gives_the_same_operations(tmp_path: Path) -> None:
    from checkers.formats.jsonl import read_jsonl_operations

    records = [*GOOD, line(9, 1, "invoke", "write", 6), line(10, 1, "fail", "write", 6, error="not-leader")]
    path = write_lines(tmp_path / "h.jsonl", records)
    streamed = read_jsonl_operations(path)
    assert streamed == operations_from_events(read_history_jsonl(path))
    # The line of each call is kept for people; equality ignores it.
    assert [op.line for op in streamed] == [1, 2, 5, 7, 9]
    assert streamed[0].to_json()["line"] == 1
    assert "line" not in operations_from_events(read_history_jsonl(path))[0].to_json()


def test_streaming_validator_keeps_no_events(tmp_path: Path) -> None:
    from checkers.history import HistoryValidator, iter_history_jsonl

    path = write_lines(tmp_path / "h.jsonl", GOOD)
    assert [number for number, _ in iter_history_jsonl(path)] == list(range(1, 10))
    validator = HistoryValidator("x", keep=False)
    for number, event in enumerate(read_history_jsonl(path), start=1):
        validator.feed(event, number)
    assert validator.events == []
    with pytest.raises(InputError, match="expected 9, got 0"):
        validator.feed(read_history_jsonl(path)[0], 10)


def test_a_model_rejects_what_it_cannot_judge_by_line(tmp_path: Path) -> None:
    from checkers.formats.jsonl import read_jsonl_operations
    from checkers.models import get_model

    path = write_lines(tmp_path / "h.jsonl", GOOD)
    with pytest.raises(InputError) as caught:
        read_jsonl_operations(path, get_model("register"))
    # The first cas is on line 5: a register without cas cannot judge it.
    assert (caught.value.line, caught.value.field) == (5, "f")
    assert "no 'cas'" in caught.value.message
    with pytest.raises(InputError) as caught:
        read_jsonl_operations(path, get_model("kv"))
    assert (caught.value.line, caught.value.field) == (1, "f")


# ---------------------------------------------------------------------------------------
# One pairing for every format: the same history breaks the same rule at the same place


PAIRING_CASES = [
    # (process, type, f, value) per event; the line and field of the first broken rule, or
    # the statuses of the operations when no rule is broken
    ([(0, "invoke", "write", 1), (0, "invoke", "write", 2)], (2, "process")),  # calls again
    ([(0, "invoke", "write", 1), (1, "ok", "write", 1)], (2, "process")),  # answers nothing
    ([(0, "invoke", "write", 1), (0, "info", "write", 1), (0, "invoke", "write", 1)], (3, "process")),
    ([(0, "invoke", "write", 1), (0, "ok", "read", 1)], (2, "f")),  # answers another f
    # A process may call again after ok or fail (the failed write is dropped); a call
    # still open at the end is pending.
    ([(0, "invoke", "write", 1), (0, "ok", "write", 1), (0, "invoke", "write", 2), (0, "fail", "write", 2)], ["ok"]),
    ([(0, "invoke", "write", 1), (1, "invoke", "write", 2), (1, "ok", "write", 2)], ["info", "ok"]),
]


def _as_jsonl(path: Path, steps: list[tuple]) -> Path:
    records = [
        line(index, process, kind, f, None if f == "read" and kind != "ok" else value)
        for index, (process, kind, f, value) in enumerate(steps)
    ]
    return write_lines(path, records)


def _as_edn(path: Path, steps: list[tuple]) -> Path:
    maps = [f"{{:process {process}, :type :{kind}, :f :{f}, :value {value}}}" for process, kind, f, value in steps]
    path.write_text("[" + "\n".join(maps) + "]\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("steps", "expected"), PAIRING_CASES)
def test_every_format_pairs_by_the_same_rules(tmp_path: Path, steps: list[tuple], expected: object) -> None:
    from checkers.formats import read_operations

    for reader, prefix in ((_as_jsonl, ""), (_as_edn, ":")):
        path = reader(tmp_path / f"history{prefix}", steps)
        if isinstance(expected, list):
            assert [op.status for op in read_operations(path)] == expected
            continue
        line_number, field = expected  # type: ignore[misc]
        with pytest.raises(InputError) as caught:
            read_operations(path)
        assert (caught.value.line, caught.value.field) == (line_number, prefix + field)


# ---------------------------------------------------------------------------------------
# The regular expression for lines in the simulator's own form reads what the decoder reads


@st.composite
def written_lines(draw: st.DrawFn) -> str:
    """A line as `event_line` writes it, valid or not on its own: any key text, values
    of any shape for any f and type, optional fields where they may or may not stand."""
    f = draw(st.sampled_from(("read", "write", "cas")))
    kind = draw(st.sampled_from(("invoke", "ok", "fail", "info")))
    number = st.integers(-3, 10**20)
    value = draw(st.one_of(st.none(), number, st.tuples(st.one_of(st.none(), number), number)))
    optional = st.one_of(st.none(), st.integers(-1, 10**20))
    event = Event(
        draw(st.integers(0, 10**20)),
        draw(st.integers(0, 10**20)),
        draw(st.integers(0, 10**20)),
        kind,
        f,
        draw(st.one_of(st.sampled_from(("k", "k0", "clé")), st.text(max_size=4))),
        value,
        draw(optional),
        draw(optional),
        draw(st.one_of(st.none(), st.sampled_from(("", "timeout")), st.text(max_size=3))),
        draw(optional),
    )
    return event_line(event)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(line=written_lines())
def test_the_fast_reading_of_a_line_gives_the_event_the_full_reading_gives(line: str) -> None:
    fast = _fast_event(line, FUNCTIONS)
    slow = _full_event(line)
    if fast is not None:
        assert fast == slow


def _full_event(line: str) -> Event | None:
    """The event the decoder and `_event_from_record` read from the line, or None when
    they refuse it."""
    try:
        return _event_from_record(decode_json_line(line, "h", 1, _DECODER), "h", 1, FUNCTIONS)
    except InputError:
        return None


def test_lines_the_simulator_writes_take_the_fast_reading() -> None:
    lines = [
        event_line(Event(0, 5, 1, "invoke", "cas", "k0", (None, 3), client=0)),
        event_line(Event(1, 6, 1, "ok", "cas", "k0", (None, 3), revision=4, node=2, client=0)),
        event_line(Event(2, 7, 2, "invoke", "read", "clé", None)),
        event_line(Event(3, 8, 2, "info", "read", "clé", None, error="timeout")),
    ]
    for line in lines:
        fast = _fast_event(line, FUNCTIONS)
        assert fast is not None, line
        assert fast == _full_event(line)
    refused = event_line(Event(0, 5, 1, "invoke", "read", "k", 3))
    assert _fast_event(refused, FUNCTIONS) is None
    assert _fast_event(lines[0], ("read", "write")) is None


# ---------------------------------------------------------------------------------------
# The reader of operations pairs lines in the simulator's form at once: the same
# operations, or the same first error, as the reading of events


@st.composite
def histories(draw: st.DrawFn) -> list[str]:
    """Lines of a history as the simulator writes them, most of them keeping the rules,
    some breaking one (a process calling twice, a completion of another f, key, value or
    client, a gap in the index, time going back, a value of the wrong shape, a field
    written another way, a blank line)."""
    lines: list[str] = []
    open_calls: dict[int, Event] = {}
    time_us = 0
    for index in range(draw(st.integers(1, 14))):
        time_us += draw(st.sampled_from((0, 1, 5, -1))) if index else 0
        process = draw(st.integers(0, 3))
        opened = open_calls.get(process)
        if opened is None or draw(st.integers(0, 9)) == 0:
            f = draw(st.sampled_from(("read", "write", "cas", "append")))
            value = {"read": None, "write": index, "cas": (draw(st.sampled_from((None, 1))), index)}.get(f, index)
            event = Event(index, max(time_us, 0), process, "invoke", f, "k", value, client=process)
            open_calls[process] = event
        else:
            kind = draw(st.sampled_from(("ok", "ok", "fail", "info")))
            value = draw(st.sampled_from((opened.value, 7, None))) if opened.f == "read" else opened.value
            error = {"fail": draw(st.sampled_from(("timeout", COMPARE_FAILED))), "info": "timeout"}.get(kind)
            event = Event(
                index,
                max(time_us, 0),
                process,
                kind,
                draw(st.sampled_from((opened.f, opened.f, "write"))),
                draw(st.sampled_from(("k", "k", "other"))),
                value,
                revision=None if kind == "info" else 3,
                node=None if kind == "info" else 1,
                error=error,
                client=draw(st.sampled_from((process, process, None, 9))),
            )
            del open_calls[process]
        text = event_line(event)
        mutation = draw(st.integers(0, 30))
        if mutation == 0:
            text = json.dumps(event.to_json()) + "\n"  # spaces: read by the decoder
        elif mutation == 1:
            text = text.replace('"index":', '"index":1', 1)
        elif mutation == 2:
            text = "\n"
        elif mutation == 3:
            text = text.replace('"value":null', '"value":[1,2]')
        elif mutation == 4:
            text = text.replace('"client":', '"node":', 1)
        lines.append(text)
    return lines


def _outcome(read) -> object:
    try:
        return read()
    except InputError as error:
        return (error.path, error.line, error.field, error.message)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(lines=histories(), model_name=st.sampled_from((None, "register", "cas-register")))
def test_the_reader_of_operations_reads_as_the_reader_of_events(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str], model_name: str | None
) -> None:
    from checkers.history import JSONL_WORDING, Pairing, iter_history_jsonl, pair_history_jsonl
    from checkers.models import get_model

    path = tmp_path_factory.mktemp("h") / "history.jsonl"
    path.write_text("".join(lines), encoding="utf-8")
    model = None if model_name is None else get_model(model_name)
    functions = (*FUNCTIONS, "append")

    def by_events() -> list:
        pairing = Pairing(str(path), model, wording=JSONL_WORDING)
        for _ in iter_history_jsonl(path, None, pairing, functions=functions):
            pass
        return [(op, op.line) for op in pairing.operations()]

    def at_once() -> list:
        pairing = Pairing(str(path), model, wording=JSONL_WORDING)
        pair_history_jsonl(path, None, pairing, functions=functions)
        return [(op, op.line) for op in pairing.operations()]

    assert _outcome(at_once) == _outcome(by_events)


def test_operations_built_at_once_are_the_operations_built_one_by_one(tmp_path: Path) -> None:
    from checkers.formats.jsonl import read_jsonl_operations
    from checkers.history import Operation

    records = [*GOOD, line(9, 1, "invoke", "write", 6), line(10, 1, "fail", "write", 6, error="not-leader")]
    for operation in read_jsonl_operations(write_lines(tmp_path / "h.jsonl", records)):
        fields = {name: getattr(operation, name) for name in Operation.__slots__}
        again = Operation(**fields)
        assert again == operation and hash(again) == hash(operation) and again.line == operation.line
        assert repr(again) == repr(operation)
