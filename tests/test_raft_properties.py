"""Raft's safety properties under random schedules, checked on a small in-memory cluster.

`Cluster` plays every host and the network. A schedule is a list of (action, argument)
pairs: tick one node or all, take a node's Ready (the host then waits for its disk) or
finish it (persist, send, apply, advance; PROCESS does both for every node, as hosts do
all the time), deliver / duplicate / drop a message chosen from those in flight (so
delivery order is arbitrary), let a round of the oldest messages arrive, propose, make a
node campaign, isolate a node or the leader and heal, or crash a node and restart it from
what its disk held (losing a Ready it had not finished). After every action the cluster
checks the properties of the Raft paper (figure 3) plus the host contract:

- election safety: at most one leader per term;
- log matching: two logs that hold an entry with the same index and term are identical
  up to it;
- state machine safety: no two nodes apply (or commit) different entries at one index;
- leader completeness: a leader of term T holds every entry committed in a term below T;
- per incarnation: the commit index never decreases, entries are applied exactly once,
  in order, and only once they are on the node's disk.

A violation raises `Violation`. With every bug off Hypothesis must find none; with a
planted bug on, a bounded search over seeded schedules must find one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftcore.bugs import COMMIT_OLD_TERM, SEND_BEFORE_PERSIST
from raftcore.raft import RaftNode
from raftcore.types import Config, Entry, HardState, Message, PersistedState, Ready, Role

(
    TICK,
    PROCESS,
    TAKE,
    DELIVER,
    DUPLICATE,
    DROP,
    PROPOSE,
    CRASH,
    CAMPAIGN,
    ISOLATE,
    HEAL,
    ISOLATE_LEADER,
    TICK_ALL,
    ROUND,
) = range(14)
NETWORK_MESSAGES_MAX = 400


class Violation(Exception):
    """A safety property or the host contract does not hold."""


@dataclass
class Host:
    node: RaftNode
    hard_state: HardState = field(default_factory=HardState)
    disk: list[Entry] = field(default_factory=list)
    pending: Ready | None = None
    incarnation: int = 0
    applied_index: int = 0
    commit_seen: int = 0


class Cluster:
    def __init__(
        self,
        size: int,
        bugs: frozenset[str] = frozenset(),
        pre_vote: bool = True,
        check_quorum: bool = True,
        max_entries_per_message: int = 64,
    ) -> None:
        self.peers = tuple(range(1, size + 1))
        self.options = dict(
            election_ticks=4,
            heartbeat_ticks=1,
            pre_vote=pre_vote,
            check_quorum=check_quorum,
            max_entries_per_message=max_entries_per_message,
            bugs=bugs,
        )
        self.hosts = {node_id: Host(self.start(node_id, 0, PersistedState())) for node_id in self.peers}
        self.network: list[Message] = []
        self.isolated: set[int] = set()  # a message to or from these is lost on delivery
        self.proposals = 0
        self.leader_of_term: dict[int, int] = {}
        self.applied: dict[int, Entry] = {}
        # index -> (entry, lowest term in which some node was seen to hold it committed)
        self.committed: dict[int, tuple[Entry, int]] = {}

    def start(self, node_id: int, incarnation: int, state: PersistedState) -> RaftNode:
        config = Config(node_id=node_id, peers=self.peers, **self.options)  # type: ignore[arg-type]
        return RaftNode(config, state, random.Random(node_id + 100 * incarnation))

    # ---- actions ----

    def act(self, action: int, argument: int) -> None:
        host = self.hosts[self.peers[argument % len(self.peers)]]
        if action == TICK:
            host.node.tick()
        elif action == TICK_ALL:
            for each in self.hosts.values():
                each.node.tick()
        elif action == ROUND:
            # What a healthy network does: every host works, the oldest messages arrive.
            self.act(PROCESS, 0)
            for _ in range(min(len(self.network), argument % 6 + 1)):
                self.act(DELIVER, 0)
        elif action == PROCESS:
            for each in self.hosts.values():
                self.take_ready(each)
                self.finish_ready(each)
        elif action == TAKE:
            self.take_ready(host)
        elif action in (DELIVER, DUPLICATE, DROP) and self.network:
            position = argument % len(self.network)
            message = self.network[position] if action == DUPLICATE else self.network.pop(position)
            if action != DROP and not {message.sender, message.to} & self.isolated:
                self.hosts[message.to].node.step(message)
        elif action == PROPOSE:
            self.proposals += 1
            host.node.propose(f"v{self.proposals}")
        elif action == CRASH:
            # Prefer a node with a batch on its way to disk: that is where crashes bite.
            writing = [each for each in self.hosts.values() if each.pending is not None]
            self.crash(writing[argument % len(writing)] if writing else host)
        elif action == CAMPAIGN:
            host.node.campaign()
        elif action == ISOLATE:
            self.isolated.add(host.node.node_id)
        elif action == HEAL:
            self.isolated.clear()
        elif action == ISOLATE_LEADER:
            leaders = [each for each in self.hosts.values() if each.node.role is Role.LEADER]
            if leaders:
                self.isolated.add(leaders[argument % len(leaders)].node.node_id)
        self.check()

    def send(self, messages: tuple[Message, ...]) -> None:
        self.network.extend(messages)
        del self.network[: max(0, len(self.network) - NETWORK_MESSAGES_MAX)]

    def take_ready(self, host: Host) -> None:
        """The host takes a batch and starts writing it; it may finish much later."""
        if host.pending is None and host.node.has_ready():
            host.pending = host.node.ready()
            if not host.pending.persist_before_send:
                self.send(host.pending.messages)

    def finish_ready(self, host: Host) -> None:
        if host.pending is None:
            return
        node = host.node
        ready, host.pending = host.pending, None
        if ready.hard_state is not None:
            host.hard_state = ready.hard_state
        if ready.entries:
            del host.disk[ready.entries[0].index - 1 :]
            host.disk.extend(ready.entries)
        if ready.persist_before_send:
            self.send(ready.messages)
        for entry in ready.committed_entries:
            self.apply(host, entry)
        node.advance(ready)

    def apply(self, host: Host, entry: Entry) -> None:
        node_id = host.node.node_id
        if entry.index != host.applied_index + 1:
            raise Violation(f"{node_id} applied {entry.index} after {host.applied_index}")
        if entry.index > len(host.disk) or host.disk[entry.index - 1] != entry:
            raise Violation(f"{node_id} applied {entry} before it was on its disk")
        host.applied_index = entry.index
        earlier = self.applied.setdefault(entry.index, entry)
        if earlier != entry:
            raise Violation(f"state machine safety: {node_id} applied {entry}, another {earlier}")

    def crash(self, host: Host) -> None:
        node_id = host.node.node_id
        host.incarnation += 1
        state = PersistedState(host.hard_state, tuple(host.disk))
        host.node = self.start(node_id, host.incarnation, state)
        host.pending = None
        host.applied_index = 0
        host.commit_seen = host.hard_state.commit

    # ---- properties ----

    def check(self) -> None:
        for host in self.hosts.values():
            self.check_node(host)
        nodes = [host.node for host in self.hosts.values()]
        logs = [node.log_entries() for node in nodes]
        for first in range(len(logs)):
            for second in range(first + 1, len(logs)):
                check_log_matching(logs[first], logs[second])
        for node, log in zip(nodes, logs, strict=True):
            if node.role is Role.LEADER:
                self.check_leader(node.node_id, node.term, log)

    def check_node(self, host: Host) -> None:
        node = host.node
        commit = node.commit_index
        if commit < host.commit_seen:
            raise Violation(f"{node.node_id} commit went back from {host.commit_seen} to {commit}")
        if commit > host.commit_seen:
            log = node.log_entries()
            for index in range(host.commit_seen + 1, commit + 1):
                entry = log[index - 1]
                earlier, term = self.committed.setdefault(index, (entry, node.term))
                if earlier != entry:
                    raise Violation(f"{node.node_id} committed {entry} where {earlier} was")
                self.committed[index] = (earlier, min(term, node.term))
            host.commit_seen = commit

    def check_leader(self, node_id: int, term: int, log: tuple[Entry, ...]) -> None:
        if self.leader_of_term.setdefault(term, node_id) != node_id:
            raise Violation(f"two leaders in term {term}: {self.leader_of_term[term]} and {node_id}")
        for index, (entry, committed_term) in self.committed.items():
            if committed_term < term and (index > len(log) or log[index - 1] != entry):
                raise Violation(f"leader {node_id} of term {term} lacks committed {entry}")


def check_log_matching(first: tuple[Entry, ...], second: tuple[Entry, ...]) -> None:
    for index in range(min(len(first), len(second)), 0, -1):
        if first[index - 1].term == second[index - 1].term:
            if first[:index] != second[:index]:
                raise Violation(f"log matching: logs agree on the term at {index} only")
            return


def run_schedule(cluster: Cluster, schedule: list[tuple[int, int]]) -> None:
    for action, argument in schedule:
        cluster.act(action, argument)


# Weights: message handling dominates so that elections finish between timeouts; faults
# are rarer. TAKE leaves a batch half-done, so steps and ticks run while it is "on its way
# to disk", the race etcd's unstable log exists for.
ACTION_WEIGHTS = {
    TICK: 4,
    TICK_ALL: 8,
    ROUND: 25,
    PROCESS: 5,
    TAKE: 5,
    DELIVER: 20,
    DUPLICATE: 2,
    DROP: 3,
    PROPOSE: 12,
    CRASH: 2,
    CAMPAIGN: 2,
    ISOLATE: 1,
    ISOLATE_LEADER: 1,
    HEAL: 3,
}
ACTION_POOL = [action for action, weight in ACTION_WEIGHTS.items() for _ in range(weight)]

schedules = st.lists(
    st.tuples(st.sampled_from(ACTION_POOL), st.integers(0, 1 << 16)),
    min_size=20,
    max_size=400,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.integers(3, 5),
    pre_vote=st.booleans(),
    check_quorum=st.booleans(),
    max_entries_per_message=st.sampled_from([1, 2, 64]),
    schedule=schedules,
)
def test_random_schedules_keep_raft_safe(
    size: int,
    pre_vote: bool,
    check_quorum: bool,
    max_entries_per_message: int,
    schedule: list[tuple[int, int]],
) -> None:
    cluster = Cluster(size, frozenset(), pre_vote, check_quorum, max_entries_per_message)
    run_schedule(cluster, schedule)


def churn_schedule(rng: random.Random, phases: int) -> list[tuple[int, int]]:
    """A fault-heavy schedule in phases, each like a Jepsen nemesis round: heal, make some
    node campaign, let messages flow for a few rounds while proposals arrive, sometimes cut
    the leader off mid-replication, sometimes crash a node while its batch is in flight.
    Leadership changes while old-term entries are half-replicated, which is what both
    planted bugs need in order to do damage."""
    schedule: list[tuple[int, int]] = []
    for _ in range(phases):
        schedule += [(HEAL, 0), (CAMPAIGN, rng.randrange(1 << 16))]
        for _ in range(rng.randrange(1, 10)):
            schedule.append((PROCESS, 0))
            schedule += [(DELIVER, rng.randrange(1 << 16)) for _ in range(rng.randrange(1, 5))]
            if rng.random() < 0.3:
                schedule.append((PROPOSE, rng.randrange(1 << 16)))
            if rng.random() < 0.3:
                schedule.append((ISOLATE_LEADER, rng.randrange(1 << 16)))
        if rng.random() < 0.3:
            node = rng.randrange(1 << 16)
            schedule += [(TAKE, node), (CRASH, node)]
    return schedule


SEARCH_SEEDS = 150
"""Bound of the bug search: churn schedules with seeds 0..149, of 30 phases (about 700
actions) each, on three nodes. At the time of writing the first violation shows at seed 6
for commit-old-term (21 of the 150 schedules find one) and at seed 3 for
send-before-persist (7 of 150); a search that runs to the bound takes about 2 s."""
SEARCH_PHASES = 30


def find_violation(bug: str, **options: object) -> tuple[int, str] | None:
    """The first seed below SEARCH_SEEDS whose churn schedule breaks a property, and why."""
    for seed in range(SEARCH_SEEDS):
        cluster = Cluster(bugs=frozenset({bug}), **options)  # type: ignore[arg-type]
        try:
            run_schedule(cluster, churn_schedule(random.Random(seed), SEARCH_PHASES))
        except Violation as violation:
            return seed, str(violation)
    return None


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 1 << 32),
    size=st.sampled_from([3, 5]),
    pre_vote=st.booleans(),
    check_quorum=st.booleans(),
    max_entries_per_message=st.sampled_from([1, 64]),
)
def test_churn_schedules_keep_raft_safe(
    seed: int, size: int, pre_vote: bool, check_quorum: bool, max_entries_per_message: int
) -> None:
    cluster = Cluster(size, frozenset(), pre_vote, check_quorum, max_entries_per_message)
    run_schedule(cluster, churn_schedule(random.Random(seed), SEARCH_PHASES))


def test_progress_is_made_under_random_schedules() -> None:
    """The safety property above would hold vacuously if nothing ever got committed."""
    rng = random.Random(0)
    applied = 0
    for _ in range(10):
        cluster = Cluster(3)
        run_schedule(cluster, [(rng.choice(ACTION_POOL), rng.randrange(1 << 16)) for _ in range(250)])
        applied += len(cluster.applied)
    assert applied >= 40


# With one entry per append a new leader sends old-term entries one by one, so a majority
# can hold an old entry before it holds the leader's own (figure 8 needs exactly that).
BUG_SEARCHES = [
    (COMMIT_OLD_TERM, dict(size=3, pre_vote=False, check_quorum=False, max_entries_per_message=1)),
    (SEND_BEFORE_PERSIST, dict(size=3, pre_vote=False, check_quorum=False)),
]


@pytest.mark.parametrize(("bug", "options"), BUG_SEARCHES, ids=[bug for bug, _ in BUG_SEARCHES])
def test_a_planted_bug_is_found(bug: str, options: dict[str, object]) -> None:
    found = find_violation(bug, **options)
    assert found is not None, f"no violation with {bug} in {SEARCH_SEEDS} schedules"


@pytest.mark.parametrize(("bug", "options"), BUG_SEARCHES, ids=[bug for bug, _ in BUG_SEARCHES])
def test_the_same_schedules_are_safe_without_the_bug(bug: str, options: dict[str, object]) -> None:
    """The control for the search: what it finds is the bug's doing, not the schedule's."""
    for seed in range(SEARCH_SEEDS // 3):
        cluster = Cluster(**options)  # type: ignore[arg-type]
        run_schedule(cluster, churn_schedule(random.Random(seed), SEARCH_PHASES))


def test_the_checks_reject_bad_states() -> None:
    """The checker itself must be able to fail: feed it states Raft rules out."""
    good = (Entry(1, 1), Entry(2, 2, "a"))
    check_log_matching(good, (Entry(1, 1), Entry(3, 2, "b")))
    with pytest.raises(Violation, match="log matching"):
        check_log_matching(good, (Entry(1, 1, "other"), Entry(2, 2, "a")))
    cluster = Cluster(3)
    first, second = cluster.hosts[1], cluster.hosts[2]
    first.disk, second.disk = [Entry(1, 1, "a")], [Entry(1, 1, "b")]
    cluster.apply(first, first.disk[0])
    with pytest.raises(Violation, match="state machine safety"):
        cluster.apply(second, second.disk[0])
    with pytest.raises(Violation, match="before it was on its disk"):
        cluster.apply(cluster.hosts[3], Entry(1, 1, "a"))
    cluster.check_leader(1, 2, ())
    with pytest.raises(Violation, match="two leaders in term 2"):
        cluster.check_leader(2, 2, ())
    cluster.committed[1] = (Entry(1, 1, "a"), 1)
    cluster.check_leader(1, 1, ())  # committed in its own term: not yet its concern
    with pytest.raises(Violation, match="lacks committed"):
        cluster.check_leader(3, 3, (Entry(1, 1, "b"),))
