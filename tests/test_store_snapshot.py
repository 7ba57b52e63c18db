"""The key-value store's snapshot (`KVStore.snapshot_data`, `KVStore.load_snapshot`), the
restore hooks of the watches and leases that live beside it, and the backup file
(`raftcore.backup`).

The main property: a store restored from another's snapshot, at any point of any sequence
of commands (etcd's requests, leases, compactions, the older operations, repeated request
ids, empty entries, with or without the store's planted bugs), answers every later command,
read and watch catch-up exactly as the original, and ends with the same snapshot."""

from __future__ import annotations

import gc
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mvcc_support import lone_leader, settle
from test_etcd_differential import KEYS, LIMITS, VALUES, requests

from raftcore.backup import BACKUP_FORMAT, decode_backup, encode_backup
from raftcore.bugs import OVERWRITE_KEEPS_REVISION
from raftcore.etcd import ALL_KEYS_FROM, CompactionRequest, EtcdError, PutRequest, RangeRequest
from raftcore.kv import Command, KVStore, Result
from raftcore.lease import LeaseGrantRequest, LeaseRevokeRequest, LeaseTable, Lessor
from raftcore.mvcc import STORE_BUGS
from raftcore.server import Request, Response
from raftcore.types import Membership, Snapshot
from raftcore.watch import WatchCreate, WatchHub, WatchRequest, WatchResponse

LEASE_IDS = (0x1000, 0x1001, 0x1002, 7)
"""Ids a grant picks (from 0x1000 on) and one a client names."""
PLAIN = ("get", "put", "delete", "cas", "append")


# ---- commands ----


def plain_values() -> st.SearchStrategy[Any]:
    """What the older operations store: numbers, strings, JSON lists and objects (an
    `append` then makes tuples of them), as a command decoded from the log holds them."""
    return st.one_of(
        st.integers(0, 3),
        st.sampled_from(VALUES),
        st.lists(st.integers(0, 2), max_size=2),
        st.dictionaries(st.sampled_from("zab"), st.integers(0, 1), max_size=2),
    )


def draw_command(data: st.DataObject, store: KVStore, earlier: list[Command], number: int) -> Command | None:
    """One entry's command (None: an empty entry) for a store at its current revision."""
    request_id = f"r{number}"
    choice = data.draw(st.integers(0, 27))
    if choice == 0:
        return None
    if choice <= 2 and earlier:
        return data.draw(st.sampled_from(earlier))  # a retry: the same request id again
    if choice <= 9:
        return Command.etcd(request_id, data.draw(requests(0, store.revision)))
    if choice <= 12:
        ttl, lease_id = data.draw(st.integers(1, 9)), data.draw(st.sampled_from((0, 0, 0, *LEASE_IDS)))
        return Command.etcd(request_id, LeaseGrantRequest(ttl, lease_id))
    if choice <= 14:
        return Command.etcd(request_id, LeaseRevokeRequest(data.draw(st.sampled_from(LEASE_IDS))))
    if choice <= 17:
        lease_id = data.draw(st.sampled_from(LEASE_IDS))
        key, value = data.draw(st.sampled_from(KEYS)), data.draw(st.sampled_from(VALUES))
        return Command.etcd(request_id, PutRequest(key, value, prev_kv=data.draw(st.booleans()), lease=lease_id))
    if choice == 18:
        low = max(0, store.revision - 3)
        return Command.etcd(request_id, CompactionRequest(data.draw(st.integers(low, store.revision))))
    operation = data.draw(st.sampled_from(PLAIN))
    key, value = data.draw(st.sampled_from(KEYS)), data.draw(plain_values())
    expected = data.draw(st.one_of(st.none(), plain_values())) if operation == "cas" else None
    return Command(request_id, operation, key, value, expected)


def applied(store: KVStore, command: Command | None) -> Result | tuple[str, str] | None:
    """Apply the next entry as a replica would: decoded from the log's bytes. An exception
    (a planted bug may trip one of the store's assertions) is an outcome too."""
    decoded = None if command is None else Command.decode(command.encode())
    try:
        return store.apply(store.applied_index + 1, decoded)
    except AssertionError as error:
        return ("raised", str(error))


