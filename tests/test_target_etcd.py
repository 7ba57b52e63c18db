"""`raftsim run --target etcd` end to end on a real etcd 3.4: the known weak mode is found
(serializable reads under partitions and pauses are flagged), the same attack with
linearizable reads passes, the faults reach the history and the report's fault band, a
real run's replay compares verdicts, and a harness killed or interrupted mid-run leaves no
etcd process and no data directory behind.

Each run is short (8 s of faults, 3 s of quiet, three members). `.ci/run` installs etcd and
sets RAFTSIM_REQUIRE_ETCD=1, so these tests cannot be skipped there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_etcd_differential import _etcd_binary

from checkers.history import read_history_faults

SCENARIO = """
name = "serializable-reads-short"
description = "A third of the reads serializable or none, while a node is cut off and another paused."
seed = {seed}
duration_ms = 8000

[cluster]
nodes = 3

[workload]
kind = "register"
clients = 6
keys = 3
rate = 150
read = 0.6
write = 0.3
cas = 0.1
serializable = {serializable}

[phases]
quiet_ms = 3000

[[faults]]
kind = "partition"
shape = "isolate-node"
target = "random"
start_ms = 1000
duration_ms = 3500

[[faults]]
kind = "pause"
target = "random"
start_ms = 5000
duration_ms = 2000
"""
GONE_S = 15.0


def _scenario(tmp_path: Path, serializable: float, seed: int = 1, duration_ms: int = 8000) -> Path:
    path = tmp_path / f"scenario-{serializable}-{duration_ms}.toml"
    text = SCENARIO.format(seed=seed, serializable=serializable).replace(
        "duration_ms = 8000\n", f"duration_ms = {duration_ms}\n", 1
    )
    path.write_text(text, encoding="utf-8")
    return path


def _raftsim(*arguments: str, timeout_s: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "raftsim", *arguments], capture_output=True, text=True, timeout=timeout_s, check=False
    )


def test_serializable_reads_are_flagged_and_linearizable_ones_pass(tmp_path: Path) -> None:
    binary = _etcd_binary()
    stale = tmp_path / "stale"
    flagged = _raftsim("run", str(_scenario(tmp_path, 0.5)), "--target", "etcd", "--etcd", binary, "--out", str(stale))
    assert flagged.returncode == 1, flagged.stdout + flagged.stderr
    verdict = json.loads((stale / "verdict.json").read_text())
    assert verdict["checkers"]["linearizability"]["valid"] is False, verdict["checkers"]["linearizability"]
    assert "raft-safety" in verdict["not_judged"]  # said, not passed in silence
    target = json.loads((stale / "target.json").read_text())
    assert target["target"] == "etcd" and target["replayable"] is False and target["members"] == 3
    assert sorted(path.name for path in (stale / "logs").iterdir()) == ["n1.log", "n2.log", "n3.log"]

    clean = tmp_path / "clean"
    passed = _raftsim("run", str(_scenario(tmp_path, 0.0)), "--target", "etcd", "--etcd", binary, "--out", str(clean))
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "not judged" in passed.stdout
    faults = read_history_faults(clean / "history.jsonl")
    kinds = sorted(fault.kind for fault in faults if fault.type == "fault")
    assert kinds == ["partition", "pause"], faults
    trace_faults = [json.loads(line) for line in (clean / "trace.jsonl").read_text().splitlines()]
    assert sorted(event["kind"] for event in trace_faults if event["ev"] == "fault") == ["partition", "pause"]
    html = (clean / "report.html").read_text(encoding="utf-8")
    assert "partition isolate-node" in html and "pause" in html  # the fault band's labels
    assert (clean / "timeline.png").stat().st_size > 0

    # A real run replays as a verdict, not a digest: the stale reads are found again.
    again = _raftsim("replay", str(stale))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "same verdict" in again.stdout


def _children_data_roots(pid: int) -> set[Path]:
    """The data roots of the etcd members process `pid` started."""
    roots: set[Path] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent != pid:
            continue
        for argument in cmdline:
            if argument.startswith(b"--data-dir="):
                roots.add(Path(argument.removeprefix(b"--data-dir=").decode()).parent)
    return roots


def _members_on(root: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if f"--data-dir={root}/".encode() in cmdline:
                found.append(int(entry.name))
    return found


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_a_harness_killed_or_interrupted_mid_run_leaves_nothing(tmp_path: Path, how: signal.Signals) -> None:
    binary = _etcd_binary()
    out = tmp_path / "run"
    # A long run, so that the signal lands mid-run however slowly a loaded machine starts it.
    scenario = _scenario(tmp_path, 0.0, duration_ms=60_000)
    command = ["run", str(scenario), "--target", "etcd", "--etcd", binary, "--out", str(out)]
    harness = subprocess.Popen(
        [sys.executable, "-m", "raftsim", *command, "--no-report"],
        # A harness in the foreground takes Ctrl-C; a test worker may have it ignored, and a
        # child inherits that.
        preexec_fn=_default_sigint,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        roots: set[Path] = set()
        while time.monotonic() < deadline and not roots:
            time.sleep(0.2)
            roots = _children_data_roots(harness.pid)
        assert roots, "the harness started no etcd member within 60 s"
        time.sleep(2.0)  # mid-run: members serving, clients and the nemesis at work
        harness.send_signal(how)
        _, err = harness.communicate(timeout=60)
        if how == signal.SIGINT:
            assert harness.returncode == 130, err
            assert err.strip().splitlines()[-1].startswith("raftsim:"), err
        gone_by = time.monotonic() + GONE_S
        while time.monotonic() < gone_by and any(_members_on(root) or root.exists() for root in roots):
            time.sleep(0.2)
        for root in roots:
            assert not _members_on(root), f"etcd members on {root} outlived the harness"
            assert not root.exists(), f"{root} outlived the harness"
        assert not out.exists()
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait()


def test_etcd_is_found_or_named() -> None:
    assert os.access(_etcd_binary(), os.X_OK)


def test_fuzz_on_a_real_cluster_keeps_the_failing_seed(tmp_path: Path) -> None:
    binary = _etcd_binary()
    out = tmp_path / "fuzz"
    arguments = ("fuzz", str(_scenario(tmp_path, 0.5)), "--target", "etcd", "--etcd", binary, "--seeds", "1")
    campaign = _raftsim(*arguments, "--start", "3", "--out", str(out), "--no-report")
    assert campaign.returncode == 1, campaign.stdout + campaign.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failed"] == [3] and summary["rechecked"] == 0 and summary["events"] == {}
    kept = out / "seed-3"
    assert json.loads((kept / "target.json").read_text())["target"] == "etcd"
    assert "rare events" not in campaign.stdout  # the simulator's, not seen in a real cluster


MEMBER_SCENARIO = """
name = "member-replaced"
description = "A member removed, its data gone, then added back empty; later the leader killed and restarted."
seed = 1
duration_ms = 9000

