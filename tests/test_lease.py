"""etcd's leases in raftcore: grants, revokes and attachments through the log, deadlines in
the leader's ticks, keep-alives answered by the leader alone, expiry as a revoke in the log."""

from __future__ import annotations

import random
from typing import Any

import pytest
from mvcc_support import ask, settle

from raftcore.bugs import LEASE_DEADLINE_FROM_GRANT, LEASE_NOT_EXTENDED, LEASE_REVOKE_SPLIT
from raftcore.etcd import request_from_json, request_to_json, response_from_json, response_to_json
from raftcore.lease import (
    LEASE_EXISTS,
    LEASE_ID_BASE,
    LEASE_NOT_FOUND,
    LEASE_TTL_TOO_LARGE,
    LeaseGrantRequest,
    LeaseKeepAliveResponse,
    LeaseTimeToLiveResponse,
    minimum_ttl_seconds,
)
from raftcore.server import KVServer, Request, Response
from raftcore.types import Config, HardState, PersistedState, Role

TICK_MS = 100
ELECTION_TICKS = 10


def leader(*bugs: str, state: PersistedState | None = None) -> KVServer:
    config = Config(node_id=1, peers=(1,), bugs=frozenset(bugs), tick_ms=TICK_MS, election_ticks=ELECTION_TICKS)
    server = KVServer(config, state or PersistedState(), random.Random(1))
    for _ in range(30):
        server.tick()
        settle(server)
    assert server.node.role is Role.LEADER
    return server


def etcd(request_id: str, kind: str, **body: Any) -> Request:
    return Request.etcd(request_id, "c1", kind, body)


def local(server: KVServer, request: Request) -> Response:
    """A request the leader answers at once, from memory, logging nothing."""
    last = server.node.last_index
    answer = server.submit(request)
    assert isinstance(answer, Response)
    assert server.node.last_index == last, "keep-alive and time-to-live are never logged"
    return answer


def grant(server: KVServer, ttl: int, lease_id: int = 0, request_id: str = "g") -> int:
    granted = ask(server, etcd(request_id, "lease-grant", TTL=ttl, ID=lease_id))
    assert granted.succeeded, granted
    return int(granted.value["ID"])


def ticks(server: KVServer, count: int) -> list[tuple[int, str]]:
    expired: list[tuple[int, str]] = []
    for _ in range(count):
        expired += server.tick()
        settle(server)
    return expired


def test_the_minimum_ttl_is_one_and_a_half_election_timeouts_rounded_up_to_seconds() -> None:
    assert minimum_ttl_seconds(10, 100) == 2
    assert minimum_ttl_seconds(10, 50) == 1
    assert minimum_ttl_seconds(5, 100) == 1, "3 x 5 // 2 = 7 ticks of 100 ms"


def test_a_grant_picks_ids_deterministically_and_raises_the_ttl_to_the_minimum() -> None:
    server = leader()
    granted = ask(server, etcd("g1", "lease-grant", TTL=1))
    assert granted.value == {"header": {"revision": 1}, "ID": LEASE_ID_BASE, "TTL": 2}
    assert grant(server, 5, request_id="g2") == LEASE_ID_BASE + 1
    assert grant(server, 5, lease_id=7, request_id="g3") == 7
    assert ask(server, etcd("g4", "lease-grant", TTL=5, ID=7)).error == LEASE_EXISTS
    assert ask(server, etcd("g5", "lease-grant", TTL=9_000_000_001)).error == LEASE_TTL_TOO_LARGE


def test_a_put_attaches_to_an_existing_lease_only_and_a_put_without_one_detaches() -> None:
    server = leader()
    assert ask(server, etcd("p0", "put", key="a", value="1", lease=99)).error == LEASE_NOT_FOUND
    lease = grant(server, 5)
    ask(server, etcd("p1", "put", key="a", value="1", lease=lease))
    ask(server, etcd("p2", "put", key="b", value="1", lease=lease))
    kvs = ask(server, etcd("r1", "range", key="a", range_end="c")).value["kvs"]
    assert [kv.get("lease") for kv in kvs] == [lease, lease]
    ask(server, etcd("p3", "put", key="b", value="2"))
    alive = local(server, etcd("t1", "lease-timetolive", ID=lease, keys=True))
    assert alive.value["keys"] == ["a"], "b was detached by a put without a lease"
    assert "lease" not in ask(server, etcd("r2", "range", key="b")).value["kvs"][0]
    txn = {"success": [{"request_put": {"key": "c", "value": "1", "lease": 99}}]}
    assert ask(server, etcd("x1", "txn", **txn)).error == LEASE_NOT_FOUND


def test_a_revoke_deletes_every_attached_key_in_one_revision() -> None:
    server = leader()
    lease = grant(server, 5)
    for key in "abc":
        ask(server, etcd(f"p{key}", "put", key=key, value="1", lease=lease))
    revoked = ask(server, etcd("v1", "lease-revoke", ID=lease))
    assert revoked.value == {"header": {"revision": 5}}, "three puts at 2, 3, 4; the deletes share 5"
    assert ask(server, etcd("r1", "range", key="a", range_end="d")).value["count"] == 0
    assert ask(server, etcd("v2", "lease-revoke", ID=lease)).error == LEASE_NOT_FOUND
    assert local(server, etcd("t1", "lease-timetolive", ID=lease)).value["TTL"] == -1


