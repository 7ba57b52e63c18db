"""Hostile scenario files: every one loads into a valid scenario or is refused in one line.

The corpus starts from the built-in scenario texts and mutates them the way careless hands
and hostile ones do: lines deleted, doubled, swapped or cut; values replaced by wrong types,
out-of-range, huge or negative numbers, control characters, path separators, deep nesting;
unknown keys and tables; bytes that are not UTF-8; truncation at any byte. The loader must
answer each with a Scenario or an InputError whose message is one line starting with the
file's path, never another exception; and an accepted scenario must resolve, under any
seed, to faults aimed only at nodes that exist.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkers.errors import InputError
from raftsim.cli import main
from scenarios import loader
from scenarios.model import Scenario, problems
from scenarios.resolve import resolve

ROOT = Path(__file__).resolve().parent.parent
BUILTINS = {
    name: (resources.files("scenarios") / "builtin" / f"{name}.toml").read_text("utf-8")
    for name in loader.builtin_names()
}
CORPUS = settings(
    max_examples=260,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

HOSTILE_VALUES = (
    '"x"',
    "true",
    "false",
    "1.5",
    "3.0",
    "[]",
    "{}",
    "[1, 2]",
    "[[1]]",
    "-1",
    "0",
    "1",
    "7",
    "9",
    "10",
    "99999999999999999999999",
    "-99999999999999999999999",
    "1e400",
    "-1e400",
    "nan",
    "-nan",
    "inf",
    "-inf",
    "0x10",
    "0o7",
    "0b1",
    "1_000",
    "+5",
    "1979-05-27",
    "07:32:00",
    "1979-05-27T07:32:00Z",
    '"a\\u0000b"',
    '"a\\u001bb"',
    '"a\\nb"',
    '"\\u2028"',
    '"../escaped"',
    '"/etc/passwd"',
    '"a/b"',
    '"..."',
    '"\\ud800"',
    '"\\U0010ffff"',
    '"' + "x" * 300 + '"',
    "'literal'",
    '"""multi\nline"""',
    '["crash", "crash"]',
    '["meteor"]',
    '[""]',
    "[0]",
    "[1, 1]",
    "[-3]",
    "[12]",
    "[true]",
    '"leader"',
    '"majority"',
    '"isolate-leader"',
    '"halves"',
    '"random"',
    "{ nodes = 0 }",
    "{ a = { b = { c = 1 } } }",
)
HOSTILE_LINES = (
    "bogus = 1",
    "[phasez]",
    "[[cluster]]",
    "[faults.extra]",
    "[cluster.sub]",
    "swarm = true",
    "swarm = 1",
    'name = "again"',
    "cluster.nodes = 0",
    "cluster = { nodes = 2 }",
    "faults = []",
    "faults = 1",
    '"quoted key" = 1',
    "'lit' = 2",
    "[[faults]]",
    'kind = "crash"',
    "start_ms = 0",
    "duration_ms = 1",
    "target = [5]",
    "target = [9]",
    "start_ms = 999999999",
    '[nemesis]\nmode = "random"\nkinds = []',
    "[nemesis]\ninterval_ms = 1",
    "bugs = []",
    'bugs = ["nope"]',
    "=",
    "= 1",
    "a =",
    "[",
    "]]",
    "[[]]",
    "#",
    '"',
    "'''",
    '"""',
    "\x00",
    "\x1b[31m",
    "\ud800",
    "\ufeff",
)

CONTROL_STRINGS = ("a\\u0000", "\\u001b[2J", "a\\tb", "/x/../y", "a\\u007f", "\\u0085")


def _deep(depth: int, inline: bool) -> str:
    return ("{a=" * depth + "1" + "}" * depth) if inline else ("[" * depth + "]" * depth)


@st.composite
def hostile_values(draw: st.DrawFn) -> str:
    return draw(
        st.one_of(
            st.sampled_from(HOSTILE_VALUES),
            st.integers(-(2**70), 2**70).map(str),
            st.floats(allow_nan=False, allow_infinity=False).map(lambda f: repr(f).replace("e+", "e")),
            st.builds(_deep, st.integers(1, 3000), st.booleans()),
            st.text(max_size=20).map(
                lambda t: '"' + t.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'
            ),
        )
    )


