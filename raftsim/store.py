"""The campaign store: every seed's outcome in one SQLite file, and failures by signature.

A fuzz campaign writes one row per finished seed (`seeds`): its scenario, digest, verdict,
the checkers that failed, the kinds of anomaly they found (`checker:property`), the wall
time it took and the worker that ran it. Failing seeds are grouped by **signature**
(`signatures`): the first anomaly kind of the most telling failing checker (`lead_kind`),
described once the group's first seed is shrunk by the fault kinds of the shrunk run. A
new signature is shrunk; seeds of a known one are only counted. Only the campaign's client
writes the file (workers send their results back), one transaction per seed, so a campaign
killed at any moment leaves every recorded seed in it once and nothing half written.

`raftsim campaign DB` reads it (`summary`); `raftsim campaign merge OUT DB...` combines
the stores of shards of one campaign (`merge`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkers.errors import InputError
from checkers.verdict import Verdict

SCHEMA_VERSION = 1
STORE_NAME = "campaign.db"
"""The store's name in a fuzz folder, unless `--store` names another file."""

CHECKER_PRECEDENCE = (
    "crash",
    "error",
    "invariants",
    "raft-safety",
    "linearizability",
    "list-append",
    "revisions",
    "watch",
    "leases",
    "effects",
    "disruption",
    "liveness",
    "node-progress",
)
"""Which failing checker names a failure, first first: a run stopped by a crash or a broken
invariant is about that, and a safety anomaly says more than the liveness it may cause."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS seeds (
    seed INTEGER PRIMARY KEY,
    scenario TEXT NOT NULL,
    digest TEXT NOT NULL,
    verdict TEXT NOT NULL,
    failed_checkers TEXT NOT NULL,
    anomaly_kinds TEXT NOT NULL,
    signature TEXT,
    wall_s REAL NOT NULL,
    worker TEXT NOT NULL,
    finished_at REAL NOT NULL,
    recheck_digest TEXT,
    error TEXT,
    folder TEXT
);
CREATE TABLE IF NOT EXISTS signatures (
    key TEXT PRIMARY KEY,
    checker TEXT NOT NULL,
    kind TEXT NOT NULL,
    first_seed INTEGER NOT NULL,
    status TEXT NOT NULL,
    fault_kinds TEXT,
    shrunk_checkers TEXT,
    shrunk_folder TEXT,
    note TEXT
);
"""

PENDING, SHRUNK, NOT_SHRUNK = "pending", "shrunk", "not-shrunk"
"""A signature's shrink status: to be shrunk, shrunk (its fault kinds known), or not (the
shrink failed or was not asked for; `note` says why)."""


@dataclass(frozen=True, slots=True)
class SeedRow:
    seed: int
    scenario: str
    digest: str
    verdict: str
    failed_checkers: tuple[str, ...]
    anomaly_kinds: tuple[str, ...]
    wall_s: float
    worker: str
    finished_at: float
    recheck_digest: str | None = None
    error: str | None = None
    folder: str | None = None
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class Signature:
    key: str
    checker: str
    kind: str
    first_seed: int
    status: str
    fault_kinds: tuple[str, ...] | None = None
    shrunk_checkers: tuple[str, ...] | None = None
    shrunk_folder: str | None = None
    note: str | None = None

    def describe(self) -> str:
        """`checker · kind · faults a+b` (faults of the shrunk run; `?` until shrunk)."""
        faults = "?" if self.fault_kinds is None else ("+".join(self.fault_kinds) or "none")
        return f"{self.checker} · {self.kind} · faults {faults}"


def anomaly_kinds(checkers: Mapping[str, Any]) -> tuple[str, ...]:
    """`checker:property` for every anomaly of every failing checker of a verdict (its
    `checkers` mapping of CheckerResult), sorted and each once. A partitioned checker
    (linearizability) lists no anomalies: its kind is its cause, or `nonlinearizable` for
    a history no order explains; any other failing checker that lists none, `anomaly`."""
    kinds: set[str] = set()
    for name, result in checkers.items():
        if result.verdict is not Verdict.INVALID:
            continue
        found = [str(anomaly.get("property") or "anomaly") for anomaly in result.found]
        if not found and result.partitions:
            found = [str(part.get("cause") or "nonlinearizable") for part in result.partitions_with(result.verdict)]
        kinds.update(f"{name}:{kind}" for kind in (found or ["anomaly"]))
    return tuple(sorted(kinds))


