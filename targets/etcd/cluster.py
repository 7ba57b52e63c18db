"""A real etcd 3.4 cluster on loopback that the harness attacks with faults.

Every member gets free loopback ports (client, and a private peer port behind a proxy of
`proxy.PeerProxies` whose port is the peer URL it advertises), a data directory under one
temporary root (in /dev/shm where there is one: etcd syncs every write, and memory makes that
cheap) and a log `logs/nN.log` in the run folder. Members run in their own sessions, so a
Ctrl-C at the harness's terminal reaches the harness, whose close() stops them, and not the
members directly. A `reaper` child removes members and data if the harness dies without
closing.

Nodes are numbered 1..N as scenarios number them; node i is the member named `ni`. The
harness talks to members through etcd's v3 JSON gateway on their client URLs directly: only
peer traffic goes through the proxies.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from targets.etcd.proxy import PeerProxies
from targets.etcd.reaper import EXIT

STOP_WAIT_S = 5.0
"""How long a member has to end after SIGTERM before it gets SIGKILL."""
LONE_WAIT_S = 0.5
"""How long the last member still stopping, once the others have ended, may go on before it
gets SIGKILL: a leader stopping tries to hand its leadership over, which cannot succeed with no
peer left and would take etcd's whole request timeout."""
STATUS_TIMEOUT_S = 1.0
"""A member that does not answer a status or health request within this is taken as down."""
MEMBERSHIP_S = 12.0
"""How long a membership change is retried while etcd refuses it as unsafe ("unhealthy
cluster": etcd 3.4 changes membership only when the members left are connected to a quorum for
its health interval of 5 s, which a cluster just healed or restarted has not been)."""
TRANSFER_WAIT_S = 3.0
"""How long a move-leader request may take: etcd answers once the target leads, which after
catching it up takes a round trip or two, or refuses after its own timeout."""
HEALTH_KEY = base64.b64encode(b"health").decode()
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
"""The directory holding the `targets` package, for the reaper's `python -m`."""


def free_port() -> int:
    """A loopback port nothing listens on now (the kernel's choice for port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def post_json(url: str, body: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """POST `body` to etcd's JSON gateway; its answer. Raises OSError (a refused or broken
    connection, a timeout, an HTTP error) or ValueError (an answer that is no JSON object)."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as answer:
        decoded = json.loads(answer.read())
    if not isinstance(decoded, dict):
        raise ValueError(f"{url} answered {decoded!r}")
    return decoded


