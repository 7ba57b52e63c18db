"""Watchers and informers on a real etcd cluster: `sim.watcher`'s clients, as threads.

A watcher opens etcd's streaming watch (`POST /v3/watch` on its member's gateway, one
JSON object per line, each `{"result": ...}`) on the workload's prefix with `prev_kv` and
`progress_notify`, from the revision after the last one it knows it has everything up to
(at first: from now). The members run with a short progress-notification interval
(`PROGRESS_FLAG`), so a healthy stream is never quiet for long: when nothing comes for
`silence_s` (a paused member), or the connection breaks (a killed or removed member), the
stream is given up (`lost`, reason `silence`) and the watcher watches again on the next
member from that revision + 1. A watch canceled because its start revision is compacted is
`lost` as `compacted`: a watcher resumes from the compaction's revision, an informer lists
again.

An informer (Kubernetes' reflector) first lists the prefix page by page (`/v3/kv/range`
with `limit`, every page after the first at the first page's revision), then watches from
the list's revision + 1. Its pages are not operations of `history.jsonl`; the list they
make up is a `list` line.

Every watch asked, response taken, list and stream given up is a line of `watch.jsonl`
(`checkers.watch_file`), written through one `WatchLog` whose clock is the history's
recorder's, so the watch lines, the history and the trace share one time line.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from raftcore.etcd import COMPACTED, KeyValue, kv_to_json, prefix_end
from raftcore.watch import WatchEvent, WatchRequest, WatchResponse, request_to_json
from scenarios.model import Scenario
from targets.etcd.gateway import PATHS, CallFailed, call, encode_bytes, from_gateway, to_gateway
from workloads import get as get_workload
from workloads._watch import INFORMERS, WATCHERS

PROGRESS_INTERVAL_MS = 100
PROGRESS_FLAG = f"--experimental-watch-progress-notify-interval={PROGRESS_INTERVAL_MS}ms"
"""etcd 3.4 sends a watch that asked for `progress_notify` a progress notification only at
this interval (10 minutes unless set), and only while the watch is caught up: a member
that falls behind or stops falls silent, which is how a watcher tells."""
MIN_SILENCE_S = 1.0
"""The least silence that gives a stream up: ten progress intervals, so a member busy for
a moment is not taken for a dead one."""
RETRY_PAUSE_S = 0.05
"""After a member refused the connection or a list page failed, before the next try."""


@dataclass(frozen=True, slots=True)
class WatchSettings:
    """What a scenario asks to be watched: `watchers` plain watchers, then `informers`
    informers (numbered after them, as the simulator numbers them)."""

    prefix: str
    watchers: int
    informers: int
    page_size: int
    silence_s: float

    @property
    def count(self) -> int:
        return self.watchers + self.informers


def watch_settings(scenario: Scenario) -> WatchSettings | None:
    """The scenario's watchers and informers (`sim.world`'s counts and page size); None
    when it asks for none or its workload's keys live under no prefix. The silence is the
    simulator's (four attempt timeouts), at least `MIN_SILENCE_S`."""
    settings = scenario.workload
    prefix = get_workload(settings.kind).watch_prefix
    plain, informers = int(WATCHERS.read(settings)), int(INFORMERS.read(settings))
    if not prefix or plain + informers == 0:
        return None
    page_size = int(dict(settings.options).get("page_size", 50))
    silence_s = max(4 * settings.attempt_timeout_ms / 1000, MIN_SILENCE_S)
    return WatchSettings(prefix, plain, informers, page_size, silence_s)


class WatchLog:
    """`watch.jsonl`'s lines, stamped and appended under one lock so `t` never goes back."""

    def __init__(self, now_us: Callable[[], int]) -> None:
        self._now_us = now_us
        self._lock = threading.Lock()
        self._lines: list[str] = []
        self._encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
        self.counts: dict[str, int] = {}

    def emit(self, event: str, **fields: Any) -> None:
        with self._lock:
            self._lines.append(self._encode({"t": self._now_us(), "ev": event, **fields}))
            self.counts[event] = self.counts.get(event, 0) + 1

    def text(self) -> str:
        with self._lock:
            return "".join(line + "\n" for line in self._lines)


@dataclass(frozen=True, slots=True)
class _Ended:
    """Why a stream ended: `reason` for its `lost` line (None: the run is over)."""

    reason: str | None


