"""The disruption checker on hand-written traces, the scenario's bound, and two real runs.

Each trace is the smallest story that must (or must not) count as a term begun over a
healthy leader: the stable window is 2 s throughout, so a leader elected at 1 s is healthy
from 3 s on when nothing else happens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from checkers.disruption import DisruptionSettings, check_disruption, stable_window_us
from checkers.verdict import CheckerResult, Verdict
from raftsim import api
from reports.verdicts import summary
from scenarios import loader
from scenarios.loader import ScenarioError

WINDOW_US = 2_000_000
S = 1_000_000


def start(nodes: int = 3) -> dict[str, Any]:
    return {"t": 0, "ev": "start", "scenario": "t", "seed": 1, "nodes": list(range(1, nodes + 1)), "clients": 1}


def role(t: float, node: int, name: str, term: int, leader: int = 0) -> dict[str, Any]:
    return {"t": int(t * S), "ev": "role", "node": node, "role": name, "term": term, "leader": leader}


def elected(t: float, leader: int, term: int, nodes: int = 3) -> list[dict[str, Any]]:
    """`leader` wins `term` at `t` and every other node follows it a moment later."""
    events = [role(t, leader, "candidate", term), role(t + 0.001, leader, "leader", term, leader)]
    events += [role(t + 0.002, node, "follower", term, leader) for node in range(1, nodes + 1) if node != leader]
    return events


def isolate(t: float, fault_id: int, node: int, nodes: int = 3) -> dict[str, Any]:
    others = [other for other in range(1, nodes + 1) if other != node]
    cut = [[node, other] for other in others] + [[other, node] for other in others]
    return {"t": int(t * S), "ev": "fault", "id": fault_id, "kind": "partition", "cut": sorted(cut)}


def fault(t: float, fault_id: int, kind: str, **details: Any) -> dict[str, Any]:
    return {"t": int(t * S), "ev": "fault", "id": fault_id, "kind": kind, **details}


def heal(t: float, fault_id: int, kind: str) -> dict[str, Any]:
    return {"t": int(t * S), "ev": "heal", "id": fault_id, "kind": kind}


def node_event(t: float, kind: str, node: int, **fields: Any) -> dict[str, Any]:
    return {"t": int(t * S), "ev": kind, "node": node, **fields}


def check(events: list[dict[str, Any]], bound: int | None = 0, loss: float = 0.0) -> CheckerResult:
    """Ten heartbeats per lease, as the default cluster has."""
    return check_disruption(events, DisruptionSettings(WINDOW_US, bound, loss, heartbeats_per_lease=10))


def rejoining_climber() -> list[dict[str, Any]]:
    """Node 3 is cut off at 4 s from leader 1 (term 2, elected at 1 s), calls elections
    for terms 3 and 4 alone, then rejoins and its term deposes the leader."""
    return [
        start(),
        *elected(1.0, 1, 2),
        isolate(4.0, 0, 3),
        role(5.5, 3, "candidate", 3),
        role(7.0, 3, "candidate", 4),
        heal(8.0, 0, "partition"),
        role(8.1, 1, "follower", 4),
        role(8.1, 2, "follower", 4),
    ]


def test_a_rejoining_node_whose_term_climbed_is_a_disruption_per_term() -> None:
    result = check(rejoining_climber())
    assert result.verdict is Verdict.INVALID
    assert result.stats["disruptions"] == 2
    first, second = result.found
    assert first["message"] == (
        "node 3 began term 3 at 5.50 s while node 1, leader of term 2 since 1.001 s, "
        "reached nodes 1 2 in both directions"
    )
    assert (first["node"], first["leader"], first["leader_term"]) == (3, 1, 2)
    assert (first["term_before"], first["term_after"], first["t"]) == (2, 3, 5_500_000)
    assert (second["term_before"], second["term_after"]) == (3, 4)
    # One cause: one campaigner against one leader's term.
    assert [group["count"] for group in result.groups] == [2]
    assert result.groups[0]["node"] == 3


def test_the_bound_decides_and_no_bound_reports_counts_only() -> None:
    assert check(rejoining_climber(), bound=1).verdict is Verdict.INVALID
    within = check(rejoining_climber(), bound=2)
    assert within.verdict is Verdict.VALID
    assert within.anomalies == ()
    unbounded = check(rejoining_climber(), bound=None)
    assert unbounded.verdict is Verdict.VALID
    assert unbounded.stats["disruptions"] == 2
    assert unbounded.stats["first"].startswith("node 3 began term 3 at 5.50 s")


def test_a_term_carried_in_from_before_the_leader_deposes_it_and_names_its_origin() -> None:
    # Node 3 began term 5 while nobody was healthy (before node 1 led for a window); node 1
    # was elected in term 2 meanwhile; when node 2 adopts term 5 the healthy leader falls.
    events = [
        start(),
        role(0.9, 3, "candidate", 5),
        isolate(0.95, 0, 3),
        role(1.0, 1, "candidate", 2),
        role(1.001, 1, "leader", 2, 1),
        role(1.002, 2, "follower", 2, 1),
        heal(6.0, 0, "partition"),
        role(6.5, 2, "follower", 5),
    ]
    result = check(events)
    assert result.stats["disruptions"] == 1
    (anomaly,) = result.found
    assert anomaly["message"].startswith("node 2 moved to term 5 (begun by node 3 at 0.90 s) at 6.50 s while node 1")
    assert (anomaly["node"], anomaly["moved"]) == (3, 2)


def test_a_leader_cut_off_from_the_majority_is_not_healthy() -> None:
    events = [start(), *elected(1.0, 1, 2), isolate(4.0, 0, 1), role(6.0, 2, "candidate", 3)]
    assert check(events).stats["disruptions"] == 0


def test_a_crashed_leader_is_not_healthy() -> None:
    events = [start(), *elected(1.0, 1, 2), node_event(4.0, "crash", 1), role(5.5, 2, "candidate", 3)]
    assert check(events).stats["disruptions"] == 0


def test_a_paused_leader_is_not_healthy_until_a_window_after_it_resumes() -> None:
    paused = [start(), *elected(1.0, 1, 2), node_event(4.0, "pause", 1), node_event(5.0, "resume", 1)]
    assert check([*paused, role(6.5, 2, "candidate", 3)]).stats["disruptions"] == 0
    assert check([*paused, role(7.5, 2, "candidate", 3)]).stats["disruptions"] == 1


def test_loss_that_can_lapse_a_lease_hides_every_leader() -> None:
    # Half the messages lost: all ten heartbeats of a lease are lost about once in a thousand.
    events = [start(), *elected(1.0, 1, 2), fault(4.0, 0, "link", loss=0.5, duplicate=0.0)]
    assert check([*events, role(5.0, 3, "candidate", 3)]).stats["disruptions"] == 0
    # A window after the loss ends, the leader is healthy again.
    healed = [*events, heal(5.0, 0, "link")]
    assert check([*healed, role(6.5, 3, "candidate", 3)]).stats["disruptions"] == 0
    assert check([*healed, role(7.5, 3, "candidate", 3)]).stats["disruptions"] == 1
    # A tenth lost, or duplication, lapses no lease: a disruption there is one.
    for loss, duplicate in ((0.1, 0.0), (0.0, 0.5)):
        light = [start(), *elected(1.0, 1, 2), fault(4.0, 0, "link", loss=loss, duplicate=duplicate)]
        assert check([*light, role(5.0, 3, "candidate", 3)]).stats["disruptions"] == 1
    assert check([start(), *elected(1.0, 1, 2), role(5.0, 3, "candidate", 3)], loss=0.02).stats["disruptions"] == 1
    # A base loss that can lapse leases hides every leader for the whole run, and says so.
    lossy = check([start(), *elected(1.0, 1, 2), role(5.0, 3, "candidate", 3)], loss=0.5)
    assert lossy.stats["disruptions"] == 0
    assert "no disruption can be found" in lossy.note
    # The worst of base loss and active link faults counts, as the network applies it.
    worst = [start(), *elected(1.0, 1, 2), fault(2.0, 0, "link", loss=0.6), fault(2.5, 1, "link", loss=0.1)]
    worst += [heal(3.0, 1, "link"), role(5.5, 3, "candidate", 3)]
    assert check(worst).stats["disruptions"] == 0


def test_a_new_leader_is_healthy_only_after_the_window() -> None:
    events = [start(), *elected(1.0, 1, 2)]
    assert check([*events, role(2.9, 3, "candidate", 3)]).stats["disruptions"] == 0
    assert check([*events, role(3.1, 3, "candidate", 3)]).stats["disruptions"] == 1


def test_a_majority_just_reconnected_has_not_settled() -> None:
    events = [start(), *elected(1.0, 1, 2), isolate(3.0, 0, 2), isolate(3.0, 1, 3), heal(6.0, 0, "partition")]
    events.append(heal(6.0, 1, "partition"))
    assert check([*events, role(7.0, 3, "candidate", 3)]).stats["disruptions"] == 0
    assert check([*events, role(8.5, 3, "candidate", 3)]).stats["disruptions"] == 1


def test_a_link_cut_by_two_partitions_stays_cut_until_both_heal() -> None:
    events = [start(), *elected(1.0, 1, 2), isolate(3.0, 0, 2), isolate(3.5, 1, 2), heal(4.0, 0, "partition")]
    events.append(node_event(4.0, "crash", 3))  # without node 2, leader 1 has no majority
    assert check([*events, role(7.0, 2, "candidate", 3)]).stats["disruptions"] == 0


def test_a_clock_fault_on_the_leader_excuses_and_on_a_minority_does_not() -> None:
    base = [start(), *elected(1.0, 1, 2)]
    slow_leader = [*base, fault(4.0, 0, "clock", nodes=[1], drift_ppm=-500_000, offset_us=0)]
    assert check([*slow_leader, role(5.0, 3, "candidate", 3)]).stats["disruptions"] == 0
    # A follower with a fast clock may time out early, but a majority holding the leader's
    # lease must refuse it: that is what PreVote and CheckQuorum are for.
    fast_follower = [*base, fault(4.0, 0, "clock", nodes=[3], drift_ppm=500_000, offset_us=0)]
    assert check([*fast_follower, role(5.0, 3, "candidate", 3)]).stats["disruptions"] == 1


def test_a_slow_disk_on_the_leader_excuses() -> None:
    events = [start(), *elected(1.0, 1, 2), fault(4.0, 0, "disk", nodes=[1], slow_factor=50)]
    assert check([*events, role(5.0, 3, "candidate", 3)]).stats["disruptions"] == 0


def test_ordinary_elections_count_as_terms_not_disruptions() -> None:
    events = [start(), *elected(1.0, 1, 2), node_event(4.0, "crash", 1), *elected(5.5, 2, 3)]
    result = check(events)
    assert result.verdict is Verdict.VALID
    assert result.stats["terms_begun"] == 2
    assert result.stats["highest_term"] == 3


def test_the_stable_window_is_the_longest_timeout_on_the_slowest_clock() -> None:
    assert stable_window_us(100_000, 10, 0) == 2_000_000
    assert stable_window_us(100_000, 10, 500_000) == 4_000_000


# --- the scenario's bound ------------------------------------------------------------------


def test_the_default_bound_follows_prevote_and_checkquorum() -> None:
    assert loader.parse('name = "a"\n', "a.toml").disruption_bound == 0
    off = loader.parse('name = "a"\n[cluster]\npre_vote = false\n', "a.toml")
    assert off.disruption_bound is None
    set_bound = loader.parse('name = "a"\n[cluster]\ncheck_quorum = false\n[checks]\nmax_disruptions = 4\n', "a.toml")
    assert set_bound.disruption_bound == 4
    assert loader.parse(loader.to_toml(set_bound), "again.toml") == set_bound
    assert "[checks]" not in loader.to_toml(off)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("max_disruptions = -1", "a.toml:3: checks.max_disruptions: -1 is out of range [0, 1000000]"),
        ("max_disruptions = true", "a.toml:3: checks.max_disruptions: must be an integer, not true"),
        ("max_disruptions = 2.0", "a.toml:3: checks.max_disruptions: must be an integer, not 2.0"),
        (
            "disruptions = 1",
            "a.toml:3: checks.disruptions: unknown key; known: max_disruptions, progress_bound_ms, serializable_reads",
        ),
    ],
)
def test_a_bad_bound_is_refused_in_one_line(line: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        loader.parse(f'name = "a"\n[checks]\n{line}\n', "a.toml")
    assert str(caught.value) == expected


# --- end to end -------------------------------------------------------------------------------

REJOIN = """
name = "rejoin"
duration_ms = 7000

