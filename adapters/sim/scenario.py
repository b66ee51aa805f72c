"""`Scenario`: a small script driver for the matching engine, for tests and examples.

It builds an engine with one stock, hands out order requests with fresh ids, and plays bars one
minute (or one day) apart given as plain numbers, collecting every event. It is test tooling
shipped with the package (like `structlog.testing`); production code never needs it.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ordergate.adapters.sim.bars import SimBar, to_units
from ordergate.adapters.sim.costs import FillModel
from ordergate.adapters.sim.engine import EngineEvent, MatchingEngine
from ordergate.domain.instruments import Instrument, Stock
from ordergate.domain.orders.enums import OrderType
from ordergate.domain.orders.events import (
    CommissionReport,
    ExecutionFill,
    OrderEventKind,
    OrderLifecycleEvent,
)
from ordergate.domain.orders.request import OrderRequest
from ordergate.domain.values import ClientOrderId, Side

__all__ = ["SCENARIO_START", "Scenario"]

SCENARIO_START = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)  # Tuesday 10:00 New York


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


class Scenario:
    """An engine, one stock, a bar clock and an event log."""

    def __init__(
        self,
        *,
        fill_model: FillModel | None = None,
        seed: int = 0,
        starting_cash: Decimal = Decimal(10_000_000),
        start: datetime = SCENARIO_START,
        bar_length: timedelta = timedelta(minutes=1),
        stock: Stock | None = None,
    ) -> None:
        self.stock = stock or Stock("AAPL")
        self.engine = MatchingEngine(
            start=start, starting_cash=starting_cash, fill_model=fill_model, seed=seed
        )
        self.engine.add_instrument(self.stock)
        self.bar_length = bar_length
        self.next_bar_at = start
        self.events: list[EngineEvent] = []
        self._ids = itertools.count(1)

    # -- orders ----------------------------------------------------------------------------------
    def request(
        self,
        side: Side,
        quantity: int | str,
        order_type: OrderType,
        *,
        instrument: Instrument | None = None,
        **fields: Any,
    ) -> OrderRequest:
        """A request with a fresh id (`O1`, `O2`, …); numeric prices may be given as str/int."""
        for name in ("limit_price", "stop_price", "trail_amount", "trail_percent",
                     "trail_limit_offset"):
            if fields.get(name) is not None:
                fields[name] = _dec(fields[name])
        fields.setdefault("client_order_id", ClientOrderId(f"O{next(self._ids)}"))
        return OrderRequest(
            instrument=instrument or self.stock,
            side=side,
            quantity=_dec(quantity),
            order_type=order_type,
            **fields,
        )

    def submit(self, request: OrderRequest) -> list[EngineEvent]:
        """Send one order; returns (and logs) the events it caused."""
        _, events = self.engine.submit(request)
        self.events.extend(events)
        return events

    def submit_list(self, *requests: OrderRequest) -> list[EngineEvent]:
        """Send a bracket or OCA group; returns (and logs) the events."""
        _, events = self.engine.submit_list(requests)
        self.events.extend(events)
        return events

    # -- market ----------------------------------------------------------------------------------
    def bar(self, o: Any, h: Any, lo: Any, c: Any, volume: int = 1_000_000) -> list[EngineEvent]:
        """Play the next bar (prices as numbers or strings)."""
        ts = self.next_bar_at
        self.next_bar_at = ts + self.bar_length
        bar = SimBar(
            self.stock.id,
            ts,
            ts + self.bar_length,
            to_units(_dec(o)),
            to_units(_dec(h)),
            to_units(_dec(lo)),
            to_units(_dec(c)),
            volume,
        )
        events = self.engine.on_sim_bar(bar)
        self.events.extend(events)
        return events

    def tick(self, price: Any, **kwargs: Any) -> list[EngineEvent]:
        """A trade at `price` now; returns (and logs) the events."""
        events = self.engine.on_tick(self.stock.id, _dec(price), **kwargs)
        self.events.extend(events)
        return events

    def advance(self, delta: timedelta) -> list[EngineEvent]:
        """Let `delta` of simulated time pass; returns (and logs) the events."""
        events = self.engine.advance_to(self.engine.now + delta)
        self.next_bar_at = max(self.next_bar_at, self.engine.now)
        self.events.extend(events)
        return events

    # -- reading the log -------------------------------------------------------------------------
    def fills(self, request: OrderRequest | None = None) -> list[ExecutionFill]:
        """Executions logged so far (of one order, or all)."""
        return [
            e
            for e in self.events
            if isinstance(e, ExecutionFill)
            and (request is None or e.client_order_id == request.client_order_id)
        ]

    def fill_prices(self, request: OrderRequest) -> list[Decimal]:
        """Execution prices of one order, in order."""
        return [f.price for f in self.fills(request)]

    def filled(self, request: OrderRequest) -> Decimal:
        """Quantity filled of one order."""
        return sum((f.quantity for f in self.fills(request)), Decimal(0))

    def kinds(self, request: OrderRequest) -> list[OrderEventKind]:
        """Lifecycle event kinds logged for one order, in order."""
        return [
            e.kind
            for e in self.events
            if isinstance(e, OrderLifecycleEvent) and e.client_order_id == request.client_order_id
        ]

    def commissions(self) -> list[Decimal]:
        """Every commission reported, in order."""
        return [e.commission for e in self.events if isinstance(e, CommissionReport)]
