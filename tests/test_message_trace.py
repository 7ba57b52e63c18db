"""Message tracing (`trace_messages`) as the input of a message sequence diagram: every
traced send gets an id, and every copy of it an outcome (`recv` or `drop`); turning it on
must not change the run in any other way."""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from tests_support import shortened

from checkers.errors import InputError
from checkers.liveness import check_liveness
from checkers.raft_safety import check_raft_safety
from checkers.trace import DROP_REASONS, iter_trace_lines, read_trace_jsonl
from checkers.verdict import CheckerResult, Verdict
from scenarios.model import Scenario
from scenarios.resolve import resolve
from sim.world import RunResult, run_scenario

MESSAGE_LINE = re.compile(r'^\{"t":\d+,"ev":"(?:msg|recv|drop)",')
SEND_TIME_REASONS = frozenset({"loss", "cut"})

# Each scenario, shortened, with the drop reasons its faults must produce: random loss,
# partitions (cut at send or in flight), and crashes (a crashed host discards arrivals).
SCENARIOS = {
    "lossy-links": {"loss"},
    "partition-leader": {"cut"},
    "crash-restart": {"crashed"},
}


@functools.cache
def scenario(name: str) -> Scenario:
    return resolve(shortened(name, duration_ms=6000, quiet_ms=3000))


@functools.cache
def run(name: str, trace_messages: bool) -> RunResult:
    return run_scenario(dataclasses.replace(scenario(name), trace_messages=trace_messages))


def events_of(result: RunResult) -> list[dict[str, Any]]:
    return list(iter_trace_lines(result.trace_text.splitlines()))


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_tracing_changes_nothing_but_the_message_lines(name: str) -> None:
    quiet, loud = run(name, False), run(name, True)
    loud_lines = loud.trace_text.splitlines()
    kept = [line for line in loud_lines if not MESSAGE_LINE.match(line)]
    assert len(kept) < len(loud_lines), "no message was traced"
    assert not any(MESSAGE_LINE.match(line) for line in quiet.trace_text.splitlines())
    assert kept == quiet.trace_text.splitlines(), "tracing messages changed the run"
    assert loud.history_text == quiet.history_text
    assert loud.stats == {**quiet.stats, "trace_events": len(loud_lines)}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_message_has_an_outcome_unless_the_run_ended_first(name: str) -> None:
    events = events_of(run(name, True))
    sent: dict[int, dict[str, Any]] = {}
    outcomes: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        if event["ev"] == "msg":
            assert event["id"] == len(sent) + 1, "ids count sends from 1 without gaps"
            sent[event["id"]] = event
        elif event["ev"] in ("recv", "drop"):
            message = sent[event["id"]]  # an outcome never comes before its send
            assert (event["node"], event["from"]) == (message["to"], message["node"])
            outcomes[event["id"]].append(event)
    assert sent and outcomes
    for message_id, lines in outcomes.items():
        reasons = [line.get("reason") for line in lines]
        assert 1 <= len(lines) <= 2, f"message {message_id} has {len(lines)} outcomes"
        if any(reason in SEND_TIME_REASONS for reason in reasons):
            assert len(lines) == 1 and lines[0]["t"] == sent[message_id]["t"], (message_id, lines)
    unanswered = set(sent) - set(outcomes)
    end_us, delay_us = events[-1]["t"], max_delay_us(name)
    assert all(sent[message_id]["t"] > end_us - delay_us for message_id in unanswered), (
        "a message sent well before the end has no outcome"
    )


def max_delay_us(name: str) -> int:
    """The longest a copy can be in flight: link faults change loss and duplication only."""
    network = scenario(name).network
    return network.latency_us + network.jitter_us


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_expected_drop_reasons_occur(name: str) -> None:
    reasons = {event["reason"] for event in events_of(run(name, True)) if event["ev"] == "drop"}
    assert SCENARIOS[name] <= reasons <= set(DROP_REASONS)


def test_a_crashed_node_receives_nothing_and_only_it_drops_as_crashed() -> None:
    down: set[int] = set()
    crashed_drops = 0
    for event in events_of(run("crash-restart", True)):
        kind = event["ev"]
        if kind in ("crash", "restart"):
            (down.add if kind == "crash" else down.discard)(event["node"])
        elif kind == "recv":
            assert event["node"] not in down, event
        elif kind == "drop" and event["reason"] == "crashed":
            assert event["node"] in down, event
            crashed_drops += 1
    assert crashed_drops > 0