class EtcdCluster:
    """N etcd 3.4 members on loopback, started together, with the faults a harness applies:
    kill, restart, pause, link faults through peer proxies, and membership changes.

    Use it as a context manager: entering starts every member and waits until each serves;
    leaving (normally or by an exception, Ctrl-C included) closes it."""

    def __init__(
        self,
        binary: str,
        members: int,
        logs: Path,
        *,
        heartbeat_ms: int = 100,
        election_ms: int = 1000,
        startup_s: float = 30.0,
        extra_flags: tuple[str, ...] = (),
    ) -> None:
        if members < 1:
            raise ValueError(f"a cluster has at least one member, not {members}")
        self.names: tuple[str, ...] = tuple(f"n{number}" for number in range(1, members + 1))
        self.node_ids: tuple[int, ...] = tuple(range(1, members + 1))
        self._binary = binary
        self._logs = Path(logs)
        self._heartbeat_ms = heartbeat_ms
        self._election_ms = election_ms
        self._startup_s = startup_s
        self._extra_flags = tuple(extra_flags)
        """Further flags every member starts with (a run with watchers asks for frequent
        progress notifications, say)."""
        self._token = f"raftsim-{uuid.uuid4().hex[:12]}"
        self._lock = threading.RLock()
        self._root: Path | None = None
        self._reaper: subprocess.Popen[bytes] | None = None
        self._proxies: PeerProxies | None = None
        self._client_ports: dict[int, int] = {}
        self._peer_ports: dict[int, int] = {}
        self._proxy_ports: dict[int, int] = {}
        self._processes: dict[int, subprocess.Popen[bytes]] = {}
        self._paused: set[int] = set()
        self._member_ids: dict[int, int] = {}
        self._cluster_state: dict[int, str] = {}
        self._initial_cluster: dict[int, str] = {}
        self._started = False
        self._closed = False

    # ---- life ----

    def __enter__(self) -> EtcdCluster:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> None:
        """Start every member at once (each waits for its peers before it serves), wait until
        each answers a read, and learn their member ids for the proxies."""
        with self._lock:
            if self._started:
                raise RuntimeError("the cluster was started already")
            self._started = True
            self._logs.mkdir(parents=True, exist_ok=True)
            parent = "/dev/shm" if Path("/dev/shm").is_dir() else None
            self._root = Path(tempfile.mkdtemp(prefix="raftsim-etcd-", dir=parent))
            self._reaper = subprocess.Popen(
                [sys.executable, "-m", "targets.etcd.reaper", str(self._root)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                start_new_session=True,
                env={
                    **os.environ,
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")])),
                },
            )
            self._proxies = PeerProxies()
            for node in self.node_ids:
                self._client_ports[node] = free_port()
                self._peer_ports[node] = free_port()
                self._proxy_ports[node] = self._proxies.add(node, self._peer_ports[node])
            everyone = self._cluster_flag(self.node_ids)
            for node in self.node_ids:
                self._cluster_state[node] = "new"
                self._initial_cluster[node] = everyone
                self._launch(node)
        deadline = time.monotonic() + self._startup_s
        for node in self.node_ids:
            self._wait_serving(node, deadline)
        self._learn_member_ids()

    def close(self) -> None:
        """Stop everything (paused members are resumed first, SIGTERM then SIGKILL after
        STOP_WAIT_S), stop the proxies, remove the data root and dismiss the reaper. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            processes = dict(self._processes)
            self._processes.clear()
            for node in self._paused:
                if node in processes:
                    _signal(processes[node], signal.SIGCONT)
            self._paused.clear()
            _stop_all(list(processes.values()))
            if self._proxies is not None:
                self._proxies.close()
            if self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)
            if self._reaper is not None:
                self._tell_reaper(EXIT)
                try:
                    self._reaper.wait(STOP_WAIT_S)
                except subprocess.TimeoutExpired:
                    self._reaper.kill()
                    self._reaper.wait()

    # ---- what the harness reads ----

    @property
    def data_root(self) -> Path | None:
        """The temporary directory holding every member's data (None before start)."""
        return self._root

    def pid(self, node: int) -> int | None:
        """The process id of `node`'s member, None when it does not run."""
        with self._lock:
            process = self._processes.get(node)
            return process.pid if process is not None and process.poll() is None else None

    def client_url(self, node: int) -> str:
        """`node`'s client URL (direct, not through a proxy)."""
        self._check_node(node)
        return f"http://127.0.0.1:{self._client_ports[node]}"

    def peer_url(self, node: int) -> str:
        """The peer URL `node` advertises: its proxy's."""
        self._check_node(node)
        return f"http://127.0.0.1:{self._proxy_ports[node]}"

    def alive(self, node: int) -> bool:
        """Whether `node`'s process runs (a paused one does)."""
        return self.pid(node) is not None

    def status(self) -> dict[int, dict[str, Any]]:
        """Each answering member's view (etcd's maintenance status): the node it takes as
        leader (None when it knows none or one that is no node), its Raft term and its store's
        revision. A member that does not answer within STATUS_TIMEOUT_S is absent, as are the
        paused and the stopped, which are not asked."""
        with self._lock:
            asked = [node for node in self.node_ids if node in self._processes and node not in self._paused]
            nodes_by_id = {member_id: node for node, member_id in self._member_ids.items()}
        if not asked:
            return {}
        with ThreadPoolExecutor(max_workers=len(asked)) as pool:
            answers = list(pool.map(self._status_of, asked))
        views: dict[int, dict[str, Any]] = {}
        for node, answer in zip(asked, answers, strict=True):
            if answer is None:
                continue
            leader = int(answer.get("leader", 0) or 0)
            header = answer.get("header", {})
            views[node] = {
                "leader": nodes_by_id.get(leader),
                "term": int(answer.get("raftTerm", header.get("raft_term", 0)) or 0),
                "revision": int(header.get("revision", 0) or 0),
            }
        return views

    def leader(self) -> int | None:
        """The node that says it leads, in the highest term any answering member reports, when
        no member of that term names another; None when none does (or they disagree)."""
        views = self.status()
        claims = [(view["term"], node) for node, view in views.items() if view["leader"] == node]
        if not claims:
            return None
        term, node = max(claims)
        for view in views.values():
            if view["term"] >= term and view["leader"] not in (None, node):
                return None
        return node

    def member_ids(self) -> dict[int, int]:
        """etcd's member id of each node that is a member now."""
        with self._lock:
            return dict(self._member_ids)

    # ---- process faults ----

    def kill(self, node: int) -> None:
        """SIGKILL `node`'s member; its data directory is kept."""
        with self._lock:
            process = self._processes.pop(node, None)
            self._paused.discard(node)
        if process is not None:
            _signal(process, signal.SIGKILL)
            process.wait()

    def restart(self, node: int) -> None:
        """Start `node` again on its data; returns without waiting for it to serve."""
        with self._lock:
            self._check_node(node)
            if self.alive(node):
                raise RuntimeError(f"node {node} runs already")
            if node not in self._member_ids:
                raise RuntimeError(f"node {node} is no member (add_member starts it)")
            self._launch(node)

    def pause(self, node: int) -> None:
        """SIGSTOP `node`'s member: it holds its connections and answers nothing."""
        with self._lock:
            process = self._running(node)
            _signal(process, signal.SIGSTOP)
            self._paused.add(node)

    def resume(self, node: int) -> None:
        """SIGCONT `node`'s member."""
        with self._lock:
            process = self._running(node)
            _signal(process, signal.SIGCONT)
            self._paused.discard(node)

    # ---- link faults ----

    def cut(self, links: Iterable[tuple[int, int]]) -> None:
        """Lose the Raft messages of each directed link a->b (see `proxy` for what passes)."""
        self._proxies_or_fail().cut(self._links_of(links))

    def slow(self, links: Iterable[tuple[int, int]], delay_ms: int) -> None:
        """Hold every byte of each directed link `delay_ms` before forwarding it, order kept."""
        self._proxies_or_fail().slow(self._links_of(links), delay_ms)

    def lossy(self, links: Iterable[tuple[int, int]], loss: float, rng: random.Random) -> None:
        """Per forwarded chunk of Raft messages on each link, with probability `loss`, break the
        connection carrying it (TCP loses no single message; a broken stream is what loss does
        to etcd)."""
        self._proxies_or_fail().lossy(self._links_of(links), loss, rng)

    def link_breaks(self) -> int:
        """How many peer connections a cut or a lossy link has broken so far."""
        return self._proxies_or_fail().breaks()

    def heal_links(self, links: Iterable[tuple[int, int]] | None = None) -> None:
        """Undo cut, slow and lossy on `links` (None: on every link)."""
        self._proxies_or_fail().heal(None if links is None else self._links_of(links))

    # ---- membership ----

    def remove_member(self, node: int) -> None:
        """Remove `node` through the cluster API (asked of another member), then stop its
        process and delete its data directory."""
        with self._lock:
            self._check_node(node)
            if node not in self._member_ids:
                raise RuntimeError(f"node {node} is no member")
            member_id = self._member_ids[node]
        self._ask_cluster("cluster/member/remove", {"ID": str(member_id)}, exclude=node, patience_s=MEMBERSHIP_S)
        with self._lock:
            del self._member_ids[node]
            process = self._processes.pop(node, None)
            self._paused.discard(node)
        self._proxies_or_fail().forget_member(node)
        if process is not None:
            _stop(process)
        shutil.rmtree(self._data_dir(node), ignore_errors=True)

    def add_member(self, node: int) -> None:
        """Add `node` through the cluster API with its peer URL (its proxy's), then start it on
        an empty data directory with `--initial-cluster-state=existing`; returns without
        waiting for it to serve."""
        with self._lock:
            self._check_node(node)
            if node in self._member_ids or self.alive(node):
                raise RuntimeError(f"node {node} is a member already")
        answer = self._ask_cluster(
            "cluster/member/add", {"peerURLs": [self.peer_url(node)]}, exclude=node, patience_s=MEMBERSHIP_S
        )
        member_id = int(answer["member"]["ID"])
        with self._lock:
            self._member_ids[node] = member_id
            self._proxies_or_fail().set_member(node, member_id)
            shutil.rmtree(self._data_dir(node), ignore_errors=True)
            self._cluster_state[node] = "existing"
            self._initial_cluster[node] = self._cluster_flag(sorted(self._member_ids))
            self._launch(node)

    # ---- leadership ----

    def transfer_leadership(self, leader: int, to: int, timeout_s: float = TRANSFER_WAIT_S) -> str:
        """Ask `leader` to hand leadership to `to`: etcd's move-leader, POST
        /v3/maintenance/transfer-leadership with the target's member id, which only the
        leader takes. etcd answers once the target leads, or refuses (not the leader; the
        target not caught up within its timeout). Returns `done`, or what went wrong in a few
        words (etcd's refusal, or no answer within `timeout_s`); never raises for those."""
        with self._lock:
            self._check_node(leader)
            self._check_node(to)
            target_id = self._member_ids.get(to)
        if target_id is None:
            return f"node {to} is no member"
        url = f"{self.client_url(leader)}/v3/maintenance/transfer-leadership"
        try:
            post_json(url, {"targetID": str(target_id)}, timeout_s)
        except urllib.error.HTTPError as error:
            text = error.read()[:300].decode(errors="replace")
            with contextlib.suppress(ValueError, AttributeError):
                text = str(json.loads(text).get("error") or text)
            return f"refused: {text}"
        except (OSError, ValueError) as error:
            return f"no answer: {error}"
        return "done"

    # ---- inside ----

    def _check_node(self, node: int) -> None:
        if node not in self.node_ids:
            raise ValueError(f"no node {node}: the nodes are {self.node_ids}")

    def _links_of(self, links: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
        chosen = [(int(a), int(b)) for a, b in links]
        for a, b in chosen:
            self._check_node(a)
            self._check_node(b)
        return chosen

    def _proxies_or_fail(self) -> PeerProxies:
        if self._proxies is None or self._closed:
            raise RuntimeError("the cluster does not run")
        return self._proxies

    def _running(self, node: int) -> subprocess.Popen[bytes]:
        self._check_node(node)
        process = self._processes.get(node)
        if process is None or process.poll() is not None:
            raise RuntimeError(f"node {node} does not run")
        return process

    def _data_dir(self, node: int) -> Path:
        assert self._root is not None
        return self._root / self.names[node - 1]

    def _cluster_flag(self, nodes: Iterable[int]) -> str:
        return ",".join(f"{self.names[node - 1]}={self.peer_url(node)}" for node in nodes)

    def _launch(self, node: int) -> None:
        """Start `node`'s member with the flags it was configured with (on existing data etcd
        ignores the initial-cluster ones) and register it with the reaper."""
        if self._closed:
            raise RuntimeError("the cluster is closed")
        url = self.client_url(node)
        private_peer = f"http://127.0.0.1:{self._peer_ports[node]}"
        arguments = [
            self._binary,
            f"--name={self.names[node - 1]}",
            f"--data-dir={self._data_dir(node)}",
            f"--listen-client-urls={url}",
            f"--advertise-client-urls={url}",
            f"--listen-peer-urls={private_peer}",
            f"--initial-advertise-peer-urls={self.peer_url(node)}",
            f"--initial-cluster={self._initial_cluster[node]}",
            f"--initial-cluster-state={self._cluster_state[node]}",
            f"--initial-cluster-token={self._token}",
            f"--heartbeat-interval={self._heartbeat_ms}",
            f"--election-timeout={self._election_ms}",
            "--logger=zap",
            "--log-level=warn",
            *self._extra_flags,
        ]
        with open(self._logs / f"{self.names[node - 1]}.log", "ab") as log:
            process = subprocess.Popen(
                arguments, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._processes[node] = process
        self._paused.discard(node)
        self._tell_reaper(f"pid {process.pid}")
        self._proxies_or_fail().set_pid(node, process.pid)

    def _tell_reaper(self, line: str) -> None:
        reaper = self._reaper
        if reaper is None or reaper.stdin is None:
            return
        stdin: IO[bytes] = reaper.stdin
        try:
            stdin.write(f"{line}\n".encode())
            stdin.flush()
            if line == EXIT:
                stdin.close()
        except (OSError, ValueError):
            pass  # the reaper is gone; close() does its work anyway

    def _wait_serving(self, node: int, deadline: float) -> None:
        """Wait until `node` answers a (linearizable) read; a member that exits or stays silent
        past `deadline` is an error, with the end of its log."""
        while True:
            with self._lock:
                process = self._processes.get(node)
            if process is None or process.poll() is not None:
                code = None if process is None else process.returncode
                raise RuntimeError(f"etcd {self.names[node - 1]} exited ({code}): {self._log_tail(node)}")
            try:
                post_json(f"{self.client_url(node)}/v3/kv/range", {"key": HEALTH_KEY}, STATUS_TIMEOUT_S)
                return
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"etcd {self.names[node - 1]} did not answer within {self._startup_s} s: {self._log_tail(node)}"
                )
            time.sleep(0.05)

    def _log_tail(self, node: int) -> str:
        try:
            return (self._logs / f"{self.names[node - 1]}.log").read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def _learn_member_ids(self) -> None:
        answer = self._ask_cluster("cluster/member/list", {})
        nodes_by_name = {name: number for number, name in zip(self.node_ids, self.names, strict=True)}
        with self._lock:
            for member in answer.get("members", []):
                node = nodes_by_name.get(member.get("name", ""))
                if node is not None:
                    self._member_ids[node] = int(member["ID"])
            missing = [node for node in self.node_ids if node not in self._member_ids]
            if missing:
                raise RuntimeError(f"the member list names no member for nodes {missing}: {answer}")
            for node, member_id in self._member_ids.items():
                self._proxies_or_fail().set_member(node, member_id)

    def _ask_cluster(
        self, path: str, body: dict[str, Any], exclude: int | None = None, patience_s: float = 0.0
    ) -> dict[str, Any]:
        """POST `/v3/<path>` to each running member but `exclude` in turn (a follower forwards
        to the leader) until one answers; its answer. Asks again for `patience_s` while only
        "unhealthy cluster" refusals come; raises RuntimeError when no member answers."""
        deadline = time.monotonic() + patience_s
        while True:
            with self._lock:
                running = [node for node in self.node_ids if node in self._processes and node not in self._paused]
            errors: list[str] = []
            unhealthy = False
            for node in (node for node in running if node != exclude):
                try:
                    return post_json(f"{self.client_url(node)}/v3/{path}", body, 5.0)
                except urllib.error.HTTPError as error:
                    text = error.read()[:300].decode(errors="replace")
                    unhealthy = unhealthy or "unhealthy cluster" in text
                    errors.append(f"n{node}: HTTP {error.code} {text}")
                except (OSError, ValueError) as error:
                    errors.append(f"n{node}: {error}")
            if not unhealthy or time.monotonic() > deadline:
                raise RuntimeError(f"no member answered /v3/{path}: {'; '.join(errors) or 'none runs'}")
            time.sleep(0.2)

    def _status_of(self, node: int) -> dict[str, Any] | None:
        try:
            return post_json(f"{self.client_url(node)}/v3/maintenance/status", {}, STATUS_TIMEOUT_S)
        except (OSError, ValueError):
            return None


def _python_path() -> str:
    """PYTHONPATH for the reaper: the directory holding `targets` first, whatever the cwd."""
    return os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))


def _signal(process: subprocess.Popen[bytes], sig: int) -> None:
    """Send `sig` unless the process has ended (and been waited for)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)


def _stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every process, then SIGKILL those still running after STOP_WAIT_S, or after
    LONE_WAIT_S when all but one have ended (see LONE_WAIT_S)."""
    for process in processes:
        _signal(process, signal.SIGTERM)
    started = time.monotonic()
    lone_since: float | None = None
    while True:
        running = [process for process in processes if process.poll() is None]
        now = time.monotonic()
        if len(running) == 1 and len(processes) > 1 and lone_since is None:
            lone_since = now
        if not running:
            return
        if now - started > STOP_WAIT_S or (lone_since is not None and now - lone_since > LONE_WAIT_S):
            for process in running:
                _signal(process, signal.SIGKILL)
                process.wait()
            return
        time.sleep(0.02)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGCONT, SIGTERM, then SIGKILL after STOP_WAIT_S."""
    _signal(process, signal.SIGCONT)
    _signal(process, signal.SIGTERM)
    try:
        process.wait(STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        _signal(process, signal.SIGKILL)
        process.wait()
