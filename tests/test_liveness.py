"""The liveness checker: a usable leader within the bound after the heal, and progress of
every live client, on traces and histories built by hand."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from checkers.history import Event, read_history_jsonl, write_history_jsonl
from checkers.liveness import check_liveness
from checkers.trace import read_trace_jsonl
from checkers.verdict import Verdict

LIVENESS_US = 10_000
BOUND_US = 1_000
FINAL_READS_US = 20_000


def event(t: int, kind: str, **fields: Any) -> dict[str, Any]:
    return {"t": t, "ev": kind, **fields}


def role(t: int, node: int, name: str, term: int, leader: int = 0) -> dict[str, Any]:
    return event(t, "role", node=node, role=name, term=term, leader=leader)


def trace(*middle: dict[str, Any], final_reads: bool = True) -> list[dict[str, Any]]:
    """start, safety phase with node 1 leading term 1, then `middle` (events of any time),
    with the heal, liveness and final-reads phases slotted in by time."""
    events = [
        event(0, "start", scenario="test", seed=1, nodes=[1, 2, 3], clients=2),
        event(0, "phase", phase="safety"),
        role(100, 1, "leader", 1, 1),
        event(LIVENESS_US - 500, "phase", phase="heal"),
        event(LIVENESS_US, "phase", phase="liveness", leader_bound_us=BOUND_US),
        *middle,
    ]
    if final_reads:
        events.append(event(FINAL_READS_US, "phase", phase="final-reads"))
    events.append(event(FINAL_READS_US + 1_000, "end"))
    # Stable sort: events at one time keep the order they were given in.
    return sorted(events, key=lambda item: item["t"])


class History:
    """Builds history events; `op` records an invoke and, unless `outcome` is None, its
    completion."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def add(self, time_us: int, process: int, kind: str, client: int | None) -> None:
        self.events.append(
            Event(
                index=len(self.events),
                time=time_us,
                process=process,
                type=kind,
                f="write",
                key="x",
                value=1,
                client=client,
                error="timeout" if kind == "info" else None,
            )
        )

    def op(self, client: int, invoke_us: int, outcome: str | None, done_us: int, process: int | None = None) -> History:
        process = client if process is None else process
        self.add(invoke_us, process, "invoke", client)
        if outcome is not None:
            self.add(done_us, process, outcome, client)
        return self

    def sorted(self) -> list[Event]:
        """The events in time order, renumbered as a history file numbers them."""
        ordered = sorted(self.events, key=lambda item: item.time)
        return [dataclasses.replace(item, index=number) for number, item in enumerate(ordered)]


def busy_clients() -> History:
    history = History()
    history.op(0, 500, "ok", 600).op(1, 700, "info", 900)
    history.op(0, LIVENESS_US + 100, "ok", LIVENESS_US + 200)
    # After its info, client 1 continues under a new process id, as the README requires.
    history.op(1, LIVENESS_US + 150, "ok", LIVENESS_US + 400, process=11)
    return history


def anomaly_properties(result: dict[str, Any]) -> list[str]:
    return [anomaly["property"] for anomaly in result.found]


# -- good runs -------------------------------------------------------------------------


def test_leader_from_before_the_heal_counts_and_clients_progress() -> None:
    result = check_liveness(trace(), busy_clients().sorted())
    assert result.verdict is Verdict.VALID, result.found
    stats = result.stats
    assert stats["time_to_leader_us"] == 0 and stats["leader"] == 1
    assert stats["live_clients"] == 2
    assert stats["clients"]["0"]["ok"] == 1 and stats["clients"]["1"]["ok"] == 1
    assert json.loads(json.dumps(result.to_json())) == result.to_json()


def test_new_leader_within_the_bound_is_timed() -> None:
    events = trace(
        event(LIVENESS_US - 100, "crash", node=1),
        role(LIVENESS_US + 300, 2, "candidate", 2),
        role(LIVENESS_US + 600, 2, "leader", 2, 2),
    )
    result = check_liveness(events, busy_clients().sorted())
    assert result.verdict is Verdict.VALID, result.found
    assert result.stats["time_to_leader_us"] == 600
    assert (result.stats["leader"], result.stats["leader_term"]) == (2, 2)


