"""`SimOrder`: the matching engine's mutable working state of one order, in integer units.

Prices are integer `PRICE_UNIT`s and quantities integer size increments, so matching compares
ints. This module converts an `OrderRequest` into that state and back into the domain's views; it
also holds the IB-like checks a broker applies before accepting an order (price increments).
It never emits events and never reads a clock.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Final, Protocol

from ordergate.adapters.sim.bars import from_units, to_units
from ordergate.domain.account import OrderView
from ordergate.domain.instruments import Instrument
from ordergate.domain.orders.enums import OrderStatus, OrderType, TimeInForce
from ordergate.domain.orders.request import OcaType, OrderRequest
from ordergate.domain.values import BrokerOrderId

__all__ = ["KIND", "SimOrder", "price_increment_error"]

# Order kinds as small ints for the hot path.
MKT: Final = 0
LMT: Final = 1
STP: Final = 2
STPLMT: Final = 3
TRAIL: Final = 4
KIND: Final = {
    OrderType.MARKET: MKT,
    OrderType.LIMIT: LMT,
    OrderType.STOP: STP,
    OrderType.STOP_LIMIT: STPLMT,
    OrderType.TRAILING_STOP: TRAIL,
}
_WORKING_STATUSES: Final = frozenset({OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED})
# The fields the buying power an order holds depends on (the rest of it is fixed at submission).
_FUNDED: Final = frozenset({"status", "qty", "filled", "limit", "stop"})


class _FundsListener(Protocol):
    def refresh(self, order: SimOrder) -> None: ...


def price_increment_error(request: OrderRequest) -> str | None:
    """IB error 110 text when a price of `request` is off the instrument's tick, else None."""
    instrument = request.instrument
    for name in ("limit_price", "stop_price", "trail_amount", "trail_limit_offset"):
        value: Decimal | None = getattr(request, name)
        if value is not None and value != 0 and not instrument.is_valid_price(value):
            return (
                f"[110] The price does not conform to the minimum price variation for this "
                f"contract: {name}={value} is not a multiple of {instrument.tick_size}"
            )
    return None


