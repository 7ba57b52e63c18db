"""The revisions checker on etcd histories: what the reference store answered is
consistent, whatever the interleaving and the calls of unknown outcome; each class of
inconsistency among kvs, versions and revisions is found; `raftsim check --checker
revisions` answers with the usual exit codes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from etcd_histories import Recorder, kv
from hypothesis import given, settings
from hypothesis import strategies as st
from test_etcd_model_random import concurrent_history

from checkers.history import FUNCTIONS, read_history_jsonl
from checkers.models import get_model
from checkers.revisions import check_revisions
from checkers.verdict import CheckerResult, Verdict


def revisions(tmp_path: Path, history: Recorder) -> CheckerResult:
    path = history.write(tmp_path / "history.jsonl")
    model = get_model("etcd")
    return check_revisions(read_history_jsonl(path, functions=frozenset(FUNCTIONS) | model.functions, model=model))


def assert_found(result: CheckerResult, prop: str, words: str) -> None:
    assert result.verdict is Verdict.INVALID
    messages = [f"{anomaly['property']}: {anomaly['message']}" for anomaly in result.found]
    assert any(message.startswith(prop) and words in message for message in messages), messages


def put(history: Recorder, process: int, key: str, value: str, revision: int) -> None:
    history.call(process, "put", {"key": key, "value": value}, {"header": {"revision": revision}})


def read(history: Recorder, process: int, request: dict[str, Any], revision: int, *kvs: dict[str, Any]) -> None:
    response: dict[str, Any] = {"header": {"revision": revision}}
    if kvs:
        response.update(kvs=list(kvs), count=len(kvs))
    history.call(process, "range", request, response)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(0, 2**32), st.integers(1, 60), st.integers(1, 5), st.sampled_from([0.0, 0.1, 0.3]))
def test_what_the_reference_answered_is_consistent(
    tmp_path_factory: Any, seed: int, length: int, clients: int, pending: float
) -> None:
    history = concurrent_history(seed, length, clients, pending)
    result = revisions(tmp_path_factory.mktemp("etcd"), history)
    assert result.verdict is Verdict.VALID, result.found


def test_a_stale_read_at_a_past_revision_is_found(tmp_path: Path) -> None:
    history = Recorder()
    put(history, 0, "a", "1", 2)
    put(history, 0, "a", "2", 3)
    put(history, 0, "b", "x", 4)
    read(history, 1, {"key": "a", "revision": 3}, 4, kv("a", "1", 2, 2, 1))
    assert_found(revisions(tmp_path, history), "read-revision", 'but put(a, "2") @3')


def test_a_key_missing_from_a_past_read_is_found(tmp_path: Path) -> None:
    history = Recorder()
    put(history, 0, "a", "1", 2)
    put(history, 0, "b", "x", 3)
    read(history, 1, {"key": "a", "range_end": "z", "revision": 2}, 3)
    assert_found(revisions(tmp_path, history), "read-revision", "did not show a")


def test_a_key_missing_where_a_pending_write_may_have_deleted_it_is_not_judged(tmp_path: Path) -> None:
    history = Recorder()
    put(history, 0, "a", "1", 2)
    history.invoke(2, "delete", {"key": "a"})
    history.info(2, "delete")
    put(history, 0, "b", "x", 4)  # revision 3 may be the pending delete's
    read(history, 1, {"key": "a", "range_end": "z"}, 4, kv("b", "x", 4, 4, 1))
    assert revisions(tmp_path, history).verdict is Verdict.VALID


def test_a_kv_modified_after_the_revision_read_is_found(tmp_path: Path) -> None:
    history = Recorder()
    put(history, 0, "a", "1", 2)
    put(history, 0, "a", "2", 3)
    read(history, 1, {"key": "a", "revision": 2}, 3, kv("a", "2", 2, 3, 2))
    assert_found(revisions(tmp_path, history), "read-revision", "modified later")


def test_two_kvs_of_one_revision_that_differ_are_found(tmp_path: Path) -> None:
    history = Recorder()
    put(history, 0, "a", "1", 2)
    read(history, 1, {"key": "a"}, 2, kv("a", "1", 2, 2, 1))
    read(history, 2, {"key": "a"}, 2, kv("a", "one", 2, 2, 1))
    assert_found(revisions(tmp_path, history), "kv-version", "for the same mod_revision")


def test_a_version_that_skips_within_a_generation_is_found(tmp_path: Path) -> None:
    history = Recorder()
    put(history, 0, "a", "1", 2)
    put(history, 0, "a", "2", 3)
    read(history, 1, {"key": "a"}, 2, kv("a", "1", 2, 2, 1))
    read(history, 1, {"key": "a"}, 3, kv("a", "2", 2, 3, 3))
    assert_found(revisions(tmp_path, history), "kv-version", "its version grew by 2")


def test_a_created_kv_whose_version_is_not_one_is_found(tmp_path: Path) -> None:
    history = Recorder()
    put(history, 0, "a", "1", 2)
    read(history, 1, {"key": "a"}, 2, kv("a", "1", 2, 2, 2))
    assert_found(revisions(tmp_path, history), "kv-version", "version 1 is the version of a key's creation")


def test_a_kv_made_by_a_write_of_another_key_is_found(tmp_path: Path) -> None:
    history = Recorder()
    put(history, 0, "a", "1", 2)
    read(history, 1, {"key": "b"}, 2, kv("b", "1", 2, 2, 1))
    assert_found(revisions(tmp_path, history), "kv-version", "which did not write b")


def test_a_header_revision_that_goes_back_is_found(tmp_path: Path) -> None:
    history = Recorder()
    put(history, 0, "a", "1", 2)
    read(history, 0, {"key": "b"}, 1)
    assert_found(revisions(tmp_path, history), "revision-monotonic", "reported revision 1")


def test_two_writes_reporting_one_revision_are_found(tmp_path: Path) -> None:
    history = Recorder()
    put(history, 0, "a", "1", 2)
    history.call(1, "delete", {"key": "a"}, {"header": {"revision": 2}, "deleted": 1})
    assert_found(revisions(tmp_path, history), "revision-unique", "revision reused")


def run_main(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    from raftsim.cli import main

    with pytest.raises(SystemExit) as exited:
        main(list(arguments))
    output = capsys.readouterr()
    assert isinstance(exited.value.code, int)
    return exited.value.code, output.out, output.err


@pytest.mark.parametrize("consistent", [True, False])
def test_raftsim_check_runs_the_revisions_checker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], consistent: bool
) -> None:
    history = Recorder()
    put(history, 0, "a", "1", 2)
    put(history, 0, "a", "2", 3)
    shown = kv("a", "2", 2, 3, 2) if consistent else kv("a", "1", 2, 2, 1)
    read(history, 1, {"key": "a", "revision": 3}, 3, shown)
    path = history.write(tmp_path / "history.jsonl")
    code, out, err = run_main(capsys, "check", str(path), "--model", "etcd", "--checker", "revisions")
    assert code == (0 if consistent else 1), err
    assert out.startswith("revisions: NOT consistent" if not consistent else "revisions: consistent"), out
    code, out, err = run_main(capsys, "check", str(path), "--model", "etcd", "--checker", "revisions", "--json")
    assert code == (0 if consistent else 1), err
    assert out.startswith('{"valid": ' + ("true" if consistent else "false")), out


def test_raftsim_check_revisions_refuses_bad_input_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.jsonl"
    history = Recorder()
    history.invoke(0, "range", {"key": "a", "revision": -3})
    history.write(path)
    code, _, err = run_main(capsys, "check", str(path), "--model", "etcd", "--checker", "revisions")
    assert code == 2
    assert err.count("\n") == 1, err
    assert "value.revision: must not be negative" in err


def test_a_mod_revision_that_goes_back_is_found(tmp_path: Path) -> None:
    history = Recorder()
    history.invoke(0, "put", {"key": "a", "value": "1"})
    history.info(0, "put")  # its revision is known only from the reads
    put(history, 1, "a", "0", 2)
    read(history, 2, {"key": "a"}, 3, kv("a", "1", 2, 3, 2))
    read(history, 2, {"key": "a"}, 3, kv("a", "0", 2, 2, 1))
    assert_found(revisions(tmp_path, history), "read-revision", "had shown a with mod_revision 3")
