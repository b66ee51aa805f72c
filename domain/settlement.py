"""The events of an option position's settlement at expiry: exercised, assigned, expired.

Kept apart from `domain/events.py` (which re-exports them) so that the portfolio can apply them
without importing the risk package. `domain/expiry.py` decides which one applies.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from ordergate.domain.errors import InvalidValue
from ordergate.domain.instruments import OptionContract, Stock
from ordergate.domain.values import CorrelationId, opt_decimal_field, utc_field

__all__ = ["OptionAssigned", "OptionExercised", "OptionExpired", "OptionSettlement"]

# The settlement price is given by brokers that say it (the simulator) and None where the broker's
# report does not carry it (IB's exercise executions); required positionally either way.
def _price() -> Any:
    return opt_decimal_field(positive=True, default=attrs.NOTHING)


def _settlement_id(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue(
            f"{type(inst).__name__}.{attribute.name}", value, "must be a non-empty id"
        )


def _contracts(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value == 0:
        raise InvalidValue(
            f"{type(inst).__name__}.{attribute.name}", value, "must be a non-zero Decimal position"
        )


@attrs.frozen
class OptionExercised:
    """A long option position in the money at expiry was exercised (automatically, by the
    clearing house's threshold, or on request): `quantity` contracts (positive) are removed and
    `shares` of `underlying` (signed: bought for a call, sold for a put) delivered at the strike.

    `settlement_id` identifies the settlement (the portfolio applies an id once);
    `underlying_price` is the settlement price the decision was made at (None when the broker's
    report does not carry it, as IB's does not).
    """

    settlement_id: str = attrs.field(validator=_settlement_id)
    option: OptionContract
    quantity: Decimal = attrs.field(validator=_contracts)
    underlying: Stock
    shares: Decimal = attrs.field(validator=_contracts)
    underlying_price: Decimal | None = _price()
    ts_event: datetime = utc_field()
    ts_init: datetime = utc_field()
    correlation_id: CorrelationId | None = None
    version: int = 1


@attrs.frozen
class OptionAssigned:
    """A short option position was assigned at expiry: `quantity` contracts (negative) are
    removed and `shares` (signed: sold for a call, bought for a put) delivered at the strike."""

    settlement_id: str = attrs.field(validator=_settlement_id)
    option: OptionContract
    quantity: Decimal = attrs.field(validator=_contracts)
    underlying: Stock
    shares: Decimal = attrs.field(validator=_contracts)
    underlying_price: Decimal | None = _price()
    ts_event: datetime = utc_field()
    ts_init: datetime = utc_field()
    correlation_id: CorrelationId | None = None
    version: int = 1


@attrs.frozen
class OptionExpired:
    """An option position (`quantity`, signed) lapsed at expiry: out of the money (or less than
    the exercise threshold in), removed at price 0 with nothing delivered."""

    settlement_id: str = attrs.field(validator=_settlement_id)
    option: OptionContract
    quantity: Decimal = attrs.field(validator=_contracts)
    underlying_price: Decimal | None = _price()
    ts_event: datetime = utc_field()
    ts_init: datetime = utc_field()
    correlation_id: CorrelationId | None = None
    version: int = 1


OptionSettlement = OptionExercised | OptionAssigned | OptionExpired
"""What happens to an option position at expiry (`domain/expiry.py` decides which)."""
