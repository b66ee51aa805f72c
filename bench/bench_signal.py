"""Signal → broker submit, in process: risk gate + durable SQLite audit + simulated broker.

Anchor (SPEC §10): seed 002's target of < 150 ms average signal-to-order latency. Each sample
times `OrderGate.submit_signal` from call to return — qualification (cached after the first),
snapshot quote, sizing, every risk rule, the decision appended durably to a real SQLite audit
file (WAL, synchronous=FULL), the submit records, and `SimBroker.submit`. Prints p50/p99/mean and
the ratio to the anchor; never asserts times. Beside it, in the same run: the same signals with
the in-memory audit log, and the anchor of the durable path — one raw single-row durable SQLite
commit (WAL, synchronous=FULL) on the same disk — measured in two halves alternating with the
gate paths.

Run: `python bench/bench_signal.py [--signals N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from ordergate.adapters.fakes.audit_log import InMemoryAuditLog
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.sim.broker import SimBroker
from ordergate.adapters.sim.clock import SimClock
from ordergate.adapters.sim.engine import MatchingEngine
from ordergate.adapters.sim.market_data import SimMarketData
from ordergate.adapters.sqlite.audit_log import SqliteAuditLog
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.domain.instruments import Stock
from ordergate.domain.risk.limits import RiskLimits
from ordergate.domain.signals import Signal
from ordergate.domain.values import Side, SignalId
from ordergate.ports.audit_log import AuditLog

ANCHOR_MS = 150.0
TARGET_OVER_RAW = 1.3
TARGET_P99_MS = 1.0
TARGET_MEMORY_P50_US = 80.0
START = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)


def raw_commit_latency(path: Path, samples: int) -> list[float]:
    """Milliseconds of one raw single-row durable SQLite commit (WAL, synchronous=FULL): the
    floor under one durable audit write, measured on the same disk in the same run."""
    body = b"x" * 400  # about one decision record's canonical body
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        out = []
        for n in range(samples):
            started = time.perf_counter_ns()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t VALUES (?, ?)", (n, body))
            conn.execute("COMMIT")
            out.append((time.perf_counter_ns() - started) / 1e6)
        return out


async def gate_latency(signals: int, audit: AuditLog) -> list[float]:
    """Milliseconds of `signals` alternating buy/sell market signals through the gate."""
    stock = Stock("AAPL")
    clock = SimClock(START)
    engine = MatchingEngine(start=START, starting_cash=Decimal(10_000_000))
    engine.add_instrument(stock)
    broker = SimBroker(engine, clock)
    market = SimMarketData(clock, engine=engine)
    market.add_instrument(stock)
    broker.feed_tick(stock, Decimal(100))
    limits = RiskLimits(max_submit_rate=1_000_000, max_open_orders=1_000_000)
    gate = OrderGate(
        Ports(broker, market, audit, clock, InMemoryPublisher()),
        GateOptions(operator_id="BENCH", limits=limits, starting_cash=Decimal(10_000_000)),
    )
    samples: list[float] = []
    async with gate:
        for n in range(signals):
            side = Side.BUY if n % 2 == 0 else Side.SELL
            signal = Signal(SignalId(f"B{n}"), stock, side, clock.now(), quantity=Decimal(1))
            started = time.perf_counter_ns()
            results = await gate.submit_signal(signal)
            samples.append((time.perf_counter_ns() - started) / 1e6)
            if not results[0].ok:
                raise RuntimeError(f"signal {n} was not sent: {results[0].reason}")
            await gate.settle()
    return samples


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": ordered[len(ordered) // 2],
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "mean_ms": statistics.fmean(ordered),
    }


async def measure(signals: int, directory: Path) -> dict[str, dict[str, float]]:
    """Every path, in halves alternating with the raw-commit anchor on the same disk."""
    raw: list[float] = []
    durable: list[float] = []
    memory: list[float] = []
    half = max(1, signals // 2)
    for round_number in range(2):
        raw += raw_commit_latency(directory / f"raw-{round_number}.db", half)
        log = await SqliteAuditLog.open(directory / f"bench-audit-{round_number}.db")
        durable += await gate_latency(half, log)
        memory += await gate_latency(half, InMemoryAuditLog())
    rows = {"raw": _summary(raw), "sqlite": _summary(durable), "memory": _summary(memory)}
    for row in rows.values():
        row["over_raw_p50"] = row["p50_ms"] / rows["raw"]["p50_ms"]
    rows["sqlite"]["anchor_over_mean"] = ANCHOR_MS / rows["sqlite"]["mean_ms"]
    return rows


LABELS = {
    "raw": "raw single-row durable SQLite commit (anchor, WAL + FULL, same disk)",
    "sqlite": "`OrderGate.submit_signal`, durable SQLite audit, sim broker",
    "memory": "`OrderGate.submit_signal`, in-memory audit, sim broker",
}
TARGETS = {
    "raw": "",
    "sqlite": f"p50 <= {TARGET_OVER_RAW}x raw commit, p99 <= {TARGET_P99_MS:.0f} ms",
    "memory": f"p50 <= {TARGET_MEMORY_P50_US:.0f} µs",
}


def run(signals: int = 2_000) -> dict[str, dict[str, float]]:
    """Measure and print the table."""
    with tempfile.TemporaryDirectory() as tmp:
        rows = asyncio.run(measure(signals, Path(tmp)))
    print(f"signal → broker submit in process, {signals:,} signals per path (two halves, "
          "alternating with the anchor)")
    print("| Path | p50 | p99 | mean | p50 / raw commit | target |")
    print("|---|---|---|---|---|---|")
    for key, label in LABELS.items():
        row = rows[key]
        print(f"| {label} | {row['p50_ms'] * 1000:,.0f} µs | {row['p99_ms'] * 1000:,.0f} µs | "
              f"{row['mean_ms'] * 1000:,.0f} µs | {row['over_raw_p50']:.2f}x | {TARGETS[key]} |")
    print(f"seed 002's anchor: < {ANCHOR_MS:.0f} ms mean → "
          f"{rows['sqlite']['anchor_over_mean']:,.0f}x faster on the durable path")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=2_000)
    rows = run(parser.parse_args().signals)
    headline = {
        "raw single-row durable commit p50 (anchor)": [rows["raw"]["p50_ms"] * 1000, "µs", ""],
        "durable SQLite: p50 / raw commit": [
            rows["sqlite"]["over_raw_p50"], "x", f"<= {TARGET_OVER_RAW}"
        ],
        "durable SQLite: p99": [rows["sqlite"]["p99_ms"], "ms", f"<= {TARGET_P99_MS:.0f}"],
        "in-memory audit: p50": [
            rows["memory"]["p50_ms"] * 1000, "µs", f"<= {TARGET_MEMORY_P50_US:.0f}"
        ],
    }
    print("@figures " + json.dumps(headline))


if __name__ == "__main__":
    main()
