"""What a broker reports about the account: order views, positions, and the account summary.

These are the broker's truth as returned by the `Broker` port's query methods; reconciliation
compares them with the portfolio rebuilt from events.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import attrs

from ordergate.domain.instruments import Instrument
from ordergate.domain.orders.enums import OrderStatus, OrderType
from ordergate.domain.values import (
    BrokerOrderId,
    ClientOrderId,
    InstrumentId,
    Side,
    decimal_field,
    opt_decimal_field,
    utc_field,
)

__all__ = ["AccountSummary", "BrokerPosition", "OrderView"]


@attrs.frozen
class OrderView:
    """An order as the broker sees it now."""

    client_order_id: ClientOrderId
    broker_order_id: BrokerOrderId | None
    instrument_id: InstrumentId
    side: Side
    order_type: OrderType
    status: OrderStatus
    quantity: Decimal = decimal_field(positive=True)
    filled_qty: Decimal = decimal_field(non_negative=True)
    limit_price: Decimal | None = opt_decimal_field(positive=True)
    stop_price: Decimal | None = opt_decimal_field(positive=True)
    avg_px: Decimal | None = opt_decimal_field(positive=True)

    @property
    def leaves_qty(self) -> Decimal:
        return self.quantity - self.filled_qty


@attrs.frozen
class BrokerPosition:
    """A position as the broker reports it; `avg_cost` is per unit (not per contract)."""

    instrument: Instrument
    quantity: Decimal = decimal_field()
    avg_cost: Decimal = decimal_field(non_negative=True)

    @property
    def instrument_id(self) -> InstrumentId:
        return self.instrument.id


@attrs.frozen
class AccountSummary:
    """Balances the broker reports for the account."""

    account_id: str
    ts: datetime = utc_field()
    cash: Decimal = decimal_field()
    net_liquidation: Decimal = decimal_field()
    available_funds: Decimal = decimal_field()
    buying_power: Decimal = decimal_field()
    realized_pnl: Decimal = decimal_field(default=Decimal(0))
    unrealized_pnl: Decimal = decimal_field(default=Decimal(0))
    currency: str = "USD"