def test_the_planted_split_revoke_deletes_the_keys_one_revision_each() -> None:
    server = leader(LEASE_REVOKE_SPLIT)
    lease = grant(server, 5)
    for key in "ab":
        ask(server, etcd(f"p{key}", "put", key=key, value="1", lease=lease))
    assert ask(server, etcd("v1", "lease-revoke", ID=lease)).revision == 5, "a at 4, b at 5"


def test_keep_alive_is_answered_by_the_leader_and_moves_the_deadline() -> None:
    server = leader()
    lease = grant(server, 3)
    assert local(server, etcd("k0", "lease-keepalive", ID=999)).value["result"]["TTL"] == 0, "unknown: TTL 0"
    ttl_ticks = 3 * 1000 // TICK_MS
    for round_number in range(4):
        assert ticks(server, ttl_ticks - 5) == []
        kept = local(server, etcd(f"k{round_number + 1}", "lease-keepalive", ID=lease))
        assert kept.value["result"]["TTL"] == 3
    remaining = local(server, etcd("t1", "lease-timetolive", ID=lease)).value
    assert (remaining["TTL"], remaining["grantedTTL"]) == (3, 3)
    assert [lease_id for lease_id, _ in ticks(server, ttl_ticks)] == [lease], "due TTL after the last keep-alive"


def test_an_expired_lease_is_revoked_through_the_log_with_its_keys() -> None:
    server = leader()
    lease = grant(server, 2)
    ask(server, etcd("pa", "put", key="a", value="1", lease=lease))
    ask(server, etcd("pb", "put", key="b", value="1", lease=lease))
    assert [lease_id for lease_id, _ in ticks(server, 20)] == [lease]
    assert lease not in server.store.mvcc.leases
    ranged = ask(server, etcd("r1", "range", key="a", range_end="c")).value
    assert (ranged["count"], ranged["header"]["revision"]) == (0, 4)
    kept = local(server, etcd("k1", "lease-keepalive", ID=lease))
    assert kept.value["result"]["TTL"] == 0


def test_a_keep_alive_of_a_lease_being_revoked_waits_for_the_revoke() -> None:
    server = leader()
    lease = grant(server, 2)
    for _ in range(20):
        server.tick()
    assert server.submit(etcd("k1", "lease-keepalive", ID=lease)) is None, "waits for the revoke"
    (answer,) = settle(server)[0]
    assert answer.request_id == "k1"
    assert answer.value["result"]["TTL"] == 0


def restarted_leader(*bugs: str) -> tuple[KVServer, int]:
    """A lone leader that granted a lease and kept it alive, then restarts from its log."""
    server = leader(*bugs)
    lease = grant(server, 5)
    ticks(server, 40)
    local(server, etcd("k1", "lease-keepalive", ID=lease))
    node = server.node
    state = PersistedState(HardState(node.term, node.vote, node.commit_index), node.log_entries())
    return leader(*bugs, state=state), lease


def test_a_new_leader_extends_every_lease_by_an_election_timeout_beyond_its_ttl() -> None:
    server, lease = restarted_leader()
    lessor = server.leases.lessor
    assert lessor.primary
    promoted_at = lessor.deadlines[lease] - ELECTION_TICKS - 5 * 1000 // TICK_MS
    assert 0 < promoted_at <= lessor.now_ticks


def test_the_planted_unextended_leader_revokes_every_lease_on_election() -> None:
    server, lease = restarted_leader(LEASE_NOT_EXTENDED)
    assert lease not in server.store.mvcc.leases, "revoked at the first tick after the promotion"


@pytest.mark.parametrize("bugs", [(), (LEASE_DEADLINE_FROM_GRANT,)])
def test_a_follower_counts_no_deadline_unless_the_planted_bug_says_so(bugs: tuple[str, ...]) -> None:
    config = Config(node_id=2, peers=(1, 2, 3), bugs=frozenset(bugs), tick_ms=TICK_MS)
    follower = KVServer(config, PersistedState(), random.Random(1))
    follower.leases.lessor.granted(LEASE_ID_BASE, 5)
    assert bool(follower.leases.lessor.deadlines) == bool(bugs)


def test_lease_requests_and_responses_round_trip_through_json() -> None:
    for kind, body in [
        ("lease-grant", {"TTL": 5, "ID": 3}),
        ("lease-revoke", {"ID": 3}),
        ("lease-keepalive", {"ID": 3}),
        ("lease-timetolive", {"ID": 3, "keys": True}),
        ("put", {"key": "a", "value": "v", "prev_kv": False, "ignore_value": False, "lease": 3}),
    ]:
        assert request_to_json(request_from_json(kind, body)) == body
    assert request_from_json("lease-grant", {"TTL": "5"}) == LeaseGrantRequest(5, 0)
    assert "lease" not in request_to_json(request_from_json("put", {"key": "a"})), "old bytes for old puts"
    for kind, response in [
        ("lease-keepalive", LeaseKeepAliveResponse(4, 3, 5)),
        ("lease-timetolive", LeaseTimeToLiveResponse(4, 3, 2, 5, ("a", "b"))),
    ]:
        assert response_from_json(kind, response_to_json(response)) == response
    with pytest.raises(ValueError, match="ID"):
        request_from_json("lease-revoke", {"ID": -1})
