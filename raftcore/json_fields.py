"""Reading the fields of etcd's JSON requests and responses, shared by the data API
(`raftcore.etcd`) and the lease API (`raftcore.lease`), which etcd's gateway writes alike."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any


def integer(fields: Mapping[str, Any], name: str, where: str) -> int:
    """The integer field `name` (0 when absent); the gateway writes 64-bit integers as
    decimal strings, so one is read too. ValueError naming the field otherwise."""
    value = fields.get(name, 0)
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}.{name}: expected an integer, got {value!r}")
    return value