class Watcher:
    """One watcher or informer, run by `run` in a thread of its own until `stop` is set."""

    def __init__(
        self,
        slot: int,
        urls: Mapping[int, str],
        log: WatchLog,
        settings: WatchSettings,
        stop: threading.Event,
    ) -> None:
        self.slot = slot
        self._urls = dict(urls)
        self._node_ids = tuple(sorted(urls))
        self._member = self._node_ids[slot % len(self._node_ids)]
        self._log = log
        self._prefix = settings.prefix
        self._end = prefix_end(settings.prefix)
        self._informer = slot >= settings.watchers
        self._page_size = settings.page_size
        self._silence_s = settings.silence_s
        self._stop = stop
        self._stream = 0
        self._watch_id = 0
        self._last_revision = 0
        """Every event up to this revision was taken (0: none yet known)."""
        self._needs_list = self._informer
        self.events = 0
        self.resumes = 0
        """Watches asked after a stream was given up (on another member, or after a compaction)."""

    def run(self) -> None:
        while not self._stop.is_set():
            if self._needs_list and not self._list():
                self._stop.wait(RETRY_PAUSE_S)
                continue
            ended = self._watch()
            if ended.reason is None:
                return
            if ended.reason != "compacted":
                self._member = self._next_member(self._member)

    def _next_member(self, member: int) -> int:
        position = self._node_ids.index(member)
        return self._node_ids[(position + 1) % len(self._node_ids)]

    # --- a watch ------------------------------------------------------------------------

    def _watch(self) -> _Ended:
        """One stream to the member with one watch on it, read until it ends."""
        parsed = urllib.parse.urlsplit(self._urls[self._member])
        assert parsed.hostname, parsed
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port or 80, timeout=self._silence_s)
        try:
            try:
                connection.connect()
            except OSError:  # refused or unreachable: nothing was asked
                if self._stop.wait(RETRY_PAUSE_S):
                    return _Ended(None)
                return _Ended("unreachable")
            return self._follow(connection)
        finally:
            connection.close()

    def _follow(self, connection: http.client.HTTPConnection) -> _Ended:
        self._stream += 1
        self._watch_id += 1
        if self._watch_id > 1:
            self.resumes += 1
        start = self._last_revision + 1 if self._last_revision else 0
        request = WatchRequest(self._prefix, self._end, start, prev_kv=True)
        asked = request_to_json(request)
        self._log.emit(
            "watch",
            watcher=self.slot,
            member=self._member,
            stream=self._stream,
            watch=self._watch_id,
            create_request=asked,
        )
        body = {"create_request": {**to_gateway(asked), "progress_notify": True}}
        try:
            connection.request("POST", "/v3/watch", json.dumps(body).encode(), {"Content-Type": "application/json"})
            answer = connection.getresponse()
            if answer.status != 200:
                return self._lost("silence")
            while not self._stop.is_set():
                line = answer.readline()
                if not line:
                    return self._lost("silence")
                ended = self._take(line)
                if ended is not None:
                    return ended
        except (OSError, http.client.HTTPException, ValueError):
            if self._stop.is_set():
                return _Ended(None)
            return self._lost("silence")
        return _Ended(None)

    def _lost(self, reason: str) -> _Ended:
        if self._stop.is_set():
            return _Ended(None)
        self._log.emit("lost", watcher=self.slot, member=self._member, stream=self._stream, reason=reason)
        return _Ended(reason)

    def _take(self, line: bytes) -> _Ended | None:
        """Record one streamed message; how the stream ended if it did."""
        message = json.loads(line)
        result = message.get("result") if isinstance(message, dict) else None
        if not isinstance(result, dict):
            return self._lost("silence")  # the gateway's error object: the stream is over
        response = response_from_gateway(from_gateway(result), self._stream, self._member)
        extra = {"progress": True} if response.progress else {}
        self._log.emit(
            "response",
            watcher=self.slot,
            member=self._member,
            stream=self._stream,
            watch=self._watch_id,
            result=response.to_json(),
            **extra,
        )
        if response.created and self._last_revision == 0:
            self._last_revision = response.revision  # a watch from now starts after this
        for event in response.events:
            self._last_revision = max(self._last_revision, event.kv.mod_revision)
        self.events += len(response.events)
        if response.progress:
            self._last_revision = max(self._last_revision, response.revision)
        if not response.canceled:
            return None
        if response.compact_revision:
            if self._informer:
                self._needs_list = True
            else:
                self._last_revision = max(self._last_revision, response.compact_revision - 1)
            return self._lost("compacted")
        return self._lost("canceled")

    # --- an informer's list ---------------------------------------------------------------

    def _list(self) -> bool:
        """List the prefix page by page at the first page's revision; False if a page got
        no answer in time (the next member is tried next) or the revision was compacted
        under the list (listed again)."""
        url = self._urls[self._member]
        body: dict[str, Any] = {
            "key": encode_bytes(self._prefix),
            "range_end": encode_bytes(self._end),
            "limit": str(self._page_size),
        }
        listed: list[dict[str, Any]] = []
        revision = 0
        while not self._stop.is_set():
            try:
                reply = call(url, PATHS["range"], body, time.monotonic() + self._silence_s)
            except CallFailed:
                self._member = self._next_member(self._member)
                return False
            if reply.body is None:
                if reply.error != COMPACTED:
                    self._member = self._next_member(self._member)
                return False
            page = from_gateway(reply.body)
            kvs = [kv_to_json(_kv(item)) for item in page.get("kvs", [])]
            listed.extend(kvs)
            revision = revision or int(page.get("header", {}).get("revision", 0))
            if not (page.get("more") and kvs):
                self._log.emit("list", watcher=self.slot, member=self._member, revision=revision, kvs=listed)
                self._last_revision = revision
                self._needs_list = False
                return True
            after = base64.b64encode(listed[-1]["key"].encode() + b"\x00").decode()
            body = {**body, "key": after, "revision": str(revision)}
        return False


