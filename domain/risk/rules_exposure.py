"""Exposure rules: order size, position, gross notional, leverage, open orders, affordability.

Positions are judged by their *worst case*: the position if every working order filled, plus the
new order. Orders that cannot raise that worst case (reducing orders) pass the position, gross,
leverage and affordability rules by construction; the per-order size limits still apply to them,
as fat-finger guards. Closures and flattens pass every rule here (`new_risk_rule`).
"""

from __future__ import annotations

from decimal import Decimal

from ordergate.domain.orders.request import OrderRequest
from ordergate.domain.risk.decision import Denial, RiskCode
from ordergate.domain.risk.rules import RiskContext, deny, fmt, new_risk_rule
from ordergate.domain.values import ZERO, Side

__all__ = [
    "adds_exposure",
    "check_affordability",
    "check_gross_notional",
    "check_leverage",
    "check_open_orders",
    "check_order_notional",
    "check_order_quantity",
    "check_position",
    "projected_gross",
]


def _no_price(request: OrderRequest, limit_name: str) -> Denial:
    return deny(
        RiskCode.NO_MARKET_DATA,
        f"cannot check {limit_name} for {request.instrument.id}: no limit, stop, quote or mark "
        "price to value the order at",
        limit_name,
        "no price",
    )


@new_risk_rule
def check_order_quantity(request: OrderRequest, ctx: RiskContext) -> Denial | None:
    """Deny an order larger than `max_order_quantity` (per instrument, with a default)."""
    limit = ctx.limits.order_quantity_limit(ctx.instrument_id(request))
    if request.quantity <= limit:
        return None
    return deny(
        RiskCode.MAX_ORDER_QUANTITY,
        f"order quantity {fmt(request.quantity)} exceeds max_order_quantity {fmt(limit)} "
        f"for {request.instrument.id}",
        limit,
        request.quantity,
    )


@new_risk_rule
def check_order_notional(request: OrderRequest, ctx: RiskContext) -> Denial | None:
    """Deny an order whose notional (quantity × price × multiplier) exceeds `max_order_notional`."""
    price = ctx.order_price(request)
    if price is None:
        return _no_price(request, "max_order_notional")
    limit = ctx.limits.order_notional_limit(ctx.instrument_id(request))
    notional = request.quantity * price * request.instrument.multiplier
    if notional <= limit:
        return None
    return deny(
        RiskCode.MAX_ORDER_NOTIONAL,
        f"order notional {fmt(notional)} ({fmt(request.quantity)} × {fmt(price)} × "
        f"{fmt(request.instrument.multiplier)}) exceeds max_order_notional {fmt(limit)} "
        f"for {request.instrument.id}",
        limit,
        notional,
    )


@new_risk_rule
def check_position(request: OrderRequest, ctx: RiskContext) -> Denial | None:
    """Deny an order that could take the worst-case position beyond `max_position`.

    Only the order's own side moves: a buy can raise the worst long, a sell the worst short.
    """
    limit = ctx.limits.position_limit(ctx.instrument_id(request))
    facts = ctx.facts(request)
    worst = facts.worst_long_after if request.side is Side.BUY else -facts.worst_short_after
    if worst <= limit:
        return None
    exposure = ctx.exposure(request)
    return deny(
        RiskCode.MAX_POSITION,
        f"worst-case position {fmt(worst)} in {request.instrument.id} (position "
        f"{fmt(exposure.quantity)}, working {request.side.value.lower()}s "
        f"{fmt(exposure.working_on(request.side))}, this order {fmt(request.quantity)}) "
        f"exceeds max_position {fmt(limit)}",
        limit,
        worst,
    )


def adds_exposure(request: OrderRequest, ctx: RiskContext) -> bool:
    """True when the request raises the instrument's worst-case absolute position."""
    return ctx.facts(request).adds_exposure


