"""Read and validate `trace.jsonl`, the world's record of a run.

A trace can hold a million lines, so an event stays the plain dict `json.loads` returns: the
checkers read it by key and nothing is copied. Validation is shallow on purpose: each line
is checked for the fields its `ev` requires and for their JSON types, and `t` must never go
backwards. Whether the events make sense together (a crashed node appending, an apply that
skips an index) is not the reader's business; that is what the checkers judge, and they
report it as an anomaly rather than refusing the file.

Extra fields are allowed so that the trace may grow without breaking old readers; an
unknown `ev` is not, because a checker that silently skips a kind of event it does not
understand could miss the very event that shows a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checkers.errors import InputError
from checkers.history import decode_json_line, text_problem

if TYPE_CHECKING:
    from checkers.budget import Budget

TraceEvent = dict[str, Any]
"""One trace line as parsed: `t` and `ev` plus the fields the README lists for that kind."""

PHASES = ("safety", "heal", "liveness", "final-reads", "end")
ROLES = ("follower", "pre-candidate", "candidate", "leader")
DROP_REASONS = ("loss", "cut", "cut-in-flight", "crashed", "inbox-full")
_MISSING = object()

Check = Callable[[Any], bool]


def _is_node_list(value: Any) -> bool:
    return all(type(node) is int for node in value)


def _is_entry_list(value: Any) -> bool:
    """Every element a `[term, digest]` pair: the one per-element check on the hot path;
    entries lists are short except in `restart`, which is rare."""
    for entry in value:
        if type(entry) is not list or len(entry) != 2:
            return False
        if type(entry[0]) is not int or type(entry[1]) is not str:
            return False
    return True


def _is_clients(value: Any) -> bool:
    # The README leaves the shape of `clients` open: a count or a list of slot ids.
    return type(value) is int or (type(value) is list and _is_node_list(value))


@dataclass(frozen=True, slots=True)
class _Field:
    """A required field: its JSON type (None: any), an optional deeper check, and the
    words an error uses for what was expected. `bool` is a subclass of `int` in Python,
    so types are compared with `is`: `true` is not a number in the schema."""

    name: str
    json_type: type | None
    description: str
    deeper: Check | None = None


def _int(name: str) -> _Field:
    return _Field(name, int, "an integer")


def _str(name: str) -> _Field:
    return _Field(name, str, "a string")


def _message_id(name: str) -> _Field:
    return _Field(name, int, "a positive integer (a message id)", _is_positive)


def _is_positive(value: int) -> bool:
    return value > 0


def _entries(name: str) -> _Field:
    return _Field(name, list, "a list of [term, digest] pairs", _is_entry_list)


# ev -> the fields every event of that kind must carry.
_REQUIRED: dict[str, tuple[_Field, ...]] = {
    "start": (
        _Field("scenario", None, "present"),
        _int("seed"),
        _Field("nodes", list, "a list of node ids", _is_node_list),
        _Field("clients", None, "a client count or a list of client ids", _is_clients),
    ),
    "phase": (_str("phase"),),
    "role": (_int("node"), _str("role"), _int("term"), _int("leader")),
    "hard_state": (_int("node"), _int("term"), _int("vote"), _int("commit")),
    "append": (_int("node"), _int("index"), _entries("entries")),
    "apply": (_int("node"), _int("index"), _entries("entries")),
    "ack": (
        _int("node"),
        _str("client"),
        _str("request"),
        _int("index"),
        _int("term"),
        _str("digest"),
    ),
    "crash": (_int("node"),),
    "restart": (_int("node"), _int("term"), _int("vote"), _int("commit"), _entries("log")),
    # Snapshots: a node's own of its applied state (its log compacted up to `compacted`),
    # and one installed from the leader (its log replaced up to `index`).
    "snapshot": (_int("node"), _int("index"), _int("term"), _int("compacted")),
    "snapshot-install": (_int("node"), _int("index"), _int("term")),
    # A cluster restored from a backup: every member of `nodes` starts from its snapshot.
    "restore": (
        _Field("nodes", list, "a list of node ids", _is_node_list),
        _int("index"),
        _int("term"),
        _int("revision"),
        _int("keys"),
    ),
    "pause": (_int("node"),),
    "resume": (_int("node"),),
    # A real cluster's (`targets.etcd`): its member processes, with no Raft state to show.
    "started": (_int("node"),),
    "member-removed": (_int("node"),),
    "member-added": (_int("node"),),
    # Disk faults (`sim.disk`): a write cut by a crash, a torn tail dropped at restart, a
    # record whose checksum failed (the node stays down), a write or restart refused.
    "torn": (_int("node"), _str("record")),
    "repair": (_int("node"), _str("record")),
    "corrupt": (_int("node"), _str("record")),
    "disk-full": (_int("node"), _str("refused")),
    # Membership changes in the simulator: proposed by a leader, applied by each node.
    "conf-propose": (_int("node"), _int("term"), _int("index"), _str("change")),
    "conf-apply": (
        _int("node"),
        _int("index"),
        _str("change"),
        _Field("voters", list, "a list of node ids", _is_node_list),
        _Field("learners", list, "a list of node ids", _is_node_list),
    ),
    "fault": (_str("kind"),),
    "heal": (_str("kind"),),
    "clock": (_int("id"), _Field("nodes", list, "a list of node ids", _is_node_list)),
    "msg": (_message_id("id"), _int("node"), _int("to"), _str("type"), _int("term")),
    "recv": (_message_id("id"), _int("node"), _int("from")),
    "drop": (_message_id("id"), _int("node"), _int("from"), _str("reason")),
    "lease-expire": (_int("node"), _int("lease"), _int("term"), _str("request")),
    "lease-revoked": (_int("node"), _int("lease"), _str("request")),
    "end": (),
}


def read_trace_jsonl(path: str | Path, budget: Budget | None = None) -> list[TraceEvent]:
    """Read and validate a whole trace file; raise `InputError` at the first bad line."""
    return list(iter_trace_file(path, budget))


def iter_trace_file(path: str | Path, budget: Budget | None = None) -> Iterator[TraceEvent]:
    """Stream a trace file's events, validated: whatever its bytes (not UTF-8, a folder, a
    pipe), a problem is an InputError naming the file and line (see
    `checkers.formats.text.numbered_lines`)."""
    from checkers.formats.text import numbered_lines

    source = str(path)
    yield from _iter_numbered(numbered_lines(source, budget), source, from_file=True)


def iter_trace_lines(lines: Iterable[str], path: str = "<trace>") -> Iterator[TraceEvent]:
    """Validate trace lines one by one (1-based line numbers in errors).

    Yields each event as soon as it is checked, so a caller may stream a file it does not
    want to hold; `path` only names the source in error messages. A text stream whose
    bytes are not UTF-8 is an InputError too (its line is the first one not yet read:
    a text stream decodes in blocks, so `iter_trace_file` tells the exact line).
    """
    yield from _iter_numbered(_numbered(lines, path), path, from_file=False)


def _numbered(lines: Iterable[str], path: str) -> Iterator[tuple[int, str]]:
    iterator = iter(lines)
    line_number = 0
    while True:
        try:
            line = next(iterator)
        except StopIteration:
            return
        except UnicodeDecodeError as error:
            raise _not_utf8(lines, path, line_number, error) from None
        line_number += 1
        yield line_number, line


def _not_utf8(lines: Iterable[str], path: str, read: int, error: UnicodeDecodeError) -> InputError:
    """A text stream decodes in blocks, so the line its error surfaced on may be before
    the bad bytes: a stream read from a file is read again as bytes to name the line and
    column exactly."""
    name = getattr(lines, "name", None)
    if isinstance(name, str):
        from checkers.formats.text import numbered_lines

        try:
            for _ in numbered_lines(name):
                pass
        except InputError as exact:
            return InputError(path, exact.line, exact.field, exact.message)
    return InputError(path, None, None, f"not UTF-8 text after line {read} ({error.reason})")


def _iter_numbered(lines: Iterable[tuple[int, str]], path: str, *, from_file: bool) -> Iterator[TraceEvent]:
    previous_time_us = None
    nodes: frozenset[int] | None = None
    for line_number, line in lines:
        event = _parse_line(line, path, line_number, from_file)
        time_us = event["t"]
        if previous_time_us is not None and time_us < previous_time_us:
            raise InputError(path, line_number, "t", f"time went backwards: {time_us} < {previous_time_us}")
        previous_time_us = time_us
        _check_fields(event, path, line_number)
        if event["ev"] == "start":
            nodes = frozenset(event["nodes"])
        elif event["ev"] == "member-added" and nodes is not None:
            nodes = nodes | {event["node"]}  # a node that joined mid-run (checked an int above)
        elif nodes is not None and "node" in event:
            _check_known_node(event["node"], nodes, path, line_number)
            if "from" in event:
                _check_known_node(event["from"], nodes, path, line_number, "from")
        yield event


def _check_known_node(node: Any, nodes: frozenset[int], path: str, line_number: int, field: str = "node") -> None:
    # Every kind that carries a node is checked, `fault` included, whose per-kind fields
    # the schema leaves loose: hence the type test before the membership test.
    if type(node) is not int or node not in nodes:
        raise InputError(path, line_number, field, f"node {node!r} is not in start.nodes")


def _parse_line(line: str, path: str, line_number: int, from_file: bool) -> TraceEvent:
    event = decode_json_line(line, path, line_number, from_file=from_file)
    if type(event) is not dict:
        raise InputError(path, line_number, None, "a trace line must be a JSON object")
    problem = text_problem(line, event)
    if problem is not None:
        raise InputError(path, line_number, *problem)
    time_us = event.get("t")
    if type(time_us) is not int:
        raise InputError(path, line_number, "t", f"must be an integer, got {time_us!r}")
    return event


def _check_fields(event: TraceEvent, path: str, line_number: int) -> None:
    kind = event.get("ev")
    required = _REQUIRED.get(kind) if type(kind) is str else None
    if required is None:
        raise InputError(path, line_number, "ev", f"unknown event kind {kind!r}")
    for field in required:
        value = event.get(field.name, _MISSING)
        if value is _MISSING:
            raise InputError(path, line_number, field.name, f"missing on a {kind!r} event")
        if (field.json_type is not None and type(value) is not field.json_type) or (
            field.deeper is not None and not field.deeper(value)
        ):
            raise InputError(path, line_number, field.name, f"must be {field.description}, got {_short(value)}")
    if kind == "phase":
        _check_phase(event, path, line_number)
    elif kind == "role" and event["role"] not in ROLES:
        raise InputError(path, line_number, "role", f"unknown role {event['role']!r}")
    elif kind == "drop" and event["reason"] not in DROP_REASONS:
        raise InputError(path, line_number, "reason", f"unknown drop reason {event['reason']!r}")


def _short(value: Any, limit: int = 80) -> str:
    """A value for an error message; a restart's log may hold thousands of entries."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_phase(event: TraceEvent, path: str, line_number: int) -> None:
    phase = event["phase"]
    if phase not in PHASES:
        raise InputError(path, line_number, "phase", f"unknown phase {phase!r}")
    if phase == "liveness":
        bound_us = event.get("leader_bound_us")
        if type(bound_us) is not int or bound_us < 0:
            raise InputError(
                path,
                line_number,
                "leader_bound_us",
                f"a liveness phase needs a non-negative integer bound, got {bound_us!r}",
            )


def restart_snapshot(event: TraceEvent) -> tuple[int, int]:
    """The (index, term) of the snapshot a `restart` event's node started from, (0, 0) if
    none: its `log` holds the entries after that index."""
    snapshot = event.get("snapshot")
    if snapshot is None:
        return 0, 0
    index, term = snapshot
    return int(index), int(term)
