"""Campaigns on a Dask cluster (`raftsim fuzz --cluster`), and the folders they send back.

A seed runs on a Dask worker exactly as in the local process pool (`fuzz.run_seed`, the same
function, so the same digest and verdict), but into a scratch folder of the worker's: a
failing seed's folder is packed (`pack`) and sent back with its result, and the client
unpacks it into the fuzz folder, so nothing is left on workers and no shared file system is
needed. Tasks are handed out a few per worker thread ahead; a worker that dies loses no
seed, since the scheduler gives its tasks to another (a seed whose workers keep dying is
recorded as the seed's harness error, the campaign goes on), and a result that arrives
twice is recorded once. This module imports Dask; nothing else in raftsim does, so a
campaign without `--cluster` pays no import for it.

`--cluster local[:WORKERS]` starts a `LocalCluster` of WORKERS single-threaded worker
processes (default: `--jobs`) for the campaign; `--cluster tcp://HOST:PORT` uses the
scheduler of a running cluster (`dask scheduler`, `dask worker tcp://HOST:PORT` on each
machine, with raftsim installed in the workers' Python).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from checkers.errors import InputError
from raftsim import run_folder, signals

TASKS_AHEAD_PER_THREAD = 2
WORKER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.admin.tick.interval": "500ms",
    "distributed.scheduler.work-stealing": False,
}
"""Dask settings for a LocalCluster's workers (a running cluster's workers take theirs from
their own environment: `DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False`)."""
CONNECT_TIMEOUT_S = 10
_LOCAL = re.compile(r"local(?::(\d+))?")


@dataclasses.dataclass(frozen=True, slots=True)
class ClusterSpec:
    local_workers: int | None
    """Workers of a LocalCluster to start; None: `address` names a running scheduler."""
    address: str | None


def parse(text: str, jobs: int) -> ClusterSpec:
    """`local`, `local:N` or a scheduler address (`tcp://HOST:PORT`, `tls://…`)."""
    matched = _LOCAL.fullmatch(text)
    if matched is not None:
        workers = int(matched.group(1)) if matched.group(1) else jobs
        if not 1 <= workers <= 256:
            raise InputError("--cluster", None, None, f"{text!r}: between 1 and 256 local workers")
        return ClusterSpec(workers, None)
    if re.fullmatch(r"(tcp|tls|inproc|ucx)://[^\s/]+", text):
        return ClusterSpec(None, text)
    raise InputError("--cluster", None, None, f"{text!r} is neither local[:WORKERS] nor a scheduler's tcp://HOST:PORT")


class Executor:
    """A Dask client for one phase of a campaign (its seeds, then its shrinks), and the
    LocalCluster it started, if any; closed on leaving, whatever happened."""

    def __init__(self, spec: ClusterSpec) -> None:
        import dask
        from distributed import Client, LocalCluster

        # A seed holds its worker's core from start to end: Dask's own sampling of what the
        # task runs (its profiler, every 10 ms), of the machine (every 500 ms) and of its
        # event loops (every 20 ms), and work stealing (pointless when each worker is handed
        # two tasks at a time), take CPU from the seeds themselves.
        dask.config.set(WORKER_CONFIG)
        # Dask's client logs what it retries and gives up on; what reaches the user is this
        # module's one line when the cluster fails a campaign.
        # Dask's logging setup gives some of its loggers levels of their own.
        for name in ["distributed", *logging.root.manager.loggerDict]:
            if name == "distributed" or name.startswith("distributed."):
                logging.getLogger(name).setLevel(logging.CRITICAL)

        self.cluster: Any = None
        try:
            if spec.local_workers is not None:
                with signals.ctrl_c_ignored():
                    self.cluster = LocalCluster(
                        n_workers=spec.local_workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                        silence_logs=logging.ERROR,
                        memory_limit=0,  # no memory watch: a seed's memory is small and bounded
                    )
                self.client = Client(self.cluster)
            else:
                self.client = Client(spec.address, timeout=CONNECT_TIMEOUT_S)
        except OSError as error:
            self.close()
            raise InputError("--cluster", None, None, f"cannot reach the scheduler: {error}") from None

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
        if self.cluster is not None:
            self.cluster.close()

    def threads(self) -> int:
        workers = self.client.scheduler_info().get("workers", {})
        return max(1, sum(int(worker.get("nthreads", 1)) for worker in workers.values()))

    def results(
        self,
        tasks: Iterable[Any],
        out: Path,
        run: Callable[[Any], Any],
        lost: Callable[[Any, BaseException], Any],
    ) -> Iterator[Any]:
        """`run(task)` (`fuzz.run_seed`) of each seed task, as each finishes on a worker,
        its folder (if the seed kept one) unpacked into `out`. A task whose worker died is
        run again by the scheduler; one that cannot be run at all (its workers kept dying)
        is `lost(task, error)`, that seed's harness error. Any other failure (`run` itself
        never raises) is the cluster's, not a seed's: the campaign ends there with one line
        (exit 2), and the seeds not recorded run when the same command resumes. The results
        are fuzz's own; this module knows of them only that they are dataclasses with a
        `seed` and a `worker`."""
        from distributed import KilledWorker, as_completed

        pending = iter(tasks)
        ahead = self.threads() * TASKS_AHEAD_PER_THREAD
        running: dict[Any, Any] = {}
        queue = as_completed()
        for task in itertools.islice(pending, ahead):
            future = self.client.submit(remote_seed, run, task, pure=False)
            running[future] = task
            queue.add(future)
        for future in queue:
            task = running.pop(future)
            try:
                result, archive = future.result()
            except KilledWorker as error:  # the seed's failure, not the campaign's
                result, archive = lost(task, error), None
            except Exception as error:
                raise _cluster_failed(error) from None
            if archive is not None:
                run_folder.unpack(archive, out / f"seed-{result.seed}")
            for following in itertools.islice(pending, 1):
                again = self.client.submit(remote_seed, run, following, pure=False)
                running[again] = following
                queue.add(again)
            yield result

    def map(self, function: Callable[..., Any], jobs: Iterable[tuple[Any, ...]]) -> Iterator[Any]:
        """`function(*job)` for every job, on the cluster, in the order they finish;
        `function` never raises, so a failure is the cluster's (`results`)."""
        from distributed import as_completed

        futures = [self.client.submit(function, *job, pure=False) for job in jobs]
        for future in as_completed(futures):
            try:
                outcome = future.result()
            except Exception as error:
                raise _cluster_failed(error) from None
            yield outcome


def _cluster_failed(error: BaseException) -> InputError:
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    return InputError("--cluster", None, None, f"the cluster failed: {first}; the same command resumes")


def remote_seed(run: Callable[[Any], Any], task: Any) -> tuple[Any, bytes | None]:
    """`run(task)` on a worker, into a scratch folder (the task's `out`): the result, named
    for the worker, and the seed's folder packed if it kept one."""
    from distributed import get_worker

    with tempfile.TemporaryDirectory(prefix="raftsim-seed-") as scratch:
        result = run(task._replace(out=Path(scratch)))
        folder = Path(scratch) / f"seed-{result.seed}"
        archive = run_folder.pack(folder) if folder.is_dir() else None
    try:
        return dataclasses.replace(result, worker=str(get_worker().address)), archive
    except ValueError:  # not on a worker (called directly): the result names its process
        return result, archive
