"""`ordergate.adapters.ibkr.parsing`: the one place ib_async types meet domain types — order
requests to IB orders (every type, TIF, bracket and OCA fields, orderRef), IB statuses to
lifecycle kinds, and IB's floats to Decimals quantised to the instrument (no float leaks).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest
from ib_async import Contract, Order
from ib_async.objects import AccountValue, BarData, CommissionReport, Execution, Fill, Position
from ib_async.ticker import Ticker
from ib_async.util import UNSET_DOUBLE

from ordergate.adapters.ibkr import parsing
from ordergate.domain.errors import InvalidValue
from ordergate.domain.instruments import OptionContract, OptionRight, Stock
from ordergate.domain.orders import (
    OcaType,
    OrderEventKind,
    OrderRequest,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from ordergate.domain.values import ClientOrderId, CorrelationId, Side

AAPL = Stock("AAPL")
CALL = OptionContract("AAPL", date(2024, 4, 19), Decimal(180), OptionRight.CALL,
                      tick_size=Decimal("0.05"))
K = OrderEventKind


def request(kind: OrderType, **fields: Any) -> OrderRequest:
    fields.setdefault("side", Side.SELL)
    return OrderRequest(ClientOrderId("C-1"), fields.pop("instrument", AAPL),
                        quantity=Decimal(fields.pop("quantity", 10)), order_type=kind, **fields)


def ib(req: OrderRequest, **options: Any) -> Order:
    return parsing.ib_order(req, operator_id="CSATSPRIM", **options)


def test_market_limit_stop_and_stop_limit_orders() -> None:
    cases = [
        (request(OrderType.MARKET), ("MKT", None, None)),
        (request(OrderType.LIMIT, limit_price=Decimal("101.5")), ("LMT", "101.50", None)),
        (request(OrderType.STOP, stop_price=Decimal(95)), ("STP", None, "95.00")),
        (request(OrderType.STOP_LIMIT, stop_price=Decimal(95), limit_price=Decimal("94.5")),
         ("STP LMT", "94.50", "95.00")),
    ]
    for req, (kind, limit, stop) in cases:
        order = ib(req)
        shown = (order.orderType, None if order.lmtPrice is None else str(order.lmtPrice),
                 None if order.auxPrice is None else str(order.auxPrice))
        assert (kind, limit, stop) == shown
        assert ("SELL", Decimal(10), "DAY", True) == (
            order.action, order.totalQuantity, order.tif, order.transmit)


def test_trailing_stops_by_amount_percent_and_with_a_limit_offset() -> None:
    by_amount = ib(request(OrderType.TRAILING_STOP, trail_amount=Decimal(2),
                           stop_price=Decimal(98)))
    assert ("TRAIL", Decimal("2.00"), Decimal("98.00")) == (
        by_amount.orderType, by_amount.auxPrice, by_amount.trailStopPrice)
    by_percent = ib(request(OrderType.TRAILING_STOP, trail_percent=Decimal("1.5")))
    assert ("TRAIL", Decimal("1.5")) == (by_percent.orderType, by_percent.trailingPercent)
    assert UNSET_DOUBLE == by_percent.auxPrice
    limit = ib(request(OrderType.TRAILING_STOP, trail_amount=Decimal(2),
                       trail_limit_offset=Decimal("0.5")))
    assert ("TRAIL LIMIT", Decimal("0.50")) == (limit.orderType, limit.lmtPriceOffset)


def test_prices_are_quantised_to_the_contract_tick() -> None:
    order = ib(request(OrderType.LIMIT, instrument=CALL, limit_price=Decimal("3.07")))
    assert "3.05" == str(order.lmtPrice)  # 0.05 tick; sent as plain digits, never 3.05E+0


@pytest.mark.parametrize("tif", [TimeInForce.DAY, TimeInForce.GTC, TimeInForce.IOC])
def test_time_in_force(tif: TimeInForce) -> None:
    order = ib(request(OrderType.LIMIT, limit_price=Decimal(1), time_in_force=tif))
    assert (tif.value, "") == (order.tif, order.goodTillDate)


def test_gtd_orders_carry_their_good_till_date_in_utc() -> None:
    ends = datetime(2024, 3, 5, 20, 30, 15, 500_000, tzinfo=UTC)
    order = ib(request(OrderType.LIMIT, limit_price=Decimal(1), time_in_force=TimeInForce.GTD,
                       expire_at=ends))
    assert ("GTD", "20240305 20:30:15 UTC") == (order.tif, order.goodTillDate)


def test_bracket_and_oca_fields() -> None:
    child = request(OrderType.LIMIT, limit_price=Decimal(110), parent_id=ClientOrderId("P"),
                    oca_group="OCO-P", oca_type=OcaType.REDUCE_WITH_BLOCK)
    order = ib(child, parent_order_id=41, transmit=False)
    assert (41, False, "OCO-P", 2) == (order.parentId, order.transmit, order.ocaGroup,
                                       order.ocaType)


def test_operator_id_goes_in_order_ref_and_the_account_is_the_ib_account() -> None:
    order = ib(request(OrderType.MARKET), account="DU1234567")
    assert ("CSATSPRIM:C-1", "DU1234567") == (order.orderRef, order.account)
    assert "" == ib(request(OrderType.MARKET)).account
    assert ("CSATSPRIM", ClientOrderId("C-1")) == parsing.parse_order_ref("CSATSPRIM:C-1")
    assert ("OP", ClientOrderId("A:B")) == parsing.parse_order_ref("OP:A:B")
    assert parsing.parse_order_ref("") is None
    # Another application's orderRef that no ClientOrderId could hold is not ours either.
    assert parsing.parse_order_ref("OP:\x01x") is None
    assert parsing.parse_order_ref("OP:" + "x" * 200) is None
    assert parsing.parse_order_ref("manual order") is None


def test_ib_statuses_map_to_lifecycle_kinds() -> None:
    assert {
        "PreSubmitted": K.ACCEPTED, "Submitted": K.ACCEPTED, "Cancelled": K.CANCELED,
        "ApiCancelled": K.CANCELED, "Inactive": K.REJECTED, "Filled": None,
        "PendingSubmit": None, "PendingCancel": None, "ValidationError": None,
    } == {s: parsing.kind_for_status(s) for s in (
        "PreSubmitted", "Submitted", "Cancelled", "ApiCancelled", "Inactive", "Filled",
        "PendingSubmit", "PendingCancel", "ValidationError")}


def test_order_views_from_ib() -> None:
    order = Order(action="BUY", totalQuantity=10.0, orderType="LMT", lmtPrice=99.5,
                  permId=1000001)
    view = parsing.order_view(ClientOrderId("C-1"), AAPL, order, "Submitted", 3.0)
    assert (OrderStatus.PARTIALLY_FILLED, Decimal(10), Decimal(3), Decimal("99.50")) == (
        view.status, view.quantity, view.filled_qty, view.limit_price)
    assert isinstance(view.quantity, Decimal)
    assert "1000001" == str(view.broker_order_id)


def test_unset_nan_and_infinite_numbers_become_none() -> None:
    for value in (None, float("nan"), float("inf"), 1.7976931348623157e308, "", "x"):
        assert parsing.decimal_or_none(value) is None
    assert Decimal("190.01") == parsing.decimal_or_none(190.01)
    assert Decimal("0.1") == parsing.decimal_or_none(0.1)  # the text IB wrote, not the binary


def test_fills_and_commissions_become_decimal_domain_events() -> None:
    now = datetime(2024, 3, 5, 15, 0, 1, tzinfo=UTC)
    execution = Execution(execId="E1", time=datetime(2024, 3, 5, 15, tzinfo=UTC), side="SLD",
                          shares=10.0, price=190.01, permId=7, orderRef="OP:C-1")
    fill = Fill(Contract(conId=265598), execution, CommissionReport(), now)
    event = parsing.execution_fill(fill, ClientOrderId("C-1"), AAPL, now)
    assert (Side.SELL, Decimal(10), Decimal("190.01"), None) == (
        event.side, event.quantity, event.price, event.commission)
    assert (datetime(2024, 3, 5, 15, tzinfo=UTC), "7") == (
        event.ts_event, str(event.broker_order_id))
    with_fee = fill._replace(commissionReport=CommissionReport("E1", 1.3, "USD"))
    assert Decimal("1.3") == parsing.execution_fill(
        with_fee, ClientOrderId("C-1"), AAPL, now).commission
    report = parsing.commission_report(CommissionReport("E1", 1.3, "USD"), now)
    assert report is not None
    assert (Decimal("1.3"), "USD") == (report.commission, report.currency)
    assert parsing.commission_report(CommissionReport("", 1.0, "USD"), now) is None


def test_positions_report_average_cost_per_unit() -> None:
    position = Position("DU1", Contract(conId=1), 2.0, 530.0)
    view = parsing.broker_position(position, CALL)
    assert (Decimal(2), Decimal("5.3")) == (view.quantity, view.avg_cost)


def test_account_summary_from_ib_values() -> None:
    values = [AccountValue("DU1", tag, value, "USD", "") for tag, value in (
        ("TotalCashValue", "980998.00"), ("NetLiquidation", "999998.00"),
        ("AvailableFunds", "990000.00"), ("BuyingPower", "3960000.00"))]
    summary = parsing.account_summary(values, "DU1", datetime.now(UTC))
    assert (Decimal("980998.00"), Decimal("999998.00")) == (summary.cash,
                                                              summary.net_liquidation)
    with pytest.raises(InvalidValue, match="NetLiquidation"):
        parsing.account_summary(values[:1], "DU1", datetime.now(UTC))


def test_quotes_and_bars_are_decimal_and_utc() -> None:
    ticker = Ticker(contract=Contract(conId=265598))
    ticker.bid, ticker.ask, ticker.last, ticker.volume = 190.0, 190.02, 190.01, 2500000.0
    ticker.lastTimestamp = datetime(2024, 3, 5, 14, 50, tzinfo=UTC)
    quote = parsing.quote_from_ticker(ticker, AAPL, datetime(2024, 3, 5, 15, tzinfo=UTC))
    assert (Decimal("190.00"), Decimal("190.02"), Decimal("190.01")) == (
        quote.bid, quote.ask, quote.last)
    assert timedelta(minutes=10) == quote.age(datetime(2024, 3, 5, 15, tzinfo=UTC))
    missing = Ticker(contract=Contract(conId=265598))
    empty = parsing.quote_from_ticker(missing, AAPL, datetime(2024, 3, 5, 15, tzinfo=UTC))
    assert (None, None, None) == (empty.bid, empty.ask, empty.last)
    bar = BarData(date=datetime(2024, 3, 5, 14, 30, tzinfo=UTC), open=100.0, high=100.05,
                  low=99.95, close=100.01, volume=1000.0)
    converted = parsing.bar_from_ib(bar, AAPL, timedelta(minutes=1))
    assert (Decimal("100.05"), Decimal(1000)) == (converted.high, converted.volume)


def test_bar_sizes_are_ibs_names() -> None:
    assert "1 min" == parsing.bar_size_text(timedelta(minutes=1))
    assert "5 secs" == parsing.bar_size_text(timedelta(seconds=5))
    with pytest.raises(InvalidValue, match="bar sizes"):
        parsing.bar_size_text(timedelta(minutes=7))


def test_contracts_and_instruments_round_trip() -> None:
    contract = parsing.contract_for(CALL)
    assert ("OPT", "AAPL", "20240419", 180.0, "C", "100") == (
        contract.secType, contract.symbol, contract.lastTradeDateOrContractMonth,
        contract.strike, contract.right, contract.multiplier)
    contract.conId = 555
    rebuilt = parsing.instrument_from_contract(contract)
    assert CALL.id == rebuilt.id
    stock = parsing.contract_for(AAPL)
    assert ("STK", "AAPL", "SMART", "USD") == (stock.secType, stock.symbol, stock.exchange,
                                               stock.currency)
    qualified = parsing.instrument_from_contract(stock, AAPL, min_tick=0.01)
    assert AAPL == qualified


def test_a_nul_in_any_string_field_is_refused_before_it_reaches_the_wire() -> None:
    """Defence in depth: the domain refuses NUL in ids, but nothing the adapter sends may hold
    one (TWS API fields end with NUL; an orderRef with one shifted every placeOrder field)."""
    contract, order = Contract(symbol="AAPL", secType="STK"), Order(orderRef="OP:S1-E")
    parsing.refuse_nul(contract, order)
    with pytest.raises(InvalidValue, match=r"Order\.orderRef: must not contain NUL"):
        parsing.refuse_nul(contract, Order(orderRef="OP:S\x001-E"))
    with pytest.raises(InvalidValue, match=r"Contract\.exchange"):
        parsing.refuse_nul(Contract(symbol="AAPL", exchange="SMART\x00"), order)


@pytest.mark.parametrize(
    "req",
    [
        request(OrderType.LIMIT, limit_price=Decimal("195.10"), time_in_force=TimeInForce.GTC),
        request(OrderType.STOP, stop_price=Decimal("180"), side=Side.BUY),
        request(OrderType.STOP_LIMIT, stop_price=Decimal("180"), limit_price=Decimal("179.5")),
        request(OrderType.TRAILING_STOP, trail_amount=Decimal("2.5")),
        request(OrderType.TRAILING_STOP, trail_percent=Decimal(3), stop_price=Decimal(190),
                trail_limit_offset=Decimal("0.5")),
        request(OrderType.MARKET, time_in_force=TimeInForce.GTD,
                expire_at=datetime(2024, 3, 4, 20, 0, tzinfo=UTC), oca_group="G1"),
    ],
    ids=["limit-gtc", "stop", "stop-limit", "trail-amount", "trail-limit-percent", "gtd-oca"],
)
def test_an_ib_order_of_ours_turns_back_into_its_request(req: OrderRequest) -> None:
    """What an adopting process rebuilds from an order an earlier one placed."""
    back = parsing.request_from_ib(req.client_order_id, AAPL, ib(req), operator_id="CSATSPRIM")
    assert back == attrs.evolve(
        req, operator_id="CSATSPRIM", correlation_id=CorrelationId(str(req.client_order_id))
    )


def test_an_ib_order_ordergate_never_sends_is_not_rebuilt() -> None:
    odd = Order(action="BUY", totalQuantity=10.0, orderType="MOC", tif="DAY")
    assert parsing.request_from_ib(ClientOrderId("C-1"), AAPL, odd, operator_id="X") is None
    odd = Order(action="BUY", totalQuantity=10.0, orderType="LMT", lmtPrice=1.0, tif="OPG")
    assert parsing.request_from_ib(ClientOrderId("C-1"), AAPL, odd, operator_id="X") is None
