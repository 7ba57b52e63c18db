"""Shrinking: a failing run becomes a smaller one that fails the same checker and replays."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests_support import shortened_file

from raftsim import shrink
from scenarios import loader

RAFTSIM = [sys.executable, "-c", "from raftsim.cli import main; main()"]


def raftsim(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RAFTSIM, *arguments], capture_output=True, text=True, check=False)


def test_a_stale_read_shrinks_to_fewer_faults_and_still_fails(tmp_path: Path) -> None:
    scenario = shortened_file(tmp_path, "leader-lease", duration_ms=12000)
    failing = tmp_path / "run"
    first = raftsim("run", str(scenario), "--seed", "1", "--bug", "stale-local-read", "--out", str(failing))
    assert first.returncode == 1, first.stdout
    shrunk_folder = tmp_path / "small"
    completed = raftsim("shrink", str(failing), "--out", str(shrunk_folder), "--attempts", "30")
    assert completed.returncode == 1, completed.stdout + completed.stderr
    original = loader.load(str(failing / "scenario.toml"))
    smaller = loader.load(str(shrunk_folder / "scenario.toml"))
    assert shrink.Size.of(smaller).key() < shrink.Size.of(original).key()
    assert len(smaller.faults) < len(original.faults)
    verdict = json.loads((shrunk_folder / "verdict.json").read_text())
    assert verdict["checkers"]["linearizability"]["valid"] is False
    assert verdict["digest"] in (shrunk_folder / "report.html").read_text()
    assert raftsim("replay", str(shrunk_folder)).returncode == 0


def test_candidates_are_all_smaller() -> None:
    scenario = loader.load("crash-restart")
    size = shrink.Size.of(scenario).key()
    produced = list(shrink.candidates(scenario))
    assert produced and all(shrink.Size.of(candidate).key() < size for candidate in produced)
    assert len({candidate for candidate in produced}) == len(produced), "no candidate is tried twice"


def test_a_passing_run_has_nothing_to_shrink(tmp_path: Path) -> None:
    scenario = shortened_file(tmp_path, "pause", duration_ms=2000)
    folder = tmp_path / "run"
    assert raftsim("run", str(scenario), "--out", str(folder)).returncode == 0
    completed = raftsim("shrink", str(folder))
    assert completed.returncode == 2 and "nothing to shrink" in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run-shrunk").exists()
