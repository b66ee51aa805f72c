"""Hypothesis strategies for ordergate's domain: instruments, order requests, fills, price paths.

Importable by users (`pip install ordergate[testing]`) to property-test their own risk
configuration and adapters. Values are always valid domain objects: Decimal prices on the tick,
aware UTC times, positive quantities.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import strategies as st

from ordergate.domain.instruments import OptionContract, OptionRight, Stock
from ordergate.domain.orders.enums import OrderIntent, OrderType, TimeInForce
from ordergate.domain.orders.request import OrderRequest
from ordergate.domain.values import ClientOrderId, Side

__all__ = [
    "aware_datetimes",
    "client_order_ids",
    "option_contracts",
    "order_requests",
    "price_paths",
    "prices",
    "quantities",
    "sides",
    "stocks",
]

SYMBOLS = ("AAPL", "MSFT", "IBM", "SPY", "QQQ")


def aware_datetimes(
    start: datetime = datetime(2020, 1, 1, tzinfo=UTC),
    end: datetime = datetime(2030, 1, 1, tzinfo=UTC),
) -> st.SearchStrategy[datetime]:
    """Aware UTC datetimes with whole-second precision."""
    span = int((end - start).total_seconds())
    return st.integers(0, span).map(lambda s: start + timedelta(seconds=s))


def prices(low: str = "1", high: str = "1000", tick: str = "0.01") -> st.SearchStrategy[Decimal]:
    """Decimal prices on the tick grid in [low, high]."""
    t = Decimal(tick)
    lo, hi = int(Decimal(low) / t), int(Decimal(high) / t)
    return st.integers(lo, hi).map(lambda n: (n * t).quantize(t))


def quantities(low: int = 1, high: int = 500) -> st.SearchStrategy[Decimal]:
    """Whole-share Decimal quantities."""
    return st.integers(low, high).map(Decimal)


sides = st.sampled_from(Side)


def stocks() -> st.SearchStrategy[Stock]:
    """Stocks from a small symbol set (so portfolios see repeats)."""
    return st.sampled_from(SYMBOLS).map(Stock)


def option_contracts() -> st.SearchStrategy[OptionContract]:
    """Equity options with strikes on a 5-dollar grid and expiries in 2025–2027."""
    return st.builds(
        OptionContract,
        underlying=st.sampled_from(SYMBOLS),
        expiry=st.dates(date(2025, 1, 1), date(2027, 12, 31)),
        strike=st.integers(2, 100).map(lambda n: Decimal(n * 5)),
        right=st.sampled_from(OptionRight),
    )


def client_order_ids() -> st.SearchStrategy[ClientOrderId]:
    """Unique-looking client order ids."""
    return st.uuids().map(lambda u: ClientOrderId(f"O-{u.hex[:12]}"))


@st.composite
def order_requests(
    draw: st.DrawFn,
    instruments: st.SearchStrategy[Stock | OptionContract] | None = None,
    order_types: tuple[OrderType, ...] = tuple(OrderType),
    max_qty: int = 500,
) -> OrderRequest:
    """Valid single-order requests of any type and time in force."""
    instrument = draw(instruments if instruments is not None else stocks())
    order_type = draw(st.sampled_from(order_types))
    price = draw(prices("5", "500"))
    kwargs: dict[str, object] = {}
    if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        kwargs["limit_price"] = price
    if order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
        kwargs["stop_price"] = draw(prices("5", "500"))
    if order_type is OrderType.TRAILING_STOP:
        if draw(st.booleans()):
            kwargs["trail_amount"] = draw(prices("0.05", "10"))
        else:
            kwargs["trail_percent"] = Decimal(draw(st.integers(1, 20)))
    tif = draw(st.sampled_from(TimeInForce))
    if tif is TimeInForce.GTD:
        kwargs["expire_at"] = draw(aware_datetimes())
    return OrderRequest(
        client_order_id=draw(client_order_ids()),
        instrument=instrument,
        side=draw(sides),
        quantity=draw(quantities(1, max_qty)),
        order_type=order_type,
        time_in_force=tif,
        intent=OrderIntent.OPEN,
        **kwargs,  # type: ignore[arg-type]
    )


@st.composite
def price_paths(
    draw: st.DrawFn, start: str = "100", length: int = 50, max_step_ticks: int = 200
) -> list[Decimal]:
    """A random walk of tick-grid prices that stays positive."""
    tick = Decimal("0.01")
    current = Decimal(start)
    path = [current]
    steps = draw(
        st.lists(st.integers(-max_step_ticks, max_step_ticks), min_size=1, max_size=length)
    )
    for step in steps:
        current = max(tick, current + step * tick)
        path.append(current)
    return path
