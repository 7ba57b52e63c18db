"""The watch checker on hand-built streams: a good one passes, and each guarantee broken
on its own is named; `watch.jsonl` that breaks its schema is refused naming line and field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from etcd_histories import Recorder, kv

from checkers.errors import InputError
from checkers.history import Event
from checkers.watch import check_watch
from checkers.watch_file import parse_watch_lines

Record = dict[str, Any]


def history() -> list[Event]:
    """a=1 @2, b=1 @3, a=2 and b=2 in one txn @4, a deleted @5."""
    recorder = Recorder()
    recorder.call(0, "put", {"key": "a", "value": "1"}, {"header": {"revision": 2}})
    recorder.call(0, "put", {"key": "b", "value": "1"}, {"header": {"revision": 3}})
    recorder.call(
        0,
        "txn",
        {"success": [{"request_put": {"key": "a", "value": "2"}}, {"request_put": {"key": "b", "value": "2"}}]},
        {"header": {"revision": 4}, "succeeded": True, "responses": [{"response_put": {}}, {"response_put": {}}]},
    )
    recorder.call(0, "delete", {"key": "a"}, {"header": {"revision": 5}, "deleted": 1})
    return [Event(**line) for line in recorder.lines]


def put(key: str, value: str, create: int, mod: int, version: int, prev: Record | None = None) -> Record:
    event = {"type": "PUT", "kv": kv(key, value, create, mod, version)}
    return event if prev is None else {**event, "prev_kv": prev}


def delete(key: str, mod: int, prev: Record | None = None) -> Record:
    event = {"type": "DELETE", "kv": {"key": key, "mod_revision": mod}}
    return event if prev is None else {**event, "prev_kv": prev}


A2 = put("a", "1", 2, 2, 1)
B3 = put("b", "1", 3, 3, 1)
A4 = put("a", "2", 2, 4, 2, prev=kv("a", "1", 2, 2, 1))
B4 = put("b", "2", 3, 4, 2, prev=kv("b", "1", 3, 3, 1))
A5 = delete("a", 5, prev=kv("a", "2", 2, 4, 2))


def watch(start: int = 2, number: int = 1, watcher: int = 0, **request: Any) -> Record:
    body = {"key": "a", "range_end": "c", "start_revision": start, "prev_kv": True, **request}
    return {"ev": "watch", "watcher": watcher, "member": 1, "stream": number, "watch": number, "create_request": body}


def response(revision: int, *events: Record, number: int = 1, watcher: int = 0, **flags: Any) -> Record:
    result: Record = {"header": {"revision": revision}, "watch_id": number}
    if events:
        result["events"] = list(events)
    progress = {"progress": True} if flags.pop("progress", False) else {}
    result.update(flags)
    return {
        "ev": "response",
        "watcher": watcher,
        "member": 1,
        "stream": number,
        "watch": number,
        "result": result,
        **progress,
    }


GOOD = [
    watch(),
    response(5, created=True),
    response(2, A2),
    response(3, B3),
    response(4, A4, B4),
    response(5, A5),
    response(5, progress=True),
]


def judged(records: list[Record]) -> dict[str, int]:
    lines = [(number, json.dumps({"t": number, **record}) + "\n") for number, record in enumerate(records, 1)]
    result = check_watch(parse_watch_lines(lines, "watch.jsonl"), history())
    counts: dict[str, int] = result.stats["anomaly_counts"]
    return {name: count for name, count in counts.items() if count}


def test_a_good_stream_passes() -> None:
    assert judged(GOOD) == {}


def test_a_resumed_watch_after_the_last_revision_passes() -> None:
    resumed = [*GOOD[:4], watch(start=4, number=2), response(5, created=True, number=2)]
    resumed += [response(4, A4, B4, number=2), response(5, A5, number=2)]
    assert judged(resumed) == {}


def test_ordered() -> None:
    assert "ordered" in judged([*GOOD[:2], GOOD[3], GOOD[2], *GOOD[4:]])


def test_unique_and_resumable_when_a_resume_repeats_the_last_revision() -> None:
    resumed = [*GOOD[:5], watch(start=5, number=2), response(5, created=True, number=2)]
    resumed += [response(4, A4, B4, number=2), response(5, A5, number=2)]
    found = judged(resumed)
    assert {"unique", "resumable"} <= set(found)


def test_atomic_split_revision() -> None:
    assert "atomic" in judged([*GOOD[:4], response(4, A4), response(4, B4), *GOOD[5:]])


def test_atomic_missing_part_of_a_revision() -> None:
    assert judged([*GOOD[:4], response(4, A4), *GOOD[5:]]) == {"atomic": 1}


def test_bookmarkable() -> None:
    found = judged([*GOOD[:4], response(4, progress=True), *GOOD[4:]])
    assert found == {"bookmarkable": 2}


def test_reliable_gap() -> None:
    assert judged([*GOOD[:3], *GOOD[4:]]) == {"reliable": 1}


def test_in_range() -> None:
    outside = put("z", "1", 3, 3, 1)
    assert "in-range" in judged([*GOOD[:3], response(3, B3, outside), *GOOD[4:]])


def test_filters_are_in_range_too() -> None:
    no_delete = [watch(filters=["NODELETE"]), *GOOD[1:]]
    assert "in-range" in judged(no_delete)
    assert judged([no_delete[0], *GOOD[1:5], GOOD[6]]) == {}


def test_matches_history() -> None:
    wrong = put("a", "9", 2, 2, 1)
    assert "matches-history" in judged([GOOD[0], GOOD[1], response(2, wrong), *GOOD[3:]])


def test_two_watches_disagreeing_is_matches_history() -> None:
    other = [watch(watcher=1), response(5, created=True, watcher=1), response(3, put("b", "7", 3, 3, 1), watcher=1)]
    assert "matches-history" in judged([*GOOD, *other])


def test_prev_kv_wrong_value_and_missing() -> None:
    wrong = put("a", "2", 2, 4, 2, prev=kv("a", "0", 2, 2, 1))
    assert "prev-kv" in judged([*GOOD[:4], response(4, wrong, B4), *GOOD[5:]])
    missing = put("a", "2", 2, 4, 2)
    assert "prev-kv" in judged([*GOOD[:4], response(4, missing, B4), *GOOD[5:]])


def test_prev_kv_not_asked_for() -> None:
    assert "prev-kv" in judged([watch(prev_kv=False), *GOOD[1:]])


def test_is_create() -> None:
    not_a_creation = put("a", "1", 1, 2, 1)
    assert "is-create" in judged([GOOD[0], GOOD[1], response(2, not_a_creation), *GOOD[3:]])
    tombstone = {"type": "DELETE", "kv": kv("a", "", 2, 5, 3), "prev_kv": kv("a", "2", 2, 4, 2)}
    assert "is-create" in judged([*GOOD[:5], response(5, tombstone), GOOD[6]])


def informer(kvs: list[Record], revision: int) -> list[Record]:
    listed = {"ev": "list", "watcher": 0, "member": 1, "revision": revision, "kvs": kvs}
    return [listed, watch(start=revision + 1), response(5, created=True), response(4, A4, B4), response(5, A5)]


def test_informer_cache_good_and_missing_an_object() -> None:
    assert judged(informer([kv("a", "1", 2, 2, 1), kv("b", "1", 3, 3, 1)], 3)) == {}
    assert judged(informer([kv("a", "1", 2, 2, 1)], 3)) == {"informer-cache": 1}


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"ev": "nonsense", "watcher": 0}, "ev"),
        (
            {"ev": "watch", "watcher": 0, "member": 1, "stream": 1, "watch": 1, "create_request": {"key": ""}},
            "create_request.key",
        ),
        ({**watch(), "create_request": {"key": "a", "filters": ["NOPE"]}}, "create_request.filters"),
        ({"ev": "response", "watcher": 0, "member": 1, "stream": 1, "watch": 9, "result": {"header": {}}}, "watch"),
        ({"ev": "watch", "watcher": -1}, "watcher"),
    ],
)
def test_bad_lines_are_refused_naming_line_and_field(record: Record, field: str) -> None:
    lines = [(1, json.dumps({"t": 0, **watch()}) + "\n"), (2, json.dumps({"t": 1, **record}) + "\n")]
    with pytest.raises(InputError) as error:
        parse_watch_lines(lines, "watch.jsonl")
    assert (error.value.path, error.value.line, error.value.field) == ("watch.jsonl", 2, field)


def test_a_bad_event_and_time_going_back_are_refused() -> None:
    bad_event = response(2, {"type": "UPDATE", "kv": kv("a", "1", 2, 2, 1)})
    lines = [(1, json.dumps({"t": 0, **watch()})), (2, json.dumps({"t": 1, **bad_event}))]
    with pytest.raises(InputError, match=r"watch.jsonl:2: result.events\[0\].type"):
        parse_watch_lines(lines, "watch.jsonl")
    backwards = [(1, json.dumps({"t": 5, **watch()})), (2, json.dumps({"t": 1, **response(5, created=True)}))]
    with pytest.raises(InputError, match=r"watch\.jsonl:2: t: time went backwards"):
        parse_watch_lines(backwards, "watch.jsonl")


def test_a_watch_from_a_compaction_revision_is_excused_the_deletion_compacted_there() -> None:
    """etcd's compaction at r keeps no tombstone at r, so a watch from r cannot deliver that
    delete; without a compaction at r the same silence is a gap."""
    from_five = [watch(start=5), response(5, created=True), response(5, progress=True)]
    assert judged(from_five) == {"reliable": 1}
    recorder = Recorder()
    recorder.call(1, "compact", {"revision": 5}, {"header": {"revision": 5}})
    compacted = [*history(), *(Event(**{**line, "index": line["index"] + 8}) for line in recorder.lines)]
    lines = [(number, json.dumps({"t": number, **record}) + "\n") for number, record in enumerate(from_five, 1)]
    result = check_watch(parse_watch_lines(lines, "watch.jsonl"), compacted)
    assert result.verdict.value == "valid", result.anomalies
