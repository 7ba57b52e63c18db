"""Each request takes effect once: the effects checker on stores' executions built by hand
(one correct, one per anomaly), its reader, and real runs, correct or with a store that
slips (written here, not among the planted bugs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from checkers.effects import check_effects, read_effects_jsonl
from checkers.errors import InputError
from checkers.history import Event
from checkers.verdict import Verdict
from raftcore.kv import Command
from raftcore.server import Forward, KVServer, Request, entry_digest
from raftsim import api
from raftsim.run_folder import RunFolder
from scenarios import loader
from sim.host import Host

EMPTY = entry_digest("")
FIRST = Command("c0-1", "append", "k0", 1)
SECOND = Command("c1-1", "append", "k0", 2)


class Run:
    """A trace and the effects of one run, built event by event, 10 us apart."""

    def __init__(self) -> None:
        self.trace: list[dict[str, Any]] = [
            {"t": 0, "ev": "start", "scenario": "test", "seed": 1, "nodes": [1, 2], "clients": 2},
            {"t": 0, "ev": "phase", "phase": "safety"},
        ]
        self.effects: list[dict[str, Any]] = []
        self.time_us = 0
        self.incarnations = {1: 0, 2: 0}

    def tick(self) -> int:
        self.time_us += 10
        return self.time_us

    def apply(self, node: int, index: int, *commands: Command | None) -> Run:
        entries = [[1, EMPTY if command is None else entry_digest(command.encode())] for command in commands]
        self.trace.append({"t": self.tick(), "ev": "apply", "node": node, "index": index, "entries": entries})
        return self

    def execute(self, node: int, index: int, command: Command, revision: int) -> Run:
        self.effects.append(
            {
                "t": self.tick(),
                "ev": "execute",
                "node": node,
                "incarnation": self.incarnations[node],
                "index": index,
                "request": command.request_id,
                "operation": command.operation,
                "key": command.key,
                "digest": entry_digest(command.encode()),
                "revision": revision,
            }
        )
        return self

    def crash(self, node: int) -> Run:
        self.trace.append({"t": self.tick(), "ev": "crash", "node": node})
        self.incarnations[node] += 1
        return self

    def replay_log(self, node: int) -> Run:
        """What a correct store does with the log [empty, FIRST, FIRST again, SECOND]: the
        repeat of FIRST (a client's resend proposed twice) is answered, not executed."""
        self.apply(node, 1, None, FIRST, FIRST, SECOND)
        return self.execute(node, 2, FIRST, 1).execute(node, 4, SECOND, 2)

    def check(self) -> dict[str, Any]:
        history = [
            Event(0, 0, 0, "invoke", "append", "k0", 1, client=0),
            Event(1, 1, 1, "invoke", "append", "k0", 2, client=1),
        ]
        return check_effects(self.effects, self.trace, history).to_json()


def found(result: dict[str, Any]) -> set[str]:
    return {anomaly["property"] for anomaly in result["anomalies"]}


def test_a_repeat_answered_from_the_table_and_a_restart_replaying_the_log_are_valid() -> None:
    run = Run().replay_log(1).replay_log(2).crash(2).replay_log(2)
    result = run.check()
    assert result["valid"] is True
    assert result["anomalies"] == []
    assert result["stats"]["executions"] == 6
    assert result["stats"]["entries_applied"] == 12


def test_a_request_executed_twice_by_hand() -> None:
    """Node 2's store misses the repeat of FIRST and executes it again at index 3."""
    run = Run().replay_log(1)
    run.apply(2, 1, None, FIRST, FIRST, SECOND)
    run.execute(2, 2, FIRST, 1).execute(2, 3, FIRST, 2).execute(2, 4, SECOND, 3)
    result = run.check()
    assert result["valid"] is False
    twice = [anomaly for anomaly in result["anomalies"] if anomaly["property"] == "applied-twice"]
    assert len(twice) == 1
    assert twice[0]["message"] == (
        "node 2 executed request c0-1 (append k0) twice: at index 2 (revision 1) and again at index 3 (revision 2)"
    )
    assert (twice[0]["node"], twice[0]["index"], twice[0]["line"], twice[0]["phase"]) == (2, 3, 1, "safety")
    # Node 1 executed nothing at 3 and reached revision 2 at 4: node 2 differs at both.
    assert found(result) == {"applied-twice", "replicas-agree"}
    assert result["stats"]["anomaly_counts"] == {"applied-twice": 1, "applied-outside-log": 0, "replicas-agree": 2}


def test_a_command_executed_beside_the_log() -> None:
    """Node 2 executes SECOND when it forwards it, standing at index 2, then again where
    the log holds it."""
    run = Run().replay_log(1)
    run.apply(2, 1, None, FIRST)
    run.execute(2, 2, FIRST, 1).execute(2, 2, SECOND, 2)
    run.apply(2, 3, FIRST, SECOND)
    run.execute(2, 4, SECOND, 3)
    result = run.check()
    outside = [anomaly for anomaly in result["anomalies"] if anomaly["property"] == "applied-outside-log"]
    assert [anomaly["message"] for anomaly in outside] == [
        "node 2 executed request c1-1 (append k0) outside the log: its store stood at index 2, "
        f"whose entry is another command (digest {entry_digest(FIRST.encode())})"
    ]
    assert found(result) == {"applied-outside-log", "applied-twice", "replicas-agree"}


def test_a_store_rebuilt_without_the_log_disagrees_with_its_replicas() -> None:
    """After a crash node 2 applies only entry 4, from an empty store (a restart that
    skipped the log): same command, another revision."""
    run = Run().replay_log(1).replay_log(2).crash(2)
    run.apply(2, 4, SECOND).execute(2, 4, SECOND, 1)
    result = run.check()
    assert found(result) == {"replicas-agree"}
    assert result["anomalies"][0]["message"] == (
        "at index 4 node 2 executed request c1-1 to revision 1, but node 1 executed request c1-1 to revision 2"
    )


def test_an_execution_no_apply_explains() -> None:
    run = Run().replay_log(1).execute(1, 0, SECOND, 3)
    assert found(run.check()) == {"applied-outside-log", "applied-twice"}


def write_effects(tmp_path: Path, records: list[Any]) -> Path:
    path = tmp_path / "effects.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def test_reader_reads_back_what_it_validates(tmp_path: Path) -> None:
    effects = Run().replay_log(1).effects
    assert read_effects_jsonl(write_effects(tmp_path, effects)) == effects


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"ev": "apply"}, "ev", "must be 'execute'"),
        ({"revision": -1}, "revision", "must be an integer >= 0"),
        ({"index": True}, "index", "must be an integer >= 0"),
        ({"digest": 5}, "digest", "must be a string"),
        ({"t": 1}, "t", "time went backwards"),
    ],
)
def test_reader_names_line_and_field(tmp_path: Path, change: dict[str, Any], field: str, words: str) -> None:
    effects = Run().replay_log(1).effects
    effects[1] = {**effects[1], **change}
    with pytest.raises(InputError) as error:
        read_effects_jsonl(write_effects(tmp_path, effects))
    assert (error.value.line, error.value.field) == (2, field)
    assert words in error.value.message


