"""Nothing is lost on a kill: a failure injected at every write leaves the previous result
or the new one, never half of either, and the next command recovers.

The injector patches every call that changes the disk (opening a file for writing and each
write to it, `Path.write_text`, `Path.mkdir`, `os.fsync`, `os.replace`, `os.rename`, the
atomic name exchange, `shutil.rmtree`) and kills the command at the N-th such call, for N
over every call the command makes. A kill tears what it interrupts: a write keeps half its
bytes, a folder deletion removes one file. From the kill on, every patched call fails too,
as nothing runs after a real kill; the kill is a BaseException, so no `except Exception`
of the code under test can swallow it.

The simulation and the checkers are replaced by cached results (they write nothing), so a
command costs only its writes and every call point can be tried.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from tests_support import shortened

from checkers.verdict import RunVerdict
from raftsim import api, run_folder
from raftsim.cli import main
from scenarios import loader
from sim.world import Crash, RunResult, run_scenario

RUN_FILES = {"scenario.toml", "history.jsonl", "trace.jsonl", "effects.jsonl", "verdict.json", "events.json"}
HISTORIES = Path(__file__).parent / "testdata" / "histories" / "knossos" / "cas-register"


class Killed(BaseException):
    """The process died here."""


class Injector:
    """Counts calls that change the disk and kills the command at call `kill_at`."""

    def __init__(self, kill_at: int | None) -> None:
        self.kill_at = kill_at
        self.calls: list[str] = []
        self.dead = False

    def point(self, name: str, tear: Callable[[], None] | None = None) -> None:
        if self.dead:
            raise Killed(f"after the kill: {name}")
        self.calls.append(name)
        if len(self.calls) == self.kill_at:
            self.dead = True
            if tear is not None:
                tear()
            raise Killed(f"call {self.kill_at}: {name}")


class _WatchedFile:
    def __init__(self, stream: Any, injector: Injector) -> None:
        self._stream, self._injector = stream, injector

    def write(self, text: str) -> int:
        self._injector.point("write", lambda: (self._stream.write(text[: len(text) // 2]), self._stream.flush()))
        return int(self._stream.write(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __enter__(self) -> _WatchedFile:
        return self

    def __exit__(self, *exception: object) -> None:
        self._stream.close()


def _delete_one_file(path: Any) -> None:
    for root, _folders, files in os.walk(path):
        if files:
            os.unlink(os.path.join(root, sorted(files)[0]))
            return


@contextmanager
def injected(kill_at: int | None) -> Iterator[Injector]:
    injector = Injector(kill_at)
    real_open, real_write_text, real_mkdir = open, Path.write_text, Path.mkdir
    real_replace, real_rename, real_fsync, real_rmtree = os.replace, os.rename, os.fsync, shutil.rmtree
    real_exchange = run_folder.exchange_names

    def watched_open(file: Any, mode: str = "r", *arguments: Any, **options: Any) -> Any:
        if not any(flag in mode for flag in "wax+"):
            return real_open(file, mode, *arguments, **options)
        injector.point("open")
        return _WatchedFile(real_open(file, mode, *arguments, **options), injector)

    def write_text(self: Path, data: str, *arguments: Any, **options: Any) -> int:
        injector.point("write_text", lambda: real_write_text(self, data[: len(data) // 2], *arguments, **options))
        return real_write_text(self, data, *arguments, **options)

    def before(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*arguments: Any, **options: Any) -> Any:
            injector.point(name)
            return real(*arguments, **options)

        return call

    def rmtree(path: Any, *arguments: Any, **options: Any) -> None:
        injector.point("rmtree", lambda: _delete_one_file(path))
        real_rmtree(path, *arguments, **options)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(run_folder, "open", watched_open, raising=False)
        patch.setattr(Path, "write_text", write_text)
        patch.setattr(Path, "mkdir", before("mkdir", real_mkdir))
        patch.setattr(os, "replace", before("os.replace", real_replace))
        patch.setattr(os, "rename", before("os.rename", real_rename))
        patch.setattr(os, "fsync", before("os.fsync", real_fsync))
        patch.setattr(shutil, "rmtree", rmtree)
        patch.setattr(run_folder, "exchange_names", before("exchange", real_exchange))
        yield injector


def _kill_points(command: Callable[[], Any], at_least: int = 5) -> int:
    with injected(None) as injector:
        command()
    assert len(injector.calls) >= at_least, injector.calls
    return len(injector.calls)


def _killed(command: Callable[[], Any], kill_at: int) -> None:
    with injected(kill_at), pytest.raises(Killed):
        command()


# --- cached simulation and checkers -------------------------------------------------------


@pytest.fixture(scope="module")
def cached_runs() -> dict[int, RunResult]:
    scenario = shortened("pause", duration_ms=1000, quiet_ms=1000)
    results = {seed: run_scenario(dataclasses.replace(scenario, seed=seed)) for seed in (1, 2, 3)}
    crash = Crash(500_000, "safety", "KeyError", "'x'", "node 1", "Traceback (most recent call last):\n")
    results[2] = dataclasses.replace(results[2], crash=crash)  # seed 2 fails, so fuzz keeps its folder
    return results


@pytest.fixture
def cached(cached_runs: dict[int, RunResult], monkeypatch: pytest.MonkeyPatch) -> dict[int, RunResult]:
    real_judge = api.judge
    verdicts: dict[tuple[str, bool], RunVerdict] = {}

    def judge(
        folder: run_folder.RunFolder,
        budget_s: float = 60.0,
        crash: Crash | None = None,
        invariants: Any = None,
    ) -> RunVerdict:
        key = (folder.digest, crash is not None)
        if key not in verdicts:
            verdicts[key] = real_judge(folder, budget_s, crash, invariants)
        return verdicts[key]

    monkeypatch.setattr(api, "run_scenario", lambda scenario: cached_runs[scenario.seed])
    monkeypatch.setattr(api, "judge", judge)
    return cached_runs


def _whole_run(folder: Path, extra: frozenset[str] = frozenset()) -> str:
    """The digest of a complete run folder; fails on half of one."""
    assert {path.name for path in folder.iterdir()} == RUN_FILES | extra
    verdict = json.loads((folder / "verdict.json").read_text())
    assert verdict["digest"] == run_folder.file_digest(folder / "trace.jsonl"), "a trace and verdict of two runs"
    assert (
        loader.load(str(folder / "scenario.toml")).seed
        == json.loads((folder / "trace.jsonl").read_text().splitlines()[0])["seed"]
    )
    return str(verdict["digest"])


def _no_leftovers(parent: Path) -> None:
    assert not [path.name for path in parent.iterdir() if path.name.startswith(".")]


# --- raftsim run into an existing folder ----------------------------------------------------


@pytest.mark.parametrize("existing", [True, False], ids=["replacing", "first-run"])
def test_a_kill_at_any_write_of_run_leaves_the_old_run_or_the_new(
    tmp_path: Path,
    cached: dict[int, RunResult],
    existing: bool,
) -> None:
    scenario = shortened("pause", duration_ms=1000, quiet_ms=1000)
    old, new = (dataclasses.replace(scenario, seed=seed) for seed in (1, 3))
    digests = {cached[1].digest: "old", cached[3].digest: "new"}

    def fresh(case: str) -> Path:
        out = tmp_path / case / "run"
        out.parent.mkdir()
        if existing:
            api.run(old, out)
        return out

    counted = fresh("count")
    points = _kill_points(lambda: api.run(new, counted))
    for kill_at in range(1, points + 1):
        out = fresh(f"kill-{kill_at}")
        _killed(lambda out=out: api.run(new, out), kill_at)
        if sys.platform == "linux" and existing:
            assert out.exists(), f"killed at call {kill_at}: the folder must never be missing"
        shown = out if out.exists() else run_folder.hidden_sibling(out, "old")
        if shown.exists():
            assert digests[_whole_run(shown)] in (("old", "new") if existing else ("new",)), kill_at
        else:
            assert not existing, f"killed at call {kill_at}: the previous run is gone"
        api.run(new, out)
        assert digests[_whole_run(out)] == "new"
        _no_leftovers(out.parent)


def test_an_out_that_cannot_be_created_is_refused_before_the_run(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(api, "run_scenario", lambda scenario: pytest.fail("simulated before checking --out"))
    afile = tmp_path / "afile"
    afile.write_text("mine\n")
    for out in (afile / "sub", afile, Path("/proc/raftsim-cannot-be-here")):
        with pytest.raises(SystemExit) as stopped:
            main(["run", "pause", "--out", str(out), "--no-report"])
        assert stopped.value.code == 2
        error = capsys.readouterr().err
        assert error.startswith(f"raftsim: {out}: --out: ") and len(error.strip().splitlines()) == 1, error
    assert afile.read_text() == "mine\n"
    # The Python API checks by creating its staging folder before it simulates.
    for out in (afile / "sub", Path("/proc/raftsim-cannot-be-here"), tmp_path / ("x" * 300)):
        with pytest.raises(api.InputError, match="--out"):
            api.run(shortened("pause"), out)
    with pytest.raises(api.InputError, match="not a run folder"):
        api.run(shortened("pause"), afile)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["afile"]


def test_a_half_swapped_run_folder_is_recovered(tmp_path: Path, cached: dict[int, RunResult]) -> None:
    scenario = shortened("pause", duration_ms=1000, quiet_ms=1000)
    out = tmp_path / "run"
    api.run(dataclasses.replace(scenario, seed=1), out)
    # A kill between the two renames of a swap, where names cannot be exchanged at once.
    os.rename(out, run_folder.hidden_sibling(out, "old"))
    run_folder.recover_folder(out)
    assert _whole_run(out) == cached[1].digest
    # A kill after the swap, before the old copy was deleted.
    shutil.copytree(out, run_folder.hidden_sibling(out, "old"))
    (run_folder.hidden_sibling(out, "old") / "verdict.json").unlink()
    api.run(dataclasses.replace(scenario, seed=3), out)
    assert _whole_run(out) == cached[3].digest
    _no_leftovers(tmp_path)


# --- fuzz, resumed ------------------------------------------------------------------------


def _fuzz(scenario_file: Path, out: Path) -> int:
    with pytest.raises(SystemExit) as stopped:
        main(
            [
                "fuzz",
                str(scenario_file),
                "--seeds",
                "3",
                "--start",
                "1",
                "--jobs",
                "1",
                "--out",
                str(out),
                "--recheck",
                "0",
                "--no-report",
                # The shrink at the end writes only into scratch folders and swaps its result
                # in whole (`run_folder.unpack`); left out, the kill points stay the fuzz's own.
                "--shrink-attempts",
                "0",
            ]
        )
    return int(stopped.value.code or 0)


def _consistent_fuzz_folder(out: Path, marker: bytes) -> None:
    assert (out / "fuzz.json").read_bytes() == marker
    progress = (out / "progress.jsonl").read_bytes() if (out / "progress.jsonl").exists() else b""
    whole = progress.split(b"\n")[:-1]  # a line cut by the kill is dropped by the next run
    seeds = [json.loads(line)["seed"] for line in whole]
    assert len(seeds) == len(set(seeds)) and seeds[:1] == [1]
    if (out / "summary.json").exists():
        json.loads((out / "summary.json").read_text())
    if (out / "seed-2").exists():
        _whole_run(out / "seed-2", frozenset({"crash.txt"}))
    assert not (out / "seed-1").exists() and not (out / "seed-3").exists()


def test_a_kill_at_any_write_of_a_resumed_fuzz_loses_nothing(
    tmp_path: Path,
    cached: dict[int, RunResult],
    capsys: pytest.CaptureFixture[str],
) -> None:
    scenario_file = tmp_path / "tiny.toml"
    scenario_file.write_text(loader.to_toml(dataclasses.replace(cached[1].scenario, name="tiny")))
    template = tmp_path / "template"
    assert _fuzz(scenario_file, template) == 1
    first_line = (template / "progress.jsonl").read_text().splitlines()[0]
    (template / "progress.jsonl").write_text(first_line + "\n")  # interrupted after seed 1
    (template / "summary.json").unlink()
    marker = (template / "fuzz.json").read_bytes()

    def fresh(case: str) -> Path:
        out = tmp_path / case / "fuzz"
        shutil.copytree(template, out)
        return out

    counted = fresh("count")
    points = _kill_points(lambda: _fuzz(scenario_file, counted))
    for kill_at in range(1, points + 1):
        out = fresh(f"kill-{kill_at}")
        _killed(lambda out=out: _fuzz(scenario_file, out), kill_at)
        _consistent_fuzz_folder(out, marker)
        assert _fuzz(scenario_file, out) == 1, f"the command after a kill at call {kill_at} must succeed"
        summary = json.loads((out / "summary.json").read_text())
        assert summary["finished"] == 3 and summary["failed"] == [2] and summary["crashed"] == [2]
        seeds = sorted(json.loads(line)["seed"] for line in (out / "progress.jsonl").read_text().splitlines())
        assert seeds == [1, 2, 3], f"killed at call {kill_at}: each seed is recorded exactly once"
        _whole_run(out / "seed-2", frozenset({"crash.txt"}))
        _no_leftovers(out)
    capsys.readouterr()


# --- check --report -------------------------------------------------------------------------


def _check(history: Path, report: Path) -> int:
    with pytest.raises(SystemExit) as stopped:
        main(["check", str(history), "--model", "cas-register", "--report", str(report)])
    return int(stopped.value.code or 0)


def test_a_kill_at_any_write_of_check_report_leaves_the_old_page_or_the_new(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old_history, new_history = HISTORIES / "good" / "cas-register-bug.edn", HISTORIES / "bad" / "bad-analysis.edn"
    reference = tmp_path / "reference"
    reference.mkdir()
    _check(old_history, reference / "old.html")
    _check(new_history, reference / "new.html")
    pages = {(reference / "old.html").read_bytes(): "old", (reference / "new.html").read_bytes(): "new"}
    assert len(pages) == 2

    def fresh(case: str) -> Path:
        folder = tmp_path / case
        folder.mkdir()
        shutil.copy(reference / "old.html", folder / "out.html")
        return folder / "out.html"

    counted = fresh("count")
    points = _kill_points(lambda: _check(new_history, counted), at_least=2)
    for kill_at in range(1, points + 1):
        page = fresh(f"kill-{kill_at}")
        _killed(lambda page=page: _check(new_history, page), kill_at)
        assert pages.get(page.read_bytes()) in ("old", "new"), f"half a page after a kill at call {kill_at}"
        _check(new_history, page)
        assert pages.get(page.read_bytes()) == "new"
        _no_leftovers(page.parent)
    capsys.readouterr()


def test_hidden_names_of_any_kind_beside_a_run_folder_are_cleaned(
    tmp_path: Path,
    cached: dict[int, RunResult],
) -> None:
    scenario = shortened("pause", duration_ms=1000, quiet_ms=1000)
    out = tmp_path / "run"
    api.run(dataclasses.replace(scenario, seed=1), out)
    run_folder.hidden_sibling(out, "partial").write_text("not a folder\n")
    run_folder.hidden_sibling(out, "old").symlink_to(tmp_path / "elsewhere")
    api.run(dataclasses.replace(scenario, seed=3), out)
    assert _whole_run(out) == cached[3].digest
    _no_leftovers(tmp_path)
