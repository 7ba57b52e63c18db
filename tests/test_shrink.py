"""Shrinking: a failing run becomes a smaller one that fails the same checker and replays."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests_support import shortened, shortened_file

from checkers.verdict import CheckerResult, RunVerdict, Verdict
from raftsim import api, shrink
from raftsim.cli import main
from scenarios import loader
from scenarios.model import Scenario, problems
from sim.world import RunResult

RAFTSIM = [sys.executable, "-c", "from raftsim.cli import main; main()"]


def raftsim(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RAFTSIM, *arguments], capture_output=True, text=True, check=False)


def _operations(folder: Path) -> int:
    lines = (folder / "history.jsonl").read_text().splitlines()
    return sum(1 for line in lines if json.loads(line)["type"] == "invoke")


def test_a_stale_read_shrinks_to_fewer_faults_and_operations_and_still_fails(tmp_path: Path) -> None:
    scenario = shortened_file(tmp_path, "leader-lease", duration_ms=12000)
    failing = tmp_path / "run"
    first = raftsim("run", str(scenario), "--seed", "1", "--bug", "stale-local-read", "--out", str(failing))
    assert first.returncode == 1, first.stdout
    shrunk_folder = tmp_path / "small"
    completed = raftsim("shrink", str(failing), "--out", str(shrunk_folder), "--attempts", "30")
    assert completed.returncode == 1, completed.stdout + completed.stderr
    original = loader.load(str(failing / "scenario.toml"))
    smaller = loader.load(str(shrunk_folder / "scenario.toml"))
    assert len(smaller.faults) < len(original.faults)
    assert _operations(shrunk_folder) * 10 < _operations(failing), "a tenth of the operations at most"
    verdict = json.loads((shrunk_folder / "verdict.json").read_text())
    before = json.loads((failing / "verdict.json").read_text())
    failed_before = {name for name, checked in before["checkers"].items() if checked["valid"] is False}
    assert "linearizability" in failed_before
    failing_now = sorted(name for name, checked in verdict["checkers"].items() if checked["valid"] is False)
    assert failing_now, "the shrunk run still fails"
    assert set(failing_now) <= failed_before, "the shrunk run fails no checker the original passed"
    page = (shrunk_folder / "report.html").read_text()
    assert verdict["digest"] in page
    assert f"raftsim replay {shrunk_folder}" in page and ".partial" not in page
    assert smaller.name == "short-leader-lease-shrunk"
    assert smaller.description.startswith("shrunk from short-leader-lease seed 1")
    assert f"still fails {', '.join(failing_now)} after" in completed.stdout
    assert f"{_operations(failing)} operations" in completed.stdout
    assert f"{_operations(shrunk_folder)} operations" in completed.stdout
    assert raftsim("replay", str(shrunk_folder)).returncode == 0


def test_candidates_are_new_and_runnable() -> None:
    scenario = loader.load("crash-restart")
    produced = list(shrink.candidates(scenario, anomaly_us=7_500_000, safety=True))
    assert produced
    assert len(set(produced)) == len(produced), "no candidate is tried twice"
    assert scenario not in produced
    for candidate in produced:
        assert not problems(candidate), candidate
        assert shrink.Size.of(candidate, 0).key() != shrink.Size.of(scenario, 0).key()


def test_the_cut_run_ends_just_after_the_anomaly_with_no_phase_after_it() -> None:
    scenario = loader.load("leader-lease")
    cut = next(shrink.candidates(scenario, anomaly_us=5_951_001, safety=True))
    assert cut.duration_ms == 5952 + shrink.CUT_MARGINS_MS[0]
    assert cut.phases.quiet_ms == 0
    assert cut.phases.final_reads is False
    assert cut.faults == tuple(fault for fault in scenario.faults if fault.start_ms < cut.duration_ms)
    assert len(cut.faults) < len(scenario.faults)
    liveness_kept = next(shrink.candidates(scenario, anomaly_us=5_951_001, safety=False))
    assert liveness_kept.phases == scenario.phases, "a liveness anomaly needs its phases"


def test_faults_are_delta_debugged_none_first_then_halves() -> None:
    scenario = loader.load("figure-8")
    faults = scenario.faults
    produced = [candidate.faults for candidate in shrink._fewer_faults(scenario)]
    half = len(faults) // 2
    assert produced[:3] == [(), faults[:half], faults[half:]]
    assert all(len(kept) < len(faults) for kept in produced)
    singles_removed = [faults[:index] + faults[index + 1 :] for index in range(len(faults))]
    assert all(removed in produced for removed in singles_removed), "down to one fault at a time"


def test_fewer_clients_keep_the_pace_of_those_that_stay() -> None:
    for clients, rate in ((4, 100), (3, 2), (5, 7), (8, 1000)):
        for fewer in range(1, clients):
            paced = shrink._paced_rate(clients, rate, fewer)
            if paced is not None:
                assert fewer * 1_000_000 // paced == clients * 1_000_000 // rate
    assert shrink._paced_rate(4, 100, 1) == 25


def test_a_candidate_counts_only_if_it_fails_the_same_way() -> None:
    safety = shrink.Target.of(frozenset({"linearizability", "liveness"}))
    assert safety.safety
    assert safety.met_by(frozenset({"linearizability"}))
    assert safety.met_by(frozenset({"linearizability", "liveness"}))
    assert not safety.met_by(frozenset({"liveness"})), "a safety anomaly stays one"
    assert not safety.met_by(frozenset({"linearizability", "crash"})), "nor fails what the original passed"
    liveness = shrink.Target.of(frozenset({"liveness"}))
    assert not liveness.safety
    assert liveness.met_by(frozenset({"liveness"}))
    assert not liveness.met_by(frozenset({"revisions"}))


def test_the_first_anomaly_is_the_earliest_of_the_required_checkers() -> None:
    counterexample = {"operations": [{"call_time_us": 10, "return_time_us": 40}, {"call_time_us": 35}]}
    verdict = RunVerdict(
        {
            "linearizability": CheckerResult(
                Verdict.INVALID, details={"partitions": [{"valid": False, "counterexample": counterexample}]}
            ),
            "revisions": CheckerResult(Verdict.INVALID, anomalies=({"t": 90},)),
            "raft-safety": CheckerResult(Verdict.INVALID, anomalies=({"t": 5},)),
            "liveness": CheckerResult(Verdict.VALID, anomalies=({"t": 1},)),
        }
    )
    assert shrink.first_anomaly_us(verdict, frozenset({"linearizability", "revisions"})) == 40
    assert shrink.first_anomaly_us(verdict, frozenset({"revisions", "raft-safety", "liveness"})) == 5
    assert shrink.first_anomaly_us(verdict, frozenset({"liveness"})) is None, "a passing checker says nothing"
    odd = RunVerdict({"linearizability": CheckerResult(Verdict.INVALID, details={"partitions": [{"valid": False}]})})
    assert shrink.first_anomaly_us(odd, frozenset({"linearizability"})) is None


def test_a_run_without_a_quiet_period_is_not_judged_for_liveness(tmp_path: Path) -> None:
    quiet = shortened("pause", duration_ms=1500, quiet_ms=1000)
    assert "liveness" in api.run(quiet, None).verdict.checkers
    without = dataclasses.replace(quiet, phases=dataclasses.replace(quiet.phases, quiet_ms=0))
    assert "liveness" not in api.run(without, None).verdict.checkers


@pytest.fixture(scope="module")
def failing_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run that acknowledges a write before it commits: cheap to shrink."""
    folder = tmp_path_factory.mktemp("acked") / "run"
    scenario = dataclasses.replace(shortened("partition-leader", 6000, 2000), seed=1, bugs=("ack-before-commit",))
    assert api.run(scenario, folder).verdict.verdict is Verdict.INVALID
    return folder


