"""Placement cost against the depth of the book: is a placement as cheap at 5,000 working orders
as at 10?

What is measured, on two paths: `OrderGate.submit_request` of one resting limit buy (every risk
rule, the in-memory audit, the sim broker's acceptance with its funds check), and the TWS gateway
emulator's `InstantEngine.place_order` of one (its funds check, and the transmit that activates
the client's held orders), each from call to return, while the number of orders already working
grows. At each depth the bench times `samples` placements
(each adds one more working order, so the depth moves by `samples` across them) and reports the
median; between depths it places the orders that bring the book to the next depth, untimed. The
anchor is the cost at the smallest depth, in the same run: the ratio at depth d is
`median(d) / median(smallest)` (target: <= 1.5 at 5,000). Every order rests (buy limits 1-9%
below a market that does not move), so nothing fills and the book only grows. GC is collected
before, and disabled during, every timed section alike.

Run: `python bench/bench_book_depth.py [--depths 10,100,1000,5000] [--samples N] [--quick]`.
Prints a table and returns the rows from `run()`. Never used as a timed test.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from ordergate.adapters.fakes.audit_log import InMemoryAuditLog
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.gateway_sim import InstantEngine
from ordergate.adapters.gateway_sim.engine_types import (
    ContractQuery,
    OrderKey,
    OrderSpec,
)
from ordergate.adapters.gateway_sim.engine_types import OrderType as WireType
from ordergate.adapters.sim.broker import SimBroker
from ordergate.adapters.sim.clock import SimClock
from ordergate.adapters.sim.engine import MatchingEngine
from ordergate.adapters.sim.market_data import SimMarketData
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.domain.instruments import Stock
from ordergate.domain.orders import OrderRequest, OrderType, TimeInForce
from ordergate.domain.risk.limits import RiskLimits
from ordergate.domain.values import ClientOrderId, Side

START = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)
STOCK = Stock("AAPL")
MARKET = Decimal(100)
CASH = Decimal(1_000_000_000)
DEPTHS = (10, 100, 1_000, 5_000)
QUICK_DEPTHS = (10, 100, 1_000)
TARGET_RATIO = 1.5
PRICE_STEPS = 800  # distinct limit prices: 91.00 .. 98.99


def resting_buy(n: int) -> OrderRequest:
    """The n-th resting buy: limit 91.00..98.99 (under the 10% collar, under the market), and a
    quantity that makes every (price, quantity) pair distinct (no duplicate-guard hit)."""
    price = Decimal(9100 + n % PRICE_STEPS) / 100
    return OrderRequest(
        ClientOrderId(f"DEPTH-{n:06d}"),
        STOCK,
        Side.BUY,
        Decimal(1 + n // PRICE_STEPS),
        OrderType.LIMIT,
        limit_price=price,
        time_in_force=TimeInForce.GTC,
    )


def wide_limits() -> RiskLimits:
    """Limits no order here reaches: every rule runs, none denies."""
    big = Decimal(10) ** 12
    return RiskLimits(
        max_order_quantity=big,
        max_order_notional=big,
        max_position=big,
        max_gross_notional=big,
        max_leverage=big,
        max_open_orders=10**9,
        max_submit_rate=10**9,
    )


async def measure(depths: Sequence[int], samples: int) -> dict[int, dict[str, float]]:
    """Median placement cost at each depth (working orders already in the book)."""
    clock = SimClock(START)
    engine = MatchingEngine(start=START, starting_cash=CASH)
    engine.add_instrument(STOCK)
    broker = SimBroker(engine, clock)
    market = SimMarketData(clock, engine=engine)
    market.add_instrument(STOCK)
    broker.feed_tick(STOCK, MARKET)
    gate = OrderGate(
        Ports(broker, market, InMemoryAuditLog(), clock, InMemoryPublisher()),
        GateOptions(operator_id="BENCH", limits=wide_limits(), starting_cash=CASH),
    )
    rows: dict[int, dict[str, float]] = {}
    placed = 0

    async def place() -> None:
        nonlocal placed
        result = await gate.submit_request(resting_buy(placed))
        placed += 1
        if not result.ok:
            raise RuntimeError(f"order {placed} was not placed: {result.reason}")

    async with gate:
        for depth in sorted(depths):
            while placed < depth:
                await place()
            await gate.settle()
            gc.collect()
            gc.disable()
            timings = []
            try:
                for _ in range(samples):
                    started = time.perf_counter_ns()
                    await place()
                    timings.append((time.perf_counter_ns() - started) / 1e3)
            finally:
                gc.enable()
            await gate.settle()
            working = sum(1 for _ in gate.portfolio.working_orders())
            rows[depth] = {
                "depth": float(depth),
                "p50_us": statistics.median(timings),
                "mean_us": statistics.fmean(timings),
                "working_after": float(working),
            }
    smallest = rows[min(rows)]["p50_us"]
    for row in rows.values():
        row["over_smallest"] = row["p50_us"] / smallest
    return rows


def measure_emulator(depths: Sequence[int], samples: int) -> dict[int, dict[str, float]]:
    """The same book growth on the gateway emulator's instant engine (one API client)."""
    engine = InstantEngine(starting_cash=CASH)
    contract = engine.qualify(ContractQuery(symbol=STOCK.symbol))[0]
    rows: dict[int, dict[str, float]] = {}
    placed = 0

    def place() -> None:
        nonlocal placed
        request = resting_buy(placed)
        placed += 1
        # 1-9% under the emulator's synthetic market (about 190), like the sim's orders
        price = ((request.limit_price or MARKET) * Decimal("1.9")).quantize(Decimal("0.01"))
        spec = OrderSpec(Side.BUY, request.quantity, WireType.LIMIT, limit_price=price,
                         tif=TimeInForce.GTC)
        engine.place_order(OrderKey(1, placed), contract, spec)

    for depth in sorted(depths):
        while placed < depth:
            place()
        gc.collect()
        gc.disable()
        timings = []
        try:
            for _ in range(samples):
                started = time.perf_counter_ns()
                place()
                timings.append((time.perf_counter_ns() - started) / 1e3)
        finally:
            gc.enable()
        rows[depth] = {
            "depth": float(depth),
            "p50_us": statistics.median(timings),
            "mean_us": statistics.fmean(timings),
            "working_after": float(len(engine.open_orders())),
        }
    smallest = rows[min(rows)]["p50_us"]
    for row in rows.values():
        row["over_smallest"] = row["p50_us"] / smallest
    return rows


