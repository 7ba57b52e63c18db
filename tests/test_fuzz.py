"""Fuzzing: seed ranges and shards, resuming, keeping failures, catching nondeterminism."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests_support import shortened_file

from checkers.verdict import Verdict
from raftsim import fuzz
from scenarios import loader

RAFTSIM = [sys.executable, "-c", "from raftsim.cli import main; main()"]


def raftsim(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RAFTSIM, *arguments], capture_output=True, text=True, check=False)


@given(st.integers(0, 1000), st.integers(1, 50), st.integers(1, 6))
def test_shards_split_the_range_exactly(start: int, count: int, total: int) -> None:
    shards = [fuzz.shard_seeds(start, count, (index, total)) for index in range(1, total + 1)]
    assert sorted(seed for shard in shards for seed in shard) == list(range(start, start + count))


def test_rechecked_seeds_are_a_stable_share() -> None:
    chosen = [seed for seed in range(10_000) if fuzz.rechecked(seed, 0.05)]
    assert 400 < len(chosen) < 600
    assert chosen == [seed for seed in range(10_000) if fuzz.rechecked(seed, 0.05)]
    assert not any(fuzz.rechecked(seed, 0.0) for seed in range(1000))


def test_failing_seeds_are_kept_and_a_rerun_resumes(tmp_path: Path) -> None:
    scenario = shortened_file(tmp_path, "leader-lease", duration_ms=9000)
    out = tmp_path / "fuzz"
    first = raftsim(
        "fuzz",
        str(scenario),
        "--seeds",
        "2",
        "--start",
        "1",
        "--jobs",
        "1",
        "--out",
        str(out),
        "--bug",
        "stale-local-read",
    )
    assert first.returncode == 1, first.stdout + first.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failed"] == [1, 2]
    assert summary["anomalies_by_checker"] == {"linearizability": 2, "revisions": 2}
    assert sorted(p.name for p in (out / "seed-1").iterdir()) == [
        "effects.jsonl",
        "events.json",
        "history.jsonl",
        "latency.png",
        "rate.png",
        "report.html",
        "scenario.toml",
        "timeline.png",
        "trace.jsonl",
        "verdict.json",
    ]
    report = (out / "seed-1" / "report.html").read_text()
    assert '"messagesTraced":true' in report and "Cannot be linearized after the prefix" in report
    assert f"raftsim replay {out / 'seed-1'}" in report and ".partial" not in report
    lines = (out / "progress.jsonl").read_text().splitlines()
    assert len(lines) == 2
    # An interruption may leave a line cut short: that seed alone runs again.
    (out / "progress.jsonl").write_text(lines[0] + "\n" + lines[1][:10])
    again = raftsim(
        "fuzz",
        str(scenario),
        "--seeds",
        "2",
        "--start",
        "1",
        "--jobs",
        "1",
        "--out",
        str(out),
        "--bug",
        "stale-local-read",
    )
    assert again.returncode == 1
    seeds = [json.loads(line)["seed"] for line in (out / "progress.jsonl").read_text().splitlines()]
    assert seeds == [1, 2], "seed 1 was finished and must not run again"
    replayed = raftsim("replay", str(out / "seed-1"))
    assert replayed.returncode == 0, replayed.stdout


def test_a_folder_of_another_fuzz_run_is_refused(tmp_path: Path) -> None:
    scenario = shortened_file(tmp_path, "pause", duration_ms=2000)
    out = tmp_path / "fuzz"
    assert raftsim("fuzz", str(scenario), "--seeds", "1", "--jobs", "1", "--out", str(out)).returncode == 0
    refused = raftsim(
        "fuzz", str(scenario), "--seeds", "1", "--jobs", "1", "--out", str(out), "--bug", "commit-old-term"
    )
    assert refused.returncode == 2 and "another scenario" in refused.stderr


def test_differing_digests_are_reported_as_a_determinism_failure(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario = dataclasses.replace(loader.load("pause"), duration_ms=2000, faults=())

    class Different:
        digest = "not the same"

    monkeypatch.setattr(fuzz, "run_scenario", lambda _scenario: Different())
    plan = fuzz.FuzzPlan(scenario, (1,), tmp_path, jobs=1, recheck_share=1.0, budget_s=10)
    results = {result.seed: result for result in fuzz.execute(plan, {})}
    summary = fuzz.summarise(plan, results, 1.0, 1)
    assert summary["determinism_failures"] == [1] and summary["rechecked"] == 1


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        (("--seeds", "0"), "--seeds"),
        (("--seeds", "1", "--shard", "x"), "--shard"),
        (("--seeds", "1", "--bug", "gremlins"), "gremlins"),
    ],
)
def test_bad_fuzz_arguments_exit_2(arguments: tuple[str, ...], fragment: str, tmp_path: Path) -> None:
    completed = raftsim("fuzz", "pause", "--out", str(tmp_path / "f"), *arguments)
    assert completed.returncode == 2 and fragment in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "f").exists()


# --- robustness: any seed range, any folder, any leftover file ------------------------------


def _cli(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run the command in this process; return its exit code and what it wrote to stderr."""
    from raftsim.cli import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main(arguments)
    return int(stopped.value.code or 0), capsys.readouterr().err


