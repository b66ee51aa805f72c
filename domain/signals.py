"""Trading signals: what a strategy wants, before sizing and risk."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import attrs

from ordergate.domain.errors import InvalidValue
from ordergate.domain.instruments import Instrument, OptionContract, Stock
from ordergate.domain.orders.enums import OrderType, TimeInForce
from ordergate.domain.values import (
    CorrelationId,
    Side,
    SignalId,
    decimal_field,
    opt_decimal_field,
    utc_field,
)

__all__ = ["Signal"]


@attrs.frozen
class Signal:
    """A strategy's wish to trade. Quantity is optional: without it the sizer decides.

    `stop_loss` and `take_profit`, when both present, make the order a bracket; a stop distance
    is also what the fixed-fraction sizer divides the risk budget by. `time_in_force` is the
    entry's; the bracket's protective legs (take-profit and stop-loss, one OCA group) use
    `protection_time_in_force`, GTC by default: they must protect the position until it is
    closed, not expire at the first close with a DAY entry.
    """

    signal_id: SignalId
    instrument: Instrument = attrs.field(
        validator=attrs.validators.instance_of((Stock, OptionContract))
    )
    side: Side = attrs.field(validator=attrs.validators.instance_of(Side))
    ts: datetime = utc_field()
    strategy: str = "manual"
    confidence: Decimal = decimal_field(non_negative=True, default=Decimal(1))
    quantity: Decimal | None = opt_decimal_field(positive=True)
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = opt_decimal_field(positive=True)
    stop_price: Decimal | None = opt_decimal_field(positive=True)
    stop_loss: Decimal | None = opt_decimal_field(positive=True)
    take_profit: Decimal | None = opt_decimal_field(positive=True)
    time_in_force: TimeInForce = TimeInForce.DAY
    protection_time_in_force: TimeInForce = attrs.field(
        default=TimeInForce.GTC, validator=attrs.validators.instance_of(TimeInForce)
    )
    correlation_id: CorrelationId | None = None

    def __attrs_post_init__(self) -> None:
        if self.confidence > 1:
            raise InvalidValue(
                f"Signal[{self.signal_id}].confidence", self.confidence, "must be <= 1"
            )
        if self.protection_time_in_force not in (TimeInForce.GTC, TimeInForce.DAY):
            raise InvalidValue(
                f"Signal[{self.signal_id}].protection_time_in_force",
                self.protection_time_in_force.value,
                "must be GTC or DAY (protective legs work until the position is closed)",
            )
