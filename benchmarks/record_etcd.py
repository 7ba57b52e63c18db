"""Record a history from a real etcd 3.4 and check it with the workload's model.

    .venv/bin/python benchmarks/record_etcd.py [--members 3] [--clients 4] [--seconds 10]
                                               [--workload etcd|kubernetes|register|election|list-append]
                                               [--rate 0] [--kill-member] [--kills 1] [--timeout 3]
                                               [--seed 1] [--out history.jsonl] [--no-check]

It starts `--members` etcd members on free loopback ports (data in /dev/shm where there is
one), waits until each answers, and runs `--clients` client threads for `--seconds` with
`targets.etcd.driver.drive`: client i talks to member i mod members (as Jepsen's clients
do, and the simulated ones) through etcd's v3 JSON gateway (`targets.etcd.gateway`). The
operations come from the generators of a built-in scenario's workload (`SCENARIOS`: its
keys, weights and options), seeded by `--seed` as a simulated run with that seed seeds
them; they see etcd's answers as they see raftcore's. `--rate` is the whole workload's
operations a second, as the scenario's `rate`; 0 (the default) lets every client go as fast
as etcd answers. With `--kill-member` (three members), the leader is killed with SIGKILL a
third of the way in and restarted on its data two thirds in (`--kills N`: N times, in 2N + 1
equal slices). A write unanswered after `--timeout` seconds is `info`.

The history is `history.jsonl` in the simulation's schema (`sim.history`): an answer is
`ok`; etcd's definite errors (`raftcore.etcd.ERRORS`: the request had no effect) are `fail`
with etcd's message, as is a request no member would take (`unavailable`: nothing was
sent); a timeout, a broken connection or any other error after sending a write (a timeout
inside etcd, a lost leader) is `info`: it may or may not have taken effect. A client whose
request ended in `info` goes on as a new process, since the old one may still have a
request in flight. The leader's kills are reported on stderr, not in the history.

Then it checks the history with the workload's model and with the revisions checker, and
prints the operations recorded, the share of `info`, each check's time and verdict. It
exits 1 when a check does not find the history valid.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
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

from scenarios.loader import load
from scenarios.model import WorkloadSpec
from targets.etcd import gateway
from targets.etcd.driver import Recorder, drive
from workloads import get as get_workload

SCENARIOS = {
    "etcd": "etcd-mix",
    "kubernetes": "kubernetes",
    "register": "mixed",
    "election": "controller-election",
    "list-append": "list-append",
}
"""The built-in scenario whose workload settings (keys, weights, options) each kind uses."""
REQUEST_TIMEOUT_S = 3.0
STARTUP_S = 30.0
AS_FAST_AS_ANSWERED_US = 1
"""The mean gap between a client's invocations that `--rate 0` stands for: none to speak of,
so each client invokes as soon as its last operation ended."""


def etcd_binary() -> str | None:
    return shutil.which("etcd") or ("/usr/bin/etcd" if Path("/usr/bin/etcd").exists() else None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


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
            if gateway.health(self.client_url):
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
    rate: int = 0
    """The whole workload's operations a second; 0: each client as fast as etcd answers it."""


def workload_spec(recording: Recording) -> WorkloadSpec:
    """The scenario's `[workload]` with this recording's clients, rate and timeout."""
    settings = load(SCENARIOS[recording.workload]).workload
    timeout_ms = max(1, round(recording.timeout_s * 1000))
    rate = recording.rate or recording.clients * 1_000_000 // AS_FAST_AS_ANSWERED_US
    return dataclasses.replace(
        settings,
        clients=recording.clients,
        rate=rate,
        timeout_ms=timeout_ms,
        attempt_timeout_ms=min(settings.attempt_timeout_ms, timeout_ms),
    )


