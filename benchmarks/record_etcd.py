"""Record a history from a real etcd 3.4 and check it with the `etcd` model.

    .venv/bin/python benchmarks/record_etcd.py [--members 3] [--clients 4] [--seconds 10]
                                               [--workload etcd|kubernetes] [--kill-member]
                                               [--kills 1] [--timeout 3] [--seed 1]
                                               [--out history.jsonl] [--no-check]

It starts `--members` etcd members on free loopback ports (data in /dev/shm where there is
one), waits until each answers, and runs `--clients` client threads for `--seconds`, each
talking to one member (client i to member i mod members, as Jepsen's clients do) through
etcd's v3 JSON gateway. The operations come from the generators of the built-in scenarios'
workloads (`etcd-mix`, `kubernetes`), which see etcd's answers as they see raftcore's. With
`--kill-member` (three members), the leader is killed with SIGKILL a third of the way in
and restarted on its data two thirds in (`--kills N`: N times, in 2N + 1 equal slices). A
request unanswered after `--timeout` seconds is `info`.

The history is `history.jsonl` as the `etcd` model reads it: keys and values as plain
strings, integers as JSON integers, a header holding only its revision. An answer is `ok`;
etcd's definite errors (`raftcore.etcd.ERRORS`: the request had no effect) are `fail` with
etcd's message, as is a refused connection (nothing was sent); a timeout, a broken
connection or any other error after sending (a timeout inside etcd, a lost leader) is `info`:
the request may or may not have taken effect. A client whose request ended in `info` goes
on as a new process, since the old one may still have a request in flight.

Then it checks the history with the `etcd` model and with the revisions checker, and prints
the operations recorded, the share of `info`, each check's time and verdict. It exits 1
when a check does not find the history valid.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raftcore.etcd import ERRORS
from raftcore.server import Response
from scenarios.loader import load
from workloads import Generator, Operation, discover

SCENARIOS = {"etcd": "etcd-mix", "kubernetes": "kubernetes"}
"""The built-in scenario whose workload settings (keys, weights, options) each kind uses."""
PATHS = {"range": "kv/range", "put": "kv/put", "delete": "kv/deleterange", "txn": "kv/txn", "compact": "kv/compaction"}
REQUEST_TIMEOUT_S = 3.0
STARTUP_S = 30.0
REFUSED_PAUSE_S = 0.05
"""After a refused connection (the member is down), so a client does not spin."""
BYTE_FIELDS = ("key", "range_end", "value")
"""The gateway's base64 fields (proto `bytes`); the history holds them as text."""
INTEGER_FIELDS = ("revision", "create_revision", "mod_revision", "version", "count", "deleted", "lease")
"""The gateway's int64 fields, written as decimal strings; the history holds integers."""


