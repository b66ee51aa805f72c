"""The SMA(10/30) crossover of `bench_replay.py` as a NautilusTrader backtest (Python strategy).

Runs in a virtual environment of its own with `nautilus_trader==1.221.0` (it is not a project
dependency): `bench_replay.py --nautilus-python PATH` writes the bars to a file and runs this
script with that interpreter. Input: a JSON file of bars (`[start_ns, end_ns, open, high, low,
close, volume]`, prices in price units of 1/10,000). Output on stdout, one JSON object: the
seconds of `BacktestEngine.run()` and every fill as `[bar index, side, quantity, price]`.

Strategy: the same rule as backtrader's `CrossOver` of two `SMA`s — buy 100 when flat and the
fast average crosses above the slow one, sell the position when it crosses below (a cross is a
change of sign from the last non-zero difference) — with market orders on a cash account. The
averages are `math.fsum` over the window, as backtrader's `SMA` sums: NautilusTrader's running-sum
`SimpleMovingAverage` rounds differently, and on cent prices two equal averages then differ by
1e-14 and cross where backtrader sees no cross.
NautilusTrader fills a market order at the bar it was decided on (its close, the last price the
matching engine saw), where backtrader fills at the next bar's open: the decisions (bars, sides,
sizes) are comparable, the fill prices are not.
"""

from __future__ import annotations

import json
import math
import sys
import time
from decimal import Decimal

from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig, StrategyConfig
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.identifiers import InstrumentId, TraderId, Venue
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.test_kit.providers import TestInstrumentProvider
from nautilus_trader.trading.strategy import Strategy

FAST, SLOW, SIZE = 10, 30, 100
UNITS = 10_000


class CrossConfig(StrategyConfig, frozen=True):
    instrument_id: InstrumentId
    bar_type: BarType


class SmaCross(Strategy):
    def __init__(self, config: CrossConfig) -> None:
        super().__init__(config)
        self.closes: list[float] = []
        self.last_diff = 0.0
        self.seen = 0
        self.fills: list[list[object]] = []
        self.decided_at: dict[str, int] = {}

    def on_start(self) -> None:
        self.subscribe_bars(self.config.bar_type)

    def on_bar(self, bar: Bar) -> None:
        index = self.seen
        self.seen += 1
        closes = self.closes
        closes.append(bar.close.as_double())
        if index < SLOW - 1:
            return
        fast = math.fsum(closes[index - FAST + 1 : index + 1]) / FAST
        slow = math.fsum(closes[index - SLOW + 1 : index + 1]) / SLOW
        diff = fast - slow
        crossed_up = index >= SLOW and self.last_diff < 0.0 and fast > slow
        crossed_down = index >= SLOW and self.last_diff > 0.0 and fast < slow
        if diff or index == SLOW - 1:
            self.last_diff = diff
        position = self.portfolio.net_position(self.config.instrument_id)
        if not position and crossed_up:
            self._send(OrderSide.BUY, Decimal(SIZE), index)
        elif position and crossed_down:
            self._send(OrderSide.SELL, Decimal(position), index)

    def _send(self, side: OrderSide, quantity: Decimal, index: int) -> None:
        order = self.order_factory.market(
            self.config.instrument_id, side, Quantity.from_str(str(int(quantity)))
        )
        self.decided_at[order.client_order_id.value] = index
        self.submit_order(order)

    def on_order_filled(self, event: OrderFilled) -> None:
        self.fills.append([
            self.decided_at[event.client_order_id.value],
            "BUY" if event.order_side == OrderSide.BUY else "SELL",
            int(event.last_qty.as_decimal()),
            str(event.last_px.as_decimal()),
        ])


def main() -> None:
    rows = json.loads(open(sys.argv[1], encoding="utf-8").read())  # noqa: SIM115
    instrument = TestInstrumentProvider.equity(symbol="SYN", venue="XNAS")
    bar_type = BarType.from_str(f"{instrument.id}-1-MINUTE-LAST-EXTERNAL")
    bars = [
        Bar(
            bar_type,
            Price.from_str(f"{o / UNITS:.2f}"),
            Price.from_str(f"{h / UNITS:.2f}"),
            Price.from_str(f"{lo / UNITS:.2f}"),
            Price.from_str(f"{c / UNITS:.2f}"),
            Quantity.from_int(v),
            end_ns,
            end_ns,
        )
        for _start_ns, end_ns, o, h, lo, c, v in rows
    ]
    engine = BacktestEngine(
        BacktestEngineConfig(
            trader_id=TraderId("BENCH-001"),
            logging=LoggingConfig(log_level="ERROR", bypass_logging=True),
        )
    )
    engine.add_venue(
        venue=Venue("XNAS"),
        oms_type=OmsType.NETTING,
        account_type=AccountType.CASH,
        base_currency=USD,
        starting_balances=[Money(100_000_000, USD)],
        bar_execution=True,
    )
    engine.add_instrument(instrument)
    engine.add_data(bars)
    strategy = SmaCross(CrossConfig(instrument_id=instrument.id, bar_type=bar_type))
    engine.add_strategy(strategy)
    started = time.perf_counter()
    engine.run()
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "bars": len(bars), "fills": strategy.fills}))
    engine.dispose()


if __name__ == "__main__":
    main()
