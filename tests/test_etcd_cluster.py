"""A real etcd 3.4 cluster on loopback under the harness's faults (`targets.etcd.cluster`).

One three-member cluster serves the tests that attack it and heal it again (each leaves it
whole, every member running and agreeing on a leader); closing and the harness's own death
(SIGKILL, Ctrl-C) get clusters of their own. Small heartbeat and election timeouts keep
elections short.

What a one-way cut shows, as observed: with the follower's link to the leader cut, the follower
still hears the leader's heartbeats and names it as leader, yet its linearizable reads (a
ReadIndex it must send to the leader) fail; with the leader's link to the follower cut, the
follower names no leader, while the leader goes on leading with the third member, which (hearing
its leader) gives the follower no vote. (The term the follower reports did not grow in these
runs; the test does not rely on it.)

Without etcd the tests are skipped, unless RAFTSIM_REQUIRE_ETCD=1 (CI) makes that a failure.
"""

from __future__ import annotations

import base64
import json
import os
import random
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from test_etcd_differential import _etcd_binary

from targets.etcd.cluster import EtcdCluster
from targets.etcd.proxy import OTHER, POST, STREAM, Head, RequestFramer
from targets.etcd.reaper import members_of

ROOT = Path(__file__).resolve().parent.parent
HEARTBEAT_MS = 50
ELECTION_MS = 500
WAIT_S = 15.0
"""How long a cluster may take to get where a test expects it (an election, a catch-up)."""
T = TypeVar("T")


def _gateway(url: str, path: str, body: dict[str, Any], timeout_s: float = 2.0) -> dict[str, Any]:
    request = urllib.request.Request(f"{url}/v3/{path}", data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=timeout_s) as answer:
        decoded: dict[str, Any] = json.loads(answer.read())
        return decoded


