"""The portfolio's working-order totals equal a fresh walk of its working orders, always.

`Portfolio.working` is kept up to date as orders change (through `Portfolio.apply` or by
`Order.apply` called directly, as the execution gate does); the exposure book, the reserved
cash and the working quantities are read from it. After every step of a random sequence —
new orders of every type, lifecycle events (valid or not), partial fills, modifications, marks,
and an order replaced under the same id — each of them must equal what walking the working
orders computes.
"""

from __future__ import annotations

import contextlib
import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ordergate.domain.errors import OrdergateError
from ordergate.domain.instruments import Instrument, OptionContract, OptionRight, Stock
from ordergate.domain.orders import ExecutionFill, Order, OrderRequest, OrderType
from ordergate.domain.orders.events import OrderEventKind, OrderLifecycleEvent
from ordergate.domain.portfolio import Portfolio
from ordergate.domain.risk.rules import ExposureBook
from ordergate.domain.values import ZERO, ClientOrderId, ExecutionId, InstrumentId, Side

T0 = datetime(2024, 1, 8, 15, 0, tzinfo=UTC)
INSTRUMENTS: list[Instrument] = [
    Stock("AAPL"),
    Stock("MSFT"),
    OptionContract("AAPL", date(2024, 1, 19), Decimal(150), OptionRight.CALL),
]
KINDS = [
    OrderEventKind.SUBMITTED,
    OrderEventKind.ACCEPTED,
    OrderEventKind.PENDING_UPDATE,
    OrderEventKind.UPDATED,
    OrderEventKind.PENDING_CANCEL,
    OrderEventKind.CANCEL_REJECTED,
    OrderEventKind.CANCELED,
    OrderEventKind.EXPIRED,
    OrderEventKind.REJECTED,
]
PRICES = st.sampled_from([Decimal("9.5"), Decimal(10), Decimal("10.25"), Decimal(11)])

new_order = st.tuples(
    st.just("new"),
    st.integers(0, len(INSTRUMENTS) - 1),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(1, 20),
    st.sampled_from([OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT]),
    PRICES,
    st.integers(0, 3),  # id slot: a reused slot replaces the order under that id
)
event = st.tuples(
    st.just("event"),
    st.integers(0, 3),
    st.sampled_from(KINDS),
    st.one_of(st.none(), st.integers(1, 25)),
    st.one_of(st.none(), PRICES),
    st.booleans(),  # directly on the order (as the execution gate does) or via the portfolio
)
fill = st.tuples(st.just("fill"), st.integers(0, 3), st.integers(1, 8), PRICES)
mark = st.tuples(st.just("mark"), st.integers(0, len(INSTRUMENTS) - 1), PRICES)
STEPS = st.lists(st.one_of(new_order, event, fill, mark), max_size=60)


def walk(portfolio: Portfolio) -> dict[str, Any]:
    """What the book must say, from every working order (the pre-totals algorithm)."""
    working: dict[InstrumentId, list[Any]] = {}
    open_orders = 0
    reserved = ZERO
    for order in portfolio.working_orders():
        open_orders += 1
        request = order.request
        iid = request.instrument.id
        entry = working.setdefault(iid, [request.instrument, ZERO, ZERO, None])
        leaves = order.working_qty
        px = order.limit_price or order.stop_price
        if request.side is Side.BUY:
            entry[1] += leaves
            cash_px = px or portfolio.mark_of(iid)
            if cash_px is not None:
                reserved += leaves * cash_px * request.instrument.multiplier
        else:
            entry[2] += leaves
        if px is not None and (entry[3] is None or px > entry[3]):
            entry[3] = px
    book: dict[InstrumentId, tuple[Decimal, Decimal, Decimal, Decimal | None]] = {}
    for iid, position in portfolio.positions.items():
        if position.quantity == 0 and iid not in working:
            continue
        entry = working.pop(iid, None) or [position.instrument, ZERO, ZERO, None]
        book[iid] = (position.quantity, entry[1], entry[2], portfolio.mark_of(iid) or entry[3])
    for iid, (_, buy, sell, top) in working.items():
        book[iid] = (ZERO, buy, sell, portfolio.marks.get(iid, top))
    return {"book": book, "open_orders": open_orders, "reserved": reserved}


def observed(portfolio: Portfolio) -> dict[str, Any]:
    exposure = ExposureBook.of(portfolio)
    return {
        "book": {
            iid: (e.quantity, e.working_buy, e.working_sell, e.price)
            for iid, e in exposure.instruments.items()
        },
        "open_orders": exposure.open_orders,
        "reserved": exposure.reserved_cash,
    }


@settings(max_examples=300, deadline=None)
@given(STEPS)
def test_the_working_totals_always_equal_a_walk_of_the_working_orders(steps: list[Any]) -> None:
    portfolio = Portfolio(Decimal(1_000_000))
    for instrument in INSTRUMENTS:
        portfolio.register_instrument(instrument)
    slots: dict[int, Order] = {}
    executions = itertools.count(1)
    for step in steps:
        kind = step[0]
        if kind == "new":
            _, index, side, qty, order_type, price, slot = step
            limit = price if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
            stop = price if order_type in (OrderType.STOP, OrderType.STOP_LIMIT) else None
            request = OrderRequest(
                ClientOrderId(f"O{slot}"), INSTRUMENTS[index], side, Decimal(qty), order_type,
                limit_price=limit, stop_price=stop,
            )
            slots[slot] = order = Order.from_request(request)
            portfolio.add_order(order)
        elif kind == "event" and step[1] in slots:
            _, slot, event_kind, qty, price, direct = step
            order = slots[slot]
            updated = event_kind is OrderEventKind.UPDATED
            lifecycle = OrderLifecycleEvent(
                order.client_order_id, event_kind, T0, T0,
                quantity=Decimal(qty) if updated and qty is not None else None,
                limit_price=price if updated and order.limit_price is not None else None,
            )
            # a refused event changes nothing, and the totals must say so too
            with contextlib.suppress(OrdergateError):
                order.apply(lifecycle) if direct else portfolio.apply(lifecycle)
        elif kind == "fill" and step[1] in slots:
            _, slot, qty, price = step
            order = slots[slot]
            execution = ExecutionFill(
                order.client_order_id, ExecutionId(f"E{next(executions)}"),
                order.request.instrument.id, order.request.side, Decimal(qty), price, T0, T0,
            )
            with contextlib.suppress(OrdergateError):
                portfolio.apply(execution)
        elif kind == "mark":
            _, index, price = step
            portfolio.mark(INSTRUMENTS[index].id, price, T0 + timedelta(seconds=1))
        assert walk(portfolio) == observed(portfolio)
        assert walk(portfolio)["reserved"] == portfolio.reserved_cash()
        for instrument in INSTRUMENTS:
            for side in Side:
                expected = sum(
                    (
                        o.working_qty
                        for o in portfolio.working_orders(instrument.id)
                        if o.request.side is side
                    ),
                    ZERO,
                )
                assert expected == portfolio.working_qty(instrument.id, side)