@st.composite
def mutants(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(sorted(BUILTINS)))
    lines = BUILTINS[name].splitlines()
    for _ in range(draw(st.integers(1, 4))):
        lines = _mutate(draw, lines)
    data = ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")
    finish = draw(st.sampled_from(("keep", "keep", "keep", "truncate", "bytes")))
    if finish == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif finish == "bytes":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from((b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\r", b"\xef\xbb\xbf")))
        data += b"" if draw(st.booleans()) else b'\nname = "x"\n'
    return data


def _mutate(draw: st.DrawFn, lines: list[str]) -> list[str]:
    lines = list(lines)
    if not lines:
        return [draw(st.sampled_from(HOSTILE_LINES))]
    at = draw(st.integers(0, len(lines) - 1))
    operation = draw(st.sampled_from(("delete", "duplicate", "swap", "value", "value", "value", "insert", "control")))
    if operation == "delete":
        del lines[at]
    elif operation == "duplicate":
        lines.insert(at, lines[at])
    elif operation == "swap":
        other = draw(st.integers(0, len(lines) - 1))
        lines[at], lines[other] = lines[other], lines[at]
    elif operation == "insert":
        lines.insert(at, draw(st.sampled_from(HOSTILE_LINES)))
    else:
        assignments = [i for i, line in enumerate(lines) if "=" in line and not line.lstrip().startswith("#")]
        if assignments:
            at = draw(st.sampled_from(assignments))
            key = lines[at].split("=", 1)[0]
            if operation == "value":
                lines[at] = f"{key}= {draw(hostile_values())}"
            else:
                lines[at] = f'{key}= "{draw(st.sampled_from(CONTROL_STRINGS))}"'
    return lines


def _check_outcome(data: bytes) -> Scenario | InputError:
    """Load the bytes as a file; a refusal must be one line that names the file."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "mutant.toml")
        with open(path, "wb") as file:
            file.write(data)
        try:
            return loader.load(path)
        except InputError as error:
            message = str(error)
            assert message.startswith(path), message
            assert "\n" not in message and "\r" not in message and message.isprintable(), repr(message)
            assert error.line is None or 1 <= error.line <= data.count(b"\n") + 1, (error.line, message)
            return error


@CORPUS
@given(mutants(), st.integers(0, 2**63 - 1))
def test_a_mutated_scenario_loads_or_is_refused_in_one_line(data: bytes, seed: int) -> None:
    outcome = _check_outcome(data)
    if isinstance(outcome, InputError):
        return
    # An accepted scenario writes back to a file that reads back equal ...
    assert loader.parse(loader.to_toml(outcome), "again.toml") == outcome
    # ... and whatever the seed, it resolves to faults aimed at nodes that exist.
    for chosen in (seed, 0, 2**63 - 1):
        resolved = resolve(loader.with_seed(outcome, chosen))
        assert problems(resolved) == []
        for fault in resolved.faults:
            if isinstance(fault.target, tuple):
                assert set(fault.target) <= set(resolved.node_ids)


def test_the_corpus_holds_both_kinds_of_outcome() -> None:
    """The corpus is only a test if some mutants load and most are refused. About one
    mutant in fifteen loads: 300 of them make the count of those that load a matter of the
    mutations, not of which built-in files there are (80 once drew none after one was added)."""
    outcomes: list[bool] = []

    @settings(
        max_examples=300,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(mutants())
    def collect(data: bytes) -> None:
        outcomes.append(isinstance(_check_outcome(data), Scenario))

    collect()
    assert 5 <= sum(outcomes) <= len(outcomes) - 20, (sum(outcomes), len(outcomes))


# One of each kind the loader must refuse, run through the command line as a user would.
CLI_SAMPLE = {
    "deep.toml": 'name = "x"\ndescription = ' + "[" * 5000 + "]" * 5000 + "\n",
    "deep-inline.toml": 'name = "x"\ndescription = ' + "{a=" * 5000 + "1" + "}" * 5000 + "\n",
    "nul-name.toml": 'name = "a\\u0000b"\n',
    "long-name.toml": 'name = "' + "a" * 300 + '"\n',
    "escape.toml": 'name = "../escaped"\n',
    "dotted.toml": 'name = "x"\ncluster.nodes = 0\n',
    "inline.toml": 'name = "x"\ncluster = { nodes = 0 }\n',
    "phasez.toml": 'name = "x"\n[phasez]\n',
    "late.toml": 'name = "x"\nduration_ms = 1000\n[[faults]]\nkind = "crash"\nstart_ms = 1000\nduration_ms = 5\n',
    "huge-int.toml": 'name = "x"\nseed = ' + "9" * 5000 + "\n",
    "bool.toml": 'name = "x"\n[cluster]\nnodes = true\n',
    "latin1.toml": b'name = "caf\xe9"\n',
    "bom.toml": "\ufeffname = 'x'\n",
    "empty.toml": "",
}
EXPECTED = {
    "deep.toml": ":2: arrays or inline tables",
    "deep-inline.toml": ":2: arrays or inline tables",
    "nul-name.toml": ":1: name: ",
    "long-name.toml": ":1: name: ",
    "escape.toml": ":1: name: ",
    "dotted.toml": ":2: cluster.nodes: ",
    "inline.toml": ":2: cluster.nodes: ",
    "phasez.toml": ":2: phasez: ",
    "late.toml": ":5: faults[0].start_ms: ",
    "huge-int.toml": ":2: not valid TOML",
    "bool.toml": ":3: cluster.nodes",
    "latin1.toml": ":1: not UTF-8 text",
    "bom.toml": ":1: starts with a byte order mark",
    "empty.toml": ": the file is",
}


@pytest.mark.parametrize("command", ["run", "fuzz"])
@pytest.mark.parametrize("name", sorted(CLI_SAMPLE))
def test_the_command_line_refuses_in_one_line_and_writes_nothing(
    name: str,
    command: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    content = CLI_SAMPLE[name]
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    arguments = (
        [command, str(path), "--seed", "6", "--no-report"] if command == "run" else [command, str(path), "--seeds", "2"]
    )
    with pytest.raises(SystemExit) as leaving:
        main(arguments)
    captured = capsys.readouterr()
    assert leaving.value.code == 2, captured
    lines = captured.err.splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert lines[0].startswith(f"raftsim: {path}{EXPECTED[name]}"), lines[0]
    assert list(work.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "work"])
    assert not (tmp_path.parent / "escaped").exists()


def test_a_process_given_a_deep_file_exits_2_with_one_line(tmp_path: Path) -> None:
    """The nesting a parser would recurse into, through a real process and its real stack."""
    path = tmp_path / "deep.toml"
    path.write_text(CLI_SAMPLE["deep.toml"], encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "raftsim", "run", str(path), "--no-report"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(f"raftsim: {path}:2: arrays or inline tables"), done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep.toml"]


def test_refused_mutants_are_refused_the_same_way_by_the_command_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    refused: list[str] = []

    @settings(
        max_examples=14,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(mutants())
    def through_the_command_line(data: bytes) -> None:
        if isinstance(_check_outcome(data), Scenario):
            return  # an accepted mutant would run a whole simulation; the corpus test resolves it
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "mutant.toml"
            path.write_bytes(data)
            work = Path(folder) / "work"
            work.mkdir()
            monkeypatch.chdir(work)
            with pytest.raises(SystemExit) as leaving:
                main(["run", str(path), "--no-report"])
            err = capsys.readouterr().err
            assert leaving.value.code == 2, err
            assert err.count("\n") == 1 and err.startswith(f"raftsim: {path}") and "Traceback" not in err, err
            assert list(work.iterdir()) == []
            assert sorted(p.name for p in Path(folder).iterdir()) == ["mutant.toml", "work"]
            refused.append(err)

    through_the_command_line()
    assert len(refused) >= 10, len(refused)
