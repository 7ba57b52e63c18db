"""Campaigns beyond one process: the SQLite campaign store, failure signatures, shard
merges, and fuzzing on a Dask cluster whose worker is killed mid-campaign."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from checkers.verdict import CheckerResult, Verdict
from raftsim import api, store
from scenarios import loader

RAFTSIM = [sys.executable, "-c", "from raftsim.cli import main; main()"]

QUICK = """
name = "quick-cut"
description = "A leader cut off briefly under a light load: short enough to run by the hundred."
duration_ms = 2000

[cluster]
nodes = 3
tick_ms = 20

[workload]
clients = 3
rate = 60
keys = 2

[phases]
quiet_ms = 1000

[[faults]]
kind = "partition"
shape = "isolate-leader"
start_ms = 600
duration_ms = 600
"""
BUG = "stale-local-read"
"""Fails about one seed in five of QUICK, in more than one way (linearizability, revisions)."""


def raftsim(*arguments: str, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RAFTSIM, *arguments], capture_output=True, text=True, timeout=timeout_s, check=False)


def quick(tmp_path: Path) -> Path:
    path = tmp_path / "quick.toml"
    path.write_text(QUICK, encoding="utf-8")
    return path


def rows(db: Path) -> list[tuple[int, str, str, str]]:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT seed, digest, verdict, signature FROM seeds ORDER BY seed").fetchall()


# ---- the store alone ----


def row(seed: int, verdict: str = "valid", worker: str = "w1", **fields: object) -> store.SeedRow:
    values: dict[str, object] = {
        "seed": seed,
        "scenario": "s",
        "digest": f"d{seed}",
        "verdict": verdict,
        "failed_checkers": (),
        "anomaly_kinds": (),
        "wall_s": 1.0,
        "worker": worker,
        "finished_at": 100.0 + seed,
    }
    values.update(fields)
    return store.SeedRow(**values)  # type: ignore[arg-type]


def test_a_seed_is_recorded_once_and_failures_group_by_signature(tmp_path: Path) -> None:
    with store.CampaignStore(tmp_path / "c.db") as opened:
        opened.bind({"name": "s", "scenario": "x", "bugs": [], "seeds": [0, 9, 10]}, tmp_path)
        first = store.Signature("invariants:leader-match", "invariants", "leader-match", 3, store.PENDING)
        failing = {"verdict": "invalid", "failed_checkers": ("invariants",), "signature": first.key}
        assert opened.record(row(3, **failing), first)
        assert not opened.record(row(3, digest="other"), None), "a seed's second result is ignored"
        assert opened.record(row(1, **failing))
        assert opened.record(row(2, worker="w2"))
        summary = store.summary(opened)
    assert (summary.seeds, summary.failed) == (3, 2)
    (group,) = summary.groups
    assert group.signature.key == "invariants:leader-match" and group.seeds == (1, 3)
    assert [name for name, _count, _rate in summary.workers] == ["w1", "w2"]
    # Seeds 1..3 ran from 100 to 103 s, each a second long: 3 seeds in 3 s.
    assert summary.seeds_per_minute == 60.0


def test_a_store_of_another_campaign_is_refused(tmp_path: Path) -> None:
    with store.CampaignStore(tmp_path / "c.db") as opened:
        opened.bind({"name": "s", "scenario": "x"}, tmp_path)
    with store.CampaignStore(tmp_path / "c.db") as opened, pytest.raises(Exception, match="another campaign"):
        opened.bind({"name": "s", "scenario": "y"}, tmp_path)


def test_the_lead_checker_names_the_failure() -> None:
    kinds = ("linearizability:nonlinearizable", "liveness:leader", "invariants:committed-prefix")
    assert store.lead_kind(("liveness", "linearizability"), kinds) == ("linearizability", "nonlinearizable")
    assert store.lead_kind(("liveness", "invariants", "linearizability"), kinds) == ("invariants", "committed-prefix")
    assert store.lead_kind(("liveness",), kinds) == ("liveness", "leader")
    checkers = {
        "raft-safety": CheckerResult(Verdict.INVALID, anomalies=({"property": "durability", "message": "m"},)),
        "liveness": CheckerResult(Verdict.VALID),
        "linearizability": CheckerResult(Verdict.INVALID, details={"partitions": [{"valid": False, "cause": None}]}),
    }
    assert store.anomaly_kinds(checkers) == ("linearizability:nonlinearizable", "raft-safety:durability")


def test_shard_stores_merge_into_one(tmp_path: Path) -> None:
    identity = {"name": "s", "scenario": "x", "bugs": ["b"]}
    signature = store.Signature("raft-safety:durability", "raft-safety", "durability", 4, store.NOT_SHRUNK, note="n")
    failing = {"verdict": "invalid", "signature": signature.key}
    for shard, seeds in (("a", (0, 2, 4)), ("b", (1, 3, 5))):
        with store.CampaignStore(tmp_path / f"{shard}.db") as opened:
            opened.bind({**identity, "seeds": list(seeds)}, tmp_path)
            for seed in seeds:
                fields = failing if seed in (4, 5) else {}
                opened.record(row(seed, **fields), signature if seed in (4, 5) else None)
    seeds, signatures = store.merge(tmp_path / "all.db", [tmp_path / "a.db", tmp_path / "b.db"])
    assert (seeds, signatures) == (6, 1)
    with store.CampaignStore(tmp_path / "all.db", create=False) as merged:
        summary = store.summary(merged)
    assert summary.seeds == 6 and summary.groups[0].seeds == (4, 5)
    with pytest.raises(Exception, match="exists"):
        store.merge(tmp_path / "all.db", [tmp_path / "a.db"])
    with store.CampaignStore(tmp_path / "c.db") as other:
        other.bind({**identity, "scenario": "another", "seeds": [9]}, tmp_path)
    with pytest.raises(Exception, match="another scenario"):
        store.merge(tmp_path / "mixed.db", [tmp_path / "a.db", tmp_path / "c.db"])
    with store.CampaignStore(tmp_path / "d.db") as clash:
        clash.bind({**identity, "seeds": [2]}, tmp_path)
        clash.record(row(2, digest="not-the-same"))
    with pytest.raises(Exception, match="another digest"):
        store.merge(tmp_path / "clash.db", [tmp_path / "a.db", tmp_path / "d.db"])
    assert not (tmp_path / "clash.db").exists(), "a refused merge writes nothing"


def test_campaign_command_refuses_what_is_no_store(tmp_path: Path) -> None:
    bad = tmp_path / "not.db"
    bad.write_text("hello, not sqlite\n" * 100, encoding="utf-8")
    done = raftsim("campaign", str(bad))
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
    missing = raftsim("campaign", str(tmp_path / "missing.db"))
    assert missing.returncode == 2 and "no such campaign store" in missing.stderr
    assert not (tmp_path / "missing.db").exists()
    usage = raftsim("campaign", "merge", str(tmp_path / "out.db"))
    assert usage.returncode == 2 and "merge OUT DB" in usage.stderr


# ---- campaigns: the local pool and a Dask cluster give one record ----


def test_a_local_campaign_writes_its_store_and_shrinks_each_new_signature(tmp_path: Path) -> None:
    out = tmp_path / "local"
    done = raftsim(
        "fuzz", str(quick(tmp_path)), "--seeds", "30", "--bug", BUG, "--jobs", "2", "--out", str(out), "--no-report"
    )
    assert done.returncode == 1, done.stdout + done.stderr
    summary = json.loads((out / "summary.json").read_text())
    recorded = rows(out / "campaign.db")
    assert [seed for seed, *_ in recorded] == list(range(30))
    assert [seed for seed, _digest, verdict, _sig in recorded if verdict == "invalid"] == summary["failed"]
    shown = raftsim("campaign", str(out / "campaign.db"), "--json")
    assert shown.returncode == 1, shown.stdout + shown.stderr
    report = json.loads(shown.stdout)
    assert report["seeds"] == 30 and report["failed"] == len(summary["failed"])
    for group in report["signatures"]:
        assert group["status"] == "shrunk", group
        shrunk = Path(group["shrunk_folder"])
        verdict = json.loads((shrunk / "verdict.json").read_text())
        assert verdict["valid"] is False, "the shrunk run still fails"
        assert "faults ?" not in group["signature"], "described by the shrunk run's faults"
    text = raftsim("campaign", str(out / "campaign.db"))
    assert "raftsim replay" in text.stdout and "raftsim shrink" in text.stdout and "seeds/minute" in text.stdout


def _wait_for_seeds(db: Path, count: int, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=5) as connection:
                    if connection.execute("SELECT count(*) FROM seeds").fetchone()[0] >= count:
                        return
            except sqlite3.OperationalError:
                pass  # the table is still being made
        time.sleep(0.2)
    pytest.fail(f"{db} did not reach {count} seeds in {deadline_s} s")


def test_a_dask_campaign_survives_a_killed_worker_and_matches_the_local_pool(tmp_path: Path) -> None:
    """200 seeds with a planted bug on a two-worker LocalCluster, one worker killed once a
    fifth of the seeds are in: every seed is recorded once, with the digest and verdict the
    local pool gives it; the same seeds fail; one signature per kind of failure, each with
    its shrunk run kept; and a few seeds give the same digest under `raftsim run`."""
    from distributed import Client, LocalCluster

    scenario = quick(tmp_path)
    seeds = 200
    local_out = tmp_path / "local"
    local = raftsim(
        "fuzz", str(scenario), "--seeds", str(seeds), "--bug", BUG, "--jobs", "2", "--out", str(local_out),
        "--no-report", "--shrink-attempts", "0", "--coverage", "0",
    )  # fmt: skip
    assert local.returncode == 1, local.stdout + local.stderr
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    out = tmp_path / "dask"
    try:
        with Client(cluster) as client:
            pids = client.run(os.getpid)
            campaign = subprocess.Popen(
                [
                    *RAFTSIM, "fuzz", str(scenario), "--seeds", str(seeds), "--bug", BUG, "--out", str(out),
                    "--cluster", cluster.scheduler_address, "--no-report", "--coverage", "0",
                    "--shrink-attempts", "20",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            _wait_for_seeds(out / "campaign.db", seeds // 5, 300)
            victim = sorted(pids.values())[0]
            os.kill(victim, signal.SIGKILL)
            stdout, stderr = campaign.communicate(timeout=600)
    finally:
        cluster.close()
    assert campaign.returncode == 1, stdout + stderr
    recorded = rows(out / "campaign.db")
    assert [seed for seed, *_ in recorded] == list(range(seeds)), "every seed once"
    expected = {seed: (digest, verdict) for seed, digest, verdict, _sig in rows(local_out / "campaign.db")}
    assert {seed: (digest, verdict) for seed, digest, verdict, _sig in recorded} == expected
    failing = [seed for seed, _digest, verdict, _sig in recorded if verdict == "invalid"]
    assert failing == json.loads((local_out / "summary.json").read_text())["failed"]
    assert all((out / f"seed-{seed}" / "verdict.json").is_file() for seed in failing), "folders came back"
    with sqlite3.connect(out / "campaign.db") as connection:
        workers = {name for (name,) in connection.execute("SELECT DISTINCT worker FROM seeds")}
        signatures = connection.execute("SELECT key, status, shrunk_folder FROM signatures").fetchall()
    assert len(workers) >= 2, workers
    kinds = {signature for _seed, _digest, verdict, signature in recorded if verdict == "invalid"}
    assert {key for key, _status, _folder in signatures} == kinds, "one signature per kind of failure"
    for key, status, folder in signatures:
        assert status == "shrunk" and (Path(folder) / "verdict.json").is_file(), (key, status, folder)
    base = loader.load(str(scenario))
    for seed in failing[:2] + [seed for seed in range(seeds) if seed not in failing][:1]:
        ran = api.run(dataclasses.replace(base, seed=seed, bugs=(BUG,)), None, budget_s=30)
        assert ran.result.digest == expected[seed][0], seed


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_an_interrupted_dask_campaign_prints_one_line_and_resumes(tmp_path: Path) -> None:
    """Ctrl-C at the terminal reaches the whole process group, the LocalCluster's workers
    too: they stay quiet, the command prints one line and exits 130, and the same command
    then finishes the campaign with every seed recorded once."""
    out = tmp_path / "fuzz"
    command = [
        *RAFTSIM, "fuzz", str(quick(tmp_path)), "--seeds", "80", "--bug", BUG, "--cluster", "local:2",
        "--out", str(out), "--no-report", "--coverage", "0", "--shrink-attempts", "0",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_default_sigint,
    )
    _wait_for_seeds(out / "campaign.db", 10, 300)
    os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, (stdout, stderr)
    assert not stderr.strip() and "Traceback" not in stdout, (stdout, stderr)
    lines = [line for line in stdout.splitlines() if line.strip() and not line.startswith("fuzz quick-cut: ")]
    assert len(lines) == 1 and "interrupted after" in lines[0], lines
    interrupted = len(rows(out / "campaign.db"))
    assert 10 <= interrupted < 80
    again = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 1, again.stdout + again.stderr
    assert [seed for seed, *_ in rows(out / "campaign.db")] == list(range(80))


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("bogus", "neither local[:WORKERS] nor a scheduler"),
        ("local:0", "between 1 and 256 local workers"),
        ("tcp://127.0.0.1:9", "cannot reach the scheduler"),
    ],
)
def test_a_bad_cluster_is_one_line_and_exit_2(tmp_path: Path, value: str, says: str) -> None:
    out = tmp_path / "fuzz"
    done = raftsim("fuzz", str(quick(tmp_path)), "--seeds", "2", "--cluster", value, "--out", str(out))
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "--cluster" in lines[0] and says in lines[0], done.stderr
    assert not (out / "campaign.db").exists() or not rows(out / "campaign.db"), "no seed recorded"


def test_a_packed_folder_unpacks_whole_and_never_outside_itself(tmp_path: Path) -> None:
    import io
    import tarfile

    from raftsim import run_folder

    source = tmp_path / "source"
    (source / "inner").mkdir(parents=True)
    (source / "verdict.json").write_text("{}", encoding="utf-8")
    (source / "inner" / "a.txt").write_text("a", encoding="utf-8")
    run_folder.unpack(run_folder.pack(source), tmp_path / "copy")
    assert (tmp_path / "copy" / "inner" / "a.txt").read_text(encoding="utf-8") == "a"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = b"x"
        member = tarfile.TarInfo("../escaped.txt")
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    with pytest.raises(Exception):  # noqa: B017 - tarfile's own refusal, whichever its type
        run_folder.unpack(buffer.getvalue(), tmp_path / "evil")
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "evil").exists()
    assert not [path.name for path in tmp_path.iterdir() if path.name.startswith(".")], "no staging left"


def test_a_cluster_lost_mid_campaign_ends_it_with_one_line_and_the_command_resumes(tmp_path: Path) -> None:
    """The scheduler and its workers go away with seeds in flight: those are no seeds'
    failures, so none is recorded as one; the command says so in one line (exit 2), and the
    same campaign then finishes on another cluster with every seed once."""
    from distributed import LocalCluster

    out = tmp_path / "fuzz"
    arguments = [
        "fuzz", str(quick(tmp_path)), "--seeds", "80", "--bug", BUG, "--out", str(out), "--no-report",
        "--coverage", "0", "--shrink-attempts", "0",
    ]  # fmt: skip
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        campaign = subprocess.Popen(
            [*RAFTSIM, *arguments, "--cluster", cluster.scheduler_address],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait_for_seeds(out / "campaign.db", 10, 300)
    finally:
        cluster.close()
    stdout, stderr = campaign.communicate(timeout=300)
    assert campaign.returncode == 2, stdout + stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and "--cluster: the cluster failed" in lines[0], stderr
    recorded = rows(out / "campaign.db")
    assert 10 <= len(recorded) < 80
    assert not [seed for seed, digest, _verdict, _sig in recorded if not digest], "no seed blamed for the cluster"
    again = raftsim(*arguments, "--cluster", "local:2")
    assert again.returncode == 1, again.stdout + again.stderr
    assert [seed for seed, *_ in rows(out / "campaign.db")] == list(range(80))
