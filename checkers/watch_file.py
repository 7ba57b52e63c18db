"""`watch.jsonl`: what the watchers of a run asked for and were sent, read and validated.

One JSON object per line, in the order things happened, each with `t` (microseconds,
non-decreasing), `ev` and `watcher` (the watcher's number):

- `watch`: the watcher asked `member` for watch `watch` (numbered per watcher) on its
  `stream`, with `create_request` (etcd's gateway JSON: `key`, `range_end`,
  `start_revision`, `prev_kv`, `filters`);
- `response`: it took a response of that watch: `member`, `stream`, `watch`, `result`
  (etcd's gateway JSON: `header.revision`, `watch_id`, `created`, `canceled`,
  `compact_revision`, `events`, each `type` PUT or DELETE (absent: PUT), `kv` and
  `prev_kv`), and `progress: true` on a progress notification;
- `list`: an informer listed the prefix: `member`, `revision` (the list's), `kvs`;
- `lost`: it gave up its stream to `member`: `stream`, `reason` (`silence`, `gap`,
  `compacted`).

Anything else is bad input: an InputError names the file, line and field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checkers.errors import InputError
from checkers.etcd_requests import KeyValue
from checkers.history import decode_json_line

EVENTS = ("watch", "response", "list", "lost")
FILTERS = ("NOPUT", "NODELETE")


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: str
    kv: KeyValue
    prev_kv: KeyValue | None


@dataclass(frozen=True, slots=True)
class Delivered:
    """One response a watcher took."""

    line: int
    t: int
    member: int
    revision: int
    events: tuple[WatchEvent, ...]
    created: bool
    canceled: bool
    compact_revision: int
    progress: bool


@dataclass(slots=True)
class Watch:
    """One watch a watcher asked for, and the responses it took on it, in order."""

    line: int
    t: int
    watcher: int
    watch: int
    member: int
    key: str
    range_end: str
    start_revision: int
    prev_kv: bool
    filters: tuple[str, ...]
    responses: list[Delivered] = field(default_factory=list)

    def covers(self, key: str) -> bool:
        if not self.range_end:
            return key == self.key
        return key >= self.key and (self.range_end == "\0" or key < self.range_end)

    def wants(self, event_type: str) -> bool:
        return not (
            ("NOPUT" in self.filters and event_type == "PUT") or ("NODELETE" in self.filters and event_type == "DELETE")
        )

    @property
    def words(self) -> str:
        return f"watcher {self.watcher}'s watch {self.watch} (watch.jsonl line {self.line}, member {self.member})"


@dataclass(frozen=True, slots=True)
class Listed:
    """An informer's whole list of the prefix at `revision`."""

    line: int
    t: int
    watcher: int
    member: int
    revision: int
    kvs: tuple[KeyValue, ...]


@dataclass(frozen=True, slots=True)
class Lost:
    """A stream a watcher gave up, and why."""

    line: int
    t: int
    watcher: int
    member: int
    reason: str


@dataclass(frozen=True, slots=True)
class WatchFile:
    """The file read: every watch in the order asked, every list, and per watcher the
    order of its watches and lists (`("watch", index)` / `("list", index)`)."""

    watches: tuple[Watch, ...]
    lists: tuple[Listed, ...]
    steps: Mapping[int, tuple[tuple[str, int], ...]]
    lost: tuple[Lost, ...] = ()


def read_watch_jsonl(path: str | Path) -> WatchFile:
    from checkers.formats.text import numbered_lines

    source = str(path)
    return parse_watch_lines(numbered_lines(source), source)


def parse_watch_lines(lines: Iterable[tuple[int, str]], source: str) -> WatchFile:
    watches: list[Watch] = []
    lists: list[Listed] = []
    lost: list[Lost] = []
    open_watches: dict[tuple[int, int], Watch] = {}
    steps: dict[int, list[tuple[str, int]]] = {}
    previous_us = 0
    for number, line in lines:
        record = decode_json_line(line, source, number)
        where = _Where(source, number)
        if type(record) is not dict:
            raise InputError(source, number, None, "a watch line must be a JSON object")
        t = where.integer(record, "t")
        if t < previous_us:
            raise InputError(source, number, "t", f"time went backwards: {t} < {previous_us}")
        previous_us = t
        kind = record.get("ev")
        if kind not in EVENTS:
            raise InputError(source, number, "ev", f"must be one of {', '.join(EVENTS)}, got {kind!r}")
        watcher = where.integer(record, "watcher")
        if kind == "watch":
            watch = _watch(record, where, t, watcher)
            if (watcher, watch.watch) in open_watches:
                raise InputError(source, number, "watch", f"watcher {watcher} asked for watch {watch.watch} twice")
            open_watches[(watcher, watch.watch)] = watch
            steps.setdefault(watcher, []).append(("watch", len(watches)))
            watches.append(watch)
        elif kind == "response":
            number_of_watch = where.integer(record, "watch")
            opened = open_watches.get((watcher, number_of_watch))
            if opened is None:
                raise InputError(
                    source, number, "watch", f"no earlier line opened watch {number_of_watch} of watcher {watcher}"
                )
            opened.responses.append(_delivered(record, where, t))
        elif kind == "list":
            kvs = where.list(record, "kvs")
            listed = tuple(where.kv(item, f"kvs[{i}]") for i, item in enumerate(kvs))
            steps.setdefault(watcher, []).append(("list", len(lists)))
            lists.append(
                Listed(number, t, watcher, where.integer(record, "member"), where.integer(record, "revision"), listed)
            )
        else:
            reason = record.get("reason")
            if not isinstance(reason, str):
                raise InputError(source, number, "reason", "must be a string")
            lost.append(Lost(number, t, watcher, where.integer(record, "member"), reason))
    by_watcher = {watcher: tuple(found) for watcher, found in sorted(steps.items())}
    return WatchFile(tuple(watches), tuple(lists), by_watcher, tuple(lost))