# ---- what a store shows ----


def _answer(store: KVStore, request: RangeRequest) -> Any:
    try:
        return store.mvcc.evaluate(request)
    except EtcdError as error:
        return error.message


def quick_reads(store: KVStore) -> list[Any]:
    """A few reads of everything, cheap enough to compare after every command."""
    mvcc = store.mvcc
    reads: list[Any] = [store.revision, mvcc.compacted, store.applied_index]
    reads += [store.read_local(key) for key in KEYS]
    for revision in (0, mvcc.compacted, mvcc.compacted + 1, store.revision - 1):
        reads.append(_answer(store, RangeRequest("a", ALL_KEYS_FROM, revision=revision)))
    for since in (0, mvcc.compacted + 1, store.revision):
        reads.append(mvcc.changes_since("a", ALL_KEYS_FROM, since))
    reads.append({lease_id: (lease.ttl_seconds, mvcc.leases.keys_of(lease_id)) for lease_id, lease in leases(store)})
    return reads


def full_reads(store: KVStore) -> list[Any]:
    """Every key's range and watch catch-up from every revision, and every result remembered."""
    mvcc = store.mvcc
    reads = quick_reads(store)
    for revision in range(-1, store.revision + 2):
        reads.append(_answer(store, RangeRequest("a", ALL_KEYS_FROM, revision=revision, sort_target="MOD")))
        reads.append(mvcc.changes_since("a", ALL_KEYS_FROM, revision))
        for key in KEYS:
            reads.append(_answer(store, RangeRequest(key, revision=revision)))
            reads.append(mvcc.changes_since(key, "", revision))
    reads += [store.result_of(f"r{number}") for number in range(200)]
    return reads


def leases(store: KVStore) -> list[tuple[int, Any]]:
    return sorted(store.mvcc.leases.leases.items())


# ---- the main property ----


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_a_restored_store_answers_as_the_original_from_then_on(data: st.DataObject) -> None:
    bugs = frozenset(data.draw(st.sets(st.sampled_from((*STORE_BUGS, OVERWRITE_KEEPS_REVISION)), max_size=2)))

    def fresh() -> KVStore:
        return KVStore(
            overwrite_keeps_revision=OVERWRITE_KEEPS_REVISION in bugs, limits=LIMITS, bugs=bugs, minimum_lease_ttl=2
        )

    original = fresh()
    earlier: list[Command] = []
    before = data.draw(st.integers(0, 40), label="commands before the snapshot")
    after = data.draw(st.integers(0, 25), label="commands after it")
    for number in range(before):
        command = draw_command(data, original, earlier, number)
        if isinstance(applied(original, command), tuple):
            return  # a planted bug tripped an assertion: nothing left to restore
        if command is not None:
            earlier.append(command)

    # Restore into a fresh store, or one with a state of its own that must be replaced whole.
    restored = fresh()
    for number in range(data.draw(st.integers(0, 6), label="the restored store's own commands")):
        if isinstance(applied(restored, draw_command(data, restored, [], 1000 + number)), tuple):
            return
    mvcc, table = restored.mvcc, restored.mvcc.leases
    snapshot = original.snapshot_data()
    restored.load_snapshot(snapshot)
    assert restored.mvcc is mvcc and restored.mvcc.leases is table, "restored in place"
    assert restored.snapshot_data() == snapshot, "a restored store writes the snapshot it was read from"
    assert full_reads(restored) == full_reads(original)

    for number in range(before, before + after):
        command = draw_command(data, original, earlier, number)
        outcome = applied(original, command)
        assert applied(restored, command) == outcome, f"command {number}: {command}"
        if isinstance(outcome, tuple):
            return
        assert quick_reads(restored) == quick_reads(original), f"after command {number}: {command}"
        if command is not None:
            earlier.append(command)
    assert full_reads(restored) == full_reads(original)
    assert restored.snapshot_data() == original.snapshot_data()


