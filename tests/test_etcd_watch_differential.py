"""raftcore's watch against a real etcd 3.4: the same drawn writes, then the same drawn
watch (key, range or prefix, start revision, prev_kv, filters), must report the same
events in the same order (type, kv and prev_kv field by field, a revision's events in the
order its txn made them).

The writes go to raftcore's store and to a single-member etcd as in
`tests/test_etcd_differential.py` (whose etcd and gateway helpers this test shares); the
watch is etcd's streaming `/v3/watch` POST, read message by message until the last event
raftcore reports has come, or a short wait shows nothing more is coming. Without etcd the
test is skipped, as that one is.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_etcd_differential import (
    KEYS,
    Etcd,
    _running_etcd,
    delete_requests,
    etcd_answer,
    put_requests,
    raftcore_answer,
    range_ends,
    sized_apart,
    start_afresh,
    to_gateway,
    txn_requests,
)

from raftcore.etcd import EtcdRequest
from raftcore.watch import FILTERS, WatchCreate, WatchHub, WatchRequest, event_to_json, request_to_json
from targets.etcd.gateway import from_gateway

EXAMPLES = 40
QUIET_S = 0.5
"""How long a stream with nothing more to say is listened to."""


@pytest.fixture(scope="module")
def etcd() -> Iterator[Etcd]:
    yield from _running_etcd()


def _kv(body: Any) -> tuple[str, str, int, int, int] | None:
    """A kv as both sides mean it: absent fields are their zero, integers may be strings."""
    if body is None:
        return None
    return (
        body.get("key", ""),
        body.get("value", ""),
        int(body.get("create_revision", 0)),
        int(body.get("mod_revision", 0)),
        int(body.get("version", 0)),
    )


def _event(body: dict[str, Any]) -> tuple[str, Any, Any]:
    return body.get("type", "PUT"), _kv(body["kv"]), _kv(body.get("prev_kv"))


def etcd_events(etcd: Etcd, request: WatchRequest, last_revision: int) -> list[tuple[str, Any, Any]] | str:
    """The events etcd's watch reports until one at `last_revision` (0: none expected), or
    "canceled" if it refuses the watch."""
    body = json.dumps({"create_request": to_gateway(request_to_json(request))}).encode()
    http = urllib.request.Request(f"{etcd.client_url}/v3/watch", data=body, method="POST")
    found: list[tuple[str, Any, Any]] = []
    with urllib.request.urlopen(http, timeout=10) as stream:
        while True:
            if last_revision == 0 or (found and found[-1][1][3] >= last_revision):
                stream.fp.raw._sock.settimeout(QUIET_S)  # type: ignore[union-attr]
            try:
                line = stream.readline()
            except TimeoutError:
                return found
            if not line:
                return found
            result = from_gateway(json.loads(line)).get("result", {})
            if result.get("canceled"):
                return "canceled"
            found += [_event(event) for event in result.get("events", [])]


@st.composite
def watch_requests(draw: st.DrawFn, base: int, now: int) -> WatchRequest:
    key = draw(st.sampled_from(KEYS))
    filters = draw(st.lists(st.sampled_from(FILTERS), max_size=1))
    start = draw(st.integers(base + 1, now + 1))
    return WatchRequest(key, draw(range_ends(key)), start, draw(st.booleans()), tuple(filters))


def writes(base: int, now: int) -> st.SearchStrategy[EtcdRequest]:
    return st.one_of(put_requests(), put_requests(), delete_requests(), txn_requests(base, now))


def test_drawn_watches_report_what_etcd_reports(etcd: Etcd) -> None:
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=(Phase.explicit, Phase.reuse, Phase.generate),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.data())
    def sequences(data: st.DataObject) -> None:
        store, base = start_afresh(etcd)
        for step in range(data.draw(st.integers(2, 12), label="writes")):
            request = data.draw(writes(base, store.revision - base), label=f"write {step}")
            if sized_apart(request):
                assert raftcore_answer(store, request) == etcd_answer(etcd, request), f"write {step}"
        watch = data.draw(watch_requests(base, store.revision), label="watch")
        hub = WatchHub(1, store)
        responses = hub.create(WatchCreate("w", 0, 1, watch))
        events = [_event(event_to_json(event)) for response in responses for event in response.events]
        expected = "canceled" if any(response.canceled for response in responses) else events
        last = events[-1][1][3] if events else 0
        assert etcd_events(etcd, watch, last) == expected, request_to_json(watch)

    sequences()