def test_idle_client_is_not_judged_and_plain_dicts_are_accepted() -> None:
    history = [
        {"time": 500, "process": 5, "client": 5, "type": "invoke"},
        {"time": 600, "process": 5, "client": 5, "type": "ok"},
    ]
    result = check_liveness(trace(), history)
    assert result.verdict is Verdict.VALID
    assert result.stats["live_clients"] == 0
    assert result.stats["clients"]["5"]["live"] is False


# -- no leader -------------------------------------------------------------------------


def test_no_leader_after_the_heal() -> None:
    events = trace(
        event(LIVENESS_US - 100, "crash", node=1),
        event(LIVENESS_US - 50, "restart", node=1, term=1, vote=1, commit=0, log=[]),
        role(LIVENESS_US + 300, 2, "candidate", 2),
    )
    result = check_liveness(events, busy_clients().sorted())
    assert anomaly_properties(result) == ["leader"]
    assert "no node is leader; highest term is 2" in result.found[0]["message"]
    assert result.stats["time_to_leader_us"] is None


def test_leader_only_at_a_crashed_node() -> None:
    events = trace(event(LIVENESS_US - 10, "crash", node=1))
    result = check_liveness(events, busy_clients().sorted())
    assert anomaly_properties(result) == ["leader"]
    assert "node 1 of term 1 (crashed)" in result.found[0]["message"]
    assert result.stats["time_to_leader_us"] is None


def test_leader_lost_for_good_during_the_phase() -> None:
    """A leader at the phase's start is not enough if it vanishes and nobody replaces it."""
    events = trace(event(LIVENESS_US + 10, "crash", node=1))
    result = check_liveness(events, busy_clients().sorted())
    assert anomaly_properties(result) == ["leader"]
    anomaly = result.found[0]
    assert anomaly["leaderless_from_us"] == LIVENESS_US + 10
    assert anomaly["leaderless_until_us"] is None
    assert "to the end of the trace" in anomaly["message"]
    assert "node 1 of term 1 (crashed)" in anomaly["message"]
    assert result.stats["time_to_leader_us"] == 0


def test_short_reelection_during_the_phase_is_fine_long_one_is_not() -> None:
    def run(gap_us: int) -> dict[str, Any]:
        crash_us = LIVENESS_US + 100
        events = trace(event(crash_us, "crash", node=1), role(crash_us + gap_us, 2, "leader", 2, 2))
        return check_liveness(events, busy_clients().sorted())

    assert run(BOUND_US).verdict is Verdict.VALID
    assert run(BOUND_US).stats["longest_leaderless_us"] == BOUND_US
    late = run(BOUND_US + 1)
    assert anomaly_properties(late) == ["leader"]
    assert late.found[0]["leaderless_until_us"] == LIVENESS_US + 100 + BOUND_US + 1


def test_leader_only_at_a_paused_node() -> None:
    events = trace(event(LIVENESS_US - 10, "pause", node=1))
    result = check_liveness(events, busy_clients().sorted())
    assert "node 1 of term 1 (paused)" in result.found[0]["message"]
    events = trace(event(LIVENESS_US - 10, "pause", node=1), event(LIVENESS_US + 10, "resume", node=1))
    assert check_liveness(events, busy_clients().sorted()).verdict is Verdict.VALID


def test_stale_leader_of_an_older_term_does_not_count() -> None:
    events = trace(event(LIVENESS_US - 10, "hard_state", node=3, term=2, vote=3, commit=0))
    result = check_liveness(events, busy_clients().sorted())
    assert anomaly_properties(result) == ["leader"]
    assert "stale, highest term is 2" in result.found[0]["message"]


def test_leader_too_late_is_reported_with_the_measured_time() -> None:
    events = trace(event(LIVENESS_US - 100, "crash", node=1), role(LIVENESS_US + BOUND_US + 250, 2, "leader", 2, 2))
    result = check_liveness(events, busy_clients().sorted())
    anomaly = result.found[0]
    assert anomaly["property"] == "leader"
    assert anomaly["leaderless_us"] == BOUND_US + 250
    assert "came 1.25 ms after the liveness phase began (bound 1 ms)" in anomaly["message"]
    assert result.stats["time_to_leader_us"] == BOUND_US + 250


