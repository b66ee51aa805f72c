"""The cost of metrics and logging on the signal → submit path, with and without, same run.

Each sample times `SignalService.handle` on one delivery — the risk gate, the in-memory audit
log, the simulated broker's submit, the ack — with the gate (a) bare (`NULL_METRICS`, the
signal logger off) and (b) recording `PrometheusMetrics` and writing the one-line-per-signal
log (JSON) to a stream, and (c) metrics with the log off, in four quarters alternating between
the three. Beside them, the cost of
one recording call measured alone: a decision record's `audit_appended` and one
`signal_handled` (the target is < 2 µs each). Never asserts a time.

Run: `python bench/bench_observability.py [--signals N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import statistics
import time
from datetime import UTC, datetime
from decimal import Decimal

from ordergate.adapters.fakes.audit_log import InMemoryAuditLog
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.fakes.signal_source import InMemorySignalSource
from ordergate.adapters.observability.metrics import PrometheusMetrics
from ordergate.adapters.serialization import decode_signal
from ordergate.adapters.sim.broker import SimBroker
from ordergate.adapters.sim.clock import SimClock
from ordergate.adapters.sim.engine import MatchingEngine
from ordergate.adapters.sim.market_data import SimMarketData
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.application.service import SignalService
from ordergate.domain.audit import AuditRecord
from ordergate.domain.instruments import Stock
from ordergate.domain.risk.limits import RiskLimits
from ordergate.domain.signals import Signal
from ordergate.domain.values import Side, SignalId
from ordergate.ports.metrics import NULL_METRICS, Metrics

START = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)
TARGET_CALL_US = 2.0


async def service_latency(signals: int, metrics: Metrics, tag: str) -> list[float]:
    """Microseconds of `SignalService.handle` for `signals` alternating buy/sell signals."""
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
        Ports(broker, market, InMemoryAuditLog(), clock, InMemoryPublisher(), metrics=metrics),
        GateOptions(operator_id="BENCH", limits=limits, starting_cash=Decimal(10_000_000)),
    )
    source = InMemorySignalSource(clock, visibility_timeout=30, decode=decode_signal)
    service = SignalService(gate, source, clock)
    samples: list[float] = []
    async with gate:
        for n in range(signals):
            side = Side.BUY if n % 2 == 0 else Side.SELL
            source.push(
                Signal(SignalId(f"{tag}{n}"), stock, side, clock.now(), quantity=Decimal(1))
            )
            (delivery,) = await source.receive(max_count=1, timeout=0.01)
            started = time.perf_counter_ns()
            await service.handle(delivery)
            samples.append((time.perf_counter_ns() - started) / 1000)
            await gate.settle()
    return samples


def call_cost(calls: int) -> dict[str, float]:
    """Microseconds per recording call, measured alone."""
    metrics = PrometheusMetrics()
    denied = AuditRecord(
        "risk.decision",
        START,
        {"approved": False, "denials": [{"code": "MAX_POSITION"}], "request": {}},
    )
    records = (denied,)
    started = time.perf_counter_ns()
    for _ in range(calls):
        metrics.audit_appended(records, 0.0001)
    appended = (time.perf_counter_ns() - started) / 1000 / calls
    started = time.perf_counter_ns()
    for _ in range(calls):
        metrics.signal_handled("approved", 0.0001)
    handled = (time.perf_counter_ns() - started) / 1000 / calls
    return {"audit_appended": appended, "signal_handled": handled}


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_us": ordered[len(ordered) // 2],
        "p99_us": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "mean_us": statistics.fmean(ordered),
    }


async def measure(signals: int) -> dict[str, dict[str, float]]:
    from ordergate.adapters.cli.logs import configure_logging

    bare: list[float] = []
    metered: list[float] = []
    observed: list[float] = []
    quarter = max(1, signals // 4)
    sink = io.StringIO()
    for q in range(4):
        configure_logging("WARNING", "json", stream=sink)
        bare += await service_latency(quarter, NULL_METRICS, f"b{q}-")
        metered += await service_latency(quarter, PrometheusMetrics(), f"m{q}-")
        configure_logging("INFO", "json", stream=sink)
        observed += await service_latency(quarter, PrometheusMetrics(), f"o{q}-")
    configure_logging("WARNING", "text")
    lines = sink.getvalue().count("\n")
    rows = {"bare": _summary(bare), "metered": _summary(metered), "observed": _summary(observed)}
    for key in ("metered", "observed"):
        rows[key]["over_bare_p50"] = rows[key]["p50_us"] / rows["bare"]["p50_us"]
    rows["observed"]["extra_p50_us"] = rows["observed"]["p50_us"] - rows["bare"]["p50_us"]
    rows["calls"] = call_cost(100_000)
    rows["calls"]["log_lines"] = float(lines)
    logging.getLogger().handlers.clear()
    return rows


def run(signals: int = 2_000) -> dict[str, dict[str, float]]:
    """Measure and print the table."""
    rows = asyncio.run(measure(signals))
    print(
        f"signal → submit (`SignalService.handle`, in-memory audit, sim broker), {signals:,} "
        "signals per path in four alternating quarters"
    )
    print("| Path | p50 | p99 | mean | p50 / bare |")
    print("|---|---|---|---|---|")
    for key, label in (
        ("bare", "no metrics, signal log off"),
        ("metered", "Prometheus metrics, signal log off"),
        ("observed", "Prometheus metrics + JSON signal log"),
    ):
        row = rows[key]
        ratio = row.get("over_bare_p50", 1.0)
        print(
            f"| {label} | {row['p50_us']:,.1f} µs | {row['p99_us']:,.1f} µs | "
            f"{row['mean_us']:,.1f} µs | {ratio:.3f}x |"
        )
    calls = rows["calls"]
    print(
        f"one `audit_appended` (a denied decision): {calls['audit_appended']:.2f} µs; "
        f"one `signal_handled`: {calls['signal_handled']:.2f} µs (target < {TARGET_CALL_US} µs "
        f"each); {calls['log_lines']:,.0f} log lines written"
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=2_000)
    rows = run(parser.parse_args().signals)
    headline = {
        "metrics only: p50 / bare": [rows["metered"]["over_bare_p50"], "x", ""],
        "metrics + logging: p50 / bare": [rows["observed"]["over_bare_p50"], "x", ""],
        "metrics + logging: extra p50": [rows["observed"]["extra_p50_us"], "µs", ""],
        "audit_appended per call": [rows["calls"]["audit_appended"], "µs", f"< {TARGET_CALL_US}"],
        "signal_handled per call": [rows["calls"]["signal_handled"], "µs", f"< {TARGET_CALL_US}"],
    }
    print("@figures " + json.dumps(headline))


if __name__ == "__main__":
    main()
