"""etcd's leases: requests and responses as values, the replicated lease table, and the
leader's clock of deadlines.

A lease is a promise to keep keys for a time to live (TTL, seconds) unless it is renewed.
etcd splits it in two, and so does raftcore:

- What is replicated (`LeaseTable`, inside the store): which leases exist, their granted
  TTL and the keys attached to them. Grants, revokes and attachments (a put with `lease`)
  travel through the log, so every replica holds the same table.
- What is not (`Lessor`, in the server): when each lease expires. Only the leader counts
  deadlines, in ticks of its own clock (the pure core has no other); a follower keeps none.
  A keep-alive is answered by the leader alone, outside the log, by moving the deadline to
  now + TTL. When a deadline passes the leader proposes a revoke through the log, which
  deletes every attached key in one revision.

A new leader knows no deadline: after it has applied its term's first (empty) entry it
gives every lease a fresh deadline of now + election timeout + TTL, as etcd's Promote does
with `ElectionTimeout()`; the extra election timeout covers keep-alives the old leader may
have taken until it stepped down. A granted TTL below etcd's minimum,
ceil(1.5 x election ticks x tick length) seconds, is raised to it, as etcd does at grant.

The JSON is that of etcd's JSON gateway for /v3/lease/grant, revoke, keepalive and
timetolive (`ID`, `TTL`, `grantedTTL`, `keys`), keys as plain strings.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from raftcore.json_fields import integer as _integer

LEASE_NOT_FOUND = "etcdserver: requested lease not found"
LEASE_EXISTS = "etcdserver: lease already exists"
LEASE_TTL_TOO_LARGE = "etcdserver: too large lease TTL"
LEASE_ERRORS = (LEASE_NOT_FOUND, LEASE_EXISTS, LEASE_TTL_TOO_LARGE)

MAX_LEASE_TTL_SECONDS = 9_000_000_000
"""etcd's MaxLeaseTTL: a grant asking more is refused before the log."""
LEASE_ID_BASE = 0x1000
"""Where the ids the server picks begin (etcd draws large ids; any positive one will do)."""


@dataclass(frozen=True, slots=True)
class LeaseGrantRequest:
    """`lease_id` 0: the server picks one (deterministically: the lowest free id above the
    last it picked)."""

    ttl_seconds: int
    lease_id: int = 0


@dataclass(frozen=True, slots=True)
class LeaseRevokeRequest:
    lease_id: int


@dataclass(frozen=True, slots=True)
class LeaseKeepAliveRequest:
    lease_id: int


@dataclass(frozen=True, slots=True)
class LeaseTimeToLiveRequest:
    lease_id: int
    keys: bool = False


@dataclass(frozen=True, slots=True)
class LeaseGrantResponse:
    revision: int
    lease_id: int
    ttl_seconds: int


@dataclass(frozen=True, slots=True)
class LeaseRevokeResponse:
    revision: int


@dataclass(frozen=True, slots=True)
class LeaseKeepAliveResponse:
    """`ttl_seconds` 0: the lease was not found (etcd answers so, not with an error)."""

    revision: int
    lease_id: int
    ttl_seconds: int


@dataclass(frozen=True, slots=True)
class LeaseTimeToLiveResponse:
    """`ttl_seconds` -1: the lease was not found; else the whole seconds that remain."""

    revision: int
    lease_id: int
    ttl_seconds: int
    granted_ttl_seconds: int = 0
    keys: tuple[str, ...] = ()


LeaseRequest = LeaseGrantRequest | LeaseRevokeRequest | LeaseKeepAliveRequest | LeaseTimeToLiveRequest
LeaseResponse = LeaseGrantResponse | LeaseRevokeResponse | LeaseKeepAliveResponse | LeaseTimeToLiveResponse

LEASE_KINDS: dict[str, type] = {
    "lease-grant": LeaseGrantRequest,
    "lease-revoke": LeaseRevokeRequest,
    "lease-keepalive": LeaseKeepAliveRequest,
    "lease-timetolive": LeaseTimeToLiveRequest,
}
LEASE_RESPONSES: dict[str, type] = {
    "lease-grant": LeaseGrantResponse,
    "lease-revoke": LeaseRevokeResponse,
    "lease-keepalive": LeaseKeepAliveResponse,
    "lease-timetolive": LeaseTimeToLiveResponse,
}
LOGGED_LEASE_KINDS = ("lease-grant", "lease-revoke")
"""The lease requests that travel through the log; the other two the leader answers."""