def record(binary: str, recording: Recording) -> list[dict[str, Any]]:
    """Run the clients against a fresh cluster and return the history's lines. Ctrl-C stops
    the clients early; what they recorded is returned."""
    assert recording.members >= 1, recording
    assert not recording.kill_member or recording.members >= 3, "a killed member needs a quorum without it"
    spec = workload_spec(recording)
    with running_cluster(binary, recording.members) as (cluster, initial):
        urls = {number + 1: member.client_url for number, member in enumerate(cluster)}
        recorder = Recorder()  # time 0 is when the clients start
        stop = threading.Event()
        failures: list[BaseException] = []

        def run() -> None:
            try:
                drive(urls, spec, recording.seed, recording.seconds, True, recorder, stop)
            except BaseException as error:
                failures.append(error)

        threads = [threading.Thread(target=run)]
        if recording.kill_member:
            nemesis = (cluster, initial, recording.seconds, recording.kills, stop)
            threads.append(threading.Thread(target=kill_and_restart, args=nemesis))
        for thread in threads:
            thread.start()
        try:
            while any(thread.is_alive() for thread in threads):
                threads[0].join(0.2)
        except KeyboardInterrupt:
            stop.set()
            print("interrupted: stopping the clients", file=sys.stderr)
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]
    return recorder.events()


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


def kill_and_restart(
    cluster: list[Member], initial_cluster: str, seconds: float, kills: int, stop: threading.Event
) -> None:
    """`kills` times, SIGKILL the leader (the others elect a new one, and requests in flight
    meet timeouts and lost leaders) and restart it on its data: the run is cut into
    2 * kills + 1 equal slices, each kill ending one and each restart the next."""
    slice_s = seconds / (2 * kills + 1)
    started = time.monotonic()
    for _ in range(kills):
        if stop.wait(slice_s):
            return
        member = leader_of(cluster)
        member.stop(signal.SIGKILL)
        print(f"killed {member.name} at {time.monotonic() - started:.1f} s", file=sys.stderr)
        stop.wait(slice_s)
        member.start(initial_cluster)
        print(f"restarted {member.name} at {time.monotonic() - started:.1f} s", file=sys.stderr)


def write_history(lines: list[dict[str, Any]], path: Path) -> None:
    path.write_text("".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines), encoding="utf-8")


def check(path: Path, model: str, *flags: str) -> tuple[int, dict[str, Any], float]:
    """`raftsim check PATH --model MODEL --json FLAGS`: its exit code, its JSON and its wall time."""
    from click.testing import CliRunner

    from raftsim.cli import cli

    started = time.perf_counter()
    result = CliRunner().invoke(cli, ["check", str(path), "--model", model, "--json", *flags])
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
    parser.add_argument("--rate", type=int, default=0, help="operations a second, all clients; 0: as fast as answered")
    parser.add_argument("--kill-member", action="store_true", help="SIGKILL the leader mid-run, then restart it")
    parser.add_argument("--kills", type=int, default=1, help="with --kill-member: how many times")
    parser.add_argument("--timeout", type=float, default=REQUEST_TIMEOUT_S, help="seconds before a request is info")
    parser.add_argument("--out", type=Path, default=Path("history.jsonl"))
    parser.add_argument("--no-check", action="store_true", help="record only")
    arguments = parser.parse_args()
    if arguments.kill_member and arguments.members < 3:
        parser.error("--kill-member needs --members 3")
    if arguments.kills < 1 or arguments.timeout <= 0 or arguments.rate < 0 or arguments.clients < 1:
        parser.error("--kills and --clients must be at least 1, --timeout positive and --rate not negative")
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
        rate=arguments.rate,
    )
    lines = record(binary, recording)
    write_history(lines, arguments.out)
    print(f"{arguments.out}: {summary(lines)}, {os.path.getsize(arguments.out)} bytes")
    if arguments.no_check:
        return 0
    failed = False
    model = get_workload(arguments.workload).model_name
    for name, flags in ((f"{model} model", ()), ("revisions", ("--checker", "revisions"))):
        code, verdict, elapsed = check(arguments.out, model, *flags)
        shown = verdict.get("valid", verdict.get("verdict", verdict))
        print(f"{name}: exit {code}, valid {shown}, {elapsed:.2f} s")
        if code != 0:
            failed = True
            print(json.dumps(verdict)[:2000])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
