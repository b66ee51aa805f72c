"""Contracts and market data through the TWS gateway emulator, with the unmodified ib_async."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from ib_async import IB, Contract, Option, Stock

from ordergate.adapters.gateway_sim import GatewayServer, InstantEngine

T = TypeVar("T")


async def within(awaitable: Awaitable[T], seconds: float = 5.0) -> T:
    """Await with a bound, so a protocol bug fails the test instead of hanging it."""
    return await asyncio.wait_for(awaitable, seconds)


@pytest.fixture(autouse=True)
def no_decode_errors(caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.INFO, logger="ib_async")
    yield
    bad = [r.getMessage() for r in caplog.get_records("call")
           if r.levelno >= logging.ERROR and r.name == "ib_async.Decoder"]
    assert bad == []


@pytest.fixture
def engine() -> InstantEngine:
    return InstantEngine()


@pytest.fixture
async def ib(engine: InstantEngine) -> AsyncIterator[IB]:
    async with GatewayServer(engine) as server:
        client = IB()
        await client.connectAsync("127.0.0.1", server.port, clientId=1, timeout=5)
        yield client
        client.disconnect()


def first_expiry(engine: InstantEngine) -> date:
    return min(s.instrument.expiry for s in engine.catalogue if s.under_con_id)  # type: ignore[union-attr]


async def test_a_stock_qualifies_with_its_con_id(ib: IB) -> None:
    (stock,) = await within(ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD")))
    assert (stock.conId, stock.primaryExchange, stock.localSymbol) == (265598, "NASDAQ", "AAPL")


async def test_an_option_qualifies_by_expiry_strike_and_right(
    ib: IB, engine: InstantEngine
) -> None:
    expiry = first_expiry(engine).strftime("%Y%m%d")
    (option,) = await within(ib.qualifyContractsAsync(Option("AAPL", expiry, 190, "C", "SMART")))
    assert option.conId > 0
    assert (option.multiplier, option.tradingClass) == ("100", "AAPL")
    assert option.localSymbol == f"AAPL  {expiry[2:]}C00190000"


async def test_an_unknown_contract_is_error_200_and_none(ib: IB) -> None:
    codes: list[tuple[int, int]] = []
    ib.errorEvent += lambda req_id, code, text, contract: codes.append((req_id, code))
    assert await within(ib.qualifyContractsAsync(Stock("NOSUCH", "SMART", "USD"))) == [None]
    assert [code for _, code in codes] == [200]


async def test_an_unlisted_security_type_is_error_200(ib: IB) -> None:
    future = Contract(secType="FUT", symbol="ES", exchange="CME")
    assert await within(ib.reqContractDetailsAsync(future)) == []


async def test_contract_details_list_an_option_chain(ib: IB, engine: InstantEngine) -> None:
    expiry = first_expiry(engine).strftime("%Y%m%d")
    details = await within(ib.reqContractDetailsAsync(Option("AAPL", expiry, exchange="SMART")))
    strikes = {d.contract.strike for d in details}  # type: ignore[union-attr]
    assert len(details) == 22
    assert {d.contract.right for d in details} == {"C", "P"}  # type: ignore[union-attr]
    assert 190.0 in strikes


async def test_option_chain_parameters_come_from_the_catalogue(ib: IB) -> None:
    (chain,) = await within(ib.reqSecDefOptParamsAsync("AAPL", "", "STK", 265598))
    assert (chain.exchange, chain.tradingClass, chain.multiplier) == ("SMART", "AAPL", "100")
    assert len(chain.expirations) == 3
    assert 190.0 in chain.strikes


async def test_a_snapshot_ticker_has_bid_ask_last_and_close(ib: IB) -> None:
    (stock,) = await within(ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD")))
    (ticker,) = await within(ib.reqTickersAsync(stock))
    assert (ticker.bid, ticker.ask, ticker.last, ticker.close) == (189.99, 190.01, 190.0, 190.0)
    assert (ticker.bidSize, ticker.askSize) == (300.0, 300.0)


async def test_a_snapshot_follows_the_engine_price(ib: IB, engine: InstantEngine) -> None:
    (stock,) = await within(ib.qualifyContractsAsync(Stock("MSFT", "SMART", "USD")))
    engine.set_price(stock.conId, Decimal("400.50"))
    (ticker,) = await within(ib.reqTickersAsync(stock))
    assert (ticker.bid, ticker.ask) == (400.49, 400.51)


async def test_an_option_snapshot_is_priced_from_the_underlying(
    ib: IB, engine: InstantEngine
) -> None:
    expiry = first_expiry(engine).strftime("%Y%m%d")
    (call,) = await within(ib.qualifyContractsAsync(Option("AAPL", expiry, 200, "C", "SMART")))
    (ticker,) = await within(ib.reqTickersAsync(call))
    assert 0 < ticker.bid < ticker.ask < 20


async def test_delayed_market_data_type_uses_delayed_ticks(ib: IB) -> None:
    ib.reqMarketDataType(3)
    (stock,) = await within(ib.qualifyContractsAsync(Stock("SPY", "SMART", "USD")))
    (ticker,) = await within(ib.reqTickersAsync(stock))
    assert (ticker.marketDataType, ticker.bid, ticker.ask) == (3, 519.99, 520.01)


async def test_intraday_bars_sit_on_the_grid_inside_the_session(ib: IB) -> None:
    (stock,) = await within(ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD")))
    end = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)  # a Friday, after the close
    bars = await within(ib.reqHistoricalDataAsync(stock, end, "1 D", "30 mins", "TRADES", True))
    times = [b.date.astimezone(UTC) for b in bars]  # type: ignore[union-attr]
    assert len(bars) == 13
    assert times[0] == datetime(2026, 11, 20, 14, 30, tzinfo=UTC)  # 09:30 New York
    assert all(b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high for b in bars)


async def test_bars_are_repeatable(ib: IB) -> None:
    (stock,) = await within(ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD")))
    end = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
    first = await within(ib.reqHistoricalDataAsync(stock, end, "1 D", "1 hour", "MIDPOINT", True))
    again = await within(ib.reqHistoricalDataAsync(stock, end, "1 D", "1 hour", "MIDPOINT", True))
    assert list(first) == list(again)


async def test_daily_bars_skip_weekends(ib: IB) -> None:
    (stock,) = await within(ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD")))
    end = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)  # Monday evening
    bars = await within(ib.reqHistoricalDataAsync(stock, end, "5 D", "1 day", "TRADES", True))
    assert [b.date for b in bars] == [date(2026, 11, d) for d in (17, 18, 19, 20, 23)]


async def test_a_bad_bar_size_is_error_162_not_a_hang(ib: IB) -> None:
    codes: list[int] = []
    ib.errorEvent += lambda req_id, code, text, contract: codes.append(code)
    (stock,) = await within(ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD")))
    bars = await within(ib.reqHistoricalDataAsync(stock, "", "1 D", "7 fortnights", "TRADES",
                                                  True))
    assert (list(bars), codes) == ([], [162])


async def test_historical_data_for_an_unknown_contract_is_error_200(ib: IB) -> None:
    bars = await within(ib.reqHistoricalDataAsync(Stock("NOSUCH", "SMART", "USD"), "", "1 D",
                                                  "1 hour", "TRADES", True))
    assert list(bars) == []

