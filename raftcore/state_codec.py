"""The pieces of the key-value state machine's snapshot encoding: values, keys, responses.

A snapshot (`KVStore.snapshot_data`) is JSON, and what it holds must come back exactly,
type for type, since a restored replica must answer as one that applied the whole log.
JSON alone cannot do that here: the older operations store tuples (an `append`ed list)
and lists (a put of a JSON array) side by side, and `append` treats them differently; a
command's result may hold one of etcd's responses. So every value is written as JSON with
a small tag for what JSON would blur:

- None, booleans, integers, floats and strings: as themselves;
- a list `{"l": [...]}`, a tuple `{"t": [...]}`, an object `{"d": [[name, value], ...]}`
  (in the order the object holds, which is the order the log's bytes carry);
- a `KeyValue` `{"kv": [key, value, create_revision, mod_revision, version, lease]}`;
- one of etcd's responses `{"r": [kind, field, ...]}`, its fields in declaration order.

Decoding refuses anything else with a ValueError naming where it sits (`where`), one line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
from collections.abc import Iterator
from typing import Any

from raftcore.etcd import (
    CompactionResponse,
    DeleteRangeResponse,
    KeyValue,
    PutResponse,
    RangeResponse,
    TxnResponse,
)
from raftcore.lease import LEASE_RESPONSES

RESPONSE_TYPES: dict[str, type] = {
    "range": RangeResponse,
    "put": PutResponse,
    "delete": DeleteRangeResponse,
    "txn": TxnResponse,
    "compact": CompactionResponse,
    **LEASE_RESPONSES,
}
"""Every response a result may hold, by the contract's kind."""
_KINDS: dict[type, str] = {cls: kind for kind, cls in RESPONSE_TYPES.items()}
_RESPONSE_FIELDS: dict[type, tuple[dataclasses.Field[Any], ...]] = {
    cls: dataclasses.fields(cls) for cls in RESPONSE_TYPES.values()
}
_FIELD_ANNOTATIONS: dict[type, tuple[tuple[str, str], ...]] = {
    cls: tuple((field.name, str(field.type)) for field in fields) for cls, fields in _RESPONSE_FIELDS.items()
}
"""Each response's fields and their annotations (strings, as `from __future__ import
annotations` leaves them), which `_check_field` reads."""
_PLAIN_FIELDS: dict[str, type] = {"int": int, "bool": bool, "str": str}
_SCALARS = (str, int, float, bool, type(None))


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a snapshot is written or read: both
    build hundreds of thousands of objects that form no cycle (JSON lists, keys, changes,
    results), and the collector, started again and again by their count, would walk every
    one still alive to free nothing: half the time of a store of 50,000 revisions
    (`benchmarks/store_snapshot.py`). Objects are still freed as they are let go; the
    collector runs again, as it was, once the work ends or fails."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def fail(where: str, problem: str) -> ValueError:
    """The error for a malformed snapshot: one line, naming the field."""
    return ValueError(f"snapshot data: {where}: {problem}")


