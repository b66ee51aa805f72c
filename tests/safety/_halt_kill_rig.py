"""The venue rig of the halt / flatten / kill safety tests: one account at a broker (the fake or
the simulator) that outlives the gates trading it, an audit store and a trading control shared by
every gate built on it — so a test can play "another process" or "a restart" by building a second
gate on the same venue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ordergate.adapters.fakes.audit_log import InMemoryAuditLog, MemoryAuditStore
from ordergate.adapters.fakes.broker import FakeBroker
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.market_data import FakeMarketData
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.fakes.trading_control import InMemoryTradingControl
from ordergate.adapters.sim.broker import SimBroker
from ordergate.adapters.sim.clock import SimClock
from ordergate.adapters.sim.costs import FillModel
from ordergate.adapters.sim.engine import MatchingEngine
from ordergate.adapters.sim.market_data import SimMarketData
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.domain.account import OrderView
from ordergate.domain.instruments import Stock
from ordergate.domain.orders import OrderIntent, OrderRequest, OrderType
from ordergate.domain.signals import Signal
from ordergate.domain.values import ClientOrderId, Side, SignalId
from ordergate.ports.broker import Broker
from ordergate.ports.clock import Clock
from ordergate.ports.market_data import MarketData

__all__ = ["AAPL", "MSFT", "T0", "Venue", "entry", "limit", "signal"]

T0 = datetime(2024, 1, 9, 15, 0, tzinfo=UTC)  # Tuesday 10:00 New York
AAPL = Stock("AAPL")
MSFT = Stock("MSFT")
TIMEOUT = 5.0


class Venue:
    """One account on the `kind` broker ("fake" or "sim"), shared by every gate built on it."""

    def __init__(self, kind: str, *, latency: timedelta = timedelta(0)) -> None:
        self.kind = kind
        self.store = MemoryAuditStore()
        self.control = InMemoryTradingControl()
        self.gates = 0
        self.broker: Broker
        self.market: MarketData
        self.clock: Clock
        if kind == "fake":
            clock = FakeClock(T0)
            self.fake = FakeBroker(clock, [AAPL, MSFT])
            self.fake_market = FakeMarketData(clock, [AAPL, MSFT])
            self.fake_clock = clock
            self.broker, self.market, self.clock = self.fake, self.fake_market, clock
        else:
            sim_clock = SimClock(T0)
            engine = MatchingEngine(
                start=T0, starting_cash=Decimal(100_000), fill_model=FillModel(latency=latency)
            )
            for stock in (AAPL, MSFT):
                engine.add_instrument(stock)
            self.sim = SimBroker(engine, sim_clock)
            self.sim_market = SimMarketData(sim_clock, engine=engine)
            self.sim_clock = sim_clock
            self.broker, self.market, self.clock = self.sim, self.sim_market, sim_clock

    def gate(self, **options: Any) -> OrderGate:
        """A new gate (a new process, for the account) on this venue's broker and stores."""
        self.gates += 1
        audit = InMemoryAuditLog(self.store, clock=self.clock)
        ports = Ports(
            self.broker, self.market, audit, self.clock, InMemoryPublisher(), self.control
        )
        return OrderGate(ports, GateOptions(operator_id="CSATSPRIM", **options))

    def price(self, px: str, stock: Stock = AAPL) -> None:
        """The market trades at `px`: marketable working orders fill."""
        value = Decimal(px)
        if self.kind == "fake":
            self.fake_market.set_price(stock, value)
            self.fake.set_price(stock, value)
        else:
            self.sim_market.set_quote(stock, value)
            self.sim.feed_tick(stock, value)

    def advance(self, seconds: float) -> None:
        """Time passes at the venue (requests held by latency take effect, orders expire)."""
        if self.kind == "fake":
            self.fake_clock.advance(seconds)
        else:
            self.sim_clock.advance(seconds)

    async def open_orders(self) -> list[OrderView]:
        """What the broker has working for the account (the test looks, as an observer)."""
        await self.broker.connect(timeout=TIMEOUT)
        return await self.broker.open_orders(timeout=TIMEOUT)

    async def position(self, stock: Stock = AAPL) -> Decimal:
        """The broker's position in `stock`."""
        await self.broker.connect(timeout=TIMEOUT)
        held = {p.instrument_id: p.quantity for p in await self.broker.positions(timeout=TIMEOUT)}
        return held.get(stock.id, Decimal(0))

    async def records(self, kind: str) -> list[dict[str, Any]]:
        """The payloads of every audit record of `kind`, oldest first, from every gate."""
        log = InMemoryAuditLog(self.store, clock=self.clock)
        return [dict(e.record.payload) for e in await log.query(kind=kind)]

    async def kinds(self) -> list[str]:
        """The kind of every audit record, oldest first, from every gate."""
        log = InMemoryAuditLog(self.store, clock=self.clock)
        return [e.record.kind for e in await log.query()]


def signal(sid: str, qty: int = 10, stock: Stock = AAPL, side: Side = Side.BUY) -> Signal:
    """A market signal for `qty` shares (new risk when flat)."""
    return Signal(SignalId(sid), stock, side, T0, quantity=Decimal(qty))


def entry(cid: str, qty: int = 10, stock: Stock = AAPL) -> OrderRequest:
    """A market BUY for `qty` shares."""
    return OrderRequest(
        client_order_id=ClientOrderId(cid),
        instrument=stock,
        side=Side.BUY,
        quantity=Decimal(qty),
        order_type=OrderType.MARKET,
    )


def limit(cid: str, side: Side, qty: int, px: str, stock: Stock = AAPL) -> OrderRequest:
    """A working limit order (a take-profit SELL above the market, say)."""
    return OrderRequest(
        client_order_id=ClientOrderId(cid),
        instrument=stock,
        side=side,
        quantity=Decimal(qty),
        order_type=OrderType.LIMIT,
        limit_price=Decimal(px),
        intent=OrderIntent.OPEN,
    )