def test_a_restored_store_picks_the_lease_ids_the_original_would() -> None:
    """A grant without an id takes the lowest free one above the last picked, not the lowest
    free one: the snapshot carries the last picked."""
    store = KVStore()
    store.apply(1, Command.etcd("g1", LeaseGrantRequest(5)))
    store.apply(2, Command.etcd("r1", LeaseRevokeRequest(0x1000)))
    restored = KVStore()
    restored.load_snapshot(store.snapshot_data())
    grant = Command.etcd("g2", LeaseGrantRequest(5))
    assert restored.apply(3, grant) == store.apply(3, grant)
    assert 0x1001 in restored.mvcc.leases and 0x1000 not in restored.mvcc.leases


def test_a_restored_store_keeps_what_json_would_blur() -> None:
    """Lists and the tuples `append` builds, objects in their order, responses with a key
    read keys-only (no value): each comes back as it was, and `append` still tells them apart."""
    store = KVStore()
    commands = [
        Command("a", "put", "k", [1, 2]),
        Command("b", "append", "k", 3),
        Command("c", "append", "j", [4]),
        Command("d", "put", "o", {"z": 1, "a": [2]}),
        Command.etcd("e", RangeRequest("a", ALL_KEYS_FROM, keys_only=True)),
        Command("f", "put", "n", None),
    ]
    for index, command in enumerate(commands, start=1):
        store.apply(index, command)
    restored = KVStore()
    restored.load_snapshot(store.snapshot_data())
    for request_id in "abcdef":
        assert restored.result_of(request_id) == store.result_of(request_id)
    assert restored.read_local("k").value == ([1, 2], 3)
    assert restored.read_local("j").value == ([4],)
    held = restored.read_local("o").value
    assert list(held.items()) == [("z", 1), ("a", [2])], "an object keeps its order"
    assert restored.apply(7, Command("g", "append", "j", 5)) == store.apply(7, Command("g", "append", "j", 5))
    assert restored.read_local("j").value == ([4], 5)


def test_equal_states_built_in_different_orders_encode_alike() -> None:
    """Grants change no revision and gets change nothing: built in either order, the
    stores are equal, and so must be their snapshots (the lease and result tables are
    dicts that remember the order they were filled in)."""
    one, two = KVStore(), KVStore()
    grants = [Command.etcd("g1", LeaseGrantRequest(5, 7)), Command.etcd("g2", LeaseGrantRequest(5, 9))]
    gets = [Command("x", "get", "a"), Command("y", "get", "b")]
    for index, command in enumerate([*grants, *gets], start=1):
        one.apply(index, command)
    for index, command in enumerate([*reversed(gets), *reversed(grants)], start=1):
        two.apply(index, command)
    assert list(one.mvcc.leases.leases) != list(two.mvcc.leases.leases), "the tables were filled in other orders"
    assert one.snapshot_data() == two.snapshot_data()


_HASH_SEED_SCRIPT = """
import gc
import hashlib
from raftcore.etcd import PutRequest
from raftcore.kv import Command, KVStore
from raftcore.lease import LeaseGrantRequest
store = KVStore()
store.apply(1, Command.etcd("grant", LeaseGrantRequest(5)))
for number in range(200):
    store.apply(2 + 2 * number, Command.etcd(f"put-{number}", PutRequest(f"key-{number}", "v", lease=0x1000)))
    store.apply(3 + 2 * number, Command(f"get-{number}", "get", f"key-{number}"))
print(list(store.mvcc.leases.leases[0x1000].keys)[:8])
print(hashlib.sha256(store.snapshot_data().encode()).hexdigest())
"""


def test_the_encoding_does_not_depend_on_the_hash_seed() -> None:
    root = Path(__file__).resolve().parents[1]
    outputs = []
    for seed in ("1", "2"):
        environment = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(root)}
        run = subprocess.run(
            [sys.executable, "-c", _HASH_SEED_SCRIPT], capture_output=True, text=True, env=environment, check=True
        )
        outputs.append(run.stdout.splitlines())
    (set_order_1, digest_1), (set_order_2, digest_2) = outputs
    assert set_order_1 != set_order_2, "the seeds must walk the lease's key set in other orders, or this proves nothing"
    assert digest_1 == digest_2


# ---- malformed data ----


