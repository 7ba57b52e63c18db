"""One Raft node as a pure state machine, after etcd-io/raft.

The host drives it: `tick()` for time and `step()` for everything else, and drains the
consequences with `ready()` / `advance()`. Local events are messages too (HUP to campaign,
PROPOSE for a client write, BEAT and CHECK_QUORUM from the leader's timers), so every input
but the clock takes one path; `campaign()` and `propose()` only build such a message.
Nothing here performs I/O, reads a clock or draws randomness other than from the
`random.Random` handed in.

Layout, as in etcd: roles change only in `become_*`, which also fix the role's step
function; a message first passes the term rules in `step` (which may demote the node),
then goes to that function (`_step_leader`, `_step_candidate` or `_step_follower`).
Who the members are, how far each follower's log reaches and who voted how live in a
`ProgressTracker`, which answers every quorum question for a plain or a joint
configuration alike. Actions that may or may not happen are named `_maybe_*`.

Durability rules the design leans on:
- Everything a message promises (a vote, an acknowledged entry) is in the same Ready as the
  message or an earlier one, and the host persists a Ready before sending its messages.
- The leader counts its own log towards a commit only up to what is on disk (`advance`
  moves its own `match`), as etcd does by stepping a self-acknowledgement after the write.
- A node counts its own vote at once: no message leaves before that vote is persisted, and
  a crash before then loses the candidacy with it.

Appends are coalesced, as etcd's batching of proposals per Ready does: an event that gives
a follower something to receive (a proposal, an acknowledgement that frees the window, a
rejection, a probe) only marks an append as owed, and `ready()` builds one append per
owed follower from the log as it then stands. Proposals stepped while the host is busy
with the previous Ready therefore travel together. A commit advance sends nothing of its
own: the commit index rides on the next append or heartbeat (which never tells a follower
more than its `match`), so followers learn it within a heartbeat interval. Only the
leader's replies to clients wait on the commit, and those never wait on a follower's.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from raftcore.bugs import (
    ACCEPT_STALE_TERM_APPEND,
    COMMIT_COUNTS_SENT,
    COMMIT_OLD_TERM,
    CONFIG_FROM_COMMITTED,
    CONFLICT_SLICE_OFF_BY_ONE,
    FOLLOWER_COMMIT_OWN_TAIL,
    HEARTBEAT_COMMIT_BEYOND_MATCH,
    INFLIGHT_NEVER_FREED,
    LEADER_KEEPS_ROLE_ON_HIGHER_TERM,
    LEASE_READ_WITHOUT_CHECK_QUORUM,
    LOG_DAMAGING_BUGS,
    PRE_VOTE_COUNTED_AS_VOTE,
    PRE_VOTE_RAISES_TERM,
    PROBE_NEXT_NOT_DECREMENTED,
    QUORUM_HALF,
    READ_INDEX_WITHOUT_HEARTBEAT,
    RESTART_SKIPS_APPLY,
    SEND_BEFORE_PERSIST,
    SNAPSHOT_BEYOND_APPLIED,
    SNAPSHOT_KEEPS_CONFLICTING_ENTRIES,
    STALE_APPEND_TRUNCATES,
    TRANSFER_SKIPS_LOG_CHECK,
    TWO_CONF_CHANGES_IN_FLIGHT,
    VOTE_NOT_PERSISTED,
    VOTE_WITHOUT_LOG_CHECK,
    validate_bugs,
)
from raftcore.log import RaftLog
from raftcore.progress import MAX_INFLIGHT_MESSAGES, Progress, ProgressState
from raftcore.quorum import VoteResult
from raftcore.read_only import ReadOnly, lease_ticks
from raftcore.tracker import ProgressTracker
from raftcore.types import (
    LOCAL_MESSAGE_TYPES,
    NO_NODE,
    TRANSFER_CAMPAIGN,
    ConfChange,
    ConfChangeType,
    Config,
    Entry,
    EntryKind,
    HardState,
    Membership,
    Message,
    MessageType,
    PersistedState,
    ReadState,
    Ready,
    Role,
    Snapshot,
    SoftState,
)

APPEND = MessageType.APPEND
APPEND_RESPONSE = MessageType.APPEND_RESPONSE
HEARTBEAT = MessageType.HEARTBEAT
HEARTBEAT_RESPONSE = MessageType.HEARTBEAT_RESPONSE
PRE_VOTE = MessageType.PRE_VOTE
PRE_VOTE_RESPONSE = MessageType.PRE_VOTE_RESPONSE
VOTE = MessageType.VOTE
VOTE_RESPONSE = MessageType.VOTE_RESPONSE
HUP = MessageType.HUP
PROPOSE = MessageType.PROPOSE
BEAT = MessageType.BEAT
CHECK_QUORUM = MessageType.CHECK_QUORUM
READ_INDEX = MessageType.READ_INDEX
READ_INDEX_RESPONSE = MessageType.READ_INDEX_RESPONSE
TRANSFER_LEADER = MessageType.TRANSFER_LEADER
TIMEOUT_NOW = MessageType.TIMEOUT_NOW
SNAPSHOT = MessageType.SNAPSHOT
CONF_CHANGE = EntryKind.CONF_CHANGE
LEADER = Role.LEADER
FOLLOWER = Role.FOLLOWER
CANDIDATE = Role.CANDIDATE
PRE_CANDIDATE = Role.PRE_CANDIDATE
HEARTBEAT_SKIP_ELECTION_FACTOR = 4
"""A follower in REPLICATE that received an append since the last heartbeat round gets no
heartbeat, but only when the election timeout is at least this many heartbeat intervals:
skipping one round can leave a follower two intervals without word, which must stay far
below the time after which it would stand for election."""
PROMOTION_MATCH_PERCENT_MIN = 90
"""A learner is promoted only once its log holds at least this share of the leader's (etcd's
learner promotion check, `isLearnerReady`): a voter far behind would count towards quorums
it cannot serve, and could leave the cluster without a quorum that holds the log."""


class RaftNode:
    """A Raft node. Public fields are read-only for the host.

    Invariants (asserted where they could break): `term` never decreases; `vote` is cast at
    most once per term; `leader_id == node_id` iff `role is LEADER`; the commit index never
    decreases; the tracker holds progress iff the node leads.
    """

    def __init__(self, config: Config, state: PersistedState, rng: random.Random) -> None:
        bugs = validate_bugs(config.bugs)
        self.config = config
        self.node_id = config.node_id
        self.snapshot: Snapshot | None = state.snapshot
        """The latest snapshot this node holds (taken, installed or read back at start):
        what it sends a follower whose next entry it compacted away."""
        self._tracker = ProgressTracker(
            config.initial_membership() if state.snapshot is None else state.snapshot.membership,
            quorum_half=QUORUM_HALF in bugs,
            commit_counts_sent=COMMIT_COUNTS_SENT in bugs,
        )
        self._bug_commit_old_term = COMMIT_OLD_TERM in bugs
        self._bug_snapshot_beyond_applied = SNAPSHOT_BEYOND_APPLIED in bugs
        self._bug_send_before_persist = SEND_BEFORE_PERSIST in bugs
        self._bug_vote_not_persisted = VOTE_NOT_PERSISTED in bugs
        self._bug_vote_without_log_check = VOTE_WITHOUT_LOG_CHECK in bugs
        self._bug_accept_stale_term_append = ACCEPT_STALE_TERM_APPEND in bugs
        self._bug_heartbeat_commit_beyond_match = HEARTBEAT_COMMIT_BEYOND_MATCH in bugs
        self._appends_stand_for_heartbeats = (
            config.election_ticks >= HEARTBEAT_SKIP_ELECTION_FACTOR * config.heartbeat_ticks
        )
        self._bug_pre_vote_counted_as_vote = PRE_VOTE_COUNTED_AS_VOTE in bugs
        self._bug_pre_vote_raises_term = PRE_VOTE_RAISES_TERM in bugs
        self._bug_leader_keeps_role = LEADER_KEEPS_ROLE_ON_HIGHER_TERM in bugs
        self._bug_transfer_skips_log_check = TRANSFER_SKIPS_LOG_CHECK in bugs
        self._bug_follower_commit_own_tail = FOLLOWER_COMMIT_OWN_TAIL in bugs
        self._bug_inflight_never_freed = INFLIGHT_NEVER_FREED in bugs
        self._bug_probe_next_not_decremented = PROBE_NEXT_NOT_DECREMENTED in bugs
        self._bug_read_index_without_heartbeat = READ_INDEX_WITHOUT_HEARTBEAT in bugs
        self._bug_two_conf_changes_in_flight = TWO_CONF_CHANGES_IN_FLIGHT in bugs
        self._bug_config_from_committed = CONFIG_FROM_COMMITTED in bugs
        self._pending_conf_index = 0
        """While leading: the index of the last membership change this leader may not have
        applied yet (etcd's pendingConfIndex); a new change waits until it is applied."""
        # Reads under a lease, and how long one lasts in this node's ticks. Without
        # CheckQuorum no voter keeps its promise to a leader, so there is no lease to read
        # under: every read then takes a round.
        self._lease_reads = config.read_only == "lease" and config.check_quorum
        self._bug_lease_read_without_check_quorum = LEASE_READ_WITHOUT_CHECK_QUORUM in bugs
        self._lease_ticks = lease_ticks(config.election_ticks, config.max_clock_drift_ppm)
        # A node that starts (or restarts) remembers no leader, so it would grant a vote at
        # once, breaking the promise it may have made to a leader before it crashed: under
        # leases it waits an election timeout first, as if it had just heard from one.
        self._forgot_leader = config.read_only == "lease"
        self._ticks = 0
        """Ticks since the node started: the clock the lease is measured by."""
        self._read_only = ReadOnly()
        self._reads_before_commit: list[tuple[int, str]] = []
        self._read_states: list[ReadState] = []
        hard_state = state.hard_state
        # A log-damaging bug may leave damage behind (a commit index beyond what the disk
        # kept, a committed entry overwritten); the node must survive it so that a checker,
        # not an assertion, reports it. Any other bug leaves the log's assertions armed.
        self.log = RaftLog(
            state.entries,
            hard_state.commit,
            tolerate_damage=not bugs.isdisjoint(LOG_DAMAGING_BUGS),
            truncate_on_every_append=STALE_APPEND_TRUNCATES in bugs,
            conflict_slice_off_by_one=CONFLICT_SLICE_OFF_BY_ONE in bugs,
            snapshot=state.snapshot,
            keep_conflicts_on_restore=SNAPSHOT_KEEPS_CONFLICTING_ENTRIES in bugs,
        )
        if RESTART_SKIPS_APPLY in bugs:
            # The planted bug: the commit index read back from disk is taken for the applied
            # index, as if the state machine were on disk too; it is rebuilt empty.
            self.log.applied = self.log.committed
        self._rng = rng
        self.term = hard_state.term
        self.vote = hard_state.vote
        self.leader_id = NO_NODE
        self.role = FOLLOWER
        self._election_elapsed_ticks = 0
        self._heartbeat_elapsed_ticks = 0
        self._randomized_election_timeout_ticks = config.election_ticks
        self.lead_transferee = NO_NODE
        """While leading: the voter leadership is being handed to, or NO_NODE."""
        self._timeout_now_sent = False
        self._leaving = False
        """While leading: it proposed its own removal, and takes no more proposals, so that
        the voter that acknowledged the removal holds its whole log when it hands over."""
        self._step_role: Callable[[Message], None] = self._step_follower
        self._messages: list[Message] = []
        # Followers owed an append by the next Ready, mapped to whether it must go out even
        # without entries (a probe, a new leader's first word). Filled only while leading.
        self._appends_owed: dict[int, bool] = {}
        # What the host last received, to hand over only changes.
        self._previous_hard_state = hard_state
        self._previous_soft_state = SoftState(leader=NO_NODE, role=FOLLOWER)
        self._outstanding_ready: Ready | None = None
        self.become_follower(self.term, NO_NODE)

    def __repr__(self) -> str:
        return (
            f"RaftNode({self.node_id} {self.role} term={self.term} vote={self.vote} lead={self.leader_id} {self.log!r})"
        )

    # ---- read-only views ----

    @property
    def commit_index(self) -> int:
        return self.log.committed

    @property
    def applied_index(self) -> int:
        return self.log.applied

    @property
    def last_index(self) -> int:
        return self.log.last_index

    @property
    def randomized_election_timeout_ticks(self) -> int:
        return self._randomized_election_timeout_ticks

    def log_entries(self) -> tuple[Entry, ...]:
        return self.log.all_entries()

    def progress(self, peer: int) -> Progress | None:
        """The leader's view of `peer` (None unless this node leads)."""
        return self._tracker.progress.get(peer)

    @property
    def membership(self) -> Membership:
        """The membership in force: the latest one applied (or the initial one)."""
        return self._tracker.membership

    # ---- role changes: the only places that assign `role` ----

    def _reset(self, term: int) -> None:
        if term != self.term:
            assert term > self.term, f"term going back from {self.term} to {term}"
            self.term = term
            self.vote = NO_NODE
        self.leader_id = NO_NODE
        self._election_elapsed_ticks = 0
        self._heartbeat_elapsed_ticks = 0
        election_ticks = self.config.election_ticks
        self._randomized_election_timeout_ticks = self._rng.randrange(election_ticks, 2 * election_ticks)
        self._tracker.reset_votes()
        self._tracker.clear_progress()
        self._appends_owed = {}
        # A transfer belongs to one leadership: any role change ends it.
        self.lead_transferee = NO_NODE
        self._timeout_now_sent = False
        self._leaving = False
        # Reads waiting on this node's leadership die with it; their servers see the role
        # change and fail them, and the clients ask again.
        self._read_only = ReadOnly()
        self._reads_before_commit = []

    def become_follower(self, term: int, leader: int) -> None:
        self._reset(term)
        self.leader_id = leader
        self.role = FOLLOWER
        self._step_role = self._step_follower

    def become_pre_candidate(self) -> None:
        # Neither the term nor the vote changes: a pre-election must leave no trace that
        # could disrupt the cluster if it fails.
        assert self.role is not LEADER, "a leader never becomes a pre-candidate"
        self._tracker.reset_votes()
        self.leader_id = NO_NODE
        self.role = PRE_CANDIDATE
        self._step_role = self._step_candidate

    def become_candidate(self) -> None:
        assert self.role is not LEADER, "a leader never becomes a candidate"
        self._reset(self.term + 1)
        self.vote = self.node_id
        self.role = CANDIDATE
        self._step_role = self._step_candidate

    def become_leader(self) -> None:
        assert self.role is CANDIDATE, f"only a candidate wins an election, not a {self.role}"
        assert self.vote == self.node_id
        self._reset(self.term)
        self.leader_id = self.node_id
        self.role = LEADER
        self._step_role = self._step_leader
        log = self.log
        self._tracker.reset_progress(log.last_index + 1)
        own = self._tracker.progress[self.node_id]
        own.match = log.stable_index
        own.become_replicate()
        own.recent_active = True
        # Any entry not yet applied may be a membership change: the next one waits for it
        # (etcd sets pendingConfIndex to the last index on election, without looking). The
        # planted bug `config-from-committed` looks only as far as the commit index, missing
        # a change an earlier leader left uncommitted at the tail.
        self._pending_conf_index = log.committed if self._bug_config_from_committed else log.last_index
        # An entry of the new term lets the leader commit what earlier terms left behind
        # (Raft paper, section 5.4.2), since only entries of its own term count. The planted
        # figure-8 bug goes without it, as the paper's figure does: the leader then pushes
        # old entries alone and counts them, and its own log still ends in an old term.
        if not self._bug_commit_old_term:
            log.append_new(self.term, "")

    # ---- inputs ----

    def tick(self) -> None:
        self._ticks += 1
        if self.role is LEADER:
            self._tick_heartbeat()
        else:
            self._tick_election()

    def _tick_election(self) -> None:
        self._election_elapsed_ticks += 1
        if self._election_elapsed_ticks >= self.config.election_ticks:
            self._forgot_leader = False
        if self._election_elapsed_ticks >= self._randomized_election_timeout_ticks and self._tracker.is_voter(
            self.node_id
        ):
            # Only a node that may stand starts its timer again, as etcd's `promotable`
            # check has it. A learner's time since it last heard a leader keeps growing: a
            # learner promoted without knowing it yet must, once the leader is gone, grant
            # the votes that elect the next one, and a timer set back to zero would keep it
            # refusing them as if it still heard from a leader (CheckQuorum's lease).
            self._election_elapsed_ticks = 0
            self._step_local(HUP)

    def _tick_heartbeat(self) -> None:
        self._heartbeat_elapsed_ticks += 1
        self._election_elapsed_ticks += 1
        if self._election_elapsed_ticks >= self.config.election_ticks:
            self._election_elapsed_ticks = 0
            if self.config.check_quorum:
                self._step_local(CHECK_QUORUM)
                if self.role is not LEADER:
                    return
            # A transfer that took a whole election timeout failed (the target is cut off
            # or slow): take proposals again rather than stay stuck.
            self.lead_transferee = NO_NODE
        if self._heartbeat_elapsed_ticks >= self.config.heartbeat_ticks:
            self._heartbeat_elapsed_ticks = 0
            self._step_local(BEAT)

    def _step_local(self, kind: MessageType) -> None:
        """Step a local event that carries nothing but its type."""
        self.step(Message(kind, self.node_id, self.node_id, 0))

    def campaign(self) -> None:
        """Start an election now (a pre-election first when PreVote is on)."""
        self._step_local(HUP)

    def propose(self, data: str) -> Entry | None:
        """Append `data` if this node leads; the entry it became, or None if it does not lead
        (forwarding a request to the leader is the server's business, not Raft's)."""
        last_index = self.log.last_index
        # The entry is a placeholder: the leader gives it its term and index on arrival.
        self.step(Message(PROPOSE, self.node_id, self.node_id, 0, entries=(Entry(0, 0, data),)))
        if self.log.last_index == last_index:
            return None
        assert self.log.last_index == last_index + 1, "one proposal, one entry"
        return self.log.slice(last_index + 1, last_index + 2)[0]

    def transfer_leadership(self, to: int) -> None:
        """Ask the leader to hand leadership to voter `to` (etcd's TransferLeader).

        A follower passes the request on to the leader it knows (or drops it). The leader
        ignores a target that is itself, not a voter, or already the pending target; a new
        target replaces a pending one. It stops taking proposals, brings the target's log
        up to its own and then sends it TIMEOUT_NOW; the target campaigns at once, and the
        transfer ends with the leader's step-down, any other role change, or an election
        timeout without success. Whether it worked shows in the roles, not in a return.
        """
        self.step(Message(TRANSFER_LEADER, self.node_id, self.node_id, 0, log_index=to))

    def create_snapshot(self, index: int, data: str) -> Snapshot:
        """The host's state machine, as of applied entry `index`, encoded as `data`: keep it
        as this node's snapshot and compact the log up to `config.snapshot_catch_up`
        entries before it (etcd's CreateSnapshot then Compact). The host persists the
        snapshot it gets back; the node sends it to followers it can no longer reach with
        entries. A snapshot no newer than the one held is refused (ValueError)."""
        log = self.log
        held = 0 if self.snapshot is None else self.snapshot.index
        # The planted bug `snapshot-beyond-applied` labels snapshots up to the commit index.
        limit = log.committed if self._bug_snapshot_beyond_applied else log.applied
        if not held < index <= limit:
            raise ValueError(f"a snapshot at {index} must be past {held} and applied (applied: {log.applied})")
        snapshot = Snapshot(index=index, term=log.term(index), membership=self._tracker.membership, data=data)
        self.snapshot = snapshot
        log.compact(min(index - self.config.snapshot_catch_up, log.applied))
        return snapshot

    def read_index(self, context: str) -> bool:
        """Ask for the index a read named `context` may be served at; it comes back as a
        `ReadState` in a later Ready, or never if leadership changes first (the Ready's soft
        state then says so). False when no leader is known to ask: the read fails now."""
        if self.role is not LEADER and self.leader_id == NO_NODE:
            return False
        self.step(Message(READ_INDEX, self.node_id, self.node_id, 0, context=context))
        return True

    def step(self, message: Message) -> None:
        assert message.to == self.node_id, f"{message} delivered to {self.node_id}"
        sender = message.sender
        if sender == self.node_id:
            # Local events take no term rules: they carry no term, only what to do now.
            kind = message.type
            if kind is HUP:
                self._hup()
            elif kind in LOCAL_MESSAGE_TYPES or kind is READ_INDEX or kind is TRANSFER_LEADER:
                self._step_role(message)
            return
        answer = message.type
        if (answer is APPEND_RESPONSE or answer is HEARTBEAT_RESPONSE) and not self._tracker.is_member(sender):
            # An answer a leader reads through the sender's progress, which it does not
            # track (the sender was removed since, or is not in the membership this node
            # applied yet). Requests from outside the membership are taken, as etcd-io/raft
            # takes them: a node that has not yet applied a change must still hear the
            # leader and the members it added, and vote for them, or it could never catch
            # up with the change.
            return
        if message.term > self.term:
            if not self._accept_higher_term(message):
                return
        elif message.term < self.term and not self._accepts_stale_leader(message):
            self._answer_lower_term(message)
            return
        kind = message.type
        if kind is VOTE or kind is PRE_VOTE:
            self._handle_vote_request(message)
        else:
            self._step_role(message)

    # ---- term rules (etcd's Step) ----

    def _accept_higher_term(self, message: Message) -> bool:
        """Apply the rules for a message from a later term; False means ignore it."""
        kind = message.type
        if kind is PRE_VOTE and self._bug_pre_vote_raises_term:
            # The planted bug `pre-vote-raises-term`: the pre-vote is taken for any message
            # from a later term, before the lease is asked about.
            self.become_follower(message.term, NO_NODE)
            return True
        if (
            (kind is VOTE or kind is PRE_VOTE)
            and self._in_leader_lease()
            and not (kind is VOTE and message.context == TRANSFER_CAMPAIGN)
        ):
            # Heard from a leader within the minimum election timeout: a node that calls
            # an election now is disrupting a healthy cluster, so neither vote nor adopt
            # its term (Raft thesis, section 4.2.3). A campaign the leader itself asked
            # for (TIMEOUT_NOW) disrupts nothing and passes, as in etcd; the leader gives
            # up its lease reads for it (`_in_lease`).
            return False
        if kind is PRE_VOTE:
            return True  # a pre-vote never changes our term
        if kind is PRE_VOTE_RESPONSE and not message.reject:
            # Granted pre-votes carry the term we asked about, one ahead of ours; the term
            # is taken only if the pre-election is won.
            return True
        if self._bug_leader_keeps_role and self.role is LEADER:
            # The planted bug `leader-keeps-role-on-higher-term`: the term is taken, the
            # step down forgotten; the node goes on leading, now in the later term.
            self.term = message.term
            self.vote = NO_NODE
            return True
        leader = message.sender if kind is APPEND or kind is HEARTBEAT else NO_NODE
        self.become_follower(message.term, leader)
        return True

    def _accepts_stale_leader(self, message: Message) -> bool:
        """False, except under the planted bug `accept-stale-term-append`: there a follower
        forgets the term check and treats a deposed leader's appends and heartbeats as its
        own leader's (its answers still carry its term, which deposes the sender)."""
        kind = message.type
        return self._bug_accept_stale_term_append and self.role is FOLLOWER and (kind is APPEND or kind is HEARTBEAT)

    def _in_leader_lease(self) -> bool:
        return (
            self.config.check_quorum
            and (self.leader_id != NO_NODE or self._forgot_leader)
            and self._election_elapsed_ticks < self.config.election_ticks
        )

    def _answer_lower_term(self, message: Message) -> None:
        kind = message.type
        config = self.config
        if (config.check_quorum or config.pre_vote) and (kind is APPEND or kind is HEARTBEAT):
            # A stale leader: it would never learn of our term otherwise, because with
            # CheckQuorum or PreVote we do not bump terms on votes it could see.
            self._send(Message(APPEND_RESPONSE, self.node_id, message.sender, self.term))
        elif kind is PRE_VOTE:
            # Answer so a pre-candidate from before an upgrade to PreVote cannot stall.
            self._send(Message(PRE_VOTE_RESPONSE, self.node_id, message.sender, self.term, reject=True))

    # ---- elections ----

    def _hup(self) -> None:
        # A learner may not stand: it cannot even vote for itself.
        if self.role is LEADER or not self._tracker.is_voter(self.node_id):
            return
        if self._has_unapplied_conf_changes():
            return
        self._forgot_leader = False
        self._campaign(pre_election=self.config.pre_vote)

    def _campaign_for_transfer(self) -> None:
        """TIMEOUT_NOW: the leader hands over. No pre-election: the leader vouches that our
        log is as long as its own, and a pre-vote would be refused by voters in its lease."""
        if not self._tracker.is_voter(self.node_id) or self._has_unapplied_conf_changes():
            return
        self._forgot_leader = False
        self._campaign(pre_election=False, transfer=True)

    def _campaign(self, pre_election: bool, transfer: bool = False) -> None:
        if pre_election:
            self.become_pre_candidate()
            request_type = PRE_VOTE
            request_term = self.term + 1
        else:
            self.become_candidate()
            request_type = VOTE
            request_term = self.term
        if self._record_vote(self.node_id, True) is VoteResult.WON:
            self._won_election(pre_election)
            return
        log = self.log
        last_index = log.last_index
        last_term = log.last_term()
        for voter in self._tracker.voter_ids:
            if voter == self.node_id:
                continue
            self._send(
                Message(
                    request_type,
                    self.node_id,
                    voter,
                    request_term,
                    log_term=last_term,
                    log_index=last_index,
                    context=TRANSFER_CAMPAIGN if transfer else None,
                )
            )

    def _record_vote(self, voter: int, granted: bool) -> VoteResult:
        self._tracker.record_vote(voter, granted)
        return self._tracker.vote_result()

    def _won_election(self, pre_election: bool) -> None:
        if pre_election:
            self._campaign(pre_election=False)
        else:
            self.become_leader()
            self._broadcast_append(even_if_empty=True)

    def _handle_vote_request(self, message: Message) -> None:
        pre_vote = message.type is PRE_VOTE
        response_type = PRE_VOTE_RESPONSE if pre_vote else VOTE_RESPONSE
        can_vote = (
            self.vote == message.sender
            or (self.vote == NO_NODE and self.leader_id == NO_NODE)
            or (pre_vote and message.term > self.term)
        )
        # The planted bug `vote-without-log-check` skips the election restriction, and
        # `transfer-skips-log-check` skips it for a campaign the leader asked for.
        blind = self._bug_vote_without_log_check or (
            self._bug_transfer_skips_log_check and message.context == TRANSFER_CAMPAIGN
        )
        if can_vote and (blind or self.log.is_up_to_date(message.log_index, message.log_term)):
            # Answer with the term asked about: a pre-candidate is one term ahead of us and
            # would ignore an answer carrying our (older) term.
            self._send(Message(response_type, self.node_id, message.sender, message.term))
            if not pre_vote:
                assert self.vote in (NO_NODE, message.sender), "two votes in one term"
                self._election_elapsed_ticks = 0
                self.vote = message.sender
        else:
            self._send(Message(response_type, self.node_id, message.sender, self.term, reject=True))

    def _maybe_step_down_without_quorum(self) -> None:
        tracker = self._tracker
        if not tracker.quorum_active():
            self.become_follower(self.term, NO_NODE)
            return
        for member, progress in tracker.visit():
            if member != self.node_id:
                progress.recent_active = False

    # ---- per-role message handling ----

    def _step_leader(self, message: Message) -> None:
        kind = message.type
        if kind is APPEND_RESPONSE:
            self._handle_append_response(message)
        elif kind is HEARTBEAT_RESPONSE:
            progress = self._tracker.progress[message.sender]
            if message.context is not None:
                self._read_round_answered(message.sender, message.context)
            progress.recent_active = True
            if progress.state is ProgressState.SNAPSHOT:
                # The follower answered a heartbeat but not the snapshot: take it for lost
                # and send it again (or entries, if it caught up otherwise).
                progress.become_probe()
            progress.paused = False
            if progress.match < self.log.last_index or progress.state is ProgressState.PROBE:
                self._owe_append(message.sender, even_if_empty=True)
        elif kind is PROPOSE:
            if self.lead_transferee != NO_NODE or self._leaving:
                # Handing over (or leaving the membership, `_switch_membership`): a new
                # entry could keep the successor from ever catching up, and the proposer
                # is better off asking the next leader.
                return
            for entry in message.entries:
                if entry.kind is CONF_CHANGE:
                    change = ConfChange.decode(entry.data)
                    if self.conf_change_refusal(change) is not None:
                        continue
                    self._pending_conf_index = self.log.last_index + 1
                    self._leaving = change.type is ConfChangeType.REMOVE and change.node_id == self.node_id
                self.log.append_new(self.term, entry.data, entry.kind)
            self._broadcast_append(even_if_empty=False)
        elif kind is BEAT:
            self._broadcast_heartbeat()
        elif kind is CHECK_QUORUM:
            self._maybe_step_down_without_quorum()
        elif kind is READ_INDEX:
            self._handle_read_index(message.sender, message.context)
        elif kind is TRANSFER_LEADER:
            self._handle_transfer_leader(message.log_index)
        # Vote responses are stale here; appends or heartbeats in our own term can only
        # come from a rival leader, which Raft rules out (and a planted bug may not).

    def _step_candidate(self, message: Message) -> None:
        kind = message.type
        if kind is APPEND:
            self.become_follower(message.term, message.sender)
            self._handle_append(message)
        elif kind is HEARTBEAT:
            self.become_follower(message.term, message.sender)
            self._handle_heartbeat(message)
        elif kind is SNAPSHOT:
            self.become_follower(message.term, message.sender)
            self._handle_snapshot(message)
        elif kind is (PRE_VOTE_RESPONSE if self.role is PRE_CANDIDATE else VOTE_RESPONSE) or (
            # The planted bug `pre-vote-counted-as-vote`: a candidate takes any granted
            # answer for its term, pre-votes that arrive after the pre-election included.
            self._bug_pre_vote_counted_as_vote and kind is PRE_VOTE_RESPONSE
        ):
            result = self._record_vote(message.sender, not message.reject)
            if result is VoteResult.WON:
                self._won_election(self.role is PRE_CANDIDATE)
            elif result is VoteResult.LOST:
                # A lost pre-election leaves the term alone (granted answers carried the
                # next term, which was never ours).
                self.become_follower(self.term, NO_NODE)
        # A proposal finds no leader here and is dropped; the leader's timers never fire.

    def _step_follower(self, message: Message) -> None:
        kind = message.type
        if kind is APPEND:
            self._election_elapsed_ticks = 0
            self.leader_id = message.sender
            self._handle_append(message)
        elif kind is HEARTBEAT:
            self._election_elapsed_ticks = 0
            self.leader_id = message.sender
            self._handle_heartbeat(message)
        elif kind is SNAPSHOT:
            self._election_elapsed_ticks = 0
            self.leader_id = message.sender
            self._handle_snapshot(message)
        elif kind is READ_INDEX:
            # Only our own read asks us; a follower's request meant for a leader we no
            # longer are is dropped, and its follower sees the leader change.
            if message.sender == self.node_id and self.leader_id != NO_NODE:
                self._send(Message(READ_INDEX, self.node_id, self.leader_id, self.term, context=message.context))
        elif kind is TRANSFER_LEADER:
            # Our own request goes on to the leader, if we know one; a request forwarded to
            # us, a leader no more, is dropped.
            if message.sender == self.node_id and self.leader_id != NO_NODE:
                target = message.log_index
                self._send(Message(TRANSFER_LEADER, self.node_id, self.leader_id, self.term, log_index=target))
        elif kind is TIMEOUT_NOW:
            self._campaign_for_transfer()
        elif kind is READ_INDEX_RESPONSE:
            assert isinstance(message.context, str), message
            self._read_states.append(ReadState(message.log_index, message.context))
        # A proposal is dropped: the server, not Raft, forwards requests to the leader.

    # ---- replication: follower side ----

    def _handle_append(self, message: Message) -> None:
        log = self.log
        if message.log_index < log.committed:
            # Stale: everything up to our commit index is settled, say so.
            self._send(Message(APPEND_RESPONSE, self.node_id, message.sender, self.term, log_index=log.committed))
            return
        if self._bug_follower_commit_own_tail:
            # The planted bug: the leader's commit index is taken up to our own last entry,
            # not up to the last entry the append vouches for, and before the append is
            # even found to match our log.
            log.commit_to(min(message.commit, log.last_index))
        last_new_index = log.maybe_append(message.log_index, message.log_term, message.entries, message.commit)
        if last_new_index >= 0:
            self._send(Message(APPEND_RESPONSE, self.node_id, message.sender, self.term, log_index=last_new_index))
            return
        hint_index, hint_term = log.find_conflict_by_term(min(message.log_index, log.last_index), message.log_term)
        self._send(
            Message(
                APPEND_RESPONSE,
                self.node_id,
                message.sender,
                self.term,
                log_index=message.log_index,
                reject=True,
                reject_hint=hint_index,
                reject_hint_term=hint_term,
            )
        )

    def _handle_heartbeat(self, message: Message) -> None:
        self.log.commit_to(message.commit)
        # The round number goes back: the answer confirms that round's reads and lease.
        self._send(Message(HEARTBEAT_RESPONSE, self.node_id, message.sender, self.term, context=message.context))

    def _handle_snapshot(self, message: Message) -> None:
        """Install the leader's snapshot unless the log already holds what it stands for;
        either way answer with how far the log now matches the leader's."""
        snapshot = message.snapshot
        assert snapshot is not None, message
        log = self.log
        if log.restore(snapshot):
            self.snapshot = snapshot
            if snapshot.membership != self._tracker.membership:
                self._switch_membership(snapshot.membership)
            matched = log.last_index
        else:
            matched = log.committed
        self._send(Message(APPEND_RESPONSE, self.node_id, message.sender, self.term, log_index=matched))

    # ---- leadership transfer ----

    def _handle_transfer_leader(self, target: int) -> None:
        if not self._tracker.is_voter(target):
            return  # an unknown node or a learner cannot lead
        if self.lead_transferee != NO_NODE:
            if self.lead_transferee == target:
                return  # already under way
            self.lead_transferee = NO_NODE
        if target == self.node_id:
            # Nothing to hand over; as in etcd, the request still ended a pending transfer.
            return
        # The transfer has one election timeout to succeed (`_tick_heartbeat`).
        self._election_elapsed_ticks = 0
        self.lead_transferee = target
        if self._tracker.progress[target].match == self.log.last_index or self._bug_transfer_skips_log_check:
            # The planted bug `transfer-skips-log-check` hands over without catching up.
            self._send_timeout_now(target)
        else:
            self._owe_append(target, even_if_empty=True)

    def _send_timeout_now(self, target: int) -> None:
        self._timeout_now_sent = True
        self._send(Message(TIMEOUT_NOW, self.node_id, target, self.term))

    # ---- membership changes (etcd's ConfChange, one step at a time) ----

    def propose_conf_change(self, change: ConfChange) -> Entry | None:
        """Propose a membership change if this node leads and may take it now; the entry it
        became, or None (not leading, handing over, or refused: `conf_change_refusal`).

        The change takes effect on each node when its entry is applied there (`advance`),
        as in etcd, not when it is appended as the Raft thesis has it.
        """
        last_index = self.log.last_index
        placeholder = Entry(0, 0, change.encode(), EntryKind.CONF_CHANGE)
        self.step(Message(PROPOSE, self.node_id, self.node_id, 0, entries=(placeholder,)))
        if self.log.last_index == last_index:
            return None
        return self.log.slice(last_index + 1, last_index + 2)[0]

    def conf_change_refusal(self, change: ConfChange) -> str | None:
        """Why the leader would refuse `change` now, or None if it would take it. etcd's
        rules: one change at a time (the last one must be applied first, pendingConfIndex),
        a learner is promoted only once its log has caught up (`isLearnerReady`), a voter
        is removed only if a quorum of those left is active (`--strict-reconfig-check`);
        and the change must make sense on the membership in force."""
        if self.role is not LEADER:
            return "not leader"
        if self.lead_transferee != NO_NODE:
            return "leadership transfer under way"
        if self._pending_conf_index > self.log.applied and not self._bug_two_conf_changes_in_flight:
            # The planted bug `two-conf-changes-in-flight` forgets this rule.
            return f"the change at {self._pending_conf_index} is not applied yet"
        reason = change.refusal(self.membership)
        if reason is not None:
            return reason
        progress = self._tracker.progress
        if change.type is ConfChangeType.PROMOTE:
            learner = progress[change.node_id].match
            own = progress[self.node_id].match
            if learner * 100 < own * PROMOTION_MATCH_PERCENT_MIN:
                return f"learner {change.node_id} has not caught up ({learner} of {own})"
        elif change.type is ConfChangeType.REMOVE and self._tracker.is_voter(change.node_id):
            # etcd's strict reconfiguration check: the voters that remain must include a
            # quorum of their own that is heard from, or the cluster stalls at once.
            remaining = [voter for voter in self._tracker.voter_ids if voter != change.node_id]
            active = sum(1 for voter in remaining if voter == self.node_id or progress[voter].recent_active)
            if active < len(remaining) // 2 + 1:
                return f"only {active} of the {len(remaining)} voters left would be active"
        return None

    def _caught_up_voter(self, old: ProgressTracker, new: ProgressTracker) -> int:
        """The first voter of `new`, in id order, that `old`'s progress shows holding this
        leader's whole log; NO_NODE if none does."""
        last_index = self.log.last_index
        for voter in new.voter_ids:
            progress = old.progress.get(voter)
            if voter != self.node_id and progress is not None and progress.match == last_index:
                return voter
        return NO_NODE

    def _has_unapplied_conf_changes(self) -> bool:
        """Whether a membership change is committed but not yet applied here: the node
        would count votes with a membership the cluster already left, so it does not stand
        until it applied it (etcd's hasUnappliedConfChanges). Scans only that gap, and only
        when the node would campaign."""
        log = self.log
        if log.applied >= log.committed:
            return False
        return any(entry.kind is CONF_CHANGE for entry in log.slice(log.applied + 1, log.committed + 1))

    def _apply_conf_changes(self, entries: tuple[Entry, ...]) -> None:
        """The host applied `entries`: the membership changes among them take effect."""
        for entry in entries:
            if entry.kind is CONF_CHANGE:
                self._switch_membership(ConfChange.decode(entry.data).apply_to(self.membership))

    def _switch_membership(self, membership: Membership) -> None:
        """Count quorums with `membership` from now on (a change applied, or a snapshot of
        another membership installed). A leader keeps what it knows of the remaining
        members, starts new ones probing from its log's end (counted active, so CheckQuorum
        does not depose it before they could answer), forgets removed ones, and commits
        what the new quorum already holds; a leader no longer a voter steps down, as etcd's
        does (stepDownOnRemoval), and tells a caught-up voter to campaign (TIMEOUT_NOW). A
        candidate keeps the answers it has."""
        old = self._tracker
        if membership == old.membership:
            return
        tracker = ProgressTracker(
            membership, quorum_half=old.voters.incoming.half, commit_counts_sent=old.commit_counts_sent
        )
        tracker.votes = dict(old.votes)
        self._tracker = tracker
        if self.role is not LEADER:
            return
        if not tracker.is_voter(self.node_id):
            successor = self._caught_up_voter(old, tracker)
            self.become_follower(self.term, NO_NODE)
            if successor != NO_NODE:
                # What etcd-io/raft leaves as a TODO: hand over to a voter whose log is the
                # leader's, so a leader is elected at once. The others do not know the
                # removal committed yet and may need this node's vote to elect anyone,
                # which it can give only until its host stops.
                self._send(Message(TIMEOUT_NOW, self.node_id, successor, self.term))
            return
        next_index = self.log.last_index + 1
        for member in tracker.member_ids:
            progress = old.progress.get(member)
            if progress is None:
                progress = Progress(0, next_index)
                progress.recent_active = True
            tracker.progress[member] = progress
        self._appends_owed = {peer: owed for peer, owed in self._appends_owed.items() if tracker.is_member(peer)}
        if not tracker.is_voter(self.lead_transferee):
            self.lead_transferee = NO_NODE
        if self._maybe_commit():
            self._broadcast_append(even_if_empty=False)
        for member in tracker.member_ids:
            if member not in old.progress:
                self._owe_append(member, even_if_empty=True)

    # ---- reads: ReadIndex and the lease (raftcore.read_only) ----

    def _handle_read_index(self, requester: int, context: str | bytes | None) -> None:
        assert isinstance(context, str), context
        log = self.log
        if log.term(log.committed) != self.term:
            # Until an entry of its own term commits, a new leader does not know how far
            # the log is committed (Raft thesis, section 6.4): the read waits for that.
            self._reads_before_commit.append((requester, context))
            return
        if self._tracker.voter_ids == (self.node_id,) or self._bug_read_index_without_heartbeat or self._in_lease():
            # Alone, the node is its own quorum; under its lease no rival can lead yet.
            # The planted bug `read-index-without-heartbeat` takes either for granted.
            self._answer_read(requester, context, log.committed)
            return
        self._read_only.add(requester, context, log.committed)

    def _in_lease(self) -> bool:
        """Whether a read may be answered without a round, under the leader's lease.

        A lease rests on the voters' promise not to elect anyone else while they still hear
        from this leader. A campaign this leader asked for with TIMEOUT_NOW is exempt from
        that promise, and the message may arrive late, even after the transfer was given
        up: a new leader may then be elected and commit writes while this one still counts
        its lease. So from its first TIMEOUT_NOW to the end of its term the leader confirms
        every read with a round. etcd-io/raft keeps serving lease reads through a transfer;
        here safety wins. Another leader's TIMEOUT_NOW cannot end this lease early: the
        campaign it starts asks for votes in a term no later than this leader's, which it
        cannot win, unless an election this lease holds off came first.
        """
        if not self._lease_reads or self._timeout_now_sent:
            return False
        if self._bug_lease_read_without_check_quorum:
            # The planted bug: leading is taken for a lease, as if CheckQuorum's step-down
            # came in time. It comes up to two election timeouts after the leader is cut
            # off, while the others elect a successor after one.
            return True
        start = self._read_only.lease_start
        return start is not None and self._ticks - start < self._lease_ticks

    def _answer_read(self, requester: int, context: str, index: int) -> None:
        if requester == self.node_id:
            self._read_states.append(ReadState(index, context))
        else:
            answer = Message(READ_INDEX_RESPONSE, self.node_id, requester, self.term, log_index=index, context=context)
            self._send(answer)

    def _read_round_answered(self, voter: int, context: str | bytes) -> None:
        read_only = self._read_only
        read_only.acknowledge(voter, int(context))
        # The leader answers every round it sends, the moment it sends it.
        own, current = self.node_id, read_only.round
        confirmed = self._tracker.voters.committed_index(
            lambda member: current if member == own else read_only.acknowledged(member)
        )
        for read in read_only.confirm(confirmed):
            self._answer_read(read.requester, read.context, read.index)

    def _release_reads_before_commit(self) -> None:
        waiting, self._reads_before_commit = self._reads_before_commit, []
        for requester, context in waiting:
            self._handle_read_index(requester, context)

    # ---- replication: leader side ----

    def _handle_append_response(self, message: Message) -> None:
        sender = message.sender
        progress = self._tracker.progress[sender]
        progress.recent_active = True
        if message.reject:
            self._handle_append_rejection(progress, message)
            return
        index = message.log_index
        if index > self.log.last_index:
            # Only a rival leader of our term (a planted bug) makes a follower claim more.
            assert self.log.tolerate_damage, f"{sender} acknowledged {index} beyond our log"
            index = self.log.last_index
        was_probing = progress.state is ProgressState.PROBE
        if not (progress.maybe_update(index) or (was_probing and progress.match == index)):
            return
        if progress.state is ProgressState.SNAPSHOT:
            # The snapshot arrived (or the follower caught up past it another way): stream
            # entries again from what it now holds, if the log still reaches back there.
            if self.log.compacted_before(progress.match):
                return
            progress.become_replicate()
        elif was_probing:
            progress.become_replicate()
        elif not self._bug_inflight_never_freed:
            # The planted bug `inflight-never-freed` forgets this: the window only fills.
            progress.free_inflights_up_to(index)
        if sender == self.lead_transferee and progress.match == self.log.last_index:
            self._send_timeout_now(sender)
        # A new commit index goes out with the next append or heartbeat, not on its own.
        # Only a match beyond the commit index can move it.
        if index > self.log.committed:
            self._maybe_commit()
        if progress.next <= self.log.last_index:
            self._owe_append(sender, even_if_empty=False)

    def _handle_append_rejection(self, progress: Progress, message: Message) -> None:
        if message.log_index <= progress.match:
            # Either stale (overtaken by a later acknowledgement) or from a follower that
            # lost or never had what it acknowledged, which only a planted bug brings about.
            # Probing again at once would then loop without end; the next heartbeat
            # response retries instead.
            return
        next_probe_index = message.reject_hint
        if message.reject_hint_term > 0:
            # Skip every index at which our term exceeds the follower's term at its hint:
            # no entry of ours there can match (terms only grow along a log).
            next_probe_index, _ = self.log.find_conflict_by_term(message.reject_hint, message.reject_hint_term)
        if self._bug_probe_next_not_decremented and progress.state is ProgressState.PROBE:
            # The planted bug: the rejected probe leaves `next` where it was, so the next
            # heartbeat response sends the same probe again.
            return
        if progress.maybe_decrement_to(message.log_index, next_probe_index):
            if progress.state is ProgressState.REPLICATE:
                progress.become_probe()
            self._owe_append(message.sender, even_if_empty=True)

    def _maybe_commit(self) -> bool:
        log = self.log
        index = self._tracker.committed()
        if index <= log.committed:
            return False
        if log.term(index) != self.term and not self._bug_commit_old_term:
            # Raft paper, section 5.4.2: counting replicas proves nothing for an entry of an
            # earlier term; a later leader may still overwrite it (figure 8).
            return False
        log.commit_to(index)
        if self._reads_before_commit:
            self._release_reads_before_commit()
        return True

    def _maybe_send_append(self, to: int, send_if_empty: bool) -> bool:
        progress = self._tracker.progress[to]
        if progress.paused:
            return False
        log = self.log
        next_index = progress.next
        if log.compacted_before(next_index - 1):
            return self._send_snapshot(to, progress)
        last_index = log.last_index
        assert next_index <= last_index + 1, f"next {next_index} beyond log end {last_index}"
        entries: tuple[Entry, ...] = ()
        if progress.state is ProgressState.PROBE or not progress.inflights_full():
            high = min(last_index + 1, next_index + self.config.max_entries_per_message)
            if high > next_index:
                entries = log.slice(next_index, high)
        if not entries and not send_if_empty:
            return False
        previous_index = next_index - 1
        commit = log.committed
        self._messages.append(
            Message(
                APPEND,
                self.node_id,
                to,
                self.term,
                log_term=log.term(previous_index),
                log_index=previous_index,
                entries=entries,
                commit=commit,
            )
        )
        progress.sent_entries(len(entries), previous_index + len(entries))
        progress.appended_since_heartbeat = True
        return True

    def _send_snapshot(self, to: int, progress: Progress) -> bool:
        """The entries `to` needs next are compacted away: send the snapshot instead."""
        snapshot = self.snapshot
        assert snapshot is not None and not self.log.compacted_before(snapshot.index), (
            f"log compacted to {self.log.first_index - 1} with no snapshot to send in its place"
        )
        self._messages.append(Message(SNAPSHOT, self.node_id, to, self.term, snapshot=snapshot))
        progress.become_snapshot(snapshot.index)
        progress.appended_since_heartbeat = True
        return True

    def _owe_append(self, peer: int, even_if_empty: bool) -> None:
        assert self.role is LEADER, "only a leader owes appends"
        assert peer != self.node_id, "a leader never sends itself an append"
        owed = self._appends_owed
        owed[peer] = owed.get(peer, False) or even_if_empty

    def _broadcast_append(self, even_if_empty: bool) -> None:
        for peer, _progress in self._tracker.visit():
            if peer != self.node_id:
                self._owe_append(peer, even_if_empty)

    def _send_owed_appends(self) -> None:
        """Build the appends owed since the last Ready, one per follower (more only when its
        entries exceed one message and the window has room), in member order."""
        owed = self._appends_owed
        if not owed:
            return
        self._appends_owed = {}
        assert self.role is LEADER, "appends are owed only while leading"
        for peer, _progress in self._tracker.visit():
            even_if_empty = owed.get(peer)
            if even_if_empty is None or not self._maybe_send_append(peer, even_if_empty):
                continue
            # The window may have room for several messages; empty ones would say nothing.
            for _ in range(MAX_INFLIGHT_MESSAGES + 1):
                if not self._maybe_send_append(peer, send_if_empty=False):
                    break
            else:
                raise AssertionError(f"append window towards {peer} never filled: {self._tracker.progress[peer]}")

    def _broadcast_heartbeat(self) -> None:
        committed = self.log.committed
        # Every heartbeat broadcast is a numbered round: its answers confirm reads and the
        # lease. A round owed to waiting reads goes to every follower, and so does every
        # round under leases, which live on these answers.
        for_reads = self._read_only.waiting or self._lease_reads
        context = str(self._read_only.next_round(self._ticks))
        for peer, progress in self._tracker.visit():
            if peer == self.node_id:
                continue
            appended, progress.appended_since_heartbeat = progress.appended_since_heartbeat, False
            if (
                appended
                and not for_reads
                and self._appends_stand_for_heartbeats
                and progress.state is ProgressState.REPLICATE
            ):
                # The append reset the follower's election timer and carried a commit index;
                # its answer told us the follower lives. A follower in PROBE still gets the
                # heartbeat: its answer is what retries a lost probe.
                continue
            # Never tell a follower to commit past what it is known to hold: its entries
            # beyond `match` may not be ours. The planted bug `heartbeat-commit-beyond-match`
            # forgets this.
            commit = committed if self._bug_heartbeat_commit_beyond_match else min(progress.match, committed)
            self._messages.append(Message(HEARTBEAT, self.node_id, peer, self.term, commit=commit, context=context))

    def _send(self, message: Message) -> None:
        self._messages.append(message)

    # ---- output ----

    def has_ready(self) -> bool:
        """Whether ready() would hand over work. False while a Ready is outstanding."""
        if self._outstanding_ready is not None:
            return False
        log = self.log
        hard = self._previous_hard_state
        soft = self._previous_soft_state
        return bool(
            self._messages
            or self._appends_owed
            or self._read_states
            or self._read_only.waiting
            or log.in_progress_index < log.last_index
            or log.applied < log.committed
            or log.pending_snapshot is not None
            or hard.term != self.term
            or hard.vote != self.vote
            or hard.commit != log.committed
            or soft.leader != self.leader_id
            or soft.role is not self.role
        )

    def ready(self) -> Ready:
        assert self._outstanding_ready is None, "ready() called again before advance()"
        self._send_owed_appends()
        if self._read_only.waiting:
            # Reads that arrived since the last Ready share one round.
            self._broadcast_heartbeat()
        log = self.log
        hard_state: HardState | None = None
        previous_hard = self._previous_hard_state
        assert self.term >= previous_hard.term, "the term went back"
        assert log.committed >= previous_hard.commit or log.tolerate_damage, "commit went back"
        if previous_hard.term != self.term or previous_hard.vote != self.vote or previous_hard.commit != log.committed:
            hard_state = HardState(term=self.term, vote=self.vote, commit=log.committed)
            self._previous_hard_state = hard_state
            if self._bug_vote_not_persisted:
                # The planted bug: the vote is kept in memory but left out of what is written.
                hard_state = HardState(term=self.term, vote=NO_NODE, commit=log.committed)
        soft_state: SoftState | None = None
        previous_soft = self._previous_soft_state
        if previous_soft.leader != self.leader_id or previous_soft.role is not self.role:
            soft_state = SoftState(leader=self.leader_id, role=self.role)
            self._previous_soft_state = soft_state
        snapshot = log.take_snapshot()
        entries = log.take_unstable() if log.has_unstable() else ()
        # Everything up to the last index is on disk once this batch is, so every
        # committed entry may be applied after the host has persisted the batch.
        assert log.committed <= log.in_progress_index
        committed_entries: tuple[Entry, ...] = ()
        if log.has_committed_to_apply():
            committed_entries = log.committed_to_apply(after=0 if snapshot is None else snapshot.index)
        messages = tuple(self._messages)
        self._messages = []
        read_states = tuple(self._read_states)
        self._read_states = []
        ready = Ready(
            hard_state=hard_state,
            soft_state=soft_state,
            entries=entries,
            messages=messages,
            committed_entries=committed_entries,
            persist_before_send=not self._bug_send_before_persist,
            read_states=read_states,
            snapshot=snapshot,
        )
        self._outstanding_ready = ready
        return ready

    def advance(self, ready: Ready) -> None:
        assert ready is self._outstanding_ready, "advance() must receive the outstanding Ready"
        self._outstanding_ready = None
        leads = self.role is LEADER
        assert leads == (self.leader_id == self.node_id), self
        assert leads == bool(self._tracker.progress), self
        log = self.log
        log.stable_to_in_progress()
        if ready.snapshot is not None and ready.snapshot.index > log.applied:
            log.applied_to(ready.snapshot.index)
        if ready.committed_entries:
            log.applied_to(ready.committed_entries[-1].index)
            self._apply_conf_changes(ready.committed_entries)
        # The leader's own write finished: it now counts towards a majority.
        if self.role is not LEADER:
            return
        # A commit this allows reaches the followers with the next append or heartbeat.
        if self._tracker.progress[self.node_id].maybe_update(log.stable_index):
            self._maybe_commit()
