"""raftcore's requests performed on a real etcd 3.4 through its v3 JSON gateway.

A workload builds raftcore `Request`s and completes raftcore `Response`s; this module sits
between them and a real member, so workloads and generators run unchanged against etcd:
`perform` sends the request a workload built over HTTP (the standard library only) and
answers the `Response` raftcore's server would have given for the same store.

- The register operations: `get` is a range (with etcd's `serializable` flag when the
  request asks for it), `put` a put, `cas` a txn comparing the value (or, expecting
  absence, the create revision 0) then putting, its failure branch reading what the key
  holds, which a compare-failed answer carries as raftcore's does; `delete` a delete asking
  the previous value. `append` (the list-append workload) reads the list and puts it longer
  in a txn guarded by the revision read, again until no other write came in between. Values
  are stored as their JSON text (an integer as its decimal text) and read back from it.
- etcd's own kinds (range, put, delete, txn, compact, and the four lease requests) pass
  their JSON through: raftcore's contract JSON (plain strings, JSON integers) goes out as
  the gateway's (base64 bytes, int64 as decimal strings), and etcd's answer comes back as
  the contract's canonical JSON, as `raftcore.etcd.response_to_json` writes it.

What cannot be an answer is an `Outcome` of its own, for the caller to record: `unsent`
when nothing reached etcd (a refused connection: trying another member is safe), `unknown`
when the request may have taken effect (a timeout, a reset, a 5xx without one of etcd's
definite errors, after the request was sent), and `refused` for one of etcd's definite
errors that a non-etcd operation has no way to carry.
"""

from __future__ import annotations

import base64
import dataclasses
import http.client
import json
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from raftcore.etcd import (
    ERRORS,
    EtcdRequest,
    EtcdResponse,
    RangeRequest,
    RangeResponse,
    TxnRequest,
    TxnResponse,
    is_read_only,
    request_from_json,
    response_from_json,
    response_to_json,
)
from raftcore.kv import ETCD_OPERATIONS
from raftcore.server import Request, Response

_Answered = TypeVar("_Answered", bound=EtcdResponse)
COMPARE_FAILED = "compare-failed"
"""The error raftcore's server gives a cas whose compare did not hold (the register
workload's `COMPARE_FAILED`)."""
PATHS = {
    "range": "/v3/kv/range",
    "put": "/v3/kv/put",
    "delete": "/v3/kv/deleterange",
    "txn": "/v3/kv/txn",
    "compact": "/v3/kv/compaction",
    "lease-grant": "/v3/lease/grant",
    "lease-revoke": "/v3/kv/lease/revoke",
    "lease-keepalive": "/v3/lease/keepalive",
    "lease-timetolive": "/v3/kv/lease/timetolive",
}
"""The gateway's endpoint for each of the contract's kinds, as etcd 3.4 serves them (the
revoke and time-to-live endpoints also answer without `kv/`, the keep-alive one only there)."""
BYTE_FIELDS = ("key", "range_end", "value")
"""The gateway's base64 fields (proto `bytes`); the contract holds them as text."""
BYTE_LISTS = ("keys",)
"""Lists of bytes: the keys a lease's time-to-live lists."""
INTEGER_FIELDS = (
    "revision",
    "create_revision",
    "mod_revision",
    "version",
    "count",
    "deleted",
    "lease",
    "ID",
    "TTL",
    "grantedTTL",
)
"""The int64 fields of etcd's responses, which the gateway writes as decimal strings."""
DEFINITE_REFUSALS = ("etcdserver: too many requests",)
"""Errors etcd gives before proposing a request that are not in `raftcore.etcd.ERRORS`
(raftcore never gives them): the request had no effect, so it counts as unsent, and another
member may take it."""
APPEND_ROUNDS = 64
"""How often an append reads and tries its guarded write before it gives up as unknown."""


# --- The gateway's JSON ---------------------------------------------------------------------


