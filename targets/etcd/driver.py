"""A scenario's workload run against real etcd members, recorded as the simulation records it.

`drive` plays the part of `sim.world` and `sim.client` for a real cluster: one thread per
client slot, each homed on a member as the simulated clients are (slot i on the i-th node
modulo their number), its generator built from the same seeded stream, and its
invocations paced as a Poisson process at the scenario's rate (`[workload] rate` is the
whole workload's: each client's mean gap is clients / rate seconds). So the seed decides the
operations a client offers, though not etcd's answers, and the history a run writes reads
as a simulated run's does (`sim.history`'s line schema).

Where the simulated client resends a request under its request id, and raftcore's store
applies an id once, etcd has no such deduplication, so this client resends only what cannot
take effect twice: a request that never reached a member (a refused connection) goes to
the next member, and so does a read that got no answer, within the operation's deadline
(`[workload] timeout_ms`; `attempt_timeout_ms` per read attempt). A write that may have
reached a member is never sent again: with no answer by the deadline it is `info`, and the
client carries on as a new process (process + clients), as Jepsen's clients do. An
operation that certainly had no effect and got no answer is `fail` with error
`unavailable`, as in the simulation.

A `Recorder` writes the lines: thread-safe, one lock ordering them so that `index` and
`time` (microseconds since the recorder started, on the monotonic clock) grow together.
The orchestrator writes its faults into the same history (`fault`, `heal`).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from raftcore.server import Request, Response
from scenarios.model import WorkloadSpec
from scenarios.rng import stream
from targets.etcd import gateway
from workloads import Generator, Operation, Workload
from workloads import get as get_workload

SECOND_US = 1_000_000
RETRY_PAUSE_S = 0.005
"""After an attempt that failed at once (a refusal, an error answer), before the next, so a
client does not spin against a member that is down or has no leader."""
ROUND_PAUSE_S = 0.05
"""After every member refused a connection in turn: the whole cluster is down."""


class Recorder:
    """The history of a real run, in `sim.history`'s schema, plus the orchestrator's faults.

    Lines are kept in memory (`text`, `events`) and, given a `sink`, written to it (and
    flushed) as they happen, so an interrupted run leaves what it recorded on disk."""

    def __init__(self, sink: IO[str] | None = None) -> None:
        self._lock = threading.Lock()
        self._start_ns = time.monotonic_ns()
        self._lines: list[str] = []
        self._sink = sink
        self._encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
        self._counts: Counter[str] = Counter()

    def now_us(self) -> int:
        """Microseconds since this recorder started, on the monotonic clock."""
        return (time.monotonic_ns() - self._start_ns) // 1000

    def record(self, process: int, client: int, kind: str, f: str, key: str, value: Any, **extra: Any) -> None:
        """One operation's line, as `sim.history.History.record` writes it."""
        fields = {"process": process, "client": client, "type": kind, "f": f, "key": key, "value": value}
        self._write(fields, extra)

    def fault(self, number: int, kind: str, **details: Any) -> None:
        """The orchestrator started fault `number` of `kind` (details: its targets, say)."""
        self._write({"process": "nemesis", "type": "fault", "fault": number, "kind": kind}, details)

    def heal(self, number: int, **details: Any) -> None:
        """The orchestrator undid fault `number`."""
        self._write({"process": "nemesis", "type": "heal", "fault": number}, details)

    def _write(self, fields: dict[str, Any], extra: dict[str, Any]) -> None:
        with self._lock:
            line = self._encode({"index": len(self._lines), "time": self.now_us(), **fields, **extra})
            self._lines.append(line)
            self._counts[fields["type"]] += 1
            if self._sink is not None:
                self._sink.write(line + "\n")
                self._sink.flush()

    def __len__(self) -> int:
        return len(self._lines)

    def counts(self) -> dict[str, int]:
        """Lines so far by `type` (invoke, ok, fail, info, fault, heal)."""
        with self._lock:
            return dict(self._counts)

    def text(self) -> str:
        with self._lock:
            return "".join(line + "\n" for line in self._lines)

    def events(self) -> list[dict[str, Any]]:
        """The lines so far, parsed."""
        with self._lock:
            return [json.loads(line) for line in self._lines]


