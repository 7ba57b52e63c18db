"""raftcore's watch: catch-up from the store, live events as entries apply, progress,
compaction, prev_kv, filters, is_create, the event JSON, and both planted bugs."""

from __future__ import annotations

from typing import Any

from mvcc_support import ask, lone_leader, settle

from raftcore.bugs import WATCH_SPLIT_DROPS_REVISION, WATCH_START_REPEATS_LAST
from raftcore.etcd import request_from_json
from raftcore.mvcc import MVCCStore
from raftcore.server import Request
from raftcore.watch import (
    MAX_EVENTS_PER_RESPONSE,
    ProgressRequest,
    WatchCreate,
    WatchHub,
    WatchRequest,
    WatchResponse,
)
from raftcore.watch import request_from_json as watch_request_from_json
from raftcore.watch import request_to_json as watch_request_to_json

PREFIX, PREFIX_END = "/p/", "/p0"


def run(store: MVCCStore, kind: str, **body: Any) -> None:
    store.execute(request_from_json(kind, body))


def watch(hub: WatchHub, start: int = 0, watch_id: int = 1, **options: Any) -> list[WatchResponse]:
    request = WatchRequest(PREFIX, PREFIX_END, start, **options)
    return hub.create(WatchCreate("w0", 0, watch_id, request))


def events(responses: list[WatchResponse]) -> list[tuple[str, str, int]]:
    return [(event.type, event.kv.key, event.kv.mod_revision) for r in responses for event in r.events]


def test_catch_up_then_live_events_in_revision_order() -> None:
    store = MVCCStore()
    hub = WatchHub(1, store)
    run(store, "put", key="/p/a", value="1")  # 2
    run(store, "put", key="/q", value="x")  # 3: outside the prefix
    run(store, "put", key="/p/b", value="2")  # 4
    caught = watch(hub, start=2)
    assert caught[0].created and caught[0].revision == 4
    assert events(caught[1:]) == [("PUT", "/p/a", 2), ("PUT", "/p/b", 4)]
    run(store, "delete", key="/p/a")  # 5
    live = hub.after_apply()
    assert events(live) == [("DELETE", "/p/a", 5)]
    assert hub.after_apply() == [], "nothing is sent twice"
    sequences = [r.sequence for r in caught + live]
    assert sequences == list(range(len(sequences))), "one stream, numbered in order"


def test_a_watch_from_now_sees_only_later_revisions() -> None:
    store = MVCCStore()
    run(store, "put", key="/p/a", value="1")
    hub = WatchHub(1, store)
    assert events(watch(hub)) == []
    run(store, "put", key="/p/a", value="2")
    assert events(hub.after_apply()) == [("PUT", "/p/a", 3)]


def test_all_events_of_a_revision_share_a_response_even_past_the_limit() -> None:
    store = MVCCStore()
    hub = WatchHub(1, store)
    watch(hub)
    for index in range(MAX_EVENTS_PER_RESPONSE + 2):
        run(store, "put", key=f"/p/{index}", value="v")
    run(store, "delete", key=PREFIX, range_end=PREFIX_END)  # one revision, many events
    responses = hub.after_apply()
    deleted = store.revision
    by_revision: dict[int, set[int]] = {}
    for number, response in enumerate(responses):
        assert len(response.events) <= MAX_EVENTS_PER_RESPONSE or {e.kv.mod_revision for e in response.events} == {
            deleted
        }
        for event in response.events:
            by_revision.setdefault(event.kv.mod_revision, set()).add(number)
    assert all(len(numbers) == 1 for numbers in by_revision.values())
    assert len(events(responses)) == 2 * (MAX_EVENTS_PER_RESPONSE + 2)


def test_planted_split_drops_the_rest_of_a_revision() -> None:
    store = MVCCStore()
    hub = WatchHub(1, store, frozenset({WATCH_SPLIT_DROPS_REVISION}))
    watch(hub)
    for index in range(MAX_EVENTS_PER_RESPONSE + 2):
        run(store, "put", key=f"/p/{index}", value="v")
    run(store, "delete", key=PREFIX, range_end=PREFIX_END)
    seen = events(hub.after_apply())
    assert len(seen) < 2 * (MAX_EVENTS_PER_RESPONSE + 2)


def test_prev_kv_is_create_and_tombstones() -> None:
    store = MVCCStore()
    hub = WatchHub(1, store)
    run(store, "put", key="/p/a", value="1")  # 2
    run(store, "put", key="/p/a", value="2")  # 3
    run(store, "delete", key="/p/a")  # 4
    run(store, "put", key="/p/a", value="3")  # 5
    found = [e for r in watch(hub, start=2, prev_kv=True) for e in r.events]
    assert [e.is_create for e in found] == [True, False, False, True]
    assert [None if e.prev_kv is None else e.prev_kv.value for e in found] == [None, "1", "2", None]
    tombstone = found[2].kv
    assert (tombstone.key, tombstone.create_revision, tombstone.mod_revision, tombstone.version) == ("/p/a", 0, 4, 0)
    body = found[2]
    assert WatchResponse("w0", 0, 0, 1, 1, 4, (body,)).to_json()["events"] == [
        {
            "type": "DELETE",
            "kv": {"key": "/p/a", "value": "", "create_revision": 0, "mod_revision": 4, "version": 0},
            "prev_kv": {"key": "/p/a", "value": "2", "create_revision": 2, "mod_revision": 3, "version": 2},
        }
    ]


