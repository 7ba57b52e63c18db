"""The etcd checkers against raftcore's own etcd store, an implementation written apart
from them: what it answers to random requests is judged right, and each of its planted
data bugs is found."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from etcd_histories import Recorder
from test_etcd_model_random import random_request

from checkers.history import FUNCTIONS, read_history_jsonl
from checkers.linearizability import check_history_file
from checkers.models import get_model
from checkers.revisions import check_revisions
from checkers.verdict import Verdict
from raftcore.bugs import COMPACT_DROPS_LATEST, DELETE_KEEPS_VERSION, RANGE_PAST_READS_CURRENT
from raftcore.etcd import EtcdError, request_from_json, response_to_json
from raftcore.mvcc import MVCCStore


def raftcore_history(seed: int, length: int, bugs: frozenset[str] = frozenset()) -> Recorder:
    """One client's requests to raftcore's store, answered in turn."""
    chooser = random.Random(seed)
    store = MVCCStore(bugs=bugs)
    history = Recorder()
    for _ in range(length):
        f, request = random_request(chooser, store)  # type: ignore[arg-type]
        history.invoke(0, f, request)
        try:
            history.ok(0, f, response_to_json(store.execute(request_from_json(f, request))))
        except EtcdError as error:
            history.fail(0, f, str(error))
    return history


def verdicts(path: Path) -> tuple[Verdict, Verdict]:
    model = get_model("etcd")
    events = read_history_jsonl(path, functions=frozenset(FUNCTIONS) | model.functions, model=model)
    return check_history_file(path, "etcd", budget_s=60).verdict, check_revisions(events).verdict


@pytest.mark.parametrize("seed", range(12))
def test_raftcores_answers_are_judged_right(tmp_path: Path, seed: int) -> None:
    path = raftcore_history(seed, 60).write(tmp_path / "history.jsonl")
    assert verdicts(path) == (Verdict.VALID, Verdict.VALID)


@pytest.mark.parametrize("bug", [RANGE_PAST_READS_CURRENT, DELETE_KEEPS_VERSION, COMPACT_DROPS_LATEST])
def test_each_planted_data_bug_of_raftcore_is_found(tmp_path: Path, bug: str) -> None:
    found: list[Any] = []
    for seed in range(40):
        path = raftcore_history(seed, 60, frozenset({bug})).write(tmp_path / f"history-{seed}.jsonl")
        judged = verdicts(path)
        if Verdict.INVALID in judged:
            found.append((seed, judged))
            break
    assert found, f"{bug} went unnoticed in 40 histories"
