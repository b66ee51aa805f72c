"""Signal → order bytes on the wire → ack, over ib_async to the TWS gateway emulator.

SPEC §10: the anchor is a raw ib_async placeOrder round trip on the same emulator; target: our
path within 1.2× of it. The emulator (`GatewayServer` + `InstantEngine`) runs in this process on
127.0.0.1, so its own work is inside every round trip, raw or not. Every path sends a resting
BUY limit (1 AAPL at 180, the market is 190) and is timed until the broker acknowledged it; the
order is then cancelled, untimed.

The emulator's `InstantEngine` walks every order it ever held on each placeOrder and cancel, so
its round trip grows by about 1 µs per past order (0.9 ms → 3 ms over 2,000 orders here); that
drift would be added to every path alike and pull every ratio toward 1. So the emulator runs on a
`RenewableEngine`, which hands the server a fresh `InstantEngine` (same catalogue and prices,
perm ids continuing) between iterations, when no order is working.

Paths, measured interleaved (the order rotates every iteration) in one run:
1. anchor — raw `ib_async.IB.placeOrder`, until its orderStatus `Submitted` arrives;
2. anchor for the same wire work as the gate — a raw snapshot quote (`reqTickersAsync`, until
   tickSnapshotEnd) and then the raw placeOrder, because `OrderGate` takes a fresh quote before
   deciding on every signal;
3. `OrderGate.submit_signal` (qualification cached after the first, snapshot quote over the wire
   through `IbkrMarketData`, sizing, every risk rule, audit records, `IbkrBroker.submit` until
   IB's ack) with the in-memory audit log — the pure software overhead;
4. the same with the SQLite audit log on a temporary file (WAL, synchronous=FULL);
5. the same as 3 with the quote served in process (`FakeMarketData`), isolating the gate and the
   IBKR adapter from the extra quote round trip.
Identical client settings on every connection: ib_async's request throttle is disabled
(`client.MaxRequests = 0`; by default it holds requests to 45/s, which a loop of orders exceeds
and would then measure the throttle), and the emulator's 50 messages/s pacing error is off. GC is
collected before and disabled during the timed loop, for every path alike. `IbkrBroker` takes
IB's `openOrder` as the ack (the emulator sends it just before the `Submitted` orderStatus, in
the same write burst); the raw anchor waits for the orderStatus, as the SPEC's anchor says.

Run: `.venv/bin/python bench/bench_wire.py [--iterations N] [--warmup W] [--quick]`. Prints a
table and returns the figures from `run()`. Never used as a timed test.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from ib_async import IB, Contract, LimitOrder, Trade
from ib_async import Stock as IbStock

from ordergate.adapters.fakes.audit_log import InMemoryAuditLog
from ordergate.adapters.fakes.market_data import FakeMarketData
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.gateway_sim import GatewayServer, InstantEngine
from ordergate.adapters.ibkr import IbkrBroker, IbkrConfig, IbkrMarketData
from ordergate.adapters.sqlite.audit_log import SqliteAuditLog
from ordergate.adapters.system_clock import SystemClock
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.domain.instruments import Stock
from ordergate.domain.orders import OrderType, TimeInForce
from ordergate.domain.risk.limits import RiskLimits
from ordergate.domain.signals import Signal
from ordergate.domain.values import Side, SignalId
from ordergate.ports.audit_log import AuditLog
from ordergate.ports.market_data import MarketData

HOST = "127.0.0.1"
ACCOUNT = "DU1234567"
OPERATOR = "BENCH"
LIMIT = Decimal(180)
MARKET = Decimal(190)
STOCK = Stock("AAPL")
TARGET_RATIO = 1.2
TIMEOUT = 10.0
QUICK = (200, 50)

Sample = Callable[[int], Awaitable[int]]
"""One iteration of a path: the nanoseconds it took to the ack (cleanup after, untimed)."""


async def wait_status(trade: Trade, status: str) -> None:
    """Until ib_async reports `status` for `trade` (bounded)."""
    if trade.orderStatus.status == status:
        return
    reached: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_status(changed: Trade) -> None:
        if changed.orderStatus.status == status and not reached.done():
            reached.set_result(None)

    trade.statusEvent += on_status
    try:
        async with asyncio.timeout(TIMEOUT):
            await reached
    finally:
        trade.statusEvent -= on_status


class RenewableEngine:
    """A `GatewayEngine` that delegates to an `InstantEngine` and can swap in a fresh one."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[Any], None]] = []
        self._generation = 0
        self._inner = self._fresh()

    def _fresh(self) -> InstantEngine:
        # Perm ids continue across generations: clients key orders by them.
        engine = InstantEngine(
            accounts=(ACCOUNT,), first_perm_id=1_000_001 + self._generation * 1_000_000
        )
        engine.add_listener(self._emit)
        return engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)  # every other engine method is the current engine's

    def add_listener(self, listener: Callable[[Any], None]) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[Any], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _emit(self, event: Any) -> None:
        for listener in list(self._listeners):
            listener(event)

    def renew(self) -> None:
        """A fresh engine, unless an order is still working at this one."""
        if self._inner.open_orders():
            return
        self._inner.remove_listener(self._emit)
        self._generation += 1
        self._inner = self._fresh()


