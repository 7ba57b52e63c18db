"""The trace reader and the Raft safety checker, on good traces and on one bad trace per
property. Traces are built by hand with `TraceBuilder` so each test shows the exact events
that make (or do not make) an anomaly."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkers.errors import InputError
from checkers.history import Event
from checkers.raft_safety import ANOMALIES_KEPT_PER_PROPERTY, check_raft_safety
from checkers.trace import iter_trace_lines, read_trace_jsonl
from checkers.verdict import Verdict

Entry = list[Any]  # [term, digest]


class TraceBuilder:
    """Appends trace events, 10 us apart, with the README's field names."""

    def __init__(self, nodes: tuple[int, ...] = (1, 2, 3)) -> None:
        self.events: list[dict[str, Any]] = []
        self.time_us = 0
        self.add("start", scenario="test", seed=1, nodes=list(nodes), clients=2)
        self.phase("safety")

    def add(self, event_kind: str, /, **fields: Any) -> TraceBuilder:
        self.time_us += 10
        # A copy, so that no two events share an entries list a mutation test could edit.
        self.events.append({"t": self.time_us, "ev": event_kind, **copy.deepcopy(fields)})
        return self

    def phase(self, name: str, **fields: Any) -> TraceBuilder:
        return self.add("phase", phase=name, **fields)

    def role(self, node: int, role: str, term: int, leader: int = 0) -> TraceBuilder:
        return self.add("role", node=node, role=role, term=term, leader=leader)

    def elect(self, node: int, term: int, index: int, voters: tuple[int, ...]) -> TraceBuilder:
        """A campaign that wins: votes, the new leader's empty entry at `index`, its role."""
        self.role(node, "candidate", term)
        for voter in (node, *voters):
            self.hard(voter, term, commit=None, vote=node)
        self.append(node, index, [[term, "00"]])
        return self.role(node, "leader", term, leader=node)

    def hard(self, node: int, term: int, commit: int | None, vote: int = 0) -> TraceBuilder:
        """A hard state; `commit=None` repeats the node's last commit seen in this trace."""
        if commit is None:
            commit = self.last_commit(node)
        return self.add("hard_state", node=node, term=term, vote=vote, commit=commit)

    def last_commit(self, node: int) -> int:
        for event in reversed(self.events):
            if event.get("node") == node and event["ev"] in ("hard_state", "restart"):
                return event["commit"]
        return 0

    def append(self, node: int, index: int, entries: list[Entry]) -> TraceBuilder:
        return self.add("append", node=node, index=index, entries=entries)

    def apply(self, node: int, index: int, entries: list[Entry]) -> TraceBuilder:
        return self.add("apply", node=node, index=index, entries=entries)

    def commit_apply(self, node: int, term: int, index: int, entries: list[Entry]) -> TraceBuilder:
        self.hard(node, term, commit=index + len(entries) - 1)
        return self.apply(node, index, entries)

    def ack(self, node: int, client: int, index: int, entry: Entry) -> TraceBuilder:
        return self.add(
            "ack",
            node=node,
            client=f"c{client}",
            request=f"c{client}-{index}",
            index=index,
            term=entry[0],
            digest=entry[1],
        )

    def restart(self, node: int, term: int, commit: int, log: list[Entry]) -> TraceBuilder:
        return self.add("restart", node=node, term=term, vote=0, commit=commit, log=log)

    def replicate(
        self, leader: int, term: int, index: int, entries: list[Entry], followers: tuple[int, ...]
    ) -> TraceBuilder:
        """Leader appends, followers append, leader commits and applies."""
        self.append(leader, index, entries)
        for follower in followers:
            self.append(follower, index, entries)
        return self.commit_apply(leader, term, index, entries)


