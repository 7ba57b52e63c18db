"""Random streams derived from (seed, component name).

Each component draws from its own stream, so adding a client does not change the network's
dice and deleting a fault does not reshuffle every later draw. The derivation uses sha256,
never `hash()`, so it is the same in every process whatever PYTHONHASHSEED says.
"""

from __future__ import annotations

import hashlib
import random


def stream(seed: int, name: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}\x00{name}".encode()).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))
