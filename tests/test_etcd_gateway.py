"""Workloads against a real etcd 3.4 through its JSON gateway (`targets.etcd`).

Each request a workload builds must come back from etcd as the `Response` raftcore's server
gives for the same sequence (a fresh etcd and a fresh lone server start at the same
revision, so revisions are compared too); the driver must record a history the workload's
model and the revisions checker accept; a member that stops answering must leave a write
`info` after the scenario's timeout, and one that refuses connections a definite `fail`.

Each test starts its own single member on free loopback ports (memory-backed data where
there is some). Without etcd the tests are skipped, unless RAFTSIM_REQUIRE_ETCD=1 (CI).
"""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from mvcc_support import lone_leader, settle
from test_etcd_differential import _etcd_binary, _free_port

from raftcore.server import KVServer, Request, Response
from raftsim.cli import cli
from scenarios.loader import load
from scenarios.model import WorkloadSpec
from scenarios.rng import stream
from targets.etcd import gateway
from targets.etcd.driver import Client, Recorder, drive
from workloads import get as get_workload
from workloads import register

STARTUP_S = 30.0
DRIVE_S = 3.0


class Member:
    """A single-member etcd on loopback, which a test may pause (SIGSTOP) and resume."""

    def __init__(self, binary: str, data_dir: str) -> None:
        self.url = f"http://127.0.0.1:{_free_port()}"
        peer = f"http://127.0.0.1:{_free_port()}"
        # A name of its own: every test worker starts members, and a port taken by another
        # worker's member must not pass for this one.
        self.name = f"gateway-{Path(data_dir).name}"
        self.process = subprocess.Popen(
            [
                binary,
                f"--name={self.name}",
                f"--data-dir={data_dir}",
                f"--listen-client-urls={self.url}",
                f"--advertise-client-urls={self.url}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster={self.name}={peer}",
                "--logger=zap",
                "--log-level=error",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + STARTUP_S
        while not self._serving():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"etcd did not serve on {self.url} (exit {self.process.returncode})")
            time.sleep(0.05)

    def _serving(self) -> bool:
        """Whether this member, not some other etcd that took the port first (a free port
        is only free until someone binds it), answers on the URL: a paused member that is
        not the one answering would leave the tests that pause it proving nothing."""
        if self.process.poll() is not None or not gateway.health(self.url):
            return False
        try:
            members = gateway.call(self.url, "/v3/cluster/member/list", {}, time.monotonic() + 2.0).body or {}
        except gateway.CallFailed:
            return False
        return [member.get("name") for member in members.get("members", [])] == [self.name]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGCONT)
        self.process.kill()
        self.process.wait()


@pytest.fixture
def member() -> Iterator[Member]:
    binary = _etcd_binary()
    parent = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="raftsim-gateway-", dir=parent) as data_dir:
        started = Member(binary, data_dir)
        try:
            yield started
        finally:
            started.stop()


# ---- request by request, against raftcore's server ----


def raftcore_answer(server: KVServer, request: Request) -> Response:
    """A lone leader's answer: at once (a keep-alive, a time-to-live) or once applied."""
    immediate = server.submit(request)
    if immediate is not None:
        assert isinstance(immediate, Response), immediate
        return immediate
    (response,) = settle(server)[0]
    return response


def comparable(response: Response) -> tuple[Any, ...]:
    """What a workload reads of a response. The revision of an error is the store's in
    raftcore and unknown (0) from etcd, whose errors carry no header; the TTL left of a
    lease is each one's clock's."""
    value = response.value
    if isinstance(value, dict) and "grantedTTL" in value:
        value = {name: field for name, field in value.items() if name != "TTL"}
    revision = response.revision if response.error in (None, register.COMPARE_FAILED) else None
    return response.succeeded, value, revision, response.error