def _one_line(error: str) -> str:
    assert len(error.strip().splitlines()) == 1 and "Traceback" not in error, error
    return error.strip()


def test_a_trillion_seeds_stay_a_range_and_are_handed_out_lazily(tmp_path: Path) -> None:
    seeds = fuzz.shard_seeds(0, 10**12, None)
    assert isinstance(seeds, range) and len(seeds) == 10**12
    assert fuzz.shard_seeds(5, 10**12, (2, 3)) == range(6, 5 + 10**12, 3)
    scenario = dataclasses.replace(
        loader.load("pause"),
        duration_ms=1000,
        faults=(),
        phases=dataclasses.replace(loader.load("pause").phases, quiet_ms=1000),
    )
    plan = fuzz.FuzzPlan(scenario, seeds, tmp_path, jobs=2, recheck_share=0.05, budget_s=10, reports=False)
    assert fuzz.identity(plan)["seeds"] == [0, 10**12 - 1, 10**12]
    results = fuzz.execute(plan, {})
    first = [next(results) for _ in range(3)]
    results.close()  # stops the pool; a materialised task list would not have got this far
    assert {result.seed for result in first} <= {0, 1, 2, 3, 4, 5} and all(r.verdict is Verdict.VALID for r in first)


def test_seeds_past_the_largest_replayable_seed_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert fuzz.shard_seeds(2**63 - 1, 1, None) == range(2**63 - 1, 2**63)
    for start, count in ((2**63 - 1, 2), (0, 2**63), (2**63 - 10, 100)):
        with pytest.raises(fuzz.InputError, match="--seeds"):
            fuzz.shard_seeds(start, count, None)
    code, error = _cli(["fuzz", "pause", "--seeds", "2", "--start", str(2**63 - 1)], capsys)
    assert code == 2 and "--seeds" in _one_line(error)


def test_jobs_never_exceed_the_seeds_and_the_first_seed_is_always_rechecked(tmp_path: Path) -> None:
    scenario = loader.load("pause")
    plan = fuzz.FuzzPlan(scenario, fuzz.shard_seeds(0, 20, None), tmp_path, jobs=8, recheck_share=0.05, budget_s=1)
    assert fuzz.effective_jobs(plan) == 8 and fuzz.effective_jobs(plan, 1) == 1
    assert fuzz.effective_jobs(dataclasses.replace(plan, seeds=range(3, 4))) == 1
    chosen = [seed for seed in plan.seeds if fuzz.rechecked_in(plan, seed)]
    assert chosen and chosen[0] == 0, "a campaign too small for its share still re-checks its first seed"
    assert not [seed for seed in range(1, 20) if fuzz.rechecked(seed, 0.05)], "the share alone picks none here"
    sharded = dataclasses.replace(plan, seeds=fuzz.shard_seeds(0, 20, (2, 2)))
    assert fuzz.rechecked_in(sharded, 1) and not fuzz.rechecked_in(sharded, 3)
    off = dataclasses.replace(plan, recheck_share=0.0)
    assert not any(fuzz.rechecked_in(off, seed) for seed in plan.seeds)


def test_a_small_campaign_rechecks_one_seed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = shortened_file(tmp_path, "pause", duration_ms=1000, quiet_ms=1000)
    out = tmp_path / "fuzz"
    code, _error = _cli(
        ["fuzz", str(scenario), "--seeds", "2", "--start", "1", "--jobs", "1", "--out", str(out)], capsys
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rechecked"] == 1 and summary["determinism_failures"] == [] and summary["jobs"] == 1
    assert summary["crashed"] == [] and summary["errors"] == []


def test_an_out_that_is_not_a_fuzz_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    afile = tmp_path / "afile"
    afile.write_text("mine\n")
    others = tmp_path / "others"
    others.mkdir()
    (others / "notes.txt").write_text("mine\n")
    for out in (afile, others, afile / "sub"):
        code, error = _cli(["fuzz", "pause", "--seeds", "1", "--jobs", "1", "--out", str(out)], capsys)
        assert code == 2 and _one_line(error).startswith(f"raftsim: {out}"), error
    assert afile.read_text() == "mine\n" and [p.name for p in others.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"{not json", "fuzz.json:1: not JSON"),
        (b"[1, 2]", "fuzz.json: expected a JSON object"),
        (b'{"seeds": [0, 0, 1], "recheck_share": 0.05}', "fuzz.json: scenario: missing"),
        (b'{"scenario": 5, "seeds": [0, 0, 1], "recheck_share": 0.05}', "fuzz.json: scenario: has the wrong type"),
        (b"\xff\xfe{}", "fuzz.json: not UTF-8 text"),
        (b"[" * 100_000, "fuzz.json"),
    ],
)
def test_a_broken_fuzz_json_is_one_line_naming_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes,
    fragment: str,
) -> None:
    out = tmp_path / "fuzz"
    out.mkdir()
    (out / "fuzz.json").write_bytes(content)
    code, error = _cli(["fuzz", "pause", "--seeds", "1", "--jobs", "1", "--out", str(out)], capsys)
    assert code == 2 and fragment in _one_line(error), error
    assert (out / "fuzz.json").read_bytes() == content and [p.name for p in out.iterdir()] == ["fuzz.json"]


