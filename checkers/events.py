"""Rare events of a run: which of the unusual paths through Raft and the server it took.

A campaign that only counts failures cannot tell a thousand seeds that never left the happy
path from a thousand that went through every corner and held. These counts say which corners
a seed reached, so a fuzz summary can show how many seeds reached each, and swarm mode can
lean towards configurations that reach the rare ones.

Most events are read from the trace, replaying each node's role and log:

- `prevote-failed`: a pre-election ended without the node standing (the pre-candidate went
  back to follower, or on to a later term's follower): PreVote kept a term from rising.
- `prevote-term-change`: a pre-election was won and the node stood, raising its term.
- `election-lost`: a candidate's term ended without it leading.
- `checkquorum-step-down`: a leader stepped down in its own term, which only CheckQuorum does.
- `follower-truncation`: a node's log was cut back (an `append` at or below its last index
  replaced entries it held); `truncation-over-one-entry` when more than one entry went.
- `unsynced-lost`: a restart came back with less than the node had handed to its disk
  (entries, or a term) before the crash: writes not yet synced were lost.
- `leader-crashed`: a node crashed while it led.
- `snapshot-installed`: a follower was sent the leader's snapshot and installed it, its
  log replaced up to the snapshot's index.
- `restart-from-snapshot`: a node restarted from a snapshot on its disk.

The rest happen inside a node or a client and leave no line in the trace; rather than add
lines (which would change every run's digest), the simulator counts them as it runs and
hands the counts over (`observed`), and they are merged here unchanged:

- `vote-rejected-log`: a vote or pre-vote request reached a node whose log is more up to
  date than the candidate's (Raft's election restriction refuses it).
- `backoff-over-one-entry`: a leader, told its append did not match, moved its next index
  back by more than one entry at once.
- `request-forwarded`: a node passed a client's request on to the leader it knew.
- `forward-refused`: a forwarded request reached a node that does not lead either; requests
  are forwarded once, so this is where a forwarding loop would have begun.
- `request-resent`: a client heard nothing and resent a request to another node.
- `retry-after-leader-change`: a client, told by a node that it does not lead, retried
  elsewhere.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from checkers.trace import TraceEvent, restart_snapshot

TRACE_EVENTS = (
    "prevote-failed",
    "prevote-term-change",
    "election-lost",
    "checkquorum-step-down",
    "follower-truncation",
    "truncation-over-one-entry",
    "unsynced-lost",
    "leader-crashed",
    "snapshot-installed",
    "restart-from-snapshot",
)
OBSERVED_EVENTS = (
    "vote-rejected-log",
    "backoff-over-one-entry",
    "request-forwarded",
    "forward-refused",
    "request-resent",
    "retry-after-leader-change",
)
EVENT_NAMES = TRACE_EVENTS + OBSERVED_EVENTS
"""Every rare event, in the order summaries list them."""


class _Replay:
    """Each node's role, term and log length as the trace shows them, and the events seen."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.role: dict[int, str] = {}
        self.term: dict[int, int] = {}
        self.log_length: dict[int, int] = {}
        self.handed_term: dict[int, int] = {}
        """The highest term a node handed to its disk (its hard state), to compare on restart."""

    def role_changed(self, node: int, role: str, term: int) -> None:
        before, before_term = self.role.get(node, "follower"), self.term.get(node, 0)
        same_term = term == before_term
        if before == "pre-candidate" and role != "pre-candidate":
            self.counts["prevote-term-change" if role in ("candidate", "leader") else "prevote-failed"] += 1
        elif before == "candidate" and not (same_term and role in ("candidate", "leader")):
            self.counts["election-lost"] += 1  # deposed, timed out, or standing again later
        elif before == "leader" and role == "follower" and same_term:
            self.counts["checkquorum-step-down"] += 1
        self.role[node], self.term[node] = role, term

    def appended(self, node: int, index: int, entries: int) -> None:
        assert index >= 1, f"append at index {index}"
        length = self.log_length.get(node, 0)
        removed = length - index + 1
        if removed > 0:
            self.counts["follower-truncation"] += 1
            if removed > 1:
                self.counts["truncation-over-one-entry"] += 1
        self.log_length[node] = index - 1 + entries

    def crashed(self, node: int) -> None:
        if self.role.get(node) == "leader":
            self.counts["leader-crashed"] += 1
        self.role[node] = "crashed"

    def restarted(self, node: int, term: int, log_length: int) -> None:
        if log_length < self.log_length.get(node, 0) or term < self.handed_term.get(node, 0):
            self.counts["unsynced-lost"] += 1
        self.log_length[node] = log_length
        self.handed_term[node] = term
        self.role[node], self.term[node] = "follower", term


def rare_events(trace: Iterable[TraceEvent], observed: Mapping[str, int] | None = None) -> dict[str, int]:
    """Every rare event (`EVENT_NAMES`, in that order) with how often the run reached it:
    the trace's events replayed, the simulator's `observed` counts taken as they are."""
    replay = _Replay()
    for event in trace:
        kind = event["ev"]
        if kind == "role":
            replay.role_changed(event["node"], event["role"], event["term"])
        elif kind == "append":
            replay.appended(event["node"], event["index"], len(event["entries"]))
        elif kind == "hard_state":
            node = event["node"]
            replay.handed_term[node] = max(replay.handed_term.get(node, 0), event["term"])
        elif kind == "crash":
            replay.crashed(event["node"])
        elif kind == "restart":
            snapshot_index = restart_snapshot(event)[0]
            replay.restarted(event["node"], event["term"], snapshot_index + len(event["log"]))
            if snapshot_index:
                replay.counts["restart-from-snapshot"] += 1
        elif kind == "snapshot-install":
            replay.log_length[event["node"]] = event["index"]
            replay.counts["snapshot-installed"] += 1
    counts = replay.counts
    for name, count in (observed or {}).items():
        assert name in OBSERVED_EVENTS, f"the simulator counted an unknown event {name!r}"
        assert count >= 0, f"{name} counted {count} times"
        counts[name] += count
    return {name: counts[name] for name in EVENT_NAMES}


def reached(events: Mapping[str, int]) -> tuple[str, ...]:
    """The events a run reached at least once, in `EVENT_NAMES` order."""
    return tuple(name for name in EVENT_NAMES if events.get(name, 0) > 0)
