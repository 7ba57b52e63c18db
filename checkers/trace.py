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

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from checkers.errors import InputError

TraceEvent = dict[str, Any]
"""One trace line as parsed: `t` and `ev` plus the fields the README lists for that kind."""

PHASES = ("safety", "heal", "liveness", "final-reads", "end")
ROLES = ("follower", "pre-candidate", "candidate", "leader")

Check = Callable[[Any], bool]


def _is_int(value: Any) -> bool:
    # bool is a subclass of int in Python but `true` is not a number in the schema.
    return type(value) is int


def _is_str(value: Any) -> bool:
    return type(value) is str


def _is_node_list(value: Any) -> bool:
    return type(value) is list and all(type(node) is int for node in value)


def _is_entry_list(value: Any) -> bool:
    """A list of `[term, digest]` pairs; this is the one per-element check on the hot path,
    and entries lists are short except in `restart`, which is rare."""
    if type(value) is not list:
        return False
    for entry in value:
        if type(entry) is not list or len(entry) != 2:
            return False
        if type(entry[0]) is not int or type(entry[1]) is not str:
            return False
    return True


def _is_clients(value: Any) -> bool:
    # The README leaves the shape of `clients` open: a count or a list of slot ids.
    return _is_int(value) or _is_node_list(value)


def _is_any(value: Any) -> bool:
    return True


_INT: tuple[str, Check] = ("an integer", _is_int)
_STR: tuple[str, Check] = ("a string", _is_str)
_ENTRIES: tuple[str, Check] = ("a list of [term, digest] pairs", _is_entry_list)

# ev -> ((field, (description, check)), ...): the fields every event of that kind must carry.
_REQUIRED: dict[str, tuple[tuple[str, tuple[str, Check]], ...]] = {
    "start": (
        ("scenario", ("present", _is_any)),
        ("seed", _INT),
        ("nodes", ("a list of node ids", _is_node_list)),
        ("clients", ("a client count or a list of client ids", _is_clients)),
    ),
    "phase": (("phase", _STR),),
    "role": (("node", _INT), ("role", _STR), ("term", _INT), ("leader", _INT)),
    "hard_state": (("node", _INT), ("term", _INT), ("vote", _INT), ("commit", _INT)),
    "append": (("node", _INT), ("index", _INT), ("entries", _ENTRIES)),
    "apply": (("node", _INT), ("index", _INT), ("entries", _ENTRIES)),
    "ack": (
        ("node", _INT),
        ("process", _INT),
        ("request", ("present", _is_any)),
        ("index", _INT),
        ("term", _INT),
        ("digest", _STR),
    ),
    "crash": (("node", _INT),),
    "restart": (
        ("node", _INT),
        ("term", _INT),
        ("vote", _INT),
        ("commit", _INT),
        ("log", _ENTRIES),
    ),
    "pause": (("node", _INT),),
    "resume": (("node", _INT),),
    "fault": (("kind", _STR),),
    "heal": (("kind", _STR),),
    "end": (),
}

KNOWN_EVENTS = frozenset(_REQUIRED)


def read_trace_jsonl(path: str | Path) -> list[TraceEvent]:
    """Read and validate a whole trace file; raise `InputError` at the first bad line."""
    with open(path, encoding="utf-8") as stream:
        return list(iter_trace_lines(stream, str(path)))


def iter_trace_lines(lines: Iterable[str], path: str = "<trace>") -> Iterator[TraceEvent]:
    """Validate trace lines one by one (1-based line numbers in errors).

    Yields each event as soon as it is checked, so a caller may stream a file it does not
    want to hold; `path` only names the source in error messages.
    """
    previous_time_us = None
    nodes: frozenset[int] | None = None
    for line_number, line in enumerate(lines, start=1):
        event = _parse_line(line, path, line_number)
        time_us = event["t"]
        if previous_time_us is not None and time_us < previous_time_us:
            raise InputError(
                path, line_number, "t", f"time went backwards: {time_us} < {previous_time_us}"
            )
        previous_time_us = time_us
        _check_fields(event, path, line_number)
        if event["ev"] == "start":
            nodes = frozenset(event["nodes"])
        elif nodes is not None and "node" in event:
            _check_known_node(event["node"], nodes, path, line_number)
        yield event


def _check_known_node(node: Any, nodes: frozenset[int], path: str, line_number: int) -> None:
    # Every kind that carries a node is checked, `fault` included, whose per-kind fields
    # the schema leaves loose: hence the type test before the membership test.
    if type(node) is not int or node not in nodes:
        raise InputError(path, line_number, "node", f"node {node!r} is not in start.nodes")


def _parse_line(line: str, path: str, line_number: int) -> TraceEvent:
    try:
        event = json.loads(line)
    except json.JSONDecodeError as error:
        raise InputError(path, line_number, None, f"not valid JSON: {error.msg}") from None
    if type(event) is not dict:
        raise InputError(path, line_number, None, "a trace line must be a JSON object")
    time_us = event.get("t")
    if not _is_int(time_us):
        raise InputError(path, line_number, "t", f"must be an integer, got {time_us!r}")
    return event


def _check_fields(event: TraceEvent, path: str, line_number: int) -> None:
    kind = event.get("ev")
    required = _REQUIRED.get(kind) if type(kind) is str else None
    if required is None:
        raise InputError(path, line_number, "ev", f"unknown event kind {kind!r}")
    for field, (description, check) in required:
        if field not in event:
            raise InputError(path, line_number, field, f"missing on a {kind!r} event")
        if not check(event[field]):
            raise InputError(
                path, line_number, field, f"must be {description}, got {event[field]!r}"
            )
    if kind == "phase":
        _check_phase(event, path, line_number)
    elif kind == "role" and event["role"] not in ROLES:
        raise InputError(path, line_number, "role", f"unknown role {event['role']!r}")


def _check_phase(event: TraceEvent, path: str, line_number: int) -> None:
    phase = event["phase"]
    if phase not in PHASES:
        raise InputError(path, line_number, "phase", f"unknown phase {phase!r}")
    if phase == "liveness":
        bound_us = event.get("leader_bound_us")
        if not _is_int(bound_us) or bound_us < 0:
            raise InputError(
                path,
                line_number,
                "leader_bound_us",
                f"a liveness phase needs a non-negative integer bound, got {bound_us!r}",
            )
