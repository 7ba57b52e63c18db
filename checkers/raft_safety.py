"""Judge a trace against Raft's safety properties by replaying every node's log.

The checker keeps, for each node, the log the node itself believes it holds: `append`
replaces the log from `index` on, `restart` replaces it with what the disk held, and
`crash` stops the node until its restart. The host emits `append` before `role`, then
`hard_state`, then `apply` and `ack` within one batch, so at every event the replayed log
is the one the node acted on. On that replay it checks the properties of the Raft paper
(figure 3) plus the promise clients care about:

- election-safety: at most one leader per term.
- log-matching: two logs holding an entry with the same index and term are identical up to
  it. Instead of comparing logs pairwise, each (index, term) is bound, the first time any
  log holds it, to its digest and to the (term, digest) just before it. If every later
  holder agrees with that binding, log matching follows by induction on the index; if two
  logs ever disagree below a shared (index, term), the lowest disagreement breaks a binding.
- state-machine-safety: no two nodes (nor two incarnations of one node) apply or commit
  different entries at one index; a node applies consecutively from 1 after each (re)start,
  only what it has committed, and exactly what its own log holds; it never replaces an
  entry it has committed, and its commit index never goes back while it runs (a restart
  may bring back an older one: the commit index is persisted lazily, as etcd does).
- leader-completeness: an entry committed while the committing node's term was `c` is in
  the log of every leader of a term greater than `c`. The node's term when it reports the
  commit can only be later than the term in which the entry was truly committed, so this
  never blames a leader for an entry Raft did not promise it.
- durability: an acknowledged write is never contradicted by a commit or apply at its index
  (restarts included), and at the end of the trace a majority of the voters (of the newest
  membership applied, when a `conf-apply` changed it; running ones only) still hold it. A
  minority may hold a different, uncommitted suffix at the end: a node cut off by a
  partition that has not caught up yet is not a lost write.
- trace-consistency: events that make no sense for the node (a crashed node appending, an
  append leaving a gap) mean the trace, not Raft, is broken; they are reported so that a
  broken trace never passes as a clean run.

Every anomaly names the phase (safety, heal, liveness, final-reads, end) that was current
when it was seen; events before the first `phase` event belong to `safety`, the phase a
run starts in. Only the first `ANOMALIES_KEPT_PER_PROPERTY` anomalies of each property, and
the first of each of the first `GROUPS_KEPT` groups, are kept, but all are counted.

A kept anomaly carries `nodes`: every node's term, role, commit index and the tail of its
log around the anomaly's index at that moment, each entry with the client request that
proposed it when an `ack` (anywhere in the trace) or the history tells. Anomalies are
grouped by cause (`group`, and `groups` on the result): one node incarnation (the node from
a start or restart to its next crash) that breaks a property usually breaks it at every
index it touches afterwards, so the anomalies of one property on one incarnation form one
group, as do those about one term's leaders; the rest are a group per property.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from checkers.explain import format_seconds, plural
from checkers.history import Event, invoke_lines
from checkers.trace import TraceEvent, restart_snapshot
from checkers.verdict import CheckerResult, Verdict

Pair = tuple[int, str]
"""An entry as the trace summarises it: (term, digest)."""

PROPERTIES = (
    "election-safety",
    "log-matching",
    "state-machine-safety",
    "leader-completeness",
    "durability",
    "trace-consistency",
)
ANOMALIES_KEPT_PER_PROPERTY = 20
LOG_TAIL_ENTRIES = 5
GROUPS_KEPT = 50


class AnomalyLog:
    """Counts every anomaly, keeps the first few of each property in trace order."""

    def __init__(self, kept_per_property: int = ANOMALIES_KEPT_PER_PROPERTY) -> None:
        assert kept_per_property >= 0
        self.kept_per_property = kept_per_property
        self.counts: dict[str, int] = {name: 0 for name in PROPERTIES}
        self.kept: list[dict[str, Any]] = []

    def add(
        self, property_name: str, t: int, phase: str, message: str, keep: bool = False, **details: Any
    ) -> dict[str, Any] | None:
        """Count the anomaly; return it when it is kept (for the caller to add to). `keep`
        keeps it past the cap (the first anomaly of a cause is always shown)."""
        assert property_name in self.counts, property_name
        assert "\n" not in message, "an anomaly's message is one line"
        self.counts[property_name] += 1
        if self.counts[property_name] > self.kept_per_property and not keep:
            return None
        anomaly = {"property": property_name, "t": t, "phase": phase, "message": message}
        anomaly.update(details)
        self.kept.append(anomaly)
        return anomaly

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(slots=True)
class _NodeState:
    """One node as the trace shows it. `applied` and `commit` restart with each incarnation:
    the state machine is rebuilt from the log after a restart."""

    log: list[Pair] = field(default_factory=list)
    term: int = 0
    commit: int = 0
    applied: int = 0
    crashed: bool = False
    role: str = "follower"
    restarts: int = 0
    restarted_at_us: int | None = None


@dataclass(slots=True)
class _Binding:
    """What the first holder of an (index, term) said about it, for log matching."""

    digest: str
    previous: Pair | None
    node: int
    t: int


@dataclass(slots=True)
class _Group:
    """Anomalies sharing one cause; the first one names it."""

    number: int
    property: str
    message: str
    t: int
    node: int | None
    restarted_at_us: int | None
    count: int = 0

    def to_json(self) -> dict[str, Any]:
        cause = self.message
        if self.restarted_at_us is not None:
            cause += f" (node {self.node} since its restart at {format_seconds(self.restarted_at_us)})"
        if self.count > 1:
            cause += f", the first of {plural(self.count, 'anomaly')} of this cause"
        return {
            "group": self.number,
            "cause": cause,
            "t": self.t,
            "line": None,
            "count": self.count,
            "property": self.property,
            "node": self.node,
        }


@dataclass(slots=True)
class _Ack:
    pair: Pair
    node: int
    client: str
    request: Any
    t: int


def _show(pair: Pair | None) -> str:
    return "nothing" if pair is None else f"[{pair[0]}, {pair[1]}]"


def _listed(pair: Pair | None) -> list[Any] | None:
    return None if pair is None else [pair[0], pair[1]]


def check_raft_safety(events: Iterable[TraceEvent], history: Iterable[Event] | None = None) -> CheckerResult:
    """Replay a validated trace (see `checkers.trace`) and report Raft safety anomalies.

    The result has anomalies, groups and stats, all JSON-able. Each anomaly has `property`,
    `t`, `phase`, a one-line `message`, `group`, `nodes` (the cluster's state then) and the
    details it names. With the run's `history`, log entries also name the history line of
    the operation that proposed them.
    """
    replay = _Replay()
    for event in events:
        replay.step(event)
    replay.finish()
    replay.name_proposers(invoke_lines(history) if history is not None else {})
    groups = [group.to_json() for group in replay.groups.values()]
    return CheckerResult(
        Verdict.holds(replay.anomalies.total == 0),
        anomalies=tuple(replay.anomalies.kept),
        groups=tuple(groups[:GROUPS_KEPT]),
        stats={**replay.stats(), "groups_total": len(groups)},
    )


class _Replay:
    """The checker's state while it walks the trace; one handler per event kind."""

    def __init__(self) -> None:
        self.anomalies = AnomalyLog()
        self.phase = "safety"
        self.t = 0
        self.cluster: list[int] | None = None
        self.nodes: dict[int, _NodeState] = {}
        self.leader_of_term: dict[int, int] = {}
        self.bindings: dict[tuple[int, int], _Binding] = {}
        # Commits form a prefix of the log, so the union over nodes is one dense list.
        self.committed: list[Pair] = []
        self.commit_terms: list[int] = []
        self.applied_at: dict[int, tuple[Pair, int]] = {}
        self.acks: dict[int, _Ack] = {}
        # Every acknowledged entry, so that log tails name the request behind an entry
        # even when the ack came after the anomaly.
        self.proposers: dict[tuple[int, int, str], tuple[str, str]] = {}
        self.groups: dict[tuple[Any, ...], _Group] = {}
        self.counters = {"events": 0, "applied_entries": 0, "acks": 0, "crashes": 0, "restarts": 0}
        self.handlers = {
            "start": self._on_start,
            "phase": self._on_phase,
            "role": self._on_role,
            "hard_state": self._on_hard_state,
            "append": self._on_append,
            "apply": self._on_apply,
            "ack": self._on_ack,
            "crash": self._on_crash,
            "restart": self._on_restart,
            "snapshot": self._on_snapshot,
            "snapshot-install": self._on_snapshot_install,
            "restore": self._on_restore,
            "conf-apply": self._on_conf_apply,
            "member-removed": self._on_member_removed,
        }
        # The index of the newest membership change applied anywhere: from then on its
        # voters are the cluster whose majority must hold every acknowledged write.
        self.membership_index = 0

    def report(self, property_name: str, message: str, **details: Any) -> None:
        node_id = details.get("node")
        state = self.nodes.get(node_id) if node_id is not None else None
        key: tuple[Any, ...]
        if property_name == "election-safety":
            key = (property_name, details.get("term"))
        elif state is not None:
            key = (property_name, node_id, state.restarts)
        else:
            key = (property_name,)
        group = self.groups.get(key)
        if group is None:
            restarted = state.restarted_at_us if state is not None else None
            group = self.groups[key] = _Group(len(self.groups) + 1, property_name, message, self.t, node_id, restarted)
        group.count += 1
        first_of_group = group.count == 1 and group.number <= GROUPS_KEPT
        anomaly = self.anomalies.add(
            property_name, self.t, self.phase, message, first_of_group, group=group.number, **details
        )
        if anomaly is not None:
            anomaly["nodes"] = self.snapshot(details.get("index"))

    def snapshot(self, index: int | None) -> list[dict[str, Any]]:
        """Every node's state now, its log tail taken around `index` (else at its end)."""
        states = []
        for node_id in sorted(self.nodes):
            state = self.nodes[node_id]
            length = len(state.log)
            centre = index if index is not None and 1 <= index <= length else length
            last = min(length, centre + LOG_TAIL_ENTRIES // 2)
            first = max(1, last - LOG_TAIL_ENTRIES + 1)
            tail = [
                {
                    "index": position,
                    "term": state.log[position - 1][0],
                    "digest": state.log[position - 1][1],
                    "client": None,
                    "request": None,
                    "line": None,
                }
                for position in range(first, last + 1)
            ]
            states.append(
                {
                    "node": node_id,
                    "term": state.term,
                    "commit": state.commit,
                    "role": "crashed" if state.crashed else state.role,
                    "log_length": length,
                    "log_tail": tail,
                }
            )
        return states

    def name_proposers(self, invoke_lines: dict[str, int]) -> None:
        """Fill in who proposed each entry of the kept anomalies' log tails, and give an
        anomaly about an acknowledged write the history line of that write (`line`)."""
        for anomaly in self.anomalies.kept:
            acknowledged = anomaly.get("acknowledged")
            if acknowledged is not None and "line" not in anomaly:
                proposer = self.proposers.get((anomaly["index"], acknowledged[0], acknowledged[1]))
                anomaly["line"] = None if proposer is None else invoke_lines.get(proposer[1])
            for state in anomaly.get("nodes", ()):
                for entry in state["log_tail"]:
                    proposer = self.proposers.get((entry["index"], entry["term"], entry["digest"]))
                    if proposer is not None:
                        entry["client"], entry["request"] = proposer
                        entry["line"] = invoke_lines.get(proposer[1])

    def step(self, event: TraceEvent) -> None:
        self.counters["events"] += 1
        self.t = event["t"]
        handler = self.handlers.get(event["ev"])
        if handler is not None:
            handler(event)

    def node(self, event: TraceEvent, *, alive: bool = True) -> _NodeState:
        """The node an event is about; an event a crashed node could not have emitted is a
        broken trace, reported once per event, and the event is still replayed."""
        node_id = event["node"]
        state = self.nodes.get(node_id)
        if state is None:
            state = self.nodes[node_id] = _NodeState()
        if alive and state.crashed:
            self.report("trace-consistency", f"node {node_id} emitted {event['ev']!r} while crashed", node=node_id)
        return state

    # -- the cluster and its phases ------------------------------------------------------

    def _on_start(self, event: TraceEvent) -> None:
        self.cluster = sorted(event["nodes"])
        for node_id in self.cluster:
            self.nodes.setdefault(node_id, _NodeState())

    def _on_phase(self, event: TraceEvent) -> None:
        self.phase = event["phase"]

    def _on_conf_apply(self, event: TraceEvent) -> None:
        """A node applied a membership change: committed, so the cluster's once newer
        than any seen (a node catching up applies older ones again)."""
        self.node(event)
        if event["index"] > self.membership_index:
            self.membership_index = event["index"]
            self.cluster = sorted(event["voters"])
            for node_id in self.cluster:
                self.nodes.setdefault(node_id, _NodeState())

    def _on_member_removed(self, event: TraceEvent) -> None:
        """A removed member stops for good; whatever it held no longer counts."""
        self.node(event, alive=False).crashed = True

    def _on_crash(self, event: TraceEvent) -> None:
        state = self.node(event)
        state.crashed = True
        self.counters["crashes"] += 1

    def _on_restart(self, event: TraceEvent) -> None:
        node_id = event["node"]
        state = self.node(event, alive=False)
        if not state.crashed:
            self.report("trace-consistency", f"node {node_id} restarted without a crash", node=node_id)
        self.counters["restarts"] += 1
        state.crashed = False
        state.role = "follower"
        state.restarts += 1
        state.restarted_at_us = self.t
        state.term = event["term"]
        snapshot_index, snapshot_term = restart_snapshot(event)
        # The store starts from the snapshot on disk, if any, and applies after it.
        prefix = self.through_snapshot(node_id, state, snapshot_index, snapshot_term) if snapshot_index else []
        state.applied = snapshot_index
        state.commit = snapshot_index
        state.log = prefix + [(term, digest) for term, digest in event["log"]]
        self.bind_entries(node_id, state.log, snapshot_index + 1)
        self.observe_commit(node_id, state, max(event["commit"], snapshot_index))

    # -- snapshots -----------------------------------------------------------------------

    def _on_snapshot(self, event: TraceEvent) -> None:
        """A node snapshots its applied state: the label must not run ahead of it."""
        node_id, index = event["node"], event["index"]
        state = self.node(event)
        if index > state.applied:
            self.report(
                "state-machine-safety",
                f"node {node_id} took a snapshot up to index {index} having applied only up to {state.applied}: "
                "it lacks the entries in between",
                node=node_id,
                index=index,
                applied=state.applied,
            )
        self.check_snapshot_entry(node_id, index, event["term"])

    def _on_restore(self, event: TraceEvent) -> None:
        """A cluster restored from a backup: the backup's snapshot up to `index` is the
        committed prefix, every member holds it and applies after it. Only the start of a
        run can restore, before any entry was committed."""
        index, term = event["index"], event["term"]
        if self.committed:
            self.report("trace-consistency", f"a restore to index {index} after {len(self.committed)} commits")
            return
        self.committed = [(term, "")] * index
        self.commit_terms = [term] * index
        for node_id in event["nodes"]:
            state = self.nodes.setdefault(node_id, _NodeState())
            state.log, state.term, state.commit, state.applied = list(self.committed), term, index, index

    def _on_snapshot_install(self, event: TraceEvent) -> None:
        """A node takes the leader's snapshot: its log up to `index` is the committed prefix
        from now on, and its state machine starts again after it."""
        node_id, index = event["node"], event["index"]
        state = self.node(event)
        state.log = self.through_snapshot(node_id, state, index, event["term"])
        state.applied = index
        state.commit = max(state.commit, index)

    def through_snapshot(self, node_id: int, state: _NodeState, index: int, term: int) -> list[Pair]:
        """The log a snapshot up to `index` of `term` stands for: the committed prefix there
        (checked to end in that term); the node's own entries where nothing was committed."""
        self.check_snapshot_entry(node_id, index, term)
        known = self.committed[:index]
        if len(known) < index:
            known += state.log[len(known) : index]
        return known + [(term, "")] * (index - len(known))

    def check_snapshot_entry(self, node_id: int, index: int, term: int) -> None:
        if index > len(self.committed):
            self.report(
                "state-machine-safety",
                f"node {node_id} holds a snapshot up to index {index}, beyond every committed entry "
                f"({len(self.committed)})",
                node=node_id,
                index=index,
            )
        elif self.committed[index - 1][0] != term:
            self.report(
                "state-machine-safety",
                f"node {node_id} holds a snapshot up to index {index} of term {term}, committed as "
                f"{_show(self.committed[index - 1])}",
                node=node_id,
                index=index,
                committed=_listed(self.committed[index - 1]),
            )

    # -- election safety and leader completeness -----------------------------------------

    def _on_role(self, event: TraceEvent) -> None:
        node_id, term = event["node"], event["term"]
        state = self.node(event)
        state.term = term
        state.role = event["role"]
        if event["role"] != "leader":
            return
        holder = self.leader_of_term.get(term)
        if holder is None:
            self.leader_of_term[term] = node_id
            self.check_leader_completeness(node_id, state, term)
        elif holder != node_id:
            self.report(
                "election-safety",
                f"nodes {holder} and {node_id} are both leader of term {term}",
                term=term,
                leaders=[holder, node_id],
            )

    def check_leader_completeness(self, node_id: int, state: _NodeState, term: int) -> None:
        committed_count = len(self.committed)
        # Fast path: the whole committed prefix is in the log (list equality runs in C).
        if state.log[:committed_count] == self.committed:
            return
        for position in range(committed_count):
            if self.commit_terms[position] >= term:
                continue
            expected = self.committed[position]
            held = state.log[position] if position < len(state.log) else None
            if held != expected:
                index = position + 1
                self.report(
                    "leader-completeness",
                    f"node {node_id} became leader of term {term} holding "
                    f"{_show(held)} at index {index}, committed as {_show(expected)} "
                    f"in term {self.commit_terms[position]}",
                    node=node_id,
                    term=term,
                    index=index,
                    committed=_listed(expected),
                    held=_listed(held),
                )

    # -- the log: log matching -----------------------------------------------------------

    def _on_append(self, event: TraceEvent) -> None:
        node_id, index = event["node"], event["index"]
        state = self.node(event)
        if not 1 <= index <= len(state.log) + 1:
            self.report(
                "trace-consistency",
                f"node {node_id} appended at index {index} to a log of {len(state.log)} entries",
                node=node_id,
                index=index,
            )
            return
        state.log[index - 1 :] = [(term, digest) for term, digest in event["entries"]]
        self.bind_entries(node_id, state.log, index)
        self.check_committed_kept(node_id, state, index)

    def bind_entries(self, node_id: int, log: list[Pair], first_index: int) -> None:
        """Bind or check (index, term) -> (digest, previous entry) for log[first_index:]."""
        bindings = self.bindings
        for position in range(first_index - 1, len(log)):
            term, digest = log[position]
            previous = log[position - 1] if position > 0 else None
            key = (position + 1, term)
            binding = bindings.get(key)
            if binding is None:
                bindings[key] = _Binding(digest, previous, node_id, self.t)
            elif binding.digest != digest or binding.previous != previous:
                self.report_divergence(node_id, key, digest, previous, binding)

    def report_divergence(
        self, node_id: int, key: tuple[int, int], digest: str, previous: Pair | None, binding: _Binding
    ) -> None:
        index, term = key
        if binding.digest != digest:
            what = f"digest {digest}, node {binding.node} had {binding.digest}"
        else:
            what = f"entry {_show(previous)} before it, node {binding.node} had {_show(binding.previous)}"
        self.report(
            "log-matching",
            f"node {node_id} holds index {index} term {term} with {what}",
            node=node_id,
            index=index,
            term=term,
            other_node=binding.node,
            other_t=binding.t,
        )

    def check_committed_kept(self, node_id: int, state: _NodeState, first_index: int) -> None:
        """An append below the node's own commit index must leave its committed entries be."""
        for index in range(first_index, state.commit + 1):
            held = state.log[index - 1] if index <= len(state.log) else None
            expected = self.committed[index - 1]
            if held != expected:
                self.report(
                    "state-machine-safety",
                    f"node {node_id} replaced committed index {index} {_show(expected)} with {_show(held)}",
                    node=node_id,
                    index=index,
                    committed=_listed(expected),
                    held=_listed(held),
                )

    # -- commits, applies and acknowledgements -------------------------------------------

    def _on_hard_state(self, event: TraceEvent) -> None:
        node_id = event["node"]
        state = self.node(event)
        state.term = event["term"]
        self.observe_commit(node_id, state, event["commit"])

    def observe_commit(self, node_id: int, state: _NodeState, commit: int) -> None:
        if commit < state.commit:
            self.report(
                "state-machine-safety",
                f"node {node_id} moved its commit index back from {state.commit} to {commit}",
                node=node_id,
                index=commit,
                commit=state.commit,
            )
        if commit > len(state.log):
            self.report(
                "trace-consistency",
                f"node {node_id} committed index {commit} beyond its log of {len(state.log)} entries",
                node=node_id,
                index=commit,
            )
            commit = len(state.log)
        for index in range(state.commit + 1, commit + 1):
            self.record_commit(node_id, index, state.log[index - 1], state.term)
        state.commit = max(state.commit, commit)

    def record_commit(self, node_id: int, index: int, pair: Pair, term: int) -> None:
        assert index <= len(self.committed) + 1, "commits extend a prefix"
        if index == len(self.committed) + 1:
            self.committed.append(pair)
            self.commit_terms.append(term)
        elif self.committed[index - 1] != pair:
            self.report(
                "state-machine-safety",
                f"node {node_id} committed index {index} as {_show(pair)}, "
                f"already committed as {_show(self.committed[index - 1])}",
                node=node_id,
                index=index,
                entry=_listed(pair),
                committed=_listed(self.committed[index - 1]),
            )
        else:
            self.commit_terms[index - 1] = min(self.commit_terms[index - 1], term)
        self.check_ack_kept(node_id, index, pair, "committed")

    def check_ack_kept(self, node_id: int, index: int, pair: Pair, verb: str) -> None:
        ack = self.acks.get(index)
        if ack is not None and ack.pair != pair:
            self.report(
                "durability",
                f"node {node_id} {verb} {_show(pair)} at index {index} where node "
                f"{ack.node} acknowledged {_show(ack.pair)} to client {ack.client}",
                node=node_id,
                index=index,
                entry=_listed(pair),
                acknowledged=_listed(ack.pair),
                ack_t=ack.t,
            )

    def _on_apply(self, event: TraceEvent) -> None:
        node_id, index = event["node"], event["index"]
        state = self.node(event)
        entries = [(term, digest) for term, digest in event["entries"]]
        if index != state.applied + 1:
            self.report(
                "state-machine-safety",
                f"node {node_id} applied from index {index} after applying up to {state.applied}",
                node=node_id,
                index=index,
                applied=state.applied,
            )
        last_index = index + len(entries) - 1
        if last_index > state.commit:
            self.report(
                "state-machine-safety",
                f"node {node_id} applied up to index {last_index} beyond its commit index {state.commit}",
                node=node_id,
                index=last_index,
                commit=state.commit,
            )
        for offset, pair in enumerate(entries):
            self.record_apply(node_id, state, index + offset, pair)
        state.applied = max(state.applied, last_index)
        self.counters["applied_entries"] += len(entries)

    def record_apply(self, node_id: int, state: _NodeState, index: int, pair: Pair) -> None:
        own = state.log[index - 1] if 1 <= index <= len(state.log) else None
        if own != pair:
            self.report(
                "state-machine-safety",
                f"node {node_id} applied {_show(pair)} at index {index} but its log holds {_show(own)}",
                node=node_id,
                index=index,
                entry=_listed(pair),
                held=_listed(own),
            )
        first = self.applied_at.get(index)
        if first is None:
            self.applied_at[index] = (pair, node_id)
        elif first[0] != pair:
            self.report(
                "state-machine-safety",
                f"node {node_id} applied {_show(pair)} at index {index}, node {first[1]} applied {_show(first[0])}",
                node=node_id,
                index=index,
                entry=_listed(pair),
                other_node=first[1],
                other=_listed(first[0]),
            )
        self.check_ack_kept(node_id, index, pair, "applied")

    def _on_ack(self, event: TraceEvent) -> None:
        node_id, index = event["node"], event["index"]
        state = self.node(event)
        pair = (event["term"], event["digest"])
        self.counters["acks"] += 1
        self.proposers.setdefault((index, pair[0], pair[1]), (event["client"], event["request"]))
        own = state.log[index - 1] if 1 <= index <= len(state.log) else None
        if own != pair:
            self.report(
                "durability",
                f"node {node_id} acknowledged {_show(pair)} at index {index} but its log holds {_show(own)}",
                node=node_id,
                index=index,
                acknowledged=_listed(pair),
                held=_listed(own),
            )
        earlier = self.acks.get(index)
        if earlier is None:
            self.acks[index] = _Ack(pair, node_id, event["client"], event["request"], self.t)
        elif earlier.pair != pair:
            self.report(
                "durability",
                f"node {node_id} acknowledged {_show(pair)} at index {index}, node "
                f"{earlier.node} had acknowledged {_show(earlier.pair)}",
                node=node_id,
                index=index,
                acknowledged=_listed(pair),
                other=_listed(earlier.pair),
            )
        self.check_against_history(node_id, index, pair)

    def check_against_history(self, node_id: int, index: int, pair: Pair) -> None:
        """An ack must agree with whatever was already committed or applied at its index."""
        committed = self.committed[index - 1] if 1 <= index <= len(self.committed) else None
        applied = self.applied_at.get(index)
        for verb, other in (("committed", committed), ("applied", applied and applied[0])):
            if other is not None and other != pair:
                self.report(
                    "durability",
                    f"node {node_id} acknowledged {_show(pair)} at index {index}, already {verb} as {_show(other)}",
                    node=node_id,
                    index=index,
                    acknowledged=_listed(pair),
                    other=_listed(other),
                )

    # -- the end of the trace ------------------------------------------------------------

    def finish(self) -> None:
        """Every acknowledged write must still be held by a majority of running nodes."""
        cluster = self.cluster if self.cluster is not None else sorted(self.nodes)
        majority = len(cluster) // 2 + 1
        running = [node_id for node_id in cluster if not self.nodes[node_id].crashed]
        for index in sorted(self.acks):
            ack = self.acks[index]
            holders = [
                node_id
                for node_id in running
                if index <= len(self.nodes[node_id].log) and self.nodes[node_id].log[index - 1] == ack.pair
            ]
            if len(holders) < majority:
                self.report(
                    "durability",
                    f"at the end only {len(holders)} of {len(cluster)} nodes "
                    f"({len(running)} running) hold {_show(ack.pair)} at index {index}, "
                    f"acknowledged by node {ack.node} to client {ack.client}",
                    index=index,
                    acknowledged=_listed(ack.pair),
                    holders=holders,
                    ack_t=ack.t,
                )

    def stats(self) -> dict[str, Any]:
        terms = sorted(self.leader_of_term)
        return {
            **self.counters,
            "nodes": len(self.cluster if self.cluster is not None else self.nodes),
            "max_term": max([terms[-1] if terms else 0, *(state.term for state in self.nodes.values())]),
            "terms_with_leader": len(terms),
            "committed_entries": len(self.committed),
            "max_log_length": max((len(state.log) for state in self.nodes.values()), default=0),
            "anomaly_counts": dict(self.anomalies.counts),
            "anomalies_total": self.anomalies.total,
        }
