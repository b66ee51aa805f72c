"""Audit log benchmark: durable, hash-chained appends with group commit, and verify of 1M records.

Measured in one run, each beside its anchor:
1. for each appender count C (64 and 256 by default):
   a. anchor — raw sqlite3, WAL + `synchronous=FULL`, the same table and indexes, rows inserted
      in transactions of C rows (what group commit at that concurrency can at best share);
   b. `SqliteAuditLog.append` awaited by C concurrent tasks, each in turn (canonical JSON,
      SHA-256 chain, one fsync per group), records/s and the ratio to the anchor;
2. `SqliteAuditLog.append_many` in 10,000-record transactions (bulk import path);
3. `verify()` over a 1,000,000-record file (built with `append_many`).
The rates are the median of `--repeat` runs (3 by default; the slowest and fastest are printed
too), each on a fresh file. SPEC §10 target: ≥ 100,000 appends/s (the issue asks ≥ 50,000/s) and
verify of 1M < 3 s.

Run: `.venv/bin/python bench/bench_audit.py [--records N] [--appenders 64,256] [--repeat R]
[--verify-records M]`. Prints a table and returns the figures as a dict from `run()`. Never used
as a timed test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ordergate.adapters.serialization import canonical_record_parts
from ordergate.adapters.sqlite import SqliteAuditLog
from ordergate.domain.audit import AuditRecord
from ordergate.domain.values import CorrelationId

KINDS = ("signal.received", "risk.decision", "broker.submit", "order.event")
T0 = datetime(2024, 3, 5, 14, 30, tzinfo=UTC)


def make_records(count: int) -> list[AuditRecord]:
    """Realistic records: four kinds, one correlation id per five records, ~150-byte payloads."""
    return [
        AuditRecord(
            kind=KINDS[i % 4],
            ts=T0 + timedelta(microseconds=37 * i),
            payload={
                "client_order_id": f"OG-{i // 5:08d}",
                "symbol": "AAPL",
                "side": "BUY" if i % 2 else "SELL",
                "quantity": "100",
                "price": f"{180 + (i % 1000) / 100:.2f}",
                "approved": True,
            },
            correlation_id=CorrelationId(f"corr-{(i // 5) * 7919 % 1_000_003:07d}"),
        )
        for i in range(count)
    ]


@contextlib.contextmanager
def workdir(base: str | None) -> Iterator[Path]:
    """A scratch directory, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="ordergate-bench-", dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def anchor_raw_sqlite(path: Path, records: list[AuditRecord], batch: int) -> float:
    """Records/s of plain batched inserts of the same rows (no chain, no asyncio)."""
    rows = []
    for seq, record in enumerate(records, start=1):
        body, ts = canonical_record_parts(record)
        cid = None if record.correlation_id is None else record.correlation_id.value
        rows.append((seq, ts, record.kind, cid, body, bytes(32), bytes(32)))
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(
            "CREATE TABLE audit_log (seq INTEGER PRIMARY KEY, ts TEXT NOT NULL, kind TEXT NOT NULL,"
            " correlation_id TEXT, body BLOB NOT NULL, prev_hash BLOB NOT NULL,"
            " hash BLOB NOT NULL)"
        )
        conn.execute("CREATE INDEX audit_log_by_ts ON audit_log (ts)")
        conn.execute("CREATE INDEX audit_log_by_kind ON audit_log (kind)")
        insert = "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?)"
        started = time.perf_counter()
        for start in range(0, len(rows), batch):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(insert, rows[start : start + batch])
            conn.execute("COMMIT")
        return len(rows) / (time.perf_counter() - started)


async def group_commit_appends(path: Path, records: list[AuditRecord], appenders: int) -> float:
    """Records/s of `appenders` tasks each awaiting `append` in turn."""
    log = await SqliteAuditLog.open(path)
    try:

        async def appender(first: int) -> None:
            for index in range(first, len(records), appenders):
                await log.append(records[index])

        started = time.perf_counter()
        await asyncio.gather(*(appender(k) for k in range(appenders)))
        elapsed = time.perf_counter() - started
        assert (await log.verify()).ok
    finally:
        await log.close()
    return len(records) / elapsed


async def bulk_appends(path: Path, records: list[AuditRecord], chunk: int = 10_000) -> float:
    """Records/s of `append_many` in `chunk`-record transactions."""
    log = await SqliteAuditLog.open(path)
    try:
        started = time.perf_counter()
        for start in range(0, len(records), chunk):
            await log.append_many(records[start : start + chunk])
        return len(records) / (time.perf_counter() - started)
    finally:
        await log.close()


async def verify_time(path: Path, count: int) -> tuple[float, float]:
    """(seconds to build a `count`-record file, seconds for `verify()` over it)."""
    log = await SqliteAuditLog.open(path)
    try:
        started = time.perf_counter()
        chunk = 20_000
        for start in range(0, count, chunk):
            await log.append_many(make_records(min(chunk, count - start)))
        built = time.perf_counter() - started
    finally:
        await log.close()
    log = await SqliteAuditLog.open(path)
    try:
        started = time.perf_counter()
        result = await log.verify()
        verified = time.perf_counter() - started
        assert result.ok, result
        assert result.checked == count, result
    finally:
        await log.close()
    return built, verified