def lead_kind(failed: Sequence[str], kinds: Sequence[str]) -> tuple[str, str]:
    """The (checker, kind) a failure is known by: the failing checker first in
    CHECKER_PRECEDENCE (then by name), and its first anomaly kind in sorted order."""
    ranked = sorted(
        failed, key=lambda name: (CHECKER_PRECEDENCE.index(name) if name in CHECKER_PRECEDENCE else 99, name)
    )
    if not ranked:
        return ("?", "?")
    checker = ranked[0]
    own = sorted(kind.split(":", 1)[1] for kind in kinds if kind.split(":", 1)[0] == checker)
    return (checker, own[0] if own else "anomaly")


class CampaignStore:
    """One campaign's store, open for writing (the client's) or reading."""

    def __init__(self, path: Path, create: bool = True) -> None:
        self.path = path
        if not create and not path.is_file():
            raise InputError(str(path), None, None, "no such campaign store")
        try:
            self.db = sqlite3.connect(path, timeout=30.0)
            self.db.executescript(_SCHEMA)
            found = self._meta("schema")
        except sqlite3.DatabaseError as error:
            raise InputError(str(path), None, None, f"not a campaign store: {error}") from None
        if found is None:
            if not create:
                raise InputError(str(path), None, "schema", "not a campaign store (no schema version)")
            self._set_meta({"schema": str(SCHEMA_VERSION)})
        elif found != str(SCHEMA_VERSION):
            raise InputError(str(path), None, "schema", f"version {found}; this raftsim reads {SCHEMA_VERSION}")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> CampaignStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- identity ---------------------------------------------------------------------

    def bind(self, identity: Mapping[str, Any], out: Path) -> None:
        """Tie the store to a campaign (its scenario, bugs and seeds, as `fuzz.json` has
        them); a store of another campaign is refused."""
        wanted = json.dumps(identity, sort_keys=True)
        found = self._meta("identity")
        if found is None:
            self._set_meta({"identity": wanted, "out": str(out.resolve())})
        elif found != wanted:
            raise InputError(
                str(self.path), None, "--store", "holds another campaign (scenario, bugs or seeds); choose another file"
            )

    def identity(self) -> dict[str, Any] | None:
        found = self._meta("identity")
        return None if found is None else json.loads(found)

    def meta(self, key: str) -> str | None:
        return self._meta(key)

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, values: Mapping[str, str]) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", sorted(values.items()))

    # --- seeds ------------------------------------------------------------------------

    def recorded(self) -> set[int]:
        return {int(row[0]) for row in self.db.execute("SELECT seed FROM seeds")}

    def record(self, row: SeedRow, new_signature: Signature | None = None) -> bool:
        """Add the seed's row (and the signature it opened, if any) in one transaction;
        False, changing nothing, if the seed is already recorded (a seed a killed worker's
        task ran twice counts once)."""
        with self.db:
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO seeds (seed, scenario, digest, verdict, failed_checkers, anomaly_kinds, "
                "signature, wall_s, worker, finished_at, recheck_digest, error, folder) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.seed,
                    row.scenario,
                    row.digest,
                    row.verdict,
                    json.dumps(list(row.failed_checkers)),
                    json.dumps(list(row.anomaly_kinds)),
                    row.signature,
                    row.wall_s,
                    row.worker,
                    row.finished_at,
                    row.recheck_digest,
                    row.error,
                    row.folder,
                ),
            )
            if cursor.rowcount == 0:
                return False
            if new_signature is not None:
                self._insert_signature(new_signature)
        return True

    def seeds(self) -> Iterator[SeedRow]:
        for found in self.db.execute(
            "SELECT seed, scenario, digest, verdict, failed_checkers, anomaly_kinds, wall_s, worker, finished_at, "
            "recheck_digest, error, folder, signature FROM seeds ORDER BY seed"
        ):
            yield SeedRow(
                int(found[0]),
                found[1],
                found[2],
                found[3],
                tuple(json.loads(found[4])),
                tuple(json.loads(found[5])),
                float(found[6]),
                found[7],
                float(found[8]),
                found[9],
                found[10],
                found[11],
                found[12],
            )

    # --- signatures -------------------------------------------------------------------

    def signature(self, key: str) -> Signature | None:
        found = self.db.execute(
            "SELECT key, checker, kind, first_seed, status, fault_kinds, shrunk_checkers, shrunk_folder, note "
            "FROM signatures WHERE key = ?",
            (key,),
        ).fetchone()
        return None if found is None else _signature(found)

    def signatures(self) -> list[Signature]:
        return [
            _signature(found)
            for found in self.db.execute(
                "SELECT key, checker, kind, first_seed, status, fault_kinds, shrunk_checkers, shrunk_folder, note "
                "FROM signatures ORDER BY key"
            )
        ]

    def _insert_signature(self, signature: Signature) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO signatures (key, checker, kind, first_seed, status, fault_kinds, shrunk_checkers, "
            "shrunk_folder, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                signature.key,
                signature.checker,
                signature.kind,
                signature.first_seed,
                signature.status,
                None if signature.fault_kinds is None else json.dumps(list(signature.fault_kinds)),
                None if signature.shrunk_checkers is None else json.dumps(list(signature.shrunk_checkers)),
                signature.shrunk_folder,
                signature.note,
            ),
        )

    def shrunk(self, key: str, fault_kinds: Iterable[str], checkers: Iterable[str], folder: str, seed: int) -> None:
        """The signature's seed `seed` was shrunk into `folder`, whose run has these faults."""
        with self.db:
            self.db.execute(
                "UPDATE signatures SET status = ?, fault_kinds = ?, shrunk_checkers = ?, shrunk_folder = ?, "
                "first_seed = ?, note = NULL WHERE key = ?",
                (SHRUNK, json.dumps(sorted(set(fault_kinds))), json.dumps(sorted(checkers)), folder, seed, key),
            )

    def not_shrunk(self, key: str, note: str) -> None:
        with self.db:
            self.db.execute("UPDATE signatures SET status = ?, note = ? WHERE key = ?", (NOT_SHRUNK, note, key))