def test_trace_ending_before_the_bound_without_leader_fails() -> None:
    events = [
        event(0, "start", scenario="test", seed=1, nodes=[1, 2, 3], clients=0),
        event(10, "phase", phase="liveness", leader_bound_us=BOUND_US),
        event(20, "end"),
    ]
    result = check_liveness(events, [])
    assert anomaly_properties(result) == ["leader"]


def test_trace_without_liveness_phase_is_not_valid() -> None:
    events = [
        event(0, "start", scenario="test", seed=1, nodes=[1], clients=0),
        role(5, 1, "leader", 1, 1),
        event(9, "end"),
    ]
    result = check_liveness(events, [])
    assert result.verdict is Verdict.INVALID
    assert result.found[0]["message"] == "trace has no liveness phase"
    assert result.found[0]["t"] == 9


# -- clients ---------------------------------------------------------------------------


def test_client_that_never_completes_in_the_liveness_phase() -> None:
    history = busy_clients().op(2, LIVENESS_US + 50, None, 0)
    result = check_liveness(trace(), history.sorted())
    assert anomaly_properties(result) == ["client-progress"]
    anomaly = result.found[0]
    assert anomaly["client"] == 2 and anomaly["pending"] == 1
    assert anomaly["phase"] == "liveness" and anomaly["t"] == FINAL_READS_US
    assert anomaly["message"] == (
        "client 2 had no operation answered in the liveness phase (invoked 1: "
        "0 failed, 0 of unknown outcome, 1 never completed)"
    )


def test_client_stuck_since_before_the_phase_is_live_and_fails() -> None:
    history = busy_clients().op(2, LIVENESS_US - 50, None, 0)
    result = check_liveness(trace(), history.sorted())
    assert [anomaly["client"] for anomaly in result.found] == [2]


def test_client_with_only_failures_and_timeouts_fails() -> None:
    history = busy_clients()
    history.op(2, LIVENESS_US + 10, "info", LIVENESS_US + 90)
    history.op(2, LIVENESS_US + 100, "fail", LIVENESS_US + 190, process=12)
    result = check_liveness(trace(), history.sorted())
    anomaly = result.found[0]
    assert (anomaly["client"], anomaly["info"], anomaly["fail"], anomaly["ok"]) == (2, 1, 1, 0)


def test_ok_counts_only_if_invoked_in_phase_and_done_before_final_reads() -> None:
    history = busy_clients()
    history.op(2, LIVENESS_US - 10, "ok", LIVENESS_US + 10)  # invoked before the phase
    history.op(3, FINAL_READS_US - 10, "ok", FINAL_READS_US + 10, process=13)  # done too late
    result = check_liveness(trace(), history.sorted())
    assert sorted(anomaly["client"] for anomaly in result.found) == [2, 3]
    result = check_liveness(trace(final_reads=False), history.sorted())
    assert [anomaly["client"] for anomaly in result.found] == [2]


def test_process_stands_for_a_missing_client_slot() -> None:
    history = History().op(None, LIVENESS_US + 10, None, 0, process=42)  # type: ignore[arg-type]
    result = check_liveness(trace(), history.sorted())
    assert result.found[0]["client"] == 42


def test_files_read_back_give_the_same_verdict(tmp_path: Path) -> None:
    history = busy_clients().op(2, LIVENESS_US + 50, None, 0).sorted()
    trace_path, history_path = tmp_path / "trace.jsonl", tmp_path / "history.jsonl"
    trace_path.write_text("".join(json.dumps(item) + "\n" for item in trace()))
    write_history_jsonl(history_path, history)
    from_files = check_liveness(read_trace_jsonl(trace_path), read_history_jsonl(history_path))
    assert from_files == check_liveness(trace(), history)
    assert anomaly_properties(from_files) == ["client-progress"]