def _encoded(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def put(cluster: EtcdCluster, node: int, key: str, value: str) -> int:
    """Put through `node`; the revision it made."""
    answer = _gateway(cluster.client_url(node), "kv/put", {"key": _encoded(key), "value": _encoded(value)})
    return int(answer["header"]["revision"])


def get(cluster: EtcdCluster, node: int, key: str, timeout_s: float = 2.0) -> str | None:
    """A linearizable read of `key` through `node`: its value, None when absent."""
    answer = _gateway(cluster.client_url(node), "kv/range", {"key": _encoded(key)}, timeout_s)
    kvs = answer.get("kvs", [])
    return base64.b64decode(kvs[0].get("value", "")).decode() if kvs else None


def read_fails(cluster: EtcdCluster, node: int, key: str) -> bool:
    try:
        get(cluster, node, key, timeout_s=1.5)
    except (OSError, urllib.error.HTTPError):
        return True
    return False


def eventually(probe: Callable[[], T | None], what: str, timeout_s: float = WAIT_S) -> T:
    """`probe`'s first answer that is neither None nor False (an error counts as not yet)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            answer = probe()
        except (OSError, ValueError, KeyError):
            answer = None
        if answer is not None and answer is not False:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.1)


def leader_among(cluster: EtcdCluster, nodes: set[int]) -> int | None:
    """The leader, when every answering node of `nodes` answers and names it."""
    views = cluster.status()
    if not nodes <= set(views):
        return None
    named = {views[node]["leader"] for node in nodes}
    leader = cluster.leader()
    return leader if named == {leader} and leader in nodes else None


def settled(cluster: EtcdCluster) -> int:
    """Wait until every node runs, answers and names the same leader; that leader."""
    return eventually(lambda: leader_among(cluster, set(cluster.node_ids)), "one leader all agree on")


def caught_up(cluster: EtcdCluster, node: int, revision: int) -> bool:
    view = cluster.status().get(node)
    return view is not None and view["revision"] >= revision


def test_the_proxy_frames_every_request_on_a_kept_alive_connection() -> None:
    """A probe, a post with a length, a chunked snapshot post and a stream, split anywhere:
    each request's kind and sender are found, none in a body."""
    body = b"GET /raft/stream/message/a HTTP/1.1\r\nX-Server-From: a\r\n\r\n"
    sent = (
        b"GET /raft/probing HTTP/1.1\r\nHost: x\r\n\r\n"
        + b"POST /raft HTTP/1.1\r\nX-Server-From: ab12\r\nContent-Length: %d\r\n\r\n" % len(body)
        + body
        + b"POST /raft/snapshot HTTP/1.1\r\nX-Server-From: ab12\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % len(body)
        + body
        + b"\r\n0\r\n\r\n"
        + b"GET /raft/stream/msgapp/ab12 HTTP/1.1\r\nX-Server-From: ab12\r\n\r\n"
    )
    expected = [Head(OTHER, None), Head(POST, "ab12"), Head(POST, "ab12"), Head(STREAM, "ab12")]
    for size in (1, 7, 64, len(sent)):
        framer = RequestFramer()
        heads = [head for start in range(0, len(sent), size) for head in framer.feed(sent[start : start + size])]
        assert heads == expected, size


@pytest.fixture(scope="module")
def etcd_binary() -> str:
    return _etcd_binary()


@pytest.fixture(scope="module")
def cluster(etcd_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    logs = tmp_path_factory.mktemp("etcd-logs")
    with EtcdCluster(etcd_binary, 3, logs, heartbeat_ms=HEARTBEAT_MS, election_ms=ELECTION_MS) as running:
        yield running


def test_a_put_through_one_member_is_read_through_another(cluster: EtcdCluster) -> None:
    assert cluster.names == ("n1", "n2", "n3")
    assert cluster.node_ids == (1, 2, 3)
    put(cluster, 1, "greeting", "hello")
    assert get(cluster, 2, "greeting") == "hello"
    assert get(cluster, 3, "greeting") == "hello"
    assert cluster.data_root is not None and str(cluster.data_root).startswith(("/dev/shm/", "/tmp"))
    assert all(cluster.alive(node) for node in cluster.node_ids)


def test_the_leader_is_found_and_every_member_names_it(cluster: EtcdCluster) -> None:
    leader = settled(cluster)
    views = cluster.status()
    assert {view["leader"] for view in views.values()} == {leader}
    assert len({view["term"] for view in views.values()}) == 1


def test_the_leader_hands_over_when_asked_and_a_follower_refuses(cluster: EtcdCluster) -> None:
    old = settled(cluster)
    term = cluster.status()[old]["term"]
    target = min(set(cluster.node_ids) - {old})
    assert cluster.transfer_leadership(old, target) == "done"
    views = cluster.status()
    assert {view["leader"] for view in views.values()} == {target}
    assert views[target]["term"] == term + 1
    # Only the leader takes the request; a follower refuses it with etcd's words.
    assert cluster.transfer_leadership(old, target) == "refused: etcdserver: not leader"
    assert settled(cluster) == target


def test_a_killed_leader_is_replaced_and_rejoins_on_its_data(cluster: EtcdCluster) -> None:
    old = settled(cluster)
    cluster.kill(old)
    assert not cluster.alive(old)
    others = set(cluster.node_ids) - {old}
    new = eventually(lambda: leader_among(cluster, others), "a new leader among the others")
    assert new != old
    revision = put(cluster, new, "after-kill", "1")
    cluster.restart(old)
    assert cluster.alive(old)
    eventually(lambda: caught_up(cluster, old, revision), "the restarted node's revision catches up")
    assert get(cluster, old, "after-kill") == "1"
    settled(cluster)


def test_a_paused_leader_is_replaced_and_follows_once_resumed(cluster: EtcdCluster) -> None:
    old = settled(cluster)
    cluster.pause(old)
    assert cluster.alive(old)
    assert old not in cluster.status()
    others = set(cluster.node_ids) - {old}
    new = eventually(lambda: leader_among(cluster, others), "a new leader while the old one is paused")
    revision = put(cluster, new, "after-pause", "1")
    cluster.resume(old)
    eventually(lambda: caught_up(cluster, old, revision), "the resumed node catches up")
    assert settled(cluster) != old or cluster.status()[old]["term"] > 0


def test_an_isolated_node_cannot_read_while_the_majority_can_and_catches_up_when_healed(
    cluster: EtcdCluster,
) -> None:
    isolated = settled(cluster)  # the leader: the others must elect a new one
    others = set(cluster.node_ids) - {isolated}
    links = [(isolated, other) for other in others] + [(other, isolated) for other in others]
    cluster.cut(links)
    try:
        new = eventually(lambda: leader_among(cluster, others), "a leader among the majority")
        assert new != isolated
        revision = put(cluster, new, "during-isolation", "1")
        assert all(get(cluster, other, "during-isolation") == "1" for other in others)
        assert read_fails(cluster, isolated, "during-isolation")
    finally:
        cluster.heal_links()
    eventually(lambda: caught_up(cluster, isolated, revision), "the healed node catches up")
    assert get(cluster, isolated, "during-isolation") == "1"
    settled(cluster)


def test_a_one_way_cut_is_one_way(cluster: EtcdCluster) -> None:
    leader = settled(cluster)
    follower = min(set(cluster.node_ids) - {leader})
    put(cluster, leader, "one-way", "0")
    # The follower's messages to the leader are lost; the leader's still arrive.
    cluster.cut([(follower, leader)])
    try:
        time.sleep(4 * ELECTION_MS / 1000)
        views = cluster.status()
        assert views[follower]["leader"] == leader, views  # it hears the heartbeats
        assert views[leader]["leader"] == leader, views
        assert read_fails(cluster, follower, "one-way")  # its ReadIndex never reaches the leader
        assert get(cluster, leader, "one-way") == "0"
    finally:
        cluster.heal_links()
    settled(cluster)
    leader = settled(cluster)
    follower = min(set(cluster.node_ids) - {leader})
    # The leader's messages to the follower are lost: it hears no leader, and cannot take over.
    cluster.cut([(leader, follower)])
    try:

        def follower_lost_the_leader() -> bool:
            views = cluster.status()
            return views[follower]["leader"] is None and views[leader]["leader"] == leader

        eventually(follower_lost_the_leader, "the cut-off follower names no leader")
        time.sleep(4 * ELECTION_MS / 1000)
        views = cluster.status()
        assert views[follower]["leader"] is None, views
        assert all(views[node]["leader"] == leader for node in views if node != follower), views
        put(cluster, leader, "one-way", "1")
        third = (set(cluster.node_ids) - {leader, follower}).pop()
        assert get(cluster, third, "one-way") == "1"
    finally:
        cluster.heal_links()
    settled(cluster)


def test_slow_and_lossy_links_delay_and_break_but_the_cluster_goes_on(cluster: EtcdCluster) -> None:
    leader = settled(cluster)
    follower = min(set(cluster.node_ids) - {leader})
    everything = [(a, b) for a in cluster.node_ids for b in cluster.node_ids if a != b]
    cluster.slow(everything, 30)
    try:
        started = time.monotonic()
        put(cluster, leader, "slow", "1")
        assert time.monotonic() - started >= 0.03  # a commit needs a round trip to a follower
    finally:
        cluster.heal_links()
    breaks = cluster.link_breaks()
    cluster.lossy([(leader, follower), (follower, leader)], 0.3, random.Random(7))
    try:
        revision = max(put(cluster, leader, f"lossy-{index}", "1") for index in range(20))
    finally:
        cluster.heal_links()
    assert cluster.link_breaks() > breaks
    eventually(lambda: caught_up(cluster, follower, revision), "the follower catches up after the lossy link")
    settled(cluster)


def test_a_removed_member_added_back_empty_catches_up(cluster: EtcdCluster) -> None:
    leader = settled(cluster)
    removed = max(set(cluster.node_ids) - {leader})
    old_id = cluster.member_ids()[removed]
    cluster.remove_member(removed)
    assert not cluster.alive(removed)
    assert cluster.data_root is not None and not (cluster.data_root / cluster.names[removed - 1]).exists()
    listed = _gateway(cluster.client_url(leader), "cluster/member/list", {})["members"]
    assert len(listed) == 2
    revision = put(cluster, leader, "while-removed", "1")
    cluster.add_member(removed)
    assert cluster.member_ids()[removed] != old_id
    eventually(lambda: caught_up(cluster, removed, revision), "the added member catches up")
    assert get(cluster, removed, "while-removed") == "1"
    settled(cluster)


def _etcd_left(root: Path) -> set[int]:
    """The etcd processes still running on `root` (zombies are gone)."""
    return {pid for pid in members_of(root) if b"etcd" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]}


def test_close_leaves_no_process_and_no_data(etcd_binary: str, tmp_path: Path) -> None:
    cluster = EtcdCluster(etcd_binary, 3, tmp_path / "logs", heartbeat_ms=HEARTBEAT_MS, election_ms=ELECTION_MS)
    with cluster:
        root = cluster.data_root
        assert root is not None and root.is_dir()
        pids = [cluster.pid(node) for node in cluster.node_ids]
        assert _etcd_left(root) == set(pids)
        cluster.pause(1)
    cluster.close()  # again: nothing more to do
    assert not root.exists()
    assert not _etcd_left(root)
    assert all(not Path(f"/proc/{pid}").exists() for pid in pids)
    assert {path.name for path in (tmp_path / "logs").iterdir()} == {"n1.log", "n2.log", "n3.log"}


HARNESS = """
import sys, time
from pathlib import Path
from targets.etcd.cluster import EtcdCluster
from targets.etcd.proxy import OTHER, POST, STREAM, Head, RequestFramer
cluster = EtcdCluster(sys.argv[1], 3, Path(sys.argv[2]), heartbeat_ms=50, election_ms=500)
with cluster:
    cluster.pause(1)
    print(cluster.data_root, *(cluster.pid(node) for node in cluster.node_ids), flush=True)
    time.sleep(600)
"""


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["sigkill", "ctrl-c"])
def test_the_harness_dying_leaves_no_process_and_no_data(etcd_binary: str, tmp_path: Path, sig: int) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    harness = subprocess.Popen(
        [sys.executable, "-c", HARNESS, etcd_binary, str(tmp_path / "logs")],
        # A harness in the foreground takes Ctrl-C; a test worker may have it ignored, and a
        # child inherits that.
        preexec_fn=_default_sigint,
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    try:
        assert harness.stdout is not None
        ready, _, _ = select.select([harness.stdout], [], [], 30.0)
        assert ready, "the harness did not start its cluster"
        words = harness.stdout.readline().decode().split()
        assert len(words) == 4, words
        root, pids = Path(words[0]), {int(word) for word in words[1:]}
        assert root.is_dir() and _etcd_left(root) == pids
        harness.send_signal(sig)
        # Stopping three members (one paused) takes seconds; a loaded machine takes longer.
        harness.wait(60)
        eventually(lambda: not _etcd_left(root) and not root.exists(), "members and data gone", timeout_s=10.0)
        assert all(not Path(f"/proc/{pid}/cmdline").exists() or not _etcd_left(root) for pid in pids)
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait()
