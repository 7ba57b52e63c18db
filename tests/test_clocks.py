"""Clocks that matter: each node times everything on its local clock, so a clock fault's
drift, jumps forward and back, and strobes change what the cluster does; the trace records
them, and the checkers that count in election timeouts allow for a clock set back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkers.clocks import ClockStalls
from checkers.disruption import DisruptionSettings, check_disruption
from checkers.liveness import check_liveness
from checkers.node_progress import check_node_progress
from checkers.trace import iter_trace_lines
from checkers.verdict import Verdict
from raftcore.raft import RaftNode
from raftsim import shrink
from scenarios import loader
from scenarios.loader import ScenarioError
from scenarios.model import FaultSpec
from scenarios.resolve import resolve
from sim.clock import PPM, LocalClock
from sim.world import World, run_scenario

TICK_US = 100_000  # the default cluster's tick: 100 ms, election timeout 10-20 ticks
BASE = """\
name = "clocks"
duration_ms = {duration_ms}
seed = 1

[cluster]
nodes = 3
pre_vote = {pre_vote}

[workload]
clients = 1
rate = {rate}

[phases]
quiet_ms = 3000
final_reads = false
"""

Trace = list[dict[str, Any]]


def _run(faults: str, duration_ms: int = 8000, pre_vote: bool = True, rate: int = 10) -> Trace:
    text = BASE.format(duration_ms=duration_ms, pre_vote=str(pre_vote).lower(), rate=rate) + faults
    result = run_scenario(loader.parse(text, "clocks.toml"))
    assert result.crash is None, result.crash
    return [json.loads(line) for line in result.trace_text.splitlines()]


def _clock(target: int, start_ms: int, duration_ms: int, **fields: Any) -> str:
    lines = [f"{key} = {json.dumps(value)}" for key, value in fields.items()]
    body = "\n".join(lines)
    head = f'\n[[faults]]\nkind = "clock"\ntarget = [{target}]\nstart_ms = {start_ms}\n'
    return f"{head}duration_ms = {duration_ms}\n{body}\n"


def _leader_at(trace: Trace, t_us: int) -> int:
    leaders = [event for event in trace if event["ev"] == "role" and event["t"] < t_us and event["role"] == "leader"]
    assert leaders, "a leader before the fault"
    return int(leaders[-1]["node"])


def _campaigns(trace: Trace, node: int, low_us: int, high_us: int) -> list[int]:
    return [
        event["t"]
        for event in trace
        if event["ev"] == "role"
        and event["node"] == node
        and event["role"] in ("pre-candidate", "candidate")
        and low_us <= event["t"] <= high_us
    ]


# --- the local clock ---------------------------------------------------------------------


@given(
    drift_ppm=st.integers(-900_000, 1_000_000),
    offset_us=st.integers(-(10**9), 10**9),
    since_us=st.integers(0, 10**9),
    ahead_us=st.integers(-(10**9), 10**9),
)
def test_true_at_is_the_first_moment_the_clock_reads_a_time(
    drift_ppm: int, offset_us: int, since_us: int, ahead_us: int
) -> None:
    clock = LocalClock()
    clock.set(since_us, drift_ppm, offset_us)
    wanted_us = clock.local_us(since_us) + ahead_us
    at_us = clock.true_at(wanted_us)
    assert clock.local_us(at_us) >= wanted_us
    assert clock.local_us(at_us - 1) < wanted_us


def test_a_change_of_offset_is_a_jump_and_drift_keeps_local_time_continuous() -> None:
    clock = LocalClock(drift_ppm=0)
    clock.set(1_000_000, 500_000, 0)
    assert clock.local_us(1_000_000) == 1_000_000
    assert clock.local_us(3_000_000) == 4_000_000  # 1.5 times as fast
    clock.set(3_000_000, 500_000, -2_000_000)
    assert clock.local_us(3_000_000) == 2_000_000  # set back by 2 s at once
    with pytest.raises(AssertionError, match="stops or reverses"):
        clock.set(3_000_000, -PPM, 0)


# --- what clock faults do to a cluster -----------------------------------------------------


@pytest.mark.parametrize("pre_vote", [True, False])
def test_a_follower_bumped_forward_past_its_timeout_campaigns_within_a_tick(pre_vote: bool) -> None:
    baseline = _run("", pre_vote=pre_vote)
    leader = _leader_at(baseline, 3_000_000)
    follower = min(node for node in (1, 2, 3) if node != leader)
    assert not _campaigns(baseline, follower, 3_000_000, 5_000_000), "no campaign without the fault"
    bumped = _run(_clock(follower, 3000, 2000, mode="bump", delta_ms=3000), pre_vote=pre_vote)
    assert _leader_at(bumped, 3_000_000) == leader  # the same run up to the fault
    campaigns = _campaigns(bumped, follower, 3_000_000, 3_000_000 + TICK_US)
    assert campaigns, "a clock 3 s ahead fires the election timeout at once"
    fault = next(event for event in bumped if event["ev"] == "fault")
    assert fault["jump_us"] == {str(follower): 3_000_000}
    assert fault["next_tick_us"] == {str(follower): 3_000_000}
    heal = next(event for event in bumped if event["ev"] == "heal")
    assert heal["jump_us"] == {str(follower): -3_000_000}
    assert heal["next_tick_us"][str(follower)] > heal["t"] + 2_000_000, "set back, it stalls"


def test_a_leader_set_back_stops_heartbeating_and_the_others_elect_a_new_leader() -> None:
    # One operation a second: a leader's appends reset its followers' timeouts as its
    # heartbeats do, so a busy stalled leader would keep leading.
    baseline = _run("", rate=1)
    leader = _leader_at(baseline, 3_000_000)
    terms = {event["term"] for event in baseline if event["ev"] == "role" and 3_000_000 <= event["t"] <= 7_000_000}
    assert terms <= {1}, "no election without the fault"
    stalled = _run(_clock(leader, 3000, 4000, mode="bump", delta_ms=-5000), rate=1)
    fault = next(event for event in stalled if event["ev"] == "fault")
    assert fault["next_tick_us"][str(leader)] > 7_000_000, "its timers stand still for the fault's length"
    successors = [
        event
        for event in stalled
        if event["ev"] == "role"
        and event["role"] == "leader"
        and event["node"] != leader
        and 3_000_000 < event["t"] < 7_000_000
    ]
    assert successors, "the others time out and elect one of themselves"
    assert successors[0]["term"] > 1


def test_a_strobe_makes_a_follower_campaign_at_every_flip_forward() -> None:
    """Flipped forward by 2.5 s (more than the longest election timeout) every 6 s, after
    3 s forward and back: each flip forward fires the election timeout at once."""
    baseline = _run("", duration_ms=18000)
    follower = min(node for node in (1, 2, 3) if node != _leader_at(baseline, 3_000_000))
    faults = _clock(follower, 3000, 13000, mode="strobe", delta_ms=2500, strobe_period_ms=3000)
    trace = _run(faults, duration_ms=18000)
    flips = [event for event in trace if event["ev"] == "clock"]
    assert [(event["t"], event["up"]) for event in flips] == [
        (6_000_000, False),
        (9_000_000, True),
        (12_000_000, False),
        (15_000_000, True),
    ]
    assert all(event["jump_us"] == {str(follower): 2_500_000 if event["up"] else -2_500_000} for event in flips)
    for up_us in (3_000_000, 9_000_000, 15_000_000):
        assert _campaigns(trace, follower, up_us, up_us + TICK_US), up_us
    assert not _campaigns(baseline, follower, 3_000_000, 16_000_000)


def test_drift_still_scales_the_tick_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    ticks: dict[int, int] = {}
    plain_tick = RaftNode.tick

    def counted(node: RaftNode) -> None:
        ticks[node.node_id] = ticks.get(node.node_id, 0) + 1
        plain_tick(node)

    monkeypatch.setattr(RaftNode, "tick", counted)
    text = BASE.format(duration_ms=12000, pre_vote="true", rate=10) + _clock(1, 1000, 11000, drift_ppm=500_000)
    world = World(resolve(loader.parse(text, "clocks.toml")))
    world.env.process(world.nemesis.run(world.scenario.faults, 12_000_000))
    world.env.run(until=2_000_000)
    before = dict(ticks)
    world.env.run(until=12_000_000)
    counts = {node: ticks[node] - before[node] for node in (1, 2, 3)}
    assert counts[2] == counts[3] == 100  # 10 s of 100 ms ticks
    assert counts[1] == 150  # a clock 50% fast ticks 50% more


def test_the_fault_lines_carry_every_nodes_local_time() -> None:
    trace = _run(_clock(2, 3000, 2000, mode="set", offset_ms=1500))
    lines = [event for event in trace if event["ev"] in ("fault", "heal")]
    assert [line["ev"] for line in lines] == ["fault", "heal"]
    fault, heal = lines
    assert fault["local_us"]["2"] - fault["t"] == 1_500_000
    assert fault["local_us"]["1"] == fault["local_us"]["3"] == fault["t"]  # no drift
    assert heal["local_us"] == {"1": 5_000_000, "2": 5_000_000, "3": 5_000_000}
    assert list(iter_trace_lines(json.dumps(event) for event in trace))  # the reader takes them


def test_a_clock_fault_run_is_the_same_bytes_in_two_processes(tmp_path: Path) -> None:
    scenario = tmp_path / "clocks.toml"
    scenario.write_text(
        BASE.format(duration_ms=6000, pre_vote="true", rate=20)
        + _clock(1, 1000, 3000, mode="bump", delta_ms=-2500)
        + _clock(2, 1500, 3000, mode="strobe", delta_ms=1800, strobe_period_ms=700)
        + '\n[[faults]]\nkind = "clock"\ntarget = "leader"\nstart_ms = 2000\nduration_ms = 2000\n'
        + "drift_ppm = -300000\noffset_ms = 900\n"
    )
    folders = []
    for hash_seed in ("1", "977"):
        out = tmp_path / f"run-{hash_seed}"
        completed = subprocess.run(
            [sys.executable, "-c", "from raftsim.cli import main; main()", "run", str(scenario), "--out", str(out)],
            env=dict(os.environ, PYTHONHASHSEED=hash_seed),
            capture_output=True,
            text=True,
            check=False,
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr
        folders.append(out)
    first, second = ((folder / "trace.jsonl").read_bytes() for folder in folders)
    assert b'"ev":"clock"' in first
    assert first == second


# --- scenario files -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ('mode = "bump"', "faults[0].delta_ms: a bump of 0 ms changes nothing"),
        ('mode = "strobe"\ndelta_ms = 100', "faults[0].strobe_period_ms: a strobe needs strobe_period_ms"),
        (
            'mode = "bump"\ndelta_ms = 100\ndrift_ppm = 5',
            'faults[0].drift_ppm: has no effect on a clock fault of mode "bump"',
        ),
        ("delta_ms = 100", 'faults[0].delta_ms: has no effect on a clock fault of mode "set"'),
        ('mode = "strobe"\ndelta_ms = 1\nstrobe_period_ms = 1', "faults[0].strobe_period_ms: 3000000 flips"),
        ('mode = "warp"', "faults[0].mode: 'warp' is not one of set, bump, strobe"),
    ],
)
def test_mistakes_in_clock_faults_are_one_located_line(fields: str, expected: str) -> None:
    head = 'name = "x"\nduration_ms = 5000000\n[[faults]]\nkind = "clock"\n'
    text = f"{head}start_ms = 1\nduration_ms = 3000000\n{fields}\n"
    with pytest.raises(ScenarioError, match=r"clock\.toml:") as caught:
        loader.parse(text, "clock.toml")
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_mode_on_another_kind_of_fault_is_refused() -> None:
    text = 'name = "x"\n[[faults]]\nkind = "crash"\nstart_ms = 1\nduration_ms = 2\nmode = "bump"\n'
    with pytest.raises(ScenarioError, match="has no effect on a crash fault"):
        loader.parse(text, "x.toml")


def test_clock_faults_round_trip_and_old_ones_keep_their_text() -> None:
    faults = _clock(1, 1000, 3000, mode="strobe", delta_ms=-700, strobe_period_ms=90) + _clock(2, 10, 20, drift_ppm=7)
    scenario = loader.parse(BASE.format(duration_ms=5000, pre_vote="true", rate=10) + faults, "x.toml")
    assert loader.parse(loader.to_toml(scenario), "again.toml") == scenario
    written = loader.to_toml(scenario)
    assert 'mode = "strobe"' in written
    assert 'mode = "set"' not in written, "a set fault is written as before modes existed"


def test_the_shrinker_keeps_clock_faults_valid() -> None:
    faults = _clock(1, 3000, 8000, mode="strobe", delta_ms=2500, strobe_period_ms=400)
    faults += _clock(2, 5000, 4000, mode="bump", delta_ms=-3000)
    scenario = loader.parse(BASE.format(duration_ms=15000, pre_vote="true", rate=10) + faults, "x.toml")
    candidates = list(shrink.candidates(scenario))
    assert any(len(candidate.faults) == 1 for candidate in candidates)
    assert any(
        candidate.faults and candidate.faults[0].duration_ms < 8000 and candidate.faults[0].mode == "strobe"
        for candidate in candidates
    )
    for candidate in candidates:
        assert loader.parse(loader.to_toml(candidate), "candidate.toml") == candidate


def test_the_random_nemesis_draws_every_clock_mode() -> None:
    text = 'name = "x"\nduration_ms = 600000\n[nemesis]\nmode = "random"\nkinds = ["clock"]\ninterval_ms = 2000\n'
    drawn = resolve(loader.parse(text, "x.toml")).faults
    modes = {fault.mode for fault in drawn}
    assert modes == {"set", "bump", "strobe"}
    for fault in drawn:
        assert fault.mode == "set" or fault.delta_ms != 0
        assert fault.mode != "strobe" or fault.strobe_period_ms > 0


# --- checkers that count in election timeouts ----------------------------------------------


def _start() -> dict[str, Any]:
    return {"t": 0, "ev": "start", "scenario": "t", "seed": 1, "nodes": [1, 2, 3], "clients": 1}


def _role(t: int, node: int, role: str, term: int, leader: int) -> dict[str, Any]:
    return {"t": t, "ev": "role", "node": node, "role": role, "term": term, "leader": leader}


def _clock_heal(t: int, stalled_until_us: int) -> dict[str, Any]:
    """Fault 0 (a bump forward of nodes 1 and 2) heals at `t`: both set back, stalled."""
    stall = {"1": stalled_until_us, "2": stalled_until_us}
    return {"t": t, "ev": "heal", "id": 0, "kind": "clock", "jump_us": {"1": -1, "2": -1}, "next_tick_us": stall}


def test_clock_stalls_keep_the_latest_plan_of_each_node() -> None:
    stalls = ClockStalls()
    stalls.observe(_clock_heal(5, 900))
    stalls.observe({"t": 6, "ev": "clock", "id": 0, "nodes": [2], "next_tick_us": {"2": 7}})
    stalls.observe({"t": 7, "ev": "role", "next_tick_us": {"3": 10**9}})  # not a clock line
    assert (stalls.resumes_us(1), stalls.resumes_us(2), stalls.resumes_us(3)) == (900, 7, 0)
    assert stalls.settled_us() == 900


@pytest.mark.parametrize(("stalled_until_us", "valid"), [(0, False), (7_000_000, True)])
def test_liveness_counts_its_bound_from_when_stalled_clocks_caught_up(stalled_until_us: int, valid: bool) -> None:
    """The heal sets two of three clocks back: no leader until they caught up; a first
    leader 3 s after the heal is late by a 1 s bound, unless the clocks only caught up at 7 s."""
    events = [
        _start(),
        {"t": 0, "ev": "phase", "phase": "safety"},
        _role(100, 1, "leader", 1, 1),
        {"t": 5_000_000, "ev": "phase", "phase": "heal"},
        _clock_heal(5_000_000, stalled_until_us),
        {"t": 5_000_000, "ev": "phase", "phase": "liveness", "leader_bound_us": 1_000_000},
        _role(5_500_000, 3, "candidate", 2, 0),
        _role(7_500_000, 3, "leader", 2, 3),
        {"t": 9_000_000, "ev": "end"},
    ]
    result = check_liveness(events, [])
    assert (result.verdict is Verdict.VALID) is valid, result.anomalies


@pytest.mark.parametrize(("stalled_until_us", "disruptions"), [(0, 1), (9_000_000, 0)])
def test_a_leader_stalled_by_its_heal_is_not_a_healthy_leader(stalled_until_us: int, disruptions: int) -> None:
    """Leader 1's clock fault heals at 4 s and sets it back: until 9 s it sends no
    heartbeat, so node 3 starting a term at 8 s disrupts nobody."""
    events = [
        _start(),
        *[_role(1_000_000, node, "follower", 2, 1) for node in (2, 3)],
        _role(1_000_000, 1, "leader", 2, 1),
        {"t": 3_000_000, "ev": "fault", "id": 0, "kind": "clock", "nodes": [1, 2]},
        _clock_heal(4_000_000, stalled_until_us),
        _role(8_000_000, 3, "candidate", 3, 0),
    ]
    result = check_disruption(events, DisruptionSettings(2_000_000, 0, 0.0, heartbeats_per_lease=10))
    assert result.stats["disruptions"] == disruptions


@pytest.mark.parametrize(("stalled_until_us", "valid"), [(0, False), (8_000_000, True)])
def test_node_progress_counts_from_when_stalled_clocks_caught_up(stalled_until_us: int, valid: bool) -> None:
    events = [
        _start(),
        _role(100, 1, "leader", 1, 1),
        {"t": 5_000_000, "ev": "phase", "phase": "heal"},
        _clock_heal(5_000_000, stalled_until_us),
        {"t": 5_000_000, "ev": "phase", "phase": "liveness", "leader_bound_us": 1_000_000},
        {"t": 5_100_000, "ev": "hard_state", "node": 1, "term": 1, "vote": 1, "commit": 4},
        *[{"t": 5_100_000, "ev": "apply", "node": node, "index": 1, "entries": [[1, "x"]] * 4} for node in (1, 2)],
        {"t": 8_500_000, "ev": "apply", "node": 3, "index": 1, "entries": [[1, "x"]] * 4},
        {"t": 9_000_000, "ev": "end"},
    ]
    result = check_node_progress(events, 2_000_000)
    assert (result.verdict is Verdict.VALID) is valid, result.anomalies


def test_a_fault_spec_of_a_mode_keeps_the_stream_of_a_set_fault() -> None:
    from sim.nemesis import stream_name

    plain = FaultSpec("clock", 1, 2, drift_ppm=5)
    assert stream_name(plain) == repr(plain), "a set fault is named as before modes existed"
    bumped = FaultSpec("clock", 1, 2, mode="bump", delta_ms=3)
    assert "mode='bump'" in stream_name(bumped) and "delta_ms=3" in stream_name(bumped)
