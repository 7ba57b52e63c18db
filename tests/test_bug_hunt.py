"""The harness finds the bugs planted in the core, and only when they are planted.

Each hunt runs seeds 1, 2, … of a built-in scenario with one bug on and stops at the first
seed whose verdict is not valid; it fails if none is within the stated bound. The same
seeds with no bug must all pass, or the checkers would be crying wolf.
"""

from __future__ import annotations

import dataclasses

import pytest

from checkers.verdict import RunVerdict, Verdict
from raftcore.bugs import BUGS
from raftsim import api
from scenarios import loader

# bug -> (built-in scenario, seeds tried at most, checkers expected to notice). A bound
# leaves room above the seeds `benchmarks/bug_hunt.py` needs from other starting points
# (that benchmark reads its hunting grounds from here); from seed 1 most hunts need one.
HUNTS: dict[str, tuple[str, int, frozenset[str]]] = {
    "stale-local-read": ("leader-lease", 5, frozenset({"linearizability"})),
    "send-before-persist": ("slow-disk", 12, frozenset({"linearizability", "raft-safety"})),
    "commit-old-term": ("figure-8", 30, frozenset({"linearizability", "raft-safety"})),
    "vote-not-persisted": ("crash-after-election", 5, frozenset({"raft-safety"})),
    "vote-without-log-check": ("crash-after-election", 10, frozenset({"linearizability", "raft-safety"})),
    "stale-append-truncates": ("reordering-links", 3, frozenset({"raft-safety", "liveness"})),
    "accept-stale-term-append": ("paused-leader", 5, frozenset({"raft-safety"})),
    "heartbeat-commit-beyond-match": ("figure-8", 3, frozenset({"raft-safety"})),
    "restart-skips-apply": ("crash-restart", 3, frozenset({"linearizability", "raft-safety"})),
    "read-from-follower": ("leader-lease", 3, frozenset({"linearizability"})),
    "ack-before-commit": ("partition-leader", 5, frozenset({"linearizability"})),
    "cas-checked-at-propose": ("cas-contention", 3, frozenset({"linearizability"})),
    "overwrite-keeps-revision": ("mixed", 2, frozenset({"revisions"})),
}
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
            return
    pytest.fail(f"{bug} was not found in seeds 1..{bound} of {scenario_name}")


@pytest.mark.parametrize("scenario_name", sorted({hunt[0] for hunt in HUNTS.values()}))
def test_the_hunting_grounds_are_clean_without_bugs(scenario_name: str) -> None:
    for seed in range(1, CONTROL_SEEDS + 1):
        verdict = _verdict(scenario_name, seed, ())
        assert verdict.verdict is Verdict.VALID, (scenario_name, seed, verdict.checkers)
