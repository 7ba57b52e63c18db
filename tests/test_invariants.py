"""The world's state checker: each invariant passes on a settled cluster and catches a bad
state built by hand on it; a run under a log-damaging bug ends with an `invariants`
anomaly at its moment, not a crash, and that run replays and shrinks."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from tests_support import shortened

from raftcore.bugs import SEND_BEFORE_PERSIST
from raftcore.raft import RaftNode
from raftcore.types import NO_NODE, Entry, HardState, Membership, Ready, Role
from raftsim import api, shrink
from scenarios import loader
from scenarios.resolve import resolve
from sim.clock import MS
from sim.host import Host
from sim.invariants import INVARIANTS, Invariants, InvariantViolation
from sim.world import World

SETTLED_US = 3000 * MS


def settled_world() -> World:
    """A five-node cluster that has elected a leader and committed some writes."""
    scenario = dataclasses.replace(shortened("partition-leader", duration_ms=4000, quiet_ms=1000), faults=())
    world = World(resolve(scenario))
    for client in world.clients:  # as World.run starts them, so that writes get committed
        world.env.process(client.run(SETTLED_US, False))
    world.env.run(until=SETTLED_US)
    return world


def checker(world: World) -> Invariants:
    assert world.invariants is not None
    return world.invariants


def node(host: Host) -> RaftNode:
    assert host.server is not None
    return host.server.node


def leader_and_follower(world: World) -> tuple[Host, Host]:
    leader_id = world.leader()
    assert leader_id is not None
    leader = world.hosts[leader_id]
    follower = next(
        host
        for host in world.hosts.values()
        if host is not leader and host.server is not None and node(host).term == node(leader).term
    )
    assert node(follower).commit_index > 1, "the cluster committed something worth checking"
    return leader, follower


def batch(entries: tuple[Entry, ...] = (), hard_state: HardState | None = None) -> Ready:
    """A Ready as the host hands it to the checker; only its entries and hard state are read."""
    return Ready(hard_state=hard_state, soft_state=None, entries=entries, messages=(), committed_entries=())


def voting(host: Host, candidate: int) -> Ready:
    """`host` votes for `candidate` in its term: the Ready that carries the vote."""
    raft = node(host)
    raft.vote = candidate
    return batch(hard_state=HardState(term=raft.term, vote=candidate, commit=raft.commit_index))


def caught(invariant: str, world: World, host: Host, ready: Ready | None = None, sender: int = 0) -> None:
    """The state checker raises `invariant` when it looks at `host` next."""
    assert invariant in INVARIANTS
    with pytest.raises(InvariantViolation) as raised:
        if ready is not None:
            checker(world).after_ready(host, ready)
        else:
            checker(world).after_step(host, sender)
    violation = raised.value.violation
    assert violation.invariant == invariant, violation
    assert violation.t_us == SETTLED_US
    assert violation.nodes[0] == host.node_id or violation.nodes[0] == sender
    assert violation.states, "the nodes' states at the moment are kept"


def test_a_settled_cluster_passes_every_check() -> None:
    world = settled_world()
    leader, follower = leader_and_follower(world)
    for host in world.hosts.values():
        checker(world).after_ready(host, batch())
        checker(world).after_step(host, leader.node_id if host is not leader else follower.node_id)
    stats = checker(world).stats()
    assert stats["committed_prefix"] >= node(follower).commit_index
    assert stats["terms_led"] == 1


def test_a_leader_believing_a_follower_holds_more_than_it_does_is_caught() -> None:
    world = settled_world()
    leader, follower = leader_and_follower(world)
    progress = node(leader).progress(follower.node_id)
    assert progress is not None
    match = progress.match
    assert match > 1, "the follower acknowledged entries"
    checker(world).after_step(leader, follower.node_id)  # as acknowledged: both sides agree
    # The follower's entry at `match` gives way to one of a later term, as a delayed or
    # stale append might make it: the leader still counts the entry it believes is there.
    log = node(follower).log
    log.committed = min(log.committed, match - 1)
    log.append([Entry(term=node(leader).term + 1, index=match, data="other")])
    caught("leader-match", world, leader, sender=follower.node_id)


def test_a_follower_committing_an_entry_its_leader_lacks_is_caught() -> None:
    world = settled_world()
    leader, follower = leader_and_follower(world)
    log, leader_log = node(follower).log, node(leader).log
    if log.last_index < leader_log.last_index:  # catch up first: only the last entry is wrong
        log.append(leader_log.slice(log.last_index + 1, leader_log.last_index + 1))
    beyond = leader_log.last_index + 1
    log.append([Entry(term=node(leader).term, index=beyond, data="not the leader's")])
    log.committed = beyond
    caught("follower-commit", world, follower, batch())


def test_a_leader_elected_without_a_majority_of_votes_is_caught() -> None:
    world = settled_world()
    _leader, follower = leader_and_follower(world)
    node(follower).become_candidate()
    node(follower).become_leader()  # its own vote only, of five
    caught("election-quorum", world, follower, batch())


def test_a_second_vote_in_one_term_is_caught_once_persisted() -> None:
    world = settled_world()
    leader, follower = leader_and_follower(world)
    assert node(follower).vote == leader.node_id, "the follower voted for its leader"
    other = next(node_id for node_id in world.hosts if node_id not in (leader.node_id, follower.node_id))
    ready = voting(follower, other)
    checker(world).after_ready(follower, ready)  # not cast until persisted
    with pytest.raises(InvariantViolation) as raised:
        checker(world).after_persist(follower, ready)
    assert raised.value.violation.invariant == "one-vote-per-term"
    assert raised.value.violation.nodes == (follower.node_id, leader.node_id, other)


def test_a_vote_lost_in_a_crash_before_it_was_persisted_was_never_cast() -> None:
    world = settled_world()
    leader, follower = leader_and_follower(world)
    term = node(follower).term
    first, second = [node_id for node_id in world.hosts if node_id not in (leader.node_id, follower.node_id)][:2]
    node(follower).become_follower(term + 1, 0)  # a candidate of the next term asks
    checker(world).after_ready(follower, voting(follower, first))
    follower.crash()  # before its disk synced that vote: its answer never left
    follower.restart()
    assert node(follower).term == term, "the disk kept the term before"
    node(follower).become_follower(term + 1, 0)  # another candidate of that term asks
    ready = voting(follower, second)
    checker(world).after_ready(follower, ready)
    checker(world).after_persist(follower, ready)


def test_a_second_leader_of_a_term_is_caught() -> None:
    world = settled_world()
    _leader, follower = leader_and_follower(world)
    node(follower).role = Role.LEADER
    caught("one-leader-per-term", world, follower, batch())


def test_a_commit_index_falling_back_is_caught() -> None:
    world = settled_world()
    _leader, follower = leader_and_follower(world)
    checker(world).after_ready(follower, batch())  # the checker has seen its commit index
    node(follower).log.committed -= 1
    caught("committed-prefix", world, follower, batch())


def test_an_entry_written_over_a_committed_one_in_a_later_term_is_caught() -> None:
    world = settled_world()
    _leader, follower = leader_and_follower(world)
    committed = node(follower).log.slice(1, 2)
    checker(world).after_ready(follower, batch(committed))  # the same entry again is fine
    overwrite = (Entry(term=node(follower).term, index=1, data="other"),)
    caught("committed-prefix", world, follower, batch(overwrite))


def test_a_send_before_persist_run_ends_with_an_invariants_anomaly_not_a_crash(tmp_path: Path) -> None:
    scenario = dataclasses.replace(loader.load("slow-disk"), seed=1, bugs=(SEND_BEFORE_PERSIST,))
    out = tmp_path / "run"
    outcome = api.run(scenario, out)
    result = outcome.result
    assert result.crash is None
    assert result.invariants is not None
    violation = result.invariants.violation
    assert violation is not None
    # Votes answered before they were durable elect the first leader: caught right there.
    assert violation.invariant == "election-quorum"
    verdict = json.loads((out / "verdict.json").read_text(encoding="utf-8"))
    assert verdict["valid"] is False
    assert "crash" not in verdict["checkers"]
    assert "liveness" not in verdict["checkers"], "a stopped run never reached its quiet phase"
    entry = verdict["checkers"]["invariants"]
    assert entry["valid"] is False
    (anomaly,) = entry["anomalies"]
    assert anomaly["property"] == "election-quorum"
    assert anomaly["t"] == violation.t_us
    assert anomaly["node"] == violation.nodes[0]
    assert anomaly["phase"] == "safety"
    last = json.loads((out / "trace.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    assert last == {"t": violation.t_us, "ev": "end"}, "the world stopped at the violation"
    assert api.replay(out)[0], "the stopped run replays to the same digest"
    shrunk = shrink.shrink(out, max_attempts=3)
    assert "invariants" in shrunk.checkers


def test_the_world_runs_without_the_checker_when_asked() -> None:
    scenario = resolve(shortened("partition-leader", duration_ms=1000, quiet_ms=500))
    checked, unchecked = World(scenario).run(), World(scenario, check_invariants=False).run()
    assert unchecked.invariants is None
    assert checked.invariants is not None
    assert checked.invariants.violation is None
    assert checked.digest == unchecked.digest, "checking changes nothing the world does"


def _elect_with_votes_of(world: World, candidate: Host, voters: tuple[int, ...]) -> None:
    """`candidate` stands in a new term and `voters` vote for it, each vote persisted."""
    node(candidate).become_candidate()
    term = node(candidate).term
    for voter_id in voters:
        voter = world.hosts[voter_id]
        node(voter).become_follower(term, NO_NODE)  # a leader among them steps down for the new term
        ready = voting(voter, candidate.node_id)
        checker(world).after_ready(voter, ready)
        checker(world).after_persist(voter, ready)
    node(candidate).become_leader()


@pytest.mark.parametrize(("voters", "caught_here"), [((4, 5), True), ((1, 2), False)])
def test_a_leader_elected_by_voters_two_changes_old_is_caught(voters: tuple[int, ...], caught_here: bool) -> None:
    """Two removals committed (of 5, then 4): node 3, still counting all five, wins with
    3, 4 and 5, a majority of its five but of neither the committed {1, 2, 3, 4} nor
    {1, 2, 3}, so a majority of those may elect another leader of its term. With 1, 2 and
    3 the same count is a majority of the newest voters, and passes."""
    world = settled_world()
    assert sorted(world.hosts) == [1, 2, 3, 4, 5]
    memberships = checker(world)._prefix.memberships
    memberships[:] = [Membership(frozenset(voters)) for voters in ({1, 2, 3, 4, 5}, {1, 2, 3, 4}, {1, 2, 3})]
    candidate = world.hosts[3]
    assert node(candidate).membership.voters == frozenset({1, 2, 3, 4, 5})
    if caught_here:
        with pytest.raises(InvariantViolation) as raised:
            _elect_with_votes_of(world, candidate, voters)
            checker(world).after_ready(candidate, batch())
        assert raised.value.violation.invariant == "election-quorum"
        assert "a majority of neither the latest committed voters (1 2 3)" in raised.value.violation.message
    else:
        _elect_with_votes_of(world, candidate, voters)
        checker(world).after_ready(candidate, batch())
