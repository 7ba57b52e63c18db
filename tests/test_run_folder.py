"""A run folder is written once and read once: the judge, the reports and the summary of one
process share what was parsed, and a failing fuzz seed's folder is staged a single time."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests_support import shortened

from checkers.verdict import Verdict
from raftsim import api, fuzz, run_folder
from sim.world import Crash, RunResult, run_scenario


@pytest.fixture(scope="module")
def short_run() -> RunResult:
    return run_scenario(shortened("pause", duration_ms=1000, quiet_ms=1000))


def _counting(calls: Counter[str], name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    def call(*arguments: Any, **options: Any) -> Any:
        calls[name] += 1
        return real(*arguments, **options)

    return call


def test_the_judge_and_the_summary_share_one_parse(
    tmp_path: Path, short_run: RunResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: Counter[str] = Counter()
    for name in ("read_history_jsonl", "read_trace_jsonl", "load_run_scenario"):
        monkeypatch.setattr(run_folder, name, _counting(calls, name, getattr(run_folder, name)))
    monkeypatch.setattr(api, "run_scenario", lambda scenario: short_run)
    outcome = api.run(short_run.scenario, tmp_path / "run")
    assert outcome.loaded is not None
    assert outcome.loaded.path == tmp_path / "run", "the value names the folder the run ended in"
    assert outcome.loaded.trace is outcome.loaded.trace
    assert outcome.loaded.digest == outcome.verdict.digest == short_run.digest
    assert calls == Counter({"read_history_jsonl": 1, "read_trace_jsonl": 1, "load_run_scenario": 1})


def test_a_run_with_its_reports_parses_each_file_once(
    tmp_path: Path, short_run: RunResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The timeline draws from the values the judge parsed: `raftsim run` reads the history,
    the trace and the verdict once, however many checkers and reports use them."""
    from reports import timeline

    calls: Counter[str] = Counter()
    for name in ("read_history_jsonl", "read_trace_jsonl", "load_run_scenario", "read_verdict_leniently"):
        monkeypatch.setattr(run_folder, name, _counting(calls, name, getattr(run_folder, name)))
    for name in ("read_history_jsonl", "iter_trace_file", "read_verdict_leniently"):
        monkeypatch.setattr(timeline, name, _counting(calls, "timeline." + name, getattr(timeline, name)))
    monkeypatch.setattr(api, "_run_capturing_messages", lambda scenario: (short_run, []))
    outcome = api.run(short_run.scenario, tmp_path / "run", report=True)
    assert (tmp_path / "run" / "report.html").is_file()
    assert outcome.verdict.verdict is Verdict.VALID
    assert calls == Counter({"read_history_jsonl": 1, "read_trace_jsonl": 1, "load_run_scenario": 1})


def test_message_lines_are_those_split_messages_finds(tmp_path: Path, short_run: RunResult) -> None:
    traced = run_scenario(dataclasses.replace(short_run.scenario, trace_messages=True))
    rest, messages = run_folder.split_messages(traced.trace_text)
    assert messages, "a traced run sends messages"
    assert rest == short_run.trace_text, "message tracing moves no other event"
    (tmp_path / "trace.jsonl").write_text(traced.trace_text, encoding="utf-8")
    assert run_folder.RunFolder(tmp_path).message_lines == messages
    (tmp_path / "trace.jsonl").write_text(rest, encoding="utf-8")
    assert run_folder.RunFolder(tmp_path).message_lines == []


def test_a_failing_fuzz_seed_writes_its_folder_once_and_a_passing_one_leaves_nothing(
    tmp_path: Path, short_run: RunResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    crash = Crash(500_000, "safety", "KeyError", "'x'", "node 1", "Traceback (most recent call last):\n")
    results = {1: short_run, 2: dataclasses.replace(short_run, crash=crash)}
    writes: Counter[str] = Counter()
    real_write = run_folder.write_durable

    def write_durable(path: Path, text: str) -> None:
        writes[path.name] += 1
        real_write(path, text)

    monkeypatch.setattr(api, "run_scenario", lambda scenario: results[scenario.seed])
    monkeypatch.setattr(run_folder, "write_durable", write_durable)
    for seed in (1, 2):
        task = (dataclasses.replace(short_run.scenario, seed=seed), tmp_path, 60.0, False, False)
        result = fuzz.run_seed(task)
        assert result.error is None, result.error
    assert writes["history.jsonl"] == 2, "one staging folder per seed, none written twice"
    assert writes["crash.txt"] == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["seed-2"]
    kept = run_folder.RunFolder(tmp_path / "seed-2")
    assert kept.verdict.checkers["crash"].verdict is Verdict.INVALID
    assert kept.digest == short_run.digest