SHORT = """
name = "effects-short"
duration_ms = 4000
[cluster]
nodes = 3
[workload]
rate = 60
[phases]
quiet_ms = 2000
[[faults]]
kind = "crash"
target = "leader"
start_ms = 1500
duration_ms = 1000
"""


def test_a_real_run_executes_each_request_once_per_incarnation(tmp_path: Path) -> None:
    outcome = api.run(loader.parse(SHORT, "short.toml"), tmp_path / "run")
    assert outcome.folder is not None
    folder = RunFolder(outcome.folder)
    effects = folder.effects
    assert effects is not None
    result = outcome.verdict.checkers["effects"]
    assert result.verdict is Verdict.VALID
    assert result.stats is not None
    assert result.stats["executions"] == len(effects) > 100
    assert {event["ev"] for event in folder.trace}.isdisjoint({"execute"})
    # The leader's crash rebuilt a store that executed the log again, as a new incarnation.
    assert {event["incarnation"] for event in effects} == {0, 1}


def test_recording_effects_leaves_the_trace_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = loader.parse(SHORT, "short.toml")
    recorded = api.run(scenario, None).result
    assert recorded.effects_text
    monkeypatch.setattr(Host, "_build_server", lambda host, durable: KVServer(host.config, durable, host._raft_rng))
    unrecorded = api.run(scenario, None).result
    assert unrecorded.effects_text == ""
    assert unrecorded.trace_text == recorded.trace_text


def test_a_folder_from_before_effects_is_judged_without_them(tmp_path: Path) -> None:
    outcome = api.run(loader.parse(SHORT, "short.toml"), tmp_path / "run")
    assert outcome.folder is not None
    (outcome.folder / "effects.jsonl").unlink()
    verdict = api.judge(RunFolder(outcome.folder))
    assert "effects" not in verdict.checkers
    assert verdict.verdict is Verdict.VALID


def follower_also_executes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A slip of our own: a follower that forwards a write also executes it."""
    submit = KVServer.submit

    def slipping(server: KVServer, request: Request) -> Any:
        answer = submit(server, request)
        if type(answer) is Forward and request.operation != "get":
            server.store._execute(request.command())
        return answer

    monkeypatch.setattr(KVServer, "submit", slipping)


def test_a_follower_executing_what_it_forwards_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The register workload hides it from linearizability (the value written twice is
    one value); the effects show it."""
    follower_also_executes(monkeypatch)
    outcome = api.run(loader.parse(SHORT, "short.toml"), tmp_path / "run")
    result = outcome.verdict.checkers["effects"]
    assert result.verdict is Verdict.INVALID
    assert result.stats is not None
    assert result.stats["anomaly_counts"]["applied-outside-log"] > 0
    assert result.stats["anomaly_counts"]["applied-twice"] > 0
