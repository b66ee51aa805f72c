"""The emulator's request parsers read exactly what ib_async's own Client writes.

Each test makes ib_async's `Client` write a request (a subclass that keeps the bytes instead of
sending them — the real serialiser, no socket) and parses it with the emulator.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from ib_async import (
    IB,
    ExecutionFilter,
    LimitOrder,
    MarketOrder,
    Option,
    Order,
    PriceCondition,
    Stock,
    StopLimitOrder,
    StopOrder,
    TagValue,
    TimeCondition,
)
from ib_async.client import Client
from ib_async.contract import Bag, ComboLeg, DeltaNeutralContract

from ordergate.adapters.gateway_sim.requests import (
    CancelOrder,
    Ignored,
    PlaceOrder,
    ReqAccountSummary,
    ReqContractDetails,
    ReqExecutions,
    ReqHistoricalData,
    ReqMarketRule,
    ReqMatchingSymbols,
    ReqMktData,
    ReqMktDepthExchanges,
    ReqNewsProviders,
    ReqPnLSingle,
    ReqPositionsMulti,
    ReqScannerParameters,
    ReqSecDefOptParams,
    RequestError,
    StartApi,
    Unsupported,
    parse_request,
)


class KeepingClient(Client):
    """ib_async's Client, connected to nothing: `sendMsg` keeps each message's fields."""

    def __init__(self, version: int = 178) -> None:
        super().__init__(IB().wrapper)
        self.connState = Client.CONNECTED
        self._serverVersion = version
        self.messages: list[list[str]] = []

    def sendMsg(self, msg: str) -> None:
        self.messages.append(msg.split("\0")[:-1])


AAPL = Stock("AAPL", "SMART", "USD")


def written(call: str, *args: object, version: int = 178) -> list[str]:
    client = KeepingClient(version)
    getattr(client, call)(*args)
    (message,) = client.messages
    return message


def placed(order: Order, contract: object = AAPL, version: int = 178) -> PlaceOrder:
    request = parse_request(written("placeOrder", 11, contract, order, version=version), version)
    assert isinstance(request, PlaceOrder)
    return request


def test_a_plain_limit_order_is_114_fields_and_reads_back() -> None:
    fields = written("placeOrder", 11, AAPL, LimitOrder("BUY", 100, 189.5, orderRef="op-7"))
    request = parse_request(fields, 178)
    assert len(fields) == 114
    assert isinstance(request, PlaceOrder)
    assert (request.order_id, request.contract.symbol) == (11, "AAPL")
    order = request.order
    assert (order.action, order.total_quantity, order.order_type) == ("BUY", Decimal(100), "LMT")
    assert (order.lmt_price, order.aux_price, order.order_ref) == (Decimal("189.5"), None, "op-7")


@pytest.mark.parametrize(
    ("order", "kind", "aux"),
    [
        (MarketOrder("SELL", 5), "MKT", None),
        (StopOrder("SELL", 5, 180.0), "STP", Decimal(180)),
        (StopLimitOrder("BUY", 5, 191.0, 190.0), "STP LMT", Decimal(190)),
    ],
)
def test_order_types_keep_their_prices(order: Order, kind: str, aux: Decimal | None) -> None:
    request = placed(order)
    assert (request.order.order_type, request.order.aux_price) == (kind, aux)


def test_trailing_orders_carry_trail_stop_percent_and_offset() -> None:
    trail = placed(Order(action="SELL", totalQuantity=10, orderType="TRAIL LIMIT",
                         trailingPercent=1.5, trailStopPrice=180.0, lmtPriceOffset=0.25))
    assert trail.order.trailing_percent == Decimal("1.5")
    assert trail.order.trail_stop_price == Decimal(180)
    assert trail.order.lmt_price_offset == Decimal("0.25")


def test_bracket_child_fields_read_back() -> None:
    child = placed(LimitOrder("SELL", 100, 200.0, parentId=41, transmit=False, tif="GTC",
                              ocaGroup="g1", ocaType=1, account="DU1", outsideRth=True))
    o = child.order
    assert (o.parent_id, o.transmit, o.tif, o.oca_group, o.oca_type) == (41, False, "GTC", "g1", 1)
    assert (o.account, o.outside_rth) == ("DU1", True)


def test_variable_runs_are_walked_exactly() -> None:
    order = Order(
        action="BUY", totalQuantity=1, orderType="LMT", lmtPrice=1.0,
        algoStrategy="Adaptive", algoParams=[TagValue("adaptivePriority", "Normal")],
        conditions=[PriceCondition(price=100, conId=1, exch="SMART"),
                    TimeCondition(time="20260101 10:00:00")],
        hedgeType="D", hedgeParam="0.5", scalePriceIncrement=0.1, scaleInitLevelSize=10,
        deltaNeutralOrderType="MKT",
    )
    contract = Stock("AAPL", "SMART", "USD")
    contract.deltaNeutralContract = DeltaNeutralContract(1, 0.5, 100.0)
    request = placed(order, contract)
    assert (request.order.algo_strategy, request.order.condition_count) == ("Adaptive", 2)


def test_combo_and_pegged_orders_are_walked_exactly() -> None:
    bag = Bag(symbol="SPY", exchange="SMART", currency="USD",
              comboLegs=[ComboLeg(1, 1, "BUY", "SMART"), ComboLeg(2, 1, "SELL", "SMART")])
    peg_best = Order(action="BUY", totalQuantity=1, orderType="PEG BEST",
                     competeAgainstBestOffset=float("inf"))
    assert placed(peg_best, bag).order.combo_leg_count == 2
    ats = Stock("X", "IBKRATS", "USD")
    assert placed(Order(action="BUY", totalQuantity=1, orderType="PEG MID"), ats).order_id == 11


def test_version_176_layout_has_the_fa_profile_field() -> None:
    assert placed(LimitOrder("BUY", 1, 10.0), version=176).order.lmt_price == Decimal(10)


def test_a_truncated_order_is_an_error_carrying_its_order_id() -> None:
    fields = written("placeOrder", 11, AAPL, LimitOrder("BUY", 1, 10.0))
    with pytest.raises(RequestError) as caught:
        parse_request(fields[:60], 178)
    assert caught.value.req_id == 11


def test_an_order_with_extra_fields_is_refused_not_misread() -> None:
    fields = written("placeOrder", 11, AAPL, LimitOrder("BUY", 1, 10.0))
    with pytest.raises(RequestError, match="trailing field"):
        parse_request([*fields, "junk"], 178)


def test_market_data_request_reads_snapshot_and_contract() -> None:
    request = parse_request(written("reqMktData", 3, AAPL, "", True, False, []), 178)
    assert request == ReqMktData(3, request.contract, "", True, False)  # type: ignore[union-attr]
    assert request.contract.symbol == "AAPL"  # type: ignore[union-attr]


def test_contract_details_request_reads_the_option_fields() -> None:
    option = Option("AAPL", "20261218", 190, "C", "SMART")
    request = parse_request(written("reqContractDetails", 4, option), 178)
    assert isinstance(request, ReqContractDetails)
    contract = request.contract
    assert (contract.sec_type, contract.last_trade_date_or_contract_month) == ("OPT", "20261218")
    assert (contract.strike, contract.right) == (Decimal(190), "C")


def test_historical_request_reads_every_setting() -> None:
    fields = written("reqHistoricalData", 5, AAPL, "20261120 16:00:00 UTC", "2 D", "5 mins",
                     "MIDPOINT", False, 2, False, [])
    request = parse_request(fields, 178)
    assert request == ReqHistoricalData(5, request.contract, "20261120 16:00:00 UTC",  # type: ignore[union-attr]
                                        "5 mins", "2 D", False, "MIDPOINT", 2, False)


@pytest.mark.parametrize(
    ("call", "args", "expected"),
    [
        ("cancelOrder", (7,), CancelOrder(7, "")),
        ("reqExecutions", (6, ExecutionFilter(clientId=3)), ReqExecutions(6, 3)),
        ("reqAccountSummary", (7, "All", "NetLiquidation"),
         ReqAccountSummary(7, "All", "NetLiquidation")),
        ("reqPnLSingle", (9, "DU1", "", 265598), ReqPnLSingle(9, "DU1", "", 265598)),
        ("reqSecDefOptParams", (11, "AAPL", "", "STK", 265598),
         ReqSecDefOptParams(11, "AAPL", "", "STK", 265598)),
        ("cancelMktDepth", (12, False), Ignored(11)),
        ("reqMatchingSymbols", (13, "AA"), ReqMatchingSymbols(13, "AA")),
        ("reqMktDepthExchanges", (), ReqMktDepthExchanges()),
        ("reqNewsProviders", (), ReqNewsProviders()),
        ("reqScannerParameters", (), ReqScannerParameters()),
        ("reqMarketRule", (26,), ReqMarketRule(26)),
        ("reqPositionsMulti", (14, "DU1", ""), ReqPositionsMulti(14, "DU1", "")),
        ("reqFundamentalData", (15, AAPL, "ReportSnapshot", []), Unsupported(52, 15)),
    ],
)
def test_small_requests_read_back(call: str, args: tuple[object, ...], expected: object) -> None:
    assert parse_request(written(call, *args), 178) == expected


def test_start_api_carries_the_client_id() -> None:
    client = KeepingClient()
    client.clientId = 7
    client.startApi()
    assert parse_request(client.messages[0], 178) == StartApi(7, "")


def test_garbage_is_a_request_error_not_a_crash() -> None:
    with pytest.raises(RequestError):
        parse_request(["abc"], 178)
    with pytest.raises(RequestError) as caught:
        parse_request(["9", "8", "5", "x"], 178)
    assert caught.value.req_id == 5