def minimum_ttl_seconds(election_ticks: int, tick_ms: int) -> int:
    """etcd's minimum lease TTL: 1.5 election timeouts (integer ticks), rounded up to seconds."""
    return math.ceil((3 * election_ticks) // 2 * tick_ms / 1000)


# --- JSON -----------------------------------------------------------------------------------


def lease_request_from_json(kind: str, body: Any) -> LeaseRequest:
    """Read a lease request; ValueError naming the field at fault."""
    if not isinstance(body, Mapping):
        raise ValueError(f"{kind}: expected an object, got {type(body).__name__}")
    known = {"lease-grant": ("TTL", "ID"), "lease-timetolive": ("ID", "keys")}.get(kind, ("ID",))
    for name in body:
        if name not in known:
            raise ValueError(f"{kind}: unknown field {name!r}")
    lease_id = _integer(body, "ID", kind)
    if lease_id < 0:
        raise ValueError(f"{kind}.ID: a lease id is not negative, got {lease_id}")
    if kind == "lease-grant":
        return LeaseGrantRequest(_integer(body, "TTL", kind), lease_id)
    if kind == "lease-revoke":
        return LeaseRevokeRequest(lease_id)
    if kind == "lease-keepalive":
        return LeaseKeepAliveRequest(lease_id)
    keys = body.get("keys", False)
    if not isinstance(keys, bool):
        raise ValueError(f"{kind}.keys: expected true or false, got {keys!r}")
    return LeaseTimeToLiveRequest(lease_id, keys)


def lease_request_to_json(request: LeaseRequest) -> dict[str, Any]:
    """Canonical JSON: every field written."""
    if isinstance(request, LeaseGrantRequest):
        return {"TTL": request.ttl_seconds, "ID": request.lease_id}
    if isinstance(request, LeaseTimeToLiveRequest):
        return {"ID": request.lease_id, "keys": request.keys}
    return {"ID": request.lease_id}


def lease_response_to_json(response: LeaseResponse) -> dict[str, Any]:
    header = {"header": {"revision": response.revision}}
    if isinstance(response, LeaseGrantResponse):
        return {**header, "ID": response.lease_id, "TTL": response.ttl_seconds}
    if isinstance(response, LeaseKeepAliveResponse):
        return {"result": {**header, "ID": response.lease_id, "TTL": response.ttl_seconds}}
    if isinstance(response, LeaseTimeToLiveResponse):
        return {
            **header,
            "ID": response.lease_id,
            "TTL": response.ttl_seconds,
            "grantedTTL": response.granted_ttl_seconds,
            "keys": list(response.keys),
        }
    return header


def lease_response_from_json(kind: str, body: Any) -> LeaseResponse:
    """Leniently, as etcd's own JSON needs (integers as decimal strings, defaults absent)."""
    if not isinstance(body, Mapping):
        raise ValueError(f"{kind}: expected an object, got {type(body).__name__}")
    if kind == "lease-keepalive":
        body = body.get("result", {})
        if not isinstance(body, Mapping):
            raise ValueError(f"{kind}.result: expected an object")
    header = body.get("header", {})
    if not isinstance(header, Mapping):
        raise ValueError(f"{kind}.header: expected an object")
    revision = _integer(header, "revision", f"{kind}.header")
    if kind == "lease-grant":
        return LeaseGrantResponse(revision, _integer(body, "ID", kind), _integer(body, "TTL", kind))
    if kind == "lease-keepalive":
        return LeaseKeepAliveResponse(revision, _integer(body, "ID", kind), _integer(body, "TTL", kind))
    if kind == "lease-timetolive":
        keys = body.get("keys", [])
        if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
            raise ValueError(f"{kind}.keys: expected a list of strings")
        return LeaseTimeToLiveResponse(
            revision,
            _integer(body, "ID", kind),
            _integer(body, "TTL", kind),
            _integer(body, "grantedTTL", kind),
            tuple(keys),
        )
    if kind != "lease-revoke":
        raise ValueError(f"unknown lease response kind {kind!r}")
    return LeaseRevokeResponse(revision)


# --- The replicated table -------------------------------------------------------------------


@dataclass(slots=True)
class Lease:
    """One granted lease: its TTL (after the minimum) and the keys attached to it."""

    ttl_seconds: int
    keys: set[str]


class LeaseTable:
    """Which leases exist and what is attached to them: replicated state, built from the log
    by the store (`raftcore.mvcc`), so it holds no time at all."""

    def __init__(self, minimum_ttl: int = 1) -> None:
        assert minimum_ttl >= 1
        self.minimum_ttl = minimum_ttl
        self.leases: dict[int, Lease] = {}
        self._last_picked = LEASE_ID_BASE - 1

    def __contains__(self, lease_id: int) -> bool:
        return lease_id in self.leases

    def grant(self, request: LeaseGrantRequest) -> tuple[int, int]:
        """Create the lease; (id, TTL) granted. Raises KeyError if the id is taken."""
        lease_id = request.lease_id
        if lease_id == 0:
            lease_id = self._last_picked + 1
            while lease_id in self.leases:
                lease_id += 1
            self._last_picked = lease_id
        elif lease_id in self.leases:
            raise KeyError(lease_id)
        ttl = max(request.ttl_seconds, self.minimum_ttl)
        self.leases[lease_id] = Lease(ttl, set())
        return lease_id, ttl

    def attach(self, lease_id: int, key: str) -> None:
        if lease_id:
            self.leases[lease_id].keys.add(key)

    def detach(self, lease_id: int, key: str) -> None:
        lease = self.leases.get(lease_id)
        if lease is not None:
            lease.keys.discard(key)

    def keys_of(self, lease_id: int) -> tuple[str, ...]:
        """The attached keys in key order (sets are never walked unsorted)."""
        return tuple(sorted(self.leases[lease_id].keys))

    def remove(self, lease_id: int) -> None:
        del self.leases[lease_id]

    def snapshot_state(self) -> dict[str, Any]:
        """The table as JSON for a snapshot, in id order and each lease's keys sorted, so
        equal tables give equal text whatever order they were built in. The minimum TTL is
        configuration, not state, and stays out."""
        return {
            "last_picked": self._last_picked,
            "leases": [
                [lease_id, lease.ttl_seconds, sorted(lease.keys)] for lease_id, lease in sorted(self.leases.items())
            ],
        }

    @staticmethod
    def decode_state(data: Any, where: str) -> tuple[int, dict[int, Lease]]:
        """What `snapshot_state` wrote, as (last id picked, leases); ValueError naming the
        field. Leases in increasing id order and keys sorted, each once, as written."""
        if type(data) is not dict or set(data) != {"last_picked", "leases"}:
            raise ValueError(f"snapshot data: {where}: expected an object of last_picked and leases, got {data!r:.60}")
        last_picked = data["last_picked"]
        if type(last_picked) is not int:
            raise ValueError(f"snapshot data: {where}.last_picked: expected an integer, got {last_picked!r:.60}")
        items = data["leases"]
        if type(items) is not list:
            raise ValueError(f"snapshot data: {where}.leases: expected a list, got {items!r:.60}")
        leases: dict[int, Lease] = {}
        previous = 0
        for index, item in enumerate(items):
            at = f"{where}.leases[{index}]"
            if type(item) is not list or len(item) != 3:
                raise ValueError(f"snapshot data: {at}: expected [id, ttl, keys], got {item!r:.60}")
            lease_id, ttl, keys = item
            if type(lease_id) is not int or lease_id <= previous:
                raise ValueError(f"snapshot data: {at}.id: expected an id above {previous}, got {lease_id!r:.60}")
            if type(ttl) is not int or ttl < 1:
                raise ValueError(f"snapshot data: {at}.ttl: expected a positive integer, got {ttl!r:.60}")
            if type(keys) is not list or not all(type(key) is str for key in keys):
                raise ValueError(f"snapshot data: {at}.keys: expected a list of strings, got {keys!r:.60}")
            if any(earlier >= later for earlier, later in itertools.pairwise(keys)):
                raise ValueError(f"snapshot data: {at}.keys: expected sorted keys, each once")
            leases[lease_id] = Lease(ttl, set(keys))
            previous = lease_id
        return last_picked, leases

    def load_state(self, last_picked: int, leases: dict[int, Lease]) -> None:
        """Take the state `decode_state` read, in place: whoever holds this table sees it."""
        self.leases = leases
        self._last_picked = last_picked

    def copy(self) -> LeaseTable:
        twin = LeaseTable(self.minimum_ttl)
        twin.leases = {lease_id: Lease(lease.ttl_seconds, set(lease.keys)) for lease_id, lease in self.leases.items()}
        twin._last_picked = self._last_picked
        return twin


# --- The leader's deadlines -----------------------------------------------------------------


class Lessor:
    """Deadlines in ticks of this node's clock, kept by the leader only.

    Invariant: `deadlines` is empty unless `primary` (a follower keeps none, as etcd's
    demoted lessor holds every lease forever; only the planted bug `lease-deadline-from-grant`
    keeps some); `expiring` is a subset of `deadlines`' keys.
    """

    def __init__(
        self, tick_ms: int, election_ticks: int, unextended: bool = False, deadline_from_grant: bool = False
    ) -> None:
        """`unextended` and `deadline_from_grant` are the planted bugs `lease-not-extended`
        and `lease-deadline-from-grant` (`raftcore.bugs`)."""
        assert tick_ms >= 1 and election_ticks >= 1
        self._unextended = unextended
        self._deadline_from_grant = deadline_from_grant
        self.tick_ms = tick_ms
        self.election_ticks = election_ticks
        self.now_ticks = 0
        self.primary = False
        self.deadlines: dict[int, int] = {}
        self.expiring: set[int] = set()
        """Leases whose revoke for expiry was proposed and not yet applied."""

    def ticks_of(self, seconds: int) -> int:
        return -(-seconds * 1000 // self.tick_ms)

    def tick(self) -> list[int]:
        """Advance one tick; the leases newly due, in id order (their revoke is owed)."""
        self.now_ticks += 1
        if not self.primary:
            return []
        due = sorted(
            lease_id
            for lease_id, deadline in self.deadlines.items()
            if deadline <= self.now_ticks and lease_id not in self.expiring
        )
        self.expiring.update(due)
        return due

    def promote(self, table: LeaseTable, extend_ticks: int) -> None:
        """This node leads and has applied its term's first entry: every lease gets a fresh
        deadline `extend_ticks` beyond its TTL from now."""
        self.primary = True
        self.expiring.clear()
        fresh = {
            lease_id: self.now_ticks + extend_ticks + self.ticks_of(lease.ttl_seconds)
            for lease_id, lease in sorted(table.leases.items())
        }
        if self._unextended:
            # The planted bug: no lease is given a deadline of this term, so each counts as
            # due at the deadline a follower had for it, which is none: now.
            fresh = dict.fromkeys(fresh, self.now_ticks)
        elif self._deadline_from_grant:
            # The planted bug: the deadlines counted as a follower from each grant stand,
            # blind to the keep-alives the old leader took.
            fresh.update((lease_id, self.deadlines[lease_id]) for lease_id in fresh if lease_id in self.deadlines)
        self.deadlines = fresh

    def demote(self) -> None:
        self.primary = False
        self.expiring.clear()
        if not self._deadline_from_grant:
            self.deadlines.clear()

    def granted(self, lease_id: int, ttl_seconds: int) -> None:
        """A grant was applied here: the leader starts counting (a follower does not)."""
        counts = self.primary or self._deadline_from_grant
        if counts and lease_id not in self.deadlines:
            self.deadlines[lease_id] = self.now_ticks + self.ticks_of(ttl_seconds)

    def revoked(self, lease_id: int) -> None:
        self.deadlines.pop(lease_id, None)
        self.expiring.discard(lease_id)

    def restored(self, table: LeaseTable) -> None:
        """The lease table was replaced by a snapshot: forget the leases it no longer holds.
        A node that counts deadlines (the leader; a follower only under the planted bug
        `lease-deadline-from-grant`) counts the leases it newly holds from now, as from a
        grant applied now."""
        for lease_id in sorted(self.deadlines):
            if lease_id not in table:
                del self.deadlines[lease_id]
        self.expiring.intersection_update(table.leases)
        if self.primary or self._deadline_from_grant:
            for lease_id, lease in sorted(table.leases.items()):
                if lease_id not in self.deadlines:
                    self.deadlines[lease_id] = self.now_ticks + self.ticks_of(lease.ttl_seconds)

    def renew(self, lease_id: int, ttl_seconds: int) -> None:
        assert self.primary and lease_id in self.deadlines and lease_id not in self.expiring
        self.deadlines[lease_id] = self.now_ticks + self.ticks_of(ttl_seconds)

    def remaining_seconds(self, lease_id: int) -> int:
        """Whole seconds left (truncated, as etcd reports them), never below 0."""
        left_ticks = max(0, self.deadlines[lease_id] - self.now_ticks)
        return left_ticks * self.tick_ms // 1000