class RawClient:
    """Plain ib_async on its own connection: the anchors."""

    def __init__(self, ib: IB, contract: Contract) -> None:
        self.ib = ib
        self.contract = contract

    @classmethod
    async def connect(cls, port: int, client_id: int) -> RawClient:
        ib = IB()
        await ib.connectAsync(HOST, port, clientId=client_id, timeout=TIMEOUT)
        ib.client.MaxRequests = 0
        (contract,) = await ib.qualifyContractsAsync(IbStock("AAPL", "SMART", "USD"))
        if not isinstance(contract, Contract):
            raise RuntimeError(f"the emulator did not qualify AAPL: {contract!r}")
        return cls(ib, contract)

    async def place(self, _: int) -> int:
        """placeOrder → orderStatus Submitted."""
        order = LimitOrder("BUY", 1, float(LIMIT), tif="GTC")
        started = time.perf_counter_ns()
        trade = self.ib.placeOrder(self.contract, order)
        await wait_status(trade, "Submitted")
        elapsed = time.perf_counter_ns() - started
        await self._cancel(trade)
        return elapsed

    async def quote_and_place(self, _: int) -> int:
        """Snapshot quote (until tickSnapshotEnd), then placeOrder → orderStatus Submitted."""
        order = LimitOrder("BUY", 1, float(LIMIT), tif="GTC")
        started = time.perf_counter_ns()
        await asyncio.wait_for(self.ib.reqTickersAsync(self.contract), TIMEOUT)
        trade = self.ib.placeOrder(self.contract, order)
        await wait_status(trade, "Submitted")
        elapsed = time.perf_counter_ns() - started
        await self._cancel(trade)
        return elapsed

    async def _cancel(self, trade: Trade) -> None:
        self.ib.cancelOrder(trade.order)
        await wait_status(trade, "Cancelled")

    def close(self) -> None:
        self.ib.disconnect()


def unlimited() -> RiskLimits:
    """No count or rate limit a loop of orders can reach; every price rule stays on."""
    return RiskLimits(max_submit_rate=1_000_000, max_open_orders=1_000_000)


