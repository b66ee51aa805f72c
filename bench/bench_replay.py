"""Replay benchmark: SMA(10/30) crossover over 200,000 seeded one-minute bars, full stack.

The same strategy runs on the same bars in this process, in turn:
1. **through `OrderGate`** (the figure the target is about) — every bar is fed to the sim broker;
   the strategy turns each crossover into a `Signal` given to `OrderGate.submit_signal`, so every
   order passes the risk gate (every rule evaluated, with limits wide enough that none denies),
   is audited before the broker call, and every fill goes through the gate's event pump (audit
   record, portfolio, breakers, publisher) before the strategy reads its position from the
   gate's portfolio. Once with the in-memory audit log, once with the SQLite audit log (temporary
   file, WAL, synchronous=FULL: every decision durable before its broker call);
2. **broker only** (labelled as such: no gate, audit or portfolio) — `SimBroker.submit` with a
   test-minted approval (`mint_approval_for_tests`), the position tracked from the fills it returns;
3. backtrader in its default `Cerebro()` (`bt.indicators.SMA`, `bt.indicators.CrossOver`, market
   orders), the anchor.
It prints bars/s for each, the ratio to backtrader, and whether each produced the same trades as
backtrader (same bars, sides, sizes and prices). Run: `.venv/bin/python bench/bench_replay.py
[--bars N] [--seed S] [--nautilus-python PATH]`; a benchmark runner can call `measure()` for the
same figures.

The NautilusTrader 1.221 anchor (its Python-strategy backtest, `bench/nautilus_replay.py`) runs in
a subprocess with an interpreter of its own, as nautilus_trader is not a project dependency:
`python3 -m venv .nautilus-venv && .nautilus-venv/bin/pip install nautilus_trader==1.221.0`, then
pass `--nautilus-python .nautilus-venv/bin/python` (or set `ORDERGATE_NAUTILUS_PYTHON`). Its
timing is `BacktestEngine.run()` alone; it fills a market order on the bar that decided it, so
its trades are compared with backtrader's by decision (bar, side, size), not by price.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from ordergate.adapters.fakes.audit_log import InMemoryAuditLog
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.sim.bars import SimBar
from ordergate.adapters.sim.broker import SimBroker
from ordergate.adapters.sim.clock import SimClock
from ordergate.adapters.sim.engine import MatchingEngine
from ordergate.adapters.sim.market_data import SimMarketData
from ordergate.adapters.sim.synthetic import SyntheticIntraday
from ordergate.adapters.sqlite.audit_log import SqliteAuditLog
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.application.testing.approvals import mint_approval_for_tests
from ordergate.domain.instruments import Stock
from ordergate.domain.orders import ExecutionFill, OrderRequest, OrderType
from ordergate.domain.risk.breakers import BreakerConfig
from ordergate.domain.risk.limits import RiskLimits
from ordergate.domain.signals import Signal
from ordergate.domain.values import ClientOrderId, Side, SignalId
from ordergate.ports.audit_log import AuditLog

FAST, SLOW, SIZE = 10, 30, 100
UNITS = 10_000  # price units per 1.00
CASH = Decimal(100_000_000)
TARGET_MEMORY, TARGET_SQLITE, TARGET_RATIO = 100_000, 50_000, 4.0


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
class Crossover:
    """SMA(FAST) against SMA(SLOW) of the closes so far, as backtrader's `CrossOver` sees it:
    a cross is a change of sign from the last non-zero difference."""

    def __init__(self) -> None:
        self.closes: list[float] = []
        self.nzd = 0.0

    def step(self, close: float) -> int:
        """Feed a close: +1 on an upward cross, -1 on a downward one, else 0."""
        closes = self.closes
        closes.append(close)
        i = len(closes) - 1
        if i < SLOW - 1:
            return 0
        fast = math.fsum(closes[i - FAST + 1 : i + 1]) / FAST
        slow = math.fsum(closes[i - SLOW + 1 : i + 1]) / SLOW
        diff = fast - slow
        cross = 0
        if i >= SLOW:
            if self.nzd < 0.0 and fast > slow:
                cross = 1
            elif self.nzd > 0.0 and fast < slow:
                cross = -1
        if diff or i == SLOW - 1:
            self.nzd = diff
        return cross


def wide_limits() -> tuple[RiskLimits, BreakerConfig]:
    """Limits and breakers the strategy never reaches: every rule runs, none denies (a losing
    streak of one-minute crossovers would otherwise trip the breaker and stop the trades)."""
    big = Decimal(10) ** 12
    limits = RiskLimits(
        max_order_quantity=big,
        max_order_notional=big,
        max_position=big,
        max_gross_notional=big,
        max_leverage=big,
        max_open_orders=10**9,
        max_submit_rate=10**9,
        max_consecutive_losses=10**9,
    )
    return limits, BreakerConfig(max_consecutive_losses=10**9, max_consecutive_rejections=10**9)


async def run_gate(bars: Sequence[SimBar], stock: Stock, audit: AuditLog, name: str) -> Result:
    """The crossover strategy through `OrderGate`: gate, audit, portfolio, event pump."""
    start = bars[0].ts
    clock = SimClock(start)
    engine = MatchingEngine(start=start, starting_cash=CASH)
    engine.add_instrument(stock)
    broker = SimBroker(engine, clock)
    market = SimMarketData(clock, engine=engine)
    market.add_instrument(stock)
    limits, breakers = wide_limits()
    gate = OrderGate(
        Ports(broker, market, audit, clock, InMemoryPublisher()),
        GateOptions(operator_id="BENCH", limits=limits, breakers=breakers, starting_cash=CASH),
    )
    index_of = {bar.ts: i for i, bar in enumerate(bars)}
    trades: list[Trade] = []
    crossover = Crossover()
    size = Decimal(SIZE)
    portfolio = gate.portfolio
    async with gate:
        began = time.perf_counter()
        for i, bar in enumerate(bars):
            events = broker.feed_sim_bar(bar)
            if events:
                await gate.settle()  # the fills are in the portfolio before the strategy looks
                for event in events:
                    if type(event) is ExecutionFill:
                        trades.append(Trade(index_of[event.ts_event], event.side.value,
                                            int(event.quantity), event.price))
            cross = crossover.step(bar.close / UNITS)
            if not cross:
                continue
            position = portfolio.position_qty(stock.id)
            if not position and cross > 0:
                side, quantity = Side.BUY, size
            elif position and cross < 0:
                side, quantity = Side.SELL, position
            else:
                continue
            signal = Signal(SignalId(f"X{i}"), stock, side, bar.end, quantity=quantity)
            results = await gate.submit_signal(signal)
            if not results[0].ok:
                raise RuntimeError(f"bar {i}: the gate did not send the order: {results[0]}")
        await gate.settle()
        seconds = time.perf_counter() - began
    return Result(name, seconds, len(bars), trades)


async def run_sim(bars: list[SimBar], stock: Stock) -> Result:
    """The crossover strategy through the `Broker` port of the sim broker only (no gate)."""
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
        approval = mint_approval_for_tests(request, now)
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
    return Result("sim broker only", seconds, len(bars), trades)


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

    cerebro = bt.Cerebro()  # its default: the standard observers (broker, trades, buy/sell)
    cerebro.adddata(ListFeed())
    cerebro.addstrategy(SmaCross)
    cerebro.broker.setcash(100_000_000.0)
    began = time.perf_counter()
    cerebro.run()
    seconds = time.perf_counter() - began
    return Result("backtrader", seconds, len(bars), trades)


@dataclass(frozen=True)
class Figures:
    """Every engine's results on the same bars; `backtrader` is the anchor."""

    bars: int
    results: list[Result]
    backtrader: Result
    nautilus: Result | None = None

    def ratio(self, result: Result) -> float:
        return result.bars_per_second / self.backtrader.bars_per_second

    def agrees(self, result: Result) -> bool:
        return result.trades == self.backtrader.trades


