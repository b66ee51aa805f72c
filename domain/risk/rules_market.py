"""Order sanity rules: price collar, data staleness, duplicates and price increments.

The collar and staleness rules limit new risk (closures and flattens pass them; staleness also
lets reducing orders through, so stale data never traps a position). The duplicate guard and the
price-increment check apply to every order, closures included: a repeated id or an off-tick
price is a bug, not risk, and the broker would refuse the off-tick price anyway.
"""

from __future__ import annotations

from ordergate.domain.orders.enums import OrderStatus
from ordergate.domain.orders.request import OrderRequest
from ordergate.domain.risk.decision import Denial, RiskCode
from ordergate.domain.risk.rules import RiskContext, deny, fmt, new_risk_rule

__all__ = [
    "check_duplicate",
    "check_price_collar",
    "check_price_increment",
    "check_staleness",
]


@new_risk_rule
def check_price_collar(request: OrderRequest, ctx: RiskContext) -> Denial | None:
    """Deny a limit or stop price more than `price_collar` (a fraction) from the quote.

    Without a usable quote there is nothing to compare with; the staleness rule owns that case.
    """
    reference = ctx.quote_price(request)
    if reference is None:
        return None
    collar = ctx.limits.price_collar
    for label, price in (("limit", request.limit_price), ("stop", request.stop_price)):
        if price is None:
            continue
        distance = abs(price - reference) / reference
        if distance > collar:
            ctx.note(f"{label}_distance", distance)
            return deny(
                RiskCode.PRICE_COLLAR,
                f"{label} price {fmt(price)} is {fmt(distance)} away from the quote "
                f"{fmt(reference)} for {request.instrument.id}; price_collar allows "
                f"{fmt(collar)}",
                collar,
                distance,
            )
    return None


@new_risk_rule
def check_staleness(request: OrderRequest, ctx: RiskContext) -> Denial | None:
    """Deny a risk-increasing order without a quote, or on a quote older than `max_quote_age`."""
    if ctx.is_reducing(request):
        return None
    quote = ctx.quote
    limit = ctx.limits.max_quote_age
    if quote is None or ctx.quote_price(request) is None:
        what = "no quote" if quote is None else f"the quote for {quote.instrument_id} has no price"
        return deny(
            RiskCode.NO_MARKET_DATA,
            f"{what} for {request.instrument.id}: new risk needs a quote younger than "
            f"max_quote_age {limit.total_seconds():g}s",
            f"{limit.total_seconds():g}s",
            "no quote",
        )
    age = quote.age(ctx.now).total_seconds()
    ctx.note("quote_age_s", f"{age:g}")
    if age <= limit.total_seconds():
        return None
    return deny(
        RiskCode.STALE_DATA,
        f"quote for {request.instrument.id} is {age:g}s old; max_quote_age is "
        f"{limit.total_seconds():g}s",
        f"{limit.total_seconds():g}s",
        f"{age:g}s",
    )


def check_duplicate(request: OrderRequest, ctx: RiskContext) -> Denial | None:
    """Deny a client order id or signal id seen before (closures included).

    An order already in the portfolio with this id counts as seen unless it is still
    INITIALIZED: that is the request under evaluation, registered before its decision.
    """
    cid = request.client_order_id
    known = ctx.portfolio.orders.get(cid)
    if cid in ctx.seen_client_order_ids or (
        known is not None and known.status is not OrderStatus.INITIALIZED
    ):
        return deny(
            RiskCode.DUPLICATE_ORDER,
            f"client order id {cid} was seen before; the duplicate guard allows each client "
            "order id once",
            "each client order id once",
            cid,
        )
    signal = request.signal_id
    if signal is not None and signal in ctx.seen_signal_ids:
        return deny(
            RiskCode.DUPLICATE_ORDER,
            f"signal {signal} was seen before; the duplicate guard allows each signal id once",
            "each signal id once",
            signal,
        )
    return None


def check_price_increment(request: OrderRequest, ctx: RiskContext) -> Denial | None:
    """Deny a limit, stop or trail amount that is not a whole number of ticks."""
    instrument = request.instrument
    for label, price in (
        ("limit price", request.limit_price),
        ("stop price", request.stop_price),
        ("trail amount", request.trail_amount),
    ):
        if price is not None and not instrument.is_valid_price(price):
            return deny(
                RiskCode.INVALID_PRICE_INCREMENT,
                f"{label} {fmt(price)} for {instrument.id} is not a multiple of the tick size "
                f"{fmt(instrument.tick_size)}",
                instrument.tick_size,
                price,
            )
    return None
