"""One verdict: how verdicts combine, how `verdict.json` writes and reads them, and which exit
code each one is."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import pytest
from tests_support import shortened

from checkers.errors import InputError
from checkers.verdict import (
    HTML_REPORT,
    LINEARIZABILITY,
    PICTURE,
    RUN_SUMMARY,
    TERMINAL_REPORT,
    CheckerResult,
    RunVerdict,
    Verdict,
)
from raftsim import api, run_folder
from raftsim.cli import main

SEVERITY = (Verdict.VALID, Verdict.UNKNOWN, Verdict.INVALID)
"""A second statement of the rule, to hold `combine` against: the most severe verdict wins."""


@pytest.mark.parametrize("three", list(itertools.product(Verdict, repeat=3)))
def test_every_combination_of_three_verdicts_follows_the_rule(three: tuple[Verdict, Verdict, Verdict]) -> None:
    combined = Verdict.combine(three)
    assert combined is max(three, key=SEVERITY.index)
    if Verdict.INVALID in three:
        assert combined is Verdict.INVALID
    elif Verdict.UNKNOWN in three:
        assert combined is Verdict.UNKNOWN
    else:
        assert combined is Verdict.VALID
    assert all(Verdict.combine(order) is combined for order in itertools.permutations(three))


def test_nothing_to_combine_is_valid_and_one_verdict_is_itself() -> None:
    assert Verdict.combine([]) is Verdict.VALID
    for verdict in Verdict:
        assert Verdict.combine([verdict]) is verdict
        assert Verdict.combine(iter([verdict, Verdict.VALID])) is verdict, "any iterable, read once"


def test_a_checker_that_always_decides_is_valid_or_invalid() -> None:
    assert Verdict.holds(True) is Verdict.VALID
    assert Verdict.holds(False) is Verdict.INVALID


def test_the_json_values_round_trip_and_stay_those_of_the_documented_format() -> None:
    assert [verdict.to_json() for verdict in Verdict] == [True, False, "unknown"]
    for verdict in Verdict:
        text = json.dumps(verdict.to_json())
        assert Verdict.parse_json(json.loads(text)) is verdict
        assert Verdict.from_json(json.loads(text), "verdict.json", "valid") is verdict


@pytest.mark.parametrize("value", [1, 0, 1.0, None, "true", "false", "Unknown", "valid", [], {}, [True]])
def test_a_value_that_writes_no_verdict_is_bad_input_naming_the_field(value: object) -> None:
    assert Verdict.parse_json(value) is None
    with pytest.raises(InputError) as raised:
        Verdict.from_json(value, "run/verdict.json", "checkers.revisions.valid")
    assert str(raised.value) == 'run/verdict.json: checkers.revisions.valid: expected true, false or "unknown"'


@pytest.mark.parametrize(
    ("valid", "message"),
    [
        ("null", 'checkers.liveness.valid: expected true, false or "unknown"'),
        ("1", 'checkers.liveness.valid: expected true, false or "unknown"'),
        ('"yes"', 'checkers.liveness.valid: expected true, false or "unknown"'),
        ('"unknown", "x": 1}, "crash": {"anomalies": []', "checkers.crash.valid: missing"),
    ],
)
def test_reading_a_verdict_file_refuses_a_bad_value_in_one_line(tmp_path: Path, valid: str, message: str) -> None:
    path = tmp_path / "verdict.json"
    path.write_text('{"valid": true, "checkers": {"liveness": {"valid": ' + valid + "}}}")
    with pytest.raises(InputError) as raised:
        run_folder.read_verdict(path)
    assert str(raised.value) == f"{path}: {message}"


def test_a_report_draws_an_odd_verdict_as_unknown_instead_of_failing() -> None:
    record = {"checkers": {"odd": {"valid": 1}, "not-an-object": 3, "fine": {"valid": False, "anomalies": "x"}}}
    read = RunVerdict.from_json(record, "verdict.json", lenient=True)
    assert list(read.checkers) == ["odd", "fine"]
    assert read.checkers["odd"].verdict is Verdict.UNKNOWN
    assert read.checkers["fine"].verdict is Verdict.INVALID
    assert read.checkers["fine"].found == ()
    assert read.verdict is Verdict.INVALID
    with pytest.raises(InputError):
        RunVerdict.from_json(record, "verdict.json")


def test_a_checker_result_writes_only_the_fields_it_has_in_the_documented_order() -> None:
    linear = CheckerResult(Verdict.UNKNOWN, details={"model": "kv", "ops": 3, "ms": 1.5, "partitions": []})
    liveness = CheckerResult(Verdict.VALID, anomalies=(), stats={"leader": 1})
    safety = CheckerResult(Verdict.INVALID, anomalies=({"property": "p", "message": "m"},), groups=(), stats={})
    crash = CheckerResult(Verdict.INVALID, anomalies=({"property": "crash"},), note="why")
    assert list(linear.to_json()) == ["valid", "model", "ops", "ms", "partitions"]
    assert list(liveness.to_json()) == ["valid", "anomalies", "stats"]
    assert list(safety.to_json()) == ["valid", "anomalies", "groups", "stats"]
    assert list(crash.to_json()) == ["valid", "anomalies", "note"]
    verdict = RunVerdict({"crash": crash, "linearizability": linear, "raft-safety": safety, "liveness": liveness}, "ab")
    text = verdict.file_text()
    assert json.loads(text)["valid"] is False
    assert text.endswith("}\n")
    again = RunVerdict.from_json(json.loads(text), "verdict.json")
    assert again == verdict
    assert again.file_text() == text


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, api.RunOutcome]:
    folder = tmp_path_factory.mktemp("verdict") / "run"
    return folder, api.run(shortened("pause", duration_ms=2000, quiet_ms=2000), folder)


def test_the_verdict_file_of_a_real_run_reads_back_byte_for_byte(clean_run: tuple[Path, api.RunOutcome]) -> None:
    folder, outcome = clean_run
    written = (folder / "verdict.json").read_text()
    read = run_folder.read_verdict(folder / "verdict.json")
    assert read.file_text() == written == outcome.verdict.file_text()
    assert read.verdict is outcome.verdict.verdict
    assert list(read.checkers) == [
        "invariants",
        "linearizability",
        "raft-safety",
        "effects",
        "liveness",
        "node-progress",
        "revisions",
        "disruption",
    ]


def test_each_verdict_has_its_exit_code() -> None:
    assert {verdict: verdict.exit_code for verdict in Verdict} == {
        Verdict.VALID: 0,
        Verdict.INVALID: 1,
        Verdict.UNKNOWN: 3,
    }
    assert [verdict.word for verdict in Verdict] == ["valid", "anomaly", "unknown"]


@pytest.mark.parametrize("verdict", list(Verdict))
def test_report_exits_with_the_verdict_its_file_holds(
    tmp_path: Path, clean_run: tuple[Path, api.RunOutcome], verdict: Verdict
) -> None:
    folder = tmp_path / verdict.value
    shutil.copytree(clean_run[0], folder)
    record = json.loads((folder / "verdict.json").read_text())
    record["checkers"]["revisions"]["valid"] = verdict.to_json()
    (folder / "verdict.json").write_text(json.dumps(record))
    with pytest.raises(SystemExit) as stopped:
        main(["report", str(folder), "--terminal"])
    assert stopped.value.code == verdict.exit_code


@pytest.mark.parametrize("wording", [RUN_SUMMARY, TERMINAL_REPORT, HTML_REPORT, PICTURE, LINEARIZABILITY])
def test_every_view_tells_the_three_verdicts_apart(wording: object) -> None:
    words = [wording.word(verdict) for verdict in Verdict]  # type: ignore[attr-defined]
    assert len(set(words)) == 3, words
    assert all(words), words