def test_a_node_paused_then_crashed_is_running_after_restart() -> None:
    """A crash ends a pause: the restarted process is a new one, and may lead."""
    events = [
        {"t": 0, "ev": "start", "scenario": "s", "seed": 1, "nodes": [1], "clients": 0},
        {"t": 0, "ev": "phase", "phase": "safety"},
        {"t": 1, "ev": "pause", "node": 1},
        {"t": 2, "ev": "crash", "node": 1},
        {"t": 3, "ev": "phase", "phase": "heal"},
        {"t": 3, "ev": "restart", "node": 1, "term": 1, "vote": 1, "commit": 0, "log": []},
        {"t": 3, "ev": "phase", "phase": "liveness", "leader_bound_us": 100},
        {"t": 50, "ev": "role", "node": 1, "role": "leader", "term": 2, "leader": 1},
        {"t": 200, "ev": "phase", "phase": "final-reads"},
        {"t": 200, "ev": "end"},
    ]
    result = check_liveness(events, [])
    assert result.verdict is Verdict.VALID, result.found


def test_a_cas_answered_compare_failed_is_progress() -> None:
    history = busy_clients()
    history.add(LIVENESS_US + 10, 2, "invoke", 2)
    history.events.append(
        Event(
            index=len(history.events),
            time=LIVENESS_US + 90,
            process=2,
            type="fail",
            f="write",
            key="x",
            value=1,
            client=2,
            error="compare-failed",
        )
    )
    assert check_liveness(trace(), history.sorted()).verdict is Verdict.VALID
    history.events[-1] = dataclasses.replace(history.events[-1], error="unavailable")
    assert [anomaly["client"] for anomaly in check_liveness(trace(), history.sorted()).found] == [2]


def test_messages_give_times_in_seconds_and_lengths_in_readable_units() -> None:
    """A gap in a real run's time scale: seconds for moments, ms or s for lengths."""
    liveness_us, crash_us, elected_us = 60_000_000, 61_250_000, 63_750_500
    events = [
        event(0, "start", scenario="test", seed=1, nodes=[1, 2, 3], clients=1),
        event(0, "phase", phase="safety"),
        role(100, 1, "leader", 1, 1),
        event(liveness_us, "phase", phase="liveness", leader_bound_us=1_500_000),
        event(crash_us, "crash", node=1),
        role(elected_us, 2, "leader", 2, 2),
        event(70_000_000, "phase", phase="final-reads"),
        event(70_000_100, "end"),
    ]
    history = History().op(0, liveness_us + 10, "ok", liveness_us + 20)
    (anomaly,) = check_liveness(events, history.sorted()).found
    assert anomaly["message"] == (
        "no usable leader for 2.501 s from 61.25 s to 63.751 s (bound 1.50 s); "
        "when the bound ran out, leaders: node 1 of term 1 (crashed)"
    )


def test_a_term_lost_in_a_crash_does_not_make_the_leader_stale() -> None:
    # Node 3 stands in term 2 and crashes before writing it down: it restarts in term 1,
    # where node 1 still leads, so node 1 is usable again from the restart on.
    result = check_liveness(
        trace(
            role(LIVENESS_US - 300, 3, "candidate", 2),
            event(LIVENESS_US - 200, "crash", node=3),
            event(LIVENESS_US + 100, "restart", node=3, term=1, vote=0, commit=0, log=[]),
        ),
        busy_clients().sorted(),
    )
    assert result.verdict is Verdict.VALID, result.found


def test_a_term_read_back_at_a_restart_still_makes_the_leader_stale() -> None:
    result = check_liveness(
        trace(
            role(LIVENESS_US - 300, 3, "candidate", 2),
            event(LIVENESS_US - 200, "crash", node=3),
            event(LIVENESS_US + 100, "restart", node=3, term=2, vote=3, commit=0, log=[]),
        ),
        busy_clients().sorted(),
    )
    assert "leader" in anomaly_properties(result)


def test_a_removed_members_term_does_not_make_the_leader_stale() -> None:
    # Node 3, being removed, stands in term 2 and is then stopped for good as removed: its
    # term deposes no one, so node 1 of term 1 is usable again from the removal on.
    result = check_liveness(
        trace(
            role(LIVENESS_US - 300, 3, "candidate", 2),
            event(LIVENESS_US + 100, "member-removed", node=3),
        ),
        busy_clients().sorted(),
    )
    assert result.verdict is Verdict.VALID, result.found
    # The same term held by a member that stays makes node 1 stale.
    result = check_liveness(trace(role(LIVENESS_US - 300, 3, "candidate", 2)), busy_clients().sorted())
    assert "leader" in anomaly_properties(result)
