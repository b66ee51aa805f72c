"""What a `SimGatewayEngine` must translate between the emulator's typed orders and the simulator's
domain orders: an `OrderSpec` becomes the `OrderRequest` the sim broker would have been given, a
re-sent live order becomes the modification the matching engine understands, and the simulator's
refusals (`BrokerRejected`, IB-style rejection texts) become `EngineRefusal`s.

The client order id of an order is the one our IBKR adapter writes into `orderRef`
(`<operator>:<client order id>`), so the simulator sees the very id the in-process sim broker would
have seen; orders of other clients get an id derived from their gateway key. Pure functions: no
state, no clock, never `ib_async`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from decimal import Decimal

from ordergate.adapters.gateway_sim.engine import EngineRefusal, RefusalReason
from ordergate.adapters.gateway_sim.engine_types import (
    ContractSpec,
    OrderKey,
    OrderSpec,
    OrderType,
    TimeInForce,
)
from ordergate.adapters.gateway_sim.instant_matching import validate_order
from ordergate.domain.errors import BrokerRejected, InvalidValue
from ordergate.domain.orders.enums import OrderType as DomainOrderType
from ordergate.domain.orders.enums import TimeInForce as DomainTimeInForce
from ordergate.domain.orders.request import OcaType, OrderRequest
from ordergate.domain.values import ClientOrderId

__all__ = [
    "Modification",
    "client_order_id",
    "modification",
    "order_request",
    "refusal_for",
    "refusal_reason",
]

Modification = tuple[Decimal | None, Decimal | None, Decimal | None]
"""(quantity, limit price, stop price) to change; None leaves a value as it is."""

_DOMAIN_TYPES = {
    OrderType.MARKET: DomainOrderType.MARKET,
    OrderType.LIMIT: DomainOrderType.LIMIT,
    OrderType.STOP: DomainOrderType.STOP,
    OrderType.STOP_LIMIT: DomainOrderType.STOP_LIMIT,
    OrderType.TRAILING_STOP: DomainOrderType.TRAILING_STOP,
    OrderType.TRAILING_STOP_LIMIT: DomainOrderType.TRAILING_STOP,
}
_DOMAIN_TIFS = {
    TimeInForce.DAY: DomainTimeInForce.DAY,
    TimeInForce.GTC: DomainTimeInForce.GTC,
    TimeInForce.IOC: DomainTimeInForce.IOC,
    TimeInForce.GTD: DomainTimeInForce.GTD,
}
_TRAILING = {OrderType.TRAILING_STOP, OrderType.TRAILING_STOP_LIMIT}
_LIMITED = {OrderType.LIMIT, OrderType.STOP_LIMIT}
_STOPPED = {OrderType.STOP, OrderType.STOP_LIMIT}
_BROKER_CODES = {
    103: RefusalReason.DUPLICATE_ORDER_ID,
    135: RefusalReason.ORDER_NOT_FOUND,
    10148: RefusalReason.NOT_CANCELLABLE,
    200: RefusalReason.UNKNOWN_CONTRACT,
}
# Spec fields a working order cannot change in the simulator (it modifies quantity and prices).
_FIXED = (
    "tif",
    "good_till",
    "trailing_amount",
    "trailing_percent",
    "limit_price_offset",
    "oca_group",
    "oca_type",
    "parent_id",
)


def client_order_id(
    key: OrderKey, spec: OrderSpec, taken: Callable[[ClientOrderId], bool]
) -> ClientOrderId:
    """The id our IBKR adapter wrote in `orderRef` (`<operator>:<id>`), else `GW<client>-<order>`
    (with a suffix if `taken` says that one is used already)."""
    operator, sep, written = spec.order_ref.partition(":")
    if sep and operator and written.strip():
        with contextlib.suppress(InvalidValue):  # not one we wrote: give it a GW id
            return ClientOrderId(written)
    base = f"GW{key.client_id}-{key.order_id}"
    candidate, attempt = ClientOrderId(base), 1
    while taken(candidate):
        attempt += 1
        candidate = ClientOrderId(f"{base}.{attempt}")
    return candidate


def order_request(
    cid: ClientOrderId,
    contract: ContractSpec,
    spec: OrderSpec,
    parent: ClientOrderId | None,
) -> OrderRequest:
    """The domain order for `spec` (every order type, time in force, OCA group, bracket parent);
    `EngineRefusal` (INVALID_ORDER) for an order the simulator cannot represent."""
    validate_order(contract, spec)
    kind = spec.order_type
    trailing = kind in _TRAILING
    if kind is OrderType.TRAILING_STOP_LIMIT and spec.limit_price_offset is None:
        raise EngineRefusal(
            RefusalReason.INVALID_ORDER,
            "the simulator's trailing stop limit needs a limit price offset (lmtPriceOffset)",
        )
    oca_type = OcaType.CANCEL_WITH_BLOCK
    if spec.oca_group and spec.oca_type:
        try:
            oca_type = OcaType(spec.oca_type)
        except ValueError:
            raise EngineRefusal(
                RefusalReason.INVALID_ORDER, f"OCA type {spec.oca_type} is not 1, 2 or 3"
            ) from None
    try:
        return OrderRequest(
            client_order_id=cid,
            instrument=contract.instrument,
            side=spec.side,
            quantity=spec.quantity,
            order_type=_DOMAIN_TYPES[kind],
            limit_price=spec.limit_price if kind in _LIMITED else None,
            stop_price=spec.trail_stop_price if trailing else spec.stop_price,
            trail_amount=spec.trailing_amount if trailing else None,
            trail_percent=spec.trailing_percent if trailing else None,
            trail_limit_offset=(
                spec.limit_price_offset if kind is OrderType.TRAILING_STOP_LIMIT else None
            ),
            time_in_force=_DOMAIN_TIFS[spec.tif],
            expire_at=spec.good_till if spec.tif is TimeInForce.GTD else None,
            parent_id=parent,
            oca_group=spec.oca_group or None,
            oca_type=oca_type,
        )
    except InvalidValue as exc:
        raise EngineRefusal(RefusalReason.INVALID_ORDER, str(exc)) from None


def modification(old: OrderSpec, new: OrderSpec) -> Modification:
    """What a re-sent working order changes, as the matching engine's modify takes it;
    `EngineRefusal` (MODIFY_NOT_ALLOWED) for changes the simulator cannot make."""
    if new.side is not old.side:
        raise EngineRefusal(RefusalReason.MODIFY_NOT_ALLOWED, "a modification cannot change side")
    if new.order_type is not old.order_type:
        raise EngineRefusal(
            RefusalReason.MODIFY_NOT_ALLOWED,
            f"cannot change a {old.order_type.value} order into a {new.order_type.value} order",
        )
    for name in _FIXED:
        if getattr(new, name) != getattr(old, name):
            raise EngineRefusal(
                RefusalReason.MODIFY_NOT_ALLOWED,
                f"the simulator modifies quantity and prices only, not {name}",
            )
    kind = old.order_type
    stop_old = old.trail_stop_price if kind in _TRAILING else old.stop_price
    stop_new = new.trail_stop_price if kind in _TRAILING else new.stop_price
    if kind in _TRAILING and stop_new is None and stop_old is not None:
        stop_new = stop_old  # a re-sent trailing order need not repeat the stop it set
    quantity = new.quantity if new.quantity != old.quantity else None
    limit = new.limit_price if kind in _LIMITED and new.limit_price != old.limit_price else None
    stop = stop_new if (kind in _STOPPED or kind in _TRAILING) and stop_new != stop_old else None
    return quantity, limit, stop


def refusal_reason(text: str) -> RefusalReason:
    """The reason of a simulator rejection text (`[200] ...`, `[201] ... insufficient funds`)."""
    if text.startswith("[200]"):
        return RefusalReason.UNKNOWN_CONTRACT
    if "insufficient funds" in text:
        return RefusalReason.INSUFFICIENT_FUNDS
    if text.startswith("[103]") or "duplicate order id" in text:
        return RefusalReason.DUPLICATE_ORDER_ID
    return RefusalReason.INVALID_ORDER


def refusal_for(error: BrokerRejected) -> EngineRefusal:
    """The engine refusal for the simulator's `BrokerRejected` (by IB code, else by text)."""
    text = str(error)
    reason = _BROKER_CODES.get(error.code or 0) or refusal_reason(text)
    return EngineRefusal(reason, text)
