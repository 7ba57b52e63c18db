"""Hostile command lines: every subcommand, flags given nan, infinities, huge, negative, empty
or non-ASCII numbers, and paths that are files, folders, missing, named pipes or devices.

Whatever the combination, the exit code is one the command documents, a usage error (2) is
exactly one stderr line starting `raftsim:` and never a traceback, an internal error (70)
never happens, and nothing is left half-written. Each generated command line carries at least
one element known to be refused before any simulation starts (a `check` may also be wholly
valid: checking a small history is quick), so the corpus stays fast.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftsim.cli import main

NUMBERS = (
    "nan",
    "NaN",
    "-nan",
    "inf",
    "-inf",
    "+Infinity",
    "1e400",
    "-1e400",
    "1e-400",
    "-1",
    "0",
    "-0",
    "",
    " ",
    "1_000",
    "0x10",
    "9" * 40,
    "½",
    "١٢",
    "\u00a0",
    "12abc",
    "1.5",
    "3",
    "0.5",
    "\udcff",
    "1e308",
)
PATHS = (
    "afile",
    "afile/sub",
    "adir",
    "adir/",
    "missing",
    "missing/x",
    "fifo",
    "/dev/null",
    "/proc/x",
    "",
    "emptydir",
    "ünï cödé",
    "\udcff",
    "-",
    "badrun",
    ".",
)
WINDOWS = (
    "0:inf",
    "1e400:1e401",
    "nan:1",
    "1:nan",
    "2:1",
    ":",
    "",
    "1",
    "-1:2",
    "0:1e308",
    "a:b",
    "0:0.0000001",
    "1:2:3",
)
SHARDS = ("", "0/0", "1/0", "3/2", "a/b", "1/2/3", "-1/2", "1/-2", "/", "1/99999999999999999999999", "١/٢")
HISTORIES = (
    "good.jsonl",
    "bad.jsonl",
    "deep.jsonl",
    "bigint.jsonl",
    "markup.jsonl",
    "empty.jsonl",
    "missing",
    "adir",
    "fifo",
    "/dev/null",
    "afile",
)
MODELS = ("register", "cas-register", "kv", "multi-register", "mutex", "stack", "", "[bold]")
DOCUMENTED = {
    "run": {0, 1, 2, 3},
    "fuzz": {0, 1, 2, 3},
    "shrink": {0, 1, 2, 3},
    "report": {0, 1, 2, 3},
    "replay": {0, 1, 2},
    "check": {0, 1, 2, 3},
    "scenarios": {0, 2},
    "bugs": {0, 2},
}

GOOD_HISTORY = (
    '{"index":0,"time":0,"process":0,"type":"invoke","f":"write","key":"k","value":1}\n'
    '{"index":1,"time":5,"process":0,"type":"ok","f":"write","key":"k","value":1}\n'
    '{"index":2,"time":6,"process":1,"type":"invoke","f":"read","key":"k","value":null}\n'
    '{"index":3,"time":9,"process":1,"type":"ok","f":"read","key":"k","value":1}\n'
)


def build_arena(root: Path) -> None:
    """The files and folders the corpus points at, rebuilt before every example."""
    for entry in root.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    (root / "afile").write_text("not a folder\n")
    (root / "adir").mkdir()
    (root / "adir" / "other.txt").write_text("someone else's\n")
    (root / "emptydir").mkdir()
    os.mkfifo(root / "fifo")
    (root / "bad.toml").write_text("name = 1\n[cluster\n")
    (root / "good.jsonl").write_text(GOOD_HISTORY)
    (root / "bad.jsonl").write_text(GOOD_HISTORY.replace('"value":1}\n', '"value":"one"}\n', 1))
    (root / "deep.jsonl").write_text(
        '{"index":0,"time":0,"process":0,"type":"invoke","f":"write","key":"k",'
        '"value":' + "[" * 100_000 + "]" * 100_000 + "}\n"
    )
    (root / "bigint.jsonl").write_text(GOOD_HISTORY.replace('"value":1', '"value":' + "7" * 5000))
    (root / "markup.jsonl").write_text(GOOD_HISTORY.replace('"key":"k"', '"key":"[/x][bold]\\ud800"'))
    (root / "empty.jsonl").write_text("")
    badrun = root / "badrun"
    badrun.mkdir()
    (badrun / "scenario.toml").write_text("name = 1\n")
    (badrun / "verdict.json").write_text("{nope")
    (badrun / "history.jsonl").write_bytes(b"\xff\xfe")
    (badrun / "trace.jsonl").write_bytes(b"\xff\xfe")


def snapshot(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


@pytest.fixture(scope="module")
def arena() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="raftsim-hostile-"))
    previous = Path.cwd()
    os.chdir(root)
    try:
        yield root
    finally:
        os.chdir(previous)
        shutil.rmtree(root)


def flag(name: str, values: tuple[str, ...]) -> st.SearchStrategy[list[str]]:
    return st.sampled_from(values).map(lambda value: [name, value])


SCENARIOS = st.sampled_from(
    ("pause", "missing.toml", "adir", "fifo", "afile", "bad.toml", "nope", "", "../x", "[bold]x", "\udcff")
)
RUN_POISON = st.one_of(
    flag("--budget", ("nan", "inf", "-1", "", "1e400", "abc", "0", "1e300")),
    flag("--seed", ("-1", str(2**63), "x", "1.5", "")),
    flag("--out", ("afile/sub", "/proc/x", "afile", "adir", "fifo", "/dev/null")),
    flag("--bug", ("gremlins", "", "[bold]")),
    flag("--frobnicate", ("1",)),
)
FUZZ_POISON = st.one_of(
    RUN_POISON.filter(lambda pair: pair[0] != "--seed"),
    flag("--seeds", ("0", "-1", "", "x", "1e3")),
    flag("--start", (str(2**63), "-1")),
    flag("--jobs", ("0", "-3", "1000000", "nan")),
    flag("--shard", SHARDS),
    flag("--recheck", ("nan", "inf", "2", "-0.1", "")),
)
COMMON_RUN_FLAGS = st.one_of(
    flag("--budget", NUMBERS),
    flag("--seed", NUMBERS),
    flag("--out", PATHS),
    flag("--bug", ("commit-old-term",)),
)
FUZZ_FLAGS = st.one_of(
    flag("--budget", NUMBERS),
    flag("--seeds", NUMBERS),
    flag("--start", NUMBERS),
    flag("--jobs", NUMBERS),
    flag("--shard", SHARDS),
    flag("--recheck", NUMBERS),
    flag("--out", PATHS),
)


@st.composite
def poisoned(
    draw: st.DrawFn,
    command: str,
    positional: st.SearchStrategy[str],
    extra: st.SearchStrategy[list[str]],
    poison: st.SearchStrategy[list[str]],
) -> list[str]:
    # The poison comes last: of a flag given twice the last counts, so an earlier poison could
    # be overridden by a valid value and start a real simulation.
    flags = [*draw(st.lists(extra, max_size=3)), draw(poison)]
    required = ["--seeds", "2"] if command == "fuzz" and not any(pair[0] == "--seeds" for pair in flags) else []
    return [command, draw(positional), *required, *(word for pair in flags for word in pair)]


@st.composite
def folder_command(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from(("replay", "report", "shrink")))
    extra = {
        "replay": st.just([]),
        "report": st.one_of(
            flag("--window", WINDOWS),
            flag("--messages", ("auto", "replay", "x", "")),
            st.just(["--terminal"]),
            st.just(["--no-png"]),
        ),
        "shrink": st.one_of(
            flag("--out", PATHS), flag("--attempts", NUMBERS), flag("--budget", NUMBERS), st.just(["--no-report"])
        ),
    }[command]
    flags = draw(st.lists(extra, max_size=3))
    return [command, draw(st.sampled_from(PATHS)), *(word for pair in flags for word in pair)]


@st.composite
def check_command(draw: st.DrawFn) -> list[str]:
    flags = draw(
        st.lists(
            st.one_of(
                flag("--budget", NUMBERS),
                flag("--format", ("auto", "jsonl", "edn", "porcupine-log", "porcupine-kv", "x")),
                flag("--initial", ("0", "nil", "{:x 0}", "[" * 5000, "9" * 5000, "", "\udcff")),
                flag("--report", (*PATHS, "out.html")),
                st.just(["--json"]),
                st.just(["--first"]),
            ),
            max_size=4,
        )
    )
    return [
        "check",
        draw(st.sampled_from(HISTORIES)),
        "--model",
        draw(st.sampled_from(MODELS)),
        *(word for pair in flags for word in pair),
    ]


COMMANDS = st.one_of(
    poisoned("run", SCENARIOS, COMMON_RUN_FLAGS, RUN_POISON),
    poisoned("fuzz", SCENARIOS, FUZZ_FLAGS, FUZZ_POISON),
    folder_command(),
    check_command(),
    st.sampled_from(("pause", "nope", "", "../mixed", "\udcff", "[bold]")).map(
        lambda name: ["scenarios", "--show", name]
    ),
    st.just(["bugs", "--frobnicate"]),
)


@settings(
    max_examples=200,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(argv=COMMANDS)
def test_hostile_command_lines(argv: list[str], arena: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_arena(arena)
    before = snapshot(arena)
    with pytest.raises(SystemExit) as exited:
        main(argv)
    output = capsys.readouterr()
    code = exited.value.code
    assert code in DOCUMENTED[argv[0]], (argv, code, output.err)
    assert "Traceback" not in output.err + output.out, argv
    after = snapshot(arena)
    assert not [name for name in after if ".partial" in name or ".tmp" in name], (argv, after - before)
    if code == 2:
        lines = output.err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("raftsim: "), (argv, output.err)
        assert after == before, (argv, after ^ before)