def test_shrinking_is_deterministic(failing_run: Path) -> None:
    first = shrink.shrink(failing_run, max_attempts=12)
    second = shrink.shrink(failing_run, max_attempts=12)
    assert first.shrunk == second.shrunk
    assert first.attempts == second.attempts
    assert first.after == second.after
    assert first.outcome.result.digest == second.outcome.result.digest
    assert first.after.operations < first.before.operations


def test_the_shrunk_run_is_simulated_once(
    failing_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    simulated: list[str] = []
    real = api.run_scenario

    def counted(scenario: Scenario) -> RunResult:
        simulated.append(scenario.name)
        return real(scenario)

    monkeypatch.setattr(api, "run_scenario", counted)
    with pytest.raises(SystemExit) as stopped:
        main(["shrink", str(failing_run), "--out", str(tmp_path / "small"), "--attempts", "5", "--no-report"])
    assert stopped.value.code == 1
    assert "after 5 attempts" in capsys.readouterr().out
    assert len(simulated) == 5, "one simulation per attempt, none more to write the folder"
    assert (tmp_path / "small" / "verdict.json").exists()


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
        assert isinstance(scenario, Scenario)
        both = len(scenario.faults) == len(original.faults)
        checkers = {
            "linearizability": CheckerResult(Verdict.INVALID),
            "revisions": CheckerResult(Verdict.holds(not both)),
        }
        result = RunResult(scenario, "", "", "", {"operations": len(scenario.faults)}, None)
        return api.RunOutcome(result, RunVerdict(checkers), None)

    (folder / "history.jsonl").write_text("")
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


@pytest.mark.parametrize(
    ("history", "arguments", "fragment"),
    [
        (None, (), "history.jsonl"),
        (b'{"index": 0, "time": "soon"}\n', (), "history.jsonl:1"),
        (b"", ("--attempts", "0"), "--attempts"),
        (b"", ("--budget", "-1"), "--budget"),
    ],
)
def test_bad_history_or_options_are_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    history: bytes | None,
    arguments: tuple[str, ...],
    fragment: str,
) -> None:
    folder = _folder_with_verdict(tmp_path, b'{"checkers": {"revisions": {"valid": false}}}')
    if history is not None:
        (folder / "history.jsonl").write_bytes(history)
    with pytest.raises(SystemExit) as stopped:
        main(["shrink", str(folder), "--out", str(tmp_path / "out"), *arguments])
    error = capsys.readouterr().err
    assert stopped.value.code == 2 and fragment in error, error
    assert len(error.strip().splitlines()) == 1 and "Traceback" not in error
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


