"""Reference-data requests through the unmodified ib_async client: each is answered (or refused
with IB's code for it) so no call waits forever. Every call is bounded by a timeout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from ib_async import IB, MarketOrder, Stock

from ordergate.adapters.gateway_sim import GatewayServer, InstantEngine

T = TypeVar("T")
ACCOUNT = "DU1234567"
AAPL = Stock("AAPL", "SMART", "USD")


async def within(awaitable: Awaitable[T], seconds: float = 5.0) -> T:
    return await asyncio.wait_for(awaitable, seconds)


@pytest.fixture
async def ib() -> AsyncIterator[IB]:
    async with GatewayServer(InstantEngine(accounts=(ACCOUNT,))) as server:
        client = IB()
        await client.connectAsync("127.0.0.1", server.port, clientId=1, timeout=5)
        client.RequestTimeout = 0  # ib_async would otherwise hide a missing answer behind 4 s
        try:
            yield client
        finally:
            client.disconnect()


def errors_of(ib: IB) -> list[tuple[int, int, str]]:
    seen: list[tuple[int, int, str]] = []
    ib.errorEvent += lambda req_id, code, text, contract: seen.append((req_id, code, text))
    return seen


async def test_requests_without_a_request_id_complete(ib: IB) -> None:
    exchanges = await within(ib.reqMktDepthExchangesAsync())
    assert {d.exchange for d in exchanges} >= {"NASDAQ", "ARCA", "NYSE"}
    assert await within(ib.reqNewsProvidersAsync()) == []
    xml = await within(ib.reqScannerParametersAsync())
    assert xml.startswith("<?xml")
    assert "<scanCode>TOP_PERC_GAIN</scanCode>" in xml


async def test_market_rules_answer_the_ids_contract_details_carry(ib: IB) -> None:
    [details] = await within(ib.reqContractDetailsAsync(AAPL))
    rule_ids = {int(r) for r in details.marketRuleIds.split(",")}
    assert len(details.marketRuleIds.split(",")) == len(details.validExchanges.split(","))
    for rule_id in rule_ids:
        increments = await within(ib.reqMarketRuleAsync(rule_id))
        assert increments is not None
        assert [(p.lowEdge, p.increment) for p in increments] == [(0.0, 0.01)]


async def test_matching_symbols_lists_catalogue_stocks_by_prefix(ib: IB) -> None:
    found = await within(ib.reqMatchingSymbolsAsync("AAP"))
    assert found
    assert found[0].contract.symbol == "AAPL"
    assert found[0].contract.secType == "STK"
    assert found[0].contract.conId > 0
    assert "OPT" in found[0].derivativeSecTypes
    assert all(d.contract.symbol.startswith("AAP") or "AAP" in d.contract.description.upper()
               for d in found)
    assert await within(ib.reqMatchingSymbolsAsync("ZZZZQ")) == []


async def test_head_timestamp_is_the_first_bar_the_engine_serves(ib: IB) -> None:
    head = await within(ib.reqHeadTimeStampAsync(AAPL, "TRADES", True, 2))
    assert isinstance(head, datetime)
    assert head < datetime.now(UTC) - timedelta(days=365)
    first_daily = await within(ib.reqHistoricalDataAsync(
        AAPL, head + timedelta(days=10), "5 D", "1 day", "TRADES", True, 2), 10)
    assert first_daily  # bars exist right after the head timestamp


async def test_historical_ticks_come_one_per_second_bar(ib: IB) -> None:
    end = "20241115 15:00:00 US/Eastern"  # inside a session, whatever the wall clock says
    ticks = await within(ib.reqHistoricalTicksAsync(AAPL, "", end, 100, "TRADES", False), 10)
    assert 0 < len(ticks) <= 100
    assert all(t.price > 0 for t in ticks)
    mids = await within(ib.reqHistoricalTicksAsync(AAPL, "", end, 50, "MIDPOINT", False), 10)
    assert 0 < len(mids) <= 50
    quotes = await within(ib.reqHistoricalTicksAsync(AAPL, "", end, 50, "BID_ASK", False), 10)
    assert all(q.priceBid <= q.priceAsk for q in quotes)


async def test_historical_ticks_refuse_more_than_ibs_1000(ib: IB) -> None:
    errors = errors_of(ib)
    now = datetime.now(UTC)
    ticks = await within(ib.reqHistoricalTicksAsync(
        AAPL, "", f"{now:%Y%m%d %H:%M:%S} UTC", 5000, "TRADES", False))
    assert ticks == []
    assert [(code, "numberOfTicks 5000" in text) for _, code, text in errors] == [(162, True)]


async def test_histogram_counts_volume_by_price(ib: IB) -> None:
    rows = await within(ib.reqHistogramDataAsync(AAPL, True, "1 week"), 10)
    assert rows
    assert all(r.count >= 0 for r in rows)
    assert [r.price for r in rows] == sorted(r.price for r in rows)


async def positions_multi(ib: IB, account: str) -> list[tuple[str, float]]:
    """ib_async's Client sends reqPositionsMulti, but its IB class has no awaitable for it and its
    Wrapper's positionMulti/positionMultiEnd callbacks do nothing: observe them on this instance
    (the decoder calls them as it would for a real TWS)."""
    rows: list[tuple[str, float]] = []
    done = asyncio.get_running_loop().create_future()
    req_id = ib.client.getReqId()

    def on_position(rid: int, acct: str, model: str, contract: object,  # noqa: PLR0917
                    pos: float, cost: float) -> None:
        if rid == req_id:
            rows.append((contract.symbol, pos))  # type: ignore[attr-defined]

    def on_end(rid: int) -> None:
        if rid == req_id and not done.done():
            done.set_result(None)

    def on_error(rid: int, code: int, text: str, contract: object) -> None:
        if rid == req_id and not done.done():
            done.set_result(None)

    ib.wrapper.positionMulti = on_position  # type: ignore[method-assign]
    ib.wrapper.positionMultiEnd = on_end  # type: ignore[method-assign]
    ib.errorEvent += on_error
    ib.client.reqPositionsMulti(req_id, account, "")
    await within(done)
    return rows


async def test_positions_multi_reports_the_accounts_positions(ib: IB) -> None:
    [aapl] = await within(ib.qualifyContractsAsync(AAPL))
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 7))
    while not trade.isDone():
        await within(trade.statusEvent)
    assert await positions_multi(ib, ACCOUNT) == [("AAPL", 7.0)]
    assert await positions_multi(ib, "") == [("AAPL", 7.0)]


async def test_positions_multi_refuses_an_account_not_managed_here(ib: IB) -> None:
    errors = errors_of(ib)
    assert await positions_multi(ib, "DU9999999") == []
    assert [code for _, code, _ in errors] == [321]
