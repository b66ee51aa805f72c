"""`SimLedger`: the simulated account's cash, positions and executions.

Positions are the domain's `Position` (built from fills, exact Decimal cost basis), so the sim's
truth and a portfolio rebuilt from its events agree to the cent. Cash moves by each execution's
value and commission. Marks come from the engine as integer price units keyed by the instrument
id's string, and are converted only when a summary is asked for. Buying power:
`available_funds = equity − (gross position value + reserved for working orders) / leverage`,
`buying_power = available_funds × leverage`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

import attrs

from ordergate.adapters.sim.bars import from_units
from ordergate.domain.account import AccountSummary, BrokerPosition
from ordergate.domain.expiry import settlement_legs
from ordergate.domain.instruments import NEW_YORK, Instrument
from ordergate.domain.orders.events import ExecutionFill
from ordergate.domain.portfolio.position import Position
from ordergate.domain.settlement import OptionSettlement
from ordergate.domain.values import ZERO, InstrumentId

__all__ = ["SimLedger"]


class SimLedger:
    """Cash, positions and the execution history of one simulated account."""

    def __init__(self, account_id: str, starting_cash: Decimal, leverage: Decimal) -> None:
        self.account_id = account_id
        self.cash = starting_cash
        self.leverage = leverage
        self.positions: dict[InstrumentId, Position] = {}
        self.commissions = ZERO
        self._executions: list[tuple[ExecutionFill, Decimal]] = []
        self._month_volume: dict[tuple[int, int], Decimal] = {}
        self.open_options: set[InstrumentId] = set()  # option positions not yet settled
        self.settlements: list[OptionSettlement] = []

    def month_volume(self, now: datetime) -> Decimal:
        """Units traded in `now`'s calendar month (New York), for commission tiers."""
        local = now.astimezone(NEW_YORK)
        return self._month_volume.get((local.year, local.month), ZERO)

    def position_units(self, instrument_id: InstrumentId) -> Decimal:
        """The signed position quantity of an instrument (zero when flat)."""
        position = self.positions.get(instrument_id)
        return ZERO if position is None else position.quantity

    def apply(self, fill: ExecutionFill, commission: Decimal, instrument: Instrument) -> None:
        """Book one execution and its commission."""
        position = self.positions.get(fill.instrument_id)
        if position is None:
            position = self.positions[fill.instrument_id] = Position(instrument)
        position.apply(fill)
        self._track_option(position)
        position.commissions += commission
        self.cash -= fill.signed_quantity * fill.price * instrument.multiplier + commission
        self.commissions += commission
        self._executions.append((fill, commission))
        local = fill.ts_event.astimezone(NEW_YORK)
        key = (local.year, local.month)
        self._month_volume[key] = self._month_volume.get(key, ZERO) + fill.quantity

    def settle(self, event: OptionSettlement) -> None:
        """Book an option's settlement at expiry: the contracts removed at price 0, the stock of
        an exercise or assignment delivered at the strike (`settlement_legs`, as the portfolio
        books it). No commission: IB charges none for an exercise, assignment or lapse."""
        for instrument, quantity, price in settlement_legs(event):
            position = self.positions.get(instrument.id)
            if position is None:
                position = self.positions[instrument.id] = Position(instrument)
            position.deliver(quantity, price, event.ts_event)
            self.cash -= quantity * price * instrument.multiplier
            self._track_option(position)
        self.settlements.append(event)

    def _track_option(self, position: Position) -> None:
        if position.instrument.is_option:
            if position.quantity == 0:
                self.open_options.discard(position.instrument_id)
            else:
                self.open_options.add(position.instrument_id)

    def executions(self, since: datetime) -> list[ExecutionFill]:
        """Executions at or after `since` with their commissions, in execution order."""
        return [
            attrs.evolve(fill, commission=commission)
            for fill, commission in self._executions
            if fill.ts_event >= since
        ]

    def broker_positions(self) -> list[BrokerPosition]:
        """Every non-zero position; `avg_cost` per unit, as IB reports it."""
        result = []
        for position in self.positions.values():
            if position.quantity != 0:
                avg = position.avg_open_price or ZERO
                result.append(BrokerPosition(position.instrument, position.quantity, abs(avg)))
        return result

    def _values(self, marks: Mapping[str, int]) -> tuple[Decimal, Decimal, Decimal]:
        market_value = gross = unrealized = ZERO
        for iid, position in self.positions.items():
            if position.quantity == 0:
                continue
            units = marks.get(iid.value)
            mark = from_units(units) if units is not None else position.avg_open_price or ZERO
            market_value += position.market_value(mark)
            gross += position.notional(mark)
            unrealized += position.unrealized_pnl(mark)
        return market_value, gross, unrealized

    def available_funds(self, marks: Mapping[str, int], reserved: Decimal) -> Decimal:
        """Equity not tied up by positions and working orders, at `leverage`."""
        market_value, gross, _ = self._values(marks)
        return self.cash + market_value - (gross + reserved) / self.leverage

    def summary(
        self, marks: Mapping[str, int], reserved: Decimal, now: datetime
    ) -> AccountSummary:
        """The account summary at `now` with positions marked at `marks`."""
        market_value, gross, unrealized = self._values(marks)
        equity = self.cash + market_value
        available = equity - (gross + reserved) / self.leverage
        realized = sum((p.realized_pnl for p in self.positions.values()), ZERO)
        return AccountSummary(
            account_id=self.account_id,
            ts=now,
            cash=self.cash,
            net_liquidation=equity,
            available_funds=available,
            buying_power=available * self.leverage,
            realized_pnl=realized,
            unrealized_pnl=unrealized,
        )
