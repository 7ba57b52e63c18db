"""Watchers and informers: clients that follow a prefix through etcd's watch.

A watcher opens a stream to its member and asks for a watch of the prefix from the
revision after the last one it knows it has everything up to (at first: from now). The
member answers over the stream; responses are numbered, and the watcher takes them in
order, holding any that overtook another (the network reorders; a byte stream would not).
Every `PROGRESS_INTERVAL_US` it asks for a progress notification (etcd's RequestProgress).
When nothing comes in order for `silence_us` (the member crashed, is paused, a response was
lost, the link is cut) the stream is given up and the watcher opens a new one to the next
member, resuming after its last revision: a member that crashed forgot its watches anyway.

An informer (Kubernetes' reflector) first lists the prefix page by page at one revision,
then watches from the revision after it with `prev_kv`, keeping a cache of the objects; when
its watch is canceled because the revision it asked for is compacted, it lists again.
Its list pages are ranges through the log like any client's, sent to its member, but not
recorded in `history.jsonl` (only in `watch.jsonl`, as the list they made up).

Everything a watcher is sent and takes, and every watch it asks for, is a line of
`watch.jsonl` (`checkers.watch` reads it; the README has its schema).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from raftcore.etcd import kv_to_json, prefix_end
from raftcore.server import Request, Response
from raftcore.watch import ProgressRequest, WatchCreate, WatchRequest, WatchResponse, request_to_json
from sim.clock import MS, now_us
from sim.host import endpoint
from sim.network import Network
from sim.trace import Trace

PROGRESS_INTERVAL_US = 50 * MS
HELD_RESPONSES_MAX = 10_000
"""Responses held for an earlier one that has not come; beyond this the stream is broken."""


class Watcher:
    def __init__(
        self,
        env: simpy.Environment,
        slot: int,
        node_ids: tuple[int, ...],
        network: Network,
        log: Trace,
        prefix: str,
        informer: bool,
        page_size: int,
        silence_us: int,
    ) -> None:
        assert silence_us > PROGRESS_INTERVAL_US, "silence is judged over several progress requests"
        self.env = env
        self.slot = slot
        self.name = f"w{slot}"
        self._node_ids = node_ids
        self._member = node_ids[slot % len(node_ids)]
        self._network = network
        self._log = log
        self._prefix = prefix
        self._informer = informer
        self._page_size = page_size
        self._silence_us = silence_us
        self._stream = 0
        """The open stream's number (0: none); unique over the watcher's life, so a late
        response of a stream given up is told apart and dropped."""
        self._expected = 0
        self._held: dict[int, WatchResponse] = {}
        self._watch_id = 0
        self._last_revision = 0
        """Every event up to this revision was taken (0: none yet known)."""
        self._heard_us = 0
        self._broken: str | None = None
        self._needs_list = informer
        self.cache: dict[str, dict[str, Any]] = {}
        """An informer's objects by key, as its list and the events after it left them."""
        self._requests = 0
        self._awaited: str | None = None
        self._reply: simpy.Event | None = None
        network.add_endpoint(self.name, self.receive)

    # --- what arrives ---------------------------------------------------------------

    def receive(self, _source: str, payload: Any) -> None:
        if type(payload) is Response:
            if payload.request_id == self._awaited and self._reply is not None and not self._reply.triggered:
                self._reply.succeed(payload)
            return
        assert type(payload) is WatchResponse, payload
        if payload.stream != self._stream or self._broken is not None or payload.sequence < self._expected:
            return  # a stream given up, or a copy already taken
        self._held[payload.sequence] = payload
        while self._expected in self._held:
            self._take(self._held.pop(self._expected))
            self._expected += 1
        if len(self._held) > HELD_RESPONSES_MAX:
            self._broken = "gap"

    def _take(self, response: WatchResponse) -> None:
        self._heard_us = now_us(self.env)
        result = response.to_json()
        extra = {"progress": True} if response.progress else {}
        self._log.emit(
            "response",
            watcher=self.slot,
            member=response.node,
            stream=response.stream,
            watch=response.watch_id,
            result=result,
            **extra,
        )
        if response.created and self._last_revision == 0:
            self._last_revision = response.revision  # a watch from now starts after this
        for event in response.events:
            self._last_revision = max(self._last_revision, event.kv.mod_revision)
            if event.type == "PUT":
                self.cache[event.kv.key] = kv_to_json(event.kv)
            else:
                self.cache.pop(event.kv.key, None)
        if response.progress:
            self._last_revision = max(self._last_revision, response.revision)
        if response.canceled:
            self._broken = "compacted"
            if self._informer:
                self._needs_list = True
            else:
                self._last_revision = max(self._last_revision, response.compact_revision - 1)

    # --- the loop ---------------------------------------------------------------------

    def run(self, end_us: int) -> Generator[Any, Any, None]:
        while now_us(self.env) < end_us:
            if self._needs_list:
                listed = yield from self._list(end_us)
                if not listed:
                    continue
            self._open()
            while now_us(self.env) < end_us and self._broken is None:
                yield self.env.timeout(PROGRESS_INTERVAL_US)
                if now_us(self.env) - self._heard_us > self._silence_us:
                    self._broken = "silence"
                else:
                    self._network.send(self.name, endpoint(self._member), ProgressRequest(self.name, self._stream))
            if self._broken is not None:
                self._log.emit("lost", watcher=self.slot, member=self._member, stream=self._stream, reason=self._broken)
                if self._broken != "compacted":
                    self._member = self._next_member(self._member)
        self._stream = -1  # the run is over: nothing more is taken

    def _open(self) -> None:
        """A new stream to the member, and a watch on it from after the last revision."""
        self._stream += 1
        self._expected = 0
        self._held.clear()
        self._broken = None
        self._heard_us = now_us(self.env)
        self._watch_id += 1
        start = self._last_revision + 1 if self._last_revision else 0
        request = WatchRequest(self._prefix, prefix_end(self._prefix), start, prev_kv=True)
        self._log.emit(
            "watch",
            watcher=self.slot,
            member=self._member,
            stream=self._stream,
            watch=self._watch_id,
            create_request=request_to_json(request),
        )
        create = WatchCreate(self.name, self._stream, self._watch_id, request)
        self._network.send(self.name, endpoint(self._member), create)

    def _next_member(self, member: int) -> int:
        position = self._node_ids.index(member)
        return self._node_ids[(position + 1) % len(self._node_ids)]

    # --- an informer's list -----------------------------------------------------------

    def _list(self, end_us: int) -> Generator[Any, Any, bool]:
        """List the prefix page by page at the first page's revision; False if a page got
        no answer (the next member is tried next time) or the revision was compacted."""
        end = prefix_end(self._prefix)
        body: dict[str, Any] = {"key": self._prefix, "range_end": end, "limit": self._page_size}
        listed: list[dict[str, Any]] = []
        revision = 0
        while now_us(self.env) < end_us:
            answer = yield from self._ask(body)
            if answer is None:
                self._member = self._next_member(self._member)
                return False
            if answer.error is not None:
                return False  # compacted under the list: list again
            page = answer.value
            listed.extend(page.get("kvs", []))
            revision = revision or int(page["header"]["revision"])
            if not (page.get("more") and page.get("kvs")):
                self._log.emit("list", watcher=self.slot, member=self._member, revision=revision, kvs=listed)
                self.cache = {kv["key"]: kv for kv in listed}
                self._last_revision = revision
                self._needs_list = False
                return True
            body = {**body, "key": listed[-1]["key"] + "\x00", "revision": revision}
        return False

    def _ask(self, body: dict[str, Any]) -> Generator[Any, Any, Response | None]:
        """One range through the member (passed on to its leader); None if no answer came
        in time. A not-leader answer is tried again at the leader it names."""
        self._requests += 1
        request = Request.etcd(f"{self.name}-{self._requests}", self.name, "range", body)
        self._awaited = request.request_id
        deadline_us = now_us(self.env) + self._silence_us
        target = self._member
        while now_us(self.env) < deadline_us:
            self._reply = self.env.event()
            self._network.send(self.name, endpoint(target), request)
            outcome = yield self._reply | self.env.timeout(deadline_us - now_us(self.env))
            if self._reply not in outcome:
                break
            response = self._reply.value
            assert isinstance(response, Response)
            if response.error != "not-leader":
                self._awaited = None
                return response
            hint = response.leader_hint
            target = hint if hint and hint != response.node else self._next_member(response.node)
            yield self.env.timeout(min(5 * MS, max(0, deadline_us - now_us(self.env))))
        self._awaited = None
        return None