def shown(value: Any) -> str:
    """A short, one-line picture of an offending value for an error message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- Writing ---------------------------------------------------------------------------------


def encode_value(value: Any) -> Any:
    """`value` as tagged JSON (see the module docstring); TypeError for a type no state holds."""
    if type(value) in _SCALARS:
        return value
    if type(value) is tuple:
        return {"t": [encode_value(item) for item in value]}
    if type(value) is list:
        return {"l": [encode_value(item) for item in value]}
    if type(value) is dict:
        for name in value:
            if type(name) is not str:
                raise TypeError(f"a stored object's names are strings, not {name!r}")
        return {"d": [[name, encode_value(item)] for name, item in value.items()]}
    if type(value) is KeyValue:
        return {"kv": encode_kv(value)}
    kind = _KINDS.get(type(value))
    if kind is not None:
        fields = _RESPONSE_FIELDS[type(value)]
        return {"r": [kind, *(encode_value(getattr(value, field.name)) for field in fields)]}
    raise TypeError(f"no snapshot encoding for a {type(value).__name__}: {shown(value)}")


def encode_kv(kv: KeyValue) -> list[Any]:
    return [kv.key, encode_value(kv.value), kv.create_revision, kv.mod_revision, kv.version, kv.lease]


# --- Reading ---------------------------------------------------------------------------------


def integer(value: Any, where: str, minimum: int | None = None) -> int:
    if type(value) is not int:
        raise fail(where, f"expected an integer, got {shown(value)}")
    if minimum is not None and value < minimum:
        raise fail(where, f"expected at least {minimum}, got {value}")
    return value


def boolean(value: Any, where: str) -> bool:
    if type(value) is not bool:
        raise fail(where, f"expected true or false, got {shown(value)}")
    return value


def string(value: Any, where: str) -> str:
    if type(value) is not str:
        raise fail(where, f"expected a string, got {shown(value)}")
    return value


def array(value: Any, where: str, length: int | None = None) -> list[Any]:
    if type(value) is not list:
        raise fail(where, f"expected a list, got {shown(value)}")
    if length is not None and len(value) != length:
        raise fail(where, f"expected {length} items, got {len(value)}")
    return value


def decode_value(data: Any, where: str) -> Any:
    """The value `encode_value` wrote; ValueError naming `where` if it is no such thing."""
    if type(data) in _SCALARS:
        return data
    if type(data) is not dict or len(data) != 1:
        raise fail(where, f"expected a scalar or an object of one tag (l, t, d, kv, r), got {shown(data)}")
    ((tag, body),) = data.items()
    if tag == "l":
        return [decode_value(item, f"{where}[{index}]") for index, item in enumerate(array(body, f"{where}.l"))]
    if tag == "t":
        return tuple(decode_value(item, f"{where}[{index}]") for index, item in enumerate(array(body, f"{where}.t")))
    if tag == "d":
        decoded: dict[str, Any] = {}
        for index, pair in enumerate(array(body, f"{where}.d")):
            name, item = array(pair, f"{where}.d[{index}]", 2)
            name = string(name, f"{where}.d[{index}][0]")
            if name in decoded:
                raise fail(f"{where}.d[{index}]", f"the name {name!r} appears twice")
            decoded[name] = decode_value(item, f"{where}[{name!r}]")
        return decoded
    if tag == "kv":
        return decode_kv(body, f"{where}.kv")
    if tag == "r":
        return _decode_response(body, f"{where}.r")
    raise fail(where, f"unknown tag {tag!r}; known: l, t, d, kv, r")


def decode_kv(data: Any, where: str) -> KeyValue:
    key, value, create, mod, version, lease = array(data, where, 6)
    return KeyValue(
        string(key, f"{where}.key"),
        decode_value(value, f"{where}.value"),
        integer(create, f"{where}.create_revision", 0),
        integer(mod, f"{where}.mod_revision", 0),
        integer(version, f"{where}.version", 0),
        integer(lease, f"{where}.lease", 0),
    )


def _decode_response(data: Any, where: str) -> Any:
    items = array(data, where)
    if not items or type(items[0]) is not str or items[0] not in RESPONSE_TYPES:
        raise fail(f"{where}[0]", f"expected a response kind ({', '.join(RESPONSE_TYPES)}), got {shown(items[:1])}")
    cls = RESPONSE_TYPES[items[0]]
    fields = _RESPONSE_FIELDS[cls]
    if len(items) != 1 + len(fields):
        raise fail(where, f"a {items[0]} response has {len(fields)} fields, got {len(items) - 1}")
    values = []
    for (name, annotation), item in zip(_FIELD_ANNOTATIONS[cls], items[1:], strict=True):
        if type(item) is _PLAIN_FIELDS.get(annotation) or (item is None and annotation == "KeyValue | None"):
            values.append(item)  # the common case, without building the field's name
            continue
        at = f"{where}.{name}"
        value = decode_value(item, at)
        _check_field(value, annotation, at)
        values.append(value)
    return cls(*values)


def _check_field(value: Any, annotation: str, where: str) -> None:
    """A response field's value against its annotation (written as a string, as
    `from __future__ import annotations` leaves it), so a bad one is refused here rather
    than met later by whoever reads the response."""
    if annotation == "int":
        integer(value, where)
    elif annotation == "bool":
        boolean(value, where)
    elif annotation == "str":
        string(value, where)
    elif annotation == "KeyValue | None":
        if value is not None and type(value) is not KeyValue:
            raise fail(where, f"expected a key or null, got {shown(value)}")
    elif annotation.startswith("tuple["):
        if type(value) is not tuple:
            raise fail(where, f"expected a tuple, got {shown(value)}")
        element = annotation[len("tuple[") : -len(", ...]")]
        for index, item in enumerate(value):
            _check_element(item, element, f"{where}[{index}]")
    else:
        raise AssertionError(f"a response field of a type the snapshot does not check: {annotation}")


def _check_element(value: Any, element: str, where: str) -> None:
    if element == "KeyValue" and type(value) is not KeyValue:
        raise fail(where, f"expected a key, got {shown(value)}")
    if element == "str":
        string(value, where)
    if element == "ResponseOp" and type(value) not in (RangeResponse, PutResponse, DeleteRangeResponse, TxnResponse):
        raise fail(where, f"expected a range, put, delete or txn response, got {shown(value)}")