def encode_bytes(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def decode_bytes(text: str) -> str:
    """A base64 field as text; keys and values written as UTF-8 text read back as they were."""
    return base64.b64decode(text).decode("utf-8", errors="surrogateescape")


def to_gateway(body: Any) -> Any:
    """The contract's JSON of a request as etcd's gateway reads it: bytes in base64, int64
    as decimal strings (booleans and enum names stay as they are)."""
    if isinstance(body, list):
        return [to_gateway(item) for item in body]
    if not isinstance(body, dict):
        return body
    converted: dict[str, Any] = {}
    for name, value in body.items():
        if name in BYTE_FIELDS and isinstance(value, str):
            converted[name] = encode_bytes(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            converted[name] = str(value)
        else:
            converted[name] = to_gateway(value)
    return converted


def from_gateway(body: Any) -> Any:
    """A gateway response in the contract's JSON: bytes decoded, int64 as integers, a header
    reduced to its revision (its cluster, member and term say nothing raftcore's does). Fields
    the gateway leaves out (proto3's defaults) stay out: the contract's readers take them as
    defaults."""
    if isinstance(body, list):
        return [from_gateway(item) for item in body]
    if not isinstance(body, dict):
        return body
    converted: dict[str, Any] = {}
    for name, value in body.items():
        if name == "header" and isinstance(value, dict):
            converted[name] = {"revision": int(value.get("revision", 0))}
        elif name in BYTE_FIELDS and isinstance(value, str):
            converted[name] = decode_bytes(value)
        elif name in BYTE_LISTS and isinstance(value, list):
            converted[name] = [decode_bytes(item) if isinstance(item, str) else item for item in value]
        elif name in INTEGER_FIELDS and isinstance(value, str):
            converted[name] = int(value)
        else:
            converted[name] = from_gateway(value)
    return converted


def answer_json(kind: str, request: Mapping[str, Any], body: Any) -> dict[str, Any]:
    """etcd's answer `body` (the gateway's JSON) to the contract's request `request` of
    `kind`, as the JSON raftcore's server answers for the same store. Read through the
    contract's reader, so absent fields become defaults and the writer puts them back; a
    key a keys-only range shows has no value (etcd leaves an empty value out either way,
    raftcore writes one only where the read asked for values)."""
    read = response_from_json(kind, from_gateway(body))
    return response_to_json(_keys_only_unmasked(request_from_json(kind, request), read))


def _keys_only_unmasked(request: EtcdRequest, response: _Answered) -> _Answered:
    if isinstance(request, RangeRequest) and isinstance(response, RangeResponse):
        if not request.keys_only:
            return response
        return dataclasses.replace(response, kvs=tuple(dataclasses.replace(kv, value=None) for kv in response.kvs))
    if isinstance(request, TxnRequest) and isinstance(response, TxnResponse):
        branch = request.success if response.succeeded else request.failure
        pairs = zip(branch, response.responses, strict=True)
        return dataclasses.replace(response, responses=tuple(_keys_only_unmasked(*pair) for pair in pairs))
    return response


def store_text(value: Any) -> str:
    """How a non-etcd operation's value is stored: its JSON text (an integer's decimal text)."""
    return json.dumps(value, separators=(",", ":"))


def stored_value(text: str) -> Any:
    """A stored value read back: JSON lists as tuples, as raftcore's store holds them; text
    that is no JSON (written by someone else) as it is."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return _tupled(value)


def _tupled(value: Any) -> Any:
    return tuple(_tupled(item) for item in value) if isinstance(value, list) else value


# --- HTTP -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one request to one member ended.

    - `answered`: `response` is etcd's definite answer as raftcore's server gives it (an
      etcd error in `ERRORS` or a compare that failed included);
    - `refused`: etcd refused it definitely, and the operation has no response to carry it
      (`error`); it had no effect;
    - `unsent`: nothing reached etcd (a refused connection): no effect, and another member
      may be asked;
    - `unknown`: it may or may not have taken effect (`error`; `timed_out` when no answer
      came in time).
    """

    status: str
    response: Response | None = None
    error: str | None = None
    timed_out: bool = False

    def __post_init__(self) -> None:
        assert self.status in ("answered", "refused", "unsent", "unknown"), self.status
        assert (self.response is not None) == (self.status == "answered"), self


class CallFailed(Exception):
    """A call that ended without one of etcd's answers: the outcome says how."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.error)
        self.outcome = outcome


@dataclass(frozen=True, slots=True)
class Reply:
    """etcd's answer: the JSON of a success, or the error message of a definite refusal."""

    body: dict[str, Any] | None
    error: str | None = None


def call(url: str, path: str, body: Mapping[str, Any], deadline: float) -> Reply:
    """POST `body` (the gateway's JSON) to `path` of the member at `url`, waiting until the
    monotonic `deadline`. Raises `CallFailed` unless etcd answered or refused definitely."""
    parsed = urllib.parse.urlsplit(url)
    assert parsed.scheme == "http" and parsed.hostname, url
    data = json.dumps(body, separators=(",", ":")).encode()
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise CallFailed(Outcome("unsent", error="timeout", timed_out=True))
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port or 80, timeout=remaining)
    try:
        try:
            connection.connect()
        except TimeoutError:
            raise CallFailed(Outcome("unsent", error="timeout", timed_out=True)) from None
        except OSError as error:  # refused, unreachable: nothing was sent
            raise CallFailed(Outcome("unsent", error=_os_error(error))) from None
        try:
            connection.request("POST", path, data, {"Content-Type": "application/json"})
            answer = connection.getresponse()
            status, text = answer.status, answer.read()
        except TimeoutError:
            raise CallFailed(Outcome("unknown", error="timeout", timed_out=True)) from None
        except (OSError, http.client.HTTPException) as error:
            raise CallFailed(Outcome("unknown", error=_os_error(error))) from None
    finally:
        connection.close()
    return _reply(status, text)


def _reply(status: int, text: bytes) -> Reply:
    try:
        # A streamed answer (a keep-alive) is a sequence of JSON objects: one was asked for.
        parsed = json.loads(text.split(b"\n", 1)[0] if status == 200 else text)
    except ValueError:
        parsed = None
    message = _error_message(parsed)
    if status == 200 and isinstance(parsed, dict) and message is None:
        return Reply(parsed)
    if message in ERRORS:
        return Reply(None, message)
    if message in DEFINITE_REFUSALS:
        raise CallFailed(Outcome("unsent", error=message))
    described = f"HTTP {status}" + (f": {message}" if message else "")
    raise CallFailed(Outcome("unknown", error=described))


def _error_message(parsed: Any) -> str | None:
    """The message of the gateway's error object (`{"error": ..., "message": ...}`, or in a
    stream `{"error": {"message": ...}}`), if `parsed` is one."""
    if not isinstance(parsed, dict) or "error" not in parsed:
        return None
    error = parsed["error"]
    if isinstance(error, dict):
        error = error.get("message")
    message = error or parsed.get("message")
    return str(message) if message else "error"


def _os_error(error: BaseException) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ConnectionResetError):
        return "connection reset"
    return type(error).__name__


