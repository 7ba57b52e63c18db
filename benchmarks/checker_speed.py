"""How fast the linearizability checker decides the public histories, next to Porcupine.

    .venv/bin/python benchmarks/checker_speed.py [--repeat 5] [--only etcd|knossos|kv]
                                                 [--first] [--budget 60]

For each file of `tests/testdata/histories/` it prints the operations, our verdict (and
whether it is the expected one), the median wall milliseconds over `--repeat` runs of
reading the file and, separately, of checking it, Porcupine's own checking time on this
kind of machine (the faster of its two runs in `porcupine/go-timings.tsv`, parsing
excluded there too) and the ratio ours / Porcupine's, and the peak of memory allocated by
Python while reading and checking the file (tracemalloc, in one extra run that is not
timed). Then totals per group, the process's peak resident memory, and the issue's goals
with how close each came.

Groups: Porcupine's etcd logs (`cas-register`, every key starting absent), Knossos's
cas-register files (`cas-register`, initial value 0, as Knossos's tests check them) and
Porcupine's kv files (`kv`). Every partition is decided, as `raftsim check` does by
default; `--first` stops at the first illegal one, as Porcupine's `CheckEvents` does (its
c50-bad figure is such an early exit: checked to the end, Porcupine leaves two keys
unknown after 20 s each).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

from checkers.budget import peak_resident_bytes
from checkers.formats import read_operations
from checkers.linearizability import LinearizabilityResult, check_operations
from checkers.models import Model, get_model

HISTORIES = Path(__file__).resolve().parent.parent / "tests" / "testdata" / "histories"
MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class Case:
    group: str
    name: str  # relative to HISTORIES / the group's folder
    path: Path
    model_name: str
    initial: object
    expected: bool


@dataclass(frozen=True, slots=True)
class Measured:
    case: Case
    ops: int
    verdict: object
    unknown_keys: int
    read_ms: float
    check_ms: float
    porcupine_ms: float | None
    peak_bytes: int


def cases(only: str | None) -> list[Case]:
    """Every history with an expected verdict, for the three groups."""
    found: list[Case] = []
    for row in _rows(HISTORIES / "porcupine" / "expected-verdicts.tsv"):
        group = "etcd" if row["model"] == "etcd-register" else "kv"
        model_name = "cas-register" if group == "etcd" else "kv"
        found.append(Case(group, row["file"], HISTORIES / "porcupine" / row["file"], model_name,
                          None, row["expected"] == "linearizable"))
    for row in _rows(HISTORIES / "knossos" / "expected-verdicts.tsv"):
        if row["model"] == "cas-register":
            found.append(Case("knossos", row["file"], HISTORIES / "knossos" / row["file"],
                              "cas-register", 0, row["expected"] == "linearizable"))
    return [case for case in found if only is None or case.group == only]


def porcupine_times() -> dict[str, float]:
    """File -> Porcupine's faster run, in ms (the partitioned kv model for kv files)."""
    times: dict[str, float] = {}
    for row in _rows(HISTORIES / "porcupine" / "go-timings.tsv"):
        if row["checker_model"] in ("etcd-register", "kv-partitioned"):
            times[row["file"]] = min(float(row["ms_run1"]), float(row["ms_run2"]))
    return times


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream, delimiter="\t"))


def model_for(case: Case) -> Model:
    return get_model(case.model_name, case.initial)


def measure(case: Case, repeat: int, first: bool, budget_s: float,
            porcupine: dict[str, float]) -> Measured:
    model = model_for(case)
    read_times, check_times = [], []
    result: LinearizabilityResult | None = None
    for _ in range(repeat):
        started = time.perf_counter()
        operations = read_operations(case.path, None, model)
        read_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        result = check_operations(operations, model, budget_s=budget_s, first=first)
        check_times.append(time.perf_counter() - started)
    assert result is not None
    tracemalloc.start()
    check_operations(read_operations(case.path, None, model), model, budget_s=budget_s,
                     first=first)
    _, peak_bytes = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    unknown = sum(1 for partition in result.partitions
                  if partition.valid == "unknown" and partition.cause != "not-checked")
    return Measured(case, result.ops, result.valid, unknown,
                    statistics.median(read_times) * 1000, statistics.median(check_times) * 1000,
                    porcupine.get(case.name), peak_bytes)


