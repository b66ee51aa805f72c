"""The gate as a whole: every rule runs, closures bypass new-risk rules but not over-closing,
reducing orders pass while REDUCING or with a breaker open, and HALTED stops all but closures."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ordergate.domain.instruments import Stock
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
    DEFAULT_RULES,
    ApprovedOrder,
    BreakerBoard,
    ExposureBook,
    GateRule,
    RiskCode,
    RiskContext,
    RiskGate,
    RiskLimits,
    Rule,
    TradingState,
    evaluate,
)
from ordergate.domain.risk.rules_exposure import check_order_quantity
from ordergate.domain.values import ClientOrderId, CorrelationId, ExecutionId, Side

T0 = datetime(2024, 1, 10, 15, 0, tzinfo=UTC)
AAPL = Stock("AAPL")
D = Decimal
_ids = itertools.count()


def req(
    side: Side = Side.BUY,
    qty: int = 10,
    *,
    intent: OrderIntent = OrderIntent.OPEN,
    limit: str | None = None,
) -> OrderRequest:
    return OrderRequest(
        ClientOrderId(f"G{next(_ids)}"),
        AAPL,
        side,
        D(qty),
        OrderType.MARKET if limit is None else OrderType.LIMIT,
        limit_price=None if limit is None else D(limit),
        intent=intent,
        closure_reason=ClosureReason.EMERGENCY_STOP if intent is OrderIntent.CLOSE else None,
        correlation_id=CorrelationId("corr-1"),
    )


def place(p: Portfolio, request: OrderRequest) -> None:
    p.add_order(Order.from_request(request))
    for kind in (OrderEventKind.SUBMITTED, OrderEventKind.ACCEPTED):
        p.apply(OrderLifecycleEvent(request.client_order_id, kind, T0, T0))


def long_position(qty: int = 100, cash: int = 100_000) -> Portfolio:
    p = Portfolio(D(cash))
    request = req(Side.BUY, qty)
    place(p, request)
    p.apply(
        ExecutionFill(
            request.client_order_id,
            ExecutionId(f"E{next(_ids)}"),
            AAPL.id,
            Side.BUY,
            D(qty),
            D(100),
            T0,
            T0,
        )
    )
    p.mark(AAPL.id, D(100), T0)
    return p


def ctx(p: Portfolio | None = None, **kw: object) -> RiskContext:
    kw.setdefault("quote", Quote(AAPL.id, T0, bid=D(100), ask=D(100), last=D(100)))
    return RiskContext(portfolio=p or long_position(), now=T0, **kw)  # type: ignore[arg-type]


# -- the decision ------------------------------------------------------------------------------
def test_good_order_is_approved_with_its_inputs_recorded() -> None:
    request = req(qty=10, limit="100.50")
    decision = evaluate(request, ctx())
    assert decision.approved
    assert () == decision.denials
    assert request.client_order_id == decision.client_order_id
    assert CorrelationId("corr-1") == decision.correlation_id
    assert T0 == decision.ts
    assert not decision.reducing
    inputs = dict(decision.inputs)
    assert "ACTIVE" == inputs["trading_state"]
    assert "100" == inputs["position"]
    assert "100.50" == inputs["order_price"]
    assert "BUY 10 AAPL" == inputs["order"]
    assert all(isinstance(v, str) for _, v in decision.inputs)


def test_every_rule_runs_and_all_denials_are_collected() -> None:
    decision = evaluate(req(qty=1001, limit="150"), ctx())
    assert {
        RiskCode.MAX_ORDER_QUANTITY,
        RiskCode.MAX_ORDER_NOTIONAL,
        RiskCode.PRICE_COLLAR,
    } <= set(decision.codes)
    assert not decision.approved
    assert "MAX_ORDER_QUANTITY" in decision.explain()


def test_disabled_rules_do_not_run() -> None:
    limits = RiskLimits(disabled={Rule.ORDER_QUANTITY, Rule.ORDER_NOTIONAL, Rule.PRICE_COLLAR})
    limits = limits.without(Rule.POSITION, Rule.GROSS_NOTIONAL, Rule.LEVERAGE, Rule.AFFORDABILITY)
    assert evaluate(req(qty=5000, limit="150"), ctx(limits=limits)).approved


def test_a_gate_runs_only_its_rules() -> None:
    gate = RiskGate((GateRule("max_order_quantity", check_order_quantity, Rule.ORDER_QUANTITY),))
    assert gate.evaluate(req(qty=10), ctx(quote=None)).approved
    assert (RiskCode.MAX_ORDER_QUANTITY,) == gate.evaluate(req(qty=1001), ctx()).codes


def test_default_rules_cover_every_disableable_rule() -> None:
    assert set(Rule) == {entry.rule for entry in DEFAULT_RULES if entry.rule is not None}


def test_reducing_flag_marks_orders_that_cannot_flip() -> None:
    assert evaluate(req(Side.SELL, 100), ctx()).reducing
    assert not evaluate(req(Side.SELL, 101), ctx()).reducing


# -- closures ------------------------------------------------------------------------------------
@pytest.mark.parametrize("intent", [OrderIntent.CLOSE, OrderIntent.FLATTEN])
def test_closures_bypass_new_risk_state_and_breakers(intent: OrderIntent) -> None:
    p = long_position(5000, cash=500_000)
    p.consecutive_losses = 50
    stale = Quote(AAPL.id, T0 - timedelta(hours=1), last=D(1))
    limits = RiskLimits(max_order_quantity=D(1), max_open_orders=0, max_submit_rate=0)
    context = ctx(
        p,
        limits=limits,
        quote=stale,
        trading_state=TradingState.HALTED,
        open_breakers={"daily_loss", "data_staleness"},
    )
    decision = evaluate(req(Side.SELL, 5000, intent=intent, limit="300"), context)
    assert decision.approved, decision.explain()
    assert decision.reducing


def test_closure_that_over_closes_is_denied() -> None:
    decision = evaluate(req(Side.SELL, 101, intent=OrderIntent.CLOSE), ctx())
    assert (RiskCode.OVER_CLOSE,) == decision.codes
    denial = decision.denials[0]
    assert ("100", "101") == (denial.limit, denial.value)
    assert "closable quantity 100" in denial.message


def test_closure_counts_working_closing_orders() -> None:
    p = long_position(100)
    place(p, req(Side.SELL, 60, limit="101"))
    assert evaluate(req(Side.SELL, 40, intent=OrderIntent.CLOSE), ctx(p)).approved
    decision = evaluate(req(Side.SELL, 41, intent=OrderIntent.CLOSE), ctx(p))
    assert (RiskCode.OVER_CLOSE,) == decision.codes


@pytest.mark.parametrize("intent", [OrderIntent.CLOSE, OrderIntent.FLATTEN])
def test_closure_on_the_wrong_side_or_of_nothing_is_over_close(intent: OrderIntent) -> None:
    assert (RiskCode.OVER_CLOSE,) == evaluate(req(Side.BUY, 1, intent=intent), ctx()).codes
    flat = ctx(Portfolio(D(1000)))
    assert (RiskCode.OVER_CLOSE,) == evaluate(req(Side.SELL, 1, intent=intent), flat).codes


# -- trading state and breakers ----------------------------------------------------------------
def test_reducing_order_passes_while_reducing() -> None:
    decision = evaluate(req(Side.SELL, 50), ctx(trading_state=TradingState.REDUCING))
    assert decision.approved
    assert decision.reducing


@pytest.mark.parametrize(("side", "qty"), [(Side.BUY, 1), (Side.SELL, 101)])
def test_risk_increasing_order_is_denied_while_reducing(side: Side, qty: int) -> None:
    decision = evaluate(req(side, qty), ctx(trading_state=TradingState.REDUCING))
    assert RiskCode.TRADING_REDUCING in decision.codes
    assert "REDUCING" == decision.denials[decision.codes.index(RiskCode.TRADING_REDUCING)].value


def test_reducing_order_net_of_working_reducers() -> None:
    p = long_position(100)
    place(p, req(Side.SELL, 70, limit="101"))
    reducing = ctx(p, trading_state=TradingState.REDUCING)
    assert evaluate(req(Side.SELL, 30), reducing).approved
    assert RiskCode.TRADING_REDUCING in evaluate(req(Side.SELL, 31), reducing).codes


def test_reducing_order_passes_with_a_breaker_open() -> None:
    decision = evaluate(req(Side.SELL, 100), ctx(open_breakers={"drawdown"}))
    assert decision.approved
    assert ("open_breakers", "drawdown") in decision.inputs


def test_risk_increasing_order_is_denied_with_a_breaker_open() -> None:
    decision = evaluate(req(Side.BUY, 1), ctx(open_breakers={"drawdown", "daily_loss"}))
    assert (RiskCode.BREAKER_OPEN,) == decision.codes
    assert "daily_loss,drawdown" == decision.denials[0].value
    assert "daily_loss,drawdown" in decision.denials[0].message


@pytest.mark.parametrize(("side", "qty"), [(Side.BUY, 1), (Side.SELL, 10), (Side.SELL, 500)])
def test_nothing_but_closures_passes_while_halted(side: Side, qty: int) -> None:
    decision = evaluate(req(side, qty), ctx(trading_state=TradingState.HALTED))
    assert RiskCode.TRADING_HALTED in decision.codes
    assert not decision.approved


# -- the exposure book, approvals, the package ---------------------------------------------------
def test_book_of_unpriced_working_orders_and_unmarked_flat_positions() -> None:
    p = Portfolio(D(10_000))
    ghost = Stock("GHST")
    request = OrderRequest(ClientOrderId("U1"), ghost, Side.BUY, D(5), OrderType.MARKET)
    place(p, request)  # never filled, never marked: no price at all
    book = ExposureBook.of(p)
    assert D(0) == book.instruments[ghost.id].notional
    assert D(0) == book.reserved_cash
    flat = Stock("FLAT")
    for n, side in enumerate((Side.BUY, Side.SELL)):
        order = OrderRequest(ClientOrderId(f"F{n}"), flat, side, D(3), OrderType.MARKET)
        place(p, order)
        p.apply(
            ExecutionFill(order.client_order_id, ExecutionId(f"FX{n}"), flat.id, side, D(3),
                          D(10), T0, T0)
        )  # fmt: skip
    place(p, OrderRequest(ClientOrderId("F9"), flat, Side.SELL, D(1), OrderType.MARKET))
    exposure = ExposureBook.of(p).instruments[flat.id]
    assert (D(0), D(1), None) == (exposure.quantity, exposure.working_sell, exposure.price)
    assert p.equity() == RiskContext(portfolio=p, now=T0).equity


def test_only_an_approving_decision_for_the_same_request_makes_an_approved_order() -> None:
    request = req(qty=10)
    decision = evaluate(request, ctx())
    assert "approved" == decision.explain()
    assert request == ApprovedOrder(request, decision).request
    with pytest.raises(ValueError, match="cannot approve"):
        ApprovedOrder(req(qty=10), decision)
    denied = evaluate(req(qty=5000), ctx())
    with pytest.raises(ValueError, match="was denied: MAX_ORDER_QUANTITY"):
        ApprovedOrder(req(qty=5000), denied)


def test_the_package_exports_breakers_lazily_and_nothing_else() -> None:
    from ordergate.domain import risk

    assert risk.BreakerBoard is BreakerBoard
    with pytest.raises(AttributeError, match="no_such_name"):
        risk.no_such_name  # noqa: B018


def test_a_context_judges_several_requests_each_with_its_own_inputs() -> None:
    context = ctx()
    buy, sell = req(Side.BUY, 5), req(Side.SELL, 7)
    first = evaluate(buy, context)
    second = evaluate(sell, context)
    assert "BUY 5 AAPL" == dict(first.inputs)["order"]
    assert "SELL 7 AAPL" == dict(second.inputs)["order"]
    assert {"position", "equity", "gross_worst_case"} <= dict(second.inputs).keys()
    assert first == evaluate(buy, context)
    assert second.reducing