def print_table(rows: dict[int, dict[str, float]], samples: int) -> None:
    """The markdown table and the target."""
    smallest = min(rows)
    print(
        f"placement cost (`OrderGate.submit_request` of a resting limit buy: every risk rule, "
        f"in-memory audit, sim broker) against the working orders already in the book; "
        f"median of {samples} placements at each depth"
    )
    print_rows(rows)
    print(f"target: <= {TARGET_RATIO}x at 5,000 working orders (anchor: the cost at {smallest}).")


def print_rows(rows: dict[int, dict[str, float]]) -> None:
    """One markdown table of placement cost by depth."""
    smallest = min(rows)
    print(f"| Working orders | p50 | mean | p50 / p50 at {smallest} |")
    print("|---|---|---|---|")
    for depth, row in rows.items():
        print(
            f"| {depth:,} | {row['p50_us']:,.1f} µs | {row['mean_us']:,.1f} µs | "
            f"{row['over_smallest']:.2f}x |"
        )


def run(
    depths: Sequence[int] = DEPTHS, samples: int = 200
) -> dict[str, dict[int, dict[str, float]]]:
    """Measure both paths and print their tables."""
    rows = asyncio.run(measure(depths, samples))
    print_table(rows, samples)
    emulator = measure_emulator(depths, samples)
    print()
    print(
        f"the same on the gateway emulator (`InstantEngine.place_order` of a resting limit buy: "
        f"funds check, transmit), median of {samples} placements at each depth"
    )
    print_rows(emulator)
    return {"gate_sim": rows, "emulator": emulator}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", default=",".join(str(d) for d in DEPTHS))
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="depths up to 1,000, 50 samples")
    args = parser.parse_args()
    depths = QUICK_DEPTHS if args.quick else [int(d) for d in args.depths.split(",") if d]
    paths = run(depths, 50 if args.quick else args.samples)
    figures: dict[str, list[object]] = {}
    for path, rows in paths.items():
        smallest = min(rows)
        figures[f"{path}: placement p50 at {smallest} working (anchor)"] = [
            rows[smallest]["p50_us"], "µs", ""
        ]
        for depth, row in rows.items():
            if depth != smallest:
                target = f"<= {TARGET_RATIO}" if depth >= 5_000 else ""
                figures[f"{path}: placement p50 at {depth:,} working / at {smallest}"] = [
                    row["over_smallest"], "x", target
                ]
    print("@figures " + json.dumps(figures))


if __name__ == "__main__":
    main()
