"""raftcore's multi-version store against a real etcd 3.4, request by request.

Hypothesis draws sequences of etcd requests (ranges of every kind, puts, deletes, txns with
compares and nested txns, compactions, requests too large or with too many operations) over
a few keys, some sharing a prefix. Each sequence goes to raftcore's store directly and to a
single-member etcd through its v3 JSON gateway, and every answer must agree field by field:
revisions, each key's revisions and version, more, count, previous keys, deleted, succeeded,
errors.

One etcd serves the whole session. Its revision only grows, so each sequence starts where
the last one left etcd: etcd's keys are deleted and its history compacted at its current
revision B, and a fresh raftcore store (at revision 1, as a fresh etcd) is brought to the
same revision (writes of a scratch key, then its deletion) and compacted there too. Both
then hold nothing, at revision B, compacted at B, so every revision in a request or an
answer means the same on both sides. A second, fresh etcd meets a fresh store as it is:
the same first revision and the same first compactions.

etcd runs with small `--max-txn-ops` and `--max-request-bytes`, the store with the same
limits. etcd measures a request with a header whose size depends on its member id (see
`raftcore.etcd.REQUEST_HEADER_BYTES`), so drawn requests are either small or far too large,
never within those few bytes of the limit.

`.ci/run` installs etcd and sets RAFTSIM_REQUIRE_ETCD=1; elsewhere, without etcd, the test
is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from raftcore.etcd import (
    ALL_KEYS_FROM,
    COMPARE_OPERANDS,
    COMPARE_RESULTS,
    COMPARE_TARGETS,
    SORT_ORDERS,
    SORT_TARGETS,
    CompactionRequest,
    Compare,
    DeleteRangeRequest,
    EtcdError,
    EtcdRequest,
    Limits,
    PutRequest,
    RangeRequest,
    RequestOp,
    TxnRequest,
    kind_of,
    prefix_end,
    request_size,
    request_to_json,
    response_to_json,
)
from raftcore.lease import LeaseGrantRequest, LeaseRevokeRequest, minimum_ttl_seconds
from raftcore.mvcc import MVCCStore
from targets.etcd.gateway import PATHS, answer_json, decode_bytes, encode_bytes, to_gateway

LIMITS = Limits(max_txn_ops=10, max_request_bytes=2048)
BIG_VALUE = "v" * (LIMITS.max_request_bytes + 64)
"""A value no request holding it can be logged with, on either side."""
KEYS = ("a", "ab", "abc", "b", "ba", "c")
VALUES = ("", "x", "y", "z")
EXAMPLES = 200
STARTUP_S = 30.0


def _etcd_binary() -> str:
    found = shutil.which("etcd") or ("/usr/bin/etcd" if Path("/usr/bin/etcd").exists() else None)
    if found:
        return found
    if os.environ.get("RAFTSIM_REQUIRE_ETCD") == "1":
        pytest.fail("no etcd found, and RAFTSIM_REQUIRE_ETCD=1 requires it (apt-get install etcd-server)")
    pytest.skip("no etcd on this machine (apt-get install etcd-server); CI runs this test")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Etcd:
    """A single-member etcd on loopback, spoken to through its JSON gateway."""

    def __init__(self, binary: str, data_dir: str) -> None:
        self.client_url = f"http://127.0.0.1:{_free_port()}"
        peer_url = f"http://127.0.0.1:{_free_port()}"
        self.process = subprocess.Popen(
            [
                binary,
                "--name=differential",
                f"--data-dir={data_dir}",
                f"--listen-client-urls={self.client_url}",
                f"--advertise-client-urls={self.client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=differential={peer_url}",
                f"--max-txn-ops={LIMITS.max_txn_ops}",
                f"--max-request-bytes={LIMITS.max_request_bytes}",
                "--logger=zap",
                "--log-level=error",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def wait_until_serving(self) -> None:
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                assert self.process.stderr is not None
                pytest.fail(
                    f"etcd exited with {self.process.returncode}: {self.process.stderr.read().decode()[-2000:]}"
                )
            try:
                self.call("range", {"key": encode_bytes("a")})
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        pytest.fail(f"etcd did not answer on {self.client_url} within {STARTUP_S} s")

    def call(self, kind: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The HTTP status and JSON body of one gateway request."""
        request = urllib.request.Request(
            f"{self.client_url}{PATHS[kind]}", data=json.dumps(body).encode(), method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _running_etcd() -> Iterator[Etcd]:
    """A fresh etcd, serving until the generator is closed."""
    binary = _etcd_binary()
    # Memory-backed where there is one: etcd syncs every write.
    parent = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="raftsim-etcd-", dir=parent) as data_dir:
        server = Etcd(binary, data_dir)
        try:
            server.wait_until_serving()
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="module")
def etcd() -> Iterator[Etcd]:
    yield from _running_etcd()


