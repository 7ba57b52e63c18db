"""Every stuck operation of a counterexample says why, in one line, naming real lines; and
whatever a history holds prints safely in the terminal table."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import random
from pathlib import Path

import pytest
from rich.console import Console
from tests_support import shortened

from checkers.formats import read_operations
from checkers.history import Operation
from checkers.linearizability import (
    Counterexample,
    LinearizabilityResult,
    check_history_file,
    check_operations,
)
from checkers.models import get_model, parse_initial
from checkers.verdict import Verdict
from raftsim import api
from raftsim.cli import main
from reports.linearizability_view import format_result

HISTORIES = Path(__file__).parent / "testdata" / "histories"
MODEL_NAMES = {"etcd-register": "cas-register"}


def bad_public_histories() -> list:
    cases = []
    for folder in ("knossos", "porcupine"):
        with open(HISTORIES / folder / "expected-verdicts.tsv", encoding="utf-8") as stream:
            for row in csv.DictReader(stream, delimiter="\t"):
                if row["expected"] == "not":
                    cases.append(pytest.param(folder, row, id=f"{folder}/{row['file']}"))
    return cases


def assert_reasons_are_complete(ops: list[Operation], example: Counterexample) -> None:
    """One line per stuck operation, opening with its description, naming only lines
    that hold operations of the history."""
    lines = {op.line for op in ops}
    assert len(example.reasons) == len(example.operations)
    for position, text in enumerate(example.descriptions):
        reason = example.reason(position)
        assert reason is not None and "\n" not in reason
        assert reason.startswith(f"{text} cannot be placed: "), reason
        named = example.lines_ruling_out(position)
        assert set(named) <= lines, (named, reason)
        assert all(f"line {line}" in reason for line in named), (named, reason)


@pytest.mark.parametrize(("folder", "row"), bad_public_histories())
def test_every_stuck_operation_of_a_bad_public_history_has_a_reason(folder: str, row: dict[str, str]) -> None:
    model_name = MODEL_NAMES.get(row["model"], row["model"])
    initial = (row.get("initial_state") or "").split(" (")[0].strip()
    model = get_model(model_name, None if initial in ("", "-") else parse_initial(model_name, initial))
    ops = read_operations(HISTORIES / folder / row["file"], model=model)
    result = check_operations(ops, model, budget_s=20)
    assert result.verdict is Verdict.INVALID
    for partition in result.partitions:
        if partition.counterexample is not None:
            assert_reasons_are_complete(ops, partition.counterexample)
            json_ops = partition.to_json()["counterexample"]["operations"]
            assert all(op["reason"] and isinstance(op["ruled_out_by"], list) for op in json_ops)


def register_history(rng: random.Random, clients: int, steps: int) -> list[Operation]:
    """Random reads, writes and cas of one register by `clients`, with times: often not
    linearizable, since the results are drawn at random too."""
    ops: list[Operation] = []
    open_calls: dict[int, tuple[str, object, int]] = {}
    for position in range(steps):
        client = rng.randrange(clients)
        if client not in open_calls:
            f = rng.choice(("read", "write", "cas"))
            argument = (
                None if f == "read" else rng.randrange(3) if f == "write" else (rng.randrange(3), rng.randrange(3))
            )
            open_calls[client] = (f, argument, position)
        else:
            f, argument, call = open_calls.pop(client)
            output = rng.randrange(3) if f == "read" else None
            status = "compare-failed" if f == "cas" and rng.random() < 0.3 else "ok"
            ops.append(
                Operation(
                    len(ops),
                    client,
                    None,
                    f,
                    None,
                    argument,
                    output,
                    call,
                    position,
                    status,
                    call * 1000,
                    position * 1000,
                    call + 1,
                )
            )
    for client, (f, argument, call) in open_calls.items():
        if f != "read":
            ops.append(
                Operation(
                    len(ops), client, None, f, None, argument, None, call, None, "info", call * 1000, None, call + 1
                )
            )
    return sorted(ops, key=lambda op: op.call)


def test_every_stuck_operation_of_generated_bad_histories_has_a_reason() -> None:
    rng = random.Random(7)
    illegal = 0
    for _ in range(300):
        ops = register_history(rng, clients=3, steps=rng.randrange(4, 14))
        for model_name in ("cas-register",):
            result = check_operations(ops, get_model(model_name, 0), budget_s=5)
            for partition in result.partitions:
                if partition.counterexample is not None:
                    illegal += 1
                    assert_reasons_are_complete(ops, partition.counterexample)
    assert illegal > 50  # the generator does produce bad histories


def relaxed(ops: list[Operation], stuck: Operation, cas_as_write: bool) -> list[Operation]:
    """The stuck operation and every write, each cas as the write of its new value (it
    applied, or may have) unless told otherwise: what a real-time reason may rely on, and
    nothing more."""
    kept = [stuck]
    for other in ops:
        if other.f == "cas" and other.status != "compare-failed" and not cas_as_write:
            kept.append(other)
        elif other.f == "write" or (other.f == "cas" and other.status != "compare-failed"):
            argument = other.input if other.f == "write" else other.input[1]
            kept.append(
                Operation(
                    other.id,
                    other.process,
                    None,
                    "write",
                    other.key,
                    argument,
                    None,
                    other.call,
                    other.ret,
                    other.status,
                    line=other.line,
                )
            )
    return sorted(kept, key=lambda kept_op: kept_op.call)


def test_real_time_reasons_hold_with_every_other_read_dropped() -> None:
    # A reason that rules a read's value out by real time relies only on the writes'
    # intervals: with all else dropped (and each cas a plain write), that read still
    # cannot be placed. A wrong real-time argument would show up as a linearizable rest.
    rng = random.Random(11)
    proven = starved = 0
    for _ in range(1500):
        ops = register_history(rng, clients=3, steps=rng.randrange(4, 14))
        result = check_operations(ops, get_model("cas-register", 0), budget_s=5)
        for partition in result.partitions:
            example = partition.counterexample
            if example is None:
                continue
            for position, stuck in enumerate(example.operations):
                reason = example.reason(position) or ""
                if stuck.f != "read" or "longest prefix" in reason:
                    continue
                proven += 1
                starved += "applies only to" in reason
                # "applies only to": the reason relies on what a cas expects as well.
                rest = check_operations(
                    relaxed(ops, stuck, "applies only to" not in reason), get_model("cas-register", 0)
                )
                assert rest.verdict is Verdict.INVALID, reason
    assert proven > 100 and starved > 3


def op(
    number: int,
    f: str,
    argument: object,
    output: object,
    call_s: float,
    ret_s: float | None,
    line: int,
    status: str = "ok",
) -> Operation:
    call, ret = int(call_s * 1_000_000), None if ret_s is None else int(ret_s * 1_000_000)
    return Operation(
        number,
        number,
        None,
        f,
        "k",
        argument,
        output,
        call,
        ret,
        status if ret is not None else "info",
        call,
        ret,
        line,
    )


def only_reason(
    ops: list[Operation],
    model_name: str,
    initial: object = None,
) -> tuple[str, tuple[int, ...]]:
    result = check_operations(ops, get_model(model_name, initial))
    example = result.partitions[0].counterexample
    assert result.verdict is Verdict.INVALID and example is not None and len(example.operations) == 1
    return example.reasons[0], example.lines_ruling_out(0)


def test_a_stale_read_names_the_write_that_hides_its_value_with_times_in_seconds() -> None:
    ops = [
        op(0, "write", 3, None, 1.0, 1.5, 12),
        op(1, "write", 4, None, 2.0, 2.5, 15),
        op(2, "read", None, 3, 3.0, 3.5, 18),
    ]
    reason, lines = only_reason(ops, "register")
    assert reason == (
        "read(k) -> 3 cannot be placed: it read 3: only write(k, 3) at line 12 left 3, but "
        "write(k, 4) at line 15, invoked (t=2.0 s) after that one completed (t=1.5 s), "
        "completed (t=2.5 s) before this read was invoked (t=3.0 s)"
    )
    assert lines == (12, 15)


def test_a_read_of_a_value_written_later_says_so() -> None:
    ops = [op(0, "read", None, 3, 1.0, 1.5, 4), op(1, "write", 3, None, 2.0, 2.5, 7)]
    reason, lines = only_reason(ops, "register")
    assert "write(k, 3) at line 7 was invoked (t=2.0 s) after this read returned (t=1.5 s)" in reason
    assert lines == (7,)


def test_a_read_of_a_value_nobody_wrote_says_so() -> None:
    reason, lines = only_reason([op(0, "read", None, 9, 1.0, 1.5, 4)], "register")
    assert reason == "read(k) -> 9 cannot be placed: it read 9, but no operation before it could have left 9"
    assert lines == ()


def test_a_read_of_the_initial_value_after_a_write_names_the_write() -> None:
    ops = [op(0, "write", 4, None, 1.0, 1.5, 2), op(1, "read", None, 0, 2.0, 2.5, 3)]
    reason, lines = only_reason(ops, "register", 0)
    assert "0 is the initial state, but write(k, 4) at line 2 completed (t=1.5 s)" in reason
    assert lines == (2,)


def test_a_cas_that_applied_is_explained_by_what_it_expected() -> None:
    ops = [
        op(0, "write", 1, None, 1.0, 1.5, 2),
        op(1, "write", 2, None, 2.0, 2.5, 3),
        op(2, "cas", (1, 5), True, 3.0, 3.5, 4),
    ]
    reason, lines = only_reason(ops, "cas-register")
    assert reason.startswith("cas(k, 1 -> 5) cannot be placed: it expected 1: only write(k, 1)")
    assert lines == (2, 3)


def test_a_mutex_acquired_twice_says_the_lock_was_held() -> None:
    ops = [op(0, "acquire", None, None, 1.0, 1.5, 1), op(1, "acquire", None, None, 2.0, 2.5, 2)]
    reason, lines = only_reason(ops, "mutex")
    assert reason.startswith(
        "acquire(k) cannot be placed: it needs the lock free: unlocked is "
        "the initial state, but acquire(k) at line 1 completed"
    )
    assert lines == (1,)


def test_without_times_positions_are_given() -> None:
    ops = [
        Operation(0, 0, None, "write", None, 4, None, 0, 1, "ok", line=1),
        Operation(1, 1, None, "read", None, None, 0, 2, 3, "ok", line=2),
    ]
    result = check_operations(ops, get_model("register", 0))
    reason = result.partitions[0].counterexample.reasons[0]  # type: ignore[union-attr]
    assert "completed (event #1) before this read was invoked (event #2)" in reason


# ---------------------------------------------------------------------------------------
# Printing what a history holds


def printed(result: LinearizabilityResult) -> str:
    """The table as a terminal encoding UTF-8 strictly would receive it."""
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", errors="strict")
    Console(file=stream, width=200, color_system=None).print(format_result(result))
    stream.flush()
    return raw.getvalue().decode("utf-8")


@pytest.mark.parametrize("key", ["[/x]", "[bold]x", "[red]k[/red]", "\ud800", "a\\[b]"])
def test_any_key_or_value_prints_as_itself(key: str) -> None:
    ops = [
        Operation(0, 0, None, "put", key, f"{key}!", None, 0, 1, "ok", line=1),
        Operation(1, 1, None, "get", key, None, "other", 2, 3, "ok", line=2),
    ]
    result = check_operations(ops, get_model("kv"))
    text = printed(result)
    shown = key.encode("utf-8", "backslashreplace").decode("utf-8")
    assert f"key {shown}:" in text
    assert "NOT linearizable" in text
    valid = check_operations(ops[:1], get_model("kv"))
    assert shown in printed(valid)


def test_check_prints_a_history_with_markup_in_its_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "history.jsonl"
    events = [(0, "invoke", "write", 1), (0, "ok", "write", 1), (1, "invoke", "read", None), (1, "ok", "read", 1)]
    with open(path, "w", encoding="utf-8") as stream:
        for index, (process, kind, f, value) in enumerate(events):
            stream.write(
                json.dumps(
                    {
                        "index": index,
                        "time": index,
                        "process": process,
                        "type": kind,
                        "f": f,
                        "key": "[/x]",
                        "value": value,
                    }
                )
                + "\n"
            )
    with pytest.raises(SystemExit) as exited:
        main(["check", str(path), "--model", "cas-register"])
    output = capsys.readouterr()
    assert exited.value.code == 0, output.err
    assert "[/x]" in output.out and "linearizable" in output.out


def test_every_stuck_read_of_our_own_failing_run_has_a_reason(tmp_path: Path) -> None:
    # `raftsim check` on the history of a run with a planted stale-read bug.
    scenario = dataclasses.replace(shortened("leader-lease"), seed=1, bugs=("stale-local-read",))
    folder = tmp_path / "run"
    api.run(scenario, folder, budget_s=30)
    ops = read_operations(folder / "history.jsonl")
    result = check_history_file(folder / "history.jsonl", "cas-register", budget_s=30)
    assert result.verdict is Verdict.INVALID
    examples = [p.counterexample for p in result.partitions if p.counterexample is not None]
    for example in examples:
        assert_reasons_are_complete(ops, example)
        for position, stuck in enumerate(example.operations):
            assert stuck.f == "read" and example.lines_ruling_out(position)
            assert " s)" in (example.reason(position) or "")  # times, in seconds
