"""The election workload: controllers electing a leader with an etcd lease, as Kubernetes'
controller managers do, plus plain keys that live as long as a lease.

Each client is a controller. It grants itself a lease (`lease-grant`, TTL `ttl`, an id of
its own: slot and counter), then campaigns with one txn: if the lock key was never created
(`create_revision == 0`) put it, holding the client's name, with the lease; else read it.
The holder keeps its lease alive (`lease-keepalive`) every `keepalive_steps` operations
(set it to about TTL/3 of a client's operations) and in between reads the lock, asks its
lease's time to live, or writes TTL keys. After `hold_steps` operations it abandons the
lock as a crashed controller would: it stops keeping its lease alive and revokes nothing,
so the lock goes only when the lease expires. The others watch by polling the lock and
campaign again once it has vanished. A keep-alive answered TTL 0 (the lease is gone)
sends a client back to a fresh grant.

**TTL keys** (weight `ttl_keys`): a grant of a lease never kept alive, two puts under
`/ttl/` with it, and a range of both: the pair must vanish together when it expires. The
client then reads the pair again now and then until it has vanished: a read that sees it
gone pins its expiry in time, which keeps the linearizability search from trying every
order of the expiries it cannot see. A TTL action cut short by an operation without a
definite answer (a put that may or may not take effect later) is cleaned up: the client
revokes that lease (again until it gets an answer), as a careful client would; its
response says whether the lease still held a key, which settles the put.

Every step is one operation in the `etcd` model's vocabulary (`f` `lease-grant`,
`lease-keepalive`, `lease-timetolive`, `txn`, `range`, `put`). A step that got no definite
answer ends its action. The lease checker (`checkers.leases`) judges expiry against the
keep-alives and the lock's holders against each other.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from raftcore.server import Response
from workloads import Operation, Option, Settings, Workload
from workloads import _etcd as etcd

LOCK = "/election/lock"
TTL_PREFIX = "/ttl/"
LEASE_IDS_PER_CLIENT = 1_000_000
"""Lease ids are the client's slot plus one times this, plus a counter: unique in a run."""
FUNCTIONS = ("lease-grant", "lease-keepalive", "lease-timetolive", "lease-revoke", "txn", "range", "put")
TTL = Option("ttl", int, 3, "lease TTL in seconds (the server raises it to its minimum)", 1, 3600)
KEEPALIVE_STEPS = Option(
    "keepalive_steps", int, 10, "a client's operations between keep-alives (about TTL/3 of them)", 1, 100_000
)
HOLD_STEPS = Option("hold_steps", int, 60, "operations a holder keeps the lock before abandoning it", 1, 10_000_000)
TTL_KEYS = Option("ttl_keys", float, 0.2, "weight of a TTL-keys action (grant, two puts, a range)", 0.0, 1.0)

Step = Callable[[Response], Operation | None]


def lease_operation(f: str, body: dict[str, Any]) -> Operation:
    """A lease request; its history key names the lease, which the report groups by."""
    return Operation(f, f"lease-{body['ID']}", body)


def _kvs(value: dict[str, Any]) -> list[dict[str, Any]]:
    """The kvs of a range response, or of the range a txn's failure branch ran."""
    if "kvs" in value:
        return list(value["kvs"])
    for inner in value.get("responses", ()):
        if "response_range" in inner:
            return list(inner["response_range"].get("kvs", []))
    return []