def test_few_faults_are_weighed_against_operations() -> None:
    def key(faults: int, operations: int) -> tuple[int, ...]:
        return shrink.Size(faults, operations, 0, 8000, 0, 1, 1, 10, False).key()

    assert key(3, 40) < key(1, 110), "three faults and a short history read better than one and a long one"
    assert key(1, 10) < key(3, 8), "a fault is not traded for two operations"
    assert key(4, 500) < key(5, 3), "above three faults, fewer faults first"
    assert key(3, 3) < key(4, 1)
    assert key(2, 30) < key(2, 31), "at the same faults, fewer operations"


def test_node_progress_keeps_the_quiet_period_it_is_judged_in() -> None:
    stalled = shrink.Target.of(frozenset({"liveness", "node-progress"}))
    assert stalled.required == frozenset({"node-progress"})
    assert not stalled.safety, "a run cut with no quiet period cannot show a stalled follower"
    scenario = loader.load("crash-after-election")
    first = next(shrink.candidates(scenario, anomaly_us=5_000_000, safety=stalled.safety))
    assert first.phases == scenario.phases


def test_faults_move_earlier_on_a_grid_from_the_first_leader() -> None:
    scenario = loader.load("paused-leader")
    first_start_ms = scenario.faults[0].start_ms
    starts = [candidate.faults[0].start_ms for candidate in shrink._earlier_faults(scenario, lead_ms=300)]
    assert starts == sorted(starts) and starts[0] == 300, "soonest first, from the first leader on"
    assert len(starts) == shrink.EARLIER_STEPS and all(start < first_start_ms for start in starts)
    trace = '{"t":0,"ev":"start"}\n{"t":284069,"ev":"role","node":3,"role":"leader","term":1,"leader":3}\n'
    assert shrink.first_leader_ms(trace) == 285
    assert shrink.first_leader_ms('{"t":0,"ev":"start"}\n') == shrink.LEAD_MS, "no leader: the old lead"


def test_no_shorter_run_ends_before_a_safety_anomaly() -> None:
    scenario = loader.load("figure-8")
    produced = list(shrink.candidates(scenario, anomaly_us=9_000_000, safety=True))
    assert produced[0].duration_ms == 9000 + shrink.CUT_MARGINS_MS[0]
    prefixes = [c for c in produced if c == shrink._ending_at(scenario, c.duration_ms)]
    assert prefixes and all(c.duration_ms > 9000 for c in prefixes), "a prefix of a run cannot show what it did not"
    assert next(c.duration_ms for c in shrink._shorter_run(scenario)) < 9000, "unless the anomaly is unknown"


