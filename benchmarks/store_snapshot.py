"""How fast the key-value store writes and reads its snapshot, and a backup of it.

    .venv/bin/python benchmarks/store_snapshot.py [--keys 10000] [--revisions 50000]
                                                  [--leases 100] [--repeat 3] [--compact]

Builds a store through its log as a cluster would: `--revisions` etcd puts (one revision
each) spread over `--keys` keys, a tenth of them attached to one of `--leases` leases, so the
history keeps every revision (with `--compact`, a compaction at half way drops about 15,000
of them), and one result per request id. Then prints the snapshot's size and the median processor time
of `KVStore.snapshot_data`, of `KVStore.load_snapshot` into a fresh store, and of writing
and reading the backup file's text (`raftcore.backup`).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from raftcore.backup import decode_backup, encode_backup
from raftcore.etcd import CompactionRequest, PutRequest
from raftcore.kv import Command, KVStore
from raftcore.lease import LEASE_ID_BASE, LeaseGrantRequest
from raftcore.types import Membership, Snapshot


def build(keys: int, revisions: int, leases: int, compact: bool) -> KVStore:
    store = KVStore()
    index = 0

    def apply(command: Command) -> None:
        nonlocal index
        index += 1
        result = store.apply(index, command)
        assert result is not None and result.succeeded, (command, result)

    for number in range(leases):
        apply(Command.etcd(f"grant-{number}", LeaseGrantRequest(60)))
    for number in range(revisions):
        lease = LEASE_ID_BASE + number % leases if number % 10 == 0 and leases else 0
        put = PutRequest(f"/registry/pods/pod-{number % keys:05d}", f"spec-{number}", lease=lease)
        apply(Command.etcd(f"put-{number}", put))
        if compact and number == revisions // 2:
            apply(Command.etcd("compact", CompactionRequest(store.revision)))
    return store


def timed(repeat: int, work: Callable[[], object]) -> float:
    """The median processor seconds of `work`."""
    times = []
    for _ in range(repeat):
        started = time.process_time()
        work()
        times.append(time.process_time() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--revisions", type=int, default=50_000)
    parser.add_argument("--leases", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--compact", action="store_true", help="compact at half way")
    options = parser.parse_args()
    started = time.process_time()
    store = build(options.keys, options.revisions, options.leases, options.compact)
    built = time.process_time() - started
    kept = sum(len(item[1]) for item in store.mvcc.snapshot_state()["history"])
    print(f"store: {options.keys} keys, revision {store.revision}, {kept} changes kept, built in {built:.2f} s")

    data = store.snapshot_data()
    encode_s = timed(options.repeat, store.snapshot_data)
    load_s = timed(options.repeat, lambda: KVStore().load_snapshot(data))
    restored = KVStore()
    restored.load_snapshot(data)
    assert restored.snapshot_data() == data
    snapshot = Snapshot(store.applied_index, 1, Membership(frozenset({1, 2, 3})), data)
    text = encode_backup(snapshot)
    backup_s = timed(options.repeat, lambda: encode_backup(snapshot))
    read_s = timed(options.repeat, lambda: decode_backup(text, "bench"))
    print(f"snapshot: {len(data) / 1e6:.1f} MB; backup file {len(text) / 1e6:.1f} MB")
    print(
        f"snapshot_data {encode_s * 1000:.0f} ms, load_snapshot {load_s * 1000:.0f} ms, "
        f"encode_backup {backup_s * 1000:.0f} ms, decode_backup {read_s * 1000:.0f} ms "
        f"(processor time, median of {options.repeat})"
    )


if __name__ == "__main__":
    main()