def etcd_binary() -> str | None:
    return shutil.which("etcd") or ("/usr/bin/etcd" if Path("/usr/bin/etcd").exists() else None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# ---- the gateway's JSON ----


def to_gateway(body: Any) -> Any:
    """A request in the history's JSON as etcd's gateway reads it: bytes in base64, int64
    as decimal strings."""
    if isinstance(body, list):
        return [to_gateway(item) for item in body]
    if not isinstance(body, dict):
        return body
    converted: dict[str, Any] = {}
    for name, value in body.items():
        if name in BYTE_FIELDS and isinstance(value, str):
            converted[name] = base64.b64encode(value.encode()).decode()
        elif isinstance(value, int) and not isinstance(value, bool):
            converted[name] = str(value)
        else:
            converted[name] = to_gateway(value)
    return converted


def from_gateway(body: Any) -> Any:
    """A gateway response in the history's JSON: bytes decoded, int64 as integers, a header
    reduced to its revision (its cluster, member and term say nothing the model reads).
    Fields the gateway leaves out (defaults) stay out: the model reads them as defaults."""
    if isinstance(body, list):
        return [from_gateway(item) for item in body]
    if not isinstance(body, dict):
        return body
    converted: dict[str, Any] = {}
    for name, value in body.items():
        if name == "header":
            converted[name] = {"revision": int(value.get("revision", 0))}
        elif name in BYTE_FIELDS and isinstance(value, str):
            converted[name] = base64.b64decode(value).decode()
        elif name in INTEGER_FIELDS and isinstance(value, str):
            converted[name] = int(value)
        else:
            converted[name] = from_gateway(value)
    return converted


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one request ended: `ok` with etcd's response, `fail` (no effect) or `info`
    (unknown), the last two with an error."""

    type: str
    value: dict[str, Any] | None = None
    error: str | None = None


def send(client_url: str, f: str, body: dict[str, Any], timeout_s: float = REQUEST_TIMEOUT_S) -> Outcome:
    request = urllib.request.Request(
        f"{client_url}/v3/{PATHS[f]}", data=json.dumps(to_gateway(body)).encode(), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            return Outcome("ok", from_gateway(json.loads(answer.read())))
    except urllib.error.HTTPError as error:
        message = _error_message(error)
        # Only the errors etcd gives before applying a request are definite; others (a
        # timeout inside etcd, a leader lost) may come after the request was proposed.
        return Outcome("fail" if message in ERRORS else "info", error=message)
    except urllib.error.URLError as error:
        if isinstance(error.reason, ConnectionRefusedError):
            return Outcome("fail", error="connection refused")  # nothing was sent
        return Outcome("info", error=str(error.reason))
    except OSError as error:  # a timeout or a reset while waiting for the answer
        return Outcome("info", error=type(error).__name__)


def _error_message(error: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(error.read())
    except (OSError, ValueError):
        return f"HTTP {error.code}"
    message = body.get("error") or body.get("message") if isinstance(body, dict) else None
    return str(message) if message else f"HTTP {error.code}"


# ---- the cluster ----


class Member:
    """One etcd member on loopback; it can be killed and restarted on its data."""

    def __init__(self, binary: str, name: str, directory: Path) -> None:
        self.name = name
        self.client_url = f"http://127.0.0.1:{free_port()}"
        self.peer_url = f"http://127.0.0.1:{free_port()}"
        self._binary = binary
        self._directory = directory
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, initial_cluster: str) -> None:
        assert self._process is None, f"{self.name} is already running"
        with open(self._directory / f"{self.name}.log", "ab") as log:
            self._process = subprocess.Popen(
                [
                    self._binary,
                    f"--name={self.name}",
                    f"--data-dir={self._directory / self.name}",
                    f"--listen-client-urls={self.client_url}",
                    f"--advertise-client-urls={self.client_url}",
                    f"--listen-peer-urls={self.peer_url}",
                    f"--initial-advertise-peer-urls={self.peer_url}",
                    f"--initial-cluster={initial_cluster}",
                    "--initial-cluster-token=raftsim",
                    "--logger=zap",
                    "--log-level=error",
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def wait_until_serving(self) -> None:
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                log = (self._directory / f"{self.name}.log").read_text(errors="replace")
                raise RuntimeError(f"etcd {self.name} exited with {self._process.returncode}: {log[-2000:]}")
            if send(self.client_url, "range", {"key": "health"}).type == "ok":
                return
            time.sleep(0.1)
        raise RuntimeError(f"etcd {self.name} did not answer on {self.client_url} within {STARTUP_S} s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self._process is None:
            return
        self._process.send_signal(sig)
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None


@contextmanager
def running_cluster(binary: str, members: int) -> Iterator[tuple[list[Member], str]]:
    """`members` fresh members, all serving; each stopped on leaving. Memory-backed data
    where there is some: etcd syncs every write."""
    parent = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="raftsim-record-", dir=parent) as directory:
        cluster = [Member(binary, f"m{number + 1}", Path(directory)) for number in range(members)]
        initial = ",".join(f"{member.name}={member.peer_url}" for member in cluster)
        try:
            for member in cluster:
                member.start(initial)
            for member in cluster:
                member.wait_until_serving()
            yield cluster, initial
        finally:
            for member in cluster:
                member.stop()


# ---- recording ----


class Recorder:
    """The history: one lock orders every event, so `index` and `time` (microseconds since
    the start, from the monotonic clock) grow together."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._start = time.monotonic_ns()
        self.lines: list[dict[str, Any]] = []

    def record(self, **fields: Any) -> None:
        with self._lock:
            elapsed = (time.monotonic_ns() - self._start) // 1000
            self.lines.append({"index": len(self.lines), "time": elapsed, **fields})


@dataclass
class Client:
    """One client thread's state: its slot, the member it talks to, and its process number
    (a new one after an `info`, as Jepsen's)."""

    slot: int
    client_url: str
    generator: Generator
    recorder: Recorder
    process: int
    processes_step: int
    timeout_s: float
    requests: int = 0

    def perform(self, operation: Operation) -> None:
        base = {"process": self.process, "client": self.slot, "f": operation.f, "key": operation.key}
        self.recorder.record(type="invoke", **base, value=operation.value)
        outcome = send(self.client_url, operation.f, operation.value, self.timeout_s)
        self.requests += 1
        value = outcome.value if outcome.type == "ok" else operation.value
        extra = {} if outcome.error is None else {"error": outcome.error}
        self.recorder.record(type=outcome.type, **base, value=value, **extra)
        if outcome.type == "info":
            self.process += self.processes_step
            return  # no answer to show the generator: it treats the step as unanswered
        if outcome.error == "connection refused":
            time.sleep(REFUSED_PAUSE_S)
        answer = outcome.value or {}
        self.generator.observe(
            operation,
            Response(
                request_id=f"c{self.slot}-{self.requests}",
                client=f"c{self.slot}",
                node=0,
                succeeded=outcome.type == "ok",
                value=outcome.value,
                revision=int(answer.get("header", {}).get("revision", 0)),
                error=outcome.error,
            ),
        )

    def run(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            self.perform(self.generator.next_operation())
        for operation in self.generator.final_operations():
            self.perform(operation)


@dataclass(frozen=True, slots=True)
class Recording:
    members: int
    clients: int
    seconds: float
    workload: str
    seed: int = 1
    kill_member: bool = False
    kills: int = 1
    timeout_s: float = REQUEST_TIMEOUT_S


def record(binary: str, recording: Recording) -> list[dict[str, Any]]:
    """Run the clients against a fresh cluster and return the history's lines."""
    assert recording.members >= 1, recording
    assert not recording.kill_member or recording.members >= 3, "a killed member needs a quorum without it"
    workload = discover()[recording.workload]
    settings = load(SCENARIOS[recording.workload]).workload
    with running_cluster(binary, recording.members) as (cluster, initial):
        recorder = Recorder()  # time 0 is when the clients start
        clients = [
            Client(
                slot=slot,
                client_url=cluster[slot % len(cluster)].client_url,
                generator=workload.generator(settings, slot, random.Random(recording.seed * 1000 + slot)),
                recorder=recorder,
                process=slot,
                processes_step=recording.clients,
                timeout_s=recording.timeout_s,
            )
            for slot in range(recording.clients)
        ]
        deadline = time.monotonic() + recording.seconds
        threads = [threading.Thread(target=client.run, args=(deadline,)) for client in clients]
        if recording.kill_member:
            nemesis = (cluster, initial, recording.seconds, recording.kills)
            threads.append(threading.Thread(target=kill_and_restart, args=nemesis))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return recorder.lines


def leader_of(cluster: list[Member]) -> Member:
    """The member that says it leads (etcd's maintenance status: its own id and the
    leader's), else the last member."""
    for member in cluster:
        request = urllib.request.Request(f"{member.client_url}/v3/maintenance/status", data=b"{}", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as answer:
                status = json.loads(answer.read())
        except OSError:
            continue
        if status.get("leader") and status.get("leader") == status.get("header", {}).get("member_id"):
            return member
    return cluster[-1]


def kill_and_restart(cluster: list[Member], initial_cluster: str, seconds: float, kills: int) -> None:
    """`kills` times, SIGKILL the leader (the others elect a new one, and requests in flight
    meet timeouts and lost leaders) and restart it on its data: the run is cut into
    2 * kills + 1 equal slices, each kill ending one and each restart the next."""
    slice_s = seconds / (2 * kills + 1)
    started = time.monotonic()
    for _ in range(kills):
        time.sleep(slice_s)
        member = leader_of(cluster)
        member.stop(signal.SIGKILL)
        print(f"killed {member.name} at {time.monotonic() - started:.1f} s", file=sys.stderr)
        time.sleep(slice_s)
        member.start(initial_cluster)
        print(f"restarted {member.name} at {time.monotonic() - started:.1f} s", file=sys.stderr)


def write_history(lines: list[dict[str, Any]], path: Path) -> None:
    path.write_text("".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines), encoding="utf-8")


def check(path: Path, *flags: str) -> tuple[int, dict[str, Any], float]:
    """`raftsim check PATH --model etcd --json FLAGS`: its exit code, its JSON and its wall time."""
    from click.testing import CliRunner

    from raftsim.cli import cli

    started = time.perf_counter()
    result = CliRunner().invoke(cli, ["check", str(path), "--model", "etcd", "--json", *flags])
    elapsed = time.perf_counter() - started
    output = result.output.strip()
    verdict = json.loads(output) if output.startswith("{") else {"output": output}
    return result.exit_code, verdict, elapsed


def summary(lines: list[dict[str, Any]]) -> str:
    completions = [line for line in lines if line["type"] != "invoke"]
    counts = {kind: sum(line["type"] == kind for line in completions) for kind in ("ok", "fail", "info")}
    functions = sorted({line["f"] for line in completions})
    share = counts["info"] / len(completions) if completions else 0.0
    return (
        f"{len(completions)} operations ({counts['ok']} ok, {counts['fail']} fail, {counts['info']} info: "
        f"{share:.1%} unknown), kinds {', '.join(functions)}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, choices=(1, 3), default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workload", choices=sorted(SCENARIOS), default="etcd")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kill-member", action="store_true", help="SIGKILL the leader mid-run, then restart it")
    parser.add_argument("--kills", type=int, default=1, help="with --kill-member: how many times")
    parser.add_argument("--timeout", type=float, default=REQUEST_TIMEOUT_S, help="seconds before a request is info")
    parser.add_argument("--out", type=Path, default=Path("history.jsonl"))
    parser.add_argument("--no-check", action="store_true", help="record only")
    arguments = parser.parse_args()
    if arguments.kill_member and arguments.members < 3:
        parser.error("--kill-member needs --members 3")
    if arguments.kills < 1 or arguments.timeout <= 0:
        parser.error("--kills must be at least 1 and --timeout positive")
    binary = etcd_binary()
    if binary is None:
        print("no etcd on this machine (apt-get install etcd-server)", file=sys.stderr)
        return 2
    recording = Recording(
        members=arguments.members,
        clients=arguments.clients,
        seconds=arguments.seconds,
        workload=arguments.workload,
        seed=arguments.seed,
        kill_member=arguments.kill_member,
        kills=arguments.kills,
        timeout_s=arguments.timeout,
    )
    lines = record(binary, recording)
    write_history(lines, arguments.out)
    print(f"{arguments.out}: {summary(lines)}, {os.path.getsize(arguments.out)} bytes")
    if arguments.no_check:
        return 0
    failed = False
    for name, flags in (("etcd model", ()), ("revisions", ("--checker", "revisions"))):
        code, verdict, elapsed = check(arguments.out, *flags)
        shown = verdict.get("valid", verdict.get("verdict", verdict))
        print(f"{name}: exit {code}, valid {shown}, {elapsed:.2f} s")
        if code != 0:
            failed = True
            print(json.dumps(verdict)[:2000])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
