"""The command line: its outputs, exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

RAFTSIM = [sys.executable, "-c", "from raftsim.cli import main; main()"]


def raftsim(*arguments: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RAFTSIM, *arguments], capture_output=True, text=True, check=False, cwd=cwd)


def assert_one_line_error(completed: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert completed.returncode == 2, (completed.stdout, completed.stderr)
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert "Traceback" not in completed.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_lists() -> None:
    scenarios = raftsim("scenarios")
    assert scenarios.returncode == 0
    for name in ("partition-leader", "partition-halves", "crash-restart", "clock-skew", "pause", "mixed"):
        assert name in scenarios.stdout
    bugs = raftsim("bugs")
    assert bugs.returncode == 0
    for name in ("commit-old-term", "send-before-persist", "stale-local-read"):
        assert name in bugs.stdout


def test_run_writes_the_folder_and_replay_matches(short_mixed_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    completed = raftsim("run", str(short_mixed_file), "--seed", "3", "--out", str(out))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "history.jsonl", "latency.png", "report.html", "scenario.toml", "timeline.png", "trace.jsonl", "verdict.json",
    ]
    verdict = json.loads((out / "verdict.json").read_text())
    assert verdict["valid"] is True
    report = (out / "report.html").read_text()
    assert verdict["digest"] in report and '"messagesTraced":true' in report
    assert "trace_messages = true" not in (out / "scenario.toml").read_text()
    assert '"ev":"msg"' not in (out / "trace.jsonl").read_text()
    assert set(verdict["checkers"]) == {"linearizability", "raft-safety", "liveness", "revisions"}
    assert verdict["digest"] in completed.stdout
    replayed = raftsim("replay", str(out))
    assert replayed.returncode == 0 and "identical" in replayed.stdout
    check = raftsim("check", str(out / "history.jsonl"), "--model", "cas-register", "--json")
    assert check.returncode == 0 and json.loads(check.stdout)["valid"] is True


def test_run_without_reports_has_the_same_digest(short_mixed_file: Path, tmp_path: Path) -> None:
    """Capturing messages for the report must leave the run itself untouched."""
    with_reports, without = tmp_path / "a", tmp_path / "b"
    raftsim("run", str(short_mixed_file), "--seed", "3", "--out", str(with_reports))
    raftsim("run", str(short_mixed_file), "--seed", "3", "--out", str(without), "--no-report")
    plain = ["history.jsonl", "scenario.toml", "trace.jsonl", "verdict.json"]
    assert sorted(p.name for p in without.iterdir()) == plain
    for name in ("trace.jsonl", "history.jsonl", "scenario.toml"):
        assert (with_reports / name).read_bytes() == (without / name).read_bytes(), name


def test_replay_notices_a_changed_trace(short_mixed_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    raftsim("run", str(short_mixed_file), "--seed", "3", "--out", str(out), "--no-report")
    trace = out / "trace.jsonl"
    trace.write_text(trace.read_text().replace('"role":"leader"', '"role":"follower"', 1))
    assert raftsim("replay", str(out)).returncode == 1


@pytest.mark.parametrize(("arguments", "fragments"), [
    (("run", "no-such-scenario"), ("no-such-scenario", "built-in ones")),
    (("run", "pause", "--bug", "gremlins"), ("unknown bug 'gremlins'",)),
    (("run", "pause", "--seed", "minus-one"), ("--seed",)),
    (("run", "pause", "--frobnicate"), ("--frobnicate",)),
    (("frobnicate",), ("frobnicate",)),
    (("check", "missing.jsonl", "--model", "cas-register"), ("missing.jsonl", "no such file")),
    (("check", "missing.jsonl", "--model", "stack"), ("--model", "stack")),
    (("replay", "."), ("scenario.toml is missing",)),
])
def test_bad_usage_is_one_line_and_exit_2(
    arguments: tuple[str, ...], fragments: tuple[str, ...], tmp_path: Path,
) -> None:
    assert_one_line_error(raftsim(*arguments, cwd=tmp_path), *fragments)
    assert list(tmp_path.iterdir()) == [], "nothing may be written on bad input"


def test_malformed_scenario_file_names_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('name = "bad"\n\n[workload]\nclients = -1\n')
    completed = raftsim("run", str(path), "--out", str(tmp_path / "out"))
    assert_one_line_error(completed, "bad.toml:4", "workload.clients")
    assert not (tmp_path / "out").exists()


def test_malformed_history_names_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(
        '{"index":0,"time":0,"process":0,"type":"invoke","f":"write","key":"k","value":1}\n'
        '{"index":1,"time":5,"process":0,"type":"ok","f":"write","key":"k","value":"one"}\n'
    )
    assert_one_line_error(raftsim("check", str(path), "--model", "cas-register"), "h.jsonl:2", "value")


def test_binary_scenario_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "noise.toml"
    path.write_bytes(bytes(range(128, 256)))
    assert_one_line_error(raftsim("run", str(path), "--out", str(tmp_path / "out")), "noise.toml", "UTF-8")