async def run_ordergate(bars: list[SimBar], stock: Stock, directory: Path) -> list[Result]:
    """The full stack with each audit log, then the broker alone."""
    memory = await run_gate(bars, stock, InMemoryAuditLog(), "OrderGate + in-memory audit")
    sqlite_log = await SqliteAuditLog.open(directory / "replay-audit.db")
    durable = await run_gate(bars, stock, sqlite_log, "OrderGate + SQLite audit")
    return [memory, durable, await run_sim(bars, stock)]


def measure(
    bar_count: int = 200_000, seed: int = 20240102, nautilus_python: str | None = None
) -> Figures:
    """Run every engine on the same seeded bars; the figures a benchmark table needs."""
    stock = Stock("SYN")
    bars = SyntheticIntraday(stock.id, seed, start=date(2024, 1, 2)).bars(bar_count)
    # The replay data lives for the whole run: keep it out of the cyclic GC's scans (every
    # engine benefits alike; none allocates less because of it).
    gc.collect()
    gc.freeze()
    try:
        with tempfile.TemporaryDirectory(prefix="ordergate-bench-") as tmp:
            ours = asyncio.run(run_ordergate(bars, stock, Path(tmp)))
        reference = run_backtrader(bars)
    finally:
        gc.unfreeze()
    nautilus = None if nautilus_python is None else run_nautilus(bars, nautilus_python)
    return Figures(len(bars), ours, reference, nautilus)


