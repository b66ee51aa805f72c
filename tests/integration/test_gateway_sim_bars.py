"""Historical bars as IB gives them, through the unmodified ib_async client: `W`/`M`/`Y`
durations in calendar time (about 21 sessions a month, 252 a year) and weekly/monthly bars."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from zoneinfo import ZoneInfo

import pytest
from ib_async import IB, Stock

from ordergate.adapters.calendar.xnys import xnys_calendar
from ordergate.adapters.gateway_sim import GatewayServer, InstantEngine

AAPL = Stock("AAPL", "SMART", "USD")
END = "20241115 16:00:00 US/Eastern"


@pytest.fixture
async def ib() -> AsyncIterator[IB]:
    async with GatewayServer(InstantEngine(accounts=("DU1234567",))) as server:
        client = IB()
        await client.connectAsync("127.0.0.1", server.port, clientId=1, timeout=5)
        client.RequestTimeout = 0
        try:
            yield client
        finally:
            client.disconnect()


async def bars(ib: IB, duration: str, size: str) -> list[date]:
    found = await asyncio.wait_for(
        ib.reqHistoricalDataAsync(AAPL, END, duration, size, "TRADES", True), 10)
    return [b.date for b in found]  # type: ignore[misc]


@pytest.mark.parametrize(("duration", "first"), [
    ("1 M", date(2024, 10, 15)), ("1 Y", date(2023, 11, 15)), ("2 W", date(2024, 11, 1)),
])
async def test_calendar_durations_count_the_sessions_of_that_window(
    ib: IB, duration: str, first: date
) -> None:
    days = await bars(ib, duration, "1 day")
    assert len(days) == xnys_calendar().sessions_between(first, date(2024, 11, 15))
    assert days[-1] == date(2024, 11, 15)
    assert days[0] > first


async def test_five_days_are_five_sessions(ib: IB) -> None:
    assert len(await bars(ib, "5 D", "1 day")) == 5


async def test_weekly_bars_fold_the_weeks_sessions(ib: IB) -> None:
    daily = await asyncio.wait_for(
        ib.reqHistoricalDataAsync(AAPL, END, "3 M", "1 day", "TRADES", True), 10)
    weekly = await asyncio.wait_for(
        ib.reqHistoricalDataAsync(AAPL, END, "3 M", "1 week", "TRADES", True), 10)
    weeks = {d.date.isocalendar()[:2] for d in daily}  # type: ignore[union-attr]
    assert len(weekly) == len(weeks)
    last_week = [d for d in daily if d.date.isocalendar()[:2] == (2024, 46)]  # type: ignore[union-attr]
    assert weekly[-1].date == last_week[0].date
    assert weekly[-1].open == last_week[0].open
    assert weekly[-1].close == last_week[-1].close
    assert weekly[-1].high == max(d.high for d in last_week)
    assert weekly[-1].low == min(d.low for d in last_week)
    assert weekly[-1].volume == sum(d.volume for d in last_week)


async def test_monthly_bars_fold_the_months_sessions(ib: IB) -> None:
    monthly = await bars(ib, "1 Y", "1 month")
    assert [(d.year, d.month) for d in monthly][-3:] == [(2024, 9), (2024, 10), (2024, 11)]
    assert len(monthly) in {12, 13}
    assert all(d.day <= 7 for d in monthly[1:])  # dated by the month's first session


async def test_rth_hourly_bars_open_at_0930_then_follow_the_hour(ib: IB) -> None:
    found = await asyncio.wait_for(ib.reqHistoricalDataAsync(
        AAPL, "20241115 16:00:00 US/Eastern", "1 D", "1 hour", "TRADES", True), 10)
    times = [b.date.astimezone(ZoneInfo("America/New_York")).strftime("%H:%M")  # type: ignore[union-attr]
             for b in found]
    assert times == ["09:30", "10:00", "11:00", "12:00", "13:00", "14:00", "15:00"]


async def test_bars_outside_regular_hours_skip_the_weekend(ib: IB) -> None:
    found = await asyncio.wait_for(ib.reqHistoricalDataAsync(
        AAPL, "20241118 09:00:00 US/Eastern", "3 D", "1 hour", "TRADES", False), 10)
    local = [b.date.astimezone(ZoneInfo("America/New_York")) for b in found]  # type: ignore[union-attr]
    assert {d.date() for d in local} == {date(2024, 11, 15), date(2024, 11, 18)}
    assert min(d.hour for d in local) == 4
    assert max(d.hour for d in local if d.date() == date(2024, 11, 15)) == 19


async def test_bid_ask_bars_span_the_bid_low_to_the_ask_high(ib: IB) -> None:
    end = "20241115 16:00:00 US/Eastern"
    quotes = await asyncio.wait_for(
        ib.reqHistoricalDataAsync(AAPL, end, "1 D", "30 mins", "BID_ASK", True), 10)
    bids = await asyncio.wait_for(
        ib.reqHistoricalDataAsync(AAPL, end, "1 D", "30 mins", "BID", True), 10)
    asks = await asyncio.wait_for(
        ib.reqHistoricalDataAsync(AAPL, end, "1 D", "30 mins", "ASK", True), 10)
    assert len(quotes) == len(bids) == len(asks) == 13
    for quote, bid, ask in zip(quotes, bids, asks, strict=True):
        assert quote.low <= bid.low
        assert quote.high >= ask.high
        assert bid.low <= quote.open <= bid.high
        assert ask.low <= quote.close <= ask.high


async def test_adjusted_last_is_served_for_an_open_end_only(ib: IB) -> None:
    errors: list[tuple[int, str]] = []
    ib.errorEvent += lambda req_id, code, text, contract: errors.append((code, text))
    adjusted = await asyncio.wait_for(
        ib.reqHistoricalDataAsync(AAPL, "", "5 D", "1 day", "ADJUSTED_LAST", True), 10)
    assert len(adjusted) == 5
    refused = await asyncio.wait_for(
        ib.reqHistoricalDataAsync(AAPL, END, "5 D", "1 day", "ADJUSTED_LAST", True), 10)
    assert list(refused) == []
    assert [code for code, text in errors if "ADJUSTED_LAST" in text] == [162]
