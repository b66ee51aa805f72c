"""Every message the emulator encodes decodes cleanly with ib_async's own Decoder.

The decoder unpacks fixed tuples and logs (rather than raises) when a message does not fit, so
each test feeds the encoded fields to `ib_async.decoder.Decoder` with a recording `Wrapper`
subclass, asserts nothing was logged at ERROR, and checks the values that came out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from ib_async import IB
from ib_async.decoder import Decoder
from ib_async.wrapper import Wrapper

from ordergate.adapters.gateway_sim import messages as m
from ordergate.adapters.gateway_sim import messages_account as ma
from ordergate.adapters.gateway_sim import messages_orders as mo
from ordergate.adapters.gateway_sim.engine_types import (
    AccountSnapshot,
    ContractSpec,
    ExecutionReport,
    MarginImpact,
    MarketSnapshot,
    OrderKey,
    OrderSpec,
    OrderStatus,
    OrderType,
    OrderView,
    PnLSingleView,
    PnLView,
    PositionView,
    TimeInForce,
)
from ordergate.domain.instruments import OptionContract, OptionRight, Stock
from ordergate.domain.market import Bar
from ordergate.domain.values import InstrumentId, Side

RECORDED = (
    "nextValidId", "managedAccounts", "currentTime", "error", "contractDetails",
    "contractDetailsEnd", "securityDefinitionOptionParameter",
    "securityDefinitionOptionParameterEnd", "marketDataType", "priceSizeTick", "tickSize",
    "tickString", "tickSnapshotEnd", "historicalData", "historicalDataEnd", "orderStatus",
    "openOrder", "openOrderEnd", "completedOrder", "completedOrdersEnd", "execDetails",
    "execDetailsEnd", "commissionReport", "position", "positionEnd", "updateAccountValue",
    "updatePortfolio", "updateAccountTime", "accountDownloadEnd", "accountUpdateMulti",
    "accountUpdateMultiEnd", "accountSummary", "accountSummaryEnd", "pnl", "pnlSingle",
)


class RecordingWrapper(Wrapper):
    """A real ib_async Wrapper whose callbacks record their arguments instead of acting."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.calls: list[tuple[str, tuple[Any, ...]]] = []


def _recorder(name: str) -> Any:
    def record(self: RecordingWrapper, *args: Any) -> None:
        self.calls.append((name, args))

    return record


for _name in RECORDED:
    setattr(RecordingWrapper, _name, _recorder(_name))

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
STOCK = ContractSpec(265598, Stock("AAPL", primary_exchange="NASDAQ"), "APPLE INC")
OPTION = ContractSpec(
    512345678,
    OptionContract("AAPL", date(2026, 12, 18), Decimal(190), OptionRight.CALL),
    "APPLE INC",
    under_con_id=265598,
)


@pytest.fixture
def wrapper() -> RecordingWrapper:
    return RecordingWrapper(IB())


@pytest.fixture
def decode(wrapper: RecordingWrapper, caplog: pytest.LogCaptureFixture) -> Iterator[Any]:
    def run(fields: list[str], version: int = 178) -> list[tuple[str, tuple[Any, ...]]]:
        wrapper.calls.clear()
        Decoder(wrapper, version).interpret(list(fields))
        return list(wrapper.calls)

    with caplog.at_level(logging.DEBUG, logger="ib_async"):
        yield run
    # Teardown runs after the test: its own records are those of the "call" phase.
    errors = [r.getMessage() for r in caplog.get_records("call") if r.levelno >= logging.ERROR]
    assert errors == []


def view(spec: OrderSpec, status: OrderStatus = OrderStatus.WORKING, **kw: Any) -> OrderView:
    defaults: dict[str, Any] = {"filled": Decimal(0), "remaining": spec.quantity}
    defaults.update(kw)
    return OrderView(OrderKey(3, 17), 1_000_042, STOCK, spec, status, account="DU1", **defaults)


def test_session_messages(decode: Any) -> None:
    assert decode(m.next_valid_id(42)) == [("nextValidId", (42,))]
    assert decode(m.managed_accounts(["DU1", "DU2"])) == [("managedAccounts", ("DU1,DU2",))]
    assert decode(m.current_time(NOW)) == [("currentTime", (int(NOW.timestamp()),))]


def test_error_has_six_fields_and_reads_back(decode: Any) -> None:
    encoded = m.error(7, 200, "No security definition has been found")
    assert len(encoded) == 6
    assert decode(encoded) == [("error", (7, 200, "No security definition has been found", ""))]


