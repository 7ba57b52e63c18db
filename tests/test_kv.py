"""The key-value state machine: etcd-like revisions, cas, and once-only application."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raftcore.kv import Command, KVStore


def test_revisions_count_writes_only() -> None:
    store = KVStore()
    assert store.revision == 1, "a fresh store is at revision 1, as a fresh etcd"
    assert store.apply(1, Command("a", "put", "k", 1)).revision == 2
    assert store.apply(2, Command("b", "get", "k")).value == 1
    assert store.apply(3, None) is None
    assert store.apply(4, Command("c", "put", "k", 2)).revision == 3
    kv = store.get("k")
    assert kv is not None
    assert (kv.create_revision, kv.mod_revision, kv.version) == (2, 3, 2)
    assert store.apply(5, Command("d", "delete", "k")).revision == 4
    assert store.get("k") is None
    assert store.apply(6, Command("e", "delete", "k")).revision == 4, "deleting nothing is not a write"


def test_cas_compares_then_writes() -> None:
    store = KVStore()
    missed = store.apply(1, Command("a", "cas", "k", 5, expected=1))
    assert not missed.succeeded and missed.value is None and store.get("k") is None
    assert store.apply(2, Command("b", "cas", "k", 5, expected=None)).succeeded
    assert store.apply(3, Command("c", "cas", "k", 6, expected=5)).value == 6


def test_a_request_applies_once() -> None:
    store = KVStore()
    first = store.apply(1, Command("same", "put", "k", 1))
    store.apply(2, Command("other", "put", "k", 2))
    again = store.apply(3, Command("same", "put", "k", 1))
    assert again == first
    assert store.read_local("k").value == 2, "the repeat must not overwrite the later write"


def test_entries_apply_in_order() -> None:
    store = KVStore()
    with pytest.raises(AssertionError):
        store.apply(2, None)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["get", "put", "delete", "cas"]),
            st.sampled_from("ab"),
            st.integers(0, 3),
            st.one_of(st.none(), st.integers(0, 3)),
        ),
        max_size=40,
    )
)
def test_store_matches_a_plain_dict(commands: list[tuple[str, str, int, int | None]]) -> None:
    """The dumb twin: a dict and a counter from 1 (etcd's first revision) must agree with
    the store on every answer."""
    store, twin, revision = KVStore(), {}, 1
    for index, (operation, key, value, expected) in enumerate(commands, start=1):
        result = store.apply(index, Command(f"r{index}", operation, key, value, expected))
        held = twin.get(key)
        if operation == "get":
            assert (result.value, result.revision) == (held, revision)
        elif operation == "put" or (operation == "cas" and held == expected):
            revision += 1
            twin[key] = value
            assert result.succeeded and result.revision == revision
        elif operation == "cas":
            assert not result.succeeded and result.value == held
        elif key in twin:
            revision += 1
            del twin[key]
            assert result.revision == revision
        assert Command.decode(Command(f"r{index}", operation, key, value, expected).encode()).key == key
