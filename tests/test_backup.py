"""Backups and restores: `raftsim backup` of a recorded run, a scenario's `[restore]`
table, the built-in backup-restore scenario, and the checkers judging a restored run."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_raft_safety import TraceBuilder, properties
from tests_support import shortened

from checkers.errors import InputError
from checkers.raft_safety import check_raft_safety
from checkers.verdict import Verdict
from raftcore.backup import decode_backup, encode_backup
from raftcore.kv import KVStore
from raftcore.restore import restored_keys, restored_snapshot
from raftcore.server import KVServer
from raftcore.types import Membership, Snapshot
from raftsim import api
from raftsim.run_folder import RunFolder
from scenarios import loader
from sim.world import RESTORE_PROCESS

REPOSITORY = Path(__file__).resolve().parent.parent


def _main(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    from raftsim.cli import main

    with pytest.raises(SystemExit) as exited:
        main(list(arguments))
    output = capsys.readouterr()
    code = exited.value.code
    assert isinstance(code, int), code
    return code, output.out, output.err


def _one_line_error(result: tuple[int, str, str], *fragments: str) -> None:
    code, _out, err = result
    assert code == 2, result
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("raftsim: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _history(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "history.jsonl").read_text().splitlines()]


def _trace(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "trace.jsonl").read_text().splitlines()]


# -- taking a backup ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def source_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short crash-restart run (register workload), kept in a folder."""
    folder = tmp_path_factory.mktemp("source") / "run"
    outcome = api.run(shortened("crash-restart", duration_ms=6000, quiet_ms=2000), folder)
    assert outcome.verdict.verdict is Verdict.VALID
    return folder


