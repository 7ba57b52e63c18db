"""Watching a workload's keys: the settings that add watchers and informers to a run.

A workload whose keys live under one prefix (`Workload.watch_prefix`) may be watched while
it runs. `watchers` clients each watch the whole prefix with `prev_kv`, resuming on
another member after the revision they last saw when theirs falls silent; `informers`
clients each do what a Kubernetes informer does: list the prefix page by page at one
revision, watch from the revision after it, keep a cache of the objects, and list again
when the watch is canceled as compacted. The simulator runs them (`sim.watcher`) and
records what they were sent in `watch.jsonl`; `checkers.watch` judges it.
"""

from __future__ import annotations

from workloads import Option

WATCHERS = Option("watchers", int, 0, "clients watching the whole prefix", 0, 8)
INFORMERS = Option("informers", int, 0, "Kubernetes informers: list, then watch from the list's revision + 1", 0, 8)
OPTIONS = (INFORMERS, WATCHERS)
