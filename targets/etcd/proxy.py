"""Harness-owned TCP proxies between etcd members, so any directed link can be cut, slowed or
made lossy.

Each member listens for peers on a private port; the peer URL it advertises (and the one in
every member's `--initial-cluster`) is its proxy's port, so every connection between members
passes through one proxy, the one of the member dialed (the target). All members dial the same
advertised URL, so the proxy tells the dialer by the HTTP requests on the connection (or, when
they name none, by which member process holds the socket).

Facts of etcd 3.4's rafthttp (etcdserver/api/rafthttp) this relies on:

- Streams: the member that RECEIVES messages dials the sender: `GET /raft/stream/message/<id>`
  or `GET /raft/stream/msgapp/<id>`, `<id>` and the `X-Server-From` header being the dialer's
  member id in hex (`types.ID.String()`). The sender answers 200 and then writes the messages
  to the response body for as long as the stream lives. On a stream connection the messages
  flow target -> dialer (server -> client); the dialer sends only its request.
- Pipeline and snapshots: the SENDER posts messages, `POST /raft` or `POST /raft/snapshot`
  with `X-Server-From` (the dialer's id); the answer is a status only. Messages flow dialer ->
  target (client -> server). Go keeps such connections alive for later posts of the same
  member: a connection has one dialer whatever its requests.
- Anything else on the peer port names no sender: the prober's `GET /raft/probing`, and
  requests etcd's server makes through its peer URLs (`/members`, `/version`, lease renewals
  and time-to-live forwarded to the leader). Go keeps connections alive across requests and
  the probers share the pipeline's and the streams' transports, so a connection opened by a
  probe may carry posts or a stream later: every request on a connection is framed and read.

So the direction of a link's Raft messages on a connection is known from its latest request:
a cut a->b breaks streams dialed by b to a and posts dialed by a to b. In particular the
request that opens b's stream from a, and the status a returns to b's posts, still pass: TCP
needs both directions, and a cut that broke them would cut both ways. A connection with no
Raft messages (a probe, a lease renewal) is broken when the link from its dialer to its target
is cut: its requests are lost. The dialer of a connection whose requests name no sender is
found through /proc (which member process holds the socket); when even that fails, the
connection is forwarded unless every link into its target is cut. A connection whose dialer is
not known yet (the harness learns member ids once members serve) is forwarded.

Slow links delay every byte flowing in their direction, order kept; a lossy link breaks the
connection carrying a chunk of its messages with the given probability, since TCP cannot lose
one message and a broken connection is what a lossy link does to etcd's streams. Cutting a
link also breaks the connections already carrying its messages, as etcd's streams live long.

All proxies share one asyncio event loop in one daemon thread; the harness's calls run on that
loop and wait for it, so the link table and the connections are touched by one thread only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

CHUNK_BYTES = 65536
HEAD_LIMIT_BYTES = 65536
"""Request headers not complete within this many bytes are not HTTP as etcd speaks it: the
connection is forwarded as it is, without reading further requests."""
HEAD_TIMEOUT_S = 5.0
"""A dialer that says nothing within this is forwarded unclassified (HTTP clients speak first)."""
CALL_TIMEOUT_S = 10.0

STREAM = "stream"
"""A Raft stream: messages flow from the target to the dialer."""
POST = "post"
"""A pipeline or snapshot post: messages flow from the dialer to the target."""
OTHER = "other"
"""Anything else: no Raft messages."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Link:
    """The faults on one directed link a->b."""

    cut: bool = False
    delay_ms: int = 0
    loss: float = 0.0
    rng: random.Random | None = None

    @property
    def healthy(self) -> bool:
        return not self.cut and self.delay_ms == 0 and self.loss == 0.0


HEALTHY = Link()


@dataclass(frozen=True, slots=True)
class Head:
    """What a request on a connection says: its kind and the dialer's member id (hex), if named."""

    kind: str
    sender: str | None


def parse_head(head: bytes) -> Head:
    """The kind and sender of a request, from its request line and headers."""
    text = head.decode("latin-1")
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    method, path = (parts[0], parts[1]) if len(parts) >= 2 else ("", "")
    sender: str | None = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "x-server-from":
            sender = value.strip().lower() or None
    path = path.split("?", 1)[0]
    if method == "GET" and path.startswith("/raft/stream/"):
        if sender is None:
            sender = path.rstrip("/").rsplit("/", 1)[-1].lower() or None
        return Head(STREAM, sender)
    if method == "POST" and path in ("/raft", "/raft/snapshot"):
        return Head(POST, sender)
    return Head(OTHER, sender)