def _signature(found: Sequence[Any]) -> Signature:
    return Signature(
        found[0],
        found[1],
        found[2],
        int(found[3]),
        found[4],
        None if found[5] is None else tuple(json.loads(found[5])),
        None if found[6] is None else tuple(json.loads(found[6])),
        found[7],
        found[8],
    )


def signature_key(checker: str, kind: str) -> str:
    return f"{checker}:{kind}"


# --- reading: the summary ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Group:
    signature: Signature
    seeds: tuple[int, ...]
    folder: str | None
    """The smallest failing seed's folder, as the campaign kept it."""


@dataclass(frozen=True, slots=True)
class Summary:
    scenario: str
    seeds: int
    failed: int
    unknown: int
    errors: int
    seeds_per_minute: float | None
    workers: tuple[tuple[str, int, float | None], ...]
    """(worker, seeds it ran, its seeds per minute), by worker name."""
    groups: tuple[Group, ...]
    determinism_failures: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "seeds": self.seeds,
            "failed": self.failed,
            "unknown": self.unknown,
            "errors": self.errors,
            "seeds_per_minute": self.seeds_per_minute,
            "workers": [
                {"worker": name, "seeds": count, "seeds_per_minute": rate} for name, count, rate in self.workers
            ],
            "signatures": [
                {
                    "key": group.signature.key,
                    "signature": group.signature.describe(),
                    "status": group.signature.status,
                    "seeds": len(group.seeds),
                    "smallest_seed": group.seeds[0],
                    "folder": group.folder,
                    "shrunk_folder": group.signature.shrunk_folder,
                    "note": group.signature.note,
                }
                for group in self.groups
            ],
            "determinism_failures": list(self.determinism_failures),
        }


def _rate(rows: Sequence[SeedRow]) -> float | None:
    """Seeds per minute over the span from the first seed's start to the last one's end."""
    if not rows:
        return None
    began = min(row.finished_at - row.wall_s for row in rows)
    ended = max(row.finished_at for row in rows)
    return round(60 * len(rows) / (ended - began), 1) if ended > began else None


