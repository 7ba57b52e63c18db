"""Each node's Raft state (log tail, commit index, term, role) at the moments a report
needs it, folded from the trace.

A Raft safety anomaly is judged on the logs: which entry a node held, committed or applied
at an index. The report shows that state beside the anomaly, so the reader sees the logs
disagree rather than take the checker's word. It is computed here from the trace itself
(`append`, `restart`, `hard_state`, `role`, `crash`, `pause`, `resume`), so it does not
depend on what a checker chose to record; `ack` events name the client request that
proposed each entry, which is how an entry leads back to its client operation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from checkers.trace import TraceEvent, restart_snapshot

TAIL = 6
"""Entries shown of each node's log: the last ones, where logs diverge."""
MOMENTS_MAX = 20
"""Moments snapshotted at most (the first ones): a run with thousands of anomalies needs
the state at its first few, and each snapshot costs a copy of every tail."""


@dataclass(frozen=True, slots=True)
class RawNodeState:
    node: int
    role: str
    term: int
    commit: int
    log_length: int
    tail: tuple[tuple[int, int, str], ...]
    """(index, term, digest) of the last entries."""


class LogTracker:
    """Feed it trace events in order; it snapshots every node at each of `moments` (the
    state after every event at or before that time) and remembers which client request
    each acknowledged entry carried."""

    def __init__(self, moments: Iterable[int]) -> None:
        self._moments = sorted(set(moments))[:MOMENTS_MAX]
        self._next = 0
        self._logs: dict[int, list[tuple[int, str]]] = {}
        self._commit: dict[int, int] = {}
        self._term: dict[int, int] = {}
        self._role: dict[int, str] = {}
        self._held_role: dict[int, str] = {}
        self.snapshots: dict[int, tuple[RawNodeState, ...]] = {}
        self.requests: dict[str, tuple[str, str]] = {}
        """Entry digest -> (client, request) of the request it carries."""

    @property
    def wanted(self) -> bool:
        return bool(self._moments)

    def feed(self, event: TraceEvent) -> None:
        t = event["t"]
        while self._next < len(self._moments) and t > self._moments[self._next]:
            self._snapshot(self._moments[self._next])
        handler = _HANDLERS.get(event["ev"])
        if handler is not None:
            handler(self, event)

    def finish(self) -> None:
        while self._next < len(self._moments):
            self._snapshot(self._moments[self._next])

    def at(self, t: int) -> tuple[RawNodeState, ...]:
        return self.snapshots.get(t, ())

    def _snapshot(self, t: int) -> None:
        self._next += 1
        states = []
        for node in sorted(self._role):
            log = self._logs.get(node, [])
            first = max(0, len(log) - TAIL)
            tail = tuple((first + k + 1, term, digest) for k, (term, digest) in enumerate(log[first:]))
            states.append(
                RawNodeState(node, self._role[node], self._term.get(node, 0), self._commit.get(node, 0), len(log), tail)
            )
        self.snapshots[t] = tuple(states)

    def _start(self, event: TraceEvent) -> None:
        for node in event["nodes"]:
            self._role.setdefault(node, "follower")

    def _append(self, event: TraceEvent) -> None:
        node, index = event["node"], event["index"]
        log = self._logs.setdefault(node, [])
        if index < 1:
            return
        # An append at index i replaces whatever the log held from i on, as Raft's does.
        del log[index - 1 :]
        if len(log) == index - 1:
            log.extend((term, digest) for term, digest in event["entries"])

    def _restart(self, event: TraceEvent) -> None:
        node = event["node"]
        index, term = restart_snapshot(event)
        self._logs[node] = self._through_snapshot(node, index, term) + [(t, digest) for t, digest in event["log"]]
        self._commit[node] = event["commit"]
        self._term[node] = event["term"]
        self._role[node] = "follower"

    def _restore(self, event: TraceEvent) -> None:
        """A cluster restored from a backup: every member holds its snapshot, committed."""
        for node in event["nodes"]:
            self._logs[node] = [(event["term"], "")] * event["index"]
            self._commit[node] = event["index"]
            self._term[node] = event["term"]

    def _snapshot_install(self, event: TraceEvent) -> None:
        node = event["node"]
        self._logs[node] = self._through_snapshot(node, event["index"], event["term"])

    def _through_snapshot(self, node: int, index: int, term: int) -> list[tuple[int, str]]:
        """The entries a snapshot up to `index` stands for, as far as the node's log showed
        them before; the rest only as the snapshot's term, with no digest to show."""
        known = self._logs.get(node, [])[:index]
        return known + [(term, "")] * (index - len(known))

    def _hard_state(self, event: TraceEvent) -> None:
        self._term[event["node"]] = event["term"]
        self._commit[event["node"]] = event["commit"]

    def _role_event(self, event: TraceEvent) -> None:
        node = event["node"]
        self._term[node] = max(self._term.get(node, 0), event["term"])
        if self._role.get(node) in ("crashed", "paused"):
            self._held_role[node] = event["role"]
        else:
            self._role[node] = event["role"]

    def _crash(self, event: TraceEvent) -> None:
        self._role[event["node"]] = "crashed"

    def _pause(self, event: TraceEvent) -> None:
        node = event["node"]
        self._held_role[node] = self._role.get(node, "follower")
        self._role[node] = "paused"

    def _resume(self, event: TraceEvent) -> None:
        node = event["node"]
        self._role[node] = self._held_role.pop(node, "follower")

    def _ack(self, event: TraceEvent) -> None:
        self.requests.setdefault(event["digest"], (event["client"], event["request"]))


_HANDLERS = {
    "start": LogTracker._start,
    "append": LogTracker._append,
    "restart": LogTracker._restart,
    "restore": LogTracker._restore,
    "snapshot-install": LogTracker._snapshot_install,
    "hard_state": LogTracker._hard_state,
    "role": LogTracker._role_event,
    "crash": LogTracker._crash,
    "pause": LogTracker._pause,
    "resume": LogTracker._resume,
    "ack": LogTracker._ack,
}


def request_lines(invokes: Iterable[tuple[int, int]]) -> dict[str, int]:
    """Client request ids (`c<slot>-<n>`, the n-th operation a client slot invoked) to the
    history line of that invoke, from (client slot, line) pairs in history order."""
    counts: dict[int, int] = {}
    found = {}
    for client, line in invokes:
        counts[client] = counts.get(client, 0) + 1
        found[f"c{client}-{counts[client]}"] = line
    return found


__all__ = ["LogTracker", "RawNodeState", "request_lines"]
