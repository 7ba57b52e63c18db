"""Shrinking: a failing run becomes a smaller one that fails the same checker and replays."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests_support import shortened_file

from checkers.verdict import CheckerResult, RunVerdict, Verdict
from raftsim import api, shrink
from raftsim.cli import main
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
    page = (shrunk_folder / "report.html").read_text()
    assert verdict["digest"] in page
    assert f"raftsim replay {shrunk_folder}" in page and ".partial" not in page
    assert smaller.name == "short-leader-lease-shrunk"
    assert smaller.description.startswith("shrunk from short-leader-lease seed 1")
    failing = sorted(name for name, checked in verdict["checkers"].items() if checked["valid"] is False)
    assert f"still fails {', '.join(failing)} after" in completed.stdout
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


def _folder_with_verdict(tmp_path: Path, verdict: bytes) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "scenario.toml").write_text(loader.to_toml(loader.load("crash-restart")))
    (folder / "verdict.json").write_bytes(verdict)
    return folder


@pytest.mark.parametrize(
    ("verdict", "fragment"),
    [
        (b"{nope", "verdict.json:1: not JSON"),
        (b"{}", "verdict.json: checkers: missing"),
        (b"[]", "verdict.json: expected a JSON object"),
        (b'{"checkers": []}', "verdict.json: checkers: expected an object of checker results"),
        (b'{"checkers": {"revisions": {}}}', "verdict.json: checkers.revisions.valid: missing"),
        (b'{"checkers": {"revisions": 3}}', "verdict.json: checkers.revisions.valid: missing"),
        (b'{"checkers": {"revisions": {"valid": 1}}}', 'checkers.revisions.valid: expected true, false or "unknown"'),
        (b'{"checkers": {"revisions": {"valid": "nope"}}}', "checkers.revisions.valid: expected"),
        (b"\xff{}", "verdict.json: not UTF-8 text"),
        (b"[" * 100_000, "verdict.json: not JSON"),
    ],
)
def test_a_broken_verdict_is_one_line_naming_the_file_and_field(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    verdict: bytes,
    fragment: str,
) -> None:
    folder = _folder_with_verdict(tmp_path, verdict)
    with pytest.raises(SystemExit) as stopped:
        main(["shrink", str(folder)])
    error = capsys.readouterr().err
    assert stopped.value.code == 2 and fragment in error, error
    assert len(error.strip().splitlines()) == 1 and "Traceback" not in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"], "nothing is written"


def test_the_shrunk_run_is_said_to_fail_only_what_it_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = loader.load("crash-restart")
    folder = _folder_with_verdict(
        tmp_path,
        json.dumps(
            {
                "checkers": {
                    "linearizability": {"valid": False},
                    "revisions": {"valid": False},
                    "liveness": {"valid": True},
                }
            }
        ).encode(),
    )

    def judged(scenario: object, out: object, budget_s: float) -> api.RunOutcome:
        # The original fails two checkers; every smaller run fails linearizability only.
        both = len(scenario.faults) == len(original.faults)  # type: ignore[attr-defined]
        checkers = {
            "linearizability": CheckerResult(Verdict.INVALID),
            "revisions": CheckerResult(Verdict.holds(not both)),
        }
        return api.RunOutcome(None, RunVerdict(checkers), None)  # type: ignore[arg-type]

    monkeypatch.setattr(api, "run", judged)
    result = shrink.shrink(folder, max_attempts=5)
    assert len(result.shrunk.faults) < len(original.faults)
    assert result.checkers == frozenset({"linearizability"})
    assert result.targets == frozenset({"linearizability", "revisions"})
    assert result.shrunk.name == "crash-restart-shrunk"
    assert result.shrunk.description == f"shrunk from crash-restart seed {original.seed}: {original.description}"
    assert shrink.shrunk_name(result.shrunk).name == "crash-restart-shrunk", "a shrunk run is not renamed twice"


def test_a_folder_that_is_not_a_run_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario_only = tmp_path / "scenario-only"
    scenario_only.mkdir()
    (scenario_only / "scenario.toml").write_text(loader.to_toml(loader.load("pause")))
    for folder, fragment in (
        (tmp_path / "none", "scenario.toml is missing"),
        (scenario_only, "verdict.json is missing"),
        (tmp_path / ("x" * 300), "cannot read scenario.toml"),
    ):
        with pytest.raises(SystemExit) as stopped:
            main(["shrink", str(folder), "--out", str(tmp_path / "out")])
        error = capsys.readouterr().err
        assert stopped.value.code == 2 and fragment in error and len(error.strip().splitlines()) == 1, error
    assert not (tmp_path / "out").exists()


def test_a_shrunk_name_always_loads_again_and_keeps_its_first_origin() -> None:
    """The shrunk scenario is written to scenario.toml, so it must pass validation however
    long the original description was, and shrinking it again must not nest origins."""
    import dataclasses

    from raftsim.shrink import shrunk_name
    from scenarios import loader

    original = dataclasses.replace(loader.load("figure-8"), description="x" * loader.MAX_DESCRIPTION)
    once = shrunk_name(original)
    assert once.name == "figure-8-shrunk"
    assert once.description.startswith("shrunk from figure-8 seed 0: ")
    assert len(once.description) <= loader.MAX_DESCRIPTION
    assert loader.parse(loader.to_toml(once), "shrunk.toml") == once
    twice = shrunk_name(once)
    assert twice.name == "figure-8-shrunk" and twice.description == once.description
