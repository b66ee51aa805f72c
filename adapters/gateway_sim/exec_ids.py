"""Execution ids the way IB issues them: unique for good, across gateway restarts.

IB's execution ids look like `0000e0d5.6571a3b2.01.01` and are never reused, so a client may keep
the ids it has applied (ordergate seeds them from its audit log) and drop any id it meets again.
The emulator must never break that promise, not even when it is stopped and started again with
the same configuration: a restarted emulator that numbered its executions from 1 again would
have its new fills taken for old ones.

`ExecutionIds` issues `<instance>.<counter>.01.01`: `instance` is 16 hex digits fixed when the
emulator starts — the start time in microseconds and the process id, by default — and the
counter (8 hex digits) counts the executions of this instance. Two instances in one process
never share an instance part (the later one moves past every part already issued), and
instances in different processes differ by their start time and process id. `ExecutionIds.
seeded(seed)` gives the same ids on every run for tests that need determinism; it is the only
way to repeat ids and must not be used by an emulator that clients reconnect to after a restart.
"""

from __future__ import annotations

import os
import random
import threading
import time

__all__ = ["ExecutionIds"]

_MASK = (1 << 64) - 1
_issued: set[int] = set()  # instance parts handed out in this process (wall-clock sources)
_lock = threading.Lock()


class ExecutionIds:
    """A source of IB-style execution ids (see the module docstring)."""

    def __init__(self, instance: int | None = None) -> None:
        """`instance` fixes the instance part (tests); None derives a fresh one from the start
        time and the process id, distinct from every other one issued in this process."""
        if instance is None:
            instance = _fresh_instance()
        elif not 0 <= instance <= _MASK:
            raise ValueError(f"ExecutionIds.instance must be in [0, 2**64); got {instance}")
        self.instance = instance
        self._count = 0

    @classmethod
    def seeded(cls, seed: int) -> ExecutionIds:
        """The same ids for the same `seed`, every run (deterministic tests only)."""
        return cls(random.Random(f"ordergate-exec-ids-{seed}").getrandbits(64))

    def next(self) -> str:
        """The next execution id of this instance."""
        self._count += 1
        return f"{self.instance >> 32:08x}.{self.instance & 0xFFFFFFFF:08x}.{self._count:08x}.01"

    @property
    def issued(self) -> int:
        """How many ids this source has issued."""
        return self._count


def _fresh_instance() -> int:
    micros = time.time_ns() // 1_000
    candidate = ((micros << 12) | (os.getpid() & 0xFFF)) & _MASK
    with _lock:
        while candidate in _issued:
            candidate = (candidate + (1 << 12)) & _MASK  # one microsecond later, same process
        _issued.add(candidate)
    return candidate