def test_a_backup_at_the_end_holds_what_the_final_reads_saw(source_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "backup.json"
    taken = api.backup(source_run, 2, None, out)
    text = out.read_text()
    assert decode_backup(text, str(out)) == taken.snapshot
    assert encode_backup(taken.snapshot) == text  # the file is the canonical encoding
    assert taken.snapshot.membership == Membership.of_voters((1, 2, 3, 4, 5))
    # Every client's final read of a key saw what the backed-up member holds.
    final = {
        event["key"]: event["value"] for event in _history(source_run) if event["f"] == "read" and event["type"] == "ok"
    }
    held = {kv.key: kv.value for kv in restored_keys(taken.snapshot)}
    assert held == final and held


def test_a_backup_at_a_moment_is_the_members_applied_state_then(source_run: Path, tmp_path: Path) -> None:
    trace = _trace(source_run)
    at_us = 1_500_000
    assert not any(e["ev"] in ("crash", "pause") and e["t"] <= at_us for e in trace), "node 3 is up then"
    applied = max(
        e["index"] + len(e["entries"]) - 1 for e in trace if e["ev"] == "apply" and e["node"] == 3 and e["t"] <= at_us
    )
    taken = api.backup(source_run, 3, at_us // 1000, tmp_path / "early.json")
    assert taken.t_us == at_us
    assert taken.snapshot.index == applied
    at_end = api.backup(source_run, 3, None, tmp_path / "late.json")
    assert at_end.snapshot.index > taken.snapshot.index


def test_bad_backup_requests_exit_2_with_one_line_and_write_nothing(
    source_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "b.json"
    crash = next(e for e in _trace(source_run) if e["ev"] == "crash")
    down_ms = crash["t"] // 1000 + 1
    cases = [
        (("--node", "9"), ("--node", "node 9 is not a member")),
        (("--node", str(crash["node"]), "--at-ms", str(down_ms)), (f"node {crash['node']} is crashed",)),
        (("--node", "1", "--at-ms", "999999"), ("the run ended",)),
    ]
    for flags, fragments in cases:
        _one_line_error(_main(capsys, "backup", str(source_run), *flags, "--out", str(out)), *fragments)
    _one_line_error(
        _main(capsys, "backup", str(tmp_path / "nothing"), "--node", "1", "--out", str(out)), "not a run folder"
    )
    _one_line_error(_main(capsys, "backup", str(source_run), "--node", "1", "--out", str(tmp_path)), "--out")
    assert not out.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == []


def test_a_folder_whose_trace_differs_from_its_replay_is_refused(source_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(source_run, copy)
    lines = (copy / "trace.jsonl").read_text().splitlines(keepends=True)
    (copy / "trace.jsonl").write_text("".join([*lines[:5], lines[5].replace('"t":', '"t": '), *lines[6:]]))
    with pytest.raises(InputError, match="the replay differs"):
        api.backup(copy, 1, 2000, tmp_path / "b.json")
    assert not (tmp_path / "b.json").exists()


def test_backup_bytes_do_not_depend_on_the_hash_seed(source_run: Path, tmp_path: Path) -> None:
    written = []
    for seed in ("1", "2"):
        out = tmp_path / f"b{seed}.json"
        environment = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPOSITORY)}
        command = [sys.executable, "-m", "raftsim", "backup", str(source_run), "--node", "1", "--out", str(out)]
        subprocess.run(command, check=True, env=environment, capture_output=True, cwd=REPOSITORY)
        written.append(out.read_bytes())
    assert written[0] == written[1]


# -- restoring ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def restored_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in backup-restore scenario, run once."""
    folder = tmp_path_factory.mktemp("restored") / "run"
    outcome = api.run(loader.load("backup-restore"), folder)
    assert outcome.verdict.verdict is Verdict.VALID, outcome.verdict.failing()
    return folder


def _builtin_backup() -> Snapshot:
    scenario = loader.load("backup-restore")
    assert scenario.restore is not None
    return decode_backup(scenario.restore.text, scenario.restore.backup)


def _restored_values_read(history: list[dict[str, Any]]) -> dict[str, int]:
    """Per restored key, how many clients' ok reads returned the value the backup holds
    (no client writes it: such a read saw the backed-up data)."""
    held = {event["key"]: event["value"] for event in history if event["process"] == RESTORE_PROCESS}
    counts = dict.fromkeys(held, 0)
    for event in history:
        if event["process"] != RESTORE_PROCESS and event["type"] == "ok" and event["f"] == "read":
            counts[event["key"]] += event["value"] == held.get(event["key"])
    return counts


def test_the_restored_run_starts_from_the_backup(restored_run: Path) -> None:
    backup = _builtin_backup()
    keys = restored_keys(backup)
    history = _history(restored_run)
    opening = history[: 2 * len(keys)]
    assert [(e["type"], e["key"], e["value"], e.get("revision")) for e in opening] == [
        (kind, kv.key, kv.value, None if kind == "invoke" else kv.mod_revision)
        for kv in keys
        for kind in ("invoke", "ok")
    ]
    assert all(e["process"] == RESTORE_PROCESS and e["time"] == 0 and "client" not in e for e in opening)
    restore = next(e for e in _trace(restored_run) if e["ev"] == "restore")
    assert (restore["index"], restore["term"], restore["keys"]) == (backup.index, backup.term, len(keys))
    # Clients read the backed-up values, and never found a restored key absent (the
    # register workload deletes nothing): the store they read was the backup's.
    held = {kv.key: kv.value for kv in keys}
    assert sum(_restored_values_read(history).values()) > 0
    reads = [e for e in history if e["type"] == "ok" and e["f"] == "read" and e["key"] in held]
    assert reads and all(e["value"] is not None for e in reads)
    # Nobody wrote a value the backup holds: every value names one write.
    client_writes = [
        e["value"] if e["f"] == "write" else e["value"][1]
        for e in history
        if e["type"] == "invoke" and e["f"] in ("write", "cas") and e["process"] != RESTORE_PROCESS
    ]
    assert client_writes and not set(client_writes) & set(held.values())


def test_the_restored_run_replays_byte_for_byte_from_its_own_folder(restored_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / "run"
    shutil.copytree(restored_run, copy)
    assert (copy / "backup.json").read_text() == encode_backup(_builtin_backup())
    builtin = loader.load("backup-restore").restore
    assert builtin is not None
    in_folder = dataclasses.replace(builtin, backup=str((copy / "backup.json").absolute()))
    assert loader.load(str(copy / "scenario.toml")).restore == in_folder
    same, recorded, replayed, _result = api.replay(copy)
    assert same and recorded == replayed == RunFolder(restored_run).digest


def test_a_history_contradicting_the_backup_is_flagged(
    restored_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same run judged as if the backup had held another value for a key whose
    backed-up value clients read: such a read now names no write, and the linearizability
    checker refuses it (as `raftsim check` of the history alone does)."""
    copy = tmp_path / "run"
    shutil.copytree(restored_run, copy)
    history = _history(copy)
    key = next(key for key, count in sorted(_restored_values_read(history).items()) if count > 0)
    for event in history:
        if event["process"] == RESTORE_PROCESS and event["key"] == key:
            event["value"] += 7  # a value no client writes
    (copy / "history.jsonl").write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in history))
    verdict = api.judge(RunFolder(copy))
    assert verdict.checkers["linearizability"].verdict is Verdict.INVALID
    code, _out, _err = _main(capsys, "check", str(copy / "history.jsonl"), "--model", "cas-register")
    assert code == 1
    code, _out, _err = _main(capsys, "check", str(restored_run / "history.jsonl"), "--model", "cas-register")
    assert code == 0


def test_a_cluster_that_loses_the_restored_store_is_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that takes the snapshot's index but not its data (its store starts empty)
    answers reads the backup contradicts: the checkers find it from the history alone."""

    def load_index_only(server: KVServer, snapshot: Snapshot) -> None:
        server.store.applied_index = snapshot.index

    scenario = shortened("backup-restore", duration_ms=3000, quiet_ms=1000)
    assert api.run(scenario, None).verdict.verdict is Verdict.VALID
    monkeypatch.setattr(KVServer, "_load", load_index_only)
    outcome = api.run(scenario, None)
    checkers = outcome.verdict.checkers
    assert checkers["linearizability"].verdict is Verdict.INVALID
    assert checkers["revisions"].verdict is Verdict.INVALID


def test_a_fuzz_campaign_resumes_only_with_the_same_backup(tmp_path: Path) -> None:
    from raftsim import fuzz

    scenario = loader.load("backup-restore")
    assert scenario.restore is not None
    other = dataclasses.replace(scenario.restore, text=_backup_of({"k0": 1}))
    plans = [
        fuzz.FuzzPlan(chosen, range(2), tmp_path, jobs=1, recheck_share=0.0, budget_s=10, reports=False)
        for chosen in (scenario, scenario, dataclasses.replace(scenario, restore=other))
    ]
    first, same, changed = (fuzz.identity(plan) for plan in plans)
    assert first == same and first != changed
    assert "backup" in first and "backup" not in fuzz.identity(
        dataclasses.replace(plans[0], scenario=shortened("pause"))
    )


# -- bad backups named by a scenario -------------------------------------------------------


def _scenario_naming(folder: Path, backup_text: str | bytes, extra: str = "") -> Path:
    backup = folder / "b.json"
    if isinstance(backup_text, bytes):
        backup.write_bytes(backup_text)
    else:
        backup.write_text(backup_text)
    path = folder / "s.toml"
    path.write_text(f'name = "s"\nduration_ms = 1000\n\n[restore]\nbackup = "b.json"\n{extra}')
    return path


def _with_checksum(document: dict[str, Any]) -> str:
    content = {name: value for name, value in document.items() if name != "checksum"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    import hashlib

    document = {**content, "checksum": "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()}
    return json.dumps(document, sort_keys=True, separators=(",", ":")) + "\n"


def _backup_of(values: dict[str, Any]) -> str:
    store = KVStore()
    for index, (key, value) in enumerate(sorted(values.items()), start=1):
        store.mvcc.put_value(key, value)
        store.applied_index = index
    return encode_backup(Snapshot(len(values), 1, Membership.of_voters((1,)), store.snapshot_data()))


def test_bad_backups_named_by_a_scenario_exit_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = encode_backup(_builtin_backup())
    document = json.loads(good)
    flipped = good.replace('"term":2', '"term":3')
    assert flipped != good
    cases: list[tuple[str | bytes, tuple[str, ...]]] = [
        (good[: len(good) // 2], ("(whole)", "cut short")),
        (flipped, ("checksum", "damaged")),
        (_with_checksum({**document, "version": 2}), ("version", "reads version 1")),
        (good.encode()[:-3] + b"\xff\n", ("not UTF-8",)),
        (_backup_of({"k0": "text"}), ("'k0' holds 'text'", "integers")),
        (_with_checksum({**document, "data": "{}"}), ("data",)),
    ]
    for number, (text, fragments) in enumerate(cases):
        folder = tmp_path / str(number)
        folder.mkdir()
        path = _scenario_naming(folder, text)
        _one_line_error(
            _main(capsys, "run", str(path), "--no-report", "--out", str(folder / "run")),
            f"{path}:5: restore.backup",
            str(folder / "b.json"),
            *fragments,
        )
        assert not (folder / "run").exists()
    folder = tmp_path / "missing"
    folder.mkdir()
    path = _scenario_naming(folder, good)
    (folder / "b.json").unlink()
    _one_line_error(_main(capsys, "run", str(path)), "restore.backup", "no such backup file")
    path = _scenario_naming(folder, good, '\n[workload]\nkind = "etcd"\n')
    _one_line_error(_main(capsys, "run", str(path)), "restore.backup", "workload etcd", "cannot start")


def test_a_restore_table_round_trips_and_refuses_unknown_keys(tmp_path: Path) -> None:
    path = _scenario_naming(tmp_path, encode_backup(_builtin_backup()))
    scenario = loader.load(str(path))
    assert scenario.restore is not None and scenario.restore.backup == str(tmp_path / "b.json")
    assert loader.parse(loader.to_toml(scenario), "elsewhere.toml") == scenario
    path.write_text('name = "s"\n[restore]\nbackup = "b.json"\nfrom = "x"\n')
    with pytest.raises(loader.ScenarioError, match=r"restore\.from: unknown key"):
        loader.load(str(path))


def test_a_restore_rewrites_the_membership_and_forgets_the_request_ids() -> None:
    backup = _builtin_backup()
    restored = restored_snapshot(backup, (1, 2, 3))
    assert (restored.index, restored.term) == (backup.index, backup.term)
    assert restored.membership == Membership.of_voters((1, 2, 3))
    before, after = KVStore(), KVStore()
    before.load_snapshot(backup.data)
    after.load_snapshot(restored.data)
    request_id = json.loads(backup.data)["results"][0][0]
    assert before.result_of(request_id) is not None and after.result_of(request_id) is None
    assert restored_keys(restored) == restored_keys(backup) and after.revision == before.revision


# -- the raft-safety checker's view of a restore ------------------------------------------


def _restored_trace(restore_first: bool) -> list[dict[str, Any]]:
    """Node 1 wins term 3 on a cluster restored up to index 5 of term 2 and commits its
    empty entry at 6; every hard state carries the restored commit index."""
    trace = TraceBuilder()
    if restore_first:
        trace.add("restore", nodes=[1, 2, 3], index=5, term=2, revision=9, keys=1)
    trace.role(1, "candidate", 3)
    for voter in (1, 2, 3):
        trace.hard(voter, 3, commit=5, vote=1)
    trace.append(1, 6, [[3, "00"]]).role(1, "leader", 3, leader=1)
    trace.append(2, 6, [[3, "00"]]).append(3, 6, [[3, "00"]])
    trace.commit_apply(1, 3, 6, [[3, "00"]])
    return trace.events


def test_raft_safety_takes_a_restored_prefix_as_committed() -> None:
    assert check_raft_safety(_restored_trace(True)).verdict is Verdict.VALID
    assert check_raft_safety(_restored_trace(False)).verdict is Verdict.INVALID


def test_raft_safety_refuses_a_restore_after_commits() -> None:
    trace = TraceBuilder()
    trace.elect(1, 1, 1, voters=(2, 3)).append(2, 1, [[1, "00"]]).commit_apply(1, 1, 1, [[1, "00"]])
    trace.add("restore", nodes=[1, 2, 3], index=5, term=2, revision=9, keys=1)
    assert "trace-consistency" in properties(check_raft_safety(trace.events))