class ElectionGenerator:
    def __init__(self, settings: Settings, slot: int, rng: random.Random) -> None:
        self._rng = rng
        self._slot = slot
        self._name = f"c{slot}"
        self._ttl = int(TTL.read(settings))
        self._keepalive_steps = int(KEEPALIVE_STEPS.read(settings))
        self._hold_steps = int(HOLD_STEPS.read(settings))
        self._ttl_keys = float(TTL_KEYS.read(settings))
        self._leases = 0
        self._lease = 0
        """The lease this client campaigns and holds with; 0: none yet (or it is gone)."""
        self._holder = False
        self._since_keepalive = 0
        self._held = 0
        self._lock_seen = False
        self._pair_lease = 0
        """The lease of the TTL action under way; 0: none."""
        self._cleanup: list[int] = []
        """Leases of TTL actions cut short, to revoke."""
        self._watched: list[str] = []
        """Prefixes of TTL pairs not yet seen gone, oldest first."""
        self._then: Step | None = None
        self._answered = True
        self._last: Response | None = None

    def _new_lease_id(self) -> int:
        self._leases += 1
        assert self._leases < LEASE_IDS_PER_CLIENT
        return (self._slot + 1) * LEASE_IDS_PER_CLIENT + self._leases

    def next_operation(self) -> Operation:
        if not self._answered:
            self._then = None  # no definite answer: that action ends here
            if self._pair_lease:
                self._cleanup.append(self._pair_lease)
            self._pair_lease = 0
        self._answered = False
        self._since_keepalive += 1
        self._held += int(self._holder)
        if self._then is not None:
            pending, self._then = self._then, None
            assert self._last is not None
            follow = pending(self._last)
            if follow is not None:
                return follow
        return self._act()

    def observe(self, operation: Operation, response: Response) -> None:
        self._answered = True
        self._last = response
        if response.error is not None:
            self._then = None

    def final_operations(self) -> list[Operation]:
        return [
            etcd.operation("range", etcd.range_body(LOCK)),
            etcd.operation("range", etcd.range_body(TTL_PREFIX, etcd.prefix_end(TTL_PREFIX))),
        ]

    def _act(self) -> Operation:
        self._pair_lease = 0
        if self._cleanup:
            return self._revoke(self._cleanup.pop(0))
        if self._holder and self._held >= self._hold_steps:
            # Abandon, as a controller that dies: no revoke, the lease will expire.
            self._holder, self._lease = False, 0
        if self._lease == 0:
            return self._grant()
        if self._since_keepalive >= self._keepalive_steps:
            return self._keepalive()
        if self._watched and self._rng.random() < 0.3:
            # Round robin: every pair is read again soon, whichever lives longest.
            self._watched.append(self._watched.pop(0))
            return self._read_pair(self._watched[-1])
        if self._rng.random() < self._ttl_keys:
            return self._ttl_key_pair()
        if self._holder:
            if self._rng.random() < 0.2:
                return lease_operation("lease-timetolive", {"ID": self._lease, "keys": True})
            return self._read_lock()
        return self._read_lock() if self._lock_seen else self._campaign()

    def _grant(self) -> Operation:
        lease_id = self._new_lease_id()

        def after(answer: Response) -> Operation | None:
            if answer.value.get("ID") == lease_id:
                self._lease, self._since_keepalive = lease_id, 0
            return None

        self._then = after
        return lease_operation("lease-grant", {"TTL": self._ttl, "ID": lease_id})

    def _keepalive(self) -> Operation:
        lease_id = self._lease
        self._since_keepalive = 0

        def after(answer: Response) -> Operation | None:
            if int(answer.value.get("result", {}).get("TTL", 0)) <= 0 and self._lease == lease_id:
                self._lease, self._holder = 0, False  # the lease is gone, and the lock with it
            return None

        self._then = after
        return lease_operation("lease-keepalive", {"ID": lease_id})

    def _campaign(self) -> Operation:
        lease_id = self._lease
        put = {**etcd.put_body(LOCK, f"{self._name}-{lease_id}"), "lease": lease_id}
        body = etcd.txn_body(
            [etcd.compare(LOCK, "CREATE", "EQUAL", 0)], [("put", put)], [("range", etcd.range_body(LOCK))]
        )

        def after(answer: Response) -> Operation | None:
            if answer.value.get("succeeded") and self._lease == lease_id:
                self._holder, self._held, self._lock_seen = True, 0, True
            else:
                self._lock_seen = bool(_kvs(answer.value))
            return None

        self._then = after
        return Operation("txn", LOCK, body)

    def _read_lock(self) -> Operation:
        def after(answer: Response) -> Operation | None:
            self._lock_seen = bool(_kvs(answer.value))
            return None

        self._then = after
        return etcd.operation("range", etcd.range_body(LOCK))

    def _ttl_key_pair(self) -> Operation:
        """A lease never kept alive and two keys with it, then a range of both."""
        lease_id = self._new_lease_id()
        self._pair_lease = lease_id
        prefix = f"{TTL_PREFIX}{self._name}-{lease_id}/"
        keys = [f"{prefix}a", f"{prefix}b"]

        def put(number: int) -> Step:
            def after(answer: Response) -> Operation | None:
                if number == len(keys):
                    self._watched.append(prefix)
                    return self._read_pair(prefix)
                self._then = put(number + 1)
                body = {**etcd.put_body(keys[number], f"{self._name}-{lease_id}"), "lease": lease_id}
                return etcd.operation("put", body)

            return after

        self._then = put(0)
        return lease_operation("lease-grant", {"TTL": self._ttl, "ID": lease_id})

    def _revoke(self, lease_id: int) -> Operation:
        """Revoke a TTL action's lease; on no definite answer it is tried again."""
        self._pair_lease = lease_id  # no definite answer: cleaned up again
        self._then = lambda answer: None
        return lease_operation("lease-revoke", {"ID": lease_id})

    def _read_pair(self, prefix: str) -> Operation:
        def after(answer: Response) -> Operation | None:
            if not _kvs(answer.value) and prefix in self._watched:
                self._watched.remove(prefix)
            return None

        self._then = after
        return etcd.operation("range", etcd.range_body(prefix, etcd.prefix_end(prefix)))


def problems(settings: Settings) -> list[tuple[str, str]]:
    return []


WORKLOAD = Workload(
    kind="election",
    functions=FUNCTIONS,
    generator=ElectionGenerator,
    request=etcd.request,
    complete=etcd.complete,
    model="etcd",
    checkers=("linearizability", "raft-safety", "liveness", "revisions", "leases"),
    problems=problems,
    options=(HOLD_STEPS, KEEPALIVE_STEPS, TTL, TTL_KEYS),
)