def good_trace() -> list[dict[str, Any]]:
    """Three nodes; node 1 leads term 1 and crashes, node 2 leads term 2, node 1 restarts
    from a disk that kept everything and catches up; writes acked in every phase."""
    trace = TraceBuilder()
    trace.elect(1, 1, 1, voters=(2, 3))
    trace.append(2, 1, [[1, "00"]]).append(3, 1, [[1, "00"]])
    trace.role(2, "follower", 1, 1).role(3, "follower", 1, 1)
    trace.commit_apply(1, 1, 1, [[1, "00"]])
    trace.replicate(1, 1, 2, [[1, "aa"]], followers=(2, 3)).ack(1, 0, 2, [1, "aa"])
    trace.commit_apply(2, 1, 1, [[1, "00"], [1, "aa"]])
    trace.commit_apply(3, 1, 1, [[1, "00"], [1, "aa"]])
    trace.add("crash", node=1)
    trace.elect(2, 2, 3, voters=(3,))
    trace.append(3, 3, [[2, "00"]]).role(3, "follower", 2, 2)
    trace.commit_apply(2, 2, 3, [[2, "00"]]).commit_apply(3, 2, 3, [[2, "00"]])
    trace.replicate(2, 2, 4, [[2, "bb"]], followers=(3,)).ack(2, 1, 4, [2, "bb"])
    trace.commit_apply(3, 2, 4, [[2, "bb"]])
    trace.phase("heal").add("heal", kind="crash")
    trace.restart(1, 1, 2, [[1, "00"], [1, "aa"]]).role(1, "follower", 2, 2)
    trace.append(1, 3, [[2, "00"], [2, "bb"]])
    trace.commit_apply(1, 2, 1, [[1, "00"], [1, "aa"], [2, "00"], [2, "bb"]])
    trace.phase("liveness", leader_bound_us=1_000_000)
    trace.replicate(2, 2, 5, [[2, "cc"]], followers=(1, 3)).ack(2, 0, 5, [2, "cc"])
    trace.commit_apply(1, 2, 5, [[2, "cc"]]).commit_apply(3, 2, 5, [[2, "cc"]])
    trace.phase("final-reads").phase("end").add("end")
    return trace.events


def properties(result: dict[str, Any]) -> set[str]:
    return {anomaly["property"] for anomaly in result.found}


# -- good traces -----------------------------------------------------------------------


def test_good_trace_is_valid_and_json_able() -> None:
    result = check_raft_safety(good_trace())
    assert result.verdict is Verdict.VALID, result.found
    assert result.found == ()
    stats = result.stats
    assert stats["committed_entries"] == 5
    assert stats["terms_with_leader"] == 2
    assert stats["acks"] == 3 and stats["restarts"] == 1 and stats["crashes"] == 1
    assert json.loads(json.dumps(result.to_json())) == result.to_json()


