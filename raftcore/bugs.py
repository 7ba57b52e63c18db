"""Planted bugs: named switches that make the system wrong on purpose.

A test harness is only as good as the mistakes it can be shown to catch. Each switch here
turns on one well-known way to break Raft or the key-value server on top of it, so that a
run with the switch on must end in a verdict that names the damage. All are off unless a
`Config.bugs` set names them.

Every bug is a slip an implementer could plausibly make: a check left out, a value taken
from the wrong place, a shortcut that looks like an optimisation. None needs more than a
line or two to express, which is the point: the harness must catch small mistakes.
"""

from __future__ import annotations

from collections.abc import Iterable

# Raft: elections
VOTE_NOT_PERSISTED = "vote-not-persisted"
VOTE_WITHOUT_LOG_CHECK = "vote-without-log-check"
PRE_VOTE_COUNTED_AS_VOTE = "pre-vote-counted-as-vote"
PRE_VOTE_RAISES_TERM = "pre-vote-raises-term"
QUORUM_HALF = "quorum-half"
# Raft: leadership
LEADER_KEEPS_ROLE_ON_HIGHER_TERM = "leader-keeps-role-on-higher-term"
TRANSFER_SKIPS_LOG_CHECK = "transfer-skips-log-check"
# Raft: replication and commitment
COMMIT_OLD_TERM = "commit-old-term"
SEND_BEFORE_PERSIST = "send-before-persist"
STALE_APPEND_TRUNCATES = "stale-append-truncates"
ACCEPT_STALE_TERM_APPEND = "accept-stale-term-append"
HEARTBEAT_COMMIT_BEYOND_MATCH = "heartbeat-commit-beyond-match"
RESTART_SKIPS_APPLY = "restart-skips-apply"
FOLLOWER_COMMIT_OWN_TAIL = "follower-commit-own-tail"
CONFLICT_SLICE_OFF_BY_ONE = "conflict-slice-off-by-one"
# Raft: progress and flow control
INFLIGHT_NEVER_FREED = "inflight-never-freed"
PROBE_NEXT_NOT_DECREMENTED = "probe-next-not-decremented"
COMMIT_COUNTS_SENT = "commit-counts-sent"
# Raft: membership changes
TWO_CONF_CHANGES_IN_FLIGHT = "two-conf-changes-in-flight"
CONFIG_FROM_COMMITTED = "config-from-committed"
# Raft: reads outside the log
READ_INDEX_WITHOUT_HEARTBEAT = "read-index-without-heartbeat"
LEASE_READ_WITHOUT_CHECK_QUORUM = "lease-read-without-check-quorum"
# The key-value server
READ_INDEX_BEFORE_APPLY = "read-index-before-apply"
STALE_LOCAL_READ = "stale-local-read"
READ_FROM_FOLLOWER = "read-from-follower"
ACK_BEFORE_COMMIT = "ack-before-commit"
CAS_CHECKED_AT_PROPOSE = "cas-checked-at-propose"
OVERWRITE_KEEPS_REVISION = "overwrite-keeps-revision"
RETRY_ANSWERED_AFRESH = "retry-answered-afresh"
FORWARD_ACKNOWLEDGED = "forward-acknowledged"
# The etcd v3 API of the store and the server
RANGE_PAST_READS_CURRENT = "range-past-reads-current"
DELETE_KEEPS_VERSION = "delete-keeps-version"
COMPACT_DROPS_LATEST = "compact-drops-latest"
TXN_COMPARE_AT_PROPOSE = "txn-compare-at-propose"
RANGE_MORE_OFF_BY_ONE = "range-more-off-by-one"
# etcd's watch (raftcore/watch.py)
WATCH_SPLIT_DROPS_REVISION = "watch-split-drops-revision"
WATCH_START_REPEATS_LAST = "watch-start-repeats-last"
# Leases
LEASE_NOT_EXTENDED = "lease-not-extended"
LEASE_DEADLINE_FROM_GRANT = "lease-deadline-from-grant"
LEASE_REVOKE_SPLIT = "lease-revoke-split"
# Snapshots
SNAPSHOT_BEYOND_APPLIED = "snapshot-beyond-applied"
SNAPSHOT_KEEPS_CONFLICTING_ENTRIES = "snapshot-keeps-conflicting-entries"
# The host's disk (sim/disk.py), switched on through the node's Config.bugs all the same
RESTART_IGNORES_TORN_RECORD = "restart-ignores-torn-record"

