"""Order intents: `OrderRequest` (one order, before risk), `BracketRequest` and `OcaGroup`.

Validation happens here, at construction: a limit order without a price, a trailing stop with both
an amount and a percent, or a GTD order without an expiry never becomes a value.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from ordergate.domain.errors import InvalidValue
from ordergate.domain.instruments import Instrument, OptionContract, Stock
from ordergate.domain.orders.enums import OrderIntent, OrderType, TimeInForce
from ordergate.domain.values import (
    POSITIVE_DECIMAL,
    ClientOrderId,
    CorrelationId,
    InstrumentId,
    Side,
    SignalId,
    check_utc,
    opt_decimal_field,
)

__all__ = ["BracketRequest", "ClosureReason", "OcaGroup", "OcaType", "OrderRequest"]


class ClosureReason(enum.Enum):
    """Why a position is being closed (recorded in the audit trail)."""

    THREE_DTE = "3_DTE_RULE"
    EMERGENCY_STOP = "EMERGENCY_STOP"
    DATA_QUARANTINE = "DATA_QUARANTINE"
    DAILY_LOSS_LIMIT = "DAILY_LOSS_LIMIT"
    DRAWDOWN_GOVERNOR = "DRAWDOWN_GOVERNOR"
    MANUAL = "MANUAL"
    STRATEGY_EXIT = "STRATEGY_EXIT"


class OcaType(enum.Enum):
    """IB's OCA types: what happens to the other orders when one fills."""

    CANCEL_WITH_BLOCK = 1  # cancel the rest; overfill protected
    REDUCE_WITH_BLOCK = 2  # reduce the rest proportionally; overfill protected
    REDUCE_NON_BLOCK = 3  # reduce the rest proportionally; no protection


def _instance_of(*types: type) -> Any:
    return attrs.validators.instance_of(types)