def _late_failing_runs(monkeypatch: pytest.MonkeyPatch, original: Scenario, runs: list[Scenario]) -> None:
    """Fake runs of `original` (crash-restart): a run fails (revisions) 500 ms after its
    fourth fault starts if it has the first four, and 500 ms after its one fault starts if
    that is the last fault, alone, moved no earlier than 10 s; operations grow with the run."""
    needed, last = original.faults[:4], original.faults[-1]

    def judged(scenario: object, out: object, budget_s: float) -> api.RunOutcome:
        assert isinstance(scenario, Scenario)
        runs.append(scenario)
        shown_ms = None
        if scenario.faults[:4] == needed:
            shown_ms = needed[-1].start_ms + 500
        elif len(scenario.faults) == 1 and dataclasses.replace(scenario.faults[0], start_ms=last.start_ms) == last:
            shown_ms = scenario.faults[0].start_ms + 500 if scenario.faults[0].start_ms >= 10000 else None
        anomalies = () if shown_ms is None or shown_ms >= scenario.duration_ms else ({"t": shown_ms * 1000},)
        checkers = {"revisions": CheckerResult(Verdict.holds(not anomalies), anomalies=anomalies)}
        operations = (scenario.duration_ms + scenario.phases.quiet_ms) // 100 * scenario.workload.clients
        result = RunResult(scenario, "", "", "", {"operations": operations}, None)
        return api.RunOutcome(result, RunVerdict(checkers), None)

    monkeypatch.setattr(api, "run", judged)


def test_a_later_failing_candidate_is_cut_just_after_its_anomaly_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = loader.load("crash-restart")
    assert len(original.faults) == 5
    folder = _folder_with_verdict(tmp_path, json.dumps({"checkers": {"revisions": {"valid": False}}}).encode())
    (folder / "scenario.toml").write_text(loader.to_toml(original))
    # The original's history: few operations, as a run stopped at its first anomaly has.
    (folder / "history.jsonl").write_text(
        "".join(
            json.dumps({"index": i, "type": "invoke", "process": i, "time": i, "f": "read", "key": "k1", "value": None})
            + "\n"
            for i in range(300)
        )
    )
    runs: list[Scenario] = []
    _late_failing_runs(monkeypatch, original, runs)
    result = shrink.shrink(folder, max_attempts=120)
    assert result.after.faults == 1
    (fault,) = result.shrunk.faults
    assert dataclasses.replace(fault, start_ms=original.faults[-1].start_ms) == original.faults[-1]
    assert any(run.faults == original.faults[-1:] and run.duration_ms > 24500 for run in runs), "found failing late"
    anomaly_ms = fault.start_ms + 500
    assert result.shrunk.duration_ms == max(shrink.MINIMUM_DURATION_MS, anomaly_ms + shrink.CUT_MARGINS_MS[0])
    assert result.shrunk.phases.quiet_ms == 0 and not result.shrunk.phases.final_reads
    assert result.after.operations <= result.before.operations, "never more operations at fewer faults"
    again: list[Scenario] = []
    _late_failing_runs(monkeypatch, original, again)
    assert shrink.shrink(folder, max_attempts=120).shrunk == result.shrunk and again == runs, "deterministic"


