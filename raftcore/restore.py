"""What a cluster restored from a backup starts with, as etcd's `snapshot restore` makes it.

etcd restores a member from a backup (`etcdutl snapshot restore --initial-cluster ...`) by
writing the backed-up store into a fresh data directory: the keys, their revisions and the
leases carry over, the old members' logs and identities do not, and the membership is the
new cluster's. Here every member's disk is given the backup's snapshot, with:

- the membership rewritten to the new cluster's voters, as `--initial-cluster` says it;
- the table of request results emptied: it remembers the backed-up cluster's clients'
  request ids, and new clients, who number their requests afresh, would otherwise have
  their requests taken for retries and answered from it;
- its index and term kept (etcd instead starts the new log at the member count in term 1;
  the store's revision carries over either way, and that is what clients see).

Pure: snapshots in, snapshots and keys out.
"""

from __future__ import annotations

from raftcore.etcd import KeyValue
from raftcore.kv import KVStore
from raftcore.types import HardState, Membership, Snapshot


def restored_snapshot(backup: Snapshot, voters: tuple[int, ...]) -> Snapshot:
    """The snapshot every member of a cluster of `voters` starts from, restored from
    `backup`; ValueError (one line, naming the field) if the backup's data is not a store's."""
    store = KVStore()
    store.load_snapshot(backup.data)
    store.forget_results()
    return Snapshot(backup.index, backup.term, Membership.of_voters(voters), store.snapshot_data())


def restored_hard_state(snapshot: Snapshot) -> HardState:
    """The hard state beside a restored snapshot: its term, no vote, committed up to it."""
    return HardState(term=snapshot.term, commit=snapshot.index)


def restored_keys(snapshot: Snapshot) -> tuple[KeyValue, ...]:
    """The keys a restored store holds, in the order they were last written (by
    `mod_revision`, then key): the order in which writes would have left them so."""
    store = KVStore()
    store.load_snapshot(snapshot.data)
    return tuple(sorted(store.mvcc.latest_all(), key=lambda kv: (kv.mod_revision, kv.key)))


def restored_revision(snapshot: Snapshot) -> int:
    """The store's revision in a snapshot: the revision restored clients first see."""
    store = KVStore()
    store.load_snapshot(snapshot.data)
    return store.revision