@pytest.fixture
def fresh_etcd() -> Iterator[Etcd]:
    yield from _running_etcd()


def etcd_answer(etcd: Etcd, request: EtcdRequest) -> Any:
    """etcd's answer as the contract's JSON raftcore writes (`targets.etcd.gateway`), or its
    error message."""
    kind = kind_of(request)
    contract = request_to_json(request)
    status, body = etcd.call(kind, to_gateway(contract))
    if status != 200:
        return ("error", body.get("error") or body.get("message"))
    return answer_json(kind, contract, body)


def raftcore_answer(store: MVCCStore, request: EtcdRequest) -> Any:
    """The store's answer as the contract's JSON, as raftcore's server writes it."""
    try:
        return response_to_json(store.execute(request))
    except EtcdError as error:
        return ("error", error.message)


# ---- drawing requests ----


def revisions(base: int, now: int) -> st.SearchStrategy[int]:
    """A revision from one below the sequence's start `base` (compacted) to one beyond the
    store's revision `base + now` (future), mostly those that read. What is drawn is relative to
    `base`, which differs from run to run: Hypothesis replays draws, not etcd's revisions."""
    relative = st.integers(max(0, now - 3), now) | st.integers(-1, now + 1)
    return relative.map(lambda offset: base + offset)


@st.composite
def range_ends(draw: st.DrawFn, key: str) -> str:
    return draw(st.sampled_from(("", ALL_KEYS_FROM, ALL_KEYS_FROM, prefix_end(key), prefix_end(key), "b", "c", "d")))


@st.composite
def range_requests(draw: st.DrawFn, base: int, now: int) -> RangeRequest:
    key = draw(st.sampled_from(KEYS))
    return RangeRequest(
        key,
        draw(range_ends(key)),
        limit=draw(st.sampled_from((0, 0, 1, 2, 3))),
        revision=draw(st.sampled_from((0, 0, None))) or draw(revisions(base, now)),
        sort_order=draw(st.sampled_from(SORT_ORDERS)),
        sort_target=draw(st.sampled_from(SORT_TARGETS)),
        keys_only=draw(st.booleans()),
        count_only=draw(st.sampled_from((False, False, False, True))),
    )


@st.composite
def put_requests(draw: st.DrawFn) -> PutRequest:
    value = BIG_VALUE if draw(st.integers(0, 15)) == 0 else draw(st.sampled_from(VALUES))
    ignore_value = draw(st.integers(0, 7)) == 0
    if ignore_value and draw(st.integers(0, 3)) > 0:
        value = ""  # mostly as etcd wants it: without a value
    return PutRequest(draw(st.sampled_from(KEYS)), value, prev_kv=draw(st.booleans()), ignore_value=ignore_value)


@st.composite
def delete_requests(draw: st.DrawFn) -> DeleteRangeRequest:
    key = draw(st.sampled_from(KEYS))
    return DeleteRangeRequest(key, draw(range_ends(key)), prev_kv=draw(st.booleans()))


@st.composite
def compares(draw: st.DrawFn, base: int, now: int) -> Compare:
    key = draw(st.sampled_from(KEYS))
    target = draw(st.sampled_from(COMPARE_TARGETS))
    operand: Any
    if target == "VALUE":
        operand = draw(st.sampled_from(VALUES))
    elif target == "VERSION":
        operand = draw(st.integers(0, 3))
    else:
        operand = draw(st.just(0) | revisions(base, now))
    range_end = draw(st.sampled_from(("", "", "", ALL_KEYS_FROM, prefix_end(key), *KEYS)))
    return Compare(
        key,
        target,
        draw(st.sampled_from(COMPARE_RESULTS)),
        range_end,
        **{COMPARE_OPERANDS[target]: operand},
    )


