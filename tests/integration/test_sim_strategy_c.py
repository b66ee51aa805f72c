"""Strategy C end to end in the simulation: an AAPL option position, priced with Black–Scholes
from the real AAPL daily closes as the clock advances, reaches 3 DTE in one scenario and a 40%
loss in another; the domain's `review_positions` flags it, the closure goes through the
`Broker` port and the position ends flat.

Each session's review happens right after the close, when the option has just been re-priced
(volatility 40%, rate 0, time to the option's 16:00 New York last trade).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from ordergate.adapters.sim.bars import load_bundled_daily_bars
from ordergate.adapters.sim.broker import SimBroker, SimEventStream
from ordergate.adapters.sim.clock import SimClock
from ordergate.adapters.sim.engine import MatchingEngine
from ordergate.adapters.sim.market_data import SimMarketData
from ordergate.adapters.sim.options import OptionChain, OptionMarket
from ordergate.adapters.sim.replay import Replay
from ordergate.application.testing.approvals import mint_approval_for_tests
from ordergate.domain.instruments import NEW_YORK, OptionContract, OptionRight, Stock
from ordergate.domain.orders import (
    ClosureReason,
    CommissionReport,
    ExecutionFill,
    Order,
    OrderEventKind,
    OrderLifecycleEvent,
    OrderRequest,
    OrderType,
)
from ordergate.domain.portfolio import Portfolio
from ordergate.domain.strategy_c import closure_id_factory, closure_requests, review_positions
from ordergate.domain.values import ClientOrderId, Side

T = 1.0
AAPL = Stock("AAPL")
VOL = Decimal("0.40")


class OptionSession:
    """Sim broker + market data + option market over AAPL daily bars, and the portfolio that
    the broker's events build."""

    def __init__(self, first: date, last: date, contract: OptionContract) -> None:
        self.bars = [
            b for b in load_bundled_daily_bars("AAPL")
            if first <= b.ts.astimezone(NEW_YORK).date() <= last
        ]
        self.contract = contract
        clock = SimClock(self.bars[0].ts)
        engine = MatchingEngine(start=clock.now(), starting_cash=Decimal(100_000))
        engine.add_instrument(AAPL)
        engine.add_instrument(contract)
        chain = OptionChain(AAPL, (contract.expiry,), (contract.strike,), VOL)
        self.options = OptionMarket([chain])
        self.options.watch(contract)
        self.broker = SimBroker(engine, clock)
        self.market_data = SimMarketData(clock, engine=engine, options=self.options)
        self.stream: SimEventStream = self.broker.events()  # type: ignore[assignment]
        self.portfolio = Portfolio(Decimal(100_000))
        self.portfolio.register_instrument(contract)
        self.reviews: list[tuple[date, int, Decimal, ClosureReason | None]] = []
        self.closed_on: date | None = None

    async def send(self, request: OrderRequest) -> None:
        now = self.broker.clock.now()
        order = Order.from_request(request)
        order.apply(OrderLifecycleEvent(request.client_order_id, OrderEventKind.SUBMITTED, now,
                                        now))
        self.portfolio.add_order(order)
        approval = mint_approval_for_tests(request, now)
        await self.broker.submit(approval, timeout=T)
        await self.absorb()

    async def absorb(self) -> None:
        while self.stream.pending():
            event = await anext(self.stream)
            if isinstance(event, ExecutionFill | CommissionReport) or (
                isinstance(event, OrderLifecycleEvent)
                and event.client_order_id in self.portfolio.orders
            ):
                self.portfolio.apply(event)

    async def run(self, buy_after: date) -> None:
        await self.broker.connect(timeout=T)
        replay = Replay(self.broker, options=self.options)
        for bar in self.bars:
            replay.step(bar)
            await self.absorb()
            day = bar.ts.astimezone(NEW_YORK).date()
            now = self.broker.clock.now()
            if day == buy_after:
                await self.send(OrderRequest(ClientOrderId("OPEN"), self.contract, Side.BUY,
                                             Decimal(1), OrderType.MARKET))
            position = self.portfolio.position(self.contract.id)
            if position is None or position.is_flat:
                continue
            await self.review(day, now)

    async def review(self, day: date, now: datetime) -> None:
        quote = await self.market_data.quote(self.contract, timeout=T)
        assert quote.last is not None
        self.portfolio.mark(self.contract.id, quote.last, quote.ts)
        position = self.portfolio.position(self.contract.id)
        assert position is not None
        result = review_positions(self.portfolio, now, quotes={self.contract.id: quote})
        flag = result.flag_for(self.contract.id)
        self.reviews.append((day, self.contract.days_to_expiry(now),
                             position.unrealized_pct(quote.last), flag and flag.reason))
        if flag is not None:
            for request in closure_requests(
                [flag], self.portfolio, id_factory=closure_id_factory("SC", now)
            ):
                await self.send(request)
            if self.portfolio.position_qty(self.contract.id) == 0:
                self.closed_on = day

    def first_flag(self) -> tuple[date, int, Decimal, ClosureReason | None]:
        return next(r for r in self.reviews if r[3] is not None)