class SimOrder:
    """One order as the engine works it. Created at submission, kept after it finishes."""

    __slots__ = (
        "active",
        "broker_order_id",
        "buy",
        "children",
        "client_order_id",
        "commission",
        "expire_at",
        "filled",
        "funds",
        "instrument",
        "instrument_id",
        "ioc",
        "key",
        "kind",
        "last_update",
        "limit",
        "month_volume",
        "oca",
        "oca_type",
        "parent",
        "qty",
        "reported_stop",
        "request",
        "seq",
        "size_increment",
        "status",
        "stop",
        "trail_amount",
        "trail_den",
        "trail_num",
        "trail_offset",
        "triggered",
        "units_per_tick",
        "value",
    )

    def __setattr__(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)
        if name in _FUNDED:
            funds = self.funds
            if funds is not None:
                funds.refresh(self)

    def __init__(self, request: OrderRequest, seq: int, broker_order_id: BrokerOrderId) -> None:
        self.funds: _FundsListener | None = None  # told of every change to what funds it holds
        instrument = request.instrument
        self.request = request
        self.seq = seq
        self.broker_order_id = broker_order_id
        self.client_order_id = request.client_order_id
        self.instrument: Instrument = instrument
        self.instrument_id = instrument.id
        self.key = self.instrument_id.value
        self.size_increment = instrument.size_increment
        self.units_per_tick = to_units(instrument.tick_size)
        self.buy = request.side.sign > 0
        self.kind = KIND[request.order_type]
        self.qty = int(request.quantity / instrument.size_increment)
        self.filled = 0
        self.value = 0  # Σ price units × quantity units of the fills
        self.commission = Decimal(0)
        self.month_volume = Decimal(0)
        self.limit = None if request.limit_price is None else to_units(request.limit_price)
        self.stop = None if request.stop_price is None else to_units(request.stop_price)
        self.reported_stop = self.stop
        self.trail_amount = None if request.trail_amount is None else to_units(request.trail_amount)
        self.trail_num = 0
        self.trail_den = 1
        if request.trail_percent is not None:
            numerator, denominator = request.trail_percent.as_integer_ratio()
            self.trail_num, self.trail_den = numerator, denominator * 100
        self.trail_offset = (
            None if request.trail_limit_offset is None else to_units(request.trail_limit_offset)
        )
        # A stop-type order has not yet triggered; everything else behaves as triggered.
        self.triggered = self.kind in (MKT, LMT)
        if self.kind == TRAIL:
            self.limit = None  # a trailing stop-limit gets its limit when it triggers
        self.status = OrderStatus.SUBMITTED
        self.active = False  # True once accepted and (for bracket children) released
        self.parent: SimOrder | None = None
        self.children: list[SimOrder] = []
        self.oca = request.oca_group
        self.oca_type: OcaType = request.oca_type
        self.ioc = request.time_in_force is TimeInForce.IOC
        self.expire_at: datetime | None = None
        self.last_update = -1  # id of the last price update in which this order executed

    # -- state -------------------------------------------------------------------------------
    @property
    def is_working(self) -> bool:
        """Accepted (or partly filled) and not finished."""
        return self.status in _WORKING_STATUSES

    @property
    def leaves(self) -> int:
        """Quantity units not yet filled."""
        return self.qty - self.filled

    def fillable(self) -> int:
        """Quantity units that may fill now: a bracket child only covers what its parent filled."""
        leaves = self.qty - self.filled
        parent = self.parent
        if parent is not None:
            leaves = min(leaves, parent.filled - self.filled)
        return leaves

    def set_trail(self, amount: Decimal | None, percent: Decimal | None) -> None:
        """A trailing stop's new trail: an amount, or a percent (the other is cleared)."""
        if amount is not None:
            self.trail_amount = to_units(amount)
            self.trail_num, self.trail_den = 0, 1
        elif percent is not None:
            numerator, denominator = percent.as_integer_ratio()
            self.trail_amount = None
            self.trail_num, self.trail_den = numerator, denominator * 100

    def trail_stop_from(self, price: int) -> int:
        """The trailing stop implied by `price` (a high for sells, a low for buys), on the tick:
        sell stops round down, buy stops round up (never tighter than asked)."""
        if self.trail_amount is not None:
            raw_num, raw_den = (
                (price - self.trail_amount, 1) if not self.buy else (price + self.trail_amount, 1)
            )
        else:
            sign = 1 if self.buy else -1
            factor = self.trail_den + sign * self.trail_num
            raw_num, raw_den = price * factor, self.trail_den
        tick = self.units_per_tick * raw_den
        if self.buy:
            return -((-raw_num) // tick) * self.units_per_tick
        return (raw_num // tick) * self.units_per_tick

    def trigger(self) -> None:
        """The stop was reached: a stop becomes a market order, a stop-limit a limit order, a
        trailing stop-limit a limit at its stop ∓ the limit offset."""
        self.triggered = True
        if self.kind == TRAIL and self.trail_offset is not None and self.stop is not None:
            offset = self.trail_offset
            self.limit = self.stop + offset if self.buy else max(self.stop - offset, 1)

    # -- views -------------------------------------------------------------------------------
    def quantity_decimal(self, units: int) -> Decimal:
        """`units` size increments as a Decimal quantity."""
        return units * self.size_increment

    def avg_price(self) -> Decimal | None:
        """Average execution price so far, or None before the first fill."""
        if self.filled == 0:
            return None
        return (from_units(self.value) / self.filled).quantize(Decimal("0.0001"))

    def view(self) -> OrderView:
        """The broker's view of this order (`OrderView`)."""
        request = self.request
        limit = self.limit or 0
        return OrderView(
            client_order_id=self.client_order_id,
            broker_order_id=self.broker_order_id,
            instrument_id=self.instrument_id,
            side=request.side,
            order_type=request.order_type,
            status=self.status,
            quantity=self.quantity_decimal(self.qty),
            filled_qty=self.quantity_decimal(self.filled),
            limit_price=None if self.kind == TRAIL or self.limit is None else from_units(limit),
            stop_price=None if self.stop is None else from_units(self.stop),
            avg_px=self.avg_price(),
        )

    def __repr__(self) -> str:
        side = "BUY" if self.buy else "SELL"
        return (
            f"SimOrder({self.client_order_id}, {side} {self.qty} {self.instrument_id} "
            f"kind={self.kind} lmt={self.limit} stp={self.stop} {self.status.value} "
            f"filled={self.filled} trig={self.triggered})"
        )