def projected_gross(request: OrderRequest, ctx: RiskContext, price: Decimal) -> Decimal:
    """The worst-case gross notional with the request working.

    The request's instrument is valued at `price` (the gate passes the order price, the highest
    known), every other instrument as the exposure book values it.
    """
    facts = ctx.facts(request)
    after = max(abs(facts.worst_long_after), abs(facts.worst_short_after))
    book = ctx.book
    current = book.instruments.get(ctx.instrument_id(request))
    others = book.gross_notional - (current.notional if current is not None else ZERO)
    gross = others + after * price * request.instrument.multiplier
    ctx.note("gross_after", gross)
    return gross


@new_risk_rule
def check_gross_notional(request: OrderRequest, ctx: RiskContext) -> Denial | None:
    """Deny an order that raises the worst-case gross notional above `max_gross_notional`."""
    if not adds_exposure(request, ctx):
        return None
    price = ctx.order_price(request)
    if price is None:
        return _no_price(request, "max_gross_notional")
    gross = projected_gross(request, ctx, price)
    limit = ctx.limits.max_gross_notional
    if gross <= limit:
        return None
    return deny(
        RiskCode.MAX_GROSS_NOTIONAL,
        f"worst-case gross notional {fmt(gross)} with this order exceeds max_gross_notional "
        f"{fmt(limit)}",
        limit,
        gross,
    )


@new_risk_rule
def check_leverage(request: OrderRequest, ctx: RiskContext) -> Denial | None:
    """Deny an order that raises worst-case gross notional / equity above `max_leverage`."""
    if not adds_exposure(request, ctx):
        return None
    price = ctx.order_price(request)
    if price is None:
        return _no_price(request, "max_leverage")
    limit = ctx.limits.max_leverage
    equity = ctx.equity
    if equity <= 0:
        return deny(
            RiskCode.MAX_LEVERAGE,
            f"equity {fmt(equity)} is not positive, so leverage is unbounded (inf) and "
            f"exceeds max_leverage {fmt(limit)}",
            limit,
            "inf",
        )
    gross = projected_gross(request, ctx, price)
    leverage = gross / equity
    ctx.note("leverage_after", leverage)
    if leverage <= limit:
        return None
    return deny(
        RiskCode.MAX_LEVERAGE,
        f"leverage {fmt(leverage)} (worst-case gross {fmt(gross)} / equity {fmt(equity)}) "
        f"exceeds max_leverage {fmt(limit)}",
        limit,
        leverage,
    )


@new_risk_rule
def check_open_orders(request: OrderRequest, ctx: RiskContext) -> Denial | None:
    """Deny a new order when `max_open_orders` orders are already working."""
    limit = ctx.limits.max_open_orders
    working = ctx.book.open_orders
    if working < limit:
        return None
    return deny(
        RiskCode.MAX_OPEN_ORDERS,
        f"{working} orders are working; max_open_orders {limit} allows no more",
        limit,
        working,
    )


@new_risk_rule
def check_affordability(request: OrderRequest, ctx: RiskContext) -> Denial | None:
    """Deny a risk-increasing order whose cash need exceeds the available funds.

    The need is quantity × price × multiplier (an option's premium times its multiplier); a
    short sale must be covered the same way. Available funds are cash minus what working buys
    could consume. Reducing orders need no funds.
    """
    if ctx.is_reducing(request):
        return None
    price = ctx.order_price(request)
    if price is None:
        return _no_price(request, "affordability")
    need = request.quantity * price * request.instrument.multiplier
    available = ctx.portfolio.cash - ctx.book.reserved_cash
    ctx.note("available_funds", available)
    if need <= available:
        return None
    return deny(
        RiskCode.INSUFFICIENT_FUNDS,
        f"order needs {fmt(need)} ({fmt(request.quantity)} × {fmt(price)} × "
        f"{fmt(request.instrument.multiplier)}) but available funds are {fmt(available)}",
        available,
        need,
    )
