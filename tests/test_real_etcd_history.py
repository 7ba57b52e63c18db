"""Histories recorded from a real etcd 3.4 hold the `etcd` model to reality.

`benchmarks/record_etcd.py` drives a single-member etcd for a few seconds with three
clients of each etcd workload, through etcd's JSON gateway; the `etcd` model and the
revisions checker must find what etcd did valid, and must stop finding it valid once one
of etcd's answers is changed. A recording of three members, the leader killed and
restarted mid-run, is kept under tests/testdata/etcd/ and checked as well.

`.ci/run` installs etcd and sets RAFTSIM_REQUIRE_ETCD=1; elsewhere, without etcd, the
recordings are skipped with the reason (the kept recording is checked everywhere).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from click.testing import CliRunner

from raftsim.cli import cli

ROOT = Path(__file__).resolve().parent.parent
RECORDER = ROOT / "benchmarks" / "record_etcd.py"
KEPT = ROOT / "tests" / "testdata" / "etcd" / "real-etcd-3-members-kubernetes.jsonl"
KINDS = {"etcd": {"range", "put", "delete", "txn", "compact"}, "kubernetes": {"range", "txn", "compact"}}
"""The operations each workload issues (Kubernetes puts and deletes only inside guarded txns)."""
SECONDS = 4.0


def _recorder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("record_etcd", RECORDER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


RECORD = _recorder()


def _etcd_binary() -> str:
    found: str | None = RECORD.etcd_binary()
    if found:
        return found
    if os.environ.get("RAFTSIM_REQUIRE_ETCD") == "1":
        pytest.fail("no etcd found, and RAFTSIM_REQUIRE_ETCD=1 requires it (apt-get install etcd-server)")
    pytest.skip("no etcd on this machine (apt-get install etcd-server); CI runs this test")


@pytest.fixture(scope="module", params=sorted(KINDS))
def recorded(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    kind: str = request.param
    recording = RECORD.Recording(members=1, clients=3, seconds=SECONDS, workload=kind, seed=1)
    return kind, RECORD.record(_etcd_binary(), recording)


def _check(tmp_path: Path, lines: list[dict[str, Any]], *flags: str) -> tuple[int, str]:
    path = tmp_path / "history.jsonl"
    RECORD.write_history(lines, path)
    return _check_file(path, *flags)


def _check_file(path: Path, *flags: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["check", str(path), "--model", "etcd", "--json", *flags])
    return result.exit_code, result.output[:2000]


def _most_outstanding(lines: list[dict[str, Any]]) -> int:
    """The most operations in flight at once."""
    outstanding: set[int] = set()
    most = 0
    for line in lines:
        if line["type"] == "invoke":
            outstanding.add(line["process"])
            most = max(most, len(outstanding))
        else:
            outstanding.discard(line["process"])
    return most


def test_the_etcd_model_and_the_revisions_checker_accept_what_etcd_did(
    recorded: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    kind, lines = recorded
    assert [line["index"] for line in lines] == list(range(len(lines)))
    assert [line["time"] for line in lines] == sorted(line["time"] for line in lines)
    assert KINDS[kind] <= {line["f"] for line in lines if line["type"] == "ok"}, kind
    assert _most_outstanding(lines) > 1, "the clients never overlapped"
    code, output = _check(tmp_path, lines)
    assert code == 0, output
    assert json.loads(output)["valid"] is True
    code, output = _check(tmp_path, lines, "--checker", "revisions")
    assert code == 0, output


def _reads_with_a_value(lines: list[dict[str, Any]], past: bool) -> list[int]:
    """The index of each ok range that shows a value, of the present or (`past`) at a revision."""
    requests: dict[int, dict[str, Any]] = {}
    found = []
    for line in lines:
        if line["type"] == "invoke":
            requests[line["process"]] = line["value"]
            continue
        request = requests.pop(line["process"])
        if line["type"] != "ok" or line["f"] != "range" or bool(request.get("revision")) != past:
            continue
        if any("value" in kv for kv in line["value"].get("kvs", ())):
            found.append(line["index"])
    return found


def _with_a_changed_value(lines: list[dict[str, Any]], index: int) -> list[dict[str, Any]]:
    changed = copy.deepcopy(lines)
    kv = next(kv for kv in changed[index]["value"]["kvs"] if "value" in kv)
    kv["value"] = "never written"
    return changed


def test_a_changed_answer_of_etcd_is_found(recorded: tuple[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    """A read of the present is the model's to judge; one at a past revision, whose kvs the
    model leaves to the revisions checker (its state carries no past), is that checker's."""
    kind, lines = recorded
    present = _reads_with_a_value(lines, past=False)
    assert present, "no read saw a value"
    code, output = _check(tmp_path, _with_a_changed_value(lines, present[len(present) // 2]))
    assert code == 1, output
    past = _reads_with_a_value(lines, past=True)
    if kind == "etcd":
        assert past, "no read of the past saw a value"
    for index in past[:1]:
        code, output = _check(tmp_path, _with_a_changed_value(lines, index), "--checker", "revisions")
        assert code == 1, output


def test_a_kept_recording_of_three_members_and_a_killed_leader_is_valid() -> None:
    lines = [json.loads(line) for line in KEPT.read_text(encoding="utf-8").splitlines()]
    assert {"ok", "fail", "info"} <= {line["type"] for line in lines}
    code, output = _check_file(KEPT)
    assert code == 0, output
    code, output = _check_file(KEPT, "--checker", "revisions")
    assert code == 0, output