BUGS: dict[str, str] = {
    SNAPSHOT_BEYOND_APPLIED: (
        "a snapshot is labelled with the commit index while its state is the state machine's "
        "as applied, which lags it: a node that restarts from it, or a follower sent it, "
        "never applies the entries in between"
    ),
    SNAPSHOT_KEEPS_CONFLICTING_ENTRIES: (
        "a follower installing a snapshot keeps the entries it held after the snapshot's "
        "index even when its entry at that index has another term, so entries of a deposed "
        "leader stay in its log as if the new leader had sent them"
    ),
    VOTE_NOT_PERSISTED: (
        "the hard state written to disk carries the term but not the vote, so a node that "
        "restarts may vote a second time in the same term"
    ),
    VOTE_WITHOUT_LOG_CHECK: (
        "a node grants its (pre-)vote without checking that the candidate's log is at least as "
        "up to date as its own (Raft paper, section 5.4.1)"
    ),
    PRE_VOTE_COUNTED_AS_VOTE: (
        "a candidate counts granted pre-vote answers, which carry the term it now stands in, as "
        "votes, though a pre-vote binds nobody and its giver may vote for a rival"
    ),
    PRE_VOTE_RAISES_TERM: (
        "a node takes the term of a pre-vote request as its own, as for any other message from "
        "a higher term and before asking whether it still hears from a leader, so a node that "
        "rejoins after a partition deposes a healthy leader"
    ),
    QUORUM_HALF: (
        "a quorum is half the voters rounded up instead of a strict majority, so on an even "
        "cluster size two disjoint halves each elect a leader and commit"
    ),
    LEADER_KEEPS_ROLE_ON_HIGHER_TERM: (
        "a leader that hears of a higher term adopts it but does not step down, so it leads a "
        "term that another node was elected in"
    ),
    TRANSFER_SKIPS_LOG_CHECK: (
        "a leadership transfer is trusted blindly: the leader sends TIMEOUT_NOW at once without "
        "first catching the target up, and voters grant a transfer campaign's vote without the "
        "up-to-date log check, as they already skip the lease check for it, so a lagging target "
        "wins and overwrites committed entries"
    ),
    COMMIT_OLD_TERM: (
        "a new leader appends no entry of its own term and commits entries of earlier terms by "
        "counting replicas (Raft paper, figure 8)"
    ),
    SEND_BEFORE_PERSIST: (
        "the host sends a batch's messages before its entries and hard state are durable, so "
        "votes and append acknowledgements escape before a crash can lose them"
    ),
    STALE_APPEND_TRUNCATES: (
        "a follower replaces its log after an append's previous entry even when it already "
        "holds the appended entries, so a delayed append cuts off entries it acknowledged"
    ),
    ACCEPT_STALE_TERM_APPEND: ("a follower accepts appends from a leader of an earlier term instead of rejecting them"),
    HEARTBEAT_COMMIT_BEYOND_MATCH: (
        "a leader's heartbeat carries its whole commit index, not only what the follower is "
        "known to match, so a follower commits a stale tail of its own log"
    ),
    RESTART_SKIPS_APPLY: (
        "a restarted node takes its persisted commit index for its applied index, as if the "
        "in-memory store had survived the crash, and never re-applies the log"
    ),
    FOLLOWER_COMMIT_OWN_TAIL: (
        "a follower takes an append's commit index up to its own last entry, not up to the last "
        "entry the append vouches for, and before checking that the append matches its log, so "
        "it commits a stale tail of its own log"
    ),
    CONFLICT_SLICE_OFF_BY_ONE: (
        "a follower that finds where an append conflicts with its log slices the append one "
        "entry too far, keeping its own conflicting entry and appending the leader's after it"
    ),
    INFLIGHT_NEVER_FREED: (
        "a leader never frees its window of appends in flight when a follower acknowledges "
        "them, so replication to every follower stops once the window has filled"
    ),
    PROBE_NEXT_NOT_DECREMENTED: (
        "a leader probing a follower does not move its next index back when the follower "
        "rejects the probe, so a follower that lags at the election never catches up"
    ),
    COMMIT_COUNTS_SENT: (
        "a leader counts what it has sent each follower (its next index), not what the follower "
        "acknowledged (its match index), towards a commit"
    ),
    READ_INDEX_WITHOUT_HEARTBEAT: (
        "the leader answers a read-index request with its commit index at once, without the "
        "heartbeat round that confirms it still leads, so a deposed leader hands out stale indexes"
    ),
    LEASE_READ_WITHOUT_CHECK_QUORUM: (
        "with lease-based reads, the leader reads under its lease for as long as it leads, without "
        "counting the lease from the last round a quorum answered: CheckQuorum deposes a cut-off "
        "leader up to two election timeouts later, while the others elect a successor after one"
    ),
    READ_INDEX_BEFORE_APPLY: (
        "a confirmed read is served from the state applied so far, without waiting until the read index is applied"
    ),
    STALE_LOCAL_READ: (
        "the leader answers reads from its own state without a read index, so without confirming it still leads"
    ),
    READ_FROM_FOLLOWER: (
        "a follower answers reads from its own state machine instead of asking the leader for a read index"
    ),
    ACK_BEFORE_COMMIT: "the leader acknowledges a write once it is in its own log, before it commits",
    CAS_CHECKED_AT_PROPOSE: (
        "the leader checks a compare-and-set against its applied state when it proposes it and "
        "logs a plain write, so writes ordered in between are overwritten"
    ),
    OVERWRITE_KEEPS_REVISION: (
        "the store advances its revision only when a write creates a key, so overwriting an "
        "existing key reports the revision of the write before it"
    ),
    RETRY_ANSWERED_AFRESH: (
        "a server answers the retry of a request it already applied by judging the request "
        "again against its current state, not with the remembered result, so a compare-and-set "
        "that took effect is answered compare-failed and a write reports a later revision"
    ),
    FORWARD_ACKNOWLEDGED: (
        "a follower that forwards a write to the leader also answers the client at once that "
        "it took effect, before the leader has even proposed it"
    ),
    RANGE_PAST_READS_CURRENT: (
        "a range at a past revision reads every key as it stands now, so it shows writes made "
        "after the revision it asked for"
    ),
    DELETE_KEEPS_VERSION: (
        "a key deleted and written again continues its version count from before the delete "
        "instead of starting a new generation at version 1"
    ),
    COMPACT_DROPS_LATEST: (
        "a compaction drops the last change of a key whose last change is at or below the "
        "compaction revision, not only the older ones, so the key disappears"
    ),
    TXN_COMPARE_AT_PROPOSE: (
        "the leader evaluates a txn's compares against its applied state when it proposes the "
        "txn and, finding they hold, logs it without them, so its success branch runs wherever "
        "the txn lands in the log, whatever was written in between"
    ),
    RANGE_MORE_OFF_BY_ONE: (
        "a range with a limit says more keys remain only when at least two do, so a paginated "
        "list whose next page would hold one key ends a page early and misses that key"
    ),
    WATCH_SPLIT_DROPS_REVISION: (
        "a watch response that fills up in the middle of a revision ends there, and the rest "
        "of that revision's events are taken as sent and never reach the watcher"
    ),
    WATCH_START_REPEATS_LAST: (
        "a watch from a start revision also reports the revision before it, so a watcher "
        "that resumes after the last revision it saw receives that revision a second time"
    ),
    LEASE_NOT_EXTENDED: (
        "a new leader gives the leases no deadline of its own term (no TTL, no election "
        "timeout), so every lease counts as due at once and is revoked on election, however "
        "recently it was kept alive"
    ),
    LEASE_DEADLINE_FROM_GRANT: (
        "every node counts a deadline from each grant it applies, and a new leader keeps the "
        "deadlines it counted as a follower, blind to the keep-alives the old leader took, so "
        "a lease kept alive expires TTL after its grant"
    ),
    TWO_CONF_CHANGES_IN_FLIGHT: (
        "the leader takes a membership change while an earlier one is not yet applied "
        "(etcd's pendingConfIndex forgotten), so nodes may count quorums in configurations "
        "two changes apart, whose majorities need not intersect: two leaders of one term"
    ),
    CONFIG_FROM_COMMITTED: (
        "a new leader counts the membership changes that may still be pending from its commit "
        "index instead of the last entry of its log, so a change an earlier leader left "
        "uncommitted at the log's tail is overlooked and a second one is taken while it is in "
        "flight: quorums may then be counted in configurations two changes apart"
    ),
    LEASE_REVOKE_SPLIT: (
        "a revoked or expired lease deletes its keys one revision each instead of all in one, "
        "so a reader between them sees some of the lease's keys gone and others still there"
    ),
    RESTART_IGNORES_TORN_RECORD: (
        "a restart that finds the last record of its disk torn (a write cut by the crash) "
        "ignores its checksum and loads what survived as an entry, garbled data under the "
        "index and term the write was for, instead of dropping it"
    ),
}