def _sample_snapshot() -> dict[str, Any]:
    store = KVStore()
    store.apply(1, Command.etcd("g", LeaseGrantRequest(5)))
    store.apply(2, Command.etcd("p", PutRequest("a", "x", lease=0x1000)))
    store.apply(3, Command("q", "put", "b", 1))
    store.apply(4, Command.etcd("r", RangeRequest("a", ALL_KEYS_FROM)))
    state: dict[str, Any] = json.loads(store.snapshot_data())
    return state


def _set(path: tuple[Any, ...], value: Any) -> Any:
    def change(state: dict[str, Any]) -> None:
        target: Any = state
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return change


def _remove(name: str) -> Any:
    return lambda state: state.pop(name)


RESULT_OF_RANGE = ("results", 3, 2, "r")
MALFORMED: list[tuple[str, Any, str]] = [
    ("missing field", _remove("applied_index"), "applied_index: missing"),
    ("unknown field", _set(("extra",), 1), "extra: unknown field"),
    ("other format", _set(("format",), "something"), "format: expected 'raftcore-kv'"),
    ("other version", _set(("version",), 2), "version: expected 1, got 2"),
    ("negative applied index", _set(("applied_index",), -1), "applied_index: expected at least 0"),
    ("revision as text", _set(("mvcc", "revision"), "3"), "mvcc.revision: expected an integer"),
    ("compaction beyond revision", _set(("mvcc", "compacted"), 99), "mvcc.compacted: 99 is beyond"),
    ("keys out of order", _set(("mvcc", "history", 0, 0), "c"), "mvcc.history[1].key: 'b' is out of order"),
    ("a change too short", _set(("mvcc", "history", 0, 1, 0), [2, 0]), "mvcc.history['a'][0]: expected 8 items"),
    ("a change beyond revision", _set(("mvcc", "history", 0, 1, 0, 0), 9), "mvcc.history['a'][0].main: 9 is beyond"),
    ("deleted not a boolean", _set(("mvcc", "history", 0, 1, 0, 2), 0), "mvcc.history['a'][0].deleted: expected true"),
    ("unknown value tag", _set(("mvcc", "history", 1, 1, 0, 3), {"x": 1}), "mvcc.history['b'][0].value: unknown tag"),
    ("untagged list", _set(("mvcc", "history", 1, 1, 0, 3), [1]), "mvcc.history['b'][0].value: expected a scalar"),
    ("a key with no change", _set(("mvcc", "history", 1, 1), []), "mvcc.history[1].changes: a key kept"),
    ("lease ttl zero", _set(("mvcc", "leases", "leases", 0, 1), 0), "mvcc.leases.leases[0].ttl: expected a positive"),
    ("lease keys unsorted", _set(("mvcc", "leases", "leases", 0, 2), ["b", "a"]), "mvcc.leases.leases[0].keys"),
    ("result too short", _set(("results", 0), ["g", True]), "results[0]: expected 5 items"),
    ("results out of order", _set(("results", 0, 0), "z"), "results[1].request_id: 'p' is out of order"),
    ("unknown response", _set((*RESULT_OF_RANGE, 0), "nope"), "results[3].value.r[0]: expected a response kind"),
    ("response count as text", _set((*RESULT_OF_RANGE, 4), "2"), "results[3].value.r.count: expected an integer"),
    ("response field missing", _set(RESULT_OF_RANGE, ["range", 3]), "results[3].value.r: a range response has 4"),
]


@pytest.mark.parametrize(("change", "message"), [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED])
def test_malformed_data_is_refused_naming_its_field_and_changes_nothing(change: Any, message: str) -> None:
    state = _sample_snapshot()
    change(state)
    store = KVStore()
    store.apply(1, Command("mine", "put", "k", "v"))
    before = store.snapshot_data()
    with pytest.raises(ValueError) as refused:
        store.load_snapshot(json.dumps(state))
    text = str(refused.value)
    assert text.startswith("snapshot data: ") and message in text, text
    assert "\n" not in text
    assert store.snapshot_data() == before, "a refused snapshot leaves the store as it was"
    assert gc.isenabled(), "the garbage collector, paused while reading, runs again"