def _watch(record: dict[str, Any], where: _Where, t: int, watcher: int) -> Watch:
    body = where.object(record, "create_request")
    key = where.string(body, "key", "create_request.key")
    if not key:
        raise InputError(where.source, where.line, "create_request.key", "a watch names a key")
    filters = where.list(body, "filters", "create_request.filters")
    for name in filters:
        if name not in FILTERS:
            raise InputError(where.source, where.line, "create_request.filters", f"unknown filter {name!r}")
    prev_kv = body.get("prev_kv", False)
    if type(prev_kv) is not bool:
        raise InputError(where.source, where.line, "create_request.prev_kv", "must be true or false")
    return Watch(
        where.line,
        t,
        watcher,
        where.integer(record, "watch"),
        where.integer(record, "member"),
        key,
        where.string(body, "range_end", "create_request.range_end"),
        where.integer(body, "start_revision", "create_request.start_revision", required=False),
        prev_kv,
        tuple(filters),
    )


def _delivered(record: dict[str, Any], where: _Where, t: int) -> Delivered:
    result = where.object(record, "result")
    header = where.object(result, "header", "result.header")
    flags = {}
    for name in ("created", "canceled"):
        flags[name] = result.get(name, False)
        if type(flags[name]) is not bool:
            raise InputError(where.source, where.line, f"result.{name}", "must be true or false")
    progress = record.get("progress", False)
    if type(progress) is not bool:
        raise InputError(where.source, where.line, "progress", "must be true or false")
    events = tuple(
        _event(item, where, f"result.events[{i}]")
        for i, item in enumerate(where.list(result, "events", "result.events"))
    )
    if progress and (events or flags["created"] or flags["canceled"]):
        raise InputError(
            where.source,
            where.line,
            "progress",
            "a progress notification carries no events and opens or closes nothing",
        )
    return Delivered(
        where.line,
        t,
        where.integer(record, "member"),
        where.integer(header, "revision", "result.header.revision"),
        events,
        flags["created"],
        flags["canceled"],
        where.integer(result, "compact_revision", "result.compact_revision", required=False),
        progress,
    )


def _event(item: Any, where: _Where, path: str) -> WatchEvent:
    if not isinstance(item, dict):
        raise InputError(where.source, where.line, path, "an event must be an object")
    kind = item.get("type", "PUT")
    if kind not in ("PUT", "DELETE"):
        raise InputError(where.source, where.line, f"{path}.type", f"must be PUT or DELETE, got {kind!r}")
    prev = item.get("prev_kv")
    return WatchEvent(
        kind, where.kv(item.get("kv"), f"{path}.kv"), None if prev is None else where.kv(prev, f"{path}.prev_kv")
    )


@dataclass(frozen=True, slots=True)
class _Where:
    source: str
    line: int

    def fail(self, field_name: str, message: str) -> InputError:
        return InputError(self.source, self.line, field_name, message)

    def integer(self, record: Mapping[str, Any], name: str, path: str | None = None, required: bool = True) -> int:
        value = record.get(name, None if required else 0)
        if isinstance(value, str) and value.isdigit():
            value = int(value)  # the gateway writes int64 as a decimal string
        if type(value) is not int or value < 0:
            raise self.fail(path or name, f"must be an integer >= 0, got {value!r}")
        return value

    def string(self, record: Mapping[str, Any], name: str, path: str) -> str:
        value = record.get(name, "")
        if not isinstance(value, str):
            raise self.fail(path, f"must be a string, got {value!r}")
        return value

    def object(self, record: Mapping[str, Any], name: str, path: str | None = None) -> dict[str, Any]:
        value = record.get(name)
        if not isinstance(value, dict):
            raise self.fail(path or name, "must be an object")
        return value

    def list(self, record: Mapping[str, Any], name: str, path: str | None = None) -> list[Any]:
        value = record.get(name, [])
        if not isinstance(value, list):
            raise self.fail(path or name, "must be a list")
        return value

    def kv(self, value: Any, path: str) -> KeyValue:
        if not isinstance(value, dict):
            raise self.fail(path, "a kv must be an object")
        key = self.string(value, "key", f"{path}.key")
        text = value.get("value", "")
        if not isinstance(text, str):
            raise self.fail(f"{path}.value", f"must be a string, got {text!r}")
        return KeyValue(
            key,
            text,
            self.integer(value, "create_revision", f"{path}.create_revision", required=False),
            self.integer(value, "mod_revision", f"{path}.mod_revision", required=False),
            self.integer(value, "version", f"{path}.version", required=False),
        )