@dataclass(frozen=True, slots=True)
class DriveStats:
    """What a drive did: operations invoked and how they ended, the attempts beyond each
    operation's first (resends to the next member), its wall time, and whether `stop` cut it
    short."""

    clients: int
    operations: int
    ok: int
    fail: int
    info: int
    resends: int
    elapsed_s: float
    stopped: bool

    @property
    def info_share(self) -> float:
        return self.info / self.operations if self.operations else 0.0


class Client:
    """One client slot: it performs operations one at a time against its members and records
    each (invoke, then ok, fail or info), as `sim.client.Client` does."""

    def __init__(
        self,
        slot: int,
        clients: int,
        urls: dict[int, str],
        workload: Workload,
        generator: Generator,
        recorder: Recorder,
        timeout_s: float,
        attempt_timeout_s: float,
        stop: threading.Event | None = None,
    ) -> None:
        self.slot = slot
        self.name = f"c{slot}"
        self.process = slot
        self._clients = clients
        self._nodes = tuple(sorted(urls))
        self._urls = dict(urls)
        self.workload = workload
        self.generator = generator
        self._recorder = recorder
        self._timeout_s = timeout_s
        self._attempt_timeout_s = attempt_timeout_s
        self._stop = stop or threading.Event()
        self.home = self._nodes[slot % len(self._nodes)]
        self._sequence = 0
        self.resends = 0

    def perform(self, operation: Operation) -> None:
        process = self.process
        marks = {"serializable": True} if operation.serializable else {}
        record = self._recorder.record
        record(process, self.slot, "invoke", operation.f, operation.key, operation.value, **marks)
        self._sequence += 1
        request = self.workload.request(operation, f"{self.name}-{self._sequence}", self.name)
        outcome, maybe_applied = self._call(request)
        if outcome.response is None:
            if maybe_applied:
                error = "timeout" if outcome.timed_out else outcome.error or "unknown"
                record(process, self.slot, "info", operation.f, operation.key, operation.value, error=error)
                self.process += self._clients
            else:
                error = (outcome.error if outcome.status == "refused" else None) or "unavailable"
                record(process, self.slot, "fail", operation.f, operation.key, operation.value, error=error)
            return
        self._complete(process, operation, outcome.response)

    def _call(self, request: Request) -> tuple[gateway.Outcome, bool]:
        """Send until an answer, a definite refusal or the deadline; say whether the request
        may have applied."""
        deadline = time.monotonic() + self._timeout_s
        safe = gateway.resend_safe(request)
        target = self.home
        maybe_applied = False
        unsent_in_a_row = 0
        outcome = gateway.Outcome("unsent", error="timeout", timed_out=True)
        first = True
        while (remaining := deadline - time.monotonic()) > 0:
            if not first:
                self.resends += 1
            first = False
            wait_s = min(self._attempt_timeout_s, remaining) if safe else remaining
            outcome = gateway.perform(request, self._urls[target], target, wait_s)
            if outcome.status in ("answered", "refused"):
                return outcome, maybe_applied
            if outcome.status == "unknown":
                maybe_applied = True
                if not safe:
                    return outcome, True
                unsent_in_a_row = 0
            else:
                unsent_in_a_row += 1
            target = self._next_node(target)
            if not outcome.timed_out:
                pause = ROUND_PAUSE_S if unsent_in_a_row >= len(self._nodes) else RETRY_PAUSE_S
                unsent_in_a_row = 0 if unsent_in_a_row >= len(self._nodes) else unsent_in_a_row
                if self._stop.wait(min(pause, max(0.0, deadline - time.monotonic()))):
                    break
        return outcome, maybe_applied

    def _next_node(self, node: int) -> int:
        return self._nodes[(self._nodes.index(node) + 1) % len(self._nodes)]

    def _complete(self, process: int, operation: Operation, response: Response) -> None:
        completion = self.workload.complete(operation, response)
        self.generator.observe(operation, response)
        error = {} if completion.error is None else {"error": completion.error}
        # A revision of 0 is none known (etcd's errors carry no header): left out, not claimed.
        served: dict[str, Any] = {"revision": response.revision} if response.revision else {}
        served["node"] = response.node
        self._recorder.record(
            process, self.slot, completion.type, operation.f, operation.key, completion.value, **error, **served
        )