def measured(measure: Callable[[Path], float], path: Path) -> float:
    """`measure` on a fresh file at `path`, which is removed afterwards."""
    try:
        return measure(path)
    finally:
        for leftover in (
            path,
            path.with_name(path.name + "-wal"),
            path.with_name(path.name + "-shm"),
        ):
            leftover.unlink(missing_ok=True)


def run(
    records: int = 64_000,
    appenders: Sequence[int] = (64, 256),
    verify_records: int = 1_000_000,
    base_dir: str | None = None,
    repeat: int = 3,
) -> dict[str, float]:
    """Run every measurement; print a table; return the figures (rates are medians)."""
    sample = make_records(records)
    figures: dict[str, float] = {"records": float(records), "repeat": float(repeat)}
    with workdir(base_dir) as tmp:
        for count in appenders:
            anchors: list[float] = []
            rates: list[float] = []
            for _ in range(repeat):  # alternating, so both see the machine alike
                anchors.append(
                    measured(lambda p, c=count: anchor_raw_sqlite(p, sample, c), tmp / "a.db")
                )
                rates.append(
                    measured(
                        lambda p, c=count: asyncio.run(group_commit_appends(p, sample, c)),
                        tmp / "g.db",
                    )
                )
            anchor = statistics.median(anchors)
            grouped = statistics.median(rates)
            figures |= {
                f"anchor_raw_sqlite_{count}_records_per_s": anchor,
                f"group_commit_{count}_appends_per_s": grouped,
                f"group_commit_{count}_min": min(rates),
                f"group_commit_{count}_max": max(rates),
                f"group_commit_{count}_vs_anchor": grouped / anchor,
            }
        bulk = statistics.median(
            measured(lambda p: asyncio.run(bulk_appends(p, sample)), tmp / "bulk.db")
            for _ in range(repeat)
        )
        built, verified = asyncio.run(verify_time(tmp / "verify.sqlite3", verify_records))
    figures |= {
        "bulk_append_many_records_per_s": bulk,
        "verify_records": float(verify_records),
        "verify_seconds": verified,
        "verify_records_per_s": verify_records / verified,
        "build_seconds": built,
    }
    print_table(figures, appenders)
    return figures


def print_table(f: dict[str, float], appenders: Sequence[int]) -> None:
    """The figures as a small text table."""
    rows: list[tuple[str, str, str]] = []
    for count in appenders:
        grouped = f[f"group_commit_{count}_appends_per_s"]
        rows += [
            (
                f"raw SQLite WAL+FULL, {count}-row txns (anchor)",
                f"{f[f'anchor_raw_sqlite_{count}_records_per_s']:,.0f} rec/s",
                "1.00x",
            ),
            (
                f"SqliteAuditLog.append, {count} concurrent",
                f"{grouped:,.0f} rec/s",
                f"{f[f'group_commit_{count}_vs_anchor']:.2f}x",
            ),
            (
                f"  slowest .. fastest of {int(f['repeat'])} runs",
                f"{f[f'group_commit_{count}_min']:,.0f} .. {f[f'group_commit_{count}_max']:,.0f}",
                "",
            ),
        ]
    rows += [
        (
            "SqliteAuditLog.append_many, 10k/txn",
            f"{f['bulk_append_many_records_per_s']:,.0f} rec/s",
            "",
        ),
        (
            f"verify() over {int(f['verify_records']):,} records",
            f"{f['verify_seconds']:.2f} s",
            f"{f['verify_records_per_s']:,.0f} rec/s",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    title = f"audit log benchmark (rates: median of {int(f['repeat'])} runs)"
    print(f"{title:<{width}}  {'figure':>18}  {'vs anchor':>10}")
    for name, figure, ratio in rows:
        print(f"{name:<{width}}  {figure:>18}  {ratio:>10}")
    print("targets: >= 100,000 appends/s (issue: >= 50,000); verify 1M < 3 s")


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=64_000)
    parser.add_argument(
        "--appenders",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[64, 256],
        help="concurrent appending tasks, comma-separated (default: 64,256)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per rate (median shown)")
    parser.add_argument("--verify-records", type=int, default=1_000_000)
    parser.add_argument("--dir", default=None, help="where scratch files go (default: TMPDIR)")
    args = parser.parse_args()
    figures = run(args.records, args.appenders, args.verify_records, args.dir, args.repeat)
    headline: dict[str, list[object]] = {}
    for count in args.appenders:
        headline[f"raw SQLite, {count}-row txns (anchor)"] = [
            figures[f"anchor_raw_sqlite_{count}_records_per_s"], "rec/s", ""
        ]
        headline[f"append, {count} concurrent"] = [
            figures[f"group_commit_{count}_appends_per_s"], "rec/s", ""
        ]
        headline[f"append, {count} concurrent / raw SQLite"] = [
            figures[f"group_commit_{count}_vs_anchor"], "x", ">= 0.8" if count == 64 else ""
        ]
    headline["verify rate"] = [figures["verify_records_per_s"], "rec/s", ""]
    print("@figures " + json.dumps(headline))


if __name__ == "__main__":
    main()