def operations(base: int, now: int, depth: int) -> st.SearchStrategy[RequestOp]:
    plain: st.SearchStrategy[RequestOp] = st.one_of(range_requests(base, now), put_requests(), delete_requests())
    if depth == 0:
        return plain
    return st.one_of(plain, plain, plain, txn_requests(base, now, depth - 1))


@st.composite
def txn_requests(draw: st.DrawFn, base: int, now: int, depth: int = 2) -> TxnRequest:
    # Now and then one list as long as etcd allows at the top, which a nested txn exceeds.
    wide = draw(st.integers(0, 14)) == 0
    sizes = {"min_size": LIMITS.max_txn_ops, "max_size": LIMITS.max_txn_ops} if wide else {"max_size": 3}
    which = draw(st.integers(0, 2)) if wide else -1
    return TxnRequest(
        tuple(draw(st.lists(compares(base, now), **(sizes if which == 0 else {"max_size": 3})))),
        tuple(draw(st.lists(operations(base, now, depth), **(sizes if which == 1 else {"max_size": 3})))),
        tuple(draw(st.lists(operations(base, now, depth), **(sizes if which == 2 else {"max_size": 3})))),
    )


@st.composite
def requests(draw: st.DrawFn, base: int, now: int) -> EtcdRequest:
    """One request to a store at revision `base + now` whose history starts at `base`."""
    choice = draw(st.integers(0, 19))
    if choice < 5:
        return draw(range_requests(base, now))
    if choice < 12:
        return draw(put_requests())
    if choice < 13:
        return draw(delete_requests())
    if choice < 19:
        return draw(txn_requests(base, now))
    return CompactionRequest(draw(revisions(base, now)), physical=draw(st.booleans()))


# ---- the test ----


def start_afresh(etcd: Etcd) -> tuple[MVCCStore, int]:
    """An empty etcd compacted at its revision B, and a store at B compacted at B. B is 1
    (a fresh etcd, where a fresh store already is) or above 2 (every sequence writes twice),
    so a store at 1 reaches it by scratch writes up to B - 1 and their deletion at B."""
    etcd.call("delete", {"key": encode_bytes(ALL_KEYS_FROM), "range_end": encode_bytes(ALL_KEYS_FROM)})
    status, body = etcd.call("range", {"key": encode_bytes("a")})
    assert status == 200, body
    base = int(body["header"]["revision"])
    status, body = etcd.call("compact", {"revision": str(base), "physical": True})
    assert status == 200 or "compacted" in body.get("error", ""), body
    store = MVCCStore(LIMITS)
    while store.revision < base - 1:
        store.put_value("scratch", "")
    store.delete_key("scratch")
    assert store.revision == base, (store.revision, base)
    store.execute(CompactionRequest(base))
    return store, base


def sized_apart(request: EtcdRequest) -> bool:
    """Far from the size limit, where etcd's header size cannot tip the answer."""
    return abs(request_size(request) - LIMITS.max_request_bytes) > 64


def test_drawn_request_sequences_are_answered_as_etcd_answers_them(etcd: Etcd) -> None:
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        # No shrinking: against a real etcd it takes minutes; the failing draws are printed.
        phases=(Phase.explicit, Phase.reuse, Phase.generate),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.data())
    def sequences(data: st.DataObject) -> None:
        store, base = start_afresh(etcd)
        # Keys to read from the start, some written twice, so ranges have several to sort.
        filled = data.draw(st.lists(st.sampled_from(KEYS), min_size=2, max_size=8), label="filled")
        drawn = data.draw(st.lists(st.just(None), min_size=1, max_size=10), label="length")
        for step in range(len(filled) + len(drawn)):
            request = (
                PutRequest(filled[step], VALUES[step % len(VALUES)])
                if step < len(filled)
                else data.draw(requests(base, store.revision - base), label=f"request {step}")
            )
            if not sized_apart(request):
                continue
            expected = etcd_answer(etcd, request)
            assert raftcore_answer(store, request) == expected, (
                f"request {step}: {str(request_to_json(request))[:2000]}"
            )

    sequences()