def test_faults_few_enough_are_also_tried_every_fine_step_after_the_first_leader() -> None:
    """A fault that shows a bug alone may do so only in short windows; a coarse grid over a
    long run steps over the early ones."""
    many = loader.load("paused-leader")
    assert len(many.faults) > shrink.FEW_FAULTS
    coarse = [c.faults[0].start_ms for c in shrink._earlier_faults(many, lead_ms=300)]
    assert len(coarse) == shrink.EARLIER_STEPS, "above three faults, the coarse grid only"
    late = dataclasses.replace(many.faults[0], start_ms=20000)
    few = dataclasses.replace(many, faults=(late,), duration_ms=22000)
    starts = [c.faults[0].start_ms for c in shrink._earlier_faults(few, lead_ms=300)]
    fine = [300 + shrink.FINE_STEP_MS * step for step in range(shrink.FINE_STEPS)]
    steps = shrink.EARLIER_STEPS
    assert set(starts) == set(fine) | {300 + (20000 - 300) * step // steps for step in range(steps)}
    assert starts == sorted(starts) and len(starts) == len(set(starts)), "soonest first, each once"
    near = dataclasses.replace(few, faults=(dataclasses.replace(late, start_ms=700),), duration_ms=2700)
    assert max(c.faults[0].start_ms for c in shrink._earlier_faults(near, lead_ms=300)) < 700, "only earlier"


def test_a_smaller_workload_for_a_safety_anomaly_runs_longer() -> None:
    """A run kept for a safety anomaly ends just after it; a smaller workload, at its own
    pace, shows it later if at all, so it is given a longer run (and cut once it fails)."""
    scenario = dataclasses.replace(loader.load("crash-restart"), faults=(), duration_ms=3000)
    think_us = shrink._think_us(scenario)
    for safety in (False, True):
        produced = list(shrink._smaller_workload(scenario, safety, longest_ms=30000))
        assert all(c.workload.rate != scenario.workload.rate - 1 for c in produced), "no one-lower rate"
        for candidate in produced:
            if not safety or candidate.workload == scenario.workload:  # no final reads: the same dice
                assert candidate.duration_ms == scenario.duration_ms
                continue
            wanted_ms = -(-3000 * shrink._think_us(candidate) * shrink.RUN_STRETCH // think_us)
            assert candidate.duration_ms == max(3000, min(wanted_ms, 30000)), candidate.workload
    halved = next(
        c for c in shrink._smaller_workload(scenario, True, 30000) if c.workload.rate == 50 and c.workload.clients == 4
    )
    assert halved.duration_ms == 3000 * 2 * shrink.RUN_STRETCH and halved.faults == scenario.faults


def _paced_failing_runs(monkeypatch: pytest.MonkeyPatch, runs: list[Scenario]) -> None:
    """Fake runs: a run fails (revisions) at its first client's tenth operation, at ten of
    its think times, if it lasts that long; every client makes an operation per think time."""

    def judged(scenario: object, out: object, budget_s: float) -> api.RunOutcome:
        assert isinstance(scenario, Scenario)
        runs.append(scenario)
        think_ms = shrink._think_us(scenario) // 1000
        shown_ms = 10 * think_ms
        anomalies = () if shown_ms >= scenario.duration_ms else ({"t": shown_ms * 1000},)
        checkers = {"revisions": CheckerResult(Verdict.holds(not anomalies), anomalies=anomalies)}
        operations = scenario.workload.clients * (scenario.duration_ms + scenario.phases.quiet_ms) // think_ms
        result = RunResult(scenario, "", "", "", {"operations": operations}, None)
        return api.RunOutcome(result, RunVerdict(checkers), None)

    monkeypatch.setattr(api, "run", judged)


def test_a_smaller_workload_that_shows_the_anomaly_later_is_cut_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The anomaly needs ten operations of one client: a lower rate shows it later, fewer
    clients with fewer operations. Tried only up to where the original showed it, neither
    fails; in a longer run both do, and are kept once cut just after the anomaly."""
    workload = dataclasses.replace(loader.load("crash-restart").workload, clients=4, rate=40)
    original = dataclasses.replace(loader.load("crash-restart"), faults=(), duration_ms=30000, workload=workload)
    folder = _folder_with_verdict(tmp_path, json.dumps({"checkers": {"revisions": {"valid": False}}}).encode())
    (folder / "scenario.toml").write_text(loader.to_toml(original))
    (folder / "history.jsonl").write_text("")
    runs: list[Scenario] = []
    _paced_failing_runs(monkeypatch, runs)
    result = shrink.shrink(folder, max_attempts=60)
    cut_at_first = 4 * (1000 + shrink.CUT_MARGINS_MS[0]) // 100
    assert result.shrunk.workload.clients == 1, "one client is enough"
    assert result.shrunk.workload.rate < 10, "a lower rate, which shows the anomaly later, too"
    assert result.after.operations < cut_at_first // 3
    think_ms = shrink._think_us(result.shrunk) // 1000
    assert result.shrunk.duration_ms == 10 * think_ms + shrink.CUT_MARGINS_MS[0], "cut just after"
    longer = [run for run in runs if run.workload != original.workload and run.duration_ms > 10 * think_ms + 100]
    assert longer, "a smaller workload was tried in a longer run"
    again: list[Scenario] = []
    _paced_failing_runs(monkeypatch, again)
    assert shrink.shrink(folder, max_attempts=60).shrunk == result.shrunk and again == runs, "deterministic"
