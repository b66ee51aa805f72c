"""Trading signals: what a strategy wants, before sizing and risk."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation, localcontext

import attrs

from ordergate.domain.errors import InvalidValue
from ordergate.domain.instruments import Instrument, OptionContract, Stock
from ordergate.domain.orders.enums import OrderType, TimeInForce
from ordergate.domain.values import (
    CorrelationId,
    Side,
    SignalId,
    check_text,
    decimal_field,
    opt_decimal_field,
    utc_field,
)

__all__ = [
    "MAX_SIGNAL_PRICE",
    "MAX_SIGNAL_QUANTITY",
    "STRATEGY_MAX_LENGTH",
    "Signal",
    "SignalWindow",
]

MAX_SIGNAL_QUANTITY = Decimal(10**9)
"""The largest quantity a signal may ask for (the risk limits are far below it)."""
MAX_SIGNAL_PRICE = Decimal(10**9)
"""The largest limit, stop, stop-loss or take-profit price a signal may carry."""
STRATEGY_MAX_LENGTH = 64
"""The longest strategy name (printable characters, like an identifier)."""
_SIGNIFICANT_DIGITS = 28
"""A number must be exact in decimal's default context (28 digits): no silent rounding."""


def _check_on_grid(
    field: str, value: Decimal, *, step: Decimal, maximum: Decimal, what: str
) -> None:
    """`value` (finite, > 0) is at most `maximum`, exact in 28 digits, and a multiple of `step`.

    The bound is checked first: a remainder of 1e28 by 1 does not fit decimal's default
    context (`InvalidOperation`), so such a number must be refused before any arithmetic.
    """
    if value > maximum:
        raise InvalidValue(field, value, f"must be at most {maximum}")
    if len(value.as_tuple().digits) > _SIGNIFICANT_DIGITS:
        raise InvalidValue(
            field, value, f"must have at most {_SIGNIFICANT_DIGITS} significant digits"
        )
    try:
        with localcontext() as context:
            context.prec = 2 * _SIGNIFICANT_DIGITS
            on_grid = value % step == 0
    except InvalidOperation:
        on_grid = False
    if not on_grid:
        raise InvalidValue(field, value, f"must be a multiple of the instrument's {what} {step}")


@attrs.frozen
class SignalWindow:
    """How far a signal's `ts` may lie from the clock: at most `max_age` in the past and
    `max_ahead` in the future (clock skew between a producer and the gate)."""

    max_age: timedelta = timedelta(hours=1)
    max_ahead: timedelta = timedelta(minutes=1)

    def __attrs_post_init__(self) -> None:
        for name in ("max_age", "max_ahead"):
            value = getattr(self, name)
            if not isinstance(value, timedelta) or value < timedelta(0):
                raise InvalidValue(f"SignalWindow.{name}", value, "must be a timedelta >= 0")

    def check(self, signal: Signal, now: datetime) -> None:
        """Raise `InvalidValue` naming `ts` and the window if `signal.ts` lies outside it."""
        if now - self.max_age <= signal.ts <= now + self.max_ahead:
            return
        raise InvalidValue(
            f"Signal[{signal.signal_id}].ts",
            signal.ts,
            f"must lie within {self.max_age} before and {self.max_ahead} after the clock "
            f"({now.isoformat()})",
        )


@attrs.frozen
class Signal:
    """A strategy's wish to trade. Quantity is optional: without it the sizer decides.

    `stop_loss` and `take_profit`, when both present, make the order a bracket; a stop distance
    is also what the fixed-fraction sizer divides the risk budget by. `time_in_force` is the
    entry's; the bracket's protective legs (take-profit and stop-loss, one OCA group) use
    `protection_time_in_force`, GTC by default: they must protect the position until it is
    closed, not expire at the first close with a DAY entry.

    Every value is checked here, for every entry point (the facade, the service, the CLI, the
    wire decoder): the ids by their types' rules (`SignalId`: 1-64 printable ASCII characters
    without spaces), `strategy` 1-64 printable characters, a quantity a multiple of the
    instrument's size increment up to `MAX_SIGNAL_QUANTITY`, prices multiples of its tick size
    up to `MAX_SIGNAL_PRICE`, each exact in 28 significant digits. Whether `ts` is recent
    enough needs a clock: `SignalWindow.check`, applied by the gate.
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
        name = f"Signal[{self.signal_id}]"
        if not isinstance(self.signal_id, SignalId):
            raise InvalidValue("Signal.signal_id", self.signal_id, "must be a SignalId")
        if self.correlation_id is not None and not isinstance(self.correlation_id, CorrelationId):
            raise InvalidValue(
                f"{name}.correlation_id", self.correlation_id, "must be a CorrelationId or None"
            )
        if self.protection_time_in_force not in (TimeInForce.GTC, TimeInForce.DAY):
            raise InvalidValue(
                f"{name}.protection_time_in_force",
                self.protection_time_in_force.value,
                "must be GTC or DAY (protective legs work until the position is closed)",
            )
        check_text(f"{name}.strategy", self.strategy, max_length=STRATEGY_MAX_LENGTH)
        if self.confidence > 1:
            raise InvalidValue(f"{name}.confidence", self.confidence, "must be <= 1")
        if len(self.confidence.as_tuple().digits) > _SIGNIFICANT_DIGITS:
            raise InvalidValue(
                f"{name}.confidence",
                self.confidence,
                f"must have at most {_SIGNIFICANT_DIGITS} significant digits",
            )
        instrument = self.instrument
        if self.quantity is not None:
            _check_on_grid(
                f"{name}.quantity",
                self.quantity,
                step=instrument.size_increment,
                maximum=MAX_SIGNAL_QUANTITY,
                what="size increment",
            )
        for field in ("limit_price", "stop_price", "stop_loss", "take_profit"):
            price = getattr(self, field)
            if price is not None:
                _check_on_grid(
                    f"{name}.{field}",
                    price,
                    step=instrument.tick_size,
                    maximum=MAX_SIGNAL_PRICE,
                    what="tick size",
                )