def same_answers(member: Member, requests: list[Request]) -> list[Response]:
    server = lone_leader()
    answers = []
    for step, request in enumerate(requests):
        outcome = gateway.perform(request, member.url, 1, 5.0)
        assert outcome.status == "answered", (step, request, outcome)
        assert outcome.response is not None
        expected = raftcore_answer(server, request)
        assert comparable(outcome.response) == comparable(expected), (step, request)
        assert (outcome.response.request_id, outcome.response.node) == (request.request_id, 1)
        answers.append(outcome.response)
    return answers


def etcd(number: int, kind: str, body: dict[str, Any]) -> Request:
    return Request.etcd(f"r{number}", "c0", kind, body)


def test_every_request_kind_is_answered_as_raftcore_answers_it(member: Member) -> None:
    requests = [
        Request("r1", "c0", "get", "k0"),
        Request("r2", "c0", "put", "k0", value=7),
        Request("r3", "c0", "get", "k0", serializable=True),
        Request("r4", "c0", "cas", "k0", value=8, expected=6),  # compare-failed: holds 7
        Request("r5", "c0", "cas", "k0", value=8, expected=7),
        Request("r6", "c0", "cas", "k1", value=1, expected=None),  # only if absent
        Request("r7", "c0", "cas", "k1", value=2, expected=None),  # compare-failed: present
        Request("r8", "c0", "append", "l0", value=1),
        Request("r9", "c0", "append", "l0", value=2),
        Request("r10", "c0", "get", "l0"),
        Request("r11", "c0", "delete", "k1"),
        etcd(12, "put", {"key": "/e/a", "value": "x", "prev_kv": True}),
        etcd(13, "put", {"key": "/e/b", "value": "", "prev_kv": True}),
        etcd(14, "put", {"key": "/e/a", "value": "y", "prev_kv": True}),
        etcd(15, "range", {"key": "/e/", "range_end": "/e0", "keys_only": True}),
        etcd(16, "range", {"key": "/e/", "range_end": "/e0", "limit": 1, "sort_order": "DESCEND"}),
        etcd(17, "range", {"key": "/e/a", "revision": 9, "serializable": True}),
        etcd(18, "range", {"key": "/e/a", "revision": 99}),  # a future revision
        etcd(
            19,
            "txn",
            {
                "compare": [{"key": "/e/a", "target": "VALUE", "result": "EQUAL", "value": "y"}],
                "success": [
                    {"request_put": {"key": "/e/c", "value": "z"}},
                    {"request_range": {"key": "/e/", "range_end": "/e0", "keys_only": True}},
                    {"request_txn": {"success": [{"request_delete_range": {"key": "/e/b", "prev_kv": True}}]}},
                ],
                "failure": [{"request_range": {"key": "/e/a"}}],
            },
        ),
        etcd(
            20,
            "txn",
            {
                "compare": [{"key": "/e/a", "target": "MOD", "result": "LESS", "mod_revision": 2}],
                "success": [{"request_put": {"key": "/e/c", "value": "w"}}],
                "failure": [{"request_range": {"key": "/e/", "range_end": "/e0", "count_only": True}}],
            },
        ),
        etcd(21, "delete", {"key": "/e/", "range_end": "/e0", "prev_kv": True}),
        etcd(22, "compact", {"revision": 11}),
        etcd(23, "range", {"key": "/e/a", "revision": 9}),  # compacted
        etcd(24, "lease-grant", {"TTL": 60, "ID": 4096}),
        etcd(25, "lease-grant", {"TTL": 60, "ID": 4096}),  # exists
        etcd(26, "put", {"key": "/l/a", "value": "v", "lease": 4096}),
        etcd(27, "put", {"key": "/l/b", "value": "v", "lease": 9999}),  # no such lease
        etcd(28, "lease-keepalive", {"ID": 4096}),
        etcd(29, "lease-keepalive", {"ID": 9999}),  # TTL 0: not found
        etcd(30, "lease-timetolive", {"ID": 4096, "keys": True}),
        etcd(31, "lease-timetolive", {"ID": 9999}),  # TTL -1
        etcd(32, "lease-revoke", {"ID": 4096}),  # deletes /l/a
        etcd(33, "range", {"key": "/l/", "range_end": "/l0"}),
        etcd(34, "lease-revoke", {"ID": 4096}),  # not found
    ]
    answers = same_answers(member, requests)
    assert answers[3].error == register.COMPARE_FAILED and answers[3].value == 7
    assert answers[9].value == (1, 2), "a list reads back as raftcore's store holds it"
    assert answers[14].value["kvs"] and all("value" not in kv for kv in answers[14].value["kvs"])
    assert answers[16].value["kvs"][0]["value"] == "x", "a read of the past"
    assert answers[17].error is not None and answers[22].error is not None
    assert answers[19].value["succeeded"] is False and answers[20].value["header"]["revision"] == 12
    assert answers[29].value["keys"] == ["/l/a"]
    assert answers[33].error is not None


