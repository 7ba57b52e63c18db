"""Coverage as a campaign signal: rare events per seed, sampled branch coverage of raftcore,
swarm weights that lean towards rare events, `fuzz --stop-at-first`, and a crashing core that
never ends a campaign."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from tests_support import shortened, shortened_file

from checkers.events import EVENT_NAMES, OBSERVED_EVENTS, rare_events, reached
from checkers.verdict import Verdict
from raftcore.raft import RaftNode
from raftsim import adapt, api, coverage_sampling, fuzz
from raftsim.cli import main
from scenarios import loader, swarm
from scenarios.model import FAULT_KINDS
from scenarios.resolve import resolve
from sim.world import run_scenario


def _exit_code(arguments: list[str]) -> int:
    with pytest.raises(SystemExit) as stopped:
        main(arguments)
    return int(stopped.value.code or 0)


# --- rare events read from a trace ----------------------------------------------------------


def _role(t: int, node: int, role: str, term: int, leader: int = 0) -> dict[str, Any]:
    return {"t": t, "ev": "role", "node": node, "role": role, "term": term, "leader": leader}


def _append(t: int, node: int, index: int, terms: list[int]) -> dict[str, Any]:
    return {"t": t, "ev": "append", "node": node, "index": index, "entries": [[term, "d"] for term in terms]}


def test_elections_read_from_roles() -> None:
    trace = [
        _role(1, 1, "pre-candidate", 0),
        _role(2, 1, "follower", 0),  # pre-election lost: the term stayed
        _role(3, 1, "pre-candidate", 0),
        _role(4, 1, "candidate", 1),  # pre-election won: the term rose
        _role(5, 1, "follower", 2, leader=2),  # the election lost to node 2
        _role(6, 2, "candidate", 2),
        _role(7, 2, "leader", 2, leader=2),
        _role(8, 2, "follower", 2),  # stepped down in its own term: CheckQuorum
        _role(9, 3, "candidate", 1),
        _role(10, 3, "candidate", 2),  # stood again: the first candidacy was lost
    ]
    events = rare_events(trace)
    assert list(events) == list(EVENT_NAMES)
    assert events["prevote-failed"] == 1
    assert events["prevote-term-change"] == 1
    assert events["election-lost"] == 2
    assert events["checkquorum-step-down"] == 1
    assert reached(events) == ("prevote-failed", "prevote-term-change", "election-lost", "checkquorum-step-down")


def test_truncations_and_lost_unsynced_writes_read_from_logs() -> None:
    trace = [
        _role(1, 1, "leader", 1, leader=1),
        _append(2, 2, 1, [1, 1, 1]),
        _append(3, 2, 3, [2]),  # one entry replaced
        _append(4, 3, 1, [1, 1, 1, 1]),
        _append(5, 3, 2, [2, 2]),  # three entries cut back
        _append(6, 2, 4, [2]),  # appended at the end: no truncation
        {"t": 7, "ev": "hard_state", "node": 1, "term": 3, "vote": 1, "commit": 0},
        {"t": 8, "ev": "crash", "node": 1},
        {"t": 9, "ev": "restart", "node": 1, "term": 1, "vote": 1, "commit": 0, "log": []},
        {"t": 10, "ev": "crash", "node": 2},
        {"t": 11, "ev": "restart", "node": 2, "term": 0, "vote": 0, "commit": 0, "log": [[1, "d"]] * 4},
    ]
    events = rare_events(trace)
    assert events["follower-truncation"] == 2
    assert events["truncation-over-one-entry"] == 1
    assert events["leader-crashed"] == 1
    assert events["unsynced-lost"] == 1, "node 1 came back in an older term; node 2 with all it had"


def test_observed_counts_are_merged_and_unknown_ones_refused() -> None:
    events = rare_events([], {"request-forwarded": 3, "vote-rejected-log": 1})
    assert events["request-forwarded"] == 3
    assert events["vote-rejected-log"] == 1
    assert sum(events.values()) == 4
    with pytest.raises(AssertionError, match="unknown event"):
        rare_events([], {"gremlins": 1})


def test_a_run_writes_its_rare_events_beside_its_verdict(tmp_path: Path) -> None:
    scenario = dataclasses.replace(shortened("partition-leader", duration_ms=8000), seed=1)
    outcome = api.run(scenario, tmp_path / "run")
    written = json.loads((tmp_path / "run" / "events.json").read_text())
    assert written == outcome.events
    assert list(written) == list(EVENT_NAMES)
    observed = outcome.result.stats["observed_events"]
    assert set(observed) <= set(OBSERVED_EVENTS)
    assert written["request-forwarded"] == observed["request-forwarded"] > 0, "clients talk to followers too"
    assert written["retry-after-leader-change"] > 0, "the leader is cut off, so clients are sent elsewhere"


# --- branch coverage over raftcore ------------------------------------------------------------


def test_coverage_observes_without_changing_the_run() -> None:
    scenario = resolve(dataclasses.replace(shortened("partition-leader", duration_ms=3000, quiet_ms=2000), seed=2))
    plain = run_scenario(scenario)
    result, arcs = coverage_sampling.measured(lambda: run_scenario(scenario))
    assert result.digest == plain.digest
    assert result.trace_text == plain.trace_text
    assert "raftcore/raft.py" in arcs
    assert len(arcs["raftcore/raft.py"]) > 100
    merged: dict[str, set[tuple[int, int]]] = {}
    coverage_sampling.merge(merged, arcs)
    found = coverage_sampling.unreached(merged)
    assert 0 < found.lines_reached < found.lines_total
    assert 0 < found.branches_reached < found.branches_total
    assert found.lines_total - found.lines_reached == sum(len(lines) for lines in found.lines.values())
    nothing = coverage_sampling.unreached({})
    assert nothing.lines_reached == 0
    assert nothing.lines_total == found.lines_total


def test_sampled_seeds_are_a_stable_share_and_compact_ranges_read_back() -> None:
    chosen = [seed for seed in range(10_000) if coverage_sampling.sampled(seed, 0.1)]
    assert 900 < len(chosen) < 1100
    assert chosen != [seed for seed in range(10_000) if fuzz.rechecked(seed, 0.1)], "not the re-checked seeds"
    assert coverage_sampling.compact([9, 3, 4, 5, 11, 12]) == "3-5, 9, 11-12"
    assert coverage_sampling.compact([]) == ""


def test_a_campaign_lists_what_no_measured_seed_reached(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = shortened_file(tmp_path, "pause", duration_ms=1500, quiet_ms=1500)
    out = tmp_path / "fuzz"
    command = ["fuzz", str(scenario), "--seeds", "3", "--start", "1", "--jobs", "1", "--out", str(out)]
    assert _exit_code([*command, "--recheck", "0", "--coverage", "0"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["coverage"] is None
    assert not (out / "coverage.jsonl").exists()
    assert set(summary["events"]) == set(EVENT_NAMES)
    lines = [json.loads(line) for line in (out / "progress.jsonl").read_text().splitlines()]
    for name, seeds in summary["events"].items():
        assert seeds == sum(1 for line in lines if line["events"].get(name, 0) > 0)
    measured = tmp_path / "measured"
    assert _exit_code([*command[:-1], str(measured), "--recheck", "0", "--coverage", "0.0001"]) == 0
    summary = json.loads((measured / "summary.json").read_text())
    assert summary["coverage"]["seeds"] == 1, "the first seed is always measured"
    assert json.loads((measured / "coverage.jsonl").read_text())["seed"] == 1
    measured_lines = [json.loads(line) for line in (measured / "progress.jsonl").read_text().splitlines()]
    assert [line["digest"] for line in measured_lines] == [line["digest"] for line in lines], "measuring changes no run"
    reached_lines, total_lines = summary["coverage"]["lines"]
    assert 0 < reached_lines < total_lines
    printed = capsys.readouterr().out
    assert "coverage of raftcore over 1 measured seed" in printed
    assert "raftcore/raft.py" in printed


# --- swarm weights that lean towards rare events -------------------------------------------


def test_plain_weights_draw_what_swarm_always_drew() -> None:
    scenario = loader.load("swarm")
    for seed in range(40):
        seeded = dataclasses.replace(scenario, seed=seed)
        assert swarm.draw(seeded, swarm.PLAIN) == swarm.draw(seeded)
        assert resolve(adapt.drawn_seed(scenario, seed, swarm.PLAIN, 0)) == resolve(seeded)
    every_kind = swarm.Weights(fault_kinds=tuple((kind, 1.0) for kind in FAULT_KINDS), pre_vote=0.0)
    for seed in range(10):
        drawn = swarm.draw(dataclasses.replace(scenario, seed=seed), every_kind)
        # Lease reads and the election workload go without clock faults (drift beyond the
        # bound breaks a lease by design); every other kind is drawn.
        clockless = drawn.cluster.read_only == "lease" or drawn.workload.kind == "election"
        expected = tuple(kind for kind in FAULT_KINDS if kind != "clock") if clockless else FAULT_KINDS
        # `transfer` comes from a die of its own, which the weights do not lean on, and
        # `member` from a stream of its own (`swarm.MEMBERSHIP`).
        later = (*swarm.LATER_FAULT_KINDS, "member")
        assert tuple(kind for kind in drawn.nemesis.kinds if kind not in later) == expected
        assert drawn.cluster.pre_vote is False


def _outcome(seed: int, crash: bool, events: tuple[str, ...]) -> adapt.Outcome:
    features = {
        "pre_vote": True,
        "check_quorum": True,
        **{f"fault:{kind}": kind == "crash" and crash for kind in FAULT_KINDS},
    }
    return adapt.Outcome(seed, features, frozenset(events))


def test_weights_shift_towards_choices_that_reached_rare_events() -> None:
    common = ("request-forwarded",)
    outcomes = [_outcome(seed, crash=seed < 5, events=common) for seed in range(20)]
    assert adapt.next_weights(outcomes) == swarm.PLAIN, "an event most seeds reach says nothing"
    outcomes[1] = _outcome(1, crash=True, events=(*common, "unsynced-lost"))
    outcomes[2] = _outcome(2, crash=True, events=(*common, "unsynced-lost"))
    weights = adapt.next_weights(outcomes)
    assert weights.chance_of("crash") == 0.75, "all the pull is on seeds with crashes: halfway from 0.5 to 1"
    assert weights.chance_of("partition") == 0.25
    assert weights.pre_vote == 0.88
    assert weights.check_quorum == 0.88
    assert adapt.next_weights(list(reversed(outcomes))) == weights, "the order results came in does not matter"
    assert "crash 0.75" in adapt.describe(weights)
    many = [_outcome(seed, crash=True, events=("unsynced-lost",)) for seed in range(3)]
    assert adapt.next_weights([*many, *(_outcome(s, False, ()) for s in range(3, 40))]).chance_of("crash") <= 0.9


def _result(seed: int, features: dict[str, bool], events: dict[str, int]) -> fuzz.SeedResult:
    return fuzz.SeedResult(seed, Verdict.VALID, (), "d", None, 1.0, events=events, round_number=0, features=features)


def test_a_round_draws_with_the_weights_of_the_rounds_before_it(tmp_path: Path) -> None:
    scenario = loader.load("swarm")
    plan = fuzz.FuzzPlan(scenario, range(100, 112), tmp_path, 1, 0.0, 10, adapt_round_seeds=4)
    rounds = fuzz._rounds(plan, {})
    first = list(next(rounds))
    assert [task.round_number for task in first] == [0] * 4
    assert [task.scenario for task in first] == [
        adapt.drawn_seed(scenario, seed, swarm.PLAIN, 0) for seed in range(100, 104)
    ]
    known: dict[int, fuzz.SeedResult] = {}
    for task in first:
        reached_here = {"unsynced-lost": 1} if task.scenario.seed == 100 else {}
        known[task.scenario.seed] = _result(task.scenario.seed, adapt.features(task.scenario), reached_here)
    with pytest.raises(AssertionError, match="before seed"):
        fuzz.round_weights(plan, {}, 1)
    weights = fuzz.round_weights(plan, known, 1)
    assert weights != swarm.PLAIN
    second = list(next(fuzz._rounds(plan, known)))
    assert [task.scenario.seed for task in second] == list(range(104, 108))
    for task in second:
        assert task.scenario == adapt.drawn_seed(scenario, task.scenario.seed, weights, 1)
        assert "swarm round 1, weights:" in task.scenario.description
    # What a progress line records is what the next round is weighed from.
    line = {"seed": 100, "valid": True, "flagged": [], "digest": "d", "recheck_digest": None, "seconds": 1.0}
    line.update(events={"unsynced-lost": 1}, round=0, features=known[100].features)
    read = fuzz._progress_record(json.dumps(line).encode(), plan.seeds)
    assert read is not None
    assert read.events == {"unsynced-lost": 1}
    assert read.features == known[100].features
    assert fuzz._progress_record(json.dumps({**line, "round": -1}).encode(), plan.seeds) is None


def test_adapting_needs_a_swarm_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _exit_code(["fuzz", "pause", "--seeds", "2", "--adapt", "5", "--out", str(tmp_path / "f")])
    assert code == 2
    assert "--adapt" in capsys.readouterr().err


# --- stopping at the first failure, and crashes that never end a campaign -----------------


def test_stop_at_first_ends_at_the_first_failing_seed_and_resumes_past_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = shortened_file(tmp_path, "leader-lease", duration_ms=6000, quiet_ms=3000)
    out = tmp_path / "fuzz"
    command = ["fuzz", str(scenario), "--seeds", "4", "--start", "1", "--jobs", "1", "--out", str(out)]
    command += ["--bug", "stale-local-read", "--recheck", "0", "--no-report", "--coverage", "0", "--stop-at-first"]
    assert _exit_code(command) == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stopped_at_first"] == 1
    assert summary["finished"] == 1
    assert summary["failed"] == [1]
    assert "at the first failing seed, 1" in capsys.readouterr().out
    assert _exit_code(command) == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stopped_at_first"] == 2
    assert summary["failed"] == [1, 2]
    seeds = [json.loads(line)["seed"] for line in (out / "progress.jsonl").read_text().splitlines()]
    assert seeds == [1, 2], "each seed ran once"


_unpatched_become_leader = RaftNode.become_leader


def _become_leader_failing_on_node_1(self: RaftNode) -> None:
    if self.node_id == 1:
        raise RuntimeError("planted in raftcore")
    _unpatched_become_leader(self)


def test_a_seed_whose_raftcore_raises_is_a_crash_and_the_campaign_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(RaftNode, "become_leader", _become_leader_failing_on_node_1)
    scenario = shortened("pause", duration_ms=2000, quiet_ms=2000)
    plan = fuzz.FuzzPlan(scenario, range(3, 7), tmp_path / "fuzz", 1, 0.0, 10, reports=False)
    results = fuzz.prepare(plan)
    for result in fuzz.execute(plan, results):
        results[result.seed] = fuzz.record(plan, result)
    summary = fuzz.summarise(plan, results, 1.0, len(results))
    # In seeds 4 and 5 node 1 is elected (and raises); in 3 and 6 it never is.
    assert summary["finished"] == 4
    assert summary["crashed"] == [4, 5]
    assert summary["failed"] == [4, 5]
    assert summary["errors"] == []
    assert results[6].verdict is Verdict.VALID, "a seed after the crashes ran and passed"
    crash = json.loads((plan.out / "seed-4" / "verdict.json").read_text())["checkers"]["crash"]
    assert "RuntimeError: planted in raftcore" in crash["anomalies"][0]["message"]


def test_arcs_measured_on_other_raftcore_source_are_left_out(tmp_path: Path) -> None:
    plan = fuzz.FuzzPlan(loader.load("pause"), range(1, 3), tmp_path, 1, 0.0, 10, coverage_share=1.0)
    results = {seed: _result(seed, {}, {}) for seed in (1, 2)}
    arcs = {"raftcore/raft.py": [[1, 2]]}
    stale = {"seed": 1, "source": "0123456789abcdef", "arcs": arcs}
    current = {"seed": 2, "source": coverage_sampling.SOURCE_DIGEST, "arcs": arcs}
    (tmp_path / "coverage.jsonl").write_text(json.dumps(stale) + "\n" + json.dumps(current) + "\n")
    summary = fuzz._coverage_summary(plan, results)
    assert summary is not None
    assert summary["seeds"] == 1
    assert summary["stale_seeds"] == 1