FRESH_REQUESTS: tuple[EtcdRequest, ...] = (
    RangeRequest("a", ALL_KEYS_FROM, revision=1),
    RangeRequest("a", revision=2),
    CompactionRequest(2),
    CompactionRequest(-1),
    CompactionRequest(0),
    CompactionRequest(0),
    CompactionRequest(1, physical=True),
    CompactionRequest(1),
    CompactionRequest(0),
    RangeRequest("a", revision=1),
    PutRequest("a", "x", prev_kv=True),
    RangeRequest("a", ALL_KEYS_FROM),
    RangeRequest("a", revision=1),
    CompactionRequest(2),
    RangeRequest("a", revision=1),
)
"""A fresh etcd's first revisions and compactions: nothing compacted yet, so a compaction
at 0, then at 1, is taken (once each); its first write makes revision 2."""


def test_a_fresh_store_starts_as_a_fresh_etcd(fresh_etcd: Etcd) -> None:
    store = MVCCStore(LIMITS)
    answers = [(etcd_answer(fresh_etcd, request), raftcore_answer(store, request)) for request in FRESH_REQUESTS]
    for step, (expected, answered) in enumerate(answers):
        assert answered == expected, f"request {step}: {request_to_json(FRESH_REQUESTS[step])}"
    put = FRESH_REQUESTS.index(PutRequest("a", "x", prev_kv=True))
    assert answers[put][0] == {"header": {"revision": 2}}, "etcd's first write makes revision 2"
    assert answers[FRESH_REQUESTS.index(CompactionRequest(0))][0] == {"header": {"revision": 1}}


# ---- leases ----

ETCD_MINIMUM_TTL = minimum_ttl_seconds(10, 100)
"""etcd's default election timeout (1,000 ms) is 10 ticks of its default 100 ms heartbeat."""
LEASE_REQUESTS: tuple[EtcdRequest, ...] = (
    LeaseGrantRequest(5, 100),
    LeaseGrantRequest(1, 101),  # raised to the minimum
    LeaseGrantRequest(5, 100),  # already exists
    LeaseGrantRequest(9_000_000_001, 102),  # too large
    PutRequest("a", "x", lease=100),
    PutRequest("ab", "x", lease=100),
    PutRequest("b", "y", lease=101),
    PutRequest("c", "z", lease=999),  # no such lease
    TxnRequest(success=(PutRequest("c", "z", lease=999),)),
    RangeRequest("a", "d"),
    PutRequest("ab", "w"),  # detached
    PutRequest("b", "y", prev_kv=True, lease=100),  # moved to another lease
    LeaseRevokeRequest(100),  # deletes a and b in one revision
    RangeRequest("a", "d"),
    LeaseRevokeRequest(100),  # no longer exists
    LeaseRevokeRequest(101),  # holds no key: the revision stays
)


def test_leases_are_granted_attached_and_revoked_as_etcd_does(fresh_etcd: Etcd) -> None:
    store = MVCCStore(LIMITS, minimum_lease_ttl=ETCD_MINIMUM_TTL)
    for step, request in enumerate(LEASE_REQUESTS):
        expected, answered = etcd_answer(fresh_etcd, request), raftcore_answer(store, request)
        assert answered == expected, f"request {step}: {request}"
        if step == 6:
            _same_time_to_live(fresh_etcd, store, 100)
            _same_time_to_live(fresh_etcd, store, 101)
    assert store.revision == 7, "three puts and a put moving b at 2 to 6, one revoke of a and b at 7"


def _same_time_to_live(etcd: Etcd, store: MVCCStore, lease_id: int) -> None:
    """etcd's granted TTL and keys of a lease are the store's (the TTL left is the leader's
    clock's, not the store's)."""
    status, body = etcd.call("lease-timetolive", {"ID": str(lease_id), "keys": True})
    assert status == 200, body
    keys = sorted(decode_bytes(key) for key in body.get("keys", []))
    assert keys == list(store.leases.keys_of(lease_id))
    assert int(body["grantedTTL"]) == store.leases.leases[lease_id].ttl_seconds
    assert 0 < int(body["TTL"]) <= int(body["grantedTTL"])
