"""Judge leases in true time: expiry against keep-alives, and the holders of a lock.

The linearizability model (`checkers.models.etcd`) lets a lease expire at any moment; it
cannot say when is too soon, since that is a matter of clocks. This checker can: the trace
holds the true time at which a leader decided each lease had expired (`lease-expire`,
counted only if its revoke was applied somewhere: `lease-revoked` with the same request),
and the history the true times of the grants and keep-alives the clients saw acknowledged.

The drift bound. A leader counts a lease's TTL in ticks of its own clock, whose rate may be
off by up to ρ = `[clock] drift_ppm_max` / 10⁶, and counts from the tick at or before the
renewal, so a TTL of T lasts at least (T − one tick) / (1 + ρ) in true time. A new leader
adds an election timeout, which covers the keep-alives the old leader took until it
stepped down. Hence, with `earliest(T) = (T − tick) / (1 + ρ)`:

- **expired-early**: a lease expires no sooner than `earliest(T)` after the invoke of its
  last acknowledged renewal (its grant, or a keep-alive answered with TTL > 0) before the
  expiry.
- **holders-overlap**: a client holds the lock (`/election/lock` by default) from the
  return of the txn that put it with its lease until the invoke of that lease's last
  acknowledged renewal plus T (what a holder may believe); the next holder takes it only
  after the lease expired and the lock went, so two holders overlap by at most
  `T − earliest(T)`.
- **keys-apart**: keys written once, each with the same lease, vanish together: a range
  whose header is at or after both puts never shows one without the other.

A clock fault beyond ρ (a drift the nemesis sets past the scenario's bound) can break the
first two; within it, neither may fail. Judged on our `history.jsonl` (values already read
as etcd values by `checkers.history`) and `trace.jsonl`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from checkers.etcd_requests import (
    LeaseGrantRequest,
    LeaseGrantResponse,
    LeaseKeepAliveRequest,
    LeaseKeepAliveResponse,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    TxnRequest,
    TxnResponse,
)
from checkers.explain import format_duration, format_seconds
from checkers.history import Event
from checkers.trace import TraceEvent
from checkers.verdict import CheckerResult, Verdict

PPM = 1_000_000
SECOND_US = 1_000_000
LOCK = "/election/lock"
MAX_ANOMALIES = 50


@dataclass(frozen=True, slots=True)
class LeaseSettings:
    """What the checker needs of the scenario: the tick length and the drift bound."""

    tick_us: int
    drift_ppm_max: int
    lock: str = LOCK

    def earliest_us(self, ttl_us: int) -> int:
        """The least true time a TTL of `ttl_us` may last (see the module docstring)."""
        return max(0, (ttl_us - self.tick_us) * PPM // (PPM + self.drift_ppm_max))


@dataclass(frozen=True, slots=True)
class _Call:
    invoke: Event
    completion: Event


@dataclass(frozen=True, slots=True)
class Hold:
    """One client's hold of the lock: from its txn's return to its lease's last
    acknowledged renewal's invoke plus the TTL (true µs); `line` is the txn's history line."""

    client: int | None
    lease: int
    start_us: int
    end_us: int
    line: int


def _calls(history: Iterable[Event]) -> Iterator[_Call]:
    """Each completed call (ok, fail or info) with its invoke, in completion order."""
    open_invokes: dict[int, Event] = {}
    for event in history:
        if event.type == "invoke":
            open_invokes[event.process] = event
        elif event.process in open_invokes:
            yield _Call(open_invokes.pop(event.process), event)


def holds_and_expiries(
    history: list[Event], trace: list[TraceEvent], lock: str = LOCK
) -> tuple[list[Hold], list[tuple[int, int, int]]]:
    """The lock's holds, and the applied expiries (true time decided, lease, node): what a
    report draws."""
    calls = list(_calls(history))
    ttl_us, renewals = _renewals(calls)
    return _holds(calls, ttl_us, renewals, lock), _applied_expiries(trace)


def check_leases(history: list[Event], trace: list[TraceEvent], settings: LeaseSettings) -> CheckerResult:
    calls = list(_calls(history))
    ttl_us, renewals = _renewals(calls)
    anomalies: list[dict[str, Any]] = []
    expiries = _applied_expiries(trace)
    anomalies += _expired_early(expiries, ttl_us, renewals, settings)
    holds = _holds(calls, ttl_us, renewals, settings.lock)
    anomalies += _overlaps(holds, ttl_us, settings)
    anomalies += _keys_apart(calls)
    anomalies.sort(key=lambda anomaly: (anomaly["t"], anomaly["property"]))
    stats = {
        "leases": len(ttl_us),
        "expiries": len(expiries),
        "holds": len(holds),
        "drift_ppm_max": settings.drift_ppm_max,
        "anomalies": len(anomalies),
    }
    verdict = Verdict.INVALID if anomalies else Verdict.VALID
    return CheckerResult(verdict, tuple(anomalies[:MAX_ANOMALIES]), stats)


def _renewals(calls: list[_Call]) -> tuple[dict[int, int], dict[int, list[int]]]:
    """The TTL granted to each lease (µs) and the invokes of its acknowledged renewals."""
    ttl_us: dict[int, int] = {}
    renewals: dict[int, list[int]] = {}
    for call in calls:
        request, response = call.invoke.value, call.completion.value
        if call.completion.type != "ok":
            continue
        if isinstance(request, LeaseGrantRequest) and isinstance(response, LeaseGrantResponse):
            ttl_us[response.lease_id] = response.ttl * SECOND_US
            renewals.setdefault(response.lease_id, []).append(call.invoke.time)
        elif (
            isinstance(request, LeaseKeepAliveRequest)
            and isinstance(response, LeaseKeepAliveResponse)
            and response.ttl > 0
        ):
            renewals.setdefault(request.lease_id, []).append(call.invoke.time)
    for times in renewals.values():
        times.sort()
    return ttl_us, renewals


def _applied_expiries(trace: list[TraceEvent]) -> list[tuple[int, int, int]]:
    """(true time decided, lease, node) of each expiry whose revoke was applied."""
    applied = {event["request"] for event in trace if event["ev"] == "lease-revoked"}
    return [
        (event["t"], event["lease"], event["node"])
        for event in trace
        if event["ev"] == "lease-expire" and event["request"] in applied
    ]


def _last_before(times: list[int], moment: int) -> int | None:
    before = [time for time in times if time <= moment]
    return before[-1] if before else None


def _expired_early(
    expiries: list[tuple[int, int, int]],
    ttl_us: dict[int, int],
    renewals: dict[int, list[int]],
    settings: LeaseSettings,
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for moment, lease, node in expiries:
        if lease not in ttl_us:
            continue  # granted by no call this history saw returned
        renewed = _last_before(renewals.get(lease, []), moment)
        if renewed is None:
            continue
        earliest = renewed + settings.earliest_us(ttl_us[lease])
        if moment < earliest:
            found.append(
                {
                    "property": "expired-early",
                    "t": moment,
                    "lease": lease,
                    "node": node,
                    "message": (
                        f"node {node} expired lease {lease} at {format_seconds(moment)}, "
                        f"{format_duration(earliest - moment)} before the least TTL ({ttl_us[lease] // SECOND_US} s, "
                        f"drift bound {settings.drift_ppm_max} ppm) after its last acknowledged renewal, "
                        f"invoked at {format_seconds(renewed)}"
                    ),
                }
            )
    return found


def _put_lease(request: object, response: object, key: str) -> int:
    """The lease of the put of `key` a returned txn made (0: none made)."""
    if not isinstance(request, TxnRequest) or not isinstance(response, TxnResponse):
        return 0
    branch = request.success if response.succeeded else request.failure
    for item, shown in zip(branch, response.responses, strict=False):
        if isinstance(item, PutRequest) and isinstance(shown, PutResponse) and item.key == key:
            return item.lease
    return 0


def _holds(calls: list[_Call], ttl_us: dict[int, int], renewals: dict[int, list[int]], lock: str) -> list[Hold]:
    holds = []
    for call in calls:
        if call.completion.type != "ok":
            continue
        lease = _put_lease(call.invoke.value, call.completion.value, lock)
        if not lease or lease not in ttl_us or not renewals.get(lease):
            continue
        end = renewals[lease][-1] + ttl_us[lease]
        start = call.completion.time
        holds.append(Hold(call.invoke.client, lease, start, end, call.completion.index + 1))
    return sorted(holds, key=lambda hold: hold.start_us)


def _overlaps(holds: list[Hold], ttl_us: dict[int, int], settings: LeaseSettings) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for number, later in enumerate(holds):
        for earlier in holds[:number]:
            if earlier.lease == later.lease:
                continue
            overlap = min(earlier.end_us, later.end_us) - later.start_us
            allowed = ttl_us[earlier.lease] - settings.earliest_us(ttl_us[earlier.lease])
            if overlap > allowed:
                found.append(
                    {
                        "property": "holders-overlap",
                        "t": later.start_us,
                        "line": later.line,
                        "affected_line": earlier.line,
                        "lease": later.lease,
                        "message": (
                            f"client {later.client} took {settings.lock} (lease {later.lease}) at "
                            f"{format_seconds(later.start_us)} while client {earlier.client} held it "
                            f"(lease {earlier.lease}) until {format_seconds(earlier.end_us)}: "
                            f"{format_duration(overlap)} together, more than the "
                            f"{format_duration(allowed)} the drift bound allows"
                        ),
                    }
                )
    return found


def _keys_apart(calls: list[_Call]) -> list[dict[str, Any]]:
    """A range showing one key of a lease without another one written once with it."""
    writes: dict[str, int] = {}
    puts: dict[str, tuple[int, int]] = {}  # key -> (lease, revision), for keys written once
    for call in calls:
        request = call.invoke.value
        if isinstance(request, PutRequest):
            writes[request.key] = writes.get(request.key, 0) + 1
            response = call.completion.value
            if call.completion.type == "ok" and request.lease and isinstance(response, PutResponse):
                assert response.revision is not None
                puts[request.key] = (request.lease, response.revision)
        elif isinstance(request, TxnRequest):
            for item in (*request.success, *request.failure):
                if isinstance(item, PutRequest):
                    writes[item.key] = writes.get(item.key, 0) + 2  # not judged: written by a txn
    once = {key: put for key, put in puts.items() if writes.get(key) == 1}
    by_lease: dict[int, list[tuple[str, int]]] = {}
    for key, (lease, revision) in sorted(once.items()):
        by_lease.setdefault(lease, []).append((key, revision))
    found: list[dict[str, Any]] = []
    for call in calls:
        request, response = call.invoke.value, call.completion.value
        if call.completion.type != "ok" or not isinstance(request, RangeRequest) or request.revision:
            continue
        if not isinstance(response, RangeResponse) or response.revision is None or request.count_only:
            continue
        shown = {kv.key for kv in response.kvs}
        for kv in response.kvs:
            siblings = [
                key
                for key, revision in by_lease.get(kv.lease, [])
                if revision <= response.revision and key not in shown and _in_range(request, key)
            ]
            if siblings and kv.key in once and not request.limit:
                found.append(
                    {
                        "property": "keys-apart",
                        "t": call.completion.time,
                        "line": call.completion.index + 1,
                        "lease": kv.lease,
                        "message": (
                            f"a range at revision {response.revision} shows {kv.key} of lease {kv.lease} "
                            f"but not {siblings[0]}, put with the same lease before it: the lease's keys "
                            "did not vanish together"
                        ),
                    }
                )
                break
    return found


def _in_range(request: RangeRequest, key: str) -> bool:
    if not request.range_end:
        return key == request.key
    return key >= request.key and (request.range_end == "\0" or key < request.range_end)
