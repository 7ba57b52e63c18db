"""The harness finds the bugs planted in the core, and only when they are planted.

Each hunt runs seeds 1, 2, … of a built-in scenario with one bug on and stops at the first
seed whose verdict is not valid; it fails if none is within the stated bound. The same
seeds with no bug must all pass, or the checkers would be crying wolf.
"""

from __future__ import annotations

import dataclasses

import pytest

from checkers.verdict import RunVerdict, Verdict
from raftcore.bugs import BUGS, COMMIT_OLD_TERM, LOG_DAMAGING_BUGS, QUORUM_HALF
from raftsim import api
from scenarios import loader, swarm

# bug -> (built-in scenario, seeds tried at most, checkers expected to notice). A bound
# leaves room above the seeds `benchmarks/bug_hunt.py` needs from other starting points
# (that benchmark reads its hunting grounds from here); from seed 1 most hunts need one.
# A bug that breaks a Raft invariant stops its run there (`invariants`), often before the
# trace or history shows the damage, so those hunts count that checker too.
HUNTS: dict[str, tuple[str, int, frozenset[str]]] = {
    "stale-local-read": ("leader-lease", 5, frozenset({"linearizability"})),
    "send-before-persist": ("slow-disk", 12, frozenset({"linearizability", "raft-safety", "invariants"})),
    "commit-old-term": ("figure-8", 30, frozenset({"linearizability", "raft-safety", "invariants"})),
    "vote-not-persisted": ("crash-after-election", 5, frozenset({"raft-safety", "invariants"})),
    "vote-without-log-check": ("crash-after-election", 10, frozenset({"linearizability", "raft-safety", "invariants"})),
    "stale-append-truncates": ("reordering-links", 3, frozenset({"raft-safety", "liveness", "invariants"})),
    "accept-stale-term-append": ("paused-leader", 5, frozenset({"raft-safety", "invariants"})),
    "heartbeat-commit-beyond-match": ("figure-8", 3, frozenset({"raft-safety", "invariants"})),
    "restart-skips-apply": ("crash-restart", 3, frozenset({"linearizability", "raft-safety"})),
    "read-from-follower": ("leader-lease", 3, frozenset({"linearizability"})),
    "read-index-without-heartbeat": ("partition-leader", 5, frozenset({"linearizability"})),
    "lease-read-without-check-quorum": ("lease-reads", 5, frozenset({"linearizability"})),
    "read-index-before-apply": ("lossy-links", 3, frozenset({"linearizability"})),
    "ack-before-commit": ("partition-leader", 5, frozenset({"linearizability"})),
    "cas-checked-at-propose": ("cas-contention", 3, frozenset({"linearizability"})),
    "overwrite-keeps-revision": ("mixed", 2, frozenset({"revisions"})),
    "pre-vote-counted-as-vote": ("crash-after-election", 10, frozenset({"raft-safety", "invariants"})),
    "pre-vote-raises-term": ("partition-halves", 3, frozenset({"disruption"})),
    "quorum-half": ("two-halves", 3, frozenset({"raft-safety", "linearizability"})),
    "leader-keeps-role-on-higher-term": ("figure-8", 3, frozenset({"raft-safety"})),
    "transfer-skips-log-check": ("transfer-partition", 3, frozenset({"raft-safety", "invariants"})),
    "follower-commit-own-tail": ("figure-8", 3, frozenset({"raft-safety"})),
    "conflict-slice-off-by-one": ("figure-8", 5, frozenset({"raft-safety"})),
    "inflight-never-freed": ("partition-leader", 2, frozenset({"liveness", "node-progress"})),
    "probe-next-not-decremented": ("crash-after-election", 3, frozenset({"liveness"})),
    "retry-answered-afresh": ("paused-leader", 3, frozenset({"linearizability", "revisions"})),
    "commit-counts-sent": ("figure-8", 3, frozenset({"raft-safety", "linearizability"})),
    "forward-acknowledged": ("figure-8", 3, frozenset({"linearizability"})),
    "range-past-reads-current": ("etcd-mix", 3, frozenset({"revisions"})),
    "delete-keeps-version": ("etcd-mix", 3, frozenset({"linearizability", "revisions"})),
    "compact-drops-latest": ("etcd-mix", 3, frozenset({"linearizability", "revisions"})),
    "txn-compare-at-propose": ("kubernetes", 3, frozenset({"linearizability"})),
    "range-more-off-by-one": ("kubernetes", 3, frozenset({"linearizability"})),
    "watch-split-drops-revision": ("watch", 3, frozenset({"watch"})),
    "watch-start-repeats-last": ("informers", 3, frozenset({"watch"})),
    "lease-not-extended": ("controller-election", 3, frozenset({"leases"})),
    "lease-deadline-from-grant": ("controller-election", 3, frozenset({"leases"})),
    "lease-revoke-split": ("controller-election", 3, frozenset({"linearizability"})),
    "snapshot-beyond-applied": ("snapshot-install", 3, frozenset({"raft-safety", "linearizability"})),
    "snapshot-keeps-conflicting-entries": ("snapshot-divergent", 6, frozenset({"raft-safety", "invariants"})),
    "restart-ignores-torn-record": ("torn-writes", 3, frozenset({"raft-safety", "invariants"})),
    "two-conf-changes-in-flight": ("membership-churn", 6, frozenset({"raft-safety", "invariants", "linearizability"})),
    "config-from-committed": ("membership-leader-loss", 8, frozenset({"raft-safety", "invariants"})),
}
ETCD_API_BUGS = (
    "range-past-reads-current",
    "delete-keeps-version",
    "compact-drops-latest",
    "txn-compare-at-propose",
    "range-more-off-by-one",
)
"""The slips of etcd's data API, which the Kubernetes workload must find too: what a user
running Kubernetes on the store would see."""
CONTROL_SEEDS = 3


