"""The command line: its outputs, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tests_support import shortened_file

RAFTSIM = [sys.executable, "-c", "from raftsim.cli import main; main()"]


def raftsim(*arguments: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RAFTSIM, *arguments], capture_output=True, text=True, check=False, cwd=cwd)


def assert_one_line_error(completed: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert completed.returncode == 2, (completed.stdout, completed.stderr)
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert "Traceback" not in completed.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_lists() -> None:
    scenarios = raftsim("scenarios")
    assert scenarios.returncode == 0
    for name in ("partition-leader", "partition-halves", "crash-restart", "clock-skew", "pause", "mixed"):
        assert name in scenarios.stdout
    bugs = raftsim("bugs")
    assert bugs.returncode == 0
    for name in ("commit-old-term", "send-before-persist", "stale-local-read"):
        assert name in bugs.stdout


def test_run_writes_the_folder_and_replay_matches(short_mixed_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    completed = raftsim("run", str(short_mixed_file), "--seed", "3", "--out", str(out))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert sorted(p.name for p in out.iterdir()) == [
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
    verdict = json.loads((out / "verdict.json").read_text())
    assert verdict["valid"] is True
    report = (out / "report.html").read_text()
    assert verdict["digest"] in report and '"messagesTraced":true' in report
    assert "trace_messages = true" not in (out / "scenario.toml").read_text()
    assert '"ev":"msg"' not in (out / "trace.jsonl").read_text()
    assert set(verdict["checkers"]) == {
        "invariants",
        "linearizability",
        "raft-safety",
        "liveness",
        "node-progress",
        "revisions",
        "disruption",
        "effects",
    }
    assert verdict["digest"] in completed.stdout
    replayed = raftsim("replay", str(out))
    assert replayed.returncode == 0 and "identical" in replayed.stdout
    check = raftsim("check", str(out / "history.jsonl"), "--model", "cas-register", "--json")
    assert check.returncode == 0 and json.loads(check.stdout)["valid"] is True


def test_run_without_reports_has_the_same_digest(short_mixed_file: Path, tmp_path: Path) -> None:
    """Capturing messages for the report must leave the run itself untouched."""
    with_reports, without = tmp_path / "a", tmp_path / "b"
    raftsim("run", str(short_mixed_file), "--seed", "3", "--out", str(with_reports))
    raftsim("run", str(short_mixed_file), "--seed", "3", "--out", str(without), "--no-report")
    plain = ["effects.jsonl", "events.json", "history.jsonl", "scenario.toml", "trace.jsonl", "verdict.json"]
    assert sorted(p.name for p in without.iterdir()) == plain
    for name in ("trace.jsonl", "effects.jsonl", "history.jsonl", "scenario.toml"):
        assert (with_reports / name).read_bytes() == (without / name).read_bytes(), name


def test_replay_notices_a_changed_trace(short_mixed_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    raftsim("run", str(short_mixed_file), "--seed", "3", "--out", str(out), "--no-report")
    trace = out / "trace.jsonl"
    trace.write_text(trace.read_text().replace('"role":"leader"', '"role":"follower"', 1))
    assert raftsim("replay", str(out)).returncode == 1


@pytest.mark.parametrize(
    ("arguments", "fragments"),
    [
        (("run", "no-such-scenario"), ("no-such-scenario", "built-in ones")),
        (("run", "pause", "--bug", "gremlins"), ("unknown bug 'gremlins'",)),
        (("run", "pause", "--seed", "minus-one"), ("--seed",)),
        (("run", "pause", "--frobnicate"), ("--frobnicate",)),
        (("frobnicate",), ("frobnicate",)),
        (("check", "missing.jsonl", "--model", "cas-register"), ("missing.jsonl", "no such file")),
        (("check", "missing.jsonl", "--model", "stack"), ("--model", "stack")),
        (("replay", "."), ("scenario.toml is missing",)),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(
    arguments: tuple[str, ...],
    fragments: tuple[str, ...],
    tmp_path: Path,
) -> None:
    assert_one_line_error(raftsim(*arguments, cwd=tmp_path), *fragments)
    assert list(tmp_path.iterdir()) == [], "nothing may be written on bad input"


def test_malformed_scenario_file_names_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('name = "bad"\n\n[workload]\nclients = -1\n')
    completed = raftsim("run", str(path), "--out", str(tmp_path / "out"))
    assert_one_line_error(completed, "bad.toml:4", "workload.clients")
    assert not (tmp_path / "out").exists()


def test_malformed_history_names_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(
        '{"index":0,"time":0,"process":0,"type":"invoke","f":"write","key":"k","value":1}\n'
        '{"index":1,"time":5,"process":0,"type":"ok","f":"write","key":"k","value":"one"}\n'
    )
    assert_one_line_error(raftsim("check", str(path), "--model", "cas-register"), "h.jsonl:2", "value")


def test_binary_scenario_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "noise.toml"
    path.write_bytes(bytes(range(128, 256)))
    assert_one_line_error(raftsim("run", str(path), "--out", str(tmp_path / "out")), "noise.toml", "UTF-8")


# In-process tests: raftsim.cli.main(argv), which always ends in SystemExit.


def run_main(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    from raftsim.cli import main

    with pytest.raises(SystemExit) as exited:
        main(list(arguments))
    output = capsys.readouterr()
    code = exited.value.code
    assert isinstance(code, int), code
    return code, output.out, output.err


def assert_usage_error(result: tuple[int, str, str], *fragments: str) -> None:
    code, _out, err = result
    assert code == 2, result
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("raftsim: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_version_and_python_dash_m(capsys: pytest.CaptureFixture[str]) -> None:
    from raftsim import __version__

    code, out, _err = run_main(capsys, "--version")
    assert code == 0 and out.strip() == f"raftsim {__version__}" and __version__[0].isdigit()
    module = subprocess.run([sys.executable, "-m", "raftsim", "--version"], capture_output=True, text=True, check=False)
    assert module.returncode == 0 and module.stdout.strip() == f"raftsim {__version__}"


@pytest.mark.parametrize(
    "command", ["scenarios", "bugs", "run", "fuzz", "shrink", "report", "replay", "backup", "check"]
)
def test_every_help_lists_the_exit_codes(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run_main(capsys, command, "--help")
    text = " ".join(out.split())
    assert code == 0 and "Exit codes: " in text and "2 bad input" in text and "70 internal error" in text


def test_scenarios_show_prints_a_loadable_file(capsys: pytest.CaptureFixture[str]) -> None:
    from scenarios import loader

    code, out, _err = run_main(capsys, "scenarios", "--show", "pause")
    assert code == 0
    assert loader.parse(out, "shown.toml") == loader.load("pause")
    assert_usage_error(
        run_main(capsys, "scenarios", "--show", "[bold]nope"), "--show", "'[bold]nope'", "raftsim scenarios"
    )


@pytest.mark.parametrize(
    ("arguments", "flag"),
    [(("run", "pause", "--budget", value), "--budget") for value in ("nan", "inf", "-inf", "1e400", "NaN", "1e300")]
    + [
        (("check", "missing.jsonl", "--model", "register", "--budget", "nan"), "--budget"),
        (("shrink", "missing", "--budget", "inf"), "--budget"),
        (("fuzz", "pause", "--seeds", "2", "--budget", "nan"), "--budget"),
        (("fuzz", "pause", "--seeds", "2", "--recheck", "nan"), "--recheck"),
        (("fuzz", "pause", "--seeds", "2", "--recheck", "inf"), "--recheck"),
        (("fuzz", "pause", "--seeds", "2", "--shard", ""), "--shard"),
        (("fuzz", "pause", "--seeds", "2", "--shard", "0/0"), "--shard"),
        (("fuzz", "pause", "--seeds", "1000000000000", "--start", str(2**63 - 10)), "--seeds"),
        (("fuzz", "pause", "--seeds", "2", "--start", str(2**63)), "--start"),
        (("fuzz", "pause", "--seeds", "2", "--jobs", "100000"), "--jobs"),
        (("report", "missing", "--window", "0:inf"), "--window"),
        (("report", "missing", "--window", "1e400:1e401"), "--window"),
        (("report", "missing", "--window", "nan:1"), "--window"),
        (("report", "missing", "--window", "0:0.0000001"), "--window"),
    ],
)
def test_bad_numbers_name_their_flag(
    arguments: tuple[str, ...],
    flag: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert_usage_error(run_main(capsys, *arguments), flag)
    assert list(tmp_path.iterdir()) == []


def test_a_huge_seed_range_is_not_materialised(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A valid but enormous range is planned at once (no MemoryError), up to the last seed."""
    from checkers.errors import InputError

    def prepare(plan: object) -> None:
        seeds = plan.seeds  # type: ignore[attr-defined]
        assert len(seeds) == 10**12 - 1 and seeds[-1] == 2**63 - 1
        raise InputError("prepare", None, None, "reached with the whole range")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("raftsim.fuzz.prepare", prepare)
    start = str(2**63 - 10**12 + 1)
    assert_usage_error(
        run_main(capsys, "fuzz", "pause", "--seeds", str(10**12 - 1), "--start", start), "reached with the whole range"
    )
    assert list(tmp_path.iterdir()) == []