# --- Requests -------------------------------------------------------------------------------


def resend_safe(request: Request) -> bool:
    """Whether sending `request` again, once it may have reached a member, can add no effect:
    reads only. etcd does not deduplicate requests as raftcore's store does by request id, so
    a write whose fate is unknown is never sent again."""
    if request.operation == "get" or request.operation == "etcd-lease-timetolive":
        return True
    if request.operation in ("etcd-range", "etcd-txn"):
        try:
            return is_read_only(request_from_json(ETCD_OPERATIONS[request.operation], request.value))
        except ValueError:
            return False
    return False


def perform(request: Request, url: str, node: int, timeout_s: float) -> Outcome:
    """Perform `request` on the member `node` at `url` within `timeout_s` seconds (the
    whole operation's, however many calls it takes)."""
    deadline = time.monotonic() + timeout_s
    answer = _Answers(request, node)
    try:
        if request.operation in ETCD_OPERATIONS:
            return _etcd(request, url, deadline, answer)
        if request.operation == "get":
            return _get(request, url, deadline, answer)
        if request.operation == "put":
            reply = call(url, PATHS["put"], _put(request.key, request.value), deadline)
            return answer.reply(reply, lambda body: request.value)
        if request.operation == "cas":
            return _cas(request, url, deadline, answer)
        if request.operation == "delete":
            body = {"key": encode_bytes(request.key), "prev_kv": True}
            reply = call(url, PATHS["delete"], body, deadline)
            return answer.reply(reply, lambda body: _first_value(body.get("prev_kvs", [])))
        if request.operation == "append":
            return _append(request, url, deadline, answer)
    except CallFailed as failed:
        return failed.outcome
    raise ValueError(f"no etcd request performs operation {request.operation!r}")


class _Answers:
    """Responses to one request, in raftcore's shape."""

    def __init__(self, request: Request, node: int) -> None:
        self._request = request
        self._node = node

    def response(self, succeeded: bool, value: Any, revision: int, error: str | None = None) -> Outcome:
        request = self._request
        response = Response(request.request_id, request.client, self._node, succeeded, value, revision, error)
        return Outcome("answered", response)

    def reply(self, reply: Reply, value: Any) -> Outcome:
        """A register operation's answer: `value(body)` of a success; an error refuses."""
        if reply.body is None:
            return Outcome("refused", error=reply.error)
        return self.response(True, value(reply.body), _revision(reply.body))


def _revision(body: Mapping[str, Any]) -> int:
    header = body.get("header", {})
    return int(header.get("revision", 0)) if isinstance(header, Mapping) else 0


