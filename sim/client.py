"""Clients: simulated processes that run a workload against the cluster and record it.

Each operation is recorded as an invoke, then ok, fail (certainly had no effect) or info
(outcome unknown). As Jepsen's clients do, each client talks to its own node (which passes
requests on to its leader); only within an operation that node's silence sends the client
to the next one. A client resends a request under the same request id to another node
when a reply does not come, and the state machine applies an id once, so retries never
cause a hidden second write. After an info the client carries on under a new process id,
as Jepsen does: the old process may still have an operation in flight.

A client knows no workload's operations: it sends the request its workload builds and
records the completion its workload makes of the answer. Only the outcomes without a
definite answer are its own: `info` when the operation may have applied, `fail` with error
`unavailable` when it certainly did not.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Generator
from typing import Any

import simpy

from raftcore.server import Request, Response
from sim.clock import now_us
from sim.history import History
from sim.host import endpoint
from sim.network import Network
from workloads import Generator as WorkloadGenerator
from workloads import Operation, Workload

NOT_LEADER_BACKOFF_US = 5_000


class Client:
    def __init__(
        self,
        env: simpy.Environment,
        slot: int,
        clients: int,
        node_ids: tuple[int, ...],
        network: Network,
        rng: random.Random,
        workload: Workload,
        generator: WorkloadGenerator,
        history: History,
        timeout_us: int,
        attempt_timeout_us: int,
        think_mean_us: int,
    ) -> None:
        self.env = env
        self.slot = slot
        self.name = f"c{slot}"
        self.process = slot
        self._clients = clients
        self._node_ids = node_ids
        self._network = network
        self._rng = rng
        self.workload = workload
        self.generator = generator
        self._history = history
        self._timeout_us = timeout_us
        self._attempt_timeout_us = attempt_timeout_us
        self._think_mean_us = think_mean_us
        self.home = node_ids[slot % len(node_ids)]
        self._target = self.home
        self._sequence = 0
        self._awaited: str | None = None
        self._reply: simpy.Event | None = None
        self.observed: Counter[str] = Counter()
        """Resends, counted for `checkers.events`: they leave no line in the history or trace."""
        network.add_endpoint(self.name, self.receive)

    def receive(self, _source: str, response: Any) -> None:
        assert isinstance(response, Response)
        if response.request_id == self._awaited and self._reply is not None and not self._reply.triggered:
            self._reply.succeed(response)

    def run(self, workload_end_us: int, final_reads: bool) -> Generator[Any, Any, None]:
        """Invoke at the offered rate: invocation times follow a Poisson process, and an
        operation that runs past the next one's time delays it (one at a time per process,
        as Jepsen's clients go)."""
        next_invoke_us = self._rng.randrange(self._think_mean_us + 1)
        while next_invoke_us < workload_end_us:
            if next_invoke_us > now_us(self.env):
                yield self.env.timeout(next_invoke_us - now_us(self.env))
            next_invoke_us = now_us(self.env) + int(self._rng.expovariate(1.0 / self._think_mean_us))
            yield from self.perform(self.generator.next_operation())
        if final_reads:
            yield self._history.final_reads_started
            for operation in self.generator.final_operations():
                yield from self.perform(operation)

    def perform(self, operation: Operation) -> Generator[Any, Any, None]:
        process = self.process
        marks = {"serializable": True} if operation.serializable else {}
        self._history.record(process, self.slot, "invoke", operation.f, operation.key, operation.value, **marks)
        self._sequence += 1
        request_id = f"{self.name}-{self._sequence}"
        request = self.workload.request(operation, request_id, self.name)
        # Resending is safe only under the id the state machine deduplicates by.
        assert request.request_id == request_id, (request, request_id)
        assert request.client == self.name, (request, self.name)
        response, maybe_applied = yield from self._call(request)
        self._complete(process, operation, response, maybe_applied)

    def _call(self, request: Request) -> Generator[Any, Any, tuple[Response | None, bool]]:
        """Send until a definite answer or the deadline; say whether it may have applied."""
        deadline_us = now_us(self.env) + self._timeout_us
        maybe_applied = False
        self._target = self.home
        self._awaited = request.request_id
        resent_because: str | None = None
        while now_us(self.env) < deadline_us:
            if resent_because is not None:
                self.observed[resent_because] += 1
            self._reply = self.env.event()
            self._network.send(self.name, endpoint(self._target), request)
            wait_us = min(self._attempt_timeout_us, deadline_us - now_us(self.env))
            outcome = yield self._reply | self.env.timeout(wait_us)
            if self._reply not in outcome:
                maybe_applied = True
                self._target = self._next_node(self._target)
                resent_because = "request-resent"
                continue
            response = self._reply.value
            assert isinstance(response, Response), "only a server's response resolves the reply event"
            if response.error != "not-leader":
                return response, maybe_applied
            resent_because = "retry-after-leader-change"
            hint = response.leader_hint
            self._target = hint if hint and hint != response.node else self._next_node(response.node)
            yield self.env.timeout(min(NOT_LEADER_BACKOFF_US, max(0, deadline_us - now_us(self.env))))
        self._awaited = None
        return None, maybe_applied

    def _next_node(self, node: int) -> int:
        if node not in self._node_ids:
            return self.home  # removed from the membership since
        position = self._node_ids.index(node)
        return self._node_ids[(position + 1) % len(self._node_ids)]

    def set_members(self, node_ids: tuple[int, ...]) -> None:
        """The membership changed: talk to its members only. A client whose node left is
        re-homed on the member its slot picks among them, as a client re-reads its
        endpoints; an operation under way moves on at its next attempt."""
        assert node_ids, "a cluster has members"
        self._node_ids = node_ids
        if self.home not in node_ids:
            self.home = node_ids[self.slot % len(node_ids)]

    def _complete(self, process: int, operation: Operation, response: Response | None, maybe_applied: bool) -> None:
        record = self._history.record
        if response is None:
            if maybe_applied:
                record(process, self.slot, "info", operation.f, operation.key, operation.value, error="timeout")
                self.process += self._clients
            else:
                record(process, self.slot, "fail", operation.f, operation.key, operation.value, error="unavailable")
            return
        served = {"revision": response.revision, "node": response.node}
        completion = self.workload.complete(operation, response)
        self.generator.observe(operation, response)
        # An error goes before revision and node, where history lines have always had it.
        error = {} if completion.error is None else {"error": completion.error}
        record(process, self.slot, completion.type, operation.f, operation.key, completion.value, **error, **served)