[cluster]
nodes = 3

[workload]
kind = "register"
clients = 3
keys = 2
rate = 60

[phases]
quiet_ms = 3000

[[faults]]
kind = "member"
target = "random"
start_ms = 500
duration_ms = 2500

[[faults]]
kind = "crash"
target = "leader"
start_ms = 5500
duration_ms = 1500
"""


def test_a_member_replaced_and_a_leader_killed_recover(tmp_path: Path) -> None:
    binary = _etcd_binary()
    scenario = tmp_path / "member.toml"
    scenario.write_text(MEMBER_SCENARIO, encoding="utf-8")
    out = tmp_path / "run"
    done = _raftsim("run", str(scenario), "--target", "etcd", "--etcd", binary, "--out", str(out), "--no-report")
    assert done.returncode == 0, done.stdout + done.stderr
    trace = [json.loads(line) for line in (out / "trace.jsonl").read_text().splitlines()]
    removed = [event["node"] for event in trace if event["ev"] == "member-removed"]
    added = [event["node"] for event in trace if event["ev"] == "member-added"]
    assert len(removed) == 1 and added == removed, trace
    killed = [event["node"] for event in trace if event["ev"] == "crash"]
    started = [event["node"] for event in trace if event["ev"] == "started"]
    assert len(killed) == 1 and started == killed, trace
    # The simulator runs the same file: its member fault replaces the node by a new one.
    simulated = _raftsim("run", str(scenario), "--out", str(tmp_path / "sim"), "--no-report")
    assert simulated.returncode == 0, simulated.stdout + simulated.stderr


TRANSFER_SCENARIO = """
name = "transfer-real"
description = "Leadership handed to a random follower, then to the one a partition left behind as it heals."
seed = 1
duration_ms = 5000

[cluster]
nodes = 3

[workload]
kind = "register"
clients = 3
keys = 2
rate = 60

[phases]
quiet_ms = 2000

[[faults]]
kind = "transfer"
target = "random"
start_ms = 1000
duration_ms = 0

[[faults]]
kind = "partition"
target = [2]
start_ms = 1500
duration_ms = 1500

# Past the heal by more than etcd's election timeout (1 s): if the cut-off node led, the
# others have elected a leader by then even on a loaded machine, and it is still the one
# with the shortest log.
[[faults]]
kind = "transfer"
target = "lagging"
start_ms = 3600
duration_ms = 0
"""


def test_leadership_moves_on_a_real_cluster_as_the_transfer_fault_asks(tmp_path: Path) -> None:
    binary = _etcd_binary()
    scenario = tmp_path / "transfer.toml"
    scenario.write_text(TRANSFER_SCENARIO, encoding="utf-8")
    out = tmp_path / "run"
    done = _raftsim("run", str(scenario), "--target", "etcd", "--etcd", binary, "--out", str(out), "--no-report")
    assert done.returncode == 0, done.stdout + done.stderr
    trace = [json.loads(line) for line in (out / "trace.jsonl").read_text().splitlines()]
    transfers = [event for event in trace if event["ev"] == "fault" and event["kind"] == "transfer"]
    assert len(transfers) == 2, transfers
    first = transfers[0]
    # etcd answers once the target leads (so the line, written then, may follow the role
    # change the poller saw): the target leads the next term.
    assert first["outcome"] == "done" and first["to"] != first["leader"], first
    leaders = {(e["term"], e["node"]) for e in trace if e["ev"] == "role" and e["role"] == "leader"}
    assert (first["term"] + 1, first["to"]) in leaders, (first, leaders)
    assert transfers[1]["to"] != transfers[1]["leader"] and transfers[1]["outcome"], transfers[1]
