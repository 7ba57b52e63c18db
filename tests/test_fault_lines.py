"""Faults recorded in a history: `history.jsonl`'s fault and heal lines and Jepsen's nemesis
records are read apart from the operations (no checker sees them), refused with one line
naming the file, line and field when malformed, and drawn by every report."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests_support import shortened

from checkers.errors import InputError
from checkers.formats import read_history, read_operations
from checkers.history import FaultLine, read_history_faults, read_history_jsonl
from checkers.models import get_model
from raftsim import api
from raftsim.cli import cli, main
from reports.timeline import timeline_from_operations, timeline_from_run

ROOT = Path(__file__).parent / "testdata" / "histories"
EVIL = "</script><script>document.body.setAttribute('data-pwned','1')</script>"
EVIL_IMG = "<img src=x onerror=\"document.body.setAttribute('data-pwned','2')\">"


def op(index: int, time: int, process: int, type_: str, f: str, value: object = None) -> dict:
    return {"index": index, "time": time, "process": process, "type": type_, "f": f, "key": "x", "value": value}


def fault(index: int, time: int, number: object, **settings: object) -> dict:
    return {"index": index, "time": time, "process": "nemesis", "type": "fault", "fault": number, **settings}


def heal(index: int, time: int, number: object, **settings: object) -> dict:
    return {"index": index, "time": time, "process": "nemesis", "type": "heal", "fault": number, **settings}


PARTITION = {
    "kind": "partition",
    "shape": "isolate-leader",
    "one_way": False,
    "sides": [[3], [1, 2]],
    "cut": [[1, 3], [3, 1]],
}


def write_lines(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(record, separators=(",", ":")) + "\n" for record in records))
    return path


def renumbered(records: list[dict]) -> list[dict]:
    return [{**record, "index": number} for number, record in enumerate(records)]


# A linearizable history, and one that is not (the read sees a value never written).
GOOD_OPS = [
    op(0, 0, 0, "invoke", "write", 1),
    op(0, 10, 0, "ok", "write", 1),
    op(0, 12, 1, "invoke", "read"),
    op(0, 22, 1, "ok", "read", 1),
    op(0, 24, 0, "invoke", "cas", [1, 2]),
    op(0, 30, 0, "ok", "cas", [1, 2]),
]
BAD_OPS = [*GOOD_OPS[:3], op(0, 22, 1, "ok", "read", 7), *GOOD_OPS[4:]]


def with_faults(ops: list[dict]) -> list[dict]:
    """`ops` with a partition from between the first two lines to after the fourth, and a
    crash never healed at the end."""
    return renumbered(
        [
            ops[0],
            fault(0, 5, 0, **PARTITION),
            *ops[1:4],
            heal(0, 23, 0, kind="partition"),
            *ops[4:],
            fault(0, 30, 1, kind="crash", nodes=[2]),
        ]
    )


# ---------------------------------------------------------------------------------------
# Reading: fault lines are not operations


@pytest.mark.parametrize(("ops", "code"), [(GOOD_OPS, 0), (BAD_OPS, 1)])
def test_a_history_with_fault_lines_checks_exactly_as_without(tmp_path: Path, ops: list[dict], code: int) -> None:
    plain = write_lines(tmp_path / "plain.jsonl", renumbered(ops))
    faulty = write_lines(tmp_path / "faulty.jsonl", with_faults(ops))
    model = get_model("cas-register")
    assert len(read_operations(faulty, model=model)) == len(read_operations(plain, model=model)) == 3
    # The same calls in the same order and outcomes; only their places in the file moved.
    strip = [(o.process, o.f, o.input, o.output, o.status) for o in read_operations(plain, model=model)]
    assert [(o.process, o.f, o.input, o.output, o.status) for o in read_operations(faulty, model=model)] == strip
    verdicts = []
    for path in (plain, faulty):
        result = CliRunner().invoke(cli, ["check", str(path), "--model", "cas-register", "--json"])
        assert result.exit_code == code, result.output
        verdict = json.loads(result.output)
        parts = [
            (p["key"], p["valid"], p["ops"], p["cause"], p["counterexample"] is None) for p in verdict["partitions"]
        ]
        verdicts.append((verdict["valid"], verdict["ops"], parts))
    assert verdicts[0] == verdicts[1]


def test_every_reader_returns_the_fault_lines_apart(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "h.jsonl", with_faults(GOOD_OPS))
    collected: list[FaultLine] = []
    events = read_history_jsonl(path, faults=collected)
    assert len(events) == 6 and all(isinstance(event.process, int) for event in events)
    read = read_history(path, model=get_model("cas-register"))
    assert list(read.faults) == collected == read_history_faults(path)
    first, healed, crash = collected
    assert (first.type, first.fault, first.index, first.time, first.line, first.kind) == (
        "fault",
        0,
        1,
        5,
        2,
        "partition",
    )
    assert first.settings() == PARTITION  # the settings exactly as written, in order
    assert first.to_json() == fault(1, 5, 0, **PARTITION)
    assert (healed.type, healed.fault, healed.settings()) == ("heal", 0, {"kind": "partition"})
    assert (crash.type, crash.fault, crash.settings()) == ("fault", 1, {"kind": "crash", "nodes": [2]})


def test_the_simulators_histories_hold_no_fault_line(good_run: Path) -> None:
    assert '"nemesis"' not in (good_run / "history.jsonl").read_text()
    assert read_history_faults(good_run / "history.jsonl") == []


# ---------------------------------------------------------------------------------------
# Malformed fault lines: one line, the file, line and field, exit 2

F = fault(1, 5, 0, kind="partition")
H = heal(2, 6, 0)
MALFORMED = [
    ("heal-without-fault", [heal(1, 5, 0)], 2, "fault", "no fault line before started"),
    ("healed-twice", [F, H, heal(3, 7, 0)], 4, "fault", "already healed on line 3"),
    ("number-twice", [F, H, fault(3, 7, 0, kind="crash")], 4, "fault", "already started on line 2"),
    ("number-a-string", [fault(1, 5, "0", kind="crash")], 2, "fault", "integer >= 0"),
    ("number-a-float", [fault(1, 5, 1.5, kind="crash")], 2, "fault", "integer >= 0"),
    ("number-a-bool", [fault(1, 5, True, kind="crash")], 2, "fault", "integer >= 0"),
    ("number-negative", [fault(1, 5, -1, kind="crash")], 2, "fault", "integer >= 0"),
    ("number-missing", [{k: v for k, v in F.items() if k != "fault"}], 2, "fault", "missing"),
    ("kind-missing", [fault(1, 5, 0, nodes=[1])], 2, "kind", "missing"),
    ("kind-empty", [fault(1, 5, 0, kind="")], 2, "kind", "non-empty string"),
    ("kind-a-number", [fault(1, 5, 0, kind=3)], 2, "kind", "non-empty string"),
    ("process-a-client", [{**F, "process": 3}], 2, "process", 'process is "nemesis"'),
    ("process-other-name", [{**F, "process": "chaos"}], 2, "process", 'process is "nemesis"'),
    ("nemesis-invokes", [{**op(1, 5, 0, "invoke", "read"), "process": "nemesis"}], 2, "type", "fault or a heal"),
    ("time-backwards-on-fault", [fault(1, -0, 0, kind="crash")], 2, "time", "went back from 1 to 0"),
    ("time-backwards-after-fault", [fault(1, 50, 0, kind="crash"), op(2, 20, 1, "invoke", "read")], 3, "time", ""),
    ("index-skipped", [fault(2, 5, 0, kind="crash")], 2, "index", "expected 1, got 2"),
    ("time-not-integer", [fault(1, "5", 0, kind="crash")], 2, "time", "integer >= 0"),
]


@pytest.mark.parametrize(
    ("records", "line", "field", "words"), [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED]
)
def test_each_malformed_fault_line_is_bad_input_naming_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], records: list[dict], line: int, field: str, words: str
) -> None:
    path = write_lines(tmp_path / "h.jsonl", [{**op(0, 1, 0, "invoke", "write", 1)}, *records])
    with pytest.raises(SystemExit) as raised:
        main(["check", str(path), "--model", "cas-register"])
    assert raised.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"{path}:{line}: {field}: " in err and words in err, err
    # The readers of faults alone refuse it alike.
    for read in (read_history_faults, read_history_jsonl):
        with pytest.raises(InputError) as caught:
            read(path)
        assert (caught.value.line, caught.value.field) == (line, field)


def test_a_fault_never_healed_lasts_to_the_end(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "h.jsonl", renumbered([*GOOD_OPS[:2], fault(0, 11, 4, kind="pause", nodes=[1])]))
    read = read_history(path, model=get_model("cas-register"))
    timeline = timeline_from_operations(read.operations, None, str(path), "cas-register", faults=read.faults)
    (span,) = timeline.faults
    assert (span.id, span.kind, span.start, span.end, span.label) == (4, "pause", 11, timeline.end, "pause 1")


# ---------------------------------------------------------------------------------------
# Jepsen EDN: the nemesis's records become faults

NEMESIS_EDN = """[
{:process 0, :type :invoke, :f :write, :value 1, :time 1000}
{:process :nemesis, :type :info, :f :start, :value nil, :time 2000}
{:process :nemesis, :type :info, :f :start, :value "Cut off {:n1 #{:n2}}", :time 3000}
{:process 0, :type :ok, :f :write, :value 1, :time 4000}
{:process :nemesis, :type :info, :f :stop, :value nil, :time 5000}
{:process :nemesis, :type :info, :f :stop, :value "fully connected", :time 6000}
{:process :nemesis, :type :info, :f :stop, :value nil, :time 6500}
{:process :nemesis, :type :info, :f :kill, :value ["n1" "n2"], :time 7000}
{:process :nemesis, :type :info, :f :kill, :value {"n1" :killed}, :time 7500}
{:process :nemesis, :type :info, :f :start-partition, :value :majority, :time 8000}
{:process 1, :type :invoke, :f :read, :value nil, :time 8500}
{:process :nemesis, :type :info, :f :start, :value nil, :time 9000}
{:process :nemesis, :type :info, :f :start, :value :all, :time 9500}
{:process :nemesis, :type :info, :f :pause, :value #{"n3" "n2"}, :time 10000}
{:process :nemesis, :type :info, :f :isolate, :value nil, :time 10500}
{:process 1, :type :ok, :f :read, :value 1, :time 11000}
{:process :nemesis, :type :info, :f :stop-partition, :value nil, :time 12000}
{:process :nemesis, :type :info, :f :resume, :value nil, :time 13000}
]
"""


def test_edn_nemesis_records_become_fault_spans_and_never_operations(tmp_path: Path) -> None:
    path = tmp_path / "jepsen.edn"
    path.write_text(NEMESIS_EDN)
    without = tmp_path / "plain.edn"
    without.write_text("".join(line + "\n" for line in NEMESIS_EDN.splitlines() if ":nemesis" not in line))
    model = get_model("cas-register")
    read = read_history(path, model=model)
    assert read.operations == read_operations(without, model=model)
    shown = [(f.type, f.fault, f.index, f.time, f.settings()) for f in read.faults]
    assert shown == [
        ("fault", 0, 1, 2, {"kind": "nemesis", "f": "start", "result": "Cut off {:n1 #{:n2}}"}),
        ("heal", 0, 2, 5, {"kind": "nemesis", "f": "stop", "result": "fully connected"}),
        ("fault", 1, 2, 7, {"kind": "crash", "f": "kill", "value": ["n1", "n2"], "result": [["n1", "killed"]]}),
        ("fault", 2, 2, 8, {"kind": "partition", "f": "start-partition", "value": "majority"}),
        ("heal", 1, 3, 9, {"kind": "crash", "f": "start", "result": "all"}),
        ("fault", 3, 3, 10, {"kind": "pause", "f": "pause", "value": ["n2", "n3"]}),
        ("heal", 2, 4, 12, {"kind": "partition", "f": "stop-partition"}),
        ("heal", 3, 4, 13, {"kind": "pause", "f": "resume"}),
    ]
    assert read_history(without, model=model).faults == ()


def test_edn_nemesis_spans_of_a_real_jepsen_history(tmp_path: Path) -> None:
    source = ROOT / "knossos/cas-register/bad/cas-failure.edn"
    read = read_history(source, model=get_model("cas-register"))
    opened = [f.fault for f in read.faults if f.type == "fault"]
    healed = [f.fault for f in read.faults if f.type == "heal"]
    assert opened and healed and set(healed) <= set(opened) and len(set(opened)) == len(opened)
    assert all(f.settings()["kind"] == "nemesis" for f in read.faults)
    report = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["check", str(source), "--model", "cas-register", "--report", str(report)])
    assert result.exit_code == 1, result.output
    faults = _data_block(report.read_text())["faults"]
    assert len(faults) == len(opened) and faults[0][1] == "nemesis"
    assert ["started at event", str(faults[0][2])] == faults[0][6][:2]  # a history without times


def test_porcupine_formats_carry_no_fault() -> None:
    assert read_history(ROOT / "porcupine/jepsen/etcd_000.log").faults == ()
    assert read_history(ROOT / "porcupine/kv/c01-ok.txt", model=get_model("kv")).faults == ()


# ---------------------------------------------------------------------------------------
# Reports


def _data_block(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    assert found is not None
    return json.loads(found.group(1))


def test_check_report_draws_the_fault_band(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "h.jsonl", with_faults(BAD_OPS))
    report = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["check", str(path), "--model", "cas-register", "--report", str(report)])
    assert result.exit_code == 1, result.output
    page = report.read_text()
    faults = _data_block(page)["faults"]
    assert [(f[0], f[1], f[2], f[3], f[4]) for f in faults] == [
        (0, "partition", 5, 23, "partition isolate-leader: 3 | 1 2"),
        (1, "crash", 30, 30, "crash 2"),
    ]
    assert "2 faults" in page and "<td>partition isolate-leader: 3 | 1 2</td>" in page
    assert "partition fault" in page and "crash fault" in page  # the legend


def test_hostile_fault_strings_are_escaped(tmp_path: Path) -> None:
    records = with_faults(GOOD_OPS)
    records[1] = {**records[1], "kind": EVIL, "shape": EVIL_IMG, "nodes": [EVIL_IMG]}
    path = write_lines(tmp_path / "h.jsonl", records)
    report = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["check", str(path), "--model", "cas-register", "--report", str(report)])
    assert result.exit_code == 0, result.output
    page = report.read_text()
    assert page.count("<script") == 2 and page.count("</script>") == 2
    assert "<img" not in page
    assert "&lt;/script&gt;&lt;script&gt;" in page  # shown, as text
    assert _data_block(page)["faults"][0][1] == EVIL  # and the data keeps it whole


# ---------------------------------------------------------------------------------------
# A run folder whose trace holds no fault: the history's fault lines


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("run") / "run"
    api.run(dataclasses.replace(shortened("partition-leader", 14000, 3000), seed=1), folder)
    return folder


def _faults_moved_to_the_history(run: Path, folder: Path) -> Path:
    """A copy of `run` as a real cluster's run would be: no fault in its trace, the faults
    as fault lines in its history, on the operations' clock."""
    folder.mkdir()
    for name in ("scenario.toml", "verdict.json"):
        (folder / name).write_bytes((run / name).read_bytes())
    trace = (run / "trace.jsonl").read_text().splitlines(keepends=True)
    is_fault = re.compile(r'"ev":"(fault|heal)"')
    (folder / "trace.jsonl").write_text("".join(line for line in trace if not is_fault.search(line)))
    events = [json.loads(line) for line in trace if is_fault.search(line)]
    placed = [(record["time"], 1, record) for record in map(json.loads, (run / "history.jsonl").open())]
    for event in events:
        settings = {name: value for name, value in event.items() if name not in ("t", "ev", "id", "local_us")}
        line = {"time": event["t"], "process": "nemesis", "type": event["ev"], "fault": event["id"], **settings}
        placed.append((event["t"], 0, line))
    placed.sort(key=lambda item: (item[0], item[1]))
    lines = [{"index": n} | {k: v for k, v in line.items() if k != "index"} for n, (_, _, line) in enumerate(placed)]
    write_lines(folder / "history.jsonl", lines)
    return folder


def test_report_of_a_run_draws_faults_from_the_history_when_the_trace_has_none(good_run: Path, tmp_path: Path) -> None:
    moved = _faults_moved_to_the_history(good_run, tmp_path / "moved")
    assert '"ev":"fault"' not in (moved / "trace.jsonl").read_text()
    expected = timeline_from_run(good_run).faults
    assert expected and timeline_from_run(moved).faults == expected  # labels, records, ids: the same
    result = CliRunner().invoke(cli, ["report", str(moved), "--messages", "none", "--no-png"])
    assert result.exit_code == 0, result.output
    faults = _data_block((moved / "report.html").read_text())["faults"]
    assert [f[4] for f in faults] == [span.label for span in expected]


def test_a_trace_with_faults_is_drawn_from_alone(good_run: Path, tmp_path: Path) -> None:
    both = _faults_moved_to_the_history(good_run, tmp_path / "both")
    (both / "trace.jsonl").write_bytes((good_run / "trace.jsonl").read_bytes())
    assert timeline_from_run(both).faults == timeline_from_run(good_run).faults
