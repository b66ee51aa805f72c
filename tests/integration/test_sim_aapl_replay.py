"""Replay of the bundled real AAPL daily bars (Quandl WIKI, unadjusted) through the `SimBroker`,
with fills checked against expectations computed by hand from the bars below.

Daily bars are walked open → low → high → close when they close at or above the open, open →
high → low → close otherwise. Prices used (Open, High, Low, Close):

    2010-05-04  262.89  263.29  256.75  258.68
    2010-05-05  253.03  258.14  248.73  255.985   up day
    2010-05-06  253.83  258.25  199.25  246.25    down day (the "flash crash")
    2010-06-10  244.84  250.98  242.20  250.51
    2010-06-11  248.225 253.86  247.37  253.51    up day
    2010-06-14  255.96  259.15  254.01  254.28    down day
    2010-06-15  255.64  259.85  255.50  259.69    up day
    2010-06-16  261.10  267.75  260.6302 267.25   up day
    2010-06-17  270.60  272.90  269.50  271.87    up day
    2010-06-18  272.25  275.00  271.42  274.074   up day
    2010-06-21  277.69  279.01  268.73  270.17    down day
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ordergate.adapters.sim.bars import load_bundled_daily_bars
from ordergate.adapters.sim.broker import SimBroker, SimEventStream
from ordergate.adapters.sim.clock import SimClock
from ordergate.adapters.sim.engine import MatchingEngine
from ordergate.adapters.sim.replay import Replay
from ordergate.application.testing.approvals import mint_approval_for_tests
from ordergate.domain.instruments import NEW_YORK, Stock
from ordergate.domain.orders import (
    ExecutionFill,
    OrderEventKind,
    OrderLifecycleEvent,
    OrderRequest,
    OrderType,
    TimeInForce,
)
from ordergate.domain.values import ClientOrderId, Side

T = 1.0
AAPL = Stock("AAPL")


class AaplReplay:
    """The sim broker replaying AAPL from `first` to `last`, with orders sent after closes."""

    def __init__(self, first: date, last: date) -> None:
        bars = load_bundled_daily_bars("AAPL")
        self.bars = [b for b in bars if first <= b.ts.astimezone(NEW_YORK).date() <= last]
        clock = SimClock(self.bars[0].ts)
        engine = MatchingEngine(start=clock.now(), starting_cash=Decimal(1_000_000))
        engine.add_instrument(AAPL)
        self.broker = SimBroker(engine, clock)
        self.stream: SimEventStream = self.broker.events()  # type: ignore[assignment]
        self.after_close: dict[date, list[tuple[OrderRequest, ...]]] = {}
        self.events: list[object] = []

    def send_after_close(self, day: date, *requests: OrderRequest) -> None:
        self.after_close.setdefault(day, []).append(requests)

    async def run(self) -> None:
        await self.broker.connect(timeout=T)
        replay = Replay(self.broker)
        for bar in self.bars:
            replay.step(bar)
            for requests in self.after_close.get(bar.ts.astimezone(NEW_YORK).date(), []):
                now = self.broker.clock.now()
                approved = tuple(mint_approval_for_tests(r, now) for r in requests)
                if len(approved) == 1:
                    await self.broker.submit(approved[0], timeout=T)
                else:
                    await self.broker.submit_list(approved, timeout=T)
        while self.stream.pending():
            self.events.append(await anext(self.stream))

    def fills(self, cid: str) -> list[tuple[date, Decimal, Decimal]]:
        return [
            (e.ts_event.astimezone(NEW_YORK).date(), e.quantity, e.price)
            for e in self.events
            if isinstance(e, ExecutionFill) and e.client_order_id.value == cid
        ]

    def lifecycle(self, cid: str) -> list[tuple[date, OrderEventKind, Decimal | None]]:
        return [
            (e.ts_event.astimezone(NEW_YORK).date(), e.kind, e.stop_price)
            for e in self.events
            if isinstance(e, OrderLifecycleEvent) and e.client_order_id.value == cid
        ]


def order(cid: str, side: Side, order_type: OrderType, **fields: object) -> OrderRequest:
    return OrderRequest(
        ClientOrderId(cid), AAPL, side, Decimal(100), order_type,
        time_in_force=TimeInForce.GTC, **fields,  # type: ignore[arg-type]
    )


@pytest.fixture
def flash_crash_bracket() -> AaplReplay:
    """After the close of 2010-05-04: buy 100 at 255.00 limit, take profit 262.00, stop 240.00."""
    run = AaplReplay(date(2010, 4, 26), date(2010, 5, 14))
    run.send_after_close(
        date(2010, 5, 4),
        order("ENTRY", Side.BUY, OrderType.LIMIT, limit_price=Decimal("255.00")),
        order("TP", Side.SELL, OrderType.LIMIT, limit_price=Decimal("262.00"),
              parent_id=ClientOrderId("ENTRY"), oca_group="BRACKET"),
        order("SL", Side.SELL, OrderType.STOP, stop_price=Decimal("240.00"),
              parent_id=ClientOrderId("ENTRY"), oca_group="BRACKET"),
    )
    return run


async def test_bracket_entry_fills_at_the_gapped_open_of_2010_05_05(
    flash_crash_bracket: AaplReplay,
) -> None:
    await flash_crash_bracket.run()
    # The open 253.03 is already below the 255.00 limit: filled at the open.
    assert [(date(2010, 5, 5), Decimal(100), Decimal("253.03"))] == flash_crash_bracket.fills(
        "ENTRY")


async def test_bracket_stop_loss_fills_at_its_stop_in_the_flash_crash_of_2010_05_06(
    flash_crash_bracket: AaplReplay,
) -> None:
    await flash_crash_bracket.run()
    # 2010-05-05 (up day) dips only to 248.73; 2010-05-06 (down day) goes 253.83 → 258.25
    # (below the 262 take-profit) → 199.25: the stop triggers at 240.00 and fills there.
    assert [(date(2010, 5, 6), Decimal(100), Decimal("240.00"))] == flash_crash_bracket.fills(
        "SL")
    assert flash_crash_bracket.fills("TP") == []
    assert (date(2010, 5, 6), OrderEventKind.CANCELED, None) == flash_crash_bracket.lifecycle(
        "TP")[-1]


async def test_take_profit_fills_on_2010_06_16_and_a_trailing_stop_on_2010_06_21() -> None:
    run = AaplReplay(date(2010, 6, 1), date(2010, 6, 30))
    # After the close of 2010-06-10: a bracket buying at 250.00 (take profit 265, stop 240) and
    # a separate market buy; after the close of 2010-06-11 a $10 trailing stop for the latter.
    run.send_after_close(
        date(2010, 6, 10),
        order("ENTRY", Side.BUY, OrderType.LIMIT, limit_price=Decimal("250.00")),
        order("TP", Side.SELL, OrderType.LIMIT, limit_price=Decimal("265.00"),
              parent_id=ClientOrderId("ENTRY"), oca_group="BRACKET"),
        order("SL", Side.SELL, OrderType.STOP, stop_price=Decimal("240.00"),
              parent_id=ClientOrderId("ENTRY"), oca_group="BRACKET"),
    )
    run.send_after_close(
        date(2010, 6, 10),
        OrderRequest(ClientOrderId("BUY"), AAPL, Side.BUY, Decimal(100), OrderType.MARKET),
    )
    run.send_after_close(
        date(2010, 6, 11),
        order("TRAIL", Side.SELL, OrderType.TRAILING_STOP, trail_amount=Decimal(10)),
    )
    await run.run()

    # 2010-06-11 opens at 248.225, below the 250.00 limit: the entry and the market buy fill
    # at the open. 2010-06-16 (up day) rises from its low 260.6302 to 267.75 through 265.00.
    assert [(date(2010, 6, 11), Decimal(100), Decimal("248.225"))] == run.fills("ENTRY")
    assert [(date(2010, 6, 11), Decimal(100), Decimal("248.225"))] == run.fills("BUY")
    assert [(date(2010, 6, 16), Decimal(100), Decimal("265.00"))] == run.fills("TP")
    assert run.fills("SL") == []

    # Trailing stop: accepted at the 2010-06-11 close 253.51 (stop 243.51); it ratchets to
    # 10 below each new high (reported at each close): 249.15, 249.85, 257.75, 262.90, 265.00.
    # 2010-06-21 (down day) opens 277.69 (stop 267.69), makes its high 279.01 first (stop
    # 269.01), then falls to 268.73: the stop triggers and fills at 269.01.
    moves = [(day, stop) for day, kind, stop in run.lifecycle("TRAIL")
             if kind is OrderEventKind.UPDATED]
    assert [
        (date(2010, 6, 14), Decimal("249.15")),
        (date(2010, 6, 15), Decimal("249.85")),
        (date(2010, 6, 16), Decimal("257.75")),
        (date(2010, 6, 17), Decimal("262.90")),
        (date(2010, 6, 18), Decimal("265.00")),
    ] == moves
    assert [(date(2010, 6, 21), Decimal(100), Decimal("269.01"))] == run.fills("TRAIL")

    summary = await run.broker.account_summary(timeout=T)
    # Realized: (265.00 − 248.225) × 100 + (269.01 − 248.225) × 100 = 1677.50 + 2078.50.
    assert Decimal("3756.00") == summary.realized_pnl
    assert Decimal(1_000_000) + Decimal("3756.00") - 4 * Decimal("0.35") == summary.cash