def test_history_paths_say_what_they_are(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for path, words in (
        (tmp_path, "directory"),
        (fifo, "named pipe"),
        (Path("/dev/null"), "device"),
        (tmp_path / "missing.jsonl", "no such file"),
    ):
        assert_usage_error(run_main(capsys, "check", str(path), "--model", "register"), str(path), words)


def write_history(path: Path, key: str = "k") -> Path:
    events = [
        {"index": 0, "time": 0, "process": 0, "type": "invoke", "f": "write", "key": key, "value": 1},
        {"index": 1, "time": 5, "process": 0, "type": "ok", "f": "write", "key": key, "value": 1},
        {"index": 2, "time": 6, "process": 1, "type": "invoke", "f": "read", "key": key, "value": None},
        {"index": 3, "time": 9, "process": 1, "type": "ok", "f": "read", "key": key, "value": 1},
    ]
    path.write_text("".join(json.dumps(event) + "\n" for event in events), encoding="utf-8")
    return path


def test_check_report_destinations(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    history = write_history(tmp_path / "h.jsonl")
    (tmp_path / "folder").mkdir()
    for target, words in (
        (tmp_path / "folder", "is a directory"),
        (tmp_path / "nope" / "x.html", "does not exist"),
        (history, "history being checked"),
        (Path("/dev/null"), "device"),
    ):
        assert_usage_error(
            run_main(capsys, "check", str(history), "--model", "register", "--report", str(target)), "--report", words
        )
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["folder", "h.jsonl"]
    code, out, err = run_main(
        capsys, "check", str(history), "--model", "register", "--report", str(tmp_path / "out.html"), "--json"
    )
    assert code == 0 and json.loads(out)["valid"] is True
    assert f"wrote  {tmp_path / 'out.html'}" in err and (tmp_path / "out.html").is_file()


def test_markup_and_surrogates_in_keys_print_as_text(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    history = write_history(tmp_path / "h.jsonl", key="[/x][bold]k")
    code, out, err = run_main(capsys, "check", str(history), "--model", "register")
    assert code == 0, err
    assert "[/x][bold]k" in out
    # A file name that is not UTF-8 reaches Python as lone surrogates; it is printed escaped.
    assert_usage_error(
        run_main(capsys, "check", "missing\udcff.jsonl", "--model", "register"), "missing\\udcff.jsonl: no such file"
    )
    assert_usage_error(run_main(capsys, "run", "[bold]x\udcff.toml"), "[bold]x\\udcff.toml")


@pytest.mark.parametrize(
    ("out", "words"),
    [
        ("afile/sub", "is not a folder"),
        ("/proc/x", "cannot write"),
        ("afile", "not a run folder"),
        ("other", "not a run folder"),
    ],
)
def test_run_destinations_are_refused_before_simulating(
    out: str, words: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    monkeypatch.setattr("raftsim.api.run", lambda *a, **k: pytest.fail("simulated before checking --out"))
    assert_usage_error(run_main(capsys, "run", "pause", "--out", out), "--out", words)
    assert_usage_error(run_main(capsys, "fuzz", "pause", "--seeds", "1", "--out", out), "--out")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["afile", "notes.txt", "other"]


@pytest.mark.parametrize(
    ("error", "code", "words"),
    [
        (RecursionError("maximum recursion depth exceeded"), 2, "input nested too deeply"),
        (MemoryError(), 2, "out of memory"),
        (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), 2, "not valid text"),
        (IsADirectoryError(21, "Is a directory", "some/where"), 2, "some/where: Is a directory"),
        (RuntimeError("boom\nsecond line"), 70, "internal error: RuntimeError: boom (please report; traceback in"),
    ],
)
def test_the_backstop_prints_one_line(
    error: BaseException,
    code: int,
    words: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    def explode(*_arguments: object) -> None:
        raise error

    monkeypatch.setattr("raftsim.cli.check_history", explode)
    history = write_history(tmp_path / "h.jsonl")
    result = run_main(capsys, "check", str(history), "--model", "register")
    assert result[0] == code, result
    lines = result[2].splitlines()
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in result[2], result
    if code == 2 and not isinstance(error, OSError):
        assert str(history) in lines[0], "the input being read is named"
    if code == 70:
        saved = Path(lines[0].rsplit("traceback in ", 1)[1].rstrip(")"))
        assert "Traceback" in saved.read_text() and "boom" in saved.read_text()
        saved.unlink()


def test_why_it_failed_puts_causes_first_and_explains_stuck_operations() -> None:
    from checkers.verdict import RunVerdict
    from raftsim.cli import why_it_failed

    verdict = {
        "checkers": {
            "linearizability": {
                "valid": False,
                "partitions": [
                    {"key": "k0", "valid": True},
                    {
                        "key": "k1",
                        "valid": False,
                        "counterexample": {
                            "operations": [
                                {
                                    "description": "read -> 3",
                                    "reason": "write 3 was overwritten before",
                                    "explanation": None,
                                },
                                {
                                    "description": "read -> 4",
                                    "reason": "r",
                                    "explanation": "key k1: read -> 4 by node 2 (leader of "
                                    "term 3) after write 5 completed at 2.5 s",
                                },
                                {"description": "read -> 6", "reason": None},
                            ]
                        },
                    },
                ],
            },
            "revisions": {
                "valid": False,
                "anomalies": [{}, {}],
                "groups": [
                    {
                        "group": 0,
                        "cause": "node 1 answered from a stale state",
                        "t": 47_600_000,
                        "line": 6504,
                        "count": 1,
                    }
                ],
            },
        }
    }
    assert why_it_failed(RunVerdict.from_json(verdict, "verdict.json")) == [
        "cause   revisions: node 1 answered from a stale state [1 anomaly]",
        "stuck   key k1: read -> 3: write 3 was overwritten before",
        "stuck   key k1: read -> 4 by node 2 (leader of term 3) after write 5 completed at 2.5 s",
        "stuck   key k1: read -> 6: cannot be placed",
    ]
    clean = {"checkers": {"linearizability": {"valid": True, "partitions": []}}}
    assert why_it_failed(RunVerdict.from_json(clean, "verdict.json")) == []


def test_words_are_singular_for_one() -> None:
    from raftsim.cli import describe_size
    from raftsim.shrink import Size

    assert (
        describe_size(Size(1, 1, 1500, 8000, 0, 1, 1, 50, False))
        == "1 fault (1.5 s), 1 operation, 8 s run, no quiet period, 1 client, 1 key, 50 ops/s"
    )
    assert (
        describe_size(Size(2, 30, 0, 12000, 1000, 3, 2, 5, True))
        == "2 faults (0 s), 30 operations, 12.0 s run, 1 s quiet, final reads, 3 clients, 2 keys, 5 ops/s"
    )


def test_fuzz_summary_ends_with_the_commands_of_the_first_failing_seeds(capsys: pytest.CaptureFixture[str]) -> None:
    from raftsim.cli import print_fuzz_summary

    summary = {
        "scenario": "pause",
        "seeds": 20,
        "finished": 20,
        "failed": [2, 5, 7, 11, 13],
        "anomalies_by_checker": {"linearizability": 5},
        "unknown": [],
        "rechecked": 1,
        "determinism_failures": [],
        "seeds_per_minute": 10.0,
        "crashed": [5],
    }
    print_fuzz_summary(summary, Path("fuzz dir/pause"))
    out = capsys.readouterr().out
    for seed in (2, 5, 7):
        for command in ("replay", "report", "shrink"):
            assert f"raftsim {command} 'fuzz dir/pause/seed-{seed}'" in out
    assert "seed-11" not in out and "…and 2 more failing seeds" in out and "seed 5 (crash)" in out


def test_fuzz_progress_without_a_terminal(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from raftsim import cli

    clock = [1000.0]
    monkeypatch.setattr(cli.time, "monotonic", lambda: clock[0])
    with cli._FuzzProgress("pause", 100, 0) as progress:
        for _ in range(10):
            progress.advance(0)
        clock[0] += 31
        progress.advance(1)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "fuzz pause: 5 of 100 seeds done, 0 failed, 0 s",
        "fuzz pause: 10 of 100 seeds done, 0 failed, 0 s",
        "fuzz pause: 11 of 100 seeds done, 1 failed, 31 s",
    ]


@pytest.fixture(scope="module")
def failing_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A short run with a planted bug, made once through the command line: (folder, stdout)."""
    import contextlib
    import io

    from raftsim.cli import main

    root = tmp_path_factory.mktemp("failing")
    scenario = shortened_file(root, "leader-lease", duration_ms=12000)
    folder = root / "my run"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), pytest.raises(SystemExit) as exited:
        main(["run", str(scenario), "--seed", "1", "--bug", "stale-local-read", "--out", str(folder), "--no-report"])
    assert exited.value.code == 1, printed.getvalue()
    return folder, printed.getvalue()


def test_a_failing_run_ends_with_its_next_commands(failing_run: tuple[Path, str]) -> None:
    folder, out = failing_run
    quoted = shlex.quote(str(folder))
    assert quoted.startswith("'")
    tail = [line.split(None, 1)[1] for line in out.splitlines()[-3:]]
    assert tail == [f"raftsim replay {quoted}", f"raftsim report {quoted}", f"raftsim shrink {quoted}"]
    assert any(line.startswith(" stuck   key ") for line in out.splitlines()), out


def test_running_out_of_budget_while_reading_is_unknown(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from checkers.budget import OutOfBudget

    seen: dict[str, object] = {}

    def reader(path: object, history_format: object, model: object, budget: object = None) -> None:
        seen["budget"] = budget
        raise OutOfBudget("timeout")

    monkeypatch.setattr("checkers.formats.read_history", reader)
    history = write_history(tmp_path / "h.jsonl")
    code, out, err = run_main(
        capsys,
        "check",
        str(history),
        "--model",
        "register",
        "--json",
        "--budget",
        "5",
        "--report",
        str(tmp_path / "r.html"),
    )
    assert code == 3, err
    result = json.loads(out)
    assert result["valid"] == "unknown" and result["cause"] == "timeout" and result["partitions"] == []
    assert 4 < seen["budget"].remaining_s() <= 5  # type: ignore[attr-defined]
    assert "not written" in err and not (tmp_path / "r.html").exists()


def test_reading_and_searching_share_one_budget(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import checkers.formats
    import checkers.linearizability

    budgets: list[object] = []
    real_read, real_check = checkers.formats.read_history, checkers.linearizability.check_operations

    def reader(*arguments: object, budget: object = None) -> object:
        budgets.append(budget)
        return real_read(*arguments, budget=budget)  # type: ignore[arg-type]

    def search(*arguments: object, budget: object = None, **options: object) -> object:
        budgets.append(budget)
        return real_check(*arguments, budget=budget, **options)  # type: ignore[arg-type]

    monkeypatch.setattr("checkers.formats.read_history", reader)
    monkeypatch.setattr("checkers.linearizability.check_operations", search)
    code, _out, err = run_main(capsys, "check", str(write_history(tmp_path / "h.jsonl")), "--model", "register")
    assert code == 0, err
    assert len(budgets) == 2 and budgets[0] is budgets[1] is not None


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_during_fuzz_prints_one_line(tmp_path: Path) -> None:
    """Ctrl-C reaches the whole process group: the workers must stay quiet and the parent
    answer with one line and exit 130. Without a terminal, progress comes as plain lines:
    the first one says the workers are up and running seeds."""
    scenario = shortened_file(tmp_path, "pause", duration_ms=3000, quiet_ms=1000)
    process = subprocess.Popen(
        [
            *RAFTSIM,
            "fuzz",
            str(scenario),
            "--seeds",
            "20",
            "--jobs",
            "2",
            "--no-report",
            "--out",
            str(tmp_path / "fuzz"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # A shell that starts the suite in the background (`cmd &`, nohup) leaves SIGINT
        # ignored, and Python keeps an inherited ignore: give the command the default a
        # user's terminal gives it, else the test measures how it was launched.
        preexec_fn=_default_sigint,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("fuzz short-pause: 1 of 20 seeds done"), first
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, (out, err)
    assert "Traceback" not in out + err and "KeyboardInterrupt" not in out + err, (out, err)
    lines = [line for line in (out + err).splitlines() if line.strip() and not line.startswith("fuzz short-pause: ")]
    assert len(lines) == 1 and "interrupted after" in lines[0], lines


def test_shrink_ends_with_the_commands_of_the_shrunk_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing_run: tuple[Path, str]
) -> None:
    """The search itself is stood in for (its own tests run it); what is checked is what the
    command prints around it: the checkers the shrunk run fails, in words, and its commands."""
    from raftsim import api
    from raftsim import shrink as shrinking
    from scenarios import loader

    folder = failing_run[0]
    original = loader.load(str(folder / "scenario.toml"))

    def shrink(*_arguments: object) -> shrinking.ShrinkResult:
        shrunk = shrinking.shrunk_name(original)
        outcome = api.run(shrunk, None)
        return shrinking.ShrinkResult(
            original=original,
            shrunk=shrunk,
            checkers=frozenset({"revisions"}),
            attempts=1,
            outcome=outcome,
            targets=frozenset({"revisions"}),
            before=shrinking.Size.of(original, shrinking.operations_of(outcome)),
            after=shrinking.Size.of(shrunk, shrinking.operations_of(outcome)),
        )

    monkeypatch.setattr(shrinking, "shrink", shrink)
    target = tmp_path / "shrunk run"
    code, out, _err = run_main(capsys, "shrink", str(folder), "--no-report", "--out", str(target))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "still fails linearizability, revisions after 1 attempt"
    assert lines[1].startswith("  before: 4 faults (") and " 3 keys, " in lines[1]
    quoted = shlex.quote(str(target))
    assert [line.split(None, 1)[1] for line in lines[-3:]] == [
        f"raftsim replay {quoted}",
        f"raftsim report {quoted}",
        f"raftsim shrink {quoted}",
    ]


@pytest.mark.parametrize("out", ["", ".", "..", "/", "sub/.."])
def test_destinations_must_name_a_new_entry(
    out: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty current folder looks like an empty run folder; `--out ''` must not replace it."""
    work = tmp_path / "empty"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr("raftsim.api.run", lambda *a, **k: pytest.fail("simulated before checking --out"))
    assert_usage_error(run_main(capsys, "run", "pause", "--out", out), "--out", "names no new file or folder")
    assert_usage_error(run_main(capsys, "fuzz", "pause", "--seeds", "1", "--out", out), "--out", "names no new")
    history = write_history(tmp_path / "h.jsonl")
    assert_usage_error(run_main(capsys, "check", str(history), "--model", "register", "--report", out), "--report")
    assert list(work.iterdir()) == []