@pytest.mark.parametrize(
    ("data", "message"),
    [("{", "snapshot data: (whole): not JSON"), ("[1]", "snapshot data: (whole): expected an object")],
)
def test_data_that_is_no_snapshot_at_all_is_refused(data: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        KVStore().load_snapshot(data)


def test_the_sample_snapshot_itself_loads() -> None:
    """The cases above each break one field of this: it must be sound as it stands."""
    KVStore().load_snapshot(json.dumps(_sample_snapshot()))


# ---- what lives beside the store ----


def _watched(hub: WatchHub, start: int) -> list[WatchResponse]:
    return hub.create(WatchCreate("w", 0, start, WatchRequest("a", ALL_KEYS_FROM, start)))


def test_a_watch_below_a_restored_compaction_is_canceled_and_the_others_catch_up() -> None:
    """As etcd treats a watcher restored below the compacted revision: canceled, naming it."""
    source = KVStore()
    for index in range(1, 7):
        source.apply(index, Command(f"p{index}", "put", "a", index))  # revisions 2..7
    source.apply(7, Command.etcd("c", CompactionRequest(4)))
    target = KVStore()
    target.apply(1, Command("t", "put", "a", 0))  # revision 2
    hub = WatchHub(1, target.mvcc)
    _watched(hub, 3)  # owed 3 on: the restored store keeps 4 on only
    _watched(hub, 4)
    hub.after_apply()
    target.load_snapshot(source.snapshot_data())
    hub.restored()
    sent = hub.after_apply()
    assert [(r.watch_id, r.canceled, r.compact_revision) for r in sent if r.canceled] == [(3, True, 4)]
    caught = [(event.kv.mod_revision, event.kv.value) for r in sent if r.watch_id == 4 for event in r.events]
    assert caught == [(4, 3), (5, 4), (6, 5), (7, 6)], "caught up from the restored history"
    assert len(hub) == 1


def test_restored_leases_drop_the_deadlines_of_leases_gone_and_count_new_ones() -> None:
    table = LeaseTable()
    table.grant(LeaseGrantRequest(5, 7))
    lessor = Lessor(tick_ms=100, election_ticks=10)
    lessor.promote(table, extend_ticks=10)
    lessor.expiring.add(7)
    replaced = LeaseTable()
    replaced.grant(LeaseGrantRequest(3, 8))
    last_picked, held = LeaseTable.decode_state(replaced.snapshot_state(), "leases")
    table.load_state(last_picked, held)
    lessor.restored(table)
    assert lessor.deadlines == {8: 30} and lessor.expiring == set()
    follower = Lessor(tick_ms=100, election_ticks=10)
    follower.restored(table)
    assert follower.deadlines == {}, "a follower counts no deadline"


def test_a_keep_alive_waiting_for_a_revoke_the_snapshot_holds_is_answered_on_restore() -> None:
    server = lone_leader()
    assert server.submit(Request.etcd("g", "c", "lease-grant", {"TTL": 5, "ID": 7})) is None
    settle(server)
    server.leases.lessor.expiring.add(7)  # its expiry revoke is under way
    assert server.submit(Request.etcd("k", "c", "lease-keepalive", {"ID": 7})) is None, "it waits"
    server.store.load_snapshot(KVStore(applied_index=server.store.applied_index).snapshot_data())
    (late,) = server.leases.restored()
    assert (late.request_id, late.client, late.result.value.ttl_seconds) == ("k", "c", 0)
    assert 7 not in server.leases.lessor.deadlines
    answer = server.submit(Request.etcd("k2", "c", "lease-keepalive", {"ID": 7}))
    assert isinstance(answer, Response) and answer.value["result"]["TTL"] == 0


# ---- the backup file ----


def _resigned(document: dict[str, Any]) -> str:
    """A backup with a field changed and its checksum made right again, computed here
    from the format's definition: so what is refused is the field, not the checksum."""
    content = {name: value for name, value in document.items() if name != "checksum"}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return json.dumps({**content, "checksum": f"sha256:{digest}"})


SAMPLE = Snapshot(12, 3, Membership(frozenset({1, 2, 3}), frozenset({4})), '{"state":"\\u00e9 \\"x\\""}')


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    voters = draw(st.frozensets(st.integers(1, 9), min_size=1, max_size=5))
    learners = draw(st.frozensets(st.integers(1, 9).filter(lambda node: node not in voters), max_size=3))
    outgoing = draw(st.frozensets(st.integers(1, 9).filter(lambda node: node not in learners), max_size=3))
    membership = Membership(voters, learners, outgoing)
    return Snapshot(draw(st.integers(1, 10**12)), draw(st.integers(1, 10**6)), membership, draw(st.text(max_size=50)))


@given(snapshots())
def test_a_backup_reads_back_as_the_snapshot_it_was_written_from(snapshot: Snapshot) -> None:
    text = encode_backup(snapshot)
    assert text.endswith("\n") and text.count("\n") == 1
    assert decode_backup(text, "b.json") == snapshot
    assert json.loads(text)["format"] == BACKUP_FORMAT


def test_a_backup_of_a_store_restores_the_store() -> None:
    store = KVStore()
    store.apply(1, Command.etcd("g", LeaseGrantRequest(5)))
    store.apply(2, Command.etcd("p", PutRequest("a", "x\u00e9\x00", lease=0x1000)))
    text = encode_backup(Snapshot(2, 1, Membership(frozenset({1})), store.snapshot_data()))
    restored = KVStore()
    restored.load_snapshot(decode_backup(text, "b.json").data)
    assert restored.snapshot_data() == store.snapshot_data()


def test_a_backup_cut_short_anywhere_is_refused() -> None:
    text = encode_backup(SAMPLE)
    for length in range(len(text) - 1):  # all but the final newline
        with pytest.raises(ValueError, match=r"^cut\.json: "):
            decode_backup(text[:length], "cut.json")


def test_a_backup_with_any_character_changed_is_refused() -> None:
    """Every character flipped by one of three bit patterns: refused, or (the final newline
    turned into other white space) read as the very same snapshot."""
    text = encode_backup(SAMPLE)
    for position, character in enumerate(text):
        for mask in (0x01, 0x02, 0x20):
            damaged = text[:position] + chr(ord(character) ^ mask) + text[position + 1 :]
            try:
                read = decode_backup(damaged, "flip.json")
            except ValueError as error:
                assert str(error).startswith("flip.json: ") and "\n" not in str(error)
                continue
            assert position == len(text) - 1 and read == SAMPLE, f"accepted a change at {position}: {damaged!r}"


def test_a_damaged_backup_is_refused_by_its_checksum() -> None:
    document = json.loads(encode_backup(SAMPLE))
    document["data"] = document["data"].replace("x", "y")
    with pytest.raises(ValueError, match=r"^b\.json: checksum: the content hashes to sha256:"):
        decode_backup(json.dumps(document), "b.json")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("version", 2, "b.json: version: this raftsim reads version 1, not 2"),
        ("version", "1", "b.json: version: this raftsim reads version 1, not '1'"),
        ("format", "etcd-snapshot", "b.json: format: expected 'raftsim-backup'"),
        ("index", 0, "b.json: index: expected an integer from 1 on, got 0"),
        ("term", "3", "b.json: term: expected an integer from 1 on"),
        ("data", 5, "b.json: data: expected a string, got int"),
        ("membership", {"voters": [1]}, "b.json: membership: expected an object of learners"),
        ("membership", {"voters": [], "learners": [], "voters_outgoing": []}, "b.json: membership: a membership needs"),
        (
            "membership",
            {"voters": [2, 1], "learners": [], "voters_outgoing": []},
            "membership.voters: expected node ids",
        ),
        ("extra", 1, "b.json: extra: unknown field"),
    ],
)
def test_a_backup_field_out_of_shape_is_refused_naming_it(field: str, value: Any, message: str) -> None:
    document = json.loads(encode_backup(SAMPLE))
    document[field] = value
    with pytest.raises(ValueError) as refused:
        decode_backup(_resigned(document), "b.json")
    assert message in str(refused.value)


@pytest.mark.parametrize("text", ["", "[]", "null", "{}", '{"format":"raftsim-backup"}'])
def test_what_is_no_backup_at_all_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"^x\.json: "):
        decode_backup(text, "x.json")
