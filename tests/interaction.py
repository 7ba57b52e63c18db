"""Interaction tests for raftcore in the style of etcd-io/raft's data-driven tests.

A test file is a sequence of blocks separated by blank lines:

    # prose explaining what comes next (any number of lines)
    directive arg key=value key=(1,2)
    ----
    expected output (no blank lines)

`run_file` runs the directives against an `InteractionEnv` and compares outputs; with the
environment variable RAFTSIM_REWRITE=1 it rewrites the expected outputs instead. The
environment plays every host: it persists Readies into its own per-node storage (so a
crash loses exactly what was not persisted), queues messages in one global list in send
order, and applies committed entries.

Directives (nodes are numbered from 1; `N...` means one or more node ids, all if none):

    add-nodes COUNT [election=10 heartbeat=1 prevote=true checkquorum=true max-entries=64]
    bugs NAME...                    planted bugs for nodes started from now on
    campaign N / propose N DATA
    transfer-leadership from=N to=M ask node N to hand leadership to node M
    snapshot N                      node N snapshots its applied state and compacts its log
                                    (add-nodes catch-up=K keeps K entries before it)
    tick N [COUNT] / tick-election N / tick-heartbeat N
    tick-all max=ROUNDS             tick every running node, one round at a time, until a
                                    role or term changes (no message moves meanwhile)
    process-ready [N...]            persist, send, apply, advance
    send-ready N                    send a Ready's messages before persisting it (only when
                                    the Ready allows it, i.e. under send-before-persist)
    deliver-msgs [N...] [drop=(N...)] [limit=K]
                                    step queued messages into N (oldest first, at most K per
                                    node), and lose those to the nodes in drop
    stabilize [N...]                process Readies and deliver until nothing moves
    crash N / restart N             lose what is not persisted / start from what is
    isolate N... / heal             lose messages to and from these nodes / stop doing so
    raft-state / raft-log [N...] / raft-progress N
    propose-conf-change N add-learner|promote|remove M
                                    node N proposes a membership change about node M
    add-node M from=N               start a new, empty node M with the membership node N
                                    applied (the one that made M a learner)
    raft-membership [N...]          the membership each node has in force

Rendering: an entry is `index@term "data"` (`index@term conf "change"` for a membership
change); a message is `from->to type term=T` and the fields that matter for its type;
"N is now ..." reports a change of role, term or leader, and "N applied membership ..." a
Ready that changed a node's membership.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path

from raftcore.bugs import SEND_BEFORE_PERSIST, validate_bugs
from raftcore.raft import RaftNode
from raftcore.types import (
    TRANSFER_CAMPAIGN,
    ConfChange,
    ConfChangeType,
    Config,
    Entry,
    EntryKind,
    HardState,
    Membership,
    Message,
    MessageType,
    PersistedState,
    Ready,
    Snapshot,
)

STABILIZE_ROUNDS_MAX = 1000


class InteractionFileError(Exception):
    """A malformed test file or directive; str() names file and line."""


@dataclass
class Directive:
    name: str
    positional: list[str]
    keywords: dict[str, list[str]]
    line: int


@dataclass
class Block:
    prose: list[str]
    command: str
    expected: list[str]
    line: int


def parse_directive(text: str, line: int) -> Directive:
    name, *tokens = text.split()
    positional: list[str] = []
    keywords: dict[str, list[str]] = {}
    for token in tokens:
        if "=" not in token:
            positional.append(token)
            continue
        key, value = token.split("=", 1)
        keywords[key] = value.strip("()").split(",") if value.startswith("(") else [value]
    return Directive(name, positional, keywords, line)


def parse_file(path: Path) -> tuple[list[Block], list[str]]:
    """The blocks of a file and any prose after the last one."""
    lines = path.read_text().splitlines()
    blocks: list[Block] = []
    prose: list[str] = []
    position = 0
    while position < len(lines):
        text = lines[position]
        position += 1
        if not text.strip():
            if prose:
                prose.append("")
            continue
        if text.startswith("#"):
            prose.append(text)
            continue
        if position >= len(lines) or lines[position] != "----":
            raise InteractionFileError(f"{path}:{position}: directive {text!r} lacks '----'")
        start, position = position, position + 1
        expected: list[str] = []
        while position < len(lines) and lines[position].strip():
            expected.append(lines[position])
            position += 1
        blocks.append(Block(prose, text, expected, start))
        prose = []
    return blocks, prose


def describe_entry(entry: Entry) -> str:
    if entry.kind is EntryKind.CONF_CHANGE:
        return f'{entry.index}@{entry.term} conf "{entry.data}"'
    return f'{entry.index}@{entry.term} "{entry.data}"'


def describe_snapshot(snapshot: Snapshot) -> str:
    voters = ",".join(map(str, sorted(snapshot.membership.voters)))
    return f'{snapshot.index}@{snapshot.term} voters=({voters}) "{snapshot.data}"'


def describe_message(message: Message) -> str:
    text = f"{message.sender}->{message.to} {message.type} term={message.term}"
    kind = message.type
    if kind in (MessageType.VOTE, MessageType.PRE_VOTE):
        text += f" index={message.log_index} log_term={message.log_term}"
        if message.context == TRANSFER_CAMPAIGN:
            text += " transfer"
    elif kind is MessageType.TRANSFER_LEADER:
        text += f" target={message.log_index}"
    elif kind is MessageType.APPEND:
        text += f" index={message.log_index} log_term={message.log_term} commit={message.commit}"
        if message.entries:
            text += " entries=[" + ", ".join(map(describe_entry, message.entries)) + "]"
    elif kind is MessageType.APPEND_RESPONSE:
        text += f" index={message.log_index}"
        if message.reject:
            text += f" rejected hint={message.reject_hint} hint_term={message.reject_hint_term}"
    elif kind is MessageType.HEARTBEAT:
        text += f" commit={message.commit}"
    elif kind is MessageType.SNAPSHOT:
        assert message.snapshot is not None
        text += " snapshot=" + describe_snapshot(message.snapshot)
    if message.reject and kind is not MessageType.APPEND_RESPONSE:
        text += " rejected"
    return text


@dataclass
class Storage:
    hard_state: HardState = field(default_factory=HardState)
    entries: list[Entry] = field(default_factory=list)
    snapshot: Snapshot | None = None
    """Entries follow the snapshot: `entries[0]` is at `snapshot.index + 1`."""

    def position(self, index: int) -> int:
        return index - 1 - (0 if self.snapshot is None else self.snapshot.index)

    def save_snapshot(self, snapshot: Snapshot, keep_entries: bool) -> None:
        """Keep `snapshot`; the entries after it stay if `keep_entries` (the node's own
        snapshot of its applied state), else they go (a leader's snapshot replaces the log)."""
        kept = [entry for entry in self.entries if entry.index > snapshot.index] if keep_entries else []
        self.snapshot, self.entries = snapshot, kept


@dataclass
class InteractionEnv:
    nodes: dict[int, RaftNode | None] = field(default_factory=dict)
    storage: dict[int, Storage] = field(default_factory=dict)
    incarnation: dict[int, int] = field(default_factory=dict)
    network: list[Message] = field(default_factory=list)
    isolated: set[int] = field(default_factory=set)
    sent_unpersisted: dict[int, Ready] = field(default_factory=dict)
    options: dict[str, object] = field(default_factory=dict)
    bugs: frozenset[str] = frozenset()
    output: list[str] = field(default_factory=list)
    peers: tuple[int, ...] = ()
    joined_with: dict[int, Membership] = field(default_factory=dict)
    """The membership each node added mid-run (`add-node`) starts with."""

    def emit(self, text: str, indent: int = 0) -> None:
        self.output.append("  " * indent + text)

    # ---- node life cycle ----

    def start(self, node_id: int) -> None:
        storage = self.storage[node_id]
        incarnation = self.incarnation[node_id] = self.incarnation.get(node_id, -1) + 1
        joined = self.joined_with.get(node_id)
        peers = () if joined is not None else self.peers
        config = Config(node_id=node_id, peers=peers, membership=joined, bugs=self.bugs, **self.options)  # type: ignore[arg-type]
        state = PersistedState(storage.hard_state, tuple(storage.entries), storage.snapshot)
        self.nodes[node_id] = RaftNode(config, state, random.Random(node_id + 100 * incarnation))

    def live(self, directive: Directive, text: str) -> RaftNode:
        node = self.nodes.get(int(text))
        if node is None:
            raise InteractionFileError(f"node {text} is not running")
        return node

    def states(self) -> dict[int, tuple[object, ...]]:
        return {i: (n.role, n.term, n.leader_id) for i, n in self.nodes.items() if n is not None}

    def report_changes(self, before: dict[int, tuple[object, ...]], indent: int = 0) -> bool:
        changed = False
        for node_id, state in sorted(self.states().items()):
            if before.get(node_id) != state:
                role, term, leader = state
                lead = f", leader {leader}" if leader not in (0, node_id) else ""
                self.emit(f"{node_id} is now {role} at term {term}{lead}", indent)
                changed = True
        return changed

    # ---- the host's work ----

    def process_ready(self, node_id: int, indent: int) -> None:
        node = self.nodes[node_id]
        assert node is not None
        ready = node.ready()
        self.emit(f"> {node_id} handling Ready", indent)
        self.describe_ready(ready, indent + 1)
        if node_id not in self.sent_unpersisted:
            self.send(ready.messages)
        self.sent_unpersisted.pop(node_id, None)
        self.persist(node_id, ready)
        membership = node.membership
        node.advance(ready)
        if node.membership != membership:
            self.emit(f"{node_id} applied membership {node.membership.describe()}", indent + 1)

    def is_cut(self, message: Message) -> bool:
        return bool({message.sender, message.to} & self.isolated)

    def send(self, messages: tuple[Message, ...]) -> None:
        """Queue messages; those crossing a partition are lost at once."""
        self.network.extend(message for message in messages if not self.is_cut(message))

    def describe_ready(self, ready: Ready, indent: int) -> None:
        if ready.soft_state is not None:
            soft = ready.soft_state
            self.emit(f"soft state: role={soft.role} leader={soft.leader}", indent)
        if ready.hard_state is not None:
            hard = ready.hard_state
            self.emit(f"hard state: term={hard.term} vote={hard.vote} commit={hard.commit}", indent)
        if ready.snapshot is not None:
            self.emit("snapshot: " + describe_snapshot(ready.snapshot), indent)
        for title, items, render in (
            ("entries", ready.entries, describe_entry),
            ("messages", ready.messages, self.describe_sent),
            ("apply", ready.committed_entries, describe_entry),
        ):
            if items:
                self.emit(f"{title}:", indent)
                for item in items:
                    self.emit(render(item), indent + 1)  # type: ignore[operator]
        if not ready.persist_before_send:
            self.emit("(messages may leave before the batch is on disk)", indent)

    def describe_sent(self, message: Message) -> str:
        return describe_message(message) + (" (lost: partition)" if self.is_cut(message) else "")

    def persist(self, node_id: int, ready: Ready) -> None:
        storage = self.storage[node_id]
        if ready.hard_state is not None:
            storage.hard_state = ready.hard_state
        if ready.snapshot is not None:
            storage.save_snapshot(ready.snapshot, keep_entries=False)
        if ready.entries:
            del storage.entries[storage.position(ready.entries[0].index) :]
            storage.entries.extend(ready.entries)

    def deliver(self, recipients: list[int], drop: list[int], indent: int, limit: int = 0) -> int:
        """Deliver (or drop) queued messages to each node in queue order, at most `limit`
        per node when it is positive."""
        handled = 0
        for node_id in recipients + drop:
            mine = [m for m in self.network if m.to == node_id]
            if limit > 0 and node_id not in drop:
                mine = mine[:limit]
            for message in mine:
                self.network.remove(message)
            for message in mine:
                handled += 1
                node = self.nodes.get(node_id)
                if node_id in drop or node is None or self.is_cut(message):
                    self.emit("dropped: " + describe_message(message), indent)
                    continue
                self.emit(describe_message(message), indent)
                before = self.states()
                node.step(message)
                self.report_changes(before, indent + 1)
        return handled

    def stabilize(self, node_ids: list[int]) -> None:
        for _ in range(STABILIZE_ROUNDS_MAX):
            busy = False
            for node_id in node_ids:
                node = self.nodes.get(node_id)
                if node is not None and node.has_ready():
                    self.process_ready(node_id, 0)
                    busy = True
            for node_id in node_ids:
                if any(m.to == node_id for m in self.network):
                    self.emit(f"> {node_id} receiving messages")
                    self.deliver([node_id], [], 1)
                    busy = True
            if not busy:
                return
        raise AssertionError("stabilize did not reach a fixed point")


def _node_ids(env: InteractionEnv, directive: Directive) -> list[int]:
    return [int(text) for text in directive.positional] or sorted(env.storage)


def _parse_option(directive: Directive, key: str, value: str) -> tuple[str, object]:
    names = {
        "election": "election_ticks",
        "heartbeat": "heartbeat_ticks",
        "prevote": "pre_vote",
        "checkquorum": "check_quorum",
        "max-entries": "max_entries_per_message",
        "catch-up": "snapshot_catch_up",
    }
    if key not in names:
        raise InteractionFileError(f"unknown option {key!r}")
    if key in ("prevote", "checkquorum"):
        if value not in ("true", "false"):
            raise InteractionFileError(f"{key} must be true or false")
        return names[key], value == "true"
    return names[key], int(value)


def handle_add_nodes(env: InteractionEnv, directive: Directive) -> None:
    env.options = dict(_parse_option(directive, key, values[0]) for key, values in directive.keywords.items())
    env.peers = tuple(range(1, int(directive.positional[0]) + 1))
    for node_id in env.peers:
        env.storage[node_id] = Storage()
    for node_id in sorted(env.storage):
        env.start(node_id)
    handle_raft_state(env, directive)


def handle_raft_state(env: InteractionEnv, directive: Directive) -> None:
    for node_id in sorted(env.storage):
        node = env.nodes.get(node_id)
        if node is None:
            env.emit(f"{node_id}: down")
            continue
        env.emit(
            f"{node_id}: {node.role} term={node.term} vote={node.vote} lead={node.leader_id} "
            f"commit={node.commit_index} applied={node.applied_index} last={node.last_index}"
        )


def handle_raft_log(env: InteractionEnv, directive: Directive) -> None:
    for node_id in _node_ids(env, directive):
        node = env.live(directive, str(node_id))
        entries = " ".join(map(describe_entry, node.log_entries())) or "(empty)"
        compacted = node.log.first_index - 1
        prefix = f"compacted to {compacted}, " if compacted else ""
        env.emit(f"{node_id}: commit={node.commit_index} {prefix}{entries}")


def handle_snapshot(env: InteractionEnv, directive: Directive) -> None:
    """The node's state machine (here: the data of what it applied, counted) snapshotted
    at its applied index; the log is compacted and the snapshot persisted at once."""
    node_id = int(directive.positional[0])
    node = env.live(directive, directive.positional[0])
    index = node.applied_index
    snapshot = node.create_snapshot(index, f"state of {index} entries")
    env.storage[node_id].save_snapshot(snapshot, keep_entries=True)
    env.emit(f"{node_id} took snapshot {describe_snapshot(snapshot)}; log now from {node.log.first_index}")


def handle_raft_progress(env: InteractionEnv, directive: Directive) -> None:
    node = env.live(directive, directive.positional[0])
    for peer in sorted(env.storage):
        progress = node.progress(peer)
        env.emit(f"{peer}: {progress.describe() if progress else 'no progress (not leader)'}")


def handle_bugs(env: InteractionEnv, directive: Directive) -> None:
    env.bugs = validate_bugs(directive.positional)


def _tick(env: InteractionEnv, directive: Directive, unit: str) -> None:
    node = env.live(directive, directive.positional[0])
    if unit == "election":
        ticks = node.config.election_ticks
    elif unit == "heartbeat":
        ticks = node.config.heartbeat_ticks
    else:
        ticks = int(directive.positional[1]) if len(directive.positional) > 1 else 1
    before = env.states()
    for _ in range(ticks):
        node.tick()
    env.report_changes(before)


def handle_tick_all(env: InteractionEnv, directive: Directive) -> None:
    """Tick every running node once per round until a role or term changes."""
    rounds_max = int(directive.keywords["max"][0])
    before = env.states()
    for round_number in range(1, rounds_max + 1):
        for node_id in sorted(env.nodes):
            node = env.nodes[node_id]
            if node is not None:
                node.tick()
        if {i: state[:2] for i, state in env.states().items()} != {i: state[:2] for i, state in before.items()}:
            env.emit(f"after {round_number} ticks:")
            env.report_changes(before, 1)
            return
    env.emit(f"no change in {rounds_max} ticks")


def handle_campaign(env: InteractionEnv, directive: Directive) -> None:
    before = env.states()
    env.live(directive, directive.positional[0]).campaign()
    env.report_changes(before)


def handle_propose(env: InteractionEnv, directive: Directive) -> None:
    node = env.live(directive, directive.positional[0])
    entry = node.propose(" ".join(directive.positional[1:]))
    if entry is not None:
        env.emit(f"proposed {describe_entry(entry)}")
    else:
        env.emit("dropped: leadership transfer under way" if node.lead_transferee else "dropped: not leader")


def handle_transfer_leadership(env: InteractionEnv, directive: Directive) -> None:
    before = env.states()
    node = env.live(directive, directive.keywords["from"][0])
    node.transfer_leadership(int(directive.keywords["to"][0]))
    env.report_changes(before)
    if node.lead_transferee != 0:
        env.emit(f"{node.node_id} transferring leadership to {node.lead_transferee}")


def handle_propose_conf_change(env: InteractionEnv, directive: Directive) -> None:
    node = env.live(directive, directive.positional[0])
    change = ConfChange(ConfChangeType(directive.positional[1]), int(directive.positional[2]))
    refusal = node.conf_change_refusal(change)
    entry = node.propose_conf_change(change)
    assert (entry is None) == (refusal is not None), (entry, refusal)
    env.emit(f"proposed {describe_entry(entry)}" if entry is not None else f"refused: {refusal}")


def handle_add_node(env: InteractionEnv, directive: Directive) -> None:
    node_id = int(directive.positional[0])
    if node_id in env.storage:
        raise InteractionFileError(f"node {node_id} exists; ids are never reused")
    env.joined_with[node_id] = env.live(directive, directive.keywords["from"][0]).membership
    env.storage[node_id] = Storage()
    env.start(node_id)
    handle_raft_state(env, directive)


def handle_raft_membership(env: InteractionEnv, directive: Directive) -> None:
    for node_id in _node_ids(env, directive):
        node = env.nodes.get(node_id)
        env.emit(f"{node_id}: " + ("down" if node is None else node.membership.describe()))


def handle_process_ready(env: InteractionEnv, directive: Directive) -> None:
    for node_id in _node_ids(env, directive):
        node = env.live(directive, str(node_id))
        if node_id in env.sent_unpersisted:
            ready = env.sent_unpersisted.pop(node_id)
            env.emit(f"> {node_id} persisting the Ready it already sent")
            env.persist(node_id, ready)
            node.advance(ready)
        elif node.has_ready():
            env.process_ready(node_id, 0)
        else:
            env.emit(f"> {node_id} has no Ready")


def handle_send_ready(env: InteractionEnv, directive: Directive) -> None:
    """Take a node's Ready and send its messages without persisting (only a bug allows it)."""
    node_id = int(directive.positional[0])
    node = env.live(directive, directive.positional[0])
    if SEND_BEFORE_PERSIST not in node.config.bugs:
        raise InteractionFileError("without send-before-persist a Ready is persisted first")
    ready = node.ready()
    assert not ready.persist_before_send
    env.emit(f"> {node_id} sending before persisting")
    env.describe_ready(ready, 1)
    env.send(ready.messages)
    env.sent_unpersisted[node_id] = ready


def handle_deliver_msgs(env: InteractionEnv, directive: Directive) -> None:
    drop = [int(text) for text in directive.keywords.get("drop", [])]
    limit = int(directive.keywords.get("limit", ["0"])[0])
    if not env.deliver([int(text) for text in directive.positional], drop, 0, limit):
        env.emit("no messages")


def handle_crash(env: InteractionEnv, directive: Directive) -> None:
    node_id = int(directive.positional[0])
    env.live(directive, directive.positional[0])
    env.nodes[node_id] = None
    env.sent_unpersisted.pop(node_id, None)
    env.emit(f"{node_id} crashed; what it had not persisted is lost")


def handle_restart(env: InteractionEnv, directive: Directive) -> None:
    node_id = int(directive.positional[0])
    if env.nodes.get(node_id) is not None:
        raise InteractionFileError(f"node {node_id} is running")
    env.start(node_id)
    handle_raft_state(env, directive)


def handle_isolate(env: InteractionEnv, directive: Directive) -> None:
    env.isolated.update(int(text) for text in directive.positional)


def handle_heal(env: InteractionEnv, directive: Directive) -> None:
    env.isolated.clear()


HANDLERS = {
    "add-node": handle_add_node,
    "add-nodes": handle_add_nodes,
    "bugs": handle_bugs,
    "campaign": handle_campaign,
    "crash": handle_crash,
    "deliver-msgs": handle_deliver_msgs,
    "heal": handle_heal,
    "isolate": handle_isolate,
    "process-ready": handle_process_ready,
    "propose": handle_propose,
    "propose-conf-change": handle_propose_conf_change,
    "raft-log": handle_raft_log,
    "raft-membership": handle_raft_membership,
    "raft-progress": handle_raft_progress,
    "raft-state": handle_raft_state,
    "restart": handle_restart,
    "send-ready": handle_send_ready,
    "snapshot": handle_snapshot,
    "stabilize": lambda env, directive: env.stabilize(_node_ids(env, directive)),
    "tick": lambda env, directive: _tick(env, directive, "count"),
    "transfer-leadership": handle_transfer_leadership,
    "tick-all": handle_tick_all,
    "tick-election": lambda env, directive: _tick(env, directive, "election"),
    "tick-heartbeat": lambda env, directive: _tick(env, directive, "heartbeat"),
}


def run_file(path: Path) -> None:
    """Run a golden file; rewrite its outputs when RAFTSIM_REWRITE=1, else compare them."""
    rewrite = os.environ.get("RAFTSIM_REWRITE") == "1"
    blocks, trailing = parse_file(path)
    env = InteractionEnv()
    rewritten: list[str] = []
    for block in blocks:
        directive = parse_directive(block.command, block.line)
        if directive.name not in HANDLERS:
            raise InteractionFileError(f"{path}:{block.line}: unknown directive {directive.name!r}")
        env.output = []
        try:
            HANDLERS[directive.name](env, directive)
        except (InteractionFileError, ValueError, IndexError, KeyError) as error:
            raise InteractionFileError(f"{path}:{block.line}: {block.command}: {error}") from error
        actual = env.output or ["ok"]
        rewritten += [*block.prose, block.command, "----", *actual, ""]
        if not rewrite and actual != block.expected:
            raise AssertionError(
                f"{path}:{block.line}: {block.command}\n--- expected\n"
                + "\n".join(block.expected)
                + "\n--- actual\n"
                + "\n".join(actual)
            )
    if rewrite:
        path.write_text("\n".join(rewritten + trailing).rstrip("\n") + "\n")