class GateClient:
    """An `OrderGate` on its own `IbkrBroker` connection: the measured paths."""

    def __init__(
        self, gate: OrderGate, clock: SystemClock, tag: str, quotes: FakeMarketData | None
    ) -> None:
        self.gate = gate
        self.clock = clock
        self.tag = tag
        self.quotes = quotes

    @classmethod
    async def open(
        cls, port: int, client_id: int, audit: AuditLog, *, wire_quotes: bool, tag: str
    ) -> GateClient:
        broker = IbkrBroker(
            IbkrConfig(operator_id=OPERATOR, host=HOST, port=port, client_id=client_id)
        )
        clock = SystemClock()
        quotes = None if wire_quotes else FakeMarketData(clock, [STOCK])
        market: MarketData = IbkrMarketData.from_broker(broker) if quotes is None else quotes
        gate = OrderGate(
            Ports(broker, market, audit, clock, InMemoryPublisher()),
            GateOptions(
                operator_id=OPERATOR, limits=unlimited(), starting_cash=Decimal(10_000_000)
            ),
        )
        await gate.start()
        broker.connection.ib.client.MaxRequests = 0  # the same client setting as the anchors
        return cls(gate, clock, tag, quotes)

    async def submit(self, n: int) -> int:
        """`submit_signal` → IB's ack; then cancel and let the event pump settle."""
        if self.quotes is not None:
            self.quotes.set_quote(
                STOCK, bid=MARKET - Decimal("0.01"), ask=MARKET + Decimal("0.01"), last=MARKET
            )
        signal = Signal(
            SignalId(f"{self.tag}{n}"),
            STOCK,
            Side.BUY,
            self.clock.now(),
            quantity=Decimal(1),
            order_type=OrderType.LIMIT,
            limit_price=LIMIT,
            time_in_force=TimeInForce.GTC,
        )
        started = time.perf_counter_ns()
        (result,) = await self.gate.submit_signal(signal)
        elapsed = time.perf_counter_ns() - started
        if not result.ok:
            raise RuntimeError(f"signal {signal.signal_id} was not sent: {result.reason}")
        cancelled = await self.gate.cancel(result.client_order_id)
        if not cancelled.ok and cancelled.status.value != "CANCELED":
            raise RuntimeError(f"cancel of {result.client_order_id}: {cancelled.reason}")
        await self.gate.settle()
        return elapsed

    async def close(self) -> None:
        await self.gate.stop()


async def interleave(
    paths: dict[str, Sample], engine: RenewableEngine, iterations: int, warmup: int
) -> dict[str, list[int]]:
    """Run every path once per iteration, rotating their order, on a fresh engine each time;
    keep the samples after warmup."""
    samples: dict[str, list[int]] = {name: [] for name in paths}
    names = list(paths)
    gc.collect()
    gc.disable()
    try:
        for n in range(warmup + iterations):
            engine.renew()
            shift = n % len(names)
            for name in names[shift:] + names[:shift]:
                elapsed = await paths[name](n)
                if n >= warmup:
                    samples[name].append(elapsed)
    finally:
        gc.enable()
    return samples


