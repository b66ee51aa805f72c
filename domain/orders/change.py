"""`OrderChange`: what a modification asks of a working order, and the order it would make.

A change names the fields to change (quantity, limit or stop price, trailing amount or percent);
`applied_to` builds the order request as it would stand after the change, through
`OrderRequest`'s own validation, so a change that does not fit the order type (a limit price on
a MARKET order, a trailing percent of 100) is refused with `InvalidValue` naming the field.
Pure: the risk gate decides on the result, the application sends it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

from ordergate.domain.errors import InvalidValue
from ordergate.domain.orders.enums import OrderType
from ordergate.domain.orders.order import Order
from ordergate.domain.orders.request import OrderRequest
from ordergate.domain.values import opt_decimal_field

__all__ = ["OrderChange"]

_FIELDS = ("quantity", "limit_price", "stop_price", "trail_amount", "trail_percent")


@attrs.frozen
class OrderChange:
    """New values for some of a working order's terms (None: unchanged)."""

    quantity: Decimal | None = opt_decimal_field(positive=True)
    limit_price: Decimal | None = opt_decimal_field(positive=True)
    stop_price: Decimal | None = opt_decimal_field(positive=True)
    trail_amount: Decimal | None = opt_decimal_field(positive=True)
    trail_percent: Decimal | None = opt_decimal_field(positive=True)

    def __attrs_post_init__(self) -> None:
        if self.is_empty:
            raise InvalidValue("OrderChange", "nothing", "name at least one field to change")

    @property
    def is_empty(self) -> bool:
        return all(getattr(self, name) is None for name in _FIELDS)

    def fields(self) -> dict[str, Decimal]:
        """The fields this change sets."""
        return {n: getattr(self, n) for n in _FIELDS if getattr(self, n) is not None}

    def applied_to(self, order: Order) -> OrderRequest:
        """The request `order` would be after this change (current terms, then the change).

        `InvalidValue` when the new quantity is below what is filled, or the change does not fit
        the order type.
        """
        name = f"modify[{order.client_order_id}]"
        if self.quantity is not None and self.quantity <= order.filled_qty:
            raise InvalidValue(
                f"{name}.quantity",
                self.quantity,
                f"must exceed the filled quantity {order.filled_qty}",
            )
        trailing = order.request.order_type is OrderType.TRAILING_STOP
        if not trailing and (self.trail_amount is not None or self.trail_percent is not None):
            raise InvalidValue(
                f"{name}.trail", self.fields(), "only a TRAILING_STOP order has a trail"
            )
        if self.trail_amount is not None and self.trail_percent is not None:
            raise InvalidValue(
                f"{name}.trail", self.fields(), "give a trail amount or a percent, not both"
            )
        current: dict[str, Any] = {
            "quantity": order.quantity,
            "limit_price": order.limit_price,
            "stop_price": order.stop_price,
            "trail_amount": order.trail_amount,
            "trail_percent": order.trail_percent,
        }
        if self.trail_amount is not None:
            current["trail_percent"] = None  # switching a percent trail to an amount
        if self.trail_percent is not None:
            current["trail_amount"] = None
        current.update(self.fields())
        try:
            return attrs.evolve(order.request, **current)
        except InvalidValue as exc:
            raise InvalidValue(name, self.fields(), f"does not fit the order: {exc}") from None

    def reduces_only(self, order: Order) -> bool:
        """True when the change only lowers the quantity: it can never add risk."""
        return (
            self.quantity is not None
            and self.quantity <= order.quantity
            and set(self.fields()) == {"quantity"}
        )