def _verdict_text(measured: Measured) -> str:
    word = {True: "ok", False: "not"}.get(measured.verdict, "unknown")  # type: ignore[arg-type]
    expected = "ok" if measured.case.expected else "not"
    return word if word == expected else f"{word} (expected {expected})"


def _ratio(ours_ms: float, theirs_ms: float | None) -> str:
    return "-" if theirs_ms is None else f"{ours_ms / theirs_ms:.2f}"


def print_group(group: str, rows: list[Measured]) -> None:
    print(f"\n== {group}: {len(rows)} files")
    print(f"{'file':48} {'ops':>5} {'verdict':>8} {'read ms':>9} {'check ms':>9} "
          f"{'Porcupine':>10} {'ratio':>7} {'peak MiB':>9}")
    for row in rows:
        theirs = "-" if row.porcupine_ms is None else f"{row.porcupine_ms:.3f}"
        print(f"{row.case.name:48} {row.ops:5} {_verdict_text(row):>8} {row.read_ms:9.2f} "
              f"{row.check_ms:9.2f} {theirs:>10} {_ratio(row.check_ms, row.porcupine_ms):>7} "
              f"{row.peak_bytes / MIB:9.2f}")
    compared = [row for row in rows if row.porcupine_ms is not None]
    ours = sum(row.check_ms for row in rows)
    print(f"{'total':48} {sum(row.ops for row in rows):5} {'':>8} "
          f"{sum(row.read_ms for row in rows):9.2f} {ours:9.2f}", end="")
    if compared:
        theirs_total = sum(row.porcupine_ms or 0.0 for row in compared)
        ours_compared = sum(row.check_ms for row in compared)
        print(f" {theirs_total:10.3f} {_ratio(ours_compared, theirs_total):>7}", end="")
    print(f"  (slowest file {max(row.check_ms for row in rows):.2f} ms, largest peak "
          f"{max(row.peak_bytes for row in rows) / MIB:.2f} MiB)")


def print_goals(rows: list[Measured]) -> None:
    """The goals of the issue, each with what this run measured."""
    by_name = {row.case.name: row for row in rows}
    etcd = [row for row in rows if row.case.group == "etcd"]
    if etcd:
        ours = sum(row.check_ms for row in etcd)
        theirs = sum(row.porcupine_ms or 0.0 for row in etcd)
        slowest = max(etcd, key=lambda row: row.check_ms)
        _goal(f"etcd logs: total {ours:.1f} ms <= Porcupine's {theirs:.1f} ms", ours <= theirs)
        _goal(f"etcd logs: slowest file {slowest.case.name} {slowest.check_ms:.1f} ms < 1 s",
              slowest.check_ms < 1000)
    if "kv/c50-ok.txt" in by_name:
        row = by_name["kv/c50-ok.txt"]
        _goal(f"kv/c50-ok: {row.check_ms:.1f} ms < 1 s", row.check_ms < 1000)
    if "kv/c50-bad.txt" in by_name:
        row = by_name["kv/c50-bad.txt"]
        _goal(f"kv/c50-bad: {row.unknown_keys} keys unknown, {row.check_ms:.1f} ms < 20 s",
              row.unknown_keys == 0 and row.check_ms < 20_000)
    wrong = [row.case.name for row in rows if _verdict_text(row) not in ("ok", "not")]
    _goal(f"every verdict as expected ({len(wrong)} not: {', '.join(wrong) or 'none'})",
          not wrong)
    peak = peak_resident_bytes()
    _goal(f"peak resident memory of this process {peak / MIB:.0f} MiB < 4096 MiB",
          peak < 4096 * MIB)


def _goal(text: str, met: bool) -> None:
    print(f"  [{'met' if met else 'NOT met'}] {text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per file (median)")
    parser.add_argument("--only", choices=("etcd", "knossos", "kv"))
    parser.add_argument("--first", action="store_true",
                        help="stop at the first illegal partition, as Porcupine's CheckEvents")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per file")
    arguments = parser.parse_args()
    assert arguments.repeat >= 1, "--repeat must be at least 1"
    porcupine = porcupine_times()
    rows: list[Measured] = []
    for group in ("etcd", "knossos", "kv"):
        group_rows = [measure(case, arguments.repeat, arguments.first, arguments.budget,
                              porcupine)
                      for case in cases(arguments.only) if case.group == group]
        if group_rows:
            print_group(group, group_rows)
            rows.extend(group_rows)
    print("\ngoals:")
    print_goals(rows)


if __name__ == "__main__":
    main()
