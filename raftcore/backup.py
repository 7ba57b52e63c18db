"""The backup file: one Raft snapshot as a self-describing, checksummed JSON document.

A backup is what a cluster can be rebuilt from, read long after and maybe far from where
it was written, so it says what it is and refuses to be read if it is not whole:

    {"checksum":"sha256:<hex>","data":"<the state machine's encoding>","format":"raftsim-backup",
     "index":<int>,"membership":{"learners":[...],"voters":[...],"voters_outgoing":[...]},
     "term":<int>,"version":1}

on one line, followed by a newline. `data` is `Snapshot.data` as it is (for the key-value
store, `KVStore.snapshot_data`); `checksum` is the SHA-256 of the canonical JSON of every
other field (names sorted, no spaces), so a backup cut short, or with any byte of its
content changed, is refused rather than restored wrong. A reader checks, in order: that the
text is one JSON object, its format and version, the checksum, then each field. Every
refusal is a one-line ValueError naming the source and the field.

Pure: text in, text out; the caller reads and writes the file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from raftcore.types import Membership, Snapshot

BACKUP_FORMAT = "raftsim-backup"
BACKUP_VERSION = 1
_FIELDS = ("checksum", "data", "format", "index", "membership", "term", "version")
_MEMBERSHIP_FIELDS = ("learners", "voters", "voters_outgoing")
_Fail = Callable[[str, str], ValueError]


def encode_backup(snapshot: Snapshot) -> str:
    """The backup of `snapshot`: one line of JSON and a newline; equal snapshots, equal text."""
    membership = snapshot.membership
    content: dict[str, Any] = {
        "format": BACKUP_FORMAT,
        "version": BACKUP_VERSION,
        "index": snapshot.index,
        "term": snapshot.term,
        "membership": {
            "voters": sorted(membership.voters),
            "learners": sorted(membership.learners),
            "voters_outgoing": sorted(membership.voters_outgoing),
        },
        "data": snapshot.data,
    }
    return json.dumps({**content, "checksum": _checksum(content)}, sort_keys=True, separators=(",", ":")) + "\n"


def decode_backup(text: str, source: str) -> Snapshot:
    """The snapshot a backup holds; ValueError `<source>: <field>: <problem>` if it is not
    a whole, undamaged backup of this format and version."""

    def fail(field: str, problem: str) -> ValueError:
        return ValueError(f"{source}: {field}: {problem}")

    try:
        document = json.loads(text)
    except ValueError as error:
        raise fail("(whole)", f"not a complete JSON document, cut short or damaged? {error}") from None
    if type(document) is not dict:
        raise fail("(whole)", f"expected a JSON object, got {type(document).__name__}")
    if document.get("format") != BACKUP_FORMAT:
        raise fail("format", f"expected {BACKUP_FORMAT!r}, got {document.get('format')!r:.60}: not a raftsim backup")
    version = document.get("version")
    if version != BACKUP_VERSION or type(version) is not int:
        raise fail("version", f"this raftsim reads version {BACKUP_VERSION}, not {version!r:.60}")
    for name in _FIELDS:
        if name not in document:
            raise fail(name, "missing")
    for name in sorted(document):
        if name not in _FIELDS:
            raise fail(name, "unknown field")
    content = {name: value for name, value in document.items() if name != "checksum"}
    written, computed = document["checksum"], _checksum(content)
    if written != computed:
        raise fail("checksum", f"the content hashes to {computed}, the backup says {written!r:.80}: it is damaged")
    index, term = _positive(document["index"], "index", fail), _positive(document["term"], "term", fail)
    membership = _membership(document["membership"], fail)
    data = document["data"]
    if type(data) is not str:
        raise fail("data", f"expected a string, got {type(data).__name__}")
    return Snapshot(index, term, membership, data)


def _checksum(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _positive(value: Any, field: str, fail: _Fail) -> int:
    if type(value) is not int or value < 1:
        raise fail(field, f"expected an integer from 1 on, got {value!r:.60}")
    return int(value)


def _membership(value: Any, fail: _Fail) -> Membership:
    if type(value) is not dict or sorted(value) != list(_MEMBERSHIP_FIELDS):
        raise fail("membership", f"expected an object of {', '.join(_MEMBERSHIP_FIELDS)}, got {value!r:.60}")
    sets: dict[str, frozenset[int]] = {}
    for name in _MEMBERSHIP_FIELDS:
        ids = value[name]
        if type(ids) is not list or not all(type(node) is int for node in ids):
            raise fail(f"membership.{name}", f"expected a list of node ids, got {ids!r:.60}")
        if ids != sorted(set(ids)):
            raise fail(f"membership.{name}", "expected node ids in increasing order, each once")
        sets[name] = frozenset(ids)
    try:
        return Membership(sets["voters"], sets["learners"], sets["voters_outgoing"])
    except ValueError as error:
        raise fail("membership", str(error)) from None
