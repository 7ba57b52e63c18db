"""A lone node's key-value server driven by hand, for the tests of etcd's requests (a lone
node commits what it writes once its Ready is advanced, and is its own quorum for reads)."""

from __future__ import annotations

import random

from raftcore.server import Acknowledgement, KVServer, Request, Response
from raftcore.types import Config, PersistedState, Role


def lone_leader(*bugs: str) -> KVServer:
    server = KVServer(Config(node_id=1, peers=(1,), bugs=frozenset(bugs)), PersistedState(), random.Random(1))
    for _ in range(30):
        server.node.tick()
    assert server.node.role is Role.LEADER
    settle(server)
    return server


def settle(server: KVServer) -> tuple[list[Response], list[Acknowledgement]]:
    """Run the node's Ready loop until it is idle, applying what commits (a lone node
    commits what it has written once `advance` returns)."""
    responses: list[Response] = []
    acknowledgements: list[Acknowledgement] = []
    while server.node.has_ready():
        ready = server.node.ready()
        answered, acknowledged = server.apply(ready.committed_entries)
        responses += answered
        responses += server.serve_reads(ready)
        acknowledgements += acknowledged
        server.node.advance(ready)
    return responses, acknowledgements


def ask(server: KVServer, request: Request) -> Response:
    assert server.submit(request) is None, "a leader answers writes once logged and reads once confirmed"
    (response,) = settle(server)[0]
    return response