def test_good_trace_round_trips_through_the_reader(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_text("".join(json.dumps(event) + "\n" for event in good_trace()))
    events = read_trace_jsonl(path)
    assert events == good_trace()
    assert check_raft_safety(events).verdict is Verdict.VALID


def test_partitioned_minority_may_end_with_a_divergent_uncommitted_suffix() -> None:
    """Node 3 is cut off holding an entry of a term it never saw committed; at the end it
    still holds it. The ack of node 1's entry at the same index is held by nodes 1 and 2,
    a majority, so nothing is lost."""
    trace = TraceBuilder()
    trace.elect(3, 1, 1, voters=(1, 2))
    trace.append(1, 1, [[1, "00"]]).append(2, 1, [[1, "00"]])
    trace.commit_apply(3, 1, 1, [[1, "00"]]).commit_apply(1, 1, 1, [[1, "00"]])
    trace.append(3, 2, [[1, "lost"]])  # proposed, never replicated
    trace.elect(1, 2, 2, voters=(2,))
    trace.append(1, 3, [[2, "kept"]]).append(2, 2, [[2, "00"], [2, "kept"]])
    trace.commit_apply(1, 2, 2, [[2, "00"], [2, "kept"]]).ack(1, 0, 3, [2, "kept"])
    trace.phase("end").add("end")
    result = check_raft_safety(trace.events)
    assert result.verdict is Verdict.VALID, result.found


# -- one bad trace per property --------------------------------------------------------


def test_two_leaders_in_one_term() -> None:
    events = good_trace()
    events.insert(-3, {"t": events[-4]["t"], "ev": "role", "node": 3, "role": "leader", "term": 2, "leader": 3})
    result = check_raft_safety(events)
    assert result.verdict is Verdict.INVALID
    assert properties(result) == {"election-safety"}
    anomaly = result.found[0]
    assert anomaly["term"] == 2 and anomaly["leaders"] == [2, 3]
    assert anomaly["phase"] == "liveness"


def test_divergent_digest_at_same_index_and_term() -> None:
    trace = TraceBuilder()
    trace.append(1, 1, [[1, "a"]]).append(2, 1, [[1, "b"]])
    result = check_raft_safety(trace.events)
    assert properties(result) == {"log-matching"}
    assert result.found[0]["index"] == 1


def test_divergent_prefix_under_a_matching_entry() -> None:
    """Index 2 term 3 agree in digest, but the entries before differ: only the link to the
    previous entry reveals it."""
    trace = TraceBuilder()
    trace.append(1, 1, [[1, "a"], [3, "c"]]).append(2, 1, [[2, "b"], [3, "c"]])
    result = check_raft_safety(trace.events)
    assert properties(result) == {"log-matching"}
    assert result.found[0]["index"] == 2


def test_divergence_through_a_restart_log_is_caught() -> None:
    trace = TraceBuilder()
    trace.append(1, 1, [[1, "a"]]).add("crash", node=2).restart(2, 1, 0, [[1, "z"]])
    assert properties(check_raft_safety(trace.events)) == {"log-matching"}


def test_different_applies_at_one_index() -> None:
    trace = TraceBuilder()
    trace.append(1, 1, [[1, "a"]]).commit_apply(1, 1, 1, [[1, "a"]])
    trace.append(2, 1, [[2, "b"]]).commit_apply(2, 2, 1, [[2, "b"]])
    result = check_raft_safety(trace.events)
    assert properties(result) == {"state-machine-safety"}
    messages = [anomaly["message"] for anomaly in result.found]
    assert any("node 2 applied [2, b] at index 1, node 1 applied [1, a]" in m for m in messages)


def test_apply_skipping_an_index() -> None:
    trace = TraceBuilder()
    trace.append(1, 1, [[1, "a"], [1, "b"], [1, "c"]]).hard(1, 1, commit=3)
    trace.apply(1, 1, [[1, "a"]]).apply(1, 3, [[1, "c"]])
    result = check_raft_safety(trace.events)
    assert properties(result) == {"state-machine-safety"}
    assert result.found[0]["index"] == 3 and result.found[0]["applied"] == 1


def test_apply_twice_in_one_incarnation_but_again_after_restart() -> None:
    trace = TraceBuilder()
    trace.append(1, 1, [[1, "a"]]).commit_apply(1, 1, 1, [[1, "a"]])
    trace.add("crash", node=1).restart(1, 1, 1, [[1, "a"]]).apply(1, 1, [[1, "a"]])
    assert check_raft_safety(trace.events).verdict is Verdict.VALID
    trace.apply(1, 1, [[1, "a"]])
    assert properties(check_raft_safety(trace.events)) == {"state-machine-safety"}


def test_apply_beyond_commit_and_apply_of_a_foreign_entry() -> None:
    trace = TraceBuilder()
    trace.append(1, 1, [[1, "a"]]).apply(1, 1, [[1, "a"]])
    result = check_raft_safety(trace.events)
    assert "beyond its commit index 0" in result.found[0]["message"]
    trace = TraceBuilder()
    trace.append(1, 1, [[1, "a"]]).hard(1, 1, commit=1).apply(1, 1, [[1, "x"]])
    result = check_raft_safety(trace.events)
    assert "but its log holds [1, a]" in result.found[0]["message"]


def test_leader_missing_a_committed_entry() -> None:
    trace = TraceBuilder()
    trace.elect(1, 1, 1, voters=(2,))
    trace.append(1, 2, [[1, "a"]]).commit_apply(1, 1, 1, [[1, "00"], [1, "a"]])
    trace.role(3, "candidate", 2).role(3, "leader", 2, 3)
    result = check_raft_safety(trace.events)
    assert properties(result) == {"leader-completeness"}
    assert [anomaly["index"] for anomaly in result.found] == [1, 2]
    assert result.found[0]["held"] is None


def test_leader_of_the_commit_term_is_not_judged_by_it() -> None:
    """An entry whose commit was first seen in term 2 says nothing about the leader of term
    2, which may have been elected before it (the entry could be the leader's own)."""
    trace = TraceBuilder()
    trace.role(2, "leader", 1, 2)
    trace.elect(1, 2, 1, voters=(2,))
    trace.replicate(1, 2, 1, [[2, "00"], [2, "a"]], followers=(2,))
    trace.role(1, "leader", 2, 1)
    assert check_raft_safety(trace.events).verdict is Verdict.VALID


def test_committed_entry_overwritten() -> None:
    trace = TraceBuilder()
    trace.append(1, 1, [[1, "a"]]).hard(1, 1, commit=1).append(1, 1, [[2, "b"]])
    result = check_raft_safety(trace.events)
    assert properties(result) == {"state-machine-safety"}
    assert "replaced committed index 1" in result.found[0]["message"]


def test_commit_index_moving_back() -> None:
    trace = TraceBuilder()
    trace.append(1, 1, [[1, "a"], [1, "b"]]).hard(1, 1, commit=2).hard(1, 1, commit=1)
    result = check_raft_safety(trace.events)
    assert properties(result) == {"state-machine-safety"}
    assert "moved its commit index back from 2 to 1" in result.found[0]["message"]
    # After a crash the persisted commit may be older than the one the node last acted on.
    trace = TraceBuilder()
    trace.append(1, 1, [[1, "a"], [1, "b"]]).hard(1, 1, commit=2)
    trace.add("crash", node=1).add("restart", node=1, term=1, vote=0, commit=1, log=[[1, "a"], [1, "b"]])
    assert check_raft_safety(trace.events).verdict is Verdict.VALID


def acked_then_lost(conflicting_commit: bool) -> list[dict[str, Any]]:
    """Node 1 acks index 2; node 2 also held it; both crash and come back without it."""
    trace = TraceBuilder()
    trace.elect(1, 1, 1, voters=(2,)).append(2, 1, [[1, "00"]])
    trace.replicate(1, 1, 1, [[1, "00"], [1, "acked"]], followers=(2,))
    trace.ack(1, 7, 2, [1, "acked"])
    trace.add("crash", node=1).add("crash", node=2)
    trace.restart(1, 1, 0, [[1, "00"]]).restart(2, 1, 0, [[1, "00"]])
    if conflicting_commit:
        trace.append(3, 1, [[1, "00"]])
        trace.elect(3, 2, 2, voters=(1, 2))
        trace.replicate(3, 2, 2, [[2, "00"]], followers=(1, 2))
    trace.phase("end").add("end")
    return trace.events


def test_acknowledged_write_lost_after_crash_and_restart() -> None:
    result = check_raft_safety(acked_then_lost(conflicting_commit=True))
    assert result.verdict is Verdict.INVALID
    assert "durability" in properties(result)
    durability = [a for a in result.found if a["property"] == "durability"]
    assert any("acknowledged [1, acked] to client c7" in a["message"] for a in durability)
    assert durability[-1]["holders"] == [] and durability[-1]["phase"] == "end"


def test_acknowledged_write_missing_from_the_majority_at_the_end() -> None:
    result = check_raft_safety(acked_then_lost(conflicting_commit=False))
    assert properties(result) == {"durability"}
    assert "only 0 of 3 nodes" in result.found[0]["message"]


def test_ack_of_an_entry_the_node_does_not_hold() -> None:
    trace = TraceBuilder()
    trace.append(1, 1, [[1, "a"]]).append(2, 1, [[1, "a"]]).ack(1, 0, 1, [1, "b"])
    result = check_raft_safety(trace.events)
    assert properties(result) == {"durability"}


def test_events_of_a_crashed_node_break_the_trace() -> None:
    trace = TraceBuilder()
    trace.add("crash", node=1).append(1, 1, [[1, "a"]]).append(1, 5, [[1, "b"]])
    result = check_raft_safety(trace.events)
    assert properties(result) == {"trace-consistency"}
    assert result.stats["anomaly_counts"]["trace-consistency"] == 3


def test_anomalies_are_capped_but_all_counted() -> None:
    trace = TraceBuilder()
    trace.role(1, "leader", 1, 1)
    for _ in range(ANOMALIES_KEPT_PER_PROPERTY + 10):
        trace.role(2, "leader", 1, 2)
    result = check_raft_safety(trace.events)
    assert len(result.found) == ANOMALIES_KEPT_PER_PROPERTY
    assert result.stats["anomaly_counts"]["election-safety"] == ANOMALIES_KEPT_PER_PROPERTY + 10
    trace.role(3, "leader", 2).role(4, "leader", 2)  # a new cause past the cap is still shown
    result = check_raft_safety(trace.events)
    assert len(result.found) == ANOMALIES_KEPT_PER_PROPERTY + 1
    assert result.found[-1]["term"] == 2 and result.found[-1]["group"] == 2


# -- mutations of a good trace are caught ----------------------------------------------

DIGEST_SITES = [
    (position, offset)
    for position, event in enumerate(good_trace())
    if event["ev"] in ("append", "apply")
    for offset in range(len(event["entries"]))
]
ACK_SITES = [position for position, event in enumerate(good_trace()) if event["ev"] == "ack"]


def test_changing_each_entry_digest_is_caught() -> None:
    """The exhaustive twin of the property below: every site, one fixed new digest."""
    for position, offset in DIGEST_SITES:
        events = copy.deepcopy(good_trace())
        events[position]["entries"][offset][1] += "x"
        assert check_raft_safety(events).verdict is Verdict.INVALID, (position, offset)


@settings(max_examples=60, deadline=None)
@given(site=st.sampled_from(DIGEST_SITES), digest=st.text("0123456789abcdef", min_size=1))
def test_changing_any_entry_digest_is_caught(site: tuple[int, int], digest: str) -> None:
    events = copy.deepcopy(good_trace())
    position, offset = site
    entry = events[position]["entries"][offset]
    if entry[1] == digest:
        digest += "f"
    entry[1] = digest
    assert check_raft_safety(events).verdict is Verdict.INVALID


@settings(max_examples=20, deadline=None)
@given(position=st.sampled_from(ACK_SITES), term_delta=st.integers(1, 3))
def test_changing_any_acknowledged_term_is_caught(position: int, term_delta: int) -> None:
    events = copy.deepcopy(good_trace())
    events[position]["term"] += term_delta
    result = check_raft_safety(events)
    assert "durability" in properties(result)


# -- the reader ------------------------------------------------------------------------


def write_lines(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "trace.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    return path


START = '{"t": 0, "ev": "start", "scenario": "s", "seed": 1, "nodes": [1, 2, 3], "clients": 2}'


@pytest.mark.parametrize(
    ("line", "field", "words"),
    [
        ('{"t": 5, "ev": "role", "node": 1', None, "not valid JSON"),
        ("[1, 2]", None, "JSON object"),
        ('{"t": 5, "ev": "append", "node": 1, "index": 1}', "entries", "missing"),
        ('{"t": 5, "ev": "append", "node": 1, "index": 1, "entries": [[1]]}', "entries", "[term, digest]"),
        ('{"t": 5, "ev": "crash", "node": true}', "node", "integer"),
        ('{"t": "5", "ev": "crash", "node": 1}', "t", "integer"),
        ('{"t": 5, "ev": "explode", "node": 1}', "ev", "unknown event kind"),
        ('{"t": 5, "ev": "crash", "node": 9}', "node", "not in start.nodes"),
        ('{"t": 5, "ev": "role", "node": 1, "role": "king", "term": 1, "leader": 1}', "role", "unknown role"),
        ('{"t": 5, "ev": "phase", "phase": "liveness"}', "leader_bound_us", "bound"),
        ('{"t": 5, "ev": "phase", "phase": "party"}', "phase", "unknown phase"),
    ],
)
def test_reader_names_file_line_and_field(tmp_path: Path, line: str, field: str | None, words: str) -> None:
    path = write_lines(tmp_path, [START, '{"t": 1, "ev": "phase", "phase": "safety"}', line])
    with pytest.raises(InputError) as caught:
        read_trace_jsonl(path)
    error = caught.value
    assert (error.line, error.field) == (3, field)
    text = str(error)
    assert "\n" not in text and words in text
    assert text.startswith(f"{path}:3: " + (f"{field}: " if field else ""))


def test_reader_rejects_time_going_backwards(tmp_path: Path) -> None:
    path = write_lines(tmp_path, [START, '{"t": 9, "ev": "crash", "node": 1}', '{"t": 8, "ev": "crash", "node": 2}'])
    with pytest.raises(InputError, match=r"trace\.jsonl:3: t: time went backwards: 8 < 9"):
        read_trace_jsonl(path)


def test_reader_streams_lines_lazily() -> None:
    lines = iter([START, "not json"])
    events = iter_trace_lines(lines, "stream")
    assert next(events)["ev"] == "start"
    with pytest.raises(InputError, match="stream:2: not valid JSON"):
        next(events)


# -- each anomaly shows the cluster at its moment, and anomalies are grouped by cause -------


def test_an_anomaly_shows_every_node_at_its_moment_and_who_proposed_each_entry() -> None:
    """The ack naming entry 2's client comes after the anomaly: the tail still names it,
    and with the history, the line of the invoke that proposed it."""
    trace = TraceBuilder()
    trace.elect(1, 1, 1, voters=(2,)).append(2, 1, [[1, "00"]])
    trace.replicate(1, 1, 1, [[1, "00"], [1, "aa"], [1, "bb"]], followers=(2,))
    trace.add("crash", node=2)
    trace.apply(3, 1, [[1, "zz"]])  # node 3 holds nothing and committed nothing
    trace.ack(1, 0, 2, [1, "aa"])
    history = [
        Event(0, 0, 0, "invoke", "write", "k0", 1, client=0),
        Event(1, 5, 0, "ok", "write", "k0", 1),
        Event(2, 10, 0, "invoke", "write", "k0", 2, client=0),
    ]
    result = check_raft_safety(trace.events, history)
    first = result.found[0]
    assert first["message"] == "node 3 applied up to index 1 beyond its commit index 0"
    nodes = {state["node"]: state for state in first["nodes"]}
    assert sorted(nodes) == [1, 2, 3]
    assert (nodes[1]["role"], nodes[1]["term"], nodes[1]["commit"]) == ("leader", 1, 3)
    assert (nodes[2]["role"], nodes[3]["role"], nodes[3]["log_tail"]) == ("crashed", "follower", [])
    assert [entry["index"] for entry in nodes[1]["log_tail"]] == [1, 2, 3]
    named = nodes[1]["log_tail"][1]
    assert named == {"index": 2, "term": 1, "digest": "aa", "client": "c0", "request": "c0-2", "line": 3}
    assert nodes[1]["log_tail"][2]["client"] is None and nodes[1]["log_tail"][2]["line"] is None
    without_history = check_raft_safety(trace.events).found[0]["nodes"][0]["log_tail"][1]
    assert (without_history["request"], without_history["line"]) == ("c0-2", None)
    json.dumps(result.to_json())


def test_the_log_tail_is_taken_around_the_anomaly_s_index() -> None:
    trace = TraceBuilder()
    entries = [[1, f"{number:02}"] for number in range(1, 13)]
    trace.append(1, 1, entries).hard(1, 1, commit=12).apply(1, 1, entries[:6]).apply(1, 8, entries[7:8])
    (anomaly,) = check_raft_safety(trace.events).found
    assert anomaly["index"] == 8
    assert [entry["index"] for entry in anomaly["nodes"][0]["log_tail"]] == [6, 7, 8, 9, 10]
    trace = TraceBuilder()
    trace.append(1, 1, entries).add("crash", node=1).append(1, 13, [[1, "13"]])
    (anomaly,) = check_raft_safety(trace.events).found
    assert [entry["index"] for entry in anomaly["nodes"][0]["log_tail"]] == [8, 9, 10, 11, 12]


def test_anomalies_of_one_node_incarnation_form_one_group() -> None:
    """A restart that forgets to re-apply breaks state machine safety once per restart;
    two breaks in one incarnation are one cause."""
    trace = TraceBuilder()
    log = [[1, "a"], [1, "b"], [1, "c"]]
    trace.append(1, 1, log).commit_apply(1, 1, 1, log)
    trace.add("crash", node=1).restart(1, 1, 3, log).apply(1, 3, log[2:]).apply(1, 3, log[2:])
    trace.add("crash", node=1).restart(1, 1, 3, log)
    restarted_at = trace.time_us
    trace.apply(1, 2, log[1:2])
    result = check_raft_safety(trace.events)
    assert [anomaly["group"] for anomaly in result.found] == [1, 1, 2]
    assert [(group["count"], group["node"], group["property"]) for group in result.groups] == [
        (2, 1, "state-machine-safety"),
        (1, 1, "state-machine-safety"),
    ]
    assert result.groups[0]["cause"].endswith(", the first of 2 anomalies of this cause")
    assert result.groups[1]["cause"] == (
        f"node 1 applied from index 2 after applying up to 0 (node 1 since its restart at {restarted_at / 1e6:.2f} s)"
    )
    assert result.groups[1]["t"] == restarted_at + 10 and result.groups[1]["line"] is None


def test_two_leaders_of_one_term_are_one_group_per_term() -> None:
    trace = TraceBuilder((1, 2, 3, 4))
    trace.role(1, "leader", 2).role(2, "leader", 2).role(3, "leader", 2).role(4, "leader", 3)
    trace.role(1, "leader", 3)
    result = check_raft_safety(trace.events)
    assert [(anomaly["term"], anomaly["leaders"], anomaly["group"]) for anomaly in result.found] == [
        (2, [1, 2], 1),
        (2, [1, 3], 1),
        (3, [4, 1], 2),
    ]
    assert [group["count"] for group in result.groups] == [2, 1]
    assert result.stats["groups_total"] == 2


def test_a_run_that_skips_re_applying_shows_the_restarted_node_behind(tmp_path: Path) -> None:
    """On a real run: the anomaly shows node states and names the restart behind it."""
    import dataclasses

    from raftsim import api
    from scenarios import loader

    base = loader.load("crash-restart")
    scenario = dataclasses.replace(
        base, duration_ms=6000, faults=base.faults[:1], seed=1, bugs=("restart-skips-apply",)
    )
    verdict = api.run(scenario, tmp_path / "run").verdict.checkers["raft-safety"]
    result = check_raft_safety(read_trace_jsonl(tmp_path / "run" / "trace.jsonl"))
    assert verdict.verdict is Verdict.INVALID and result.verdict is Verdict.INVALID
    anomaly = result.found[0]
    assert "applied from index" in anomaly["message"]
    assert [state["node"] for state in anomaly["nodes"]] == [1, 2, 3, 4, 5]
    culprit = next(state for state in anomaly["nodes"] if state["node"] == anomaly["node"])
    assert culprit["role"] == "follower" and culprit["commit"] < max(state["commit"] for state in anomaly["nodes"])
    assert all(
        len(state["log_tail"]) == 5 and any(entry["index"] == anomaly["index"] for entry in state["log_tail"])
        for state in anomaly["nodes"]
    )
    assert f"(node {anomaly['node']} since its restart at " in result.groups[0]["cause"]
    assert sum(group["count"] for group in result.groups) == result.stats["anomalies_total"]


def test_an_anomaly_about_an_acknowledged_write_names_its_history_line() -> None:
    history = [
        Event(0, 0, 7, "invoke", "write", "k0", 1, client=7),
        Event(1, 5, 7, "ok", "write", "k0", 1),
        Event(2, 6, 3, "invoke", "read", "k0", None, client=3),
        Event(3, 10, 7, "invoke", "write", "k0", 2, client=7),
    ]
    result = check_raft_safety(acked_then_lost(conflicting_commit=True), history)
    durability = [anomaly for anomaly in result.found if anomaly["property"] == "durability"]
    assert durability and all(anomaly["line"] == 4 for anomaly in durability)
    without_history = check_raft_safety(acked_then_lost(conflicting_commit=True)).found
    assert all(anomaly["line"] is None for anomaly in without_history if anomaly["property"] == "durability")