def run_nautilus(bars: Sequence[SimBar], python: str) -> Result:
    """The same strategy as a NautilusTrader backtest, in `python`'s environment. Its trades are
    reported at the bar after the decision, where backtrader fills (see the module docstring)."""
    script = Path(__file__).with_name("nautilus_replay.py")
    with tempfile.TemporaryDirectory(prefix="ordergate-bench-") as tmp:
        data = Path(tmp) / "bars.json"

        def ns(moment: datetime) -> int:
            return int(moment.timestamp()) * 1_000_000_000

        data.write_text(json.dumps(
            [[ns(b.ts), ns(b.end), b.open, b.high, b.low, b.close, b.volume] for b in bars]
        ))
        done = subprocess.run([python, str(script), str(data)], capture_output=True,
                              text=True, check=False, timeout=3600)
    if done.returncode:
        raise RuntimeError(f"the NautilusTrader backtest failed:\n{done.stderr[-2000:]}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    trades = [Trade(index + 1, side, size, Decimal(0)) for index, side, size, _ in found["fills"]]
    return Result("NautilusTrader 1.221 (Python strategy)", found["seconds"], len(bars), trades)


def _same_decisions(ours: list[Trade], theirs: list[Trade]) -> bool:
    return [(t.bar, t.side, t.size) for t in ours] == [(t.bar, t.side, t.size) for t in theirs]


def _target(result: Result) -> str:
    if result.name.endswith("in-memory audit"):
        return f">= {TARGET_MEMORY:,} bars/s, >= {TARGET_RATIO:.0f}x backtrader"
    if result.name.endswith("SQLite audit"):
        return f">= {TARGET_SQLITE:,} bars/s, >= {TARGET_RATIO:.0f}x backtrader"
    return "(not the full stack: no target)"


def _agreement(figures: Figures, result: Result) -> str:
    if result is figures.backtrader:
        return "—"
    return "yes" if figures.agrees(result) else "NO"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=20240102)
    parser.add_argument(
        "--nautilus-python",
        default=os.environ.get("ORDERGATE_NAUTILUS_PYTHON"),
        help="an interpreter with nautilus_trader 1.221 installed (the NautilusTrader anchor)",
    )
    args = parser.parse_args()
    figures = measure(args.bars, args.seed, args.nautilus_python)
    reference = figures.backtrader
    print(f"replay of {figures.bars:,} seeded 1-minute bars, SMA({FAST}/{SLOW}) crossover "
          f"(run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    print("| Engine | Seconds | Bars/s | Trades | / backtrader | Same trades | Target |")
    print("|---|---|---|---|---|---|---|")
    for result in [*figures.results, reference]:
        anchor = result is reference
        print(f"| {result.name}{' (anchor, default `Cerebro()`)' if anchor else ''} | "
              f"{result.seconds:.3f} | {result.bars_per_second:,.0f} | {len(result.trades)} | "
              f"{figures.ratio(result):.2f}x | {_agreement(figures, result)} | "
              f"{'' if anchor else _target(result)} |")
    if figures.nautilus is not None:
        other = figures.nautilus
        same = "same decisions" if _same_decisions(other.trades, reference.trades) else "NO"
        print(f"| {other.name} (anchor) | {other.seconds:.3f} | {other.bars_per_second:,.0f} | "
              f"{len(other.trades)} | {figures.ratio(other):.2f}x | {same} |  |")
    else:
        print("| NautilusTrader 1.221 (anchor) | not run: no --nautilus-python / "
              "ORDERGATE_NAUTILUS_PYTHON | | | | | |")
    print("The OrderGate rows run every risk rule (limits too wide to deny), audit every decision "
          "before its broker call and pump every fill through the audit log and the portfolio; "
          "the broker-only row is the sim broker alone.")
    for result in figures.results:
        if not figures.agrees(result):
            for ours, theirs in zip(result.trades, reference.trades, strict=False):
                if ours != theirs:
                    print(f"  {result.name}: first difference {ours} vs backtrader {theirs}")
                    break
            print(f"  counts: {result.name} {len(result.trades)}, backtrader "
                  f"{len(reference.trades)}")
    headline: dict[str, list[object]] = {
        "backtrader (anchor)": [reference.bars_per_second, "bars/s", ""],
    }
    nautilus = figures.nautilus
    if nautilus is not None:
        headline["NautilusTrader 1.221 (anchor)"] = [nautilus.bars_per_second, "bars/s", ""]
    for result in figures.results:
        headline[f"{result.name}"] = [result.bars_per_second, "bars/s", _target(result)]
        headline[f"{result.name} / backtrader"] = [figures.ratio(result), "x", ""]
        if nautilus is not None:
            headline[f"{result.name} / NautilusTrader"] = [
                result.bars_per_second / nautilus.bars_per_second, "x", ""
            ]
    print("@figures " + json.dumps(headline))


if __name__ == "__main__":
    main()
