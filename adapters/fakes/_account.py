"""The fake broker's account: executions, positions, cash and marks, built from its own fills.

It is the broker-side truth that `positions()`, `executions()` and `account_summary()` report.
It must never be changed except by `record` (a fill with its commission) and `mark`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from ordergate.domain.account import AccountSummary, BrokerPosition
from ordergate.domain.instruments import Instrument
from ordergate.domain.orders import ExecutionFill
from ordergate.domain.portfolio.position import Position
from ordergate.domain.values import ZERO, InstrumentId

__all__ = ["CommissionModel", "FakeAccount", "ib_like_commission"]

CommissionModel = Callable[[Instrument, Decimal, Decimal], Decimal]
"""(instrument, quantity, price) -> commission in the account currency."""

_STOCK_PER_SHARE = Decimal("0.005")
_OPTION_PER_CONTRACT = Decimal("0.65")
_MINIMUM = Decimal("1.00")


def ib_like_commission(instrument: Instrument, quantity: Decimal, price: Decimal) -> Decimal:
    """IB's fixed pricing, simplified: 0.005/share or 0.65/contract, at least 1.00 per execution."""
    rate = _OPTION_PER_CONTRACT if instrument.is_option else _STOCK_PER_SHARE
    return max(_MINIMUM, (rate * quantity).quantize(Decimal("0.01")))


class FakeAccount:
    """Cash, positions and the execution history of one account."""

    def __init__(self, account_id: str, starting_cash: Decimal) -> None:
        self.account_id = account_id
        self.cash = starting_cash
        self._positions: dict[InstrumentId, Position] = {}
        self._marks: dict[InstrumentId, Decimal] = {}
        self._executions: list[ExecutionFill] = []

    def record(self, instrument: Instrument, fill: ExecutionFill) -> None:
        """Book one execution (its commission attached): position, cash and history."""
        commission = fill.commission or ZERO
        position = self._positions.setdefault(instrument.id, Position(instrument))
        position.apply(fill)
        self.cash -= fill.signed_quantity * fill.price * instrument.multiplier + commission
        self._executions.append(fill)

    def mark(self, instrument_id: InstrumentId, price: Decimal) -> None:
        """The latest trade price, used for net liquidation and unrealized PnL."""
        self._marks[instrument_id] = price

    def positions(self) -> list[BrokerPosition]:
        """Non-zero positions, in the order they were first opened."""
        return [
            BrokerPosition(
                instrument=p.instrument, quantity=p.quantity, avg_cost=p.avg_open_price or ZERO
            )
            for p in self._positions.values()
            if not p.is_flat
        ]

    def executions(self, since: datetime) -> list[ExecutionFill]:
        """Executions at or after `since`, in execution order."""
        return [fill for fill in self._executions if fill.ts_event >= since]

    def summary(self, now: datetime) -> AccountSummary:
        """Balances at `now`; positions are valued at their mark (their cost when never marked)."""
        market_value = ZERO
        unrealized = ZERO
        realized = ZERO
        for position in self._positions.values():
            realized += position.realized_pnl
            if position.is_flat:
                continue
            mark = self._marks.get(position.instrument_id, position.avg_open_price or ZERO)
            market_value += position.market_value(mark)
            unrealized += position.unrealized_pnl(mark)
        net_liquidation = self.cash + market_value
        return AccountSummary(
            account_id=self.account_id,
            ts=now,
            cash=self.cash,
            net_liquidation=net_liquidation,
            available_funds=min(self.cash, net_liquidation),
            buying_power=min(self.cash, net_liquidation),
            realized_pnl=realized,
            unrealized_pnl=unrealized,
        )