def summary(samples: list[int]) -> dict[str, float]:
    """p50, p99 and mean in milliseconds."""
    ordered = sorted(samples)
    return {
        "p50_ms": ordered[len(ordered) // 2] / 1e6,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1e6,
        "mean_ms": statistics.fmean(ordered) / 1e6,
    }


async def measure(iterations: int, warmup: int, directory: Path) -> dict[str, dict[str, float]]:
    """Start the emulator, connect every client, measure, and close everything."""
    engine = RenewableEngine()
    server = GatewayServer(engine, host=HOST, port=0, message_rate_limit=None)
    await server.start()
    opened: list[Any] = []
    try:
        raw = await RawClient.connect(server.port, client_id=10)
        opened.append(raw)
        memory = await GateClient.open(
            server.port, 1, InMemoryAuditLog(), wire_quotes=True, tag="M"
        )
        opened.append(memory)
        sqlite_audit = await SqliteAuditLog.open(directory / "bench-wire-audit.db")
        durable = await GateClient.open(server.port, 2, sqlite_audit, wire_quotes=True, tag="S")
        opened.append(durable)
        local = await GateClient.open(
            server.port, 3, InMemoryAuditLog(), wire_quotes=False, tag="L"
        )
        opened.append(local)
        samples = await interleave(
            {
                "raw_place": raw.place,
                "raw_quote_place": raw.quote_and_place,
                "gate_memory": memory.submit,
                "gate_sqlite": durable.submit,
                "gate_local_quote": local.submit,
            },
            engine,
            iterations,
            warmup,
        )
    finally:
        for client in reversed(opened):
            if isinstance(client, GateClient):
                await client.close()
            else:
                client.close()
        server.close()
        await server.wait_closed()
    rows = {name: summary(values) for name, values in samples.items()}
    for row in rows.values():
        row["over_raw_place"] = row["p50_ms"] / rows["raw_place"]["p50_ms"]
        row["over_raw_quote_place"] = row["p50_ms"] / rows["raw_quote_place"]["p50_ms"]
        row["iterations"] = float(iterations)
    return rows


LABELS = {
    "raw_place": "raw ib_async placeOrder → Submitted (anchor)",
    "raw_quote_place": "raw snapshot quote + placeOrder → Submitted (anchor, same wire work)",
    "gate_memory": "`OrderGate.submit_signal`, in-memory audit, quote over the wire",
    "gate_sqlite": "`OrderGate.submit_signal`, SQLite audit (temp file), quote over the wire",
    "gate_local_quote": "`OrderGate.submit_signal`, in-memory audit, quote in process",
}


def print_table(rows: dict[str, dict[str, float]], iterations: int, warmup: int) -> None:
    """The markdown table and the settings behind it."""
    print(
        f"signal → order on the wire → ack, ib_async to the in-process emulator: {iterations:,} "
        f"iterations per path after {warmup:,} warm-up, paths interleaved"
    )
    print("| Path | p50 | p99 | mean | p50 / raw placeOrder | p50 / raw quote + placeOrder |")
    print("|---|---|---|---|---|---|")
    for key, label in LABELS.items():
        row = rows[key]
        print(
            f"| {label} | {row['p50_ms']:.3f} ms | {row['p99_ms']:.3f} ms | "
            f"{row['mean_ms']:.3f} ms | {row['over_raw_place']:.2f}x | "
            f"{row['over_raw_quote_place']:.2f}x |"
        )
    print(
        f"target (SPEC §10): overhead <= {TARGET_RATIO}x raw. Every connection: ib_async "
        "request throttle disabled (client.MaxRequests = 0), emulator pacing error off; GC "
        "collected before and disabled during the timed loop, for every path alike."
    )


def run(iterations: int = 2_000, warmup: int = 200) -> dict[str, dict[str, float]]:
    """Measure and print the table."""
    loggers = [logging.getLogger(name) for name in ("ib_async", "ordergate")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:  # ib_async logs error 202 for every cancel
        logger.setLevel(logging.CRITICAL)
    try:
        with tempfile.TemporaryDirectory(prefix="ordergate-bench-") as tmp:
            rows = asyncio.run(measure(iterations, warmup, Path(tmp)))
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
    print_table(rows, iterations, warmup)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2_000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK[0]} iterations after {QUICK[1]} warm-up"
    )
    args = parser.parse_args()
    iterations, warmup = QUICK if args.quick else (args.iterations, args.warmup)
    emit_figures(run(iterations, warmup))


def emit_figures(rows: dict[str, dict[str, float]]) -> None:
    """The headline figures for `bench/run_all.py`, on one `@figures` line."""
    figures: dict[str, list[object]] = {
        "raw placeOrder p50 (anchor)": [rows["raw_place"]["p50_ms"], "ms", ""],
        "raw quote + placeOrder p50 (anchor)": [rows["raw_quote_place"]["p50_ms"], "ms", ""],
    }
    for key in ("gate_memory", "gate_sqlite", "gate_local_quote"):
        figures[f"{key}: p50 / raw quote + placeOrder"] = [
            rows[key]["over_raw_quote_place"], "x", f"<= {TARGET_RATIO}"
        ]
    figures["gate_local_quote: p50 / raw placeOrder"] = [
        rows["gate_local_quote"]["over_raw_place"], "x", f"<= {TARGET_RATIO}"
    ]
    print("@figures " + json.dumps(figures))


if __name__ == "__main__":
    main()
