"""The per-node progress checker on traces built by hand: a follower that stops applying
while its peers go on is caught with its node and moment, a cluster that keeps up passes,
and the bound is the scenario's to set, refused in one line when it is bad."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from checkers.node_progress import check_node_progress, default_bound_us
from checkers.verdict import Verdict
from raftsim.api import progress_bound_us
from scenarios import loader
from scenarios.loader import ScenarioError

LIVENESS_US = 10_000_000
BOUND_US = 1_000_000
END_US = 20_000_000


def event(t: int, kind: str, **fields: Any) -> dict[str, Any]:
    return {"t": t, "ev": kind, **fields}


def commit(t: int, node: int, index: int, term: int = 1) -> dict[str, Any]:
    return event(t, "hard_state", node=node, term=term, vote=1, commit=index)


def apply(t: int, node: int, first: int, last: int) -> dict[str, Any]:
    return event(t, "apply", node=node, index=first, entries=[[1, "0" * 16]] * (last - first + 1))


def trace(*middle: dict[str, Any]) -> list[dict[str, Any]]:
    """Node 1 leads term 1 from the start; `middle` are events of any time."""
    events = [
        event(0, "start", scenario="test", seed=1, nodes=[1, 2, 3], clients=1),
        event(0, "phase", phase="safety"),
        event(100, "role", node=1, role="leader", term=1, leader=1),
        event(LIVENESS_US, "phase", phase="liveness", leader_bound_us=BOUND_US),
        *middle,
        event(END_US, "phase", phase="end"),
        event(END_US, "end"),
    ]
    return sorted(events, key=lambda item: item["t"])


def keeping_up(stuck_node: int | None) -> list[dict[str, Any]]:
    """The leader commits one entry every 100 ms of the liveness phase and every node
    applies it 10 ms later, except `stuck_node` from the 21st entry on."""
    events = []
    for index in range(1, 100):
        t = LIVENESS_US + index * 100_000
        events.append(commit(t, 1, index))
        for node in (1, 2, 3):
            if node != stuck_node or index <= 20:
                events.append(apply(t + 10_000, node, index, index))
    return trace(*events)


def test_a_cluster_that_keeps_up_passes() -> None:
    result = check_node_progress(keeping_up(None), BOUND_US)
    assert result.verdict is Verdict.VALID
    assert result.stats is not None
    assert result.stats["heights"] == 99
    assert result.stats["applied"] == {"1": 99, "2": 99, "3": 99}


def test_a_follower_that_stops_applying_while_its_peers_go_on_is_caught() -> None:
    result = check_node_progress(keeping_up(3), BOUND_US)
    assert result.verdict is Verdict.INVALID
    (anomaly,) = result.found  # one stall, one anomaly, however long it lasts
    assert anomaly["property"] == "node-progress"
    assert anomaly["node"] == 3
    assert anomaly["index"] == 21
    assert anomaly["applied"] == 20
    assert anomaly["t"] == LIVENESS_US + 21 * 100_000 + BOUND_US, "the moment the bound ran out"
    assert "node 3 had applied up to 20" in anomaly["message"]


def test_a_follower_that_catches_up_within_the_bound_passes() -> None:
    late = [commit(LIVENESS_US + 1000, 1, 5), apply(LIVENESS_US + 2000, 1, 1, 5), apply(LIVENESS_US + 2000, 2, 1, 5)]
    late.append(apply(LIVENESS_US + BOUND_US - 1, 3, 1, 5))
    assert check_node_progress(trace(*late), BOUND_US).verdict is Verdict.VALID
    late[-1] = apply(LIVENESS_US + BOUND_US + 2000, 3, 1, 5)
    (anomaly,) = check_node_progress(trace(*late), BOUND_US).found
    assert anomaly["node"] == 3


def test_the_commit_index_at_the_phase_start_must_be_reached_too() -> None:
    events = [commit(5_000_000, 1, 7), apply(5_000_100, 1, 1, 7), apply(5_000_100, 2, 1, 7)]
    (anomaly,) = check_node_progress(trace(*events), BOUND_US).found
    assert (anomaly["node"], anomaly["index"], anomaly["t"]) == (3, 7, LIVENESS_US + BOUND_US)


def test_a_node_behind_a_degraded_link_with_the_leader_is_not_held_to_the_bound() -> None:
    events = [commit(LIVENESS_US + 1000, 1, 5), apply(LIVENESS_US + 2000, 1, 1, 5), apply(LIVENESS_US + 2000, 2, 1, 5)]
    (anomaly,) = check_node_progress(trace(*events), BOUND_US).found
    assert anomaly["node"] == 3
    for link in ((1, 3), (3, 1)):
        assert check_node_progress(trace(*events), BOUND_US, frozenset({link})).verdict is Verdict.VALID
    (elsewhere,) = check_node_progress(trace(*events), BOUND_US, frozenset({(2, 3)})).found
    assert elsewhere["node"] == 3, "only a link with the leader excuses a node"


def test_a_crashed_node_is_not_judged_until_it_returns() -> None:
    events = [event(LIVENESS_US + 500, "crash", node=3), commit(LIVENESS_US + 1000, 1, 5)]
    events += [apply(LIVENESS_US + 2000, 1, 1, 5), apply(LIVENESS_US + 2000, 2, 1, 5)]
    assert check_node_progress(trace(*events), BOUND_US).verdict is Verdict.VALID
    events.append(event(LIVENESS_US + 3000, "restart", node=3, term=1, vote=1, commit=0, log=[]))
    events += [commit(LIVENESS_US + 4000, 1, 6), apply(LIVENESS_US + 5000, 1, 6, 6), apply(LIVENESS_US + 5000, 2, 6, 6)]
    (anomaly,) = check_node_progress(trace(*events), BOUND_US).found
    assert (anomaly["node"], anomaly["index"]) == (3, 6)


def test_the_bound_defaults_to_three_longest_election_timeouts_and_is_settable() -> None:
    base = loader.parse('name = "a"\n[cluster]\ntick_ms = 50\nelection_ticks = 8\n', "a.toml")
    assert default_bound_us(50_000, 8, 0) == 3 * 2 * 8 * 50_000
    # Plus the commit's way to a follower: two heartbeat intervals and four one-way trips
    # over the slowest direction, stretched by the lossiest link's resends.
    network = base.network
    heartbeat_us = base.cluster.heartbeat_ticks * 50_000
    travel_us = (2 * heartbeat_us + 4 * (network.latency_us + network.jitter_us)) / (1 - network.loss)
    assert progress_bound_us(base) == 3 * 2 * 8 * 50_000 + int(travel_us)
    slow = loader.parse(
        'name = "a"\n[cluster]\nnodes = 3\n[[links]]\nfrom_nodes = [1]\nto_nodes = [2]\nextra_latency_us = 900000\n',
        "a.toml",
    )
    assert progress_bound_us(slow) - progress_bound_us(dataclasses.replace(slow, links=())) >= 4 * 900_000
    # Under steady loss elections take more attempts: the election timeouts stretch with
    # the chance a vote's request and answer both get through.
    lossy = dataclasses.replace(base, network=dataclasses.replace(network, loss=0.3))
    assert progress_bound_us(lossy) >= int(3 * 2 * 8 * 50_000 / 0.49)
    set_bound = loader.parse('name = "a"\n[checks]\nprogress_bound_ms = 2500\n', "a.toml")
    assert progress_bound_us(set_bound) == 2_500_000
    assert "progress_bound_ms = 2500" in loader.to_toml(set_bound)
    assert "progress_bound_ms" not in loader.to_toml(base)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("progress_bound_ms = 0", "a.toml:3: checks.progress_bound_ms: 0 is out of range [1, 3600000]"),
        ("progress_bound_ms = true", "a.toml:3: checks.progress_bound_ms: must be an integer, not true"),
        ("progress_bound_ms = 2.5", "a.toml:3: checks.progress_bound_ms: must be an integer, not 2.5"),
        (
            "progress_bound = 1",
            "a.toml:3: checks.progress_bound: unknown key; "
            "known: max_disruptions, progress_bound_ms, serializable_reads",
        ),
    ],
)
def test_a_bad_bound_is_refused_in_one_line(line: str, message: str) -> None:
    with pytest.raises(ScenarioError) as refused:
        loader.parse(f'name = "a"\n[checks]\n{line}\n', "a.toml")
    assert str(refused.value) == message


def test_a_node_removed_from_the_membership_owes_no_progress() -> None:
    """Node 3 stops applying at the 21st entry: an anomaly, unless a membership change
    applied before (`conf-apply`) removed it."""
    removal = event(
        LIVENESS_US + 2_050_000, "conf-apply", node=1, index=21, change="remove 3", voters=[1, 2], learners=[]
    )
    assert check_node_progress(keeping_up(stuck_node=3), BOUND_US).verdict is Verdict.INVALID
    removed = sorted([*keeping_up(stuck_node=3), removal], key=lambda item: item["t"])
    assert check_node_progress(removed, BOUND_US).verdict is Verdict.VALID
    # An older change applied later (a node catching up) does not bring node 3 back.
    older = event(
        LIVENESS_US + 2_060_000, "conf-apply", node=2, index=5, change="add-learner 3", voters=[1, 2, 3], learners=[]
    )
    events = sorted([*keeping_up(stuck_node=3), removal, older], key=lambda item: item["t"])
    assert check_node_progress(events, BOUND_US).verdict is Verdict.VALID
