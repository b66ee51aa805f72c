"""Signal → broker submit, in process: risk gate + durable SQLite audit + simulated broker.

Anchor (SPEC §10): seed 002's target of < 150 ms average signal-to-order latency. Each sample
times `OrderGate.submit_signal` from call to return — qualification (cached after the first),
snapshot quote, sizing, every risk rule, the decision appended durably to a real SQLite audit
file (WAL, synchronous=FULL), the submit records, and `SimBroker.submit`. Prints p50/p99/mean and
the ratio to the anchor; never asserts times.

Run: `python bench/bench_signal.py [--signals N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

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

ANCHOR_MS = 150.0
START = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)


async def measure(signals: int, directory: Path) -> dict[str, float]:
    """Latency of `signals` alternating buy/sell market signals, in milliseconds."""
    stock = Stock("AAPL")
    clock = SimClock(START)
    engine = MatchingEngine(start=START, starting_cash=Decimal(10_000_000))
    engine.add_instrument(stock)
    broker = SimBroker(engine, clock)
    market = SimMarketData(clock, engine=engine)
    market.add_instrument(stock)
    broker.feed_tick(stock, Decimal(100))
    audit = await SqliteAuditLog.open(directory / "bench-audit.db")
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
    samples.sort()
    p50 = samples[len(samples) // 2]
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    mean = statistics.fmean(samples)
    return {
        "signals": float(signals),
        "p50_ms": p50,
        "p99_ms": p99,
        "mean_ms": mean,
        "anchor_mean_ms": ANCHOR_MS,
        "anchor_over_mean": ANCHOR_MS / mean,
    }


def run(signals: int = 2_000) -> dict[str, float]:
    """Measure and print the table."""
    with tempfile.TemporaryDirectory() as tmp:
        figures = asyncio.run(measure(signals, Path(tmp)))
    print(f"signal → broker submit, {signals:,} signals (gate + durable SQLite audit + sim)")
    print(
        f"  p50 {figures['p50_ms']:.3f} ms   p99 {figures['p99_ms']:.3f} ms   "
        f"mean {figures['mean_ms']:.3f} ms"
    )
    print(
        f"  anchor (seed 002): < {ANCHOR_MS:.0f} ms mean → "
        f"{figures['anchor_over_mean']:,.0f}x faster; SPEC target p50 <= 0.2 ms, p99 <= 1 ms"
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=2_000)
    figures = run(parser.parse_args().signals)
    headline = {
        "SQLite audit: p50": [figures["p50_ms"], "ms", "<= 0.2"],
        "SQLite audit: p99": [figures["p99_ms"], "ms", "<= 1"],
    }
    print("@figures " + json.dumps(headline))


if __name__ == "__main__":
    main()
