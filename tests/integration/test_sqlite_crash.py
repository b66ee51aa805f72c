"""SIGKILL in the middle of appends never corrupts the SQLite audit log (SPEC §11).

A child process appends from several tasks and prints each sequence once `append` returned;
the parent kills it at a random point, reopens the file and checks that the chain verifies and
that every acknowledged record is there (only the unacknowledged tail may be missing).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

from ordergate.adapters.sqlite import SqliteAuditLog

CHILD = """
import asyncio, sys
from datetime import UTC, datetime
from ordergate.adapters.sqlite import SqliteAuditLog
from ordergate.domain.audit import AuditRecord
from ordergate.domain.values import CorrelationId

async def main(path):
    log = await SqliteAuditLog.open(path)
    async def worker(w):
        i = 0
        while True:
            rec = AuditRecord("crash.test", datetime.now(UTC), {"w": w, "i": i},
                              CorrelationId(f"w{w}"))
            entry = await log.append(rec)
            sys.stdout.write(f"{entry.sequence}\\n")
            sys.stdout.flush()
            i += 1
    await asyncio.gather(*(worker(w) for w in range(8)))

asyncio.run(main(sys.argv[1]))
"""


def run_and_kill(path: Path, acked_before_kill: int) -> list[int]:
    """Run the child until it acknowledged `acked_before_kill` appends, SIGKILL it, and return
    every sequence it acknowledged (including lines flushed just before it died)."""
    acked: list[int] = []
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as child:
        assert child.stdout is not None
        assert child.stderr is not None
        while len(acked) < acked_before_kill:
            line = child.stdout.readline()
            if not line:
                raise AssertionError(f"child died early: {child.stderr.read().decode()}")
            acked.append(int(line))
        os.kill(child.pid, signal.SIGKILL)
        acked.extend(int(line) for line in child.stdout.read().split())
        assert -signal.SIGKILL == child.wait()
    return acked


async def stored_sequences(path: Path) -> tuple[bool, list[int]]:
    log = await SqliteAuditLog.open(path)
    try:
        result = await log.verify()
        return result.ok, [e.sequence for e in await log.query()]
    finally:
        await log.close()


def test_sigkill_mid_append_leaves_a_verifiable_log_with_every_acknowledged_record(
    tmp_path: Path,
) -> None:
    path = tmp_path / "crash.sqlite3"
    rng = random.Random(20240305)
    for _ in range(3):  # each round continues the chain the previous kill left behind
        acked = run_and_kill(path, rng.randint(20, 400))
        ok, stored = asyncio.run(stored_sequences(path))
        assert ok
        assert list(range(1, len(stored) + 1)) == stored
        assert set(acked) <= set(stored)