class _Quiet:
    """Final reads start once every client has finished its timed operations, as the
    simulation starts them at one moment (or at once, when `stop` is set)."""

    def __init__(self, clients: int, stop: threading.Event) -> None:
        self._left = clients
        self._condition = threading.Condition()
        self._stop = stop

    def arrive_and_wait(self) -> None:
        with self._condition:
            self._left -= 1
            self._condition.notify_all()
            while self._left > 0 and not self._stop.is_set():
                self._condition.wait(0.1)


def drive(
    urls: dict[int, str],
    workload_spec: WorkloadSpec,
    seed: int,
    duration_s: float,
    final_reads: bool,
    recorder: Recorder,
    stop: threading.Event | None = None,
) -> DriveStats:
    """Run `workload_spec` against the members `urls` (node number -> client URL, e.g.
    "http://127.0.0.1:2379") for `duration_s` seconds, then, if `final_reads`, each client's
    final operations; record every operation in `recorder`. `seed` seeds each client's
    generator and pacing exactly as a simulated run with that seed does. Setting `stop` ends
    the run early: no new operation starts, and those in flight end within their timeout.
    Raises what a client thread raised (a workload's assertion, say), after all have ended."""
    assert urls, "no member to drive"
    assert workload_spec.rate > 0 and workload_spec.clients > 0, workload_spec
    stop = stop or threading.Event()
    workload = get_workload(workload_spec.kind)
    think_mean_us = max(1, workload_spec.clients * SECOND_US // workload_spec.rate)
    clients = [
        Client(
            slot,
            workload_spec.clients,
            urls,
            workload,
            workload.generator(workload_spec, slot, stream(seed, f"workload-{slot}")),
            recorder,
            workload_spec.timeout_ms / 1000,
            workload_spec.attempt_timeout_ms / 1000,
            stop,
        )
        for slot in range(workload_spec.clients)
    ]
    quiet = _Quiet(len(clients), stop)
    started = time.monotonic()
    end = started + duration_s
    before = Counter(recorder.counts())
    failures: list[BaseException] = []

    def run(client: Client) -> None:
        pacing = stream(seed, f"client-{client.slot}")
        try:
            for operation in _paced(client.generator, pacing, think_mean_us, started, end, stop):
                client.perform(operation)
        except BaseException as error:
            failures.append(error)
            stop.set()
        finally:
            quiet.arrive_and_wait()
        if not final_reads or stop.is_set():
            return
        try:
            for operation in client.generator.final_operations():
                if stop.is_set():
                    break
                client.perform(operation)
        except BaseException as error:
            failures.append(error)
            stop.set()

    threads = [threading.Thread(target=run, args=(client,), name=client.name, daemon=True) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    counts = Counter(recorder.counts()) - before
    return DriveStats(
        clients=len(clients),
        operations=counts["invoke"],
        ok=counts["ok"],
        fail=counts["fail"],
        info=counts["info"],
        resends=sum(client.resends for client in clients),
        elapsed_s=time.monotonic() - started,
        stopped=stop.is_set(),
    )


def _paced(
    generator: Generator,
    pacing: random.Random,
    think_mean_us: int,
    started: float,
    end: float,
    stop: threading.Event,
) -> Iterator[Operation]:
    """The generator's operations at the offered rate, drawn as `sim.client.Client.run` draws
    them: invocation times of a Poisson process from a random start within one mean gap; an
    operation that runs past the next one's time delays it."""
    next_invoke_us = pacing.randrange(think_mean_us + 1)
    end_us = int((end - started) * SECOND_US)
    while next_invoke_us < end_us:
        now_us = int((time.monotonic() - started) * SECOND_US)
        if next_invoke_us > now_us and stop.wait((next_invoke_us - now_us) / SECOND_US):
            return
        if stop.is_set():
            return
        now_us = int((time.monotonic() - started) * SECOND_US)
        next_invoke_us = now_us + int(pacing.expovariate(1.0 / think_mean_us))
        yield generator.next_operation()
