"""Properties of the risk gate over random accounts, limits and requests.

An approved order never takes a worst-case position, the worst-case gross notional or leverage
above its cap (unless it was already above and the order does not raise it); reducing orders
pass while REDUCING or with a breaker open; nothing risk-increasing passes while HALTED;
closures pass everything but over-closing, and an approved closure never over-closes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ordergate.domain.instruments import Instrument, OptionContract, OptionRight, Stock
from ordergate.domain.market import Quote
from ordergate.domain.orders import (
    ClosureReason,
    ExecutionFill,
    Order,
    OrderEventKind,
    OrderIntent,
    OrderLifecycleEvent,
    OrderRequest,
    OrderType,
)
from ordergate.domain.portfolio import Portfolio
from ordergate.domain.risk import (
    ExposureBook,
    RiskCode,
    RiskContext,
    RiskLimits,
    Rule,
    TradingState,
    evaluate,
)
from ordergate.domain.values import ClientOrderId, ExecutionId, Side

T0 = datetime(2024, 1, 10, 15, 0, tzinfo=UTC)
INSTRUMENTS: tuple[Instrument, ...] = (
    Stock("AAPL"),
    Stock("MSFT"),
    OptionContract("AAPL", date(2024, 3, 15), Decimal(150), OptionRight.PUT),
)
D = Decimal
CENT = D("0.01")
STATE_CODES = {RiskCode.TRADING_HALTED, RiskCode.TRADING_REDUCING, RiskCode.BREAKER_OPEN}

prices = st.integers(100, 30_000).map(lambda c: D(c) / 100)
quantities = st.integers(1, 1500).map(D)


def _submit(p: Portfolio, request: OrderRequest) -> None:
    p.add_order(Order.from_request(request))
    for kind in (OrderEventKind.SUBMITTED, OrderEventKind.ACCEPTED):
        p.apply(OrderLifecycleEvent(request.client_order_id, kind, T0, T0))


@st.composite
def accounts(draw: st.DrawFn) -> Portfolio:
    """A portfolio with random fills, working orders and a mark on every instrument."""
    p = Portfolio(D(draw(st.integers(0, 2_000_000))))
    for instrument in INSTRUMENTS:
        p.register_instrument(instrument)
    trades = draw(st.lists(st.tuples(st.integers(0, 2), st.sampled_from(Side), quantities)))
    for n, (i, side, qty) in enumerate(trades):
        instrument = INSTRUMENTS[i]
        request = OrderRequest(ClientOrderId(f"F{n}"), instrument, side, qty, OrderType.MARKET)
        _submit(p, request)
        price = draw(prices)
        fill = ExecutionFill(
            request.client_order_id, ExecutionId(f"E{n}"), instrument.id, side, qty, price, T0, T0
        )
        p.apply(fill)
    for instrument in INSTRUMENTS:
        p.mark(instrument.id, draw(prices), T0)
    p.start_session(T0)
    working = draw(st.lists(st.tuples(st.integers(0, 2), st.sampled_from(Side), quantities)))
    for n, (i, side, qty) in enumerate(working):
        limit = (p.marks[INSTRUMENTS[i].id] * D("0.95")).quantize(CENT)
        request = OrderRequest(
            ClientOrderId(f"W{n}"), INSTRUMENTS[i], side, qty, OrderType.LIMIT, limit_price=limit
        )
        _submit(p, request)
    return p


limits_strategy = st.builds(
    RiskLimits,
    max_position=st.integers(0, 3000).map(D),
    max_gross_notional=st.integers(0, 3_000_000).map(D),
    max_leverage=st.integers(0, 40).map(lambda x: D(x) / 10),
    max_open_orders=st.integers(0, 30),
    max_order_quantity=st.integers(0, 2000).map(D),
    max_order_notional=st.integers(0, 500_000).map(D),
)


@st.composite
def requests(draw: st.DrawFn, p: Portfolio, intent: OrderIntent | None = None) -> OrderRequest:
    instrument = INSTRUMENTS[draw(st.integers(0, 2))]
    intent = intent or draw(st.sampled_from(OrderIntent))
    limit = None
    if draw(st.booleans()):
        factor = D(draw(st.integers(80, 120))) / 100
        limit = (p.marks[instrument.id] * factor).quantize(CENT)
    return OrderRequest(
        ClientOrderId("NEW"),
        instrument,
        draw(st.sampled_from(Side)),
        draw(quantities),
        OrderType.MARKET if limit is None else OrderType.LIMIT,
        limit_price=limit,
        intent=intent,
        closure_reason=ClosureReason.MANUAL if intent is OrderIntent.CLOSE else None,
    )


def context(p: Portfolio, request: OrderRequest, **kw: Any) -> RiskContext:
    price = p.marks[request.instrument.id]
    kw.setdefault("quote", Quote(request.instrument.id, T0, last=price))
    return RiskContext(portfolio=p, now=T0, **kw)


def worst_abs(p: Portfolio, request: OrderRequest) -> Decimal:
    long_wc, short_wc = p.worst_case_position(request.instrument.id)
    return max(abs(long_wc), abs(short_wc))


def closable(p: Portfolio, request: OrderRequest) -> Decimal:
    qty = p.position_qty(request.instrument.id)
    if qty == 0 or (qty > 0) == (request.side is Side.BUY):
        return D(0)
    return abs(qty) - p.working_qty(request.instrument.id, request.side)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), p=accounts(), limits=limits_strategy)
def test_approved_orders_keep_worst_cases_gross_and_leverage_under_their_caps(
    data: st.DataObject, p: Portfolio, limits: RiskLimits
) -> None:
    request = data.draw(requests(p))
    before_book = ExposureBook.of(p)
    before_abs = worst_abs(p, request)
    equity = p.equity()
    open_orders = before_book.open_orders
    decision = evaluate(request, context(p, request, limits=limits))
    if not decision.approved:
        return
    _submit(p, request)
    after_book = ExposureBook.of(p)
    limit = limits.position_limit(request.instrument.id)
    assert worst_abs(p, request) <= max(limit, before_abs)
    assert after_book.gross_notional <= max(limits.max_gross_notional, before_book.gross_notional)
    if after_book.gross_notional > before_book.gross_notional:
        assert equity > 0
        assert after_book.gross_notional / equity <= limits.max_leverage
    if request.intent is OrderIntent.OPEN:
        assert open_orders < limits.max_open_orders
        assert request.quantity <= limits.max_order_quantity


def only(rule: Rule, **limits: Any) -> RiskLimits:
    """Limits with every rule but `rule` switched off (the mandatory checks still run)."""
    return RiskLimits(disabled=set(Rule) - {rule}, **limits)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), p=accounts(), cap=st.integers(0, 3000).map(D))
def test_position_cap_alone(data: st.DataObject, p: Portfolio, cap: Decimal) -> None:
    request = data.draw(requests(p, OrderIntent.OPEN))
    before = worst_abs(p, request)
    if evaluate(
        request, context(p, request, limits=only(Rule.POSITION, max_position=cap))
    ).approved:
        _submit(p, request)
        assert worst_abs(p, request) <= max(cap, before)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), p=accounts(), cap=st.integers(0, 2_000_000).map(D))
def test_gross_notional_cap_alone(data: st.DataObject, p: Portfolio, cap: Decimal) -> None:
    request = data.draw(requests(p, OrderIntent.OPEN))
    before = ExposureBook.of(p).gross_notional
    limits = only(Rule.GROSS_NOTIONAL, max_gross_notional=cap)
    if evaluate(request, context(p, request, limits=limits)).approved:
        _submit(p, request)
        assert ExposureBook.of(p).gross_notional <= max(cap, before)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), p=accounts(), cap=st.integers(0, 40).map(lambda x: D(x) / 10))
def test_leverage_cap_alone(data: st.DataObject, p: Portfolio, cap: Decimal) -> None:
    request = data.draw(requests(p, OrderIntent.OPEN))
    before = ExposureBook.of(p).gross_notional
    equity = p.equity()
    if evaluate(
        request, context(p, request, limits=only(Rule.LEVERAGE, max_leverage=cap))
    ).approved:
        _submit(p, request)
        after = ExposureBook.of(p).gross_notional
        if after > before:
            assert after <= cap * equity


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    p=accounts(),
    state=st.sampled_from([TradingState.REDUCING, TradingState.ACTIVE]),
    breakers=st.frozensets(st.sampled_from(["daily_loss", "drawdown", "data_staleness"])),
)
def test_reducing_orders_pass_while_reducing_or_with_breakers_open(
    data: st.DataObject, p: Portfolio, state: TradingState, breakers: frozenset[str]
) -> None:
    open_positions = [x for x in p.open_positions() if closable_of(p, x.instrument_id) > 0]
    if not open_positions:
        return
    position = data.draw(st.sampled_from(open_positions))
    room = closable_of(p, position.instrument_id)
    qty = data.draw(st.integers(1, int(room)).map(D))
    side = Side.SELL if position.quantity > 0 else Side.BUY
    request = OrderRequest(ClientOrderId("R"), position.instrument, side, qty, OrderType.MARKET)
    permissive = RiskLimits().without(
        Rule.ORDER_QUANTITY, Rule.ORDER_NOTIONAL, Rule.OPEN_ORDERS, Rule.PATTERN_DAY_TRADER
    )
    decision = evaluate(
        request, context(p, request, limits=permissive, trading_state=state, open_breakers=breakers)
    )
    assert decision.reducing
    assert decision.approved, decision.explain()


def closable_of(p: Portfolio, instrument_id: Any) -> Decimal:
    qty = p.position_qty(instrument_id)
    side = Side.SELL if qty > 0 else Side.BUY
    return abs(qty) - p.working_qty(instrument_id, side)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), p=accounts(), limits=limits_strategy, breakers=st.booleans())
def test_state_and_breakers_never_let_risk_increasing_orders_through(
    data: st.DataObject, p: Portfolio, limits: RiskLimits, breakers: bool
) -> None:
    request = data.draw(requests(p, OrderIntent.OPEN))
    state = data.draw(st.sampled_from(TradingState))
    open_breakers = {"drawdown"} if breakers else set()
    decision = evaluate(
        request,
        context(p, request, limits=limits, trading_state=state, open_breakers=open_breakers),
    )
    if state is TradingState.HALTED:
        assert not decision.approved
        assert RiskCode.TRADING_HALTED in decision.codes
    if decision.approved and (state is TradingState.REDUCING or breakers):
        assert decision.reducing
        assert request.quantity <= closable(p, request)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), p=accounts(), limits=limits_strategy, state=st.sampled_from(TradingState))
def test_closures_are_denied_only_for_over_closing_and_never_over_close(
    data: st.DataObject, p: Portfolio, limits: RiskLimits, state: TradingState
) -> None:
    breakers = data.draw(st.frozensets(st.sampled_from(["daily_loss", "broker_error_rate"])))
    stale = data.draw(st.booleans())
    intent = data.draw(st.sampled_from([OrderIntent.CLOSE, OrderIntent.FLATTEN]))
    request = data.draw(requests(p, intent))
    quote = None if stale else Quote(request.instrument.id, T0, last=D(1))
    ctx = context(
        p, request, limits=limits, trading_state=state, open_breakers=breakers, quote=quote
    )
    decision = evaluate(request, ctx)
    over_closes = request.quantity > closable(p, request)
    assert decision.approved is not over_closes
    if over_closes:
        assert (RiskCode.OVER_CLOSE,) == decision.codes
    assert decision.reducing is not over_closes


@settings(max_examples=100, deadline=None)
@given(data=st.data(), p=accounts(), limits=limits_strategy)
def test_a_decision_is_a_function_of_its_inputs(
    data: st.DataObject, p: Portfolio, limits: RiskLimits
) -> None:
    request = data.draw(requests(p))
    first = evaluate(request, context(p, request, limits=limits))
    again = evaluate(request, context(p, request, limits=limits))
    assert first == again
    assert first.approved == (not first.denials)
    assert STATE_CODES.isdisjoint(first.codes)  # ACTIVE with no breaker open


@settings(max_examples=100, deadline=None)
@given(p=accounts())
def test_the_context_values_the_account_as_the_portfolio_does(p: Portfolio) -> None:
    ctx = RiskContext(portfolio=p, now=T0 + timedelta(seconds=1))
    assert p.equity() == ctx.equity
    assert p.reserved_cash() == ctx.book.reserved_cash
    for instrument in INSTRUMENTS:
        exposure = ctx.book.instruments.get(instrument.id)
        long_wc, short_wc = p.worst_case_position(instrument.id)
        if exposure is not None:
            assert (long_wc, short_wc) == (exposure.worst_long, exposure.worst_short)
        else:
            assert (D(0), D(0)) == (long_wc, short_wc)