# The Raft bugs that can leave a node's log inconsistent with what it promised: a commit
# index beyond its last entry, a committed entry truncated or overwritten, an
# acknowledgement beyond the leader's log. With one of them on, the log must carry on past
# such damage so that a checker reports it; with none on, the damage is a defect of ours and
# the log's assertions stop the run. `restart-skips-apply` is not here: it moves only the
# applied index, which the log never lets run past the commit index; nor are the bugs that
# only slow or stop replication (`inflight-never-freed`, `probe-next-not-decremented`) or
# only add terms (`pre-vote-raises-term`), and the key-value bugs never touch the log at all.
LOG_DAMAGING_BUGS: tuple[str, ...] = (
    # A second vote in one term can elect two leaders of the same term, whose entries at
    # one index differ: one overwrites a committed entry of the other.
    VOTE_NOT_PERSISTED,
    # A leader lacking committed entries overwrites them on its followers.
    VOTE_WITHOUT_LOG_CHECK,
    TRANSFER_SKIPS_LOG_CHECK,
    # Figure 8: an entry committed by counting replicas is later overwritten.
    COMMIT_OLD_TERM,
    # An acknowledged entry lost in a crash is counted towards a commit nobody holds, and
    # a restarted node may find a persisted commit index beyond the entries it kept.
    SEND_BEFORE_PERSIST,
    # A delayed append cuts off entries that were acknowledged and perhaps committed.
    STALE_APPEND_TRUNCATES,
    # A deposed leader's append overwrites entries the current leader committed.
    ACCEPT_STALE_TERM_APPEND,
    # A follower commits its own stale tail, which the leader later replaces.
    HEARTBEAT_COMMIT_BEYOND_MATCH,
    # Two leaders of one term (a pre-vote counted as a vote, a deposed leader that
    # keeps leading in the new term, two disjoint half quorums) overwrite each other's
    # committed entries, and a leader may count acknowledgements of entries it never sent.
    PRE_VOTE_COUNTED_AS_VOTE,
    QUORUM_HALF,
    LEADER_KEEPS_ROLE_ON_HIGHER_TERM,
    # A follower commits entries of its own that the leader later replaces.
    FOLLOWER_COMMIT_OWN_TAIL,
    # A kept conflicting entry breaks log matching, and may be committed and then replaced.
    CONFLICT_SLICE_OFF_BY_ONE,
    # An entry committed on the strength of sends alone is overwritten by the next leader.
    COMMIT_COUNTS_SENT,
    # Entries kept past a snapshot may conflict with the leader's and be counted as its.
    SNAPSHOT_KEEPS_CONFLICTING_ENTRIES,
    # Configurations two changes apart elect two leaders of one term.
    TWO_CONF_CHANGES_IN_FLIGHT,
    CONFIG_FROM_COMMITTED,
)


def validate_bugs(names: Iterable[str]) -> frozenset[str]:
    """Return `names` as a frozenset, refusing any name that is not a known bug."""
    chosen = frozenset(names)
    for name in sorted(chosen):
        if name not in BUGS:
            raise ValueError(f"unknown bug {name!r}; known: {', '.join(sorted(BUGS))}")
    return chosen
