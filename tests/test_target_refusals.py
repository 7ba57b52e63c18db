"""What `--target etcd` refuses before any member starts, and how a verdict says what a
real cluster could not be judged by. No etcd is needed: every case ends before one runs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from checkers.verdict import CheckerResult, RunVerdict, Verdict
from raftsim.cli import cli
from scenarios.loader import load
from targets.etcd.nemesis import problems


def _run(tmp_path: Path, *arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["run", *arguments, "--out", str(tmp_path / "out"), "--no-report"])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (("clock-skew", "--target", "etcd", "--etcd", "/bin/true"), "clock faults are not possible"),
        (("slow-disk", "--target", "etcd", "--etcd", "/bin/true"), "disk faults are not possible"),
        (("partition-leader", "--members", "3"), "--members: needs --target etcd"),
        (("partition-leader", "--etcd", "/usr/bin/etcd"), "--etcd: needs --target etcd"),
        (("partition-leader", "--target", "etcd", "--etcd", "/no/such/etcd"), "no etcd binary there"),
        (("partition-leader", "--target", "etcd", "--bug", "quorum-half"), "planted bugs are the simulator's"),
        (("partition-leader", "--target", "etcd", "--members", "4", "--etcd", "/bin/true"), "1, 3 or 5 members"),
    ],
)
def test_refused_in_one_line_before_any_member_starts(tmp_path: Path, arguments: tuple[str, ...], words: str) -> None:
    code, output = _run(tmp_path, *arguments)
    assert code == 2, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("raftsim:"), output
    assert words in lines[0], output
    assert "Traceback" not in output
    assert not (tmp_path / "out").exists()


def test_each_fault_a_real_cluster_cannot_undergo_is_named_by_its_field() -> None:
    assert problems(load("partition-leader")) == []
    assert problems(load("pause")) == []
    found = dict(problems(load("clock-skew")))
    assert all(field.startswith("faults[") and field.endswith(".kind") for field in found), found
    plain = load("partition-leader")
    triggered = dataclasses.replace(plain, faults=(dataclasses.replace(plain.faults[0], after="leader"),))
    assert [field for field, _ in problems(triggered)] == ["faults[0].after"]
    lossy = dataclasses.replace(plain, faults=(dataclasses.replace(plain.faults[0], kind="link", duplicate=0.1),))
    assert [field for field, _ in problems(lossy)] == ["faults[0].duplicate"]


def test_not_judged_round_trips_and_stays_out_of_simulated_verdicts() -> None:
    plain = RunVerdict({"linearizability": CheckerResult(Verdict.VALID)}, "abc")
    assert "not_judged" not in plain.to_json()  # a simulated run's verdict.json is as before
    real = RunVerdict({"linearizability": CheckerResult(Verdict.VALID)}, "abc", {"raft-safety": "no trace"})
    record = json.loads(real.file_text())
    assert record["not_judged"] == {"raft-safety": "no trace"}
    again = RunVerdict.from_json(record, "verdict.json")
    assert again.not_judged == {"raft-safety": "no trace"}
    assert again.verdict is Verdict.VALID  # what was not judged is said, not counted as passed or failed