def socket_owner(client_port: int, server_port: int, pids: dict[int, int]) -> int | None:
    """The node (of `pids`: process id -> node) whose process holds the loopback TCP socket
    from `client_port` to `server_port`, found through /proc (the socket's inode in
    /proc/net/tcp, then the process with a descriptor on it); None when none does."""
    wanted = (f"0100007F:{client_port:04X}", f"0100007F:{server_port:04X}")
    inode = None
    try:
        with open("/proc/net/tcp") as table:
            next(table, None)
            for line in table:
                fields = line.split()
                if len(fields) > 9 and (fields[1], fields[2]) == wanted:
                    inode = fields[9]
                    break
    except OSError:
        return None
    if inode is None or inode == "0":
        return None
    target = f"socket:[{inode}]"
    for pid, node in pids.items():
        try:
            descriptors = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                if os.readlink(f"/proc/{pid}/fd/{descriptor}") == target:
                    return node
            except OSError:
                continue
    return None


class RequestFramer:
    """Finds each request's head in the bytes a dialer sends, however they are chunked.

    Go keeps a peer connection alive across requests, and one transport serves several kinds:
    etcd's pipeline transport also carries the prober's `GET /raft/probing`, its stream
    transport the stream prober's, so the first request on a connection does not say what the
    later ones carry. Bodies are skipped by their `Content-Length` or their chunked encoding
    (a snapshot's body has no length). Bytes it cannot frame make it give up: from then on it
    finds nothing, and the connection keeps the kind it had."""

    def __init__(self) -> None:
        self._buffer = b""
        self._body_left = 0
        self._chunked = False
        self._chunk_state = "size"
        self._lost = False

    def feed(self, data: bytes) -> list[Head]:
        """The heads of the requests that `data` completes."""
        if self._lost:
            return []
        self._buffer += data
        heads: list[Head] = []
        while self._buffer and not self._lost:
            if self._body_left:
                taken = min(self._body_left, len(self._buffer))
                self._buffer = self._buffer[taken:]
                self._body_left -= taken
                if self._body_left == 0 and self._chunked and self._chunk_state == "data":
                    self._chunk_state = "data-end"
                continue
            if self._chunked:
                if not self._step_chunked():
                    break
                continue
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > HEAD_LIMIT_BYTES:
                    self._lost = True
                break
            raw, self._buffer = self._buffer[: end + 4], self._buffer[end + 4 :]
            heads.append(parse_head(raw))
            self._start_body(raw)
        return heads

    def _start_body(self, raw: bytes) -> None:
        length = 0
        for line in raw.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                try:
                    length = int(value.strip())
                except ValueError:
                    self._lost = True
            elif name == "transfer-encoding" and "chunked" in value.lower():
                self._chunked = True
                self._chunk_state = "size"
        self._body_left = 0 if self._chunked else length

    def _step_chunked(self) -> bool:
        """One step through a chunked body; False when more bytes are needed."""
        end = self._buffer.find(b"\r\n")
        if end < 0:
            if len(self._buffer) > HEAD_LIMIT_BYTES:
                self._lost = True
            return False
        line, rest = self._buffer[:end], self._buffer[end + 2 :]
        if self._chunk_state == "data-end":  # the CRLF after a chunk's data
            self._buffer = rest
            self._chunk_state = "size"
        elif self._chunk_state == "size":
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self._lost = True
                return False
            self._buffer = rest
            if size == 0:
                self._chunk_state = "trailer"
            else:
                self._body_left = size
                self._chunk_state = "data"
        else:  # trailer lines until an empty one ends the body
            self._buffer = rest
            if not line:
                self._chunked = False
        return True


@dataclass(eq=False)
class _Connection:
    """One proxied connection: its target node, what its first request said, both sockets."""

    target: int
    downstream: asyncio.StreamWriter
    kind: str | None = None
    """The kind of the latest request the dialer sent (None: none yet)."""
    sender: str | None = None
    """The dialer's member id (hex), from the first request that named it."""
    owner: int | None = None
    """The dialer's node as /proc tells it, for connections whose requests name no sender."""
    framer: RequestFramer = field(default_factory=RequestFramer)
    upstream: asyncio.StreamWriter | None = None
    broken: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def heard(self, data: bytes) -> None:
        """Take in the heads of the requests `data` (from the dialer) completes."""
        for head in self.framer.feed(data):
            self.kind = head.kind
            if self.sender is None and head.sender is not None:
                self.sender = head.sender

    def abort(self) -> None:
        """Break both sides at once (a reset, not a polite close): a lost link is abrupt."""
        self.broken = True
        for writer in (self.downstream, self.upstream):
            if writer is not None:
                writer.transport.abort()

    def close(self) -> None:
        """Close both sides once what is buffered is written (a side ended the connection)."""
        for writer in (self.downstream, self.upstream):
            if writer is not None:
                writer.close()