@pytest.mark.parametrize("spec", [STOCK, OPTION])
def test_contract_details_is_40_fields_plus_the_isin_and_rebuilds_the_contract(
    decode: Any, spec: ContractSpec
) -> None:
    encoded = m.contract_details(9, spec, NOW)
    ((name, (req_id, details)),) = decode(encoded)
    contract = details.contract
    isin_fields = 0 if spec is OPTION else 2  # a stock's secIdList holds its ISIN tag/value
    assert (len(encoded), name, req_id) == (40 + isin_fields, "contractDetails", 9)
    if spec is STOCK:
        assert [(t.tag, t.value) for t in details.secIdList] == [("ISIN", "US0378331005")]
    assert (contract.conId, contract.symbol, contract.localSymbol) == (
        spec.con_id, spec.symbol, spec.local_symbol)
    assert (details.minTick, details.longName) == (0.01, "APPLE INC")
    if spec is OPTION:
        assert (contract.secType, contract.lastTradeDateOrContractMonth) == ("OPT", "20261218")
        assert (contract.strike, contract.right, contract.multiplier) == (190.0, "C", "100")
        assert (details.lastTradeTime, details.underConId) == ("16:00:00", 265598)


def test_option_chain_parameters(decode: Any) -> None:
    encoded = m.sec_def_opt_params(4, exchange="SMART", under_con_id=265598, trading_class="AAPL",
                                   multiplier=Decimal(100), expirations=["20261218"],
                                   strikes=[Decimal(185), Decimal(190)])
    assert decode(encoded) == [("securityDefinitionOptionParameter",
                                (4, "SMART", "265598", "AAPL", "100", ["20261218"],
                                 [185.0, 190.0]))]
    assert decode(m.sec_def_opt_params_end(4)) == [("securityDefinitionOptionParameterEnd", (4,))]


def test_snapshot_ticks(decode: Any) -> None:
    quote = MarketSnapshot(ts=NOW, bid=Decimal("189.99"), ask=Decimal("190.01"),
                           last=Decimal(190), bid_size=Decimal(300), ask_size=Decimal(400),
                           last_size=Decimal(100), volume=Decimal(5000), close=Decimal(188))
    calls = [c for fields in m.snapshot_ticks(5, quote) for c in decode(fields)]
    assert calls == [
        ("marketDataType", (5, 1)),
        ("priceSizeTick", (5, 1, 189.99, 300.0)),
        ("priceSizeTick", (5, 2, 190.01, 400.0)),
        ("priceSizeTick", (5, 4, 190.0, 100.0)),
        ("tickSize", (5, 8, 5000.0)),
        ("priceSizeTick", (5, 9, 188.0, 0.0)),
        ("tickString", (5, 45, str(int(NOW.timestamp())))),
    ]
    assert decode(m.tick_snapshot_end(5)) == [("tickSnapshotEnd", (5,))]


def test_historical_bars(decode: Any) -> None:
    bar = Bar(InstrumentId("AAPL"), NOW, Decimal(190), Decimal(191), Decimal(189),
              Decimal("190.5"), Decimal(1000), timedelta(minutes=5))
    encoded = m.historical_data(6, [bar], start=NOW - timedelta(hours=1), end=NOW,
                                format_date=1, zone="America/New_York")
    (data, end) = decode(encoded)
    assert data[0] == "historicalData"
    assert data[1][1].date == "20261120 10:30:00 America/New_York"
    assert (data[1][1].open, data[1][1].close, data[1][1].volume) == (190.0, 190.5, 1000.0)
    assert end[0] == "historicalDataEnd"


LIMIT = OrderSpec(Side.BUY, Decimal(100), OrderType.LIMIT, limit_price=Decimal("189.50"),
                  tif=TimeInForce.GTC, order_ref="op-1", oca_group="g", oca_type=1, parent_id=16)


def test_order_status_reads_back(decode: Any) -> None:
    encoded = mo.order_status(view(LIMIT, filled=Decimal(40), remaining=Decimal(60),
                                   avg_fill_price=Decimal("189.4")))
    assert decode(encoded) == [("orderStatus", (17, "Submitted", 40.0, 60.0, 189.4, 1_000_042,
                                                16, 0.0, 3, "", 0.0))]


@pytest.mark.parametrize(("version", "count"), [(178, 127), (176, 128)])
def test_open_order_mirrors_the_decoder(decode: Any, version: int, count: int) -> None:
    encoded = mo.open_order(view(LIMIT), version)
    ((name, (order_id, contract, order, state)),) = decode(encoded, version)
    assert (len(encoded), name, order_id) == (count, "openOrder", 17)
    assert (order.clientId, order.permId, order.parentId, order.account) == (3, 1_000_042, 16,
                                                                              "DU1")
    assert (order.action, order.totalQuantity, order.orderType, order.lmtPrice) == (
        "BUY", 100.0, "LMT", 189.5)
    assert (order.tif, order.orderRef, order.ocaGroup, order.ocaType) == ("GTC", "op-1", "g", 1)
    assert (contract.conId, state.status) == (265598, "Submitted")


def test_open_order_of_a_trailing_stop_limit(decode: Any) -> None:
    spec = OrderSpec(Side.SELL, Decimal(10), OrderType.TRAILING_STOP_LIMIT,
                     trailing_percent=Decimal("1.5"), trail_stop_price=Decimal(180),
                     limit_price_offset=Decimal("0.25"))
    ((_, (_, _, order, _)),) = decode(mo.open_order(view(spec), 178))
    assert (order.orderType, order.trailingPercent) == ("TRAIL LIMIT", 1.5)
    assert (order.trailStopPrice, order.lmtPriceOffset) == (180.0, 0.25)


