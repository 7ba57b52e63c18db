"""Faults timed by the protocol (`after = "campaign"` or `"leader"`): armed at `start_ms`,
started at the next such moment, and read, written and drawn like every other field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scenarios import loader
from scenarios.loader import ScenarioError
from scenarios.resolve import resolve
from sim.world import run_scenario

BASE = """
name = "triggers"
duration_ms = 12000
[cluster]
nodes = 3
[workload]
rate = 20
"""


def _events(text: str, seed: int = 1) -> list[dict[str, Any]]:
    scenario = resolve(loader.with_seed(loader.parse(text, "triggers.toml"), seed))
    return [json.loads(line) for line in run_scenario(scenario).trace_text.splitlines()]


@pytest.mark.parametrize(("after", "role"), [("leader", "leader"), ("campaign", "candidate")])
def test_a_triggered_fault_starts_at_the_first_such_moment_after_it_is_armed(after: str, role: str) -> None:
    # The leader's crash at 2 s forces an election; the second fault is armed just after
    # it and must start at the very instant of the next campaign or win, and last 500 ms.
    text = BASE + (
        '[[faults]]\nkind = "crash"\ntarget = "leader"\nstart_ms = 2000\nduration_ms = 4000\n'
        f'[[faults]]\nkind = "pause"\ntarget = "all"\nafter = "{after}"\nstart_ms = 2001\nduration_ms = 500\n'
    )
    events = _events(text)
    started = [e for e in events if e["ev"] == "fault" and e["id"] == 1]
    assert len(started) == 1, started
    assert started[0]["after"] == after
    start = started[0]["t"]
    moments = [e["t"] for e in events if e["ev"] == "role" and e["role"] == role and e["t"] >= 2_001_000]
    assert moments, "the crash of the leader must cause an election"
    assert start == moments[0]
    healed = [e["t"] for e in events if e["ev"] == "heal" and e["id"] == 1]
    assert healed == [start + 500_000]


def test_a_fault_whose_moment_never_comes_never_starts() -> None:
    # A steady cluster elects once, at the start: a fault armed later waits in vain.
    text = BASE + '[[faults]]\nkind = "crash"\ntarget = "all"\nafter = "leader"\nstart_ms = 3000\nduration_ms = 500\n'
    events = _events(text)
    assert not [e for e in events if e["ev"] == "fault"]


def test_a_fault_without_a_trigger_writes_and_runs_as_before() -> None:
    timed = BASE + '[[faults]]\nkind = "crash"\nstart_ms = 3000\nduration_ms = 500\n'
    spelled = timed.replace("duration_ms = 500\n", 'duration_ms = 500\nafter = "time"\n')
    assert loader.to_toml(loader.parse(timed, "a.toml")) == loader.to_toml(loader.parse(spelled, "b.toml"))
    assert "after" not in loader.to_toml(loader.parse(timed, "a.toml"))
    assert _events(timed) == _events(spelled)


def test_a_trigger_round_trips_and_a_bad_one_is_one_located_line() -> None:
    text = BASE + '[[faults]]\nkind = "crash"\nafter = "campaign"\nstart_ms = 3000\nduration_ms = 500\n'
    parsed = loader.parse(text, "t.toml")
    assert parsed.faults[0].after == "campaign"
    assert loader.parse(loader.to_toml(parsed), "again.toml") == parsed
    with pytest.raises(ScenarioError) as caught:
        loader.parse(text.replace('"campaign"', '"vote"'), "t.toml")
    message = str(caught.value)
    assert message.startswith("t.toml:"), message
    assert "after" in message, message
    assert "campaign" in message, message


def test_swarm_times_some_faults_by_the_protocol_and_the_runs_replay() -> None:
    swarm = loader.load("swarm")
    seeds = [s for s in range(60) if any(f.after != "time" for f in resolve(loader.with_seed(swarm, s)).faults)]
    assert 8 <= len(seeds) <= 30, seeds
    seed = seeds[0]
    first = run_scenario(resolve(loader.with_seed(swarm, seed)))
    again = run_scenario(resolve(loader.with_seed(swarm, seed)))
    assert first.digest == again.digest
    assert any('"after":' in line for line in first.trace_text.splitlines() if '"ev":"fault"' in line)