def summary(store: CampaignStore) -> Summary:
    rows = list(store.seeds())
    by_worker: dict[str, list[SeedRow]] = {}
    for row in rows:
        by_worker.setdefault(row.worker, []).append(row)
    members: dict[str, list[SeedRow]] = {}
    for row in rows:  # in seed order: each group's first row is its smallest seed
        if row.signature is not None:
            members.setdefault(row.signature, []).append(row)
    groups = [
        Group(signature, tuple(row.seed for row in members[signature.key]), members[signature.key][0].folder)
        for signature in store.signatures()
        if signature.key in members
    ]
    identity = store.identity() or {}
    scenario = str(identity.get("name") or "?")
    return Summary(
        scenario=scenario,
        seeds=len(rows),
        failed=sum(1 for row in rows if row.verdict == "invalid"),
        unknown=sum(1 for row in rows if row.verdict == "unknown"),
        errors=sum(1 for row in rows if row.error is not None),
        seeds_per_minute=_rate(rows),
        workers=tuple((name, len(mine), _rate(mine)) for name, mine in sorted(by_worker.items())),
        groups=tuple(sorted(groups, key=lambda group: (-len(group.seeds), group.signature.key))),
        determinism_failures=tuple(
            row.seed for row in rows if row.recheck_digest is not None and row.recheck_digest != row.digest
        ),
    )


# --- merging shards ------------------------------------------------------------------------


def merge(out: Path, sources: Sequence[Path]) -> tuple[int, int]:
    """Combine the stores of shards of one campaign (the same scenario and bugs) into `out`,
    which must not exist: every seed once (a seed in two stores must have one digest), every
    signature once, with the lowest first seed's shrink. Returns (seeds, signatures)."""
    if out.exists():
        raise InputError(str(out), None, None, "exists; merge writes a new store")
    if not sources:
        raise InputError("merge", None, None, "give the stores to merge")
    opened = [CampaignStore(path, create=False) for path in sources]
    try:
        scenarios = {_campaign_of(store) for store in opened}
        if len(scenarios) > 1:
            raise InputError(
                str(sources[1]), None, None, "is a store of another scenario or bug set; merge shards of one campaign"
            )
        rows: dict[int, SeedRow] = {}
        for store, path in zip(opened, sources, strict=True):
            for row in store.seeds():
                earlier = rows.get(row.seed)
                if earlier is not None and earlier.digest != row.digest:
                    raise InputError(str(path), None, f"seed {row.seed}", "has another digest in an earlier store")
                rows.setdefault(row.seed, row)
        signatures: dict[str, Signature] = {}
        for store in opened:
            for signature in store.signatures():
                known = signatures.get(signature.key)
                if known is None or _better(signature, known):
                    signatures[signature.key] = signature
        staging = out.with_name(f".{out.name}.partial")
        staging.unlink(missing_ok=True)
        with closing(CampaignStore(staging)) as merged:
            merged._set_meta({"identity": json.dumps(_merged_identity(opened), sort_keys=True), "merged": "true"})
            with merged.db:
                for signature in signatures.values():
                    merged._insert_signature(signature)
            for row in sorted(rows.values(), key=lambda row: row.seed):
                merged.record(row)
        staging.replace(out)
    finally:
        for store in opened:
            store.close()
    return len(rows), len(signatures)


def _campaign_of(store: CampaignStore) -> str:
    identity = store.identity()
    if identity is None:
        raise InputError(str(store.path), None, "identity", "records no campaign")
    return json.dumps({"scenario": identity.get("scenario"), "bugs": identity.get("bugs")}, sort_keys=True)


def _merged_identity(stores: Sequence[CampaignStore]) -> dict[str, Any]:
    first = stores[0].identity() or {}
    return {
        "name": first.get("name"),
        "scenario": first.get("scenario"),
        "bugs": first.get("bugs"),
        "merged": len(stores),
    }


def _better(candidate: Signature, known: Signature) -> bool:
    """A shrunk signature beats one not shrunk; between equals, the lower first seed."""
    rank = {SHRUNK: 0, PENDING: 1, NOT_SHRUNK: 2}
    return (rank.get(candidate.status, 3), candidate.first_seed) < (rank.get(known.status, 3), known.first_seed)
