"""Simulated replay benchmark: SMA(10/30) crossover over 200,000 seeded one-minute bars.

The same strategy runs on the same bars twice in this process:
1. through ordergate's sim broker — every bar is fed to `SimBroker` (matching engine + clock),
   and the strategy submits market orders as `ApprovedOrder`s through the `Broker` port and
   tracks its position from the fills the broker returns;
2. in backtrader (`bt.indicators.SMA`, `bt.indicators.CrossOver`, market orders).
It prints bars/s for both, the ratio, and whether the two produced the same trades (same bars,
sides, sizes and prices). Run: `.venv/bin/python bench/bench_replay.py [--bars N] [--seed S]`;
a benchmark runner can call `measure()` for the same figures.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from ordergate.adapters.sim.bars import SimBar
from ordergate.adapters.sim.broker import SimBroker
from ordergate.adapters.sim.clock import SimClock
from ordergate.adapters.sim.engine import MatchingEngine
from ordergate.adapters.sim.synthetic import SyntheticIntraday
from ordergate.domain.instruments import Stock
from ordergate.domain.orders import ExecutionFill, OrderRequest, OrderType
from ordergate.domain.risk.decision import ApprovedOrder, RiskDecision
from ordergate.domain.values import ClientOrderId, Side

FAST, SLOW, SIZE = 10, 30, 100
UNITS = 10_000  # price units per 1.00


@dataclass(frozen=True)
class Trade:
    """One execution, comparable across engines."""

    bar: int
    side: str
    size: int
    price: Decimal


@dataclass
class Result:
    """What one engine did and how fast."""

    name: str
    seconds: float
    bars: int
    trades: list[Trade]

    @property
    def bars_per_second(self) -> float:
        return self.bars / self.seconds


# -- ordergate ------------------------------------------------------------------------------------
async def run_sim(bars: list[SimBar], stock: Stock) -> Result:
    """The crossover strategy through the `Broker` port of the sim broker."""
    start = bars[0].ts
    clock = SimClock(start)
    engine = MatchingEngine(start=start, starting_cash=Decimal(100_000_000))
    engine.add_instrument(stock)
    broker = SimBroker(engine, clock)
    await broker.connect(timeout=1.0)
    index_of = {bar.ts: i for i, bar in enumerate(bars)}
    trades: list[Trade] = []
    closes: list[float] = []
    position = Decimal(0)
    nzd = 0.0
    ids = 0
    size = Decimal(SIZE)
    fsum = math.fsum

    async def send(side: Side, quantity: Decimal, now: datetime) -> None:
        nonlocal ids
        ids += 1
        cid = ClientOrderId(f"X{ids}")
        request = OrderRequest(cid, stock, side, quantity, OrderType.MARKET)
        approval = ApprovedOrder(request, RiskDecision(cid, True, now))
        await broker.submit(approval, timeout=1.0)

    began = time.perf_counter()
    for i, bar in enumerate(bars):
        for event in broker.feed_sim_bar(bar):
            if type(event) is ExecutionFill:
                position += event.signed_quantity
                trades.append(Trade(index_of[event.ts_event], event.side.value,
                                    int(event.quantity), event.price))
        closes.append(bar.close / UNITS)
        if i < SLOW - 1:
            continue
        fast = fsum(closes[i - FAST + 1 : i + 1]) / FAST
        slow = fsum(closes[i - SLOW + 1 : i + 1]) / SLOW
        diff = fast - slow
        if i >= SLOW:
            if not position:
                if nzd < 0.0 and fast > slow:
                    await send(Side.BUY, size, bar.end)
            elif nzd > 0.0 and fast < slow:
                await send(Side.SELL, position, bar.end)
        if diff or i == SLOW - 1:
            nzd = diff
    seconds = time.perf_counter() - began
    return Result("ordergate sim", seconds, len(bars), trades)


# -- backtrader -----------------------------------------------------------------------------------
def run_backtrader(bars: list[SimBar]) -> Result:
    """The same strategy in backtrader, fed from the same bars."""
    import backtrader as bt

    nums = [bt.date2num(bar.ts.replace(tzinfo=None)) for bar in bars]
    rows = [
        (nums[i], b.open / UNITS, b.high / UNITS, b.low / UNITS, b.close / UNITS, b.volume)
        for i, b in enumerate(bars)
    ]
    index_of = {num: i for i, num in enumerate(nums)}

    class ListFeed(bt.feed.DataBase):  # type: ignore[misc]
        def start(self) -> None:
            super().start()
            self._row = 0

        def _load(self) -> bool:
            if self._row >= len(rows):
                return False
            num, o, h, lo, c, v = rows[self._row]
            self._row += 1
            lines = self.lines
            lines.datetime[0] = num
            lines.open[0], lines.high[0], lines.low[0], lines.close[0] = o, h, lo, c
            lines.volume[0] = v
            lines.openinterest[0] = 0.0
            return True

    trades: list[Trade] = []

    class SmaCross(bt.Strategy):  # type: ignore[misc]
        def __init__(self) -> None:
            fast = bt.indicators.SMA(self.data.close, period=FAST)
            slow = bt.indicators.SMA(self.data.close, period=SLOW)
            self.cross = bt.indicators.CrossOver(fast, slow)

        def next(self) -> None:
            if not self.position:
                if self.cross[0] > 0:
                    self.buy(size=SIZE)
            elif self.cross[0] < 0:
                self.close()

        def notify_order(self, order: bt.Order) -> None:
            if order.status == order.Completed:
                side = "BUY" if order.isbuy() else "SELL"
                price = Decimal(repr(order.executed.price)).quantize(Decimal("0.0001"))
                trades.append(Trade(index_of[order.executed.dt], side,
                                    abs(int(order.executed.size)), price))

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(ListFeed())
    cerebro.addstrategy(SmaCross)
    cerebro.broker.setcash(100_000_000.0)
    began = time.perf_counter()
    cerebro.run()
    seconds = time.perf_counter() - began
    return Result("backtrader", seconds, len(bars), trades)


@dataclass(frozen=True)
class Figures:
    """Both engines' results on the same bars."""

    bars: int
    sim: Result
    backtrader: Result

    @property
    def ratio(self) -> float:
        return self.sim.bars_per_second / self.backtrader.bars_per_second

    @property
    def trades_agree(self) -> bool:
        return self.sim.trades == self.backtrader.trades