def test_lossy_links_deliver_some_messages_twice() -> None:
    received: dict[int, int] = defaultdict(int)
    for event in events_of(run("lossy-links", True)):
        if event["ev"] == "recv":
            received[event["id"]] += 1
    assert 2 in received.values(), "duplication should show as two recv lines with one id"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_checkers_ignore_message_events(name: str) -> None:
    quiet, loud = events_of(run(name, False)), events_of(run(name, True))
    assert strip_event_count(check_raft_safety(loud)) == strip_event_count(check_raft_safety(quiet))
    assert check_liveness(loud, []) == check_liveness(quiet, [])


def strip_event_count(result: CheckerResult) -> CheckerResult:
    """The safety checker counts the lines it read; everything else must agree."""
    stats = {key: value for key, value in (result.stats or {}).items() if key != "events"}
    return dataclasses.replace(result, stats=stats)


def test_message_events_do_not_hide_an_anomaly() -> None:
    """A trace with two leaders of one term stays invalid when messages are interleaved."""
    lines = [
        {"t": 0, "ev": "start", "scenario": "s", "seed": 1, "nodes": [1, 2, 3], "clients": 0},
        {"t": 1, "ev": "phase", "phase": "safety"},
        {"t": 2, "ev": "role", "node": 1, "role": "leader", "term": 1, "leader": 1},
        {"t": 3, "ev": "msg", "id": 1, "node": 1, "to": 2, "type": "heartbeat", "term": 1},
        {"t": 4, "ev": "recv", "id": 1, "node": 2, "from": 1},
        {"t": 5, "ev": "drop", "id": 1, "node": 2, "from": 1, "reason": "cut-in-flight"},
        {"t": 6, "ev": "role", "node": 2, "role": "leader", "term": 1, "leader": 2},
    ]
    events = list(iter_trace_lines(json.dumps(line) for line in lines))
    assert check_raft_safety(events).verdict is Verdict.INVALID


START = '{"t": 0, "ev": "start", "scenario": "s", "seed": 1, "nodes": [1, 2, 3], "clients": 2}'
GOOD_MESSAGE = '{"t": 5, "ev": "msg", "id": 1, "node": 1, "to": 2, "type": "vote", "term": 1}'


@pytest.mark.parametrize(
    ("line", "field", "words"),
    [
        ('{"t": 5, "ev": "msg", "node": 1, "to": 2, "type": "vote", "term": 1}', "id", "missing"),
        ('{"t": 5, "ev": "msg", "id": 0, "node": 1, "to": 2, "type": "vote", "term": 1}', "id", "positive"),
        ('{"t": 5, "ev": "recv", "id": "1", "node": 2, "from": 1}', "id", "positive integer"),
        ('{"t": 5, "ev": "recv", "id": 1, "node": 2}', "from", "missing"),
        ('{"t": 5, "ev": "recv", "id": 1, "node": 2, "from": 7}', "from", "not in start.nodes"),
        ('{"t": 5, "ev": "recv", "id": 1, "node": 7, "from": 1}', "node", "not in start.nodes"),
        ('{"t": 5, "ev": "drop", "id": 1, "node": 2, "from": 1}', "reason", "missing"),
        (
            '{"t": 5, "ev": "drop", "id": 1, "node": 2, "from": 1, "reason": "gremlins"}',
            "reason",
            "unknown drop reason",
        ),
    ],
)
def test_reader_checks_message_events(tmp_path: Path, line: str, field: str, words: str) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_text(f"{START}\n{GOOD_MESSAGE}\n{line}\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_trace_jsonl(path)
    assert (caught.value.line, caught.value.field) == (3, field)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_reader_accepts_every_drop_reason(tmp_path: Path) -> None:
    lines = [START, GOOD_MESSAGE, '{"t": 6, "ev": "recv", "id": 1, "node": 2, "from": 1}']
    lines += [
        f'{{"t": 7, "ev": "drop", "id": 1, "node": 2, "from": 1, "reason": "{reason}"}}' for reason in DROP_REASONS
    ]
    path = tmp_path / "trace.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    assert [event["ev"] for event in read_trace_jsonl(path)][-3:] == ["drop"] * 3


def test_fast_message_lines_equal_the_general_encoder() -> None:
    from raftcore.types import MessageType
    from sim.trace import Trace

    fast, general = Trace(lambda: 9), Trace(lambda: 9)
    for number, kind in enumerate(MessageType, start=1):
        fields = {
            "node": 1,
            "to": 2,
            "type": kind.value,
            "term": 3,
            "index": 4,
            "log_term": 2,
            "entries": number,
            "commit": 1,
            "reject": number % 2 == 0,
        }
        fast.emit_message(number, *fields.values())
        general.emit("msg", id=number, **fields)
    for reason in (None, *DROP_REASONS):
        fast.emit_outcome(7, 2, 1, reason)
        extra = {} if reason is None else {"reason": reason}
        general.emit("recv" if reason is None else "drop", **{"id": 7, "node": 2, "from": 1, **extra})
    assert fast.text() == general.text()