[cluster]
nodes = 3
pre_vote = {switch}
check_quorum = {switch}

[workload]
clients = 1
rate = 20

[phases]
quiet_ms = 2000
final_reads = false

[checks]
max_disruptions = 0

[[faults]]
kind = "partition"
shape = "isolate-node"
target = [1]
start_ms = 2000
duration_ms = 4000
"""


def _rejoin_run(switch: str, tmp_path: Path) -> CheckerResult:
    scenario = loader.parse(REJOIN.format(switch=switch), "rejoin.toml")
    outcome = api.run(loader.with_seed(scenario, 1), tmp_path / switch)
    return outcome.verdict.checkers["disruption"]


def test_a_follower_rejoining_without_prevote_deposes_the_leader(tmp_path: Path) -> None:
    result = _rejoin_run("false", tmp_path)
    assert result.verdict is Verdict.INVALID
    # Node 1 (cut off from 2 s to 6 s) is a follower of the leader elected before: it
    # climbs alone, and the leader it threatens is another node.
    assert all(anomaly["node"] == 1 for anomaly in result.found)
    assert all(anomaly["leader"] != 1 for anomaly in result.found)
    assert result.stats["disruptions"] >= 2


def test_with_prevote_and_checkquorum_the_same_rejoin_disrupts_nothing(tmp_path: Path) -> None:
    result = _rejoin_run("true", tmp_path)
    assert result.verdict is Verdict.VALID
    assert result.stats["disruptions"] == 0
    assert result.stats["max_disruptions"] == 0


def test_the_summary_line_counts_disruptions_the_bound_tolerates() -> None:
    unbounded = check(rejoining_climber(), bound=None)
    assert summary("disruption", unbounded) == "no anomaly; 2 terms begun over a healthy leader (no limit)"
    assert summary("disruption", check(rejoining_climber(), bound=2)).endswith("(bound 2)")
    assert summary("disruption", check([start(), *elected(1.0, 1, 2)])) == "no anomaly"
    assert summary("disruption", check(rejoining_climber())).startswith("2 anomalies from 1 cause; first cause: node 3")


def test_the_result_is_a_checker_result_that_reads_back_whole() -> None:
    settings = DisruptionSettings(WINDOW_US, 0, heartbeats_per_lease=10)
    result = check_disruption(rejoining_climber(), settings)
    assert result.verdict is Verdict.INVALID
    assert CheckerResult.from_json(result.to_json(), "verdict.json", "disruption") == result
    clean = check_disruption([start(), *elected(1.0, 1, 2)], settings)
    assert clean.verdict is Verdict.VALID
    assert clean.to_json()["anomalies"] == []
