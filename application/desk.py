"""`TradingDesk`: the application's in-memory state around the pure domain.

It holds the portfolio (rebuilt from broker events), the circuit breakers, the trading state, the
ids already seen (duplicate guard), recent submit times (rate limit) and the latest quotes, and
builds the `RiskContext` the gate decides with. It never performs I/O.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

from ordergate.domain.calendar import TradingCalendar
from ordergate.domain.events import BreakerReset, BreakerTripped, TradingStateChanged
from ordergate.domain.market import Quote
from ordergate.domain.orders.request import OrderRequest
from ordergate.domain.portfolio import Portfolio
from ordergate.domain.risk.breakers import BreakerBoard, BreakerConfig, TradingStateMachine
from ordergate.domain.risk.limits import RiskLimits
from ordergate.domain.risk.rules import RiskContext
from ordergate.domain.values import ClientOrderId, InstrumentId, SignalId

__all__ = ["TradingDesk"]

SystemEvent = BreakerTripped | BreakerReset | TradingStateChanged


class TradingDesk:
    """Mutable application state; one per account session."""

    def __init__(
        self,
        portfolio: Portfolio,
        limits: RiskLimits,
        breakers: BreakerConfig | None = None,
        calendar: TradingCalendar | None = None,
    ) -> None:
        self.portfolio = portfolio
        self.calendar = calendar
        self.limits = limits
        self.breakers = BreakerBoard(breakers)
        self.trading = TradingStateMachine()
        self.quotes: dict[InstrumentId, Quote] = {}
        self.seen_client_order_ids: set[ClientOrderId] = set()
        self.seen_signal_ids: set[SignalId] = set()
        self._submits: deque[datetime] = deque()

    def risk_context(
        self, request: OrderRequest, now: datetime, *, replacing: ClientOrderId | None = None
    ) -> RiskContext:
        """Everything the gate needs to decide on `request` at `now` (`replacing`: the working
        order a modification would turn into `request`, left out of the exposure book)."""
        window = self.limits.submit_rate_window
        while self._submits and self._submits[0] < now - window:
            self._submits.popleft()
        return RiskContext(
            portfolio=self.portfolio,
            now=now,
            limits=self.limits,
            quote=self.quotes.get(request.instrument.id),
            trading_state=self.trading.state,
            open_breakers=self.breakers.open_breakers,
            seen_client_order_ids=self.seen_client_order_ids,
            seen_signal_ids=self.seen_signal_ids,
            recent_submits=tuple(self._submits),
            calendar=self.calendar,
            excluded_order=replacing,
        )

    def remember(self, request: OrderRequest, now: datetime, submitted: bool) -> None:
        """Record the ids of a decided request, and its submit time if it was sent."""
        self.seen_client_order_ids.add(request.client_order_id)
        if request.signal_id is not None:
            self.seen_signal_ids.add(request.signal_id)
        if submitted:
            self._submits.append(now)

    def update_quote(self, quote: Quote) -> None:
        """Keep the latest quote and mark the position at its reference price."""
        self.quotes[quote.instrument_id] = quote
        price = quote.reference_price
        if price is not None:
            self.portfolio.mark(quote.instrument_id, price, quote.ts)

    def oldest_quote_age(self, now: datetime) -> timedelta | None:
        """Age of the stalest quote among instruments with open positions (None if none)."""
        ages = [
            now - self.quotes[p.instrument_id].ts
            for p in self.portfolio.open_positions()
            if p.instrument_id in self.quotes
        ]
        missing = any(p.instrument_id not in self.quotes for p in self.portfolio.open_positions())
        if missing:
            return timedelta.max
        return max(ages) if ages else None

    def observe(self, now: datetime) -> list[SystemEvent]:
        """Let the breakers look at the account and the clock; returns their transitions."""
        events: list[SystemEvent] = []
        events.extend(self.breakers.tick(now))
        events.extend(self.breakers.observe_account(self.portfolio, now))
        age = self.oldest_quote_age(now)
        if age is not None and age != timedelta.max:
            events.extend(self.breakers.observe_data_age(age, now))
        return events
