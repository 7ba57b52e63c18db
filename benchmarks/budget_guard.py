"""Does the checker answer within its budget, and under its memory guard, on histories
built to make it work hard?

    .venv/bin/python benchmarks/budget_guard.py [--budget 10] [--only writes|writes-info|kv]
                                                [--writes 20000] [--kv-mb 87 --kv-ops 12500]

Two pathological histories are written to a temporary folder, then each is checked in a
fresh process with `--budget` seconds that start before the file is read, as
`raftsim check` does:

- `writes`: a register (`history.jsonl`, `cas-register`) where `--writes` writes all
  overlap and then a few reads contradict one another, so the search faces as many
  candidates at every step and never finishes. A step over C candidates costs
  O(C log C), so a clock read every few steps would overshoot.
- `writes-info`: the same with every other write ending `info` (pending): where the
  returned writes fail, the search tries the pending ones, each over every candidate.
- `kv`: a Porcupine kv file (`kv`) of `--kv-ops` operations on one key, appends of short
  values and, every few appends, a get returning the whole string so far, about
  `--kv-mb` MB in all: read naively, the order facts the gets reveal number gets x
  appends.

For each it prints the operations, the file's size, the budget, the wall time to the
answer (reading included), the verdict and its cause, and the process's peak resident
memory; then whether the goals hold: a budget answered within 10% (11 s for 10 s), peak
memory under the guard (3.5 GiB).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

MIB = 1 << 20
ROOT = Path(__file__).resolve().parent.parent


def concurrent_writes_lines(writes: int, unknown_every: int = 0) -> Iterator[str]:
    """`history.jsonl` lines: `writes` writes (values 1..writes) all invoked before any
    returns, then three reads in turn: of 1, of 2, and of 1 again. Only the write of 1 and
    the write of 2 could explain them, and after 2 no write of 1 is left: not
    linearizable, but a search has to try orders of the writes to find that out. With
    `unknown_every` n, every n-th write (from the second) ends `info`: pending, which the
    search tries only where the returned ones fail, each time over all of them."""
    index = 0

    def line(time_us: int, process: int, kind: str, f: str, value: int | None) -> str:
        nonlocal index
        index += 1
        return (
            json.dumps(
                {
                    "index": index - 1,
                    "time": time_us,
                    "process": process,
                    "type": kind,
                    "f": f,
                    "key": "x",
                    "value": value,
                }
            )
            + "\n"
        )

    for process in range(writes):
        yield line(process, process, "invoke", "write", process + 1)
    for process in range(writes):
        unknown = unknown_every and process % unknown_every == 1
        yield line(writes + process, process, "info" if unknown else "ok", "write", process + 1)
    moment = 2 * writes
    for step, value in enumerate((1, 2, 1)):
        reader = writes + step
        yield line(moment + 2 * step, reader, "invoke", "read", None)
        yield line(moment + 2 * step + 1, reader, "ok", "read", value)


def append_log_lines(target_bytes: int, ops: int) -> Iterator[str]:
    """Porcupine kv lines on key "0": `ops` operations, appends of distinct values with a
    get returning every value appended so far after every few of them, as many gets as
    make the gets' strings (the file) about `target_bytes` long."""
    width = 8  # "<12345>" and a separator: values are distinct and prefix-free
    # g gets spread over a = ops - g appends show about g * a / 2 values of `width`.
    product = 2 * target_bytes / width
    gets = max(1, min(ops // 2, int((ops - math.sqrt(max(0.0, ops * ops - 4 * product))) / 2)))
    appends = ops - gets
    shown: list[str] = []
    for number in range(appends):
        value = f"<{number}>".ljust(width, ".")
        shown.append(value)
        yield f'{{:process 0, :type :invoke, :f :append, :key "0", :value "{value}"}}\n'
        yield f'{{:process 0, :type :ok, :f :append, :key "0", :value "{value}"}}\n'
        if (number + 1) * gets // appends != number * gets // appends:
            yield '{:process 1, :type :invoke, :f :get, :key "0", :value nil}\n'
            yield f'{{:process 1, :type :ok, :f :get, :key "0", :value "{"".join(shown)}"}}\n'


def write_lines(path: Path, lines: Iterator[str]) -> int:
    with open(path, "w", encoding="utf-8") as stream:
        stream.writelines(lines)
    return path.stat().st_size


def check_once(
    path: Path,
    model_name: str,
    budget_s: float,
    max_memory_bytes: int,
) -> dict[str, object]:
    """Read and check `path` as `raftsim check` does, the budget starting before reading;
    the answer's wall time and this process's peak resident memory."""
    from checkers.budget import Budget, OutOfBudget, peak_resident_bytes
    from checkers.formats import read_operations
    from checkers.linearizability import check_operations, unknown_result
    from checkers.models import get_model

    started = time.monotonic()
    budget = Budget.starting_now(budget_s, max_memory_bytes)
    model = get_model(model_name)
    try:
        operations = read_operations(path, None, model, budget=budget)
        result = check_operations(operations, model, budget=budget)
    except OutOfBudget as out:
        result = unknown_result(model_name, 0, out.cause, budget.elapsed_ms())
    causes = sorted({p.cause for p in result.partitions if p.cause} | ({result.cause} if result.cause else set()))
    return {
        "wall_s": time.monotonic() - started,
        "valid": result.verdict.to_json(),
        "ops": result.ops,
        "causes": causes,
        "peak_bytes": peak_resident_bytes(),
    }


def measure(
    path: Path,
    model_name: str,
    budget_s: float,
    max_memory_bytes: int,
) -> dict[str, object]:
    """`check_once` in a fresh process, so that its peak memory is its own."""
    command = [
        sys.executable,
        __file__,
        "--one",
        str(path),
        "--model",
        model_name,
        "--budget",
        str(budget_s),
        "--max-memory",
        str(max_memory_bytes),
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    from checkers.budget import DEFAULT_MAX_MEMORY_BYTES

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--budget", type=float, default=10.0, help="seconds per check")
    parser.add_argument("--only", choices=("writes", "writes-info", "kv"))
    parser.add_argument("--writes", type=int, default=20_000, help="writes: concurrent writes")
    parser.add_argument("--kv-mb", type=float, default=87.0, help="kv: the file's size in MB")
    parser.add_argument("--kv-ops", type=int, default=12_500, help="kv: operations")
    parser.add_argument("--max-memory", type=int, default=DEFAULT_MAX_MEMORY_BYTES, help="the memory guard, bytes")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.one is not None:
        print(json.dumps(check_once(arguments.one, arguments.model, arguments.budget, arguments.max_memory)))
        return
    limit_s = arguments.budget * 1.1
    print(f"{'history':11} {'ops':>7} {'MB':>6} {'budget':>7} {'answer':>8} {'verdict':>18} {'peak RSS':>9}  goal")
    met_all = True
    with tempfile.TemporaryDirectory() as folder:
        for name, model_name, path, lines in (
            (
                "writes",
                "cas-register",
                Path(folder) / "history.jsonl",
                lambda: concurrent_writes_lines(arguments.writes),
            ),
            (
                "writes-info",
                "cas-register",
                Path(folder) / "pending.jsonl",
                lambda: concurrent_writes_lines(arguments.writes, unknown_every=2),
            ),
            (
                "kv",
                "kv",
                Path(folder) / "kv.txt",
                lambda: append_log_lines(int(arguments.kv_mb * 1e6), arguments.kv_ops),
            ),
        ):
            if arguments.only not in (None, name):
                continue
            size = write_lines(path, lines())
            row = measure(path, model_name, arguments.budget, arguments.max_memory)
            met = row["wall_s"] <= limit_s and row["peak_bytes"] < arguments.max_memory
            met_all = met_all and met
            verdict = f"{row['valid']}" + (
                f" ({', '.join(row['causes'])})"  # type: ignore[arg-type]
                if row["causes"]
                else ""
            )
            print(
                f"{name:11} {row['ops']:>7} {size / 1e6:>6.1f} {arguments.budget:>6.1f}s "
                f"{row['wall_s']:>7.2f}s {verdict:>18} "
                f"{row['peak_bytes'] / MIB:>6.0f} MiB  "  # type: ignore[operator]
                f"{'met' if met else 'MISSED'} (<= {limit_s:.1f} s, "
                f"< {arguments.max_memory / MIB:.0f} MiB)"
            )
            os.remove(path)
    sys.exit(0 if met_all else 1)


if __name__ == "__main__":
    main()