def test_an_empty_fuzz_json_left_by_a_kill_is_rewritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = shortened_file(tmp_path, "pause", duration_ms=1000, quiet_ms=1000)
    out = tmp_path / "fuzz"
    out.mkdir()
    (out / "fuzz.json").write_bytes(b"")
    code, error = _cli(["fuzz", str(scenario), "--seeds", "1", "--jobs", "1", "--out", str(out)], capsys)
    assert code == 0, error
    assert json.loads((out / "fuzz.json").read_text())["seeds"] == [0, 0, 1]


def test_garbage_in_progress_reruns_only_the_seeds_it_hid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = shortened_file(tmp_path, "pause", duration_ms=1000, quiet_ms=1000)
    out = tmp_path / "fuzz"
    command = ["fuzz", str(scenario), "--seeds", "3", "--start", "1", "--jobs", "1", "--out", str(out)]
    assert _cli(command, capsys)[0] == 0
    lines = (out / "progress.jsonl").read_bytes().splitlines(keepends=True)
    by_seed = {json.loads(line)["seed"]: line for line in lines}
    wrong_type = json.dumps(dict(json.loads(by_seed[3]), seconds="fast")).encode() + b"\n"
    outside = json.dumps(dict(json.loads(by_seed[1]), seed=99)).encode() + b"\n"
    (out / "progress.jsonl").write_bytes(
        by_seed[1] + b"\xff\xfe not UTF-8\n" + b"[" * 50_000 + b"\n" + wrong_type + outside + by_seed[2][:7]
    )
    code, error = _cli(command, capsys)
    assert code == 0, error
    seeds = [json.loads(line)["seed"] for line in (out / "progress.jsonl").read_text().splitlines()]
    assert seeds == [1, 2, 3], "seed 1 was kept; 2 and 3 ran again; the garbage is gone"
    assert not [path.name for path in out.iterdir() if path.name.startswith(".")]


def test_prepare_refuses_an_out_it_cannot_create(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("mine\n")
    for out in (afile / "sub", tmp_path / ("x" * 300), Path("/proc/raftsim-cannot-be-here")):
        plan = fuzz.FuzzPlan(loader.load("pause"), range(1), out, jobs=1, recheck_share=0.05, budget_s=1)
        with pytest.raises(fuzz.InputError, match="--out: cannot create a folder there"):
            fuzz.prepare(plan)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["afile"]


@pytest.mark.parametrize(
    ("name", "make", "fragment"),
    [
        ("summary.json", Path.mkdir, "summary.json: expected a file"),
        ("progress.jsonl", Path.mkdir, "progress.jsonl: expected a file"),
        ("seed-3", Path.touch, "seed-3: expected a folder"),
    ],
)
def test_a_fuzz_folder_entry_of_the_wrong_kind_is_refused_before_any_seed_runs(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    make: object,
    fragment: str,
) -> None:
    scenario = shortened_file(tmp_path, "pause", duration_ms=1000, quiet_ms=1000)
    out = tmp_path / "fuzz"
    command = ["fuzz", str(scenario), "--seeds", "1", "--jobs", "1", "--out", str(out)]
    assert _cli(command, capsys)[0] == 0
    (out / "summary.json").unlink()
    (out / "progress.jsonl").unlink()
    make(out / name)  # type: ignore[operator]
    (out / ".fuzz.json.tmp").mkdir()  # a leftover of ours, whatever its kind, is cleaned
    code, error = _cli(command, capsys)
    assert code == 2 and fragment in _one_line(error), error
    assert not (out / "progress.jsonl").is_file()


@pytest.mark.parametrize(
    ("share", "budget_s", "flag"),
    [
        (float("nan"), 1.0, "--recheck"),
        (1.5, 1.0, "--recheck"),
        (-0.1, 1.0, "--recheck"),
        (0.05, float("nan"), "--budget"),
        (0.05, float("inf"), "--budget"),
        (0.05, 0.0, "--budget"),
    ],
)
def test_a_plan_that_could_never_resume_is_refused(tmp_path: Path, share: float, budget_s: float, flag: str) -> None:
    plan = fuzz.FuzzPlan(loader.load("pause"), range(1), tmp_path / "f", jobs=1, recheck_share=share, budget_s=budget_s)
    with pytest.raises(fuzz.InputError, match=flag):
        fuzz.prepare(plan)
    assert not (tmp_path / "f").exists()