def _first_value(kvs: list[Any]) -> Any:
    """The value of the first of the gateway's kvs, read back; None if there is none."""
    if not kvs:
        return None
    return stored_value(decode_bytes(kvs[0].get("value", "")))


def _put(key: str, value: Any) -> dict[str, Any]:
    return {"key": encode_bytes(key), "value": encode_bytes(store_text(value))}


def _etcd(request: Request, url: str, deadline: float, answer: _Answers) -> Outcome:
    kind = ETCD_OPERATIONS[request.operation]
    reply = call(url, PATHS[kind], to_gateway(request.value), deadline)
    if reply.body is None:
        assert reply.error is not None
        if reply.error not in ERRORS:
            return Outcome("refused", error=reply.error)
        # raftcore answers its store's revision with an error; etcd's error carries none.
        return answer.response(False, None, 0, reply.error)
    value = answer_json(kind, request.value, reply.body)
    revision = _contract_revision(value)
    return answer.response(True, value, revision)


def _contract_revision(value: Mapping[str, Any]) -> int:
    """The header's revision of the contract's JSON (a keep-alive's is inside `result`)."""
    inner = value.get("result", value)
    return _revision(inner) if isinstance(inner, Mapping) else 0


def _get(request: Request, url: str, deadline: float, answer: _Answers) -> Outcome:
    body: dict[str, Any] = {"key": encode_bytes(request.key)}
    if request.serializable:
        body["serializable"] = True
    reply = call(url, PATHS["range"], body, deadline)
    return answer.reply(reply, lambda body: _first_value(body.get("kvs", [])))


def _cas(request: Request, url: str, deadline: float, answer: _Answers) -> Outcome:
    """One txn: the compare raftcore's cas makes (the value equal to `expected`, or the key
    absent when that is None), the put on success, a read of what it holds on failure."""
    key = encode_bytes(request.key)
    if request.expected is None:
        guard = {"key": key, "target": "CREATE", "result": "EQUAL", "create_revision": "0"}
    else:
        guard = {"key": key, "target": "VALUE", "result": "EQUAL", "value": encode_bytes(store_text(request.expected))}
    body = {
        "compare": [guard],
        "success": [{"request_put": _put(request.key, request.value)}],
        "failure": [{"request_range": {"key": key}}],
    }
    reply = call(url, PATHS["txn"], body, deadline)
    if reply.body is None:
        return Outcome("refused", error=reply.error)
    revision = _revision(reply.body)
    if reply.body.get("succeeded", False):
        return answer.response(True, request.value, revision)
    responses = reply.body.get("responses", [])
    kvs = responses[0].get("response_range", {}).get("kvs", []) if responses else []
    return answer.response(False, _first_value(kvs), revision, COMPARE_FAILED)


def _append(request: Request, url: str, deadline: float, answer: _Answers) -> Outcome:
    """Read the list and write it one longer, guarded by the read's mod revision (or the key's
    absence); another write in between fails the guard, and the round starts again. Only the
    guarded write can take effect, so a read that gets no answer leaves the append unsent."""
    key = encode_bytes(request.key)
    for _ in range(APPEND_ROUNDS):
        try:
            read = call(url, PATHS["range"], {"key": key}, deadline)
        except CallFailed as failed:
            raise CallFailed(dataclasses.replace(failed.outcome, status="unsent")) from None
        if read.body is None:
            return Outcome("refused", error=read.error)
        kvs = read.body.get("kvs", [])
        held = _first_value(kvs)
        items = () if held is None else held if isinstance(held, tuple) else (held,)
        if kvs:
            guard = {"key": key, "target": "MOD", "result": "EQUAL", "mod_revision": str(kvs[0]["mod_revision"])}
        else:
            guard = {"key": key, "target": "CREATE", "result": "EQUAL", "create_revision": "0"}
        body = {"compare": [guard], "success": [{"request_put": _put(request.key, [*items, request.value])}]}
        written = call(url, PATHS["txn"], body, deadline)
        if written.body is None:
            return Outcome("refused", error=written.error)
        if written.body.get("succeeded", False):
            return answer.response(True, request.value, _revision(written.body))
    # Every round lost its guard: the append never took effect.
    return Outcome("unsent", error="contended")


def health(url: str, timeout_s: float = 1.0) -> bool:
    """Whether the member at `url` answers a (linearizable) range: it serves, and has a leader."""
    try:
        reply = call(url, PATHS["range"], {"key": encode_bytes("health")}, time.monotonic() + timeout_s)
    except CallFailed:
        return False
    return reply.body is not None