def _optional_utc(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        check_utc(f"{type(inst).__name__}.{attribute.name}", value)


@attrs.frozen
class OrderRequest:
    """An intent to trade one instrument, produced from a signal or a closure, before risk.

    Prices required by `order_type`:
    MARKET none; LIMIT `limit_price`; STOP `stop_price`; STOP_LIMIT both; TRAILING_STOP exactly
    one of `trail_amount` / `trail_percent`, with optional `trail_limit_offset` (a trailing
    stop-limit) and optional initial `stop_price`.
    """

    client_order_id: ClientOrderId = attrs.field(validator=_instance_of(ClientOrderId))
    instrument: Instrument = attrs.field(validator=_instance_of(Stock, OptionContract))
    side: Side = attrs.field(validator=_instance_of(Side))
    quantity: Decimal = attrs.field(validator=POSITIVE_DECIMAL)
    order_type: OrderType = attrs.field(validator=_instance_of(OrderType))
    limit_price: Decimal | None = opt_decimal_field(positive=True)
    stop_price: Decimal | None = opt_decimal_field(positive=True)
    trail_amount: Decimal | None = opt_decimal_field(positive=True)
    trail_percent: Decimal | None = opt_decimal_field(positive=True)
    trail_limit_offset: Decimal | None = opt_decimal_field(non_negative=True)
    time_in_force: TimeInForce = attrs.field(
        default=TimeInForce.DAY, validator=_instance_of(TimeInForce)
    )
    expire_at: datetime | None = attrs.field(default=None, validator=_optional_utc)
    intent: OrderIntent = attrs.field(default=OrderIntent.OPEN, validator=_instance_of(OrderIntent))
    closure_reason: ClosureReason | None = None
    signal_id: SignalId | None = None
    correlation_id: CorrelationId | None = None
    parent_id: ClientOrderId | None = None
    oca_group: str | None = None
    oca_type: OcaType = OcaType.CANCEL_WITH_BLOCK
    operator_id: str = ""
    transmit: bool = True

    def __attrs_post_init__(self) -> None:
        name = f"OrderRequest[{self.client_order_id}]"
        needs_limit = self.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        needs_stop = self.order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
        if needs_limit and self.limit_price is None:
            raise InvalidValue(f"{name}.limit_price", None, f"required for {self.order_type.value}")
        if needs_stop and self.stop_price is None:
            raise InvalidValue(f"{name}.stop_price", None, f"required for {self.order_type.value}")
        if self.order_type is OrderType.MARKET:
            for field in ("limit_price", "stop_price"):
                if getattr(self, field) is not None:
                    raise InvalidValue(
                        f"{name}.{field}", getattr(self, field), "must be None for MARKET"
                    )
        if self.order_type is OrderType.LIMIT and self.stop_price is not None:
            raise InvalidValue(f"{name}.stop_price", self.stop_price, "must be None for LIMIT")
        is_trailing = self.order_type is OrderType.TRAILING_STOP
        if is_trailing and (self.trail_amount is None) == (self.trail_percent is None):
            raise InvalidValue(
                f"{name}.trail_amount/trail_percent",
                (self.trail_amount, self.trail_percent),
                "a TRAILING_STOP needs exactly one of trail_amount or trail_percent",
            )
        if not is_trailing:
            for field in ("trail_amount", "trail_percent", "trail_limit_offset"):
                if getattr(self, field) is not None:
                    raise InvalidValue(
                        f"{name}.{field}", getattr(self, field), "only for TRAILING_STOP orders"
                    )
        if self.trail_percent is not None and self.trail_percent >= 100:
            raise InvalidValue(f"{name}.trail_percent", self.trail_percent, "must be < 100")
        if (self.time_in_force is TimeInForce.GTD) != (self.expire_at is not None):
            raise InvalidValue(
                f"{name}.expire_at", self.expire_at, "required for GTD and only for GTD"
            )
        if (self.intent is OrderIntent.CLOSE) and self.closure_reason is None:
            raise InvalidValue(f"{name}.closure_reason", None, "required when intent is CLOSE")
        if not self.instrument.is_valid_quantity(self.quantity):
            raise InvalidValue(
                f"{name}.quantity",
                self.quantity,
                f"must be a multiple of the size increment {self.instrument.size_increment}",
            )

    @property
    def instrument_id(self) -> InstrumentId:
        return self.instrument.id

    @property
    def is_risk_reducing_intent(self) -> bool:
        """True for closures and flattens: never blocked by new-risk limits."""
        return self.intent is not OrderIntent.OPEN

    @property
    def signed_quantity(self) -> Decimal:
        return self.quantity * self.side.sign

    @property
    def reference_price(self) -> Decimal | None:
        """The price a notional check uses when no quote is better: limit, else stop."""
        return self.limit_price if self.limit_price is not None else self.stop_price


@attrs.frozen
class BracketRequest:
    """Entry + take-profit + stop-loss. The children work only after the entry fills and
    cancel each other (one-cancels-other) when one of them fills.
    """

    entry: OrderRequest
    take_profit: OrderRequest
    stop_loss: OrderRequest

    def __attrs_post_init__(self) -> None:
        entry = self.entry
        for label, child in (("take_profit", self.take_profit), ("stop_loss", self.stop_loss)):
            where = f"BracketRequest.{label}"
            if child.instrument != entry.instrument:
                raise InvalidValue(f"{where}.instrument", child.instrument, "must match the entry")
            if child.side is not entry.side.opposite:
                raise InvalidValue(f"{where}.side", child.side, "must be opposite to the entry")
            if child.quantity != entry.quantity:
                raise InvalidValue(f"{where}.quantity", child.quantity, "must equal the entry's")
            if child.parent_id != entry.client_order_id:
                raise InvalidValue(f"{where}.parent_id", child.parent_id, "must be the entry's id")
        if self.take_profit.order_type is not OrderType.LIMIT:
            raise InvalidValue(
                "BracketRequest.take_profit.order_type",
                self.take_profit.order_type,
                "must be LIMIT",
            )
        if self.stop_loss.order_type not in (
            OrderType.STOP,
            OrderType.STOP_LIMIT,
            OrderType.TRAILING_STOP,
        ):
            raise InvalidValue(
                "BracketRequest.stop_loss.order_type",
                self.stop_loss.order_type,
                "must be STOP, STOP_LIMIT or TRAILING_STOP",
            )
        tp, sl = self.take_profit, self.stop_loss
        if tp.oca_group is None or tp.oca_group != sl.oca_group:
            raise InvalidValue(
                "BracketRequest.oca_group", (tp.oca_group, sl.oca_group), "children must share one"
            )
        if tp.limit_price is not None and sl.stop_price is not None:
            wrong = (
                tp.limit_price <= sl.stop_price
                if entry.side is Side.BUY
                else tp.limit_price >= sl.stop_price
            )
            if wrong:
                raise InvalidValue(
                    "BracketRequest.take_profit.limit_price",
                    tp.limit_price,
                    f"must be on the profit side of the stop {sl.stop_price}",
                )

    @property
    def orders(self) -> tuple[OrderRequest, OrderRequest, OrderRequest]:
        return (self.entry, self.take_profit, self.stop_loss)


@attrs.frozen
class OcaGroup:
    """Orders where a fill of one cancels (or reduces) the others."""

    name: str
    orders: tuple[OrderRequest, ...]
    oca_type: OcaType = OcaType.CANCEL_WITH_BLOCK

    def __attrs_post_init__(self) -> None:
        if len(self.orders) < 2:
            raise InvalidValue("OcaGroup.orders", len(self.orders), "needs at least two orders")
        for order in self.orders:
            if order.oca_group != self.name:
                raise InvalidValue(
                    f"OcaGroup.orders[{order.client_order_id}].oca_group",
                    order.oca_group,
                    f"must be {self.name!r}",
                )