def _kv(body: Mapping[str, Any]) -> KeyValue:
    """A kv of the gateway's JSON, already through `from_gateway`; absent fields are zero."""
    return KeyValue(
        str(body.get("key", "")),
        str(body.get("value", "")),
        int(body.get("create_revision", 0)),
        int(body.get("mod_revision", 0)),
        int(body.get("version", 0)),
        int(body.get("lease", 0)),
    )


def response_from_gateway(result: Mapping[str, Any], stream: int, member: int) -> WatchResponse:
    """etcd's watch result as raftcore's response, so that it is written as the simulator
    writes it (and a response with no events that opens and closes nothing is a progress
    notification, as in etcd)."""
    events = tuple(
        WatchEvent(
            str(event.get("type", "PUT")),
            _kv(event.get("kv", {})),
            None if event.get("prev_kv") is None else _kv(event["prev_kv"]),
        )
        for event in result.get("events", [])
    )
    return WatchResponse(
        client="",
        stream=stream,
        sequence=0,
        node=member,
        watch_id=int(result.get("watch_id", 0)),
        revision=int(result.get("header", {}).get("revision", 0)),
        events=events,
        created=bool(result.get("created", False)),
        canceled=bool(result.get("canceled", False)),
        compact_revision=int(result.get("compact_revision", 0)),
    )


class Watchers:
    """A run's watchers and informers, each in a thread, writing one `WatchLog`."""

    def __init__(self, settings: WatchSettings, urls: Mapping[int, str], now_us: Callable[[], int]) -> None:
        self.log = WatchLog(now_us)
        self._stop = threading.Event()
        self._watchers = [Watcher(slot, urls, self.log, settings, self._stop) for slot in range(settings.count)]
        self._threads = [
            threading.Thread(target=watcher.run, name=f"watcher-{watcher.slot}", daemon=True)
            for watcher in self._watchers
        ]
        self._join_s = settings.silence_s + 2 * RETRY_PAUSE_S + 1.0

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """End every watcher: a stream reading waits at most its silence for a line."""
        self._stop.set()
        for thread in self._threads:
            thread.join(self._join_s)

    def stats(self) -> dict[str, int]:
        return {
            "watchers": len(self._watchers),
            "watches": self.log.counts.get("watch", 0),
            "responses": self.log.counts.get("response", 0),
            "events": sum(watcher.events for watcher in self._watchers),
            "lists": self.log.counts.get("list", 0),
            "lost": self.log.counts.get("lost", 0),
            "resumes": sum(watcher.resumes for watcher in self._watchers),
        }