def measure(bar_count: int = 200_000, seed: int = 20240102) -> Figures:
    """Run both engines on the same seeded bars; the figures a benchmark table needs."""
    stock = Stock("SYN")
    bars = SyntheticIntraday(stock.id, seed, start=date(2024, 1, 2)).bars(bar_count)
    # The replay data lives for the whole run: keep it out of the cyclic GC's scans (both
    # engines benefit alike; neither allocates less because of it).
    gc.collect()
    gc.freeze()
    try:
        sim = asyncio.run(run_sim(bars, stock))
        reference = run_backtrader(bars)
    finally:
        gc.unfreeze()
    return Figures(len(bars), sim, reference)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=20240102)
    args = parser.parse_args()
    figures = measure(args.bars, args.seed)
    sim, reference = figures.sim, figures.backtrader
    print(f"replay of {figures.bars:,} seeded 1-minute bars, SMA({FAST}/{SLOW}) crossover "
          f"(run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    print(f"{'engine':<16}{'seconds':>10}{'bars/s':>14}{'trades':>9}")
    for result in (sim, reference):
        print(f"{result.name:<16}{result.seconds:>10.3f}{result.bars_per_second:>14,.0f}"
              f"{len(result.trades):>9}")
    print(f"ratio sim/backtrader: {figures.ratio:.1f}x; target >= 100,000 bars/s: "
          f"{'met' if sim.bars_per_second >= 100_000 else 'NOT met'}")
    print(f"trades agree: {'yes' if figures.trades_agree else 'NO'}")
    if not figures.trades_agree:
        for ours, theirs in zip(sim.trades, reference.trades, strict=False):
            if ours != theirs:
                print(f"  first difference: sim {ours} vs backtrader {theirs}")
                break
        print(f"  counts: sim {len(sim.trades)}, backtrader {len(reference.trades)}")


if __name__ == "__main__":
    main()