def test_filters_leave_out_puts_or_deletions() -> None:
    store = MVCCStore()
    run(store, "put", key="/p/a", value="1")
    run(store, "delete", key="/p/a")
    hub = WatchHub(1, store)
    assert events(watch(hub, start=2, watch_id=1, filters=("NOPUT",))) == [("DELETE", "/p/a", 3)]
    assert events(watch(hub, start=2, watch_id=2, filters=("NODELETE",))) == [("PUT", "/p/a", 2)]


def test_a_start_below_the_compaction_is_canceled_with_its_revision() -> None:
    store = MVCCStore()
    for value in "123":
        run(store, "put", key="/p/a", value=value)
    run(store, "compact", revision=3)
    hub = WatchHub(1, store)
    created, canceled = watch(hub, start=2)
    assert created.created and canceled.canceled and canceled.compact_revision == 3
    assert len(hub) == 0
    assert events(watch(hub, start=3, watch_id=2)) == [("PUT", "/p/a", 3), ("PUT", "/p/a", 4)]


def test_progress_names_the_members_revision() -> None:
    store = MVCCStore()
    hub = WatchHub(1, store)
    watch(hub)
    run(store, "put", key="/q", value="x")
    hub.after_apply()
    (progress,) = hub.progress(ProgressRequest("w0", 0))
    assert progress.progress and progress.revision == store.revision == 2
    assert hub.progress(ProgressRequest("w1", 0)) == [], "another stream has no watches"


def test_planted_start_repeats_the_last_revision() -> None:
    store = MVCCStore()
    run(store, "put", key="/p/a", value="1")  # 2
    run(store, "put", key="/p/a", value="2")  # 3
    correct, buggy = WatchHub(1, store), WatchHub(1, store, frozenset({WATCH_START_REPEATS_LAST}))
    assert events(watch(correct, start=3)) == [("PUT", "/p/a", 3)]
    assert events(watch(buggy, start=3)) == [("PUT", "/p/a", 2), ("PUT", "/p/a", 3)]


def test_request_json_round_trip() -> None:
    request = WatchRequest(PREFIX, PREFIX_END, 7, True, ("NODELETE",))
    assert watch_request_from_json(watch_request_to_json(request)) == request
    assert watch_request_from_json({"key": "a", "start_revision": "5"}).start_revision == 5


def test_a_member_serves_watches_from_what_it_applied() -> None:
    server = lone_leader()
    server.watches.create(WatchCreate("w0", 0, 1, WatchRequest("a")))
    ask(server, Request.etcd("r1", "c0", "put", {"key": "a", "value": "v"}))
    (response,) = server.watches.after_apply()
    assert events([response]) == [("PUT", "a", 2)]
    assert response.node == 1 and response.to_json()["header"] == {"revision": 2}


def test_a_watch_ahead_of_a_lagging_member_waits_for_its_start() -> None:
    store = MVCCStore()
    hub = WatchHub(1, store)
    assert events(watch(hub, start=3)) == []
    run(store, "put", key="/p/a", value="1")  # 2: before the start
    assert hub.after_apply() == []
    run(store, "put", key="/p/a", value="2")  # 3
    assert events(hub.after_apply()) == [("PUT", "/p/a", 3)]


def test_writes_applied_with_a_compaction_reach_the_watch_first() -> None:
    server = lone_leader()
    server.watches.create(WatchCreate("w0", 0, 1, WatchRequest("a")))
    for number, value in enumerate("12"):
        assert server.submit(Request.etcd(f"r{number}", "c0", "put", {"key": "a", "value": value})) is None
    assert server.submit(Request.etcd("r9", "c0", "compact", {"revision": 3})) is None
    settle(server)  # one Ready: both puts, then the compaction
    assert events(server.watches.after_apply()) == [("PUT", "a", 2), ("PUT", "a", 3)]


def test_a_copy_of_a_create_request_is_served_once() -> None:
    store = MVCCStore()
    run(store, "put", key="/p/a", value="1")
    hub = WatchHub(1, store)
    assert events(watch(hub, start=2)) == [("PUT", "/p/a", 2)]
    assert watch(hub, start=2) == [], "the network delivered the request twice"


def test_a_watch_of_an_empty_range_is_refused_as_it_is_created() -> None:
    hub = WatchHub(1, MVCCStore())
    (refused,) = hub.create(WatchCreate("w0", 0, 1, WatchRequest("c", "b")))
    assert refused.created and refused.canceled and len(hub) == 0