def test_what_if_open_order_carries_numeric_margins(decode: Any) -> None:
    impact = MarginImpact(Decimal(0), Decimal(0), Decimal(1_000_000), Decimal(9475),
                          Decimal(4737), Decimal(-1), Decimal(1))
    ((_, (_, _, order, state)),) = decode(mo.open_order(view(LIMIT), 178, what_if=impact))
    assert order.whatIf is True
    assert (float(state.initMarginChange), state.commission) == (9475.0, 1.0)


def test_completed_order_mirrors_the_decoder(decode: Any) -> None:
    done = view(LIMIT, OrderStatus.FILLED, filled=Decimal(100), remaining=Decimal(0),
                updated_at=NOW)
    encoded = mo.completed_order(done, 178)
    ((name, (contract, order, state)),) = decode(encoded)
    assert (len(encoded), name, contract.conId) == (96, "completedOrder", 265598)
    assert (order.permId, order.filledQuantity, state.status) == (1_000_042, 100.0, "Filled")
    assert state.completedTime == "20261120 15:30:00 UTC"
    assert decode(mo.completed_orders_end()) == [("completedOrdersEnd", ())]


def test_execution_and_commission(decode: Any) -> None:
    report = ExecutionReport(
        exec_id="0000e001.000f4242.01.01", key=OrderKey(3, 17), perm_id=1_000_042,
        contract=OPTION, account="DU1", side=Side.SELL, quantity=Decimal(2),
        price=Decimal("3.45"), time=NOW, cum_qty=Decimal(2), avg_price=Decimal("3.45"),
        commission=Decimal("1.30"), realized_pnl=None, order_ref="op-1",
    )
    encoded = mo.exec_details(-1, report, 178)
    ((name, (req_id, contract, execution)),) = decode(encoded)
    assert (len(encoded), name, req_id) == (32, "execDetails", -1)
    assert (contract.secType, contract.strike, execution.side) == ("OPT", 190.0, "SLD")
    assert (execution.shares, execution.price, execution.permId, execution.clientId) == (
        2.0, 3.45, 1_000_042, 3)
    assert execution.time == NOW
    ((_, (commission,)),) = decode(mo.commission_report(report))
    assert (commission.execId, commission.commission, commission.realizedPNL) == (
        report.exec_id, 1.3, 1.7976931348623157e308)
    assert decode(mo.exec_details_end(8)) == [("execDetailsEnd", (8,))]
    assert decode(mo.open_order_end()) == [("openOrderEnd", ())]


POSITION = PositionView("DU1", OPTION, Decimal(-2), Decimal("3.45"), Decimal("3.00"),
                        Decimal(0))


def test_position_and_portfolio(decode: Any) -> None:
    ((_, (account, contract, qty, avg_cost)),) = decode(ma.position(POSITION))
    assert (account, contract.conId, qty, avg_cost) == ("DU1", OPTION.con_id, -2.0, 345.0)
    assert decode(ma.position_end()) == [("positionEnd", ())]
    ((_, args),) = decode(ma.update_portfolio(POSITION))
    assert args[1:] == (-2.0, 3.0, -600.0, 345.0, 90.0, 0.0, "DU1")


SNAPSHOT = AccountSnapshot("DU1", "USD", Decimal(1_000_000), Decimal(990_000), Decimal(10_000),
                           Decimal(1_990_000), Decimal(995_000), Decimal(997_500),
                           Decimal(5000), Decimal(2500), Decimal(0), Decimal(0))


def test_account_messages(decode: Any) -> None:
    tag, value, currency = ma.account_tags(SNAPSHOT)[0]
    assert decode(ma.update_account_value(tag, value, currency, "DU1")) == [
        ("updateAccountValue", ("NetLiquidation", "1000000.00", "USD", "DU1"))]
    assert decode(ma.update_account_time(NOW)) == [("updateAccountTime", ("15:30",))]
    assert decode(ma.account_download_end("DU1")) == [("accountDownloadEnd", ("DU1",))]
    assert decode(ma.account_update_multi(5, "DU1", "", (tag, value, currency))) == [
        ("accountUpdateMulti", (5, "DU1", "", "NetLiquidation", "1000000.00", "USD"))]
    assert decode(ma.account_update_multi_end(5)) == [("accountUpdateMultiEnd", (5,))]
    assert decode(ma.account_summary(6, "DU1", tag, value, currency)) == [
        ("accountSummary", (6, "DU1", "NetLiquidation", "1000000.00", "USD"))]
    assert decode(ma.account_summary_end(6)) == [("accountSummaryEnd", (6,))]


def test_pnl_messages(decode: Any) -> None:
    assert decode(ma.pnl(7, PnLView(Decimal("12.5"), Decimal(10), Decimal("2.5")))) == [
        ("pnl", (7, 12.5, 10.0, 2.5))]
    single = PnLSingleView(Decimal(-2), Decimal(90), Decimal(90), Decimal(0), Decimal(-600))
    assert decode(ma.pnl_single(8, single)) == [("pnlSingle", (8, -2, 90.0, 90.0, 0.0, -600.0))]