def test_a_request_to_no_member_is_unsent() -> None:
    outcome = gateway.perform(Request("r1", "c0", "put", "k0", value=1), f"http://127.0.0.1:{_free_port()}", 1, 1.0)
    assert (outcome.status, outcome.error) == ("unsent", "connection refused")
    assert not gateway.resend_safe(Request("r1", "c0", "put", "k0", value=1))
    assert gateway.resend_safe(Request("r1", "c0", "get", "k0"))
    assert gateway.resend_safe(etcd(1, "txn", {"success": [{"request_range": {"key": "a"}}]}))
    assert not gateway.resend_safe(etcd(1, "txn", {"success": [{"request_put": {"key": "a"}}]}))


# ---- the driver ----


def check(path: Path, model: str, *flags: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["check", str(path), "--model", model, "--json", *flags])
    assert result.exit_code == 0, result.output[:3000]
    verdict: dict[str, Any] = json.loads(result.output)
    return verdict


def drive_and_check(member: Member, spec: WorkloadSpec, tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "history.jsonl"
    with path.open("w", encoding="utf-8") as sink:
        recorder = Recorder(sink)
        stats = drive({1: member.url}, spec, 7, DRIVE_S, True, recorder, threading.Event())
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert recorder.events() == lines
    assert [line["index"] for line in lines] == list(range(len(lines)))
    assert [line["time"] for line in lines] == sorted(line["time"] for line in lines)
    assert stats.operations == sum(line["type"] == "invoke" for line in lines)
    assert stats.ok + stats.fail + stats.info == stats.operations
    assert not stats.stopped and stats.info == 0, stats
    # The offered rate is the whole workload's, as in the simulation (final reads come on top).
    assert 0.5 * spec.rate * DRIVE_S < stats.operations < 2 * spec.rate * DRIVE_S + 50, stats
    assert {line["node"] for line in lines if line["type"] == "ok"} == {1}
    model = get_workload(spec.kind).model_name
    assert check(path, model)["valid"] is True
    assert check(path, model, "--checker", "revisions")["valid"] is True
    return lines


def test_the_register_workload_recorded_from_etcd_is_linearizable(member: Member, tmp_path: Path) -> None:
    spec = load("mixed").workload
    assert spec.kind == "register"
    spec = dataclasses.replace(spec, options=(("serializable", 0.3),))
    lines = drive_and_check(member, spec, tmp_path)
    serializable = [line for line in lines if line.get("serializable")]
    assert serializable and all(line["type"] == "invoke" and line["f"] == "read" for line in serializable)
    assert {"read", "write", "cas"} <= {line["f"] for line in lines if line["type"] == "ok"}
    assert any(line.get("error") == register.COMPARE_FAILED for line in lines)


def test_the_etcd_workload_recorded_from_etcd_is_valid(member: Member, tmp_path: Path) -> None:
    spec = load("etcd-mix").workload
    lines = drive_and_check(member, spec, tmp_path)
    assert {"range", "put", "txn"} <= {line["f"] for line in lines if line["type"] == "ok"}


def _thread_states(pid: int) -> dict[str, str]:
    """Each thread's state letter as /proc shows it (`T`: stopped by a signal)."""
    states = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            states[task.name] = (task / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
    return states


def _all_threads_stopped(pid: int) -> bool:
    states = _thread_states(pid)
    return bool(states) and all(state in ("T", "t") for state in states.values())


def test_a_paused_member_leaves_a_write_info_after_the_timeout(member: Member) -> None:
    recorder = Recorder()
    workload = get_workload("register")
    spec = WorkloadSpec(clients=2, timeout_ms=600, attempt_timeout_ms=200)
    generator = workload.generator(spec, 0, stream(1, "workload-0"))
    client = Client(0, 2, {1: member.url}, workload, generator, recorder, 0.6, 0.2)
    member.process.send_signal(signal.SIGSTOP)
    # The signal is taken when the member's threads next enter the kernel: the requests go
    # only once the system shows every one of them stopped.
    deadline = time.monotonic() + 5.0
    while not _all_threads_stopped(member.process.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _all_threads_stopped(member.process.pid), _thread_states(member.process.pid)
    try:
        started = time.monotonic()
        client.perform(register.write("k0", 1))
        wrote = time.monotonic() - started
        client.perform(register.read("k0"))
        read = time.monotonic() - started - wrote
    finally:
        member.process.send_signal(signal.SIGCONT)
    lines = recorder.events()
    assert [(line["process"], line["type"], line.get("error")) for line in lines] == [
        (0, "invoke", None),
        (0, "info", "timeout"),
        (2, "invoke", None),
        (2, "info", "timeout"),
    ], ("after an info the client goes on as a new process", lines, _thread_states(member.process.pid), member.url)
    assert 0.6 <= wrote < 1.5 and 0.6 <= read < 1.5, (wrote, read)
    assert client.resends >= 2, "a read unanswered is asked again within the deadline; a write never"


def test_a_member_that_refuses_connections_fails_definitely_or_hands_over(member: Member) -> None:
    recorder = Recorder()
    workload = get_workload("register")
    generator = workload.generator(WorkloadSpec(), 0, stream(1, "workload-0"))
    down = f"http://127.0.0.1:{_free_port()}"
    lonely = Client(0, 1, {1: down}, workload, generator, recorder, 0.3, 0.1)
    lonely.perform(register.write("k0", 1))
    handed = Client(0, 1, {1: down, 2: member.url}, workload, generator, recorder, 0.3, 0.1)
    handed.perform(register.write("k0", 2))
    completions = [line for line in recorder.events() if line["type"] != "invoke"]
    assert [(line["type"], line.get("error"), line.get("node")) for line in completions] == [
        ("fail", "unavailable", None),
        ("ok", None, 2),
    ]


def test_stop_ends_a_drive_early_with_every_operation_completed() -> None:
    recorder = Recorder()
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    spec = WorkloadSpec(clients=3, rate=200, timeout_ms=200, attempt_timeout_ms=100)
    started = time.monotonic()
    stats = drive({1: f"http://127.0.0.1:{_free_port()}"}, spec, 1, 30.0, True, recorder, stop)
    assert time.monotonic() - started < 2.0 and stats.stopped
    lines = recorder.events()
    assert stats.operations > 0 and stats.fail == stats.operations
    assert sum(line["type"] == "invoke" for line in lines) == sum(line["type"] == "fail" for line in lines)


def test_the_recorder_writes_the_orchestrators_faults_in_order() -> None:
    recorder = Recorder()
    recorder.record(0, 0, "invoke", "read", "k0", None)
    recorder.fault(1, "pause", nodes=[2])
    recorder.heal(1, nodes=[2])
    lines = recorder.events()
    assert lines[1:] == [
        {"index": 1, "time": lines[1]["time"], "process": "nemesis", "type": "fault", "fault": 1, "kind": "pause"}
        | {"nodes": [2]},
        {"index": 2, "time": lines[2]["time"], "process": "nemesis", "type": "heal", "fault": 1, "nodes": [2]},
    ]
    assert lines[0]["time"] <= lines[1]["time"] <= lines[2]["time"] <= recorder.now_us()
    assert recorder.counts() == {"invoke": 1, "fault": 1, "heal": 1}
    assert recorder.text().splitlines()[1].startswith('{"index":1,"time":')
