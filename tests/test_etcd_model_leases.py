"""The etcd model on histories with leases: a grant's header, keys attached by a put's
lease, a client's revoke deleting them in one revision, and expiry: a revoke no client
asked for, which may happen once at any moment after the grant. Keep-alives and
time-to-live answers are not the model's to judge (the leader answers them from memory)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from etcd_histories import Recorder, kv

from checkers.linearizability import LinearizabilityResult, check_history_file
from checkers.verdict import Verdict


def check(tmp_path: Path, recorder: Recorder) -> LinearizabilityResult:
    return check_history_file(recorder.write(tmp_path / "history.jsonl"), "etcd")


def leased(key: str, value: str, create: int, mod: int, version: int, lease: int) -> dict[str, Any]:
    return {**kv(key, value, create, mod, version), "lease": lease}


def header(revision: int) -> dict[str, Any]:
    return {"header": {"revision": revision}}


def granted_with_two_keys() -> Recorder:
    """Lease 7 granted at revision 1, keys a and b put with it at 2 and 3."""
    history = Recorder()
    history.call(0, "lease-grant", {"TTL": 5, "ID": 7}, {**header(1), "ID": 7, "TTL": 5})
    history.call(0, "put", {"key": "a", "value": "1", "lease": 7}, header(2))
    history.call(0, "put", {"key": "b", "value": "1", "lease": 7}, header(3))
    return history


def test_keys_read_with_their_lease_and_revoked_together_are_linearizable(tmp_path: Path) -> None:
    history = granted_with_two_keys()
    both = [leased("a", "1", 2, 2, 1, 7), leased("b", "1", 3, 3, 1, 7)]
    history.call(1, "range", {"key": "a", "range_end": "c"}, {**header(3), "kvs": both, "count": 2})
    history.call(0, "lease-revoke", {"ID": 7}, header(4))
    history.call(1, "range", {"key": "a", "range_end": "c"}, header(4))
    assert check(tmp_path, history).verdict is Verdict.VALID


def test_a_range_must_show_the_lease_a_key_was_put_with(tmp_path: Path) -> None:
    history = granted_with_two_keys()
    history.call(1, "range", {"key": "a"}, {**header(3), "kvs": [kv("a", "1", 2, 2, 1)], "count": 1})
    assert check(tmp_path, history).verdict is Verdict.INVALID


def test_keys_may_vanish_by_expiry_with_no_client_revoke(tmp_path: Path) -> None:
    history = granted_with_two_keys()
    history.call(1, "put", {"key": "c", "value": "1"}, header(5))
    history.call(1, "range", {"key": "a", "range_end": "d"}, {**header(5), "kvs": [kv("c", "1", 5, 5, 1)], "count": 1})
    assert check(tmp_path, history).verdict is Verdict.VALID, "the expiry took revision 4 and deleted a and b"


def test_an_expiry_deleting_one_key_of_a_lease_but_not_the_other_is_caught(tmp_path: Path) -> None:
    history = granted_with_two_keys()
    history.call(1, "put", {"key": "c", "value": "1"}, header(5))
    # Revision 4 deleted a alone (and nothing else could have made it): b outlived its lease's expiry.
    shown = [leased("b", "1", 3, 3, 1, 7), kv("c", "1", 5, 5, 1)]
    history.call(1, "range", {"key": "a", "range_end": "d"}, {**header(5), "kvs": shown, "count": 2})
    assert check(tmp_path, history).verdict is Verdict.INVALID


def test_a_split_revoke_taking_two_revisions_is_caught(tmp_path: Path) -> None:
    history = granted_with_two_keys()
    history.call(0, "lease-revoke", {"ID": 7}, header(5))
    assert check(tmp_path, history).verdict is Verdict.INVALID, "one revoke, one revision: 4, not 5"


def test_no_put_names_a_lease_after_its_expiry(tmp_path: Path) -> None:
    def history(put_after_expiry: bool) -> Recorder:
        recorded = Recorder()
        recorded.call(0, "lease-grant", {"TTL": 5, "ID": 7}, {**header(1), "ID": 7, "TTL": 5})
        recorded.call(0, "put", {"key": "a", "value": "1", "lease": 7}, header(2))
        recorded.call(1, "put", {"key": "x", "value": "1"}, header(4))  # 3: the expiry deleted a
        if put_after_expiry:
            recorded.call(0, "put", {"key": "b", "value": "1", "lease": 7}, header(5))
        return recorded

    assert check(tmp_path, history(False)).verdict is Verdict.VALID
    assert check(tmp_path, history(True)).verdict is Verdict.INVALID, "lease 7 expired at 3: etcd fails the put"


def test_a_lease_expires_once(tmp_path: Path) -> None:
    history = Recorder()
    history.call(0, "lease-grant", {"TTL": 5, "ID": 7}, {**header(1), "ID": 7, "TTL": 5})
    history.call(0, "put", {"key": "a", "value": "1", "lease": 7}, header(2))
    history.call(0, "put", {"key": "b", "value": "1", "lease": 7}, header(3))
    history.call(1, "range", {"key": "a"}, {**header(3), "kvs": [leased("a", "1", 2, 2, 1, 7)], "count": 1})
    history.call(1, "put", {"key": "x", "value": "1"}, header(6))
    assert check(tmp_path, history).verdict is Verdict.INVALID, "one expiry makes revision 4, not 5 too"


def test_a_grant_header_is_the_store_revision_and_its_id_the_one_asked(tmp_path: Path) -> None:
    history = Recorder()
    history.call(0, "put", {"key": "a", "value": "0"}, header(2))
    history.call(0, "lease-grant", {"TTL": 5, "ID": 7}, {**header(1), "ID": 7, "TTL": 5})
    assert check(tmp_path, history).verdict is Verdict.INVALID
    other = Recorder()
    other.call(0, "lease-grant", {"TTL": 5, "ID": 7}, {**header(1), "ID": 8, "TTL": 5})
    assert check(tmp_path, other).verdict is Verdict.INVALID
    picked = Recorder()
    picked.call(0, "lease-grant", {"TTL": 1}, {**header(1), "ID": 4096, "TTL": 2})
    picked.call(0, "put", {"key": "a", "value": "1", "lease": 4096}, header(2))
    picked.call(0, "lease-revoke", {"ID": 4096}, header(3))
    assert check(tmp_path, picked).verdict is Verdict.VALID


def test_keep_alive_and_time_to_live_are_not_judged(tmp_path: Path) -> None:
    history = granted_with_two_keys()
    history.call(0, "lease-keepalive", {"ID": 7}, {"result": {**header(1), "ID": 7, "TTL": 5}})
    history.call(0, "lease-timetolive", {"ID": 7, "keys": True}, {**header(9), "ID": 7, "TTL": 3, "keys": ["a"]})
    assert check(tmp_path, history).verdict is Verdict.VALID