async def test_option_position_is_closed_by_the_3_dte_rule_on_tuesday_2010_06_15() -> None:
    # A deep in-the-money call (strike 200) bought after the close of Friday 2010-06-04 (AAPL
    # 255.965) at 55.97, expiring Friday 2010-06-18: mostly intrinsic value, its worst close is
    # −23% (2010-06-09), never −40%. On Monday 2010-06-14 it has 4 days left; at the close of
    # Tuesday 2010-06-15 (AAPL 259.69, call 59.69), 3: the 3-DTE rule closes it.
    contract = OptionContract("AAPL", date(2010, 6, 18), Decimal(200), OptionRight.CALL)
    session = OptionSession(date(2010, 6, 1), date(2010, 6, 18), contract)
    await session.run(buy_after=date(2010, 6, 4))

    day, dte, pnl, reason = session.first_flag()
    assert (date(2010, 6, 15), 3, ClosureReason.THREE_DTE) == (day, dte, reason)
    assert pnl > Decimal("-0.40")
    monday = [(d, r) for when, d, _, r in session.reviews if when == date(2010, 6, 14)]
    assert [(4, None)] == monday
    assert date(2010, 6, 15) == session.closed_on
    fills = [f.price for o in session.portfolio.orders.values() for f in o.fills]
    assert [Decimal("55.97"), Decimal("59.69")] == fills
    assert 0 == session.portfolio.position_qty(contract.id)
    positions = await session.broker.positions(timeout=T)
    assert [] == [p for p in positions if p.instrument == contract]


async def test_option_position_is_closed_by_the_40_percent_stop_in_september_2008() -> None:
    # An at-the-money call (strike 165) bought after the close of 2008-09-02 (AAPL 166.19) at
    # its Black–Scholes price 9.88, expiring 2008-10-17. At the close of 2008-09-05 (AAPL
    # 160.18) it is worth 6.59 (−33%); at the close of Monday 2008-09-08 (AAPL 157.92), 5.34
    # (−46%): the emergency stop fires with 39 days still to expiry.
    contract = OptionContract("AAPL", date(2008, 10, 17), Decimal(165), OptionRight.CALL)
    session = OptionSession(date(2008, 8, 25), date(2008, 10, 17), contract)
    await session.run(buy_after=date(2008, 9, 2))

    day, dte, pnl, reason = session.first_flag()
    assert (date(2008, 9, 8), 39, ClosureReason.EMERGENCY_STOP) == (day, dte, reason)
    assert pnl <= Decimal("-0.40")
    before = [p for when, _, p, _ in session.reviews if when == date(2008, 9, 5)]
    assert before[0] > Decimal("-0.40")
    assert date(2008, 9, 8) == session.closed_on
    fills = [f.price for o in session.portfolio.orders.values() for f in o.fills]
    assert [Decimal("9.88"), Decimal("5.34")] == fills
    positions = await session.broker.positions(timeout=T)
    assert [] == [p for p in positions if p.instrument == contract]
