"""Determinism is the product: the same scenario and seed give the same bytes, whatever the
process and its PYTHONHASHSEED."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from checkers.verdict import Verdict

RAFTSIM = [sys.executable, "-c", "from raftsim.cli import main; main()"]


def _run(scenario: Path, seed: int, out: Path, hash_seed: str) -> None:
    environment = dict(os.environ, PYTHONHASHSEED=hash_seed)
    completed = subprocess.run(
        [*RAFTSIM, "run", str(scenario), "--seed", str(seed), "--out", str(out)],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode in (0, 1, 3), completed.stderr
    assert not completed.stderr.strip(), completed.stderr


def test_same_seed_same_bytes_across_processes_and_hash_seeds(short_mixed_file: Path, tmp_path: Path) -> None:
    _run(short_mixed_file, 5, tmp_path / "a", "1")
    _run(short_mixed_file, 5, tmp_path / "b", "4242")
    for name in ("trace.jsonl", "history.jsonl", "scenario.toml"):
        first, second = (tmp_path / "a" / name).read_bytes(), (tmp_path / "b" / name).read_bytes()
        assert first and first == second, f"{name} differs between processes"


def test_another_seed_gives_another_trace(short_mixed_file: Path, tmp_path: Path) -> None:
    _run(short_mixed_file, 5, tmp_path / "a", "0")
    _run(short_mixed_file, 6, tmp_path / "b", "0")
    assert (tmp_path / "a" / "trace.jsonl").read_bytes() != (tmp_path / "b" / "trace.jsonl").read_bytes()


def test_fast_trace_lines_equal_the_general_encoder() -> None:
    from sim.trace import Trace

    fast, general = Trace(lambda: 7), Trace(lambda: 7)
    entries = [(1, "e3b0c44298fc1c14"), (2, "00ff")]
    fast.emit_entries("append", 3, 5, entries)
    general.emit("append", node=3, index=5, entries=[list(entry) for entry in entries])
    assert fast.text() == general.text()


def test_lazily_formatted_trace_lines_equal_the_general_encoder() -> None:
    from raftcore.server import entry_digest
    from raftcore.types import Entry
    from sim.trace import Trace

    fast, general = Trace(lambda: 7), Trace(lambda: 7)
    entries = (Entry(1, 5, ""), Entry(2, 6, '["c0-1","put","k",3,null]'), Entry(2, 7, "é\n"))
    fast.emit_log_entries("apply", 3, 5, entries)
    general.emit("apply", node=3, index=5, entries=[[entry.term, entry_digest(entry.data)] for entry in entries])
    fast.emit_hard_state(2, 4, 1, 9)
    general.emit("hard_state", node=2, term=4, vote=1, commit=9)
    fast.emit_role(1, "pre-candidate", 4, 0)
    general.emit("role", node=1, role="pre-candidate", term=4, leader=0)
    for client, request in (("c0", "c0-17"), ('odd "name"\\', "é\u2028\x01")):
        fast.emit_ack(1, client, request, 12, 4, "00ff")
        general.emit("ack", node=1, client=client, request=request, index=12, term=4, digest="00ff")
    assert fast.text() == general.text()
    assert len(fast) == len(general) == 5


def test_a_trace_time_that_is_not_whole_microseconds_is_refused() -> None:
    from sim.trace import Trace

    trace = Trace(lambda: 1.5)  # type: ignore[arg-type, return-value]
    trace.emit_hard_state(1, 1, 1, 0)
    with pytest.raises(AssertionError, match="not an int"):
        trace.text()


def test_scheduled_callbacks_keep_simpy_timeout_order() -> None:
    import simpy

    from sim.schedule import call_later

    env = simpy.Environment()
    order: list[str] = []
    for number in range(6):
        name = f"{'call' if number % 2 else 'timeout'}-{number}"
        delay_us = 10 if number < 4 else 5

        def record(_event: object, name: str = name) -> None:
            order.append(name)

        if number % 2:
            call_later(env, delay_us, record)
        else:
            env.timeout(delay_us).callbacks.append(record)
    env.run()
    assert order == ["timeout-4", "call-5", "timeout-0", "call-1", "timeout-2", "call-3"]
    assert env.now == 10


def test_message_tracing_is_opt_in_and_readable(tmp_path: Path) -> None:
    import dataclasses

    from tests_support import shortened

    from checkers.raft_safety import check_raft_safety
    from checkers.trace import iter_trace_lines
    from scenarios.resolve import resolve
    from sim.world import run_scenario

    plain = resolve(shortened("partition-leader", duration_ms=4000, quiet_ms=2000))
    traced = dataclasses.replace(plain, trace_messages=True)
    quiet_trace, loud_trace = run_scenario(plain).trace_text, run_scenario(traced).trace_text
    assert '"ev":"msg"' not in quiet_trace and '"ev":"msg"' in loud_trace
    message_kinds = ('"ev":"msg"', '"ev":"recv"', '"ev":"drop"')
    without_messages = [line for line in loud_trace.splitlines() if not any(kind in line for kind in message_kinds)]
    assert without_messages == quiet_trace.splitlines(), "tracing messages must not change the run"
    assert check_raft_safety(list(iter_trace_lines(loud_trace.splitlines()))).verdict is Verdict.VALID
