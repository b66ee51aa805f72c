"""Each risk rule on its own: a good order passes, a bad one is denied with its code, and the
message names the limit and the value."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

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
    Denial,
    InstrumentLimits,
    RiskCode,
    RiskContext,
    RiskLimits,
)
from ordergate.domain.risk.rules_account import (
    check_consecutive_losses,
    check_daily_loss,
    check_drawdown,
    check_pattern_day_trader,
    check_submit_rate,
)
from ordergate.domain.risk.rules_exposure import (
    check_affordability,
    check_gross_notional,
    check_leverage,
    check_open_orders,
    check_order_notional,
    check_order_quantity,
    check_position,
)
from ordergate.domain.risk.rules_market import (
    check_duplicate,
    check_price_collar,
    check_price_increment,
    check_staleness,
)
from ordergate.domain.values import ClientOrderId, ExecutionId, Side, SignalId

T0 = datetime(2024, 1, 10, 15, 0, tzinfo=UTC)  # a Wednesday, 10:00 New York
AAPL = Stock("AAPL")
MSFT = Stock("MSFT")
CALL = OptionContract("AAPL", date(2024, 1, 19), Decimal(150), OptionRight.CALL)
D = Decimal
_ids = itertools.count()


def req(
    side: Side = Side.BUY,
    qty: int | str = 10,
    *,
    instrument: Instrument = AAPL,
    limit: str | None = None,
    stop: str | None = None,
    intent: OrderIntent = OrderIntent.OPEN,
    signal: str | None = None,
    cid: str | None = None,
) -> OrderRequest:
    if limit is not None and stop is not None:
        order_type = OrderType.STOP_LIMIT
    elif limit is not None:
        order_type = OrderType.LIMIT
    elif stop is not None:
        order_type = OrderType.STOP
    else:
        order_type = OrderType.MARKET
    return OrderRequest(
        ClientOrderId(cid or f"R{next(_ids)}"),
        instrument,
        side,
        D(qty),
        order_type,
        limit_price=None if limit is None else D(limit),
        stop_price=None if stop is None else D(stop),
        intent=intent,
        closure_reason=ClosureReason.MANUAL if intent is OrderIntent.CLOSE else None,
        signal_id=None if signal is None else SignalId(signal),
    )


def quote(price: str = "100", instrument: Instrument = AAPL, ts: datetime = T0) -> Quote:
    return Quote(instrument.id, ts, bid=D(price), ask=D(price), last=D(price))


def place(p: Portfolio, request: OrderRequest, ts: datetime = T0) -> Order:
    order = Order.from_request(request)
    p.add_order(order)
    for kind in (OrderEventKind.SUBMITTED, OrderEventKind.ACCEPTED):
        p.apply(OrderLifecycleEvent(request.client_order_id, kind, ts, ts))
    return order


def hold(
    p: Portfolio,
    side: Side,
    qty: int,
    price: str = "100",
    *,
    instrument: Instrument = AAPL,
    ts: datetime = T0,
) -> None:
    """Open (or add to) a position through a filled order, and mark it at `price`."""
    request = req(side, qty, instrument=instrument)
    place(p, request, ts)
    p.apply(
        ExecutionFill(
            request.client_order_id,
            ExecutionId(f"X{next(_ids)}"),
            instrument.id,
            side,
            D(qty),
            D(price),
            ts,
            ts,
        )
    )
    p.mark(instrument.id, D(price), ts)


def ctx(p: Portfolio | None = None, limits: RiskLimits | None = None, **kw: object) -> RiskContext:
    kw.setdefault("quote", quote())
    return RiskContext(
        portfolio=p or Portfolio(D(100_000)),
        now=kw.pop("now", T0),  # type: ignore[arg-type]
        limits=limits or RiskLimits(),
        **kw,  # type: ignore[arg-type]
    )


def assert_denial(denial: Denial | None, code: RiskCode, limit: str, value: str) -> None:
    assert denial is not None
    assert (code, limit, value) == (denial.code, denial.limit, denial.value)
    assert limit in denial.message
    assert value in denial.message


# -- order size -------------------------------------------------------------------------------
def test_order_quantity_within_limit_passes() -> None:
    assert check_order_quantity(req(qty=1000), ctx()) is None


def test_order_quantity_above_limit_is_denied() -> None:
    denial = check_order_quantity(req(qty=1001), ctx())
    assert_denial(denial, RiskCode.MAX_ORDER_QUANTITY, "1000", "1001")
    assert denial is not None
    assert "max_order_quantity" in denial.message


def test_order_quantity_override_applies_to_its_instrument_only() -> None:
    limits = RiskLimits(overrides={"AAPL": InstrumentLimits(max_order_quantity=D(5))})
    denial = check_order_quantity(req(qty=6), ctx(limits=limits))
    assert_denial(denial, RiskCode.MAX_ORDER_QUANTITY, "5", "6")
    assert check_order_quantity(req(qty=6, instrument=MSFT), ctx(limits=limits)) is None


def test_order_notional_within_limit_passes() -> None:
    assert check_order_notional(req(qty=500), ctx()) is None  # 500 × 100 = 50,000


def test_order_notional_above_limit_is_denied() -> None:
    denial = check_order_notional(req(qty=501), ctx())
    assert_denial(denial, RiskCode.MAX_ORDER_NOTIONAL, "50000", "50100")


def test_order_notional_uses_the_highest_known_price_and_the_multiplier() -> None:
    # 10 contracts × 60.00 limit × 100 = 60,000 although the quote says 1.00
    option_quote = quote("1", CALL)
    denial = check_order_notional(req(qty=10, instrument=CALL, limit="60"), ctx(quote=option_quote))
    assert_denial(denial, RiskCode.MAX_ORDER_NOTIONAL, "50000", "60000")


def test_order_notional_without_any_price_is_denied_for_lack_of_data() -> None:
    denial = check_order_notional(req(qty=1), ctx(quote=None))
    assert denial is not None
    assert RiskCode.NO_MARKET_DATA == denial.code
    assert "max_order_notional" in denial.message


def test_order_notional_override() -> None:
    limits = RiskLimits(overrides={AAPL.id: InstrumentLimits(max_order_notional=D(1000))})
    denial = check_order_notional(req(qty=11), ctx(limits=limits))
    assert_denial(denial, RiskCode.MAX_ORDER_NOTIONAL, "1000", "1100")


# -- position, gross, leverage ----------------------------------------------------------------
def test_position_counts_working_orders_worst_case() -> None:
    p = Portfolio(D(1_000_000))
    hold(p, Side.BUY, 1500)
    place(p, req(Side.BUY, 400, limit="100"))
    assert check_position(req(qty=100), ctx(p)) is None  # 1500 + 400 + 100 = 2000
    denial = check_position(req(qty=101), ctx(p))
    assert_denial(denial, RiskCode.MAX_POSITION, "2000", "2001")


def test_position_limit_applies_to_shorts() -> None:
    p = Portfolio(D(1_000_000))
    hold(p, Side.SELL, 1900)
    denial = check_position(req(Side.SELL, 101), ctx(p))
    assert_denial(denial, RiskCode.MAX_POSITION, "2000", "2001")


def test_reducing_order_passes_position_limit_even_above_it() -> None:
    p = Portfolio(D(1_000_000))
    hold(p, Side.BUY, 3000)
    assert check_position(req(Side.SELL, 1000), ctx(p)) is None


def test_position_override() -> None:
    limits = RiskLimits(overrides={AAPL.id: InstrumentLimits(max_position=D(50))})
    denial = check_position(req(qty=51), ctx(limits=limits))
    assert_denial(denial, RiskCode.MAX_POSITION, "50", "51")


def test_gross_notional_counts_every_instrument_worst_case() -> None:
    p = Portfolio(D(1_000_000))
    hold(p, Side.BUY, 1000, "100", instrument=MSFT)  # 100,000
    place(p, req(Side.SELL, 500, instrument=MSFT, limit="100"))  # does not raise the worst case
    limits = RiskLimits(max_gross_notional=D(150_000))
    assert check_gross_notional(req(qty=500), ctx(p, limits)) is None  # 150,000
    denial = check_gross_notional(req(qty=501), ctx(p, limits))
    assert_denial(denial, RiskCode.MAX_GROSS_NOTIONAL, "150000", "150100")


def test_gross_notional_counts_the_option_multiplier() -> None:
    p = Portfolio(D(1_000_000))
    hold(p, Side.BUY, 10, "3.00", instrument=CALL)  # 3,000
    limits = RiskLimits(max_gross_notional=D(5_000))
    option_quote = quote("3.00", CALL)
    assert (
        check_gross_notional(req(qty=6, instrument=CALL), ctx(p, limits, quote=option_quote))
        is None
    )
    denial = check_gross_notional(req(qty=7, instrument=CALL), ctx(p, limits, quote=option_quote))
    assert_denial(denial, RiskCode.MAX_GROSS_NOTIONAL, "5000", "5100.00")


def test_gross_notional_ignores_orders_that_add_no_exposure() -> None:
    p = Portfolio(D(1_000_000))
    hold(p, Side.BUY, 100)
    limits = RiskLimits(max_gross_notional=D(1))
    assert check_gross_notional(req(Side.SELL, 150), ctx(p, limits)) is None  # |−50| < 100


def test_gross_notional_without_price_is_denied_for_lack_of_data() -> None:
    denial = check_gross_notional(req(qty=1), ctx(quote=None))
    assert denial is not None
    assert RiskCode.NO_MARKET_DATA == denial.code


def test_leverage_within_limit_passes() -> None:
    limits = RiskLimits(max_leverage=D("0.5"))
    assert check_leverage(req(qty=500), ctx(limits=limits)) is None  # 50,000 / 100,000


def test_leverage_above_limit_is_denied() -> None:
    limits = RiskLimits(max_leverage=D("0.5"))
    denial = check_leverage(req(qty=501), ctx(limits=limits))
    assert_denial(denial, RiskCode.MAX_LEVERAGE, "0.5", "0.501")


def test_leverage_with_no_equity_is_denied() -> None:
    denial = check_leverage(req(qty=1), ctx(Portfolio(D(0))))
    assert_denial(denial, RiskCode.MAX_LEVERAGE, "2", "inf")


def test_leverage_ignores_reducing_orders_and_missing_prices_are_denied() -> None:
    p = Portfolio(D(0))
    hold(p, Side.BUY, 10)
    assert check_leverage(req(Side.SELL, 10), ctx(p)) is None
    denial = check_leverage(req(qty=1, instrument=MSFT), ctx(quote=None))
    assert denial is not None
    assert RiskCode.NO_MARKET_DATA == denial.code


def test_open_orders_below_limit_pass_and_at_limit_are_denied() -> None:
    p = Portfolio(D(1_000_000))
    limits = RiskLimits(max_open_orders=2)
    place(p, req(qty=1, limit="99"))
    assert check_open_orders(req(), ctx(p, limits)) is None
    place(p, req(qty=1, limit="99"))
    denial = check_open_orders(req(), ctx(p, limits))
    assert_denial(denial, RiskCode.MAX_OPEN_ORDERS, "2", "2")


# -- affordability ----------------------------------------------------------------------------
def test_affordable_order_passes() -> None:
    assert check_affordability(req(qty=100), ctx(Portfolio(D(10_000)))) is None


def test_unaffordable_order_is_denied() -> None:
    denial = check_affordability(req(qty=101), ctx(Portfolio(D(10_000))))
    assert_denial(denial, RiskCode.INSUFFICIENT_FUNDS, "10000", "10100")


def test_option_premium_times_multiplier_must_be_affordable() -> None:
    option_quote = quote("2.50", CALL)
    p = Portfolio(D(1000))
    assert check_affordability(req(qty=4, instrument=CALL), ctx(p, quote=option_quote)) is None
    denial = check_affordability(req(qty=5, instrument=CALL), ctx(p, quote=option_quote))
    assert_denial(denial, RiskCode.INSUFFICIENT_FUNDS, "1000", "1250.00")


def test_working_buys_reserve_funds() -> None:
    p = Portfolio(D(10_000))
    place(p, req(qty=50, limit="100"))
    denial = check_affordability(req(qty=51), ctx(p))
    assert_denial(denial, RiskCode.INSUFFICIENT_FUNDS, "5000", "5100")


def test_reducing_order_needs_no_funds_and_no_price_is_denied() -> None:
    p = Portfolio(D(100))
    hold(p, Side.BUY, 1, "100")
    assert check_affordability(req(Side.SELL, 1), ctx(p)) is None
    denial = check_affordability(req(qty=1, instrument=MSFT), ctx(quote=None))
    assert denial is not None
    assert RiskCode.NO_MARKET_DATA == denial.code


# -- account rules ----------------------------------------------------------------------------
def test_submit_rate_below_limit_passes() -> None:
    recent = [T0 - timedelta(milliseconds=10 * i) for i in range(39)][::-1]
    assert check_submit_rate(req(), ctx(recent_submits=recent)) is None


def test_submit_rate_at_limit_is_denied() -> None:
    recent = [T0 - timedelta(milliseconds=10 * i) for i in range(40)][::-1]
    denial = check_submit_rate(req(), ctx(recent_submits=recent))
    assert_denial(denial, RiskCode.MAX_SUBMIT_RATE, "40", "40")


def test_submit_rate_forgets_submissions_outside_the_window() -> None:
    old = [T0 - timedelta(seconds=2, milliseconds=i) for i in range(100)][::-1]
    assert check_submit_rate(req(), ctx(recent_submits=[*old, T0])) is None


def lose(p: Portfolio, price: str) -> None:
    hold(p, Side.BUY, 100, "100")
    p.start_session(T0)
    p.mark(AAPL.id, D(price), T0)


def test_daily_loss_below_limit_passes() -> None:
    p = Portfolio(D(100_000))
    lose(p, "71")  # loses 2,900 of a 3,000 allowance
    assert check_daily_loss(req(instrument=MSFT), ctx(p, quote=quote(instrument=MSFT))) is None


def test_daily_loss_at_limit_is_denied() -> None:
    p = Portfolio(D(100_000))
    lose(p, "70")  # loses 3,000 = 3% of 100,000
    denial = check_daily_loss(req(instrument=MSFT), ctx(p))
    assert_denial(denial, RiskCode.DAILY_LOSS_LIMIT, "-3000.00", "-3000")
    assert check_daily_loss(req(Side.SELL, 100), ctx(p)) is None  # reducing still passes


def test_drawdown_below_limit_passes() -> None:
    p = Portfolio(D(100_000))
    lose(p, "41")  # drawdown 5.9%
    assert check_drawdown(req(instrument=MSFT), ctx(p)) is None


def test_drawdown_at_limit_is_denied() -> None:
    p = Portfolio(D(100_000))
    lose(p, "40")  # drawdown 6%
    denial = check_drawdown(req(instrument=MSFT), ctx(p))
    assert_denial(denial, RiskCode.DRAWDOWN_GOVERNOR, "0.06", "0.06")
    assert check_drawdown(req(Side.SELL, 50), ctx(p)) is None


def test_consecutive_losses_below_limit_pass_and_at_limit_are_denied() -> None:
    p = Portfolio(D(100_000))
    p.consecutive_losses = 4
    assert check_consecutive_losses(req(), ctx(p)) is None
    p.consecutive_losses = 5
    denial = check_consecutive_losses(req(), ctx(p))
    assert_denial(denial, RiskCode.CONSECUTIVE_LOSSES, "5", "5")


def test_consecutive_losses_do_not_block_reducing_orders() -> None:
    p = Portfolio(D(100_000))
    hold(p, Side.BUY, 10)
    p.consecutive_losses = 9
    assert check_consecutive_losses(req(Side.SELL, 10), ctx(p)) is None


def pdt_account(opened: datetime = T0) -> Portfolio:
    p = Portfolio(D(20_000))
    hold(p, Side.BUY, 10, "100", ts=opened)
    day = T0.date()
    p.day_trades.extend([(day, MSFT.id), (day - timedelta(days=1), MSFT.id)])
    return p


def test_pdt_allows_a_third_day_trade() -> None:
    assert check_pattern_day_trader(req(Side.SELL, 10), ctx(pdt_account())) is None


def test_pdt_denies_a_fourth_day_trade() -> None:
    p = pdt_account()
    p.day_trades.append((T0.date() - timedelta(days=6), MSFT.id))  # Thursday before: in window
    denial = check_pattern_day_trader(req(Side.SELL, 5), ctx(p))
    assert_denial(denial, RiskCode.PATTERN_DAY_TRADER, "3", "4")


def test_pdt_ignores_adding_to_positions_old_positions_and_large_accounts() -> None:
    p = pdt_account()
    p.day_trades.append((T0.date(), MSFT.id))
    assert check_pattern_day_trader(req(Side.BUY, 5), ctx(p)) is None  # adds, not a day trade
    assert check_pattern_day_trader(req(Side.SELL, 5, instrument=MSFT), ctx(p)) is None
    yesterday = pdt_account(opened=T0 - timedelta(days=1))
    yesterday.day_trades.append((T0.date(), MSFT.id))
    assert check_pattern_day_trader(req(Side.SELL, 5), ctx(yesterday)) is None
    rich = pdt_account()
    rich.day_trades.append((T0.date(), MSFT.id))
    limits = RiskLimits(pdt_equity_threshold=D(20_000))
    assert check_pattern_day_trader(req(Side.SELL, 5), ctx(rich, limits)) is None


# -- market rules ------------------------------------------------------------------------------
def test_price_within_collar_passes() -> None:
    assert check_price_collar(req(limit="110"), ctx()) is None
    assert check_price_collar(req(Side.SELL, stop="90"), ctx()) is None


def test_limit_price_outside_collar_is_denied() -> None:
    denial = check_price_collar(req(limit="110.01"), ctx())
    assert_denial(denial, RiskCode.PRICE_COLLAR, "0.10", "0.1001")


def test_stop_price_outside_collar_is_denied() -> None:
    denial = check_price_collar(req(Side.SELL, stop="89"), ctx())
    assert_denial(denial, RiskCode.PRICE_COLLAR, "0.10", "0.11")


def test_collar_without_quote_defers_to_the_staleness_rule() -> None:
    assert check_price_collar(req(limit="1000"), ctx(quote=None)) is None


def test_fresh_quote_passes_staleness() -> None:
    assert check_staleness(req(), ctx(now=T0 + timedelta(seconds=60))) is None


def test_stale_quote_is_denied() -> None:
    denial = check_staleness(req(), ctx(now=T0 + timedelta(seconds=61)))
    assert_denial(denial, RiskCode.STALE_DATA, "60s", "61s")


def test_missing_or_foreign_quote_is_no_market_data() -> None:
    denial = check_staleness(req(), ctx(quote=None))
    assert_denial(denial, RiskCode.NO_MARKET_DATA, "60s", "no quote")
    foreign = check_staleness(req(), ctx(quote=quote(instrument=MSFT)))
    assert foreign is not None
    assert RiskCode.NO_MARKET_DATA == foreign.code
    empty = Quote(AAPL.id, T0)
    priceless = check_staleness(req(), ctx(quote=empty))
    assert priceless is not None
    assert "has no price" in priceless.message


def test_staleness_lets_reducing_orders_through() -> None:
    p = Portfolio(D(100_000))
    hold(p, Side.BUY, 10)
    assert check_staleness(req(Side.SELL, 10), ctx(p, quote=None)) is None


def test_new_ids_pass_the_duplicate_guard() -> None:
    assert check_duplicate(req(signal="S1"), ctx(seen_signal_ids={SignalId("S0")})) is None


def test_seen_client_order_id_is_denied() -> None:
    denial = check_duplicate(req(cid="DUP"), ctx(seen_client_order_ids={ClientOrderId("DUP")}))
    assert_denial(denial, RiskCode.DUPLICATE_ORDER, "each client order id once", "DUP")


def test_seen_signal_id_is_denied() -> None:
    denial = check_duplicate(req(signal="S1"), ctx(seen_signal_ids={SignalId("S1")}))
    assert_denial(denial, RiskCode.DUPLICATE_ORDER, "each signal id once", "S1")


def test_order_already_sent_is_a_duplicate_but_the_one_under_evaluation_is_not() -> None:
    p = Portfolio(D(100_000))
    sent = req(cid="SENT")
    place(p, sent)
    assert check_duplicate(req(cid="SENT"), ctx(p)) is not None
    fresh = req(cid="FRESH")
    p.add_order(Order.from_request(fresh))  # registered before its decision: INITIALIZED
    assert check_duplicate(fresh, ctx(p)) is None


def test_closures_are_still_duplicate_checked() -> None:
    p = Portfolio(D(100_000))
    hold(p, Side.BUY, 10)
    closure = req(Side.SELL, 10, intent=OrderIntent.CLOSE, cid="C")
    assert check_duplicate(closure, ctx(p, seen_client_order_ids={ClientOrderId("C")}))


def test_prices_on_the_tick_pass() -> None:
    assert check_price_increment(req(limit="100.01", stop="100.02"), ctx()) is None


@pytest.mark.parametrize(
    ("limit", "stop", "bad"), [("100.005", None, "100.005"), (None, "99.999", "99.999")]
)
def test_prices_off_the_tick_are_denied(limit: str | None, stop: str | None, bad: str) -> None:
    denial = check_price_increment(req(limit=limit, stop=stop), ctx())
    assert_denial(denial, RiskCode.INVALID_PRICE_INCREMENT, "0.01", bad)


# -- closures bypass every new-risk rule ------------------------------------------------------
NEW_RISK_RULES = [
    check_order_quantity,
    check_order_notional,
    check_position,
    check_gross_notional,
    check_leverage,
    check_open_orders,
    check_affordability,
    check_submit_rate,
    check_daily_loss,
    check_drawdown,
    check_consecutive_losses,
    check_pattern_day_trader,
    check_price_collar,
    check_staleness,
]


@pytest.mark.parametrize("rule", NEW_RISK_RULES, ids=lambda r: r.__name__)
@pytest.mark.parametrize("intent", [OrderIntent.CLOSE, OrderIntent.FLATTEN])
def test_closures_pass_every_new_risk_rule(rule: object, intent: OrderIntent) -> None:
    p = Portfolio(D(10_000))
    hold(p, Side.BUY, 5000, "2")
    p.start_session(T0)
    p.mark(AAPL.id, D(1), T0)  # deep loss, drawdown
    p.consecutive_losses = 99
    p.day_trades.extend([(T0.date(), MSFT.id)] * 5)
    limits = RiskLimits(
        max_order_quantity=D(1),
        max_order_notional=D(1),
        max_position=D(1),
        max_gross_notional=D(1),
        max_leverage=D(0),
        max_open_orders=0,
        max_submit_rate=0,
    )
    closure = req(Side.SELL, 5000, limit="1.50", intent=intent)
    context = ctx(p, limits, quote=quote("1", ts=T0 - timedelta(days=1)))
    assert rule(closure, context) is None  # type: ignore[operator]
    # The same order as new risk is denied (PDT judges the same-day round trip, a sell).
    side = Side.SELL if rule is check_pattern_day_trader else Side.BUY
    opening = req(side, 5000, limit="1.50")
    assert rule(opening, context) is not None  # type: ignore[operator]
