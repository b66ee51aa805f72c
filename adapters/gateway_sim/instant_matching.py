"""Pure price rules of `InstantEngine`: order validation, when an order is marketable and at what
price, stop triggering and trailing-stop ratchets, and the commission schedule.

Immediate, whole fills at the touch (ask for buys, bid for sells): no queue, no partial fills,
no slippage. Stops trigger on the last price. Functions only — no state, no clock, no I/O, and
never `ib_async`.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from ordergate.adapters.gateway_sim.engine import EngineRefusal, RefusalReason
from ordergate.adapters.gateway_sim.engine_types import (
    ContractSpec,
    MarketSnapshot,
    OrderSpec,
    OrderType,
    TimeInForce,
)
from ordergate.domain.instruments import OptionContract, quantize_price
from ordergate.domain.values import Side

__all__ = ["CommissionSchedule", "StopState", "execution_price", "validate_order"]

_STOP_TYPES = {
    OrderType.STOP,
    OrderType.STOP_LIMIT,
    OrderType.TRAILING_STOP,
    OrderType.TRAILING_STOP_LIMIT,
}
_TRAILING = {OrderType.TRAILING_STOP, OrderType.TRAILING_STOP_LIMIT}


@attrs.frozen
class CommissionSchedule:
    """IB-like tiered-free pricing: per share (stocks, min and cap) or per contract (options)."""

    per_share: Decimal = Decimal("0.005")
    min_per_order: Decimal = Decimal("1.00")
    max_rate_of_value: Decimal = Decimal("0.01")
    per_option_contract: Decimal = Decimal("0.65")

    def commission(self, contract: ContractSpec, quantity: Decimal, price: Decimal) -> Decimal:
        """Commission for one execution, rounded to the cent."""
        if isinstance(contract.instrument, OptionContract):
            fee = max(quantity * self.per_option_contract, self.min_per_order)
        else:
            cap = quantity * price * self.max_rate_of_value
            fee = min(max(quantity * self.per_share, self.min_per_order), max(cap, Decimal("0.01")))
        return fee.quantize(Decimal("0.01"))


def _refuse(detail: str) -> EngineRefusal:
    return EngineRefusal(RefusalReason.INVALID_ORDER, detail)


def validate_order(contract: ContractSpec, spec: OrderSpec) -> None:
    """Raise `EngineRefusal` (INVALID_ORDER) unless `spec` is a complete, well-formed order."""
    inst = contract.instrument
    kind = spec.order_type
    needs_limit = kind in {OrderType.LIMIT, OrderType.STOP_LIMIT}
    needs_stop = kind in {OrderType.STOP, OrderType.STOP_LIMIT}
    if needs_limit and spec.limit_price is None:
        raise _refuse(f"a {kind.value} order needs a limit price")
    if needs_stop and spec.stop_price is None:
        raise _refuse(f"a {kind.value} order needs a stop (aux) price")
    if kind in _TRAILING and spec.trailing_amount is None and spec.trailing_percent is None:
        raise _refuse(f"a {kind.value} order needs a trailing amount or a trailing percent")
    if (
        kind is OrderType.TRAILING_STOP_LIMIT
        and spec.limit_price_offset is None
        and spec.limit_price is None
    ):
        raise _refuse("a trailing stop limit order needs a limit price offset")
    for name in ("limit_price", "stop_price", "trail_stop_price"):
        value = getattr(spec, name)
        if value is not None and (value <= 0 or not inst.is_valid_price(value)):
            raise _refuse(
                f"{name.replace('_', ' ')} {value} is not a positive multiple of the "
                f"minimum tick {inst.tick_size}"
            )
    if not inst.is_valid_quantity(spec.quantity):
        raise _refuse(f"quantity {spec.quantity} is not a multiple of {inst.size_increment}")
    if spec.tif is TimeInForce.GTD and spec.good_till is None:
        raise _refuse("a GTD order needs a good-till date")


@attrs.define
class StopState:
    """Mutable trigger state of one stop or trailing order."""

    triggered: bool = False
    extreme: Decimal | None = None
    """Trailing orders: the best last price seen since the order started working."""
    trigger_limit: Decimal | None = None
    """Trailing stop limit: the limit fixed when the stop triggered."""

    def current_stop(self, contract: ContractSpec, spec: OrderSpec) -> Decimal | None:
        """The stop price in force now (trailing orders ratchet with `extreme`)."""
        if spec.order_type not in _TRAILING:
            return spec.stop_price
        if self.extreme is None:
            return spec.trail_stop_price
        sell = spec.side is Side.SELL
        if spec.trailing_percent is not None:
            offset = self.extreme * spec.trailing_percent / 100
        else:
            offset = spec.trailing_amount or Decimal(0)
        moving = quantize_price(self.extreme - offset if sell else self.extreme + offset,
                                contract.instrument.tick_size)
        if spec.trail_stop_price is None:
            return moving
        return max(moving, spec.trail_stop_price) if sell else min(moving, spec.trail_stop_price)


def execution_price(
    contract: ContractSpec, spec: OrderSpec, stop: StopState, quote: MarketSnapshot
) -> Decimal | None:
    """The price the order fills at now, or None when it must rest. Updates `stop` in place."""
    buy = spec.side is Side.BUY
    last = quote.last
    kind = spec.order_type
    if kind in _TRAILING and last is not None:
        better = max if not buy else min
        stop.extreme = last if stop.extreme is None else better(stop.extreme, last)
    if kind in _STOP_TYPES and not stop.triggered:
        stop_price = stop.current_stop(contract, spec)
        if last is None or stop_price is None:
            return None
        if (buy and last < stop_price) or (not buy and last > stop_price):
            return None
        stop.triggered = True
        if kind is OrderType.TRAILING_STOP_LIMIT:
            stop.trigger_limit = _trail_limit(spec, stop_price)
    limit: Decimal | None
    if kind in {OrderType.LIMIT, OrderType.STOP_LIMIT}:
        limit = spec.limit_price
    elif kind is OrderType.TRAILING_STOP_LIMIT:
        limit = stop.trigger_limit
    else:
        limit = None
    touch = quote.ask if buy else quote.bid
    if touch is None:
        return None
    if limit is None or (buy and touch <= limit) or (not buy and touch >= limit):
        return touch
    return None


def _trail_limit(spec: OrderSpec, stop_price: Decimal) -> Decimal:
    if spec.limit_price_offset is None:
        assert spec.limit_price is not None  # validate_order guarantees one of the two
        return spec.limit_price
    if spec.side is Side.SELL:
        return stop_price - spec.limit_price_offset
    return stop_price + spec.limit_price_offset
