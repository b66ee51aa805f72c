"""Two processes appending to one SQLite audit file keep one gapless, verifiable chain.

Each writer chains a batch onto the head it committed last; when the other process has taken the
next sequence since, the INSERT fails and the batch is chained again inside `BEGIN IMMEDIATE` on
the head read there, so SQLite's write lock orders the processes' batches.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from ordergate.adapters.sqlite import SqliteAuditLog

CHILD = """
import asyncio, sys
from datetime import UTC, datetime
from ordergate.adapters.sqlite import SqliteAuditLog
from ordergate.domain.audit import AuditRecord

async def main(path, tag, count):
    log = await SqliteAuditLog.open(path)
    try:
        await asyncio.gather(*(
            log.append(AuditRecord("multi", datetime.now(UTC), {"tag": tag, "i": i}))
            for i in range(count)
        ))
    finally:
        await log.close()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


async def chain_of(path: Path) -> tuple[bool, list[int], dict[str, int]]:
    log = await SqliteAuditLog.open(path)
    try:
        ok = (await log.verify()).ok
        entries = await log.query()
    finally:
        await log.close()
    tags: dict[str, int] = {}
    for entry in entries:
        tag = entry.record.payload["tag"]
        tags[tag] = tags.get(tag, 0) + 1
    return ok, [e.sequence for e in entries], tags


def test_two_processes_extend_one_gapless_chain(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    asyncio.run(chain_of(path))  # create the file before the writers race
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD, str(path), tag, "300"]) for tag in ("a", "b")
    ]
    assert [0, 0] == [child.wait(timeout=120) for child in children]
    ok, sequences, tags = asyncio.run(chain_of(path))
    assert ok
    assert list(range(1, 601)) == sequences
    assert {"a": 300, "b": 300} == tags