def _verdict(scenario_name: str, seed: int, bugs: tuple[str, ...]) -> RunVerdict:
    scenario = dataclasses.replace(loader.load(scenario_name), seed=seed, bugs=bugs)
    return api.run(scenario, None, budget_s=60).verdict


def test_every_planted_bug_has_a_hunt() -> None:
    assert set(HUNTS) == set(BUGS)


@pytest.mark.parametrize("bug", sorted(HUNTS))
def test_planted_bug_is_found(bug: str) -> None:
    scenario_name, bound, expected_checkers = HUNTS[bug]
    for seed in range(1, bound + 1):
        verdict = _verdict(scenario_name, seed, (bug,))
        if verdict.verdict is Verdict.INVALID:
            flagged = set(verdict.failing())
            assert flagged & expected_checkers, f"{bug} flagged only by {flagged}"
            if bug in LOG_DAMAGING_BUGS:
                # The log carries on past the damage such a bug does, for a checker to see.
                assert "crash" not in flagged, f"{bug} crashed the cluster at seed {seed}: {verdict.checkers['crash']}"
            return
    pytest.fail(f"{bug} was not found in seeds 1..{bound} of {scenario_name}")


@pytest.mark.parametrize("bug", ETCD_API_BUGS)
def test_the_kubernetes_workload_finds_every_slip_of_the_etcd_api(bug: str) -> None:
    for seed in range(1, 4):
        if _verdict("kubernetes", seed, (bug,)).verdict is Verdict.INVALID:
            return
    pytest.fail(f"{bug} was not found in seeds 1..3 of kubernetes")


@pytest.mark.parametrize("scenario_name", sorted({hunt[0] for hunt in HUNTS.values()}))
def test_the_hunting_grounds_are_clean_without_bugs(scenario_name: str) -> None:
    for seed in range(1, CONTROL_SEEDS + 1):
        verdict = _verdict(scenario_name, seed, ())
        assert verdict.verdict is Verdict.VALID, (scenario_name, seed, verdict.checkers)


EVEN_SWARM_SEEDS = 2
"""Swarm seeds drawing an even cluster size that `quorum-half` is run on."""


def test_quorum_half_on_even_swarm_draws_ends_in_anomalies_not_crashes() -> None:
    """On an even cluster size the wrong quorum elects two leaders of a term and loses
    committed entries; every such seed must end in a checker's verdict, never in an
    assertion of the cluster (a crash), so a swarm campaign judges it like any other."""
    base = loader.load("swarm")
    even = [
        seed for seed in range(1, 200) if swarm.draw(dataclasses.replace(base, seed=seed)).cluster.nodes in (2, 4, 6)
    ][:EVEN_SWARM_SEEDS]
    assert len(even) == EVEN_SWARM_SEEDS, "swarm draws even cluster sizes"
    for seed in even:
        verdict = _verdict("swarm", seed, (QUORUM_HALF,))
        assert "crash" not in set(verdict.failing()), (seed, verdict.checkers.get("crash"))


CHURN_SWARM_SEEDS = 4
"""Swarm seeds in the leader-churn corner that `commit-old-term` must be found within."""


def test_swarm_leader_churn_finds_commit_old_term() -> None:
    """A swarm campaign knows nothing of figure 8, yet its leader-churn corner (five nodes
    without CheckQuorum, leaders cut off as they take office and back after others led)
    finds a leader committing an earlier term's entries by counting replicas within a few
    of its seeds; a swarm seed of the built-in scenario adds faults only in that corner.
    Seeds 5 and 9 hold; 14 finds it, at the broken invariant, in under a second."""
    base = loader.load("swarm")
    churned = [seed for seed in range(1, 200) if swarm.draw(dataclasses.replace(base, seed=seed)).faults][
        :CHURN_SWARM_SEEDS
    ]
    assert len(churned) == CHURN_SWARM_SEEDS, "swarm draws the leader-churn corner"
    expected = HUNTS[COMMIT_OLD_TERM][2]
    for seed in churned:
        verdict = _verdict("swarm", seed, (COMMIT_OLD_TERM,))
        if verdict.verdict is Verdict.INVALID:
            flagged = set(verdict.failing())
            assert flagged & expected and "crash" not in flagged, (seed, flagged)
            return
    pytest.fail(f"commit-old-term was not found in the leader-churn swarm seeds {churned}")