class PeerProxies:
    """One TCP proxy per member on loopback, and the faults on the links between members."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="etcd-peer-proxies", daemon=True)
        self._servers: dict[int, asyncio.Server] = {}
        self._upstreams: dict[int, int] = {}
        self._nodes_by_id: dict[str, int] = {}
        self._pids: dict[int, int] = {}
        self._links: dict[tuple[int, int], Link] = {}
        self._connections: set[_Connection] = set()
        self._closed = False
        self._breaks = 0
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def _call(self, function: Callable[[], T]) -> T:
        """Run `function` on the proxies' loop and return what it returns."""

        async def call() -> T:
            return function()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(CALL_TIMEOUT_S)

    # ---- the harness's side ----

    def add(self, node: int, upstream_port: int) -> int:
        """Start `node`'s proxy on a free loopback port, forwarding to `upstream_port`; its port."""

        async def start() -> int:
            server = await asyncio.start_server(
                lambda reader, writer: self._serve(node, reader, writer), "127.0.0.1", 0, backlog=128
            )
            self._servers[node] = server
            self._upstreams[node] = upstream_port
            port: int = server.sockets[0].getsockname()[1]
            return port

        return asyncio.run_coroutine_threadsafe(start(), self._loop).result(CALL_TIMEOUT_S)

    def set_member(self, node: int, member_id: int) -> None:
        """`node` is etcd's member `member_id` (its connections are told by it from now on)."""

        def update() -> None:
            for hex_id, known in list(self._nodes_by_id.items()):
                if known == node:
                    del self._nodes_by_id[hex_id]
            self._nodes_by_id[format(member_id, "x")] = node
            self._enforce()

        self._call(update)

    def set_pid(self, node: int, pid: int) -> None:
        """`node`'s member runs as process `pid` (to tell the dialer of a connection whose
        requests name no sender)."""

        def update() -> None:
            for known, owner in list(self._pids.items()):
                if owner == node:
                    del self._pids[known]
            self._pids[pid] = node

        self._call(update)

    def forget_member(self, node: int) -> None:
        """`node` is no member any more (its old id names no node)."""

        def update() -> None:
            for hex_id, known in list(self._nodes_by_id.items()):
                if known == node:
                    del self._nodes_by_id[hex_id]

        self._call(update)

    def cut(self, links: Iterable[tuple[int, int]]) -> None:
        """Lose the Raft messages of each directed link (and break the connections carrying them)."""
        self._change(links, lambda link: Link(True, link.delay_ms, link.loss, link.rng))

    def slow(self, links: Iterable[tuple[int, int]], delay_ms: int) -> None:
        """Hold every byte flowing on each directed link `delay_ms` before forwarding it."""
        if delay_ms < 0:
            raise ValueError(f"delay_ms must be at least 0, not {delay_ms}")
        self._change(links, lambda link: Link(link.cut, delay_ms, link.loss, link.rng))

    def lossy(self, links: Iterable[tuple[int, int]], loss: float, rng: random.Random) -> None:
        """Break, with probability `loss` per chunk of Raft messages on each directed link, the
        connection carrying it; `rng` draws (on the proxies' thread only)."""
        if not 0.0 <= loss <= 1.0:
            raise ValueError(f"loss must be within 0..1, not {loss}")
        self._change(links, lambda link: Link(link.cut, link.delay_ms, loss, rng))

    def heal(self, links: Iterable[tuple[int, int]] | None = None) -> None:
        """Undo every fault on `links` (None: on every link)."""
        chosen = None if links is None else list(links)

        def update() -> None:
            if chosen is None:
                self._links.clear()
            else:
                for link in chosen:
                    self._links.pop(link, None)

        self._call(update)

    def breaks(self) -> int:
        """How many connections a cut or a loss has broken so far."""
        return self._call(lambda: self._breaks)

    def links(self) -> dict[tuple[int, int], Link]:
        """The links with a fault now."""
        return self._call(lambda: dict(self._links))

    def close(self) -> None:
        """Stop every proxy and break every connection; idempotent."""
        if self._closed:
            return
        self._closed = True

        async def stop() -> None:
            for server in self._servers.values():
                server.close()
            for connection in list(self._connections):
                connection.abort()
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(stop(), self._loop).result(CALL_TIMEOUT_S)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(CALL_TIMEOUT_S)
        if not self._thread.is_alive():
            self._loop.close()

    def _change(self, links: Iterable[tuple[int, int]], change: Callable[[Link], Link]) -> None:
        chosen = list(links)
        for a, b in chosen:
            if a == b:
                raise ValueError(f"a link joins two nodes, not {a} to itself")

        def update() -> None:
            for link in chosen:
                changed = change(self._links.get(link, HEALTHY))
                if changed.healthy:
                    self._links.pop(link, None)
                else:
                    self._links[link] = changed
            self._enforce()

        self._call(update)

    # ---- the loop's side ----

    def _link(self, a: int, b: int) -> Link:
        return self._links.get((a, b), HEALTHY)

    def _dialer(self, connection: _Connection) -> int | None:
        if connection.sender is None:
            return connection.owner
        return self._nodes_by_id.get(connection.sender, connection.owner)

    def _message_link(self, connection: _Connection) -> tuple[int, int] | None:
        """The directed link whose Raft messages `connection` carries, if it carries any."""
        dialer = self._dialer(connection)
        if dialer is None:
            return None
        if connection.kind == STREAM:
            return connection.target, dialer
        if connection.kind == POST:
            return dialer, connection.target
        return None

    def _severed(self, connection: _Connection) -> bool:
        """Whether a cut forbids `connection`: the link of its messages is cut, or (a connection
        without Raft messages) the link of its requests is, or (no dialer told) its target hears
        no node at all."""
        if not self._links or connection.kind is None:
            return False
        link = self._message_link(connection)
        if link is not None:
            return self._link(*link).cut
        dialer = self._dialer(connection)
        if dialer is not None:
            return self._link(dialer, connection.target).cut
        if not self._nodes_by_id:
            return False
        others = [node for node in self._servers if node != connection.target]
        return bool(others) and all(self._link(other, connection.target).cut for other in others)

    def _break(self, connection: _Connection) -> None:
        if not connection.broken:
            self._breaks += 1
        connection.abort()

    def _enforce(self) -> None:
        for connection in list(self._connections):
            if self._severed(connection):
                self._break(connection)

    async def _serve(self, target: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection(target, writer)
        self._connections.add(connection)
        try:
            head = await self._read_head(reader)
            connection.heard(head)
            if connection.sender is None and self._pids:
                peer = writer.get_extra_info("peername")
                local = writer.get_extra_info("sockname")
                if peer and local:
                    pids = dict(self._pids)
                    connection.owner = await self._loop.run_in_executor(
                        None, socket_owner, int(peer[1]), int(local[1]), pids
                    )
            if self._severed(connection):
                self._break(connection)
                return
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._upstreams[target])
            connection.upstream = up_writer
            if connection.broken:
                return
            forward = asyncio.create_task(self._pump(connection, reader, up_writer, head, True))
            backward = asyncio.create_task(self._pump(connection, up_reader, writer, b"", False))
            connection.tasks = [forward, backward]
            await asyncio.wait(connection.tasks, return_when=asyncio.FIRST_COMPLETED)
        except (OSError, asyncio.IncompleteReadError):
            connection.broken = True
        finally:
            self._connections.discard(connection)
            if connection.broken:
                connection.abort()
            else:
                connection.close()
            for task in connection.tasks:
                task.cancel()

    async def _read_head(self, reader: asyncio.StreamReader) -> bytes:
        """The bytes up to the end of the first request's headers (or what came before EOF, the
        size limit or the timeout)."""
        head = b""
        deadline = time.monotonic() + HEAD_TIMEOUT_S
        while b"\r\n\r\n" not in head and len(head) < HEAD_LIMIT_BYTES:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                chunk = await asyncio.wait_for(reader.read(CHUNK_BYTES), remaining)
            except TimeoutError:
                break
            if not chunk:
                break
            head += chunk
        return head

    async def _pump(
        self,
        connection: _Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        first: bytes,
        forward: bool,
    ) -> None:
        """Copy one direction of a connection (`forward`: dialer to target), each chunk held as
        long as its link's delay asks (stamped when it is read, so chunks keep their order and
        their spacing); a chunk of Raft messages on a cut link, or lost on a lossy one, breaks
        the connection."""
        held: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        def link() -> Link:
            dialer = self._dialer(connection)
            if dialer is None:
                return HEALTHY
            return self._link(dialer, connection.target) if forward else self._link(connection.target, dialer)

        async def deliver() -> None:
            while True:
                release, chunk = await held.get()
                if not chunk:
                    return
                wait = release - self._loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(chunk)
                await writer.drain()

        delivering = asyncio.create_task(deliver())
        try:
            chunk = first
            while True:
                if chunk:
                    if forward and chunk is not first:
                        connection.heard(chunk)
                    faults = link()
                    carries_messages = connection.kind == (POST if forward else STREAM)
                    if self._severed(connection) or (carries_messages and faults.loss and self._lost(faults)):
                        self._break(connection)
                        return
                    held.put_nowait((self._loop.time() + faults.delay_ms / 1000, chunk))
                if delivering.done():  # the other side is gone
                    connection.broken = True
                    return
                chunk = await reader.read(CHUNK_BYTES)
                if not chunk:
                    held.put_nowait((0.0, b""))
                    await delivering
                    return
        except (OSError, asyncio.IncompleteReadError):
            connection.broken = True
        finally:
            delivering.cancel()

    @staticmethod
    def _lost(faults: Link) -> bool:
        rng = faults.rng
        return rng is not None and rng.random() < faults.loss
